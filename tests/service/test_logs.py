"""Logs (docs/operations.md, "Logs"): human or JSON lines with the request id of each request,
taken from a valid X-Request-ID or made, returned in the answer's header; and no secret in any
line, in either format, whatever the requests carried and however they failed."""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys

import httpx
import pytest

from service.app import create_app
from service.banks import service as banks
from service.client import signed_request
from service.ops import logs
from svc_support import REPO, LiveServer, confirmation, free_port, server_env, wait_healthy
from wait_support import stop_process, wait_for

ID_NUMBER = "110105194912310021"
OTHER_ID = "A1234567"
CLIENT_LOGGERS = ("httpx", "httpcore")


@pytest.fixture(params=["human", "json"])
def captured(request):
    """(format, stream): every record of the test at DEBUG, formatted as the service does."""
    stream = io.StringIO()
    handler = logs.make_handler(request.param, threads=True, stream=stream)
    # the test's own HTTP client logs what it sends (URLs with their query strings): not the service
    handler.addFilter(lambda record: not record.name.startswith(CLIENT_LOGGERS))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield request.param, stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_no_secret_reaches_the_logs_in_either_format(env, captured):
    log_format, stream = captured
    handle = env.add_bank()
    with env.db.transaction() as session:
        operator_token = banks.create_operator(session, "ops", actor="test")[1]
    body = signed_request(confirmation("LOG-1", id_number=ID_NUMBER), handle.key_id, handle.seed)
    signature = body["signature"]
    secrets = [
        handle.api_key,
        operator_token,
        signature,
        ID_NUMBER,
        OTHER_ID,
        env.settings.id_hmac_secret.get_secret_value(),
    ]
    bank = {"Authorization": f"Bearer {handle.api_key}"}
    app = create_app(env.settings, env.db, policy=env.policy, clock=env.clock)
    with LiveServer(app) as server:
        url = server.url
        sent = [
            httpx.post(f"{url}/v1/deposits", json=body, headers=bank),  # accepted
            httpx.post(f"{url}/v1/deposits", json=body, headers=bank),  # replay
            httpx.post(
                f"{url}/v1/deposits", json={**body, "signature": signature[:-4] + "AAA="}, headers=bank
            ),
            httpx.post(
                f"{url}/v1/deposits", json=body, headers={"Authorization": f"Bearer {handle.api_key}x"}
            ),
            httpx.post(  # a conflicting confirmation under the same reference
                f"{url}/v1/deposits",
                json=signed_request(
                    confirmation("LOG-1", amount="2.00", id_number=OTHER_ID), handle.key_id, handle.seed
                ),
                headers=bank,
            ),
            httpx.post(  # over the quota
                f"{url}/v1/deposits",
                json=signed_request(
                    confirmation("LOG-2", amount="60000.00", id_number=ID_NUMBER), handle.key_id, handle.seed
                ),
                headers=bank,
            ),
            httpx.post(f"{url}/v1/deposits", content=f'{{"id_number": "{ID_NUMBER}"'.encode(), headers=bank),
            httpx.post(f"{url}/v1/deposits", content=json.dumps({**body, "extra": ID_NUMBER}), headers=bank),
            httpx.post(
                f"{url}/v1/deposits", content=b"x" * (env.settings.max_request_bytes + 1), headers=bank
            ),
            httpx.get(
                f"{url}/v1/quota",
                params={"id_type": "prc_id", "id_number": ID_NUMBER, "category": "mainland"},
                headers=bank,
            ),
            httpx.get(
                f"{url}/v1/quota",
                params={"id_type": "hkid", "id_number": OTHER_ID, "category": "nope"},
                headers=bank,
            ),
            httpx.get(f"{url}/v1/operator/banks", headers={"Authorization": f"Bearer {operator_token}"}),
            httpx.get(f"{url}/v1/operator/banks", headers={"Authorization": f"Bearer {operator_token}0"}),
            # a credential put where the request id goes is not taken as the id
            httpx.get(f"{url}/healthz", headers={"X-Request-ID": handle.api_key}),
            httpx.get(f"{url}/v1/deposits/NO-SUCH", headers={**bank, "X-Request-ID": operator_token}),
        ]
    statuses = [r.status_code for r in sent]
    assert statuses[:2] == [201, 200] and 401 in statuses and 409 in statuses and 413 in statuses, statuses
    assert 422 in statuses and statuses[11] == 200 and statuses[12] == 401, statuses
    last = sent[-1].headers["x-request-id"]
    wait_for("the last access line", lambda: last in stream.getvalue(), 10)
    text = stream.getvalue()
    assert "/v1/deposits" in text  # the requests were logged
    for secret in secrets:
        assert secret not in text, (log_format, secret)
    for response in sent:
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])  # made here: none was given
    if log_format == "json":
        lines = [json.loads(line) for line in text.splitlines() if line.strip()]
        assert all({"time", "level", "logger", "request_id", "message"} <= set(line) for line in lines)


def test_the_request_id_is_taken_or_made_returned_and_on_every_line(live, captured):
    log_format, stream = captured
    env, url = live
    handle = env.add_bank()
    bank = {"Authorization": f"Bearer {handle.api_key}"}
    body = signed_request(confirmation("RID-1"), handle.key_id, handle.seed)
    given = httpx.post(f"{url}/v1/deposits", json=body, headers={**bank, "X-Request-ID": "bank-req:42.a_b-c"})
    assert given.status_code == 201 and given.headers["x-request-id"] == "bank-req:42.a_b-c"
    for refused in ("has space", "x" * 65, "é", ""):
        answer = httpx.get(f"{url}/healthz", headers={"X-Request-ID": refused.encode("utf-8")})
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["x-request-id"]), refused
    made = httpx.get(f"{url}/v1/deposits/RID-1", headers=bank)
    rid = made.headers["x-request-id"]
    # the access line is written once the answer has gone out
    wait_for("the last access line", lambda: rid in stream.getvalue(), 10)
    text = stream.getvalue()
    if log_format == "json":
        lines = [json.loads(line) for line in text.splitlines()]
        mine = [line for line in lines if line["request_id"] == "bank-req:42.a_b-c"]
        assert any(
            line.get("route") == "/v1/deposits" and line.get("status") == 201 and line.get("method") == "POST"
            for line in mine
        ), mine
        assert [line["route"] for line in lines if line["request_id"] == rid] == ["/v1/deposits/{reference}"]
    else:
        assert re.search(r"\[bank-req:42\.a_b-c\] POST /v1/deposits 201 ", text), text
        assert f"[{rid}] GET /v1/deposits/RID-1 200 " in text


def test_a_request_id_is_on_lines_logged_inside_the_request():
    record = logging.makeLogRecord({"msg": "inside"})
    token = logs.REQUEST_ID.set("abc")
    try:
        logs.RequestIdFilter().filter(record)
        entry = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.REQUEST_ID.reset(token)
    assert entry["request_id"] == "abc" and entry["message"] == "inside"
    outside = logging.makeLogRecord({"msg": "outside"})
    logs.RequestIdFilter().filter(outside)
    assert outside.request_id == "-"


def test_serve_logs_json_with_USHK_LOG_FORMAT(env, tmp_path):
    variables = server_env(env.settings)
    variables.update(USHK_LOG_FORMAT="json", USHK_LOG_LEVEL="INFO")
    port = free_port()
    log_file = tmp_path / "serve.log"
    with open(log_file, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "service", "serve", "--no-migrate", "--port", str(port)],
            env=variables,
            cwd=str(REPO),
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        answer = httpx.get(
            f"{url}/v1/quota", params={"id_number": ID_NUMBER}, headers={"X-Request-ID": "cli-json-1"}
        )
        assert answer.headers["x-request-id"] == "cli-json-1"
    finally:
        stop_process(process)
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    assert lines and len(lines) == len(log_file.read_text().splitlines()), log_file.read_text()
    (access,) = [line for line in lines if line["request_id"] == "cli-json-1"]
    assert access["route"] == "/v1/quota" and access["status"] == 401 and access["logger"] == "service.access"
    assert ID_NUMBER not in log_file.read_text()
