"""Issuance throughput benchmark: `make bench` (python bench/throughput.py), after bench/gas.py.

Starts a stack like `make run`'s in a temporary directory on free 127.0.0.1 ports (anvil with
automine, USHK deployed by `ape run deploy token`, `python -m service serve` on SQLite WAL and
`python -m service minter run` beside it; tools/run_stack.py's `Stack`), then measures, in one
run:

1. the accept path: closed-loop concurrent signed deposits ("100.00", category hk) from several
   keep-alive clients (`LoadClient`; accepted/s, p50/p99 of POST until 201), then an open-loop
   run paced at 200 requests/s (p50/p99 at that rate, and how long each deposit took to be
   minted);
2. the mint path: minted deposits/s from the first accept until the last deposit is `minted`
   (read from the database file, read-only), and the minter's own rate on a backlog: deposits
   accepted with the stack's minter process stopped, then `python -m service minter run` again,
   timed until every one is minted;
3. the ceiling: anvil's own rate for plain USHK transfers (pre-signed with eth-account, sent as
   raw JSON-RPC batches, paced so automine never holds more than a few hundred transactions);
4. where time goes: the accept path in-process (FastAPI TestClient, timers around its parts) and
   one instrumented minter process (claim, attestation, estimate and sign, record, send,
   receipt, mark minted).
5. redemptions: with the stack's workers process (and so its redemption watcher) stopped, the
   holders redeem on chain in bulk (pre-signed `redeem(1.00, payoutRef)` with payout
   accounts the demo bank registered, sent like the ceiling's transfers); then the watcher
   (`build_watcher`, as `ushk redemptions watch --once`, in this process with timers) is timed
   processing the backlog into payout rows: redemptions/s, and exactly one payout per id.

Writes bench/throughput.json and prints a table. Exits 1 when a target is missed (paced p99
<= 50 ms; >= 1,000 minted deposits/s sustained by the minter on a backlog).

Residents are category "hk" (no quota limit), each with id number T<run><n>; every beneficiary
(an address whose key the benchmark derives, so it can send transfers later) is funded by at
most four residents, below the splitting rule's five.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "tools"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

OUTPUT = ROOT / "bench" / "throughput.json"
AMOUNT = "100.00"
RESIDENTS_PER_BENEFICIARY = 4  # the splitting rule flags 5 distinct residents per beneficiary
TARGETS = {
    "paced_accept_p99_ms": 50.0,
    "minted_per_s": 1000.0,
    "paced_attestations_per_1000_minted": 10.0,
    # signed batches of 500, first request sent -> last deposit minted, and that against
    # anvil's own mintBatch rate in the same run
    "batch_deposits_per_s": 2000.0,
    "batch_share_of_mint_ceiling": 0.25,
}


@dataclass
class Config:
    """Counts and durations of one run; `quick()` is the smoke test's."""

    clients: int = 8
    banks: int = 4
    holders: int = 250
    saturation_count: int = 3000
    saturation_seconds: float = 15.0
    paced_rate: float = 200.0
    paced_seconds: float = 10.0
    backlog_count: int = 5000
    backlog_seconds: float = 40.0
    breakdown_count: int = 1500
    breakdown_seconds: float = 15.0
    transfers: int = 3000
    transfer_batch: int = 200
    redemptions: int = 1500
    profile_requests: int = 300
    mint_timeout: float = 90.0
    batch_count: int = 100_000
    batch_size: int = 500
    batch_connections: int = 2  # batch requests in flight per bank
    batch_timeout: float = 900.0
    mint_ceiling_count: int = 20_000

    @classmethod
    def quick(cls) -> Config:
        return cls(
            clients=2,
            banks=2,
            holders=4,
            saturation_count=6,
            saturation_seconds=10.0,
            paced_rate=20.0,
            paced_seconds=0.3,
            backlog_count=6,
            backlog_seconds=10.0,
            breakdown_count=4,
            breakdown_seconds=10.0,
            transfers=8,
            transfer_batch=4,
            redemptions=6,
            profile_requests=5,
            mint_timeout=30.0,
            batch_count=12,
            batch_size=5,
            batch_connections=1,
            batch_timeout=60.0,
            mint_ceiling_count=10,
        )


def say(message: str) -> None:
    print(f"\033[1mthroughput:\033[0m {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


# ---- the stack ---------------------------------------------------------------------------------


@dataclass
class BankCreds:
    name: str
    api_key: str
    key_id: str
    seed: str  # Ed25519 seed, hex


class BenchStack:
    """tools/run_stack.py's `Stack` in `var` on free ports, plus what the benchmark needs."""

    def __init__(self, var: Path):
        from run_stack import Stack

        self.var = var
        self.stack = Stack(var, free_port(), free_port())
        self.banks: list[BankCreds] = []
        self.db_path = var / "ushk.db"

    @property
    def service_url(self) -> str:
        return self.stack.service_url

    @property
    def rpc_url(self) -> str:
        return self.stack.rpc_url

    @property
    def token(self) -> str:
        return self.stack.deployment["token"]

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    def start(self, banks: int = 1) -> None:
        self.stack.start()
        demo = json.loads((self.var / "demo-bank.json").read_text())
        self.banks = [BankCreds("demo-bank", demo["api_key"], demo["key_id"], demo["private_key_seed"])]
        if banks > 1:
            self.banks += self._add_banks(banks - 1)

    def _add_banks(self, count: int) -> list[BankCreds]:
        """More banks, registered through the service's own code (as `ushk bank add` does)."""
        from service.banks import service as banks
        from service.config import Settings
        from service.db import Database
        from service.deposits.signing import public_key_b64

        settings = Settings(
            _env_file=None,
            database_url=self.env["USHK_DATABASE_URL"],
            id_hmac_secret=self.env["USHK_ID_HMAC_SECRET"],
            webhook_signing_key=self.env["USHK_WEBHOOK_SIGNING_KEY"],
        )
        db = Database.from_settings(settings)
        out = []
        try:
            for n in range(count):
                seed = os.urandom(32)
                name = f"bench-bank-{n + 2}"
                with db.transaction() as session:
                    created = banks.create_bank(
                        session, settings, name, actor="bench", public_key=public_key_b64(seed)
                    )
                out.append(BankCreds(name, created.api_key, created.signing_key.key_id, seed.hex()))
        finally:
            db.dispose()
        # each bank's signed custody statement, and its key pinned by the attestor (restarted)
        for bank in out:
            self.stack.post_statement(bank.api_key, bank.key_id, bank.seed)
        self.stack.restart_attestor()
        return out

    def stop(self) -> None:
        self.stack.stop()


# ---- the database, read-only -------------------------------------------------------------------


class Outbox:
    """Reads the service's SQLite file read-only (never takes its write lock)."""

    def __init__(self, db_path: Path):
        self.db_path = db_path

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
        try:
            yield conn
        finally:
            conn.close()

    def max_seq(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT coalesce(max(id), 0) FROM deposits").fetchone()[0]

    def counts(self, after: int, upto: int | None = None) -> dict[str, int]:
        upto = upto if upto is not None else 2**62
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM deposits WHERE id > ? AND id <= ? GROUP BY status",
                (after, upto),
            ).fetchall()
        return dict(rows)

    def times(self, after: int, upto: int) -> list[tuple[dt.datetime, ...]]:
        """(created_at, accepted_at, minting_at, minted_at) of the minted deposits in (after, upto]."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT created_at, accepted_at, minting_at, minted_at FROM deposits "
                "WHERE id > ? AND id <= ? AND status = 'minted' ORDER BY id",
                (after, upto),
            ).fetchall()
        return [tuple(dt.datetime.fromisoformat(v) for v in row) for row in rows]

    def batches(self, after: int, upto: int) -> list[int]:
        """Sizes of the mint batches of the deposits in (after, upto]."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT count(*) FROM deposits WHERE id > ? AND id <= ? AND mint_batch_id IS NOT NULL "
                "GROUP BY mint_batch_id ORDER BY mint_batch_id",
                (after, upto),
            ).fetchall()
        return [r[0] for r in rows]

    def attestations(self, start: dt.datetime, end: dt.datetime) -> int:
        """Attestations sent on chain (stored reports with a transaction) created in [start, end]."""
        with self._connect() as conn:
            rows = conn.execute("SELECT created_at FROM reserve_reports WHERE tx_hash IS NOT NULL").fetchall()
        return sum(1 for (created,) in rows if start <= dt.datetime.fromisoformat(created) <= end)

    def wait_settled(self, after: int, upto: int, timeout: float, poll: float = 0.25) -> dict[str, int]:
        """Waits until no deposit in (after, upto] is accepted or minting; their counts by status."""
        deadline = time.monotonic() + timeout
        while True:
            counts = self.counts(after, upto)
            if not counts.get("accepted") and not counts.get("minting"):
                return counts
            if time.monotonic() > deadline:
                raise TimeoutError(f"deposits {after + 1}..{upto} not minted within {timeout:.0f}s: {counts}")
            time.sleep(poll)


def mint_rates(outbox: Outbox, after: int, upto: int) -> dict[str, Any]:
    """Rates and latencies of the minted deposits in (after, upto], from their timestamps."""
    rows = outbox.times(after, upto)
    if not rows:
        return {"minted": 0}
    created = min(r[0] for r in rows)
    claimed = min(r[2] for r in rows)
    last = max(r[3] for r in rows)
    lag = [(r[3] - r[1]).total_seconds() for r in rows]
    first_accept_to_last_mint = (last - created).total_seconds()
    first_claim_to_last_mint = (last - claimed).total_seconds()
    sizes = outbox.batches(after, upto)
    attestations = outbox.attestations(created, last)
    return {
        "minted": len(rows),
        "attestations": attestations,
        "attestations_per_1000_minted": round(attestations * 1000 / len(rows), 2),
        "first_accept_to_last_minted_s": round(first_accept_to_last_mint, 3),
        "minted_per_s_from_first_accept": _rate(len(rows), first_accept_to_last_mint),
        "first_claim_to_last_minted_s": round(first_claim_to_last_mint, 3),
        "minted_per_s_from_first_claim": _rate(len(rows), first_claim_to_last_mint),
        "accept_to_minted_p50_ms": _ms(percentile(lag, 50)),
        "accept_to_minted_p99_ms": _ms(percentile(lag, 99)),
        "batches": len(sizes),
        "batch_size_mean": round(sum(sizes) / len(sizes), 1) if sizes else None,
        "batch_size_max": max(sizes) if sizes else None,
    }


# ---- the workload ------------------------------------------------------------------------------


def holder_key(index: int) -> bytes:
    from eth_utils import keccak

    return keccak(text=f"ushk-throughput-holder:{index}")


@dataclass
class Workload:
    """Signed deposit bodies: deposit k goes from resident k mod R to holder (k mod R) // 4."""

    banks: list[BankCreds]
    holders: list[str]
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    value_date: str = field(default_factory=lambda: dt.date.today().isoformat())

    @classmethod
    def make(cls, banks: list[BankCreds], holders: int) -> Workload:
        from eth_account import Account

        return cls(banks, [Account.from_key(holder_key(i)).address for i in range(holders)])

    def body(self, phase: str, k: int, bank: BankCreds) -> bytes:
        from service.client import signed_request

        confirmation = self.confirmation(phase, k)
        return json.dumps(signed_request(confirmation, bank.key_id, bank.seed)).encode()

    def confirmation(self, phase: str, k: int, amount: str = AMOUNT) -> dict[str, Any]:
        from service.client import build_confirmation

        resident = k % (len(self.holders) * RESIDENTS_PER_BENEFICIARY)
        return build_confirmation(
            reference=f"tp-{self.run}-{phase}-{k}",
            amount=amount,
            value_date=self.value_date,
            beneficiary=self.holders[resident // RESIDENTS_PER_BENEFICIARY],
            id_type="hkid",
            id_number=f"T{self.run}{resident:05d}",
            category="hk",
            purpose_code="INVS",
        )

    def bodies(self, phase: str, count: int, workers: int) -> list[list[bytes]]:
        """`count` bodies dealt to `workers` lists; worker w signs as bank w mod len(banks)."""
        out: list[list[bytes]] = [[] for _ in range(workers)]
        for k in range(count):
            w = k % workers
            out[w].append(self.body(phase, k, self.banks[w % len(self.banks)]))
        return out


@dataclass
class Sample:
    scheduled: float
    sent: float
    done: float
    status: int


def summarize(samples: list[Sample], *, wall: float) -> dict[str, Any]:
    ok = [s for s in samples if s.status == 201]
    latencies = [s.done - s.sent for s in ok]
    from_schedule = [s.done - s.scheduled for s in ok]
    statuses: dict[str, int] = {}
    for s in samples:
        statuses[str(s.status)] = statuses.get(str(s.status), 0) + 1
    span = (max(s.done for s in ok) - min(s.sent for s in ok)) if ok else 0.0
    return {
        "requests": len(samples),
        "accepted": len(ok),
        "statuses": statuses,
        "wall_s": round(wall, 3),
        "accepted_per_s": _rate(len(ok), span),
        "latency_p50_ms": _ms(percentile(latencies, 50)),
        "latency_p90_ms": _ms(percentile(latencies, 90)),
        "latency_p99_ms": _ms(percentile(latencies, 99)),
        "latency_max_ms": _ms(max(latencies) if latencies else None),
        "from_schedule_p99_ms": _ms(percentile(from_schedule, 99)),
    }


class LoadClient:
    """The load generator's HTTP/1.1 client for one bank: keep-alive connections (at most
    `connections`), pre-encoded request heads, and only the status line, the headers and
    Content-Length bytes read back. The bank client (httpx) costs about 6 ms of CPU per request
    on this machine, more than the service it would measure; this costs a few hundred µs, like a
    wrk-style load tool."""

    def __init__(self, url: str, api_key: str, connections: int, path: str = "/v1/deposits") -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        ).encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(connections)

    async def post(self, body: bytes) -> int:
        """POSTs a deposit body; the HTTP status, or 0 for a failed connection."""
        async with self._slots:
            connection = None
            try:
                connection = (
                    self._idle.pop() if self._idle else await asyncio.open_connection(self.host, self.port)
                )
                reader, writer = connection
                writer.write(b"%sContent-Length: %d\r\n\r\n%s" % (self.head, len(body), body))
                status = int((await reader.readline()).split()[1])
                length, keep = 0, True
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        keep = False
                await reader.readexactly(length)
            except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
                if connection is not None:
                    connection[1].close()
                return 0
            if keep:
                self._idle.append(connection)
            else:
                writer.close()
            return status

    async def aclose(self) -> None:
        while self._idle:
            _, writer = self._idle.pop()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _clients(url: str, banks: list[BankCreds], connections: int) -> list[LoadClient]:
    return [LoadClient(url, b.api_key, connections) for b in banks]


async def closed_loop(
    url: str, banks: list[BankCreds], bodies: list[list[bytes]], *, max_seconds: float
) -> dict:
    """Each worker posts its bodies one after another (one request in flight per worker)."""
    workers = len(bodies)
    clients = _clients(url, banks, connections=workers)
    samples: list[Sample] = []
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker(w: int) -> None:
        client = clients[w % len(banks)]
        for body in bodies[w]:
            if time.perf_counter() > deadline:
                return
            sent = time.perf_counter()
            status = await client.post(body)
            samples.append(Sample(sent, sent, time.perf_counter(), status))

    try:
        await asyncio.gather(*(worker(w) for w in range(workers)))
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    result = summarize(samples, wall=time.perf_counter() - started)
    result["concurrency"] = workers
    return result


async def paced(
    url: str,
    banks: list[BankCreds],
    bodies: list[list[bytes]],
    *,
    rate: float,
    max_inflight: int | None = None,
) -> dict:
    """Open loop: request i starts at t0 + i / rate whatever the answers so far. When more than
    `max_inflight` (default: one second's worth) are unanswered the service has fallen behind:
    no more are started (`fell_behind_after_s`), so an overloaded run stays bounded."""
    flat = [
        (w % len(banks), worker[i])
        for i in range(max(map(len, bodies), default=0))
        for w, worker in enumerate(bodies)
        if i < len(worker)
    ]
    max_inflight = max_inflight or max(8, int(rate))
    clients = _clients(url, banks, connections=max_inflight + 8)
    samples: list[Sample] = []
    tasks = []
    inflight = 0
    fell_behind: float | None = None
    started = time.perf_counter()

    async def one(scheduled: float, bank: int, body: bytes) -> None:
        nonlocal inflight
        inflight += 1
        sent = time.perf_counter()
        status = await clients[bank].post(body)
        samples.append(Sample(scheduled, sent, time.perf_counter(), status))
        inflight -= 1

    try:
        for i, (bank, body) in enumerate(flat):
            scheduled = started + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if inflight > max_inflight:
                fell_behind = time.perf_counter() - started
                break
            tasks.append(asyncio.ensure_future(one(scheduled, bank, body)))
        await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    result = summarize(samples, wall=time.perf_counter() - started)
    result["rate_per_s"] = rate
    result["planned"] = len(flat)
    result["fell_behind_after_s"] = None if fell_behind is None else round(fell_behind, 2)
    return result


def accept_phase(
    stack: BenchStack,
    work: Workload,
    phase: str,
    count: int,
    *,
    clients: int,
    max_seconds: float = 60.0,
    rate: float | None = None,
) -> tuple[dict, int, int]:
    """Runs one accept phase; (result, first seq, last seq) of the deposits it created."""
    bodies = work.bodies(phase, count, clients)
    outbox = Outbox(stack.db_path)
    before = outbox.max_seq()
    if rate is None:
        result = asyncio.run(closed_loop(stack.service_url, work.banks, bodies, max_seconds=max_seconds))
    else:
        result = asyncio.run(paced(stack.service_url, work.banks, bodies, rate=rate))
    return result, before, outbox.max_seq()


# ---- batches end to end: POST /v1/deposits/batch to minted on chain -----------------------------

BATCH_AMOUNT = "1.00"  # 100,000 of them stay far inside the minter's allowance


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def _post_batches(
    url: str, banks: list[BankCreds], bodies: list[tuple[int, bytes]], connections: int
) -> list[int]:
    """Posts each (bank index, batch body), at most `connections` at a time per bank; statuses."""
    clients = [LoadClient(url, b.api_key, connections, path="/v1/deposits/batch") for b in banks]
    try:
        return list(await asyncio.gather(*(clients[b].post(body) for b, body in bodies)))
    finally:
        for client in clients:
            await client.aclose()


def batch_phase(
    stack: BenchStack, work: Workload, count: int, *, batch: int, connections: int, timeout: float
) -> dict[str, Any]:
    """`count` deposits in signed batches of `batch` (one signature per batch, the banks in turn),
    posted with `connections` requests in flight per bank, the minter running: from the first
    request sent to the last deposit minted on chain."""
    from service.client import signed_batch

    bodies = []
    for n, start in enumerate(range(0, count, batch)):
        bank = n % len(work.banks)
        confirmations = [
            work.confirmation("batch", k, BATCH_AMOUNT) for k in range(start, min(count, start + batch))
        ]
        creds = work.banks[bank]
        bodies.append((bank, json.dumps(signed_batch(confirmations, creds.key_id, creds.seed)).encode()))
    outbox = Outbox(stack.db_path)
    before = outbox.max_seq()
    sent_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    statuses = asyncio.run(_post_batches(stack.service_url, work.banks, bodies, connections))
    answered = time.perf_counter() - started
    last = outbox.max_seq()
    counts = outbox.wait_settled(before, last, timeout)
    rows = outbox.times(before, last)
    minted_at = max((_as_utc(r[3]) for r in rows), default=sent_at)
    end_to_end = (minted_at - sent_at).total_seconds()
    sizes = outbox.batches(before, last)
    return {
        "deposits": count,
        "batch": batch,
        "requests": len(bodies),
        "request_statuses": {str(k): v for k, v in sorted(Counter(statuses).items())},
        "statuses": counts,
        "minted": len(rows),
        "all_answered_s": round(answered, 3),
        "accepted_per_s": _rate(counts.get("minted", 0) + counts.get("accepted", 0), answered),
        "first_request_to_last_minted_s": round(end_to_end, 3),
        "deposits_per_s": _rate(len(rows), end_to_end),
        "mint_batches": len(sizes),
        "mint_batch_size_mean": round(sum(sizes) / len(sizes), 1) if sizes else None,
    }


def mint_ceiling(
    rpc_url: str,
    token: str,
    minter_key: str,
    attestor_key: str,
    holders: list[str],
    count: int,
    *,
    batch: int,
) -> dict:
    """anvil's own rate of `mintBatch`: `count` mints of one unit in batches of `batch`, by the
    minter's key, to the benchmark's holders, under fresh deposit ids: pre-signed (gas from one
    estimate), sent a few at a time, timed from the first send to the last mined. Inside an
    `evm_snapshot` reverted afterwards, so the chain is as before: first the attestor's key
    attests reserves far above the supply (not timed), then the mints (no supply nobody
    deposited is left; the workers process, which holds the minter's key, must be stopped)."""
    import httpx
    from eth_account import Account
    from eth_utils import to_checksum_address

    from service.chain.token import Token, encode_mint_batch

    account = Account.from_key(minter_key)
    token = to_checksum_address(token)
    with httpx.Client(base_url=rpc_url, timeout=30) as http:
        snapshot = _rpc(http, "evm_snapshot", [])
        try:
            attestor = Account.from_key(attestor_key)
            Token(rpc_url, token).transact(attestor, "attestReserves", 2**100, bytes(32), bytes(32))
            chain_id = int(_rpc(http, "eth_chainId", []), 16)
            base_fee = int(_rpc(http, "eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
            nonce = int(_rpc(http, "eth_getTransactionCount", [account.address, "pending"]), 16)
            calls = []
            for start in range(0, count, batch):
                items = [
                    (holders[k % len(holders)], 1, os.urandom(32))
                    for k in range(start, min(count, start + batch))
                ]
                calls.append("0x" + encode_mint_batch(items).hex())
            gas = int(
                _rpc(http, "eth_estimateGas", [{"from": account.address, "to": token, "data": calls[0]}]), 16
            )
            raws = []
            for data in calls:
                tx = {
                    "type": 2,
                    "chainId": chain_id,
                    "nonce": nonce,
                    "to": token,
                    "value": 0,
                    "data": data,
                    "gas": gas + gas // 5,
                    "maxFeePerGas": 4 * base_fee + 10**9,
                    "maxPriorityFeePerGas": 10**9,
                }
                nonce += 1
                raws.append("0x" + bytes(account.sign_transaction(tx).raw_transaction).hex())
            elapsed, stalls = _send_paced(http, raws, batch=1, max_pending=4, timeout=120)
            final = int(_rpc(http, "eth_getTransactionCount", [account.address, "latest"]), 16)
            if final != nonce:
                raise RuntimeError("not every mintBatch was mined")
        finally:
            _rpc(http, "evm_revert", [snapshot])
    return {
        "minted": count,
        "batch": batch,
        "transactions": len(raws),
        "gas_per_batch": gas,
        "seconds": round(elapsed, 3),
        "minted_per_s": _rate(count, elapsed),
        "stalls_cleared_with_evm_mine": stalls,
    }


# ---- the minter on a backlog -------------------------------------------------------------------


def minter_backlog(stack: BenchStack, after: int, upto: int, timeout: float) -> dict:
    """`python -m service minter run` as its own process until deposits (after, upto] are minted."""
    outbox = Outbox(stack.db_path)
    log = open(stack.var / "minter.log", "a")  # noqa: SIM115 - closed below
    spawned = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "service", "minter", "run"], cwd=ROOT, env=stack.env, stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            counts = outbox.counts(after, upto)
            if not counts.get("accepted") and not counts.get("minting"):
                break
            if process.poll() is not None:
                raise RuntimeError(
                    f"the minter exited with {process.returncode} (see {stack.var / 'minter.log'})"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the minter did not drain the backlog in {timeout:.0f}s: {counts}")
            time.sleep(0.1)
        wall = time.perf_counter() - spawned
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
    result = mint_rates(outbox, after, upto)
    result["statuses"] = counts
    result["process_spawn_to_last_minted_s"] = round(wall, 3)
    return result


class Timers:
    """Seconds and calls per named part."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.calls[name] = self.calls.get(name, 0) + 1

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - started)

        timed.__wrapped__ = fn  # type: ignore[attr-defined]
        return timed


@contextlib.contextmanager
def patched(patches: list[tuple[object, str, Callable]]) -> Iterator[None]:
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    try:
        for obj, name, value in patches:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


def minter_worker(output: Path, timeout: float) -> None:
    """`--minter-worker`: the service's minter (built from the USHK_* environment as `ushk minter
    run` builds it) with timers around each step; mints until the outbox is empty, writes JSON."""
    from service.audit import repository as audit_repository
    from service.config import Settings
    from service.db import Database
    from service.deposits import outbox as outbox_module
    from service.deposits import repository as deposits_repository
    from service.quota import service as quota_service
    from service.runtime import build_minter

    settings = Settings()
    db = Database.from_settings(settings)
    minter = build_minter(settings, db)
    timers = Timers()
    label: list[str] = []

    class TimedDatabase:
        """The minter's Database; each write transaction (commit included) is timed under the
        name of the outbox step it ran."""

        def __init__(self, inner: Database):
            self._inner = inner

        def __getattr__(self, name: str) -> Any:
            return getattr(self._inner, name)

        @contextlib.contextmanager
        def transaction(self) -> Iterator[Any]:
            label.clear()
            started = time.perf_counter()
            with self._inner.transaction() as session:
                yield session
            timers.add(f"{label[0] if label else 'other'} (transaction)", time.perf_counter() - started)

    def step_label(name: str, fn: Callable) -> Callable:
        def labelled(*args: Any, **kwargs: Any) -> Any:
            label.append(name)
            return timers.wrap(f"{name}: outbox function", fn)(*args, **kwargs)

        return labelled

    token, attestor = minter.token, minter.attestor
    minter.db = TimedDatabase(db)
    patches = [
        (outbox_module, "claim_covered", step_label("claim", outbox_module.claim_covered)),
        (outbox_module, "record_batch_sent", step_label("record sent", outbox_module.record_batch_sent)),
        (outbox_module, "mark_minted", step_label("mark minted", outbox_module.mark_minted)),
        (quota_service, "commit", timers.wrap("mark minted: quota commit", quota_service.commit)),
        (
            audit_repository,
            "write_pending",
            timers.wrap("audit append at commit", audit_repository.write_pending),
        ),
        (token, "minting_paused", timers.wrap("paused check (2 eth_call)", token.minting_paused)),
        (token, "build_mint_batch", timers.wrap("estimate gas + sign", token.build_mint_batch)),
        (token, "send_raw", timers.wrap("broadcast", token.send_raw)),
        (token, "wait_receipt", timers.wrap("wait for receipt", token.wait_receipt)),
    ]
    if attestor is not None:
        patches += [
            (
                attestor,
                "ensure_covers",
                timers.wrap("attestation check (incl. attest)", attestor.ensure_covers),
            ),
            (attestor, "attest", timers.wrap("attest (report, tx, receipt)", attestor.attest)),
        ]
    with patched(patches):
        if not minter.lease.acquire():
            raise SystemExit("another minter holds the lease")
        try:
            minter.recover()
            started = time.perf_counter()
            deadline = time.monotonic() + timeout
            settled = 0
            while time.monotonic() < deadline:
                done = minter.step()
                settled += done
                if done == 0:
                    with db.reading() as session:
                        counts = deposits_repository.count_by_status(session)
                    if not counts.get("accepted") and not counts.get("minting"):
                        break
                    time.sleep(minter.poll_seconds)
            wall = time.perf_counter() - started
        finally:
            minter.lease.release()
    output.write_text(
        json.dumps(
            {
                "settled": settled,
                "batches": minter.stats.batches,
                "wall_s": wall,
                "seconds": timers.seconds,
                "calls": timers.calls,
                "errors": minter.stats.errors,
            }
        )
    )


def minter_breakdown(stack: BenchStack, after: int, upto: int, timeout: float) -> dict:
    """Runs `--minter-worker` as its own process on deposits (after, upto]."""
    output = stack.var / "minter-breakdown.json"
    with open(stack.var / "minter.log", "a") as log:
        subprocess.run(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--minter-worker",
                str(output),
                "--timeout",
                str(timeout),
            ],
            cwd=ROOT,
            env=stack.env,
            stdout=log,
            stderr=log,
            check=True,
            timeout=timeout + 30,
        )
    raw = json.loads(output.read_text())
    wall = raw["wall_s"]
    parts = {
        name: {"s": round(s, 4), "calls": raw["calls"][name], "share": round(s / wall, 3) if wall else None}
        for name, s in sorted(raw["seconds"].items(), key=lambda kv: -kv[1])
    }
    return {
        "deposits": raw["settled"],
        "batches": raw["batches"],
        "wall_s": round(wall, 3),
        "minted_per_s": _rate(raw["settled"], wall),
        "parts": parts,
        "errors": raw["errors"],
        "rates": mint_rates(Outbox(stack.db_path), after, upto),
    }


# ---- the ceiling: anvil's own ERC-20 rate ------------------------------------------------------


def _rpc(http, method: str, params: list) -> Any:
    reply = http.post("", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def _balances(http, token: str, accounts) -> dict[str, int]:
    """USHK balance of each account (one batched `eth_call` of balanceOf per account)."""
    from eth_utils import keccak

    balance_of = keccak(text="balanceOf(address)")[:4]
    calls = [
        (
            "eth_call",
            [
                {"to": token, "data": "0x" + (balance_of + bytes(12) + bytes.fromhex(a.address[2:])).hex()},
                "latest",
            ],
        )
        for a in accounts
    ]
    return {a.address: int(b, 16) for a, b in zip(accounts, _rpc_batch(http, calls), strict=True)}


def _rpc_batch(http, calls: list[tuple[str, list]]) -> list[Any]:
    payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    replies = sorted(http.post("", json=payload).json(), key=lambda r: r["id"])
    errors = [r["error"] for r in replies if "error" in r]
    if errors:
        raise RuntimeError(f"{len(errors)} of {len(calls)} calls failed, e.g. {errors[0]}")
    return [r["result"] for r in replies]


def _send_paced(http, raws: list[str], *, batch: int, max_pending: int, timeout: float) -> tuple[float, int]:
    """Sends pre-signed raw transactions in JSON-RPC batches of `batch`, never more than
    `max_pending` unmined (anvil's automine stalls on a bigger burst); a pool that stops draining
    for half a second is cleared with `evm_mine`. Returns (seconds until all were mined, stalls)."""
    stalls = 0
    deadline = time.monotonic() + timeout

    def wait_pool(limit: int) -> None:
        """Until at most `limit` transactions wait in the pool; evm_mine when it stops draining."""
        nonlocal stalls
        last, since = None, time.monotonic()
        while True:
            status = _rpc(http, "txpool_status", [])
            waiting = int(status["pending"], 16) + int(status["queued"], 16)
            if waiting <= limit:
                return
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"anvil still holds {waiting} transactions after {timeout:.0f}s")
            if waiting != last:
                last, since = waiting, now
            elif now - since > 0.5:
                _rpc(http, "evm_mine", [])
                stalls += 1
                last, since = None, time.monotonic()
            time.sleep(0.005)

    started = time.perf_counter()
    for offset in range(0, len(raws), batch):
        chunk = raws[offset : offset + batch]
        _rpc_batch(http, [("eth_sendRawTransaction", [raw]) for raw in chunk])
        wait_pool(max_pending - batch)
    wait_pool(0)
    return time.perf_counter() - started, stalls


def erc20_ceiling(
    rpc_url: str,
    token: str,
    holders: int,
    transfers: int,
    *,
    batch: int = 200,
    max_pending: int = 600,
    timeout: float = 60.0,
) -> dict:
    """Transfers of 1.00 USHK between the benchmark's holders (each already holds a balance):
    pre-signed, then sent as raw JSON-RPC batches of `batch`, never more than `max_pending`
    unmined: about one block's gas (30M / ~45k). anvil's automine stalls on a bigger burst
    (TOOLCHAIN.md); a pool that stops draining for half a second is cleared with `evm_mine`
    (counted as `stalls`)."""
    import httpx
    from eth_account import Account
    from eth_utils import keccak, to_checksum_address

    candidates = [Account.from_key(holder_key(i)) for i in range(holders)]
    token = to_checksum_address(token)
    selector = keccak(text="transfer(address,uint256)")[:4]
    with httpx.Client(base_url=rpc_url, timeout=30) as http:
        # only holders that can pay every transfer they send before receiving any take part
        balance = _balances(http, token, candidates)
        accounts = [a for a in candidates if balance[a.address] > 0]
        while True:  # each sender pays about transfers / senders; drop those that could not
            need = (transfers // max(len(accounts), 1) + 1) * 10**6
            kept = [a for a in accounts if balance[a.address] >= need]
            if len(kept) == len(accounts):
                break
            accounts = kept
        if len(accounts) < 2:
            raise RuntimeError("fewer than two benchmark holders hold enough USHK for the transfers")
        holders = len(accounts)
        _rpc_batch(http, [("anvil_setBalance", [a.address, hex(10**20)]) for a in accounts])
        nonces = [
            int(n, 16)
            for n in _rpc_batch(http, [("eth_getTransactionCount", [a.address, "pending"]) for a in accounts])
        ]
        chain_id = int(_rpc(http, "eth_chainId", []), 16)
        base_fee = int(_rpc(http, "eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
        signing_started = time.perf_counter()
        raws = []
        for i in range(transfers):
            s = i % holders
            recipient = accounts[(s + 1) % holders].address
            data = selector + bytes.fromhex(recipient[2:]).rjust(32, b"\0") + (10**6).to_bytes(32, "big")
            tx = {
                "type": 2,
                "chainId": chain_id,
                "nonce": nonces[s],
                "to": token,
                "value": 0,
                "data": data,
                "gas": 80_000,
                "maxFeePerGas": 4 * base_fee + 10**9,
                "maxPriorityFeePerGas": 10**9,
            }
            nonces[s] += 1
            raws.append("0x" + bytes(accounts[s].sign_transaction(tx).raw_transaction).hex())
        signing = time.perf_counter() - signing_started
        start_block = int(_rpc(http, "eth_blockNumber", []), 16)
        elapsed, stalls = _send_paced(http, raws, batch=batch, max_pending=max_pending, timeout=timeout)
        final = [
            int(n, 16)
            for n in _rpc_batch(http, [("eth_getTransactionCount", [a.address, "latest"]) for a in accounts])
        ]
        end_block = int(_rpc(http, "eth_blockNumber", []), 16)
        # every transfer's receipt, in batches: all must have succeeded
        hashes = ["0x" + keccak(bytes.fromhex(raw[2:])).hex() for raw in raws]
        failed = 0
        for offset in range(0, len(hashes), 500):
            receipts = _rpc_batch(
                http, [("eth_getTransactionReceipt", [h]) for h in hashes[offset : offset + 500]]
            )
            failed += sum(1 for r in receipts if r is None or int(r["status"], 16) != 1)
    if final != nonces:
        raise RuntimeError("not every transfer was mined")
    return {
        "transfers": transfers,
        "failed": failed,
        "senders": holders,
        "seconds": round(elapsed, 3),
        "transfers_per_s": _rate(transfers, elapsed),
        "blocks": end_block - start_block,
        "signing_per_s": _rate(transfers, signing),
        "batch": batch,
        "max_pending": max_pending,
        "stalls_cleared_with_evm_mine": stalls,
    }


# ---- redemptions: events on chain to payout rows -----------------------------------------------


def _settings_of(env: dict[str, str]):
    """The service's Settings from a stack's USHK_* environment."""
    from service.config import Settings

    return Settings(
        _env_file=None,
        **{k.removeprefix("USHK_").lower(): v for k, v in env.items() if k.startswith("USHK_")},
    )


def redemption_backlog(
    stack: BenchStack,
    holders: int,
    count: int,
    *,
    batch: int = 200,
    max_pending: int = 600,
    timeout: float = 60.0,
) -> dict:
    """Redemptions/s processed into payouts by the redemption watcher, on a backlog.

    The demo bank registers a payout account for each benchmark holder whose balance covers its
    share of the redemptions (POST /v1/payout-accounts); with the stack's workers stopped, those
    holders send `count` pre-signed `redeem(1.00 USHK, payoutRef)` transactions in paced raw
    JSON-RPC batches (as the ceiling); then the watcher (`build_watcher`, as `ushk redemptions
    watch --once` runs it, in this process with timers around its parts) catches up, timed from
    its start until it returns with every payout row committed. Every redemption id must have
    exactly one payout, assigned to the demo bank (pending)."""
    import httpx
    from eth_account import Account
    from eth_utils import keccak, to_checksum_address

    from service import ledger, runtime
    from service.client import BankClient
    from service.db import Database
    from service.redemptions import service as redemption_service

    units = 10**6  # 1.00 USHK per redemption: 100 cents, no dust
    token = to_checksum_address(stack.token)
    candidates = [Account.from_key(holder_key(i)) for i in range(holders)]
    redemption_count = "0x" + keccak(text="redemptionCount()")[:4].hex()
    selector = keccak(text="redeem(uint256,bytes32)")[:4]
    demo = stack.banks[0]
    run = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=stack.rpc_url, timeout=30) as http:
        balance = _balances(http, token, candidates)
        accounts = [a for a in candidates if balance[a.address] > 0]
        while accounts:  # each redeemer redeems about count / redeemers; drop those that could not
            need = -(-count // len(accounts)) * units
            kept = [a for a in accounts if balance[a.address] >= need]
            if len(kept) == len(accounts):
                break
            accounts = kept
        if not accounts:
            raise RuntimeError("no benchmark holder holds enough USHK for the redemptions")

        registering = time.perf_counter()
        refs = {}
        with BankClient(
            stack.service_url, api_key=demo.api_key, key_id=demo.key_id, private_key=demo.seed
        ) as bank:
            for n, a in enumerate(accounts):
                refs[a.address] = bank.register_payout_account(
                    holder=a.address, account_reference=f"bench-{run}-{n}"
                )["payout_ref"]
        registered = time.perf_counter() - registering

        _rpc_batch(http, [("anvil_setBalance", [a.address, hex(10**20)]) for a in accounts])
        nonces = [
            int(n, 16)
            for n in _rpc_batch(http, [("eth_getTransactionCount", [a.address, "pending"]) for a in accounts])
        ]
        chain_id = int(_rpc(http, "eth_chainId", []), 16)
        base_fee = int(_rpc(http, "eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
        raws = []
        for i in range(count):
            s = i % len(accounts)
            ref = bytes.fromhex(refs[accounts[s].address].removeprefix("0x"))
            tx = {
                "type": 2,
                "chainId": chain_id,
                "nonce": nonces[s],
                "to": token,
                "value": 0,
                "data": selector + units.to_bytes(32, "big") + ref,
                "gas": 150_000,
                "maxFeePerGas": 4 * base_fee + 10**9,
                "maxPriorityFeePerGas": 10**9,
            }
            nonces[s] += 1
            raws.append("0x" + bytes(accounts[s].sign_transaction(tx).raw_transaction).hex())
        first_id = int(_rpc(http, "eth_call", [{"to": token, "data": redemption_count}, "latest"]), 16) + 1
        start_block = int(_rpc(http, "eth_blockNumber", []), 16)
        sent, stalls = _send_paced(http, raws, batch=batch, max_pending=max_pending, timeout=timeout)
        last_id = int(_rpc(http, "eth_call", [{"to": token, "data": redemption_count}, "latest"]), 16)
        end_block = int(_rpc(http, "eth_blockNumber", []), 16)
        hashes = ["0x" + keccak(bytes.fromhex(raw[2:])).hex() for raw in raws]
        failed = 0
        for offset in range(0, len(hashes), 500):
            receipts = _rpc_batch(
                http, [("eth_getTransactionReceipt", [h]) for h in hashes[offset : offset + 500]]
            )
            failed += sum(1 for r in receipts if r is None or int(r["status"], 16) != 1)
    if failed or last_id - first_id + 1 != count:
        raise RuntimeError(f"{failed} of {count} redemptions failed; ids {first_id}..{last_id}")

    settings = _settings_of(stack.env)
    db = Database.from_settings(settings)
    try:
        watcher = runtime.build_watcher(settings, db)
        watcher.confirmations = 0
        cursor_before = watcher.cursor()
        timers = Timers()
        watcher.fetch = timers.wrap("eth_getLogs + decode", watcher.fetch)
        patches = [
            (
                redemption_service,
                "record_redemption",
                timers.wrap("record_redemption (payout insert, audit)", redemption_service.record_redemption),
            )
        ]
        if hasattr(ledger, "record_redemption"):  # the reserve ledger's posting, where the watcher makes it
            patches.append(
                (ledger, "record_redemption", timers.wrap("ledger posting", ledger.record_redemption))
            )
        if getattr(watcher, "attestor", None) is not None:
            watcher.attestor.ensure_not_above_attestable = timers.wrap(
                "attestation check", watcher.attestor.ensure_not_above_attestable
            )
        with patched(patches):
            started = time.perf_counter()
            watcher.catch_up()
            wall = time.perf_counter() - started
        stats = watcher.stats
        scanned = watcher.cursor() - cursor_before
    finally:
        db.dispose()

    conn = sqlite3.connect(f"file:{stack.db_path}?mode=ro", uri=True, timeout=30)
    try:
        per_id = dict(
            conn.execute(
                "SELECT redemption_id, count(*) FROM payouts WHERE redemption_id >= ? GROUP BY redemption_id",
                (first_id,),
            ).fetchall()
        )
        statuses = dict(
            conn.execute(
                "SELECT status, count(*) FROM payouts WHERE redemption_id >= ? GROUP BY status", (first_id,)
            ).fetchall()
        )
        banks = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT b.name FROM payouts p JOIN banks b ON b.id = p.bank_id WHERE p.redemption_id >= ?",
                (first_id,),
            ).fetchall()
        }
    finally:
        conn.close()
    exactly_once = set(per_id) == set(range(first_id, last_id + 1)) and all(n == 1 for n in per_id.values())
    if not exactly_once:
        raise RuntimeError(
            f"payouts of redemptions {first_id}..{last_id}: {len(per_id)} ids, {sum(per_id.values())} rows"
        )
    parts = {
        name: {"s": round(sec, 4), "share": round(sec / wall, 3) if wall else None}
        for name, sec in sorted(timers.seconds.items(), key=lambda kv: -kv[1])
    }
    accounted = sum(timers.seconds.values())
    parts["rest (transactions, commit, cursor, audit)"] = {
        "s": round(wall - accounted, 4),
        "share": round((wall - accounted) / wall, 3) if wall else None,
    }
    return {
        "redemptions": count,
        "redeemers": len(accounts),
        "payout_accounts_registered": len(refs),
        "payout_account_registration_s": round(registered, 3),
        "redeem_tx_per_s_on_chain": _rate(count, sent),
        "stalls_cleared_with_evm_mine": stalls,
        "blocks": end_block - start_block,
        "blocks_scanned": scanned,
        "watcher_ranges": stats.ranges,
        "watcher_events": stats.events,
        "payouts_created": stats.created,
        "payout_statuses": statuses,
        "payout_banks": sorted(banks),
        "each_redemption_one_payout": exactly_once,
        "watcher_s": round(wall, 3),
        "redemptions_per_s": _rate(count, wall),
        "watcher_parts": parts,
        "watcher": "build_watcher (as `ushk redemptions watch --once`), in the benchmark process, "
        "confirmations 0, the stack's workers process stopped",
    }


# ---- where time goes in the accept path --------------------------------------------------------


def profile_accept(requests: int, tmp: Path) -> dict:
    """The accept path in-process (FastAPI TestClient, no network): timers around its parts over
    `requests` deposits, after a warm-up, on a fresh SQLite WAL database."""
    import secrets

    from fastapi.testclient import TestClient
    from sqlalchemy.orm import Session

    from service.app import create_app
    from service.audit import repository as audit_repository
    from service.banks import service as banks
    from service.config import Settings
    from service.db import Database
    from service.deposits import service as deposits
    from service.deposits.signing import public_key_b64
    from service.quota import service as quota
    from service.webhooks import service as webhooks

    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp / 'profile.db'}",
        id_hmac_secret=secrets.token_urlsafe(48),
        webhook_signing_key=secrets.token_urlsafe(48),
        policy_file=ROOT / "config" / "policy.demo.yaml",
    )
    db = Database.from_settings(settings)
    db.upgrade()
    seed = os.urandom(32)
    with db.transaction() as session:
        created = banks.create_bank(
            session, settings, "profile-bank", actor="bench", public_key=public_key_b64(seed)
        )
    bank = BankCreds("profile-bank", created.api_key, created.signing_key.key_id, seed.hex())
    work = Workload.make([bank], holders=64)
    warmup = [work.body("warm", k, bank) for k in range(20)]
    bodies = [work.body("prof", k, bank) for k in range(requests)]
    timers = Timers()
    headers = {"Authorization": f"Bearer {bank.api_key}", "Content-Type": "application/json"}
    patches = [
        (banks, "authenticate_bank", timers.wrap("auth (API key lookup)", banks.authenticate_bank)),
        (deposits, "submit", timers.wrap("submit()", deposits.submit)),
        (deposits, "verify_signature", timers.wrap("submit: Ed25519 verify", deposits.verify_signature)),
        (quota, "check_watch_list", timers.wrap("submit: watch list", quota.check_watch_list)),
        (quota, "check_splitting", timers.wrap("submit: splitting check", quota.check_splitting)),
        (quota, "hold", timers.wrap("submit: quota hold", quota.hold)),
        (banks, "charge_daily", timers.wrap("submit: bank daily limit", banks.charge_daily)),
        (
            webhooks,
            "enqueue_deposit_event",
            timers.wrap("submit: webhook enqueue", webhooks.enqueue_deposit_event),
        ),
        (Session, "flush", timers.wrap("ORM flush (inserts/updates)", Session.flush)),
        (Session, "commit", timers.wrap("commit", Session.commit)),
        (
            audit_repository,
            "write_pending",
            timers.wrap("commit: audit append", audit_repository.write_pending),
        ),
    ]
    app = create_app(settings, db)
    statuses: dict[int, int] = {}
    with TestClient(app) as client:
        for body in warmup:
            client.post("/v1/deposits", content=body, headers=headers)
        with patched(patches):
            started = time.perf_counter()
            for body in bodies:
                status = client.post("/v1/deposits", content=body, headers=headers).status_code
                statuses[status] = statuses.get(status, 0) + 1
            total = time.perf_counter() - started
    db.dispose()
    per = {
        name: round(s / requests * 1000, 3)
        for name, s in sorted(timers.seconds.items(), key=lambda kv: -kv[1])
    }
    accounted = sum(timers.seconds.get(n, 0.0) for n in ("auth (API key lookup)", "submit()", "commit"))
    per["rest (FastAPI, pydantic, routing, TestClient)"] = round((total - accounted) / requests * 1000, 3)
    return {
        "requests": requests,
        "statuses": {str(k): v for k, v in statuses.items()},
        "ms_per_request": round(total / requests * 1000, 3),
        "requests_per_s_one_thread": _rate(requests, total),
        "parts_ms_per_request": per,
        "note": "ORM flush counts inside submit(); the flush at commit counts under commit",
    }


# ---- the run -----------------------------------------------------------------------------------


def machine_facts(stack: BenchStack | None) -> dict:
    anvil = None
    with contextlib.suppress(Exception):
        out = subprocess.run(["anvil", "--version"], capture_output=True, text=True, timeout=10).stdout
        anvil = out.splitlines()[0].removeprefix("anvil Version: ").strip()
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "anvil": anvil,
        "anvil_mode": "automine and an empty block a second (--block-time 1 --mixed-mining, as make run)",
    }


def measure(cfg: Config, var: Path, *, log: Callable[[str], None] = say) -> dict:
    """Every measurement on one fresh stack in `var`; the result as written to the JSON."""
    from service.config import Settings

    run_started = time.perf_counter()
    load_before = os.getloadavg()
    stack = BenchStack(var)
    out: dict[str, Any] = {}
    try:
        stack.start(banks=cfg.banks)
        work = Workload.make(stack.banks, cfg.holders)
        outbox = Outbox(stack.db_path)
        batch_size = int(
            stack.env.get("USHK_MINTER_BATCH_SIZE", Settings.model_fields["minter_batch_size"].default)
        )
        out["config"] = {
            "clients": cfg.clients,
            "banks": len(stack.banks),
            "beneficiaries": cfg.holders,
            "residents": cfg.holders * RESIDENTS_PER_BENEFICIARY,
            "amount": AMOUNT,
            "category": "hk",
            "minter_batch_size": batch_size,
            "minter_poll_seconds": float(
                stack.env.get(
                    "USHK_MINTER_POLL_SECONDS", Settings.model_fields["minter_poll_seconds"].default
                )
            ),
            "database": "SQLite WAL (synchronous=NORMAL)",
        }
        # warm-up: connections, the first attestation
        accept_phase(stack, work, "warm", min(20, cfg.saturation_count), clients=2)
        outbox.wait_settled(0, outbox.max_seq(), cfg.mint_timeout)

        log(f"accept, closed loop: {cfg.clients} clients, {cfg.saturation_count} deposits, minter running")
        sat, first, last = accept_phase(
            stack, work, "sat", cfg.saturation_count, clients=cfg.clients, max_seconds=cfg.saturation_seconds
        )
        outbox.wait_settled(first, last, cfg.mint_timeout)
        sat_mint = mint_rates(outbox, first, last)
        log(
            f"  {sat['accepted_per_s']}/s accepted, p99 {sat['latency_p99_ms']} ms; "
            f"{sat_mint.get('minted_per_s_from_first_accept')}/s minted from first accept"
        )

        log(f"accept, paced: {cfg.paced_rate:g}/s for {cfg.paced_seconds:g}s, minter running")
        count = max(1, round(cfg.paced_rate * cfg.paced_seconds))
        pace, first, last = accept_phase(
            stack, work, "paced", count, clients=cfg.clients, rate=cfg.paced_rate
        )
        outbox.wait_settled(first, last, cfg.mint_timeout)
        pace_mint = mint_rates(outbox, first, last)
        behind = pace["fell_behind_after_s"]
        log(
            f"  p50 {pace['latency_p50_ms']} ms, p99 {pace['latency_p99_ms']} ms; "
            f"accept to minted p99 {pace_mint.get('accept_to_minted_p99_ms')} ms"
            + (
                f"; fell behind after {behind} s, {pace['requests']} of {pace['planned']} sent"
                if behind
                else ""
            )
        )

        log(
            f"batches end to end: {cfg.batch_count} deposits in signed batches of {cfg.batch_size}, "
            "minter running"
        )
        batches = batch_phase(
            stack,
            work,
            cfg.batch_count,
            batch=cfg.batch_size,
            connections=cfg.batch_connections,
            timeout=cfg.batch_timeout,
        )
        log(
            f"  {batches['deposits_per_s']}/s first request -> last minted "
            f"({batches['first_request_to_last_minted_s']} s; all answered in {batches['all_answered_s']} s)"
        )

        log("the stack's workers process (minter, watcher, reconciler, attestor) stopped")
        stack.stack.stop_workers()
        from run_stack import ATTESTOR, DEV_ACCOUNTS, MINTER

        log(
            f"ceiling: {cfg.mint_ceiling_count} mints in mintBatch of {batch_size} straight to anvil (reverted)"
        )
        mint_top = mint_ceiling(
            stack.rpc_url,
            stack.token,
            DEV_ACCOUNTS[MINTER][1],
            DEV_ACCOUNTS[ATTESTOR][1],
            work.holders,
            cfg.mint_ceiling_count,
            batch=batch_size,
        )
        share = (
            round(batches["deposits_per_s"] / mint_top["minted_per_s"], 3)
            if mint_top["minted_per_s"]
            else None
        )
        log(f"  {mint_top['minted_per_s']}/s; the batch path reaches {share} of it")
        log(f"accept, closed loop without the minter: {cfg.backlog_count} deposits (the backlog)")
        backlog, first, last = accept_phase(
            stack, work, "backlog", cfg.backlog_count, clients=cfg.clients, max_seconds=cfg.backlog_seconds
        )
        log(f"  {backlog['accepted_per_s']}/s accepted, p99 {backlog['latency_p99_ms']} ms")
        log(f"minter: `python -m service minter run` on {last - first} accepted deposits")
        minter = minter_backlog(stack, first, last, cfg.mint_timeout)
        log(
            f"  {minter.get('minted_per_s_from_first_claim')}/s from its first claim, "
            f"{minter.get('batches')} batches"
        )

        log(f"minter breakdown: an instrumented minter process on {cfg.breakdown_count} deposits")
        _, first, last = accept_phase(
            stack,
            work,
            "breakdown",
            cfg.breakdown_count,
            clients=cfg.clients,
            max_seconds=cfg.breakdown_seconds,
        )
        breakdown = minter_breakdown(stack, first, last, cfg.mint_timeout)
        log(f"  {breakdown['minted_per_s']}/s over {breakdown['batches']} batches")

        log(f"ceiling: {cfg.transfers} USHK transfers straight to anvil")
        ceiling = erc20_ceiling(
            stack.rpc_url, stack.token, cfg.holders, cfg.transfers, batch=cfg.transfer_batch
        )
        log(f"  {ceiling['transfers_per_s']}/s")

        log(f"redemptions: {cfg.redemptions} redeem transactions, then the watcher on the backlog")
        redemptions = redemption_backlog(stack, cfg.holders, cfg.redemptions, batch=cfg.transfer_batch)
        log(
            f"  {redemptions['redemptions_per_s']}/s events to payout rows "
            f"({redemptions['payouts_created']} payouts in {redemptions['watcher_s']} s)"
        )
        out["machine"] = machine_facts(stack)
    finally:
        stack.stop()

    log(f"accept path in-process: {cfg.profile_requests} deposits through TestClient")
    profile = profile_accept(cfg.profile_requests, var)

    out["accept"] = {"saturated_with_minter": sat, "paced": pace, "saturated_no_minter": backlog}
    out["mint"] = {
        "end_to_end_saturated": sat_mint,
        "end_to_end_paced": pace_mint,
        "minter_process_backlog": minter,
    }
    out["ceiling"] = {"erc20_transfers": ceiling, "mint_batch": mint_top}
    out["batch_end_to_end"] = {
        **batches,
        "mint_ceiling_per_s": mint_top["minted_per_s"],
        "share_of_mint_ceiling": share,
    }
    out["redemptions"] = {"watcher_backlog": redemptions}
    out["where_time_goes"] = {"accept_in_process": profile, "minter": breakdown}
    out["targets"] = TARGETS
    out["verdicts"] = {
        "paced_accept_p99_ms": "missed"
        if pace["fell_behind_after_s"] is not None
        else _verdict(pace["latency_p99_ms"], TARGETS["paced_accept_p99_ms"], lower=True),
        "minted_per_s": _verdict(
            minter.get("minted_per_s_from_first_claim"), TARGETS["minted_per_s"], lower=False
        ),
        "batch_deposits_per_s": _verdict(
            batches["deposits_per_s"], TARGETS["batch_deposits_per_s"], lower=False
        ),
        "batch_share_of_mint_ceiling": _verdict(share, TARGETS["batch_share_of_mint_ceiling"], lower=False),
        "paced_attestations_per_1000_minted": _verdict(
            pace_mint.get("attestations_per_1000_minted"),
            TARGETS["paced_attestations_per_1000_minted"],
            lower=True,
            strict=True,
        ),
    }
    out["machine"]["loadavg_1_5_15_before"] = [round(x, 2) for x in load_before]
    out["machine"]["loadavg_1_5_15_after"] = [round(x, 2) for x in os.getloadavg()]
    out["run_seconds"] = round(time.perf_counter() - run_started, 1)
    out["measured_at"] = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return out


def _verdict(value: float | None, target: float, *, lower: bool, strict: bool = False) -> str:
    if value is None:
        return "not measured"
    if strict and value == target:
        return "missed"
    return "ok" if (value <= target if lower else value >= target) else "missed"


def _f(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"


def table(result: dict) -> str:
    a, m, c = result["accept"], result["mint"], result["ceiling"]["erc20_transfers"]
    cfg = result["config"]
    lines = [
        f"{'measurement':<58} {'value':>12}  {'p50':>9} {'p99':>9}",
        "-" * 94,
    ]

    def row(name: str, value: Any, p50: Any = None, p99: Any = None, note: str = "") -> None:
        lines.append(f"{name:<58} {_f(value):>12}  {_f(p50):>9} {_f(p99):>9}  {note}")

    sat, pace, nom = a["saturated_with_minter"], a["paced"], a["saturated_no_minter"]
    row(
        f"accepted/s, {sat['concurrency']} clients, minter running (ms)",
        sat["accepted_per_s"],
        sat["latency_p50_ms"],
        sat["latency_p99_ms"],
        f"n={sat['accepted']}",
    )
    row(
        f"accepted/s, {nom['concurrency']} clients, minter off (ms)",
        nom["accepted_per_s"],
        nom["latency_p50_ms"],
        nom["latency_p99_ms"],
        f"n={nom['accepted']}",
    )
    verdict = result["verdicts"]["paced_accept_p99_ms"]
    behind = pace["fell_behind_after_s"]
    row(
        f"paced {pace['rate_per_s']:g}/s: accept latency (ms)",
        pace["accepted_per_s"],
        pace["latency_p50_ms"],
        pace["latency_p99_ms"],
        f"target p99 <= {TARGETS['paced_accept_p99_ms']:g} ms: {verdict}"
        + (
            f"; fell behind after {behind} s ({pace['requests']} of {pace['planned']} sent)" if behind else ""
        ),
    )
    e2e, pm, mb = m["end_to_end_saturated"], m["end_to_end_paced"], m["minter_process_backlog"]
    row(
        "minted/s, first accept -> last minted (saturated run)",
        e2e.get("minted_per_s_from_first_accept"),
        note=f"n={e2e.get('minted')}, {e2e.get('batches')} batches",
    )
    row(
        "paced run: accept -> minted (ms)",
        pm.get("minted"),
        pm.get("accept_to_minted_p50_ms"),
        pm.get("accept_to_minted_p99_ms"),
        f"{pm.get('batches')} batches, mean {pm.get('batch_size_mean')}",
    )
    verdict = result["verdicts"]["paced_attestations_per_1000_minted"]
    row(
        "paced run: attestations per 1,000 minted deposits",
        pm.get("attestations_per_1000_minted"),
        note=f"{pm.get('attestations')} attestations; target under {TARGETS['paced_attestations_per_1000_minted']:g}: "
        f"{verdict}",
    )
    verdict = result["verdicts"]["minted_per_s"]
    row(
        "minted/s, minter process on a backlog (first claim -> last)",
        mb.get("minted_per_s_from_first_claim"),
        note=f"n={mb.get('minted')}, {mb.get('batches')} batches of <= {cfg['minter_batch_size']}; "
        f"target >= {TARGETS['minted_per_s']:,.0f}: {verdict}",
    )
    row("  same, from process spawn", _rate(mb.get("minted", 0), mb.get("process_spawn_to_last_minted_s", 0)))
    row(
        "ceiling: anvil ERC-20 transfers/s (automine, as make run)",
        c["transfers_per_s"],
        note=f"n={c['transfers']}",
    )
    b, top = result["batch_end_to_end"], result["ceiling"]["mint_batch"]
    row(
        f"batches of {b['batch']}: deposits/s, first request -> last minted",
        b["deposits_per_s"],
        note=f"n={b['minted']}, target >= {TARGETS['batch_deposits_per_s']:g}/s: "
        f"{result['verdicts']['batch_deposits_per_s']}",
    )
    row(
        f"ceiling: anvil mintBatch of {top['batch']}, mints/s (reverted after)",
        top["minted_per_s"],
        note=f"n={top['minted']}",
    )
    row(
        "  batch path's share of that ceiling (%)",
        None if b["share_of_mint_ceiling"] is None else round(100 * b["share_of_mint_ceiling"], 1),
        note=f"target >= {TARGETS['batch_share_of_mint_ceiling']:g}: "
        f"{result['verdicts']['batch_share_of_mint_ceiling']}",
    )
    r = result["redemptions"]["watcher_backlog"]
    row(
        "redemptions/s processed into payouts (events -> payout rows)",
        r["redemptions_per_s"],
        note=f"n={r['redemptions']}, watcher on a backlog, {r['watcher_ranges']} ranges; "
        f"one payout per redemption id: {'yes' if r['each_redemption_one_payout'] else 'NO'}",
    )
    lines.append("")
    lines.append("where time goes, accept path in-process (ms per deposit):")
    prof = result["where_time_goes"]["accept_in_process"]
    lines.append(f"  {'total':<52} {prof['ms_per_request']:>8.3f}")
    for name, ms in prof["parts_ms_per_request"].items():
        lines.append(f"  {name:<52} {ms:>8.3f}")
    br = result["where_time_goes"]["minter"]
    lines.append("")
    lines.append(
        f"where time goes, minter ({br['deposits']} deposits, {br['batches']} batches, "
        f"{br['wall_s']:.2f} s, {br['minted_per_s']:,.0f}/s):"
    )
    for name, part in br["parts"].items():
        per_batch = part["s"] / max(1, br["batches"]) * 1000
        lines.append(f"  {name:<52} {part['s']:>8.3f} s  {part['share']:>6.1%}  {per_batch:>8.1f} ms/batch")
    lines.append("")
    lines.append(f"where time goes, redemption watcher ({r['redemptions']} events, {r['watcher_s']:.2f} s):")
    for name, part in r["watcher_parts"].items():
        per_event = part["s"] / max(1, r["redemptions"]) * 1000
        lines.append(
            f"  {name:<52} {part['s']:>8.3f} s  {part['share'] or 0:>6.1%}  {per_event:>8.3f} ms/event"
        )
    return "\n".join(lines)


def use_project_tools() -> None:
    """anvil, ape and solc from the project's .tools and venv first on PATH (as the Makefile does)."""
    tools = ROOT / ".tools"
    os.environ["PATH"] = os.pathsep.join(
        [str(tools / "bin"), str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
    os.environ.setdefault("SOLCX_BINARY_PATH", str(tools / "solcx"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=OUTPUT, help="where to write the JSON (bench/throughput.json)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts (a smoke run)")
    parser.add_argument(
        "--batch-count", type=int, default=None, help="deposits of the batch phase (default 100,000)"
    )
    parser.add_argument("--minter-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=90.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.minter_worker:
        minter_worker(args.minter_worker, args.timeout)
        return 0

    use_project_tools()
    cfg = Config.quick() if args.quick else Config()
    if args.batch_count is not None:
        cfg = dataclasses.replace(cfg, batch_count=args.batch_count)
    with tempfile.TemporaryDirectory(prefix="ushk-throughput-") as tmp:
        result = measure(cfg, Path(tmp))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    m = result["machine"]
    print(
        f"\n{m['cores']} cores, Python {m['python']}, SQLite {m['sqlite']}, anvil {m['anvil']}; load average "
        f"{m['loadavg_1_5_15_before'][0]:.1f} before, {m['loadavg_1_5_15_after'][0]:.1f} after; "
        f"{result['run_seconds']} s; wrote {args.output}"
    )
    missed = [name for name, verdict in result["verdicts"].items() if verdict == "missed"]
    if missed:
        print(f"missed target: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
