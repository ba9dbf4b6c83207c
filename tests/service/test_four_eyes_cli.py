"""Four eyes from the command line: `ushk operator add --role`, `ushk approvals list|approve|reject|
expire`, and `ushk bank set-limits` / `ushk minting resume` making requests when the policy says
so (a policy file with four eyes on for both)."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from service.banks import service as banks
from service.cli import cli
from service.client import signed_request
from service.deposits.schemas import DepositRequest
from service.deposits.service import submit
from service.reserves import service as reserves
from svc_support import DEMO_POLICY, confirmation, make_env, server_env


@pytest.fixture
def cli_env(sqlite_url, tmp_path):
    policy = tmp_path / "policy.yaml"
    text = DEMO_POLICY.read_text()
    text = text.replace("minting_resume: false", "minting_resume: true").replace(
        "bank_limit_raise: false", "bank_limit_raise: true"
    )
    policy.write_text(text)
    env = make_env(sqlite_url, policy_file=policy)
    assert env.policy.four_eyes.minting_resume and env.policy.four_eyes.bank_limit_raise
    yield env
    env.db.dispose()


def run(env, *args):
    return CliRunner().invoke(cli, list(args), env=server_env(env.settings))


def ok(env, *args) -> str:
    result = run(env, *args)
    assert result.exit_code == 0, (args, result.output)
    return result.output


def fails(env, *args) -> str:
    result = run(env, *args)
    assert result.exit_code == 1, (args, result.output)
    return result.output


def token_of(output: str) -> str:
    return re.search(r"token \(shown once\): (\S+)", output).group(1)


def test_approvals_from_the_command_line(cli_env):
    env = cli_env
    alice = token_of(ok(env, "operator", "add", "alice"))
    bob = token_of(ok(env, "operator", "add", "bob", "--role", "approver"))
    carl = token_of(ok(env, "operator", "add", "carl", "--role", "approver"))
    sam = token_of(ok(env, "operator", "add", "sam", "--role", "supervisor"))
    bank = env.add_bank("dbs")

    assert "limits set" in ok(env, "bank", "set-limits", "dbs", "--single-max", "500")  # a lowering
    assert "operator_role_required" in fails(env, "bank", "set-limits", "dbs", "--single-max", "900")
    assert "operator_role_required" in fails(
        env, "bank", "set-limits", "dbs", "--single-max", "900", "--token", sam
    )
    output = ok(env, "bank", "set-limits", "dbs", "--single-max", "900", "--token", alice)
    raise_id = re.search(r"request (\d+) waits", output).group(1)
    [item] = json.loads(ok(env, "approvals", "list", "--status", "pending", "--json"))
    assert item["action"] == "bank_limits" and item["requested_by"] == "operator:alice"
    assert f"{raise_id}\tpending\tbank_limits\toperator:alice" in ok(env, "approvals", "list")

    assert "operator_role_required" in fails(env, "approvals", "approve", raise_id, "--token", alice)
    assert "operator_unauthenticated" in fails(env, "approvals", "approve", raise_id, "--token", "ushk_op_x")
    assert "approved" in ok(env, "approvals", "approve", raise_id, "--token", bob)
    with env.db.reading() as session:
        assert banks.require_bank(session, "dbs").single_max_cents == 90_000

    output = ok(env, "bank", "set-limits", "dbs", "--single-max", "none", "--token", bob)
    second = re.search(r"request (\d+) waits", output).group(1)
    assert "self_approval_refused" in fails(env, "approvals", "reject", second, "--token", bob)
    assert "rejected" in ok(env, "approvals", "reject", second, "--reason", "no", "--token", carl)
    assert "approval_not_pending" in fails(env, "approvals", "approve", second, "--token", carl)

    # a resume is a request too
    with env.db.transaction() as session:
        reserves.halt(session, [{"code": "supply_mismatch"}], difference_units=3, actor="reconciler")
    assert "operator_role_required" in fails(env, "minting", "resume", "--cause", "fixed", "--token", sam)
    assert "resume requested" in ok(env, "minting", "resume", "--cause", "fixed", "--token", alice)

    # a deposit above the demo's 500,000.00 waits; the approver accepts it
    bank = env.add_bank("hsbc")
    body = signed_request(
        confirmation("BIG-1", amount="600000.00", category="hk", id_type="hkid", id_number="A1234567"),
        bank.key_id,
        bank.seed,
    )
    with env.db.transaction() as session:
        outcome = submit(
            session,
            bank=banks.require_bank(session, "hsbc"),
            request=DepositRequest.model_validate(body),
            settings=env.settings,
            policy=env.policy,
            now=env.clock(),
        )
    assert outcome.deposit.status == "awaiting_approval"
    pending = json.loads(ok(env, "approvals", "list", "--status", "pending", "--json"))
    [deposit] = [p for p in pending if p["action"] == "deposit"]
    assert "approved" in ok(env, "approvals", "approve", str(deposit["id"]), "--token", carl)
    assert "BIG-1" in ok(env, "deposits", "list", "--status", "accepted")
    assert "0 expired" in ok(env, "approvals", "expire")
