// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IERC3009, IERC3009Cancel} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";

/// @title IUSHKCoreV1 (IUSHKCore before issue 13, for the upgrade test)
/// @notice The USHK stablecoin: US dollars issued 1:1 against reserves held by commercial banks,
/// minted only for recorded bank deposits and only under a fresh on-chain reserve attestation,
/// redeemable at par by any holder.
/// @dev Amounts are in units of 10^-6 USHK (6 decimals); 1 USHK is backed by 1 US dollar.
/// Roles (OpenZeppelin AccessControl ids): DEFAULT_ADMIN_ROLE administers every role, configures
/// minters, sets the maximum attestation age and rescues tokens; MINTER_ROLE mints within a
/// per-minter allowance and per-mint maximum; PAUSER_ROLE pauses and unpauses; COMPLIANCE_ROLE
/// freezes, unfreezes, wipes frozen balances and keeps the allowlist; ATTESTOR_ROLE posts reserve
/// attestations; UPGRADER_ROLE upgrades the implementation (UUPS).
/// IUSHKCore is what the token declares itself, and USHK inherits it; integrators use IUSHK (at
/// the end of this file), which adds the errors of the OpenZeppelin code the token runs.
interface IUSHKCoreV1 is IERC20, IERC20Metadata, IERC20Permit, IERC3009, IERC3009Cancel, IERC5267 {
    /*//////////////////////////////////////////////////////////////
                                CUSTOM ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice Thrown when an amount of zero is given where a positive amount is required.
    error ZeroAmount();

    /// @notice Thrown when an amount does not fit the token's 128-bit accounting.
    /// @param amount The amount given.
    error AmountTooLarge(uint256 amount);

    /// @notice Thrown when the zero address is given as a recipient, account or minter.
    error ZeroAddress();

    /// @notice Thrown when `account` holds less than `needed`.
    /// @param account The account debited.
    /// @param balance Its balance.
    /// @param needed The amount asked for.
    error InsufficientBalance(address account, uint256 balance, uint256 needed);

    /// @notice Thrown when `spender` may spend less than `needed` of the owner's tokens.
    /// @param spender The spender.
    /// @param allowance Its remaining allowance.
    /// @param needed The amount asked for.
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);

    /// @notice Thrown when a frozen account would send, receive, be minted to, approve, spend,
    /// be spent from, or redeem.
    /// @param account The frozen account.
    error AccountFrozen(address account);

    /// @notice Thrown when the allowlist is enabled and `account` is not on it and would receive.
    /// @param account The account that may not receive.
    error NotAllowlisted(address account);

    /// @notice Thrown when wipeFrozen is called for an account that is not frozen.
    /// @param account The account.
    error NotFrozen(address account);

    /// @notice Thrown when all token movements are paused.
    error TokenPaused();

    /// @notice Thrown when minting is paused.
    error MintingIsPaused();

    /// @notice Thrown when redemptions are paused.
    error RedemptionsArePaused();

    /// @notice Thrown when the caller is not a configured minter.
    /// @param caller The caller.
    error NotMinter(address caller);

    /// @notice Thrown when a mint would spend more than the minter's remaining allowance.
    /// @param minter The minter.
    /// @param allowance Its remaining allowance.
    /// @param amount The amount the mint needs.
    error MinterAllowanceExceeded(address minter, uint256 allowance, uint256 amount);

    /// @notice Thrown when a single mint exceeds the minter's per-mint maximum (fat-finger guard).
    /// @param amount The amount of the mint.
    /// @param maxPerMint The minter's per-mint maximum.
    error MintAboveMaximum(uint256 amount, uint256 maxPerMint);

    /// @notice Thrown when a deposit id has already been minted (or appears twice in a batch).
    /// @param depositId The deposit id.
    error DepositAlreadyMinted(bytes32 depositId);

    /// @notice Thrown when a mint names the all-zero deposit id, which identifies no deposit.
    error InvalidDepositId();

    /// @notice Thrown when a mint would take the supply above the last attested reserves.
    /// @param supplyAfter The total supply the mint would produce.
    /// @param attested The attested reserve amount.
    error ReserveCeilingExceeded(uint256 supplyAfter, uint256 attested);

    /// @notice Thrown when the last reserve attestation is older than the maximum age.
    /// @param attestedAt When the last attestation was made (0: never).
    /// @param maxAge The maximum attestation age in seconds.
    error AttestationStale(uint64 attestedAt, uint64 maxAge);

    /// @notice Thrown when the arrays of a batch differ in length or are empty.
    error InvalidBatch();

    /// @notice Thrown when a redemption names no payout reference.
    error InvalidPayoutRef();

    /// @notice Thrown when the maximum attestation age is set to zero.
    error InvalidMaxAge();

    /// @notice Thrown when an audit log anchor names a smaller tree than the last anchor: an
    /// append-only log never shrinks.
    /// @param treeSize The size given.
    /// @param anchoredSize The size of the last anchor.
    error AuditLogShrunk(uint64 treeSize, uint64 anchoredSize);

    /// @notice Thrown when an audit log anchor gives the last anchor's size with another root:
    /// one size of an append-only log has one root.
    /// @param treeSize The size of both.
    /// @param anchoredRoot The root anchored for it.
    error AuditLogRootChanged(uint64 treeSize, bytes32 anchoredRoot);

    /// @notice Thrown when a permit's deadline has passed.
    /// @param deadline The deadline.
    error PermitExpired(uint256 deadline);

    /// @notice Thrown when a signature does not recover to the expected signer.
    error InvalidSignature();

    /// @notice Thrown when an EIP-3009 authorization is used before its validAfter time.
    /// @param validAfter The time after which it becomes valid.
    error AuthorizationNotYetValid(uint256 validAfter);

    /// @notice Thrown when an EIP-3009 authorization is used at or after its validBefore time.
    /// @param validBefore The time before which it was valid.
    error AuthorizationExpired(uint256 validBefore);

    /// @notice Thrown when an EIP-3009 authorization nonce was already used or canceled.
    /// @param authorizer The authorizer.
    /// @param nonce The nonce.
    error AuthorizationAlreadyUsed(address authorizer, bytes32 nonce);

    /// @notice Thrown when receiveWithAuthorization is called by someone other than the payee.
    /// @param caller The caller.
    /// @param payee The payee named in the authorization.
    error CallerNotPayee(address caller, address payee);

    /*//////////////////////////////////////////////////////////////
                                   EVENTS
    //////////////////////////////////////////////////////////////*/

    /// @notice Emitted when `amount` is minted to `to` for bank deposit `depositId`.
    event Minted(address indexed minter, address indexed to, uint256 amount, bytes32 indexed depositId);

    /// @notice Emitted when `holder` burns `amount` to be paid out in US dollars to the bank account
    /// named by `payoutRef`; ids start at 1 and increase by one.
    event RedemptionRequested(
        uint256 indexed redemptionId, address indexed holder, uint256 amount, bytes32 payoutRef
    );

    /// @notice Emitted when a minter's allowance and per-mint maximum are set.
    event MinterConfigured(address indexed minter, uint256 allowance, uint256 maxPerMint);

    /// @notice Emitted when a minter is removed.
    event MinterRemoved(address indexed minter);

    /// @notice Emitted when reserves are attested.
    event ReservesAttested(
        address indexed attestor, uint256 amount, bytes32 reportHash, bytes32 auditHead, uint64 timestamp
    );

    /// @notice Emitted when the audit log's signed tree head (`treeSize` entries, RFC 9162
    /// Merkle root `rootHash`) is anchored.
    event AuditLogAnchored(address indexed anchorer, uint64 indexed treeSize, bytes32 rootHash, uint64 timestamp);

    /// @notice Emitted when the maximum attestation age changes.
    event MaxAttestationAgeSet(uint64 maxAge);

    /// @notice Emitted when all token movements are paused.
    event Paused(address account);

    /// @notice Emitted when all token movements are unpaused.
    event Unpaused(address account);

    /// @notice Emitted when minting is paused.
    event MintingPaused(address account);

    /// @notice Emitted when minting is unpaused.
    event MintingUnpaused(address account);

    /// @notice Emitted when redemptions are paused.
    event RedemptionsPaused(address account);

    /// @notice Emitted when redemptions are unpaused.
    event RedemptionsUnpaused(address account);

    /// @notice Emitted when `account` is frozen.
    event Frozen(address indexed account);

    /// @notice Emitted when `account` is unfrozen.
    event Unfrozen(address indexed account);

    /// @notice Emitted when the frozen balance `amount` of `account` is burned.
    event FrozenBalanceWiped(address indexed account, uint256 amount);

    /// @notice Emitted when allowlist mode is switched on or off.
    event AllowlistEnabledSet(bool enabled);

    /// @notice Emitted when `account` is put on or taken off the allowlist.
    event AllowedSet(address indexed account, bool allowed);

    /// @notice Emitted when tokens sent to this contract by mistake are sent on.
    event TokensRescued(address indexed token, address indexed to, uint256 amount);

    /*//////////////////////////////////////////////////////////////
                                  MINTING
    //////////////////////////////////////////////////////////////*/

    /// @notice Mints `amount` to `to` for the bank deposit `depositId`.
    /// @dev Reverts unless the caller is a minter, nothing is paused, `amount` is positive and within
    /// the minter's per-mint maximum and allowance, `depositId` was never minted, `to` may receive,
    /// and the supply after the mint stays within a fresh reserve attestation.
    /// @param to The beneficiary.
    /// @param amount The amount in 10^-6 units.
    /// @param depositId The deposit's unique id; a deposit id can be minted once only.
    function mint(address to, uint256 amount, bytes32 depositId) external;

    /// @notice Mints several deposits in one transaction, each as `mint` would.
    /// @dev The per-mint maximum applies to each item; the allowance and the reserve ceiling to the
    /// sum. Deposit ids are recorded in a bitmap of 256 ids per storage word, so sequential ids cost
    /// about one fresh storage slot per 256 deposits.
    /// @param to The beneficiaries.
    /// @param amounts The amounts, one per beneficiary.
    /// @param depositIds The deposit ids, one per beneficiary.
    function mintBatch(address[] calldata to, uint256[] calldata amounts, bytes32[] calldata depositIds)
        external;

    /// @notice Tells whether `depositId` has been minted.
    /// @param depositId The deposit id.
    /// @return True once minted.
    function isDepositMinted(bytes32 depositId) external view returns (bool);

    /// @notice Makes `minter` a minter with `allowance` to mint in all and at most `maxPerMint` a mint.
    /// @dev Admin only. Replaces any previous configuration and grants MINTER_ROLE.
    /// @param minter The minter.
    /// @param allowance The total it may mint from now on.
    /// @param maxPerMint The most a single mint (or batch item) may mint.
    function configureMinter(address minter, uint256 allowance, uint256 maxPerMint) external;

    /// @notice Removes `minter`: revokes MINTER_ROLE and clears its allowance.
    /// @dev Admin only.
    /// @param minter The minter.
    function removeMinter(address minter) external;

    /// @notice The remaining allowance of `minter`.
    /// @param minter The minter.
    /// @return The amount it may still mint.
    function minterAllowance(address minter) external view returns (uint256);

    /// @notice The per-mint maximum of `minter`.
    /// @param minter The minter.
    /// @return The most a single mint may mint.
    function minterMaxPerMint(address minter) external view returns (uint256);

    /// @notice Tells whether `account` is a minter.
    /// @param account The account.
    /// @return True if it holds MINTER_ROLE.
    function isMinter(address account) external view returns (bool);

    /*//////////////////////////////////////////////////////////////
                                  RESERVES
    //////////////////////////////////////////////////////////////*/

    /// @notice Records the reserves held for USHK: the ceiling for all further mints.
    /// @dev Attestor only. An attestation below the supply is accepted (it states the truth) and
    /// blocks mints until reserves are attested again.
    /// @param amount The reserves in 10^-6 units.
    /// @param reportHash The hash of the reserve report this attestation summarises.
    /// @param auditHead The head hash of the supervisory audit log when attesting.
    function attestReserves(uint256 amount, bytes32 reportHash, bytes32 auditHead) external;

    /// @notice The last reserve attestation.
    /// @return amount The attested reserves in 10^-6 units.
    /// @return timestamp When it was made (0: never).
    /// @return reportHash The hash of the reserve report.
    /// @return auditHead The audit log head it names.
    function reserveAttestation()
        external
        view
        returns (uint256 amount, uint64 timestamp, bytes32 reportHash, bytes32 auditHead);

    /// @notice Anchors a head of the supervisory audit log's transparency log (an RFC 9162
    /// Merkle tree over its entries): anyone holding a signed tree head or a proof can hold it
    /// against this. Works while paused.
    /// @dev ANCHOR_ROLE only. The size never goes down (AuditLogShrunk) and a size anchored
    /// again keeps its root (AuditLogRootChanged); re-anchoring the same head renews its time.
    /// @param treeSize The number of entries in the tree.
    /// @param rootHash The tree's root hash.
    function anchorAuditLog(uint64 treeSize, bytes32 rootHash) external;

    /// @notice The last anchored audit log head.
    /// @return treeSize Its size (0: never anchored).
    /// @return rootHash Its root hash.
    /// @return timestamp When it was anchored (0: never).
    function auditLogAnchor() external view returns (uint64 treeSize, bytes32 rootHash, uint64 timestamp);

    /// @notice Sets how old the last attestation may be for mints to go ahead.
    /// @dev Admin only.
    /// @param maxAge The maximum age in seconds; positive.
    function setMaxAttestationAge(uint64 maxAge) external;

    /// @notice How old the last attestation may be for mints to go ahead.
    /// @return The maximum age in seconds.
    function maxAttestationAge() external view returns (uint64);

    /*//////////////////////////////////////////////////////////////
                                 REDEMPTION
    //////////////////////////////////////////////////////////////*/

    /// @notice Burns `amount` of the caller's tokens to be paid out in US dollars at par to the bank
    /// account registered under `payoutRef`.
    /// @param amount The amount in 10^-6 units.
    /// @param payoutRef The payout reference given by the holder's bank (a hash; nonzero).
    /// @return redemptionId The id of this redemption: 1, 2, 3, ...
    function redeem(uint256 amount, bytes32 payoutRef) external returns (uint256 redemptionId);

    /// @notice How many redemptions were requested so far (the id of the last one).
    /// @return The count.
    function redemptionCount() external view returns (uint256);

    /*//////////////////////////////////////////////////////////////
                                   PAUSES
    //////////////////////////////////////////////////////////////*/

    /// @notice Pauses all token movements: transfers, approvals, mints and redemptions. Pauser only.
    function pause() external;

    /// @notice Ends a pause of all token movements. Pauser only.
    function unpause() external;

    /// @notice Tells whether all token movements are paused.
    /// @return True while paused.
    function paused() external view returns (bool);

    /// @notice Pauses minting. Pauser only.
    function pauseMinting() external;

    /// @notice Ends a pause of minting. Pauser only.
    function unpauseMinting() external;

    /// @notice Tells whether minting is paused.
    /// @return True while paused.
    function mintingPaused() external view returns (bool);

    /// @notice Pauses redemptions. Pauser only.
    function pauseRedemptions() external;

    /// @notice Ends a pause of redemptions. Pauser only.
    function unpauseRedemptions() external;

    /// @notice Tells whether redemptions are paused.
    /// @return True while paused.
    function redemptionsPaused() external view returns (bool);

    /*//////////////////////////////////////////////////////////////
                                 COMPLIANCE
    //////////////////////////////////////////////////////////////*/

    /// @notice Freezes `account`: it can no longer send, receive, approve, spend, be spent from,
    /// be minted to or redeem. Compliance only.
    /// @param account The account.
    function freeze(address account) external;

    /// @notice Unfreezes `account`. Compliance only.
    /// @param account The account.
    function unfreeze(address account) external;

    /// @notice Tells whether `account` is frozen.
    /// @param account The account.
    /// @return True while frozen.
    function isFrozen(address account) external view returns (bool);

    /// @notice Burns the whole balance of the frozen `account`. Compliance only.
    /// @param account The frozen account.
    /// @return amount The amount burned.
    function wipeFrozen(address account) external returns (uint256 amount);

    /// @notice Switches allowlist mode: while on, only allowed accounts may receive. Compliance only.
    /// @param enabled The new mode.
    function setAllowlistEnabled(bool enabled) external;

    /// @notice Tells whether allowlist mode is on.
    /// @return True while on.
    function allowlistEnabled() external view returns (bool);

    /// @notice Puts `account` on the allowlist or takes it off. Compliance only.
    /// @param account The account.
    /// @param allowed True to allow it to receive while allowlist mode is on.
    function setAllowed(address account, bool allowed) external;

    /// @notice Tells whether `account` is on the allowlist.
    /// @param account The account.
    /// @return True if allowed.
    function isAllowed(address account) external view returns (bool);

    /// @notice Sends on `amount` of `token` that was sent to this contract by mistake. Admin only.
    /// @param token The token.
    /// @param to The recipient.
    /// @param amount The amount.
    function rescueERC20(address token, address to, uint256 amount) external;

    /*//////////////////////////////////////////////////////////////
                                 SIGNATURES
    //////////////////////////////////////////////////////////////*/

    /// @notice The EIP-712 version of this token's signing domain.
    /// @return The version string.
    function version() external view returns (string memory);
}

/// @title IUSHKV1
/// @notice The interface of the USHK token for integrators: IUSHKCore, OpenZeppelin's
/// IAccessControl (the role functions, events and errors), and the errors the token's other
/// OpenZeppelin bases and libraries revert with, so that every refusal of the token decodes with
/// this ABI alone.
/// @dev These errors are redeclared here with the signatures OpenZeppelin 5.7 gives them (same
/// name and arguments, so the same selector). USHK cannot inherit IUSHK: it inherits Initializable
/// and UUPSUpgradeable, which declare four of them already, and solc refuses a second declaration
/// of an error name in one contract ("Identifier already declared"). tests/contracts/
/// test_token_interface.py checks that IUSHK's errors are exactly those of the compiled token.
interface IUSHKV1 is IUSHKCoreV1, IAccessControl {
    /// @notice Initializable: `initialize` was called on a token that is already initialised, or
    /// on the implementation contract (its constructor disables initializers).
    error InvalidInitialization();

    /// @notice Initializable: an initialisation step ran outside `initialize`. USHK's only such
    /// step runs inside `initialize`, so the token does not revert with it.
    error NotInitializing();

    /// @notice UUPSUpgradeable: `upgradeToAndCall` was called on the implementation instead of the
    /// proxy, or `proxiableUUID` through the proxy instead of on the implementation.
    error UUPSUnauthorizedCallContext();

    /// @notice UUPSUpgradeable: the new implementation's `proxiableUUID` is not the ERC-1967
    /// implementation slot.
    /// @param slot The slot it returned.
    error UUPSUnsupportedProxiableUUID(bytes32 slot);

    /// @notice ERC1967Utils: the new implementation is not a UUPS implementation (it has no
    /// `proxiableUUID`, or that call reverts).
    /// @param implementation The address given.
    error ERC1967InvalidImplementation(address implementation);

    /// @notice ERC1967Utils: `upgradeToAndCall` was sent ether without call data.
    error ERC1967NonPayable();

    /// @notice Address: the call data given to `upgradeToAndCall` reverted without a reason (a
    /// reverting call with a reason reverts with that reason).
    error FailedCall();

    /// @notice Address: the call data given to `upgradeToAndCall` returned nothing from an address
    /// without code. The implementation's code was checked just before, so the token does not
    /// revert with it.
    /// @param target The address called.
    error AddressEmptyCode(address target);

    /// @notice SafeERC20: the token given to `rescueERC20` refused the transfer (it returned
    /// false, or it is an address without code).
    /// @param token The token.
    error SafeERC20FailedOperation(address token);
}
