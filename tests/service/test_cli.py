"""The `ushk` command line."""

from __future__ import annotations

import json

from click.testing import CliRunner

from service.cli import cli
from service.client import BankClient
from service.deposits.signing import public_key_b64
from svc_support import confirmation, server_env


def run(env, *args, input=None):
    result = CliRunner().invoke(cli, list(args), env=server_env(env.settings), input=input)
    return result


def test_bank_lifecycle_from_the_cli(live):
    env, url = live
    result = run(env, "bank", "add", "dbs", "--generate-key", "--single-max", "5000", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    client = BankClient(
        url, api_key=created["api_key"], key_id=created["key_id"], private_key=created["private_key_seed"]
    )
    assert client.submit(confirmation("C-1")).status_code == 201

    listing = json.loads(run(env, "bank", "list", "--json").output)
    assert listing[0]["name"] == "dbs" and listing[0]["single_max"] == "5000.00"

    new_seed = bytes(range(32))
    result = run(
        env,
        "bank",
        "rotate-key",
        "dbs",
        "--public-key",
        public_key_b64(new_seed),
        "--key-id",
        "k2",
        "--retire",
        created["key_id"],
    )
    assert result.exit_code == 0, result.output
    assert client.submit(confirmation("C-2")).json()["error"]["code"] == "key_retired"
    rotated = BankClient(url, api_key=created["api_key"], key_id="k2", private_key=new_seed)
    assert rotated.submit(confirmation("C-2")).status_code == 201

    shown = run(env, "deposits", "show", "C-2", "--bank", "dbs")
    assert json.loads(shown.output)["status"] == "accepted"
    listed = run(env, "deposits", "list", "--json")
    assert [d["reference"] for d in json.loads(listed.output)] == ["C-1", "C-2"]

    quota = run(
        env,
        "quota",
        "show",
        "--id-type",
        "prc_id",
        "--category",
        "mainland",
        "--json",
        input="110105194912310021\n",
    )
    assert quota.exit_code == 0, quota.output
    assert json.loads(quota.output[quota.output.index("{") :])["held"] == "2000.00"

    assert run(env, "bank", "disable", "dbs").exit_code == 0
    response = rotated.submit(confirmation("C-3"))
    assert response.status_code == 403 and response.json()["error"]["code"] == "bank_disabled"

    verified = run(env, "audit", "verify")
    assert verified.exit_code == 0 and "audit chain OK" in verified.output


def test_cli_errors_are_clean(env):
    result = run(env, "bank", "disable", "nobody")
    assert result.exit_code != 0 and "bank_not_found" in result.output
    result = run(env, "bank", "add", "Bad Name")
    assert result.exit_code != 0 and "invalid_bank_input" in result.output
    result = run(env, "bank", "add", "x", "--single-max", "1e3")
    assert result.exit_code == 2


def test_operator_api(live):
    env, url = live
    import httpx

    result = run(env, "operator", "add", "alice")
    token = result.output.split("token (shown once): ")[1].strip()
    headers = {"Authorization": f"Bearer {token}"}
    response = httpx.post(
        f"{url}/v1/operator/banks",
        headers=headers,
        json={"name": "boc", "public_key": public_key_b64(bytes(32)), "daily_limit": "100000.00"},
    )
    assert response.status_code == 201, response.text
    api_key = response.json()["api_key"]
    # Bank keys are not operator tokens and vice versa.
    assert (
        httpx.get(f"{url}/v1/operator/banks", headers={"Authorization": f"Bearer {api_key}"}).status_code
        == 401
    )
    assert httpx.get(f"{url}/v1/bank", headers=headers).status_code == 401
    assert httpx.get(f"{url}/v1/bank", headers={"Authorization": f"Bearer {api_key}"}).json()["name"] == "boc"
    response = httpx.post(f"{url}/v1/operator/banks/boc/disable", headers=headers)
    assert response.json()["active"] is False
    verify = httpx.post(f"{url}/v1/audit/verify", headers=headers).json()
    assert verify["ok"] is True
    head = httpx.get(f"{url}/v1/audit/head").json()
    assert head["seq"] == verify["head_seq"]
    assert run(env, "operator", "revoke", "alice").exit_code == 0
    assert httpx.get(f"{url}/v1/operator/banks", headers=headers).status_code == 401
