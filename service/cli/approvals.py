"""Four eyes: `ushk approvals list|approve ID|reject ID|expire` (service/approvals/).

Approving and rejecting is done as an operator, named by its token (`--token`, or
USHK_OPERATOR_TOKEN): an operator with the role `approver`, not the one who made the request.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from service.cli.common import Context, emit, fail_on_service_error, json_option, pass_ctx

if TYPE_CHECKING:
    from service.banks.models import Operator
    from service.reserves.reconciler import Reconciler

TOKEN = click.option(
    "--token",
    envvar="USHK_OPERATOR_TOKEN",
    required=True,
    help="The approver's operator token (ushk_op_...); default USHK_OPERATOR_TOKEN.",
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _operator(ctx: Context, token: str) -> Operator:
    from service.banks import service as banks

    with ctx.db.reading() as session:
        return banks.authenticate_operator(session, f"Bearer {token}")


def _line(item: dict) -> str:
    return (
        f"{item['id']}\t{item['status']}\t{item['action']}\t{item['requested_by']}\t"
        f"expires {item['expires_at']}\t{item['params']}"
    )


@click.group()
def approvals() -> None:
    """Four-eyes requests: actions above the policy's thresholds waiting for a second operator."""


@approvals.command("list")
@click.option("--status", type=click.Choice(["pending", "approved", "rejected", "expired"]), default=None)
@json_option
@pass_ctx
def approvals_list(ctx: Context, status: str | None, as_json: bool) -> None:
    """The requests (past their time: expired first), oldest first."""
    from service.approvals import service as four_eyes
    from service.banks import approvals as store

    four_eyes.sweep(ctx.db, _now())
    with ctx.db.reading() as session:
        items = [store.approval_out(r) for r in store.list_approvals(session, status=status, limit=10_000)]
    emit(items, as_json, _print_lines)


def _print_lines(items: list[dict]) -> None:
    for item in items:
        click.echo(_line(item))


@approvals.command("approve")
@click.argument("approval_id", type=click.IntRange(1, 2**63 - 1))
@TOKEN
@pass_ctx
@fail_on_service_error
def approvals_approve(ctx: Context, approval_id: int, token: str) -> None:
    """Approve request APPROVAL_ID: its action is performed exactly as requested."""
    from service import runtime
    from service.approvals import service as four_eyes

    def reconciler() -> Reconciler | None:
        try:
            return runtime.build_reconciler(ctx.settings, ctx.db)
        except runtime.ChainNotConfigured:
            return None

    operator = _operator(ctx, token)
    row = four_eyes.approve(ctx.db, approval_id, operator, now=_now(), reconciler=reconciler)
    click.echo(f"request {row.id} approved: {row.kind} performed")


@approvals.command("reject")
@click.argument("approval_id", type=click.IntRange(1, 2**63 - 1))
@click.option("--reason", default="", help="Why (recorded).")
@TOKEN
@pass_ctx
@fail_on_service_error
def approvals_reject(ctx: Context, approval_id: int, reason: str, token: str) -> None:
    """Reject request APPROVAL_ID: nothing is performed (a waiting deposit is rejected)."""
    from service.approvals import service as four_eyes

    operator = _operator(ctx, token)
    row = four_eyes.reject(ctx.db, approval_id, operator, now=_now(), reason=reason)
    click.echo(f"request {row.id} rejected")


@approvals.command("expire")
@pass_ctx
def approvals_expire(ctx: Context) -> None:
    """Expire the requests past their time now (the workers do it every
    USHK_APPROVAL_EXPIRY_SECONDS)."""
    from service.approvals import service as four_eyes

    click.echo(f"{four_eyes.sweep(ctx.db, _now())} expired")
