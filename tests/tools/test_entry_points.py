"""The census of entry points: every route of the HTTP API, every `ushk` command and every
command of the Ape scripts is called by some test (tests/entry_point_census.py records the
calls). The census runs last, and only when the whole suite is selected; otherwise it is
skipped with the reason. The other tests here check the recording itself."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from entry_point_census import ROOT, all_commands, all_routes, command_roots, resolve_argv


def test_every_entry_point_is_exercised(entry_point_census):
    reason = entry_point_census.subset_reason()
    if reason is not None:
        pytest.skip(f"the census of entry points runs only with the whole suite: {reason}")
    routes = all_routes()
    commands = all_commands()
    missing_routes = sorted(routes - entry_point_census.called_routes())
    missing_commands = sorted(commands - entry_point_census.called_commands())
    lines = [f"  route {route}" for route in missing_routes]
    lines += [f"  command {command}" for command in missing_commands]
    skipped = entry_point_census.skipped
    note = f"\n({skipped} tests were skipped in this run: some may be among their callers)" if skipped else ""
    assert not lines, (
        f"{len(lines)} of {len(routes) + len(commands)} entry points were called by no test:\n"
        + "\n".join(lines)
        + note
    )


def test_the_entry_points_are_enumerated():
    routes = all_routes()
    assert {"POST /v1/deposits", "GET /healthz", "POST /v1/operator/banks/{name}/enable"} <= routes
    assert not any(route.startswith("HEAD ") for route in routes)
    commands = all_commands()
    assert {"ushk serve", "ushk bank add", "ushk workers run", "ape run ops allowlist allow"} <= commands
    assert "ushk bank" not in commands  # groups are not commands


def test_child_process_arguments_resolve_to_commands():
    roots = command_roots()
    python = sys.executable
    assert resolve_argv((python, "-m", "service", "serve", "--port", "1"), roots) == "ushk serve"
    assert resolve_argv((python, "-m", "service", "workers", "run"), roots) == "ushk workers run"
    assert resolve_argv(("/x/bin/ushk", "bank", "add", "dbs"), roots) == "ushk bank add"
    assert (
        resolve_argv(("/x/ape", "run", "ops", "allowlist", "allow", "0x1"), roots)
        == "ape run ops allowlist allow"
    )
    assert resolve_argv(("/x/ape", "run", "ops", "status", "--json"), roots) == "ape run ops status"
    assert resolve_argv((python, "-m", "service", "bank"), roots) is None  # a group: no command
    assert resolve_argv(("anvil", "--port", "1"), roots) is None


def test_calls_are_recorded(entry_point_census, tmp_path):
    from service.cli import cli

    before = len(entry_point_census.commands)
    assert CliRunner().invoke(cli, ["bank", "add", "--help"]).exit_code == 0
    assert len(entry_point_census.commands) == before  # help alone is no call
    CliRunner().invoke(cli, ["audit", "head"], env={"USHK_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert entry_point_census.commands[-1][1] == ("audit", "head")
    subprocess.run([sys.executable, "-c", "pass", "-m", "service"], cwd=ROOT, check=True)
    assert entry_point_census.argv[-1][-2:] == ("-m", "service")


def test_the_app_logs_the_routes_it_serves(tmp_path):
    import asyncio

    import httpx

    from service.app import create_app
    from service.config import Settings

    log = tmp_path / "routes.log"
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path}/ushk.db",
        id_hmac_secret="census-" * 8,
        webhook_signing_key="census-" * 8,
        policy_file=ROOT / "config" / "policy.demo.yaml",
        test_route_log=log,
    )
    app = create_app(settings)

    async def calls():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://census") as client:
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/docs")).status_code == 200
            assert (await client.get("/v1/deposits/R-1")).status_code == 401
            assert (await client.get("/no/such/route")).status_code == 404
            assert (await client.delete("/healthz")).status_code == 405

    asyncio.run(calls())
    app.state.ushk.db.dispose()
    # each route once, with its template; no line for an unknown path or a method it lacks
    assert log.read_text().splitlines() == ["GET /healthz", "GET /docs", "GET /v1/deposits/{reference}"]
