"""The service poller against a small local HTTP server with canned public answers: snapshots
(signature checked), payouts once per status, attestation reports hashed, a forged head, and a
failing service as a SourceError."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service import merkle
from service.monitor.engine import Engine
from service.monitor.poller import ServicePoller
from service.monitor.sources import SourceError

REPORT = b'{"reserves": "1000.00"}'


class FakeService:
    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.leaves = [
            json.dumps(
                {
                    "seq": i,
                    "kind": "test.entry",
                    "actor": "x",
                    "time": "2026-12-03T09:00:00Z",
                    "public": {"n": i},
                }
            ).encode()
            for i in range(1, 4)
        ]
        self.redemptions = [{"seq": 1, "redemption_id": "7", "status": "pending", "amount_units": "5"}]
        self.forge = False
        self.fail = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                status, body = fake.answer(url.path, query)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def head(self) -> dict:
        nodes, size = merkle.build(self.leaves)
        root = merkle.root(merkle.from_mapping(nodes), size)
        ts = 1_796_000_000_000 + size
        signature = self.key.sign(merkle.tree_head_bytes(ts, size, root))
        if self.forge:
            signature = bytes(64)
        b = lambda x: base64.b64encode(x).decode()  # noqa: E731
        return {
            "tree_size": size,
            "timestamp": ts,
            "sha256_root_hash": b(root),
            "tree_head_signature": b(signature),
            "key_id": merkle.key_id(self.public),
            "public_key": b(self.public),
        }

    def answer(self, path: str, query: dict) -> tuple[int, object]:
        if self.fail:
            return 500, {"error": {"code": "down", "message": "down"}}
        if path == "/v1/transparency/sth":
            return 200, self.head()
        if path == "/v1/transparency/sth/consistency":
            nodes, _ = merkle.build(self.leaves)
            proof = merkle.consistency_proof(
                merkle.from_mapping(nodes), int(query["first"]), int(query["second"])
            )
            return 200, {"consistency": [base64.b64encode(h).decode() for h in proof]}
        if path == "/v1/transparency/entries":
            start, end = int(query["start"]), int(query["end"])
            items = [
                {
                    "seq": i,
                    "leaf_index": i - 1,
                    "leaf_input": base64.b64encode(self.leaves[i - 1]).decode(),
                    "entry": json.loads(self.leaves[i - 1]),
                }
                for i in range(start, min(end, len(self.leaves)) + 1)
            ]
            return 200, {"entries": items}
        if path == "/v1/transparency/snapshots/latest":
            signed = b'{"supply":"5"}'
            return 200, {
                "id": 3,
                "block": 10,
                "snapshot": {"supply": "5"},
                "signed_bytes": base64.b64encode(signed).decode(),
                "signature": base64.b64encode(self.key.sign(signed)).decode(),
                "key_id": "k",
                "public_key": base64.b64encode(self.public).decode(),
            }
        if path == "/v1/public/redemptions":
            return 200, {"items": self.redemptions, "next": None}
        if path == "/v1/public/events":
            if int(query.get("after", 0)) >= 42:
                return 200, {"items": [], "next": None}
            return 200, {
                "items": [
                    {
                        "seq": 42,
                        "type": "attestation",
                        "tx_hash": "0xab",
                        "block_number": 9,
                        "report_url": "/v1/reserves/reports/r1",
                        "details": {"report_hash": hashlib.sha256(REPORT).hexdigest()},
                    }
                ],
                "next": None,
            }
        if path == "/v1/reserves/reports/r1":
            return 200, REPORT
        return 404, {"error": {"code": "not_found", "message": path}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake():
    f = FakeService()
    yield f
    f.close()


def run(engine: Engine, poller: ServicePoller) -> list:
    out = []
    for obs, cursor in poller.poll():
        engine.process(obs, cursor)
        out.append(obs)
    return out


def test_poller_snapshotPayoutsReports(fake, store):
    engine = Engine(store, [])
    poller = ServicePoller(fake.url, cursor=lambda: store.cursor("service"), clock=time.time)
    first = run(engine, poller)
    by_kind = {}
    for o in first:
        by_kind.setdefault(o.kind, []).append(o)
    assert [o.fields["seq"] for o in by_kind["log_entry"]] == [1, 2, 3]
    assert by_kind["log_head"][0].fields["signature_ok"] is True
    (snapshot,) = by_kind["snapshot"]
    assert (
        snapshot.key == "snapshot:3"
        and snapshot.fields["signature_ok"] is True
        and snapshot.fields["supply"] == "5"
    )
    (payout,) = by_kind["payout"]
    assert payout.key == "payout:7:pending"
    (report,) = by_kind["attestation_report"]
    assert (
        report.fields["computed_hash"] == report.fields["report_hash"] == hashlib.sha256(REPORT).hexdigest()
    )
    assert report.fields["available"] is True and report.key == "report:0xab"
    assert run(engine, poller) == []  # nothing changed: nothing new
    fake.redemptions = [dict(fake.redemptions[0], status="settled")]
    fake.leaves.append(b'{"seq":4,"kind":"x","actor":"y","time":"2026-12-03T09:00:01Z","public":{}}')
    again = run(engine, poller)
    assert [o.key for o in again if o.kind == "payout"] == ["payout:7:settled"]
    (head,) = [o for o in again if o.kind == "log_head"]
    assert head.fields["tree_size"] == 4 and head.fields["consistent"] is True


def test_poller_forgedHead_andFailingService(fake, store):
    engine = Engine(store, [])
    poller = ServicePoller(fake.url, cursor=lambda: store.cursor("service"), clock=time.time)
    fake.forge = True
    (head,) = [o for o in run(engine, poller) if o.kind == "log_head"]
    assert head.fields["signature_ok"] is False and "signature" in head.fields["reason"]
    assert "head" not in store.cursor("service")  # a head that does not hold is not the next baseline
    fake.fail = True
    with pytest.raises(SourceError, match="500"):
        poller.poll()
