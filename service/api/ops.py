"""The operator's view over HTTP (docs/operations.md): `GET /readyz` and `GET /metrics`.

Neither needs credentials: they are for the orchestrator and for Prometheus, and say nothing a
deployment's public ledger does not. Serve them to the operations network only (a proxy routes
/readyz and /metrics away from the public); `/healthz` stays the plain liveness check.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from service.api.deps import StateDep
from service.ops import metrics, readiness

router = APIRouter(tags=["operations"])


class ReadyPart(BaseModel):
    status: Literal["ok", "failing", "skipped"]
    detail: str | None = None
    block: int | None = None
    workers: dict[str, dict[str, str | float | None]] | None = None


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    failing: list[Literal["database", "chain", "workers"]]
    checks: dict[str, ReadyPart]


@router.get(
    "/readyz",
    summary="Readiness: the database, the chain and the workers' heartbeats",
    response_model=ReadyOut,
    response_model_exclude_none=True,
    responses={
        503: {
            "model": ReadyOut,
            "description": "Not ready: `failing` names the parts that failed (`database`: no answer; "
            "`chain`: the RPC did not answer in time; `workers`: a heartbeat is stale or missing), "
            "`checks` has every part's status.",
        }
    },
)
async def readyz(state: StateDep) -> JSONResponse:
    """200 when every part is `ok` (or `skipped`: no token configured, no chain to ask); 503
    naming the failing parts otherwise. Each call asks the database and the chain afresh."""
    ready, body = await asyncio.to_thread(readiness.readiness, state.settings, state.db)
    content = ReadyOut.model_validate(body).model_dump(exclude_none=True)
    return JSONResponse(status_code=200 if ready else 503, content=content)


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(state: StateDep) -> Response:
    """Prometheus' text exposition of this process's metrics (service/ops/metrics.py)."""
    return Response(metrics.render(state.metrics), media_type=metrics.CONTENT_TYPE_LATEST)
