"""Expected errors: one base class carrying HTTP status and machine code, rendered by one handler.

Every refusal the service makes on purpose is a `ServiceError` subclass. The HTTP layer renders
each as ``{"error": {"code": ..., "message": ...}}`` with the class's status; request validation
errors, unknown routes and unexpected exceptions are rendered in the same shape (the last as a
500 without details). Endpoints list the errors they can raise with `error_responses(...)` so the
OpenAPI document shows every status and code.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from pydantic import BaseModel

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
    status_code = 422
    code = "validation_error"
    message = "The request body or parameters are invalid."


class NotAuthenticated(ServiceError):
    status_code = 401
    code = "unauthenticated"
    message = "Missing or unknown credentials: send `Authorization: Bearer <key>`."


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class DatabaseBusy(ServiceError):
    status_code = 503
    code = "database_busy"
    message = "The database stayed busy longer than the service waits; retry shortly."


def is_database_busy(exc: BaseException) -> bool:
    """A write that gave up waiting for SQLite's write lock (ours or SQLite's own busy timeout)."""
    orig = getattr(exc, "orig", exc)
    return type(orig).__name__ == "OperationalError" and "database is locked" in str(orig)


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_responses(*errors: type[ServiceError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for the given error classes, grouped by HTTP status."""
    by_status: dict[int, list[str]] = defaultdict(list)
    for error in errors:
        if error.code not in by_status[error.status_code]:
            by_status[error.status_code].append(error.code)
    by_status[ValidationFailed.status_code] = sorted(
        set(by_status[ValidationFailed.status_code]) | {ValidationFailed.code}
    )
    return {
        status: {
            "model": ErrorResponse,
            "description": "error.code: " + ", ".join(f"`{c}`" for c in codes),
        }
        for status, codes in sorted(by_status.items())
    }


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
        return JSONResponse(status_code=exc.status_code, content=exc.body())

    async def validation_error(_request: Any, exc: RequestValidationError) -> JSONResponse:
        error = ValidationFailed(describe_validation_errors(exc.errors()))
        return JSONResponse(status_code=error.status_code, content=error.body())

    async def http_error(_request: Any, exc: StarletteHTTPException) -> JSONResponse:
        codes = {401: "unauthenticated", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        return JSONResponse(
            status_code=exc.status_code,
            content={"error": {"code": code, "message": message}},
            headers=getattr(exc, "headers", None),
        )

    async def unexpected_error(_request: Any, exc: Exception) -> JSONResponse:
        if is_database_busy(exc):
            busy = DatabaseBusy()
            return JSONResponse(status_code=busy.status_code, content=busy.body(), headers={"Retry-After": "1"})
        logger.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        return JSONResponse(
            status_code=500,
            content={"error": {"code": "internal_error", "message": "Internal error."}},
        )

    app.add_exception_handler(ServiceError, service_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
