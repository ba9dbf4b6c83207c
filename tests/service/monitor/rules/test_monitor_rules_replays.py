"""Every rule type on recorded sequences (replays/, written by record_replays.py): the sequence
that fires gives exactly the expected findings, its near miss none; replays are deterministic,
and a rule rebuilt by replaying a prefix continues as a single run would."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.canonical import canonical_json
from service.monitor.model import Finding, Observation, Rule, evaluate
from service.monitor.rules import RULE_TYPES, load_rules

HERE = Path(__file__).resolve().parent
REPLAYS = HERE / "replays"
RULES = HERE / "monitor-rules.test.yaml"
DEPOSIT_702 = "0x5553484b2d4445500000000000000000000000000000000000000000000002be"
COLLECTOR = "0x57cfa32382416828aee86644cafefdbb1cde02d7"

# type -> the findings of TYPE.fires.jsonl: (key, severity, a subset of the details)
EXPECTED: dict[str, list[tuple[str, str, dict[str, Any]]]] = {
    "large_mint": [
        (
            "large-mint|chain:1204010:0|transaction",
            "high",
            {"amount_units": 60_000_000_000, "limit_units": 50_000_000_000, "bank": "alpha-bank"},
        ),
        (
            "large-mint|chain:1204030:0|day:alpha-bank:2026-12-01",
            "high",
            {"day_total_units": 130_000_000_000, "limit_units": 120_000_000_000, "day": "2026-12-01"},
        ),
    ],
    "unmatched_supply": [
        (
            "unmatched-supply|state:1204007|1204004",
            "critical",
            {
                "block": 1204004,
                "supply_change_units": 1_249_999_958,
                "logged_units": 749_999_958,
                "unexplained_units": 500_000_000,
            },
        )
    ],
    "mint_without_deposit": [
        (
            f"mint-without-deposit|state:1204008|{DEPOSIT_702}",
            "critical",
            {"deposit_id": DEPOSIT_702, "amount_units": 9_000_000_000, "mint_block": 1204002},
        )
    ],
    "mint_while_paused": [
        (
            "mint-while-paused|chain:1204003:0|",
            "critical",
            {"amount_units": 200_000_000, "minting_paused": True, "paused": False},
        )
    ],
    "attestation_stale": [
        (
            "attestation-stale|tick:1796187661|1796101200",
            "high",
            {"attested_at": 1796101200, "age": 86461, "max_age": 86400, "grace": 60},
        )
    ],
    "attestation_below_supply": [
        (
            "attestation-below-supply|state:1204001|1796104740",
            "critical",
            {
                "shortfall_units": 1_000_000,
                "attested_reserves": 10_000_000_000,
                "total_supply": 10_001_000_000,
            },
        )
    ],
    "attestation_report": [
        (
            "attestation-report|report:0x96a8142576559c84ca933ed5cfe0c45ccce7518c9e3a83b30297cfe0f20572fa|mismatch",
            "high",
            {"computed_hash": "0x" + "ee" * 32},
        ),
        (
            "attestation-report|report:0x70054c80134ffdecd447f255bff18c0e2dce7a46311ebe92ff90613a7dea479e|unavailable",
            "high",
            {"computed_hash": None},
        ),
    ],
    "log_head": [
        (
            "log-head|sth:14:1796105040000|consistency",
            "critical",
            {"tree_size": 14, "reason": "the consistency proof from size 12 does not verify"},
        ),
        ("log-head|sth:15:1796105100000|signature", "critical", {"tree_size": 15}),
        (
            "log-head|sth:14:1796105160000|consistency",
            "critical",
            {"tree_size": 14, "reason": "tree size 14 with another root than the last head's"},
        ),
    ],
    "anchor_overdue": [
        (
            "anchor-overdue|tick:1796108501|1796104900",
            "medium",
            {"anchored_size": 1000, "log_size": 1001, "waited": 3601, "interval": 3600},
        )
    ],
    "governance": [
        ("governance|chain:1204000:0|", "high", {"event": "RoleGranted", "role_name": "MINTER_ROLE"}),
        ("governance|chain:1204001:0|", "critical", {"event": "Upgraded"}),
        ("governance|chain:1204002:0|", "high", {"event": "MintingPaused"}),
        ("governance|chain:1204003:0|", "low", {"event": "Frozen"}),
        ("governance|chain:1204004:0|", "high", {"event": "FrozenBalanceWiped", "amount": 1_234_000_000}),
        ("governance|chain:1204006:0|", "high", {"event": "Unpaused"}),
    ],
    "payout_overdue": [
        (
            "payout-overdue|tick:1796659201|41",
            "high",
            {
                "redemption_id": "41",
                "due_at": "2026-12-07T16:00:00+00:00",
                "late_by": 1,
                "bank": "alpha-bank",
            },
        )
    ],
    "redemption_run": [
        (
            "redemption-run|chain:1207630:0|1796104860",
            "high",
            {
                "redeemed_units": 110_000_000_000,
                "redemptions": 3,
                "percent": "11.00",
                "threshold_percent": "10",
            },
        )
    ],
    "fan_in": [
        (
            f"fan-in|log:1005|{COLLECTOR}",
            "medium",
            {"beneficiary": COLLECTOR, "count": 5, "threshold": 5},
        )
    ],
    "fan_out": [
        ("fan-out|log:1005|R-5092d8e877888a37", "medium", {"resident": "R-5092d8e877888a37", "count": 5})
    ],
    "structuring": [
        (
            "structuring|log:1003|R-66276e6cdc41606a",
            "medium",
            {
                "amounts_units": [9_500_000_000, 9_800_000_000, 9_990_000_000],
                "band_from_units": 9_000_000_000,
            },
        )
    ],
    "velocity": [
        (
            "velocity|log:1004|R-e05e56b7da35ff63",
            "low",
            {"count": 4, "total_units": 8_000_000_000, "max_count": 3},
        )
    ],
    "custodian_concentration": [
        (
            "custodian-concentration|snapshot:2|alpha-bank",
            "medium",
            {"bank": "alpha-bank", "percent": "70.00", "max_percent": "60"},
        )
    ],
    "source_down": [
        ("source-down|down:chain:1796104800|chain", "high", {"source": "chain", "seconds": 75}),
    ],
    "bank_anomaly": [
        (
            "bank-anomaly|log:1094|daily_volume_units:alpha-bank:2026-12-01",
            "medium",
            {
                "value": 15_000_000_000,
                "features": {"daily_volume_units": 15_000_000_000, "hourly_mints": 3},
                "baseline": {"median": "9000000000", "mad": "600000000", "scale": "889560000", "n": 10},
                "score": "6.745",
            },
        ),
        (
            "bank-anomaly|log:1094|hourly_mints:alpha-bank:2026-12-01T10",
            "medium",
            {
                "value": 3,
                "baseline": {"median": "0", "mad": "0", "scale": "0.229772", "n": 240},
                "score": "13.056",
            },
        ),
    ],
}


def observations(name: str) -> list[Observation]:
    return [Observation.from_json(line) for line in (REPLAYS / name).read_text().splitlines() if line]


def rules_of(rule_type: str) -> list[Rule]:
    return [rule for rule in load_rules(RULES) if rule.type == rule_type]


def run(rules: list[Rule], seq: list[Observation]) -> list[Finding]:
    return [finding for obs in seq for finding in evaluate(rules, obs)]


def test_every_rule_type_has_replays_and_expectations() -> None:
    assert set(EXPECTED) == set(RULE_TYPES)
    for rule_type in RULE_TYPES:
        assert (REPLAYS / f"{rule_type}.fires.jsonl").is_file()
        assert (REPLAYS / f"{rule_type}.near_miss.jsonl").is_file()
        assert len(rules_of(rule_type)) == 1


@pytest.mark.parametrize("rule_type", sorted(EXPECTED))
def test_fires(rule_type: str) -> None:
    findings = run(rules_of(rule_type), observations(f"{rule_type}.fires.jsonl"))
    assert [(f.key, str(f.severity)) for f in findings] == [(k, s) for k, s, _ in EXPECTED[rule_type]]
    for finding, (_, _, details) in zip(findings, EXPECTED[rule_type], strict=True):
        assert {k: finding.details.get(k) for k in details} == details, finding
        assert finding.rule_type == rule_type and finding.summary
        canonical_json(finding.public())  # the findings log's encoding: no floats


@pytest.mark.parametrize("rule_type", sorted(EXPECTED))
def test_near_miss(rule_type: str) -> None:
    assert run(rules_of(rule_type), observations(f"{rule_type}.near_miss.jsonl")) == []


def _all() -> list[Observation]:
    return [obs for path in sorted(REPLAYS.glob("*.fires.jsonl")) for obs in observations(path.name)]


def test_replay_is_deterministic() -> None:
    seq = _all()
    first = [f.public() for f in run(load_rules(RULES), seq)]
    second = [f.public() for f in run(load_rules(RULES), seq)]
    assert first == second and len(first) >= len(EXPECTED)


@pytest.mark.parametrize("rule_type", sorted(EXPECTED))
def test_rebuilt_state_continues_as_one_run(rule_type: str) -> None:
    """The monitor's restart: replay a prefix with the findings discarded, then continue."""
    seq = observations(f"{rule_type}.fires.jsonl")
    whole = run(rules_of(rule_type), seq)
    for cut in range(len(seq) + 1):
        rebuilt = rules_of(rule_type)
        seen = run(rebuilt, seq[:cut])
        rest = run(rebuilt, seq[cut:])
        assert [f.key for f in seen + rest] == [f.key for f in whole]
        assert rest == [f for f in whole if f.observation in {o.key for o in seq[cut:]}]


def test_the_default_rules_on_every_replay() -> None:
    rules = load_rules(HERE.parents[3] / "config" / "monitor-rules.yaml")
    for path in sorted(REPLAYS.glob("*.jsonl")):
        for finding in run(rules, observations(path.name)):
            canonical_json(finding.public())


def test_default_rules_rebuilt_mid_stream_on_a_busy_stack() -> None:
    """The bench's generated traffic (seeded) through every default rule: one run equals a run
    rebuilt from a prefix at several cuts, and a second run."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(
        "ushk_monitor_replay_gen", HERE.parents[3] / "bench" / "monitor_replay.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    seq = bench.generate(12_000, seed=5)
    config = HERE.parents[3] / "config" / "monitor-rules.yaml"
    whole = [f.public() for f in run(load_rules(config), seq)]
    assert whole and whole == [f.public() for f in run(load_rules(config), seq)]
    for cut in (1, 3_333, 7_777, 11_999):
        rebuilt = load_rules(config)
        run(rebuilt, seq[:cut])
        keys = {o.key for o in seq[cut:]}
        assert [f.public() for f in run(rebuilt, seq[cut:])] == [f for f in whole if f["observation"] in keys]
