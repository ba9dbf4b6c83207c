"""`ushk redemptions ...` (the watcher of RedemptionRequested events) and `ushk payouts ...`
(the payouts it creates)."""

from __future__ import annotations

import sys

import click

from service.cli.common import (
    Context,
    actor,
    chain_configured,
    emit,
    fail_on_service_error,
    json_option,
    pass_ctx,
    progress,
    progress_option,
    start_logging,
)


@click.group()
def redemptions() -> None:
    """On-chain redemptions (also watched inside `serve` with USHK_REDEMPTION_WATCHER_ENABLED=true)."""


@redemptions.command("watch")
@click.option("--once", is_flag=True, help="Catch up with the confirmed head, then exit.")
@click.option(
    "--confirmations",
    default=None,
    type=click.IntRange(0, 1000),
    help="Defaults to USHK_REDEMPTION_CONFIRMATIONS.",
)
@progress_option
@pass_ctx
def redemptions_watch(ctx: Context, once: bool, confirmations: int | None) -> None:
    """Turn RedemptionRequested events into payouts, resuming from the stored cursor (--once: a
    progress bar of the blocks on stderr when it is a terminal)."""
    import threading

    from service.runtime import build_watcher

    start_logging(ctx)
    with chain_configured():
        watcher = build_watcher(ctx.settings, ctx.db)
    if confirmations is not None:
        watcher.confirmations = confirmations
    if once:
        with progress(lambda: watcher.safe_head() - watcher.cursor(), "blocks") as advance:
            watcher.catch_up(progress=advance)
        watcher.report_overdue()
        click.echo(
            f"up to block {watcher.cursor()}: {watcher.stats.events} redemptions, "
            f"{watcher.stats.created} new payouts ({watcher.stats.unassigned} unassigned)"
        )
        return
    stop = threading.Event()
    try:
        watcher.run(stop)
    except KeyboardInterrupt:
        stop.set()


def _payout_rows(status: str | None, bank_name: str | None, limit: int) -> list[dict]:
    from service.banks import repository as bank_repo
    from service.banks import service as banks
    from service.db import utcnow
    from service.redemptions import repository
    from service.redemptions.schemas import PayoutOut

    ctx = click.get_current_context().find_object(Context)
    assert ctx is not None  # its commands are @pass_ctx, which creates it
    now = utcnow()
    with ctx.db.reading() as session:
        bank_id = banks.require_bank(session, bank_name).id if bank_name else None
        names = {b.id: b.name for b in bank_repo.list_banks(session)}
        if status == "overdue":
            rows = repository.list_payouts(session, bank_id=bank_id, overdue_at=now, limit=limit)
        else:
            rows = repository.list_payouts(session, bank_id=bank_id, status=status, limit=limit)
        return [
            {
                "bank": names.get(p.bank_id) if p.bank_id else None,
                **PayoutOut.of(p, now).model_dump(mode="json"),
            }
            for p in rows
        ]


def _print_payouts(rows: list[dict], as_json: bool) -> None:
    emit(rows, as_json, _payout_lines)


def _payout_lines(rows: list[dict]) -> None:
    for r in rows:
        state = "overdue" if r["overdue"] else r["status"]
        click.echo(
            f"{r['id']}\tredemption {r['redemption_id']}\t{r['bank'] or '-'}\t{state}\t"
            f"{r['amount']}\tdue {r['due_at']}\t{r['holder']}"
            + (f"\t{r['unassigned_reason']}" if r["unassigned_reason"] else "")
        )


@click.group()
def payouts() -> None:
    """Payout instructions to banks."""


@payouts.command("list")
@click.option("--status", default=None, type=click.Choice(["pending", "settled", "unassigned", "overdue"]))
@click.option("--bank", "bank_name", default=None)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@pass_ctx
@fail_on_service_error
def payouts_list(ctx: Context, status: str | None, bank_name: str | None, limit: int, as_json: bool) -> None:
    _print_payouts(_payout_rows(status, bank_name, limit), as_json)


@payouts.command("overdue")
@click.option("--bank", "bank_name", default=None)
@json_option
@pass_ctx
@fail_on_service_error
def payouts_overdue(ctx: Context, bank_name: str | None, as_json: bool) -> None:
    """Pending payouts past their due time (one Hong Kong business day); exit 1 if any."""
    rows = _payout_rows("overdue", bank_name, 10_000)
    _print_payouts(rows, as_json)
    if not as_json:
        click.echo(f"{len(rows)} overdue payout(s)", err=True)
    if rows:
        sys.exit(1)


@payouts.command("assign")
@click.argument("payout_id", type=int)
@click.option(
    "--bank", "bank_name", required=True, help="The bank that will pay the holder (found with it off-chain)."
)
@pass_ctx
@fail_on_service_error
def payouts_assign(ctx: Context, payout_id: int, bank_name: str) -> None:
    """Give an unassigned payout to a bank: it becomes pending, due one business day from now."""
    from service.banks import service as banks
    from service.db import utcnow
    from service.redemptions import service as redemption_service

    with ctx.db.transaction() as session:
        payout = redemption_service.assign_payout(
            session,
            ctx.settings,
            payout_id,
            banks.require_bank(session, bank_name),
            actor=actor(),
            now=utcnow(),
        )
        due = payout.due_at
    click.echo(f"payout {payout_id} assigned to {bank_name}, due {due:%Y-%m-%dT%H:%M:%SZ}")


@payouts.command("reassign")
@click.option("--from", "from_bank", required=True, help="The bank the pending payouts are taken from.")
@click.option("--to", "to_bank", required=True, help="The bank that will pay them.")
@click.option("--id", "payout_ids", type=int, multiple=True, help="Only these payouts (repeatable).")
@pass_ctx
@fail_on_service_error
def payouts_reassign(ctx: Context, from_bank: str, to_bank: str, payout_ids: tuple[int, ...]) -> None:
    """Give a bank's pending payouts (all, or --id ones) to another bank, e.g. after
    `ushk bank mark-failed`: they become pending for it, due one business day from now at the
    earliest; one audit entry each."""
    from service.banks import service as banks
    from service.db import utcnow
    from service.redemptions import reassign

    with ctx.db.transaction() as session:
        moved = reassign.reassign_payouts(
            session,
            ctx.settings,
            banks.require_bank(session, from_bank),
            banks.require_bank(session, to_bank),
            payout_ids=list(payout_ids) or None,
            actor=actor(),
            now=utcnow(),
        )
        ids = [p.id for p in moved]
    click.echo(f"{len(ids)} payout(s) reassigned from {from_bank} to {to_bank}: {ids}")
