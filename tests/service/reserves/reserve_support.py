"""Helpers of the reserve tests."""

from __future__ import annotations

import json

from sqlalchemy import func, select, text

from service import audit, ledger, merkle
from service.audit import leaves
from service.chain.token import Token
from service.models import LedgerLine, LedgerPosting
from service.reserves import service as reserves


def balances(env) -> ledger.Balances:
    with env.db.reading() as session:
        return ledger.balances(session)


def assert_postings_balance(env) -> None:
    """Every posting's lines sum to zero, and so does the whole ledger."""
    with env.db.reading() as session:
        assert ledger.unbalanced_postings(session) == []
        assert session.scalar(select(func.coalesce(func.sum(LedgerLine.amount_cents), 0))) == 0
        assert session.scalar(select(func.count()).select_from(LedgerPosting)) > 0


def assert_invariant(env, token: Token) -> None:
    """supply <= attested <= recorded reserves (custody), whenever there is an attestation."""
    b = balances(env)
    supply = token.total_supply()
    attestation = token.reserve_attestation()
    if attestation.timestamp:
        assert supply <= attestation.amount <= b.reserves * 10_000, (supply, attestation, b)
    assert supply <= b.reserves * 10_000
    assert b.attestable <= b.reserves


def halted(env) -> bool:
    with env.db.reading() as session:
        return reserves.minting_halted(session)


def block_on_top(token: Token) -> None:
    """Mines a block (anvil's `evm_mine`, on automine and on a block-time chain alike): the
    reconciler reads the chain one block below the head, so the last transaction a test made
    needs a block on top before a pass sees it."""
    reply = token.w3.provider.make_request("evm_mine", [])
    assert "error" not in reply, reply


def reconcile(reconciler, **kwargs):
    """One pass of `reconciler` that sees every transaction made so far."""
    block_on_top(reconciler.token)
    return reconciler.reconcile_once(**kwargs)


def rewrite_consistently(env, seq: int, field: str, value) -> None:
    """What an operator who controls the database could do: change one entry's payload and
    recompute the hash chain, every leaf and the whole tree after it, so that the chain and the
    tree both verify again."""
    with env.db.engine.begin() as connection:
        rows = connection.execute(
            text("SELECT seq, created_at, kind, actor, payload, salt FROM audit_log ORDER BY seq")
        ).all()
        prev, data = "0" * 64, []
        for row in rows:
            payload = json.loads(row.payload)
            if row.seq == seq:
                payload[field] = value
            digest = audit.repository.entry_hash(prev, row.seq, row.created_at, row.kind, row.actor, payload)
            leaf = leaves.leaf_bytes(row.seq, row.created_at, row.kind, row.actor, payload, row.salt)
            connection.execute(
                text(
                    "UPDATE audit_log SET payload = :p, prev_hash = :ph, hash = :h, leaf = :l WHERE seq = :s"
                ),
                {
                    "p": json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                    "ph": prev,
                    "h": digest,
                    "l": leaf.decode(),
                    "s": row.seq,
                },
            )
            prev = digest
            data.append(leaf)
        nodes, size = merkle.build(data)
        connection.execute(text("DELETE FROM audit_tree"))
        connection.execute(
            text("INSERT INTO audit_tree (level, idx, hash) VALUES (:level, :idx, :hash)"),
            [{"level": level, "idx": idx, "hash": h.hex()} for (level, idx), h in nodes.items()],
        )
        frontier = " ".join(nodes[node].hex() for node in merkle.frontier_nodes(size))
        connection.execute(text("UPDATE audit_head SET hash = :h, frontier = :f"), {"h": prev, "f": frontier})
