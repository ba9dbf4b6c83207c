// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {USHK} from "../../contracts/USHK.sol";
import {USHKV2Example} from "../../contracts/test/USHKV2Example.sol";

import {Vm, VM_ADDRESS} from "./Cheats.sol";

/// @notice Drives every state-changing function of the token through its proxy, as the actors who
/// may call it and as callers who may not, and keeps ghost variables of what the model expects.
/// Whatever the token does that the model forbids is recorded in `violation` (the invariant
/// contract asserts it stays empty); the state the model expects is compared after every call.
contract USHKHandler {
    Vm private constant vm = Vm(VM_ADDRESS);

    uint256 public constant ACTORS = 4;
    uint256 public constant MINTERS = 2;
    uint256 public constant NONCE_POOL = 6;
    uint256 public constant DEPOSIT_POOL = 48;

    USHK public immutable token;
    address public immutable admin;
    address public immutable pauser;
    address public immutable compliance;
    address public immutable attestor;
    address public immutable upgrader;
    address public immutable stranger;

    address[ACTORS] public actors;
    uint256[ACTORS] private keys;
    address[MINTERS] public minters;

    // ---- ghosts: the model ----
    uint256 public ghostSupply;
    mapping(address => uint256) public ghostBalance;
    mapping(address => mapping(address => uint256)) public ghostAllowance;
    mapping(address => uint256) public ghostNonce;
    mapping(address => mapping(bytes32 => bool)) public ghostAuthorizationUsed;
    mapping(bytes32 => bool) public ghostDepositMinted;
    mapping(bytes32 => uint256) public ghostDepositMints;
    uint256 public ghostMintedIds;
    mapping(address => bool) public ghostFrozen;
    mapping(address => uint256) public ghostFrozenBalance;
    mapping(address => bool) public ghostAllowed;
    bool public ghostAllowlist;
    bool public ghostPaused;
    bool public ghostMintingPaused;
    bool public ghostRedemptionsPaused;
    uint256 public ghostCeiling;
    uint256 public ghostAttestedAt;
    uint256 public ghostMaxAge;
    uint256 public ghostRedemptions;
    mapping(address => uint256) public ghostMinterAllowance;
    mapping(address => uint256) public ghostMinterMax;
    mapping(address => bool) public ghostMinterActive;
    // each minter's token bucket (rate limit): capacity 0 is no limit
    mapping(address => uint256) public ghostRateCapacity;
    mapping(address => uint256) public ghostRateAvailable;
    mapping(address => uint256) public ghostRateRefill;
    mapping(address => uint256) public ghostRateUpdatedAt;
    mapping(bytes32 => mapping(address => bool)) public ghostRole;
    bool public ghostUpgraded;
    uint64 public ghostAnchorSize;
    bytes32 public ghostAnchorRoot;
    bool public ghostAnchored;
    address public v2;

    /// @notice The first thing the token did that the model forbids ("" while none).
    string public violation;
    /// @notice Successful calls per handler function, to see that the campaign reaches them.
    mapping(bytes4 => uint256) public successes;

    constructor(USHK token_, address admin_, uint256 maxAge) {
        token = token_;
        admin = admin_;
        pauser = vm.addr(0xB001);
        compliance = vm.addr(0xB002);
        attestor = vm.addr(0xB003);
        upgrader = vm.addr(0xB004);
        stranger = vm.addr(0xB005);
        for (uint256 i; i < ACTORS; ++i) {
            keys[i] = 0xA11CE + i;
            actors[i] = vm.addr(keys[i]);
        }
        for (uint256 i; i < MINTERS; ++i) {
            minters[i] = vm.addr(0xC000 + i);
        }
        ghostMaxAge = maxAge;
        ghostRole[token.DEFAULT_ADMIN_ROLE()][admin] = true;
    }

    /// @notice Grants the operating roles and configures the minters (called once by setUp).
    function bootstrap() external {
        _grant(token.PAUSER_ROLE(), pauser);
        _grant(token.COMPLIANCE_ROLE(), compliance);
        _grant(token.ATTESTOR_ROLE(), attestor);
        _grant(token.UPGRADER_ROLE(), upgrader);
        _grant(token.ANCHOR_ROLE(), attestor);
        for (uint256 i; i < MINTERS; ++i) {
            vm.prank(admin);
            token.configureMinter(minters[i], 1_000_000, 50_000);
            ghostRole[token.MINTER_ROLE()][minters[i]] = true;
            _setMinter(minters[i], 1_000_000, 50_000);
        }
        vm.prank(attestor);
        token.attestReserves(2_000_000, bytes32("report"), bytes32("head"));
        ghostCeiling = 2_000_000;
        ghostAttestedAt = block.timestamp;
    }

    // ------------------------------------------------------------------ views for the invariants

    function actorCount() external pure returns (uint256) {
        return ACTORS;
    }

    function roleCandidates() public view returns (address[8] memory c) {
        c = [admin, pauser, compliance, attestor, upgrader, stranger, minters[0], minters[1]];
    }

    function roles() public view returns (bytes32[6] memory r) {
        r = [
            token.DEFAULT_ADMIN_ROLE(),
            token.MINTER_ROLE(),
            token.PAUSER_ROLE(),
            token.COMPLIANCE_ROLE(),
            token.ATTESTOR_ROLE(),
            token.UPGRADER_ROLE()
        ];
    }

    function authNonce(uint256 i) public pure returns (bytes32) {
        return keccak256(abi.encode("authorization", i % NONCE_POOL));
    }

    /// @notice Deposit ids: 0 (the all-zero id) and ids across several bitmap words.
    function depositId(uint256 seed) public pure returns (bytes32) {
        uint256 k = seed % DEPOSIT_POOL;
        return bytes32(k * 37);
    }

    // ------------------------------------------------------------------ helpers

    function _actor(uint256 seed) private view returns (address) {
        return actors[seed % ACTORS];
    }

    function _fail(string memory what) private {
        if (bytes(violation).length == 0) violation = what;
    }

    function _ok(bytes4 selector) private {
        ++successes[selector];
    }

    function _grant(bytes32 role, address account) private {
        vm.prank(admin);
        token.grantRole(role, account);
        _modelGrant(role, account);
    }

    function _modelGrant(bytes32 role, address account) private {
        if (role == token.MINTER_ROLE() && !ghostRole[role][account]) ghostMinterActive[account] = true;
        ghostRole[role][account] = true;
    }

    function _modelRevoke(bytes32 role, address account) private {
        ghostRole[role][account] = false;
        if (role == token.MINTER_ROLE()) {
            _setMinter(account, 0, 0);
            ghostMinterActive[account] = false;
        }
    }

    function _setMinter(address minter, uint256 allowance_, uint256 maxPerMint) private {
        ghostMinterAllowance[minter] = allowance_;
        ghostMinterMax[minter] = maxPerMint;
        ghostMinterActive[minter] = true;
    }

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", token.DOMAIN_SEPARATOR(), structHash));
    }

    /// @dev What a successful movement from `from` to `to` must have satisfied; updates the model.
    function _moved(address from, address to, uint256 amount, string memory what) private {
        if (ghostPaused) _fail(string.concat(what, " while paused"));
        if (ghostFrozen[from] || ghostFrozen[to]) _fail(string.concat(what, " moved a frozen balance"));
        if (ghostAllowlist && !ghostAllowed[to]) _fail(string.concat(what, " to a non-allowlisted account"));
        if (ghostBalance[from] < amount) _fail(string.concat(what, " above the balance"));
        ghostBalance[from] -= amount;
        ghostBalance[to] += amount;
    }

    // ------------------------------------------------------------------ minting

    function mint(uint256 callerSeed, uint256 toSeed, uint256 amount, uint256 idSeed) external {
        address caller = callerSeed % 5 == 4 ? stranger : minters[callerSeed % MINTERS];
        address to = _actor(toSeed);
        amount = amount % 60_000;
        bytes32 id = depositId(idSeed);
        vm.prank(caller);
        try token.mint(to, amount, id) {
            _minted(caller, _one(to), _oneU(amount), _oneB(id));
            _ok(this.mint.selector);
        } catch {}
    }

    function mintBatch(uint256 callerSeed, uint256 toSeed, uint256 amount, uint256 idSeed, uint8 count) external {
        address caller = callerSeed % 5 == 4 ? stranger : minters[callerSeed % MINTERS];
        uint256 n = uint256(count) % 4 + 1;
        address[] memory to = new address[](n);
        uint256[] memory amounts = new uint256[](n);
        bytes32[] memory ids = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            to[i] = _actor(toSeed >> (8 * i));
            amounts[i] = (amount >> (20 * i)) % 30_000;
            ids[i] = depositId(idSeed >> (8 * i));
        }
        vm.prank(caller);
        try token.mintBatch(to, amounts, ids) {
            _minted(caller, to, amounts, ids);
            _ok(this.mintBatch.selector);
        } catch {}
    }

    function _one(address a) private pure returns (address[] memory r) {
        r = new address[](1);
        r[0] = a;
    }

    function _oneU(uint256 a) private pure returns (uint256[] memory r) {
        r = new uint256[](1);
        r[0] = a;
    }

    function _oneB(bytes32 a) private pure returns (bytes32[] memory r) {
        r = new bytes32[](1);
        r[0] = a;
    }

    function _minted(address caller, address[] memory to, uint256[] memory amounts, bytes32[] memory ids)
        private
    {
        if (!ghostMinterActive[caller]) _fail("mint by a non-minter");
        if (ghostPaused) _fail("mint while paused");
        if (ghostMintingPaused) _fail("mint while minting is paused");
        if (ghostAttestedAt == 0 || block.timestamp - ghostAttestedAt > ghostMaxAge) {
            _fail("mint under a stale attestation");
        }
        uint256 total;
        for (uint256 i; i < to.length; ++i) {
            if (ids[i] == bytes32(0)) _fail("mint without a deposit id");
            if (ghostDepositMinted[ids[i]]) _fail("deposit id minted twice");
            if (amounts[i] == 0) _fail("zero mint");
            if (amounts[i] > ghostMinterMax[caller]) _fail("mint above the per-mint maximum");
            if (ghostFrozen[to[i]]) _fail("mint to a frozen account");
            if (ghostAllowlist && !ghostAllowed[to[i]]) _fail("mint to a non-allowlisted account");
            ghostDepositMinted[ids[i]] = true;
            ++ghostDepositMints[ids[i]];
            ++ghostMintedIds;
            ghostBalance[to[i]] += amounts[i];
            total += amounts[i];
        }
        if (total > ghostMinterAllowance[caller]) {
            _fail("mint above the minter's allowance");
            ghostMinterAllowance[caller] = 0;
        } else {
            ghostMinterAllowance[caller] -= total;
        }
        uint256 capacity = ghostRateCapacity[caller];
        if (capacity != 0) {
            uint256 level = ghostRateLevel(caller);
            if (total > level) _fail("mint above the minter's rate limit");
            ghostRateAvailable[caller] = total > level ? 0 : level - total;
            ghostRateUpdatedAt[caller] = block.timestamp;
        }
        ghostSupply += total;
        if (ghostSupply > ghostCeiling) _fail("mint above the attested reserves");
    }

    /// @notice What the model's bucket of `minter` holds now.
    function ghostRateLevel(address minter) public view returns (uint256) {
        uint256 level = ghostRateAvailable[minter]
            + (block.timestamp - ghostRateUpdatedAt[minter]) * ghostRateRefill[minter];
        return level < ghostRateCapacity[minter] ? level : ghostRateCapacity[minter];
    }

    /// @notice setMinterRateLimit by the admin or a stranger: no limit, a small bucket that mints
    /// run into, or a large one; refills from nothing to fast.
    function setRateLimit(uint256 callerSeed, uint256 minterSeed, uint256 capacity, uint256 refill) external {
        address caller = callerSeed % 4 == 3 ? stranger : admin;
        address minter = minters[minterSeed % MINTERS];
        capacity = capacity % 4 == 0 ? 0 : capacity % 200_000;
        refill %= 50;
        vm.prank(caller);
        try token.setMinterRateLimit(minter, capacity, refill) {
            if (!ghostRole[token.DEFAULT_ADMIN_ROLE()][caller]) _fail("rate limit set by a non-admin");
            ghostRateCapacity[minter] = capacity;
            ghostRateAvailable[minter] = capacity;
            ghostRateRefill[minter] = refill;
            ghostRateUpdatedAt[minter] = block.timestamp;
            _ok(this.setRateLimit.selector);
        } catch {}
    }

    // ------------------------------------------------------------------ ERC-20

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = _actor(fromSeed);
        address to = _actor(toSeed);
        amount = amount % (ghostBalance[from] + 2);
        vm.prank(from);
        try token.transfer(to, amount) {
            _moved(from, to, amount, "transfer");
            _ok(this.transfer.selector);
        } catch {}
    }

    function approve(uint256 ownerSeed, uint256 spenderSeed, uint256 amount) external {
        address owner = _actor(ownerSeed);
        address spender = _actor(spenderSeed);
        if (amount % 7 == 0) amount = type(uint256).max;
        else amount %= 100_000;
        vm.prank(owner);
        try token.approve(spender, amount) {
            if (ghostPaused) _fail("approve while paused");
            if (ghostFrozen[owner] || ghostFrozen[spender]) _fail("approve by or to a frozen account");
            ghostAllowance[owner][spender] = amount;
            _ok(this.approve.selector);
        } catch {}
    }

    function transferFrom(uint256 spenderSeed, uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address spender = _actor(spenderSeed);
        address from = _actor(fromSeed);
        address to = _actor(toSeed);
        amount = amount % (ghostBalance[from] + 2);
        vm.prank(spender);
        try token.transferFrom(from, to, amount) {
            if (ghostFrozen[spender]) _fail("transferFrom by a frozen spender");
            uint256 allowed = ghostAllowance[from][spender];
            if (allowed != type(uint256).max) {
                if (allowed < amount) _fail("transferFrom above the allowance");
                else ghostAllowance[from][spender] = allowed - amount;
            }
            _moved(from, to, amount, "transferFrom");
            _ok(this.transferFrom.selector);
        } catch {}
    }

    // ------------------------------------------------------------------ signatures

    struct Signed {
        address owner;
        address spender;
        uint256 value;
        uint256 nonce;
        uint256 deadline;
        bool rightKey;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    function permit(uint256 ownerSeed, uint256 spenderSeed, uint256 value, uint256 nonceSkew, uint256 signerSeed)
        external
    {
        Signed memory p;
        uint256 o = ownerSeed % ACTORS;
        p.owner = actors[o];
        p.spender = _actor(spenderSeed);
        p.value = value % 100_000;
        p.deadline = block.timestamp + 1 hours;
        // mostly the current nonce; sometimes a used or a future one, or another actor's key
        p.nonce = token.nonces(p.owner);
        if (nonceSkew % 5 == 0 && p.nonce > 0) p.nonce -= 1;
        else if (nonceSkew % 5 == 1) p.nonce += 1;
        p.rightKey = signerSeed % 6 != 0;
        bytes32 structHash =
            keccak256(abi.encode(token.PERMIT_TYPEHASH(), p.owner, p.spender, p.value, p.nonce, p.deadline));
        (p.v, p.r, p.s) = vm.sign(p.rightKey ? keys[o] : keys[(o + 1) % ACTORS], _digest(structHash));
        vm.prank(stranger);
        try token.permit(p.owner, p.spender, p.value, p.deadline, p.v, p.r, p.s) {
            if (ghostPaused) _fail("permit while paused");
            if (ghostFrozen[p.owner] || ghostFrozen[p.spender]) _fail("permit by or to a frozen account");
            if (p.nonce != ghostNonce[p.owner]) _fail("permit with a used or future nonce");
            if (!p.rightKey) _fail("permit signed by another key");
            ++ghostNonce[p.owner];
            ghostAllowance[p.owner][p.spender] = p.value;
            _ok(this.permit.selector);
        } catch {}
    }

    function transferWithAuthorization(
        uint256 fromSeed,
        uint256 toSeed,
        uint256 value,
        uint256 nonceSeed,
        uint256 signerSeed
    ) external {
        _authorizedTransfer(fromSeed, toSeed, value, nonceSeed, signerSeed, false);
    }

    function receiveWithAuthorization(
        uint256 fromSeed,
        uint256 toSeed,
        uint256 value,
        uint256 nonceSeed,
        uint256 signerSeed
    ) external {
        _authorizedTransfer(fromSeed, toSeed, value, nonceSeed, signerSeed, true);
    }

    struct Authorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
        bool rightKey;
        uint8 v;
        bytes32 r;
        bytes32 s;
    }

    function _authorizedTransfer(
        uint256 fromSeed,
        uint256 toSeed,
        uint256 value,
        uint256 nonceSeed,
        uint256 signerSeed,
        bool receive_
    ) private {
        Authorization memory a;
        uint256 f = fromSeed % ACTORS;
        a.from = actors[f];
        a.to = _actor(toSeed);
        a.value = value % (ghostBalance[a.from] + 2);
        a.nonce = authNonce(nonceSeed);
        a.validAfter = block.timestamp - 1;
        a.validBefore = block.timestamp + 1 hours;
        a.rightKey = signerSeed % 6 != 0;
        bytes32 typehash =
            receive_ ? token.RECEIVE_WITH_AUTHORIZATION_TYPEHASH() : token.TRANSFER_WITH_AUTHORIZATION_TYPEHASH();
        bytes32 structHash =
            keccak256(abi.encode(typehash, a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce));
        (a.v, a.r, a.s) = vm.sign(a.rightKey ? keys[f] : keys[(f + 1) % ACTORS], _digest(structHash));
        bool ok = receive_ ? _receive(a) : _transferAuthorized(a);
        if (ok) {
            if (ghostAuthorizationUsed[a.from][a.nonce]) _fail("authorization used twice");
            if (!a.rightKey) _fail("authorization signed by another key");
            ghostAuthorizationUsed[a.from][a.nonce] = true;
            _moved(a.from, a.to, a.value, receive_ ? "receiveWithAuthorization" : "transferWithAuthorization");
            _ok(receive_ ? this.receiveWithAuthorization.selector : this.transferWithAuthorization.selector);
        }
    }

    function _receive(Authorization memory a) private returns (bool) {
        vm.prank(a.to);
        try token.receiveWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, a.v, a.r, a.s)
        {
            return true;
        } catch {
            return false;
        }
    }

    function _transferAuthorized(Authorization memory a) private returns (bool) {
        vm.prank(stranger);
        try token.transferWithAuthorization(
            a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, a.v, a.r, a.s
        ) {
            return true;
        } catch {
            return false;
        }
    }

    function cancelAuthorization(uint256 authorizerSeed, uint256 nonceSeed, uint256 signerSeed) external {
        uint256 a = authorizerSeed % ACTORS;
        address authorizer = actors[a];
        bytes32 nonce = authNonce(nonceSeed);
        uint256 key = signerSeed % 6 == 0 ? keys[(a + 1) % ACTORS] : keys[a];
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(key, _digest(keccak256(abi.encode(token.CANCEL_AUTHORIZATION_TYPEHASH(), authorizer, nonce))));
        vm.prank(stranger);
        try token.cancelAuthorization(authorizer, nonce, v, r, s) {
            if (ghostPaused) _fail("an authorization canceled while paused");
            if (ghostAuthorizationUsed[authorizer][nonce]) _fail("a used authorization canceled");
            if (key != keys[a]) _fail("cancel signed by another key");
            ghostAuthorizationUsed[authorizer][nonce] = true;
            _ok(this.cancelAuthorization.selector);
        } catch {}
    }

    // ------------------------------------------------------------------ redemption

    function redeem(uint256 holderSeed, uint256 amount, bool zeroRef) external {
        address holder = _actor(holderSeed);
        amount = amount % (ghostBalance[holder] + 2);
        vm.prank(holder);
        try token.redeem(amount, zeroRef ? bytes32(0) : bytes32("payout")) returns (uint256 id) {
            if (ghostPaused) _fail("redeem while paused");
            if (ghostRedemptionsPaused) _fail("redeem while redemptions are paused");
            if (ghostFrozen[holder]) _fail("redeem from a frozen account");
            if (zeroRef || amount == 0) _fail("redeem without a payout reference or amount");
            if (id != ghostRedemptions + 1) _fail("redemption ids out of sequence");
            ++ghostRedemptions;
            ghostBalance[holder] -= amount;
            ghostSupply -= amount;
            _ok(this.redeem.selector);
        } catch {}
    }

    // ------------------------------------------------------------------ pauses

    /// @param which 0: the token, 1: minting, 2: redemptions; `on` pauses, else unpauses.
    function setPause(uint256 callerSeed, uint8 which, bool on) external {
        address caller = callerSeed % 4 == 3 ? stranger : pauser;
        which %= 3;
        vm.startPrank(caller);
        bool ok = true;
        if (which == 0) {
            try (on ? token.pause : token.unpause)() {} catch { ok = false; }
        } else if (which == 1) {
            try (on ? token.pauseMinting : token.unpauseMinting)() {} catch { ok = false; }
        } else {
            try (on ? token.pauseRedemptions : token.unpauseRedemptions)() {} catch { ok = false; }
        }
        vm.stopPrank();
        if (ok) {
            if (!ghostRole[token.PAUSER_ROLE()][caller]) _fail("pause change by a non-pauser");
            if (which == 0) ghostPaused = on;
            else if (which == 1) ghostMintingPaused = on;
            else ghostRedemptionsPaused = on;
            _ok(this.setPause.selector);
        }
    }

    // ------------------------------------------------------------------ compliance

    function freeze(uint256 callerSeed, uint256 accountSeed) external {
        address caller = callerSeed % 4 == 3 ? stranger : compliance;
        address account = _actor(accountSeed);
        vm.prank(caller);
        try token.freeze(account) {
            if (!ghostRole[token.COMPLIANCE_ROLE()][caller]) _fail("freeze by a non-compliance account");
            if (!ghostFrozen[account]) ghostFrozenBalance[account] = ghostBalance[account];
            ghostFrozen[account] = true;
            _ok(this.freeze.selector);
        } catch {}
    }

    function unfreeze(uint256 callerSeed, uint256 accountSeed) external {
        address caller = callerSeed % 4 == 3 ? stranger : compliance;
        address account = _actor(accountSeed);
        vm.prank(caller);
        try token.unfreeze(account) {
            if (!ghostRole[token.COMPLIANCE_ROLE()][caller]) _fail("unfreeze by a non-compliance account");
            ghostFrozen[account] = false;
            ghostFrozenBalance[account] = 0;
            _ok(this.unfreeze.selector);
        } catch {}
    }

    function wipeFrozen(uint256 callerSeed, uint256 accountSeed) external {
        address caller = callerSeed % 4 == 3 ? stranger : compliance;
        address account = _actor(accountSeed);
        vm.prank(caller);
        try token.wipeFrozen(account) returns (uint256 amount) {
            if (!ghostRole[token.COMPLIANCE_ROLE()][caller]) _fail("wipe by a non-compliance account");
            if (!ghostFrozen[account]) _fail("wipe of an account not frozen");
            if (amount != ghostBalance[account]) _fail("wipe of another amount than the balance");
            ghostSupply -= ghostBalance[account];
            // the ceiling goes down with the wiped tokens, to no less than zero
            ghostCeiling = ghostCeiling > ghostBalance[account] ? ghostCeiling - ghostBalance[account] : 0;
            ghostBalance[account] = 0;
            ghostFrozenBalance[account] = 0;
            _ok(this.wipeFrozen.selector);
        } catch {}
    }

    function setAllowlist(uint256 callerSeed, uint256 accountSeed, uint8 action) external {
        address caller = callerSeed % 4 == 3 ? stranger : compliance;
        address account = _actor(accountSeed);
        action %= 4;
        vm.prank(caller);
        bool ok = true;
        if (action < 2) {
            try token.setAllowlistEnabled(action == 0) {} catch { ok = false; }
        } else {
            try token.setAllowed(account, action == 2) {} catch { ok = false; }
        }
        if (ok) {
            if (!ghostRole[token.COMPLIANCE_ROLE()][caller]) _fail("allowlist change by a non-compliance account");
            if (action < 2) ghostAllowlist = action == 0;
            else ghostAllowed[account] = action == 2;
            _ok(this.setAllowlist.selector);
        }
    }

    // ------------------------------------------------------------------ reserves and time

    function attest(uint256 callerSeed, uint256 headroom, bool below) external {
        address caller = callerSeed % 4 == 3 ? stranger : attestor;
        headroom %= 500_000;
        uint256 amount = below ? (ghostSupply > headroom ? ghostSupply - headroom : 0) : ghostSupply + headroom;
        vm.prank(caller);
        try token.attestReserves(amount, bytes32(headroom), bytes32(block.timestamp)) {
            if (!ghostRole[token.ATTESTOR_ROLE()][caller]) _fail("attestation by a non-attestor");
            ghostCeiling = amount;
            ghostAttestedAt = block.timestamp;
            _ok(this.attest.selector);
        } catch {}
    }

    /// @notice Anchors an audit log head: the next size, the same one (with its root or another)
    /// or a smaller one; the model says which succeed.
    function anchorLog(uint256 callerSeed, uint8 step, bool sameRoot) external {
        address caller = callerSeed % 4 == 3 ? stranger : attestor;
        uint64 size = ghostAnchorSize;
        if (step % 3 == 0 && size > 0) size -= 1;
        else if (step % 3 == 2) size += 1 + step % 5;
        bytes32 root = sameRoot && size == ghostAnchorSize ? ghostAnchorRoot : keccak256(abi.encode(size, step));
        bool allowed = ghostRole[token.ANCHOR_ROLE()][caller] && size >= ghostAnchorSize
            && (size != ghostAnchorSize || !ghostAnchored || root == ghostAnchorRoot);
        vm.prank(caller);
        try token.anchorAuditLog(size, root) {
            if (!allowed) _fail("an anchor the log's rules refuse");
            ghostAnchorSize = size;
            ghostAnchorRoot = root;
            ghostAnchored = true;
            _ok(this.anchorLog.selector);
        } catch {
            if (allowed) _fail("a valid anchor refused");
        }
    }

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + seconds_ % 2 days);
        _ok(this.warp.selector);
    }

    function setMaxAttestationAge(uint256 callerSeed, uint64 maxAge) external {
        address caller = callerSeed % 4 == 3 ? stranger : admin;
        maxAge = uint64(maxAge % 3 days);
        vm.prank(caller);
        try token.setMaxAttestationAge(maxAge) {
            if (!ghostRole[token.DEFAULT_ADMIN_ROLE()][caller]) _fail("max age set by a non-admin");
            if (maxAge == 0) _fail("max age zero");
            ghostMaxAge = maxAge;
            _ok(this.setMaxAttestationAge.selector);
        } catch {}
    }

    // ------------------------------------------------------------------ minters and roles

    function configureMinter(uint256 callerSeed, uint256 minterSeed, uint256 allowance_, uint256 maxPerMint)
        external
    {
        address caller = callerSeed % 4 == 3 ? stranger : admin;
        address minter = minters[minterSeed % MINTERS];
        allowance_ %= 2_000_000;
        maxPerMint %= 80_000;
        vm.prank(caller);
        try token.configureMinter(minter, allowance_, maxPerMint) {
            if (!ghostRole[token.DEFAULT_ADMIN_ROLE()][caller]) _fail("minter configured by a non-admin");
            ghostRole[token.MINTER_ROLE()][minter] = true;
            _setMinter(minter, allowance_, maxPerMint);
            _ok(this.configureMinter.selector);
        } catch {}
    }

    function removeMinter(uint256 callerSeed, uint256 minterSeed) external {
        address caller = callerSeed % 4 == 3 ? stranger : admin;
        address minter = minters[minterSeed % MINTERS];
        vm.prank(caller);
        try token.removeMinter(minter) {
            if (!ghostRole[token.DEFAULT_ADMIN_ROLE()][caller]) _fail("minter removed by a non-admin");
            _modelRevoke(token.MINTER_ROLE(), minter);
            _ok(this.removeMinter.selector);
        } catch {}
    }

    /// @notice grantRole / revokeRole of every role but the admin's, by the admin or by another.
    function changeRole(uint256 callerSeed, uint256 roleSeed, uint256 accountSeed, bool grant) external {
        address[8] memory candidates = roleCandidates();
        address caller = callerSeed % 3 == 2 ? candidates[callerSeed % 8] : admin;
        bytes32 role = roles()[1 + roleSeed % 5];
        address account = candidates[accountSeed % 8];
        vm.prank(caller);
        bool ok = true;
        if (grant) {
            try token.grantRole(role, account) {} catch { ok = false; }
        } else {
            try token.revokeRole(role, account) {} catch { ok = false; }
        }
        if (ok) {
            if (!ghostRole[token.DEFAULT_ADMIN_ROLE()][caller]) _fail("role changed by a non-admin");
            if (grant && role == token.MINTER_ROLE() && ghostRole[token.ATTESTOR_ROLE()][account]) {
                _fail("MINTER_ROLE granted to an attestor");
            }
            if (grant && role == token.ATTESTOR_ROLE() && ghostRole[token.MINTER_ROLE()][account]) {
                _fail("ATTESTOR_ROLE granted to a minter");
            }
            if (grant) _modelGrant(role, account);
            else _modelRevoke(role, account);
            _ok(this.changeRole.selector);
        }
    }

    // ------------------------------------------------------------------ upgrade

    /// @notice Upgrades to USHKV2Example once, mid-sequence (and lets others try).
    function upgrade(uint256 callerSeed) external {
        address caller = callerSeed % 3 == 2 ? stranger : upgrader;
        if (v2 == address(0)) v2 = address(new USHKV2Example());
        vm.prank(caller);
        try token.upgradeToAndCall(v2, "") {
            if (!ghostRole[token.UPGRADER_ROLE()][caller]) _fail("upgrade by a non-upgrader");
            ghostUpgraded = true;
            _ok(this.upgrade.selector);
        } catch {}
    }
}
