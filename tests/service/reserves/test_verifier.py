"""`ushk verify` against a live service and the token on a real anvil (automine and block
times): an honest log passes every check and is recorded; the next run proves the grown log
consistent with it; a rewritten history, a forged or foreign head, a wrong figure on chain and an
unknown entry each fail the check they concern; network errors are failed checks; and it runs in
a process without any USHK_ setting."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from chain_support import deposit
from reserve_support import rewrite_consistently
from service import merkle
from service.audit import heads
from service.audit.heads import LogKey
from service.chain.token import load_account
from service.cli import cli
from service.reserves.anchor import LogPublisher
from svc_support import REPO, free_port

pytestmark = pytest.mark.blocktime

KEY = LogKey.from_hex("42" * 32)
OTHER_KEY = LogKey.from_hex("77" * 32)
KEY_B64 = base64.b64encode(KEY.public_bytes).decode()


def publisher_for(env, deployed) -> LogPublisher:
    return LogPublisher(
        env.db, KEY, token=deployed.token(), signer=load_account(deployed.attestor.private_key)
    )


def no_ushk_env() -> dict[str, str | None]:
    """CliRunner's env: every USHK_ variable of this process unset."""
    return {k: None for k in os.environ if k.startswith("USHK_")}


def run_verify(url, deployed, state, *args: str, token: bool = True) -> tuple[int, dict]:
    command = ["verify", "--service", url, "--rpc-url", deployed.rpc_url, "--state", str(state), "--json"]
    if token:
        command += ["--token", deployed.token_address]
    result = CliRunner().invoke(cli, [*command, *args], env=no_ushk_env())
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, json.loads(result.stdout)


def checks(body: dict) -> dict[str, dict]:
    return {c["name"]: c for c in body["checks"]}


def failed(body: dict) -> set[str]:
    return {c["name"] for c in body["checks"] if not c["ok"]}


def deposit_ids(env) -> list[str]:
    """The deposit ids of the log's accepted deposits, in order."""
    with env.db.reading() as session:
        payloads = session.scalars(
            text("SELECT payload FROM audit_log WHERE kind = 'deposit.accepted' ORDER BY seq")
        )
        return [json.loads(p)["deposit_id"] for p in payloads]


def resign(env, key: LogKey = KEY, now: dt.datetime | None = None) -> None:
    """What an operator who controls the database could do: forget every signed head and sign
    the log as it is now."""
    with env.db.transaction() as session:
        session.execute(text("DELETE FROM audit_tree_heads"))
    with env.db.transaction() as session:
        assert heads.sign(session, key, now=now or dt.datetime.now(dt.UTC)) is not None


def anchor_directly(deployed, size: int, root: bytes) -> None:
    """anchorAuditLog from the ANCHOR_ROLE account, behind the service's back."""
    deployed.token().transact(load_account(deployed.attestor.private_key), "anchorAuditLog", size, root)


def test_anHonestLog_passesEveryCheck_andTheNextRunProvesItGrewByAppending(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    state = tmp_path / "state.json"
    deposit(client, deployed.holders[0].address, "12.00")
    publisher_for(env, deployed).anchor()
    [deposit_id] = deposit_ids(env)

    code, body = run_verify(url, deployed, state, "--seq", "1", "--seq", "2", "--deposit-id", deposit_id)
    assert code == 0 and body["ok"] and not failed(body), body
    named = checks(body)
    assert set(named) == {
        "signature",
        "consistency",
        "anchor",
        "snapshot",
        "inclusion seq 1",
        "inclusion seq 2",
        f"deposit {deposit_id}",
    }
    assert "no snapshot published yet" in named["snapshot"]["reason"]  # tests/.../test_verifier_snapshot.py
    assert "trusted on first use" in named["signature"]["reason"]
    assert "nothing to compare" in named["consistency"]["reason"]
    assert "is the signed head" in named["anchor"]["reason"]
    assert body["state"] == {"path": str(state), "written": True, "trusted_on_first_use": True}
    first_size = body["head"]["tree_size"]
    [record] = json.loads(state.read_text())["logs"].values()
    assert record["log_key"] == KEY_B64 and record["tree_size"] == first_size
    assert record["token"] == deployed.token_address

    deposit(client, deployed.holders[1].address, "3.00")
    publisher_for(env, deployed).anchor()
    deposit(client, deployed.holders[2].address, "4.00")
    publisher_for(env, deployed).sign_head()  # the signed head now ahead of the anchored one
    code, body = run_verify(url, deployed, state, "--anchors-from", str(deployed.from_block), token=False)
    assert code == 0 and body["ok"], body
    named = checks(body)
    assert "pinned in" in named["signature"]["reason"] and not body["state"]["trusted_on_first_use"]
    assert f"of size {first_size}, is a prefix of the signed head" in named["consistency"]["reason"]
    assert "is a prefix of the signed head" in named["anchor"]["reason"]
    assert "AuditLogAnchored events since block" in named["anchor"]["reason"]
    assert body["token_source"].startswith("recorded in")
    assert (
        json.loads(state.read_text())["logs"][body["service"]]["tree_size"]
        == body["head"]["tree_size"]
        > first_size
    )


def test_theTokenNamedByTheService_isUsedWhenNoneIsGiven(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    deposit(client, deployed.holders[0].address, "1.00")
    publisher_for(env, deployed).anchor()
    code, body = run_verify(url, deployed, tmp_path / "s.json", token=False)
    assert code == 1 and failed(body) == {"anchor"} and "pass --token" in checks(body)["anchor"]["reason"]
    env.settings.token_address = deployed.token_address  # the settings the live app serves
    code, body = run_verify(url, deployed, tmp_path / "s.json", token=False)
    assert code == 0, body
    assert body["token"] == deployed.token_address and "named by the service" in body["token_source"]


def test_aRewrittenHistory_failsTheConsistencyWithTheLastRun_andTheAnchor(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    state = tmp_path / "state.json"
    deposit(client, deployed.holders[0].address, "250.00")
    publisher_for(env, deployed).anchor()
    code, body = run_verify(url, deployed, state)
    assert code == 0, body
    recorded = state.read_text()
    with env.db.reading() as session:
        seq = session.execute(
            text("SELECT max(seq) FROM audit_log WHERE kind = 'deposit.accepted'")
        ).scalar_one()
    rewrite_consistently(env, seq, "amount_cents", 2_500)
    deposit(client, deployed.holders[1].address, "1.00")  # the log grows on the rewritten history
    resign(env)  # and its heads are signed again, with the service's own key

    code, body = run_verify(url, deployed, state, "--seq", str(seq))
    assert code == 1 and failed(body) == {"consistency", "anchor"}, body
    named = checks(body)
    assert named["signature"]["ok"]
    assert "history rewritten" in named["consistency"]["reason"]
    assert "history rewritten" in named["anchor"]["reason"]
    assert named[f"inclusion seq {seq}"]["ok"]  # the rewritten entry is in the rewritten tree
    assert not body["state"]["written"] and state.read_text() == recorded


def test_aRewriteToTheSameSize_failsOnTheRoot(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    state = tmp_path / "state.json"
    deposit(client, deployed.holders[0].address, "250.00")
    publisher_for(env, deployed).anchor()
    assert run_verify(url, deployed, state)[0] == 0
    with env.db.reading() as session:
        seq = session.execute(
            text("SELECT max(seq) FROM audit_log WHERE kind = 'deposit.accepted'")
        ).scalar_one()
    rewrite_consistently(env, seq, "amount_cents", 2_500)
    resign(env)
    code, body = run_verify(url, deployed, state)
    assert code == 1 and failed(body) == {"consistency", "anchor"}, body
    assert "the signed head of the same size" in checks(body)["consistency"]["reason"]


def test_aHeadDatedBeforeTheLastVerified_failsTheConsistency(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    state = tmp_path / "state.json"
    deposit(client, deployed.holders[0].address, "5.00")
    publisher_for(env, deployed).anchor()
    assert run_verify(url, deployed, state)[0] == 0
    deposit(client, deployed.holders[1].address, "6.00")
    resign(env, now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    code, body = run_verify(url, deployed, state)
    assert code == 1 and failed(body) == {"consistency"}, body
    assert "timestamps never go back" in checks(body)["consistency"]["reason"]


def test_aForgedSignature_failsTheSignatureCheck(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    deposit(client, deployed.holders[0].address, "5.00")
    publisher_for(env, deployed).anchor()
    with env.db.transaction() as session:
        signature = (
            session.execute(text("SELECT signature FROM audit_tree_heads ORDER BY tree_size DESC"))
            .scalars()
            .first()
        )
        forged = ("0" if signature[0] != "0" else "1") + signature[1:]
        session.execute(
            text("UPDATE audit_tree_heads SET signature = :s WHERE signature = :o"),
            {"s": forged, "o": signature},
        )
    state = tmp_path / "state.json"
    code, body = run_verify(url, deployed, state, "--log-key", KEY_B64)
    assert code == 1 and failed(body) == {"signature"}, body
    assert "does not verify under key id" in checks(body)["signature"]["reason"]
    assert not state.exists()


def test_aHeadSignedByAnotherKey_failsAgainstThePinnedKey(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    state = tmp_path / "state.json"
    deposit(client, deployed.holders[0].address, "5.00")
    publisher_for(env, deployed).anchor()
    assert run_verify(url, deployed, state)[0] == 0  # the key trusted on first use, recorded
    deposit(client, deployed.holders[1].address, "6.00")
    resign(env, OTHER_KEY)
    code, body = run_verify(url, deployed, state)
    assert code == 1 and failed(body) == {"signature"}, body
    reason = checks(body)["signature"]["reason"]
    assert f"signed by key id {OTHER_KEY.key_id}, not by the pinned key {KEY.key_id}" in reason
    # the same with the key given on the command line, and no state
    code, body = run_verify(url, deployed, tmp_path / "fresh.json", "--log-key", KEY_B64)
    assert code == 1 and failed(body) == {"signature"}, body


@pytest.mark.parametrize("larger", [False, True], ids=["same-size", "larger-size"])
def test_anotherRootOnChain_failsTheAnchorCheck(bank, live, deployed, tmp_path, larger):
    env, client = bank
    _, url = live
    deposit(client, deployed.holders[0].address, "7.00")
    head = publisher_for(env, deployed).sign_head()
    assert head is not None
    anchor_directly(deployed, head.tree_size + (5 if larger else 0), b"\x13" * 32)
    code, body = run_verify(url, deployed, tmp_path / "state.json")
    assert code == 1 and failed(body) == {"anchor"}, body
    reason = checks(body)["anchor"]["reason"]
    if larger:
        assert f"has size {head.tree_size + 5}, the signed head only {head.tree_size}" in reason
    else:
        assert "the signed head of the same size" in reason


def test_aWrongAnchorInTheHistory_isFoundByAnchorsFrom(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    deposit(client, deployed.holders[0].address, "7.00")
    head = publisher_for(env, deployed).sign_head()
    assert head is not None
    anchor_directly(deployed, head.tree_size, b"\x13" * 32)
    deposit(client, deployed.holders[1].address, "8.00")
    publisher_for(env, deployed).anchor()  # the latest anchor is right
    assert run_verify(url, deployed, tmp_path / "a.json")[0] == 0
    code, body = run_verify(url, deployed, tmp_path / "b.json", "--anchors-from", str(deployed.from_block))
    assert code == 1 and failed(body) == {"anchor"}, body
    assert "the anchor of block" in checks(body)["anchor"]["reason"]


def test_anUnknownSeqOrDeposit_failsTheInclusionCheck(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    deposit(client, deployed.holders[0].address, "9.00")
    publisher_for(env, deployed).anchor()
    unknown = "0x" + "ab" * 32
    code, body = run_verify(
        url,
        deployed,
        tmp_path / "state.json",
        "--seq",
        "1",
        "--seq",
        "1000000",
        "--deposit-id",
        unknown,
        "--deposit-id",
        "0x12",
    )
    assert code == 1 and failed(body) == {"inclusion seq 1000000", f"deposit {unknown}", "deposit 0x12"}, body
    named = checks(body)
    assert "seq 1000000 is not in the signed head's tree of size" in named["inclusion seq 1000000"]["reason"]
    assert f"no entry about deposit {unknown}" in named[f"deposit {unknown}"]["reason"]
    assert "is not a deposit id" in named["deposit 0x12"]["reason"]
    assert not (tmp_path / "state.json").exists()


def test_networkErrors_areFailedChecks_withoutATraceback(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    deposit(client, deployed.holders[0].address, "9.00")
    publisher_for(env, deployed).anchor()
    nowhere = f"http://127.0.0.1:{free_port()}"
    code, body = run_verify(nowhere, deployed, tmp_path / "state.json", "--seq", "1")
    assert code == 1 and failed(body) == {"signature", "consistency", "anchor", "snapshot", "inclusion seq 1"}
    assert all("ConnectError" in c["reason"] for c in body["checks"])
    result = CliRunner(mix_stderr=False).invoke(
        cli,
        [
            "verify",
            "--service",
            url,
            "--rpc-url",
            nowhere,
            "--token",
            deployed.token_address,
            "--state",
            str(tmp_path / "s.json"),
        ],
    )
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert re.search(r"^anchor +FAILED +eth_blockNumber: ", result.stdout, re.M), result.stdout
    assert "verification FAILED: anchor" in result.stderr
    no_contract = "0x" + "00" * 19 + "01"
    code, body = run_verify(url, deployed, tmp_path / "s.json", "--token", no_contract, token=False)
    assert code == 1 and failed(body) == {"anchor"} and "auditLogAnchor()" in checks(body)["anchor"]["reason"]


def test_anUnreadableStateFile_failsAndIsLeftAlone(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    deposit(client, deployed.holders[0].address, "9.00")
    publisher_for(env, deployed).anchor()
    state = tmp_path / "state.json"
    state.write_text("{not json")
    code, body = run_verify(url, deployed, state)
    # without a pinned key the snapshot's signature cannot be checked either
    assert code == 1 and failed(body) == {"signature", "consistency", "snapshot"}, body
    assert (
        "is unreadable" in checks(body)["signature"]["reason"]
        and "pass --log-key" in checks(body)["signature"]["reason"]
    )
    assert state.read_text() == "{not json"


def test_runsInAProcessWithoutAnyUshkSetting(bank, live, deployed, tmp_path):
    env, client = bank
    _, url = live
    deposit(client, deployed.holders[0].address, "10.00")
    publisher_for(env, deployed).anchor()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("USHK_")}
    environment.update(HOME=str(tmp_path), PYTHONPATH=str(REPO))
    command = [sys.executable, "-m", "service", "verify", "--service", url, "--rpc-url", deployed.rpc_url]
    command += ["--token", deployed.token_address, "--seq", "1"]
    result = subprocess.run(
        command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^signature +ok +head of size", result.stdout, re.M), result.stdout
    assert (
        re.search(r"^inclusion seq 1 +ok ", result.stdout, re.M) and "trusted on first use" in result.stdout
    )
    state = tmp_path / ".ushk" / "verify-state.json"  # the default, under $HOME
    assert f"in {state}" in result.stdout and state.exists()
    assert json.loads(state.read_text())["logs"][url.rstrip("/")]["key_id"] == merkle.key_id(KEY.public_bytes)
