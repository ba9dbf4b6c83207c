"""`ushk webhooks ...`: delivery of deposit events to the banks."""

from __future__ import annotations

import click

from service.cli.common import Context, pass_ctx


@click.group()
def webhooks() -> None:
    """Webhook deliveries."""


@webhooks.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering until interrupted.")
@pass_ctx
def webhooks_deliver(ctx: Context, loop: bool) -> None:
    """Post due webhook deliveries (once, or continuously with --loop)."""
    import threading

    from service.webhooks.service import deliver_due, run_delivery_loop

    if loop:
        stop = threading.Event()
        try:
            run_delivery_loop(ctx.db, ctx.settings, stop)
        except KeyboardInterrupt:
            stop.set()
        return
    report = deliver_due(ctx.db, ctx.settings)
    click.echo(
        f"delivered {len(report.delivered)}, retrying {len(report.retrying)}, failed {len(report.failed)}"
    )
