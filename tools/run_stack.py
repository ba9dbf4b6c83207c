"""`make run`: anvil on 127.0.0.1:8545, USHK deployed, the reserve service's API on 127.0.0.1:8000
and its background workers (minter, redemption watcher, reconciler) as a second process, the
supervisors' monitor (`ushk monitor run`, its own key and database, reading only the chain and
the service's public endpoints) on 127.0.0.1:8700 as a third, and the attestor (`ushk attestor
run`, the only ATTESTOR_ROLE key, checking the banks' signed custody statements against the
keys it pinned) as a fourth.

Each run starts from a fresh chain, so the service's SQLite database (var/ushk.db) starts fresh
too. Keys (anvil's dev accounts): 0 is admin and compliance, and proposes, executes and cancels
upgrades through the TimelockController that holds UPGRADER_ROLE (a 60-second delay here), held
by no process (the deploy and the Ape scripts use it); 1 the minter (the workers process); 2 the attestor (the
attestor process alone); 3 anchors the audit log's heads and 4 pauses (the workers process). A
demo bank is registered, signs a custody statement of its reserve account, and its credentials
and signing key are written to var/demo-bank.json for `make demo`. Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
ANVIL_PORT = int(os.environ.get("USHK_ANVIL_PORT", "8545"))
SERVICE_PORT = int(os.environ.get("USHK_SERVICE_PORT", "8000"))
MONITOR_PORT = int(os.environ.get("USHK_MONITOR_PORT", "8700"))
RPC_URL = f"http://127.0.0.1:{ANVIL_PORT}"
SERVICE_URL = f"http://127.0.0.1:{SERVICE_PORT}"
MONITOR_URL = f"http://127.0.0.1:{MONITOR_PORT}"
# anvil's default dev accounts (mnemonic "test test ... junk"): public, for local use only
MINTER_ALLOWANCE_USD = "1000000000000.00"
DEV_ACCOUNTS = [
    (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
    (
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ),
    (
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    ),
    (
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    ),
]
ADMIN, MINTER, ATTESTOR, ANCHORER, PAUSER = range(5)  # indexes into DEV_ACCOUNTS
# What the demo bank's signed custody statement shows: room for every demo deposit.
DEMO_CUSTODY_USD = "100000000.00"


# The API process runs none of the background workers (see Stack.start_workers).
WORKERS_OFF = {
    "USHK_MINTER_ENABLED": "false",
    "USHK_REDEMPTION_WATCHER_ENABLED": "false",
    "USHK_RECONCILER_ENABLED": "false",
    "USHK_ATTEST_INTERVAL_SECONDS": "0",
    "USHK_WEBHOOKS_IN_PROCESS": "false",
    "USHK_LOG_PUBLISHER_ENABLED": "false",
}


def say(message: str) -> None:
    print(f"\033[1mrun:\033[0m {message}", flush=True)


def fail(message: str) -> None:
    print(f"run: error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check, what: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            fail(f"{what} exited with code {process.returncode}")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)
    fail(f"{what} did not come up within {timeout:.0f}s")


def service_env(var: Path, rpc_url: str, token: str) -> dict[str, str]:
    """The service's USHK_* settings: SQLite in `var`, the dev minter, anchor and pauser keys
    (never the admin's or the attestor's)."""
    secrets_file = var / "secrets.json"
    if not secrets_file.exists():
        secrets_file.write_text(
            json.dumps(
                {
                    "id_hmac_secret": secrets.token_urlsafe(48),
                    "webhook_signing_key": secrets.token_urlsafe(48),
                    "log_signing_key": secrets.token_hex(32),
                }
            )
        )
        secrets_file.chmod(0o600)
    kept = json.loads(secrets_file.read_text())
    if "log_signing_key" not in kept:  # a var/ from before the transparency log
        kept["log_signing_key"] = secrets.token_hex(32)
        secrets_file.write_text(json.dumps(kept))
    env = {k: v for k, v in os.environ.items() if not k.startswith("USHK_")}
    env.update(
        USHK_DATABASE_URL=f"sqlite:///{var / 'ushk.db'}",
        USHK_ID_HMAC_SECRET=kept["id_hmac_secret"],
        USHK_WEBHOOK_SIGNING_KEY=kept["webhook_signing_key"],
        USHK_POLICY_FILE=str(ROOT / "config" / "policy.demo.yaml"),
        USHK_RPC_URL=rpc_url,
        USHK_TOKEN_ADDRESS=token,
        USHK_DEPLOYMENT_FILE=str(var / "deployments" / "local.json"),
        USHK_MINTER_PRIVATE_KEY=DEV_ACCOUNTS[MINTER][1],
        # the transparency log: heads signed with the log key, anchored on chain by account 3
        USHK_LOG_SIGNING_KEY=kept["log_signing_key"],
        USHK_ANCHOR_PRIVATE_KEY=DEV_ACCOUNTS[ANCHORER][1],
        USHK_LOG_ANCHOR_SECONDS="60",
        USHK_MINTER_ENABLED="true",
        USHK_WEBHOOKS_IN_PROCESS="true",
        # redemptions on chain become payouts; anvil mines each transaction at once and never
        # reorganises, so no confirmation depth is needed here
        USHK_REDEMPTION_WATCHER_ENABLED="true",
        USHK_REDEMPTION_CONFIRMATIONS="0",
        # the reserve reconciler runs in the service; a discrepancy halts minting and, with the
        # pauser key (account 4, PAUSER_ROLE only), pauses it on chain
        USHK_RECONCILER_ENABLED="true",
        USHK_PAUSER_PRIVATE_KEY=DEV_ACCOUNTS[PAUSER][1],
    )
    return env


def attestor_env(var: Path, rpc_url: str, token: str, database_url: str) -> dict[str, str]:
    """The attestor's own settings: its key, its pinned bank keys (var/attestor-bank-keys.json),
    the service's database to read and the chain; none of the service's keys or secrets (the
    two secrets every process's settings ask for are its own random values, used for nothing)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("USHK_")}
    env.update(
        USHK_DATABASE_URL=database_url,
        USHK_ID_HMAC_SECRET=secrets.token_urlsafe(48),
        USHK_WEBHOOK_SIGNING_KEY=secrets.token_urlsafe(48),
        USHK_POLICY_FILE=str(ROOT / "config" / "policy.demo.yaml"),
        USHK_RPC_URL=rpc_url,
        USHK_TOKEN_ADDRESS=token,
        USHK_ATTESTOR_PRIVATE_KEY=DEV_ACCOUNTS[ATTESTOR][1],
        USHK_ATTESTOR_BANK_KEYS_FILE=str(var / "attestor-bank-keys.json"),
        # it looks every second; attests when the reserves change (at most every 2 s when they
        # rise), and at least every 10 minutes
        USHK_ATTESTOR_POLL_SECONDS="1",
        USHK_ATTEST_INTERVAL_SECONDS="600",
    )
    return env


# anvil mines each transaction at once (automine) and, besides, an empty block every second:
# the reserve reconciler reads the chain one block below the head, so on a quiet chain the last
# transaction would otherwise wait for the next one to be seen.
ANVIL_ARGS = ("--block-time", "1", "--mixed-mining")


class Stack:
    """anvil + USHK + the service, each a child process; `make run` and the benchmarks use it."""

    def __init__(
        self,
        var: Path,
        anvil_port: int,
        service_port: int,
        *,
        anvil_args: tuple[str, ...] = ANVIL_ARGS,
        monitor_port: int | None = None,
    ):
        self.var = var
        self.rpc_url = f"http://127.0.0.1:{anvil_port}"
        self.service_url = f"http://127.0.0.1:{service_port}"
        self.anvil_port = anvil_port
        self.service_port = service_port
        self.anvil_args = anvil_args
        self.monitor_port = monitor_port  # None: no monitor (the benchmarks start their own)
        self.monitor_url = None if monitor_port is None else f"http://127.0.0.1:{monitor_port}"
        self.processes: list[subprocess.Popen] = []
        self.workers: subprocess.Popen | None = None
        self.attestor: subprocess.Popen | None = None
        self.monitor: subprocess.Popen | None = None
        self.deployment: dict = {}
        self.env: dict[str, str] = {}
        self.demo_bank: dict = {}

    def start(self) -> None:
        ports = (self.anvil_port, self.service_port)
        for port in (*ports, self.monitor_port) if self.monitor_port is not None else ports:
            if port_in_use(port):
                fail(
                    f"127.0.0.1:{port} is in use (another `make run`?); stop it first, or set "
                    "USHK_ANVIL_PORT / USHK_SERVICE_PORT / USHK_MONITOR_PORT"
                )
        anvil = shutil.which("anvil")
        if anvil is None:
            fail("anvil is not on PATH: run `make install` (it comes from npm @foundry-rs/anvil)")
        self.var.mkdir(parents=True, exist_ok=True)
        # a fresh chain and database: so is the log, and what `ushk verify` recorded of the last one
        for stale in (*self.var.glob("ushk.db*"), *self.var.glob("verify-state.json")):
            stale.unlink()
        say(f"starting anvil on {self.rpc_url} (log: {self.var / 'anvil.log'})")
        log = open(self.var / "anvil.log", "w")  # noqa: SIM115 - open for the process's lifetime
        self.processes.append(
            subprocess.Popen(
                [anvil, "--host", "127.0.0.1", "--port", str(self.anvil_port), *self.anvil_args],
                stdout=log,
                stderr=log,
            )
        )
        rpc = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}
        wait_for(
            lambda: httpx.post(self.rpc_url, json=rpc, timeout=1).status_code == 200,
            "anvil",
            self.processes[0],
        )
        self._deploy()
        self.env = service_env(self.var, self.rpc_url, self.deployment["token"])
        if self.monitor_url is not None:
            self.env["USHK_MONITOR_URL"] = self.monitor_url  # the page shows its findings
        self._register_demo_bank()
        say(f"starting the reserve service on {self.service_url} (log: {self.var / 'service.log'})")
        log = open(self.var / "service.log", "w")  # noqa: SIM115 - open for the process's lifetime
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "service", "serve", "--no-migrate", "--port", str(self.service_port)],
                cwd=ROOT,
                env=self.api_env,
                stdout=log,
                stderr=log,
            )
        )
        health = f"{self.service_url}/healthz"
        wait_for(lambda: httpx.get(health, timeout=1).status_code == 200, "the service", self.processes[1])
        self._post_demo_statement()
        self.start_attestor()
        self.start_workers()
        if self.monitor_port is not None:
            self.start_monitor(self.monitor_port)

    def start_attestor(self, *, append: bool = False) -> None:
        """`ushk attestor pin-keys` (the demo bank's key, var/attestor-bank-keys.json), then
        `python -m service attestor run` as its own process (var/attestor.log): the only holder
        of the attestor's key; it attests what the demo bank's signed statement proves."""
        env = attestor_env(self.var, self.rpc_url, self.deployment["token"], self.env["USHK_DATABASE_URL"])
        subprocess.run(
            [sys.executable, "-m", "service", "attestor", "pin-keys"],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        say(f"starting the attestor, its own key and pinned bank keys (log: {self.var / 'attestor.log'})")
        log = open(self.var / "attestor.log", "a" if append else "w")  # noqa: SIM115 - for its lifetime
        self.attestor = subprocess.Popen(
            [sys.executable, "-m", "service", "attestor", "run"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        self.processes.append(self.attestor)

    def start_workers(self, **overrides: str) -> None:
        """`python -m service workers run` as its own process (var/workers.log), with these
        USHK_* settings changed: the minter, the redemption watcher, the reconciler and webhook
        delivery, outside the API process (see docs/performance.md, "The workers run in their own
        process"). Not the attestor: it is a process of its own (`start_attestor`)."""
        if self.workers is not None and self.workers.poll() is None:
            return
        say(
            f"starting the workers: minter, redemption watcher, reconciler, webhooks, "
            f"the audit log's publisher, the snapshotter "
            f"(log: {self.var / 'workers.log'})"
        )
        log = open(self.var / "workers.log", "a")  # noqa: SIM115 - open for the process's lifetime
        self.workers = subprocess.Popen(
            [sys.executable, "-m", "service", "workers", "run"],
            cwd=ROOT,
            env={**self.env, **overrides},
            stdout=log,
            stderr=log,
        )
        self.processes.append(self.workers)

    def start_monitor(self, port: int, **overrides: str) -> str:
        """`python -m service monitor run` (var/monitor.log): its own Ed25519 key
        (var/monitor.key, made once), its own store (var/monitor.db, fresh with the chain), the
        default rules (config/monitor-rules.yaml), reading the token from its deployment block
        and the service's public endpoints, with these USHK_MONITOR_* settings changed. The
        service's page shows its findings. Returns its URL."""
        if port_in_use(port):
            fail(f"127.0.0.1:{port} is in use (another `make run`?); stop it first, or set USHK_MONITOR_PORT")
        url = f"http://127.0.0.1:{port}"
        key = self.var / "monitor.key"
        if not key.exists():
            subprocess.run(
                [sys.executable, "-m", "service", "monitor", "keygen", "--key-file", str(key)],
                cwd=ROOT,
                check=True,
                stdout=subprocess.DEVNULL,
            )
        for stale in self.var.glob("monitor.db*"):
            stale.unlink()
        env = {k: v for k, v in self.env.items() if not k.startswith("USHK_")}
        env.update(
            USHK_MONITOR_RPC_URL=self.rpc_url,
            USHK_MONITOR_TOKEN_ADDRESS=self.deployment["token"],
            USHK_MONITOR_SERVICE_URL=self.service_url,
            USHK_MONITOR_DATABASE_URL=f"sqlite:///{self.var / 'monitor.db'}",
            USHK_MONITOR_KEY_FILE=str(key),
            USHK_MONITOR_FROM_BLOCK=str(self.deployment.get("deployment_block", 0)),
            USHK_MONITOR_LISTEN=f"127.0.0.1:{port}",
        )
        env.update(overrides)
        say(f"starting the supervisors' monitor on {url} (log: {self.var / 'monitor.log'})")
        self.monitor = self._serve_process("the monitor", "monitor.log", ["monitor", "run"], env, url)
        return url

    def start_public(self, port: int, *, nice: int = 10) -> str:
        """`python -m service serve --public-only` on `port` (var/public.log), niced: the public
        reads in a process of their own, beside the bank API. Returns its URL."""
        if port_in_use(port):
            fail(f"127.0.0.1:{port} is in use; the public process needs it")
        url = f"http://127.0.0.1:{port}"
        self._serve_process(
            "the public process",
            "public.log",
            ["serve", "--public-only", "--no-migrate", "--nice", str(nice), "--port", str(port)],
            self.api_env,
            url,
        )
        return url

    def _serve_process(
        self, what: str, log_name: str, args: list[str], env: dict[str, str], url: str
    ) -> subprocess.Popen:
        """`python -m service ARGS` logging to var/LOG_NAME, once `url`/healthz answers."""
        log = open(self.var / log_name, "w")  # noqa: SIM115 - open for the process's lifetime
        process = subprocess.Popen(
            [sys.executable, "-m", "service", *args], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        self.processes.append(process)
        wait_for(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, what, process)
        return process

    def stop_workers(self) -> None:
        """Stops the workers process (SIGINT: each worker finishes the step in hand)."""
        if self.workers is None:
            return
        workers, self.workers = self.workers, None
        if workers.poll() is None:
            workers.send_signal(signal.SIGINT)
            try:
                workers.wait(timeout=60)
            except subprocess.TimeoutExpired:
                workers.kill()
                workers.wait()
        self.processes.remove(workers)

    @property
    def api_env(self) -> dict[str, str]:
        """The API process's settings: the workers run in their own process."""
        return {**self.env, **WORKERS_OFF}

    def _deploy(self) -> None:
        say("deploying USHK (ape run deploy token)")
        deployments = self.var / "deployments"
        deploy = subprocess.run(
            [
                "ape",
                "run",
                "deploy",
                "token",
                "--network",
                f"ethereum:local:{self.rpc_url}",
                "--minter",
                DEV_ACCOUNTS[MINTER][0],
                "--minter-allowance",
                MINTER_ALLOWANCE_USD,
                "--attestor",
                DEV_ACCOUNTS[ATTESTOR][0],
                "--anchorer",
                DEV_ACCOUNTS[ANCHORER][0],
                "--pauser",
                DEV_ACCOUNTS[PAUSER][0],
                # upgrades go through the deployed TimelockController (UPGRADER_ROLE); a minute's
                # delay locally, so `ape run upgrade schedule/execute` can be tried in a session
                "--upgrade-delay",
                "60",
                "--admin-delay",
                "0",
                "--no-attest",
            ],
            cwd=ROOT,
            env={**os.environ, "USHK_DEPLOYMENTS_DIR": str(deployments)},
        )
        files = sorted(deployments.glob("*.json"))
        if deploy.returncode != 0 or not files:
            self.stop()
            fail(f"the deployment failed (exit {deploy.returncode}); see the output above")
        self.deployment = json.loads(files[0].read_text())

    def _register_demo_bank(self) -> None:
        ushk = [sys.executable, "-m", "service"]
        subprocess.run(
            [*ushk, "db", "upgrade"], cwd=ROOT, env=self.env, check=True, stdout=subprocess.DEVNULL
        )
        bank = subprocess.run(
            [*ushk, "bank", "add", "demo-bank", "--generate-key", "--json"],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        demo = json.loads(bank.stdout)
        demo.update(
            service_url=self.service_url,
            rpc_url=self.rpc_url,
            token=self.deployment["token"],
            monitor_url=self.monitor_url,
        )
        path = self.var / "demo-bank.json"
        path.write_text(json.dumps(demo, indent=2) + "\n")
        path.chmod(0o600)
        self.demo_bank = demo

    def _post_demo_statement(self) -> None:
        """The demo bank signs and posts a custody statement of its reserve account (through
        the API, as a bank does): what the attestor counts at most."""
        demo = self.demo_bank
        self.post_statement(demo["api_key"], demo["key_id"], demo["private_key_seed"])

    def post_statement(self, api_key: str, key_id: str, seed: str, balance: str = DEMO_CUSTODY_USD) -> None:
        """A bank's signed custody statement of `balance`, as of a minute ago, through the API."""
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from service.client import BankClient

        as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
        with BankClient(self.service_url, api_key=api_key, key_id=key_id, private_key=seed) as client:
            client.custody_statement(
                statement_id=f"CUST-{secrets.token_hex(6)}",
                balance=balance,
                as_of=as_of,
                account="USHK-RESERVE-001",
            )

    def restart_attestor(self) -> None:
        """Stops the attestor (SIGTERM), pins the banks' keys again and starts it: after banks
        were added (the attestor reads its pinned keys at start)."""
        if self.attestor is not None:
            attestor, self.attestor = self.attestor, None
            attestor.terminate()
            try:
                attestor.wait(timeout=30)
            except subprocess.TimeoutExpired:
                attestor.kill()
                attestor.wait()
            self.processes.remove(attestor)
        self.start_attestor(append=True)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    stack = Stack(VAR, ANVIL_PORT, SERVICE_PORT, monitor_port=MONITOR_PORT)

    def stop(*_args) -> None:
        stack.stop()
        say("stopped")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    stack.start()
    (ROOT / "deployments").mkdir(exist_ok=True)
    (ROOT / "deployments" / "local.json").write_text(json.dumps(stack.deployment, indent=2) + "\n")
    (VAR / "run.env").write_text(
        "".join(f"export {k}={v}\n" for k, v in stack.env.items() if k.startswith("USHK_"))
    )
    (VAR / "run.env").chmod(0o600)
    token = stack.deployment["token"]
    print(
        f"""
USHK is running.
  chain        {RPC_URL} (anvil, chain id {stack.deployment.get("chain_id")})
  token        {token} (deployments/local.json)
  service      {SERVICE_URL}
  API docs     {SERVICE_URL}/docs   (OpenAPI: {SERVICE_URL}/openapi.json)
  public page  {SERVICE_URL}/ (reserves against supply, live; no login)
  public log   {SERVICE_URL}/v1/transparency/sth (the signed head; `ushk verify` checks it)
  monitor      {MONITOR_URL}/v1/monitor/findings (the supervisors' monitor: its own signed log)
  demo bank    var/demo-bank.json (API key and Ed25519 signing key; its custody statement
               shows US$ {DEMO_CUSTODY_USD})
  keys         admin {DEV_ACCOUNTS[ADMIN][0]} (account 0): no process holds it (deploy, ape scripts);
               upgrades: the timelock {(stack.deployment.get("timelock") or {}).get("address", "-")} (60 s delay)
               minter {DEV_ACCOUNTS[MINTER][0]} (1), anchor (3), pauser (4): the workers process
               attestor {DEV_ACCOUNTS[ATTESTOR][0]} (2): the attestor process alone
               (pinned bank keys: var/attestor-bank-keys.json)
  logs         var/anvil.log, var/service.log, var/workers.log, var/attestor.log, var/monitor.log

Next: `make demo` in another terminal sends signed deposits as the demo bank;
      `. var/run.env && .venv/bin/ushk --help` is the operator CLI (same database and keys);
      `.venv/bin/ape run ops status --network ethereum:local:{RPC_URL}` shows the token's state.
Ctrl-C stops anvil, the service, its workers, the attestor and the monitor.
""",
        flush=True,
    )
    while stack.alive():
        time.sleep(1)
    say("a process exited; stopping (see var/*.log)")
    stack.stop()
    sys.exit(1)


if __name__ == "__main__":
    main()
