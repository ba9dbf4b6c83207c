"""Writes the error table of docs/bank-api.md from the service's error classes.

Every code the service answers with is a `ServiceError` subclass (service/errors.py), including
the ones the HTTP layer itself answers with (validation_error, not_found, method_not_allowed,
unauthenticated, payload_too_large, database_busy, internal_error). One row per (status, code):
the class's docstring (its first paragraph) or else its default message says when (a class
with neither is refused). A code that only operator endpoints list in the OpenAPI document, or
that no endpoint lists (raised by the `ushk` CLI), is marked as the operators'.

    python tools/error_table.py           # rewrite the table between the markers
    python tools/error_table.py --check   # exit 1 if the document is not current

The test suite runs the check (tests/service/test_bank_doc.py).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DOC = ROOT / "docs" / "bank-api.md"
BEGIN = "<!-- error-table:begin (tools/error_table.py writes this table) -->"
END = "<!-- error-table:end -->"
# Answered by the HTTP layer for any endpoint, not listed per operation.
_FRAMEWORK = {"method_not_allowed", "internal_error"}


def _error_classes() -> list[type]:
    import service
    from service.errors import ServiceError

    for module in pkgutil.walk_packages(service.__path__, "service."):
        if module.name != "service.__main__":  # runs the CLI
            importlib.import_module(module.name)

    found: list[type] = []

    def walk(cls: type) -> None:
        for sub in cls.__subclasses__():
            if sub not in found:
                found.append(sub)
            walk(sub)

    walk(ServiceError)
    return found


def _when(cls: type) -> str:
    doc = (cls.__dict__.get("__doc__") or "").strip()
    text = doc.split("\n\n")[0] if doc else cls.message
    return " ".join(text.split()).replace("|", "\\|")


def _listed_by() -> dict[str, set[str]]:
    """Each code of the OpenAPI document: the kinds of endpoint listing it ("bank", "operator",
    "public")."""
    from service.app import create_app
    from service.config import Settings
    from service.errors import error_codes_of

    with tempfile.TemporaryDirectory() as tmp:  # the app is built, never started: no file is made
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{tmp}/unused.db",
            policy_file=ROOT / "config" / "policy.yaml",
            id_hmac_secret="x" * 32,
            webhook_signing_key="x" * 32,
            travel_rule_key="00" * 32,  # the policy's CDD threshold needs one
        )
        spec = create_app(settings).openapi()
    listed: dict[str, set[str]] = {}
    for operations in spec["paths"].values():
        for operation in operations.values():
            schemes = {name for item in operation.get("security", []) for name in item}
            kind = "operator" if "OperatorToken" in schemes else "bank" if schemes else "public"
            for response in operation["responses"].values():
                for code in error_codes_of(response):
                    listed.setdefault(code, set()).add(kind)
    return listed


def render() -> str:
    from service.errors import ServiceError

    rows: dict[tuple[int, str], str] = {}
    for cls in _error_classes():
        key = (cls.status_code, cls.code)
        if key not in rows or rows[key] == ServiceError.message:
            rows[key] = _when(cls)
    unsaid = [code for (_, code), when in rows.items() if when == ServiceError.message]
    if unsaid:
        raise ValueError(f"give these error classes a docstring saying when they are raised: {unsaid}")
    listed = _listed_by()
    lines = ["| HTTP | code | when |", "| --- | --- | --- |"]
    for (status, code), when in sorted(rows.items()):
        kinds = listed.get(code, set())
        if code not in _FRAMEWORK and kinds <= {"operator"}:
            when = f"Operators{'' if kinds else ' (the `ushk` CLI)'}: {when[0].lower()}{when[1:]}"
        lines.append(f"| {status} | `{code}` | {when} |")
    return "\n".join(lines)


def current(text: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[start:end].strip("\n")


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    table = render()
    if "--check" in argv:
        if current(text) != table:
            print(f"{DOC.relative_to(ROOT)}: the error table is not current; run python tools/error_table.py")
            return 1
        return 0
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + table + "\n" + text[end:], encoding="utf-8")
    print(f"wrote the error table of {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
