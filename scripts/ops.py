"""Operations on the deployed USHK token: pauses, compliance, reserves, upgrades and status.

`ape run ops <command> [--network ...] [--account ...]`; each command checks that the account
holds the role it needs before sending (pauser, compliance, attestor, admin, upgrader).
"""

import json
import time

import click

from scripts._ushk.amounts import format_usd
from scripts._ushk.cli import ADDRESS, BYTES32, USD_OR_ZERO, ConnectedCommand, json_option, signer_option
from scripts._ushk.contracts import implementation_of, project_contract, token_from_deployment
from scripts._ushk.deployments import save_deployment, utc_now
from scripts._ushk.network import is_local_network, resolve_sender
from scripts._ushk.roles import ROLE_IDS, ROLE_NAMES, known_addresses, require_role, role_table, short_role
from scripts._ushk.timelock import check_storage_layout
from scripts._ushk.transactions import transact
from scripts._ushk.values import ZERO32, hex32


@click.group()
def cli():
    """Operate the USHK token: pauses, freezes, allowlist, attestations, upgrades, status."""


def _simple(name: str, method: str, role: str, doing: str, done: str, help_text: str):
    """A command that sends `method()` as the holder of `role`."""

    @cli.command(name, cls=ConnectedCommand, help=help_text)
    @signer_option("the pauser")
    def command(account):
        token, _info = token_from_deployment()
        sender = resolve_sender(account, what=doing)
        require_role(token, role, sender, doing=doing)
        transact(getattr(token, method), sender=sender, what=method)
        click.echo(done)

    return command


_simple(
    "pause",
    "pause",
    "PAUSER_ROLE",
    "pausing",
    "paused: all token movements stop",
    "Pause all token movements: transfers, approvals, mints, redemptions (as a pauser).",
)
_simple(
    "unpause",
    "unpause",
    "PAUSER_ROLE",
    "unpausing",
    "unpaused",
    "End a pause of all token movements (as a pauser).",
)
_simple(
    "pause-minting",
    "pauseMinting",
    "PAUSER_ROLE",
    "pausing minting",
    "minting paused",
    "Pause minting only (as a pauser).",
)
_simple(
    "unpause-minting",
    "unpauseMinting",
    "PAUSER_ROLE",
    "unpausing minting",
    "minting unpaused",
    "End a pause of minting (as a pauser).",
)
_simple(
    "pause-redemptions",
    "pauseRedemptions",
    "PAUSER_ROLE",
    "pausing redemptions",
    "redemptions paused",
    "Pause redemptions only (as a pauser).",
)
_simple(
    "unpause-redemptions",
    "unpauseRedemptions",
    "PAUSER_ROLE",
    "unpausing redemptions",
    "redemptions unpaused",
    "End a pause of redemptions (as a pauser).",
)


@cli.command(cls=ConnectedCommand)
@signer_option("compliance")
@click.argument("address", type=ADDRESS)
def freeze(account, address):
    """Freeze ADDRESS: it can no longer send, receive, approve, be minted to or redeem (as compliance)."""
    token, _info = token_from_deployment()
    sender = resolve_sender(account, what="the freeze")
    require_role(token, "COMPLIANCE_ROLE", sender, doing="freezing")
    transact(token.freeze, address, sender=sender, what="freeze")
    click.echo(f"frozen: {address} (balance {format_usd(token.balanceOf(address))} USD)")


@cli.command(cls=ConnectedCommand)
@signer_option("compliance")
@click.argument("address", type=ADDRESS)
def unfreeze(account, address):
    """Unfreeze ADDRESS (as compliance)."""
    token, _info = token_from_deployment()
    sender = resolve_sender(account, what="the unfreeze")
    require_role(token, "COMPLIANCE_ROLE", sender, doing="unfreezing")
    transact(token.unfreeze, address, sender=sender, what="unfreeze")
    click.echo(f"unfrozen: {address}")


@cli.command(cls=ConnectedCommand)
@signer_option("compliance")
@click.argument("address", type=ADDRESS)
def wipe(account, address):
    """Burn the whole balance of the frozen ADDRESS (as compliance). Freeze it first."""
    token, _info = token_from_deployment()
    sender = resolve_sender(account, what="the wipe")
    require_role(token, "COMPLIANCE_ROLE", sender, doing="wiping a frozen balance")
    if not token.isFrozen(address):
        raise click.ClickException(f"{address} is not frozen: run `ape run ops freeze {address}` first")
    balance = int(token.balanceOf(address))
    transact(token.wipeFrozen, address, sender=sender, what="wipeFrozen")
    click.echo(
        f"wiped {format_usd(balance)} USD from {address}; supply now {format_usd(token.totalSupply())} USD"
    )


@cli.group()
def allowlist():
    """Allowlist mode: while enabled, only allowed accounts may receive (as compliance)."""


def _allowlist_mode(enabled: bool):
    word = "enable" if enabled else "disable"

    @allowlist.command(
        word, cls=ConnectedCommand, help=f"{word.capitalize()} allowlist mode (as compliance)."
    )
    @signer_option("compliance")
    def command(account):
        token, _info = token_from_deployment()
        sender = resolve_sender(account, what=f"the allowlist {word}")
        require_role(token, "COMPLIANCE_ROLE", sender, doing=f"allowlist {word}")
        transact(token.setAllowlistEnabled, enabled, sender=sender, what="setAllowlistEnabled")
        click.echo(f"allowlist mode {'enabled' if enabled else 'disabled'}")

    return command


def _allowlist_entry(allowed: bool):
    word = "allow" if allowed else "disallow"

    @allowlist.command(
        word,
        cls=ConnectedCommand,
        help=f"{'Put ADDRESS on' if allowed else 'Take ADDRESS off'} the allowlist (as compliance).",
    )
    @signer_option("compliance")
    @click.argument("address", type=ADDRESS)
    def command(account, address):
        token, _info = token_from_deployment()
        sender = resolve_sender(account, what=f"the allowlist {word}")
        require_role(token, "COMPLIANCE_ROLE", sender, doing=f"allowlist {word}")
        transact(token.setAllowed, address, allowed, sender=sender, what="setAllowed")
        click.echo(f"{address} {'allowed' if allowed else 'disallowed'}")

    return command


_allowlist_mode(True)
_allowlist_mode(False)
_allowlist_entry(True)
_allowlist_entry(False)


@cli.command(cls=ConnectedCommand)
@signer_option("the attestor")
@click.argument("amount", type=USD_OR_ZERO)
@click.option("--report-hash", type=BYTES32, default="0x" + "00" * 32, help="Hash of the reserve report.")
@click.option("--audit-head", type=BYTES32, default="0x" + "00" * 32, help="Head hash of the audit log.")
def attest(account, amount, report_hash, audit_head):
    """Attest reserves of AMOUNT US dollars: the ceiling for further mints (as an attestor).

    An amount below the supply is accepted (it states the truth) and blocks mints until reserves
    are attested again.
    """
    token, _info = token_from_deployment()
    sender = resolve_sender(account, what="the attestation")
    require_role(token, "ATTESTOR_ROLE", sender, doing="attesting reserves")
    transact(
        token.attestReserves,
        amount,
        report_hash or ZERO32,
        audit_head or ZERO32,
        sender=sender,
        what="attestReserves",
    )
    supply = int(token.totalSupply())
    click.echo(f"reserves attested: {format_usd(amount)} USD (supply {format_usd(supply)} USD)")
    if amount < supply:
        click.echo("warning: reserves below the supply: mints are blocked until the next attestation")


@cli.command("set-max-age", cls=ConnectedCommand)
@signer_option("the admin")
@click.argument("seconds", type=click.IntRange(min=1, max=2**64 - 1))
def set_max_age(account, seconds):
    """Set how old (SECONDS) the last attestation may be for mints to go ahead (as the admin)."""
    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the new maximum age")
    require_role(token, "DEFAULT_ADMIN_ROLE", sender, doing="setting the maximum attestation age")
    transact(token.setMaxAttestationAge, seconds, sender=sender, what="setMaxAttestationAge")
    info["max_attestation_age"] = seconds
    save_deployment(info)
    click.echo(f"maximum attestation age: {seconds} s")


@cli.command(cls=ConnectedCommand)
@signer_option("the upgrader")
@click.argument("contract_name")
@click.option("--call-data", default="0x", help="Call to make on the new implementation (hex), default none.")
@click.option(
    "--admin-rules-delay",
    type=click.IntRange(min=0, max=2**48 - 1),
    help="For a token deployed before version 3: make its one DEFAULT_ADMIN_ROLE holder the default "
    "admin, its transfers delayed by this many seconds (initializeAdminRules as the upgrade's call).",
)
def upgrade(account, contract_name, call_data, admin_rules_delay):
    """Deploy CONTRACT_NAME and upgrade the token to it at once (as an upgrader that is an account).

    For a deployment without a timelock (`deploy token --upgrader`). With one, upgrades go through
    `ape run upgrade schedule|execute`. The storage-layout check runs first, as there.

    \b
    Example: ape run ops upgrade USHKV2Example
    """
    try:
        data = bytes.fromhex(call_data.removeprefix("0x"))
    except ValueError:
        raise click.BadParameter(f"'{call_data}' is not hex", param_hint="--call-data") from None
    container = project_contract(contract_name)
    if container is None:
        raise click.BadParameter(
            f"no contract named '{contract_name}' in this project", param_hint="CONTRACT_NAME"
        )
    abi_names = {getattr(item, "name", None) for item in container.contract_type.abi}
    if not {"proxiableUUID", "upgradeToAndCall"} <= abi_names:
        raise click.BadParameter(
            f"'{contract_name}' is not a UUPS implementation (no proxiableUUID/upgradeToAndCall)",
            param_hint="CONTRACT_NAME",
        )
    check_storage_layout(container, contract_name)
    if admin_rules_delay is not None:
        if data:
            raise click.BadParameter(
                "give either --call-data or --admin-rules-delay", param_hint="--call-data"
            )
        if "initializeAdminRules" not in abi_names:
            raise click.BadParameter(
                f"'{contract_name}' has no initializeAdminRules", param_hint="--admin-rules-delay"
            )
        if admin_rules_delay == 0 and not is_local_network():
            raise click.BadParameter(
                "a zero admin delay is for local networks only", param_hint="--admin-rules-delay"
            )
    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the upgrade")
    if info.get("timelock") and token.hasRole(ROLE_IDS["UPGRADER_ROLE"], info["timelock"]["address"]):
        raise click.ClickException(
            f"upgrades go through the timelock {info['timelock']['address']}, which holds UPGRADER_ROLE: "
            "`ape run upgrade schedule CONTRACT_NAME`, then `ape run upgrade execute` after its delay"
        )
    require_role(token, "UPGRADER_ROLE", sender, doing="upgrading")
    admin = None
    if admin_rules_delay is not None:
        admins = [a for a in known_addresses(token, info) if token.hasRole(ROLE_IDS["DEFAULT_ADMIN_ROLE"], a)]
        if len(admins) != 1:
            raise click.ClickException(
                f"the default admin must be the one holder of DEFAULT_ADMIN_ROLE; known holders: "
                f"{', '.join(admins) or 'none'} (revoke the others first)"
            )
        (admin,) = admins
    old = implementation_of(token.address)
    impl = sender.deploy(container)
    if admin is not None:
        data = impl.initializeAdminRules.encode_input(admin, admin_rules_delay)
    transact(token.upgradeToAndCall, impl.address, data, sender=sender, what="upgradeToAndCall")
    new = implementation_of(token.address)
    if new != impl.address:
        raise click.ClickException(f"the proxy points at {new}, not the new implementation {impl.address}")
    info["implementation"] = new
    info["implementation_contract"] = contract_name
    if admin is not None:
        info["admin_delay"] = admin_rules_delay
        info["pending_admin"] = None
        info.setdefault("roles", {})["DEFAULT_ADMIN_ROLE"] = [admin]
    info.setdefault("upgrades", []).append(
        {"from": old, "to": new, "contract": contract_name, "at": utc_now()}
    )
    save_deployment(info)
    click.echo(f"upgraded {token.address}: implementation {old} -> {new} ({contract_name})")
    if admin is not None:
        click.echo(f"default admin {admin}; admin transfers wait {admin_rules_delay} s")


def collect_status(token, info) -> dict:
    """Everything `status` prints, as plain data (amounts in token units)."""
    from ape import chain

    amount, timestamp, report_hash, audit_head = token.reserveAttestation()
    max_age = int(token.maxAttestationAge())
    now = chain.blocks.head.timestamp
    supply = int(token.totalSupply())
    addresses = known_addresses(token, info)
    roles = role_table(token, addresses)
    minters = {
        a: {"allowance": int(token.minterAllowance(a)), "max_per_mint": int(token.minterMaxPerMint(a))}
        for a in addresses
        if token.isMinter(a)
    }
    return {
        "token": token.address,
        "implementation": implementation_of(token.address),
        "chain_id": chain.chain_id,
        "network": info.get("network"),
        "total_supply": supply,
        "attestation": {
            "amount": int(amount),
            "timestamp": int(timestamp),
            "age": (now - int(timestamp)) if timestamp else None,
            "max_age": max_age,
            "fresh": bool(timestamp) and now - int(timestamp) <= max_age,
            "report_hash": hex32(report_hash),
            "audit_head": hex32(audit_head),
            "headroom": max(int(amount) - supply, 0),
        },
        "paused": bool(token.paused()),
        "minting_paused": bool(token.mintingPaused()),
        "redemptions_paused": bool(token.redemptionsPaused()),
        "allowlist_enabled": bool(token.allowlistEnabled()),
        "redemption_count": int(token.redemptionCount()),
        "roles": roles,
        "minters": minters,
    }


@cli.command(cls=ConnectedCommand)
@json_option()
def status(as_json):
    """Show supply, reserve attestation, pauses, roles and minters."""
    token, info = token_from_deployment()
    s = collect_status(token, info)
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    a = s["attestation"]
    yes = lambda flag: "yes" if flag else "no"  # noqa: E731
    click.echo(f"USHK {s['token']} on {s['network']} (chain {s['chain_id']})")
    click.echo(f"  implementation     {s['implementation']}")
    click.echo(f"  total supply       {format_usd(s['total_supply'])} USD")
    if a["timestamp"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(a["timestamp"]))
        click.echo(
            f"  reserves attested  {format_usd(a['amount'])} USD at {when} "
            f"(age {a['age']} s, max {a['max_age']} s: {'fresh' if a['fresh'] else 'STALE'})"
        )
        click.echo(f"  mint headroom      {format_usd(a['headroom'])} USD")
        click.echo(f"  report hash        {a['report_hash']}")
        click.echo(f"  audit head         {a['audit_head']}")
    else:
        click.echo(f"  reserves attested  never (max age {a['max_age']} s): mints are blocked")
    click.echo(
        f"  paused {yes(s['paused'])}; minting paused {yes(s['minting_paused'])}; "
        f"redemptions paused {yes(s['redemptions_paused'])}; allowlist {'on' if s['allowlist_enabled'] else 'off'}"
    )
    click.echo(f"  redemptions so far {s['redemption_count']}")
    click.echo("  roles (known holders):")
    for name in ROLE_NAMES:
        holders = s["roles"][name]
        click.echo(f"    {short_role(name):<11} {', '.join(holders) if holders else '(none known)'}")
    for address, m in s["minters"].items():
        click.echo(
            f"  minter {address}: allowance {format_usd(m['allowance'])} USD, "
            f"max per mint {format_usd(m['max_per_mint'])} USD"
        )
