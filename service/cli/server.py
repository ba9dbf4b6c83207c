"""The processes: `ushk serve` (the HTTP API, with the workers the settings enable), `ushk workers run`
(the workers alone), and `ushk db upgrade` (migrations)."""

from __future__ import annotations

import click

from service.cli.common import Context, chain_configured, pass_ctx, start_logging


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--migrate/--no-migrate",
    default=True,
    show_default=True,
    help="Run database migrations to head before serving.",
)
@click.option("--log-level", default=None, help="Defaults to USHK_LOG_LEVEL.")
@click.option(
    "--public-only",
    is_flag=True,
    help="Serve only the public reads (the page, /v1/reserves, /v1/public, /v1/transparency), "
    "with no deposit writer and no worker: a process beside the bank API, behind a proxy that "
    "routes the public paths to it.",
)
@click.option(
    "--nice",
    default=0,
    show_default=True,
    type=click.IntRange(0, 19),
    help="Lower this process's CPU priority by this much (os.nice): a busy public process then "
    "gives way to the bank API on a shared machine.",
)
@pass_ctx
def serve(
    ctx: Context, host: str, port: int, migrate: bool, log_level: str | None, public_only: bool, nice: int
) -> None:
    """Run the HTTP API with uvicorn (one process; run several on PostgreSQL to scale)."""
    import os

    import uvicorn

    from service.app import create_app

    start_logging(ctx, log_level)
    level = (log_level or ctx.settings.log_level).upper()
    if migrate:
        ctx.db.upgrade()
    if nice:
        os.nice(nice)
    app = create_app(ctx.settings, public_only=public_only)
    # uvicorn's own access log would print query strings (a client still calling the withdrawn
    # GET /v1/quota sends an identity number in one); the app logs requests itself without them. In JSON, uvicorn's other lines go
    # through the service's handler too (no logging configuration of uvicorn's own).
    if ctx.settings.log_format == "json":
        uvicorn.run(app, host=host, port=port, access_log=False, log_level=level.lower(), log_config=None)
    else:
        uvicorn.run(app, host=host, port=port, access_log=False, log_level=level.lower())


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_ctx
def db_upgrade(ctx: Context, revision: str) -> None:
    """Run Alembic migrations up to REVISION."""
    ctx.db.upgrade(revision)
    click.echo(f"database at {revision}")


@click.group()
def workers() -> None:
    """The background workers, without the HTTP API."""


@workers.command("run")
@pass_ctx
def workers_run(ctx: Context) -> None:
    """Run the workers the settings enable (minter, redemption watcher, reconciler, periodic
    attestor, webhook delivery) until interrupted; `make run` runs them beside `ushk serve`."""
    import signal
    import threading

    from service import workers as background

    start_logging(ctx, threads=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    registry = background.metrics_registry(ctx.settings, ctx.db)
    with chain_configured():
        threads = background.start(ctx.settings, ctx.db, stop, registry=registry)
    named = [t.name for t in threads if t.name not in (background.CHECKPOINTER, background.HEARTBEATS)]
    if not named:
        stop.set()
        background.join(threads)
        raise click.ClickException("no worker is enabled (see USHK_MINTER_ENABLED and the others)")
    click.echo("workers: " + ", ".join(named), err=True)
    server = background.serve_metrics(ctx.settings, registry)
    if server is not None:
        host, port = ctx.settings.workers_metrics_host, ctx.settings.workers_metrics_port
        click.echo(f"workers: metrics at http://{host}:{port}/metrics", err=True)
    while not stop.wait(1.0):
        if not any(t.is_alive() for t in threads):
            break
    stop.set()
    background.join(threads)
    if server is not None:
        server.shutdown()
