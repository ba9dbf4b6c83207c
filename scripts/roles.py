"""Role holders of the deployed USHK token: `ape run roles grant|revoke|list`.

Roles: admin (DEFAULT_ADMIN_ROLE), minter, pauser, compliance, attestor, upgrader. AccessControl
does not enumerate holders, so `list` checks every address it knows of: the deployment file's
holders, the accounts of RoleGranted events since the deployment, and any --address given.
"""

import json

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


@cli.command(cls=ConnectedCommand)
@signer_option("an admin")
@click.argument("role", type=ROLE)
@click.argument("address", type=ADDRESS)
def grant(account, role, address):
    """Grant ROLE to ADDRESS (as an admin).

    ROLE is admin, minter, pauser, compliance, attestor or upgrader (or the contract's name, e.g.
    PAUSER_ROLE). A minter granted here has no allowance: use `ape run mint configure-minter`.
    """
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
    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the revocation")
    require_role(token, "DEFAULT_ADMIN_ROLE", sender, doing="revoking a role")
    if role == "DEFAULT_ADMIN_ROLE" and address == sender.address:
        others = [
            a for a in known_addresses(token, info) if a != address and token.hasRole(ROLE_IDS[role], a)
        ]
        if not others:
            raise click.BadParameter(
                "this would leave the token without an admin: grant admin to another address first",
                param_hint="ADDRESS",
            )
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
