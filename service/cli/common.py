"""What every `ushk` command module shares: the settings and database of the invocation, the
actor name, dollar amounts, and turning service errors into click errors.

(The command line itself: service/cli/__init__.py.)
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from service.config import Settings
from service.db import Database
from service.money import InvalidAmount, parse_amount


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


def emit(data: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))


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


@contextmanager
def progress(length: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr when it is a terminal (nothing otherwise); yields `advance(n)`."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    bar: Any
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update
