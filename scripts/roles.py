"""Role holders of the deployed USHK token: `ape run roles grant|revoke|list` and the default
admin's two-step transfer, `ape run roles transfer-admin|accept-admin|cancel-admin-transfer`.

Roles: admin (DEFAULT_ADMIN_ROLE), minter, pauser, compliance, attestor, upgrader. The admin role
has one holder, the default admin (OpenZeppelin's AccessControlDefaultAdminRules): it is never
granted or revoked, only transferred: the admin begins a transfer, the new admin accepts it once
the token's admin delay has passed. AccessControl
does not enumerate holders, so `list` checks every address it knows of: the deployment file's
holders, the accounts of RoleGranted events since the deployment, and any --address given.
"""

import json
import time

import click

from scripts._ushk.cli import ADDRESS, ROLE, ConnectedCommand, json_option, signer_option
from scripts._ushk.contracts import token_from_deployment
from scripts._ushk.deployments import add_holder, remove_holder, save_deployment
from scripts._ushk.network import resolve_sender
from scripts._ushk.roles import ROLE_IDS, ROLE_NAMES, known_addresses, require_role, role_table, short_role
from scripts._ushk.transactions import transact


@click.group()
def cli():
    """Grant, revoke and list the token's roles (admin, minter, pauser, compliance, attestor, upgrader)."""


def _refuse_admin_role(role: str) -> None:
    if role == "DEFAULT_ADMIN_ROLE":
        raise click.BadParameter(
            "the admin role is not granted or revoked but transferred in two steps: "
            "`ape run roles transfer-admin NEW_ADMIN`, then the new admin's `ape run roles accept-admin`",
            param_hint="ROLE",
        )


def _when(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


@cli.command(cls=ConnectedCommand)
@signer_option("an admin")
@click.argument("role", type=ROLE)
@click.argument("address", type=ADDRESS)
def grant(account, role, address):
    """Grant ROLE to ADDRESS (as an admin).

    ROLE is admin, minter, pauser, compliance, attestor or upgrader (or the contract's name, e.g.
    PAUSER_ROLE). A minter granted here has no allowance: use `ape run mint configure-minter`.
    """
    _refuse_admin_role(role)
    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the grant")
    require_role(token, "DEFAULT_ADMIN_ROLE", sender, doing="granting a role")
    if token.hasRole(ROLE_IDS[role], address):
        click.echo(f"{address} already holds {role}")
    else:
        transact(token.grantRole, ROLE_IDS[role], address, sender=sender, what=f"grant {role}")
        click.echo(f"granted {role} to {address}")
        if role == "MINTER_ROLE":
            click.echo("note: it has no allowance yet; use `ape run mint configure-minter`")
    add_holder(info, role, address)
    save_deployment(info)


@cli.command(cls=ConnectedCommand)
@signer_option("an admin")
@click.argument("role", type=ROLE)
@click.argument("address", type=ADDRESS)
def revoke(account, role, address):
    """Revoke ROLE from ADDRESS (as an admin). Revoking minter also clears its allowance."""
    _refuse_admin_role(role)
    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the revocation")
    require_role(token, "DEFAULT_ADMIN_ROLE", sender, doing="revoking a role")
    if not token.hasRole(ROLE_IDS[role], address):
        click.echo(f"{address} does not hold {role}")
    else:
        transact(token.revokeRole, ROLE_IDS[role], address, sender=sender, what=f"revoke {role}")
        click.echo(f"revoked {role} from {address}")
    remove_holder(info, role, address)
    if role == "MINTER_ROLE":
        info.get("minters", {}).pop(address, None)
    save_deployment(info)


@cli.command("list", cls=ConnectedCommand)
@click.option(
    "--address",
    "addresses",
    type=ADDRESS,
    multiple=True,
    help="Also check this address (repeatable).",
)
@json_option("Print JSON only: role name -> holders.")
def list_(addresses, as_json):
    """Show who holds which role, among the known addresses."""
    token, info = token_from_deployment()
    table = role_table(token, known_addresses(token, info, addresses))
    if as_json:
        click.echo(json.dumps(table, indent=2))
        return
    for name in ROLE_NAMES:
        holders = table[name]
        click.echo(f"{short_role(name):<11} {', '.join(holders) if holders else '(none known)'}")


@cli.command("transfer-admin", cls=ConnectedCommand)
@signer_option("the admin")
@click.argument("address", type=ADDRESS)
def transfer_admin(account, address):
    """Begin the transfer of DEFAULT_ADMIN_ROLE to ADDRESS (as the admin).

    ADDRESS accepts it with `ape run roles accept-admin` once the token's admin delay has passed;
    until then the admin stays the admin and may cancel (`cancel-admin-transfer`). A new transfer
    replaces a pending one.
    """
    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the admin transfer")
    require_role(token, "DEFAULT_ADMIN_ROLE", sender, doing="transferring the admin role")
    transact(token.beginDefaultAdminTransfer, address, sender=sender, what="beginDefaultAdminTransfer")
    _new, schedule = token.pendingDefaultAdmin()
    info["pending_admin"] = {"address": address, "schedule": int(schedule)}
    save_deployment(info)
    click.echo(
        f"admin transfer to {address} begun: it may accept after {_when(int(schedule))} "
        f"({int(schedule)}; delay {int(token.defaultAdminDelay())} s)"
    )


@cli.command("accept-admin", cls=ConnectedCommand)
@signer_option("the new admin")
def accept_admin(account):
    """Accept the pending transfer of DEFAULT_ADMIN_ROLE (as the new admin), once its delay has passed."""
    from ape import chain

    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the acceptance")
    pending, schedule = token.pendingDefaultAdmin()
    if pending != sender.address:
        raise click.ClickException(
            f"{sender.address} is not the pending admin ({pending if int(schedule) else 'no transfer is pending'})"
        )
    if chain.blocks.head.timestamp <= int(schedule):
        raise click.ClickException(
            f"the admin delay has not passed: the transfer can be accepted after {_when(int(schedule))}"
        )
    old = token.defaultAdmin()
    transact(token.acceptDefaultAdminTransfer, sender=sender, what="acceptDefaultAdminTransfer")
    remove_holder(info, "DEFAULT_ADMIN_ROLE", old)
    add_holder(info, "DEFAULT_ADMIN_ROLE", sender.address)
    info["pending_admin"] = None
    save_deployment(info)
    click.echo(f"DEFAULT_ADMIN_ROLE: {old} -> {sender.address}")


@cli.command("cancel-admin-transfer", cls=ConnectedCommand)
@signer_option("the admin")
def cancel_admin_transfer(account):
    """Cancel the pending transfer of DEFAULT_ADMIN_ROLE (as the admin)."""
    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the cancellation")
    require_role(token, "DEFAULT_ADMIN_ROLE", sender, doing="cancelling the admin transfer")
    pending, schedule = token.pendingDefaultAdmin()
    if not int(schedule):
        raise click.ClickException("no admin transfer is pending")
    transact(token.cancelDefaultAdminTransfer, sender=sender, what="cancelDefaultAdminTransfer")
    info["pending_admin"] = None
    save_deployment(info)
    click.echo(f"cancelled the admin transfer to {pending}")
