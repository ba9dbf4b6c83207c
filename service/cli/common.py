"""What every `ushk` command module shares: the settings and database of the invocation, the
actor name, dollar amounts, turning service errors into click errors, `--json` output
(`json_option` and `emit`) and progress bars (`progress_option` and `progress`).

(The command line itself: service/cli/__init__.py.)
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, TypeVar

import click

from service.config import Settings
from service.db import Database
from service.money import InvalidAmount, parse_amount

F = TypeVar("F", bound=Callable[..., Any])


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in some containers
        return "cli:unknown"


class Context:
    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._db: Database | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings()
            except ValueError as exc:
                raise click.ClickException(f"invalid settings: {exc}") from None
        return self._settings

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database.from_settings(self.settings)
        return self._db


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def parse_dollars(value: str | None) -> int | None:
    if value is None or value.lower() == "none":
        return None
    try:
        return parse_amount(value)
    except InvalidAmount as exc:
        raise click.BadParameter(exc.message) from None


def fail_on_service_error(fn: Any) -> Any:
    import functools

    from service.errors import ServiceError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ServiceError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from None

    return wrapper


JSON_HELP = "Print the result as one JSON document on stdout (amounts as strings), nothing else there."


def json_option(fn: F) -> F:
    """`--json` (the command's `as_json` parameter): every read command takes it, and hands its
    data to `emit`."""
    return click.option("--json", "as_json", is_flag=True, help=JSON_HELP)(fn)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return str(value)  # Decimal, Path, enums: as strings


def emit(data: Any, as_json: bool, human: Callable[[Any], None] | None = None) -> None:
    """Print `data` as one JSON document on stdout when `as_json`, else `human(data)` (the
    command's own lines). The JSON carries what the human output shows; amounts are strings
    already (format_cents, token units as str), datetimes ISO 8601."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=_json_default))
    elif human is not None:
        human(data)


def start_logging(ctx: Context, level: str | None = None, *, threads: bool = False) -> None:
    """Log to stderr at `level` (default USHK_LOG_LEVEL) in USHK_LOG_FORMAT (human or json,
    service/ops/logs.py), with thread names for multi-worker processes."""
    from service.ops import logs

    logs.configure(level or ctx.settings.log_level, ctx.settings.log_format, threads=threads)


@contextmanager
def chain_configured() -> Iterator[None]:
    """Settings that lack what a chain worker needs become a click error saying what to set."""
    from service.runtime import ChainNotConfigured

    try:
        yield
    except ChainNotConfigured as exc:
        raise click.ClickException(str(exc)) from None


_NO_PROGRESS = "ushk.no_progress"


def _no_progress(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_NO_PROGRESS] = True


def progress_option(fn: F) -> F:
    """`--no-progress`: every command that can run long takes it (it draws with `progress`)."""
    return click.option(
        "--no-progress",
        is_flag=True,
        expose_value=False,
        callback=_no_progress,
        help="Draw no progress bar (one is drawn on stderr only when stderr is a terminal).",
    )(fn)


def drawing(stream: TextIO | None = None) -> bool:
    """Whether `progress` draws: `stream` (default stderr) is a terminal and the command was not
    given --no-progress."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_NO_PROGRESS):
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or no file at all
        return False


def _nothing(_n: int = 1) -> None:
    pass


@contextmanager
def progress(
    length: int | Callable[[], int] | None,
    label: str,
    *,
    stream: TextIO | None = None,
    enabled: bool = True,
) -> Iterator[Callable[[int], None]]:
    """A progress bar (rich) of `length` steps on stderr when it is a terminal, nothing otherwise
    (pipes, tests, --no-progress); yields `advance(n)`. `length` may be a function, called only
    when the bar is drawn (a count that costs a query or an RPC call), or None (unknown: the bar
    pulses). `enabled=False` draws nothing either (the command's output goes to the terminal
    too). Never writes to stdout, so --json output stays clean."""
    if not enabled or not drawing(stream):
        yield _nothing
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    total = length() if callable(length) else length
    terminal = sys.stderr if stream is None else stream
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=terminal),
        redirect_stdout=False,  # stdout is the command's output (and --json's), never the bar's
        redirect_stderr=stream is None,  # what goes to stderr meanwhile is printed above the bar
    )
    task = bar.add_task(label, total=None if total is None else max(total, 0))

    def advance(n: int = 1) -> None:
        bar.advance(task, n)

    with bar:
        # log handlers hold the stream they were made with: theirs too, above the bar
        handlers = [
            h
            for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and h.stream is terminal and sys.stderr is not terminal
        ]
        for handler in handlers:
            handler.setStream(sys.stderr)
        try:
            yield advance
        finally:
            for handler in handlers:
                handler.setStream(terminal)
