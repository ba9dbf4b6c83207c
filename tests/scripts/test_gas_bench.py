"""bench/gas.py's measuring function works: two rows on the test session's chain (fast).

The full benchmark is `make bench`; it never runs in the test suite.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from eth_utils import keccak

ROOT = Path(__file__).resolve().parents[2]


def _load_bench():
    spec = importlib.util.spec_from_file_location("ushk_gas_bench", ROOT / "bench" / "gas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


TRANSFER = _selector("transfer(address,uint256)")
MINT = _selector("mint(address,uint256,bytes32)")


def _sent_since(web3, block: int) -> list[tuple[str, int]]:
    """(calldata, gasUsed from its receipt) of every transaction mined after `block`."""
    out = []
    for number in range(block + 1, web3.eth.block_number + 1):
        for tx in web3.eth.get_block(number, full_transactions=True)["transactions"]:
            receipt = web3.eth.get_transaction_receipt(tx["hash"])
            out.append((web3.to_hex(tx["input"]), receipt["gasUsed"]))
    return out


def test_measure_two_rows(networks, chain):
    bench = _load_bench()
    web3 = chain.provider.web3
    start = web3.eth.block_number
    rows = bench.measure(["transfer", "mint_existing_holder"])
    assert list(rows) == ["mint_existing_holder", "transfer"]  # in the benchmark's row order
    # the figures are the gas the run's own transactions used, read back from their receipts:
    # the one transfer, and the third of the three mints through the proxy (two fund the holders)
    sent = _sent_since(web3, start)
    transfers = [gas for data, gas in sent if data.startswith(TRANSFER)]
    assert transfers == [rows["transfer"]]
    mints = [gas for data, gas in sent if data.startswith(MINT)]
    assert len(mints) == 3 and mints[2] == rows["mint_existing_holder"], mints
    # and the table prints those figures, each against USDC's and its target
    text = bench.table(rows)
    for row, gas in rows.items():
        (line,) = [line for line in text.splitlines() if line.startswith(f"{row} ")]
        fields = line.split()
        assert fields[1] == f"{gas:,}" and fields[3] == f"{bench.USDC[row]:,}", line
        assert f"{gas - bench.USDC[row]:+,}" in line
        assert fields[-1] == ("ok" if gas <= bench.TARGETS[row] else "OVER TARGET"), line
