"""`ushk transparency ...`: signed snapshots of the public record."""

from __future__ import annotations

import json

import click

from service.cli.common import Context, chain_configured, pass_ctx


@click.group()
def transparency() -> None:
    """The public record: signed snapshots (docs/transparency.md)."""


@transparency.command("snapshot")
@pass_ctx
def transparency_snapshot(ctx: Context) -> None:
    """Take a signed snapshot now, pinned to a block; print it as JSON."""
    from service.chain.token import ChainError
    from service.runtime import Snapshotter
    from service.snapshots.service import SnapshotRefused

    with chain_configured():
        snapshotter = Snapshotter(ctx.settings, ctx.db)
    try:
        taken = snapshotter.take()
    except (ChainError, SnapshotRefused) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(taken, indent=2))
