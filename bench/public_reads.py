"""Public reads beside deposits: `make bench` (python bench/public_reads.py).

Starts the stack of bench/throughput.py (anvil, USHK deployed, `python -m service serve` on
SQLite WAL with the workers in their own process; tools/run_stack.py) and measures the paced
p99 of single deposits at 200/s (throughput.py's open-loop `paced`, 8 clients, 4 banks):

1. alone (the baseline);
2. with 500 public reads/s alongside, sent by a load process of its own (raw keep-alive HTTP/1.1
   GETs, open loop, round robin over GET /v1/reserves, /v1/public/mints, /v1/public/redemptions,
   /v1/public/events, /v1/public/quota, each page of 100 items);
3. with the same reads sent to a process of their own (`ushk serve --public-only`, niced by 10
   unless `--nice N` says otherwise), the layout docs/public-ledger.md recommends (a proxy
   routes the public paths to it);
4. alone again (the database has grown by then: the second baseline shows how much of a
   difference is growth rather than the reads).

The API process serves the chain figures of GET /v1/reserves from its cached chain view
(USHK_PUBLIC_CACHE_SECONDS), so the reads make no JSON-RPC call; the ledger figures and the
listings are database reads (SQLite WAL: readers never wait for the writer) in the same process
as the deposit writer.

Writes bench/public_reads.json and prints a table. The verdict is on the recommended layout
(run 3): "moved" (exit 1) when its deposit p99 exceeds the first baseline by more than the
tolerance (20 % or 5 ms, whichever is more), or fewer than 95 % of its reads were sent and
answered 200. Run 2 (reads in the bank API's own process) is reported with its own verdict,
not judged; so is the second baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as tp  # bench/throughput.py, beside this file

OUTPUT = tp.ROOT / "bench" / "public_reads.json"
READ_PATHS = (
    "/v1/reserves",
    "/v1/public/mints?limit=100",
    "/v1/public/redemptions?limit=100",
    "/v1/public/events?limit=100",
    "/v1/public/quota",
)
TOLERANCE = (0.20, 5.0)  # relative, absolute ms


# ---- the reader process ----------------------------------------------------------------------------


class GetClient:
    """Keep-alive HTTP/1.1 GETs reading only the status, the headers and Content-Length bytes."""

    def __init__(self, url: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self, path: str) -> int:
        reused = bool(self._idle)
        status = await self._get(path, fresh=False)
        if status == 0 and reused:  # the server closed the idle connection (keep-alive timeout)
            status = await self._get(path, fresh=True)
        return status

    async def _get(self, path: str, *, fresh: bool) -> int:
        connection = None
        try:
            if self._idle and not fresh:
                connection = self._idle.pop()
            else:
                connection = await asyncio.open_connection(self.host, self.port)
            reader, writer = connection
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode())
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError):
            if connection is not None:
                connection[1].close()
            return 0
        except asyncio.CancelledError:  # timed out (read_load): the connection is not reused
            if connection is not None:
                connection[1].close()
            raise
        self._idle.append(connection)
        return status

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


async def read_load(url: str, rate: float, seconds: float) -> dict:
    """Open loop: read i starts at t0 + i / rate (at most a second's worth in flight)."""
    client = GetClient(url)
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    inflight, skipped, tasks = 0, 0, []
    count = int(rate * seconds)
    started = time.perf_counter()

    async def one(path: str) -> None:
        nonlocal inflight
        inflight += 1
        sent = time.perf_counter()
        try:
            status = await asyncio.wait_for(client.get(path), timeout=10.0)
        except TimeoutError:
            status = -1
        latencies.append(time.perf_counter() - sent)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        inflight -= 1

    for i in range(count):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if inflight > rate:
            skipped += 1
            continue
        tasks.append(asyncio.ensure_future(one(READ_PATHS[i % len(READ_PATHS)])))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    client.close()
    return {
        "planned": count,
        "sent": len(tasks),
        "skipped_behind": skipped,
        "statuses": statuses,
        "reads_per_s": tp._rate(len(tasks), wall),
        "latency_p50_ms": tp._ms(tp.percentile(latencies, 50)),
        "latency_p99_ms": tp._ms(tp.percentile(latencies, 99)),
    }


def reader_main(url: str, rate: float, seconds: float, output: Path) -> None:
    output.write_text(json.dumps(asyncio.run(read_load(url, rate, seconds))))


# ---- the runs ------------------------------------------------------------------------------------


def deposits(stack: tp.BenchStack, work: tp.Workload, phase: str, rate: float, seconds: float) -> dict:
    count = max(1, round(rate * seconds))
    result, first, last = tp.accept_phase(stack, work, phase, count, clients=8, rate=rate)
    tp.Outbox(stack.db_path).wait_settled(first, last, 120.0)
    return result


def with_reads(
    stack: tp.BenchStack,
    work: tp.Workload,
    url: str,
    result_file: Path,
    *,
    rate: float,
    reads: float,
    seconds: float,
) -> tuple[dict, dict]:
    """Deposits at `rate` while a load process sends `reads` public reads/s to `url`."""
    reader = subprocess.Popen(
        [sys.executable, __file__, "--reader", url, str(reads), str(seconds + 2.0), str(result_file)]
    )
    time.sleep(1.0)  # the reads are running before the first deposit
    result = deposits(stack, work, result_file.stem, rate, seconds)
    if reader.wait(timeout=seconds + 120) != 0:
        raise RuntimeError("the reader process failed")
    read_result = json.loads(result_file.read_text())
    tp.say(
        f"  p99 {result['latency_p99_ms']} ms; reads {read_result['reads_per_s']}/s, "
        f"p99 {read_result['latency_p99_ms']} ms"
    )
    return result, read_result


def measure(var: Path, *, rate: float, reads: float, seconds: float, nice: int = 10) -> dict:
    load_before = os.getloadavg()
    started = time.perf_counter()
    stack = tp.BenchStack(var)
    out: dict[str, Any] = {}
    try:
        stack.start(banks=4)
        work = tp.Workload.make(stack.banks, 250)
        tp.accept_phase(stack, work, "warm", 40, clients=2)
        tp.Outbox(stack.db_path).wait_settled(0, tp.Outbox(stack.db_path).max_seq(), 90.0)
        out["config"] = {
            "deposits_per_s": rate,
            "public_reads_per_s": reads,
            "seconds_per_run": seconds,
            "deposit_clients": 8,
            "banks": len(stack.banks),
            "read_paths": list(READ_PATHS),
            "database": "SQLite WAL (synchronous=NORMAL)",
            "public_cache_seconds": float(stack.env.get("USHK_PUBLIC_CACHE_SECONDS", 2.0)),
            "public_process_nice": nice,
        }
        tp.say(f"deposits alone: {rate:g}/s for {seconds:g} s")
        out["baseline"] = deposits(stack, work, "base", rate, seconds)
        tp.say(f"  p99 {out['baseline']['latency_p99_ms']} ms")

        tp.say(f"deposits with {reads:g} public reads/s alongside, in the bank API's process")
        out["with_reads"], out["reads"] = with_reads(
            stack, work, stack.service_url, var / "reads.json", rate=rate, reads=reads, seconds=seconds
        )
        public_url = stack.stack.start_public(tp.free_port(), nice=nice)
        tp.say(f"deposits with {reads:g} public reads/s sent to a public process of their own")
        out["with_reads_public_process"], out["reads_public_process"] = with_reads(
            stack, work, public_url, var / "reads-public.json", rate=rate, reads=reads, seconds=seconds
        )

        tp.say(f"deposits alone again: {rate:g}/s for {seconds:g} s")
        out["baseline_after"] = deposits(stack, work, "base2", rate, seconds)
        tp.say(f"  p99 {out['baseline_after']['latency_p99_ms']} ms")
        out["machine"] = tp.machine_facts(stack)
    finally:
        stack.stop()
    base = out["baseline"]["latency_p99_ms"] or 0.0
    allowed = base + max(base * TOLERANCE[0], TOLERANCE[1])

    def verdict(deposits_run: dict, reads_run: dict) -> str:
        reads_ok = reads_run["reads_per_s"] >= 0.95 * reads and set(reads_run["statuses"]) == {"200"}
        return "held" if (deposits_run["latency_p99_ms"] or 0.0) <= allowed and reads_ok else "moved"

    out["deposit_p99_ms"] = {
        "baseline": out["baseline"]["latency_p99_ms"],
        "with_public_reads_same_process": out["with_reads"]["latency_p99_ms"],
        "with_public_reads_public_process": out["with_reads_public_process"]["latency_p99_ms"],
        "baseline_after": out["baseline_after"]["latency_p99_ms"],
        "allowed": round(allowed, 2),
    }
    out["verdict_same_process"] = verdict(out["with_reads"], out["reads"])
    out["verdict"] = verdict(out["with_reads_public_process"], out["reads_public_process"])
    out["machine"]["loadavg_1_5_15_before"] = load_before
    out["machine"]["loadavg_1_5_15_after"] = os.getloadavg()
    out["run_seconds"] = round(time.perf_counter() - started, 1)
    return out


def table(result: dict) -> str:
    p = result["deposit_p99_ms"]
    n = result["config"]["public_reads_per_s"]

    def reads_row(r: dict) -> str:
        return f"{r['reads_per_s']}/s, p50 {r['latency_p50_ms']} ms, p99 {r['latency_p99_ms']} ms, {json.dumps(r['statuses'])}"

    rows = [
        ("deposit p99, alone", f"{p['baseline']} ms"),
        (f"deposit p99, {n:g} reads/s in the API's process", f"{p['with_public_reads_same_process']} ms"),
        ("  verdict (reported)", result["verdict_same_process"]),
        ("  reads", reads_row(result["reads"])),
        (f"deposit p99, {n:g} reads/s to a public process", f"{p['with_public_reads_public_process']} ms"),
        ("  reads", reads_row(result["reads_public_process"])),
        ("deposit p99, alone again", f"{p['baseline_after']} ms"),
        ("allowed (first baseline + 20 % or 5 ms)", f"{p['allowed']} ms"),
        ("verdict (public process)", result["verdict"]),
    ]
    return "\n".join(f"  {name:<48} {value}" for name, value in rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--rate", type=float, default=200.0, help="deposits/s")
    parser.add_argument("--reads", type=float, default=500.0, help="public reads/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--nice", type=int, default=10, help="the public process's niceness")
    parser.add_argument("--reader", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reader:
        url, rate, seconds, output = args.reader
        reader_main(url, float(rate), float(seconds), Path(output))
        return 0
    tp.use_project_tools()
    with tempfile.TemporaryDirectory(prefix="ushk-public-reads-") as tmp:
        result = measure(Path(tmp), rate=args.rate, reads=args.reads, seconds=args.seconds, nice=args.nice)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    m = result["machine"]
    print(
        f"\n{m['cores']} cores, Python {m['python']}, SQLite {m['sqlite']}; load average "
        f"{m['loadavg_1_5_15_before'][0]:.1f} before, {m['loadavg_1_5_15_after'][0]:.1f} after; "
        f"{result['run_seconds']} s; wrote {args.output}"
    )
    return 0 if result["verdict"] == "held" else 1


if __name__ == "__main__":
    sys.exit(main())
