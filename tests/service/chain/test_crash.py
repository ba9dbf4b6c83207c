"""The service SIGKILLed mid-batch and restarted: chain and database agree, nothing is minted
twice, nothing is lost. Real `python -m service serve` processes, a real database file, anvil."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from chain_support import assert_chain_matches, deposit, deposits_of
from service.deposits.models import MintBatch
from service.models import Deposit
from svc_support import REPO, free_port, server_env, wait_healthy

DEPOSITS = 24


def _chain_env(env, deployed, **extra) -> dict[str, str]:
    variables = server_env(env.settings)
    variables.update(
        USHK_RPC_URL=deployed.rpc_url,
        USHK_TOKEN_ADDRESS=deployed.token_address,
        USHK_DEPLOYMENT_FILE=str(REPO / "var" / "no-such-deployment.json"),
        USHK_MINTER_PRIVATE_KEY=deployed.minter.private_key,
        USHK_ATTESTOR_PRIVATE_KEY=deployed.attestor.private_key,
        USHK_MINTER_ENABLED="true",
        USHK_MINTER_BATCH_SIZE="5",
        USHK_MINTER_POLL_SECONDS="0.05",
    )
    variables.update(extra)
    return variables


def _serve(variables: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--no-migrate", "--port", str(port)],
        env=variables,
        cwd=str(REPO),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return process, f"http://127.0.0.1:{port}"


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_all_settled(env, timeout: float = 60) -> list[Deposit]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deposits = deposits_of(env)
        if all(d.status in ("minted", "rejected") for d in deposits):
            return deposits
        time.sleep(0.1)
    raise AssertionError(f"not settled: {[d.status for d in deposits_of(env)]}")


def _accept(bank_fixture, deployed) -> None:
    _env, client = bank_fixture
    for i in range(DEPOSITS):
        deposit(client, deployed.holders[i % len(deployed.holders)].address, f"{10 + i}.00")


@pytest.mark.parametrize("crash_at", ["claimed", "recorded", "sent", "mined"])
def test_serviceKilledAtEachMinterStep_restartMintsEveryDepositExactlyOnce(crash_at, bank, deployed):
    env, _client = bank
    _accept(bank, deployed)
    crashing, _url = _serve(_chain_env(env, deployed, USHK_MINTER_CRASH_AT=crash_at))
    try:
        assert crashing.wait(timeout=60) == -signal.SIGKILL
    finally:
        _stop(crashing)
    statuses = [d.status for d in deposits_of(env)]
    assert "minting" in statuses  # it really died mid-batch
    token = deployed.token()
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
        _stop(restarted)
    assert [d.status for d in deposits] == ["minted"] * DEPOSITS
    assert_chain_matches(env, deployed, token)
    assert token.total_supply() == sum(d.amount_cents * 10_000 for d in deposits)


def test_serviceKilledAtRandomMomentsWhileMinting_nothingLostNothingTwice(bank, deployed):
    env, _client = bank
    _accept(bank, deployed)
    for delay in (0.4, 0.7, 1.0):
        process, _url = _serve(_chain_env(env, deployed, USHK_MINTER_BATCH_SIZE="3"))
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
    restarted, url = _serve(_chain_env(env, deployed))
    try:
        wait_healthy(url, restarted)
        deposits = _wait_all_settled(env)
    finally:
        _stop(restarted)
    assert [d.status for d in deposits] == ["minted"] * DEPOSITS
    assert_chain_matches(env, deployed, deployed.token())
    with env.db.reading() as session:
        assert session.scalar(select(Deposit).where(Deposit.status == "minting")) is None
