"""Schemathesis over the whole OpenAPI document, against the service over real HTTP on a SQLite
file: as a bank (its API key), as an operator (its token) and without credentials.

Every operation gets schemathesis's examples, coverage (boundary values, missing and extra
parameters, wrong types, unexpected methods) and fuzzing phases, with valid and invalid data,
bounded (`MAX_EXAMPLES` fuzzed cases per operation and caller, plus the coverage cases). Each
answer must be:

* no server error (5xx);
* a status the operation documents, with the documented content type and headers;
* a body that conforms to the documented schema; an error's `code` must be one the operation
  lists for that status (the error schemas enumerate their codes);
* a 401 whenever the operation needs credentials the caller does not have, whatever else the
  request holds (credentials are checked before anything else).

As the bank, part of the generated deposit confirmations and payout settlements are signed
with the bank's key, and part of the deposits are replaced by well-formed ones, so that the
checks past the signature (formats, idempotency, policy) and the success answers are reached.
"""

from __future__ import annotations

import collections
import hashlib
import json
import shutil
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.app import create_app
from service.banks import service as banks
from service.client import signed_request, signed_settlement
from svc_support import LiveServer, confirmation, make_env

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 10  # fuzzed cases per operation and caller (the coverage phase adds its own)
SEED = 20261202
STATUSES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, sqlite_template) -> Iterator[dict]:
    """One server for the module: a bank with a confirmation key, an operator, their headers,
    and the security each operation declares."""
    path = tmp_path_factory.mktemp("fuzz") / "ushk.db"
    shutil.copyfile(sqlite_template, path)
    env = make_env(f"sqlite:///{path}")
    bank = env.add_bank("hsbc")
    with env.db.transaction() as session:
        _, operator = banks.create_operator(session, "ops", actor="test")
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with LiveServer(app) as server:
        spec = httpx.get(f"{server.url}/openapi.json").json()
        security = {
            (method.upper(), path): {name for item in op.get("security", []) for name in item}
            for path, operations in spec["paths"].items()
            for method, op in operations.items()
        }
        yield {
            "url": server.url,
            "bank": bank,
            "headers": {
                "bank": {"Authorization": f"Bearer {bank.api_key}"},
                "operator": {"Authorization": f"Bearer {operator}"},
                "none": {},
            },
            "schemes": {"bank": {"BankApiKey"}, "operator": {"OperatorToken"}, "none": set()},
            "security": security,
        }
    env.db.dispose()


def _schema(service: dict, caller: str):
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": service["headers"][caller],
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
        }
    )
    return schemathesis.openapi.from_url(f"{service['url']}/openapi.json", config=config)


@pytest.fixture(scope="module")
def as_bank(service):
    return _schema(service, "bank")


@pytest.fixture(scope="module")
def as_operator(service):
    return _schema(service, "operator")


@pytest.fixture(scope="module")
def anonymous(service):
    return _schema(service, "none")


def _credentials_first(caller: str, service: dict):
    """A check: an operation whose credentials the caller lacks answers 401 to anything (but a
    method it does not have, 405)."""

    def credentials_checked_first(ctx, response, case) -> None:
        required = service["security"].get((case.operation.method.upper(), case.operation.path))
        if not required or required & service["schemes"][caller]:
            return
        if case.method.upper() != case.operation.method.upper():
            assert response.status_code == 405, response.status_code
            return
        assert response.status_code == 401, (
            f"{case.method} {case.formatted_path} without {sorted(required)}: "
            f"{response.status_code} {response.text[:200]}"
        )

    return credentials_checked_first


def _checks(caller: str, service: dict) -> list:
    return [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        _credentials_first(caller, service),
    ]


def _only_strings(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _only_strings(v) for k, v in value.items())
    return isinstance(value, str)


def _sign_some(case, service: dict) -> None:
    """Sign a share of the generated deposit and settlement bodies with the bank's key; replace
    a share of the deposits by well-formed confirmations (new or replayed references)."""
    body = case.body
    if case.method.upper() != "POST" or not isinstance(body, dict):
        return
    bank = service["bank"]
    draw = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).digest()
    if case.operation.path == "/v1/deposits" and isinstance(body.get("confirmation"), dict):
        if draw[0] % 3 == 0:
            n = draw[1] % 6  # a few references, each with one content: new ones, then replays
            case.body = signed_request(
                confirmation(
                    f"FUZZ-{n}",
                    amount=("1.00", "25.50", "1000")[n % 3],
                    id_number=f"F{n}",
                    category="hk",
                    id_type="hkid",
                ),
                bank.key_id,
                bank.seed,
            )
        elif draw[0] % 3 == 1 and _only_strings(body["confirmation"]):
            case.body = {
                **body,
                "key_id": bank.key_id,
                **{"signature": signed_request(body["confirmation"], bank.key_id, bank.seed)["signature"]},
            }
    elif case.operation.path == "/v1/payouts/{payout_id}/settle":
        if (
            draw[0] % 2 == 0
            and isinstance(body.get("settlement"), dict)
            and _only_strings(body["settlement"])
        ):
            case.body = {**body, **signed_settlement(body["settlement"], bank.key_id, bank.seed)}


def _call(case, service: dict, caller: str) -> None:
    response = case.call(base_url=service["url"], headers=service["headers"][caller])
    STATUSES[caller][(case.method.upper(), case.operation.path, response.status_code)] += 1
    case.validate_response(response, checks=_checks(caller, service), headers=service["headers"][caller])


@schemathesis.pytest.from_fixture("anonymous").parametrize()
def test_without_credentials(case, service):
    _call(case, service, "none")


@schemathesis.pytest.from_fixture("as_bank").parametrize()
def test_as_a_bank(case, service):
    _sign_some(case, service)
    _call(case, service, "bank")


@schemathesis.pytest.from_fixture("as_operator").parametrize()
def test_as_an_operator(case, service):
    _call(case, service, "operator")


def test_the_runs_reached_past_the_refusals():
    """The runs above exercised more than refusals: success answers of the bank's and the
    operator's endpoints, accepted deposits and their replays."""
    if set(STATUSES) != {"none", "bank", "operator"}:
        pytest.skip("runs only after the three schemathesis runs of this module")
    bank, operator = STATUSES["bank"], STATUSES["operator"]
    assert bank["POST", "/v1/deposits", 201] > 0 and bank["POST", "/v1/deposits", 200] > 0, bank
    assert bank["POST", "/v1/deposits", 409] + bank["POST", "/v1/deposits", 422] > 0
    for path in ("/v1/deposits", "/v1/payouts", "/v1/payout-accounts", "/v1/bank"):
        assert bank["GET", path, 200] > 0, path
    assert bank["POST", "/v1/quota/lookup", 200] > 0
    assert operator["GET", "/v1/operator/banks", 200] > 0
    assert operator["POST", "/v1/operator/banks", 201] > 0
    assert all(
        status == 401
        or status == 405
        or path in ("/healthz", "/readyz", "/v1/audit/head")
        or path.startswith(("/v1/reserves", "/v1/transparency", "/v1/public"))
        for (_, path, status) in STATUSES["none"]
    ), STATUSES["none"]
