"""`ushk monitor findings|verify|export` on a store file: --json is one JSON document on stdout
(service/cli/common.py), export and verify draw no progress bar when stderr is not a terminal."""

from __future__ import annotations

import json

from click.testing import CliRunner
from mon_support import EveryKind, EverySecond, obs

from service.cli import cli
from service.monitor.engine import Engine
from service.monitor.log import FindingsLog
from service.monitor.store import Store


def monitor(*args: str):
    return CliRunner(mix_stderr=False).invoke(cli, ["monitor", *args])


def test_findings_verify_and_export(store_url, key, key_file, tmp_path):
    store = Store(store_url)
    engine = Engine(store, [EveryKind(), EverySecond()])
    for n in range(1, 6):
        engine.process(obs(n, value=n * 1_000_000))
    FindingsLog(store, key).sign_head()
    store.dispose()

    listed = monitor("findings", "--database", store_url, "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["seq"] for r in rows] == list(range(7))  # 5 of test.every, 2 of test.second
    assert [r["details"]["amount"] for r in rows if r["rule"] == "test.every"] == [
        n * 1_000_000 for n in range(1, 6)
    ]
    text = monitor("findings", "--database", store_url).stdout.splitlines()
    assert len(text) == 7 and text[0].split()[:3] == ["0", rows[0]["severity"], "test.every"]
    high = json.loads(monitor("findings", "--database", store_url, "--severity", "high", "--json").stdout)
    assert high == []

    checked = monitor("verify", "--database", store_url, "--key-file", str(key_file), "--json")
    assert checked.exit_code == 0 and checked.stderr == ""
    assert json.loads(checked.stdout) == {"ok": True, "findings": 7, "heads": 1, "problems": []}
    assert monitor("verify", "--database", store_url, "--key-file", str(key_file)).stdout == (
        "ok  7 findings, 1 signed heads\n"
    )

    out = tmp_path / "findings.jsonl"
    exported = monitor("export", "--database", store_url, "--output", str(out))
    assert exported.exit_code == 0 and exported.stdout == "" and exported.stderr == ""
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows
    piped = monitor("export", "--database", store_url, "--format", "csv", "--no-progress")
    assert piped.stderr == "" and len(piped.stdout.splitlines()) == 8
