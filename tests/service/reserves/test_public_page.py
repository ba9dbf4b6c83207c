"""The public page (/) on a real anvil, in a real headless browser (Debian's chromium driven by
playwright; no browser is ever downloaded): its figures are the chain's and the service's, a new
mint appears without a reload, it reads without JavaScript, it says when it is stale or the
service is unavailable, and no amount on it is a float's artifact.

Without chromium the browser tests skip, saying so; with CI set (.ci/run) they fail instead."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil

import httpx
import pytest

from chain_support import deposit, deposits_of
from reserve_support import block_on_top
from service.api import page as page_module
from service.app import create_app
from service.money import format_units
from service.redemptions.watcher import RedemptionWatcher
from service.reserves.chain_cache import CachedView, ChainViewCache
from svc_support import LiveServer, make_settings
from test_log_anchor import publisher_for
from test_snapshots import snapshotter
from wait_support import wait_for

pytestmark = pytest.mark.blocktime

EXPLORER = "https://explorer.example/tx/{tx}"
# An amount as the service writes it: dollars with 2 decimals, or 6 when there is dust.
AMOUNT = re.compile(r"^-?[0-9]+\.[0-9]{2}([0-9]{4})?$")
FLOAT_ARTIFACT = re.compile(r"[0-9][eE][+-]?[0-9]|[0-9]\.[0-9]{7,}|\bNaN\b|\bInfinity\b")
HEX = re.compile(r"\b(0x)?[0-9a-fA-F]{16,}\b")
USD = 10**6


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    problem = None
    if path is None:
        problem = (
            "chromium is not installed (on Debian: apt-get install -y chromium); the browser tests need it"
        )
    else:
        try:
            from playwright.sync_api import sync_playwright
        except ImportError:
            problem = "playwright is not installed (pip install -r requirements.txt)"
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{problem}; CI is set, so this fails instead of skipping")
        pytest.skip(problem)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=path, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def site(bank, deployed, workers):
    """(env, client, base URL of a service whose page reads the deployed token)."""
    env, client = bank
    settings = make_settings(
        env.settings.database_url,
        rpc_url=deployed.rpc_url,
        token_address=deployed.token_address,
        explorer_tx_url=EXPLORER,
        # GET /v1/reserves, which the page's figures are held against, reads a cached chain view
        public_cache_seconds=0.1,
        public_answer_seconds=0,
    )
    with LiveServer(create_app(settings, env.db, policy=env.policy)) as server:
        yield env, client, server.url


def text_of(page, selector: str) -> str:
    return page.locator(selector).inner_text().strip()


def amounts_in(view) -> list[str]:
    """Every amount of the page's JSON."""
    found = [view[k] for k in ("supply", "tokens_outstanding", "total_reserves", "pending_payouts")]
    found += [c["amount"] for c in view["custody"]]
    found += [a["amount"] for a in view["activity"] if a["amount"] is not None]
    found += [p[k] for p in view["history"] for k in ("supply", "reserves")]
    if view["classes"]:
        found += [view["classes"][k] for k in ("total", "outstanding_redeemable", "frozen")]
    if view["attestation"]:
        found.append(view["attestation"]["amount"])
    return [a for a in found if a is not None]


def test_the_page_shows_the_chains_figures_and_a_new_mint_without_a_reload(
    site, deployed, workers, browser, tmp_path
):
    env, client, url = site
    minter, attestor = workers
    token = deployed.token()
    alice, bob = deployed.holders[0], deployed.holders[1]
    deposit(client, alice.address, "1250.00")
    deposit(client, bob.address, "300.00", resident="R7654321")
    minter.drain()
    ref = client.register_payout_account(holder=bob.address, account_reference="BOB-SAVINGS-1")["payout_ref"]
    deployed.contract.redeem(100 * USD, bytes.fromhex(ref[2:]), sender=bob)
    RedemptionWatcher(
        env.db,
        token,
        env.settings,
        from_block=deployed.from_block,
        poll_seconds=0.05,
        confirmations=0,
        attestor=attestor,
    ).catch_up()
    block_on_top(token)
    snapshotter(env, deployed).take()
    publisher_for(env, deployed).anchor()

    page = browser.new_page()
    try:
        page.goto(f"{url}/?poll=1&stale=5")
        page.wait_for_selector("body[data-enhanced=true]")
        page.wait_for_selector("#freshness[data-state=live]")
        supply = format_units(token.total_supply())
        wait_for(
            "GET /v1/reserves's cached chain view to show the mints",
            lambda: httpx.get(f"{url}/v1/reserves").json()["supply"] == supply,
            10,
        )
        summary = httpx.get(f"{url}/v1/reserves").json()
        assert text_of(page, "#supply") == supply == summary["supply"] == "1450.00"
        assert text_of(page, "#total-reserves") == summary["total_reserves"] == "1550.00"
        assert text_of(page, "#tokens-outstanding") == summary["tokens_outstanding"]
        assert text_of(page, "#ratio") == summary["ratio"]
        assert text_of(page, "#pending-payouts") == summary["pending_payouts"] == "100.00"
        assert page.locator("#custody tbody tr").all_inner_texts() == [
            f"{c['bank']}\t{c['amount']}\t"
            + (f"{c['statement_as_of']} ({c['statement_balance']})" if c["statement_as_of"] else "none")
            + "\t"
            + ("failed" if c["failed"] else "stale" if c["statement_stale"] else "ok")
            for c in summary["custody"]
        ]
        classes = text_of(page, "#classes")
        assert "Outstanding, redeemable" in classes and supply in classes
        report = page.locator("#attestation a")
        assert report.get_attribute("href") == summary["last_attestation"]["report_url"]
        assert httpx.get(f"{url}{report.get_attribute('href')}").status_code == 200
        verified = text_of(page, "#verification-summary")
        assert re.fullmatch(r"verified at block [0-9]+", verified), verified
        assert int(verified.rsplit(" ", 1)[1]) <= token.block_number()
        sth = httpx.get(f"{url}/v1/transparency/sth").json()
        assert f"size {sth['tree_size']}" in text_of(page, "#head")
        assert f"in block {sth['anchor_block']}" in text_of(page, "#anchored")
        assert sth["anchor_tx"] in text_of(page, "#anchored")
        kinds = page.locator("#activity tbody tr td:nth-child(3)").all_inner_texts()
        assert kinds.count("mint") == 2 and "redemption" in kinds
        if page_module.chart_available():
            page.wait_for_selector("#chart canvas")

        page.evaluate("window.__notReloaded = true")
        deposit(client, deployed.holders[2].address, "40.00", resident="R1112223")
        minter.drain()
        tx_hash = deposits_of(env)[-1].tx_hash
        new_row = page.locator("#activity tbody tr", has_text=tx_hash)
        new_row.wait_for(timeout=20_000)
        assert "40.00" in new_row.inner_text() and "mint" in new_row.inner_text()
        link = new_row.locator("a")
        assert link.get_attribute("href") == EXPLORER.replace("{tx}", tx_hash)
        page.wait_for_function("document.getElementById('supply').textContent === '1490.00'", timeout=20_000)
        assert text_of(page, "#supply") == format_units(token.total_supply())
        assert page.evaluate("window.__notReloaded") is True

        shot = tmp_path / "public-page.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
        content = page.content()
    finally:
        page.close()
    for private in ("BOB-SAVINGS-1", ref, "R1234567", "R7654321", "ref-"):
        assert private not in content


def test_the_page_reads_without_javascript_and_its_amounts_are_exact_decimals(site, deployed, workers):
    env, client, url = site
    minter, _ = workers
    deposit(client, deployed.holders[0].address, "0.07")
    deposit(client, deployed.holders[1].address, "98765.43", resident="R7654321")
    minter.drain()
    supply = format_units(deployed.token().total_supply())
    wait_for(
        "the page's cached chain view to show the mints",
        lambda: httpx.get(f"{url}/page/state.json").json()["supply"] == supply,
        10,
    )
    html = httpx.get(f"{url}/")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    view = httpx.get(f"{url}/page/state.json").json()
    assert supply == view["supply"] == "98765.50"
    for figure in (supply, view["total_reserves"], "0.07", "98765.43", "minter-test-bank"):
        assert figure in html.text, figure
    assert f'<td id="supply" data-field="supply">{supply}</td>' in html.text
    assert "<time" in html.text and "<table" in html.text and "<h2" in html.text
    assert view["verification"]["status"] == "verified"
    tx_hashes = [a["tx_hash"] for a in view["activity"]]
    assert tx_hashes and all(tx in html.text for tx in tx_hashes)

    amounts = amounts_in(view)
    assert len(amounts) >= 8
    assert all(isinstance(a, str) and AMOUNT.fullmatch(a) for a in amounts), amounts
    for text in (html.text, httpx.get(f"{url}/page/state.json").text):
        figures = HEX.sub("", text)  # hashes and addresses hold digits and "e"s of their own
        assert not FLOAT_ARTIFACT.search(figures), FLOAT_ARTIFACT.search(figures)


def test_stale_and_unavailable_states_show_when_the_service_stops_answering(site, deployed, workers, browser):
    env, client, url = site
    minter, _ = workers
    deposit(client, deployed.holders[0].address, "10.00")
    minter.drain()
    page = browser.new_page()
    try:
        page.goto(f"{url}/?poll=1&stale=3")
        page.wait_for_selector("#freshness[data-state=live]")
        # the chain view the page reads is refreshed in the background: the mint is on it soon
        page.wait_for_function("document.getElementById('supply').textContent === '10.00'", timeout=15_000)
        page.route("**/page/state.json", lambda route: route.abort())
        page.wait_for_selector("#freshness[data-state=unavailable]", timeout=10_000)
        assert "Unavailable: the service is not answering" in text_of(page, "#freshness")
        page.wait_for_selector("#freshness[data-stale=true]", timeout=10_000)
        assert "stale" in text_of(page, "#freshness")
        assert text_of(page, "#supply") == "10.00"  # the last figures stay, marked stale
        page.unroute("**/page/state.json")
        page.wait_for_selector("#freshness[data-state=live]", timeout=10_000)
        # a service that answers slowly: the figures age into stale without an error
        page.route("**/page/state.json", lambda route: None)  # never answered
        page.wait_for_selector("#freshness[data-stale=true]", timeout=15_000)
    finally:
        page.close()


def test_the_page_without_a_chain_or_the_chart_library(live, monkeypatch):
    env, _ = live
    settings = make_settings(
        env.settings.database_url, rpc_url="http://127.0.0.1:9", token_address="0x" + "11" * 20
    )
    with LiveServer(create_app(settings, env.db, policy=env.policy)) as server:
        assert httpx.get(f"{server.url}/page/assets/uPlot.js").status_code == (
            200 if page_module.chart_available() else 404
        )
        assert httpx.get(f"{server.url}/page/assets/page.js").status_code == 200
        assert httpx.get(f"{server.url}/page/assets/nothing.js").json()["error"]["code"] == "no_asset"
        missing = dict(
            page_module.ASSETS, **{"uPlot.js": (page_module.HERE / "no-such-file.js", "text/javascript")}
        )
        monkeypatch.setattr(page_module, "ASSETS", missing)
        html = httpx.get(f"{server.url}/").text
        assert "uPlot.js" not in html and "/page/assets/page.js" in html
        assert 'data-state="unavailable"' in html and "the chain is unavailable" in html
        assert 'data-status="unavailable"' in html
        view = httpx.get(f"{server.url}/page/state.json").json()
        assert view["chain_available"] is False and view["supply"] is None
        assert view["activity"] == [] and view["classes"] is None
        assert "/" not in httpx.get(f"{server.url}/openapi.json").json()["paths"]
    from service import runtime
    from service.api import page_view

    assert runtime.read_chain_view(make_settings(env.settings.database_url)) is None  # no token configured
    assert page_view.tx_url(settings, "0x" + "ab" * 32) is None  # no explorer: hashes as text


def test_the_page_shows_a_mismatch_with_the_chain(live, monkeypatch):
    """The chain's figures as the page read them disagree with the ledger and the log: the page
    says where, at which block."""
    env, url = live
    forged = {
        "block": 77,
        "supply_units": 5 * USD + 1,
        "attestation": None,
        "anchor": {"tree_size": 3, "root": "ab" * 32, "timestamp": 1},
    }
    cached = CachedView(forged, dt.datetime.now(dt.UTC), 77, 0, stale=False, failing_since=None)
    monkeypatch.setattr(ChainViewCache, "snapshot", lambda self: cached)
    view = httpx.get(f"{url}/page/state.json").json()
    verification = view["verification"]
    assert verification["status"] == "mismatch" and verification["block"] == 77
    assert {c["name"]: c["ok"] for c in verification["checks"]} == {"supply": False, "anchor": False}
    assert "totalSupply 5.000001, ledger 0.00" in verification["summary"]
    html = httpx.get(f"{url}/").text
    assert 'data-status="mismatch"' in html and "mismatch at block 77" in html
    assert "does not match any signed head" in html


def test_the_page_says_stale_when_the_chain_view_is_old(live, monkeypatch):
    """The API's chain view has not been refreshed for a while (the node stopped answering):
    the page keeps its last figures and says they are stale, and since when."""
    env, url = live
    read_at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    view = {
        "block": 5,
        "supply_units": 0,
        "attestation": None,
        "anchor": {"tree_size": 0, "root": "00" * 32, "timestamp": 0},
    }
    cached = CachedView(view, read_at, 5, 60_000, stale=True, failing_since=read_at)
    monkeypatch.setattr(ChainViewCache, "snapshot", lambda self: cached)
    state = httpx.get(f"{url}/page/state.json").json()
    assert state["chain_available"] and state["chain_stale"]
    assert state["chain_as_of"] == "2026-01-02T03:04:05.000+00:00"
    html = httpx.get(f"{url}/").text
    assert 'data-state="stale"' in html
    assert "the chain's figures were last read at 2026-01-02T03:04:05.000+00:00" in html


def test_the_page_shows_the_monitors_findings_live_and_says_when_it_stops(live, browser, tmp_path):
    """The supervisors' monitor (its real API, store and signed log, the default rules of
    config/monitor-rules.yaml) behind USHK_MONITOR_URL: the page lists its findings, a new one
    appears without a reload, and the section says so when the monitor stops answering."""
    from service.monitor.api import create_app as monitor_app
    from service.monitor.engine import Engine
    from service.monitor.log import FindingsLog, generate_key, load_key
    from service.monitor.model import Observation
    from service.monitor.rules import load_rules
    from service.monitor.store import Store

    env, _ = live
    generate_key(tmp_path / "monitor.key")
    store = Store(f"sqlite:///{tmp_path / 'monitor.db'}")
    log = FindingsLog(store, load_key(tmp_path / "monitor.key"))
    engine = Engine(store, load_rules(page_module.HERE.parent.parent / "config" / "monitor-rules.yaml"))
    account = "0x" + "ab" * 20

    def role_granted(block: int) -> None:
        fields = {"role": "0x" + "00" * 32, "account": account, "sender": account}
        engine.process(
            Observation(
                "chain",
                "RoleGranted",
                f"chain:{block}:0",
                1_800_000_000 + block,
                fields,
                block,
                "0x" + "cd" * 32,
            )
        )
        log.sign_head()

    role_granted(3)
    monitor = LiveServer(monitor_app(store, log))
    with monitor:
        settings = env.settings.model_copy(
            update={
                "monitor_url": monitor.url,
                "public_cache_seconds": 0.2,
                "public_cache_stale_seconds": 1.0,
            }
        )
        with LiveServer(create_app(settings, env.db, policy=env.policy, clock=env.clock)) as server:
            page = browser.new_page()
            try:
                page.goto(f"{server.url}/?poll=1&stale=30")
                page.wait_for_selector("#monitor[data-state=live]")
                rows = page.locator("#monitor-findings tbody tr")
                assert rows.count() == 1 and "governance" in rows.first.inner_text()
                assert "1 findings so far" in text_of(page, "#monitor-status")
                page.evaluate("window.__notReloaded = true")
                role_granted(4)
                page.wait_for_function(
                    "document.querySelectorAll('#monitor-findings tbody tr').length === 2", timeout=15_000
                )
                assert page.locator("#monitor-findings tbody tr").first.get_attribute("data-seq") == "1"
                assert page.evaluate("window.__notReloaded") is True
                monitor.__exit__(None, None, None)  # the monitor stops answering
                page.wait_for_selector("#monitor[data-state=stale]", timeout=15_000)
                assert "stale: last read at" in text_of(page, "#monitor-status")
                assert page.locator("#monitor-findings tbody tr").count() == 2  # the last findings stay
            finally:
                page.close()
    store.dispose()
