"""`ushk deposits ...`: deposits as the service holds them."""

from __future__ import annotations

from typing import Any

import click

from service.cli.common import Context, emit, fail_on_service_error, json_option, pass_ctx


def _deposit_row(d: Any, bank_name: str) -> dict:
    from service.deposits.schemas import DepositOut

    data = DepositOut.of(d).model_dump(mode="json")
    return {"seq": d.id, "bank": bank_name, **data}


@click.group()
def deposits() -> None:
    """Deposit confirmations."""


@deposits.command("list")
@click.option("--bank", "bank_name", default=None)
@click.option(
    "--status",
    default=None,
    type=click.Choice(["received", "awaiting_approval", "accepted", "minting", "minted", "rejected"]),
)
@click.option("--after", default=0, type=int, help="Only deposits with seq greater than this.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@pass_ctx
@fail_on_service_error
def deposits_list(
    ctx: Context, bank_name: str | None, status: str | None, after: int, limit: int, as_json: bool
) -> None:
    from service.banks import repository as bank_repo
    from service.banks import service as banks
    from service.deposits import repository

    with ctx.db.reading() as session:
        bank_id = banks.require_bank(session, bank_name).id if bank_name else None
        names = {b.id: b.name for b in bank_repo.list_banks(session)}
        rows = [
            _deposit_row(d, names.get(d.bank_id, "?"))
            for d in repository.list_deposits(
                session, bank_id=bank_id, status=status, after=after, limit=limit
            )
        ]
    if as_json:
        emit(rows, True)
        return
    for r in rows:
        click.echo(
            f"{r['seq']}\t{r['bank']}\t{r['reference']}\t{r['status']}\t{r['amount']}\t"
            f"{r['beneficiary']}\t{r['rejection_code'] or ''}"
        )


@deposits.command("show")
@click.argument("reference")
@click.option("--bank", "bank_name", required=True)
@json_option
@pass_ctx
@fail_on_service_error
def deposits_show(ctx: Context, reference: str, bank_name: str, as_json: bool) -> None:
    """The deposit as JSON (its human output too: --json is accepted for every read command)."""
    from service.banks import service as banks
    from service.deposits import service as deposit_service

    with ctx.db.reading() as session:
        b = banks.require_bank(session, bank_name)
        d = deposit_service.get_for_bank(session, b, reference)
        row = _deposit_row(d, b.name)
    emit(row, True)  # with or without --json
