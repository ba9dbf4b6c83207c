"""The monitor's own HTTP API (docs/monitor.md, "HTTP endpoints"), served by `ushk monitor run`.

Findings are public (no personal data): the log, its signed heads and proofs, a server-sent
events feed (event id = finding seq, so Last-Event-ID resumes), exports in JSON lines and CSV,
and the monitor's status. Bad input is a 4xx with a reason.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

from service import merkle
from service.monitor.log import FindingsLog
from service.monitor.model import Severity
from service.monitor.store import SignedHead, Store

MAX_INDEX = 2**63 - 1
CSV_COLUMNS = [
    "seq",
    "rule",
    "rule_type",
    "severity",
    "key",
    "time",
    "summary",
    "observation",
    "block",
    "tx",
    "details",
]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class BadRequest(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def head_out(log: FindingsLog, head: SignedHead) -> dict[str, Any]:
    return {
        "tree_size": head.tree_size,
        "timestamp": head.timestamp,
        "sha256_root_hash": b64(head.root),
        "tree_head_signature": b64(head.signature),
        "key_id": log.key_id,
        "public_key": None if log.public_key is None else b64(log.public_key),
    }


def export_lines(store: Store, fmt: str) -> Iterator[str]:
    """The whole findings log as JSON lines (each line the finding's leaf, with its seq) or CSV."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        yield _drain(buffer)
    after = -1
    while True:
        page = store.findings(after=after, limit=1000)
        if not page:
            return
        for item in page:
            if fmt == "csv":
                row = dict(item.finding, seq=item.seq)
                row["details"] = json.dumps(
                    item.finding.get("details", {}), sort_keys=True, separators=(",", ":")
                )
                writer.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
                yield _drain(buffer)
            else:
                yield (
                    json.dumps({"seq": item.seq, **item.finding}, sort_keys=True, separators=(",", ":"))
                    + "\n"
                )
        after = page[-1].seq


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def create_app(
    store: Store,
    log: FindingsLog,
    *,
    status: Callable[[], dict[str, Any]] | None = None,
    sse_interval: float = 0.2,
) -> FastAPI:
    app = FastAPI(title="USHK monitor", docs_url=None, redoc_url=None)

    @app.exception_handler(BadRequest)
    async def _bad(_request: Request, exc: BadRequest) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": {"code": "bad_request", "message": reasons}}, status_code=400)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/monitor/status")
    def get_status() -> dict[str, Any]:
        out: dict[str, Any] = {"findings": store.size(), "cursors": store.all_cursors()}
        if status is not None:
            out.update(status())
        return out

    @app.get("/v1/monitor/findings")
    def get_findings(
        after: Annotated[
            int, Query(ge=-1, le=MAX_INDEX, description="the last seq seen; -1 from the start")
        ] = -1,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        severity: Annotated[list[Severity] | None, Query()] = None,
        rule: Annotated[list[str] | None, Query(max_length=50)] = None,
    ) -> dict[str, Any]:
        page = store.findings(
            after=after, limit=limit + 1, severity=[str(s) for s in severity or []], rule=rule or []
        )
        more = len(page) > limit
        page = page[:limit]
        return {
            "items": [{"seq": item.seq, **item.finding} for item in page],
            "next": page[-1].seq if more else None,
        }

    @app.get("/v1/monitor/sth")
    def get_sth() -> dict[str, Any]:
        head = store.latest_head()
        if head is None:
            raise BadRequest("no_head", "the monitor has signed no head yet", 404)
        return head_out(log, head)

    def _size(tree_size: int) -> None:
        current = store.size()
        if tree_size > current:
            raise BadRequest("beyond_log", f"tree_size {tree_size} is beyond the log's size {current}")

    @app.get("/v1/monitor/proof")
    def get_proof(
        seq: Annotated[int, Query(ge=0, le=MAX_INDEX)],
        tree_size: Annotated[int, Query(ge=1, le=MAX_INDEX)],
    ) -> dict[str, Any]:
        _size(tree_size)
        if seq >= tree_size:
            raise BadRequest("bad_range", f"seq {seq} is not in a tree of size {tree_size}")
        path = log.inclusion(seq, tree_size)
        return {"leaf_index": seq, "tree_size": tree_size, "audit_path": [b64(h) for h in path]}

    @app.get("/v1/monitor/sth/consistency")
    def get_consistency(
        first: Annotated[int, Query(ge=0, le=MAX_INDEX)],
        second: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    ) -> dict[str, Any]:
        if first > second:
            raise BadRequest("bad_range", f"first ({first}) is greater than second ({second})")
        _size(second)
        return {
            "first": first,
            "second": second,
            "consistency": [b64(h) for h in log.consistency(first, second)],
        }

    @app.get("/v1/monitor/leaf")
    def get_leaf(seq: Annotated[int, Query(ge=0, le=MAX_INDEX)]) -> dict[str, Any]:
        page = store.findings(after=seq - 1, limit=1)
        if not page or page[0].seq != seq:
            raise BadRequest("not_found", f"no finding {seq}", 404)
        return {"seq": seq, "leaf_input": b64(page[0].leaf), "leaf_hash": b64(merkle.leaf_hash(page[0].leaf))}

    @app.get("/v1/monitor/export")
    def get_export(format: Annotated[str, Query(pattern="^(jsonl|csv)$")] = "jsonl") -> StreamingResponse:
        media = "text/csv" if format == "csv" else "application/x-ndjson"
        return StreamingResponse(
            export_lines(store, format),
            media_type=media,
            headers={"content-disposition": f'attachment; filename="monitor-findings.{format}"'},
        )

    @app.get("/v1/monitor/events", response_model=None)
    async def get_events(
        request: Request,
        after: Annotated[int | None, Query(ge=-1, le=MAX_INDEX)] = None,
    ) -> StreamingResponse | PlainTextResponse:
        last = request.headers.get("last-event-id")
        start = -1 if after is None else after
        if last is not None:
            if not last.strip().isdigit():
                raise BadRequest("bad_last_event_id", "Last-Event-ID must be a finding seq")
            start = int(last)

        async def stream() -> AsyncIterator[str]:
            position = start
            yield ": monitor findings\n\n"
            idle = 0.0
            while True:
                if await request.is_disconnected():
                    return
                page = await asyncio.to_thread(store.findings, after=position, limit=100)
                for item in page:
                    data = json.dumps(
                        {"seq": item.seq, **item.finding}, sort_keys=True, separators=(",", ":")
                    )
                    yield f"id: {item.seq}\nevent: finding\ndata: {data}\n\n"
                    position = item.seq
                if page:
                    idle = 0.0
                    continue
                idle += sse_interval
                if idle >= 15:
                    idle = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(sse_interval)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    return app
