"""The census of entry points (a pytest plugin, loaded by tests/conftest.py): which routes of
the HTTP API, which `ushk` commands and which commands of the Ape scripts the tests called.

What counts as a call:

* a route: a request that matched it (method and path template), whatever the answer, served
  by any app the tests build, in this process (the `live` server, LiveServer) or in a child
  process (`python -m service serve`): the plugin sets USHK_TEST_ROUTE_LOG to a file of its own
  and the app (service/app.py, RouteLogMiddleware) appends each route the first time that
  process serves it. `server_env` (tests/service/svc_support.py) passes the variable on to
  child processes.
* a `ushk` or Ape script command run in this process (CliRunner, or the scripts' click groups
  as tests/scripts/conftest.py's ApeRun calls them): the command's callback was invoked
  (through `click.Context.invoke`), so `--help` or a usage error alone does not count;
* one run as a child process (`python -m service ...`, `ushk ...`, `ape run <script> ...`): the
  command its arguments name (subprocess.Popen is watched; the arguments are resolved against
  the click groups at the end).

Requests and commands made by the tests in NOT_COUNTED are not counted: they are generated
(schemathesis calls every operation with whatever it makes up), which is no test of the entry
point. The census itself is tests/tools/test_entry_points.py, run last, and only when the
whole suite is selected.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
LOG_ENV = "USHK_TEST_ROUTE_LOG"
SCRIPTS = ("deploy", "roles", "mint", "redeem", "ops")
NOT_COUNTED = ("tests/service/test_openapi_fuzz.py",)
CENSUS_TEST = "tests/tools/test_entry_points.py::test_every_entry_point_is_exercised"


@dataclass
class Census:
    route_log: Path
    counting: bool = True
    commands: list[tuple[click.Command, tuple[str, ...]]] = field(default_factory=list)
    argv: list[tuple[str, ...]] = field(default_factory=list)
    collected_files: set[str] = field(default_factory=set)
    deselected: int = 0
    skipped: int = 0
    ape_plugin: bool = True
    forced: bool = False  # --census: over whatever this run selected

    # ---- what the tests called --------------------------------------------------------------

    def called_routes(self) -> set[str]:
        if not self.route_log.exists():
            return set()
        return {line.strip() for line in self.route_log.read_text().splitlines() if line.strip()}

    def called_commands(self) -> set[str]:
        roots = command_roots()
        names = {id(group): name for name, group in roots.items()}
        called = set()
        for root, path in self.commands:
            if id(root) in names:
                called.add(" ".join([names[id(root)], *path]))
        for argv in self.argv:
            resolved = resolve_argv(argv, roots)
            if resolved is not None:
                called.add(resolved)
        return called

    # ---- whether this run is the whole suite ------------------------------------------------

    def subset_reason(self) -> str | None:
        if self.forced:
            return None
        if not self.ape_plugin:
            return "ape's pytest plugin is off (-p no:ape_test), so the chain tests do not run"
        if self.deselected:
            return f"{self.deselected} tests were deselected (-k, -m, --deselect, --lf, --block-time)"
        missing = sorted(test_files() - self.collected_files)
        if missing:
            shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
            return f"{len(missing)} test files were not collected ({shown})"
        return None


def test_files() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")}


# ---- the entry points -----------------------------------------------------------------------


def command_roots() -> dict[str, click.Group]:
    """ "ushk" and "ape run <script>" -> the click group."""
    import importlib

    from service.cli import cli

    roots = {"ushk": cli}
    for script in SCRIPTS:
        roots[f"ape run {script}"] = importlib.import_module(f"scripts.{script}").cli
    return roots


def all_commands() -> set[str]:
    def walk(group: click.Group, path: list[str]):
        for name, command in group.commands.items():
            if command.name != name:
                continue  # an alias (`ushk banks` of `ushk bank`): its commands are counted once
            if isinstance(command, click.Group):
                yield from walk(command, [*path, name])
            else:
                yield " ".join([*path, name])

    return {f"{root} {path}" for root, group in command_roots().items() for path in walk(group, [])}


def all_routes() -> set[str]:
    """ "METHOD /path/template" of every route of the app (HEAD only where it is not GET's)."""
    from starlette.routing import Route

    from service.app import create_app
    from service.config import Settings

    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{directory}/census.db",
            id_hmac_secret="census-" * 8,
            webhook_signing_key="census-" * 8,
            policy_file=ROOT / "config" / "policy.demo.yaml",
            test_route_log=None,
        )
        app = create_app(settings)
        try:  # FastAPI >= 0.160 keeps included routers whole; their routes are served as they are
            from fastapi.routing import iter_route_contexts

            originals = [context.original_route for context in iter_route_contexts(app.routes)]
        except ImportError:
            originals = list(app.routes)
        routes = set()
        for route in originals:
            if not isinstance(route, Route):
                continue
            methods = set(route.methods or ())
            if "GET" in methods:
                methods.discard("HEAD")
            routes.update(f"{method} {route.path}" for method in methods)
        app.state.ushk.db.dispose()
    return routes


def resolve_argv(argv: tuple[str, ...], roots: dict[str, click.Group]) -> str | None:
    """The command a child process's arguments run, "ushk bank add" or "ape run ops status";
    None for any other program."""
    args = list(argv)
    if "-m" in args[:-1] and args[args.index("-m") + 1] == "service":
        root, rest = "ushk", args[args.index("-m") + 2 :]
    elif args and Path(args[0]).name == "ushk":
        root, rest = "ushk", args[1:]
    elif len(args) > 2 and Path(args[0]).name == "ape" and args[1] == "run" and f"ape run {args[2]}" in roots:
        root, rest = f"ape run {args[2]}", args[3:]
    else:
        return None
    command: click.Command = roots[root]
    path = []
    for arg in rest:
        if not isinstance(command, click.Group):
            break
        if arg in command.commands:
            command = command.commands[arg]
            path.append(arg)
        elif not arg.startswith("-"):
            break
    if isinstance(command, click.Group):
        return None
    return " ".join([root, *path])


# ---- recording ------------------------------------------------------------------------------

_census: Census | None = None


def census() -> Census:
    assert _census is not None, "the entry point census plugin is not configured"
    return _census


def _install_recorders(state: Census) -> pytest.MonkeyPatch:
    patch = pytest.MonkeyPatch()
    invoke = click.Context.invoke
    popen_init = subprocess.Popen.__init__

    def recording_invoke(self, callback, *args, **kwargs):
        # a command's own callback (click's Command.invoke and ape's ConnectedProviderCommand
        # both call it through Context.invoke)
        command = self.command
        if state.counting and callback is command.callback and not isinstance(command, click.Group):
            path, context = [], self
            while context.parent is not None:
                path.append(context.info_name)
                context = context.parent
            state.commands.append((context.command, tuple(reversed(path))))
        return invoke(self, callback, *args, **kwargs)

    def recording_popen_init(self, args, *rest, **kwargs):
        if state.counting and isinstance(args, (list, tuple)):
            state.argv.append(tuple(str(arg) for arg in args))
        popen_init(self, args, *rest, **kwargs)

    patch.setattr(click.Context, "invoke", recording_invoke)
    patch.setattr(subprocess.Popen, "__init__", recording_popen_init)
    return patch


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--census",
        action="store_true",
        help="run the census of entry points (tests/tools/test_entry_points.py) even when only part "
        "of the suite is selected: it lists the entry points the selected tests leave uncalled",
    )


def pytest_configure(config: pytest.Config) -> None:
    global _census
    handle, name = tempfile.mkstemp(prefix="ushk-routes-", suffix=".log")
    os.close(handle)
    _census = Census(route_log=Path(name), forced=config.getoption("--census"))
    os.environ[LOG_ENV] = name
    config.stash[_patch_key] = _install_recorders(_census)


_patch_key = pytest.StashKey[pytest.MonkeyPatch]()


def pytest_unconfigure(config: pytest.Config) -> None:
    global _census
    patch = config.stash.get(_patch_key, None)
    if patch is not None:
        patch.undo()
    if _census is not None:
        os.environ.pop(LOG_ENV, None)
        _census.route_log.unlink(missing_ok=True)
        _census = None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """The census runs last; remember what this run selected."""
    state = census()
    state.ape_plugin = config.pluginmanager.hasplugin("ape_test")
    state.collected_files = {
        Path(os.path.relpath(Path(str(item.path)).resolve(), ROOT)).as_posix() for item in items
    }
    last = [item for item in items if item.nodeid == CENSUS_TEST]
    if last:
        items[:] = [item for item in items if item.nodeid != CENSUS_TEST] + last


def pytest_deselected(items: list[pytest.Item]) -> None:
    census().deselected += len(items)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and report.when in ("setup", "call"):
        census().skipped += 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """The tests in NOT_COUNTED run with nothing recorded (the route log unset while they
    build their apps)."""
    relative = Path(os.path.relpath(Path(str(item.path)).resolve(), ROOT)).as_posix()
    if relative not in NOT_COUNTED:
        return (yield)
    state = census()
    state.counting = False
    value = os.environ.pop(LOG_ENV, None)
    try:
        return (yield)
    finally:
        state.counting = True
        if value is not None:
            os.environ[LOG_ENV] = value


@pytest.fixture
def entry_point_census() -> Census:
    return census()
