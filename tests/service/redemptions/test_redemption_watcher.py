"""The redemption watcher against a real anvil: deposits minted by the minter, holders redeeming
on chain, the watcher turning each redemption id into exactly one payout, banks settling."""

from __future__ import annotations

from chain_support import deposit
from redemption_support import audit_kinds, payouts_of
from service import audit
from service.app import create_app
from service.chain import cursor as cursors
from service.redemptions import repository
from service.redemptions.watcher import CURSOR, RedemptionWatcher
from svc_support import LiveServer, today
from wait_support import wait_for

UNITS = 10**6  # per US dollar


def _watcher(env, deployed, **kwargs) -> RedemptionWatcher:
    kwargs.setdefault("confirmations", 0)
    return RedemptionWatcher(
        env.db, deployed.token(), env.settings, from_block=deployed.from_block, poll_seconds=0.05, **kwargs
    )


def _fund(client, minter, holders, amount="1000.00"):
    for holder in holders:
        deposit(client, holder.address, amount)
    minter.drain()


def _ref(client, holder, account="ACC-1") -> str:
    return client.register_payout_account(
        holder=holder.address, account_reference=f"{account}-{holder.address}"
    )["payout_ref"]


def _redeem(deployed, holder, dollars, ref):
    return deployed.contract.redeem(dollars * UNITS, bytes.fromhex(ref[2:]), sender=holder)


def test_fullCycle_depositMintRedeemPayoutSettle(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    holder = deployed.holders[0]
    _fund(client, minter, [holder], "500.00")
    ref = _ref(client, holder)
    _redeem(deployed, holder, 200, ref)
    token = deployed.token()
    assert token.balance_of(holder.address) == 300 * UNITS

    watcher = _watcher(env, deployed)
    watcher.catch_up()
    [payout] = client.payouts()
    assert payout["status"] == "pending" and payout["amount"] == "200.00"
    assert payout["redemption_id"] == 1 and payout["holder"] == holder.address
    assert payout["payout_ref"] == ref and payout["tx_hash"].startswith("0x")
    watcher.catch_up()  # nothing new
    assert len(payouts_of(env)) == 1

    settled = client.settle_payout(payout, bank_reference="PAY-0001", value_date=today())
    assert settled["status"] == "settled"
    assert client.payouts("settled") == [settled] and client.payouts("pending") == []
    kinds = audit_kinds(env)
    for kind in (
        "deposit.minted",
        "payout_account.registered",
        "redemptions.scanned",
        "payout.created",
        "payout.settled",
    ):
        assert kind in kinds, kind
    with env.db.reading() as session:
        assert audit.verify(session).ok


def test_confirmationDepth_waitsForBlocksOnTop(bank, deployed, workers, chain, anvil_mining):
    env, client = bank
    minter, _ = workers
    holder = deployed.holders[1]
    _fund(client, minter, [holder])
    redeemed_in = _redeem(deployed, holder, 10, _ref(client, holder)).block_number
    token = deployed.token()
    watcher = _watcher(env, deployed, confirmations=2)
    passes = 0
    while True:
        # a block every pass; on a block-time chain others come on their own in between
        before = token.block_number()
        watcher.catch_up()
        after = token.block_number()
        passes += 1
        # caught up to the head it read, less two blocks on top, and never further
        cursor = watcher.cursor()
        assert before - 2 <= cursor <= after - 2
        paid = [p.redemption_id for p in payouts_of(env)]
        assert paid == ([1] if cursor >= redeemed_in else [])
        if paid:
            break
        assert passes < 10
        chain.mine(1)
    if anvil_mining is None:  # automine: blocks come only from the transactions and chain.mine
        assert passes == 3


def test_restartMidStream_eachRedemptionExactlyOnePayout(bank, deployed, workers):
    env, client = bank
    minter, _ = workers
    holders = deployed.holders[:3]
    _fund(client, minter, holders)
    refs = {h.address: _ref(client, h) for h in holders}
    plan = [(holders[i % 3], 10 + i) for i in range(6)]
    for holder, dollars in plan:
        _redeem(deployed, holder, dollars, refs[holder.address])
    _redeem(deployed, holders[0], 1, "0x" + "cd" * 32)  # nobody registered this ref

    first = _watcher(env, deployed, batch_blocks=1)
    while len(payouts_of(env)) < 3:
        assert first.step() > 0
    stopped_at = first.cursor()
    del first  # "restart": a new watcher resumes from the stored cursor
    second = _watcher(env, deployed, batch_blocks=2)
    assert second.cursor() == stopped_at
    second.catch_up()
    rows = payouts_of(env)
    assert [p.redemption_id for p in rows] == list(range(1, 8))
    assert [p.amount_cents for p in rows] == [d * 100 for _, d in plan] + [100]
    assert [p.status for p in rows] == ["pending"] * 6 + ["unassigned"]
    assert [p.holder for p in rows[:6]] == [h.address for h, _ in plan]

    # processing the whole range again (cursor rewound) creates nothing twice
    created = audit_kinds(env).count("payout.created")
    with env.db.transaction() as session:
        cursors.set_cursor(session, CURSOR, deployed.from_block - 1, env.clock())
    _watcher(env, deployed).catch_up()
    assert [p.redemption_id for p in payouts_of(env)] == list(range(1, 8))
    assert audit_kinds(env).count("payout.created") == created == 6
    assert audit_kinds(env).count("alert.payout_unassigned") == 1
    assert len(client.payouts("pending")) == 6


def test_serve_runsTheWatcherWhenEnabled(bank, deployed, workers):
    env, client = bank
    minter, attestor = workers
    holder = deployed.holders[2]
    _fund(client, minter, [holder])
    ref = _ref(client, holder)
    settings = env.settings.model_copy(
        update={
            "redemption_watcher_enabled": True,
            "redemption_confirmations": 0,
            "redemption_poll_seconds": 0.05,
            "rpc_url": deployed.rpc_url,
            "token_address": deployed.token_address,
        }
    )
    app = create_app(settings, env.db, policy=env.policy, clock=env.clock)
    with LiveServer(app):
        _redeem(deployed, holder, 25, ref)
        # the service holds no attestor key: its watcher waits for the attestor (elsewhere) to
        # lower the attestation before it creates the payout
        wait_for(
            "the watcher's payout", lambda: attestor.ensure_not_above_attestable() or client.payouts(), 20
        )
    [payout] = client.payouts()
    assert payout["amount"] == "25.00" and payout["status"] == "pending"


def test_cli_watchOnceThenPayoutsOverdue(bank, deployed, workers):
    import datetime as dt

    from click.testing import CliRunner

    from service.cli import cli
    from svc_support import REPO, server_env

    env, client = bank
    minter, _ = workers
    holder = deployed.holders[3]
    _fund(client, minter, [holder])
    _redeem(deployed, holder, 40, _ref(client, holder))
    variables = server_env(env.settings)
    variables.update(
        USHK_RPC_URL=deployed.rpc_url,
        USHK_TOKEN_ADDRESS=deployed.token_address,
        USHK_DEPLOYMENT_FILE=str(REPO / "var" / "no-such-deployment.json"),
        USHK_REDEMPTION_CONFIRMATIONS="0",
        # run where the attestor's key is (never beside the minter's), it lowers the attestation itself
        USHK_ATTESTOR_PRIVATE_KEY=deployed.attestor.private_key,
    )
    runner = CliRunner()
    result = runner.invoke(cli, ["redemptions", "watch", "--once"], env=variables)
    assert result.exit_code == 0, result.output
    assert "1 new payouts (0 unassigned)" in result.output
    again = runner.invoke(cli, ["redemptions", "watch", "--once"], env=variables)
    assert "0 new payouts" in again.output
    assert runner.invoke(cli, ["payouts", "overdue"], env=variables).exit_code == 0
    # two days later (the payout was created now): overdue, reported by the command
    with env.db.transaction() as session:
        [payout] = repository.list_payouts(session)
        payout.due_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    overdue = runner.invoke(cli, ["payouts", "overdue"], env=variables)
    assert overdue.exit_code == 1 and "overdue" in overdue.output and "40.00" in overdue.output
    listed = runner.invoke(cli, ["payouts", "list", "--status", "pending", "--json"], env=variables)
    assert '"amount": "40.00"' in listed.output


def test_failureMidRange_rollsBackPayoutsAndCursorTogether(bank, deployed, workers, monkeypatch):
    from service.redemptions import service as redemptions_service

    env, client = bank
    minter, _ = workers
    holder = deployed.holders[4]
    _fund(client, minter, [holder])
    ref = _ref(client, holder)
    for dollars in (1, 2, 3):
        _redeem(deployed, holder, dollars, ref)
    real = redemptions_service.record_redemption
    calls = {"n": 0}

    def dies_on_the_third(session, settings, event, *, now):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ConnectionError("the process died here")
        return real(session, settings, event, now=now)

    monkeypatch.setattr(redemptions_service, "record_redemption", dies_on_the_third)
    watcher = _watcher(env, deployed)
    before = watcher.cursor()
    try:
        watcher.catch_up()
    except ConnectionError:
        pass
    else:
        raise AssertionError("the failure was not raised")
    # nothing of the range was kept: neither the first two payouts nor the cursor
    assert payouts_of(env) == [] and watcher.cursor() == before
    monkeypatch.setattr(redemptions_service, "record_redemption", real)
    _watcher(env, deployed).catch_up()
    assert [p.amount_cents for p in payouts_of(env)] == [100, 200, 300]


def test_attestationComesDownBeforeAPayoutExists(bank, deployed, workers, monkeypatch):
    """A bank can settle a payout the moment it exists, and custody then falls: by then the
    on-chain attestation must already claim no more than the ledger can attest."""
    from service import ledger
    from service.money import cents_to_units
    from service.redemptions import service as redemptions

    env, client = bank
    minter, attestor = workers
    holder = deployed.holders[0]
    _fund(client, minter, [holder], "500.00")
    ref = _ref(client, holder)
    _redeem(deployed, holder, 200, ref)
    token = deployed.token()
    assert token.reserve_attestation().amount == 500 * UNITS  # before: covers the burned tokens
    seen = []
    original = redemptions.record_redemption

    def record_checking(session, settings, event, **kwargs):
        with env.db.reading() as reader:
            attestable = cents_to_units(ledger.balances(reader).attestable)
        seen.append((token.reserve_attestation().amount, attestable))
        return original(session, settings, event, **kwargs)

    monkeypatch.setattr(redemptions, "record_redemption", record_checking)
    _watcher(env, deployed, attestor=attestor).catch_up()
    assert seen == [(300 * UNITS, 300 * UNITS)]
    [payout] = client.payouts()
    assert client.settle_payout(payout, bank_reference="PAY-1", value_date=today())["status"] == "settled"
