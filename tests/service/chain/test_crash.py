"""The service SIGKILLed mid-batch and restarted: chain and database agree, nothing is minted
twice, nothing is lost. Real `python -m service serve` processes, a real database file, anvil.

Two ways to die mid-batch: at each of the minter's own failpoints (`USHK_MINTER_CRASH_AT`: the
process kills itself at that step), and killed from outside at a step seen in the database and
on the chain: the test stops the process (SIGSTOP) again and again until what it left is the
step it means to interrupt, then SIGKILLs it there. Either way the test checks, after the kill,
that the batch was left at that step (`chain_support.assert_died_mid_batch`), then that a
restarted service mints every deposit exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from chain_support import (
    MINTER_STEPS,
    assert_chain_matches,
    assert_died_mid_batch,
    deposit,
    deposits_of,
    last_batch_id,
    mid_batch_problem,
)
from service.chain.token import load_account
from service.deposits.models import MintBatch
from service.models import Deposit
from svc_support import REPO, free_port, server_env, wait_healthy
from wait_support import stop_process, wait_exit, wait_for

DEPOSITS = 24


def _chain_env(env, deployed, **extra) -> dict[str, str]:
    variables = server_env(env.settings)
    variables.update(
        USHK_RPC_URL=deployed.rpc_url,
        USHK_TOKEN_ADDRESS=deployed.token_address,
        USHK_DEPLOYMENT_FILE=str(REPO / "var" / "no-such-deployment.json"),
        USHK_MINTER_PRIVATE_KEY=deployed.minter.private_key,
        USHK_MINTER_ENABLED="true",
        USHK_MINTER_BATCH_SIZE="5",
        USHK_MINTER_POLL_SECONDS="0.05",
    )
    variables.update(extra)
    return variables


def _attest_ahead(deployed) -> None:
    """An attestation far above what the test mints, as the attestor's own process (`ushk
    attestor run`, tested in tests/service/reserves/test_attestor_process.py) would make: the
    service holds no attestor key, so its minter mints what the chain's attestation covers."""
    token = deployed.token()
    token.transact(
        load_account(deployed.attestor.private_key), "attestReserves", 10**9 * 10**6, bytes(32), bytes(32)
    )


def _serve(variables: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--no-migrate", "--port", str(port)],
        env=variables,
        cwd=str(REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


def _settled(env) -> list[Deposit] | None:
    deposits = deposits_of(env)
    return deposits if all(d.status in ("minted", "rejected") for d in deposits) else None


def _wait_all_settled(env, timeout: float = 60) -> list[Deposit]:
    return wait_for(
        "every deposit minted or rejected",
        lambda: _settled(env),
        timeout,
        interval=0.1,
        details=lambda: f"statuses: {[d.status for d in deposits_of(env)]}",
    )


def _accept(bank_fixture, deployed, count: int = DEPOSITS) -> None:
    _env, client = bank_fixture
    for i in range(count):
        deposit(client, deployed.holders[i % len(deployed.holders)].address, f"{10 + i}.00")


@pytest.mark.parametrize("crash_at", ["claimed", "recorded", "sent", "mined"])
def test_serviceKilledAtEachMinterStep_restartMintsEveryDepositExactlyOnce(crash_at, bank, deployed):
    env, _client = bank
    _attest_ahead(deployed)
    _accept(bank, deployed)
    crashing, _url = _serve(_chain_env(env, deployed, USHK_MINTER_CRASH_AT=crash_at))
    try:
        assert wait_exit(crashing, 60, f"the service with the failpoint {crash_at}") == -signal.SIGKILL
    finally:
        stop_process(crashing)
    token = deployed.token()
    assert_died_mid_batch(crash_at, env, token)  # it really died mid-batch, at that step
    with env.db.reading() as session:
        sent = session.scalars(
            select(MintBatch).where(MintBatch.status == "sent").order_by(MintBatch.id)
        ).all()
    if crash_at in ("sent", "mined"):
        # the batch reached the chain before the crash: its transaction is mined (on a
        # block-time chain perhaps only after the process died) and supply went up
        assert token.wait_receipt(sent[0].tx_hash, timeout=30).status == 1
        assert token.total_supply() > 0
    if crash_at == "mined":
        # on a backlog the next batch was sent before the first one's receipt: two open batches
        assert len(sent) == 2 and sent[1].nonce == sent[0].nonce + 1

    restarted, url = _serve(_chain_env(env, deployed))
    try:
        wait_healthy(url, restarted)
        deposits = _wait_all_settled(env)
    finally:
        stop_process(restarted)
    assert [d.status for d in deposits] == ["minted"] * DEPOSITS
    assert_chain_matches(env, deployed, token)
    assert token.total_supply() == sum(d.amount_cents * 10_000 for d in deposits)


def _kill_at(process: subprocess.Popen, step: str, env, token, *, after: int, timeout: float = 60) -> int:
    """SIGKILLs `process` when a batch it claimed (id above `after`) is at `step`: stops it
    (SIGSTOP) every few milliseconds and reads the database and the chain while it stands still,
    lets it go on (SIGCONT) until they hold that step, then kills it there. Returns how many
    times it was stopped."""
    stops = 0
    deadline = time.monotonic() + timeout
    problem = "not stopped yet"
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the service exited ({process.returncode}) before {step}"
        process.send_signal(signal.SIGSTOP)
        stops += 1
        # the signal is delivered asynchronously: look only once the process stands still
        wait_for("the service stopped by SIGSTOP", lambda: _stopped(process.pid), timeout=10, interval=0.0005)
        problem = mid_batch_problem(step, env, token, after=after)
        if problem is None:
            process.send_signal(signal.SIGKILL)
            assert wait_exit(process, 30, "the SIGKILLed service") == -signal.SIGKILL
            return stops
        process.send_signal(signal.SIGCONT)
        time.sleep(0.002)  # let it run a little before the next look: this is the sampling
    raise AssertionError(
        f"the service never stood at {step} ({MINTER_STEPS[step]}) in {timeout:g}s "
        f"of {stops} stops; last seen: {problem}"
    )


def _stopped(pid: int) -> bool:
    """Whether the process is in the stopped state ("T" in /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] == "T"


def _minted_count(env) -> int:
    with env.db.reading() as session:
        return session.scalar(select(func.count()).select_from(Deposit).where(Deposit.status == "minted"))


@pytest.mark.blocktime
def test_serviceKilledFromOutsideMidBatch_nothingLostNothingTwice(bank, deployed):
    env, _client = bank
    token = deployed.token()
    _attest_ahead(deployed)
    kills = []
    for step in ("claimed", "sent", "mined"):
        _accept(bank, deployed, DEPOSITS // 3)  # fresh work for each run, beside what the last one left
        # what the previous run left open is not this run's: only batches it claims count
        before = last_batch_id(env)
        process, _url = _serve(_chain_env(env, deployed, USHK_MINTER_BATCH_SIZE="3"))
        try:
            stops = _kill_at(process, step, env, token, after=before)
        finally:
            stop_process(process)
        assert_died_mid_batch(step, env, token, after=before)  # again, from outside the dead process
        kills.append((step, stops, _minted_count(env)))
    print(f"\nkilled at (step, stops it took, deposits minted by then): {kills}")
    restarted, url = _serve(_chain_env(env, deployed))
    try:
        wait_healthy(url, restarted)
        deposits = _wait_all_settled(env)
    finally:
        stop_process(restarted)
    assert len(deposits) == DEPOSITS // 3 * 3, kills
    assert [d.status for d in deposits] == ["minted"] * len(deposits), kills
    assert_chain_matches(env, deployed, token)  # one Minted event per deposit id
    assert token.total_supply() == sum(d.amount_cents * 10_000 for d in deposits)
    assert len(token.minted_events(deployed.from_block)) == len(deposits)
