"""What the monitor sees and what it says: `Observation`s in, `Finding`s out (docs/monitor.md).

The monitor turns every public fact it reads into an `Observation` and feeds them, in one total
order, to its rules. Everything a rule may depend on arrives as an observation, the passing of
time included (`tick`), so replaying a recorded sequence gives the same findings every time: the
replay tests, the replay benchmark and the monitor's own restart rely on it.

Observation kinds (`source`, `kind`: `fields`):

- chain, any Solidity event name of the token (`Transfer`, `Approval`, `Minted`,
  `RedemptionRequested`, `ReservesAttested`, `AuditLogAnchored`, `RoleGranted`, `RoleRevoked`,
  `RoleAdminChanged`, `Upgraded`, `Paused`, `MintingPaused`, `Frozen`, `FrozenBalanceWiped`,
  `AllowedSet`, ...): the event's ABI argument names, amounts as ints in base units, addresses
  checksummed, bytes as 0x-hex. `key` "chain:BLOCK:LOG_INDEX".
- chain, `chain_state`: the token's state read at `block` (after that block's events):
  `total_supply`, `decimals`, and for USHK (None for a plain ERC-20) `attested_reserves`,
  `attested_at`, `report_hash`, `max_attestation_age`, `paused`, `minting_paused`,
  `anchor_size`, `anchor_root`. `key` "state:BLOCK".
- service, `log_entry`: one entry of the public transparency log, as /v1/transparency/entries
  decodes it (`seq`, `time`, `kind`, `actor`, `fields`). `key` "log:SEQ".
- service, `log_head`: a signed tree head the monitor fetched and checked: `tree_size`,
  `timestamp`, `root` (hex), `signature_ok`, `consistent` (with the last head it checked; True
  for the first), `reason` (why not, or None). `key` "sth:TREE_SIZE:TIMESTAMP".
- service, `snapshot`: a signed snapshot's public body (/v1/transparency/snapshots/latest) and
  `signature_ok`. `key` "snapshot:ID".
- service, `payout`: a redemption's payout as /v1/public/redemptions shows it, once per status.
  `key` "payout:REDEMPTION_ID:STATUS".
- service, `attestation_report`: the report of an on-chain attestation fetched from the public
  ledger: `block`, `report_hash` (on chain), `computed_hash` (SHA-256 of the download, or None),
  `available`. `key` "report:TX_HASH".
- chain, `reorg`: the block the monitor processed last is no longer on the chain (a reorg
  deeper than the confirmation depth): `block`, `old_hash`, `new_hash` (None when the chain
  no longer reaches the block), `rewound_to` (the
  newest processed block still on the chain, from which the follower reads again) and
  `generation` (how many reorgs so far). `key` "reorg:BLOCK:OLD_HASH". Chain observations read
  again after a reorg carry the generation in their key: "chain:BLOCK:LOG_INDEX:rN",
  "state:BLOCK:rN".
- monitor, `source_down`: a source (`source`: "chain" or "service") has failed for `seconds`
  since `since`, last `error`. `key` "down:SOURCE:SINCE".
- clock, `tick`: time passes (`time` is now). `key` "tick:TIME".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from service.canonical import canonical_json


class Severity(StrEnum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


@dataclass(frozen=True)
class Observation:
    """One public fact, in the order the monitor saw it. `time` is unix seconds (a chain
    observation's block time); `block` and `tx` are None off chain."""

    source: str
    kind: str
    key: str
    time: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    block: int | None = None
    tx: str | None = None

    def to_json(self) -> str:
        """One line of a recorded sequence (JSON lines; ints stay ints, however large)."""
        return json.dumps(
            {
                "source": self.source,
                "kind": self.kind,
                "key": self.key,
                "time": self.time,
                "block": self.block,
                "tx": self.tx,
                "fields": dict(self.fields),
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, line: str) -> Observation:
        data = json.loads(line)
        return cls(
            source=data["source"],
            kind=data["kind"],
            key=data["key"],
            time=int(data["time"]),
            fields=data.get("fields") or {},
            block=data.get("block"),
            tx=data.get("tx"),
        )


@dataclass(frozen=True)
class Draft:
    """What a rule says about an observation. `part` tells apart several findings of one rule
    on one observation (for example one per beneficiary). `details` is public: no identity,
    no payout account; pseudonyms, addresses, amounts and the figures that made the rule fire."""

    summary: str
    details: Mapping[str, Any] = field(default_factory=dict)
    part: str = ""
    severity: Severity | None = None  # None: the rule's own


@dataclass(frozen=True)
class Finding:
    """A rule's finding: the monitor's record appends it once (its `key` is unique)."""

    rule: str
    rule_type: str
    severity: Severity
    key: str
    time: int
    summary: str
    details: Mapping[str, Any]
    observation: str  # the observation's key
    block: int | None = None
    tx: str | None = None

    @classmethod
    def of(cls, rule: Rule, obs: Observation, draft: Draft) -> Finding:
        return cls(
            rule=rule.id,
            rule_type=rule.type,
            severity=draft.severity or rule.severity,
            key=f"{rule.id}|{obs.key}|{draft.part}",
            time=obs.time,
            summary=draft.summary,
            details=dict(draft.details),
            observation=obs.key,
            block=obs.block,
            tx=obs.tx,
        )

    def public(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "rule_type": self.rule_type,
            "severity": str(self.severity),
            "key": self.key,
            "time": self.time,
            "summary": self.summary,
            "details": dict(self.details),
            "observation": self.observation,
            "block": self.block,
            "tx": self.tx,
        }


class Rule(Protocol):
    """A rule of config/monitor-rules.yaml, built by `service.monitor.rules.load_rules`.

    `observe` is called with every observation in order and returns what it found; a rule keeps
    whatever state it needs in memory (the monitor rebuilds it on restart by replaying its
    recorded observations with the findings discarded, so the state must follow from the
    observations alone: no wall clock, no randomness, no I/O)."""

    id: str
    type: str
    severity: Severity

    def observe(self, obs: Observation) -> Iterable[Draft]: ...


def plain(value: Any) -> Any:
    """A finding's public view as plain JSON values the canonical encoding accepts: floats as
    their shortest decimal string, tuples as lists, other non-JSON values as their str."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def leaf_bytes(finding: Finding) -> bytes:
    """The leaf of a finding in the findings log: canonical JSON of its public view."""
    return canonical_json(plain(finding.public()))


def finding_from_public(data: Mapping[str, Any]) -> Finding:
    return Finding(
        rule=data["rule"],
        rule_type=data["rule_type"],
        severity=Severity(data["severity"]),
        key=data["key"],
        time=int(data["time"]),
        summary=data["summary"],
        details=data.get("details") or {},
        observation=data["observation"],
        block=data.get("block"),
        tx=data.get("tx"),
    )


def evaluate(rules: Iterable[Rule], obs: Observation) -> list[Finding]:
    """Every rule's findings on one observation, in rule order."""
    return [Finding.of(rule, obs, draft) for rule in rules for draft in rule.observe(obs)]
