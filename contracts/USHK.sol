// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {AccessControlDefaultAdminRulesUpgradeable} from
    "@openzeppelin/contracts-upgradeable/access/extensions/AccessControlDefaultAdminRulesUpgradeable.sol";
import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IERC3009, IERC3009Cancel} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

import {IUSHKCore} from "./interfaces/IUSHK.sol";

/// @title USHK
/// @notice US dollar stablecoin issued 1:1 against bank deposits, behind an ERC-1967 (UUPS) proxy.
/// @dev Design notes (docs/token-design.md has the full story):
/// - All state lives in one ERC-7201 namespace. Upgrades only append to `USHKStorage`.
/// - Gas: everything a transfer must check about an account (balance, frozen, allowlisted) and the
///   EIP-2612 nonce share one storage slot per account, and every global flag a transfer, mint or
///   redemption reads shares one slot with the total supply and the redemption counter. A transfer
///   therefore reads three cold slots (the two accounts and the flags), like a plain ERC-20.
/// - Minted deposit ids are kept in a bitmap (256 ids per word, as in Permit2's unordered nonces):
///   any bytes32 id maps to exactly one bit, and sequential ids share words.
/// - Balances and the supply are 128-bit: 3.4e26 US dollars, far beyond any reserve. Amounts that
///   do not fit revert with AmountTooLarge or on the reserve ceiling.
/// - ERC-20 failures revert with ERC-6093's errors (ERC20InsufficientBalance, ...); everything else
///   with USHK's own (IUSHKCore).
/// - No address holds MINTER_ROLE and ATTESTOR_ROLE together (RolesConflict): the key that mints
///   is never the key that states the reserves.
/// - Each minter may have a token bucket (capacity, refill per second) on top of its allowance and
///   per-mint maximum (setMinterRateLimit).
/// - permit and EIP-3009 take `bytes signature` overloads checked with SignatureChecker, so that
///   smart-contract wallets (ERC-1271) can sign.
/// @custom:security-contact security@ushk.example
// Not `is IUSHK`: IUSHK redeclares errors of Initializable and UUPSUpgradeable, which solc refuses
// in a contract that inherits both (contracts/interfaces/IUSHK.sol).
// slither-disable-next-line missing-inheritance
contract USHK is IUSHKCore, Initializable, AccessControlDefaultAdminRulesUpgradeable, UUPSUpgradeable {
    using SafeERC20 for IERC20;

    /*//////////////////////////////////////////////////////////////
                                 CONSTANTS
    //////////////////////////////////////////////////////////////*/

    /// @dev Role that mints, within the per-minter configuration.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @dev Role that pauses and unpauses.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @dev Role that freezes, unfreezes, wipes frozen balances and keeps the allowlist.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("COMPLIANCE_ROLE");
    /// @dev Role that posts reserve attestations.
    bytes32 public constant ATTESTOR_ROLE = keccak256("ATTESTOR_ROLE");
    /// @dev Role that upgrades the implementation.
    bytes32 public constant UPGRADER_ROLE = keccak256("UPGRADER_ROLE");
    /// @dev Role that anchors the audit log's tree heads.
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");

    /// @dev EIP-2612 permit typehash.
    bytes32 public constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    /// @dev EIP-3009 transferWithAuthorization typehash.
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    /// @dev EIP-3009 receiveWithAuthorization typehash.
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );
    /// @dev EIP-3009 cancelAuthorization typehash.
    bytes32 public constant CANCEL_AUTHORIZATION_TYPEHASH =
        keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");

    /// @dev EIP-712 domain typehash.
    bytes32 private constant _DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @dev Hash of the token name, for the EIP-712 domain.
    bytes32 private constant _NAME_HASH = keccak256("USHK");
    /// @dev Hash of the EIP-712 version.
    bytes32 private constant _VERSION_HASH = keccak256("1");

    /// @dev Flags.paused and Flags.allowlistEnabled in the Flags slot (_flagsWord).
    uint256 private constant _PAUSED_BIT = 1 << 192;
    uint256 private constant _ALLOWLIST_BIT = 1 << 216;

    /// @dev keccak256(abi.encode(uint256(keccak256("ushk.storage.USHK")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant _STORAGE_SLOT = 0x4180283d436740db6191cb4f8f80a25058ea4e11ccac5beb9d54e135fa610c00;

    /*//////////////////////////////////////////////////////////////
                                  STORAGE
    //////////////////////////////////////////////////////////////*/

    /// @dev One account: one storage slot.
    struct Account {
        uint128 balance;
        uint64 nonce; // EIP-2612
        bool frozen;
        bool allowed; // allowlist mode
    }

    /// @dev Supply and every flag a token movement reads: one storage slot.
    struct Flags {
        uint128 totalSupply;
        uint64 redemptionCount;
        bool paused;
        bool mintingPaused;
        bool redemptionsPaused;
        bool allowlistEnabled;
    }

    /// @dev The reserve ceiling a mint reads: one storage slot.
    struct Ceiling {
        uint128 amount;
        uint64 timestamp;
        uint64 maxAge;
    }

    /// @dev One minter's configuration: one storage slot.
    struct Minter {
        uint128 allowance;
        uint120 maxPerMint;
        bool active;
    }

    /// @dev The last audit log anchor's size and time: one storage slot.
    struct LogAnchor {
        uint64 treeSize;
        uint64 timestamp;
    }

    /// @dev One minter's token bucket (rate limit): one storage slot. `capacity` 0: no limit.
    struct MintRateLimit {
        uint80 capacity;
        uint80 available; // as of `updatedAt`
        uint56 refillPerSecond;
        uint40 updatedAt;
    }

    /// @custom:storage-location erc7201:ushk.storage.USHK
    struct USHKStorage {
        Flags flags;
        Ceiling ceiling;
        bytes32 reportHash;
        bytes32 auditHead;
        mapping(address account => Account) accounts;
        mapping(address owner => mapping(address spender => uint256)) allowances;
        mapping(address minter => Minter) minters;
        mapping(uint256 word => uint256 bits) mintedDeposits;
        mapping(address authorizer => mapping(bytes32 nonce => bool)) authorizations;
        LogAnchor logAnchor;
        bytes32 logRoot;
        // appended in version 2 (issue 13)
        mapping(address minter => MintRateLimit) rateLimits;
    }

    /*//////////////////////////////////////////////////////////////
                                CONSTRUCTION
    //////////////////////////////////////////////////////////////*/

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        _disableInitializers();
    }

    /// @notice Initialises the proxy's state.
    /// @param admin The holder of DEFAULT_ADMIN_ROLE (the one default admin); it grants the other roles.
    /// @param maxAge The maximum age of a reserve attestation for mints, in seconds.
    /// @param adminDelay Seconds between the start of a default admin transfer and its acceptance.
    function initialize(address admin, uint64 maxAge, uint48 adminDelay) external initializer {
        if (admin == address(0)) revert ZeroAddress();
        if (maxAge == 0) revert InvalidMaxAge();
        __AccessControlDefaultAdminRules_init(adminDelay, admin);
        _storage().ceiling.maxAge = maxAge;
        emit MaxAttestationAgeSet(0, maxAge);
    }

    /// @notice Version 3's step for a token initialised by an earlier version (`upgradeToAndCall`'s
    /// call, by the upgrader): makes `admin`, which holds DEFAULT_ADMIN_ROLE already, the one
    /// default admin, with transfers delayed by `adminDelay` seconds. Once only.
    /// @param admin The current holder of DEFAULT_ADMIN_ROLE.
    /// @param adminDelay Seconds between the start of a default admin transfer and its acceptance.
    function initializeAdminRules(address admin, uint48 adminDelay)
        external
        reinitializer(2)
        onlyRole(UPGRADER_ROLE)
    {
        _checkRole(DEFAULT_ADMIN_ROLE, admin);
        __AccessControlDefaultAdminRules_init(adminDelay, admin);
    }

    /*//////////////////////////////////////////////////////////////
                                  ERC-20
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IERC20Metadata
    function name() external pure returns (string memory) {
        return "USHK";
    }

    /// @inheritdoc IERC20Metadata
    function symbol() external pure returns (string memory) {
        return "USHK";
    }

    /// @inheritdoc IERC20Metadata
    function decimals() external pure returns (uint8) {
        return 6;
    }

    /// @inheritdoc IUSHKCore
    function version() external pure returns (string memory) {
        return "1";
    }

    /// @inheritdoc IERC20
    function totalSupply() external view returns (uint256) {
        return _storage().flags.totalSupply;
    }

    /// @inheritdoc IERC20
    function balanceOf(address account) external view returns (uint256) {
        return _storage().accounts[account].balance;
    }

    /// @inheritdoc IERC20
    function allowance(address owner, address spender) external view returns (uint256) {
        return _storage().allowances[owner][spender];
    }

    /// @inheritdoc IERC20
    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    /// @inheritdoc IERC20
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        if (from == address(0)) revert ERC20InvalidSender(address(0));
        USHKStorage storage $ = _storage();
        if ($.accounts[msg.sender].frozen) revert AccountFrozen(msg.sender);
        _spendAllowance($, from, msg.sender, amount);
        _transfer(from, to, amount);
        return true;
    }

    /// @inheritdoc IERC20
    function approve(address spender, uint256 amount) external returns (bool) {
        USHKStorage storage $ = _storage();
        if ($.flags.paused) revert TokenPaused();
        if ($.accounts[msg.sender].frozen) revert AccountFrozen(msg.sender);
        _approve($, msg.sender, spender, amount);
        return true;
    }

    /*//////////////////////////////////////////////////////////////
                              EIP-2612 PERMIT
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IERC20Permit
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
    {
        (USHKStorage storage $, bytes32 structHash) = _permitStructHash(owner, spender, value, deadline);
        _checkSignature(owner, structHash, v, r, s);
        _usePermit($, owner, spender, value);
    }

    /// @inheritdoc IUSHKCore
    function permit(address owner, address spender, uint256 value, uint256 deadline, bytes calldata signature)
        external
    {
        (USHKStorage storage $, bytes32 structHash) = _permitStructHash(owner, spender, value, deadline);
        _checkSignature(owner, structHash, signature);
        _usePermit($, owner, spender, value);
    }

    /// @inheritdoc IERC20Permit
    function nonces(address owner) external view returns (uint256) {
        return _storage().accounts[owner].nonce;
    }

    /// @inheritdoc IERC20Permit
    // slither-disable-start naming-convention
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        return keccak256(abi.encode(_DOMAIN_TYPEHASH, _NAME_HASH, _VERSION_HASH, block.chainid, address(this)));
    }
    // slither-disable-end naming-convention

    /// @inheritdoc IERC5267
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name_,
            string memory version_,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", "USHK", "1", block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /*//////////////////////////////////////////////////////////////
                           EIP-3009 AUTHORIZATIONS
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IERC3009
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        bytes32 structHash = _authorizationStructHash(
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce
        );
        _checkSignature(from, structHash, v, r, s);
        _markAuthorization(from, nonce);
        _transfer(from, to, value);
    }

    /// @inheritdoc IUSHKCore
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external {
        bytes32 structHash = _authorizationStructHash(
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce
        );
        _checkSignature(from, structHash, signature);
        _markAuthorization(from, nonce);
        _transfer(from, to, value);
    }

    /// @inheritdoc IERC3009
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        if (to != msg.sender) revert CallerNotPayee(msg.sender, to);
        bytes32 structHash = _authorizationStructHash(
            RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce
        );
        _checkSignature(from, structHash, v, r, s);
        _markAuthorization(from, nonce);
        _transfer(from, to, value);
    }

    /// @inheritdoc IUSHKCore
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external {
        if (to != msg.sender) revert CallerNotPayee(msg.sender, to);
        bytes32 structHash = _authorizationStructHash(
            RECEIVE_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce
        );
        _checkSignature(from, structHash, signature);
        _markAuthorization(from, nonce);
        _transfer(from, to, value);
    }

    /// @inheritdoc IERC3009Cancel
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external {
        _checkSignature(authorizer, _cancelStructHash(authorizer, nonce), v, r, s);
        _cancelAuthorization(authorizer, nonce);
    }

    /// @inheritdoc IUSHKCore
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes calldata signature) external {
        _checkSignature(authorizer, _cancelStructHash(authorizer, nonce), signature);
        _cancelAuthorization(authorizer, nonce);
    }

    /// @inheritdoc IERC3009
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _storage().authorizations[authorizer][nonce];
    }

    /*//////////////////////////////////////////////////////////////
                                  MINTING
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IUSHKCore
    function mint(address to, uint256 amount, bytes32 depositId) external {
        USHKStorage storage $ = _storage();
        Minter memory minter = _activeMinter($);
        Flags memory flags = _mintFlags($);
        uint256 word = uint256(depositId) >> 8;
        $.mintedDeposits[word] = _markDeposit($.mintedDeposits[word], depositId);
        _mintOne($, to, amount, depositId, minter.maxPerMint, flags.allowlistEnabled);
        _finishMint($, minter, flags, amount);
    }

    /// @inheritdoc IUSHKCore
    function mintBatch(address[] calldata to, uint256[] calldata amounts, bytes32[] calldata depositIds) external {
        if (to.length == 0 || amounts.length != to.length || depositIds.length != to.length) revert InvalidBatch();
        USHKStorage storage $ = _storage();
        Minter memory minter = _activeMinter($);
        Flags memory flags = _mintFlags($);
        uint256 total = _mintItems($, to, amounts, depositIds, minter.maxPerMint, flags.allowlistEnabled);
        _finishMint($, minter, flags, total);
    }

    /// @inheritdoc IUSHKCore
    function isDepositMinted(bytes32 depositId) external view returns (bool) {
        uint256 id = uint256(depositId);
        return _storage().mintedDeposits[id >> 8] & (1 << (id & 0xff)) != 0;
    }

    /// @inheritdoc IUSHKCore
    function configureMinter(address minter, uint256 allowance_, uint256 maxPerMint)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (minter == address(0)) revert ZeroAddress();
        if (allowance_ > type(uint128).max) revert AmountTooLarge(allowance_);
        if (maxPerMint > type(uint120).max) revert AmountTooLarge(maxPerMint);
        _grantRole(MINTER_ROLE, minter); // refused (RolesConflict) for an attestor
        _storage().minters[minter] =
            Minter({allowance: uint128(allowance_), maxPerMint: uint120(maxPerMint), active: true});
        emit MinterConfigured(minter, allowance_, maxPerMint);
    }

    /// @inheritdoc IUSHKCore
    function removeMinter(address minter) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _revokeRole(MINTER_ROLE, minter);
    }

    /// @inheritdoc IUSHKCore
    function minterAllowance(address minter) external view returns (uint256) {
        return _storage().minters[minter].allowance;
    }

    /// @inheritdoc IUSHKCore
    function minterMaxPerMint(address minter) external view returns (uint256) {
        return _storage().minters[minter].maxPerMint;
    }

    /// @inheritdoc IUSHKCore
    function isMinter(address account) external view returns (bool) {
        return _storage().minters[account].active;
    }

    /// @inheritdoc IUSHKCore
    function setMinterRateLimit(address minter, uint256 capacity, uint256 refillPerSecond)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (minter == address(0)) revert ZeroAddress();
        if (capacity > type(uint80).max) revert AmountTooLarge(capacity);
        if (refillPerSecond > type(uint56).max) revert AmountTooLarge(refillPerSecond);
        _storage().rateLimits[minter] = MintRateLimit({
            capacity: uint80(capacity),
            available: uint80(capacity),
            refillPerSecond: uint56(refillPerSecond),
            updatedAt: uint40(block.timestamp)
        });
        emit MinterRateLimitSet(minter, capacity, refillPerSecond);
    }

    /// @inheritdoc IUSHKCore
    function minterRateLimit(address minter)
        external
        view
        returns (uint256 capacity, uint256 refillPerSecond, uint256 available)
    {
        MintRateLimit storage limit = _storage().rateLimits[minter];
        return (limit.capacity, limit.refillPerSecond, _bucketLevel(limit));
    }

    /// @inheritdoc IUSHKCore
    function mintCapacity(address minter) external view returns (uint256) {
        USHKStorage storage $ = _storage();
        Minter memory config = $.minters[minter];
        if (!config.active) return 0;
        MintRateLimit storage limit = $.rateLimits[minter];
        if (limit.capacity == 0) return config.allowance;
        uint256 level = _bucketLevel(limit);
        return level < config.allowance ? level : config.allowance;
    }

    /*//////////////////////////////////////////////////////////////
                                  RESERVES
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IUSHKCore
    function attestReserves(uint256 amount, bytes32 reportHash, bytes32 auditHead)
        external
        onlyRole(ATTESTOR_ROLE)
    {
        if (amount > type(uint128).max) revert AmountTooLarge(amount);
        USHKStorage storage $ = _storage();
        $.ceiling.amount = uint128(amount);
        $.ceiling.timestamp = uint64(block.timestamp);
        $.reportHash = reportHash;
        $.auditHead = auditHead;
        emit ReservesAttested(msg.sender, amount, reportHash, auditHead, uint64(block.timestamp));
    }

    /// @inheritdoc IUSHKCore
    function reserveAttestation()
        external
        view
        returns (uint256 amount, uint64 timestamp, bytes32 reportHash, bytes32 auditHead)
    {
        USHKStorage storage $ = _storage();
        return ($.ceiling.amount, $.ceiling.timestamp, $.reportHash, $.auditHead);
    }

    /// @inheritdoc IUSHKCore
    function anchorAuditLog(uint64 treeSize, bytes32 rootHash) external onlyRole(ANCHOR_ROLE) {
        USHKStorage storage $ = _storage();
        LogAnchor memory last = $.logAnchor;
        if (treeSize < last.treeSize) revert AuditLogShrunk(treeSize, last.treeSize);
        if (treeSize == last.treeSize && last.timestamp != 0 && rootHash != $.logRoot) {
            revert AuditLogRootChanged(treeSize, $.logRoot);
        }
        $.logAnchor = LogAnchor(treeSize, uint64(block.timestamp));
        $.logRoot = rootHash;
        emit AuditLogAnchored(msg.sender, treeSize, rootHash, uint64(block.timestamp));
    }

    /// @inheritdoc IUSHKCore
    function auditLogAnchor() external view returns (uint64 treeSize, bytes32 rootHash, uint64 timestamp) {
        USHKStorage storage $ = _storage();
        return ($.logAnchor.treeSize, $.logRoot, $.logAnchor.timestamp);
    }

    /// @inheritdoc IUSHKCore
    function setMaxAttestationAge(uint64 maxAge) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (maxAge == 0) revert InvalidMaxAge();
        Ceiling storage ceiling = _storage().ceiling;
        uint64 oldMaxAge = ceiling.maxAge;
        ceiling.maxAge = maxAge;
        emit MaxAttestationAgeSet(oldMaxAge, maxAge);
    }

    /// @inheritdoc IUSHKCore
    function maxAttestationAge() external view returns (uint64) {
        return _storage().ceiling.maxAge;
    }

    /*//////////////////////////////////////////////////////////////
                                 REDEMPTION
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IUSHKCore
    function redeem(uint256 amount, bytes32 payoutRef) external returns (uint256 redemptionId) {
        if (amount == 0) revert ZeroAmount();
        if (payoutRef == bytes32(0)) revert InvalidPayoutRef();
        USHKStorage storage $ = _storage();
        Flags memory flags = $.flags;
        if (flags.paused) revert TokenPaused();
        if (flags.redemptionsPaused) revert RedemptionsArePaused();
        Account storage account = $.accounts[msg.sender];
        if (account.frozen) revert AccountFrozen(msg.sender);
        uint256 balance = account.balance;
        if (balance < amount) revert ERC20InsufficientBalance(msg.sender, balance, amount);
        unchecked {
            // amount <= balance <= totalSupply < 2^128; 2^64 redemptions would each cost a transaction
            account.balance = uint128(balance - amount);
            redemptionId = flags.redemptionCount + 1;
            $.flags.totalSupply = uint128(flags.totalSupply - amount);
            $.flags.redemptionCount = uint64(redemptionId);
        }
        emit Transfer(msg.sender, address(0), amount);
        emit RedemptionRequested(redemptionId, msg.sender, amount, payoutRef);
    }

    /// @inheritdoc IUSHKCore
    function redemptionCount() external view returns (uint256) {
        return _storage().flags.redemptionCount;
    }

    /*//////////////////////////////////////////////////////////////
                                   PAUSES
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IUSHKCore
    function pause() external onlyRole(PAUSER_ROLE) {
        _storage().flags.paused = true;
        emit Paused(msg.sender);
    }

    /// @inheritdoc IUSHKCore
    function unpause() external onlyRole(PAUSER_ROLE) {
        _storage().flags.paused = false;
        emit Unpaused(msg.sender);
    }

    /// @inheritdoc IUSHKCore
    function paused() external view returns (bool) {
        return _storage().flags.paused;
    }

    /// @inheritdoc IUSHKCore
    function pauseMinting() external onlyRole(PAUSER_ROLE) {
        _storage().flags.mintingPaused = true;
        emit MintingPaused(msg.sender);
    }

    /// @inheritdoc IUSHKCore
    function unpauseMinting() external onlyRole(PAUSER_ROLE) {
        _storage().flags.mintingPaused = false;
        emit MintingUnpaused(msg.sender);
    }

    /// @inheritdoc IUSHKCore
    function mintingPaused() external view returns (bool) {
        return _storage().flags.mintingPaused;
    }

    /// @inheritdoc IUSHKCore
    function pauseRedemptions() external onlyRole(PAUSER_ROLE) {
        _storage().flags.redemptionsPaused = true;
        emit RedemptionsPaused(msg.sender);
    }

    /// @inheritdoc IUSHKCore
    function unpauseRedemptions() external onlyRole(PAUSER_ROLE) {
        _storage().flags.redemptionsPaused = false;
        emit RedemptionsUnpaused(msg.sender);
    }

    /// @inheritdoc IUSHKCore
    function redemptionsPaused() external view returns (bool) {
        return _storage().flags.redemptionsPaused;
    }

    /*//////////////////////////////////////////////////////////////
                                 COMPLIANCE
    //////////////////////////////////////////////////////////////*/

    /// @inheritdoc IUSHKCore
    function freeze(address account) external onlyRole(COMPLIANCE_ROLE) {
        if (account == address(0)) revert ZeroAddress();
        _storage().accounts[account].frozen = true;
        emit Frozen(account);
    }

    /// @inheritdoc IUSHKCore
    function unfreeze(address account) external onlyRole(COMPLIANCE_ROLE) {
        if (account == address(0)) revert ZeroAddress();
        _storage().accounts[account].frozen = false;
        emit Unfrozen(account);
    }

    /// @inheritdoc IUSHKCore
    function isFrozen(address account) external view returns (bool) {
        return _storage().accounts[account].frozen;
    }

    /// @inheritdoc IUSHKCore
    function wipeFrozen(address account) external onlyRole(COMPLIANCE_ROLE) returns (uint256 amount) {
        USHKStorage storage $ = _storage();
        Account storage acct = $.accounts[account];
        if (!acct.frozen) revert NotFrozen(account);
        amount = acct.balance;
        acct.balance = 0;
        uint128 ceiling = $.ceiling.amount;
        unchecked {
            // a balance never exceeds the supply
            $.flags.totalSupply -= uint128(amount);
            // the wiped tokens' reserves are no longer the holders': the ceiling goes down with them
            $.ceiling.amount = ceiling > amount ? ceiling - uint128(amount) : 0;
        }
        emit FrozenBalanceWiped(account, amount);
        emit Transfer(account, address(0), amount);
    }

    /// @inheritdoc IUSHKCore
    function setAllowlistEnabled(bool enabled) external onlyRole(COMPLIANCE_ROLE) {
        _storage().flags.allowlistEnabled = enabled;
        emit AllowlistEnabledSet(enabled);
    }

    /// @inheritdoc IUSHKCore
    function allowlistEnabled() external view returns (bool) {
        return _storage().flags.allowlistEnabled;
    }

    /// @inheritdoc IUSHKCore
    function setAllowed(address account, bool allowed) external onlyRole(COMPLIANCE_ROLE) {
        if (account == address(0)) revert ZeroAddress();
        _storage().accounts[account].allowed = allowed;
        emit AllowedSet(account, allowed);
    }

    /// @inheritdoc IUSHKCore
    function isAllowed(address account) external view returns (bool) {
        return _storage().accounts[account].allowed;
    }

    /// @inheritdoc IUSHKCore
    function rescueERC20(address token, address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (to == address(0)) revert ZeroAddress();
        if (token == address(this)) {
            _transfer(address(this), to, amount);
        } else {
            IERC20(token).safeTransfer(to, amount);
        }
        emit TokensRescued(token, to, amount);
    }

    /*//////////////////////////////////////////////////////////////
                             INTERNAL FUNCTIONS
    //////////////////////////////////////////////////////////////*/

    /// @dev The namespaced storage.
    function _storage() private pure returns (USHKStorage storage $) {
        // a struct at a fixed (ERC-7201) slot can only be named in assembly
        // slither-disable-next-line assembly
        assembly {
            $.slot := _STORAGE_SLOT
        }
    }

    /// @dev The Flags slot as one word: totalSupply (bits 0-127), redemptionCount (128-191), then
    /// one byte each for paused (192), mintingPaused (200), redemptionsPaused (208) and
    /// allowlistEnabled (216), as solc packs the struct (the pause and allowlist tests exercise both bits).
    function _flagsWord(USHKStorage storage $) private view returns (uint256 word) {
        // slither-disable-next-line assembly
        assembly {
            word := sload($.slot)
        }
    }

    /// @dev Moves `amount` from `from` to `to`, enforcing pause, freezes and the allowlist.
    function _transfer(address from, address to, uint256 amount) private {
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        USHKStorage storage $ = _storage();
        // the flags' slot read once as a word (a memory copy of the struct costs a transfer ~100 gas)
        uint256 flags = _flagsWord($);
        if (flags & _PAUSED_BIT != 0) revert TokenPaused();
        Account storage sender = $.accounts[from];
        Account storage recipient = $.accounts[to];
        if (sender.frozen) revert AccountFrozen(from);
        if (recipient.frozen) revert AccountFrozen(to);
        if (flags & _ALLOWLIST_BIT != 0 && !recipient.allowed) revert NotAllowlisted(to);
        uint256 balance = sender.balance;
        if (balance < amount) revert ERC20InsufficientBalance(from, balance, amount);
        unchecked {
            // amount <= balance < 2^128, and the sum of all balances is the supply (< 2^128)
            sender.balance = uint128(balance - amount);
            recipient.balance += uint128(amount);
        }
        emit Transfer(from, to, amount);
    }

    /// @dev Sets an allowance; the spender must not be frozen.
    function _approve(USHKStorage storage $, address owner, address spender, uint256 amount) private {
        if (spender == address(0)) revert ERC20InvalidSpender(address(0));
        if ($.accounts[spender].frozen) revert AccountFrozen(spender);
        $.allowances[owner][spender] = amount;
        emit Approval(owner, spender, amount);
    }

    /// @dev Spends allowance; an allowance of 2^256-1 is unlimited and never decreases.
    function _spendAllowance(USHKStorage storage $, address owner, address spender, uint256 amount) private {
        uint256 current = $.allowances[owner][spender];
        if (current != type(uint256).max) {
            if (current < amount) revert ERC20InsufficientAllowance(spender, current, amount);
            unchecked {
                // checked just above
                $.allowances[owner][spender] = current - amount;
            }
        }
    }

    /// @dev Checks a permit's pause, deadline, owner and freeze; returns its EIP-712 struct hash.
    function _permitStructHash(address owner, address spender, uint256 value, uint256 deadline)
        private
        view
        returns (USHKStorage storage $, bytes32 structHash)
    {
        $ = _storage();
        if ($.flags.paused) revert TokenPaused();
        if (block.timestamp > deadline) revert PermitExpired(deadline);
        if (owner == address(0)) revert ERC20InvalidApprover(address(0));
        Account storage account = $.accounts[owner];
        if (account.frozen) revert AccountFrozen(owner);
        structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, account.nonce, deadline));
    }

    /// @dev Uses the owner's permit nonce and sets the allowance (the signature was checked).
    function _usePermit(USHKStorage storage $, address owner, address spender, uint256 value) private {
        Account storage account = $.accounts[owner];
        unchecked {
            // a 64-bit nonce cannot be used up by signatures that each cost a transaction
            account.nonce = account.nonce + 1;
        }
        _approve($, owner, spender, value);
    }

    /// @dev Checks an EIP-3009 authorization's window and that its nonce is unused; returns its
    /// EIP-712 struct hash.
    function _authorizationStructHash(
        bytes32 typehash,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce
    ) private view returns (bytes32) {
        if (block.timestamp <= validAfter) revert AuthorizationNotYetValid(validAfter);
        if (block.timestamp >= validBefore) revert AuthorizationExpired(validBefore);
        if (_storage().authorizations[from][nonce]) revert AuthorizationAlreadyUsed(from, nonce);
        return keccak256(abi.encode(typehash, from, to, value, validAfter, validBefore, nonce));
    }

    /// @dev Marks an EIP-3009 authorization as used (its signature was checked).
    function _markAuthorization(address from, bytes32 nonce) private {
        _storage().authorizations[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
    }

    /// @dev Checks that a cancellation may happen (not paused, nonce unused); returns its struct hash.
    function _cancelStructHash(address authorizer, bytes32 nonce) private view returns (bytes32) {
        USHKStorage storage $ = _storage();
        if ($.flags.paused) revert TokenPaused();
        if ($.authorizations[authorizer][nonce]) revert AuthorizationAlreadyUsed(authorizer, nonce);
        return keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce));
    }

    /// @dev Marks an EIP-3009 nonce as canceled (the signature was checked).
    function _cancelAuthorization(address authorizer, bytes32 nonce) private {
        _storage().authorizations[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    /// @dev Reverts with InvalidSignature unless (v, r, s) signs the EIP-712 digest of `structHash`
    /// by `signer` (high-s and malformed signatures are refused by ECDSA.tryRecover).
    function _checkSignature(address signer, bytes32 structHash, uint8 v, bytes32 r, bytes32 s) private view {
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", DOMAIN_SEPARATOR(), structHash));
        // the third value only details the error (a length or an s); any error is InvalidSignature
        // slither-disable-next-line unused-return
        (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, v, r, s);
        if (error != ECDSA.RecoverError.NoError || recovered != signer || signer == address(0)) {
            revert InvalidSignature();
        }
    }

    /// @dev Reverts with InvalidSignature unless `signature` signs the EIP-712 digest of
    /// `structHash` for `signer`: an ECDSA signature (65 bytes) of an account without code, or a
    /// signature the contract at `signer` accepts (ERC-1271 isValidSignature), by SignatureChecker.
    function _checkSignature(address signer, bytes32 structHash, bytes calldata signature) private view {
        bytes32 digest = keccak256(abi.encodePacked(hex"1901", DOMAIN_SEPARATOR(), structHash));
        if (signer == address(0) || !SignatureChecker.isValidSignatureNowCalldata(signer, digest, signature)) {
            revert InvalidSignature();
        }
    }

    /// @dev The caller's minter configuration; reverts unless it is an active minter.
    function _activeMinter(USHKStorage storage $) private view returns (Minter memory minter) {
        minter = $.minters[msg.sender];
        if (!minter.active) revert NotMinter(msg.sender);
    }

    /// @dev The global flags; reverts while tokens or minting are paused.
    function _mintFlags(USHKStorage storage $) private view returns (Flags memory flags) {
        flags = $.flags;
        if (flags.paused) revert TokenPaused();
        if (flags.mintingPaused) revert MintingIsPaused();
    }

    /// @dev Sets the bit of `depositId` in its bitmap `word`; reverts if the id is all zero (no
    /// deposit names it) or its bit was set.
    function _markDeposit(uint256 word, bytes32 depositId) private pure returns (uint256) {
        if (depositId == bytes32(0)) revert InvalidDepositId();
        uint256 bit = 1 << (uint256(depositId) & 0xff);
        if (word & bit != 0) revert DepositAlreadyMinted(depositId);
        return word | bit;
    }

    /// @dev Marks and credits the items of a batch; returns their sum. The bitmap word being marked
    /// is kept in memory and written back when the next id leaves it.
    function _mintItems(
        USHKStorage storage $,
        address[] calldata to,
        uint256[] calldata amounts,
        bytes32[] calldata depositIds,
        uint256 maxPerMint,
        bool allowlist
    ) private returns (uint256 total) {
        uint256 wordIndex = uint256(depositIds[0]) >> 8;
        uint256 word = $.mintedDeposits[wordIndex];
        for (uint256 i; i < to.length;) {
            uint256 index = uint256(depositIds[i]) >> 8;
            if (index != wordIndex) {
                $.mintedDeposits[wordIndex] = word;
                wordIndex = index;
                word = $.mintedDeposits[index];
            }
            word = _markDeposit(word, depositIds[i]);
            _mintOne($, to[i], amounts[i], depositIds[i], maxPerMint, allowlist);
            unchecked {
                // each amount is at most maxPerMint (< 2^120) and the count is bounded by calldata size
                total += amounts[i];
                ++i;
            }
        }
        $.mintedDeposits[wordIndex] = word;
    }

    /// @dev Credits one mint of 0 < `amount` <= `maxPerMint` (< 2^120) to `to`, with its events.
    function _mintOne(
        USHKStorage storage $,
        address to,
        uint256 amount,
        bytes32 depositId,
        uint256 maxPerMint,
        bool allowlist
    ) private {
        if (amount == 0) revert ZeroAmount();
        if (amount > maxPerMint) revert MintAboveMaximum(amount, maxPerMint);
        if (to == address(0)) revert ERC20InvalidReceiver(address(0));
        Account storage account = $.accounts[to];
        if (account.frozen) revert AccountFrozen(to);
        if (allowlist && !account.allowed) revert NotAllowlisted(to);
        // checked: a balance cannot pass 2^128 (the supply check in _finishMint would fail anyway)
        account.balance += uint128(amount);
        emit Transfer(address(0), to, amount);
        emit Minted(msg.sender, to, amount, depositId);
    }

    /// @dev Spends the minter's allowance and its rate limit's bucket and raises the supply by
    /// `total`, within a fresh ceiling (freshness first: a token never attested reports
    /// AttestationStale).
    function _finishMint(USHKStorage storage $, Minter memory minter, Flags memory flags, uint256 total) private {
        if (total > minter.allowance) revert MinterAllowanceExceeded(msg.sender, minter.allowance, total);
        MintRateLimit storage limit = $.rateLimits[msg.sender];
        if (limit.capacity != 0) {
            uint256 available = _bucketLevel(limit);
            if (total > available) revert MintRateLimitExceeded(msg.sender, available, total);
            unchecked {
                // total <= available <= capacity < 2^80; a uint40 time lasts 34,000 years
                limit.available = uint80(available - total);
                limit.updatedAt = uint40(block.timestamp);
            }
        }
        Ceiling memory ceiling = $.ceiling;
        if (ceiling.timestamp == 0 || block.timestamp - ceiling.timestamp > ceiling.maxAge) {
            revert AttestationStale(ceiling.timestamp, ceiling.maxAge);
        }
        uint256 supplyAfter = uint256(flags.totalSupply) + total;
        if (supplyAfter > ceiling.amount) revert ReserveCeilingExceeded(supplyAfter, ceiling.amount);
        unchecked {
            // total <= allowance, and supplyAfter <= ceiling.amount < 2^128
            $.minters[msg.sender].allowance = uint128(minter.allowance - total);
            $.flags.totalSupply = uint128(supplyAfter);
        }
    }

    /// @dev What a bucket holds now: its level at its last update plus the refill since, at most
    /// its capacity.
    function _bucketLevel(MintRateLimit storage limit) private view returns (uint256) {
        // elapsed < 2^40 and refillPerSecond < 2^56: no overflow
        uint256 level = limit.available + (block.timestamp - limit.updatedAt) * limit.refillPerSecond;
        return level < limit.capacity ? level : limit.capacity;
    }

    /// @dev Keeps the minter configuration in step with MINTER_ROLE: a revoked minter loses it.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (role == MINTER_ROLE) {
            delete _storage().minters[account];
            if (revoked) emit MinterRemoved(account);
        }
    }

    /// @dev A minter granted MINTER_ROLE directly is active with no allowance until configured.
    /// MINTER_ROLE and ATTESTOR_ROLE are never held by one address (RolesConflict).
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        if (role == MINTER_ROLE && hasRole(ATTESTOR_ROLE, account)) {
            revert RolesConflict(account, MINTER_ROLE, ATTESTOR_ROLE);
        }
        if (role == ATTESTOR_ROLE && hasRole(MINTER_ROLE, account)) {
            revert RolesConflict(account, ATTESTOR_ROLE, MINTER_ROLE);
        }
        granted = super._grantRole(role, account);
        if (role == MINTER_ROLE && granted) _storage().minters[account].active = true;
    }

    /// @dev Only UPGRADER_ROLE may upgrade.
    function _authorizeUpgrade(address) internal override onlyRole(UPGRADER_ROLE) {}
}
