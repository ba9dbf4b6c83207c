"""The scripts' parsing (scripts/_ushk/): what operators type becomes exact integers, or a clear error."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from scripts._ushk.amounts import format_usd, parse_usd
from scripts._ushk.ids import deposit_id, deposit_seq, parse_deposit_id
from scripts._ushk.roles import ROLE_IDS, role_name
from scripts._ushk.values import parse_address, parse_bytes32


@pytest.mark.parametrize(
    "text, units",
    [
        ("1250.00", 1_250_000_000),
        ("1,250.00", 1_250_000_000),
        ("1250", 1_250_000_000),
        ("0.5", 500_000),
        ("0.01", 10_000),
        ("$99.99", 99_990_000),
        ("300000000000000.00", 300_000_000_000_000 * 10**6),
    ],
)
def test_parse_usd(text, units):
    assert parse_usd(text) == units
    assert isinstance(parse_usd(text), int)


@pytest.mark.parametrize(
    "text, message",
    [
        ("1250.001", "more than 2 decimals"),
        ("0.00", "must be positive"),
        ("0", "must be positive"),
        ("-5.00", "not a US dollar amount"),
        ("1e3", "not a US dollar amount"),
        ("12,50.00", "not a US dollar amount"),
        (".50", "not a US dollar amount"),
        ("", "not a US dollar amount"),
        (str(2**128), "too large"),
    ],
)
def test_parse_usd_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_usd(text)


def test_zero_only_where_allowed_and_formatting():
    assert parse_usd("0.00", allow_zero=True) == 0
    assert format_usd(1_250_000_000) == "1250.00"
    assert format_usd(10_000) == "0.01"
    assert format_usd(1) == "0.000001"


def test_deposit_ids():
    prefix = int.from_bytes(b"USHK-DEP", "big") << 192
    assert deposit_id(42) == (prefix | 42).to_bytes(32, "big")
    assert parse_deposit_id("42") == deposit_id(42)
    assert parse_deposit_id("0x" + deposit_id(7).hex()) == deposit_id(7)
    assert deposit_seq(deposit_id(7)) == 7
    assert deposit_seq(b"\x01" * 32) is None
    for bad in ("-1", "0x1234", "USHK-DEP-1", str(2**192)):
        with pytest.raises(ValueError):
            parse_deposit_id(bad)


def test_addresses_and_bytes32():
    alice = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    assert parse_address(alice.lower()) == alice
    assert parse_address("TEST::1") == alice
    with pytest.raises(ValueError, match="wrong checksum"):
        parse_address("0x70997970c51812dc3A010C7d01b50e0d17dc79C8")
    with pytest.raises(ValueError, match="not an address"):
        parse_address("0x1234")
    with pytest.raises(ValueError, match="zero address"):
        parse_address("0x" + "00" * 20)
    assert parse_bytes32("0x" + "ab" * 32) == b"\xab" * 32
    assert parse_bytes32("ACME-PAYOUT-1", hash_text=True) == keccak(text="ACME-PAYOUT-1")
    with pytest.raises(ValueError, match="64 hex digits"):
        parse_bytes32("ACME-PAYOUT-1")


def test_role_names(project, accounts):
    for text, name in [
        ("admin", "DEFAULT_ADMIN_ROLE"),
        ("pauser", "PAUSER_ROLE"),
        ("Compliance", "COMPLIANCE_ROLE"),
        ("ATTESTOR_ROLE", "ATTESTOR_ROLE"),
        ("upgrader", "UPGRADER_ROLE"),
        ("minter", "MINTER_ROLE"),
    ]:
        assert role_name(text) == name
    with pytest.raises(ValueError, match="unknown role 'janitor'; known roles: admin, minter"):
        role_name("janitor")
    # the ids match the contract's public constants
    impl = accounts[0].deploy(project.USHK)
    for name in ("MINTER_ROLE", "PAUSER_ROLE", "COMPLIANCE_ROLE", "ATTESTOR_ROLE", "UPGRADER_ROLE"):
        assert bytes(getattr(impl, name)()) == ROLE_IDS[name]
    assert bytes(impl.DEFAULT_ADMIN_ROLE()) == ROLE_IDS["DEFAULT_ADMIN_ROLE"]
