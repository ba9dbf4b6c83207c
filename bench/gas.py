"""Gas benchmark of the USHK token through its proxy: `make bench` (python bench/gas.py).

Starts a fresh anvil through ape's foundry provider, deploys with scripts/_ushk's deploy_ushk
(the same deployment as `ape run deploy token`), and measures the whole-transaction gasUsed
(21,000 intrinsic + calldata + execution, as a wallet pays it) of one transaction per row. Writes
bench/gas.json and prints each row against its target and USDC's figure (FiatToken v2.2 behind its
proxy). Exits 1 when a row misses its target.

Every amount is realistic (100.00 USD = 100,000,000 units) and every deposit id is the reserve
service's sequential id (USHK-DEP << 192 | seq). What each row measures is in NOTES.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUTPUT = ROOT / "bench" / "gas.json"
# The minter's token bucket during the measurements (units): 1,000,000,000.00 USD, refilling
# 10,000.00 USD a second; large enough for every row, so each mint pays for the bucket's update.
RATE_LIMIT_CAPACITY = 10**9 * 10**6
RATE_LIMIT_REFILL = 10_000 * 10**6
HUNDRED_USD = 100_000_000  # 100.00 USD in 6-decimal units

ROWS = (
    "mint_existing_holder",
    "mint_new_holder",
    "mint_batch_100_per_deposit",
    "transfer",
    "transfer_new_holder",
    "approve",
    "transfer_from",
    "permit",
    "transfer_with_authorization",
    "redeem",
)

TARGETS = {
    "transfer": 42_000,
    "mint_existing_holder": 78_000,
    "mint_batch_100_per_deposit": 32_000,
    "redeem": 48_000,
    "permit": 88_000,
    "transfer_with_authorization": 98_000,
}

# USDC (FiatToken v2.2 behind its proxy): whole-transaction gas of the same operations.
USDC = {
    "mint_existing_holder": 55_503,
    "mint_new_holder": 72_603,
    "transfer": 45_047,
    "transfer_new_holder": 62_147,
    "approve": 55_425,
    "permit": 93_415,
    "transfer_with_authorization": 102_840,
    "redeem": 47_162,  # USDC has no redemption on chain: its burn
}

NOTES = {
    "mint_existing_holder": "mint 100.00 to a holder with a balance; next sequential deposit id "
    "(its bitmap word already in use, as for 255 of every 256 ids)",
    "mint_new_holder": "mint 100.00 to an address that never held USHK; next sequential deposit id",
    "mint_batch_100_per_deposit": "mintBatch of 100 sequential deposit ids (one bitmap word, already "
    "in use) to 100 distinct recipients that hold a balance; gasUsed / 100",
    "transfer": "transfer 100.00; sender keeps a balance, recipient already holds one",
    "transfer_new_holder": "transfer 100.00 to an address that never held USHK",
    "approve": "approve 1,000.00 to a spender with no allowance before",
    "transfer_from": "transferFrom 100.00 by a spender with a finite allowance (1,000.00 -> 900.00); "
    "both balances nonzero",
    "permit": "EIP-2612 permit signed with eth-account (typed data), sent by a relayer: the owner's "
    "second permit (nonce 1) to a spender with no allowance before",
    "transfer_with_authorization": "EIP-3009 transferWithAuthorization of 100.00 signed with "
    "eth-account, sent by a relayer; fresh random nonce; both balances nonzero",
    "redeem": "redeem 100.00 of a 10,000.00 balance with a nonzero payout reference",
}


def _solc_version() -> str:
    text = (ROOT / "tools" / "solc").read_text()
    match = re.search(r'SOLC_VERSION="([0-9.]+)', text)
    return match.group(1) if match else "unknown"


def _fresh_address(label: str) -> str:
    from eth_utils import keccak, to_checksum_address

    return to_checksum_address(keccak(text=f"ushk-bench:{label}")[-20:])


def _sign_typed(account, primary: str, fields: list[tuple[str, str]], message: dict, token, chain_id: int):
    from eth_account import Account

    signed = Account.sign_typed_data(
        account.private_key,
        domain_data={
            "name": "USHK",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": token.address,
        },
        message_types={primary: [{"name": n, "type": t} for n, t in fields]},
        message_data=message,
    )
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


def measure(rows=None, *, log=None) -> dict[str, int]:
    """gasUsed per row (all of ROWS by default) on the connected ape provider.

    Deploys a fresh token with deploy_ushk; uses ape's test accounts 0-5 (0 admin and every role,
    1 minter, 2 alice, 3 bob, 4 spender, 5 relayer) and derived addresses for new holders.
    """
    from ape import accounts, chain

    from scripts._ushk import deploy_ushk
    from scripts._ushk.amounts import UNIT
    from service.deposits.ids import deposit_id_for as deposit_id

    wanted = list(ROWS if rows is None else rows)
    unknown = set(wanted) - set(ROWS)
    if unknown:
        raise ValueError(f"unknown rows: {sorted(unknown)}")
    say = log or (lambda _msg: None)
    admin, minter, alice, bob, spender, relayer = accounts.test_accounts[:6]
    token, _info = deploy_ushk(
        admin,
        minter=minter,
        minter_allowance=10**12 * UNIT,
        max_per_mint=10**9 * UNIT,
        attest_amount=10**12 * UNIT,
    )
    # the minter's on-chain rate limit is on: every mint below spends from its bucket
    token.setMinterRateLimit(minter, RATE_LIMIT_CAPACITY, RATE_LIMIT_REFILL, sender=admin)
    chain_id = chain.chain_id
    seq = iter(range(1, 10**6))
    out: dict[str, int] = {}

    def record(row: str, receipt, per: int = 1):
        if receipt.failed:
            raise RuntimeError(f"{row}: the transaction failed")
        out[row] = round(receipt.gas_used / per)
        say(f"{row}: {out[row]}")

    # alice and bob hold 10,000.00 each; these first mints also put word 0 of the bitmap in use
    token.mint(alice, 100 * HUNDRED_USD, deposit_id(next(seq)), sender=minter)
    token.mint(bob, 100 * HUNDRED_USD, deposit_id(next(seq)), sender=minter)

    if "mint_existing_holder" in wanted:
        record("mint_existing_holder", token.mint(alice, HUNDRED_USD, deposit_id(next(seq)), sender=minter))
    if "mint_new_holder" in wanted:
        receipt = token.mint(_fresh_address("new-holder"), HUNDRED_USD, deposit_id(next(seq)), sender=minter)
        record("mint_new_holder", receipt)
    if "mint_batch_100_per_deposit" in wanted:
        holders = [_fresh_address(f"batch-{i}") for i in range(100)]
        amounts = [HUNDRED_USD] * 100
        # first batch: the recipients come to hold a balance (not measured)
        token.mintBatch(holders, amounts, [deposit_id(next(seq)) for _ in holders], sender=minter)
        ids = [deposit_id(next(seq)) for _ in holders]
        assert len({int.from_bytes(i, "big") >> 8 for i in ids}) == 1, "ids must share a bitmap word"
        record("mint_batch_100_per_deposit", token.mintBatch(holders, amounts, ids, sender=minter), per=100)
    if "transfer" in wanted:
        record("transfer", token.transfer(bob, HUNDRED_USD, sender=alice))
    if "transfer_new_holder" in wanted:
        record(
            "transfer_new_holder", token.transfer(_fresh_address("new-recipient"), HUNDRED_USD, sender=alice)
        )
    if "approve" in wanted or "transfer_from" in wanted:
        receipt = token.approve(spender, 10 * HUNDRED_USD, sender=alice)
        if "approve" in wanted:
            record("approve", receipt)
    if "transfer_from" in wanted:
        record("transfer_from", token.transferFrom(alice, bob, HUNDRED_USD, sender=spender))
    if "permit" in wanted:
        permit_fields = [
            ("owner", "address"),
            ("spender", "address"),
            ("value", "uint256"),
            ("nonce", "uint256"),
            ("deadline", "uint256"),
        ]
        deadline = chain.blocks.head.timestamp + 3600
        for n, to in enumerate((_fresh_address("permit-spender-0"), _fresh_address("permit-spender-1"))):
            nonce = int(token.nonces(alice))
            assert nonce == n
            message = {
                "owner": alice.address,
                "spender": to,
                "value": 10 * HUNDRED_USD,
                "nonce": nonce,
                "deadline": deadline,
            }
            v, r, s = _sign_typed(alice, "Permit", permit_fields, message, token, chain_id)
            receipt = token.permit(alice, to, 10 * HUNDRED_USD, deadline, v, r, s, sender=relayer)
        assert int(token.allowance(alice, to)) == 10 * HUNDRED_USD
        record("permit", receipt)  # the second one: nonce 1
    if "transfer_with_authorization" in wanted:
        fields = [
            ("from", "address"),
            ("to", "address"),
            ("value", "uint256"),
            ("validAfter", "uint256"),
            ("validBefore", "uint256"),
            ("nonce", "bytes32"),
        ]
        nonce = os.urandom(32)
        valid_before = chain.blocks.head.timestamp + 3600
        message = {
            "from": alice.address,
            "to": bob.address,
            "value": HUNDRED_USD,
            "validAfter": 0,
            "validBefore": valid_before,
            "nonce": nonce,
        }
        v, r, s = _sign_typed(alice, "TransferWithAuthorization", fields, message, token, chain_id)
        receipt = token.transferWithAuthorization(
            alice, bob, HUNDRED_USD, 0, valid_before, nonce, v, r, s, sender=relayer
        )
        record("transfer_with_authorization", receipt)
    if "redeem" in wanted:
        record("redeem", token.redeem(HUNDRED_USD, b"\x11" * 32, sender=alice))
    return {row: out[row] for row in ROWS if row in out}


def _fmt(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "-"


def table(rows: dict[str, int]) -> str:
    lines = [
        f"{'row':<30} {'USHK':>9} {'target':>9} {'USDC':>9} {'vs USDC':>16}  ",
        "-" * 80,
    ]
    for row, gas in rows.items():
        target = TARGETS.get(row)
        usdc = USDC.get(row)
        diff = f"{gas - usdc:+,} ({(gas - usdc) / usdc:+.1%})" if usdc else "-"
        verdict = "" if target is None else ("ok" if gas <= target else "OVER TARGET")
        lines.append(f"{row:<30} {_fmt(gas):>9} {_fmt(target):>9} {_fmt(usdc):>9} {diff:>16}  {verdict}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", type=Path, default=OUTPUT, help="where to write the JSON (bench/gas.json)"
    )
    parser.add_argument("--rows", nargs="*", choices=ROWS, help="measure only these rows")
    args = parser.parse_args(argv)

    os.chdir(ROOT)  # ape's project is the working directory's
    tools = ROOT / ".tools"
    os.environ["PATH"] = os.pathsep.join([str(tools / "bin"), os.environ.get("PATH", "")])
    os.environ.setdefault("SOLCX_BINARY_PATH", str(tools / "solcx"))
    from ape import networks

    with networks.parse_network_choice("ethereum:local:foundry") as provider:
        rows = measure(args.rows)
        client = provider.web3.client_version
        try:
            hardfork = provider.make_request("anvil_nodeInfo", []).get("hardFork")
        except Exception:  # noqa: BLE001 - older anvils
            hardfork = None
    anvil = client.split("/", 1)[1].split("/")[0].lstrip("v") if "/" in client else client

    result = {
        "rows": rows,
        "targets": TARGETS,
        "usdc_fiattoken_v2_2_proxy": USDC,
        "notes": {row: NOTES[row] for row in rows},
        "measured": "whole-transaction gasUsed through the proxy (ERC-1967, UUPS)",
        "solc": _solc_version(),
        "anvil": anvil,
        "hardfork": hardfork,
        "measured_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(table(rows))
    print(f"\nsolc {result['solc']}, anvil {anvil}, hardfork {hardfork}; wrote {args.output}")
    over = [row for row, gas in rows.items() if row in TARGETS and gas > TARGETS[row]]
    if over:
        print(f"over target: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
