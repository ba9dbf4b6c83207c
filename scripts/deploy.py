"""Deploys the USHK token: `ape run deploy token [--network ...] [--account ...]`.

Implementation + ERC-1967 proxy, role holders, the minter, the maximum attestation age and a first
reserve attestation; unless --upgrader is given, an OpenZeppelin TimelockController that holds
UPGRADER_ROLE (upgrades: `ape run upgrade`); writes deployments/<network>.json. On a local network
every role defaults to anvil's account 0, which also signs when no --account is given.
"""

import click

from scripts._ushk.amounts import format_usd
from scripts._ushk.cli import ADDRESS, BYTES32, USD, USD_OR_ZERO, ConnectedCommand, signer_option
from scripts._ushk.deploy import (
    DEFAULT_ADMIN_DELAY,
    DEFAULT_MAX_ATTESTATION_AGE,
    DEFAULT_UPGRADE_DELAY,
    MAX_UINT48,
    deploy_ushk,
)
from scripts._ushk.deployments import relative_path, save_deployment
from scripts._ushk.network import is_local_network, is_throwaway_node, network_choice, resolve_sender
from scripts._ushk.values import ZERO32


@click.group()
def cli():
    """Deploy the USHK token (implementation behind an ERC-1967 UUPS proxy)."""


@cli.command(cls=ConnectedCommand)
@signer_option("the deployer")
@click.option("--admin", type=ADDRESS, help="DEFAULT_ADMIN_ROLE holder. Default: the deployer.")
@click.option("--pauser", type=ADDRESS, help="PAUSER_ROLE holder. Default: the admin.")
@click.option("--compliance", type=ADDRESS, help="COMPLIANCE_ROLE holder. Default: the admin.")
@click.option("--attestor", type=ADDRESS, help="ATTESTOR_ROLE holder. Default: the admin.")
@click.option(
    "--upgrader",
    type=ADDRESS,
    help="UPGRADER_ROLE holder, with no timelock. Default: a TimelockController deployed here.",
)
@click.option(
    "--admin-delay",
    type=click.IntRange(min=0, max=MAX_UINT48),
    help="Seconds a transfer of DEFAULT_ADMIN_ROLE waits before the new admin may accept it. "
    f"Default: {DEFAULT_ADMIN_DELAY} (3 days) off a local network, where 0 is refused; 0 on a local network.",
)
@click.option(
    "--upgrade-delay",
    type=click.IntRange(min=0),
    default=DEFAULT_UPGRADE_DELAY,
    show_default=True,
    help="The timelock's minimum delay for an upgrade, in seconds (0 only on a local network).",
)
@click.option(
    "--timelock-proposer",
    "proposers",
    type=ADDRESS,
    multiple=True,
    help="Who may schedule upgrades in the timelock (repeatable). Default: the admin.",
)
@click.option(
    "--timelock-executor",
    "executors",
    type=ADDRESS,
    multiple=True,
    help="Who may execute ready upgrades (repeatable). Default: the admin.",
)
@click.option(
    "--timelock-canceller",
    "cancellers",
    type=ADDRESS,
    multiple=True,
    help="Who may cancel scheduled upgrades (repeatable). Default: the proposers.",
)
@click.option(
    "--anchorer", type=ADDRESS, help="ANCHOR_ROLE holder (anchors the audit log's heads). Default: the admin."
)
@click.option(
    "--minter",
    type=ADDRESS,
    help="Minter to configure (never the attestor: the token refuses one address both roles). "
    "Default on a local network: the admin unless it is the attestor; elsewhere: none.",
)
@click.option(
    "--minter-allowance",
    type=USD,
    default="10000000.00",
    show_default=True,
    help="Total the minter may mint, in USD (2 decimals at most).",
)
@click.option(
    "--max-per-mint",
    type=USD,
    default="1000000.00",
    show_default=True,
    help="Most a single mint may mint, in USD.",
)
@click.option(
    "--max-attestation-age",
    type=click.IntRange(min=1, max=2**64 - 1),
    default=DEFAULT_MAX_ATTESTATION_AGE,
    show_default=True,
    help="Seconds a reserve attestation stays fresh for mints.",
)
@click.option(
    "--attest",
    "attest_amount",
    type=USD_OR_ZERO,
    default="0.00",
    show_default=True,
    help="First reserve attestation, in USD (mints need one covering the supply).",
)
@click.option("--no-attest", is_flag=True, help="Make no first attestation.")
@click.option(
    "--report-hash",
    type=BYTES32,
    default="0x" + "00" * 32,
    help="Reserve report hash of the first attestation.",
)
@click.option(
    "--audit-head", type=BYTES32, default="0x" + "00" * 32, help="Audit log head of the first attestation."
)
def token(
    account,
    admin,
    pauser,
    compliance,
    attestor,
    upgrader,
    admin_delay,
    upgrade_delay,
    proposers,
    executors,
    cancellers,
    anchorer,
    minter,
    minter_allowance,
    max_per_mint,
    max_attestation_age,
    attest_amount,
    no_attest,
    report_hash,
    audit_head,
):
    """Deploy USHK, set up roles, minter and first attestation; write deployments/<network>.json.

    \b
    Examples:
      ape run deploy token --network ethereum:local:node
      ape run deploy token --network ethereum:local:node --minter TEST::1 --attest 1000000.00
      ape run deploy token --network ethereum:sepolia:node --account deployer \\
          --admin 0x... --pauser 0x... --compliance 0x... --attestor 0x... --timelock-proposer 0x... \\
          --minter 0x...
    """
    deployer = resolve_sender(account, what="the deployment")
    local = is_local_network()
    if admin_delay is None:
        admin_delay = 0 if local else DEFAULT_ADMIN_DELAY
    if not local and admin_delay == 0:
        raise click.BadParameter("a zero admin delay is for local networks only", param_hint="--admin-delay")
    if upgrader is not None and (proposers or executors or cancellers):
        raise click.BadParameter(
            "the timelock's proposers, executors and cancellers need no --upgrader (the timelock is it)",
            param_hint="--upgrader",
        )
    if upgrader is None and not local and upgrade_delay == 0:
        raise click.BadParameter(
            "a zero upgrade delay is for local networks only", param_hint="--upgrade-delay"
        )
    if minter is None and is_local_network():
        minter = admin or deployer.address
        if (attestor or minter).lower() == minter.lower():
            click.echo("no minter configured: the admin is the attestor (give --attestor or --minter)")
            minter = None
    if minter is not None and max_per_mint > minter_allowance:
        raise click.BadParameter(
            f"the per-mint maximum ({format_usd(max_per_mint)}) exceeds the allowance "
            f"({format_usd(minter_allowance)})",
            param_hint="--max-per-mint",
        )
    if max_per_mint > 2**120 - 1:
        raise click.BadParameter("too large for the contract (2^120 units)", param_hint="--max-per-mint")
    roles = {
        name: holder
        for name, holder in (
            ("pauser", pauser),
            ("compliance", compliance),
            ("attestor", attestor),
            ("upgrader", upgrader),
            ("anchor", anchorer),
        )
        if holder is not None
    }
    if is_local_network() and "attestor" in roles:
        # a local test account attests itself (elsewhere the deployer does, holding the role briefly)
        from ape import accounts

        by_address = {acct.address: acct for acct in accounts.test_accounts}
        roles["attestor"] = by_address.get(roles["attestor"], roles["attestor"])
    click.echo(f"Deploying USHK from {deployer.address}")
    token_, info = deploy_ushk(
        deployer,
        admin=admin,
        max_attestation_age=max_attestation_age,
        roles=roles,
        minter=minter,
        minter_allowance=minter_allowance,
        max_per_mint=max_per_mint,
        attest_amount=None if no_attest else attest_amount,
        report_hash=report_hash or ZERO32,
        audit_head=audit_head or ZERO32,
        admin_delay=admin_delay,
        upgrade_delay=None if upgrader is not None else upgrade_delay,
        timelock_proposers=list(proposers) or None,
        timelock_executors=list(executors) or None,
        timelock_cancellers=list(cancellers) or None,
        log=lambda msg: click.echo(f"  {msg}"),
    )
    path = save_deployment(info)
    net = network_choice()
    click.echo("")
    click.echo(f"USHK token (proxy): {token_.address}")
    click.echo(f"implementation:     {info['implementation']}")
    if info["timelock"]:
        click.echo(
            f"upgrade timelock:   {info['timelock']['address']} (minimum delay {info['timelock']['min_delay']} s)"
        )
    click.echo(f"admin delay:        {info['admin_delay']} s")
    if info["pending_admin"]:
        click.echo(
            f"pending admin:      {info['pending_admin']['address']}: it accepts with "
            f"`ape run roles accept-admin --network {network_choice()} --account ...` after "
            f"{info['pending_admin']['schedule']} (unix time); until then the deployer is the admin"
        )
    click.echo(f"chain {info['chain_id']}, block {info['deployment_block']}; wrote {relative_path(path)}")
    click.echo("")
    click.echo("Next steps:")
    click.echo(f"  ape run ops status --network {net}")
    click.echo(f"  ape run ops attest 1000000.00 --network {net}    # reserves, so mints can go ahead")
    if info["minters"]:
        click.echo(f"  ape run mint mint <recipient> 100.00 --deposit 1 --network {net}    # as the minter")
    else:
        click.echo(f"  ape run mint configure-minter <minter> --allowance 1000000.00 --network {net}")
    click.echo(f"  ape run roles list --network {net}")
    if is_throwaway_node():
        click.echo(
            "\nwarning: ape started this anvil for this command only, and it stops now: the deployment "
            "is gone with it. Start anvil yourself (or `make run`) and deploy with "
            "--network ethereum:local:node."
        )
