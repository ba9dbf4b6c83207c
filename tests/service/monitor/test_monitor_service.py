"""The service poller against the real service over HTTP (the `live` fixture): transparency
entries as `log_entry`, signed heads checked (signature, consistency with the last one) as
`log_head`, and a rewritten history seen as an inconsistent head."""

from __future__ import annotations

import base64
import datetime as dt
import time

from service import audit
from service.audit import heads
from service.audit.heads import LogKey
from service.client import BankClient
from service.monitor.engine import Engine
from service.monitor.poller import ServicePoller
from svc_support import confirmation

LOG_KEY = LogKey.from_hex("11" * 32)


def sign(env) -> None:
    with env.db.transaction() as session:
        heads.sign(session, LOG_KEY, now=dt.datetime.now(dt.UTC))


def poll(engine: Engine, poller: ServicePoller) -> list:
    out = []
    for obs, cursor in poller.poll():
        engine.process(obs, cursor)
        out.append(obs)
    return out


def test_poller_readsEntriesAndChecksHeads(live, store):
    env, url = live
    bank = env.add_bank()
    with BankClient(url, api_key=bank.api_key, key_id=bank.key_id, private_key=bank.seed) as client:
        for i in range(3):
            assert client.submit(confirmation(f"MON-{i}", id_number=f"ZX800{i}")).status_code == 201
        sign(env)
        engine = Engine(store, [])
        poller = ServicePoller(url, cursor=lambda: store.cursor("service"), clock=time.time)
        first = poll(engine, poller)
        entries = [o for o in first if o.kind == "log_entry"]
        (head,) = [o for o in first if o.kind == "log_head"]
        assert [o.fields["seq"] for o in entries] == list(range(1, head.fields["tree_size"] + 1))
        assert head.fields["signature_ok"] is True and head.fields["consistent"] is True
        accepted = [o for o in entries if o.fields["kind"] == "deposit.accepted"]
        assert len(accepted) == 3
        assert accepted[0].fields["fields"]["resident"].startswith("R-")
        assert "id_number" not in str(accepted[0].fields)
        assert poll(engine, poller) == []  # nothing new: nothing observed twice

        assert client.submit(confirmation("MON-9", id_number="ZX8009")).status_code == 201
        time.sleep(0.01)
        sign(env)
        second = poll(engine, poller)
        (head2,) = [o for o in second if o.kind == "log_head"]
        assert head2.fields["consistent"] is True and head2.fields["tree_size"] > head.fields["tree_size"]
        assert [o.fields["seq"] for o in second if o.kind == "log_entry"] == list(
            range(head.fields["tree_size"] + 1, head2.fields["tree_size"] + 1)
        )

        # the head the monitor checked last had another root: the history was rewritten
        cursor = store.cursor("service")
        cursor["head"]["root"] = base64.b64encode(b"\x07" * 32).decode()
        store.move({"service": cursor})
        with env.db.transaction() as session:
            audit.record(session, "test.entry", "operator:alice", {"status": "ok"})
        time.sleep(0.01)
        sign(env)
        (head3,) = [o for o in poll(engine, poller) if o.kind == "log_head"]
        assert head3.fields["consistent"] is False
        assert "not consistent" in head3.fields["reason"]
    poller.close()
