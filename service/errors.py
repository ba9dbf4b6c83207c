"""Expected errors: one base class carrying HTTP status and machine code, rendered by one handler.

Every refusal the service makes on purpose is a `ServiceError` subclass. The HTTP layer renders
each as ``{"error": {"code": ..., "message": ...}}`` with the class's status; request validation
errors, unknown routes and unexpected exceptions are rendered in the same shape (the last as a
500 without details). Endpoints list the errors they can raise with `error_responses(...)` so the
OpenAPI document shows every status and code: each error response's schema lists its codes as
an enum, so a code the document does not list is a schema violation.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import defaultdict
from typing import Any

import sqlalchemy.exc

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """An expected refusal. Subclasses set `status_code`, `code` and a default `message`."""

    status_code: int = 400
    code: str = "bad_request"
    message: str = "The request was refused."

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


class ValidationFailed(ServiceError, ValueError):
    """Malformed request: a body that is not UTF-8, not JSON or holds a key twice; an unknown,
    missing or non-string field; a parameter out of its range."""

    status_code = 422
    code = "validation_error"
    message = "The request body or parameters are invalid."


class NotAuthenticated(ServiceError):
    """Missing or unknown API key (an operator token on a bank endpoint too)."""

    status_code = 401
    code = "unauthenticated"
    message = "Missing or unknown credentials: send `Authorization: Bearer <key>`."


class NotFound(ServiceError):
    """No such endpoint (a path parameter holding an encoded `/` too)."""

    status_code = 404
    code = "not_found"
    message = "Not found."


class MethodNotAllowed(ServiceError):
    """The endpoint has no such method."""

    status_code = 405
    code = "method_not_allowed"
    message = "Method Not Allowed"


class PayloadTooLarge(ServiceError):
    """Body over the service's limit (64 KiB by default), refused before anything else."""

    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class DatabaseBusy(ServiceError):
    """The database stayed busy too long; nothing was done: retry after `Retry-After` seconds."""

    status_code = 503
    code = "database_busy"
    message = "The database stayed busy longer than the service waits; retry shortly."


class InternalError(ServiceError):
    """A bug; nothing is half-done (each request is one transaction).

    Never raised on purpose: the answer to an unexpected exception."""

    status_code = 500
    code = "internal_error"
    message = "Internal error."


def is_database_busy(exc: BaseException) -> bool:
    """A write that gave up waiting for SQLite's write lock (ours or SQLite's own busy timeout)."""
    orig = getattr(exc, "orig", exc)
    return type(orig).__name__ == "OperationalError" and "database is locked" in str(orig)


def _error_schema(codes: list[str]) -> dict[str, Any]:
    """The JSON schema of an error body whose `error.code` is one of `codes`."""
    return {
        "title": "Error",
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "enum": codes},
                    "message": {"type": "string"},
                },
            }
        },
    }


def error_response(status: int, codes: Any) -> dict[str, Any]:
    """One OpenAPI response of the given status: the error shape, `error.code` one of `codes`."""
    codes = sorted(set(codes))
    response: dict[str, Any] = {
        "description": "error.code: " + ", ".join(f"`{c}`" for c in codes),
        "content": {"application/json": {"schema": _error_schema(codes)}},
    }
    if status == DatabaseBusy.status_code:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "schema": {"type": "integer", "minimum": 0},
            }
        }
    return response


def error_codes_of(response: dict[str, Any]) -> list[str]:
    """The codes an OpenAPI response built by `error_response` lists; [] for any other."""
    try:
        schema = response["content"]["application/json"]["schema"]
        return list(schema["properties"]["error"]["properties"]["code"]["enum"])
    except (KeyError, TypeError):
        return []


def error_responses(*errors: type[ServiceError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the given error classes, grouped by HTTP status. 422 always
    includes `validation_error`. `create_app` adds what every route can answer (413, 503,
    the authentication errors of its credentials, 422 for its parameters and body)."""
    return add_error_responses({}, ValidationFailed, *errors)


def add_error_responses(responses: dict[int | str, Any], *errors: type[ServiceError]) -> dict[int | str, Any]:
    """Merge the given error classes into an OpenAPI `responses` mapping (codes of one status
    are listed together); returns `responses`, changed in place."""
    by_status: dict[int, set[str]] = defaultdict(set)
    for error in errors:
        by_status[error.status_code].add(error.code)
    for status, codes in by_status.items():
        key: int | str = str(status) if str(status) in responses else status
        existing = responses.get(key)
        if existing is not None and not error_codes_of(existing):
            continue  # a response of another shape declared by the route itself
        merged = set(codes) | set(error_codes_of(existing or {}))
        responses[key] = error_response(status, merged)
    return responses


def describe_validation_errors(errors: Any, limit: int = 5) -> str:
    """A readable summary of pydantic errors. Never includes the offending input values, which
    may be identity numbers."""
    parts = []
    for error in list(errors)[:limit]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query"))
        msg = error.get("msg", "invalid")
        if error.get("type") == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc or 'body'}: {msg}")
    more = len(list(errors)) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: Any) -> None:
    """Register the single rendering of every error on a FastAPI app."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    async def service_error(_request: Any, exc: ServiceError) -> JSONResponse:
        headers = {"Retry-After": "1"} if isinstance(exc, DatabaseBusy) else None
        return JSONResponse(status_code=exc.status_code, content=exc.body(), headers=headers)

    async def validation_error(_request: Any, exc: RequestValidationError) -> JSONResponse:
        error = ValidationFailed(describe_validation_errors(exc.errors()))
        return JSONResponse(status_code=error.status_code, content=error.body())

    async def http_error(_request: Any, exc: StarletteHTTPException) -> JSONResponse:
        known = {error.status_code: error.code for error in (NotAuthenticated, NotFound, MethodNotAllowed)}
        code = known.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": {"code": code, "message": message}},
            headers=getattr(exc, "headers", None),
        )

    async def unexpected_error(_request: Any, exc: Exception) -> JSONResponse:
        if is_database_busy(exc):
            busy = DatabaseBusy()
            return JSONResponse(
                status_code=busy.status_code, content=busy.body(), headers={"Retry-After": "1"}
            )
        logger.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        error = InternalError()
        return JSONResponse(status_code=error.status_code, content=error.body())

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # Database errors are answered where the other errors are: the handler of `Exception` runs
    # in Starlette's outermost middleware, which re-raises after answering, so the server
    # closes the connection and a client retrying a 503 on it would find it reset.
    app.add_exception_handler(sqlite3.OperationalError, unexpected_error)
    app.add_exception_handler(sqlalchemy.exc.OperationalError, unexpected_error)
    app.add_exception_handler(Exception, unexpected_error)
