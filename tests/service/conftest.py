"""Fixtures for the reserve service: real database files, real HTTP.

* SQLite: a fresh database file per test (tmp_path), copied from a template that Alembic
  migrated once per session.
* PostgreSQL (tests marked `postgres`): a fresh schema per test on USHK_TEST_POSTGRES_URL
  (default postgresql+psycopg://postgres@127.0.0.1:5432/test), created by the migrations and
  dropped afterwards. Skipped when the server is unreachable, unless USHK_REQUIRE_POSTGRES=1.
* `live`: the app under uvicorn in a thread on 127.0.0.1, spoken to over HTTP.
* `spawn_server`: `python -m service serve` as a separate process (concurrency tests).

Helpers live in svc_support.py.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# chain_support (helpers of the chain-side tests) lives in tests/service/chain
CHAIN_TESTS = Path(__file__).resolve().parent / "chain"
if str(CHAIN_TESTS) not in sys.path:
    sys.path.insert(0, str(CHAIN_TESTS))

from chain_fixtures import bank, deployed, workers  # noqa: E402,F401 - fixtures for chain/ redemptions/ reserves/
from service.app import create_app  # noqa: E402
from service.config import Settings  # noqa: E402
from service.db import Database  # noqa: E402
from svc_support import (  # noqa: E402
    PG_URL,
    REPO,
    REQUIRE_PG,
    Env,
    LiveServer,
    free_port,
    make_env,
    make_settings,
    postgres_problem,
    server_env,
    wait_healthy,
)
from wait_support import stop_process  # noqa: E402


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    url = f"sqlite:///{path}"
    db = Database.from_settings(make_settings(url))
    db.upgrade()
    db.dispose()  # the last connection checkpoints the WAL into the main file
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "ushk.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    problem = postgres_problem()
    if problem is not None:
        message = (
            f"PostgreSQL not reachable at {PG_URL} ({problem}). Start it, or point "
            "USHK_TEST_POSTGRES_URL at one (postgresql+psycopg://user@host:port/db); "
            "USHK_REQUIRE_POSTGRES=1 turns this skip into a failure."
        )
        if REQUIRE_PG:
            pytest.fail(message)
        pytest.skip(message)
    return PG_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    schema = f"ushk_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    db = Database.from_settings(make_settings(rendered))
    db.upgrade()
    db.dispose()
    yield rendered
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def env(sqlite_url: str):
    e = make_env(sqlite_url)
    yield e
    e.db.dispose()


@pytest.fixture
def pg_env(postgres_url: str):
    e = make_env(postgres_url)
    yield e
    e.db.dispose()


@pytest.fixture
def live(env: Env):
    """(env, base_url) with the app served over real HTTP."""
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with LiveServer(app) as server:
        yield env, server.url


@pytest.fixture
def spawn_server():
    """Start `python -m service serve` processes for given settings; all are stopped after."""
    processes: list[subprocess.Popen] = []

    def start(settings: Settings) -> str:
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--no-migrate", "--port", str(port)],
            env=server_env(settings),
            cwd=str(REPO),
            stdout=subprocess.DEVNULL,
        )
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        return url

    yield start
    for process in processes:
        stop_process(process, timeout=10)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without ape's pytest plugin (`make test-fast`) there is no anvil: tests that need the
    deployed token are skipped."""
    if config.pluginmanager.hasplugin("ape_test"):
        return
    skip = pytest.mark.skip(reason="needs ape's test plugin (anvil)")
    for item in items:
        if "deployed" in item.fixturenames:
            item.add_marker(skip)
