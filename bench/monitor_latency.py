"""The supervisors' monitor live: `make bench` (python bench/monitor_latency.py).

Starts the stack of bench/throughput.py (anvil with automine and an empty block a second, as
`make run`; USHK deployed; the service on SQLite WAL with its workers) and the monitor as
`make run` starts it (`ushk monitor run`: its own key and store, config/monitor-rules.yaml),
with a confirmation depth of 1 block and 0.2 s between polls, then measures:

1. latency: `count` governance events (a freeze, then an unfreeze, of one account, by the
   compliance key), one every 0.25 s; for each, the wall-clock time from the transaction's receipt
   to the monitor's finding about it arriving on its server-sent-events feed (/v1/monitor/events).
   On this chain a transaction is mined at once, so the figure includes the wait for the next
   empty block that puts it behind the depth: about a second, by design;
2. CPU: the monitor process's CPU time (user + system, from /proc) while the deposit path runs at
   200 deposits/s for 10 s (bench/throughput.py's paced load, 8 clients, 4 banks) and the
   service mints them, as a share of one core; and the monitor's findings meanwhile.

Writes bench/monitor_latency.json and prints a table. Exits 1 when the latency p99 exceeds the
target (2 s at 1-second blocks).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as tp  # bench/throughput.py, beside this file
from run_stack import DEV_ACCOUNTS  # tools/run_stack.py (on the path through throughput)

OUTPUT = tp.ROOT / "bench" / "monitor_latency.json"
TARGET_P99_S = 2.0
DEPTH, POLL_SECONDS = 1, 0.2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Feed:
    """The monitor's SSE feed, read by a thread: (seq, finding, arrival time) per event."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.events: list[tuple[dict, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with (
            httpx.Client(timeout=None) as http,
            http.stream("GET", f"{self.url}/v1/monitor/events") as answer,
        ):
            data: list[str] = []
            for line in answer.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    self.events.append((json.loads("\n".join(data)), time.monotonic()))
                    data = []

    def arrived(self, predicate: Any) -> float | None:
        for finding, at in self.events:
            if predicate(finding):
                return at
        return None


def measure(var: Path, *, count: int, rate: float, seconds: float) -> dict:
    from service.chain.token import Token, load_account

    load_before = os.getloadavg()
    started = time.perf_counter()
    stack = tp.BenchStack(var)
    out: dict[str, Any] = {
        "config": {
            "events": count,
            "depth_blocks": DEPTH,
            "poll_seconds": POLL_SECONDS,
            "deposits_per_s": rate,
            "deposit_seconds": seconds,
            "rules": "config/monitor-rules.yaml",
        }
    }
    try:
        stack.start(banks=4)
        monitor_url = stack.stack.start_monitor(
            tp.free_port(), USHK_MONITOR_DEPTH=str(DEPTH), USHK_MONITOR_POLL_SECONDS=str(POLL_SECONDS)
        )
        assert stack.stack.monitor is not None
        feed = Feed(monitor_url)
        token = Token(stack.rpc_url, stack.token)
        compliance = load_account(DEV_ACCOUNTS[0][1])
        account = "0x" + "5a" * 20
        tp.say(f"latency: {count} governance events, one every 0.25 s")
        latencies: list[float] = []
        missing = 0
        for n in range(count):
            receipt = token.transact(compliance, "unfreeze" if n % 2 else "freeze", account)
            mined = time.monotonic()
            deadline = mined + 30
            while (at := feed.arrived(lambda f, tx=receipt.tx_hash: f.get("tx") == tx)) is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            if at is None:
                missing += 1
            else:
                latencies.append(at - mined)
            time.sleep(max(0.0, 0.25 - (time.monotonic() - mined)))
        out["latency"] = {
            "events": count,
            "findings_seen": len(latencies),
            "missing": missing,
            "p50_s": _s(tp.percentile(latencies, 50)),
            "p99_s": _s(tp.percentile(latencies, 99)),
            "max_s": _s(max(latencies) if latencies else None),
        }
        tp.say(f"  p50 {out['latency']['p50_s']} s, p99 {out['latency']['p99_s']} s")

        tp.say(f"CPU of the monitor while deposits run at {rate:g}/s for {seconds:g} s")
        work = tp.Workload.make(stack.banks, 250)
        pid = stack.stack.monitor.pid
        findings_before = httpx.get(f"{monitor_url}/v1/monitor/status").json()["findings"]
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        result, first, last = tp.accept_phase(
            stack, work, "paced", max(1, round(rate * seconds)), clients=8, rate=rate
        )
        tp.Outbox(stack.db_path).wait_settled(first, last, 120.0)
        time.sleep(2 * DEPTH + 1)  # the last mints behind the depth, read by the monitor
        cpu, wall = cpu_seconds(pid) - cpu0, time.monotonic() - wall0
        status = httpx.get(f"{monitor_url}/v1/monitor/status").json()
        out["cpu_under_deposits"] = {
            "deposits": result["accepted"],
            "deposit_p99_ms": result["latency_p99_ms"],
            "deposits_fell_behind_after_s": result["fell_behind_after_s"],
            "wall_s": round(wall, 2),
            "monitor_cpu_s": round(cpu, 2),
            "monitor_cpu_share_of_one_core": round(cpu / wall, 3) if wall > 0 else None,
            "findings_meanwhile": status["findings"] - findings_before,
            "findings_meanwhile_by_rule": findings_by_rule(monitor_url, after=findings_before - 1),
        }
        tp.say(f"  monitor CPU {out['cpu_under_deposits']['monitor_cpu_share_of_one_core']} of a core")
        feed.stop.set()
        out["machine"] = tp.machine_facts(stack)
    finally:
        stack.stop()
    p99 = out["latency"]["p99_s"]
    out["target_p99_s"] = TARGET_P99_S
    out["verdict"] = (
        "ok" if p99 is not None and p99 <= TARGET_P99_S and not out["latency"]["missing"] else "missed"
    )
    out["machine"]["loadavg_1_5_15_before"] = load_before
    out["machine"]["loadavg_1_5_15_after"] = os.getloadavg()
    out["run_seconds"] = round(time.perf_counter() - started, 1)
    return out


def findings_by_rule(monitor_url: str, *, after: int) -> dict[str, dict[str, Any]]:
    """Per rule, how many findings it raised after the finding `after` (its seq) and the first
    one's summary, from the feed's paged list: what a count alone cannot say (a real unbacked
    mint, or a rule's false alarm)."""
    rules: dict[str, dict[str, Any]] = {}
    cursor: int | None = after
    while cursor is not None:
        page = httpx.get(f"{monitor_url}/v1/monitor/findings", params={"after": cursor, "limit": 1000}).json()
        for item in page["items"]:
            entry = rules.setdefault(item["rule"], {"findings": 0, "first": item["summary"]})
            entry["findings"] += 1
        cursor = page["next"]
    return rules


def _s(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def table(result: dict) -> str:
    lat, cpu = result["latency"], result["cpu_under_deposits"]
    rows = [
        ("governance events -> findings", f"{lat['findings_seen']} of {lat['events']}"),
        ("latency, receipt to finding on the feed, p50", f"{lat['p50_s']} s"),
        ("latency, p99 (target <= 2 s at 1-second blocks)", f"{lat['p99_s']} s: {result['verdict']}"),
        ("latency, max", f"{lat['max_s']} s"),
        (
            "deposits during the CPU run",
            f"{cpu['deposits']} (p99 accept {cpu['deposit_p99_ms']} ms"
            + (
                f"; the load fell behind its schedule after {cpu['deposits_fell_behind_after_s']} s)"
                if cpu["deposits_fell_behind_after_s"] is not None
                else ")"
            ),
        ),
        (
            "monitor CPU while deposits run",
            f"{cpu['monitor_cpu_s']} s in {cpu['wall_s']} s: {cpu['monitor_cpu_share_of_one_core']} of a core",
        ),
        (
            "monitor findings meanwhile",
            str(cpu["findings_meanwhile"])
            + "".join(
                f"; {rule} x{entry['findings']} ({entry['first']})"
                for rule, entry in cpu.get("findings_meanwhile_by_rule", {}).items()
            ),
        ),
    ]
    return "\n".join(f"  {name:<50} {value}" for name, value in rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--rate", type=float, default=200.0, help="deposits/s during the CPU run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the CPU run")
    args = parser.parse_args(argv)
    tp.use_project_tools()
    with tempfile.TemporaryDirectory(prefix="ushk-monitor-") as tmp:
        result = measure(Path(tmp), count=args.events, rate=args.rate, seconds=args.seconds)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(result))
    m = result["machine"]
    print(
        f"\n{m['cores']} cores, Python {m['python']}; load average {m['loadavg_1_5_15_before'][0]:.1f} "
        f"before, {m['loadavg_1_5_15_after'][0]:.1f} after; {result['run_seconds']} s; wrote {args.output}"
    )
    return 0 if result["verdict"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
