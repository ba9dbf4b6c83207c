"""The service as a source of observations (docs/monitor.md, "Sources"): `ServicePoller` reads
the service's public endpoints (transparency entries, signed heads checked for their signature
and their consistency with the last head checked, the latest signed snapshot; the public
ledger's redemptions and attestation reports). Optional: the monitor runs without it."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Callable
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from service import merkle
from service.monitor.model import Observation
from service.monitor.sources import SourceError, Step
from service.verifier.remote import Failed, Head, Service


def _unix(value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return 0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


class ServicePoller:
    """The service's public endpoints. Cursor "service": `log_seq` (the last entry read),
    `head` (the last head checked: tree_size, timestamp, root b64, public_key b64),
    `snapshot_id`, `payouts` (redemption id -> last status seen), `events_seq` (the last
    attestation event read)."""

    name = "service"

    def __init__(
        self,
        base_url: str,
        *,
        cursor: Callable[[], dict[str, Any]],
        clock: Callable[[], float],
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.remote = Service(self.base_url, timeout=timeout)
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.read_cursor = cursor
        self.clock = clock

    def close(self) -> None:
        self.remote.close()
        self.http.close()

    def _public(self, path: str, **params: Any) -> dict[str, Any]:
        try:
            response = self.http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise SourceError(
                f"GET {self.base_url}{path}: {type(exc).__name__}: {exc or 'no answer'}"
            ) from None
        if response.status_code != 200:
            raise SourceError(f"GET {path} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"GET {path} did not answer JSON") from None
        if not isinstance(body, dict):
            raise SourceError(f"GET {path} did not answer a JSON object")
        return body

    def poll(self) -> list[Step]:
        try:
            return self._poll()
        except Failed as exc:
            raise SourceError(str(exc)) from None

    def _poll(self) -> list[Step]:
        steps: list[Step] = []
        cursor = dict(self.read_cursor())
        now = int(self.clock())
        try:
            head = self.remote.sth()
        except Failed as exc:
            if "no_signed_head" not in str(exc):
                raise
            head = None  # the service has signed no head yet: no entries to read either
        if head is not None:
            steps.extend(self._log(cursor, head))
        steps.extend(self._snapshot(cursor, now))
        steps.extend(self._payouts(cursor, now))
        steps.extend(self._reports(cursor, now))
        return steps

    def _log(self, cursor: dict[str, Any], head: Head) -> list[Step]:
        steps: list[Step] = []
        # entries up to the head's size
        seq = int(cursor.get("log_seq", 0))
        while seq < head.tree_size:
            body = self.remote.get("entries", start=seq + 1, end=min(head.tree_size, seq + 1000))
            entries = body.get("entries")
            if not isinstance(entries, list) or not entries:
                break
            for item in entries:
                entry = item.get("entry") or {}
                seq = int(item["seq"])
                cursor["log_seq"] = seq
                obs = Observation(
                    source="service",
                    kind="log_entry",
                    key=f"log:{seq}",
                    time=_unix(entry.get("time")),
                    fields={
                        "seq": seq,
                        "time": entry.get("time"),
                        "kind": entry.get("kind"),
                        "actor": entry.get("actor"),
                        "fields": entry.get("public") or {},
                    },
                )
                steps.append((obs, {"service": dict(cursor)}))
        # the signed head
        last = cursor.get("head")
        if last is None or (last["tree_size"], last["timestamp"]) != (head.tree_size, head.timestamp):
            signature_ok = merkle.verify_tree_head(
                head.public_key, head.timestamp, head.tree_size, head.root, head.signature
            )
            reason: str | None = None if signature_ok else "the head's signature does not hold"
            consistent = True
            pinned = None if last is None else base64.b64decode(last["public_key"])
            if pinned is not None and pinned != head.public_key:
                signature_ok, reason = False, "the head is signed by another key than the one pinned"
            if last is not None and signature_ok:
                first, first_root = int(last["tree_size"]), base64.b64decode(last["root"])
                if head.tree_size < first:
                    consistent, reason = False, f"the log shrank from {first} to {head.tree_size}"
                else:
                    proof = self.remote.consistency(first, head.tree_size) if first else []
                    consistent = merkle.verify_consistency(
                        first, head.tree_size, first_root, head.root, proof
                    )
                    if not consistent:
                        reason = f"the head of size {head.tree_size} is not consistent with size {first}"
            obs = Observation(
                source="service",
                kind="log_head",
                key=f"sth:{head.tree_size}:{head.timestamp}",
                time=head.timestamp // 1000,
                fields={
                    "tree_size": head.tree_size,
                    "timestamp": head.timestamp,
                    "root": head.root.hex(),
                    "signature_ok": signature_ok,
                    "consistent": consistent,
                    "reason": reason,
                },
            )
            if signature_ok and consistent:
                cursor["head"] = {
                    "tree_size": head.tree_size,
                    "timestamp": head.timestamp,
                    "root": base64.b64encode(head.root).decode(),
                    "public_key": base64.b64encode(pinned or head.public_key).decode(),
                }
            steps.append((obs, {"service": dict(cursor)}))
        return steps

    def _snapshot(self, cursor: dict[str, Any], now: int) -> list[Step]:
        try:
            answer = self.remote.get("snapshots/latest")
        except Failed as exc:
            if "404" in str(exc):
                return []
            raise
        snapshot_id = answer.get("id")
        if snapshot_id is None or snapshot_id == cursor.get("snapshot_id"):
            return []
        ok = False
        try:
            Ed25519PublicKey.from_public_bytes(base64.b64decode(answer.get("public_key", ""))).verify(
                base64.b64decode(answer.get("signature", "")),
                base64.b64decode(answer.get("signed_bytes", "")),
            )
            ok = True
        except (InvalidSignature, ValueError, TypeError):
            ok = False
        cursor["snapshot_id"] = snapshot_id
        body = answer.get("snapshot")
        fields = dict(body) if isinstance(body, dict) else {}
        fields.update({"id": snapshot_id, "block": answer.get("block"), "signature_ok": ok})
        obs = Observation(
            source="service", kind="snapshot", key=f"snapshot:{snapshot_id}", time=now, fields=fields
        )
        return [(obs, {"service": dict(cursor)})]

    def _payouts(self, cursor: dict[str, Any], now: int) -> list[Step]:
        seen: dict[str, str] = dict(cursor.get("payouts") or {})
        steps: list[Step] = []
        after = 0
        while True:
            page = self._public("/v1/public/redemptions", after=after, limit=1000)
            items = page.get("items") or []
            for item in items:
                rid, status = str(item.get("redemption_id")), str(item.get("status"))
                if seen.get(rid) == status:
                    continue
                seen[rid] = status
                cursor["payouts"] = dict(seen)
                obs = Observation(
                    source="service", kind="payout", key=f"payout:{rid}:{status}", time=now, fields=dict(item)
                )
                steps.append((obs, {"service": dict(cursor)}))
            if page.get("next") is None:
                return steps
            after = int(page["next"])

    def _reports(self, cursor: dict[str, Any], now: int) -> list[Step]:
        steps: list[Step] = []
        after = int(cursor.get("events_seq", 0))
        while True:
            page = self._public("/v1/public/events", type="attestation", after=after, limit=1000)
            items = page.get("items") or []
            for item in items:
                after = int(item["seq"])
                cursor["events_seq"] = after
                details = item.get("details") or {}
                report_hash = str(details.get("report_hash") or "").lower().removeprefix("0x")
                computed: str | None = None
                url = item.get("report_url")
                if url:
                    try:
                        response = self.http.get(str(url))
                        if response.status_code == 200:
                            computed = hashlib.sha256(response.content).hexdigest()
                    except httpx.HTTPError:
                        computed = None
                tx = str(item.get("tx_hash") or details.get("tx_hash") or f"seq{after}")
                obs = Observation(
                    source="service",
                    kind="attestation_report",
                    key=f"report:{tx}",
                    time=now,
                    fields={
                        "block": item.get("block_number"),
                        "report_hash": report_hash,
                        "computed_hash": computed,
                        "available": computed is not None,
                    },
                    tx=tx,
                )
                steps.append((obs, {"service": dict(cursor)}))
            if page.get("next") is None or not items:
                return steps
