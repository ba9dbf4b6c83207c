"""The bank client: signs confirmations and calls the reserve service.

    from ushk_client import BankClient
    client = BankClient("http://127.0.0.1:8000", api_key="ushk_bk_...", key_id="k1",
                        private_key="<32-byte seed, hex>")
    deposit = client.deposit(reference="B-1", amount="1250.00", value_date=str(date.today()),
                             beneficiary="0x...", id_type="hkid", id_number="A1234567",
                             category="hk", purpose_code="INVS")
    client.get_deposit("B-1")["status"]

`deposit()`, `get_deposit()` and `quota()` return the JSON body and raise `USHKError` (with
`.status`, `.code`, `.message`) on an error answer; `post_deposit()` returns the raw
`httpx.Response`. `AsyncBankClient` has the same methods as coroutines. Signatures are made by
`ushk_client.signing` (the service's tests check it agrees with the service's own verification).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from ushk_client.signing import PrivateKey, load_private_key, sign_batch
from ushk_client.signing import sign as sign_confirmation


class USHKError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def build_confirmation(
    *,
    reference: str,
    amount: str,
    value_date: str,
    beneficiary: str,
    id_type: str,
    id_number: str,
    category: str,
    purpose_code: str,
    currency: str = "USD",
    cdd: Mapping[str, str] | None = None,
    originator: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """At or above the CDD threshold pass `cdd` ({"confirmed": "true", "reference": ...}) and
    `originator` (the IVMS101 natural person, docs/bank-api.md); they are signed with the rest."""
    confirmation: dict[str, Any] = {
        "reference": reference,
        "amount": amount,
        "currency": currency,
        "value_date": value_date,
        "beneficiary": beneficiary,
        "resident": {"id_type": id_type, "id_number": id_number, "category": category},
        "purpose_code": purpose_code,
    }
    if cdd is not None:
        confirmation["cdd"] = dict(cdd)
    if originator is not None:
        confirmation["originator"] = dict(originator)
    return confirmation


def signed_request(confirmation: Mapping[str, Any], key_id: str, private_key: PrivateKey) -> dict[str, Any]:
    """The POST /v1/deposits body for `confirmation`."""
    return {
        "confirmation": dict(confirmation),
        "key_id": key_id,
        "signature": sign_confirmation(private_key, confirmation),
    }


BATCH_MAX = 1000  # confirmations in one POST /v1/deposits/batch


def signed_batch(
    confirmations: Sequence[Mapping[str, Any]], key_id: str, private_key: PrivateKey, *, form: str = "batch"
) -> dict[str, Any]:
    """The POST /v1/deposits/batch body: signed as one message (`form="batch"`: one signature
    over all the confirmations) or each item signed on its own (`form="items"`)."""
    if form == "batch":
        return {
            "key_id": key_id,
            "signature": sign_batch(private_key, confirmations),
            "confirmations": [dict(c) for c in confirmations],
        }
    if form == "items":
        return {"items": [signed_request(c, key_id, private_key) for c in confirmations]}
    raise ValueError('form must be "batch" or "items"')


def _raise_for_error(response: httpx.Response) -> Any:
    if response.status_code < 400:
        return response.json()
    try:
        error = response.json()["error"]
        code, message = error["code"], error["message"]
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text[:200]
    raise USHKError(response.status_code, code, message)


class _Base:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str,
        key_id: str | None = None,
        private_key: PrivateKey | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.key_id = key_id
        self.private_key = None if private_key is None else load_private_key(private_key)

    def sign(self, confirmation: Mapping[str, Any]) -> dict[str, Any]:
        if self.private_key is None or self.key_id is None:
            raise ValueError("this client has no signing key")
        return signed_request(confirmation, self.key_id, self.private_key)

    def sign_batch(self, confirmations: Sequence[Mapping[str, Any]], form: str = "batch") -> dict[str, Any]:
        if self.private_key is None or self.key_id is None:
            raise ValueError("this client has no signing key")
        return signed_batch(confirmations, self.key_id, self.private_key, form=form)


class BankClient(_Base):
    def __init__(self, base_url: str, *, timeout: float = 30.0, transport: Any = None, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.http = httpx.Client(
            base_url=self.base_url, headers=self.headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> BankClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post_deposit(self, body: Mapping[str, Any]) -> httpx.Response:
        return self.http.post("/v1/deposits", json=body)

    def submit(self, confirmation: Mapping[str, Any]) -> httpx.Response:
        """Sign and post; the raw response."""
        return self.post_deposit(self.sign(confirmation))

    def deposit(self, **fields: Any) -> dict[str, Any]:
        """Build, sign and post a confirmation; the deposit, or USHKError."""
        return _raise_for_error(self.submit(build_confirmation(**fields)))

    def post_deposit_batch(self, body: Mapping[str, Any]) -> httpx.Response:
        return self.http.post("/v1/deposits/batch", json=body)

    def deposit_batch(
        self, confirmations: Sequence[Mapping[str, Any]], *, form: str = "batch"
    ) -> list[dict[str, Any]]:
        """Sign and post up to 1,000 confirmations in one request (`form`: "batch", one signature
        over the batch, or "items", each signed); the results, one per confirmation in order
        (`index`, `status`, and `deposit` or `error`), or USHKError when the batch is refused as a
        whole."""
        return _raise_for_error(self.post_deposit_batch(self.sign_batch(confirmations, form)))["results"]

    def get_deposit(self, reference: str) -> dict[str, Any]:
        return _raise_for_error(self.http.get(f"/v1/deposits/{reference}"))

    def quota(self, *, id_type: str, id_number: str, category: str) -> dict[str, Any]:
        body = {"id_type": id_type, "id_number": id_number, "category": category}
        return _raise_for_error(self.http.post("/v1/quota/lookup", json=body))

    def set_webhook(self, url: str) -> dict[str, Any]:
        return _raise_for_error(self.http.put("/v1/bank/webhook", json={"url": url}))

    # ---- payouts (redemptions) ----

    def register_payout_account(
        self, *, holder: str, account_reference: str, currency: str = "USD"
    ) -> dict[str, Any]:
        """Register a customer's payout account for `holder`; the answer holds `payout_ref`."""
        body = {"holder": holder, "account_reference": account_reference, "currency": currency}
        return _raise_for_error(self.http.post("/v1/payout-accounts", json=body))

    def payouts(self, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else {}
        return _raise_for_error(self.http.get("/v1/payouts", params=params))["items"]

    def get_payout(self, payout_id: int) -> dict[str, Any]:
        return _raise_for_error(self.http.get(f"/v1/payouts/{payout_id}"))

    def post_settlement(self, payout_id: int, body: Mapping[str, Any]) -> httpx.Response:
        return self.http.post(f"/v1/payouts/{payout_id}/settle", json=body)

    def settle_payout(
        self, payout: Mapping[str, Any], *, bank_reference: str, value_date: str, **travel_rule: Any
    ) -> dict[str, Any]:
        """Sign and send the settlement of `payout` (as `payouts()` returns it); `cdd=` and
        `beneficiary=` at or above the CDD threshold."""
        settlement = build_settlement(
            payout_id=payout["id"],
            amount=payout["amount"],
            value_date=value_date,
            bank_reference=bank_reference,
            **travel_rule,
        )
        return _raise_for_error(self.post_settlement(payout["id"], self.sign_settlement(settlement)))

    def sign_settlement(self, settlement: Mapping[str, Any]) -> dict[str, Any]:
        if self.private_key is None or self.key_id is None:
            raise ValueError("this client has no signing key")
        return signed_settlement(settlement, self.key_id, self.private_key)

    def post_custody_statement(self, body: Mapping[str, Any]) -> httpx.Response:
        return self.http.post("/v1/bank/custody-statements", json=body)

    def custody_statement(
        self, *, statement_id: str, balance: str, as_of: str, account: str, currency: str = "USD"
    ) -> dict[str, Any]:
        """Signs and posts a custody statement of the bank's USHK reserve account."""
        if self.private_key is None or self.key_id is None:
            raise ValueError("this client has no signing key")
        statement = {
            "statement_id": statement_id,
            "balance": balance,
            "currency": currency,
            "as_of": as_of,
            "account": account,
        }
        return _raise_for_error(
            self.post_custody_statement(signed_statement(statement, self.key_id, self.private_key))
        )

    def custody_statements(self) -> list[dict[str, Any]]:
        return _raise_for_error(self.http.get("/v1/bank/custody-statements"))["items"]


def signed_statement(statement: Mapping[str, Any], key_id: str, private_key: PrivateKey) -> dict[str, Any]:
    """The POST /v1/bank/custody-statements body: signed like a deposit confirmation."""
    return {
        "statement": dict(statement),
        "key_id": key_id,
        "signature": sign_confirmation(private_key, statement),
    }


def build_settlement(
    *,
    payout_id: int | str,
    amount: str,
    value_date: str,
    bank_reference: str,
    currency: str = "USD",
    cdd: Mapping[str, str] | None = None,
    beneficiary: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """At or above the CDD threshold pass `cdd` and `beneficiary` (the IVMS101 natural person
    paid)."""
    settlement: dict[str, Any] = {
        "payout_id": str(payout_id),
        "amount": amount,
        "currency": currency,
        "value_date": value_date,
        "bank_reference": bank_reference,
    }
    if cdd is not None:
        settlement["cdd"] = dict(cdd)
    if beneficiary is not None:
        settlement["beneficiary"] = dict(beneficiary)
    return settlement


def signed_settlement(settlement: Mapping[str, Any], key_id: str, private_key: PrivateKey) -> dict[str, Any]:
    """The POST /v1/payouts/{id}/settle body: signed like a deposit confirmation."""
    return {
        "settlement": dict(settlement),
        "key_id": key_id,
        "signature": sign_confirmation(private_key, settlement),
    }


class AsyncBankClient(_Base):
    def __init__(
        self, base_url: str, *, timeout: float = 30.0, max_connections: int = 100, **kwargs: Any
    ) -> None:
        super().__init__(base_url, **kwargs)
        self.http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=self.headers,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncBankClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def post_deposit(self, body: Mapping[str, Any]) -> httpx.Response:
        return await self.http.post("/v1/deposits", json=body)

    async def submit(self, confirmation: Mapping[str, Any]) -> httpx.Response:
        return await self.post_deposit(self.sign(confirmation))

    async def deposit(self, **fields: Any) -> dict[str, Any]:
        return _raise_for_error(await self.submit(build_confirmation(**fields)))

    async def post_deposit_batch(self, body: Mapping[str, Any]) -> httpx.Response:
        return await self.http.post("/v1/deposits/batch", json=body)

    async def deposit_batch(
        self, confirmations: Sequence[Mapping[str, Any]], *, form: str = "batch"
    ) -> list[dict[str, Any]]:
        """As `BankClient.deposit_batch`."""
        return _raise_for_error(await self.post_deposit_batch(self.sign_batch(confirmations, form)))[
            "results"
        ]

    async def get_deposit(self, reference: str) -> dict[str, Any]:
        return _raise_for_error(await self.http.get(f"/v1/deposits/{reference}"))

    async def quota(self, *, id_type: str, id_number: str, category: str) -> dict[str, Any]:
        body = {"id_type": id_type, "id_number": id_number, "category": category}
        return _raise_for_error(await self.http.post("/v1/quota/lookup", json=body))
