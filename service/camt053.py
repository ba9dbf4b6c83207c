"""A bank's ISO 20022 camt.053 (BankToCustomerStatement) as a custody statement.

The bank's own tool (`ushk statement from-camt053 FILE --key SEED_FILE --key-id k1`) reads the
account statement its core system exports and turns it into the signed JSON body of
POST /v1/bank/custody-statements (service/reserves/custody.py): the statement must be signed by
the bank, so the service never takes the XML itself. From the `Stmt` of the reserve account:

* `statement_id`: the statement's `Id`;
* `balance`: its closing booked balance (`Bal` with `Tp/CdOrPrtry/Cd` = `CLBD`), `Amt` in USD
  (`Ccy`), credit (`CdtDbtInd` `CRDT`; a debit balance is refused: a reserve account is never
  overdrawn);
* `as_of`: that balance's `Dt/DtTm` (or `Dt/Dt`, taken as the end of that day), in
  `timezone` when it carries no offset;
* `account`: the account's `Id/IBAN` (or `Id/Othr/Id`).

Any namespace version of camt.053 (001.02 to 001.13) is read: elements are matched by their
local names. The XML is parsed with defusedxml (no DTDs, entities or external references) and
at most `MAX_BYTES`.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element
from zoneinfo import ZoneInfo

from defusedxml import ElementTree  # type: ignore[import-untyped]
from defusedxml.common import DefusedXmlException  # type: ignore[import-untyped]

MAX_BYTES = 20 * 1024 * 1024
_STATEMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class Camt053Error(ValueError):
    """The file is not a camt.053 the statement can be taken from; the message says why."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Element, *path: str) -> Element | None:
    for name in path:
        found = next((c for c in element if _local(c.tag) == name), None)
        if found is None:
            return None
        element = found
    return element


def _text(element: Element, *path: str) -> str | None:
    found = _child(element, *path)
    return None if found is None or found.text is None else found.text.strip()


def _account(stmt: Element) -> str | None:
    return _text(stmt, "Acct", "Id", "IBAN") or _text(stmt, "Acct", "Id", "Othr", "Id")


def _as_of(balance: Element, zone: ZoneInfo) -> str:
    stamp = _text(balance, "Dt", "DtTm")
    if stamp is not None:
        try:
            at = dt.datetime.fromisoformat(stamp)
        except ValueError:
            raise Camt053Error(f"the closing balance's Dt/DtTm {stamp!r} is not an ISO 8601 time") from None
    else:
        day = _text(balance, "Dt", "Dt")
        if day is None:
            raise Camt053Error("the closing balance has no date (Dt/DtTm or Dt/Dt)")
        try:
            at = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(23, 59, 59))
        except ValueError:
            raise Camt053Error(f"the closing balance's Dt/Dt {day!r} is not a date") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    return at.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse(xml: bytes, *, account: str | None = None, timezone: str = "UTC") -> dict[str, str]:
    """The custody statement (every value a string, unsigned) of the camt.053 `xml`: of the
    statement of `account`, or of its only statement. Raises Camt053Error."""
    if len(xml) > MAX_BYTES:
        raise Camt053Error(f"the file is larger than {MAX_BYTES} bytes")
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError) as exc:
        raise Camt053Error(f"unknown time zone {timezone!r}") from exc
    try:
        root = ElementTree.fromstring(xml, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise Camt053Error(f"refused XML: {type(exc).__name__}") from None
    except ElementTree.ParseError as exc:
        raise Camt053Error(f"not well-formed XML: {exc}") from None
    report = _child(root, "BkToCstmrStmt")
    if _local(root.tag) != "Document" or report is None:
        raise Camt053Error("not a camt.053 document (Document/BkToCstmrStmt)")
    statements = [s for s in report if _local(s.tag) == "Stmt"]
    if account is not None:
        statements = [s for s in statements if _account(s) == account]
    if len(statements) != 1:
        which = f"of account {account}" if account is not None else "in the file"
        raise Camt053Error(
            f"{len(statements)} statements {which}: give --account to choose one"
            if statements
            else f"no statement {which}"
        )
    [stmt] = statements
    statement_id = _text(stmt, "Id")
    if statement_id is None or not _STATEMENT_ID.fullmatch(statement_id):
        raise Camt053Error(
            f"the statement's Id {statement_id!r} is not 1-64 letters, digits, '.', '_', ':' or '-'"
        )
    closing = [b for b in stmt if _local(b.tag) == "Bal" and _text(b, "Tp", "CdOrPrtry", "Cd") == "CLBD"]
    if len(closing) != 1:
        raise Camt053Error(f"{len(closing)} closing booked balances (Bal/Tp/CdOrPrtry/Cd CLBD), not one")
    [balance] = closing
    amount_element = _child(balance, "Amt")
    if amount_element is None or amount_element.text is None:
        raise Camt053Error("the closing balance has no Amt")
    currency = amount_element.get("Ccy")
    if currency != "USD":
        raise Camt053Error(f"the closing balance is in {currency}, not USD")
    try:
        amount = Decimal(amount_element.text.strip())
    except InvalidOperation:
        raise Camt053Error(f"the closing balance's Amt {amount_element.text!r} is not a number") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise Camt053Error(f"the closing balance's Amt {amount_element.text!r} is not an amount in cents")
    indicator = _text(balance, "CdtDbtInd")
    if indicator == "DBIT" and amount != 0:
        raise Camt053Error("the closing balance is a debit: the reserve account is overdrawn")
    if indicator not in ("CRDT", "DBIT"):
        raise Camt053Error(f"the closing balance's CdtDbtInd is {indicator!r}, not CRDT or DBIT")
    reference = _account(stmt)
    if reference is None:
        raise Camt053Error("the statement names no account (Acct/Id/IBAN or Acct/Id/Othr/Id)")
    return {
        "statement_id": statement_id,
        "balance": f"{amount.quantize(Decimal('0.01')):f}",
        "currency": "USD",
        "as_of": _as_of(balance, zone),
        "account": reference,
    }
