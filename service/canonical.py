"""Canonical JSON: the one byte encoding that is signed (deposit confirmations) and hashed (audit).

Rules: UTF-8; object keys sorted; no insignificant whitespace (separators "," and ":");
strings escaped only where JSON requires it (`"`, `\\`, and control characters below U+0020, with
the short forms \\b \\t \\n \\f \\r and lowercase \\u00xx otherwise); non-ASCII characters
written as themselves; integers in decimal. Floats are refused. For objects whose keys are ASCII
and whose values are strings, integers, booleans, null, lists and such objects this equals the
JSON Canonicalization Scheme (RFC 8785).
"""

from __future__ import annotations

import json
from typing import Any


class NotCanonicalizable(ValueError):
    pass


def _check(value: Any, path: str = "$") -> None:
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise NotCanonicalizable(f"{path}: string is not valid Unicode") from None
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise NotCanonicalizable(f"{path}: floats are not allowed")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonicalizable(f"{path}: object keys must be strings")
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise NotCanonicalizable(f"{path}: {type(value).__name__} is not a JSON value")


def canonical_json(value: Any) -> bytes:
    """Encode `value` canonically (see module docstring)."""
    _check(value)
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
