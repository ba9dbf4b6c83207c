"""bench/throughput.py's measuring functions work: every phase with a few deposits (fast).

The full benchmark is `make bench`; it never runs in the test suite. This starts the same stack
(anvil, `ape run deploy token`, `python -m service serve`) in tmp_path on free ports.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# its own stack on free ports, no shared chain: `make test` runs it in the block-time pass
pytestmark = pytest.mark.beside


def _load_bench():
    spec = importlib.util.spec_from_file_location("ushk_throughput_bench", ROOT / "bench" / "throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_phase_with_a_few_deposits(tmp_path):
    bench = _load_bench()
    bench.use_project_tools()
    cfg = bench.Config.quick()
    result = bench.measure(cfg, tmp_path, log=lambda _msg: None)

    accept = result["accept"]
    for phase in ("saturated_with_minter", "saturated_no_minter"):
        assert accept[phase]["accepted"] == accept[phase]["requests"] > 0, accept[phase]
        assert accept[phase]["latency_p99_ms"] > 0
    paced = accept["paced"]
    assert paced["accepted"] == paced["planned"] == round(cfg.paced_rate * cfg.paced_seconds)

    mint = result["mint"]
    # every accepted deposit of each phase was minted, exactly once, in some batch
    assert mint["end_to_end_saturated"]["minted"] == accept["saturated_with_minter"]["accepted"]
    assert mint["end_to_end_paced"]["minted"] == paced["accepted"]
    backlog = mint["minter_process_backlog"]
    assert backlog["minted"] == accept["saturated_no_minter"]["accepted"]
    assert backlog["statuses"] == {"minted": backlog["minted"]}
    assert backlog["minted_per_s_from_first_claim"] > 0

    breakdown = result["where_time_goes"]["minter"]
    assert breakdown["deposits"] == cfg.breakdown_count and breakdown["batches"] >= 1
    assert {
        "claim (transaction)",
        "estimate gas + sign",
        "wait for receipt",
        "mark minted (transaction)",
    } <= set(breakdown["parts"])
    profile = result["where_time_goes"]["accept_in_process"]
    assert profile["statuses"] == {"201": cfg.profile_requests}
    assert "submit: Ed25519 verify" in profile["parts_ms_per_request"]

    batches = result["batch_end_to_end"]
    # every deposit of the signed batches was accepted and minted, each batch answered 200
    assert batches["minted"] == batches["deposits"] == cfg.batch_count
    assert batches["statuses"] == {"minted": cfg.batch_count}
    assert batches["request_statuses"] == {"200": -(-cfg.batch_count // cfg.batch_size)}
    assert batches["deposits_per_s"] > 0 and batches["share_of_mint_ceiling"] > 0
    top = result["ceiling"]["mint_batch"]
    assert top["minted"] == cfg.mint_ceiling_count and top["minted_per_s"] > 0

    ceiling = result["ceiling"]["erc20_transfers"]
    assert ceiling["transfers"] == cfg.transfers and ceiling["failed"] == 0

    redemptions = result["redemptions"]["watcher_backlog"]
    # every redemption on chain became exactly one payout, assigned to the demo bank's account
    assert redemptions["redemptions"] == cfg.redemptions == redemptions["payouts_created"]
    assert redemptions["watcher_events"] == cfg.redemptions
    assert redemptions["each_redemption_one_payout"] is True
    assert redemptions["payout_statuses"] == {"pending": cfg.redemptions}
    assert redemptions["payout_banks"] == ["demo-bank"]
    assert redemptions["redemptions_per_s"] > 0 and redemptions["watcher_s"] > 0
    assert {"eth_getLogs + decode", "record_redemption (payout insert, audit)"} <= set(
        redemptions["watcher_parts"]
    )

    assert set(result["verdicts"]) == set(bench.TARGETS)
    assert result["machine"]["cores"] and result["config"]["minter_batch_size"] == 500
    json.dumps(result)  # what main() writes
    text = bench.table(result)
    assert "accepted/s" in text and "where time goes" in text
    assert "redemptions/s processed into payouts" in text
    assert "first request -> last minted" in text and "mintBatch" in text
