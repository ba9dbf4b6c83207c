"""`ushk attestor run` as its own process (`python -m service attestor run`) on anvil, with the
bank keys `ushk attestor pin-keys` wrote: it attests what the banks signed, ticks again when the
reserves change, and stops cleanly on SIGTERM. The keys stay apart: the workers (and `ushk
serve` with workers) refuse the attestor's key beside the minter's, the attestor the minter's."""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from attestor_support import post_statement as post
from chain_support import UNITS_PER_USD, audit_kinds
from service.cli import cli
from service.reserves.independent import PinnedKeys
from svc_support import REPO, accept, server_env
from wait_support import stop_process, wait_exit, wait_for

USD = UNITS_PER_USD


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_env(request):
    return request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")


def chain_env(env, deployed, **extra: str) -> dict[str, str]:
    variables = server_env(env.settings)
    variables.update(
        USHK_RPC_URL=deployed.rpc_url,
        USHK_TOKEN_ADDRESS=deployed.token_address,
        USHK_LOG_LEVEL="INFO",
        **extra,
    )
    return variables


def pin(env, deployed, path) -> dict[str, str]:
    variables = chain_env(env, deployed, USHK_ATTESTOR_BANK_KEYS_FILE=str(path))
    result = CliRunner().invoke(cli, ["attestor", "pin-keys"], env=variables)
    assert result.exit_code == 0, result.output
    return variables


def test_the_attestor_process_attests_and_stops_on_sigterm(db_env, deployed, tmp_path):
    env = db_env
    bank = env.add_bank("hsbc")
    accept(env, bank, 2, amount="100.00")
    post(env, bank, "S1", "200.00", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    keys = tmp_path / "bank-keys.json"
    variables = pin(env, deployed, keys)
    assert set(PinnedKeys.load(keys).banks) == {"hsbc"} and bank.key_id in PinnedKeys.load(keys).banks["hsbc"]
    variables.update(
        USHK_ATTESTOR_PRIVATE_KEY=deployed.attestor.private_key,
        USHK_ATTESTOR_POLL_SECONDS="0.2",
        USHK_ATTEST_MIN_INTERVAL_SECONDS="0",
    )
    token = deployed.token()
    log = open(tmp_path / "attestor.log", "w")  # noqa: SIM115 - the process's output
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "attestor", "run"],
        env=variables,
        cwd=str(REPO),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for("the first attestation", lambda: token.reserve_attestation().amount == 200 * USD, 60)
        post(env, bank, "S2", "150.00", dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        wait_for("the lowered attestation", lambda: token.reserve_attestation().amount == 150 * USD, 60)
        process.send_signal(signal.SIGTERM)
        assert wait_exit(process, 30, "the attestor") == 0
    finally:
        stop_process(process)
        log.close()
    output = (tmp_path / "attestor.log").read_text()
    assert "attestor stopped" in output, output
    assert "reserves.attested" in audit_kinds(env)


def test_the_attestor_refuses_the_minter_key_and_needs_its_pinned_keys(env, deployed, tmp_path):
    variables = chain_env(
        env,
        deployed,
        USHK_ATTESTOR_PRIVATE_KEY=deployed.attestor.private_key,
        USHK_MINTER_PRIVATE_KEY=deployed.minter.private_key,
        USHK_ATTESTOR_BANK_KEYS_FILE=str(tmp_path / "none.json"),
    )
    result = CliRunner().invoke(cli, ["attestor", "run"], env=variables)
    assert result.exit_code == 1 and "USHK_MINTER_PRIVATE_KEY is set" in result.output
    del variables["USHK_MINTER_PRIVATE_KEY"]
    result = CliRunner().invoke(cli, ["attestor", "run"], env=variables)
    assert result.exit_code == 1 and "cannot read the pinned bank keys" in result.output


def test_the_workers_refuse_the_attestor_key_beside_the_minter_key(env, deployed):
    variables = chain_env(
        env,
        deployed,
        USHK_MINTER_PRIVATE_KEY=deployed.minter.private_key,
        USHK_ATTESTOR_PRIVATE_KEY=deployed.attestor.private_key,
        USHK_MINTER_ENABLED="true",
    )
    process = subprocess.run(
        [sys.executable, "-m", "service", "workers", "run"],
        env=variables,
        cwd=str(REPO),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 1
    assert "USHK_ATTESTOR_PRIVATE_KEY is set beside USHK_MINTER_PRIVATE_KEY" in process.stderr
    # whatever is enabled: a host with both keys could attest and mint
    variables["USHK_MINTER_ENABLED"] = "false"
    variables["USHK_RECONCILER_ENABLED"] = "true"
    result = CliRunner().invoke(cli, ["workers", "run"], env=variables)
    assert result.exit_code == 1 and "belongs to `ushk attestor run` alone" in result.output
    # nor does the minter run alone with both
    result = CliRunner().invoke(cli, ["minter", "run"], env=variables)
    assert result.exit_code == 1 and "belongs to `ushk attestor run` alone" in result.output
