"""The chain the tests run on: anvil's automine (a block per transaction, the default) or, with
`--block-time N`, a block every N seconds as on a real chain.

* `--block-time N` starts ape's anvil with `--block-time N` (ape-foundry reads the
  `APE_BLOCK_TIME` environment variable when it builds anvil's command line, which is set here
  before ape's plugin connects) and runs only the tests marked `blocktime`; the rest are
  deselected. Without the option `APE_BLOCK_TIME` is removed from the environment, so the
  default pass always runs on automine.
* `blocktime`: tests that also run on a block-time chain. The chain tests (those using the
  `deployed` fixture) of the modules in `BLOCK_TIME_MODULES` get the marker here, by module,
  on SQLite (their PostgreSQL variants test the database, which the block time does not change);
  a test may also carry it itself. `blocktime(only=True)` runs in the block-time pass only
  (skipped, with the reason, on automine).
* `anvil_mining` (session): checks the chain really mines the way the run asked for, from
  anvil itself: automine on; or automine off, interval mining every N seconds, and two empty
  blocks mined while nothing is sent. `deployed` (tests/service/chain_fixtures.py) uses it.

On a block-time chain ape's test provider would hand back a pending receipt for its own
transactions (the deploy, the tests acting as admin or holder) without waiting for it: here it
waits for each one to be mined, as it does on any chain it does not mine itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wait_support import wait_for

# which entry points the tests called; the census is tests/tools/test_entry_points.py
pytest_plugins = ("entry_point_census",)

ROOT = Path(__file__).resolve().parent.parent
BLOCK_TIME_ENV = "APE_BLOCK_TIME"
# The chain tests of the minter, the redemption watcher, the reserve ledger, attestor and
# reconciler: run on automine and again with --block-time. (The minter's crash recovery runs
# there in tests/service/chain/test_chaos.py, marked blocktime(only=True), and in
# tests/service/chain/test_crash.py's test of kills from outside, marked blocktime.)
BLOCK_TIME_MODULES = (
    "tests/service/chain/test_minter.py",
    "tests/service/redemptions/test_redemption_watcher.py",
    "tests/service/reserves/test_reserves_chain.py",
    "tests/service/reserves/test_reconciler_bulk.py",
    "tests/service/reserves/test_full_cycle.py",
    "tests/service/reserves/test_reconciler_consistency.py",
    "tests/service/reserves/test_independent_attestor.py",
    "tests/service/reserves/test_attestor_process.py",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--block-time",
        type=int,
        default=None,
        metavar="N",
        help="run ape's anvil with --block-time N (a block every N seconds, no automine) and "
        "only the tests marked blocktime",
    )


def block_time(config: pytest.Config) -> int | None:
    return config.getoption("--block-time")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    seconds = block_time(config)
    if seconds is None:
        os.environ.pop(BLOCK_TIME_ENV, None)
        return
    if seconds < 1:
        raise pytest.UsageError("--block-time must be a whole number of seconds >= 1")
    os.environ[BLOCK_TIME_ENV] = str(seconds)


# Set by `make test` for its passes (pytest.ini, `beside`): "1" in the coverage pass, which skips
# the tests marked `beside`; "only" in the beside pass, which runs those alone, on automine and
# without coverage. These paths are `beside` too: the token's own tests (tests/contracts), which
# measure the contract, not service/ or scripts/; the storage-layout tool's, which compile
# variants of it; and the crash tests, whose killed processes' code the other chain tests cover
# (coverage would make them the coverage pass's longest tests).
BESIDE_ENV = "USHK_TEST_BESIDE"
BESIDE_PATHS = (
    "tests/contracts/",
    "tests/tools/test_storage_layout.py",
    "tests/service/chain/test_crash.py",
)


def _deselect(config: pytest.Config, items: list[pytest.Item], kept) -> None:
    keep = [item for item in items if kept(item)]
    dropped = [item for item in items if not kept(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    split = os.environ.get(BESIDE_ENV)
    for item in items:
        relative = Path(os.path.relpath(Path(str(item.path)).resolve(), ROOT)).as_posix()
        if (
            relative in BLOCK_TIME_MODULES
            and "deployed" in item.fixturenames
            and item.get_closest_marker("postgres") is None
        ):
            item.add_marker(pytest.mark.blocktime)
        if relative.startswith(BESIDE_PATHS):
            item.add_marker(pytest.mark.beside)
    seconds = block_time(config)
    if seconds is None:
        skip = pytest.mark.skip(reason="runs on a block-time chain only: pytest --block-time 1")
        beside = pytest.mark.skip(reason=f"{BESIDE_ENV}=1: make test runs it in its beside pass")
        for item in items:
            marker = item.get_closest_marker("blocktime")
            if marker is not None and marker.kwargs.get("only"):
                item.add_marker(skip)
            if split == "1" and item.get_closest_marker("beside") is not None:
                item.add_marker(beside)
        if split == "only":
            _deselect(config, items, lambda item: item.get_closest_marker("beside") is not None)
        return
    if not config.pluginmanager.hasplugin("ape_test"):
        raise pytest.UsageError("--block-time needs ape's pytest plugin (it starts anvil)")
    _deselect(config, items, lambda item: item.get_closest_marker("blocktime") is not None)


def _rpc(provider, method: str, params: list | None = None):
    return provider.make_request(method, params or [])


@pytest.fixture(scope="session")
def anvil_mining(request: pytest.FixtureRequest, chain) -> int | None:
    """The block time anvil runs with (None: automine), checked against anvil itself."""
    seconds = block_time(request.config)
    provider = chain.provider
    if seconds is None:
        assert _rpc(provider, "anvil_getAutomine") is True, "anvil is not on automine"
        return None
    assert _rpc(provider, "anvil_getAutomine") is False, "anvil still mines on every transaction"
    assert _rpc(provider, "anvil_getIntervalMining") == seconds
    web3 = provider.web3
    start = web3.eth.block_number
    wait_for(
        f"two blocks mined on anvil's {seconds}s interval",
        lambda: web3.eth.block_number >= start + 2,
        3 * seconds + 10,
        interval=0.1,
    )
    for number in (start + 1, start + 2):
        block = web3.eth.get_block(number)
        assert block["transactions"] == [], f"block {number} was mined for a transaction"
    _wait_for_receipts(request)
    return seconds


def _wait_for_receipts(request: pytest.FixtureRequest) -> None:
    """ape's send_transaction returns a pending receipt without waiting when its provider says
    automine is off; reporting automine makes it wait for the receipt. The property's only
    other reader is ape's fixture isolation, which then judges a fixture by whether a block was
    mined while it was set up: right, now that each of ape's transactions waits for its block
    (a block mined by the interval alone only makes it revert more than it needs to)."""
    from ape_foundry.provider import FoundryProvider

    patch = pytest.MonkeyPatch()
    patch.setattr(FoundryProvider, "auto_mine", property(lambda self: True))
    request.addfinalizer(patch.undo)
