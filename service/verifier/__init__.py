"""`ushk verify`: checks a USHK transparency log from the outside, with only its public endpoints
and a JSON-RPC node.

Nothing here reads a database or the service's settings (an import-linter contract in
pyproject.toml forbids it): what is checked is what anyone can fetch.

1. `signature`: the latest signed head's Ed25519 signature over RFC 6962's TreeHeadSignature
   bytes, under the pinned log key (--log-key, else the one recorded in the state file, else
   the head's own key, trusted on first use and recorded).
2. `consistency`: that head extends the last head this verifier verified (the state file), by
   the service's consistency proof (RFC 9162 2.1.4); a smaller tree or a failed proof means the
   history was rewritten.
3. `anchor`: the head anchored on the token (`auditLogAnchor()` at the latest block, and with
   `anchors_from` every `AuditLogAnchored` event since that block) is a prefix of the signed
   head: a size not above the head's and a consistency proof from the anchored root.
4. `snapshot`: the latest signed snapshot (service/snapshots/): its Ed25519 signature under the
   same key, every on-chain figure in it read again at its pinned block (block hash, supply and
   its frozen and redeemable classes, the attestation), its log head a prefix of the signed
   head, and each `--claim` proved in its liabilities' Merkle-sum tree.
5. `inclusion seq K` / `deposit 0x..`: an entry's leaf (`/entries`) and its audit path (`/proof`)
   give the signed head's root; for a deposit id, every entry the service's lookup names.

The state file holds, per service URL, the pinned key, the token and the last verified head; it
is written only when every check passed. docs/transparency.md, "Verifying it yourself".
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import is_address, to_checksum_address

from service import merkle
from service.chain.token import Token
from service.verifier.checks import (
    STATE_VERSION,
    check_anchor,
    check_consistency,
    check_deposit,
    check_inclusion,
    check_signature,
    decode_log_key,
    default_state_path,
    load_state,
    save_state,
)
from service.verifier.remote import Failed, Head, Service, b64, chain_call, unb64
from service.verifier.snapshot import check_snapshot
from service.verifier.snapshot import latest as latest_snapshot


@dataclass
class Check:
    name: str
    ok: bool
    reason: str


@dataclass
class Report:
    service: str
    checks: list[Check] = field(default_factory=list)
    head: Head | None = None
    state_path: str = ""
    state_written: bool = False
    trusted_on_first_use: bool = False
    token: str | None = None
    token_source: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def out(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "service": self.service,
            "head": self.head.out() if self.head else None,
            "token": self.token,
            "token_source": self.token_source,
            "checks": [asdict(c) for c in self.checks],
            "failed": self.failed,
            "state": {
                "path": self.state_path,
                "written": self.state_written,
                "trusted_on_first_use": self.trusted_on_first_use,
            },
        }


def verify(
    service_url: str,
    rpc_url: str,
    *,
    token_address: str | None = None,
    state_path: Path | None = None,
    seqs: Sequence[int] = (),
    deposit_ids: Iterable[str] = (),
    log_key: str | None = None,
    anchors_from: int | None = None,
    claims: Sequence[str] = (),
    require_snapshot: bool = False,
    timeout: float = 15.0,
    progress: Callable[[int], None] | None = None,
) -> Report:
    """Runs every check against the service at `service_url` and the node at `rpc_url`; writes
    the state file when all hold. `progress(1)`, when given, is called after each check (there
    are `check_count(seqs, deposit_ids)`)."""
    path = state_path or default_state_path()
    service = Service(service_url, timeout=timeout)
    report = Report(service=service.base_url, state_path=str(path))
    try:
        _run(
            report,
            service,
            rpc_url,
            token_address,
            path,
            seqs,
            list(deposit_ids),
            log_key,
            anchors_from,
            list(claims),
            require_snapshot,
            timeout,
            progress or (lambda _n: None),
        )
    finally:
        service.close()
    return report


def check_count(seqs: Sequence[int], deposit_ids: Sequence[str]) -> int:
    """How many checks `verify` runs: signature, consistency, anchor, snapshot, and one per
    entry and deposit asked for."""
    return 4 + len(seqs) + len(deposit_ids)


def _run(
    report: Report,
    service: Service,
    rpc_url: str,
    token_address: str | None,
    path: Path,
    seqs: Sequence[int],
    deposit_ids: list[str],
    log_key: str | None,
    anchors_from: int | None,
    claims: list[str],
    require_snapshot: bool,
    timeout: float,
    progress: Callable[[int], None],
) -> None:
    def run(name: str, fn: Callable[[], str]) -> bool:
        try:
            report.checks.append(Check(name, True, fn()))
            return True
        except Failed as exc:
            report.checks.append(Check(name, False, str(exc)))
            return False
        finally:
            progress(1)

    state_problem: str | None = None
    state: dict[str, Any] = {"version": STATE_VERSION, "logs": {}}
    try:
        state = load_state(path)
    except Failed as exc:
        state_problem = str(exc)
    found = state["logs"].get(report.service)
    record = found if isinstance(found, dict) else None

    head: Head | None = None
    head_problem = ""
    try:
        head = service.sth()
    except Failed as exc:
        head_problem = str(exc)
    report.head = head

    def signed_head() -> Head:
        if head is None:
            raise Failed(f"no signed head to check: {head_problem}")
        return head

    # 1. the head's signature under the pinned key
    pinned: bytes | None = None

    def signature() -> str:
        nonlocal pinned
        current = signed_head()
        if log_key is not None:
            pinned, source = decode_log_key(log_key), "pinned by --log-key"
        elif state_problem is not None:
            raise Failed(f"{state_problem}: no pinned key (pass --log-key, or repair or remove the file)")
        elif record is not None and record.get("log_key"):
            pinned = unb64(record.get("log_key"), "the state file's log_key", 32)
            source = f"pinned in {path}"
        else:
            pinned, source = current.public_key, "trusted on first use: no --log-key, none recorded"
            report.trusted_on_first_use = True
        return check_signature(current, pinned, source)

    run("signature", signature)

    # 2. consistency with the head verified last time
    def consistency() -> str:
        current = signed_head()
        if state_problem is not None:
            raise Failed(state_problem)
        return check_consistency(service, current, record)

    run("consistency", consistency)

    # 3. the head anchored on chain
    chain_token: Token | None = None

    def token_of() -> Token:
        nonlocal chain_token
        if chain_token is not None:
            return chain_token
        address = token_address
        report.token_source = "--token"
        if address is None and record is not None and record.get("token"):
            address, report.token_source = str(record["token"]), f"recorded in {path}"
        if address is None:
            found = service.key().get("token_address")
            if not isinstance(found, str) or not found:
                raise Failed("the service names no token (GET /v1/transparency/key): pass --token")
            address, report.token_source = found, "named by the service (GET /v1/transparency/key)"
        if not is_address(address):
            raise Failed(f"{address!r} is not an address")
        report.token = to_checksum_address(address)
        chain_token = chain_call(
            "the JSON-RPC node", lambda: Token(rpc_url, str(report.token), timeout=timeout)
        )
        return chain_token

    def anchor() -> str:
        return check_anchor(service, signed_head(), token_of(), anchors_from)

    run("anchor", anchor)

    # 4. the latest snapshot: its signature, its figures at its block, its claims
    def snapshot() -> str:
        current = signed_head()
        if pinned is None:
            raise Failed("no pinned log key to check the snapshot's signature with")
        answer = latest_snapshot(service)
        if answer is None:
            if require_snapshot or claims:
                raise Failed("the service has published no snapshot (GET /v1/transparency/snapshots/latest)")
            return "no snapshot published yet (the service takes one a day; --require-snapshot fails then)"
        return check_snapshot(service, current, token_of(), pinned, answer, claims)

    run("snapshot", snapshot)

    # 5. entries proved included
    def included(seq: int) -> str:
        return check_inclusion(service, signed_head(), seq)

    def about_deposit(deposit_id: str) -> str:
        return check_deposit(service, signed_head(), deposit_id)

    for seq in seqs:
        run(f"inclusion seq {seq}", functools.partial(included, seq))
    for deposit_id in deposit_ids:
        run(f"deposit {deposit_id}", functools.partial(about_deposit, deposit_id))

    if report.ok and head is not None and pinned is not None:
        state["version"] = STATE_VERSION
        state["logs"][report.service] = {
            "log_key": b64(pinned),
            "key_id": merkle.key_id(pinned),
            "token": report.token,
            "tree_size": head.tree_size,
            "timestamp": head.timestamp,
            "time": head.time,
            "sha256_root_hash": b64(head.root),
            "verified_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        try:
            save_state(path, state)
            report.state_written = True
        except OSError as exc:
            report.checks.append(Check("state", False, f"the state file {path} could not be written: {exc}"))
