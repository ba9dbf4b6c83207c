"""The KYC allowlist end to end on anvil with the token's allowlist mode on: a resident's
EIP-191 proof relayed by the bank, checked by the service, `setAllowed` sent by the worker with
the compliance key (several per pass), a mint to the address only once it is allowed, and
removal when the bank revokes the KYC (kept while another bank still vouches for it). On SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import secrets

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import select

from service.allowlist import service as allowlist
from service.allowlist.models import AllowlistEntry
from service.app import create_app
from service.chain.token import load_account
from service.client import BankClient
from service.db import utcnow
from service.minting.minter import Minter
from service.reserves.attestor import Attestor
from svc_support import LiveServer, confirmation, make_env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def chain_env(request, deployed):
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    chain_id = deployed.token().w3.eth.chain_id
    env = make_env(url, chain_id=chain_id)
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with LiveServer(app) as server:
        yield env, server.url
    env.db.dispose()


def proof(bank: str, account, chain_id: int, *, nonce: str | None = None, hours: float = 1.0) -> dict:
    nonce = nonce or secrets.token_hex(16)
    expires = (utcnow() + dt.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    message = allowlist.proof_message(bank, account.address, chain_id, nonce, expires)
    signed = Account.sign_message(encode_defunct(text=message), private_key=account.key)
    return {
        "address": account.address,
        "nonce": nonce,
        "expires_at": expires,
        "signature": "0x" + bytes(signed.signature).hex(),
    }


def statuses(env, address: str) -> list[str]:
    with env.db.reading() as session:
        return list(
            session.scalars(
                select(AllowlistEntry.status)
                .where(AllowlistEntry.address == address)
                .order_by(AllowlistEntry.id)
            )
        )


def test_allowlisting_needs_the_residents_proof_and_follows_the_banks_kyc(chain_env, deployed):
    env, url = chain_env
    token = deployed.token()
    chain_id = env.settings.chain_id
    compliance = load_account(deployed.compliance.private_key)
    deployed.contract.setAllowlistEnabled(True, sender=deployed.compliance)
    assert token.contract.functions.allowlistEnabled().call() is True
    hsbc, boc = env.add_bank("hsbc"), env.add_bank("boc")
    resident, other, stranger = Account.create(), Account.create(), Account.create()
    is_allowed = token.contract.functions.isAllowed

    with BankClient(url, api_key=hsbc.api_key) as bank:
        post = bank.http.post
        # The proof must be the address's own signature of the message for this bank and chain.
        forged = {**proof("hsbc", stranger, chain_id), "address": resident.address}
        assert post("/v1/bank/allowlist", json=forged).json()["error"]["code"] == "allowlist_proof_invalid"
        for wrong in (proof("boc", resident, chain_id), proof("hsbc", resident, chain_id + 1)):
            refused = post("/v1/bank/allowlist", json=wrong)
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "allowlist_proof_invalid"
        for bad in (
            proof("hsbc", resident, chain_id, hours=-1),
            proof("hsbc", resident, chain_id, hours=24 * 8),
        ):
            assert post("/v1/bank/allowlist", json=bad).json()["error"]["code"] == "invalid_allowlist_request"
        assert statuses(env, resident.address) == []

        signed = proof("hsbc", resident, chain_id)
        answer = post("/v1/bank/allowlist", json=signed)
        assert answer.status_code == 201 and answer.json()["status"] == "pending", answer.text
        again = post("/v1/bank/allowlist", json=proof("hsbc", resident, chain_id, nonce=signed["nonce"]))
        assert again.status_code == 409 and again.json()["error"]["code"] == "allowlist_nonce_used"
        assert post("/v1/bank/allowlist", json=proof("hsbc", resident, chain_id)).status_code == 200
        assert post("/v1/bank/allowlist", json=proof("hsbc", other, chain_id)).status_code == 201

    # Not on chain until the worker ran: a mint to the address is refused by the token.
    assert not is_allowed(resident.address).call()
    # One pass, one setAllowed per address.
    assert allowlist.sync(env.db, token, compliance, now=utcnow) == 2
    assert is_allowed(resident.address).call() and is_allowed(other.address).call()
    assert statuses(env, resident.address) == ["allowed"]
    assert allowlist.sync(env.db, token, compliance, now=utcnow) == 0  # nothing left to do

    # Minting to the allowlisted address works in allowlist mode.
    attestor = Attestor(env.db, token, load_account(deployed.attestor.private_key))
    minter = Minter(
        env.db,
        token,
        load_account(deployed.minter.private_key),
        attestor=attestor,
        batch_size=10,
        poll_seconds=0.05,
        from_block=deployed.from_block,
    )
    try:
        with BankClient(url, api_key=hsbc.api_key, key_id=hsbc.key_id, private_key=hsbc.seed) as bank:
            assert (
                bank.submit(confirmation("AL-1", amount="10.00", beneficiary=resident.address)).status_code
                == 201
            )
            minter.drain()
            assert bank.get_deposit("AL-1")["status"] == "minted"
    finally:
        minter.lease.release()
    assert token.balance_of(resident.address) == 10 * 10**6

    # Another bank vouches for the same address; revoking one bank's KYC keeps it allowed.
    with BankClient(url, api_key=boc.api_key) as bank:
        assert bank.http.post("/v1/bank/allowlist", json=proof("boc", resident, chain_id)).status_code == 201
    assert allowlist.sync(env.db, token, compliance, now=utcnow) == 0  # already allowed
    with BankClient(url, api_key=hsbc.api_key) as bank:
        revoked = bank.http.delete(f"/v1/bank/allowlist/{resident.address}")
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoking"
        missing = bank.http.delete(f"/v1/bank/allowlist/{stranger.address}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "allowlist_entry_not_found"
    assert allowlist.sync(env.db, token, compliance, now=utcnow) == 0
    assert is_allowed(resident.address).call()
    with BankClient(url, api_key=boc.api_key) as bank:
        assert (
            bank.http.delete(f"/v1/bank/allowlist/{resident.address.lower()}").json()["status"] == "revoking"
        )
    assert allowlist.sync(env.db, token, compliance, now=utcnow) == 1
    assert not is_allowed(resident.address).call() and is_allowed(other.address).call()
    assert statuses(env, resident.address) == ["revoked", "revoked"]
    assert httpx.post(f"{url}/v1/bank/allowlist", json=signed).status_code == 401


def test_the_worker_runs_where_the_compliance_key_is(sqlite_url, deployed):
    from service import workers
    from service.db import Database
    from svc_support import make_settings

    plain = make_settings(sqlite_url, token_address=deployed.token_address, rpc_url=deployed.rpc_url)
    keyed = make_settings(
        sqlite_url,
        token_address=deployed.token_address,
        rpc_url=deployed.rpc_url,
        compliance_private_key=deployed.compliance.private_key,
    )
    db = Database.from_settings(plain)
    try:
        assert "allowlist" not in [name for name, _, _ in workers._planned(plain, db, {})]
        assert "allowlist" in [name for name, _, _ in workers._planned(keyed, db, {})]
    finally:
        db.dispose()
