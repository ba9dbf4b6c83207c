"""`ushk quota ...`: a resident's quota and the watch list."""

from __future__ import annotations

import click

from service.cli.common import Context, actor, emit, fail_on_service_error, json_option, pass_ctx
from service.money import format_cents


@click.group()
def quota() -> None:
    """Per-resident quota and the watch list."""


@quota.command("show")
@click.option("--id-type", required=True)
@click.option(
    "--id-number",
    default=None,
    help="Prompted (hidden, on stderr) when omitted, to keep it out of shell history.",
)
@click.option("--category", required=True)
@json_option
@pass_ctx
@fail_on_service_error
def quota_show(ctx: Context, id_type: str, id_number: str | None, category: str, as_json: bool) -> None:
    """A resident's limit, used, held and remaining in the current period."""
    if id_number is None:  # the prompt on stderr, so that stdout is only the answer (--json)
        id_number = click.prompt("Id number", hide_input=True, err=True)
    from service.app import load_policy
    from service.db import utcnow
    from service.quota import service as quota_service
    from service.quota.identity import normalize_id_type, pseudonym, resident_hash

    policy = load_policy(ctx.settings)
    normalized = normalize_id_type(id_type)
    cat = quota_service.category_policy(policy, category, normalized)
    holder = resident_hash(ctx.settings.id_hmac_secret.get_secret_value().encode(), normalized, id_number)
    with ctx.db.reading() as session:
        view = quota_service.view(session, cat, holder, utcnow())
    data = {
        "resident": pseudonym(holder),
        "category": view.category,
        "period": view.period,
        "timezone": view.timezone,
        "eligible": view.eligible,
        "suspended": view.suspended,
        "limit": None if view.limit_cents is None else format_cents(view.limit_cents),
        "used": format_cents(view.used_cents),
        "held": format_cents(view.held_cents),
        "remaining": None if view.remaining_cents is None else format_cents(view.remaining_cents),
    }
    emit(data, as_json, lambda data: click.echo("\n".join(f"{k}: {v}" for k, v in data.items())))


@quota.command("watchlist")
@click.option("--all", "include_cleared", is_flag=True, help="Include cleared entries.")
@json_option
@pass_ctx
def quota_watchlist(ctx: Context, include_cleared: bool, as_json: bool) -> None:
    """Flagged residents (pseudonyms)."""
    from service.quota import repository
    from service.quota.identity import pseudonym

    with ctx.db.reading() as session:
        rows = [
            {
                "id": e.id,
                "resident": pseudonym(e.resident_hash),
                "state": "cleared" if e.cleared_at else ("suspended" if e.suspended else "flagged"),
                "source": e.source,
                "reason": e.reason,
            }
            for e in repository.list_watch(session, include_cleared=include_cleared)
        ]
    emit(rows, as_json, _print_watchlist)


def _print_watchlist(rows: list[dict]) -> None:
    for r in rows:
        click.echo(f"{r['id']}\t{r['resident']}\t{r['state']}\t{r['source']}\t{r['reason']}")


@quota.command("clear")
@click.argument("entry_id", type=int)
@pass_ctx
@fail_on_service_error
def quota_clear(ctx: Context, entry_id: int) -> None:
    """Clear a watch-list entry (lifts its suspension)."""
    from service.db import utcnow
    from service.quota import service as quota_service

    with ctx.db.transaction() as session:
        quota_service.clear_watch(session, entry_id, actor=actor(), now=utcnow())
    click.echo(f"watch-list entry {entry_id} cleared")
