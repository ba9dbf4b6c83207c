"""FastAPI dependencies: the app's state, sessions, and the authenticated caller.

Write endpoints use `SessionDep` and commit explicitly before returning (the request boundary);
the session is rolled back and closed when the request ends. Read endpoints use
`ReadSessionDep` (on SQLite a deferred BEGIN, so reads never wait for the write lock).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.banks import service as banks
from service.banks.models import Bank, Operator
from service.config import Settings
from service.db import Database
from service.quota.policy import Policy


@dataclass
class AppState:
    settings: Settings
    db: Database
    policy: Policy
    clock: Callable[[], dt.datetime]


def get_state(request: Request) -> AppState:
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


def _header(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return f"Bearer {credentials.credentials}" if credentials else None


def current_bank(session: SessionDep, credentials: BankCredentials) -> Bank:
    return banks.authenticate_bank(session, _header(credentials))


def current_bank_read(session: ReadSessionDep, credentials: BankCredentials) -> Bank:
    return banks.authenticate_bank(session, _header(credentials))


def current_operator(session: SessionDep, credentials: OperatorCredentials) -> Operator:
    return banks.authenticate_operator(session, _header(credentials))


def current_operator_read(session: ReadSessionDep, credentials: OperatorCredentials) -> Operator:
    return banks.authenticate_operator(session, _header(credentials))


CurrentBank = Annotated[Bank, Depends(current_bank)]
CurrentBankRead = Annotated[Bank, Depends(current_bank_read)]
CurrentOperator = Annotated[Operator, Depends(current_operator)]
CurrentOperatorRead = Annotated[Operator, Depends(current_operator_read)]
