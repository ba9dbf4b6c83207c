"""Fixtures of the reserve tests: the chain fixtures of tests/service/chain (a USHK deployed on
ape's anvil, the minter and attestor, a bank over HTTP) are reused from there; tests that need
them are skipped when pytest runs without ape's plugin (`make test-fast`)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

CHAIN_TESTS = Path(__file__).resolve().parent.parent / "chain"
if str(CHAIN_TESTS) not in sys.path:
    sys.path.insert(0, str(CHAIN_TESTS))

_spec = importlib.util.spec_from_file_location("ushk_chain_fixtures_for_reserves", CHAIN_TESTS / "conftest.py")
_chain_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _chain_fixtures
_spec.loader.exec_module(_chain_fixtures)

deployed = _chain_fixtures.deployed
workers = _chain_fixtures.workers
bank = _chain_fixtures.bank


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.hasplugin("ape_test"):
        return
    skip = pytest.mark.skip(reason="needs ape's test plugin (anvil)")
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here and "deployed" in item.fixturenames:
            item.add_marker(skip)
