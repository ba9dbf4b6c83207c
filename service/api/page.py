"""The public page at / (no login): server-rendered HTML (Jinja2) that reads without JavaScript,
the JSON it refreshes itself from (/page/state.json), its script, and uPlot, the chart library,
served from the project's npm install (node_modules/uplot; no CDN). None of these is part of the
API's schema. docs/transparency.md, "The public page", describes what the page shows."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from service.api.deps import AppState, ReadSessionDep, StateDep
from service.api.page_view import page_view
from service.errors import NotFound

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
UPLOT_DIST = REPO_ROOT / "node_modules" / "uplot" / "dist"
ASSETS = {
    "page.js": (HERE / "static" / "page.js", "text/javascript"),
    "page.css": (HERE / "static" / "page.css", "text/css"),
    "uPlot.js": (UPLOT_DIST / "uPlot.iife.min.js", "text/javascript"),
    "uPlot.css": (UPLOT_DIST / "uPlot.min.css", "text/css"),
}
# Seconds between the page's refreshes, and the age of its last good refresh that it calls stale.
POLL_SECONDS = 3
STALE_SECONDS = 15

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class NoAsset(NotFound):
    code = "no_asset"
    message = "No such file (the chart library is installed by tools/install.sh)."


def chart_available() -> bool:
    return ASSETS["uPlot.js"][0].is_file()


def _view(state: AppState, session: Session) -> dict:
    feed = state.monitor_feed.snapshot() if state.monitor_feed is not None else None
    return page_view(
        session,
        state.settings,
        state.chain_cache.snapshot(),
        monitor=feed,
        custody_policy=state.policy.custody,
    )


@router.get("/", response_class=HTMLResponse)
def page(state: StateDep, session: ReadSessionDep) -> HTMLResponse:
    view = _view(state, session)
    html = templates.get_template("page.html").render(
        v=view, chart=chart_available(), poll_seconds=POLL_SECONDS, stale_seconds=STALE_SECONDS
    )
    return HTMLResponse(html, headers={"cache-control": "no-store"})


@router.get("/page/state.json")
def page_state(state: StateDep, session: ReadSessionDep) -> JSONResponse:
    view = _view(state, session)
    return JSONResponse(view, headers={"cache-control": "no-store"})


@router.get("/page/assets/{name}")
def asset(name: str) -> Response:
    found = ASSETS.get(name)
    if found is None or not found[0].is_file():
        raise NoAsset()
    path, media_type = found
    return Response(path.read_bytes(), media_type=media_type, headers={"cache-control": "max-age=300"})
