"""The monitor's HTTP API over real HTTP (uvicorn in a thread): findings pages and filters,
signed heads, proofs checked with service.merkle, the SSE feed resumed by Last-Event-ID, the
exports, and 4xx for bad input."""

from __future__ import annotations

import base64
import csv
import io
import json
import threading

import httpx
import pytest
from mon_support import EveryKind, EverySecond, obs

from service import merkle
from service.monitor.api import create_app
from service.monitor.engine import Engine
from service.monitor.log import FindingsLog
from service.monitor.store import Store
from svc_support import LiveServer


@pytest.fixture
def served(any_store_url, key):
    store = Store(any_store_url)
    log = FindingsLog(store, key)
    engine = Engine(store, [EveryKind(), EverySecond()])
    app = create_app(store, log, status=lambda: {"sources": {"chain": {"up": True}}}, sse_interval=0.05)
    with LiveServer(app) as server:
        yield engine, log, server.url
    store.dispose()


def test_findings_pagesAndFilters(served):
    engine, log, url = served
    for n in range(1, 8):
        engine.process(obs(n))
    page = httpx.get(f"{url}/v1/monitor/findings", params={"limit": 4}).json()
    assert [i["seq"] for i in page["items"]] == [0, 1, 2, 3]
    assert page["next"] == 3
    rest = httpx.get(f"{url}/v1/monitor/findings", params={"after": page["next"]}).json()
    assert [i["seq"] for i in rest["items"]] == [4, 5, 6, 7, 8, 9]
    assert rest["next"] is None
    medium = httpx.get(f"{url}/v1/monitor/findings", params={"severity": "medium"}).json()
    assert {i["rule"] for i in medium["items"]} == {"test.second"}
    assert len(medium["items"]) == 3
    by_rule = httpx.get(f"{url}/v1/monitor/findings", params={"rule": "test.every"}).json()
    assert len(by_rule["items"]) == 7
    status = httpx.get(f"{url}/v1/monitor/status").json()
    assert status["findings"] == 10 and status["sources"]["chain"]["up"] is True
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}


def test_sth_proofAndConsistency_verify(served):
    engine, log, url = served
    assert httpx.get(f"{url}/v1/monitor/sth").status_code == 404
    for n in range(1, 4):
        engine.process(obs(n))
    first = log.sign_head()
    for n in range(4, 9):
        engine.process(obs(n))
    log.sign_head()
    sth = httpx.get(f"{url}/v1/monitor/sth").json()
    size, root = sth["tree_size"], base64.b64decode(sth["sha256_root_hash"])
    public = base64.b64decode(sth["public_key"])
    assert sth["key_id"] == merkle.key_id(public)
    assert merkle.verify_tree_head(
        public, sth["timestamp"], size, root, base64.b64decode(sth["tree_head_signature"])
    )
    for seq in range(size):
        leaf = base64.b64decode(httpx.get(f"{url}/v1/monitor/leaf", params={"seq": seq}).json()["leaf_input"])
        proof = httpx.get(f"{url}/v1/monitor/proof", params={"seq": seq, "tree_size": size}).json()
        path = [base64.b64decode(h) for h in proof["audit_path"]]
        assert merkle.verify_inclusion(seq, size, merkle.leaf_hash(leaf), path, root)
    body = httpx.get(
        f"{url}/v1/monitor/sth/consistency", params={"first": first.tree_size, "second": size}
    ).json()
    proof = [base64.b64decode(h) for h in body["consistency"]]
    assert merkle.verify_consistency(first.tree_size, size, first.root, root, proof)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/monitor/proof", {"seq": 0, "tree_size": 99}),
        ("/v1/monitor/proof", {"seq": 5, "tree_size": 2}),
        ("/v1/monitor/proof", {"seq": "x", "tree_size": 1}),
        ("/v1/monitor/proof", {"seq": -1, "tree_size": 1}),
        ("/v1/monitor/proof", {"seq": 2**70, "tree_size": 1}),
        ("/v1/monitor/sth/consistency", {"first": 3, "second": 1}),
        ("/v1/monitor/sth/consistency", {"first": 0, "second": 50}),
        ("/v1/monitor/findings", {"limit": 0}),
        ("/v1/monitor/findings", {"severity": "dire"}),
        ("/v1/monitor/export", {"format": "xml"}),
        ("/v1/monitor/leaf", {"seq": 40}),
    ],
)
def test_badInput_is4xxWithAReason(served, path, params):
    engine, _, url = served
    engine.process(obs(1))
    engine.process(obs(2))
    response = httpx.get(f"{url}{path}", params=params)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["message"]


def test_export_jsonlAndCsv(served):
    engine, _, url = served
    for n in range(1, 5):
        engine.process(obs(n))
    lines = httpx.get(f"{url}/v1/monitor/export", params={"format": "jsonl"}).text.splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["seq"] for r in rows] == list(range(6))
    assert rows[0]["rule"] == "test.every" and rows[0]["key"] == "test.every|chain:1:0|"
    text = httpx.get(f"{url}/v1/monitor/export", params={"format": "csv"}).text
    table = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["seq"]) for r in table] == list(range(6))
    assert json.loads(table[2]["details"]) == {"count": 2, "ratio": "0.5"}
    assert table[2]["severity"] == "medium"


def _read_events(url: str, headers: dict[str, str], want: int, out: list[dict], params=None) -> None:
    with httpx.stream(
        "GET", f"{url}/v1/monitor/events", headers=headers, params=params, timeout=20
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event: dict[str, str] = {}
        for line in response.iter_lines():
            if line == "":
                if "id" in event:
                    out.append(event)
                    if len(out) >= want:
                        return
                event = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(": ")
                event[name] = value


def test_events_oneEventPerFinding_resumedByLastEventId(served):
    engine, _, url = served
    engine.process(obs(1))  # finding 0
    got: list[dict] = []
    reader = threading.Thread(target=_read_events, args=(url, {}, 3, got))
    reader.start()
    engine.process(obs(2))  # findings 1, 2
    reader.join(20)
    assert not reader.is_alive()
    assert [e["id"] for e in got] == ["0", "1", "2"]
    assert json.loads(got[1]["data"])["rule"] == "test.every"
    assert got[0]["event"] == "finding"
    # resume after id 1: the next is 2, then the new ones
    resumed: list[dict] = []
    reader = threading.Thread(target=_read_events, args=(url, {"Last-Event-ID": "1"}, 2, resumed))
    reader.start()
    engine.process(obs(3))
    reader.join(20)
    assert [e["id"] for e in resumed] == ["2", "3"]
    bad = httpx.get(f"{url}/v1/monitor/events", headers={"Last-Event-ID": "abc"})
    assert bad.status_code == 400
