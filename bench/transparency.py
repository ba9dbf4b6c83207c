"""Transparency log benchmark: `make bench` (python bench/transparency.py).

On a fresh SQLite database (the service's schema, by its migrations) it builds the tree of a log
of 1,000,000 entries as the log stores it (every complete subtree in `audit_tree`, the right edge
on the head row), then times, through the same functions the public endpoints call
(service/audit/tree.py): inclusion proofs of random entries and consistency proofs from random
sizes, against the full tree (p50 and p99 of each; target under 10 ms), and appends: audit
entries written by the commit hook (chain hash, leaf, tree nodes) on top of the million, in
transactions of 4 entries (about what one accepted deposit writes) and of 400 (a writer group).
Writes bench/transparency.json and prints it; exits 1 when a proof misses its target.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from service import audit, merkle  # noqa: E402
from service.audit import tree  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import Database  # noqa: E402

OUTPUT = ROOT / "bench" / "transparency.json"
PROOF_TARGET_MS = 10.0
INSERT_CHUNK = 50_000


def build(db: Database, size: int) -> float:
    """The stored tree of `size` synthetic leaves; seconds taken (hashing and inserting)."""
    started = time.perf_counter()
    frontier = merkle.Frontier(0, {})
    rows: list[dict] = []
    with db.engine.begin() as connection:
        insert = text("INSERT INTO audit_tree (level, idx, hash) VALUES (:level, :idx, :hash)")
        for i in range(size):
            leaf = b'{"kind":"bench","seq":%d}' % (i + 1)
            rows.extend(
                {"level": level, "idx": idx, "hash": h.hex()}
                for (level, idx), h in frontier.append(merkle.leaf_hash(leaf))
            )
            if len(rows) >= INSERT_CHUNK:
                connection.execute(insert, rows)
                rows = []
        if rows:
            connection.execute(insert, rows)
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, frontier = :frontier WHERE id = 1"),
            {"seq": size, "frontier": " ".join(h.hex() for _, h in frontier.nodes())},
        )
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
        "max_ms": round(ordered[-1] * 1000, 3),
    }


def time_proofs(db: Database, size: int, count: int, rng: random.Random) -> dict[str, dict]:
    inclusion, consistency = [], []
    with db.reading() as session:
        root = tree.root(session, size)
        for _ in range(count):
            seq = rng.randint(1, size)
            started = time.perf_counter()
            path = tree.inclusion(session, seq, size)
            inclusion.append(time.perf_counter() - started)
            assert len(path) <= size.bit_length()
            first = rng.randint(1, size - 1)
            started = time.perf_counter()
            proof = tree.consistency(session, first, size)
            consistency.append(time.perf_counter() - started)
            if len(consistency) <= 20:  # a few checked end to end
                assert merkle.verify_consistency(first, size, tree.root(session, first), root, proof)
    return {"inclusion": percentiles(inclusion), "consistency": percentiles(consistency)}


def time_appends(db: Database, per_transaction: int, transactions: int) -> float:
    """Entries appended per second by the commit hook, `per_transaction` per commit."""
    started = time.perf_counter()
    for t in range(transactions):
        with db.transaction() as session:
            for i in range(per_transaction):
                audit.record(session, "bench.append", "bench", {"amount_cents": t * per_transaction + i})
    return per_transaction * transactions / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    rng = random.Random(9162)
    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{scratch}/bench.db",
            id_hmac_secret="bench-secret-" + "x" * 40,
            webhook_signing_key="bench-webhook-" + "x" * 40,
        )
        db = Database.from_settings(settings)
        db.upgrade()
        build_seconds = build(db, args.size)
        proofs = time_proofs(db, args.size, args.proofs, rng)
        appends = {
            "entries_per_s_4_per_commit": round(time_appends(db, 4, 500)),
            "entries_per_s_400_per_commit": round(time_appends(db, 400, 25)),
        }
        with db.reading() as session:
            nodes = session.execute(text("SELECT count(*) FROM audit_tree")).scalar_one()
            assert tree.size(session) == args.size + 4 * 500 + 400 * 25
        db.dispose()
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tree_size": args.size,
        "stored_nodes": nodes,
        "build_seconds": round(build_seconds, 1),
        "proofs_timed": args.proofs,
        **proofs,
        "appends": appends,
        "proof_target_ms": PROOF_TARGET_MS,
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    missed = [k for k in ("inclusion", "consistency") if proofs[k]["p99_ms"] >= PROOF_TARGET_MS]
    if missed:
        print(f"missed the {PROOF_TARGET_MS} ms target: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
