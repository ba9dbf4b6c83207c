"""`ushk`: the operator command line of the reserve service.

Every command reads the same settings as the server (USHK_* environment, .env). Commands that
change state run in one transaction each and are recorded in the audit log with the actor
"cli:<os user>". Secrets (API keys, operator tokens, webhook secrets, generated private keys)
are printed once and never stored.
"""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

import click

from service.config import Settings
from service.db import Database
from service.money import InvalidAmount, format_cents, parse_amount


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli:unknown"


class Context:
    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._db: Database | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings()
            except ValueError as exc:
                raise click.ClickException(f"invalid settings: {exc}") from None
        return self._settings

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = Database.from_settings(self.settings)
        return self._db


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def _amount(value: str | None) -> int | None:
    if value is None or value.lower() == "none":
        return None
    try:
        return parse_amount(value)
    except InvalidAmount as exc:
        raise click.BadParameter(exc.message) from None


def _fail_on_service_error(fn: Any) -> Any:
    import functools

    from service.errors import ServiceError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ServiceError as exc:
            raise click.ClickException(f"{exc.code}: {exc.message}") from None

    return wrapper


def _emit(data: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))


@click.group(name="ushk")
def cli() -> None:
    """USHK reserve service."""


# --------------------------------------------------------------------------------------- serve
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--migrate/--no-migrate", default=True, show_default=True,
              help="Run database migrations to head before serving.")
@click.option("--log-level", default=None, help="Defaults to USHK_LOG_LEVEL.")
@pass_ctx
def serve(ctx: Context, host: str, port: int, migrate: bool, log_level: str | None) -> None:
    """Run the HTTP API with uvicorn (one process; run several on PostgreSQL to scale)."""
    import logging

    import uvicorn

    from service.app import create_app

    level = (log_level or ctx.settings.log_level).upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if migrate:
        ctx.db.upgrade()
    app = create_app(ctx.settings)
    # uvicorn's own access log would print query strings (GET /v1/quota carries an identity
    # number); the app logs requests itself without them.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level=level.lower())


# ------------------------------------------------------------------------------------------ db
@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_ctx
def db_upgrade(ctx: Context, revision: str) -> None:
    """Run Alembic migrations up to REVISION."""
    ctx.db.upgrade(revision)
    click.echo(f"database at {revision}")


# ------------------------------------------------------------------------------------ operator
@cli.group()
def operator() -> None:
    """Operator credentials for the admin HTTP API."""


@operator.command("add")
@click.argument("name")
@pass_ctx
@_fail_on_service_error
def operator_add(ctx: Context, name: str) -> None:
    """Create an operator; prints its token once."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        _, token = banks.create_operator(session, name, actor=_actor())
    click.echo(f"operator {name} created")
    click.echo(f"token (shown once): {token}")


@operator.command("list")
@pass_ctx
def operator_list(ctx: Context) -> None:
    from service.banks import repository

    with ctx.db.reading() as session:
        for op in repository.list_operators(session):
            state = "revoked" if op.revoked_at else "active"
            click.echo(f"{op.name}\t{state}\t{op.created_at:%Y-%m-%d}")


@operator.command("revoke")
@click.argument("name")
@pass_ctx
@_fail_on_service_error
def operator_revoke(ctx: Context, name: str) -> None:
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.revoke_operator(session, name, actor=_actor())
    click.echo(f"operator {name} revoked")


# ---------------------------------------------------------------------------------------- bank
@cli.group()
def bank() -> None:
    """Banks: creation, keys, limits, webhook, disable."""


@bank.command("add")
@click.argument("name")
@click.option("--public-key", help="The bank's Ed25519 public key (32 bytes, base64 or hex).")
@click.option("--generate-key", is_flag=True,
              help="Generate a key pair here and print the private seed once (demos only).")
@click.option("--key-id", default=None, help="Id of the confirmation key (default k1).")
@click.option("--single-max", default=None, help="Per-deposit maximum, dollars.")
@click.option("--daily-limit", default=None, help="Daily total, dollars (Hong Kong day).")
@click.option("--webhook-url", default=None)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_ctx
@_fail_on_service_error
def bank_add(
    ctx: Context,
    name: str,
    public_key: str | None,
    generate_key: bool,
    key_id: str | None,
    single_max: str | None,
    daily_limit: str | None,
    webhook_url: str | None,
    as_json: bool,
) -> None:
    """Create a bank; prints its API key once."""
    from service.banks import service as banks

    seed = None
    if generate_key:
        if public_key:
            raise click.BadOptionUsage("generate_key", "give --public-key or --generate-key")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from service.deposits.signing import public_key_b64, seed_hex

        private = Ed25519PrivateKey.generate()
        seed, public_key = seed_hex(private), public_key_b64(private)
    with ctx.db.transaction() as session:
        created = banks.create_bank(
            session,
            ctx.settings,
            name,
            actor=_actor(),
            public_key=public_key,
            key_id=key_id,
            single_max_cents=_amount(single_max),
            daily_limit_cents=_amount(daily_limit),
            webhook_url=webhook_url,
        )
    result = {
        "bank": name,
        "api_key": created.api_key,
        "key_id": created.signing_key.key_id if created.signing_key else None,
        "public_key": public_key,
        "private_key_seed": seed,
        "webhook_secret": created.webhook_secret,
    }
    if as_json:
        _emit(result, True)
        return
    click.echo(f"bank {name} created")
    click.echo(f"api key (shown once): {created.api_key}")
    if created.signing_key:
        click.echo(f"confirmation key id: {created.signing_key.key_id}")
    if seed:
        click.echo(f"private key seed, hex (shown once; demo use only): {seed}")
    if created.webhook_secret:
        click.echo(f"webhook secret (shown once): {created.webhook_secret}")


@bank.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def bank_list(ctx: Context, as_json: bool) -> None:
    """Banks with their limits and confirmation keys."""
    from service.banks import repository

    rows = []
    with ctx.db.reading() as session:
        for b in repository.list_banks(session):
            keys = repository.signing_keys(session, b.id)
            api_keys = repository.api_keys(session, b.id)
            rows.append(
                {
                    "name": b.name,
                    "active": b.active,
                    "single_max": None if b.single_max_cents is None
                    else format_cents(b.single_max_cents),
                    "daily_limit": None if b.daily_limit_cents is None
                    else format_cents(b.daily_limit_cents),
                    "webhook_url": b.webhook_url,
                    "signing_keys": [
                        {"key_id": k.key_id, "active": k.active, "public_key": k.public_key}
                        for k in keys
                    ],
                    "api_keys": [
                        {"prefix": k.prefix, "active": k.revoked_at is None} for k in api_keys
                    ],
                }
            )
    if as_json:
        _emit(rows, True)
        return
    for row in rows:
        keys = ", ".join(
            f"{k['key_id']}{'' if k['active'] else ' (retired)'}" for k in row["signing_keys"]
        )
        click.echo(
            f"{row['name']}\t{'active' if row['active'] else 'DISABLED'}\t"
            f"single_max={row['single_max']}\tdaily_limit={row['daily_limit']}\tkeys: {keys}"
        )


@bank.command("rotate-key")
@click.argument("name")
@click.option("--public-key", required=True, help="New Ed25519 public key (base64 or hex).")
@click.option("--key-id", default=None, help="Id of the new key (default k<N>).")
@click.option("--retire", "retire", default=None,
              help="Retire this key id in the same step (otherwise both stay active).")
@pass_ctx
@_fail_on_service_error
def bank_rotate_key(
    ctx: Context, name: str, public_key: str, key_id: str | None, retire: str | None
) -> None:
    """Add a confirmation key (rotation without downtime); retiring the old one is explicit."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        b = banks.require_bank(session, name)
        key = banks.rotate_signing_key(
            session, b, public_key, key_id=key_id, retire=retire, actor=_actor()
        )
        new_id = key.key_id
    click.echo(f"bank {name}: key {new_id} added" + (f", key {retire} retired" if retire else ""))


@bank.command("retire-key")
@click.argument("name")
@click.argument("key_id")
@pass_ctx
@_fail_on_service_error
def bank_retire_key(ctx: Context, name: str, key_id: str) -> None:
    """Retire a confirmation key: confirmations signed with it are refused from now on."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.retire_signing_key(session, banks.require_bank(session, name), key_id,
                                 actor=_actor())
    click.echo(f"bank {name}: key {key_id} retired")


@bank.command("new-api-key")
@click.argument("name")
@pass_ctx
@_fail_on_service_error
def bank_new_api_key(ctx: Context, name: str) -> None:
    """Issue another API key (the old ones stay valid until revoked)."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        key = banks.add_api_key(session, banks.require_bank(session, name), actor=_actor())
    click.echo(f"api key (shown once): {key}")


@bank.command("revoke-api-key")
@click.argument("name")
@click.argument("prefix")
@pass_ctx
@_fail_on_service_error
def bank_revoke_api_key(ctx: Context, name: str, prefix: str) -> None:
    """Revoke the API key starting with PREFIX (as shown by `bank list --json`)."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.revoke_api_key(session, banks.require_bank(session, name), prefix, actor=_actor())
    click.echo(f"bank {name}: api key {prefix}... revoked")


@bank.command("set-limits")
@click.argument("name")
@click.option("--single-max", default=None, help="Dollars, or 'none'.")
@click.option("--daily-limit", default=None, help="Dollars, or 'none'.")
@pass_ctx
@_fail_on_service_error
def bank_set_limits(ctx: Context, name: str, single_max: str | None, daily_limit: str | None) -> None:
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.set_limits(session, banks.require_bank(session, name),
                         single_max_cents=_amount(single_max),
                         daily_limit_cents=_amount(daily_limit), actor=_actor())
    click.echo(f"bank {name}: limits set")


@bank.command("set-webhook")
@click.argument("name")
@click.argument("url", required=False)
@pass_ctx
@_fail_on_service_error
def bank_set_webhook(ctx: Context, name: str, url: str | None) -> None:
    """Set the webhook URL (prints a new secret), or remove it when URL is omitted."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        secret = banks.set_webhook(session, ctx.settings, banks.require_bank(session, name), url,
                                   actor=_actor())
    click.echo(f"bank {name}: webhook {'set' if url else 'removed'}")
    if secret:
        click.echo(f"webhook secret (shown once): {secret}")


@bank.command("disable")
@click.argument("name")
@pass_ctx
@_fail_on_service_error
def bank_disable(ctx: Context, name: str) -> None:
    """Refuse every request of the bank from now on."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.set_disabled(session, banks.require_bank(session, name), True, actor=_actor())
    click.echo(f"bank {name} disabled")


@bank.command("enable")
@click.argument("name")
@pass_ctx
@_fail_on_service_error
def bank_enable(ctx: Context, name: str) -> None:
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.set_disabled(session, banks.require_bank(session, name), False, actor=_actor())
    click.echo(f"bank {name} enabled")


# --------------------------------------------------------------------------------------- quota
@cli.group()
def quota() -> None:
    """Per-resident quota and the watch list."""


@quota.command("show")
@click.option("--id-type", required=True)
@click.option("--id-number", prompt=True, hide_input=True,
              help="Prompted (hidden) when omitted, to keep it out of shell history.")
@click.option("--category", required=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@_fail_on_service_error
def quota_show(ctx: Context, id_type: str, id_number: str, category: str, as_json: bool) -> None:
    """A resident's limit, used, held and remaining in the current period."""
    from service.app import load_policy
    from service.db import utcnow
    from service.quota import service as quota_service
    from service.quota.identity import normalize_id_type, pseudonym, resident_hash

    policy = load_policy(ctx.settings)
    normalized = normalize_id_type(id_type)
    cat = quota_service.category_policy(policy, category, normalized)
    holder = resident_hash(ctx.settings.id_hmac_secret.get_secret_value().encode(), normalized,
                           id_number)
    with ctx.db.reading() as session:
        view = quota_service.view(session, cat, holder, utcnow())
    data = {
        "resident": pseudonym(holder),
        "category": view.category,
        "period": view.period,
        "timezone": view.timezone,
        "eligible": view.eligible,
        "suspended": view.suspended,
        "limit": None if view.limit_cents is None else format_cents(view.limit_cents),
        "used": format_cents(view.used_cents),
        "held": format_cents(view.held_cents),
        "remaining": None if view.remaining_cents is None else format_cents(view.remaining_cents),
    }
    if as_json:
        _emit(data, True)
    else:
        for key, value in data.items():
            click.echo(f"{key}: {value}")


@quota.command("watchlist")
@click.option("--all", "include_cleared", is_flag=True, help="Include cleared entries.")
@pass_ctx
def quota_watchlist(ctx: Context, include_cleared: bool) -> None:
    """Flagged residents (pseudonyms)."""
    from service.quota import repository
    from service.quota.identity import pseudonym

    with ctx.db.reading() as session:
        for e in repository.list_watch(session, include_cleared=include_cleared):
            state = "cleared" if e.cleared_at else ("suspended" if e.suspended else "flagged")
            click.echo(f"{e.id}\t{pseudonym(e.resident_hash)}\t{state}\t{e.source}\t{e.reason}")


@quota.command("clear")
@click.argument("entry_id", type=int)
@pass_ctx
@_fail_on_service_error
def quota_clear(ctx: Context, entry_id: int) -> None:
    """Clear a watch-list entry (lifts its suspension)."""
    from service.db import utcnow
    from service.quota import service as quota_service

    with ctx.db.transaction() as session:
        quota_service.clear_watch(session, entry_id, actor=_actor(), now=utcnow())
    click.echo(f"watch-list entry {entry_id} cleared")


# ------------------------------------------------------------------------------------ deposits
def _deposit_row(d: Any, bank_name: str) -> dict:
    from service.deposits.schemas import DepositOut

    data = DepositOut.of(d).model_dump(mode="json")
    return {"seq": d.id, "bank": bank_name, **data}


@cli.group()
def deposits() -> None:
    """Deposit confirmations."""


@deposits.command("list")
@click.option("--bank", "bank_name", default=None)
@click.option("--status", default=None,
              type=click.Choice(["received", "accepted", "minting", "minted", "rejected"]))
@click.option("--after", default=0, type=int, help="Only deposits with seq greater than this.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@_fail_on_service_error
def deposits_list(ctx: Context, bank_name: str | None, status: str | None, after: int,
                  limit: int, as_json: bool) -> None:
    from service.banks import repository as bank_repo
    from service.banks import service as banks
    from service.deposits import repository

    with ctx.db.reading() as session:
        bank_id = banks.require_bank(session, bank_name).id if bank_name else None
        names = {b.id: b.name for b in bank_repo.list_banks(session)}
        rows = [
            _deposit_row(d, names.get(d.bank_id, "?"))
            for d in repository.list_deposits(
                session, bank_id=bank_id, status=status, after=after, limit=limit
            )
        ]
    if as_json:
        _emit(rows, True)
        return
    for r in rows:
        click.echo(
            f"{r['seq']}\t{r['bank']}\t{r['reference']}\t{r['status']}\t{r['amount']}\t"
            f"{r['beneficiary']}\t{r['rejection_code'] or ''}"
        )


@deposits.command("show")
@click.argument("reference")
@click.option("--bank", "bank_name", required=True)
@pass_ctx
@_fail_on_service_error
def deposits_show(ctx: Context, reference: str, bank_name: str) -> None:
    from service.banks import service as banks
    from service.deposits import service as deposit_service

    with ctx.db.reading() as session:
        b = banks.require_bank(session, bank_name)
        d = deposit_service.get_for_bank(session, b, reference)
        row = _deposit_row(d, b.name)
    _emit(row, True)


# --------------------------------------------------------------------------------------- audit
@cli.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
@pass_ctx
def audit_verify(ctx: Context) -> None:
    """Check the whole chain; exit 1 and name the first broken entry if it does not hold."""
    from service import audit as audit_log

    with ctx.db.reading() as session:
        result = audit_log.verify(session)
    if result.ok:
        click.echo(f"audit chain OK: {result.checked} entries, head {result.head_seq} "
                   f"{result.head_hash}")
        return
    click.echo(f"audit chain BROKEN at seq {result.first_bad_seq}: {result.problem} "
               f"({result.checked} entries verified before it)", err=True)
    sys.exit(1)


@audit.command("head")
@pass_ctx
def audit_head(ctx: Context) -> None:
    """Print the seq and hash of the last entry."""
    from service import audit as audit_log

    with ctx.db.reading() as session:
        seq, digest = audit_log.head(session)
    click.echo(f"{seq} {digest}")


@audit.command("show")
@click.option("--after", default=0, type=int)
@click.option("--limit", default=20, type=click.IntRange(1, 10_000))
@pass_ctx
def audit_show(ctx: Context, after: int, limit: int) -> None:
    """Print entries as JSON lines."""
    from service.audit import repository

    with ctx.db.reading() as session:
        for e in repository.entries(session, after=after, limit=limit):
            click.echo(json.dumps({"seq": e.seq, "created_at": e.created_at, "kind": e.kind,
                                   "actor": e.actor, "payload": json.loads(e.payload),
                                   "hash": e.hash}))


# ------------------------------------------------------------------------------------ webhooks
@cli.group()
def webhooks() -> None:
    """Webhook deliveries."""


@webhooks.command("deliver")
@click.option("--loop", is_flag=True, help="Keep delivering until interrupted.")
@pass_ctx
def webhooks_deliver(ctx: Context, loop: bool) -> None:
    """Post due webhook deliveries (once, or continuously with --loop)."""
    import threading

    from service.webhooks.service import deliver_due, run_delivery_loop

    if loop:
        stop = threading.Event()
        try:
            run_delivery_loop(ctx.db, ctx.settings, stop)
        except KeyboardInterrupt:
            stop.set()
        return
    report = deliver_due(ctx.db, ctx.settings)
    click.echo(f"delivered {len(report.delivered)}, retrying {len(report.retrying)}, "
               f"failed {len(report.failed)}")


# -------------------------------------------------------------------------------------- chain
@cli.group()
def minter() -> None:
    """The on-chain minter (also runs inside `serve` with USHK_MINTER_ENABLED=true)."""


@minter.command("run")
@pass_ctx
def minter_run(ctx: Context) -> None:
    """Mint accepted deposits until interrupted (one instance at a time holds the lease)."""
    import logging
    import threading

    from service.chain.runtime import ChainNotConfigured, build_minter

    logging.basicConfig(level=ctx.settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        worker = build_minter(ctx.settings, ctx.db)
    except ChainNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()
    try:
        worker.run(stop)
    except KeyboardInterrupt:
        stop.set()


@cli.group()
def workers() -> None:
    """The background workers, without the HTTP API."""


@workers.command("run")
@pass_ctx
def workers_run(ctx: Context) -> None:
    """Run the workers the settings enable (minter, redemption watcher, reconciler, periodic
    attestor, webhook delivery) until interrupted; `make run` runs them beside `ushk serve`."""
    import logging
    import signal
    import threading

    from service import workers as background
    from service.chain.runtime import ChainNotConfigured

    logging.basicConfig(level=ctx.settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(threadName)s %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        threads = background.start(ctx.settings, ctx.db, stop)
    except ChainNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    named = [t.name for t in threads if t.name != background.CHECKPOINTER]
    if not named:
        stop.set()
        raise click.ClickException("no worker is enabled (see USHK_MINTER_ENABLED and the others)")
    click.echo("workers: " + ", ".join(named), err=True)
    while not stop.wait(1.0):
        if not any(t.is_alive() for t in threads):
            break
    stop.set()
    background.join(threads)


@cli.group()
def reserves() -> None:
    """The reserve ledger, its reconciliation with the chain, and attestations."""


@reserves.command("attest")
@pass_ctx
def reserves_attest(ctx: Context) -> None:
    """Attest the recorded reserves on chain now."""
    from service.chain.runtime import ChainNotConfigured, build_attestor
    from service.chain.token import ChainError

    try:
        receipt = build_attestor(ctx.settings, ctx.db).attest(reason="operator")
    except (ChainNotConfigured, ChainError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"attested in {receipt.tx_hash} (block {receipt.block_number})")


@reserves.command("summary")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def reserves_summary(ctx: Context, as_json: bool) -> None:
    """Reserves per bank, the ledger's other balances, the supply on chain and the ratio."""
    from service.reserves import service as reserve_service
    from service.reserves.api import _chain_view

    with ctx.db.reading() as session:
        data = reserve_service.summary(session, _chain_view(ctx.settings))
        halt = reserve_service.halt_out(reserve_service.active_halt(session))
        acknowledged = [reserve_service.acknowledgement_out(r) for r in reserve_service.acknowledgements(session)]
    data["halt"] = halt
    data["acknowledged_differences"] = acknowledged
    if as_json:
        _emit(data, True)
        return
    click.echo(f"reserves        {data['total_reserves']} USD")
    for row in data["custody"]:
        click.echo(f"  {row['bank']:<14}{row['amount']}")
    for name in ("tokens_outstanding", "pending_mint", "pending_payouts", "refunds_due", "wiped"):
        click.echo(f"{name:<16}{data[name]}")
    click.echo(f"supply on chain {data['supply'] if data['supply'] is not None else 'unavailable'}")
    click.echo(f"ratio           {data['ratio'] or '-'}")
    attestation = data["last_attestation"]
    if attestation:
        click.echo(f"attested        {attestation['amount']} at {attestation['time']} "
                   f"report {attestation['report_hash']}")
    for a in acknowledged:
        click.echo(f"ACKNOWLEDGED    {a['units']} units of supply difference (halt {a['halt_id']}, block "
                   f"{a['block']}, by {a['by']} at {a['at']}): {a['cause']}")
    if halt:
        click.echo(f"MINTING HALTED since {halt['created_at']}: {', '.join(halt['codes'])}")


@reserves.command("reconcile")
@click.option("--loop", is_flag=True, help="Keep reconciling (every USHK_RECONCILE_INTERVAL_SECONDS).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def reserves_reconcile(ctx: Context, loop: bool, as_json: bool) -> None:
    """Compare chain supply, ledger, reserves and attestation; halt minting on a discrepancy.
    Exits 1 when something was found."""
    import threading

    from service.chain.runtime import ChainNotConfigured, build_reconciler
    from service.chain.token import ChainError

    try:
        reconciler = build_reconciler(ctx.settings, ctx.db)
        if loop:
            stop = threading.Event()
            try:
                reconciler.run(stop)
            except KeyboardInterrupt:
                stop.set()
            return
        result = reconciler.reconcile_once()
    except (ChainNotConfigured, ChainError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _emit(result.as_dict(), True)
    else:
        click.echo(f"block {result.block}: supply {result.supply_units} units, ledger "
                   f"{result.ledger_supply_units} (+{result.in_flight_units} in flight, "
                   f"+{result.acknowledged_units} acknowledged), reserves {format_cents(result.reserves_cents)} "
                   f"USD, attested {result.attested_units} units"
                   + (" (stale)" if result.stale_attestation else ""))
        for finding in result.findings:
            click.echo(f"DISCREPANCY {finding['code']}: {finding['message']}", err=True)
        if result.halted:
            click.echo("minting is halted (`ushk minting resume --cause ...` after the cause is fixed; "
                       "it reconciles again first)", err=True)
    if result.findings:
        sys.exit(1)


@cli.group()
def minting() -> None:
    """Minting halts decided by the reserve reconciler."""


@minting.command("status")
@pass_ctx
def minting_status(ctx: Context) -> None:
    """Print the active halt, if any."""
    from service.reserves import service as reserve_service

    with ctx.db.reading() as session:
        halt = reserve_service.halt_out(reserve_service.active_halt(session))
    if halt is None:
        click.echo("minting is not halted")
        return
    click.echo(json.dumps(halt, indent=2))


@minting.command("resume")
@click.option("--cause", required=True, help="What was found and what was done about it (recorded).")
@click.option("--acknowledge-units", type=int, default=None,
              help="Accept this supply difference (token units, as the fresh reconciliation measures it).")
@pass_ctx
@_fail_on_service_error
def minting_resume(ctx: Context, cause: str, acknowledge_units: int | None) -> None:
    """Lift the reconciler's halt after a fresh reconciliation; unpauses minting on chain if
    the service paused it. A supply difference that remains must be acknowledged exactly
    (--acknowledge-units); any other finding keeps the halt."""
    from service.chain.runtime import ChainNotConfigured, build_reconciler
    from service.chain.token import ChainError
    from service.reserves.reconciler import resume_minting

    try:
        reconciler = build_reconciler(ctx.settings, ctx.db)
    except ChainNotConfigured:
        reconciler = None
    try:
        row = resume_minting(ctx.db, cause=cause, actor=_actor(), reconciler=reconciler,
                             acknowledge_units=acknowledge_units)
    except ChainError as exc:
        raise click.ClickException(str(exc)) from None
    outcome = (f"acknowledged a supply difference of {row.acknowledged_units} units"
               if row.acknowledged_units else "no difference remains")
    click.echo(f"minting resumed (halt {row.id}: {row.codes}; fresh reconciliation at block "
               f"{row.resume_block}: {outcome})"
               + (f"; unpaused on chain in {row.unpause_tx_hash}" if row.unpause_tx_hash else ""))

# ================================================================ redemptions and payouts
# (service/redemptions/: the watcher of RedemptionRequested events and the payouts it creates)
@cli.group()
def redemptions() -> None:
    """On-chain redemptions (also watched inside `serve` with USHK_REDEMPTION_WATCHER_ENABLED=true)."""


@redemptions.command("watch")
@click.option("--once", is_flag=True, help="Catch up with the confirmed head, then exit.")
@click.option("--confirmations", default=None, type=click.IntRange(0, 1000),
              help="Defaults to USHK_REDEMPTION_CONFIRMATIONS.")
@pass_ctx
def redemptions_watch(ctx: Context, once: bool, confirmations: int | None) -> None:
    """Turn RedemptionRequested events into payouts, resuming from the stored cursor."""
    import logging
    import threading

    from service.chain.runtime import ChainNotConfigured
    from service.redemptions.watcher import build_watcher

    logging.basicConfig(level=ctx.settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        watcher = build_watcher(ctx.settings, ctx.db)
    except ChainNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    if confirmations is not None:
        watcher.confirmations = confirmations
    if once:
        watcher.catch_up()
        watcher.report_overdue()
        click.echo(f"up to block {watcher.cursor()}: {watcher.stats.events} redemptions, "
                   f"{watcher.stats.created} new payouts ({watcher.stats.unassigned} unassigned)")
        return
    stop = threading.Event()
    try:
        watcher.run(stop)
    except KeyboardInterrupt:
        stop.set()


def _payout_rows(status: str | None, bank_name: str | None, limit: int) -> list[dict]:
    from service.banks import repository as bank_repo
    from service.banks import service as banks
    from service.db import utcnow
    from service.redemptions import repository
    from service.redemptions.schemas import PayoutOut

    ctx = click.get_current_context().find_object(Context)
    now = utcnow()
    with ctx.db.reading() as session:
        bank_id = banks.require_bank(session, bank_name).id if bank_name else None
        names = {b.id: b.name for b in bank_repo.list_banks(session)}
        if status == "overdue":
            rows = repository.list_payouts(session, bank_id=bank_id, overdue_at=now, limit=limit)
        else:
            rows = repository.list_payouts(session, bank_id=bank_id, status=status, limit=limit)
        return [
            {"bank": names.get(p.bank_id) if p.bank_id else None,
             **PayoutOut.of(p, now).model_dump(mode="json")}
            for p in rows
        ]


def _print_payouts(rows: list[dict], as_json: bool) -> None:
    if as_json:
        _emit(rows, True)
        return
    for r in rows:
        state = "overdue" if r["overdue"] else r["status"]
        click.echo(f"{r['id']}\tredemption {r['redemption_id']}\t{r['bank'] or '-'}\t{state}\t"
                   f"{r['amount']}\tdue {r['due_at']}\t{r['holder']}"
                   + (f"\t{r['unassigned_reason']}" if r["unassigned_reason"] else ""))


@cli.group()
def payouts() -> None:
    """Payout instructions to banks."""


@payouts.command("list")
@click.option("--status", default=None,
              type=click.Choice(["pending", "settled", "unassigned", "overdue"]))
@click.option("--bank", "bank_name", default=None)
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@_fail_on_service_error
def payouts_list(ctx: Context, status: str | None, bank_name: str | None, limit: int,
                 as_json: bool) -> None:
    _print_payouts(_payout_rows(status, bank_name, limit), as_json)


@payouts.command("overdue")
@click.option("--bank", "bank_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@_fail_on_service_error
def payouts_overdue(ctx: Context, bank_name: str | None, as_json: bool) -> None:
    """Pending payouts past their due time (one Hong Kong business day); exit 1 if any."""
    rows = _payout_rows("overdue", bank_name, 10_000)
    _print_payouts(rows, as_json)
    if not as_json:
        click.echo(f"{len(rows)} overdue payout(s)", err=True)
    if rows:
        sys.exit(1)


@payouts.command("assign")
@click.argument("payout_id", type=int)
@click.option("--bank", "bank_name", required=True,
              help="The bank that will pay the holder (found with it off-chain).")
@pass_ctx
@_fail_on_service_error
def payouts_assign(ctx: Context, payout_id: int, bank_name: str) -> None:
    """Give an unassigned payout to a bank: it becomes pending, due one business day from now."""
    from service.banks import service as banks
    from service.db import utcnow
    from service.redemptions import service as redemption_service

    with ctx.db.transaction() as session:
        payout = redemption_service.assign_payout(
            session, ctx.settings, payout_id, banks.require_bank(session, bank_name),
            actor=_actor(), now=utcnow(),
        )
        due = payout.due_at
    click.echo(f"payout {payout_id} assigned to {bank_name}, due {due:%Y-%m-%dT%H:%M:%SZ}")
# ============================================================ end of redemptions and payouts


def main() -> None:
    cli(prog_name="ushk")


if __name__ == "__main__":
    main()
