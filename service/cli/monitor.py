"""`ushk monitor`: the supervisors' independent monitor (service/monitor/, docs/monitor.md).

It reads no USHK_ service settings and opens no service database: its settings are
USHK_MONITOR_* (or the flags below) and its store is its own.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import click

from service.cli.common import emit, json_option, progress, progress_option


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
@json_option
def findings(
    database: str | None, after: int, limit: int, severities: tuple[str, ...], as_json: bool
) -> None:
    """List recorded findings (--json: one JSON array of them, each with its seq)."""
    store = _store(database)
    try:
        rows = [
            {"seq": item.seq, **item.finding}
            for item in store.findings(after=after, limit=limit, severity=severities)
        ]
    finally:
        store.dispose()
    emit(rows, as_json, _finding_lines)


def _finding_lines(rows: list[dict]) -> None:
    for f in rows:
        click.echo(f"{f['seq']:>6}  {f['severity']:<8}  {f['rule']:<24}  {f['summary']}")


@monitor.command("export")
@click.option("--database", help="The monitor's store (else USHK_MONITOR_DATABASE_URL).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here (default stdout)."
)
@progress_option
def export(database: str | None, fmt: str, output: Path | None) -> None:
    """Export the whole findings log for supervisors (a progress bar on stderr when it is a
    terminal and the export does not go to the terminal)."""
    from service.monitor.api import export_lines

    store = _store(database)
    try:
        chunks = store.size() + (fmt == "csv")  # a chunk per finding, and CSV's header
        # to stdout: no bar when that is the terminal too (it would be drawn through the lines)
        to_file = output is not None or not sys.stdout.isatty()
        with (
            output.open("w", newline="") if output is not None else contextlib.nullcontext(None) as out,
            progress(chunks, "findings", enabled=to_file) as advance,
        ):
            for chunk in export_lines(store, fmt):
                if out is None:
                    click.echo(chunk, nl=False)
                else:
                    out.write(chunk)
                advance(1)
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
@json_option
@progress_option
def verify(database: str | None, key_file: Path, as_json: bool) -> None:
    """Re-check the monitor's own findings log: leaves, tree, signed heads, consistency; exit 1
    naming each problem (a progress bar on stderr when it is a terminal)."""
    from service.monitor.log import FindingsLog, KeyError_, load_key

    try:
        key = load_key(key_file)
    except KeyError_ as exc:
        raise click.UsageError(str(exc)) from None
    store = _store(database)
    try:
        log = FindingsLog(store, key)
        size, heads = store.size(), len(store.heads())
        with progress(2 * size + heads, "findings log") as advance:
            problems = log.verify(progress=advance)
    finally:
        store.dispose()
    emit({"ok": not problems, "findings": size, "heads": heads, "problems": problems}, as_json, _verified)
    if problems:
        sys.exit(1)


def _verified(result: dict) -> None:
    for problem in result["problems"]:
        click.echo(f"FAILED  {problem}", err=True)
    if result["ok"]:
        click.echo(f"ok  {result['findings']} findings, {result['heads']} signed heads")
