"""Writes the recorded sequences of tests/service/monitor/rules/replays/ (one Observation.to_json()
per line): for every rule type a sequence that fires (`TYPE.fires.jsonl`) and a near miss that
does not (`TYPE.near_miss.jsonl`). The files are committed; run this only to change them:

    python tests/service/monitor/rules/record_replays.py

The sequences are what the monitor records from a local stack: 2-second blocks from block
1,204,000 on 2026-12-01 (Hong Kong afternoon), USHK's events with their ABI argument names,
the transparency log's public entries, heads, snapshots, payouts and ticks."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[4]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eth_utils import keccak, to_checksum_address  # noqa: E402

from service.deposits.ids import deposit_id_hex  # noqa: E402
from service.monitor.model import Observation  # noqa: E402

REPLAYS = Path(__file__).resolve().parent / "replays"
B0 = 1_204_000
T0 = int(dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC).timestamp())  # 14:00 in Hong Kong
BLOCK_SECONDS = 2
UNIT = 10**6


def address(name: str) -> str:
    return to_checksum_address(keccak(text=name)[:20])


def tx_hash(name: str) -> str:
    return "0x" + keccak(text=f"tx:{name}").hex()


def resident(n: int) -> str:
    return "R-" + keccak(text=f"resident:{n}").hex()[:16]


MINTER = address("minter")
ATTESTOR = address("attestor")
ADMIN = address("admin")
PAUSER = address("pauser")
BANKS = {"alpha-bank": 1, "beta-bank": 2}


def iso(t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds")


def block_time(block: int) -> int:
    return T0 + (block - B0) * BLOCK_SECONDS


class Recorder:
    """Builds one sequence, in order."""

    def __init__(self) -> None:
        self.out: list[Observation] = []
        self.log_index: dict[int, int] = {}
        self.seq = 1000

    def event(self, block: int, kind: str, **fields: Any) -> Observation:
        index = self.log_index.get(block, 0)
        self.log_index[block] = index + 1
        obs = Observation(
            "chain",
            kind,
            f"chain:{block}:{index}",
            block_time(block),
            fields,
            block,
            tx_hash(f"{block}:{index}"),
        )
        self.out.append(obs)
        return obs

    def state(self, block: int, **fields: Any) -> None:
        base = {"decimals": 6, "paused": False, "minting_paused": False}
        self.out.append(
            Observation("chain", "chain_state", f"state:{block}", block_time(block), base | fields, block)
        )

    def entry(self, t: int, kind: str, actor: str, **fields: Any) -> int:
        self.seq += 1
        body = {"seq": self.seq, "time": iso(t), "kind": kind, "actor": actor, "fields": fields}
        self.out.append(Observation("service", "log_entry", f"log:{self.seq}", t, body))
        return self.seq

    def other(self, kind: str, key: str, t: int, origin: str = "service", **fields: Any) -> None:
        self.out.append(Observation(origin, kind, key, t, fields))

    def tick(self, t: int) -> None:
        self.out.append(Observation("clock", "tick", f"tick:{t}", t, {}))

    # a deposit as the service records it: accepted by the bank, then minted on chain
    def deposit(
        self,
        t: int,
        seq: int,
        dollars: int,
        *,
        bank: str = "alpha-bank",
        who: int = 1,
        beneficiary: str = "holder-1",
        kind: str = "deposit.accepted",
    ) -> str:
        deposit_id = deposit_id_hex(seq)
        self.entry(
            t,
            kind,
            f"bank:{bank}" if kind != "deposit.minted" else "minter",
            deposit_seq=seq,
            bank_id=BANKS[bank],
            status=kind.split(".")[1],
            amount_cents=dollars * 100,
            beneficiary=address(beneficiary),
            resident=resident(who),
            category="hk",
            deposit_id=deposit_id,
        )
        return deposit_id

    def mint(self, block: int, deposit_id: str, dollars: int, to: str = "holder-1") -> Observation:
        return self.event(
            block, "Minted", minter=MINTER, to=address(to), amount=dollars * UNIT, depositId=deposit_id
        )


# ---- the scenarios ------------------------------------------------------------------------------


def large_mint(fires: bool) -> Recorder:
    r = Recorder()
    first, day_total = (60_000, 130_000) if fires else (50_000, 120_000)
    amounts = [first, 40_000, day_total - first - 40_000]
    for i, dollars in enumerate(amounts):
        block = B0 + 10 * (i + 1)
        deposit_id = r.deposit(block_time(block) - 5, 501 + i, dollars)
        r.mint(block, deposit_id, dollars)
    # the next Hong Kong day starts a new total
    block = B0 + (16 * 3600) // BLOCK_SECONDS
    r.mint(block, r.deposit(block_time(block) - 5, 510, 40_000), 40_000)
    return r


def unmatched_supply(fires: bool) -> Recorder:
    r = Recorder()
    supply = 2_000_000 * UNIT
    r.state(B0, total_supply=supply)
    deposit_id = r.deposit(block_time(B0) - 10, 601, 1_000)
    r.mint(B0 + 1, deposit_id, 1_000)
    supply += 1_000 * UNIT
    r.state(B0 + 1, total_supply=supply)
    r.deposit(block_time(B0 + 2), 601, 1_000, kind="deposit.minted")
    r.out[-1] = _with_block(r.out[-1], B0 + 1)
    r.state(B0 + 2, total_supply=supply)
    # a redemption of 250.000042 (dust of 42 units), recorded by the ledger
    r.event(
        B0 + 3,
        "RedemptionRequested",
        redemptionId=7,
        holder=address("holder-1"),
        amount=250 * UNIT + 42,
        payoutRef="0x" + "ab" * 32,
    )
    supply -= 250 * UNIT + 42
    r.state(B0 + 3, total_supply=supply)
    r.entry(
        block_time(B0 + 3) + 1,
        "reserves.redemption_recorded",
        "watcher",
        redemption_id="7",
        holder=address("holder-1"),
        amount_cents=25_000,
        dust_units="42",
        tx_hash=tx_hash("r7"),
        block_number=B0 + 3,
    )
    # a mint of 500 at B0 + 4: the log records it in time only in the near miss
    r.mint(B0 + 4, deposit_id_hex(602), 500)
    supply += 500 * UNIT
    r.state(B0 + 4, total_supply=supply)
    r.state(B0 + 5, total_supply=supply)
    if not fires:
        seq = r.deposit(block_time(B0 + 6), 602, 500, kind="deposit.minted")
        del seq
        r.out[-1] = _with_block(r.out[-1], B0 + 4)
    for block in range(B0 + 6, B0 + 9):
        r.state(block, total_supply=supply)
    return r


def _with_block(obs: Observation, block: int) -> Observation:
    body = dict(obs.fields)
    body["fields"] = {**body["fields"], "tx_hash": tx_hash(f"{block}:0"), "block_number": block}
    return Observation(obs.source, obs.kind, obs.key, obs.time, body)


def mint_without_deposit(fires: bool) -> Recorder:
    r = Recorder()
    d1 = r.deposit(block_time(B0) - 4, 701, 2_000)
    r.mint(B0 + 1, d1, 2_000)
    r.mint(B0 + 2, deposit_id_hex(702), 9_000, to="outsider")  # made with the minter key directly
    for block in range(B0 + 3, B0 + 10):
        if block == B0 + 6 and not fires:
            r.deposit(block_time(block), 702, 9_000, kind="deposit.minted", beneficiary="outsider")
        r.state(block, total_supply=11_000 * UNIT)
    return r


def mint_while_paused(fires: bool) -> Recorder:
    r = Recorder()
    r.state(B0, total_supply=5_000 * UNIT)
    r.mint(B0 + 1, r.deposit(block_time(B0), 801, 100), 100)  # the same block, before the pause
    r.event(B0 + 1, "MintingPaused", account=PAUSER)
    r.state(B0 + 1, total_supply=5_100 * UNIT, minting_paused=True)
    if not fires:
        r.event(B0 + 2, "MintingUnpaused", account=PAUSER)
        r.state(B0 + 2, total_supply=5_100 * UNIT, minting_paused=False)
    r.mint(B0 + 3, r.deposit(block_time(B0 + 2), 802, 200), 200)
    return r


def attestation_stale(fires: bool) -> Recorder:
    r = Recorder()
    attested = block_time(B0) - 3600
    r.state(
        B0,
        total_supply=5_000 * UNIT,
        attested_reserves=6_000 * UNIT,
        attested_at=attested,
        max_attestation_age=86_400,
    )
    r.tick(attested + 86_400)
    r.tick(attested + 86_400 + 60)  # within the grace
    if fires:
        r.tick(attested + 86_400 + 61)
        r.tick(attested + 86_400 + 120)  # once per attestation
    else:
        renewed = attested + 86_400 + 30
        r.event(
            B0 + 43_215,
            "ReservesAttested",
            attestor=ATTESTOR,
            amount=6_000 * UNIT,
            reportHash="0x" + "11" * 32,
            auditHead="0x" + "22" * 32,
            timestamp=renewed,
        )
        r.tick(attested + 86_400 + 3600)
    return r


def attestation_below_supply(fires: bool) -> Recorder:
    r = Recorder()
    attested = block_time(B0) - 60
    r.state(B0, total_supply=10_000 * UNIT, attested_reserves=10_000 * UNIT, attested_at=attested)
    # a mint of one dollar: in the near miss the attestation was renewed to cover it
    reserves, at = (10_000 * UNIT, attested) if fires else (10_001 * UNIT, attested + 65)
    if not fires:
        r.event(
            B0 + 1,
            "ReservesAttested",
            attestor=ATTESTOR,
            amount=reserves,
            reportHash="0x" + "33" * 32,
            auditHead="0x" + "44" * 32,
            timestamp=at,
        )
    r.mint(B0 + 1, r.deposit(block_time(B0), 901, 1), 1)
    r.state(B0 + 1, total_supply=10_001 * UNIT, attested_reserves=reserves, attested_at=at)
    r.state(B0 + 2, total_supply=10_001 * UNIT, attested_reserves=reserves, attested_at=at)
    return r


def attestation_report(fires: bool) -> Recorder:
    r = Recorder()
    report = "0x" + keccak(text="report-2026-12-01").hex()
    t = block_time(B0 + 5)
    r.other(
        "attestation_report",
        f"report:{tx_hash('a1')}",
        t,
        block=B0,
        report_hash=report,
        computed_hash=report.upper().replace("0X", "0x") if not fires else "0x" + "ee" * 32,
        available=True,
    )
    if fires:
        r.other(
            "attestation_report",
            f"report:{tx_hash('a2')}",
            t + 60,
            block=B0 + 30,
            report_hash=report,
            computed_hash=None,
            available=False,
        )
    return r


def log_head(fires: bool) -> Recorder:
    r = Recorder()
    heads = [0]

    def head(
        size: int, root: str, *, ok: bool = True, consistent: bool = True, reason: str | None = None
    ) -> None:
        heads[0] += 1
        t = T0 + 60 * heads[0]  # a head a minute
        r.other(
            "log_head",
            f"sth:{size}:{t * 1000}",
            t,
            tree_size=size,
            timestamp=t * 1000,
            root=root,
            signature_ok=ok,
            consistent=consistent,
            reason=reason,
        )

    head(10, "aa" * 32)
    head(10, "aa" * 32)
    head(12, "bb" * 32)
    if fires:
        head(14, "cc" * 32, consistent=False, reason="the consistency proof from size 12 does not verify")
        head(15, "dd" * 32, ok=False)
        head(14, "ee" * 32)  # the size of the last good head, another root
    else:
        head(14, "cc" * 32)
    r.other(
        "snapshot",
        "snapshot:3",
        T0 + 100,
        id=3,
        block=B0,
        signature_ok=True,
        snapshot={"reserves": {"custody": []}},
    )
    return r


def anchor_overdue(fires: bool) -> Recorder:
    r = Recorder()
    r.event(
        B0,
        "AuditLogAnchored",
        anchorer=ATTESTOR,
        treeSize=1000,
        rootHash="0x" + "aa" * 32,
        timestamp=block_time(B0),
    )
    t = block_time(B0)
    r.seq = 1000
    r.entry(
        t + 100,
        "deposit.received",
        "bank:alpha-bank",
        deposit_seq=1,
        bank_id=1,
        status="received",
        amount_cents=100_000,
        beneficiary=address("holder-1"),
        resident=resident(1),
        category="hk",
    )
    r.tick(t + 3600)
    r.tick(t + 3700)  # waited exactly the interval
    if fires:
        r.tick(t + 3701)
    else:
        r.event(
            B0 + 1500,
            "AuditLogAnchored",
            anchorer=ATTESTOR,
            treeSize=1001,
            rootHash="0x" + "bb" * 32,
            timestamp=block_time(B0 + 1500),
        )
        r.tick(t + 7200)
        r.tick(t + 20000)  # nothing new to anchor
    return r


def governance(fires: bool) -> Recorder:
    r = Recorder()
    if fires:
        role = "0x" + keccak(text="MINTER_ROLE").hex()
        r.event(B0, "RoleGranted", role=role, account=address("new-minter"), sender=ADMIN)
        r.event(B0 + 1, "Upgraded", implementation=address("impl-v2"))
        r.event(B0 + 2, "MintingPaused", account=PAUSER)
        r.event(B0 + 3, "Frozen", account=address("suspect"))
        r.event(B0 + 4, "FrozenBalanceWiped", account=address("suspect"), amount=1_234 * UNIT)
        r.event(B0 + 5, "AllowedSet", account=address("holder-9"), allowed=True)  # ignored by the rule
        r.event(B0 + 6, "Unpaused", account=PAUSER)
    else:
        r.event(B0, "Transfer", **{"from": address("holder-1"), "to": address("holder-2"), "value": 5 * UNIT})
        r.event(B0, "Approval", owner=address("holder-1"), spender=address("dex"), value=10 * UNIT)
        r.mint(B0 + 1, r.deposit(block_time(B0), 1101, 300), 300)
        r.event(B0 + 2, "AllowedSet", account=address("holder-9"), allowed=True)  # ignored by the rule
    return r


def payout_overdue(fires: bool) -> Recorder:
    r = Recorder()
    # Friday 4 December 2026, 10:00 in Hong Kong: due by the end of Monday 7 December there
    # (fires); Thursday 24 December: Christmas and the day after close the banks, due by the end
    # of Monday 28 December (near miss, settled on the 28th).
    day = (
        dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)
        if fires
        else dt.datetime(2026, 12, 24, 2, 0, tzinfo=dt.UTC)
    )
    t = int(day.timestamp())
    block = B0 + (t - T0) // BLOCK_SECONDS
    r.event(
        block,
        "RedemptionRequested",
        redemptionId=41,
        holder=address("holder-3"),
        amount=2_500 * UNIT,
        payoutRef="0x" + "cd" * 32,
    )
    r.other(
        "payout",
        "payout:41:pending",
        t + 30,
        redemption_id="41",
        holder=address("holder-3"),
        amount="2500.00",
        amount_units=str(2_500 * UNIT),
        bank="alpha-bank",
        status="pending",
        overdue=False,
        due_at=None,
        created_at=iso(t + 30),
        tx_hash=tx_hash("r41"),
        block_number=block,
    )
    if fires:
        r.tick(int(dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC).timestamp()))  # the deadline itself
        r.tick(int(dt.datetime(2026, 12, 7, 16, 0, 1, tzinfo=dt.UTC).timestamp()))
        r.tick(int(dt.datetime(2026, 12, 8, 2, 0, tzinfo=dt.UTC).timestamp()))
    else:
        r.tick(int(dt.datetime(2026, 12, 26, 2, 0, tzinfo=dt.UTC).timestamp()))  # 48 h later: not due yet
        settled = int(dt.datetime(2026, 12, 28, 9, 0, tzinfo=dt.UTC).timestamp())
        r.other(
            "payout",
            "payout:41:settled",
            settled,
            redemption_id="41",
            holder=address("holder-3"),
            amount="2500.00",
            amount_units=str(2_500 * UNIT),
            bank="alpha-bank",
            status="settled",
            overdue=False,
            due_at=None,
            created_at=iso(t + 30),
            tx_hash=tx_hash("r41"),
            block_number=block,
        )
        r.tick(settled + 86_400 * 3)
    return r


def redemption_run(fires: bool) -> Recorder:
    r = Recorder()
    r.state(B0, total_supply=1_000_000 * UNIT)
    hours = [0, 1, 2] if fires else [0, 3, 6]  # near miss: the first falls out of the 6-hour window
    supply = 1_000_000 * UNIT
    for i, (h, dollars) in enumerate(zip(hours, [40_000, 40_000, 30_000], strict=True)):
        block = B0 + (h * 3600 + 60) // BLOCK_SECONDS
        r.event(
            block,
            "RedemptionRequested",
            redemptionId=100 + i,
            holder=address(f"whale-{i}"),
            amount=dollars * UNIT,
            payoutRef="0x" + f"{i:02x}" * 32,
        )
        supply -= dollars * UNIT
        r.state(block, total_supply=supply)
    return r


def fan_in(fires: bool) -> Recorder:
    r = Recorder()
    t = block_time(B0)
    gaps = [0, 3600, 7200, 36_000, 72_000] if fires else [0, 3600, 7200, 36_000, 86_400]
    for i, gap in enumerate(gaps):
        r.deposit(t + gap, 1200 + i, 8_000, who=10 + i, beneficiary="collector")
    r.deposit(t + 90_000, 1300, 8_000, who=99, beneficiary="someone-else")
    return r


def fan_out(fires: bool) -> Recorder:
    r = Recorder()
    t = block_time(B0)
    count = 5 if fires else 4
    for i in range(count):
        r.deposit(t + 600 * i, 1400 + i, 3_000, who=20, beneficiary=f"wallet-{i}")
    for i in range(count):  # the same beneficiaries again
        r.deposit(t + 7200 + 600 * i, 1410 + i, 3_000, who=20, beneficiary=f"wallet-{i}")
    if not fires:
        r.deposit(t + 86_400 + 7200, 1420, 3_000, who=20, beneficiary="wallet-9")  # a day later
    return r


def structuring(fires: bool) -> Recorder:
    r = Recorder()
    t = block_time(B0)
    amounts = [9_500, 9_800, 9_990] if fires else [9_500, 10_000, 8_999, 9_900]
    for i, dollars in enumerate(amounts):
        r.deposit(t + 3600 * i, 1500 + i, dollars, who=30, beneficiary=f"wallet-{30 + i}")
    if not fires:
        r.deposit(t + 86_400, 1510, 9_700, who=30, beneficiary="wallet-39")  # the first fell out
    return r


def velocity(fires: bool) -> Recorder:
    r = Recorder()
    t = block_time(B0)
    gaps = [0, 900, 1800, 2700] if fires else [0, 900, 1800, 3600]
    for i, gap in enumerate(gaps):
        r.deposit(t + gap, 1600 + i, 2_000, who=40, beneficiary="holder-40")
    return r


def custodian_concentration(fires: bool) -> Recorder:
    r = Recorder()
    t = block_time(B0)

    def snapshot(sid: int, alpha: str, beta: str, ok: bool = True) -> None:
        custody = [{"bank": "alpha-bank", "amount": alpha}, {"bank": "beta-bank", "amount": beta}]
        r.other(
            "snapshot",
            f"snapshot:{sid}",
            t + sid * 86_400,
            id=sid,
            block=B0 + sid * 43_200,
            signature_ok=ok,
            snapshot={"version": 1, "reserves": {"currency": "USD", "custody": custody}},
        )

    snapshot(1, "50000.00", "50000.00")
    if fires:
        snapshot(2, "70000.00", "30000.00")
        snapshot(3, "72000.00", "28000.00")  # still above: once
    else:
        snapshot(2, "60000.00", "40000.00")  # exactly the limit
        snapshot(3, "90000.00", "10000.00", ok=False)  # not signed by the log key: not judged
    return r


def source_down(fires: bool) -> Recorder:
    r = Recorder()
    since = T0
    r.other(
        "source_down",
        f"down:chain:{since}",
        since + 30,
        origin="monitor",
        source="chain",
        since=since,
        seconds=30,
        error="connection refused",
    )
    if fires:
        r.other(
            "source_down",
            f"down:chain:{since}",
            since + 75,
            origin="monitor",
            source="chain",
            since=since,
            seconds=75,
            error="connection refused",
        )
    else:
        r.other(
            "source_down",
            f"down:chain:{since}",
            since + 59,
            origin="monitor",
            source="chain",
            since=since,
            seconds=59,
            error="connection refused",
        )
        r.other(
            "source_down",
            f"down:service:{since}",
            since + 45,
            origin="monitor",
            source="service",
            since=since,
            seconds=45,
            error="HTTP 503",
        )
    return r


def bank_anomaly(fires: bool) -> Recorder:
    r = Recorder()
    seq = 2000
    # ten days of ordinary mints: four to six a day at 10:00, 11:30, 14:00, 15:30, 17:00 in
    # Hong Kong, of 1,000 to 3,000 dollars
    day0 = int(dt.datetime(2026, 11, 20, 16, 0, tzinfo=dt.UTC).timestamp())  # 21 Nov 00:00 in Hong Kong
    for day in range(10):
        for j, minute in enumerate([600, 690, 840, 930, 1020][: 4 + (day % 3 == 0)]):
            seq += 1
            dollars = 1_000 + ((day * 7 + j * 13) % 21) * 100
            r.deposit(day0 + day * 86_400 + minute * 60 - 40, seq, dollars)
            r.deposit(day0 + day * 86_400 + minute * 60, seq, dollars, kind="deposit.minted")
    today = day0 + 10 * 86_400
    if fires:
        for k in range(10):  # ten mints of 5,000 within an hour
            seq += 1
            r.deposit(today + 600 * 60 + k * 300 - 40, seq, 5_000)
            r.deposit(today + 600 * 60 + k * 300, seq, 5_000, kind="deposit.minted")
    else:
        for k, minute in enumerate([600, 700, 840, 1000, 1100]):
            seq += 1
            r.deposit(today + minute * 60 - 40, seq, 1_800 + 100 * k)
            r.deposit(today + minute * 60, seq, 1_800 + 100 * k, kind="deposit.minted")
    # beta-bank's first day: too little history to judge
    for k in range(10):
        seq += 1
        r.deposit(today + 660 * 60 + k * 200 - 40, seq, 5_000, bank="beta-bank")
        r.deposit(today + 660 * 60 + k * 200, seq, 5_000, bank="beta-bank", kind="deposit.minted")
    return r


SCENARIOS: dict[str, Callable[[bool], Recorder]] = {
    "large_mint": large_mint,
    "unmatched_supply": unmatched_supply,
    "mint_without_deposit": mint_without_deposit,
    "mint_while_paused": mint_while_paused,
    "attestation_stale": attestation_stale,
    "attestation_below_supply": attestation_below_supply,
    "attestation_report": attestation_report,
    "log_head": log_head,
    "anchor_overdue": anchor_overdue,
    "governance": governance,
    "payout_overdue": payout_overdue,
    "redemption_run": redemption_run,
    "fan_in": fan_in,
    "fan_out": fan_out,
    "structuring": structuring,
    "velocity": velocity,
    "custodian_concentration": custodian_concentration,
    "source_down": source_down,
    "bank_anomaly": bank_anomaly,
}


def main() -> None:
    REPLAYS.mkdir(exist_ok=True)
    for name, scenario in SCENARIOS.items():
        for fires, suffix in ((True, "fires"), (False, "near_miss")):
            lines = [obs.to_json() for obs in scenario(fires).out]
            (REPLAYS / f"{name}.{suffix}.jsonl").write_text("\n".join(lines) + "\n")
    print(f"wrote {2 * len(SCENARIOS)} sequences to {REPLAYS}")


if __name__ == "__main__":
    main()
