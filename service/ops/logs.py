"""Log lines for a person or for a log pipeline (USHK_LOG_FORMAT=human|json), each carrying the
request id of the request it belongs to (docs/operations.md, "Logs").

The request id comes from the caller's `X-Request-ID` when it is a plausible id (1 to 64 of
letters, digits and `._:-`, and not one of the service's own credential prefixes, so a key sent
there by mistake is never echoed into a log), otherwise it is made here; the API returns it in
its `X-Request-ID` header. It lives in a context variable, so it follows the request into the
thread pool; `RequestIdFilter` puts it on every record (`-` outside a request).

Nothing here logs a header, a query string or a body: the access line (service/ops/requests.py)
has the method, the path, the route template, the status and the time taken.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid
from contextvars import ContextVar
from typing import TextIO

REQUEST_ID: ContextVar[str | None] = ContextVar("ushk_request_id", default=None)
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
QUIET = ("httpx", "httpcore")
_CREDENTIAL_PREFIXES = ("ushk_",)  # API keys (ushk_bk_), operator tokens (ushk_op_)
# LogRecord attributes of the standard library: everything else on a record came as `extra`
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def request_id_from(header: bytes | None) -> str:
    """The caller's id if it is acceptable, else a new one (32 hex digits)."""
    if header:
        try:
            value = header.decode("ascii")
        except UnicodeDecodeError:
            value = ""
        if _VALID_ID.fullmatch(value) and not value.lower().startswith(_CREDENTIAL_PREFIXES):
            return value
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id` (the current request's, or "-")."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, thread, request_id,
    message, the record's `extra` fields, and the exception's traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get() or "-",
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def human_format(threads: bool = False) -> str:
    thread = " %(threadName)s" if threads else ""
    return f"%(asctime)s %(levelname)s %(name)s{thread} [%(request_id)s] %(message)s"


def make_handler(log_format: str, *, threads: bool = False, stream: TextIO | None = None) -> logging.Handler:
    """A stream handler (stderr unless `stream`) in `log_format`, with the request id filter."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(human_format(threads)))
    return handler


def configure(level: str, log_format: str, *, threads: bool = False) -> None:
    """The root logger at `level`, with one handler in `log_format` (replacing the one an earlier
    call added)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "ushk", False):
            root.removeHandler(old)
    handler = make_handler(log_format, threads=threads)
    handler.ushk = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request's URL at INFO: an RPC provider's URL (readiness asks the chain
    # with it) may carry its key
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
