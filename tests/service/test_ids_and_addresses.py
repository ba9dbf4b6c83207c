import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.deposits.ids import PREFIX, deposit_id_for, deposit_id_hex, seq_for_deposit_id
from service.evm import parse_address, to_checksum_address


def test_deposit_id_layout():
    assert PREFIX.to_bytes(8, "big") == b"USHK-DEP"
    assert deposit_id_for(1) == b"USHK-DEP" + bytes(23) + b"\x01"
    assert deposit_id_hex(258).endswith("0102")
    # Consecutive seqs are consecutive integers: they share the token's bitmap words.
    a, b = (int.from_bytes(deposit_id_for(s), "big") for s in (255, 256))
    assert b - a == 1


@given(st.integers(min_value=1, max_value=2**192 - 1))
def test_deposit_id_round_trip(seq):
    assert seq_for_deposit_id(deposit_id_for(seq)) == seq
    assert seq_for_deposit_id(deposit_id_hex(seq)) == seq


@pytest.mark.parametrize("bad", [0, -1, 2**192, True, "1"])
def test_deposit_id_range(bad):
    with pytest.raises(ValueError):
        deposit_id_for(bad)


def test_foreign_ids_are_refused():
    with pytest.raises(ValueError):
        seq_for_deposit_id(bytes(32))
    with pytest.raises(ValueError):
        seq_for_deposit_id(b"\x01" * 31)


def test_addresses():
    good = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
    assert to_checksum_address(good.lower()) == good
    assert parse_address(good) == good
    assert parse_address(good.lower()) == good
    assert parse_address("0x" + good[2:].upper()) == good
    for bad in [
        "0x5b38Da6a701c568545dCfcB03FcB875f56beddC4",  # mixed case, wrong checksum
        good[:-1],
        good + "0",
        "5B38Da6a701c568545dCfcB03FcB875f56beddC4",
        "0x" + "g" * 40,
        "0x" + "0" * 40,
    ]:
        with pytest.raises(ValueError):
            parse_address(bad)


def test_deposit_id_hex_forms():
    assert deposit_id_hex(1) == "0x" + (b"USHK-DEP" + bytes(23) + b"\x01").hex()
    text = deposit_id_hex(77)[2:]
    # without the prefix, and with an upper-case one
    assert seq_for_deposit_id(text) == 77
    assert seq_for_deposit_id("0X" + text.upper()) == 77


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("0x" + "00" * 31, "^deposit id must be 32 bytes$"),
        (b"\x01" * 33, "^deposit id must be 32 bytes$"),
        (b"USHK-DEQ" + bytes(23) + b"\x01", r"^not a USHK deposit id \(wrong prefix\)$"),
        (b"USHK-DEP" + bytes(24), "^deposit seq 0 is not a valid id$"),
    ],
)
def test_bad_deposit_ids_say_why(bad, message):
    with pytest.raises(ValueError, match=message):
        seq_for_deposit_id(bad)


def test_deposit_id_edges():
    assert seq_for_deposit_id(deposit_id_for(2**192 - 1)) == 2**192 - 1
    assert deposit_id_for(2**192 - 1) == b"USHK-DEP" + b"\xff" * 24


def test_deposit_id_range_message():
    with pytest.raises(ValueError, match=r"^deposit seq out of range: 0$"):
        deposit_id_for(0)
