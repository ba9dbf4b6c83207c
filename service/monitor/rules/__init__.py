"""The monitor's rules as data: config/monitor-rules.yaml (docs/monitor-rules.md).

    version: 1
    rules:
      - id: large-mint            # unique
        type: large_mint          # a registered rule type (RULE_TYPES)
        severity: high            # info | low | medium | high | critical
        enabled: true             # default true
        params: {per_transaction: "250000"}

`load_rules(path)` reads a file, `load_rules_text(text)` a string; both give the enabled rules in
file order, or raise `RulesError` naming the file, the rule (index and id) and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from service.monitor.model import Rule, Severity
from service.monitor.rules import anomaly, attestation, governance, mint, redemptions, reserves, splitting
from service.monitor.rules.base import RULE_TYPES, RuleBase

__all__ = ["RULE_TYPES", "RuleBase", "RulesError", "build_rule", "load_rules", "load_rules_text"]
_FAMILIES = (anomaly, attestation, governance, mint, redemptions, reserves, splitting)

VERSION = 1
RULE_FIELDS = ("id", "type", "severity", "enabled", "params")
DEFAULT_SOURCE = "config/monitor-rules.yaml"


class RulesError(ValueError):
    """A rules file that cannot be used: the message names the file, the rule and the field."""


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown parameter"
    if error["type"] == "missing":
        return "missing"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def build_rule(rule_type: str, rule_id: str, severity: Severity, params: Mapping[str, Any]) -> RuleBase[Any]:
    """One rule; pydantic's ValidationError on bad parameters."""
    cls = RULE_TYPES[rule_type]
    return cls(rule_id, severity, cls.params_model.model_validate(dict(params)))


def _rule(source: str, index: int, item: object, ids: set[str]) -> RuleBase[Any] | None:
    where = f"{source}: rules[{index}]"
    if not isinstance(item, Mapping):
        raise RulesError(f"{where}: not a mapping")
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise RulesError(f"{where}: id: missing" if rule_id is None else f"{where}: id: not a string")
    where = f"{where} ({rule_id})"
    for key in item:
        if key not in RULE_FIELDS:
            raise RulesError(f"{where}: {key}: unknown field (one of {', '.join(RULE_FIELDS)})")
    if rule_id in ids:
        raise RulesError(f"{where}: id: duplicate id {rule_id!r}")
    ids.add(rule_id)
    rule_type = item.get("type")
    if rule_type is None:
        raise RulesError(f"{where}: type: missing")
    if not isinstance(rule_type, str) or rule_type not in RULE_TYPES:
        raise RulesError(
            f"{where}: type: unknown rule type {rule_type!r} (one of {', '.join(sorted(RULE_TYPES))})"
        )
    severity = item.get("severity")
    if severity is None:
        raise RulesError(f"{where}: severity: missing")
    if not isinstance(severity, str) or severity not in Severity.__members__:
        raise RulesError(f"{where}: severity: {severity!r} is not one of {', '.join(Severity.__members__)}")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RulesError(f"{where}: enabled: not true or false")
    params = item.get("params") or {}
    if not isinstance(params, Mapping):
        raise RulesError(f"{where}: params: not a mapping")
    try:
        rule = build_rule(str(rule_type), rule_id, Severity(severity), params)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in ("params", *error["loc"]))
        raise RulesError(f"{where}: {field}: {_message(dict(error))}") from None
    return rule if enabled else None


def load_rules_text(text: str, source: str = DEFAULT_SOURCE) -> list[Rule]:
    """The enabled rules of a rules file's text (RulesError when malformed)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"{source}: not YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise RulesError(f"{source}: not a mapping with version and rules")
    for key in data:
        if key not in ("version", "rules"):
            raise RulesError(f"{source}: {key}: unknown field (version, rules)")
    if "version" not in data:
        raise RulesError(f"{source}: version: missing")
    if data["version"] != VERSION:
        raise RulesError(f"{source}: version: {data['version']!r} is not supported (only {VERSION})")
    items = data.get("rules")
    if not isinstance(items, list):
        raise RulesError(f"{source}: rules: " + ("missing" if items is None else "not a list"))
    ids: set[str] = set()
    rules: list[Rule] = []
    for index, item in enumerate(items):
        rule = _rule(source, index, item, ids)
        if rule is not None:
            rules.append(rule)
    return rules


def load_rules(path: Path) -> list[Rule]:
    """The enabled rules of a rules file (RulesError when missing or malformed)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"{path}: cannot be read: {exc.strerror}") from None
    return load_rules_text(text, str(path))
