"""`ushk verify`: checks a USHK transparency log from the outside, with only its public endpoints
and a JSON-RPC node.

Nothing here reads a database or the service's settings (an import-linter contract in
pyproject.toml forbids it): what is checked is what anyone can fetch.

1. `signature`: the latest signed head's Ed25519 signature over RFC 6962's TreeHeadSignature
   bytes, under the pinned log key (--log-key, else the one recorded in the state file, else
   the head's own key, trusted on first use and recorded).
2. `consistency`: that head extends the last head this verifier verified (the state file), by
   the service's consistency proof (RFC 9162 2.1.4); a smaller tree or a failed proof means the
   history was rewritten.
3. `anchor`: the head anchored on the token (`auditLogAnchor()` at the latest block, and with
   `anchors_from` every `AuditLogAnchored` event since that block) is a prefix of the signed
   head: a size not above the head's and a consistency proof from the anchored root.
4. `inclusion seq K` / `deposit 0x..`: an entry's leaf (`/entries`) and its audit path (`/proof`)
   give the signed head's root; for a deposit id, every entry the service's lookup names.

The state file holds, per service URL, the pinned key, the token and the last verified head; it
is written only when every check passed. docs/transparency.md, "Verifying it yourself".
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
from eth_utils import is_address, to_checksum_address

from service import merkle
from service.canonical import NotCanonicalizable, canonical_json
from service.chain.events import LogReader
from service.chain.token import Token

STATE_VERSION = 1
DEPOSIT_ID = re.compile(r"^0x[0-9a-fA-F]{64}$")
ANCHORED = "AuditLogAnchored"
LOG_CHUNK_BLOCKS = 10_000


def default_state_path() -> Path:
    """$USHK_VERIFY_STATE, else ~/.ushk/verify-state.json."""
    configured = os.environ.get("USHK_VERIFY_STATE")
    return Path(configured) if configured else Path.home() / ".ushk" / "verify-state.json"


class Failed(Exception):
    """A check that does not hold (or could not be made); the message is its reason."""


@dataclass
class Check:
    name: str
    ok: bool
    reason: str


@dataclass(frozen=True)
class Head:
    tree_size: int
    timestamp: int
    root: bytes
    signature: bytes
    key_id: str
    public_key: bytes

    @property
    def time(self) -> str:
        return dt.datetime.fromtimestamp(self.timestamp / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def out(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "timestamp": self.timestamp,
            "time": self.time,
            "sha256_root_hash": b64(self.root),
            "key_id": self.key_id,
        }


@dataclass
class Report:
    service: str
    checks: list[Check] = field(default_factory=list)
    head: Head | None = None
    state_path: str = ""
    state_written: bool = False
    trusted_on_first_use: bool = False
    token: str | None = None
    token_source: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.ok]

    def out(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "service": self.service,
            "head": self.head.out() if self.head else None,
            "token": self.token,
            "token_source": self.token_source,
            "checks": [asdict(c) for c in self.checks],
            "failed": self.failed,
            "state": {
                "path": self.state_path,
                "written": self.state_written,
                "trusted_on_first_use": self.trusted_on_first_use,
            },
        }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(value: Any, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise Failed(f"{what} is not a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Failed(f"{what} is not valid base64") from None
    if length is not None and len(data) != length:
        raise Failed(f"{what} has {len(data)} bytes, not {length}")
    return data


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Failed(f"{what} is not a non-negative integer")
    return value


# ---- the service's public endpoints ----------------------------------------------------------


class Service:
    """GETs of /v1/transparency/...; every failure (network, status, shape) is `Failed`."""

    def __init__(self, base_url: str, *, timeout: float = 15.0, transport: httpx.BaseTransport | None = None):
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        url = f"/v1/transparency/{path}"
        try:
            response = self.http.get(url, params=params)
        except httpx.HTTPError as exc:
            raise Failed(f"GET {self.base_url}{url}: {type(exc).__name__}: {exc or 'no answer'}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            detail = ""
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                error = body["error"]
                detail = f": {error.get('code')}: {error.get('message')}"
            raise Failed(f"GET {url} answered {response.status_code}{detail}")
        if not isinstance(body, dict):
            raise Failed(f"GET {url} did not answer a JSON object")
        return body

    def sth(self) -> Head:
        body = self.get("sth")
        try:
            return Head(
                tree_size=_int(body.get("tree_size"), "the head's tree_size"),
                timestamp=_int(body.get("timestamp"), "the head's timestamp"),
                root=unb64(body.get("sha256_root_hash"), "the head's sha256_root_hash", 32),
                signature=unb64(body.get("tree_head_signature"), "the head's tree_head_signature", 64),
                key_id=str(body.get("key_id")),
                public_key=unb64(body.get("public_key"), "the head's public_key", 32),
            )
        except Failed as exc:
            raise Failed(f"GET /v1/transparency/sth: {exc}") from None

    def consistency(self, first: int, second: int) -> list[bytes]:
        body = self.get("sth/consistency", first=first, second=second)
        proof = body.get("consistency")
        if not isinstance(proof, list):
            raise Failed("the consistency answer has no list of hashes")
        return [unb64(h, "a consistency proof hash", 32) for h in proof]

    def entry(self, seq: int) -> bytes:
        body = self.get("entries", start=seq, end=seq)
        entries = body.get("entries")
        if not isinstance(entries, list):
            raise Failed("the entries answer has no list of entries")
        found = [e for e in entries if isinstance(e, dict) and e.get("seq") == seq]
        if not found:
            raise Failed(f"the service returned no entry {seq}")
        return unb64(found[0].get("leaf_input"), f"entry {seq}'s leaf_input")

    def inclusion(self, seq: int, tree_size: int) -> tuple[int, list[bytes]]:
        body = self.get("proof", seq=seq, tree_size=tree_size)
        path = body.get("audit_path")
        if not isinstance(path, list):
            raise Failed("the proof answer has no audit_path")
        return _int(body.get("leaf_index"), "leaf_index"), [unb64(h, "an audit path hash", 32) for h in path]

    def key(self) -> dict[str, Any]:
        return self.get("key")

    def lookup(self, deposit_id: str) -> list[int]:
        body = self.get("lookup", deposit_id=deposit_id)
        seqs = body.get("seqs")
        if not isinstance(seqs, list):
            raise Failed("the lookup answer has no list of seqs")
        return [_int(s, "a seq") for s in seqs]


# ---- the chain -------------------------------------------------------------------------------


# What web3 raises when a node is unreachable, answers an error, or there is no such contract:
# requests' errors are OSErrors, web3's are Web3Exception (or ValueError), eth_abi's decoding
# errors are ValueErrors.
def _chain_errors() -> tuple[type[BaseException], ...]:
    from web3.exceptions import Web3Exception

    return (OSError, ValueError, TypeError, KeyError, Web3Exception)


def _chain(what: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except _chain_errors() as exc:
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise Failed(f"{what}: {type(exc).__name__}: {text[:300]}") from None


# ---- state -----------------------------------------------------------------------------------


def load_state(path: Path) -> dict[str, Any]:
    """The state file's content ({"version", "logs": {service URL: record}}); empty if absent."""
    if not path.exists():
        return {"version": STATE_VERSION, "logs": {}}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise Failed(f"the state file {path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("logs"), dict):
        raise Failed(f"the state file {path} is not a verify state (no 'logs' object)")
    return data


def save_state(path: Path, data: dict[str, Any]) -> None:
    """Written whole to a temporary file beside it, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".verify-state-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---- the checks ------------------------------------------------------------------------------


def check_signature(head: Head, pinned: bytes | None, source: str) -> str:
    """Reason of a head signed by the pinned key (`source` says where the pin came from)."""
    key = head.public_key if pinned is None else pinned
    if merkle.key_id(head.public_key) != head.key_id:
        raise Failed(f"the head's key_id {head.key_id} is not the SHA-256 of its public key")
    if head.public_key != key:
        raise Failed(
            f"the head is signed by key id {head.key_id}, not by the pinned key "
            f"{merkle.key_id(key)} ({source})"
        )
    if not merkle.verify_tree_head(key, head.timestamp, head.tree_size, head.root, head.signature):
        raise Failed(
            f"the signature of the head of size {head.tree_size} does not verify under key id "
            f"{merkle.key_id(key)} ({source})"
        )
    return f"head of size {head.tree_size} at {head.time} signed by key id {merkle.key_id(key)} ({source})"


def prove_extends(service: Service, size: int, root: bytes, head: Head, what: str) -> str:
    """That the tree of `size` with `root` is a prefix of the head's; the reason, or Failed."""
    if size > head.tree_size:
        raise Failed(f"{what} has size {size}, the signed head only {head.tree_size}: history rewritten")
    if size == head.tree_size:
        if root != head.root:
            raise Failed(
                f"{what} has size {size} with root {root.hex()}, the signed head of the same size "
                f"{head.root.hex()}: history rewritten"
            )
        return f"{what} (size {size}) is the signed head"
    proof = service.consistency(size, head.tree_size)
    if not merkle.verify_consistency(size, head.tree_size, root, head.root, proof):
        raise Failed(
            f"the consistency proof from {what} (size {size}, root {root.hex()}) to the signed head "
            f"(size {head.tree_size}) does not verify: history rewritten"
        )
    return f"{what} (size {size}) is a prefix of the signed head (size {head.tree_size}), proved by {len(proof)} hashes"


def check_consistency(service: Service, head: Head, record: dict[str, Any] | None) -> str:
    if record is None:
        return "no earlier head verified for this service: nothing to compare (this head is the start)"
    try:
        size = _int(record.get("tree_size"), "the recorded tree_size")
        root = unb64(record.get("sha256_root_hash"), "the recorded root", 32)
    except Failed as exc:
        raise Failed(f"the state file's record is malformed: {exc}") from None
    when = record.get("time", "?")
    return prove_extends(service, size, root, head, f"the head verified earlier ({when})")


def check_anchor(service: Service, head: Head, token: Token, anchors_from: int | None) -> str:
    block = _chain("eth_blockNumber", token.block_number)
    size, root, timestamp = _chain(
        "auditLogAnchor()",
        lambda: token.contract.functions.auditLogAnchor().call(block_identifier=block),
    )
    size, root = int(size), bytes(root)
    if size == 0:
        raise Failed(f"the token {token.address} has no anchored head (block {block})")
    reasons = [prove_extends(service, size, root, head, f"the head anchored on chain at block {block}")]
    if anchors_from is not None:
        seen: set[tuple[int, bytes]] = {(size, root)}
        reader = LogReader(token, (ANCHORED,))
        count = 0
        for start in range(anchors_from, block + 1, LOG_CHUNK_BLOCKS):
            end = min(start + LOG_CHUNK_BLOCKS - 1, block)
            events = _chain(f"eth_getLogs {start}..{end}", functools.partial(reader.fetch, start, end))
            for event in events:
                count += 1
                pair = (int(event.args["treeSize"]), bytes(event.args["rootHash"]))
                if pair not in seen:
                    seen.add(pair)
                    prove_extends(service, pair[0], pair[1], head, f"the anchor of block {event.block}")
        reasons.append(
            f"{count} AuditLogAnchored events since block {anchors_from} ({len(seen)} distinct heads) agree"
        )
    return "; ".join(reasons)


def check_inclusion(service: Service, head: Head, seq: int) -> str:
    if seq < 1:
        raise Failed(f"seq {seq}: seqs start at 1")
    if seq > head.tree_size:
        raise Failed(
            f"seq {seq} is not in the signed head's tree of size {head.tree_size} "
            "(no such entry, or newer than the head: try again after the next head)"
        )
    leaf = service.entry(seq)
    try:
        view = json.loads(leaf)
        canonical = canonical_json(view) == leaf
    except (ValueError, NotCanonicalizable):
        view, canonical = None, False
    if not canonical or not isinstance(view, dict) or view.get("seq") != seq:
        raise Failed(f"the leaf of entry {seq} is not the canonical JSON of an entry with seq {seq}")
    index, path = service.inclusion(seq, head.tree_size)
    if index != seq - 1:
        raise Failed(f"the proof of entry {seq} is for leaf index {index}, not {seq - 1}")
    if not merkle.verify_inclusion(seq - 1, head.tree_size, merkle.leaf_hash(leaf), path, head.root):
        raise Failed(f"entry {seq}'s inclusion proof does not give the signed head's root")
    return f"entry {seq} ({view.get('kind')}) is in the signed head's tree of size {head.tree_size}"


def check_deposit(service: Service, head: Head, deposit_id: str) -> str:
    if not DEPOSIT_ID.match(deposit_id):
        raise Failed(f"{deposit_id!r} is not a deposit id (0x and 64 hex digits)")
    wanted = deposit_id.lower()
    seqs = service.lookup(wanted)
    if not seqs:
        raise Failed(f"the service's log has no entry about deposit {wanted}")
    for seq in seqs:
        check_inclusion(service, head, seq)
        view = json.loads(service.entry(seq))
        if view.get("public", {}).get("deposit_id") != wanted:
            raise Failed(f"entry {seq}, named by the lookup, is not about deposit {wanted}")
    return f"{len(seqs)} entries (seqs {', '.join(map(str, seqs))}) are in the signed head's tree"


def decode_log_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Failed("--log-key is not base64") from None
    if len(key) != 32:
        raise Failed(f"--log-key has {len(key)} bytes, an Ed25519 public key 32")
    return key


def verify(
    service_url: str,
    rpc_url: str,
    *,
    token_address: str | None = None,
    state_path: Path | None = None,
    seqs: Sequence[int] = (),
    deposit_ids: Iterable[str] = (),
    log_key: str | None = None,
    anchors_from: int | None = None,
    timeout: float = 15.0,
) -> Report:
    """Runs every check against the service at `service_url` and the node at `rpc_url`; writes
    the state file when all hold."""
    path = state_path or default_state_path()
    service = Service(service_url, timeout=timeout)
    report = Report(service=service.base_url, state_path=str(path))
    try:
        _run(
            report,
            service,
            rpc_url,
            token_address,
            path,
            seqs,
            list(deposit_ids),
            log_key,
            anchors_from,
            timeout,
        )
    finally:
        service.close()
    return report


def _run(
    report: Report,
    service: Service,
    rpc_url: str,
    token_address: str | None,
    path: Path,
    seqs: Sequence[int],
    deposit_ids: list[str],
    log_key: str | None,
    anchors_from: int | None,
    timeout: float,
) -> None:
    def run(name: str, fn: Callable[[], str]) -> bool:
        try:
            report.checks.append(Check(name, True, fn()))
            return True
        except Failed as exc:
            report.checks.append(Check(name, False, str(exc)))
            return False

    state_problem: str | None = None
    state: dict[str, Any] = {"version": STATE_VERSION, "logs": {}}
    try:
        state = load_state(path)
    except Failed as exc:
        state_problem = str(exc)
    found = state["logs"].get(report.service)
    record = found if isinstance(found, dict) else None

    head: Head | None = None
    head_problem = ""
    try:
        head = service.sth()
    except Failed as exc:
        head_problem = str(exc)
    report.head = head

    def signed_head() -> Head:
        if head is None:
            raise Failed(f"no signed head to check: {head_problem}")
        return head

    # 1. the head's signature under the pinned key
    pinned: bytes | None = None

    def signature() -> str:
        nonlocal pinned
        current = signed_head()
        if log_key is not None:
            pinned, source = decode_log_key(log_key), "pinned by --log-key"
        elif state_problem is not None:
            raise Failed(f"{state_problem}: no pinned key (pass --log-key, or repair or remove the file)")
        elif record is not None and record.get("log_key"):
            pinned = unb64(record.get("log_key"), "the state file's log_key", 32)
            source = f"pinned in {path}"
        else:
            pinned, source = current.public_key, "trusted on first use: no --log-key, none recorded"
            report.trusted_on_first_use = True
        return check_signature(current, pinned, source)

    run("signature", signature)

    # 2. consistency with the head verified last time
    def consistency() -> str:
        current = signed_head()
        if state_problem is not None:
            raise Failed(state_problem)
        return check_consistency(service, current, record)

    run("consistency", consistency)

    # 3. the head anchored on chain
    def anchor() -> str:
        current = signed_head()
        address = token_address
        report.token_source = "--token"
        if address is None and record is not None and record.get("token"):
            address, report.token_source = str(record["token"]), f"recorded in {path}"
        if address is None:
            found = service.key().get("token_address")
            if not isinstance(found, str) or not found:
                raise Failed("the service names no token (GET /v1/transparency/key): pass --token")
            address, report.token_source = found, "named by the service (GET /v1/transparency/key)"
        if not is_address(address):
            raise Failed(f"{address!r} is not an address")
        report.token = to_checksum_address(address)
        token = _chain("the JSON-RPC node", lambda: Token(rpc_url, str(report.token), timeout=timeout))
        return check_anchor(service, current, token, anchors_from)

    run("anchor", anchor)

    # 4. entries proved included
    def included(seq: int) -> str:
        return check_inclusion(service, signed_head(), seq)

    def about_deposit(deposit_id: str) -> str:
        return check_deposit(service, signed_head(), deposit_id)

    for seq in seqs:
        run(f"inclusion seq {seq}", functools.partial(included, seq))
    for deposit_id in deposit_ids:
        run(f"deposit {deposit_id}", functools.partial(about_deposit, deposit_id))

    if report.ok and head is not None and pinned is not None:
        state["version"] = STATE_VERSION
        state["logs"][report.service] = {
            "log_key": b64(pinned),
            "key_id": merkle.key_id(pinned),
            "token": report.token,
            "tree_size": head.tree_size,
            "timestamp": head.timestamp,
            "time": head.time,
            "sha256_root_hash": b64(head.root),
            "verified_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        try:
            save_state(path, state)
            report.state_written = True
        except OSError as exc:
            report.checks.append(Check("state", False, f"the state file {path} could not be written: {exc}"))
