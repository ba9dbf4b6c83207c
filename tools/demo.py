"""`make demo`: the demo bank sends signed deposit confirmations to a running `make run`.

It sends three ordinary deposits, a replay of one of them, a mainland resident's purchases up to
and past the US$50,000 annual quota, a signed batch of three (one request), and prints each
answer, then waits for the mints and prints the beneficiaries' balances read from the chain.
Then the first holder redeems US$100.00 to a payout account the demo bank registered: the service's watcher turns the redemption into a
payout, and the bank settles it with a signed confirmation. Then it prints the public page's URL
and runs `ushk verify`.

Last, what the controls are for. First a stolen service host: with the minter's key alone
(the service holds no attestor key) it tries to mint more than the attestation covers, and the
contract refuses. Then an unbacked mint made with the minter's key AND the attestor's (which
lives in the attestor's own process: two hosts compromised), outside the service: it attests a
little more than the supply, then mints that much against a deposit id nobody confirmed. The
supervisors' monitor reports it from public data alone, and the service's reconciler halts
minting; the demo prints both.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.chain.token import Token, load_account  # noqa: E402
from service.client import BankClient, build_confirmation  # noqa: E402
from service.money import format_cents, units_to_cents  # noqa: E402
from tools.run_stack import DEV_ACCOUNTS, MONITOR_URL  # noqa: E402

# anvil dev accounts 5-7 as beneficiaries
HOLDERS = [
    "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
    "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
    "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
]
# anvil's public dev key of account 5 (HOLDERS[0]), for its redemption
HOLDER_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"


def main() -> None:
    demo_file = ROOT / "var" / "demo-bank.json"
    if not demo_file.exists():
        sys.exit("var/demo-bank.json is missing: start the stack with `make run` first")
    demo = json.loads(demo_file.read_text())
    run = uuid.uuid4().hex[:6]
    client = BankClient(
        demo["service_url"],
        api_key=demo["api_key"],
        key_id=demo["key_id"],
        private_key=demo["private_key_seed"],
    )
    try:
        client.http.get("/healthz").raise_for_status()
    except Exception as exc:  # noqa: BLE001 - any failure: the stack is not up
        sys.exit(f"the service at {demo['service_url']} does not answer ({exc}): is `make run` running?")

    def send(label: str, **fields) -> dict:
        confirmation = build_confirmation(value_date=time.strftime("%Y-%m-%d"), purpose_code="INVS", **fields)
        response = client.submit(confirmation)
        body = response.json()
        shown = body.get("status") or body.get("error", {}).get("code")
        detail = body.get("error", {}).get("message", "")
        print(f"  {label:<44} HTTP {response.status_code}  {shown}  {detail}")
        return confirmation

    hk = {"id_type": "hkid", "category": "hk"}
    mainland = {"id_type": "prc_id", "id_number": f"11010519491231{run[:4]}", "category": "mainland"}
    print("Deposits sent by the demo bank:")
    first = send(
        "HK resident, US$1,250.00",
        reference=f"demo-{run}-1",
        amount="1250.00",
        beneficiary=HOLDERS[0],
        id_number=f"A{run}1",
        **hk,
    )
    send(
        "HK resident, US$300.50",
        reference=f"demo-{run}-2",
        amount="300.50",
        beneficiary=HOLDERS[1],
        id_number=f"A{run}2",
        **hk,
    )
    send(
        "institution, US$25,000.00",
        reference=f"demo-{run}-3",
        amount="25000.00",
        beneficiary=HOLDERS[2],
        id_type="br",
        id_number=f"BR{run}",
        category="institution",
    )
    response = client.submit(first)
    print(
        f"  {'replay of the first (same answer)':<44} HTTP {response.status_code}  {response.json().get('status')}"
    )
    send(
        "mainland resident, US$45,000.00",
        reference=f"demo-{run}-4",
        amount="45000.00",
        beneficiary=HOLDERS[0],
        **mainland,
    )
    send(
        "same mainland resident, US$10,000.00",
        reference=f"demo-{run}-5",
        amount="10000.00",
        beneficiary=HOLDERS[0],
        **mainland,
    )
    quota = client.quota(id_type="prc_id", id_number=mainland["id_number"], category="mainland")
    print(f"  mainland resident's quota: {json.dumps(quota)}")

    batch = [
        build_confirmation(
            reference=f"demo-{run}-b{i}",
            amount=f"{100 + i}.00",
            value_date=time.strftime("%Y-%m-%d"),
            beneficiary=HOLDERS[0],
            id_number=f"A{run}1",  # the first deposit's resident: no new funder of HOLDERS[0]
            purpose_code="INVS",
            **hk,
        )
        for i in range(3)
    ]
    results = client.deposit_batch(batch)  # one request, one signature over the three
    shown = ", ".join(
        f"{r['status']} {r.get('deposit', r.get('error', {})).get('status', '')}" for r in results
    )
    print(f"  {'a signed batch of 3 (POST /v1/deposits/batch)':<44} {shown}")

    print("Waiting for the mints...")
    accepted = [f"demo-{run}-{i}" for i in (1, 2, 3, 4)] + [c["reference"] for c in batch]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = {ref: client.get_deposit(ref) for ref in accepted}
        if all(s["status"] in ("minted", "rejected") for s in states.values()):
            break
        time.sleep(0.5)
    for ref, state in states.items():
        print(f"  {ref}: {state['status']} tx {state.get('tx_hash')} block {state.get('block_number')}")
    token = Token(demo["rpc_url"], demo["token"])
    print("Balances on chain:")
    for holder in HOLDERS:
        print(f"  {holder}  {format_cents(units_to_cents(token.balance_of(holder)))} USHK")
    attestation = token.reserve_attestation()
    supply = format_cents(units_to_cents(token.total_supply()))
    print(f"Supply {supply} USHK, attested reserves {format_cents(units_to_cents(attestation.amount))} USD")
    redeem(client, token, run)
    print(f"The public page (supply, reserves, recent mints; no login): {demo['service_url'].rstrip('/')}/")
    verify(demo)
    unbacked_mint(token, client, demo.get("monitor_url") or MONITOR_URL)  # make run writes it
    client.close()


ROGUE_UNITS = 5_000 * 10**6


def stolen_host_mint(token: Token) -> None:
    """The minter's key alone (all a stolen service host has): no mint above the attestation."""
    from service.chain.token import ChainRevert

    minter = load_account(DEV_ACCOUNTS[1][1])
    room = max(0, token.reserve_attestation().amount - token.total_supply())
    print("A stolen service host mints with the minter's key alone, above the attested reserve:")
    try:
        token.transact(minter, "mint", HOLDERS[2], room + ROGUE_UNITS, os.urandom(32))
    except ChainRevert as err:
        print(
            f"  refused by the contract: {err.name} (the attestor's own process attests what the bank signed)"
        )
    else:
        print("  it went through: the attestation covered it (see var/attestor.log)")


def unbacked_mint(token: Token, client: BankClient, monitor_url: str) -> None:
    """The minter's and the attestor's keys used outside the service: the monitor's findings
    and the service's halt."""
    if token.paused_flags(token.block_number())[1]:
        print(
            "  minting is paused on chain already (an earlier `make demo`?): restart `make run` for a fresh chain"
        )
        return
    stolen_host_mint(token)
    print("An unbacked mint, with the minter's key and the attestor's (two hosts compromised):")
    attestor, minter = load_account(DEV_ACCOUNTS[2][1]), load_account(DEV_ACCOUNTS[1][1])
    seen = _monitor(monitor_url, "/v1/monitor/status", {}).get("findings", 0)
    supply = token.total_supply()
    report = hashlib.sha256(b"not a reserve report").digest()
    token.transact(attestor, "attestReserves", supply + ROGUE_UNITS, report, bytes(32))
    receipt = token.transact(minter, "mint", HOLDERS[2], ROGUE_UNITS, os.urandom(32))
    print(f"  minted 5000.00 USHK to {HOLDERS[2]}: tx {receipt.tx_hash} block {receipt.block_number}")
    deadline = time.monotonic() + 90
    shown: set[int] = set()
    rules: set[str] = set()
    halted = False
    while time.monotonic() < deadline and not (
        halted and {"mint-without-deposit", "supply-unexplained"} <= rules
    ):
        for f in _monitor(monitor_url, "/v1/monitor/findings", {"after": seen - 1, "limit": 1000}).get(
            "items", []
        ):
            if f["seq"] not in shown:
                shown.add(f["seq"])
                rules.add(f["rule"])
                print(f"  monitor finding {f['seq']} [{f['severity']}] {f['rule']}: {f['summary']}")
        if not halted and client.http.get("/v1/reserves").json().get("minting_halted"):
            halted = True
            print("  the service: minting halted by its reconciler (and paused on chain with its pauser key)")
        time.sleep(1.0)
    if not shown:
        print(f"  the monitor at {monitor_url} reported nothing within 90 s (see var/monitor.log)")
    if not halted:
        print("  the service: no halt within 90 s (see var/workers.log)")
    print(f"The monitor's record: {monitor_url}/v1/monitor/findings (and its section of the public page)")


def _monitor(monitor_url: str, path: str, params: dict) -> dict:
    try:
        return httpx.get(f"{monitor_url}{path}", params=params, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return {}


def verify(demo: dict) -> None:
    """`ushk verify` from the outside, as anyone could run it: the log's signed head, its anchor
    on chain and the latest snapshot (docs/transparency.md); its state in var/verify-state.json."""
    import subprocess

    command = [
        sys.executable,
        "-m",
        "service",
        "verify",
        "--service",
        demo["service_url"],
        "--rpc-url",
        demo["rpc_url"],
        "--state",
        str(ROOT / "var" / "verify-state.json"),
    ]
    print("$ ushk verify --service ... --rpc-url ...")
    subprocess.run(command, cwd=ROOT, check=False)


def redeem(client: BankClient, token: Token, run: str) -> None:
    """HOLDERS[0] redeems US$100.00; the watcher makes the payout; the demo bank settles it."""
    account = client.register_payout_account(holder=HOLDERS[0], account_reference=f"DEMO-ACC-{run}")
    ref = account["payout_ref"]
    print(f"Payout account registered for {HOLDERS[0]}: payout_ref {ref}")
    seen = {p["id"] for p in client.payouts()}
    receipt = token.transact(load_account(HOLDER_KEY), "redeem", 100 * 10**6, bytes.fromhex(ref[2:]))
    print(f"  redeemed 100.00 USHK on chain: tx {receipt.tx_hash} block {receipt.block_number}")
    deadline = time.monotonic() + 30
    new: list[dict] = []
    while not new and time.monotonic() < deadline:
        new = [p for p in client.payouts("pending") if p["id"] not in seen]
        time.sleep(0.5)
    if not new:
        print("  no payout yet: is the redemption watcher running (USHK_REDEMPTION_WATCHER_ENABLED)?")
        return
    payout = new[0]
    print(
        f"  payout {payout['id']} for redemption {payout['redemption_id']}: {payout['amount']} USD, "
        f"{payout['status']}, due {payout['due_at']}"
    )
    settled = client.settle_payout(
        payout, bank_reference=f"DEMO-PAY-{run}", value_date=time.strftime("%Y-%m-%d")
    )
    print(f"  settled by the bank: {settled['status']} ({settled['bank_reference']})")


if __name__ == "__main__":
    main()
