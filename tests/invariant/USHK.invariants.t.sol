// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {USHK} from "../../contracts/USHK.sol";
import {USHKProxy} from "../../contracts/USHKProxy.sol";
import {USHKV2Example} from "../../contracts/test/USHKV2Example.sol";

import {FuzzSelector, InvariantTargets, Vm, VM_ADDRESS} from "./Cheats.sol";
import {USHKHandler} from "./USHKHandler.sol";

/// @notice The token's invariants under random sequences of USHKHandler's calls (docs/testing.md).
/// One invariant function runs all the checks: forge runs a campaign per invariant_ function, so
/// one function keeps `make test-invariants` to one campaign of the configured runs.
contract USHKInvariants is InvariantTargets {
    Vm private constant vm = Vm(VM_ADDRESS);
    bytes32 private constant IMPLEMENTATION_SLOT =
        0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc;

    USHK private token;
    USHKHandler private handler;
    address private firstImplementation;

    function setUp() public {
        vm.warp(1_750_000_000);
        address admin = vm.addr(0xAD);
        firstImplementation = address(new USHK());
        token = USHK(address(new USHKProxy(firstImplementation, abi.encodeCall(USHK.initialize, (admin, 1 days, 0)))));
        handler = new USHKHandler(token, admin, 1 days);
        handler.bootstrap();

        bytes4[] memory selectors = new bytes4[](23);
        selectors[0] = USHKHandler.mint.selector;
        selectors[1] = USHKHandler.mintBatch.selector;
        selectors[2] = USHKHandler.transfer.selector;
        selectors[3] = USHKHandler.approve.selector;
        selectors[4] = USHKHandler.transferFrom.selector;
        selectors[5] = USHKHandler.permit.selector;
        selectors[6] = USHKHandler.transferWithAuthorization.selector;
        selectors[7] = USHKHandler.receiveWithAuthorization.selector;
        selectors[8] = USHKHandler.cancelAuthorization.selector;
        selectors[9] = USHKHandler.redeem.selector;
        selectors[10] = USHKHandler.setPause.selector;
        selectors[11] = USHKHandler.freeze.selector;
        selectors[12] = USHKHandler.unfreeze.selector;
        selectors[13] = USHKHandler.wipeFrozen.selector;
        selectors[14] = USHKHandler.setAllowlist.selector;
        selectors[15] = USHKHandler.attest.selector;
        selectors[16] = USHKHandler.warp.selector;
        selectors[17] = USHKHandler.setMaxAttestationAge.selector;
        selectors[18] = USHKHandler.configureMinter.selector;
        selectors[19] = USHKHandler.removeMinter.selector;
        selectors[20] = USHKHandler.changeRole.selector;
        selectors[21] = USHKHandler.anchorLog.selector;
        selectors[22] = USHKHandler.setRateLimit.selector;
        // the upgrade: a selector of its own, drawn as often as any other
        bytes4[] memory all = new bytes4[](24);
        for (uint256 i; i < 23; ++i) {
            all[i] = selectors[i];
        }
        all[23] = USHKHandler.upgrade.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: all}));
    }

    /// After every call: nothing the model forbids happened (the handler's checks), and the supply
    /// is the sum of the balances and the model's.
    function invariant_model() public view {
        string memory violation = handler.violation();
        require(bytes(violation).length == 0, violation);
        _checkSupply();
    }

    /// At the end of every run (forge calls afterInvariant after the run's last call): the whole
    /// state as the model expects. These checks make a few hundred calls; after every call they
    /// would cost forty times the campaign's time (docs/testing.md).
    function afterInvariant() public view {
        invariant_model();
        _checkAccounts();
        _checkSignatures();
        _checkMintingState();
        _checkRoles();
        _checkUpgrade();
    }

    /// totalSupply is the sum of every holder's balance, and what the model expects.
    function _checkSupply() private view {
        uint256 sum;
        for (uint256 i; i < handler.actorCount(); ++i) {
            sum += token.balanceOf(handler.actors(i));
        }
        require(token.totalSupply() == sum, "totalSupply is not the sum of the balances");
        require(token.totalSupply() == handler.ghostSupply(), "totalSupply differs from the model");
        require(token.redemptionCount() == handler.ghostRedemptions(), "redemption count differs from the model");
    }

    /// Balances, allowances and freezes as the model expects; a frozen balance changes only by wipe.
    function _checkAccounts() private view {
        for (uint256 i; i < handler.actorCount(); ++i) {
            address a = handler.actors(i);
            require(token.balanceOf(a) == handler.ghostBalance(a), "balance differs from the model");
            require(token.isFrozen(a) == handler.ghostFrozen(a), "freeze differs from the model");
            if (handler.ghostFrozen(a)) {
                require(token.balanceOf(a) == handler.ghostFrozenBalance(a), "a frozen balance changed");
            }
            require(token.isAllowed(a) == handler.ghostAllowed(a), "allowlist differs from the model");
            for (uint256 j; j < handler.actorCount(); ++j) {
                address b = handler.actors(j);
                require(token.allowance(a, b) == handler.ghostAllowance(a, b), "allowance differs from the model");
            }
        }
        require(token.paused() == handler.ghostPaused(), "pause differs from the model");
        require(token.mintingPaused() == handler.ghostMintingPaused(), "minting pause differs from the model");
        require(
            token.redemptionsPaused() == handler.ghostRedemptionsPaused(), "redemption pause differs from the model"
        );
        require(token.allowlistEnabled() == handler.ghostAllowlist(), "allowlist mode differs from the model");
    }

    /// Permit nonces and EIP-3009 authorisations only move forward (the model never moves them back).
    function _checkSignatures() private view {
        for (uint256 i; i < handler.actorCount(); ++i) {
            address a = handler.actors(i);
            require(token.nonces(a) == handler.ghostNonce(a), "permit nonce differs from the model");
            for (uint256 k; k < handler.NONCE_POOL(); ++k) {
                bytes32 nonce = handler.authNonce(k);
                require(
                    token.authorizationState(a, nonce) == handler.ghostAuthorizationUsed(a, nonce),
                    "authorization state differs from the model"
                );
            }
        }
    }

    /// Deposit ids mint at most once (never the zero id); minters within their configuration; the
    /// supply within the ceiling of the attestation.
    function _checkMintingState() private view {
        (uint64 anchoredSize, bytes32 anchoredRoot,) = token.auditLogAnchor();
        require(anchoredSize == handler.ghostAnchorSize(), "anchored log size differs");
        require(anchoredRoot == handler.ghostAnchorRoot(), "anchored log root differs");
        require(!token.isDepositMinted(bytes32(0)), "the zero deposit id was minted");
        for (uint256 k; k < handler.DEPOSIT_POOL(); ++k) {
            bytes32 id = handler.depositId(k);
            require(token.isDepositMinted(id) == handler.ghostDepositMinted(id), "deposit bitmap differs");
            require(handler.ghostDepositMints(id) <= 1, "a deposit id minted twice");
        }
        for (uint256 m; m < handler.MINTERS(); ++m) {
            address minter = handler.minters(m);
            require(token.isMinter(minter) == handler.ghostMinterActive(minter), "minter state differs");
            require(token.minterAllowance(minter) == handler.ghostMinterAllowance(minter), "minter allowance differs");
            require(token.minterMaxPerMint(minter) == handler.ghostMinterMax(minter), "minter maximum differs");
            (uint256 capacity, uint256 refill, uint256 available) = token.minterRateLimit(minter);
            require(
                capacity == handler.ghostRateCapacity(minter) && refill == handler.ghostRateRefill(minter)
                    && (capacity == 0 || available == handler.ghostRateLevel(minter)),
                "minter rate limit differs"
            );
        }
        (uint256 amount, uint64 timestamp,,) = token.reserveAttestation();
        require(amount == handler.ghostCeiling() && timestamp == handler.ghostAttestedAt(), "attestation differs");
        require(token.maxAttestationAge() == handler.ghostMaxAge(), "maximum attestation age differs");
    }

    /// Roles change only through their admin.
    function _checkRoles() private view {
        bytes32[6] memory roles = handler.roles();
        address[8] memory candidates = handler.roleCandidates();
        for (uint256 r; r < 6; ++r) {
            for (uint256 c; c < 8; ++c) {
                require(token.hasRole(roles[r], candidates[c]) == handler.ghostRole(roles[r], candidates[c]), "role differs");
            }
        }
    }

    /// The implementation is the first one until the upgrade, then USHKV2Example.
    function _checkUpgrade() private view {
        address implementation = address(uint160(uint256(vm.load(address(token), IMPLEMENTATION_SLOT))));
        if (handler.ghostUpgraded()) {
            require(implementation == handler.v2(), "implementation is not the upgrade");
            require(USHKV2Example(address(token)).generation() == 2, "upgrade not in effect");
        } else {
            require(implementation == firstImplementation, "implementation changed without an upgrade");
        }
    }
}
