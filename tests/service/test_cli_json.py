"""`--json` on every read command of `ushk` (service/cli/common.py: `json_option`, `emit`): stdout
is one JSON document and nothing else (stderr apart), carrying the figures the human output
shows, amounts as strings. Against a real SQLite database file, as the other CLI tests."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from service import audit
from service.banks import repository as bank_repo
from service.cli import cli
from service.models import WatchListEntry
from service.redemptions import service as redemptions
from service.redemptions.schemas import PayoutAccountIn
from service.reserves import service as reserve_service
from svc_support import DEMO_POLICY, accept, make_env, server_env

HOLDER = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"


def run(env, *args, input=None):
    return CliRunner(mix_stderr=False).invoke(cli, list(args), env=server_env(env.settings), input=input)


def as_json(env, *args, input=None, code=0):
    """The command's stdout with --json, parsed: it must be exactly one JSON document."""
    result = run(env, *args, "--json", input=input)
    assert result.exit_code == code, (args, result.output, result.stderr)
    return json.loads(result.stdout)


def human(env, *args) -> str:
    result = run(env, *args)
    assert result.exit_code == 0, (args, result.output, result.stderr)
    return result.stdout


def test_deposits_banks_operators_quota_and_reserves(env):
    bank = env.add_bank("hsbc", single_max_cents=500_000)
    accept(env, bank, 2, prefix="J", amount="1250.50")
    run(env, "operator", "add", "alice")

    deposits = as_json(env, "deposits", "list")
    assert [(d["reference"], d["amount"], d["bank"], d["status"]) for d in deposits] == [
        ("J-0", "1250.50", "hsbc", "accepted"),
        ("J-1", "1250.50", "hsbc", "accepted"),
    ]
    assert "1250.50" in human(env, "deposits", "list").splitlines()[0]
    shown = as_json(env, "deposits", "show", "J-1", "--bank", "hsbc")
    assert shown == deposits[1] and shown == json.loads(
        human(env, "deposits", "show", "J-1", "--bank", "hsbc")
    )

    [listed] = as_json(env, "bank", "list")
    assert (listed["name"], listed["single_max"], listed["daily_limit"]) == ("hsbc", "5000.00", None)
    assert [k["key_id"] for k in listed["signing_keys"]] == [bank.key_id]

    [alice] = as_json(env, "operator", "list")
    assert (alice["name"], alice["role"], alice["state"]) == ("alice", "operator", "active")
    assert human(env, "operator", "list").startswith(f"alice\toperator\tactive\t{alice['created_at'][:10]}")

    # the identity number prompted on stderr, so stdout is the answer alone
    quota = as_json(env, "quota", "show", "--id-type", "prc_id", "--category", "mainland", input="J1\n")
    assert (quota["held"], quota["used"], quota["limit"], quota["remaining"]) == (
        "1250.50",
        "0.00",
        "50000.00",
        "48749.50",
    )

    summary = as_json(env, "reserves", "summary")
    assert summary["total_reserves"] == "2501.00" and summary["pending_mint"] == "2501.00"
    assert [(c["bank"], c["amount"]) for c in summary["custody"]] == [("hsbc", "2501.00")]
    assert summary["halt"] is None and summary["acknowledged_differences"] == []
    assert "reserves        2501.00 USD" in human(env, "reserves", "summary")


def test_audit_and_minting_status(env):
    env.add_bank("hsbc")
    with env.db.reading() as session:
        seq, digest = audit.head(session)
    assert as_json(env, "audit", "head") == {"seq": seq, "hash": digest}
    entries = as_json(env, "audit", "show", "--limit", "100")
    assert [e["seq"] for e in entries] == list(range(1, seq + 1)) and entries[-1]["hash"] == digest
    assert [
        json.loads(line) for line in human(env, "audit", "show", "--limit", "100").splitlines()
    ] == entries
    verified = as_json(env, "audit", "verify", "--no-chain")
    assert verified["ok"] is True and verified["chain"]["checked"] == seq
    assert verified["tree"]["checked"] == seq and "anchors" not in verified

    assert as_json(env, "minting", "status") == {"halted": False, "halt": None}
    with env.db.transaction() as session:
        row, _ = reserve_service.halt(
            session, [{"code": "supply_mismatch", "message": "test"}], difference_units=5, actor="test"
        )
    status = as_json(env, "minting", "status")
    assert status["halted"] is True and status["halt"]["id"] == row.id
    assert status["halt"]["difference_units"] == "5" and status["halt"]["codes"] == ["supply_mismatch"]
    assert json.loads(human(env, "minting", "status")) == status["halt"]


def test_watchlist(env):
    with env.db.transaction() as session:
        session.add(WatchListEntry(resident_hash="ab" * 32, source="operator", reason="test", suspended=True))
    [entry] = as_json(env, "quota", "watchlist")
    assert (entry["state"], entry["source"], entry["reason"]) == ("suspended", "operator", "test")
    line = human(env, "quota", "watchlist").strip()
    assert line == f"{entry['id']}\t{entry['resident']}\tsuspended\toperator\ttest"


def test_payouts(env):
    env.add_bank("hsbc")
    with env.db.transaction() as session:
        account, _ = redemptions.register_account(
            session,
            env.settings,
            bank_repo.get_bank_by_name(session, "hsbc"),
            PayoutAccountIn(holder=HOLDER, account_reference="HSBC-ACC-1", currency="USD"),
            now=env.clock(),
        )
        ref = account.payout_ref
    event = redemptions.RedemptionEvent(
        redemption_id=1,
        holder=HOLDER,
        amount_units=250_500_000,
        payout_ref=ref,
        tx_hash="0x" + "01" * 32,
        block_number=101,
        log_index=0,
    )
    past = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    with env.db.transaction() as session:
        payout = redemptions.record_redemption(session, env.settings, event, now=past)
    [listed] = as_json(env, "payouts", "list")
    assert (listed["id"], listed["amount"], listed["bank"], listed["overdue"]) == (
        payout.id,
        "250.50",
        "hsbc",
        True,
    )
    # overdue: exit 1 when any, the count on stderr only without --json
    result = run(env, "payouts", "overdue", "--json")
    assert result.exit_code == 1 and result.stderr == ""
    assert json.loads(result.stdout) == [listed]


@pytest.fixture
def raise_env(sqlite_url, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(DEMO_POLICY.read_text().replace("bank_limit_raise: false", "bank_limit_raise: true"))
    env = make_env(sqlite_url, policy_file=policy)
    yield env
    env.db.dispose()


def test_approvals(raise_env):
    env = raise_env
    env.add_bank("hsbc", single_max_cents=100_000)
    token = human(env, "operator", "add", "alice").split("token (shown once): ")[1].strip()
    assert "waits for an approver" in human(
        env, "bank", "set-limits", "hsbc", "--single-max", "2500.75", "--token", token
    )
    [request] = as_json(env, "approvals", "list")
    assert (request["status"], request["action"], request["requested_by"]) == (
        "pending",
        "bank_limits",
        "operator:alice",
    )
    # the stored request, as the operator API shows it (cents, as the service keeps them)
    assert request["params"]["single_max_cents"] == 250_075
    assert human(env, "approvals", "list").startswith(f"{request['id']}\tpending\tbank_limits\t")
    assert as_json(env, "approvals", "list", "--status", "approved") == []


def test_every_read_command_takes_json():
    """The inventory: each read command has the shared --json (service/cli/common.py)."""
    from service.cli.common import JSON_HELP

    reads = [
        ("operator", "list"),
        ("bank", "list"),
        ("approvals", "list"),
        ("quota", "show"),
        ("quota", "watchlist"),
        ("deposits", "list"),
        ("deposits", "show"),
        ("audit", "verify"),
        ("audit", "head"),
        ("audit", "show"),
        ("minting", "status"),
        ("reserves", "summary"),
        ("reserves", "reconcile"),
        ("payouts", "list"),
        ("payouts", "overdue"),
        ("monitor", "findings"),
        ("monitor", "verify"),
        ("verify",),
    ]
    for path in reads:
        command = cli
        for name in path:
            command = command.commands[name]
        [option] = [p for p in command.params if "--json" in getattr(p, "opts", ())]
        assert option.help == JSON_HELP, path
