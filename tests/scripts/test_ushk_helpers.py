"""The scripts' parsing (scripts/_ushk/): what operators type becomes exact integers, or a clear error."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from scripts._ushk.amounts import UNIT, format_usd, parse_usd
from scripts._ushk.ids import deposit_seq, parse_deposit_id
from scripts._ushk.roles import ROLE_IDS, role_name
from scripts._ushk.values import parse_address, parse_bytes32
from service.deposits.ids import PREFIX, deposit_id_for
from service.money import InvalidAmount, cents_to_units, parse_amount

SERVICE_FORMAT = 'amount must be a positive decimal string with at most 2 decimal places, such as "1250.00"'


@pytest.mark.parametrize(
    "text, units",
    [
        ("1250.00", 1_250_000_000),
        ("1250", 1_250_000_000),
        ("1250.5", 1_250_500_000),
        ("0.5", 500_000),
        ("0.01", 10_000),
        ("9999999999999.99", 999_999_999_999_999 * 10_000),
    ],
)
def test_parse_usd(text, units):
    assert parse_usd(text) == units
    assert isinstance(parse_usd(text), int)
    assert parse_usd(text) == cents_to_units(parse_amount(text))  # the service's cents, in units
    assert UNIT == 10**6


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,250.00", SERVICE_FORMAT),
        ("$99.99", SERVICE_FORMAT),
        ("1250.001", SERVICE_FORMAT),
        ("0.00", "amount must be greater than zero"),
        ("0", "amount must be greater than zero"),
        ("-5.00", SERVICE_FORMAT),
        ("1e3", SERVICE_FORMAT),
        ("12,50.00", SERVICE_FORMAT),
        (".50", SERVICE_FORMAT),
        ("01.00", SERVICE_FORMAT),
        (" 1.00", SERVICE_FORMAT),
        ("", SERVICE_FORMAT),
        ("10000000000000.00", "amount has more than 13 integer digits"),
    ],
)
def test_parse_usd_refuses_what_the_service_refuses_in_its_words(text, message):
    with pytest.raises(InvalidAmount) as service:
        parse_amount(text)
    with pytest.raises(ValueError) as scripts:
        parse_usd(text)
    assert service.value.message == message
    assert str(scripts.value) == f"'{text}': {message}"


def test_zero_only_where_allowed_and_formatting():
    assert parse_usd("0.00", allow_zero=True) == 0
    assert parse_usd("0", allow_zero=True) == 0
    with pytest.raises(ValueError, match="at most 2 decimal places"):
        parse_usd("-0.00", allow_zero=True)
    assert format_usd(1_250_000_000) == "1250.00"
    assert format_usd(10_000) == "0.01"
    assert format_usd(0) == "0.00"
    assert format_usd(-10_000) == "-0.01"
    assert format_usd(1) == "0.000001"
    assert format_usd(1_250_000_001) == "1250.000001"


def test_deposit_ids():
    prefix = int.from_bytes(b"USHK-DEP", "big") << 192
    assert prefix == PREFIX << 192
    assert parse_deposit_id("42") == deposit_id_for(42) == (prefix | 42).to_bytes(32, "big")
    assert parse_deposit_id("0x" + deposit_id_for(7).hex()) == deposit_id_for(7)
    assert parse_deposit_id("0x" + "01" * 32) == b"\x01" * 32  # an id of another scheme, as given
    assert deposit_seq(deposit_id_for(7)) == 7
    assert deposit_seq(b"\x01" * 32) is None
    for bad in ("-1", "0x1234", "USHK-DEP-1", "1.5", ""):
        with pytest.raises(ValueError, match="is not a deposit id"):
            parse_deposit_id(bad)


@pytest.mark.parametrize("seq", [0, 2**192])
def test_deposit_seq_out_of_the_service_range_is_refused_in_its_words(seq):
    with pytest.raises(ValueError) as service:
        deposit_id_for(seq)
    with pytest.raises(ValueError) as scripts:
        parse_deposit_id(str(seq))
    assert str(scripts.value) == (
        f"'{seq}' is not a deposit id: {service.value} "
        "(the reserve service's sequence numbers run from 1 to 2^192-1)"
    )


def test_ushk_dep_zero_in_hex_is_refused_too():
    zero = "0x" + (PREFIX << 192).to_bytes(32, "big").hex()
    with pytest.raises(ValueError, match="is not a deposit id: deposit seq 0 is not a valid id"):
        parse_deposit_id(zero)
    assert deposit_seq(bytes.fromhex(zero[2:])) is None


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
