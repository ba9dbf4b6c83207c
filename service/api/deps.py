"""FastAPI dependencies: the app's state, sessions, the authenticated caller and its body.

Write endpoints use `SessionDep` and commit explicitly before returning (the request boundary);
the session is rolled back and closed when the request ends. Read endpoints use
`ReadSessionDep` (on SQLite a deferred BEGIN, so reads never wait for the write lock). The
write lock is only ever taken inside the endpoint function itself, which runs in one thread
from its first statement to its commit.

A request body is `BankBody[Model]` or `OperatorBody[Model]`: parsed (service.jsonbody) only
after the caller is authenticated, so a request without valid credentials is a 401 whatever its
body.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.orm import Session

from service.banks import service as banks
from service.banks.models import BankRecord, Operator
from service.config import Settings
from service.db import Database
from service.jsonbody import parse_json_body
from service.quota.policy import Policy

# Largest database id (a signed 64-bit integer): the bound of every id and cursor parameter.
MAX_ID = 2**63 - 1


@dataclass
class AppState:
    settings: Settings
    db: Database
    policy: Policy
    clock: Callable[[], dt.datetime]
    writer: Any = None  # service.deposits.writer.SubmissionWriter, set by create_app
    chain_cache: Any = None  # service.reserves.chain_cache.ChainViewCache, set by create_app
    monitor_feed: Any = None  # the same kind of cache over the monitor's findings (USHK_MONITOR_URL)
    metrics: Any = None  # the process's prometheus_client.CollectorRegistry, set by create_app


async def get_state(request: Request) -> AppState:
    # async: a plain function dependency would be run in the thread pool.
    return request.app.state.ushk


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.db.session() as session:
        yield session


def get_read_session(state: StateDep) -> Iterator[Session]:
    with state.db.read_session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]

bank_bearer = HTTPBearer(
    scheme_name="BankApiKey", description="A bank's API key (ushk_bk_...)", auto_error=False
)
operator_bearer = HTTPBearer(
    scheme_name="OperatorToken", description="An operator token (ushk_op_...)", auto_error=False
)
BankCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bank_bearer)]
OperatorCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(operator_bearer)]


def bearer_header(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return f"Bearer {credentials.credentials}" if credentials else None


def current_bank(state: StateDep, credentials: BankCredentials) -> BankRecord:
    """The authenticated, active bank, read in its own short read transaction and returned
    detached. A dependency must not take SQLite's write lock: FastAPI runs it in a different
    worker thread from the endpoint, and a lock held across that hand-over can starve the
    thread pool. Code that changes the bank re-reads it in the write session."""
    with state.db.read_session() as session:
        return banks.authenticate_bank(session, bearer_header(credentials))


def current_operator(state: StateDep, credentials: OperatorCredentials) -> Operator:
    """Any authenticated operator, whatever its role: for the read endpoints."""
    with state.db.read_session() as session:
        return banks.authenticate_operator(session, bearer_header(credentials))


def writing_operator(state: StateDep, credentials: OperatorCredentials) -> Operator:
    """An authenticated operator whose role may change things (`operator` or `approver`; a
    `supervisor` is 403 `operator_role_required`): for every operator endpoint that writes."""
    return banks.require_role(current_operator(state, credentials), *banks.WRITER_ROLES)


CurrentBank = Annotated[BankRecord, Depends(current_bank)]
# Write endpoints: a supervisor is refused. Read endpoints take `CurrentOperatorRead`.
CurrentOperator = Annotated[Operator, Depends(writing_operator)]
# Aliases kept for the read endpoints' signatures.
CurrentBankRead = CurrentBank
CurrentOperatorRead = Annotated[Operator, Depends(current_operator)]


def _body_after(authenticate: Callable[..., Any], model: type[BaseModel]) -> Callable[..., Any]:
    async def body(request: Request, _caller: Any) -> BaseModel:  # FastAPI's annotations: below
        return parse_json_body(model, await request.body())

    # Real objects, not the strings `from __future__ import annotations` would leave: FastAPI
    # resolves strings in the module's globals, where `authenticate` is not.
    body.__annotations__ = {"request": Request, "_caller": Annotated[Any, Depends(authenticate)]}
    body.body_model = model  # type: ignore[attr-defined]  # read by service.api.openapi
    return body


_Model = TypeVar("_Model", bound=BaseModel)

if TYPE_CHECKING:  # to a type checker, `BankBody[Model]` and `OperatorBody[Model]` are `Model`
    BankBody = Annotated[_Model, "bank body"]
    OperatorBody = Annotated[_Model, "operator body"]
else:

    class BankBody:
        """``body: BankBody[Model]``: the request body as `Model`, parsed after the bank is
        authenticated (and found active)."""

        def __class_getitem__(cls, model: type[BaseModel]) -> Any:
            return Annotated[model, Depends(_body_after(current_bank, model))]

    class OperatorBody:
        """``body: OperatorBody[Model]``: the request body as `Model`, parsed after the operator is
        authenticated."""

        def __class_getitem__(cls, model: type[BaseModel]) -> Any:
            return Annotated[model, Depends(_body_after(writing_operator, model))]


# Paging of the list endpoints: `after` is the `next_after` of the previous page.
Cursor = Annotated[
    int, Query(ge=0, le=MAX_ID, description="Cursor: `next_after` of the previous page (0: from the start).")
]
PageSize = Annotated[int, Query(ge=1, le=500, description="Items per page, 1-500.")]
