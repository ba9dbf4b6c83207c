"""`ushk statement from-camt053`: a bank's ISO 20022 camt.053 export becomes its signed custody
statement (the closing booked balance of the reserve account), which the service accepts; XML
that is hostile or not a usable statement is refused with the reason."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from service.camt053 import Camt053Error, parse
from service.cli import cli
from service.client import BankClient

NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"


def balance(
    code="CLBD",
    amount="1250000.00",
    ccy="USD",
    indicator="CRDT",
    date="<DtTm>2025-03-14T17:00:00+08:00</DtTm>",
):
    return (
        f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="{ccy}">{amount}</Amt>'
        f"<CdtDbtInd>{indicator}</CdtDbtInd><Dt>{date}</Dt></Bal>"
    )


def stmt(statement_id="HSBC-CUST-2025-03-14", iban="HK00HSBC0000USHK0001", balances=None):
    balances = balances if balances is not None else balance("OPBD", "1000.00") + balance()
    return (
        f"<Stmt><Id>{statement_id}</Id><CreDtTm>2025-03-14T18:00:00+08:00</CreDtTm>"
        f"<Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>USD</Ccy></Acct>{balances}"
        '<Ntry><Amt Ccy="USD">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry></Stmt>'
    )


def document(*statements: str, ns: str = NS) -> bytes:
    body = "".join(statements) or stmt()
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Document xmlns="{ns}"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>M1</MsgId><CreDtTm>2025-03-14T18:00:00+08:00</CreDtTm></GrpHdr>{body}"
        "</BkToCstmrStmt></Document>"
    ).encode()


def test_the_closing_booked_balance_becomes_the_statement():
    assert parse(document()) == {
        "statement_id": "HSBC-CUST-2025-03-14",
        "balance": "1250000.00",
        "currency": "USD",
        "as_of": "2025-03-14T09:00:00Z",
        "account": "HK00HSBC0000USHK0001",
    }
    # another version's namespace, an account by Othr/Id, a date-only balance in the bank's zone
    other = stmt(balances=balance(amount="7", date="<Dt>2025-03-14</Dt>")).replace(
        "<IBAN>HK00HSBC0000USHK0001</IBAN>", "<Othr><Id>RESERVE-7</Id></Othr>"
    )
    taken = parse(
        document(other, ns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"), timezone="Asia/Hong_Kong"
    )
    assert (taken["balance"], taken["as_of"], taken["account"]) == (
        "7.00",
        "2025-03-14T15:59:59Z",
        "RESERVE-7",
    )
    two = document(stmt("A-1", "IBAN-A"), stmt("B-1", "IBAN-B"))
    assert parse(two, account="IBAN-B")["statement_id"] == "B-1"
    zero = parse(document(stmt(balances=balance(amount="0.00", indicator="DBIT"))))
    assert zero["balance"] == "0.00"


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (document(stmt(balances=balance(indicator="DBIT"))), "overdrawn"),
        (document(stmt(balances=balance(ccy="HKD"))), "in HKD, not USD"),
        (document(stmt(balances=balance() + balance())), "2 closing booked balances"),
        (document(stmt(balances=balance("OPBD"))), "0 closing booked balances"),
        (document(stmt(balances=balance(amount="1.005"))), "not an amount in cents"),
        (document(stmt(balances=balance(amount="-1.00"))), "not an amount in cents"),
        (document(stmt(balances=balance(amount="lots"))), "not a number"),
        (document(stmt(balances=balance(date="<DtTm>yesterday</DtTm>"))), "not an ISO 8601 time"),
        (document(stmt("bad id")), "is not 1-64"),
        (document(stmt("A-1", "IBAN-A"), stmt("B-1", "IBAN-B")), "2 statements in the file"),
        (b"<Document><Other/></Document>", "not a camt.053"),
        (b"<Document><BkToCstmrStmt>", "not well-formed"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<Document><BkToCstmrStmt/></Document>",
            "refused XML",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>',
            "refused XML",
        ),
    ],
)
def test_refusals(xml, reason):
    with pytest.raises(Camt053Error, match=reason):
        parse(xml)


def test_the_cli_signs_it_and_the_service_accepts_it(live, tmp_path):
    env, url = live
    bank = env.add_bank()
    xml, key = tmp_path / "camt053.xml", tmp_path / "seed.hex"
    xml.write_bytes(document(stmt(balances=balance(date="<DtTm>2025-03-14T17:00:00Z</DtTm>"))))
    key.write_text(bank.seed.hex())
    runner = CliRunner()
    result = runner.invoke(
        cli, ["statement", "from-camt053", str(xml), "--key", str(key), "--key-id", bank.key_id]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["statement"]["balance"] == "1250000.00" and body["key_id"] == bank.key_id
    with BankClient(url, api_key=bank.api_key) as client:
        answer = client.post_custody_statement(body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["as_of"] == "2025-03-14T17:00:00Z"
    xml.write_bytes(document(stmt(balances=balance(indicator="DBIT"))))
    refused = runner.invoke(cli, ["statement", "from-camt053", str(xml), "--key", str(key), "--key-id", "k1"])
    assert refused.exit_code == 1 and "overdrawn" in refused.output
    key.write_text("not a key")
    xml.write_bytes(document())
    refused = runner.invoke(cli, ["statement", "from-camt053", str(xml), "--key", str(key), "--key-id", "k1"])
    assert refused.exit_code == 1 and "seed must be 32 bytes" in refused.output
