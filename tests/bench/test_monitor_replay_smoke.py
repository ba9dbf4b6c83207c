"""bench/monitor_replay.py's measurement works: a short seeded sequence through the default rules.

The full benchmark (100,000 observations) is `make bench`; it never runs in the test suite."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_bench():
    spec = importlib.util.spec_from_file_location(
        "ushk_monitor_replay_bench", ROOT / "bench" / "monitor_replay.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_replay_bench_small(tmp_path):
    bench = _load_bench()
    assert [o.to_json() for o in bench.generate(500)] == [o.to_json() for o in bench.generate(500)]
    output = tmp_path / "monitor_replay.json"
    assert bench.main(["--count", "3000", "--output", str(output)]) in (0, 1)
    result = bench.json.loads(output.read_text())
    assert result["observations"] == 3000 and result["observations_per_s"] > 0
    assert set(result["rule_time_share_percent"]) == {r.id for r in bench.load_rules(bench.RULES)}
    assert {"log_entry", "Minted", "chain_state", "tick"} <= set(result["kinds"])


def test_a_clean_stack_raises_no_integrity_alarm():
    """The generated stack mints only what its log records: none of the rules that say the books
    or the record are wrong may fire on it (the findings it does give are governance events,
    large mints and the odd split pattern of random residents)."""
    bench = _load_bench()
    result = bench.measure(20_000)
    integrity = {
        "supply-unexplained",
        "mint-without-deposit",
        "mint-while-paused",
        "attestation-below-supply",
    }
    assert not integrity & set(result["findings_by_rule"]), result["findings_by_rule"]
    assert {"log-head", "attestation-stale", "anchor-overdue", "payout-overdue"}.isdisjoint(
        result["findings_by_rule"]
    )
