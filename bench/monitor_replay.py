"""Monitor rules replay benchmark: `make bench` (python bench/monitor_replay.py).

Generates a recorded sequence of 100,000 observations (seeded, so every run replays the same
one) as the monitor sees a busy stack: 2-second blocks, deposits accepted by five banks and
minted (the log's `deposit.accepted` and `deposit.minted` entries, the token's `Transfer` and
`Minted` events), holder transfers, redemptions and their payouts, a `chain_state` per block,
signed heads, anchors and attestations, daily snapshots, an occasional governance event, and a
`tick` a minute. Runs it through every rule of config/monitor-rules.yaml (the monitor's own
`evaluate`), then once more timing each rule on its own. Writes bench/monitor_replay.json
(observations per second, each rule's share of the time, the findings per rule) and prints it;
exits 1 below the target (5,000 observations per second).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.monitor.model import Observation, evaluate  # noqa: E402
from service.monitor.rules import load_rules  # noqa: E402

OUTPUT = ROOT / "bench" / "monitor_replay.json"
RULES = ROOT / "config" / "monitor-rules.yaml"
TARGET = 5_000.0
UNIT = 10**6
B0 = 1_204_000
T0 = int(dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC).timestamp())
ZERO = "0x" + "00" * 20
BANKS = ["alpha-bank", "beta-bank", "gamma-bank", "delta-bank", "epsilon-bank"]


def _hex(rng: random.Random, n: int) -> str:
    return "0x" + rng.getrandbits(8 * n).to_bytes(n, "big").hex()


def generate(count: int, seed: int = 12) -> list[Observation]:
    """`count` observations of a busy stack, the same for the same seed."""
    rng = random.Random(seed)
    out: list[Observation] = []
    holders = [_hex(rng, 20) for _ in range(400)]
    residents = ["R-" + _hex(rng, 8)[2:] for _ in range(2_000)]
    wallets = {r: _hex(rng, 20) for r in residents}  # each resident's own address, mostly
    minter, pauser = _hex(rng, 20), _hex(rng, 20)
    supply = 5_000_000 * UNIT
    attested, attested_at = supply * 2, T0
    anchored, log_seq, deposit_seq, redemption_id, head_count = 0, 0, 0, 0, 0
    block, last_tick, last_head, last_snapshot = B0, T0, T0, T0
    t, index = T0, 0
    open_payouts: list[tuple[int, int, str, int]] = []

    def entry(t: int, kind: str, actor: str, fields: dict[str, Any]) -> None:
        nonlocal log_seq
        log_seq += 1
        iso = dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")
        body = {"seq": log_seq, "time": iso, "kind": kind, "actor": actor, "fields": fields}
        out.append(Observation("service", "log_entry", f"log:{log_seq}", t, body))

    def event(kind: str, fields: dict[str, Any]) -> None:
        nonlocal index
        out.append(Observation("chain", kind, f"chain:{block}:{index}", t, fields, block, _hex(rng, 32)))
        index += 1

    while len(out) < count:
        block += 1
        t = T0 + (block - B0) * 2
        index = 0

        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):  # deposits accepted and minted
            deposit_seq += 1
            bank = rng.choice(BANKS)
            resident = rng.choice(residents)
            cents = rng.choice((rng.randrange(10_000, 500_000), rng.randrange(500_000, 2_000_000)))
            deposit_id = "0x5553484b2d444550" + f"{deposit_seq:048x}"
            fields = {
                "deposit_seq": deposit_seq,
                "bank_id": BANKS.index(bank) + 1,
                "status": "accepted",
                "amount_cents": cents,
                "beneficiary": wallets[resident] if rng.random() < 0.98 else rng.choice(holders),
                "resident": resident,
                "category": "hk",
                "deposit_id": deposit_id,
            }
            entry(t - 3, "deposit.accepted", f"bank:{bank}", fields)
            units = cents * 10_000
            event("Transfer", {"from": ZERO, "to": fields["beneficiary"], "value": units})
            event(
                "Minted",
                {"minter": minter, "to": fields["beneficiary"], "amount": units, "depositId": deposit_id},
            )
            supply += units
            if supply > attested:
                attested, attested_at = supply * 2, t
                event(
                    "ReservesAttested",
                    {
                        "attestor": minter,
                        "amount": attested,
                        "reportHash": _hex(rng, 32),
                        "auditHead": _hex(rng, 32),
                        "timestamp": t,
                    },
                )
            minted = dict(fields, status="minted", tx_hash=_hex(rng, 32), block_number=block)
            entry(t + 1, "deposit.minted", "minter", minted)
        for _ in range(rng.choice((0, 1, 1, 2))):  # holders' transfers
            a, b = rng.sample(holders, 2)
            event("Transfer", {"from": a, "to": b, "value": rng.randrange(1, 1_000) * UNIT})
        if rng.random() < 0.05:  # a redemption
            redemption_id += 1
            holder, units = rng.choice(holders), rng.randrange(100, 20_000) * UNIT + rng.randrange(0, 10_000)
            event("Transfer", {"from": holder, "to": ZERO, "value": units})
            event(
                "RedemptionRequested",
                {
                    "redemptionId": redemption_id,
                    "holder": holder,
                    "amount": units,
                    "payoutRef": _hex(rng, 32),
                },
            )
            supply -= units
            entry(
                t + 2,
                "reserves.redemption_recorded",
                "watcher",
                {
                    "redemption_id": str(redemption_id),
                    "holder": holder,
                    "amount_cents": units // 10_000,
                    "dust_units": str(units % 10_000),
                    "tx_hash": _hex(rng, 32),
                    "block_number": block,
                },
            )
            open_payouts.append((redemption_id, t, holder, units))
            out.append(
                Observation(
                    "service",
                    "payout",
                    f"payout:{redemption_id}:pending",
                    t + 5,
                    {
                        "redemption_id": str(redemption_id),
                        "holder": holder,
                        "amount_units": str(units),
                        "bank": rng.choice(BANKS),
                        "status": "pending",
                        "created_at": dt.datetime.fromtimestamp(t + 5, dt.UTC).isoformat(),
                        "tx_hash": _hex(rng, 32),
                    },
                )
            )
        while open_payouts and open_payouts[0][1] < t - 6 * 3600:  # settled after six hours
            rid, _, holder, units = open_payouts.pop(0)
            out.append(
                Observation(
                    "service",
                    "payout",
                    f"payout:{rid}:settled",
                    t,
                    {
                        "redemption_id": str(rid),
                        "holder": holder,
                        "amount_units": str(units),
                        "status": "settled",
                    },
                )
            )
        if rng.random() < 0.001:  # governance
            event(
                rng.choice(("Frozen", "Unfrozen", "AllowedSet")),
                {"account": rng.choice(holders), "allowed": True},
            )
        if rng.random() < 0.0005:
            event("MintingPaused", {"account": pauser})
            event("MintingUnpaused", {"account": pauser})
        if t - last_head >= 60 and log_seq:
            head_count += 1
            last_head = t
            out.append(
                Observation(
                    "service",
                    "log_head",
                    f"sth:{log_seq}:{t * 1000}",
                    t,
                    {
                        "tree_size": log_seq,
                        "timestamp": t * 1000,
                        "root": _hex(rng, 32)[2:],
                        "signature_ok": True,
                        "consistent": True,
                        "reason": None,
                    },
                )
            )
            if head_count % 10 == 0:
                anchored = log_seq
                event(
                    "AuditLogAnchored",
                    {"anchorer": minter, "treeSize": anchored, "rootHash": _hex(rng, 32), "timestamp": t},
                )
        out.append(
            Observation(
                "chain",
                "chain_state",
                f"state:{block}",
                t,
                {
                    "total_supply": supply,
                    "decimals": 6,
                    "attested_reserves": attested,
                    "attested_at": attested_at,
                    "report_hash": "0x" + "11" * 32,
                    "max_attestation_age": 86_400,
                    "paused": False,
                    "minting_paused": False,
                    "anchor_size": anchored,
                    "anchor_root": None,
                },
                block,
            )
        )
        if t - last_snapshot >= 86_400:
            last_snapshot = t
            custody = [{"bank": b, "amount": f"{rng.randrange(1_000_000, 3_000_000)}.00"} for b in BANKS]
            out.append(
                Observation(
                    "service",
                    "snapshot",
                    f"snapshot:{t}",
                    t,
                    {"id": t, "signature_ok": True, "snapshot": {"reserves": {"custody": custody}}},
                )
            )
        if t - last_tick >= 60:
            last_tick = t
            out.append(Observation("clock", "tick", f"tick:{t}", t, {}))
    return out[:count]


def measure(count: int, seed: int = 12) -> dict[str, Any]:
    seq = generate(count, seed)
    kinds = Counter(obs.kind for obs in seq)
    rules = load_rules(RULES)
    started = time.perf_counter()
    findings = [finding for obs in seq for finding in evaluate(rules, obs)]
    elapsed = time.perf_counter() - started
    # each rule alone (fresh state), for its share of the time
    per_rule: dict[str, float] = {}
    for rule in load_rules(RULES):
        observe = rule.observe
        began = time.perf_counter()
        for obs in seq:
            for _ in observe(obs):
                pass
        per_rule[rule.id] = time.perf_counter() - began
    total = sum(per_rule.values()) or 1.0
    by_rule = Counter(f.rule for f in findings)
    return {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "observations": count,
        "seed": seed,
        "kinds": dict(kinds.most_common()),
        "rules": len(rules),
        "seconds": round(elapsed, 3),
        "observations_per_s": round(count / elapsed),
        "target_per_s": TARGET,
        "rule_time_share_percent": {
            rule: round(100 * seconds / total, 1)
            for rule, seconds in sorted(per_rule.items(), key=lambda kv: -kv[1])
        },
        "findings": len(findings),
        "findings_by_rule": dict(sorted(by_rule.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    result = measure(args.count, args.seed)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if result["observations_per_s"] < TARGET:
        print(f"below the target of {TARGET:.0f} observations/s", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
