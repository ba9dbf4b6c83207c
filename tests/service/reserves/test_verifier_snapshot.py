"""`ushk verify`'s snapshot check against a live service and the token on a real anvil: an honest
snapshot passes with a claim proved in its liabilities; a forged snapshot (its signed bytes
changed), a snapshot re-signed with a wrong on-chain figure, and a claim it does not hold each
fail the check."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from service.canonical import canonical_json
from test_snapshots import mint_redeem_freeze, snapshotter
from test_verifier import KEY, checks, publisher_for, run_verify

pytestmark = pytest.mark.blocktime


def rewrite_snapshot(env, edit) -> None:
    """Change the latest snapshot's content and sign it again with the log key (what an operator
    holding the key could do)."""
    with env.db.transaction() as session:
        row_id, body = session.execute(
            text("SELECT id, body FROM transparency_snapshots ORDER BY id DESC LIMIT 1")
        ).one()
        content = json.loads(body)
        edit(content)
        encoded = canonical_json(content)
        session.execute(
            text("UPDATE transparency_snapshots SET body = :b, signature = :s WHERE id = :i"),
            {"b": encoded.decode(), "s": KEY.private.sign(encoded).hex(), "i": row_id},
        )


def test_snapshotCheck_holdsEveryFigureAgainstTheChain(bank, live, deployed, workers, tmp_path):
    env, _ = bank
    _, url = live
    minter, _ = workers
    mint_redeem_freeze(
        bank,
        deployed,
        minter,
        holder_usd="40.00",
        other_usd="15.00",
        redeem_units=5_000_000,
        ref=b"\x03" * 32,
    )
    publisher_for(env, deployed).anchor()
    taken = snapshotter(env, deployed, log_key="42" * 32).take()  # the log key of test_verifier's KEY
    assert taken["snapshot"]["supply"]["frozen_units"] == str(40 * 10**6)

    code, body = run_verify(url, deployed, tmp_path / "s.json", "--claim", "payout:1", "--require-snapshot")
    assert code == 0, body
    reason = checks(body)["snapshot"]["reason"]
    assert "as the chain says" in reason and "claim payout:1 (500 cents)" in reason
    assert "custodians: minter-test-bank (stale, statement none)" in reason

    def version_1(content: dict) -> None:  # a snapshot signed before the custodians were added
        content["version"] = 1
        del content["reserves"]["custodians"]

    rewrite_snapshot(env, version_1)
    code, body = run_verify(url, deployed, tmp_path / "s1.json", "--require-snapshot")
    assert code == 0 and "version 1 snapshot" in checks(body)["snapshot"]["reason"], body

    code, body = run_verify(url, deployed, tmp_path / "s2.json", "--claim", "payout:9")
    assert code == 1 and not checks(body)["snapshot"]["ok"]

    with env.db.engine.begin() as connection:  # forged: the signed bytes changed, not re-signed
        connection.execute(
            text("UPDATE transparency_snapshots SET body = replace(body, :old, :new)"),
            {"old": '"claims":1', "new": '"claims":2'},
        )
    code, body = run_verify(url, deployed, tmp_path / "s3.json")
    assert code == 1 and "signature does not verify" in checks(body)["snapshot"]["reason"]

    def more_supply(content: dict) -> None:
        content["claims"] = content["liabilities"].pop("claims")  # any edit, then the figure
        content["supply"]["total_units"] = str(int(content["supply"]["total_units"]) + 1)

    rewrite_snapshot(env, more_supply)
    code, body = run_verify(url, deployed, tmp_path / "s4.json")
    assert code == 1 and "totalSupply at block" in checks(body)["snapshot"]["reason"]

    def thaw(content: dict) -> None:
        content["supply"]["frozen_accounts"] = []

    rewrite_snapshot(env, lambda c: (c["supply"].update(total_units=str(55_000_000 - 5_000_000)), thaw(c)))
    code, body = run_verify(url, deployed, tmp_path / "s5.json")
    assert code == 1 and "do not add up" in checks(body)["snapshot"]["reason"]
