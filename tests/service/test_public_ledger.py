"""The public ledger (GET /v1/public/...) over real HTTP, on SQLite and PostgreSQL: listings,
filters and keyset paging, nothing private in any answer, the quota in aggregate only, refusals;
and, against a real anvil, the cached chain view of GET /v1/reserves (no JSON-RPC call per
request, `stale` once the node stops answering)."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import json
import threading
import time

import httpx
import pytest
from sqlalchemy import select

from chain_support import deposit
from service.app import create_app
from service.banks import service as banks
from service.client import BankClient
from service.deposits import outbox
from service.deposits.ids import deposit_id_hex
from service.models import Deposit, Payout, PayoutAccount
from service.quota.identity import pseudonym
from service.redemptions import service as redemptions
from service.reserves import service as reserves
from svc_support import LiveServer, accept, make_settings, today
from wait_support import wait_for

HOLDER = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
ACCOUNT = "HSBC-HK-004-123456-838"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request):
    """(env, base url) of the app over HTTP, on SQLite or PostgreSQL."""
    env = request.getfixturevalue("env" if request.param == "sqlite" else "pg_env")
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with LiveServer(app) as server:
        yield env, server.url


def _mint(env, seqs: list[int], n: int, *, at: dt.datetime | None = None) -> str:
    tx_hash = "0x" + f"{n:064x}"
    with env.db.transaction() as session:
        outbox.mark_minted(session, seqs, tx_hash, 1000 + n, now=at)
    return tx_hash


def _pages(url: str, path: str, **params) -> list[list[dict]]:
    pages, after = [], 0
    while True:
        body = httpx.get(f"{url}{path}", params={**params, "after": after}).json()
        pages.append(body["items"])
        if body["next"] is None:
            return pages
        assert body["next"] == body["items"][-1]["seq"]
        after = body["next"]


def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def _private_strings(env, *extra: str) -> list[str]:
    """Everything of the service's records that no public answer may contain."""
    found = list(extra)
    with env.db.reading() as session:
        for d in session.scalars(select(Deposit)):
            found += [d.reference, d.resident_hash, d.content_hmac]
        for p in session.scalars(select(Payout)):
            found += [p.payout_ref] + [v for v in (p.bank_reference, p.settlement_hmac) if v]
        for a in session.scalars(select(PayoutAccount)):
            found += [a.account_hmac, a.salt, a.payout_ref]
    return [s for s in found if s]


def _assert_nothing_private(texts: list[str], private: list[str]) -> None:
    for text in texts:
        for secret in private:
            assert secret not in text and secret.lower() not in text.lower(), secret


def test_mints_listedByPage_filteredByBankAndTime_nothingPrivate(served):
    env, url = served
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    seqs_hsbc = accept(env, hsbc, 5, prefix="HS", amount="100.25")
    seqs_boc = accept(env, boc, 3, prefix="HS", amount="7.00")  # the same residents (no splitting)
    early = dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    _mint(env, seqs_hsbc[:3], 1, at=early)
    late_tx = _mint(env, seqs_hsbc[3:] + seqs_boc[:2], 2, at=early + dt.timedelta(days=1))
    # seqs_boc[2] stays accepted: not a mint

    pages = _pages(url, "/v1/public/mints", limit=2)
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    items = [item for page in pages for item in page]
    assert [i["seq"] for i in items] == sorted(seqs_hsbc + seqs_boc[:2])
    first = items[0]
    with env.db.reading() as session:
        row = session.get(Deposit, first["seq"])
        assert first["resident"] == pseudonym(row.resident_hash)
    assert first["bank"] == "hsbc" and first["amount"] == "100.25" and first["amount_units"] == "100250000"
    assert first["deposit_id"] == deposit_id_hex(first["seq"])
    assert first["tx_hash"] == "0x" + f"{1:064x}" and first["block_number"] == 1001
    assert first["minted_at"] == "2025-01-02T03:04:05+00:00" and first["category"] == "mainland"
    assert all(isinstance(i["amount"], str) for i in items)

    boc_items = httpx.get(f"{url}/v1/public/mints", params={"bank": "boc"}).json()["items"]
    assert [(i["seq"], i["bank"], i["tx_hash"]) for i in boc_items] == [
        (s, "boc", late_tx) for s in seqs_boc[:2]
    ]
    on_day_one = httpx.get(f"{url}/v1/public/mints", params={"since": "2025-01-02", "until": "2025-01-03"})
    assert [i["seq"] for i in on_day_one.json()["items"]] == seqs_hsbc[:3]
    later = httpx.get(f"{url}/v1/public/mints", params={"since": "2025-01-02T03:04:06Z"}).json()["items"]
    assert [i["seq"] for i in later] == seqs_hsbc[3:] + seqs_boc[:2]
    offset = httpx.get(f"{url}/v1/public/mints", params={"until": "2025-01-02T11:04:06+08:00"}).json()
    assert [i["seq"] for i in offset["items"]] == seqs_hsbc[:3]

    texts = [json.dumps(p) for p in pages] + [json.dumps(boc_items)]
    id_numbers = [f"HS{i}" for i in range(3)]
    _assert_nothing_private(
        texts, _private_strings(env, hsbc.api_key, boc.api_key, *id_numbers, *(f'"{n}"' for n in id_numbers))
    )


def test_redemptions_withPayoutStatus_noAccountOrBankReference(served):
    env, url = served
    handle = env.add_bank("hsbc")
    with BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed) as client:
        ref = client.register_payout_account(holder=HOLDER, account_reference=ACCOUNT)["payout_ref"]
        for n, (ref_n, units) in enumerate(
            [(ref, 250 * 10**6 + 12_345), ("0x" + "ab" * 32, 5 * 10**6), (ref, 3 * 10**6)], start=1
        ):
            with env.db.transaction() as session:
                event = redemptions.RedemptionEvent(n, HOLDER, units, ref_n, "0x" + f"{n:064x}", 500 + n, 0)
                redemptions.post_redemption(session, event, now=env.clock())
                redemptions.record_redemption(session, env.settings, event, now=env.clock())
        payout = next(p for p in client.payouts() if p["redemption_id"] == 3)
        client.settle_payout(payout, bank_reference="HSBC-PAY-SECRET-77", value_date=today())

    pages = _pages(url, "/v1/public/redemptions", limit=1)
    items = [i for page in pages for i in page]
    assert [(i["redemption_id"], i["status"], i["bank"]) for i in items] == [
        ("1", "pending", "hsbc"),
        ("2", "unassigned", None),
        ("3", "settled", "hsbc"),
    ]
    first = items[0]
    assert first["amount"] == "250.012345" and first["payout_amount"] == "250.01"
    assert first["dust_units"] == "2345" and first["amount_units"] == "250012345"
    assert first["tx_hash"] == "0x" + f"{1:064x}" and first["block_number"] == 501
    assert first["overdue"] is False and first["holder"] == HOLDER
    assert items[2]["settled_at"] and items[2]["value_date"] == today()

    pending = httpx.get(f"{url}/v1/public/redemptions", params={"status": "pending"}).json()["items"]
    assert [i["redemption_id"] for i in pending] == ["1"]
    of_bank = httpx.get(f"{url}/v1/public/redemptions", params={"bank": "hsbc"}).json()["items"]
    assert [i["redemption_id"] for i in of_bank] == ["1", "3"]
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).date().isoformat()
    assert httpx.get(f"{url}/v1/public/redemptions", params={"since": tomorrow}).json()["items"] == []

    texts = [json.dumps(p) for p in pages]
    _assert_nothing_private(
        texts, _private_strings(env, handle.api_key, ACCOUNT, "HSBC-PAY-SECRET-77", "ab" * 32)
    )
    assert "payout_account" not in texts[0] and "payout_ref" not in texts[0]


def test_events_fromTheAuditLog_byTypeAndPage(served):
    env, url = served
    env.add_bank("hsbc")
    with env.db.transaction() as session:
        banks.set_disabled(session, banks.require_bank(session, "hsbc"), True, actor="operator:alice")
    with env.db.transaction() as session:
        reserves.halt(
            session,
            [{"code": "supply_mismatch", "detail": "SECRET-DETAIL"}],
            difference_units=5,
            actor="reconciler",
        )

    items = [i for page in _pages(url, "/v1/public/events", limit=1) for i in page]
    kinds = [i["kind"] for i in items]
    assert kinds == [
        "bank.created",
        "bank.signing_key_added",
        "bank.disabled",
        "alert.reserves_discrepancy",
        "minting.halted",
    ]
    assert [i["type"] for i in items] == ["bank", "bank", "bank", "alert", "halt"]
    assert items[2]["actor"] == "operator" and items[2]["details"]["bank"] == "hsbc"
    assert items[4]["details"]["codes"] == "supply_mismatch"
    halts = httpx.get(f"{url}/v1/public/events", params=[("type", "halt"), ("type", "alert")]).json()["items"]
    assert [i["kind"] for i in halts] == kinds[3:]
    past = httpx.get(f"{url}/v1/public/events", params={"until": "2000-01-01"}).json()
    assert past == {"items": [], "next": None}
    text = json.dumps(items)
    assert "SECRET-DETAIL" not in text and "alice" not in text and "findings" not in text


def test_quota_inAggregateOnly(served):
    env, url = served
    bank = env.add_bank("hsbc")
    seqs = accept(env, bank, 6, prefix="Q", amount="10.00")  # residents Q0, Q1, Q2, Q0, Q1, Q2
    _mint(env, seqs[:4], 1)  # Q0 twice, Q1 and Q2 once: 3 served, 40.00 used; 2 deposits held
    # three residents are fewer than the publication minimum (10 by default): no figure at all
    small = httpx.get(f"{url}/v1/public/quota").json()
    assert small["min_residents"] == 10 and small["suppressed"]
    assert (small["residents_served"], small["total_used"], small["total_held"]) == (None, None, None)
    [category] = small["by_category"]
    assert category["suppressed"] and (category["residents_served"], category["used"]) == (None, None)

    settings = env.settings.model_copy(update={"public_quota_min_residents": 3})
    with LiveServer(create_app(settings, env.db, policy=env.policy, clock=env.clock)) as server:
        body = httpx.get(f"{server.url}/v1/public/quota").json()
        year = body["by_category"][0]["period"]
        by_year = httpx.get(f"{server.url}/v1/public/quota", params={"period": year}).json()
        none = httpx.get(f"{server.url}/v1/public/quota", params={"period": "1999"}).json()
    assert body["residents_served"] == 3 and body["total_used"] == "40.00" and body["total_held"] == "20.00"
    assert not body["suppressed"]
    [category] = body["by_category"]
    assert category["category"] == "mainland" and category["residents_served"] == 3
    assert (category["used"], category["held"], category["suppressed"]) == ("40.00", "20.00", False)
    assert by_year["residents_served"] == 3
    assert none == {
        "period": "1999",
        "min_residents": 3,
        "residents_served": 0,
        "total_used": "0.00",
        "total_held": "0.00",
        "suppressed": False,
        "by_category": [],
    }
    with env.db.reading() as session:
        hashes = [d.resident_hash for d in session.scalars(select(Deposit))]
    _assert_nothing_private([json.dumps(body), json.dumps(small)], hashes + [pseudonym(h) for h in hashes])


def test_quota_smallGroupsWithheld_andOneMoreWhenOnlyOneIs():
    from service.public.ledger import _withheld

    assert _withheld([12, 3, 40], 10) == {0, 1}  # 3 alone would be the total less 12 and 40
    assert _withheld([12, 3, 4, 40], 10) == {1, 2}  # two withheld: neither follows from the rest
    assert _withheld([12, 40], 10) == set()
    assert _withheld([3], 10) == {0}  # the total is withheld too (checked above)
    assert _withheld([0, 25], 10) == {0, 1}  # a group of holds alone shows no figure either


def test_publicAnswers_servedFromMemoryForASecond(env):
    env.add_bank("hsbc")
    # long enough that a loaded machine still asks again within it
    settings = env.settings.model_copy(update={"public_answer_seconds": 4.0})
    with LiveServer(create_app(settings, env.db, policy=env.policy)) as server:
        first = httpx.get(f"{server.url}/v1/public/events")
        assert first.headers["cache-control"] == "public, max-age=4" and "age" not in first.headers
        with env.db.transaction() as session:
            banks.set_disabled(session, banks.require_bank(session, "hsbc"), True, actor="operator:alice")
        again = httpx.get(f"{server.url}/v1/public/events")
        assert again.content == first.content and int(again.headers["age"]) < 4
        other = httpx.get(f"{server.url}/v1/public/events", params={"limit": 50}).json()  # another URL
        assert [i["kind"] for i in other["items"]][-1] == "bank.disabled"
        refused = httpx.get(f"{server.url}/v1/public/mints", params={"bank": "boc"})
        assert refused.status_code == 400 and "cache-control" not in refused.headers
        wait_for(
            "a fresh answer",
            lambda: httpx.get(f"{server.url}/v1/public/events").content != first.content,
            timeout=15,
        )


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("mints", {"limit": 1001}, (422, "validation_error")),
        ("mints", {"limit": 0}, (422, "validation_error")),
        ("mints", {"after": -1}, (422, "validation_error")),
        ("mints", {"after": 2**63}, (422, "validation_error")),
        ("mints", {"bank": "nobody"}, (400, "unknown_bank")),
        ("mints", {"since": "yesterday"}, (400, "bad_time")),
        ("mints", {"since": "0001-01-01T00:00:00+01:00"}, (400, "bad_time")),
        ("redemptions", {"since": "2025-02-01", "until": "2025-01-01"}, (400, "empty_time_range")),
        ("redemptions", {"status": "paid"}, (422, "validation_error")),
        ("redemptions", {"bank": ""}, (422, "validation_error")),
        ("events", {"type": "everything"}, (422, "validation_error")),
        ("events", {"until": "2025-13-01"}, (400, "bad_time")),
        ("quota", {"period": "2025; drop"}, (422, "validation_error")),
    ],
)
def test_badParameters_are4xxWithAReason(live, path, params, expected):
    _env, url = live
    response = httpx.get(f"{url}/v1/public/{path}", params=params)
    assert _error(response) == expected, response.text
    assert response.json()["error"]["message"]


def test_everyRefusalIsInTheOpenApiDocument(live):
    _env, url = live
    spec = httpx.get(f"{url}/openapi.json").json()
    codes = {}
    for name in ("mints", "redemptions", "events", "quota"):
        responses = spec["paths"][f"/v1/public/{name}"]["get"]["responses"]
        codes[name] = {status: r.get("description", "") for status, r in responses.items()}
    for name in ("mints", "redemptions"):
        assert all(f"`{c}`" in codes[name]["400"] for c in ("unknown_bank", "bad_time", "empty_time_range"))
    assert "`bad_time`" in codes["events"]["400"] and "validation_error" in codes["quota"]["422"]


# ---- the cached chain view, against anvil ------------------------------------------------------------


class CountingProxy:
    """A JSON-RPC proxy in front of the node: counts the calls, and stops answering on demand."""

    def __init__(self, target: str) -> None:
        self.target, self.calls, self.down = target, 0, False
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                proxy.calls += 1
                if proxy.down:
                    self.send_response(503)
                    self.end_headers()
                    return
                answer = httpx.post(proxy.target, content=body, headers={"content-type": "application/json"})
                self.send_response(answer.status_code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(deployed):
    p = CountingProxy(deployed.rpc_url)
    yield p
    p.close()


def test_reserves_servedFromTheCache_noNodeCallPerRequest_staleWhenTheNodeStops(
    bank, deployed, workers, proxy
):
    env, client = bank
    minter, attestor = workers
    deposit(client, deployed.holders[0].address, "1250.00")
    minter.drain()
    settings = make_settings(
        env.settings.database_url,
        rpc_url=proxy.url,
        token_address=deployed.token_address,
        public_cache_seconds=0.2,
        # stale 3 s after the last good read: a refresh every 0.2 s keeps the view fresh even on a
        # busy machine, where one refresh can take over a second
        public_cache_stale_seconds=3.0,
        public_answer_seconds=0,  # every request computes its answer: only the chain view is cached
    )
    with LiveServer(create_app(settings, env.db, policy=env.policy)) as server:
        first = httpx.get(f"{server.url}/v1/reserves").json()  # read before the server served
        assert first["supply"] == "1250.00" == first["total_reserves"] and first["stale"] is False
        assert first["as_of_block"] == deployed.token().block_number() and first["as_of"]
        assert (first["paused"], first["minting_paused"], first["redemptions_paused"]) == (
            False,
            False,
            False,
        )
        # 300 requests: the node sees the refresher's reads only (a handful per 0.2 s), none per request
        started, calls = time.monotonic(), proxy.calls
        with httpx.Client(base_url=server.url) as http_client:
            answers = [http_client.get("/v1/reserves").json() for _ in range(300)]
        refreshes = (time.monotonic() - started) / 0.2 + 2
        per_refresh = 8  # eth_blockNumber, eth_getBlockByNumber, 6 eth_calls (at most)
        node_calls = proxy.calls - calls
        # fewer node calls than requests (one per request would be 300 or more), all the refresher's
        assert node_calls < 300 and node_calls <= refreshes * per_refresh, (node_calls, refreshes)
        assert {a["supply"] for a in answers} == {"1250.00"}

        # the node stops answering: the last view is still served, flagged stale after 3 s
        proxy.down = True
        wait_for("the stale flag", lambda: httpx.get(f"{server.url}/v1/reserves").json()["stale"], timeout=15)
        stale = httpx.get(f"{server.url}/v1/reserves").json()
        assert stale["supply"] == "1250.00" and stale["as_of_block"] == first["as_of_block"]
        assert stale["cache_age_ms"] >= 3000 and stale["as_of"] >= first["as_of"]
        # the ledger part is read per answer: a new deposit shows at once, the supply does not
        deposit(client, deployed.holders[1].address, "10.00")
        answer = httpx.get(f"{server.url}/v1/reserves").json()
        assert (answer["pending_mint"], answer["supply"]) == ("10.00", "1250.00")

        proxy.down = False
        wait_for(
            "a fresh view", lambda: not httpx.get(f"{server.url}/v1/reserves").json()["stale"], timeout=10
        )


def test_publicLedger_againstTheChain_mintsAndAttestationEvents(bank, deployed, workers):
    env, client = bank
    minter, _attestor = workers
    deposit(client, deployed.holders[0].address, "300.00", resident="A7654321")
    minter.drain()
    settings = make_settings(
        env.settings.database_url, rpc_url=deployed.rpc_url, token_address=deployed.token_address
    )
    with LiveServer(create_app(settings, env.db, policy=env.policy)) as server:
        [mint] = httpx.get(f"{server.url}/v1/public/mints").json()["items"]
        with env.db.reading() as session:
            row = session.scalars(select(Deposit)).one()
        assert (mint["tx_hash"], mint["block_number"]) == (row.tx_hash, row.block_number)
        assert mint["amount"] == "300.00" and mint["bank"] == "minter-test-bank"
        receipt = deployed.token().receipt(row.tx_hash)
        assert receipt is not None and receipt.block_number == row.block_number
        events = httpx.get(f"{server.url}/v1/public/events", params={"type": "attestation"}).json()["items"]
        assert events and events[-1]["amount"] == "300.00" and events[-1]["tx_hash"]
        report = httpx.get(f"{server.url}{events[-1]['report_url']}")
        assert hashlib.sha256(report.content).hexdigest() == events[-1]["details"]["report_hash"]
        assert "A7654321" not in json.dumps(mint) and row.reference not in json.dumps(mint)


def test_publicOnlyProcess_servesThePublicReadsAndNothingElse(env):
    """`ushk serve --public-only`: the page, the reserves, the public ledger and the log, and
    no bank or operator endpoint (a proxy routes the public paths to it)."""
    env.add_bank("hsbc")
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock, public_only=True)
    with LiveServer(app) as server:
        paths = set(httpx.get(f"{server.url}/openapi.json").json()["paths"])
        assert paths and all(
            p.startswith(("/v1/public/", "/v1/reserves", "/v1/transparency/")) or p in ("/healthz", "/readyz")
            for p in paths
        )
        assert {"/v1/public/mints", "/v1/reserves", "/v1/transparency/sth"} <= paths
        assert httpx.get(f"{server.url}/v1/public/events").json()["items"][0]["kind"] == "bank.created"
        assert httpx.get(f"{server.url}/").status_code == 200
        refused = httpx.post(f"{server.url}/v1/deposits", json={})
        assert refused.status_code in (404, 405) and "error" in refused.json()
    assert app.state.ushk.writer is None
    full = set(create_app(env.settings, env.db, policy=env.policy).openapi()["paths"])
    assert paths < full and any(p.startswith("/v1/operator/") for p in full - paths)
    assert "/v1/deposits" in full - paths
