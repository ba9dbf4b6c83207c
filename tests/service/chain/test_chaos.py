"""Chaos on a block-time chain, as an operator runs the service: two API instances
(`python -m service serve`), a workers process (`python -m service workers run`: minter,
reconciler, redemption watcher) and the attestor's own process (`python -m service attestor
run`, the bank's signed custody statement and its pinned key) on one PostgreSQL database, anvil mining a
block every N seconds (`pytest --block-time N`: this test runs in that pass only), and signed
deposits sent by client threads round-robin to both instances.

While the deposits come in, the workers are SIGKILLed at each step of the minter (claimed,
recorded, sent, mined: `USHK_MINTER_CRASH_AT`), each time checked from the database and the
chain to have died with that batch on its way, and restarted; then one API instance is
SIGKILLed while requests to it are in flight, and restarted. A client whose request dies with
its connection sends the same signed confirmation again to the other instance (deposits are
idempotent per reference). The workers' reconciler makes a pass every quarter of a second,
so a discrepancy it finds, real or not, halts minting (and the test fails at once, with the
halt's findings and what the chain and the database hold at that moment).

At the end: every reference the service accepted exists exactly once and is minted, every
deposit id is in exactly one `Minted` event with its beneficiary and amount, the total supply
is their sum, no halt and no `alert.*` entry was ever recorded, and the audit chain verifies.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

import wait_support
from attestor_support import pin_keys, post_statement
from chain_support import assert_chain_matches, assert_died_mid_batch, deposits_of
from service import audit
from service.client import BankClient, build_confirmation
from service.deposits.models import DepositStatus
from service.models import AuditEntry, ChainCursor, Deposit, MintingHalt
from svc_support import REPO, free_port, server_env, today, wait_healthy

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.blocktime(only=True)]

CRASH_POINTS = ("claimed", "recorded", "sent", "mined")
BATCH_SIZE = 6
CLIENT_THREADS = 3
PACE_SECONDS = 0.5  # between two deposits of one client thread, outside a burst
MAX_DEPOSITS = 450  # the load stops issuing new references here
TIMEOUT = 120.0  # for any one condition to come true


# ---- processes -------------------------------------------------------------------------------


class Service:
    """The API instances and the workers process, each a child process logging to a file."""

    def __init__(self, env, deployed, logs: Path):
        self.env = env
        self.deployed = deployed
        self.logs = logs
        self.apis: dict[int, subprocess.Popen] = {}
        self.ports = [free_port(), free_port()]
        self.workers: subprocess.Popen | None = None
        self.load: Load | None = None  # its refusals fail the waits at once
        self._all: list[subprocess.Popen] = []
        self._runs = itertools.count()

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def _variables(self, **extra: str) -> dict[str, str]:
        variables = server_env(self.env.settings)
        variables.update(
            USHK_RPC_URL=self.deployed.rpc_url,
            USHK_TOKEN_ADDRESS=self.deployed.token_address,
            USHK_DEPLOYMENT_FILE=str(REPO / "var" / "no-such-deployment.json"),
            USHK_MINTER_ENABLED="false",
            USHK_RECONCILER_ENABLED="false",
            USHK_REDEMPTION_WATCHER_ENABLED="false",
            USHK_ATTEST_INTERVAL_SECONDS="0",
            USHK_WEBHOOKS_IN_PROCESS="false",
        )
        variables.update(extra)
        return variables

    def _spawn(self, args: list[str], variables: dict[str, str], name: str) -> subprocess.Popen:
        log = open(self.logs / f"{name}-{next(self._runs)}.log", "w")  # noqa: SIM115 - the child's
        process = subprocess.Popen(
            [sys.executable, "-m", "service", *args],
            env=variables,
            cwd=str(REPO),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._all.append(process)
        return process

    def start_api(self, n: int) -> None:
        port = self.ports[n]
        process = self._spawn(["serve", "--no-migrate", "--port", str(port)], self._variables(), f"api{n}")
        self.apis[n] = process
        wait_healthy(self.urls[n], process, timeout=60)

    def start_workers(self, crash_at: str | None = None) -> subprocess.Popen:
        deployed = self.deployed
        variables = self._variables(
            USHK_LOG_LEVEL="INFO",
            USHK_MINTER_PRIVATE_KEY=deployed.minter.private_key,
            USHK_PAUSER_PRIVATE_KEY=deployed.pauser.private_key,
            USHK_MINTER_ENABLED="true",
            USHK_MINTER_BATCH_SIZE=str(BATCH_SIZE),
            USHK_MINTER_POLL_SECONDS="0.05",
            USHK_MINTER_LINGER_SECONDS="0.3",
            USHK_RECONCILER_ENABLED="true",
            USHK_RECONCILE_INTERVAL_SECONDS="0.25",
            USHK_REDEMPTION_WATCHER_ENABLED="true",
            USHK_REDEMPTION_POLL_SECONDS="0.5",
        )
        if crash_at is not None:
            variables["USHK_MINTER_CRASH_AT"] = crash_at
        self.workers = self._spawn(["workers", "run"], variables, f"workers-{crash_at or 'steady'}")
        return self.workers

    def start_attestor(self, bank) -> subprocess.Popen:
        """`ushk attestor run` with its own key and the bank's key pinned, after the bank's
        signed statement of far more custody than the test's deposits: it attests the ledger."""
        post_statement(self.env, bank, "CHAOS-1", "100000000.00")
        keys = pin_keys(self.env, self.logs / "bank-keys.json")
        variables = self._variables(
            USHK_LOG_LEVEL="INFO",
            USHK_ATTESTOR_PRIVATE_KEY=self.deployed.attestor.private_key,
            USHK_ATTESTOR_BANK_KEYS_FILE=str(keys),
            USHK_ATTESTOR_POLL_SECONDS="0.2",
            USHK_ATTEST_INTERVAL_SECONDS="5",
        )
        return self._spawn(["attestor", "run"], variables, "attestor")

    def stop(self) -> None:
        for process in self._all:
            if process.poll() is None:
                process.terminate()
        for process in self._all:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def log_tails(self, lines: int = 15) -> str:
        out = []
        for path in sorted(self.logs.glob("*.log")):
            text = path.read_text(errors="replace").splitlines()
            out.append(f"--- {path.name}\n" + "\n".join(text[-lines:]))
        return "\n".join(out)


# ---- the load --------------------------------------------------------------------------------


@dataclass
class Load:
    """Client threads sending signed deposits round-robin to the API instances. A request that
    fails on its connection is sent again, the same signed body, to the next instance."""

    urls: list[str]
    handle: object
    holders: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    burst: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: dict[str, tuple[str, int]] = field(default_factory=dict)  # reference -> (beneficiary, cents)
    answers: Counter = field(default_factory=Counter)  # HTTP status -> count
    refused: list[tuple[str, int, str]] = field(default_factory=list)
    in_flight: Counter = field(default_factory=Counter)  # instance -> requests on their way
    served: Counter = field(default_factory=Counter)  # instance -> requests answered
    # (instance, monotonic time the request was sent) of each request lost with its connection
    dropped: list[tuple[int, float]] = field(default_factory=list)
    refused_connections: Counter = field(default_factory=Counter)  # instance -> connections refused
    issued: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True, name=f"load-{n}")
            for n in range(CLIENT_THREADS)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        wait_support.join(*self.threads, timeout=60)
        assert not self.errors, self.errors

    def lost_in_flight(self, instance: int, killed_at: float) -> int:
        """Requests to `instance` sent before `killed_at` and lost with their connection."""
        with self.lock:
            return sum(1 for k, sent in self.dropped if k == instance and sent < killed_at)

    def _next(self) -> int | None:
        with self.lock:
            if self.issued >= MAX_DEPOSITS:
                return None
            self.issued += 1
            return self.issued

    def _run(self, n: int) -> None:
        h = self.handle
        clients = [
            BankClient(url, api_key=h.api_key, key_id=h.key_id, private_key=h.seed, timeout=30)
            for url in self.urls
        ]
        turn = itertools.count(n)
        try:
            while not self.stop.is_set():
                i = self._next()
                if i is None:
                    return
                beneficiary = self.holders[i % len(self.holders)]
                cents = 100 + (i * 7919) % 100_000
                body = clients[0].sign(
                    build_confirmation(
                        reference=f"chaos-{i:05d}",
                        amount=f"{cents // 100}.{cents % 100:02d}",
                        value_date=today(),
                        beneficiary=beneficiary,
                        id_type="hkid",
                        id_number="R1234567",
                        category="hk",
                        purpose_code="INVS",
                    )
                )
                self._send(clients, turn, body, beneficiary, cents)
                if not self.burst.is_set():
                    self.stop.wait(PACE_SECONDS)
        except Exception as exc:  # reported by finish()
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            for client in clients:
                client.close()

    def _send(self, clients, turn, body, beneficiary: str, cents: int) -> None:
        reference = body["confirmation"]["reference"]
        deadline = time.monotonic() + TIMEOUT
        while True:
            k = next(turn) % len(clients)
            with self.lock:
                self.in_flight[k] += 1
            sent = time.monotonic()
            try:
                response = clients[k].post_deposit(body)
            except (httpx.ConnectError, httpx.ConnectTimeout):
                with self.lock:
                    self.refused_connections[k] += 1
                response = None
            except httpx.TransportError:  # the instance died with the request on its way
                with self.lock:
                    self.dropped.append((k, sent))
                response = None
            finally:
                with self.lock:
                    self.in_flight[k] -= 1
            if response is None or response.status_code == 503:
                assert time.monotonic() < deadline, f"{reference}: no instance answered"
                continue
            with self.lock:
                self.served[k] += 1
                self.answers[response.status_code] += 1
                if response.status_code in (200, 201):
                    self.accepted[reference] = (beneficiary, cents)
                else:
                    self.refused.append((reference, response.status_code, response.text[:300]))
            return


# ---- conditions ------------------------------------------------------------------------------


def wait_for(what: str, condition, service: Service, timeout: float = TIMEOUT):
    """Polls `condition` until it returns something true (tests/wait_support.py); fails fast on
    a halt of minting or a refused deposit, and with the processes' logs on a timeout."""

    def check() -> None:
        assert_not_halted(service, f"while waiting for {what}")
        if service.load is not None:
            assert not service.load.refused, f"deposits refused: {service.load.refused[:5]}"

    return wait_support.wait_for(what, condition, timeout, check=check, details=service.log_tails)


def assert_not_halted(service: Service, when: str) -> None:
    with service.env.db.reading() as session:
        halts = [(h.codes, h.details) for h in session.scalars(select(MintingHalt))]
    if halts:
        blocks = [json.loads(details)[0].get("block") for _, details in halts]
        pytest.fail(
            f"minting halted {when}: {halts}; now "
            f"{chain_and_database(service.env, service.deployed, blocks[-1])}"
        )


def chain_and_database(env, deployed, halted_at: int | None = None) -> str:
    """What the chain and the database hold, to tell a real discrepancy from a false one, and
    the mint transactions of the blocks up to the one a halt names (which mint it missed)."""
    token = deployed.token()
    block = token.block_number()
    supply = token.contract.functions.totalSupply().call(block_identifier=block)
    events = token.minted_events(deployed.from_block, block)
    ids = [e.deposit_id for e in events]
    by_status = Counter()
    with env.db.reading() as session:
        for status, cents in session.execute(select(Deposit.status, Deposit.amount_cents)):
            by_status[status] += cents * 10_000
    near = Counter()
    if halted_at is not None:
        for e in events:
            if halted_at - 3 <= e.block_number <= halted_at + 1:
                near[(e.block_number, e.tx_hash[:10])] += e.amount
    return (
        f"block {block}: totalSupply {supply} units, {len(events)} Minted events for "
        f"{len(set(ids))} deposit ids summing to {sum(e.amount for e in events)} units; "
        f"deposits by status, in units: {dict(by_status)}; units minted per (block, "
        f"transaction) around block {halted_at}: {dict(sorted(near.items()))}"
    )


def count_status(env, status: str) -> int:
    with env.db.reading() as session:
        return session.scalar(select(func.count()).select_from(Deposit).where(Deposit.status == status))


def reconciler_cursor(env) -> int:
    with env.db.reading() as session:
        row = session.get(ChainCursor, "reserves")
        return -1 if row is None else row.block_number


# ---- the test --------------------------------------------------------------------------------


def test_chaos_killsAtEveryMinterStepAndOfAnApiInstance_everyAcceptedDepositMintedOnce_noHalt(
    pg_env, deployed, anvil_mining, tmp_path
):
    env = pg_env
    started = time.monotonic()
    handle = env.add_bank("chaos-bank")
    token = deployed.token()
    service = Service(env, deployed, tmp_path)
    load = service.load = Load(service.urls, handle, [h.address for h in deployed.holders])
    kills = Counter()
    try:
        service.start_attestor(handle)
        for n in (0, 1):
            service.start_api(n)
        load.start()

        # the workers, killed at each step of the minter with a batch on its way, restarted
        for crash_at in CRASH_POINTS:
            wait_for(
                f"{BATCH_SIZE} accepted deposits",
                lambda: count_status(env, DepositStatus.ACCEPTED) >= BATCH_SIZE,
                service,
            )
            workers = service.start_workers(crash_at)
            wait_for(f"the workers killed at {crash_at}", lambda w=workers: w.poll() is not None, service)
            code = workers.returncode
            assert code == -signal.SIGKILL, f"workers exited with {code}\n{service.log_tails()}"
            kills[f"workers@{crash_at}"] += 1
            assert_not_halted(service, f"before the workers were killed at {crash_at}")
            assert_died_mid_batch(crash_at, env, token)

        service.start_workers()
        # an API instance SIGKILLed with requests on their way to it, then restarted; again if
        # every request it had was answered before the kill landed
        lost = 0
        for _attempt in range(5):
            load.burst.set()  # requests back to back: some are on their way at any moment
            wait_for("requests in flight to instance 0", lambda: load.in_flight[0] >= 1, service)
            killed_at = time.monotonic()
            service.apis[0].send_signal(signal.SIGKILL)
            assert wait_support.wait_exit(service.apis[0], 30, "API instance 0") == -signal.SIGKILL
            load.burst.clear()
            kills["api"] += 1
            served = load.served[0]
            service.start_api(0)
            # the restarted instance answers again
            wait_for("an answer of the restarted instance", lambda n=served: load.served[0] > n, service)
            lost = load.lost_in_flight(0, killed_at)
            if lost:
                break
        assert lost, "no request was in flight when the API instance was killed"
        load.finish()
        assert not load.refused, load.refused[:10]
        accepted = dict(load.accepted)

        wait_for(
            "every accepted deposit minted",
            lambda: (
                count_status(env, DepositStatus.MINTED) == len(accepted)
                and count_status(env, DepositStatus.ACCEPTED) == 0
                and count_status(env, DepositStatus.MINTING) == 0
            ),
            service,
        )
        # a whole reconciler pass after the last mint: one that followed the chain to a block
        # mined after it (its cursor), then the next pass (its check() is done)
        head = token.block_number()
        passed = wait_for(
            "a reconciler pass after the last mint",
            lambda: (c := reconciler_cursor(env)) > head and c,
            service,
        )
        wait_for("the next reconciler pass", lambda: reconciler_cursor(env) > passed, service)
        assert service.workers.poll() is None, service.log_tails()
    finally:
        load.stop.set()
        service.stop()
        print(
            f"\nchaos: {summary(env, load, kills)}, block time {anvil_mining}s, "
            f"{time.monotonic() - started:.0f}s"
        )

    deposits = deposits_of(env)
    references = [d.reference for d in deposits]
    assert len(references) == len(set(references))
    assert set(references) == set(accepted), "the database and the 201/200 answers disagree"
    assert [d.status for d in deposits] == [DepositStatus.MINTED] * len(accepted)
    for d in deposits:
        assert (d.beneficiary, d.amount_cents) == accepted[d.reference]
    assert_chain_matches(env, deployed, token)  # one Minted event per deposit id, right payee and amount
    assert len(token.minted_events(deployed.from_block)) == len(accepted)
    assert token.total_supply() == sum(c * 10_000 for _, c in accepted.values())
    with env.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(MintingHalt)) == 0
        assert list(session.scalars(select(AuditEntry.kind).where(AuditEntry.kind.like("alert.%")))) == []
        assert audit.verify(session).ok
    assert not token.minting_paused()


def summary(env, load: Load, kills: Counter) -> str:
    with env.db.reading() as session:
        minted = session.scalar(
            select(func.count()).select_from(Deposit).where(Deposit.status == DepositStatus.MINTED)
        )
        transactions = session.scalar(select(func.count(func.distinct(Deposit.tx_hash))))
        halts = session.scalar(select(func.count()).select_from(MintingHalt))
        alerts = session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.kind.like("alert.%"))
        )
    with load.lock:
        return (
            f"accepted {len(load.accepted)} (answers {dict(load.answers)}), minted {minted} in "
            f"{transactions} transactions, kills {dict(kills)}, requests lost with a killed "
            f"instance {len(load.dropped)}, connections refused "
            f"{sum(load.refused_connections.values())}, halts {halts}, alerts {alerts}"
        )
