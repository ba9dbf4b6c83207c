"""`deploy_ushk`: the one way the token is deployed, by `ape run deploy token`, `make run`, the
tests and the gas benchmark."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_utils import to_checksum_address

from scripts._ushk.amounts import MAX_UINT120, MAX_UINT128, UNIT, format_usd
from scripts._ushk.contracts import project_contract, token_at
from scripts._ushk.deployments import utc_now
from scripts._ushk.network import align_local_chain_id, network_key
from scripts._ushk.roles import OPERATIONAL_ROLES, ROLE_IDS, role_name
from scripts._ushk.transactions import transact
from scripts._ushk.values import ZERO32, ZERO_ADDRESS, hex32

DEFAULT_MAX_ATTESTATION_AGE = 86_400  # one day, in seconds
DEFAULT_MINTER_ALLOWANCE = 10_000_000 * UNIT  # 10,000,000.00 USD
DEFAULT_MAX_PER_MINT = 1_000_000 * UNIT  # 1,000,000.00 USD
# `ape run deploy token`'s defaults off a local chain (on a local chain the admin delay is 0)
DEFAULT_ADMIN_DELAY = 3 * 86_400  # a default admin transfer waits three days
DEFAULT_UPGRADE_DELAY = 2 * 86_400  # an upgrade waits two days in the timelock
MAX_UINT48 = 2**48 - 1


def _address_of(value) -> str:
    return to_checksum_address(getattr(value, "address", value))


def _receipt_of(instance):
    from ape import chain

    txn_hash = getattr(instance, "txn_hash", None)
    if txn_hash is None:
        creation = instance.creation_metadata
        txn_hash = creation.txn_hash
    return chain.provider.get_receipt(txn_hash)


def _role_map(admin: str, roles: Mapping[str, Any] | None) -> dict[str, Any]:
    """Role name -> holder (an address or a signing account); unnamed roles go to the admin."""
    out: dict[str, Any] = dict.fromkeys(OPERATIONAL_ROLES, admin)
    for key, holder in (roles or {}).items():
        name = role_name(key)
        if name in ("DEFAULT_ADMIN_ROLE", "MINTER_ROLE"):
            raise ValueError(f"{name} is set with `admin=` and `minter=`, not in `roles`")
        out[name] = holder
    return out


def deploy_ushk(
    deployer,
    *,
    admin=None,
    max_attestation_age: int = DEFAULT_MAX_ATTESTATION_AGE,
    roles: Mapping[str, Any] | None = None,
    minter=None,
    minter_allowance: int = DEFAULT_MINTER_ALLOWANCE,
    max_per_mint: int = DEFAULT_MAX_PER_MINT,
    attest_amount: int | None = None,
    report_hash: bytes = ZERO32,
    audit_head: bytes = ZERO32,
    implementation: str = "USHK",
    admin_delay: int = 0,
    upgrade_delay: int | None = None,
    timelock_proposers=None,
    timelock_executors=None,
    timelock_cancellers=None,
    log=None,
):
    """Deploys USHK (implementation + ERC-1967 proxy) and sets it up; returns (token, info).

    - `deployer` (an ape account) sends every transaction. It initialises the proxy as its own
      admin, grants the roles, configures the minter, makes the first attestation, and then, if
      `admin` is someone else, grants DEFAULT_ADMIN_ROLE to `admin` and renounces its own; roles it
      held only for the setup are revoked, so it ends with exactly what was asked for.
    - `admin`: the DEFAULT_ADMIN_ROLE holder (address or account); default: the deployer.
    - `roles`: {'pauser'|'compliance'|'attestor'|'upgrader'|'anchor' (or PAUSER_ROLE ...): address or
      account}; every operational role not named goes to the admin.
    - `minter`: configured with `minter_allowance` and `max_per_mint` (units); None: no minter.
    - `attest_amount` (units): the first reserve attestation, with `report_hash` and `audit_head`;
      None: no attestation. It is signed by the attestor when that is an ape account, otherwise by
      the deployer holding ATTESTOR_ROLE for that one transaction.
    - `max_attestation_age`: seconds, positive.
    - `implementation`: the project contract to deploy as the implementation.
    - `admin_delay`: seconds a default admin transfer waits between its start and its acceptance
      (AccessControlDefaultAdminRules). When `admin` is someone else, the deployer starts the
      transfer to it after the setup; `admin` accepts it then (a local test account, with a zero
      delay, here at once), and until then the deployer stays the admin (`pending_admin`).
    - `upgrade_delay`: unless `roles` names an upgrader, an OpenZeppelin TimelockController
      (contracts/USHKTimelock.sol) with this minimum delay is deployed and holds UPGRADER_ROLE;
      its proposers, executors and cancellers are `timelock_proposers`, `timelock_executors` and
      `timelock_cancellers` (addresses; default: the admin; cancellers default to the proposers).
      None (and no upgrader named): the admin holds UPGRADER_ROLE, as the tests' tokens do.

    `info` is what deployments/<network>.json holds: chain id, network, token (proxy) and
    implementation addresses, deployment block (and its hash), role holders, minters, the
    attestation and the maximum attestation age. Amounts are in token units.
    """
    from ape import chain

    say = log or (lambda _msg: None)
    align_local_chain_id()
    if max_attestation_age <= 0:
        raise ValueError("max_attestation_age must be positive")
    if attest_amount is not None and not 0 <= attest_amount <= MAX_UINT128:
        raise ValueError("attest_amount out of range")
    if not 0 <= admin_delay <= MAX_UINT48:
        raise ValueError("admin_delay out of range (0 to 2^48 - 1 seconds)")
    if upgrade_delay is not None and upgrade_delay < 0:
        raise ValueError("upgrade_delay must not be negative")
    if minter is not None and not (0 <= minter_allowance <= MAX_UINT128 and 0 <= max_per_mint <= MAX_UINT120):
        raise ValueError("minter allowance or per-mint maximum out of range")

    deployer_addr = deployer.address
    admin_addr = _address_of(admin) if admin is not None else deployer_addr
    holders = _role_map(admin_addr, roles)
    holder_addrs = {name: _address_of(h) for name, h in holders.items()}
    minter_addr = _address_of(minter) if minter is not None else None
    if minter_addr is not None and minter_addr.lower() == holder_addrs["ATTESTOR_ROLE"].lower():
        # the token refuses one address both roles (RolesConflict)
        raise ValueError(f"the minter {minter_addr} must not be the attestor: give them different addresses")

    contract = project_contract(implementation)
    if contract is None:
        raise ValueError(f"no contract named {implementation!r} in this project")
    impl = deployer.deploy(contract)
    impl_receipt = _receipt_of(impl)
    say(f"implementation {implementation} at {impl.address} (block {impl_receipt.block_number})")
    init_data = impl.initialize.encode_input(deployer_addr, max_attestation_age, admin_delay)
    proxy = deployer.deploy(project_contract("USHKProxy"), impl.address, init_data)
    proxy_receipt = _receipt_of(proxy)
    token = token_at(proxy.address)
    say(f"proxy (the token) at {proxy.address} (block {proxy_receipt.block_number})")

    timelock_info = None
    if upgrade_delay is not None and "UPGRADER_ROLE" not in {role_name(k) for k in roles or {}}:
        timelock_info = _deploy_timelock(
            deployer,
            upgrade_delay,
            proposers=[_address_of(a) for a in timelock_proposers or [admin_addr]],
            executors=[_address_of(a) for a in timelock_executors or [admin_addr]],
            cancellers=[_address_of(a) for a in timelock_cancellers] if timelock_cancellers else None,
            say=say,
        )
        holders["UPGRADER_ROLE"] = holder_addrs["UPGRADER_ROLE"] = timelock_info["address"]

    def grant(role: str, address: str):
        if not token.hasRole(ROLE_IDS[role], address):
            transact(token.grantRole, ROLE_IDS[role], address, sender=deployer, what=f"grant {role}")

    for name in OPERATIONAL_ROLES:
        grant(name, holder_addrs[name])
        say(f"{name} -> {holder_addrs[name]}")

    attestation = None
    if attest_amount is not None:
        attestor = holders["ATTESTOR_ROLE"]
        temporary = False
        if hasattr(attestor, "sign_message") and hasattr(attestor, "address"):
            signer = attestor
        else:
            signer = deployer
            if holder_addrs["ATTESTOR_ROLE"] != deployer_addr:
                grant("ATTESTOR_ROLE", deployer_addr)
                temporary = True
        receipt = transact(
            token.attestReserves,
            attest_amount,
            report_hash,
            audit_head,
            sender=signer,
            what="attestReserves",
        )
        if temporary:
            transact(
                token.revokeRole,
                ROLE_IDS["ATTESTOR_ROLE"],
                deployer_addr,
                sender=deployer,
                what="revoke the deployer's ATTESTOR_ROLE",
            )
        amount, timestamp, rh, ah = token.reserveAttestation()
        attestation = {
            "amount": int(amount),
            "amount_usd": format_usd(amount),
            "report_hash": hex32(rh),
            "audit_head": hex32(ah),
            "timestamp": int(timestamp),
            "block": receipt.block_number,
            "attestor": signer.address,
        }
        say(f"reserves attested: {format_usd(attest_amount)} USD")

    # after the attestation: a deployer that attests for a moment may be the minter
    if minter_addr is not None:
        transact(
            token.configureMinter,
            minter_addr,
            minter_allowance,
            max_per_mint,
            sender=deployer,
            what="configureMinter",
        )
        say(
            f"minter {minter_addr}: allowance {format_usd(minter_allowance)}, "
            f"max per mint {format_usd(max_per_mint)} USD"
        )

    pending_admin = None
    current_admin = deployer_addr
    if admin_addr != deployer_addr:
        for name in OPERATIONAL_ROLES:
            if holder_addrs[name] != deployer_addr and token.hasRole(ROLE_IDS[name], deployer_addr):
                transact(token.revokeRole, ROLE_IDS[name], deployer_addr, sender=deployer)
        # DEFAULT_ADMIN_ROLE moves in two steps: the deployer starts the transfer, the admin
        # accepts it once the admin delay has passed
        transact(
            token.beginDefaultAdminTransfer, admin_addr, sender=deployer, what="beginDefaultAdminTransfer"
        )
        _new_admin, schedule = token.pendingDefaultAdmin()
        signer = _local_signer(admin)
        if signer is not None and admin_delay == 0:
            _wait_past(int(schedule))
            transact(token.acceptDefaultAdminTransfer, sender=signer, what="acceptDefaultAdminTransfer")
            current_admin = admin_addr
            say(f"DEFAULT_ADMIN_ROLE -> {admin_addr} (transferred from the deployer and accepted)")
        else:
            pending_admin = {"address": admin_addr, "schedule": int(schedule)}
            say(
                f"DEFAULT_ADMIN_ROLE: transfer to {admin_addr} started; it accepts it after "
                f"{int(schedule)} (unix time; `ape run roles accept-admin --account ...`), until "
                f"then the deployer is the admin"
            )

    role_holders: dict[str, list[str]] = {"DEFAULT_ADMIN_ROLE": [current_admin]}
    role_holders["MINTER_ROLE"] = [minter_addr] if minter_addr else []
    for name in OPERATIONAL_ROLES:
        role_holders[name] = [holder_addrs[name]]

    block = chain.provider.get_block(proxy_receipt.block_number)
    info: dict[str, Any] = {
        "chain_id": chain.chain_id,
        "network": network_key(),
        "token": proxy.address,
        "implementation": impl.address,
        "implementation_contract": implementation,
        "deployment_block": proxy_receipt.block_number,
        "deployment_block_hash": "0x" + bytes(block.hash).hex(),
        "deployer": deployer_addr,
        "deployed_at": utc_now(),
        "max_attestation_age": int(max_attestation_age),
        "admin_delay": int(admin_delay),
        "pending_admin": pending_admin,
        "timelock": timelock_info,
        "roles": role_holders,
        "minters": (
            {
                minter_addr: {
                    "allowance": int(minter_allowance),
                    "allowance_usd": format_usd(minter_allowance),
                    "max_per_mint": int(max_per_mint),
                    "max_per_mint_usd": format_usd(max_per_mint),
                }
            }
            if minter_addr
            else {}
        ),
        "attestation": attestation,
        "upgrades": [],
    }
    return token, info


def _local_signer(account):
    """`account` as a signing ape account when it is one (or a local test account's address)."""
    if account is None:
        return None
    if hasattr(account, "sign_message") and hasattr(account, "address"):
        return account
    from scripts._ushk.network import is_local_network

    if not is_local_network():
        return None
    from ape import accounts

    by_address = {a.address: a for a in accounts.test_accounts}
    return by_address.get(_address_of(account))


def _wait_past(timestamp: int) -> None:
    """Lets the local chain's clock pass `timestamp` (a schedule accepted from the next second)."""
    from ape import chain

    if chain.blocks.head.timestamp <= timestamp:
        chain.provider.make_request("evm_mine", [timestamp + 1])


def _deploy_timelock(deployer, min_delay: int, *, proposers, executors, cancellers, say) -> dict[str, Any]:
    """Deploys USHKTimelock (OpenZeppelin's TimelockController) administering itself: proposers
    schedule, executors execute, cancellers (default: the proposers) cancel."""
    setup = cancellers is not None and set(cancellers) != set(proposers)
    timelock = deployer.deploy(
        project_contract("USHKTimelock"),
        min_delay,
        proposers,
        executors,
        deployer.address if setup else ZERO_ADDRESS,
    )
    if setup:
        canceller_role = timelock.CANCELLER_ROLE()
        for address in cancellers:
            if not timelock.hasRole(canceller_role, address):
                transact(
                    timelock.grantRole, canceller_role, address, sender=deployer, what="grant CANCELLER_ROLE"
                )
        for address in proposers:
            if address not in cancellers:
                transact(
                    timelock.revokeRole,
                    canceller_role,
                    address,
                    sender=deployer,
                    what="revoke CANCELLER_ROLE",
                )
        transact(
            timelock.renounceRole,
            timelock.DEFAULT_ADMIN_ROLE(),
            deployer.address,
            sender=deployer,
            what="renounce the deployer's timelock admin role",
        )
    say(f"timelock (UPGRADER_ROLE) at {timelock.address}: minimum delay {min_delay} s")
    return {
        "address": timelock.address,
        "contract": "USHKTimelock",
        "min_delay": int(min_delay),
        "proposers": list(proposers),
        "executors": list(executors),
        "cancellers": list(cancellers if cancellers is not None else proposers),
        "operations": [],
    }
