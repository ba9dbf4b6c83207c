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

from service.monitor.model import Observation
from service.monitor.sources import SourceError, Step
from service.verifier.checks import check_signature, prove_extends
from service.verifier.remote import Failed, Head, Service
from service.verifier.snapshot import signed_snapshot


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
            # the checks of `ushk verify` (service/verifier/checks.py), the pin being the key of
            # the first head the monitor accepted
            pinned = None if last is None else base64.b64decode(last["public_key"])
            signature_ok, consistent, reason = True, True, None
            try:
                check_signature(head, pinned, "the key of the first head the monitor checked")
            except Failed as exc:
                signature_ok, reason = False, str(exc)
            first = 0 if last is None else int(last["tree_size"])
            if signature_ok and last is not None and first:
                try:
                    prove_extends(
                        self.remote, first, base64.b64decode(last["root"]), head, "the head checked before"
                    )
                except Failed as exc:
                    consistent = False
                    reason = f"the head of size {head.tree_size} is not consistent with size {first}: {exc}"
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
        pinned = cursor.get("head", {}).get("public_key")
        try:
            signed_snapshot(answer, None if pinned is None else base64.b64decode(pinned))
            ok = True
        except Failed:
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
