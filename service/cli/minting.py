"""`ushk minter ...` (the on-chain minter) and `ushk minting ...` (halts and resumes)."""

from __future__ import annotations

import json

import click

from service.cli.common import (
    Context,
    actor,
    chain_configured,
    emit,
    fail_on_service_error,
    json_option,
    pass_ctx,
    start_logging,
)


@click.group()
def minter() -> None:
    """The on-chain minter (also runs inside `serve` with USHK_MINTER_ENABLED=true)."""


@minter.command("run")
@pass_ctx
def minter_run(ctx: Context) -> None:
    """Mint accepted deposits until interrupted (one instance at a time holds the lease)."""
    import threading

    from service.runtime import build_minter

    start_logging(ctx)
    with chain_configured():
        worker = build_minter(ctx.settings, ctx.db)
    stop = threading.Event()
    try:
        worker.run(stop)
    except KeyboardInterrupt:
        stop.set()


@click.group()
def minting() -> None:
    """Minting halts decided by the reserve reconciler."""


@minting.command("status")
@json_option
@pass_ctx
def minting_status(ctx: Context, as_json: bool) -> None:
    """Print the active halt, if any (--json: {"halted": ..., "halt": the halt or null})."""
    from service.reserves import service as reserve_service

    with ctx.db.reading() as session:
        halt = reserve_service.halt_out(reserve_service.active_halt(session))
    emit({"halted": halt is not None, "halt": halt}, as_json, _print_status)


def _print_status(status: dict) -> None:
    if status["halt"] is None:
        click.echo("minting is not halted")
    else:
        click.echo(json.dumps(status["halt"], indent=2))


@minting.command("resume")
@click.option("--cause", required=True, help="What was found and what was done about it (recorded).")
@click.option(
    "--acknowledge-units",
    type=int,
    default=None,
    help="Accept this supply difference (token units, as the fresh reconciliation measures it).",
)
@click.option(
    "--token",
    envvar="USHK_OPERATOR_TOKEN",
    default=None,
    help="With the policy's four_eyes.minting_resume on: the requesting operator's token "
    "(default USHK_OPERATOR_TOKEN); the resume is then a request an approver approves.",
)
@pass_ctx
@fail_on_service_error
def minting_resume(ctx: Context, cause: str, acknowledge_units: int | None, token: str | None) -> None:
    """Lift the reconciler's halt after a fresh reconciliation; unpauses minting on chain if
    the service paused it. A supply difference that remains must be acknowledged exactly
    (--acknowledge-units); any other finding keeps the halt. With four eyes on for resumes
    (policy), this only makes the request (`ushk approvals approve ID` performs it)."""
    from service.app import load_policy
    from service.chain.token import ChainError
    from service.reserves.resume import resume_minting
    from service.runtime import ChainNotConfigured, build_reconciler

    policy = load_policy(ctx.settings)
    if policy.four_eyes.minting_resume:
        import datetime as dt

        from service.approvals import service as four_eyes
        from service.banks import service as banks

        if token is None:
            raise click.ClickException("four eyes: a resume is a request; give the operator's --token")
        with ctx.db.transaction() as session:
            operator = banks.authenticate_operator(session, f"Bearer {token}")
            request = four_eyes.request_resume(
                session,
                operator,
                cause=cause,
                acknowledge_units=acknowledge_units,
                policy=policy,
                now=dt.datetime.now(dt.UTC),
            )
        click.echo(f"resume requested: request {request.id} waits for an approver")
        return

    try:
        reconciler = build_reconciler(ctx.settings, ctx.db)
    except ChainNotConfigured:
        reconciler = None
    try:
        row = resume_minting(
            ctx.db, cause=cause, actor=actor(), reconciler=reconciler, acknowledge_units=acknowledge_units
        )
    except ChainError as exc:
        raise click.ClickException(str(exc)) from None
    outcome = (
        f"acknowledged a supply difference of {row.acknowledged_units} units"
        if row.acknowledged_units
        else "no difference remains"
    )
    click.echo(
        f"minting resumed (halt {row.id}: {row.codes}; fresh reconciliation at block "
        f"{row.resume_block}: {outcome})"
        + (f"; unpaused on chain in {row.unpause_tx_hash}" if row.unpause_tx_hash else "")
    )
