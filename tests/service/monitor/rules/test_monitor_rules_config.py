"""The rules file: the default config/monitor-rules.yaml loads, and a malformed file is refused
with the file, the rule and the field named."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.monitor.model import Observation, Severity, evaluate
from service.monitor.rules import RULE_TYPES, RulesError, load_rules, load_rules_text

ROOT = Path(__file__).resolve().parents[4]
DEFAULT = ROOT / "config" / "monitor-rules.yaml"
SOURCE = "config/monitor-rules.yaml"


def test_the_default_rules_load_one_of_every_type() -> None:
    rules = load_rules(DEFAULT)
    assert {rule.type for rule in rules} == set(RULE_TYPES)
    assert len({rule.id for rule in rules}) == len(rules)
    assert all(isinstance(rule.severity, Severity) for rule in rules)


def test_disabled_rules_are_left_out_and_params_default() -> None:
    rules = load_rules_text(
        """
version: 1
rules:
  - {id: a, type: mint_while_paused, severity: critical, enabled: false}
  - {id: b, type: source_down, severity: low}
"""
    )
    assert [(r.id, r.type, r.severity) for r in rules] == [("b", "source_down", Severity.low)]


def rules_text(rule: str, extra: str = "") -> str:
    return f"""version: 1
rules:
  - {{id: first, type: mint_while_paused, severity: critical}}
{extra}  - {rule}
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            rules_text("{id: large-mint, type: huge_mint, severity: high}"),
            "config/monitor-rules.yaml: rules[1] (large-mint): type: unknown rule type 'huge_mint'",
        ),
        (
            rules_text(
                "{id: large-mint, type: large_mint, severity: high, params: {per_transaction: '12,5'}}"
            ),
            "config/monitor-rules.yaml: rules[1] (large-mint): params.per_transaction: not a decimal amount",
        ),
        (
            rules_text("{id: large-mint, type: large_mint, severity: high, params: {per_transaction: 12.5}}"),
            "config/monitor-rules.yaml: rules[1] (large-mint): params.per_transaction: not a decimal amount "
            '(write it as a string such as "1000.50")',
        ),
        (
            rules_text(
                '{id: large-mint, type: large_mint, severity: high, params: {per_transaction: "1e6"}}'
            ),
            "config/monitor-rules.yaml: rules[1] (large-mint): params.per_transaction: not a decimal amount",
        ),
        (
            rules_text('{id: large-mint, type: large_mint, severity: high, params: {per_transaction: "-5"}}'),
            "config/monitor-rules.yaml: rules[1] (large-mint): params.per_transaction: not a decimal amount",
        ),
        (
            rules_text("{id: first, type: source_down, severity: high}"),
            "config/monitor-rules.yaml: rules[1] (first): id: duplicate id 'first'",
        ),
        (
            rules_text("{id: down, type: source_down, severity: urgent}"),
            "config/monitor-rules.yaml: rules[1] (down): severity: 'urgent' is not one of info, low, medium, high, critical",
        ),
        (
            rules_text("{id: down, type: source_down, severity: high, params: {after: 60, retries: 3}}"),
            "config/monitor-rules.yaml: rules[1] (down): params.retries: unknown parameter",
        ),
        (
            rules_text("{id: down, type: source_down, severity: high, params: {after: 0}}"),
            "config/monitor-rules.yaml: rules[1] (down): params.after: Input should be greater than 0",
        ),
        (
            rules_text("{id: run, type: redemption_run, severity: high, params: {window: 3600}}"),
            "config/monitor-rules.yaml: rules[1] (run): params.percent: missing",
        ),
        (
            rules_text(
                '{id: run, type: redemption_run, severity: high, params: {window: 3600, percent: "120"}}'
            ),
            "config/monitor-rules.yaml: rules[1] (run): params.percent: not a percentage (above 100)",
        ),
        (
            rules_text("{id: down, type: source_down}"),
            "config/monitor-rules.yaml: rules[1] (down): severity: missing",
        ),
        (
            rules_text("{type: source_down, severity: high}"),
            "config/monitor-rules.yaml: rules[1]: id: missing",
        ),
        (
            rules_text("{id: down, severity: high}"),
            "config/monitor-rules.yaml: rules[1] (down): type: missing",
        ),
        (
            rules_text("{id: down, type: source_down, severity: high, threshold: 5}"),
            "config/monitor-rules.yaml: rules[1] (down): threshold: unknown field (one of id, type, severity, enabled, params)",
        ),
        (
            rules_text("{id: mint, type: large_mint, severity: high}"),
            "config/monitor-rules.yaml: rules[1] (mint): params: set per_transaction, per_bank_per_day or both",
        ),
        (
            rules_text("{id: gov, type: governance, severity: high, params: {severities: {Minted: low}}}"),
            "config/monitor-rules.yaml: rules[1] (gov): params.severities: unknown event kind Minted",
        ),
        (
            rules_text("{id: gov, type: governance, severity: high, params: {severities: {Frozen: dire}}}"),
            "config/monitor-rules.yaml: rules[1] (gov): params.severities.Frozen: Input should be 'info', 'low', 'medium', 'high' or 'critical'",
        ),
        (
            rules_text("{id: down, type: [source_down], severity: [high]}"),
            "config/monitor-rules.yaml: rules[1] (down): type: unknown rule type ['source_down']",
        ),
        (
            rules_text("{id: down, type: source_down, severity: [high]}"),
            "config/monitor-rules.yaml: rules[1] (down): severity: ['high'] is not one of",
        ),
        (
            rules_text("{id: down, type: source_down, severity: high, params: [after]}"),
            "config/monitor-rules.yaml: rules[1] (down): params: not a mapping",
        ),
        (
            rules_text("{id: down, type: source_down, severity: high, enabled: maybe}"),
            "config/monitor-rules.yaml: rules[1] (down): enabled: not true or false",
        ),
        ("rules: []\n", "config/monitor-rules.yaml: version: missing"),
        ("version: 2\nrules: []\n", "config/monitor-rules.yaml: version: 2 is not supported (only 1)"),
        ("version: 1\n", "config/monitor-rules.yaml: rules: missing"),
        ("version: 1\nrules: [1]\n", "config/monitor-rules.yaml: rules[0]: not a mapping"),
        (
            "version: 1\nrules: []\nextra: 1\n",
            "config/monitor-rules.yaml: extra: unknown field (version, rules)",
        ),
        ("version: [1\n", "config/monitor-rules.yaml: not YAML"),
    ],
)
def test_malformed_files_name_the_rule_and_field(text: str, message: str) -> None:
    with pytest.raises(RulesError) as caught:
        load_rules_text(text, SOURCE)
    assert str(caught.value).startswith(message), str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="monitor-rules.yaml: cannot be read"):
        load_rules(tmp_path / "monitor-rules.yaml")


def test_amounts_follow_the_token_decimals() -> None:
    """A plain ERC-20 of 18 decimals: the same thresholds in token units, once chain_state says so."""
    (rule,) = load_rules_text(
        'version: 1\nrules:\n  - {id: big, type: large_mint, severity: high, params: {per_transaction: "1000.5"}}\n'
    )

    def minted(block: int, amount: int) -> Observation:
        fields = {
            "minter": "0x" + "11" * 20,
            "to": "0x" + "22" * 20,
            "amount": amount,
            "depositId": "0x" + "00" * 32,
        }
        return Observation("chain", "Minted", f"chain:{block}:0", 1_796_104_800 + block, fields, block)

    assert [f.key for f in evaluate([rule], minted(1, 1_000_500_001))] == ["big|chain:1:0|transaction"]
    state = Observation(
        "chain", "chain_state", "state:1", 1_796_104_801, {"total_supply": 0, "decimals": 18}, 1
    )
    assert evaluate([rule], state) == []
    assert evaluate([rule], minted(2, 1_000_500_001)) == []
    assert evaluate([rule], minted(3, 1000 * 10**18 + 5 * 10**17)) == []
    assert [f.key for f in evaluate([rule], minted(4, 1000 * 10**18 + 5 * 10**17 + 1))] == [
        "big|chain:4:0|transaction"
    ]


def test_the_doc_describes_every_type_and_parameter() -> None:
    doc = (ROOT / "docs" / "monitor-rules.md").read_text()
    for name, cls in RULE_TYPES.items():
        section = doc.split(f"**`{name}`**", 1)
        assert len(section) == 2, f"docs/monitor-rules.md has no section for {name}"
        for param in cls.params_model.model_fields:
            assert f"`{param}`" in doc, f"docs/monitor-rules.md does not name {name}'s parameter {param}"
