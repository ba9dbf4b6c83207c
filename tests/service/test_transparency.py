"""The transparency log over the audit record: leaves, the stored tree, signed heads, the public
endpoints, on SQLite and PostgreSQL; proofs checked with RFC 9162's verification algorithms
against roots computed from the entries the endpoints return."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import httpx
import pytest
from sqlalchemy import select, text

from service import audit, merkle
from service.audit import heads, leaves, tree
from service.audit.heads import LogKey
from service.audit.models import AuditEntry
from service.cli import cli
from service.client import BankClient
from svc_support import confirmation

LOG_KEY = LogKey.from_hex("11" * 32)


def fill(env, n: int) -> None:
    """`n` audit entries, committed a few at a time (so the tree grows over many appends)."""
    for i in range(n):
        with env.db.transaction() as session:
            for j in range(i % 3 + 1):
                audit.record(
                    session,
                    "test.entry",
                    "operator:alice" if j else "bank:hsbc",
                    {"amount_cents": i * 10 + j, "reference": f"REF-{i}-{j}", "status": "ok"},
                )


def all_leaves(env) -> list[bytes]:
    with env.db.reading() as session:
        return [row.leaf.encode() for row in session.execute(text("SELECT leaf FROM audit_log ORDER BY seq"))]


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_stored_tree_gives_the_rfc_roots_and_proofs(database, request) -> None:
    env = request.getfixturevalue("env" if database == "sqlite" else "pg_env")
    fill(env, 23)
    data = all_leaves(env)
    size = len(data)
    assert size > 40
    reference, _ = merkle.build(data)
    source = merkle.from_mapping(reference)
    with env.db.reading() as session:
        assert tree.size(session) == size == audit.head(session)[0]
        for n in (1, 2, 3, 7, 8, 13, 32, 33, size):
            assert tree.root(session, n) == merkle.root(source, n)
        for seq in (1, 2, 17, size):
            path = tree.inclusion(session, seq, size)
            assert merkle.verify_inclusion(
                seq - 1, size, merkle.leaf_hash(data[seq - 1]), path, tree.root(session, size)
            )
        for first in (0, 1, 5, 8, 31, size):
            proof = tree.consistency(session, first, size)
            assert merkle.verify_consistency(
                first, size, merkle.root(source, first), merkle.root(source, size), proof
            )
        check = tree.verify(session)
    assert check.ok and check.checked == size and check.root == merkle.root(source, size).hex()


def test_leaf_holds_the_public_view_and_commits_to_the_rest(env) -> None:
    fill(env, 2)
    with env.db.reading() as session:
        row = session.execute(
            text("SELECT seq, actor, kind, payload, leaf, salt FROM audit_log WHERE seq = 3")
        ).one()
    view = json.loads(row.leaf)
    assert view["seq"] == 3 and view["kind"] == "test.entry"
    assert view["public"] == {"amount_cents": 11, "status": "ok"}
    assert "REF-" not in row.leaf and "alice" not in row.leaf and row.salt not in row.leaf
    assert view["actor"] == "operator" and row.actor == "operator:alice"
    private = leaves.private_part(row.kind, row.actor, json.loads(row.payload))
    assert private == {"actor": "operator:alice", "payload": {"reference": "REF-1-1"}}
    assert (
        view["private"]
        == hashlib.sha256(
            bytes.fromhex(row.salt) + json.dumps(private, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
    )
    assert leaves.verify_disclosure(row.leaf, row.salt, private)
    assert not leaves.verify_disclosure(row.leaf, row.salt, {**private, "payload": {"reference": "REF-9"}})
    # an unclassified field is private; a private kind publishes no field
    assert leaves.split_payload("x.y", {"brand_new": 1}) == ({}, {"brand_new": 1})
    assert leaves.split_payload("quota.watch_listed", {"resident": "R-1"}) == ({}, {"resident": "R-1"})


@pytest.mark.parametrize(
    ("kind", "actor", "payload"),
    [
        (
            "deposit.accepted",
            "bank:hsbc",
            {"amount_cents": 5, "reference": 'R\u00e9f "1"', "resident": "R-1"},
        ),
        ("quota.watch_listed", "operator:bo", {"resident": "R-2", "reason": "line\nbreak"}),
        ("x.y", "minter", {}),
        (
            "reserves.attested",
            "attestor",
            {"report": {"custody": [{"bank": "b", "amount": "1.00"}]}, "tx_hash": None},
        ),
    ],
)
def test_the_assembled_leaf_is_the_canonical_json_of_the_public_view(kind, actor, payload) -> None:
    salt = "ab" * 32
    at = "2026-12-03T09:00:00.000000Z"
    assembled = leaves.leaf_bytes(7, at, kind, actor, payload, salt)
    assert assembled == leaves.canonical_leaf(7, at, kind, actor, payload, salt)
    assert json.loads(assembled)["seq"] == 7


def test_tree_check_finds_a_rewritten_leaf_node_or_frontier(env) -> None:
    fill(env, 8)
    with env.db.reading() as session:
        assert tree.verify(session).ok
    with env.db.engine.begin() as connection:
        connection.execute(
            text(
                'UPDATE audit_log SET leaf = replace(leaf, \'"status":"ok"\', \'"status":"no"\') WHERE seq = 4'
            )
        )
    with env.db.reading() as session:
        check = tree.verify(session)
    assert not check.ok and check.first_bad_seq == 4 and "leaf" in check.problem
    with env.db.engine.begin() as connection:
        connection.execute(
            text(
                'UPDATE audit_log SET leaf = replace(leaf, \'"status":"no"\', \'"status":"ok"\') WHERE seq = 4'
            )
        )
        connection.execute(
            text("UPDATE audit_tree SET hash = :h WHERE level = 1 AND idx = 3"), {"h": "00" * 32}
        )
    with env.db.reading() as session:
        check = tree.verify(session)
    assert not check.ok and check.first_bad_seq == 8 and "(1, 3)" in check.problem
    with env.db.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_tree"))
        connection.execute(text("UPDATE audit_head SET frontier = ''"))
    with env.db.reading() as session:
        assert not tree.verify(session).ok


def test_signed_heads_are_kept_and_never_go_back(env) -> None:
    now = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)
    with env.db.transaction() as session:
        first = heads.sign(session, LOG_KEY, now=now)
        assert first is not None and first.tree_size == 0 and first.root == merkle.EMPTY_ROOT.hex()
        assert heads.sign(session, LOG_KEY, now=now) is None  # nothing new
    fill(env, 3)
    with env.db.transaction() as session:
        second = heads.sign(session, LOG_KEY, now=now - dt.timedelta(hours=1))  # clock set back
        assert second is not None and second.timestamp_ms == first.timestamp_ms
        size, root = second.tree_size, bytes.fromhex(second.root)
        assert merkle.verify_tree_head(
            LOG_KEY.public_bytes, second.timestamp_ms, size, root, bytes.fromhex(second.signature)
        )
        assert not merkle.verify_tree_head(
            LOG_KEY.public_bytes, second.timestamp_ms, size + 1, root, bytes.fromhex(second.signature)
        )
        assert [h.tree_size for h in heads.after(session, -1, limit=10)] == [0, size]


def b64d(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def test_public_endpoints_prove_what_the_entries_show(live) -> None:
    env, url = live
    bank = env.add_bank()
    with BankClient(url, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed) as client:
        for i in range(4):
            assert client.submit(confirmation(f"REFX-{i}", id_number=f"ZX900{i}")).status_code == 201
    with httpx.Client(base_url=url) as http:
        assert http.get("/v1/transparency/sth").json()["error"]["code"] == "no_signed_head"
        with env.db.transaction() as session:
            signed = heads.sign(session, LOG_KEY, now=dt.datetime.now(dt.UTC))
            assert signed is not None
        sth = http.get("/v1/transparency/sth").json()
        size = sth["tree_size"]
        listed = http.get("/v1/transparency/heads", params={"after": 0}).json()["heads"]
        assert listed == [sth]
        root = b64d(sth["sha256_root_hash"])
        public_key = b64d(http.get("/v1/transparency/key").json()["public_key"])
        assert sth["key_id"] == hashlib.sha256(public_key).hexdigest()
        assert merkle.verify_tree_head(
            public_key, sth["timestamp"], size, root, b64d(sth["tree_head_signature"])
        )

        got = http.get("/v1/transparency/entries", params={"start": 1, "end": size + 50}).json()["entries"]
        assert [e["seq"] for e in got] == list(range(1, size + 1))
        data = [b64d(e["leaf_input"]) for e in got]
        assert all(json.loads(d) == e["entry"] for d, e in zip(data, got, strict=True))
        blob = b"".join(data).decode()
        assert (
            "ZX900" not in blob and bank.api_key not in blob and "REFX-" not in blob
        )  # no id number, key or reference
        assert merkle.root(merkle.from_mapping(merkle.build(data)[0]), size) == root

        for seq in (1, size // 2, size):
            proof = http.get("/v1/transparency/proof", params={"seq": seq, "tree_size": size}).json()
            assert proof["leaf_index"] == seq - 1
            path = [b64d(h) for h in proof["audit_path"]]
            assert merkle.verify_inclusion(seq - 1, size, merkle.leaf_hash(data[seq - 1]), path, root)
        for first in (1, 3, size - 1):
            proof = http.get(
                "/v1/transparency/sth/consistency", params={"first": first, "second": size}
            ).json()
            first_root = merkle.root(merkle.from_mapping(merkle.build(data[:first])[0]), first)
            assert merkle.verify_consistency(
                first, size, first_root, root, [b64d(h) for h in proof["consistency"]]
            )

        refusals = {
            ("/v1/transparency/proof", (("seq", size + 1), ("tree_size", size + 1))): (400, "beyond_log"),
            ("/v1/transparency/proof", (("seq", 5), ("tree_size", 4))): (400, "bad_range"),
            ("/v1/transparency/proof", (("seq", 0), ("tree_size", 4))): (422, "validation_error"),
            ("/v1/transparency/sth/consistency", (("first", 5), ("second", 4))): (400, "bad_range"),
            ("/v1/transparency/sth/consistency", (("first", 1), ("second", size + 1))): (400, "beyond_log"),
            ("/v1/transparency/sth/consistency", (("first", "x"), ("second", 1))): (422, "validation_error"),
            ("/v1/transparency/entries", (("start", 3), ("end", 2))): (400, "bad_range"),
            ("/v1/transparency/entries", (("start", size + 1), ("end", size + 9))): (400, "beyond_log"),
            ("/v1/transparency/entries", (("start", 1), ("end", 2**70))): (422, "validation_error"),
        }
        for (path, params), (status, code) in refusals.items():
            answer = http.get(path, params=dict(params))
            assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (path, params)
        assert (
            len(http.get("/v1/transparency/entries", params={"start": 1, "end": 5000}).json()["entries"])
            == size
        )


def test_lookup_names_the_entries_of_a_deposit_id(live) -> None:
    env, url = live
    ids = ["0x" + f"{n:064x}" for n in (1, 2, 0xABC)]
    with env.db.transaction() as session:
        for i, deposit_id in enumerate([ids[0], ids[1], ids[0], ids[2], ids[0]]):
            audit.record(session, "deposit.test", "bank:hsbc", {"deposit_id": deposit_id, "status": f"s{i}"})
        audit.record(session, "other.test", "bank:hsbc", {"reference": ids[1]})  # private: not found
        heads.sign(session, LOG_KEY, now=dt.datetime.now(dt.UTC))
    with httpx.Client(base_url=url) as http:
        answer = http.get("/v1/transparency/lookup", params={"deposit_id": ids[0]}).json()
        assert answer == {"deposit_id": ids[0], "seqs": [1, 3, 5]}
        upper = "0x" + ids[2][2:].upper()
        assert http.get("/v1/transparency/lookup", params={"deposit_id": upper}).json()["seqs"] == [4]
        assert http.get("/v1/transparency/lookup", params={"deposit_id": ids[1]}).json()["seqs"] == [2]
        unknown = "0x" + "ee" * 32
        assert http.get("/v1/transparency/lookup", params={"deposit_id": unknown}).json()["seqs"] == []
        for bad in ("0x12", "ab" * 32, "0x" + "g" * 64, "0x" + "a" * 65, "%", None):
            params = {} if bad is None else {"deposit_id": bad}
            answer = http.get("/v1/transparency/lookup", params=params)
            assert (answer.status_code, answer.json()["error"]["code"]) == (422, "validation_error"), bad
        key = http.get("/v1/transparency/key").json()
        assert key["key_id"] == LOG_KEY.key_id and key["token_address"] is None  # no token configured


def test_migration_builds_the_tree_of_an_existing_log(tmp_path) -> None:
    """A database at revision 0004 with audit entries, upgraded: every entry gets its leaf, the
    tree verifies, and the entries naming a deposit id are in the lookup index (0007)."""
    import sqlalchemy as sa

    from service.db import Database, upgrade
    from svc_support import make_settings

    url = f"sqlite:///{tmp_path / 'old.db'}"
    settings = make_settings(url)
    engine = sa.create_engine(url)
    upgrade(engine, "0004")
    prev = "0" * 64
    with engine.begin() as connection:
        for seq in range(1, 38):
            fields: dict = {"amount_cents": seq, "reason": "x"}
            if seq % 5 == 0:
                fields["deposit_id"] = f"0x{seq:064X}"
            payload = json.dumps(fields, separators=(",", ":"), sort_keys=True)
            digest = audit.repository.entry_hash(
                prev, seq, "2026-01-01T00:00:00.000000Z", "old.kind", "minter", json.loads(payload)
            )
            connection.execute(
                text(
                    "INSERT INTO audit_log (seq, created_at, kind, actor, payload, prev_hash, hash) VALUES (:s, :t, :k, :a, :p, :ph, :h)"
                ),
                {
                    "s": seq,
                    "t": "2026-01-01T00:00:00.000000Z",
                    "k": "old.kind",
                    "a": "minter",
                    "p": payload,
                    "ph": prev,
                    "h": digest,
                },
            )
            prev = digest
        connection.execute(text("UPDATE audit_head SET seq = 37, hash = :h"), {"h": prev})
    upgrade(engine)
    engine.dispose()
    db = Database.from_settings(settings)
    with db.reading() as session:
        assert audit.verify(session).ok
        check = tree.verify(session)
        assert check.ok and check.checked == 37
        indexed = session.execute(
            select(AuditEntry.seq, AuditEntry.deposit_id).where(AuditEntry.deposit_id.is_not(None))
        ).all()
        assert indexed == [(seq, f"0x{seq:064x}") for seq in range(5, 38, 5)]
    fill_env = type("E", (), {"db": db})()
    fill(fill_env, 2)  # appends go on from the migrated frontier
    with db.reading() as session:
        assert tree.verify(session).ok and tree.size(session) == 37 + 1 + 2
    db.dispose()


def test_cli_audit_verify_checks_the_tree(env) -> None:
    from click.testing import CliRunner

    from svc_support import server_env

    fill(env, 5)
    runner = CliRunner()
    result = runner.invoke(cli, ["audit", "verify", "--json"], env=server_env(env.settings))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["chain"]["ok"] and body["tree"]["ok"] and body["tree"]["checked"] == body["chain"]["checked"]
    with env.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_tree SET hash = :h WHERE level = 0 AND idx = 2"), {"h": "ab" * 32}
        )
    result = runner.invoke(cli, ["audit", "verify", "--json"], env=server_env(env.settings))
    assert result.exit_code == 1
    assert json.loads(result.stdout)["tree"]["first_bad_seq"] == 3
