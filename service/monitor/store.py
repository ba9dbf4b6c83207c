"""The monitor's own store (docs/monitor.md): SQLite by default, PostgreSQL by URL, its own
tables (created with `create_all` when the monitor starts), never the service's database.

Tables:

- `mon_observations`: every observation the engine processed, in order (`seq`), `key` unique.
- `mon_findings`: the findings log; `seq` is the leaf index, `key` unique, `leaf` the exact leaf
  bytes (canonical JSON of the finding's public view).
- `mon_nodes`: the complete subtrees of the findings tree, (level, index) -> hash, written as
  leaves are appended (service.merkle.Frontier).
- `mon_cursors`: one JSON document per source (chain, service).
- `mon_heads`: the signed heads of the findings log.
- `mon_deliveries`: one row per finding to deliver to the webhook, with its attempts.

`Store.record` commits an observation, the findings it produced, their tree nodes, their
deliveries and the cursor move in one transaction: after a crash either all of it is there or
none of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from service import merkle
from service.monitor.model import Finding, Observation, leaf_bytes

metadata = MetaData()

observations = Table(
    "mon_observations",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("key", String(300), nullable=False, unique=True),
    Column("kind", String(100), nullable=False),
    Column("json", Text, nullable=False),
)

findings = Table(
    "mon_findings",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("key", String(700), nullable=False, unique=True),
    Column("rule", String(200), nullable=False, index=True),
    Column("severity", String(20), nullable=False, index=True),
    Column("observation_seq", Integer, nullable=True),
    Column("json", Text, nullable=False),
    Column("leaf", LargeBinary, nullable=False),
)

nodes = Table(
    "mon_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

cursors = Table(
    "mon_cursors",
    metadata,
    Column("source", String(50), primary_key=True),
    Column("json", Text, nullable=False),
)

heads = Table(
    "mon_heads",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
    UniqueConstraint("tree_size", "timestamp"),
)

deliveries = Table(
    "mon_deliveries",
    metadata,
    Column("finding_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("status", String(20), nullable=False, index=True),  # pending, delivered
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", Float, nullable=False, default=0.0),
    Column("last_error", Text, nullable=True),
)


@dataclass(frozen=True)
class StoredFinding:
    seq: int
    finding: dict[str, Any]  # the public view, as the leaf encodes it
    leaf: bytes


@dataclass(frozen=True)
class SignedHead:
    tree_size: int
    timestamp: int  # milliseconds
    root: bytes
    signature: bytes


class Store:
    """The monitor's store at a SQLAlchemy URL (sqlite:///path or postgresql+psycopg://...)."""

    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 30}
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # ---- reads -------------------------------------------------------------------------------

    def has_observation(self, key: str) -> bool:
        return key in self.known_observations([key])

    def observations(self, after: int = 0, batch: int = 5000) -> Iterator[tuple[int, Observation]]:
        """Every recorded observation in order (seq > after), read in batches."""
        while True:
            with self.engine.connect() as c:
                rows = c.execute(
                    select(observations.c.seq, observations.c.json)
                    .where(observations.c.seq > after)
                    .order_by(observations.c.seq)
                    .limit(batch)
                ).all()
            if not rows:
                return
            for seq, text in rows:
                yield seq, Observation.from_json(text)
            after = rows[-1][0]

    def observation_count(self) -> int:
        with self.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(observations)).scalar_one())

    def size(self, c: Connection | None = None) -> int:
        """The number of findings (the findings log's tree size)."""
        if c is None:
            with self.engine.connect() as conn:
                return self.size(conn)
        top = c.execute(select(func.max(findings.c.seq))).scalar_one()
        return 0 if top is None else int(top) + 1

    def findings(
        self,
        *,
        after: int = -1,
        limit: int = 100,
        severity: Sequence[str] = (),
        rule: Sequence[str] = (),
        until: int | None = None,
    ) -> list[StoredFinding]:
        query = select(findings.c.seq, findings.c.json, findings.c.leaf).where(findings.c.seq > after)
        if severity:
            query = query.where(findings.c.severity.in_(list(severity)))
        if rule:
            query = query.where(findings.c.rule.in_(list(rule)))
        if until is not None:
            query = query.where(findings.c.seq < until)
        query = query.order_by(findings.c.seq).limit(limit)
        with self.engine.connect() as c:
            rows = c.execute(query).all()
        return [StoredFinding(int(s), json.loads(j), bytes(leaf)) for s, j, leaf in rows]

    def leaves(self, end: int | None = None) -> Iterator[tuple[int, bytes]]:
        after = -1
        while True:
            query = select(findings.c.seq, findings.c.leaf).where(findings.c.seq > after)
            if end is not None:
                query = query.where(findings.c.seq < end)
            with self.engine.connect() as c:
                rows = c.execute(query.order_by(findings.c.seq).limit(5000)).all()
            if not rows:
                return
            for seq, leaf in rows:
                yield int(seq), bytes(leaf)
            after = int(rows[-1][0])

    def node_source(self, compute: Any) -> merkle.NodeSource:
        """The stored nodes that `compute(source)` reads (service.merkle.needed_nodes), in one
        query, as a NodeSource."""
        wanted = merkle.needed_nodes(compute)
        return merkle.from_mapping(self.read_nodes(wanted))

    def read_nodes(
        self, wanted: Iterable[tuple[int, int]], c: Connection | None = None
    ) -> dict[merkle.Node, bytes]:
        wanted = list(wanted)
        if not wanted:
            return {}
        if c is None:
            with self.engine.connect() as conn:
                return self.read_nodes(wanted, conn)
        found: dict[merkle.Node, bytes] = {}
        for level in {lv for lv, _ in wanted}:
            indexes = [i for lv, i in wanted if lv == level]
            for start in range(0, len(indexes), 500):
                rows = c.execute(
                    select(nodes.c.idx, nodes.c.hash).where(
                        nodes.c.level == level, nodes.c.idx.in_(indexes[start : start + 500])
                    )
                ).all()
                found.update({(level, int(i)): bytes(h) for i, h in rows})
        return found

    def all_nodes(self) -> dict[merkle.Node, bytes]:
        with self.engine.connect() as c:
            rows = c.execute(select(nodes.c.level, nodes.c.idx, nodes.c.hash)).all()
        return {(int(lv), int(i)): bytes(h) for lv, i, h in rows}

    def cursor(self, source: str) -> dict[str, Any]:
        with self.engine.connect() as c:
            text = c.execute(select(cursors.c.json).where(cursors.c.source == source)).scalar_one_or_none()
        return {} if text is None else dict(json.loads(text))

    def all_cursors(self) -> dict[str, dict[str, Any]]:
        with self.engine.connect() as c:
            rows = c.execute(select(cursors.c.source, cursors.c.json)).all()
        return {s: json.loads(j) for s, j in rows}

    def heads(self) -> list[SignedHead]:
        with self.engine.connect() as c:
            rows = c.execute(select(heads).order_by(heads.c.tree_size)).all()
        return [
            SignedHead(int(r.tree_size), int(r.timestamp), bytes(r.root), bytes(r.signature)) for r in rows
        ]

    def latest_head(self) -> SignedHead | None:
        with self.engine.connect() as c:
            r = c.execute(select(heads).order_by(heads.c.tree_size.desc()).limit(1)).first()
        return (
            None
            if r is None
            else SignedHead(int(r.tree_size), int(r.timestamp), bytes(r.root), bytes(r.signature))
        )

    def head_at(self, tree_size: int) -> SignedHead | None:
        with self.engine.connect() as c:
            r = c.execute(select(heads).where(heads.c.tree_size == tree_size)).first()
        return (
            None
            if r is None
            else SignedHead(int(r.tree_size), int(r.timestamp), bytes(r.root), bytes(r.signature))
        )

    # ---- writes ------------------------------------------------------------------------------

    def record(
        self,
        obs: Observation,
        found: Sequence[Finding],
        cursor: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        deliver: bool = False,
    ) -> list[StoredFinding] | None:
        """Commit an observation, its findings (appended to the findings tree) and the cursor
        move in one transaction. None (and nothing written but the cursor) when the observation
        was already recorded: its findings were appended when it was."""
        try:
            with self.engine.begin() as c:
                return self._record(c, obs, found, cursor, deliver)
        except IntegrityError:
            if not self.has_observation(obs.key):
                raise
            self.move(cursor)
            return None

    def _record(
        self,
        c: Connection,
        obs: Observation,
        found: Sequence[Finding],
        cursor: Mapping[str, Mapping[str, Any]] | None,
        deliver: bool,
    ) -> list[StoredFinding]:
        c.execute(insert(observations).values(key=obs.key, kind=obs.kind, json=obs.to_json()))
        obs_seq = c.execute(select(observations.c.seq).where(observations.c.key == obs.key)).scalar_one()
        stored = self._append(c, found, int(obs_seq), deliver)
        self._move(c, cursor)
        return stored

    def known_observations(self, keys: Sequence[str]) -> set[str]:
        """The keys among `keys` already recorded."""
        known: set[str] = set()
        with self.engine.connect() as c:
            for start in range(0, len(keys), 500):
                known.update(
                    c.execute(
                        select(observations.c.key).where(observations.c.key.in_(keys[start : start + 500]))
                    ).scalars()
                )
        return known

    def record_many(
        self,
        batch: Sequence[tuple[Observation, Sequence[Finding] | None, Mapping[str, Mapping[str, Any]] | None]],
        *,
        deliver: bool = False,
    ) -> list[list[StoredFinding] | None]:
        """`record` for each (observation, findings, cursor move) of a poll, in one transaction:
        findings None for an observation already recorded (only its cursor move is written).
        If another writer recorded one of them meanwhile, each is recorded on its own instead."""
        try:
            with self.engine.begin() as c:
                out: list[list[StoredFinding] | None] = []
                for obs, found, cursor in batch:
                    if found is None:
                        self._move(c, cursor)
                    out.append(None if found is None else self._record(c, obs, found, cursor, deliver))
            return out
        except IntegrityError:
            out = []
            for obs, found, cursor in batch:
                if found is None:
                    self.move(cursor)
                out.append(None if found is None else self.record(obs, found, cursor, deliver=deliver))
            return out

    def append(self, found: Sequence[Finding], *, deliver: bool = False) -> list[StoredFinding]:
        """Append findings of no observation (the guard's records)."""
        with self.engine.begin() as c:
            return self._append(c, found, None, deliver)

    def move(self, cursor: Mapping[str, Mapping[str, Any]] | None) -> None:
        if cursor:
            with self.engine.begin() as c:
                self._move(c, cursor)

    def _append(
        self, c: Connection, found: Sequence[Finding], obs_seq: int | None, deliver: bool
    ) -> list[StoredFinding]:
        # unique keys are the safety net: a finding whose key is already recorded (or repeated
        # within this observation) is not appended again
        keys = list({f.key for f in found})
        existing: set[str] = set()
        for start in range(0, len(keys), 500):
            existing.update(
                c.execute(
                    select(findings.c.key).where(findings.c.key.in_(keys[start : start + 500]))
                ).scalars()
            )
        fresh: list[Finding] = []
        for f in found:
            if f.key not in existing:
                existing.add(f.key)
                fresh.append(f)
        found = fresh
        if not found:
            return []
        size = self.size(c)
        frontier = merkle.Frontier(size, self.read_nodes(merkle.frontier_nodes(size), c))
        stored: list[StoredFinding] = []
        new_nodes: dict[merkle.Node, bytes] = {}
        for f in found:
            leaf = leaf_bytes(f)
            seq = frontier.size
            new_nodes.update(frontier.append(merkle.leaf_hash(leaf)))
            public = json.loads(leaf)
            c.execute(
                insert(findings).values(
                    seq=seq,
                    key=f.key,
                    rule=f.rule,
                    severity=str(f.severity),
                    observation_seq=obs_seq,
                    json=leaf.decode("utf-8"),
                    leaf=leaf,
                )
            )
            if deliver:
                c.execute(
                    insert(deliveries).values(finding_seq=seq, status="pending", attempts=0, next_at=0.0)
                )
            stored.append(StoredFinding(seq, public, leaf))
        c.execute(insert(nodes), [{"level": lv, "idx": i, "hash": h} for (lv, i), h in new_nodes.items()])
        return stored

    def _move(self, c: Connection, cursor: Mapping[str, Mapping[str, Any]] | None) -> None:
        for source, value in (cursor or {}).items():
            text = json.dumps(dict(value), sort_keys=True)
            done = c.execute(update(cursors).where(cursors.c.source == source).values(json=text))
            if done.rowcount == 0:
                c.execute(insert(cursors).values(source=source, json=text))

    def add_head(self, head: SignedHead) -> None:
        try:
            with self.engine.begin() as c:
                c.execute(
                    insert(heads).values(
                        tree_size=head.tree_size,
                        timestamp=head.timestamp,
                        root=head.root,
                        signature=head.signature,
                    )
                )
        except IntegrityError:
            pass  # a head of that size is already signed

    # ---- deliveries --------------------------------------------------------------------------

    def due_deliveries(self, now: float, limit: int = 50) -> list[tuple[int, int, bytes]]:
        """(finding seq, attempts, leaf) of the pending deliveries due at `now`, in seq order."""
        with self.engine.connect() as c:
            rows = c.execute(
                select(deliveries.c.finding_seq, deliveries.c.attempts, findings.c.leaf)
                .join(findings, findings.c.seq == deliveries.c.finding_seq)
                .where(deliveries.c.status == "pending", deliveries.c.next_at <= now)
                .order_by(deliveries.c.finding_seq)
                .limit(limit)
            ).all()
        return [(int(s), int(a), bytes(leaf)) for s, a, leaf in rows]

    def delivered(self, seq: int, attempts: int) -> None:
        with self.engine.begin() as c:
            c.execute(
                update(deliveries)
                .where(deliveries.c.finding_seq == seq)
                .values(status="delivered", attempts=attempts, last_error=None)
            )

    def delivery_failed(self, seq: int, attempts: int, next_at: float, error: str) -> None:
        with self.engine.begin() as c:
            c.execute(
                update(deliveries)
                .where(deliveries.c.finding_seq == seq)
                .values(attempts=attempts, next_at=next_at, last_error=error[:1000])
            )

    def delivery_states(self) -> dict[int, tuple[str, int]]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(deliveries.c.finding_seq, deliveries.c.status, deliveries.c.attempts)
            ).all()
        return {int(s): (st, int(a)) for s, st, a in rows}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()
