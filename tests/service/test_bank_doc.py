"""docs/bank-api.md says what the service does: its error table is the one generated from the
error classes, and it names every field of the bodies a bank gets back."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from service.api.quota import QuotaOut
from service.banks.schemas import BankOut, SigningKeyOut, WebhookOut
from service.deposits.schemas import DepositList, DepositOut
from service.redemptions.schemas import PayoutAccountOut, PayoutOut
from service.reserves.custody import StatementList, StatementOut

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import error_table  # noqa: E402

DOC = (ROOT / "docs" / "bank-api.md").read_text(encoding="utf-8")


def test_the_error_table_is_generated_from_the_error_classes():
    assert error_table.current(DOC) == error_table.render(), "run python tools/error_table.py"


def test_the_table_has_every_code_including_the_http_layers():
    codes = set(re.findall(r"^\| \d{3} \| `([a-z_]+)` \|", error_table.current(DOC), re.M))
    assert {
        "validation_error",
        "not_found",
        "method_not_allowed",
        "unauthenticated",
        "payload_too_large",
        "database_busy",
        "internal_error",
        "invalid_bank_input",
        "value_date_out_of_range",
        "operator_unauthenticated",
    } <= codes


@pytest.mark.parametrize(
    "model",
    [
        DepositOut,
        DepositList,
        PayoutOut,
        PayoutAccountOut,
        BankOut,
        SigningKeyOut,
        WebhookOut,
        QuotaOut,
        StatementOut,
        StatementList,
    ],
)
def test_the_doc_names_every_field_a_bank_gets_back(model):
    missing = [name for name in model.model_fields if f"`{name}`" not in DOC and f'"{name}":' not in DOC]
    assert not missing, f"{model.__name__}: {missing} not in docs/bank-api.md"


def test_the_normalisations_the_doc_states():
    from service.quota.identity import normalize_id_number, normalize_id_type, resident_hash

    assert normalize_id_number("Ａ１２３４５６７") == normalize_id_number("a123 456(7)") == "A1234567"
    assert "`Ａ１２３４５６７` is `A1234567`" in DOC
    assert normalize_id_type("HKID") == "hkid"
    assert resident_hash(b"k", "HKID", "Ａ１２３４５６７") == resident_hash(b"k", "hkid", "A1234567")
