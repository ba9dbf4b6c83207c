"""The rule types' other parameters and orders, on short sequences built here: a plain ERC-20
(mints and burns as transfers, 18 decimals), the service's log ahead of the chain, calendars,
and the memory a long run must not keep."""

from __future__ import annotations

import datetime as dt
from typing import Any

from service.monitor.model import Finding, Observation, Rule, evaluate
from service.monitor.rules import load_rules_text

T0 = int(dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC).timestamp())
ZERO = "0x" + "00" * 20
A, B = "0x" + "aa" * 20, "0x" + "bb" * 20


def rule(text: str) -> Rule:
    (only,) = load_rules_text(f"version: 1\nrules:\n  - {text}\n")
    return only


def run(r: Rule, seq: list[Observation]) -> list[Finding]:
    return [f for obs in seq for f in evaluate([r], obs)]


def chain(block: int, kind: str, index: int = 0, **fields: Any) -> Observation:
    return Observation(
        "chain", kind, f"chain:{block}:{index}", T0 + 2 * block, fields, block, "0x" + "12" * 32
    )


def state(block: int, **fields: Any) -> Observation:
    return Observation("chain", "chain_state", f"state:{block}", T0 + 2 * block, fields, block)


def entry(seq: int, t: int, kind: str, actor: str = "bank:alpha-bank", **fields: Any) -> Observation:
    body = {"seq": seq, "time": "", "kind": kind, "actor": actor, "fields": fields}
    return Observation("service", "log_entry", f"log:{seq}", t, body)


def tick(t: int) -> Observation:
    return Observation("clock", "tick", f"tick:{t}", t)


def test_large_mint_on_a_plain_erc20_counts_transfers_from_zero() -> None:
    r = rule(
        '{id: big, type: large_mint, severity: high, params: {per_transaction: "100", source: transfers}}'
    )
    seq = [
        state(1, total_supply=0, decimals=18),
        chain(2, "Transfer", **{"from": ZERO, "to": A, "value": 100 * 10**18}),
        chain(3, "Transfer", **{"from": A, "to": B, "value": 500 * 10**18}),
        chain(4, "Transfer", **{"from": ZERO, "to": B, "value": 100 * 10**18 + 1}),
        chain(
            4, "Minted", 1, minter=A, to=B, amount=100 * 10**18 + 1, depositId="0x" + "00" * 32
        ),  # not twice
    ]
    assert [f.key for f in run(r, seq)] == ["big|chain:4:0|transaction"]


def test_redemption_run_of_burns() -> None:
    r = rule(
        '{id: run, type: redemption_run, severity: high, params: {percent: "20", window: 3600, source: burns}}'
    )
    seq = [
        state(1, total_supply=1000 * 10**18, decimals=18),
        chain(2, "Transfer", **{"from": A, "to": ZERO, "value": 150 * 10**18}),
        chain(3, "RedemptionRequested", redemptionId=1, holder=A, amount=10**21),  # not a burn here
        chain(4, "Transfer", **{"from": B, "to": ZERO, "value": 60 * 10**18}),
    ]
    (finding,) = run(r, seq)
    assert finding.key.startswith("run|chain:4:0|") and finding.details["percent"] == "21.00"


def test_structuring_by_beneficiary_and_velocity_by_amount() -> None:
    r = rule(
        '{id: s, type: structuring, severity: medium, params: {threshold: "5000", group_by: beneficiary}}'
    )
    v = rule('{id: v, type: velocity, severity: low, params: {max_amount: "12000", window: 3600}}')
    seq = [
        entry(
            i + 1, T0 + 60 * i, "deposit.accepted", resident=f"R-{i:016x}", beneficiary=A, amount_cents=cents
        )
        for i, cents in enumerate([480_000, 499_999, 450_000])
    ]
    assert [f.key for f in run(r, seq)] == [f"s|log:3|{A}"]
    same = [
        entry(i + 1, T0 + 600 * i, "deposit.accepted", resident="R-0", beneficiary=A, amount_cents=400_000)
        for i in range(4)
    ]
    (finding,) = run(v, same)
    assert finding.key == "v|log:4|R-0" and finding.details["total_units"] == 16_000 * 10**6


def test_attestation_never_made_and_max_age_param() -> None:
    r = rule("{id: st, type: attestation_stale, severity: high, params: {max_age: 600}}")
    seq = [
        state(1, total_supply=0, attested_at=0, max_attestation_age=86_400),
        tick(T0 + 100),
        state(2, total_supply=5, attested_at=0, max_attestation_age=86_400),
        tick(T0 + 200),
        chain(3, "ReservesAttested", timestamp=T0 + 6),
        tick(T0 + 606),
        tick(T0 + 607),
    ]
    assert [f.key for f in run(r, seq)] == ["st|state:2|never", f"st|tick:{T0 + 607}|{T0 + 6}"]


def test_anchor_size_of_chain_state_ends_the_wait() -> None:
    r = rule("{id: an, type: anchor_overdue, severity: medium, params: {interval: 100}}")
    seq = [
        entry(11, T0, "deposit.received"),
        state(10, anchor_size=11),
        tick(T0 + 500),
        entry(12, T0 + 500, "deposit.received"),
        state(300, anchor_size=11),
        tick(T0 + 601),
    ]
    assert [f.key for f in run(r, seq)] == [f"an|tick:{T0 + 601}|{T0 + 500}"]


def payout(rid: int, status: str, t: int, created: str) -> Observation:
    fields = {"redemption_id": str(rid), "status": status, "created_at": created, "bank": "alpha-bank"}
    return Observation("service", "payout", f"payout:{rid}:{status}", t, fields)


def test_payout_overdue_from_payouts_alone_closures_and_the_service_ahead() -> None:
    r = rule("{id: po, type: payout_overdue, severity: high, params: {closures: [2026-12-07]}}")
    friday = int(dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC).timestamp())
    monday_end = int(dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC).timestamp())
    tuesday_end = int(dt.datetime(2026, 12, 8, 16, 0, tzinfo=dt.UTC).timestamp())
    seq = [
        payout(5, "pending", friday, "2026-12-04T02:00:00+00:00"),
        # redemption 6 was settled before the chain follower saw its event
        payout(6, "settled", friday + 10, "2026-12-04T02:00:05+00:00"),
        chain(9, "RedemptionRequested", redemptionId=6, holder=A, amount=10**8),
        tick(monday_end + 1),  # Monday is closed (a typhoon): due Tuesday
        tick(tuesday_end + 1),
    ]
    assert [f.key for f in run(r, seq)] == [f"po|tick:{tuesday_end + 1}|5"]


def test_log_head_snapshot_signature_and_a_shrinking_tree() -> None:
    r = rule("{id: lh, type: log_head, severity: critical}")

    def head(size: int, t: int) -> Observation:
        fields = {
            "tree_size": size,
            "timestamp": t,
            "root": f"{size:064x}",
            "signature_ok": True,
            "consistent": True,
        }
        return Observation("service", "log_head", f"sth:{size}:{t}", t, fields)

    snap = Observation("service", "snapshot", "snapshot:4", T0, {"id": 4, "signature_ok": False})
    findings = run(r, [head(20, 1), head(18, 2), snap])
    assert [f.key for f in findings] == ["lh|sth:18:2|consistency", "lh|snapshot:4|snapshot"]
    assert findings[0].details["reason"] == "tree size 18 below the last head's 20"


def test_source_down_only_for_its_sources_and_concentration_min_total() -> None:
    r = rule("{id: sd, type: source_down, severity: high, params: {after: 10, sources: [service]}}")
    seq = [
        Observation(
            "monitor", "source_down", f"down:{s}:{T0}", T0 + 30, {"source": s, "since": T0, "seconds": 30}
        )
        for s in ("chain", "service")
    ]
    assert [f.key for f in run(r, seq)] == [f"sd|down:service:{T0}|service"]
    c = rule(
        '{id: cc, type: custodian_concentration, severity: medium, params: {max_percent: "50", min_total: "1000"}}'
    )
    small = {"signature_ok": True, "snapshot": {"reserves": {"custody": [{"bank": "a", "amount": "999.00"}]}}}
    big = {"signature_ok": True, "snapshot": {"reserves": {"custody": [{"bank": "a", "amount": "1000.00"}]}}}
    snaps = [
        Observation("service", "snapshot", f"snapshot:{i}", T0 + i, f) for i, f in enumerate([small, big])
    ]
    assert [f.key for f in run(c, snaps)] == ["cc|snapshot:1|a"]


def test_governance_role_admin_changed_names_the_roles() -> None:
    r = rule("{id: g, type: governance, severity: high}")
    admin = "0x" + "00" * 32
    (finding,) = run(
        r, [chain(5, "RoleAdminChanged", role=admin, previousAdminRole=admin, newAdminRole=admin)]
    )
    assert str(finding.severity) == "critical"
    assert finding.details["role_name"] == finding.details["newAdminRole_name"] == "DEFAULT_ADMIN_ROLE"


def test_governance_the_delayed_admin_transfer_is_critical_when_announced() -> None:
    r = rule("{id: g, type: governance, severity: high}")
    new_admin = "0x" + "ab" * 20
    scheduled, canceled = run(
        r,
        [
            chain(5, "DefaultAdminTransferScheduled", newAdmin=new_admin, acceptSchedule=1_800_000_000),
            chain(6, "DefaultAdminTransferCanceled"),
        ],
    )
    assert (str(scheduled.severity), str(canceled.severity)) == ("critical", "medium")
    assert new_admin in scheduled.summary and "1800000000" in scheduled.summary
    assert "canceled" in canceled.summary


def test_anomaly_on_a_flat_history_judges_nothing() -> None:
    r = rule("{id: an, type: bank_anomaly, severity: medium, params: {min_days: 3, velocity: false}}")
    day = 86_400
    seq = [
        entry(i + 1, T0 + day * i, "deposit.minted", actor="minter", bank_id=1, amount_cents=100_000)
        for i in range(5)
    ]
    seq += [
        entry(10 + k, T0 + 5 * day + k, "deposit.minted", actor="minter", bank_id=1, amount_cents=100_000)
        for k in range(5)
    ]
    assert run(r, seq) == []  # every day the same volume: MAD and mean deviation are zero


def test_mint_without_deposit_with_the_log_ahead_and_no_memory_left() -> None:
    r = rule("{id: mw, type: mint_without_deposit, severity: critical, params: {within_blocks: 2}}")
    deposit_id = "0x" + "01" * 32
    seq = [
        entry(1, T0, "deposit.accepted", deposit_id=deposit_id),
        entry(
            2, T0 + 1, "deposit.minted", actor="minter", deposit_id=deposit_id
        ),  # before the follower sees it
        chain(10, "Minted", minter=A, to=B, amount=10**6, depositId=deposit_id),
        entry(3, T0 + 30, "deposit.minted", actor="minter", deposit_id=deposit_id),  # a late repeat
        state(20),
    ]
    assert run(r, seq) == []
    assert r.recorded == set() and r.pending == {}  # type: ignore[attr-defined]


def test_fan_in_forgets_groups_that_left_the_window() -> None:
    r = rule("{id: fi, type: fan_in, severity: medium, params: {min_residents: 2, window: 100}}")
    seq = [
        entry(
            i + 1,
            T0 + 1000 * i,
            "deposit.accepted",
            resident=f"R-{i}",
            beneficiary=f"0x{i:040x}",
            amount_cents=1,
        )
        for i in range(50)
    ]
    assert run(r, seq) == []
    assert len(r.seen) <= 2  # type: ignore[attr-defined]


def test_a_log_entry_as_the_leaf_names_its_fields() -> None:
    """The leaf's own shape (`public`) reads as the decoded entry's (`fields`)."""
    r = rule("{id: mw, type: mint_without_deposit, severity: critical, params: {within_blocks: 0}}")
    deposit_id = "0x" + "02" * 32
    leaf = {
        "seq": 7,
        "time": "",
        "kind": "deposit.accepted",
        "actor": "bank:a",
        "public": {"deposit_id": deposit_id},
    }
    seq = [
        Observation("service", "log_entry", "log:7", T0, leaf),
        chain(10, "Minted", minter=A, to=B, amount=1, depositId=deposit_id),
        state(11),
    ]
    assert run(r, seq) == []


def test_unmatched_supply_with_the_log_ahead_of_the_chain() -> None:
    """Entries read before the first chain_state count from it on (those of its block or before
    are in its supply already); a wipe explains a burn; an unlogged burn does not."""
    r = rule("{id: us, type: unmatched_supply, severity: critical, params: {grace_blocks: 1}}")
    seq = [
        entry(1, T0, "deposit.minted", actor="minter", amount_cents=500, block_number=99),
        entry(2, T0, "deposit.minted", actor="minter", amount_cents=700, block_number=101),
        state(100, total_supply=10**9),
        state(101, total_supply=10**9 + 7 * 10**6),
        entry(3, T0, "reserves.wipe_recorded", actor="minter", amount_units="3000000", block_number=102),
        state(102, total_supply=10**9 + 4 * 10**6),
        state(103, total_supply=10**9 + 3 * 10**6),  # a burn of 1 the log never records
        state(104, total_supply=10**9 + 3 * 10**6),
    ]
    (finding,) = run(r, seq)
    assert finding.key == "us|state:104|103" and finding.details["unexplained_units"] == -(10**6)


def test_mint_without_deposit_is_not_explained_by_the_services_alert_about_it() -> None:
    """The service's reconciler records `alert.unbacked_mint` naming the rogue mint's deposit
    id: that entry is no deposit record, so the rule still fires; a `deposit.minted` does not."""
    r = rule("{id: nodep, type: mint_without_deposit, severity: critical, params: {within_blocks: 3}}")
    rogue, backed = "0x" + "ab" * 32, "0x" + "cd" * 32
    seq = [
        chain(10, "Minted", minter=A, to=B, amount=5, depositId=rogue),
        chain(10, "Minted", 1, minter=A, to=B, amount=7, depositId=backed),
        entry(1, T0 + 21, "alert.unbacked_mint", actor="reconciler", deposit_id=rogue),
        entry(2, T0 + 22, "deposit.minted", deposit_id=backed),
        state(14, total_supply=12),
    ]
    assert [f.key for f in run(r, seq)] == [f"nodep|state:14|{rogue}"]
