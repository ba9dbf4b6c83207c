"""Fixtures for the ape script tests: the scripts run against an anvil this module starts on a
free port (`--network ethereum:local:http://127.0.0.1:PORT`, ape's node provider, as `make run`
uses it), some as real `ape run ...` subprocesses, the rest in-process through the same click
commands (see ApeRun). Deployment files go to a temporary directory
(USHK_DEPLOYMENTS_DIR), never to the project's deployments/.

Chain state is read back independently of the scripts, with web3.py and the compiled ABI.
Accounts (anvil's dev accounts): 0 admin/deployer, 1 minter, 2 pauser, 3 compliance, 4 attestor,
5 upgrader, 6-9 holders.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from wait_support import stop_process

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RUN_TIMEOUT = 120  # seconds for one `ape run`


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ape_executable() -> str:
    local = Path(sys.executable).parent / "ape"
    found = str(local) if local.exists() else shutil.which("ape")
    if not found:
        pytest.fail("the `ape` command is not installed (run `make install`)")
    return found


def _tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(ROOT / ".tools" / "bin"), str(Path(sys.executable).parent), env.get("PATH", "")]
    )
    env.setdefault("SOLCX_BINARY_PATH", str(ROOT / ".tools" / "solcx"))
    return env


@pytest.fixture(scope="session")
def anvil_url():
    """An anvil on a free port on 127.0.0.1 for the whole session; stopped by its pid."""
    env = _tool_env()
    anvil = shutil.which("anvil", path=env["PATH"])
    if anvil is None:
        pytest.fail("anvil is not installed (run `make install`)")
    port = _free_port()
    proc = subprocess.Popen(
        [anvil, "--port", str(port), "--host", "127.0.0.1", "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.poll() is not None else "timeout"
                proc.kill()
                pytest.fail(f"anvil did not start on port {port}: {err}")
            time.sleep(0.1)
    yield url
    stop_process(proc, timeout=10)


@pytest.fixture(scope="session")
def w3(anvil_url):
    from web3 import HTTPProvider, Web3

    return Web3(HTTPProvider(anvil_url))


@pytest.fixture(scope="session")
def compiled_abi():
    """name -> ABI from ape's compiled manifest (.build/__local__.json)."""
    build = ROOT / ".build" / "__local__.json"
    if not build.exists():
        pytest.fail(".build/__local__.json is missing: run `ape compile` (make compile) first")
    types = json.loads(build.read_text())["contractTypes"]
    return {name: ct["abi"] for name, ct in types.items()}


@dataclass
class RunResult:
    returncode: int
    stdout: str
    output: str  # stdout and stderr


@dataclass
class ApeRun:
    """Runs a USHK script command against the test anvil: `ape_run("mint", "mint", ...)`.

    By default in this process, through the script's click group (`scripts.<name>.cli`) exactly as
    `ape run` dispatches to it, connecting with `--network ethereum:local:<the test anvil>` and
    sending real transactions (ape's start-up costs ~3 s a process, so most calls stay in-process).
    With `real=True`, as an `ape run ...` subprocess, the way an operator runs it.
    """

    url: str
    deployments: Path
    ape: str
    env: dict

    @property
    def network_args(self) -> list[str]:
        return ["--network", f"ethereum:local:{self.url}"]

    def __call__(self, *args: str, real: bool = False, network: bool = True, deployments: Path | None = None):
        argv = [*args, *(self.network_args if network else [])]
        directory = str(deployments or self.deployments)
        if real:
            env = dict(self.env, USHK_DEPLOYMENTS_DIR=directory)
            proc = subprocess.run(
                [self.ape, "run", *argv],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
            )
            return RunResult(proc.returncode, proc.stdout, proc.stdout + proc.stderr)
        import importlib
        import traceback

        from click.testing import CliRunner

        module = importlib.import_module(f"scripts.{args[0]}")
        result = CliRunner().invoke(
            module.cli, argv[1:], env={"USHK_DEPLOYMENTS_DIR": directory}, prog_name=f"ape run {args[0]}"
        )
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            output += "".join(traceback.format_exception(result.exception))
            return RunResult(result.exit_code or 1, result.stdout, output)
        return RunResult(result.exit_code, result.stdout, output)

    def ok(self, *args: str, **kwargs) -> RunResult:
        res = self(*args, **kwargs)
        assert res.returncode == 0, f"`ape run {' '.join(args)}` failed ({res.returncode}):\n{res.output}"
        return res

    def fails(self, *args: str, code: int | None = None, **kwargs) -> RunResult:
        res = self(*args, **kwargs)
        assert res.returncode != 0, f"`ape run {' '.join(args)}` should have failed:\n{res.output}"
        if code is not None:
            assert res.returncode == code, res.output
        assert "Traceback" not in res.output, f"an error should be a message, not a traceback:\n{res.output}"
        return res

    def deployment(self) -> dict:
        return json.loads((self.deployments / "local.json").read_text())


@pytest.fixture(scope="session")
def ape_run(anvil_url, tmp_path_factory):
    return ApeRun(
        url=anvil_url,
        deployments=tmp_path_factory.mktemp("deployments"),
        ape=_ape_executable(),
        env=_tool_env(),
    )


@pytest.fixture(scope="session")
def dev_accounts():
    """Addresses of anvil's first ten dev accounts."""
    from ape import accounts

    return [a.address for a in accounts.test_accounts[:10]]


@pytest.fixture(scope="session")
def deploy_token_args():
    """The arguments of `ape run deploy token` (a function of the dev accounts and the minter's
    allowance and per-mint maximum)."""
    return _deploy_token_args


def _deploy_token_args(accounts, *, allowance: str, max_per_mint: str) -> list[str]:
    """`ape run deploy token` with every role on its own dev account (2-6) and a minter on the
    first test account, attested at US$1,000,000.00."""
    return [
        "deploy", "token",
        "--pauser", accounts[2], "--compliance", accounts[3],
        "--attestor", accounts[4], "--upgrader", accounts[5], "--anchorer", accounts[6],
        "--minter", "TEST::1", "--minter-allowance", allowance, "--max-per-mint", max_per_mint,
        "--max-attestation-age", "3600", "--attest", "1000000.00",
    ]  # fmt: skip
