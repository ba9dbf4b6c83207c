"""bench/gas.py's measuring function works: two rows on the test session's chain (fast).

The full benchmark is `make bench`; it never runs in the test suite.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_bench():
    spec = importlib.util.spec_from_file_location("ushk_gas_bench", ROOT / "bench" / "gas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_two_rows(networks):
    bench = _load_bench()
    rows = bench.measure(["transfer", "mint_existing_holder"])
    assert list(rows) == ["mint_existing_holder", "transfer"]  # in the benchmark's row order
    # whole-transaction gas: more than the 21,000 intrinsic, far below a block
    assert all(21_000 < gas < 200_000 for gas in rows.values())
    text = bench.table(rows)
    assert "transfer" in text and "45,047" in text  # USDC's transfer figure is printed beside ours
