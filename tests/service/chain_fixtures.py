"""Fixtures for the chain side of the service: a USHK deployed on ape's anvil, the service's
database (tests/service/conftest.py) and its minter and attestor keys.

The token is deployed once per module with the same `deploy_ushk` that `ape run deploy` and
`make run` use; ape's isolation reverts the chain to that point after each test, while each test
gets a fresh database file. Accounts (anvil's dev accounts): 0 admin, 1 minter, 2 attestor,
3 pauser, 4 compliance, 5-9 holders; the attestor also anchors the audit log (ANCHOR_ROLE).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from service.chain.token import Token, load_account
from service.client import BankClient
from service.minting.minter import Minter
from service.reserves.attestor import Attestor

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MAX_PER_MINT = 1_000_000 * 10**6  # 1,000,000.00 USD


@dataclass
class Chain:
    rpc_url: str
    token_address: str
    from_block: int
    admin: object
    minter: object
    attestor: object
    pauser: object
    compliance: object
    holders: list
    contract: object  # the ape contract instance, for acting behind the service's back

    def token(self) -> Token:
        return Token(self.rpc_url, self.token_address)


@pytest.fixture(scope="session")
def deployed(accounts, chain, anvil_mining) -> Chain:
    """USHK on ape's anvil, which mines as the run asked (automine, or --block-time N: see
    tests/conftest.py)."""
    from scripts._ushk import deploy_ushk

    a = accounts
    contract, info = deploy_ushk(
        a[0],
        minter=a[1],
        minter_allowance=10**15 * 10**6,
        max_per_mint=MAX_PER_MINT,
        roles={"attestor": a[2], "pauser": a[3], "compliance": a[4], "anchor": a[2]},
    )
    return Chain(
        rpc_url=chain.provider.uri,
        token_address=contract.address,
        from_block=info["deployment_block"],
        admin=a[0],
        minter=a[1],
        attestor=a[2],
        pauser=a[3],
        compliance=a[4],
        holders=[a[i] for i in range(5, 10)],
        contract=contract,
    )


@pytest.fixture
def workers(env, deployed: Chain):
    """(minter, attestor) bound to the test's database and the deployed token."""
    token = deployed.token()
    attestor = Attestor(env.db, token, load_account(deployed.attestor.private_key))
    minter = Minter(
        env.db,
        token,
        load_account(deployed.minter.private_key),
        attestor=attestor,
        batch_size=50,
        poll_seconds=0.05,
        from_block=deployed.from_block,
    )
    yield minter, attestor
    minter.lease.release()


@pytest.fixture
def bank(live):
    """(env, BankClient) of a bank registered with the test's service, served over HTTP."""
    env, url = live
    handle = env.add_bank("minter-test-bank")
    with BankClient(url, api_key=handle.api_key, key_id=handle.key_id, private_key=handle.seed) as client:
        yield env, client
