"""Operators and banks: `ushk operator ...` (operator tokens) and `ushk bank ...` (banks, their
confirmation keys, API keys, limits and webhooks)."""

from __future__ import annotations

from typing import Any

import click

from service.cli.common import (
    Context,
    actor,
    emit,
    fail_on_service_error,
    json_option,
    parse_dollars,
    pass_ctx,
)
from service.money import format_cents


@click.group()
def operator() -> None:
    """Operator credentials for the admin HTTP API."""


@operator.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["operator", "approver", "supervisor"]),
    default="operator",
    show_default=True,
    help="operator: requests; approver: approves another operator's request (may also request); "
    "supervisor: reads what operators read, changes nothing.",
)
@pass_ctx
@fail_on_service_error
def operator_add(ctx: Context, name: str, role: str) -> None:
    """Create an operator; prints its token once."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        _, token = banks.create_operator(session, name, actor=actor(), role=role)
    click.echo(f"operator {name} created (role {role})")
    click.echo(f"token (shown once): {token}")


@operator.command("list")
@json_option
@pass_ctx
def operator_list(ctx: Context, as_json: bool) -> None:
    """Operators: name, role, active or revoked, created."""
    from service.banks import repository

    with ctx.db.reading() as session:
        rows = [
            {
                "name": op.name,
                "role": op.role,
                "state": "revoked" if op.revoked_at else "active",
                "created_at": op.created_at,
                "revoked_at": op.revoked_at,
            }
            for op in repository.list_operators(session)
        ]

    def human(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            click.echo(f"{row['name']}\t{row['role']}\t{row['state']}\t{row['created_at']:%Y-%m-%d}")

    emit(rows, as_json, human)


@operator.command("revoke")
@click.argument("name")
@pass_ctx
@fail_on_service_error
def operator_revoke(ctx: Context, name: str) -> None:
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.revoke_operator(session, name, actor=actor())
    click.echo(f"operator {name} revoked")


@click.group()
def bank() -> None:
    """Banks: creation, keys, limits, webhook, disable."""


@bank.command("add")
@click.argument("name")
@click.option("--public-key", help="The bank's Ed25519 public key (32 bytes, base64 or hex).")
@click.option(
    "--generate-key",
    is_flag=True,
    help="Generate a key pair here and print the private seed once (demos only).",
)
@click.option("--key-id", default=None, help="Id of the confirmation key (default k1).")
@click.option("--single-max", default=None, help="Per-deposit maximum, dollars.")
@click.option("--daily-limit", default=None, help="Daily total, dollars (Hong Kong day).")
@click.option("--webhook-url", default=None)
@json_option
@pass_ctx
@fail_on_service_error
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
            actor=actor(),
            public_key=public_key,
            key_id=key_id,
            single_max_cents=parse_dollars(single_max),
            daily_limit_cents=parse_dollars(daily_limit),
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
        emit(result, True)
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
@json_option
@pass_ctx
def bank_list(ctx: Context, as_json: bool) -> None:
    """Banks with their limits and confirmation keys."""
    from service.banks import repository

    rows: list[dict[str, Any]] = []
    with ctx.db.reading() as session:
        for b in repository.list_banks(session):
            keys = repository.signing_keys(session, b.id)
            api_keys = repository.api_keys(session, b.id)
            rows.append(
                {
                    "name": b.name,
                    "active": b.active,
                    "single_max": None if b.single_max_cents is None else format_cents(b.single_max_cents),
                    "daily_limit": None if b.daily_limit_cents is None else format_cents(b.daily_limit_cents),
                    "webhook_url": b.webhook_url,
                    "signing_keys": [
                        {"key_id": k.key_id, "active": k.active, "public_key": k.public_key} for k in keys
                    ],
                    "api_keys": [{"prefix": k.prefix, "active": k.revoked_at is None} for k in api_keys],
                }
            )

    def human(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            key_ids = ", ".join(
                f"{k['key_id']}{'' if k['active'] else ' (retired)'}" for k in row["signing_keys"]
            )
            click.echo(
                f"{row['name']}\t{'active' if row['active'] else 'DISABLED'}\t"
                f"single_max={row['single_max']}\tdaily_limit={row['daily_limit']}\tkeys: {key_ids}"
            )

    emit(rows, as_json, human)


@bank.command("rotate-key")
@click.argument("name")
@click.option("--public-key", required=True, help="New Ed25519 public key (base64 or hex).")
@click.option("--key-id", default=None, help="Id of the new key (default k<N>).")
@click.option(
    "--retire",
    "retire",
    default=None,
    help="Retire this key id in the same step (otherwise both stay active).",
)
@pass_ctx
@fail_on_service_error
def bank_rotate_key(ctx: Context, name: str, public_key: str, key_id: str | None, retire: str | None) -> None:
    """Add a confirmation key (rotation without downtime); retiring the old one is explicit."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        b = banks.require_bank(session, name)
        key = banks.rotate_signing_key(session, b, public_key, key_id=key_id, retire=retire, actor=actor())
        new_id = key.key_id
    click.echo(f"bank {name}: key {new_id} added" + (f", key {retire} retired" if retire else ""))


@bank.command("retire-key")
@click.argument("name")
@click.argument("key_id")
@pass_ctx
@fail_on_service_error
def bank_retire_key(ctx: Context, name: str, key_id: str) -> None:
    """Retire a confirmation key: confirmations signed with it are refused from now on."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.retire_signing_key(session, banks.require_bank(session, name), key_id, actor=actor())
    click.echo(f"bank {name}: key {key_id} retired")


@bank.command("new-api-key")
@click.argument("name")
@pass_ctx
@fail_on_service_error
def bank_new_api_key(ctx: Context, name: str) -> None:
    """Issue another API key (the old ones stay valid until revoked)."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        key = banks.add_api_key(session, banks.require_bank(session, name), actor=actor())
    click.echo(f"api key (shown once): {key}")


@bank.command("revoke-api-key")
@click.argument("name")
@click.argument("prefix")
@pass_ctx
@fail_on_service_error
def bank_revoke_api_key(ctx: Context, name: str, prefix: str) -> None:
    """Revoke the API key starting with PREFIX (as shown by `bank list --json`)."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.revoke_api_key(session, banks.require_bank(session, name), prefix, actor=actor())
    click.echo(f"bank {name}: api key {prefix}... revoked")


@bank.command("set-limits")
@click.argument("name")
@click.option("--single-max", default=None, help="Dollars, or 'none'.")
@click.option("--daily-limit", default=None, help="Dollars, or 'none'.")
@click.option(
    "--token",
    envvar="USHK_OPERATOR_TOKEN",
    default=None,
    help="With the policy's four_eyes.bank_limit_raise on: the requesting operator's token "
    "(default USHK_OPERATOR_TOKEN), needed for a raise.",
)
@pass_ctx
@fail_on_service_error
def bank_set_limits(
    ctx: Context, name: str, single_max: str | None, daily_limit: str | None, token: str | None
) -> None:
    """Set the limits. Lowering applies at once; with four eyes on for raises (policy), a raise
    is a request an approver approves (`ushk approvals approve ID`)."""
    import datetime as dt

    from service.app import load_policy
    from service.approvals import service as four_eyes
    from service.banks import service as banks

    single, daily = parse_dollars(single_max), parse_dollars(daily_limit)
    with ctx.db.transaction() as session:
        operator = None if token is None else banks.authenticate_operator(session, f"Bearer {token}")
        request = four_eyes.change_limits(
            session,
            operator,
            banks.require_bank(session, name),
            single_max_cents=single,
            daily_limit_cents=daily,
            actor=actor() if operator is None else four_eyes.actor_of(operator),
            policy=load_policy(ctx.settings),
            now=dt.datetime.now(dt.UTC),
        )
    if request is not None:
        click.echo(f"bank {name}: raise requested: request {request.id} waits for an approver")
        return
    click.echo(f"bank {name}: limits set")


@bank.command("set-webhook")
@click.argument("name")
@click.argument("url", required=False)
@pass_ctx
@fail_on_service_error
def bank_set_webhook(ctx: Context, name: str, url: str | None) -> None:
    """Set the webhook URL (prints a new secret), or remove it when URL is omitted."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        secret = banks.set_webhook(
            session, ctx.settings, banks.require_bank(session, name), url, actor=actor()
        )
    click.echo(f"bank {name}: webhook {'set' if url else 'removed'}")
    if secret:
        click.echo(f"webhook secret (shown once): {secret}")


@bank.command("disable")
@click.argument("name")
@pass_ctx
@fail_on_service_error
def bank_disable(ctx: Context, name: str) -> None:
    """Refuse every request of the bank from now on."""
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.set_disabled(session, banks.require_bank(session, name), True, actor=actor())
    click.echo(f"bank {name} disabled")


@bank.command("enable")
@click.argument("name")
@pass_ctx
@fail_on_service_error
def bank_enable(ctx: Context, name: str) -> None:
    from service.banks import service as banks

    with ctx.db.transaction() as session:
        banks.set_disabled(session, banks.require_bank(session, name), False, actor=actor())
    click.echo(f"bank {name} enabled")


@bank.command("mark-failed")
@click.argument("name")
@click.option("--cause", required=True, help="What happened (recorded in the audit log).")
@pass_ctx
@fail_on_service_error
def bank_mark_failed(ctx: Context, name: str, cause: str) -> None:
    """Custodian failure drill: the bank's custody stops counting in the attestable reserve,
    minting halts (custodian_failed) and its new deposits are refused."""
    from service.banks import service as banks
    from service.reserves import failures

    with ctx.db.transaction() as session:
        failures.mark_failed(session, banks.require_bank(session, name), cause=cause, actor=actor())
    click.echo(f"bank {name} marked failed; minting halted (resume: ushk minting resume --cause ...)")


@bank.command("mark-recovered")
@click.argument("name")
@click.option("--cause", required=True, help="What was found and done (recorded in the audit log).")
@pass_ctx
@fail_on_service_error
def bank_mark_recovered(ctx: Context, name: str, cause: str) -> None:
    """The bank's custody counts again and it takes deposits again; minting stays halted until
    an operator resumes it (ushk minting resume)."""
    from service.banks import service as banks
    from service.reserves import failures

    with ctx.db.transaction() as session:
        failures.mark_recovered(session, banks.require_bank(session, name), cause=cause, actor=actor())
    click.echo(f"bank {name} marked recovered; minting stays halted until resumed")
