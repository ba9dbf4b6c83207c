"""Statement helpers: prepared Core statements, per-transaction caches, and the upserts
(insert-or-ignore, insert-returning, add-within-limit) the repositories share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    event,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session


class Prepared:
    """A Core statement run directly on the DBAPI connection of a session's transaction,
    compiled once per dialect (and per set of parameter names, for an INSERT or UPDATE that
    takes its columns from them), without SQLAlchemy's per-execution work: for the hot
    statements of the accept path (see docs/performance.md, "Prepared statements"). Parameters
    still go through each bind's type (`bind_processor`: UTC datetimes and dates are stored as
    the ORM stores them). Results are the driver's rows, unprocessed: select only integers and
    strings."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._plans: dict[tuple, tuple] = {}

    def _plan(self, dialect: Any, keys: tuple[str, ...] | None) -> tuple:
        plan = self._plans.get((dialect.name, keys))
        if plan is None:
            compiled = self.statement.compile(
                dialect=dialect, column_keys=list(keys) if keys is not None else None
            )
            names = list(compiled.positiontup) if compiled.positional else list(compiled.binds)
            binds = [
                (name, compiled.binds[name].type.bind_processor(dialect), compiled.binds[name])
                for name in names
            ]
            plan = self._plans[dialect.name, keys] = (compiled.string, compiled.positional, binds)
        return plan

    def _args(self, plan: tuple, params: Mapping[str, Any]) -> Any:
        _, positional, binds = plan
        values = []
        for name, process, bind in binds:
            value = params[name] if name in params else bind.effective_value  # noqa: SIM401 - computed only when missing
            values.append(process(value) if process is not None else value)
        return (
            tuple(values) if positional else {name: v for (name, _, _), v in zip(binds, values, strict=True)}
        )

    def execute(
        self, session: Session, params: Mapping[str, Any] | None = None, *, columns: bool = False
    ) -> Any:
        """Runs the statement with `params`; returns the DBAPI cursor. `columns`: the statement
        (an INSERT or UPDATE without .values()) takes its columns from the keys of `params`."""
        params = params or {}
        connection = session.connection()
        plan = self._plan(connection.dialect, tuple(params) if columns else None)
        return self._run(connection, plan, "execute", self._args(plan, params))

    def executemany(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Runs an INSERT without .values() once per row (the rows' keys name its columns)."""
        if not rows:
            return
        connection = session.connection()
        plan = self._plan(connection.dialect, tuple(rows[0]))
        self._run(connection, plan, "executemany", [self._args(plan, row) for row in rows])

    @staticmethod
    def _run(connection: Any, plan: tuple, method: str, args: Any) -> Any:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            getattr(cursor, method)(plan[0], args)
        except connection.dialect.loaded_dbapi.Error as exc:
            # the same exception SQLAlchemy raises (IntegrityError, OperationalError, ...)
            raise DBAPIError.instance(plan[0], args, exc, connection.dialect.loaded_dbapi.Error) from exc
        return cursor


_TRANSACTION_CACHES = "ushk_transaction_caches"


def transaction_cache(session: Session, name: str) -> dict:
    """A dict named `name` that lives as long as the session's current outermost transaction
    (for rows read once per transaction, e.g. the bank of an API key)."""
    return session.info.setdefault(_TRANSACTION_CACHES, {}).setdefault(name, {})


def drop_transaction_caches(session: Session) -> None:
    """Forget every `transaction_cache` of the session: done when its transaction ends, and by
    whoever rolls back a savepoint (rows read or created inside it may be gone)."""
    session.info.pop(_TRANSACTION_CACHES, None)


@event.listens_for(Session, "after_transaction_end")
def _drop_transaction_caches(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        drop_transaction_caches(session)


_CONFLICT_STATEMENTS: dict[tuple, Any] = {}


def _insert_on_conflict(
    dialect: str, table: Table, index_elements: Sequence[str], returning: Any = None
) -> Any:
    """INSERT INTO table ... ON CONFLICT (index_elements) DO NOTHING [RETURNING returning], built
    once per shape; its columns are the keys of the parameters it is executed with."""
    key = (dialect, table, tuple(index_elements), returning)
    statement = _CONFLICT_STATEMENTS.get(key)
    if statement is None:
        statement = _insert_construct(dialect)(table).on_conflict_do_nothing(
            index_elements=list(index_elements)
        )
        if returning is not None:
            statement = statement.returning(returning)
        _CONFLICT_STATEMENTS[key] = statement
    return statement


def _insert_construct(dialect: str) -> Any:
    insert: Any  # either dialect's insert(), each with ON CONFLICT
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(dialect)
    return insert


def add_within_limit(
    session: Session,
    table: Table,
    key: Mapping[str, Any],
    column: str,
    amount: int,
    limit: int | None,
    *,
    counted: Sequence[str] = (),
    initial: Mapping[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
) -> bool:
    """Adds `amount` to `column` of the row with `key` if `column` plus the `counted` columns plus
    `amount` stay within `limit` (None: no limit); the row is created when missing, with
    `initial` and `values` for its other columns (an existing row takes `values` too; `initial`
    only sets up a new row). One statement, INSERT ... ON CONFLICT DO UPDATE ... WHERE ...
    RETURNING: the database decides, under PostgreSQL's row lock or SQLite's write lock. Returns
    whether the amount was added."""
    if limit is not None and amount > limit:
        return False
    initial, values = dict(initial or {}), dict(values or {})
    connection = session.connection()
    dialect = connection.dialect.name
    cache_key = (
        "add",
        dialect,
        table,
        tuple(key),
        column,
        tuple(counted),
        tuple(initial),
        tuple(values),
        limit is None,
    )
    statement = _CONFLICT_STATEMENTS.get(cache_key)
    if statement is None:
        insert = _insert_construct(dialect)(table)
        excluded = insert.excluded
        where = None
        if limit is not None:
            total = table.c[column] + excluded[column]
            for name in counted:
                total = total + table.c[name]
            where = total <= bindparam("add_limit")
        set_ = {column: table.c[column] + excluded[column], **{name: excluded[name] for name in values}}
        statement = Prepared(
            insert.on_conflict_do_update(index_elements=list(key), set_=set_, where=where).returning(
                table.c[column]
            )
        )
        _CONFLICT_STATEMENTS[cache_key] = statement
    params = {**key, **initial, **values, column: amount}
    if limit is not None:
        params["add_limit"] = limit
    return statement.execute(session, params, columns=True).fetchone() is not None


def insert_ignore(
    session: Session, table: Table, values: Mapping[str, Any], index_elements: Sequence[str]
) -> int:
    """INSERT ... ON CONFLICT (index_elements) DO NOTHING; returns the number of rows inserted."""
    connection = session.connection()
    statement = _insert_on_conflict(connection.dialect.name, table, index_elements)
    return connection.execute(statement, dict(values)).rowcount


def insert_returning(
    session: Session, table: Table, values: Mapping[str, Any], index_elements: Sequence[str], column: Any
) -> Any:
    """INSERT ... ON CONFLICT (index_elements) DO NOTHING RETURNING column: the new row's value,
    or None when the row already existed. (The driver's rowcount cannot tell: psycopg reports -1
    for these statements.)"""
    dialect = session.connection().dialect.name
    key = ("prepared", dialect, table, tuple(index_elements), column)
    statement = _CONFLICT_STATEMENTS.get(key)
    if statement is None:
        statement = _CONFLICT_STATEMENTS[key] = Prepared(
            _insert_on_conflict(dialect, table, index_elements, column)
        )
    row = statement.execute(session, dict(values), columns=True).fetchone()
    return None if row is None else row[0]
