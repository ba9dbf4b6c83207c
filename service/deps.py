"""FastAPI dependencies: the app's state, sessions, and the authenticated caller.

Write endpoints use `SessionDep` and commit explicitly before returning (the request boundary);
the session is rolled back and closed when the request ends. Read endpoints use
`ReadSessionDep` (on SQLite a deferred BEGIN, so reads never wait for the write lock). The
write lock is only ever taken inside the endpoint function itself, which runs in one thread
from its first statement to its commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.banks import service as banks
from service.banks.models import BankRecord, Operator
from service.config import Settings
from service.db import Database
from service.quota.policy import Policy


@dataclass
class AppState:
    settings: Settings
    db: Database
    policy: Policy
    clock: Callable[[], dt.datetime]
    writer: Any = None  # service.deposits.writer.SubmissionWriter, set by create_app


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
    with state.db.read_session() as session:
        return banks.authenticate_operator(session, bearer_header(credentials))


CurrentBank = Annotated[BankRecord, Depends(current_bank)]
CurrentOperator = Annotated[Operator, Depends(current_operator)]
# Aliases kept for the read endpoints' signatures.
CurrentBankRead = CurrentBank
CurrentOperatorRead = CurrentOperator
