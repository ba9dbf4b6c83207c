"""bench/monitor_latency.py's measurement works: a few governance events through the stack's
monitor, and a short paced deposit run while its CPU is read.

The full benchmark (100 events, 10 s at 200 deposits/s) is `make bench`; it never runs in the
test suite."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# its own stack on free ports, no shared chain: `make test` runs it in the block-time pass
pytestmark = pytest.mark.beside


def _load_bench():
    spec = importlib.util.spec_from_file_location(
        "ushk_monitor_latency_bench", ROOT / "bench" / "monitor_latency.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_monitor_latency_bench_small(tmp_path):
    bench = _load_bench()
    bench.tp.use_project_tools()
    result = bench.measure(tmp_path, count=4, rate=20.0, seconds=0.5)
    latency = result["latency"]
    assert latency["findings_seen"] == 4 and latency["missing"] == 0, latency
    assert 0 < latency["p50_s"] <= latency["p99_s"]
    cpu = result["cpu_under_deposits"]
    assert cpu["deposits"] == 10 and cpu["monitor_cpu_s"] >= 0 and cpu["findings_meanwhile"] == 0
    assert cpu["findings_meanwhile_by_rule"] == {}
    assert result["verdict"] in ("ok", "missed")
    assert "receipt to finding" in bench.table(result)
