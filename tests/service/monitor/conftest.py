"""Fixtures of the monitor's tests: a store on a fresh SQLite file, or on a fresh PostgreSQL
schema (tests marked `postgres`), and a monitor key."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.monitor.log import generate_key, load_key
from service.monitor.store import Store


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'monitor.db'}"


@pytest.fixture
def pg_store_url(postgres_server: str):
    schema = f"ushk_mon_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return request.getfixturevalue("store_url")
    return request.getfixturevalue("pg_store_url")


@pytest.fixture
def store(store_url: str):
    s = Store(store_url)
    yield s
    s.dispose()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "monitor.key"
    generate_key(path)
    return path


@pytest.fixture
def key(key_file: Path):
    return load_key(key_file)
