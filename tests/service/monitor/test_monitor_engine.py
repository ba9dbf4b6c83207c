"""The monitor's engine, store and findings log, without a chain: exactly-once commits, the
rebuilt rule state, proofs checked with service.merkle's verify functions, settings."""

from __future__ import annotations

import os
import stat

import pytest
from mon_support import EveryKind, EverySecond, obs

from service import merkle
from service.monitor.engine import Engine, MonitorSettings, SettingsError
from service.monitor.log import FindingsLog, KeyError_, load_key
from service.monitor.model import Draft, Observation, Severity, leaf_bytes
from service.monitor.store import Store


def test_engine_recordsEachObservationOnce_andReplayRebuildsState(any_store_url):
    store = Store(any_store_url)
    engine = Engine(store, [EveryKind(), EverySecond()])
    for n in range(1, 6):
        engine.process(obs(n), {"chain": {"block": n}})
    # the same observations again (a restart re-reading its range): nothing new
    for n in range(1, 6):
        assert engine.process(obs(n), {"chain": {"block": n}}) == []
    assert store.size() == 5 + 2
    assert store.cursor("chain") == {"block": 5}
    store.dispose()

    # a restart: fresh rules, state rebuilt from the recorded observations
    store = Store(any_store_url)
    second = EverySecond()
    engine = Engine(store, [EveryKind(), second])
    assert engine.replay() == 5
    assert second.seen == 5
    assert store.size() == 7  # replay appends nothing
    engine.process(obs(6))
    found = store.findings(limit=1000)
    keys = [f.finding["key"] for f in found]
    assert len(keys) == len(set(keys)) == 9
    counts = [f.finding["details"]["count"] for f in found if f.finding["rule"] == "test.second"]
    assert counts == [2, 4, 6]
    assert [f.seq for f in found] == list(range(9))
    store.dispose()


def test_record_isOneTransaction_aFailedCommitLeavesNothing(store, monkeypatch):
    engine = Engine(store, [EveryKind()])
    engine.process(obs(1), {"chain": {"block": 1}})

    def broken(*args, **kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(store, "_move", broken)
    with pytest.raises(RuntimeError):
        engine.process(obs(2), {"chain": {"block": 2}})
    monkeypatch.undo()
    assert store.size() == 1
    assert not store.has_observation("chain:2:0")
    assert store.cursor("chain") == {"block": 1}
    assert engine.process(obs(2), {"chain": {"block": 2}})  # processed again, once
    assert store.size() == 2


def test_findingsLog_proofsVerifyWithServiceMerkle(store, key):
    log = FindingsLog(store, key)
    engine = Engine(store, [EveryKind()])
    heads = []
    for n in range(1, 14):
        engine.process(obs(n))
        heads.append(log.sign_head(now_ms=1_700_000_000_000 + n))
    leaves = [leaf for _, leaf in store.leaves()]
    assert len(leaves) == 13
    for head in heads:
        assert merkle.verify_tree_head(
            log.public_key, head.timestamp, head.tree_size, head.root, head.signature
        )
        nodes, size = merkle.build(leaves[: head.tree_size])
        assert merkle.root(merkle.from_mapping(nodes), size) == head.root
        for seq in range(head.tree_size):
            path = log.inclusion(seq, head.tree_size)
            assert merkle.verify_inclusion(
                seq, head.tree_size, merkle.leaf_hash(leaves[seq]), path, head.root
            )
    for first in heads:
        for second in heads:
            if first.tree_size <= second.tree_size:
                proof = log.consistency(first.tree_size, second.tree_size)
                assert merkle.verify_consistency(
                    first.tree_size, second.tree_size, first.root, second.root, proof
                )
    # a leaf is the canonical JSON of the finding's public view (floats as strings)
    assert leaves[0] == leaf_bytes(engine_finding(store, 0))
    assert log.verify() == []
    # the same size signs no second, different head
    assert log.sign_head(now_ms=1) == heads[-1]


def engine_finding(store, seq):
    from service.monitor.model import finding_from_public

    return finding_from_public(store.findings(after=seq - 1, limit=1)[0].finding)


def test_verify_findsATamperedLeaf(store, key):
    from sqlalchemy import update

    from service.monitor.store import findings

    log = FindingsLog(store, key)
    engine = Engine(store, [EveryKind()])
    for n in range(1, 5):
        engine.process(obs(n))
    log.sign_head()
    with store.engine.begin() as c:
        c.execute(update(findings).where(findings.c.seq == 2).values(leaf=b'{"rule":"forged"}'))
    problems = log.verify()
    assert any("finding 2" in p for p in problems)
    assert any("tree node" in p for p in problems)


def test_floatsInDetails_areStoredAsDecimalStrings(store):
    engine = Engine(store, [EverySecond()])
    engine.process(obs(1))
    engine.process(obs(2))
    (item,) = store.findings()
    assert item.finding["details"] == {"count": 2, "ratio": "0.5"}


def test_settings_fromEnvironmentAndFlags():
    env = {
        "USHK_MONITOR_RPC_URL": "http://127.0.0.1:8545",
        "USHK_MONITOR_TOKEN_ADDRESS": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
        "USHK_MONITOR_DEPTH": "3",
    }
    settings = MonitorSettings.load(env, poll_seconds=0.5, service_url=None)
    assert settings.depth == 3
    assert settings.poll_seconds == 0.5
    assert settings.token_address == "0x5FbDB2315678afecb367f032d93F642f64180aa3"
    assert settings.database_url == "sqlite:///var/monitor.db"
    assert settings.service_url is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        (
            {"USHK_MONITOR_TOKEN_ADDRESS": "0x5fbdb2315678afecb367f032d93f642f64180aa3"},
            "rpc_url (USHK_MONITOR_RPC_URL)",
        ),
        ({"USHK_MONITOR_RPC_URL": "http://x", "USHK_MONITOR_TOKEN_ADDRESS": "0x12"}, "token_address"),
        (
            {
                "USHK_MONITOR_RPC_URL": "ftp://x",
                "USHK_MONITOR_TOKEN_ADDRESS": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
            },
            "rpc_url",
        ),
        (
            {
                "USHK_MONITOR_RPC_URL": "http://x",
                "USHK_MONITOR_TOKEN_ADDRESS": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
                "USHK_MONITOR_DEPTH": "-1",
            },
            "depth (USHK_MONITOR_DEPTH)",
        ),
        (
            {
                "USHK_MONITOR_RPC_URL": "http://x",
                "USHK_MONITOR_TOKEN_ADDRESS": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
                "USHK_MONITOR_WEBHOOK_URL": "http://hook",
            },
            "webhook_url and webhook_secret go together",
        ),
        (
            {
                "USHK_MONITOR_RPC_URL": "http://x",
                "USHK_MONITOR_TOKEN_ADDRESS": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
                "USHK_MONITOR_POLL_SECONDS": "often",
            },
            "poll_seconds (USHK_MONITOR_POLL_SECONDS)",
        ),
        (
            {
                "USHK_MONITOR_RPC_URL": "http://x",
                "USHK_MONITOR_TOKEN_ADDRESS": "0x5fbdb2315678afecb367f032d93f642f64180aa3",
                "USHK_MONITOR_LISTEN": "nowhere",
            },
            "listen (USHK_MONITOR_LISTEN)",
        ),
    ],
)
def test_settings_malformed_nameTheSetting(env, named):
    with pytest.raises(SettingsError) as caught:
        MonitorSettings.load(env)
    assert named in str(caught.value)


def test_key_isWrittenPrivate_andBadKeysAreNamed(tmp_path, key_file):
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    with pytest.raises(KeyError_, match="cannot be read"):
        load_key(tmp_path / "missing.key")
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    with pytest.raises(KeyError_, match="not a PEM private key"):
        load_key(bad)


def test_observationKinds_roundTripThroughTheStore(store):
    engine = Engine(store, [])
    o = Observation(source="clock", kind="tick", key="tick:5", time=5, fields={"time": 5})
    engine.process(o)
    assert [x for _, x in store.observations()] == [o]


class Twice:
    id, type = "test.twice", "test_twice"
    severity = Severity.low

    def observe(self, o):
        yield Draft(summary="one")
        yield Draft(summary="the same key again")


def test_duplicateFindingKeys_areNotAppendedTwice(store):
    engine = Engine(store, [Twice()])
    stored = engine.process(obs(1))
    assert [s.finding["summary"] for s in stored] == ["one"]
    assert store.append([engine_finding(store, 0)]) == []  # already recorded
    assert store.size() == 1


def test_sqliteStore_createsItsDirectory(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'new' / 'dir' / 'monitor.db'}")
    assert store.size() == 0 and (tmp_path / "new" / "dir" / "monitor.db").exists()
    store.dispose()
