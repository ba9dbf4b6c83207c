"""`ushk dev fund ADDRESS AMOUNT` (`make fund`): an address funded on a local chain through the
real deposit flow as the demo bank, so the reconciler finds the supply backed; refused on any
other chain, with a clear error."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from click.testing import CliRunner

from service.cli import cli
from service.reserves.reconciler import Reconciler
from wait_support import join


def _demo_file(tmp_path, handle, service_url, rpc_url):
    path = tmp_path / "demo-bank.json"
    path.write_text(
        json.dumps(
            {
                "bank": handle.name,
                "api_key": handle.api_key,
                "key_id": handle.key_id,
                "private_key_seed": handle.seed.hex(),
                "service_url": service_url,
                "rpc_url": rpc_url,
            }
        )
    )
    return path


def test_fund_mints_through_the_deposit_flow_and_the_reconciler_stays_green(
    live, deployed, workers, tmp_path
):
    env, url = live
    minter, _attestor = workers
    handle = env.add_bank("demo-bank")
    demo = _demo_file(tmp_path, handle, url, deployed.rpc_url)
    holder = deployed.holders[0].address
    token = deployed.token()
    before = token.balance_of(holder)
    stop = threading.Event()
    thread = threading.Thread(target=minter.run, args=(stop,))
    thread.start()
    try:
        result = CliRunner().invoke(cli, ["dev", "fund", holder, "1250.50", "--demo-bank", str(demo)])
    finally:
        stop.set()
        join(thread, timeout=60)
    assert result.exit_code == 0, result.output
    assert "accepted" in result.output and "minted in 0x" in result.output
    assert token.balance_of(holder) - before == 1_250_500_000
    second = CliRunner().invoke(cli, ["dev", "fund", holder, "1.00", "--demo-bank", str(demo), "--no-wait"])
    assert second.exit_code == 0 and "accepted" in second.output, second.output
    minter.drain()
    assert "error" not in token.w3.provider.make_request("evm_mine", [])  # the pass reads below the head
    passed = Reconciler(env.db, token, from_block=deployed.from_block).reconcile_once()
    assert passed.ok and not passed.halted, passed.findings
    assert passed.supply_units == token.total_supply() and passed.supply_units >= 1_251_500_000


class _ChainOne(BaseHTTPRequestHandler):
    chain_id = "0x1"

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": self.chain_id}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_fund_refuses_any_chain_but_a_local_one(env, tmp_path):
    handle = env.add_bank("demo-bank")
    remote = _demo_file(tmp_path, handle, "http://127.0.0.1:1", "https://mainnet.example/rpc")
    result = CliRunner().invoke(cli, ["dev", "fund", "0x" + "11" * 20, "5.00", "--demo-bank", str(remote)])
    assert result.exit_code == 1 and "local chain only" in result.output and "loopback" in result.output
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChainOne)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    try:
        rpc = f"http://127.0.0.1:{server.server_address[1]}"
        mainnet = _demo_file(tmp_path, handle, "http://127.0.0.1:1", rpc)
        result = CliRunner().invoke(
            cli, ["dev", "fund", "0x" + "11" * 20, "5.00", "--demo-bank", str(mainnet)]
        )
    finally:
        server.shutdown()
        join(serving, timeout=10)
    assert (
        result.exit_code == 1 and "chain id 31337 or 1337" in result.output and "is chain 1" in result.output
    )
    missing = CliRunner().invoke(
        cli, ["dev", "fund", "0x" + "11" * 20, "5.00", "--demo-bank", str(tmp_path / "none.json")]
    )
    assert missing.exit_code == 1 and "make run" in missing.output
    bad = CliRunner().invoke(cli, ["dev", "fund", "0x12", "5.00", "--demo-bank", str(mainnet)])
    assert bad.exit_code == 2 and "ADDRESS" in bad.output
    bad = CliRunner().invoke(cli, ["dev", "fund", "0x" + "11" * 20, "5.001", "--demo-bank", str(mainnet)])
    assert bad.exit_code == 2 and "AMOUNT" in bad.output


def test_the_mint_scripts_help_says_a_direct_mint_trips_the_reconciler():
    from scripts.mint import cli as mint_cli

    for args in (["--help"], ["mint", "--help"], ["mint-batch", "--help"]):
        shown = " ".join(CliRunner().invoke(mint_cli, args).output.split())
        assert "unbacked-mint halt" in shown and "ushk dev fund" in shown, (args, shown)


class _Anvil(_ChainOne):
    chain_id = hex(31337)


def test_fund_says_why_the_service_refused_or_did_not_mint(live, tmp_path):
    env, url = live
    handle = env.add_bank("demo-bank")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Anvil)
    serving = threading.Thread(target=server.serve_forever)
    serving.start()
    try:
        rpc = f"http://127.0.0.1:{server.server_address[1]}"
        demo = _demo_file(tmp_path, handle, url, rpc)
        address = "0x" + "22" * 20
        too_much = CliRunner().invoke(cli, ["dev", "fund", address, "2000000.00", "--demo-bank", str(demo)])
        # no minter runs here: accepted, then still waiting when the time is up
        waiting = CliRunner().invoke(
            cli, ["dev", "fund", address, "3.00", "--demo-bank", str(demo), "--timeout", "0.5"]
        )
        handle.api_key += "x"
        wrong_key = _demo_file(tmp_path, handle, url, rpc)
        refused = CliRunner().invoke(cli, ["dev", "fund", address, "3.00", "--demo-bank", str(wrong_key)])
    finally:
        server.shutdown()
        join(serving, timeout=10)
    assert too_much.exit_code == 1 and "the service refused the deposit" in too_much.output, too_much.output
    assert waiting.exit_code == 1 and "still accepted after 0.5s" in waiting.output, waiting.output
    assert refused.exit_code == 1 and "unauthenticated" in refused.output, refused.output
