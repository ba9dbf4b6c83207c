"""Readiness (`GET /readyz`, docs/operations.md): the database answers, the chain answers, and
the workers beat.

* database: the schema's version row read in a read transaction;
* chain: `eth_blockNumber` at USHK_RPC_URL within USHK_READY_CHAIN_TIMEOUT_SECONDS (skipped,
  and not failing, when no token is configured: then no part of the service uses a chain);
* workers: each heartbeat (service/ops/heartbeats.py) no older than
  USHK_HEARTBEAT_STALE_SECONDS; with USHK_READY_WORKERS set, each worker named there must have
  one.

A failing part's detail names what failed, never the RPC URL (it may carry a provider's key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import text

from service.config import Settings
from service.db import Database, utcnow
from service.ops.heartbeats import heartbeats

OK, FAILING, SKIPPED = "ok", "failing", "skipped"


def check_database(db: Database) -> dict[str, Any]:
    try:
        with db.reading() as session:
            # a table's row, not `SELECT 1`: SQLite opens its file only when a statement needs it
            session.execute(text("SELECT version_num FROM alembic_version")).all()
    except Exception as exc:  # noqa: BLE001 - any failure: not ready
        return {"status": FAILING, "detail": f"the database does not answer ({type(exc).__name__})"}
    return {"status": OK}


def check_chain(settings: Settings, post: Callable[..., httpx.Response] = httpx.post) -> dict[str, Any]:
    try:
        configured = settings.resolved_token_address() is not None
    except (OSError, ValueError, KeyError):
        configured = True  # a deployment file that cannot be read: the chain is meant to be there
    if not configured:
        return {"status": SKIPPED, "detail": "no token configured"}
    timeout = settings.ready_chain_timeout_seconds
    try:
        answer = post(
            settings.rpc_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
            timeout=timeout,
        )
        answer.raise_for_status()
        block = int(answer.json()["result"], 16)
    except httpx.TimeoutException:
        return {"status": FAILING, "detail": f"the chain's RPC did not answer within {timeout:g}s"}
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return {"status": FAILING, "detail": f"the chain's RPC does not answer ({type(exc).__name__})"}
    return {"status": OK, "block": block}


def check_workers(settings: Settings, db: Database, now: dt.datetime) -> dict[str, Any]:
    try:
        with db.reading() as session:
            rows = heartbeats(session)
    except Exception as exc:  # noqa: BLE001 - the database part says why
        return {"status": FAILING, "detail": f"heartbeats unreadable ({type(exc).__name__})"}
    stale_after = settings.heartbeat_stale_seconds
    workers: dict[str, dict[str, Any]] = {}
    for name, (_process, beat_at) in sorted(rows.items()):
        age = max(0.0, (now - beat_at).total_seconds())
        workers[name] = {"status": OK if age <= stale_after else FAILING, "age_seconds": round(age, 1)}
    for name in settings.ready_workers:
        workers.setdefault(name, {"status": FAILING, "age_seconds": None})
    failing = sorted(name for name, part in workers.items() if part["status"] != OK)
    result: dict[str, Any] = {"status": FAILING if failing else OK, "workers": workers}
    if failing:
        result["detail"] = "no fresh heartbeat: " + ", ".join(failing)
    return result


def readiness(
    settings: Settings,
    db: Database,
    *,
    now: dt.datetime | None = None,
    post: Callable[..., httpx.Response] = httpx.post,
) -> tuple[bool, dict[str, Any]]:
    """(ready, the answer's body): every part's status, and the failing parts named."""
    checks = {
        "database": check_database(db),
        "chain": check_chain(settings, post),
        "workers": check_workers(settings, db, now or utcnow()),
    }
    failing = [name for name, part in checks.items() if part["status"] == FAILING]
    return not failing, {"status": "not_ready" if failing else "ready", "failing": failing, "checks": checks}
