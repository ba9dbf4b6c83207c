"""JSON request bodies: parsed strictly, and only once the caller is authenticated.

`parse_json_body` is the one parser of every request body: the bytes must be UTF-8, one strict
JSON value (no NaN, no lone surrogate escapes, no byte-order mark) with no key twice in any
object, and then valid for the endpoint's model (unknown fields refused). Each refusal is a
`422 validation_error` with the reason; none echoes the body's values.

FastAPI parses a declared body parameter before it resolves the endpoint's dependencies, so a
malformed body would be refused before the credentials were looked at. Endpoints therefore
declare no FastAPI body parameter: they take ``body: BankBody[Model]`` or
``body: OperatorBody[Model]`` (service.api.deps), a dependency that authenticates first and parses
second. `POST /v1/deposits` hands the raw body to the deposit writer, which does the same two
steps in the same order. `service.api.openapi.complete_routes` refuses a route with a FastAPI body
parameter and documents each `body_model` as the route's request body.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from service.errors import ValidationFailed, describe_validation_errors

M = TypeVar("M", bound=BaseModel)


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _refuse_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON")


class _NotJson(ValueError):
    pass


def parse_json_body(model: type[M], raw: bytes) -> M:
    """`raw` as an instance of `model`, or `ValidationFailed` saying why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(f"body: not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise ValidationFailed("body: empty; a JSON object is required")
    try:
        json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant)
    except _DuplicateKey as exc:
        key = str(exc.args[0])
        shown = key if len(key) <= 64 else key[:64] + "..."
        raise ValidationFailed(f"body: duplicate key {json.dumps(shown)}") from None
    except json.JSONDecodeError as exc:
        raise ValidationFailed(
            f"body: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except _NotJson as exc:
        raise ValidationFailed(f"body: invalid JSON ({exc})") from None
    except ValueError:  # an integer of more digits than Python converts
        raise ValidationFailed("body: invalid JSON (a number too long)") from None
    except RecursionError:
        raise ValidationFailed("body: invalid JSON (nested too deeply)") from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ValidationFailed(describe_validation_errors(exc.errors())) from None


def inlined_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with its `$defs` references replaced by the definitions
    themselves (inside an OpenAPI document, "#/$defs/..." would point at the document's root)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return expand(defs[ref.removeprefix("#/$defs/")])
            return {key: expand(value) for key, value in node.items()}
        if isinstance(node, list):
            return [expand(item) for item in node]
        return node

    return expand(schema)


def request_body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    """The OpenAPI `requestBody` of an endpoint whose body is `model`."""
    return {"required": True, "content": {"application/json": {"schema": inlined_schema(model)}}}
