"""What a supervisor sees of each custodian: its latest statement's time, stale or failed, on
/v1/reserves, the public page (HTML and its state.json) and in a snapshot's custodians, which
`ushk verify` checks for shape (a version 1 snapshot, without them, still passes)."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from service.banks.service import require_bank
from service.client import signed_statement
from service.reserves import custody, failures
from service.verifier.remote import Failed
from service.verifier.snapshot import custodians
from svc_support import accept


def test_reserves_and_the_page_show_statement_time_stale_and_failed(live):
    env, url = live
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    env.add_bank("dbs")
    accept(env, hsbc, 1, amount="100.00")
    accept(env, boc, 1, amount="100.00")
    as_of = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)
    body = signed_statement(
        {
            "statement_id": "S1",
            "balance": "100.00",
            "currency": "USD",
            "as_of": as_of.isoformat(),
            "account": "A",
        },
        hsbc.key_id,
        hsbc.seed,
    )
    with env.db.transaction() as session:
        custody.submit(session, require_bank(session, "hsbc"), custody.StatementRequest.model_validate(body))
        failures.mark_failed(session, require_bank(session, "dbs"), cause="drill", actor="test")
    iso = as_of.isoformat()
    expected = {
        "boc": (None, True, False),
        "dbs": (None, True, True),  # failed, listed without custody
        "hsbc": (iso, False, False),
    }
    reserves = httpx.get(f"{url}/v1/reserves").json()
    assert {
        c["bank"]: (c["statement_as_of"], c["statement_stale"], c["failed"]) for c in reserves["custody"]
    } == (expected)
    view = httpx.get(f"{url}/page/state.json").json()
    assert {
        c["bank"]: (c["statement_as_of"], c["statement_stale"], c["failed"]) for c in view["custody"]
    } == (expected)
    html = httpx.get(f"{url}/").text
    rows = html[
        html.index('<table id="custody">') : html.index("</table>", html.index('<table id="custody">'))
    ]
    assert f'<time datetime="{iso}">{iso}</time> (100.00)</td><td>ok</td>' in rows
    assert "<td>boc</td><td>100.00</td><td>none</td><td>stale</td>" in rows
    assert "<td>dbs</td><td>0.00</td><td>none</td><td>failed</td>" in rows


def row(bank, as_of="2026-12-04T10:00:00+00:00", stale=False, failed=False):
    return {
        "bank": bank,
        "statement_as_of": as_of,
        "statement_balance": "1.00",
        "statement_stale": stale,
        "failed": failed,
    }


def snap(version=2, rows=None, custody=("hsbc",)):
    reserves = {"custody": [{"bank": b, "amount": "1.00"} for b in custody]}
    if rows is not None:
        reserves["custodians"] = rows
    return {"version": version, "reserves": reserves}


def test_the_verifier_checks_the_custodians_of_a_snapshot():
    assert custodians(snap(1)) == "version 1 snapshot: no custodian statements in it"
    assert custodians(snap(rows=[row("hsbc"), row("dbs", None, True, True)])) == (
        "custodians: hsbc (fresh, statement 2026-12-04T10:00:00+00:00); dbs (FAILED, statement none)"
    )
    for bad, reason in [
        (snap(rows=None), "lists no custodians"),
        (snap(rows=[row("boc")]), "leave out hsbc"),
        (snap(rows=[dict(row("hsbc"), failed="no")]), "failed flag"),
        (snap(rows=[dict(row("hsbc"), statement_as_of=5)]), "statement time"),
        (snap(rows=[row("hsbc", None, False)]), "yet not stale"),
        (snap(rows=[{"statement_as_of": None}]), "no bank name"),
        (snap(version="2", rows=[row("hsbc")]), "not a version"),
    ]:
        with pytest.raises(Failed, match=reason):
            custodians(bad)
