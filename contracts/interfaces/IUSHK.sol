// SPDX-License-Identifier: MIT
pragma solidity ^0.8.30;

import {IAccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/IAccessControlDefaultAdminRules.sol";
import {IERC5313} from "@openzeppelin/contracts/interfaces/IERC5313.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {IERC3009, IERC3009Cancel} from "@openzeppelin/contracts/interfaces/draft-IERC3009.sol";
import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @title IUSHKCore
/// @notice The USHK stablecoin: US dollars issued 1:1 against reserves held by commercial banks,
/// minted only for recorded bank deposits and only under a fresh on-chain reserve attestation,
/// redeemable at par by any holder.
/// @dev Amounts are in units of 10^-6 USHK (6 decimals); 1 USHK is backed by 1 US dollar.
/// Roles (OpenZeppelin AccessControl ids): DEFAULT_ADMIN_ROLE (one holder, the default admin, moved
/// only by OpenZeppelin's two-step delayed transfer: AccessControlDefaultAdminRules) administers every role, configures
/// minters, sets the maximum attestation age and rescues tokens; MINTER_ROLE mints within a
/// per-minter allowance and per-mint maximum; PAUSER_ROLE pauses and unpauses; COMPLIANCE_ROLE
/// freezes, unfreezes, wipes frozen balances and keeps the allowlist; ATTESTOR_ROLE posts reserve
/// attestations; UPGRADER_ROLE upgrades the implementation (UUPS). No address holds MINTER_ROLE
/// and ATTESTOR_ROLE together.
/// ERC-20 failures revert with the ERC-6093 errors (IERC20Errors): ERC20InsufficientBalance
/// (transfers, transferFrom, EIP-3009 and redeem), ERC20InsufficientAllowance (transferFrom),
/// ERC20InvalidReceiver (a transfer or mint to the zero address), ERC20InvalidSender
/// (transferFrom from the zero address), ERC20InvalidSpender (an approval or permit for the zero
/// address) and ERC20InvalidApprover (a permit of the zero address); everything else with the
/// errors below.
/// IUSHKCore is what the token declares itself, and USHK inherits it; integrators use IUSHK (at
/// the end of this file), which adds the errors of the OpenZeppelin code the token runs.
interface IUSHKCore is IERC20, IERC20Metadata, IERC20Permit, IERC3009, IERC3009Cancel, IERC5267, IERC20Errors {
    /*//////////////////////////////////////////////////////////////
                                CUSTOM ERRORS
    //////////////////////////////////////////////////////////////*/

    /// @notice Thrown when an amount of zero is given where a positive amount is required.
    error ZeroAmount();

    /// @notice Thrown when an amount does not fit the token's 128-bit accounting.
    /// @param amount The amount given.
    error AmountTooLarge(uint256 amount);

    /// @notice Thrown when the zero address is given as an admin, account, minter or rescue
    /// recipient (ERC-20 transfers and mints to it revert with ERC20InvalidReceiver).
    error ZeroAddress();

    /// @notice Thrown when a role would give one address both MINTER_ROLE and ATTESTOR_ROLE: the
    /// key that mints must not be the key that states the reserves.
    /// @param account The address.
    /// @param role The role being granted.
    /// @param heldRole The conflicting role it holds.
    error RolesConflict(address account, bytes32 role, bytes32 heldRole);

    /// @notice Thrown when a mint (or a batch's sum) exceeds what the minter's rate limit holds now.
    /// @param minter The minter.
    /// @param available What its bucket holds now.
    /// @param amount The amount the mint needs.
    error MintRateLimitExceeded(address minter, uint256 available, uint256 amount);

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
    /// @param minter The minter.
    /// @param to The beneficiary.
    /// @param amount The amount minted.
    /// @param depositId The bank deposit's id.
    event Minted(address indexed minter, address indexed to, uint256 amount, bytes32 indexed depositId);

    /// @notice Emitted when `holder` burns `amount` to be paid out in US dollars to the bank account
    /// named by `payoutRef`; ids start at 1 and increase by one.
    /// @param redemptionId The redemption's id.
    /// @param holder The holder who burned.
    /// @param amount The amount burned.
    /// @param payoutRef The payout reference given by the holder's bank.
    event RedemptionRequested(
        uint256 indexed redemptionId, address indexed holder, uint256 amount, bytes32 payoutRef
    );

    /// @notice Emitted when a minter's allowance and per-mint maximum are set.
    /// @param minter The minter.
    /// @param allowance The total it may mint from now on.
    /// @param maxPerMint The most a single mint may mint.
    event MinterConfigured(address indexed minter, uint256 allowance, uint256 maxPerMint);

    /// @notice Emitted when a minter's rate limit (token bucket) is set; the bucket starts full.
    /// @param minter The minter.
    /// @param capacity The bucket's capacity (0: no rate limit).
    /// @param refillPerSecond The amount the bucket refills by each second.
    event MinterRateLimitSet(address indexed minter, uint256 capacity, uint256 refillPerSecond);

    /// @notice Emitted when a minter is removed.
    /// @param minter The minter.
    event MinterRemoved(address indexed minter);

    /// @notice Emitted when reserves are attested.
    /// @param attestor The attestor.
    /// @param amount The attested reserves in 10^-6 units.
    /// @param reportHash The hash of the reserve report (indexed: a report's attestation can be
    /// looked up by its hash).
    /// @param auditHead The audit log head named.
    /// @param timestamp The block time of the attestation.
    event ReservesAttested(
        address indexed attestor, uint256 amount, bytes32 indexed reportHash, bytes32 auditHead, uint64 timestamp
    );

    /// @notice Emitted when the audit log's signed tree head (`treeSize` entries, RFC 9162
    /// Merkle root `rootHash`) is anchored.
    /// @param anchorer The ANCHOR_ROLE holder.
    /// @param treeSize The number of entries in the tree.
    /// @param rootHash The tree's root hash.
    /// @param timestamp The block time of the anchor.
    event AuditLogAnchored(address indexed anchorer, uint64 indexed treeSize, bytes32 rootHash, uint64 timestamp);

    /// @notice Emitted when the maximum attestation age changes (and at initialisation, from 0).
    /// @param oldMaxAge The previous maximum age in seconds.
    /// @param newMaxAge The new maximum age in seconds.
    event MaxAttestationAgeSet(uint64 oldMaxAge, uint64 newMaxAge);

    /// @notice Emitted when all token movements are paused.
    /// @param account The pauser.
    event Paused(address account);

    /// @notice Emitted when all token movements are unpaused.
    /// @param account The pauser.
    event Unpaused(address account);

    /// @notice Emitted when minting is paused.
    /// @param account The pauser.
    event MintingPaused(address account);

    /// @notice Emitted when minting is unpaused.
    /// @param account The pauser.
    event MintingUnpaused(address account);

    /// @notice Emitted when redemptions are paused.
    /// @param account The pauser.
    event RedemptionsPaused(address account);

    /// @notice Emitted when redemptions are unpaused.
    /// @param account The pauser.
    event RedemptionsUnpaused(address account);

    /// @notice Emitted when `account` is frozen.
    /// @param account The account.
    event Frozen(address indexed account);

    /// @notice Emitted when `account` is unfrozen.
    /// @param account The account.
    event Unfrozen(address indexed account);

    /// @notice Emitted when the frozen balance `amount` of `account` is burned; the attested
    /// reserve ceiling goes down by the same amount (to no less than zero).
    /// @param account The frozen account.
    /// @param amount The amount burned.
    event FrozenBalanceWiped(address indexed account, uint256 amount);

    /// @notice Emitted when allowlist mode is switched on or off.
    /// @param enabled The new mode.
    event AllowlistEnabledSet(bool enabled);

    /// @notice Emitted when `account` is put on or taken off the allowlist.
    /// @param account The account.
    /// @param allowed Whether it may receive while allowlist mode is on.
    event AllowedSet(address indexed account, bool allowed);

    /// @notice Emitted when tokens sent to this contract by mistake are sent on.
    /// @param token The token.
    /// @param to The recipient.
    /// @param amount The amount.
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

    /// @notice Sets the rate limit of `minter`: a token bucket of `capacity` that refills by
    /// `refillPerSecond` each second, which every mint and batch (its sum) spends from, on top of
    /// the allowance and the per-mint maximum. The bucket starts full.
    /// @dev Admin only. A capacity of 0 removes the limit. The limit is kept when the minter is
    /// removed or reconfigured (a re-added minter is still limited).
    /// @param minter The minter.
    /// @param capacity The most the minter may mint in a burst (< 2^80; 0: no limit).
    /// @param refillPerSecond What the bucket regains each second (< 2^56).
    function setMinterRateLimit(address minter, uint256 capacity, uint256 refillPerSecond) external;

    /// @notice The rate limit of `minter`.
    /// @param minter The minter.
    /// @return capacity The bucket's capacity (0: no limit).
    /// @return refillPerSecond What it regains each second.
    /// @return available What it holds now.
    function minterRateLimit(address minter)
        external
        view
        returns (uint256 capacity, uint256 refillPerSecond, uint256 available);

    /// @notice What `minter` can mint now: the lesser of its allowance and its rate limit's bucket
    /// (the allowance alone without a limit; 0 for a non-minter). The reserve ceiling and the
    /// per-mint maximum apply besides.
    /// @param minter The minter.
    /// @return The amount.
    function mintCapacity(address minter) external view returns (uint256);

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

    /// @notice Burns the whole balance of the frozen `account` and lowers the attested reserve
    /// ceiling by the amount burned (the reserves behind it no longer back the supply). Compliance
    /// only.
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

    /// @notice EIP-2612 permit with the signature as bytes, for smart-contract wallets (ERC-1271)
    /// as well as EOAs (65-byte r, s, v), as USDC v2.2 has it.
    /// @param owner The owner.
    /// @param spender The spender.
    /// @param value The allowance.
    /// @param deadline The time after which the permit is void.
    /// @param signature The owner's signature of the EIP-712 Permit.
    function permit(address owner, address spender, uint256 value, uint256 deadline, bytes calldata signature)
        external;

    /// @notice EIP-3009 transferWithAuthorization with the signature as bytes (ERC-1271 or ECDSA).
    /// @param from The payer.
    /// @param to The payee.
    /// @param value The amount.
    /// @param validAfter The time after which it is valid.
    /// @param validBefore The time before which it is valid.
    /// @param nonce The authorization's unique nonce.
    /// @param signature The payer's signature of the EIP-712 TransferWithAuthorization.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    /// @notice EIP-3009 receiveWithAuthorization with the signature as bytes (ERC-1271 or ECDSA);
    /// the caller must be the payee.
    /// @param from The payer.
    /// @param to The payee (the caller).
    /// @param value The amount.
    /// @param validAfter The time after which it is valid.
    /// @param validBefore The time before which it is valid.
    /// @param nonce The authorization's unique nonce.
    /// @param signature The payer's signature of the EIP-712 ReceiveWithAuthorization.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external;

    /// @notice EIP-3009 cancelAuthorization with the signature as bytes (ERC-1271 or ECDSA).
    /// Refused while paused.
    /// @param authorizer The authorizer.
    /// @param nonce The nonce to cancel.
    /// @param signature The authorizer's signature of the EIP-712 CancelAuthorization.
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes calldata signature) external;
}

/// @title IUSHK
/// @notice The interface of the USHK token for integrators: IUSHKCore, OpenZeppelin's
/// IAccessControlDefaultAdminRules (the role functions, the default admin's two-step delayed
/// transfer, their events and errors) and IERC5313 (`owner()`: the default admin), the version-3
/// initialisation step of a token upgraded from an earlier version, and the errors the token's other
/// OpenZeppelin bases and libraries revert with, so that every refusal of the token decodes with
/// this ABI alone.
/// @dev These errors are redeclared here with the signatures OpenZeppelin 5.7 gives them (same
/// name and arguments, so the same selector). USHK cannot inherit IUSHK: it inherits Initializable
/// and UUPSUpgradeable, which declare four of them already, and solc refuses a second declaration
/// of an error name in one contract ("Identifier already declared"). tests/contracts/
/// test_token_interface.py checks that IUSHK's errors are exactly those of the compiled token.
interface IUSHK is IUSHKCore, IAccessControlDefaultAdminRules, IERC5313 {
    /// @notice Version 3's step for a token initialised by an earlier version, run by the upgrader
    /// as `upgradeToAndCall`'s call: makes `admin`, which holds DEFAULT_ADMIN_ROLE already, the one
    /// default admin, with transfers delayed by `adminDelay` seconds. Once only.
    /// @param admin The current holder of DEFAULT_ADMIN_ROLE.
    /// @param adminDelay Seconds between the start of a default admin transfer and its acceptance.
    function initializeAdminRules(address admin, uint48 adminDelay) external;

    /// @notice SafeCast: a value does not fit the type it is cast to. The token casts only
    /// `block.timestamp` (to 48 bits, for a default admin transfer's schedule), which fits for
    /// millions of years, so it does not revert with it.
    /// @param bits The size of the type.
    /// @param value The value.
    error SafeCastOverflowedUintDowncast(uint8 bits, uint256 value);

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
