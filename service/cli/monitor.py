"""`ushk monitor`: the supervisors' independent monitor (service/monitor/, docs/monitor.md).

It reads no USHK_ service settings and opens no service database: its settings are
USHK_MONITOR_* (or the flags below) and its store is its own.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click


def _settings(**flags: Any) -> Any:
    from service.monitor.engine import MonitorSettings, SettingsError

    try:
        return MonitorSettings.load(**flags)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def _store(database: str | None) -> Any:
    import os

    from service.monitor.store import Store

    url = database or os.environ.get("USHK_MONITOR_DATABASE_URL") or "sqlite:///var/monitor.db"
    return Store(url)


@click.group("monitor")
def monitor() -> None:
    """The supervisors' monitor: chain and public-record rules, its own signed findings log."""


@monitor.command("run")
@click.option("--rpc-url", help="JSON-RPC URL of the token's chain (USHK_MONITOR_RPC_URL).")
@click.option(
    "--token", "token_address", help="The token's address, any ERC-20 (USHK_MONITOR_TOKEN_ADDRESS)."
)
@click.option("--service-url", help="Base URL of the USHK service's public endpoints (optional).")
@click.option("--database", "database_url", help="The monitor's store: a SQLAlchemy URL.")
@click.option(
    "--key-file", type=click.Path(dir_okay=False, path_type=Path), help="The monitor's Ed25519 key."
)
@click.option(
    "--rules", "rules_file", type=click.Path(dir_okay=False, path_type=Path), help="The rules file."
)
@click.option("--rules-factory", help="module:function returning the rules, instead of the rules file.")
@click.option("--depth", type=int, help="Confirmation depth in blocks.")
@click.option("--from-block", type=int, help="The first block to read when there is no cursor.")
@click.option("--poll-seconds", type=float, help="Seconds between rounds.")
@click.option("--source-down-seconds", type=float, help="Seconds of failure before a source_down finding.")
@click.option("--webhook-url", help="Deliver findings to this URL (Standard Webhooks).")
@click.option("--webhook-secret", help="The webhook's secret (whsec_<base64>).")
@click.option("--listen", help="HOST:PORT of the monitor's HTTP API.")
def run(**flags: Any) -> None:
    """Run the monitor until SIGTERM/SIGINT; resumes from its cursor."""
    from service.monitor.engine import SettingsError
    from service.monitor.process import run as run_monitor

    settings = _settings(**flags)
    try:
        run_monitor(settings)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@monitor.command("keygen")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="USHK_MONITOR_KEY_FILE",
    default=Path("var/monitor.key"),
    show_default=True,
)
@click.option("--force", is_flag=True, help="Replace an existing key.")
def keygen(key_file: Path, force: bool) -> None:
    """Create the monitor's Ed25519 key (PEM, mode 0600); prints its public key and key id."""
    import base64

    from service import merkle
    from service.monitor.log import KeyError_, generate_key

    try:
        public = generate_key(key_file, overwrite=force)
    except KeyError_ as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"key file:   {key_file}")
    click.echo(f"public key: {base64.b64encode(public).decode()}")
    click.echo(f"key id:     {merkle.key_id(public)}")


@monitor.command("findings")
@click.option("--database", help="The monitor's store (else USHK_MONITOR_DATABASE_URL).")
@click.option("--after", type=int, default=-1, help="Only findings after this seq.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--severity", "severities", multiple=True, help="Only this severity (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def findings(
    database: str | None, after: int, limit: int, severities: tuple[str, ...], as_json: bool
) -> None:
    """List recorded findings."""
    store = _store(database)
    try:
        for item in store.findings(after=after, limit=limit, severity=severities):
            if as_json:
                click.echo(json.dumps({"seq": item.seq, **item.finding}, sort_keys=True))
            else:
                f = item.finding
                click.echo(f"{item.seq:>6}  {f['severity']:<8}  {f['rule']:<24}  {f['summary']}")
    finally:
        store.dispose()


@monitor.command("export")
@click.option("--database", help="The monitor's store (else USHK_MONITOR_DATABASE_URL).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default stdout)."
)
def export(database: str | None, fmt: str, output: Path | None) -> None:
    """Export the whole findings log for supervisors."""
    from service.monitor.api import export_lines

    store = _store(database)
    try:
        if output is None:
            for chunk in export_lines(store, fmt):
                click.echo(chunk, nl=False)
        else:
            with output.open("w", newline="") as out:
                for chunk in export_lines(store, fmt):
                    out.write(chunk)
    finally:
        store.dispose()


@monitor.command("verify")
@click.option("--database", help="The monitor's store (else USHK_MONITOR_DATABASE_URL).")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="USHK_MONITOR_KEY_FILE",
    default=Path("var/monitor.key"),
    show_default=True,
)
def verify(database: str | None, key_file: Path) -> None:
    """Re-check the monitor's own findings log: leaves, tree, signed heads, consistency."""
    from service.monitor.log import FindingsLog, KeyError_, load_key

    try:
        key = load_key(key_file)
    except KeyError_ as exc:
        raise click.UsageError(str(exc)) from None
    store = _store(database)
    try:
        log = FindingsLog(store, key)
        problems = log.verify()
        size, heads = store.size(), len(store.heads())
    finally:
        store.dispose()
    if problems:
        for problem in problems:
            click.echo(f"FAILED  {problem}", err=True)
        sys.exit(1)
    click.echo(f"ok  {size} findings, {heads} signed heads")
