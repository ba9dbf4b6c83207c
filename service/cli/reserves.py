"""`ushk reserves ...`: the reserve ledger, its reconciliation with the chain, attestations."""

from __future__ import annotations

import sys

import click

from service.cli.common import Context, emit, json_option, pass_ctx, progress, progress_option
from service.money import format_cents


@click.group()
def reserves() -> None:
    """The reserve ledger, its reconciliation with the chain, and attestations."""


@reserves.command("attest")
@pass_ctx
def reserves_attest(ctx: Context) -> None:
    """Attest the reserves on chain now, by the attestor's own rule (what the banks' signed
    statements prove, checked against the keys in USHK_ATTESTOR_BANK_KEYS_FILE), as `ushk
    attestor run` would; where the attestor's key is, never beside the minter's."""
    from service.chain.token import ChainError
    from service.reserves.independent import PinnedKeysError
    from service.runtime import ChainNotConfigured, build_independent_attestor

    try:
        receipt = build_independent_attestor(ctx.settings, ctx.db).attest(reason="operator")
    except (ChainNotConfigured, ChainError, PinnedKeysError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"attested in {receipt.tx_hash} (block {receipt.block_number})")


@reserves.command("summary")
@json_option
@pass_ctx
def reserves_summary(ctx: Context, as_json: bool) -> None:
    """Reserves per bank, the ledger's other balances, the supply on chain and the ratio."""
    from service.reserves import service as reserve_service
    from service.reserves.summary import summary as public_summary
    from service.runtime import chain_view

    with ctx.db.reading() as session:
        data = public_summary(session, chain_view(ctx.settings))
        halt = reserve_service.halt_out(reserve_service.active_halt(session))
        acknowledged = [
            reserve_service.acknowledgement_out(r) for r in reserve_service.acknowledgements(session)
        ]
    data["halt"] = halt
    data["acknowledged_differences"] = acknowledged
    emit(data, as_json, _print_summary)


def _print_summary(data: dict) -> None:
    click.echo(f"reserves        {data['total_reserves']} USD")
    for row in data["custody"]:
        click.echo(f"  {row['bank']:<14}{row['amount']}")
    for name in ("tokens_outstanding", "pending_mint", "pending_payouts", "refunds_due", "wiped"):
        click.echo(f"{name:<16}{data[name]}")
    click.echo(f"supply on chain {data['supply'] if data['supply'] is not None else 'unavailable'}")
    click.echo(f"ratio           {data['ratio'] or '-'}")
    attestation = data["last_attestation"]
    if attestation:
        click.echo(
            f"attested        {attestation['amount']} at {attestation['time']} "
            f"report {attestation['report_hash']}"
        )
    for a in data["acknowledged_differences"]:
        click.echo(
            f"ACKNOWLEDGED    {a['units']} units of supply difference (halt {a['halt_id']}, block "
            f"{a['block']}, by {a['by']} at {a['at']}): {a['cause']}"
        )
    if halt := data["halt"]:
        click.echo(f"MINTING HALTED since {halt['created_at']}: {', '.join(halt['codes'])}")


@reserves.command("reconcile")
@click.option("--loop", is_flag=True, help="Keep reconciling (every USHK_RECONCILE_INTERVAL_SECONDS).")
@json_option
@progress_option
@pass_ctx
def reserves_reconcile(ctx: Context, loop: bool, as_json: bool) -> None:
    """Compare chain supply, ledger, reserves and attestation; halt minting on a discrepancy.
    Exits 1 when something was found. Once (not --loop), a progress bar of the blocks followed
    on stderr when it is a terminal (a first pass follows the chain from the deployment)."""
    import threading

    from service.chain.token import ChainError
    from service.runtime import ChainNotConfigured, build_reconciler

    try:
        reconciler = build_reconciler(ctx.settings, ctx.db)
        if loop:
            stop = threading.Event()
            try:
                reconciler.run(stop)
            except KeyboardInterrupt:
                stop.set()
            return

        def blocks() -> int:  # to follow: counted only when the bar is drawn
            return reconciler.pinned_block() - reconciler.follower.cursor()

        with progress(blocks, "blocks") as advance:
            result = reconciler.reconcile_once(progress=advance)
    except (ChainNotConfigured, ChainError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        emit(result.as_dict(), True)
    else:  # findings go to stderr
        click.echo(
            f"block {result.block}: supply {result.supply_units} units, ledger "
            f"{result.ledger_supply_units} (+{result.in_flight_units} in flight, "
            f"+{result.acknowledged_units} acknowledged), reserves {format_cents(result.reserves_cents)} "
            f"USD, attested {result.attested_units} units" + (" (stale)" if result.stale_attestation else "")
        )
        for finding in result.findings:
            click.echo(f"DISCREPANCY {finding['code']}: {finding['message']}", err=True)
        if result.halted:
            click.echo(
                "minting is halted (`ushk minting resume --cause ...` after the cause is fixed; "
                "it reconciles again first)",
                err=True,
            )
    if result.findings:
        sys.exit(1)
