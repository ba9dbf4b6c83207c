"""`ushk dev`: helpers for a local stack (`make run`) only.

`ushk dev fund ADDRESS AMOUNT` gives ADDRESS that many US dollars of USHK the way every token
comes to be: the demo bank (var/demo-bank.json, written by `make run`: its API key, signing key,
the service's and the chain's URLs) confirms a deposit to the service, which accepts, attests
and mints it; so the reconciler finds the supply backed. A mint made directly with the minter's
key (`ape run mint mint`) would instead be an unbacked mint, and halt minting.

It refuses any chain but a local one: the RPC URL must be a loopback address and the chain id
anvil's (31337) or the usual local one (1337).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import click
import httpx

from service.evm import parse_address
from service.money import InvalidAmount, parse_amount

LOCAL_CHAIN_IDS = (31337, 1337)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
DEMO_BANK = Path("var/demo-bank.json")
# who the funding deposits are for: one institution, always the same (so the splitting rule,
# which counts distinct residents funding one address, never fires), with no quota
RESIDENT = {"id_type": "br", "id_number": "BRDEVFUND0001", "category": "institution"}


@click.group()
def dev() -> None:
    """Development helpers for a local stack (`make run`); refused on any other chain."""


def ensure_local_chain(rpc_url: str) -> int:
    """The chain id at `rpc_url`, or a click error unless it is a local chain."""
    host = urlparse(rpc_url).hostname
    if host not in LOOPBACK:
        raise click.ClickException(
            f"refusing: `ushk dev fund` works on a local chain only, and the RPC host {host!r} is not "
            "a loopback address"
        )
    try:
        answer = httpx.post(
            rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=5
        )
        chain_id = int(answer.json()["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        raise click.ClickException(
            f"the chain at {rpc_url} does not answer: is `make run` running?"
        ) from None
    if chain_id not in LOCAL_CHAIN_IDS:
        raise click.ClickException(
            f"refusing: `ushk dev fund` works on a local chain only (chain id 31337 or 1337); "
            f"{rpc_url} is chain {chain_id}"
        )
    return chain_id


def _demo_bank(path: Path) -> dict:
    if not path.is_file():
        raise click.ClickException(f"{path} is missing: start the stack with `make run` first")
    try:
        demo = json.loads(path.read_text())
        missing = [
            k for k in ("service_url", "rpc_url", "api_key", "key_id", "private_key_seed") if not demo.get(k)
        ]
    except (ValueError, AttributeError):
        raise click.ClickException(f"{path} is not the demo bank's JSON") from None
    if missing:
        raise click.ClickException(f"{path} lacks {', '.join(missing)}")
    return demo


@dev.command("fund")
@click.argument("address")
@click.argument("amount")
@click.option(
    "--demo-bank",
    "demo_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEMO_BANK,
    show_default=True,
    help="The demo bank's credentials and the stack's URLs (written by `make run`).",
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the deposit is minted.")
@click.option(
    "--timeout", default=60.0, show_default=True, type=click.FloatRange(0.1, 3600), help="Seconds to wait."
)
def fund(address: str, amount: str, demo_file: Path, wait: bool, timeout: float) -> None:
    """Fund ADDRESS with AMOUNT US dollars of USHK through the real deposit flow, as the demo
    bank (local chain only).

    \b
    Example: ushk dev fund 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 1250.00
    """
    from service.client import BankClient, build_confirmation

    try:
        beneficiary = parse_address(address)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
    try:
        parse_amount(amount)
    except InvalidAmount as exc:
        raise click.BadParameter(exc.message, param_hint="AMOUNT") from None
    demo = _demo_bank(demo_file)
    ensure_local_chain(demo["rpc_url"])
    reference = f"dev-fund-{uuid.uuid4().hex[:12]}"
    confirmation = build_confirmation(
        reference=reference,
        amount=amount,
        value_date=dt.datetime.now(ZoneInfo("Asia/Hong_Kong")).date().isoformat(),
        beneficiary=beneficiary,
        purpose_code="INVS",
        id_type=RESIDENT["id_type"],
        id_number=RESIDENT["id_number"],
        category=RESIDENT["category"],
    )
    with BankClient(
        demo["service_url"],
        api_key=demo["api_key"],
        key_id=demo["key_id"],
        private_key=demo["private_key_seed"],
    ) as client:
        try:
            response = client.submit(confirmation)
        except httpx.HTTPError:
            raise click.ClickException(
                f"the service at {demo['service_url']} does not answer: is `make run` running?"
            ) from None
        body = response.json()
        if response.status_code >= 400:
            error = body.get("error", {})
            raise click.ClickException(
                f"the service refused the deposit: {error.get('code')}: {error.get('message')}"
            )
        click.echo(f"deposit {reference}: {body['status']} (US${body['amount']} to {beneficiary})")
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while body["status"] not in ("minted", "rejected"):
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"deposit {reference} is still {body['status']} after {timeout:g}s: are the workers running?"
                )
            time.sleep(0.25)
            body = client.get_deposit(reference)
    if body["status"] == "rejected":
        raise click.ClickException(
            f"deposit {reference} was rejected: {body['rejection_code']}: {body['reason']}"
        )
    click.echo(f"minted in {body['tx_hash']} (block {body['block_number']})")
