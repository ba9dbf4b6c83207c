"""bench/public_reads.py's measurement works: each run with a few deposits and reads (fast).

The full benchmark is `make bench`; it never runs in the test suite."""

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
        "ushk_public_reads_bench", ROOT / "bench" / "public_reads.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_deposits_with_and_without_public_reads(tmp_path):
    bench = _load_bench()
    bench.tp.use_project_tools()
    result = bench.measure(tmp_path, rate=20.0, reads=20.0, seconds=0.5)
    for run in ("baseline", "with_reads", "with_reads_public_process", "baseline_after"):
        assert result[run]["accepted"] == result[run]["requests"] == 10, result[run]
    for reads in ("reads", "reads_public_process"):
        assert result[reads]["sent"] == result[reads]["planned"] == 50
        assert set(result[reads]["statuses"]) == {"200"}
    assert result["verdict"] in ("held", "moved") and result["deposit_p99_ms"]["allowed"] > 0
    assert result["verdict_same_process"] in ("held", "moved")
    assert "reads/s to a public process" in bench.table(result)
