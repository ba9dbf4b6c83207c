"""What every route of the app documents without saying it itself.

`complete_routes(routes)` runs on every router's routes before the app includes them. To each
route's OpenAPI `responses` it adds the refusals that do not depend on the endpoint's own logic:

* `413 payload_too_large` (the body limit, before routing) and `503 database_busy` (a write
  that waited past the busy timeout, with Retry-After): every route;
* the authentication errors of the credentials the route depends on (`401 unauthenticated` and
  `403 bank_disabled` for a bank's API key, `401 operator_unauthenticated` for an operator
  token);
* `422 validation_error` when the route has parameters or a body;
* `404 not_found` when it has path parameters (one holding an encoded "/" matches no route).

It documents the request body of each `BankBody`/`OperatorBody` dependency (service.api.deps) and
refuses, at startup, a route that declares a FastAPI body parameter: FastAPI would parse that
body before authenticating the caller (service.jsonbody).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from service.api.deps import bank_bearer, current_bank, current_operator, operator_bearer
from service.banks.service import BankDisabled, OperatorRequired
from service.errors import (
    DatabaseBusy,
    NotAuthenticated,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    ValidationFailed,
    add_error_responses,
)
from service.jsonbody import request_body_openapi

_AUTH_ERRORS: dict[Any, tuple[type[ServiceError], ...]] = {
    current_bank: (NotAuthenticated, BankDisabled),
    bank_bearer: (NotAuthenticated, BankDisabled),
    current_operator: (OperatorRequired,),
    operator_bearer: (OperatorRequired,),
}


def _calls(dependant: Dependant) -> list[Any]:
    found = []
    for sub in dependant.dependencies:
        found.append(sub.call)
        found.extend(_calls(sub))
    return found


def _has_parameters(dependant: Dependant) -> bool:
    if dependant.path_params or dependant.query_params or dependant.header_params or dependant.cookie_params:
        return True
    return any(_has_parameters(sub) for sub in dependant.dependencies)


def complete_routes(routes: Iterable[BaseRoute]) -> None:
    """Complete the API routes among `routes` in place (idempotent: a router's routes are
    completed again by every app that includes it)."""
    for route in routes:
        if not isinstance(route, APIRoute):
            continue
        if route.body_field is not None:
            raise TypeError(
                f"{route.path}: declare the request body as BankBody[...] or OperatorBody[...] "
                "(service.api.deps), so that it is parsed after authentication"
            )
        calls = _calls(route.dependant)
        errors: list[type[ServiceError]] = [PayloadTooLarge, DatabaseBusy]
        for call in calls:
            errors.extend(_AUTH_ERRORS.get(call, ()))
        models = [call.body_model for call in calls if hasattr(call, "body_model")]
        if models:
            (model,) = set(models)
            route.openapi_extra = {**(route.openapi_extra or {}), "requestBody": request_body_openapi(model)}
        if models or _has_parameters(route.dependant) or "requestBody" in (route.openapi_extra or {}):
            errors.append(ValidationFailed)
        if route.dependant.path_params:
            errors.append(NotFound)
        route.responses = add_error_responses(dict(route.responses), *errors)
