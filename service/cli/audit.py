"""`ushk audit ...`: the tamper-evident audit log."""

from __future__ import annotations

import json
import sys

import click

from service.cli.common import Context, pass_ctx


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@pass_ctx
def audit_verify(ctx: Context) -> None:
    """Check the whole chain; exit 1 and name the first broken entry if it does not hold."""
    from service import audit as audit_log

    with ctx.db.reading() as session:
        result = audit_log.verify(session)
    if result.ok:
        click.echo(f"audit chain OK: {result.checked} entries, head {result.head_seq} {result.head_hash}")
        return
    click.echo(
        f"audit chain BROKEN at seq {result.first_bad_seq}: {result.problem} "
        f"({result.checked} entries verified before it)",
        err=True,
    )
    sys.exit(1)


@audit.command("head")
@pass_ctx
def audit_head(ctx: Context) -> None:
    """Print the seq and hash of the last entry."""
    from service import audit as audit_log

    with ctx.db.reading() as session:
        seq, digest = audit_log.head(session)
    click.echo(f"{seq} {digest}")


@audit.command("show")
@click.option("--after", default=0, type=int)
@click.option("--limit", default=20, type=click.IntRange(1, 10_000))
@pass_ctx
def audit_show(ctx: Context, after: int, limit: int) -> None:
    """Print entries as JSON lines."""
    from service.audit import repository

    with ctx.db.reading() as session:
        for e in repository.entries(session, after=after, limit=limit):
            click.echo(
                json.dumps(
                    {
                        "seq": e.seq,
                        "created_at": e.created_at,
                        "kind": e.kind,
                        "actor": e.actor,
                        "payload": json.loads(e.payload),
                        "hash": e.hash,
                    }
                )
            )
