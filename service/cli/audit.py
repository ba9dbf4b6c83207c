"""`ushk audit ...`: the tamper-evident audit log."""

from __future__ import annotations

import json
import sys

import click

from service.cli.common import Context, emit, json_option, pass_ctx, progress, progress_option


@click.group()
def audit() -> None:
    """The hash-chained audit log and its transparency log."""


@audit.command("verify")
@json_option
@click.option("--no-chain", is_flag=True, help="Skip the on-chain anchors (no RPC call).")
@progress_option
@pass_ctx
def audit_verify(ctx: Context, as_json: bool, no_chain: bool) -> None:
    """Check the hash chain, the transparency log's tree (every leaf and node rebuilt from the
    entries) and every head anchored on chain (when a token is configured); exit 1 and name the
    first thing that does not hold. Progress bars on stderr when it is a terminal."""
    from service import audit as audit_log
    from service import runtime
    from service.audit import tree
    from service.reserves.anchor import check_anchors

    results: dict[str, dict] = {}
    with ctx.db.reading() as session:
        chain = audit_log.verify(session)
        results["chain"] = dict(chain.__dict__)
        with progress(lambda: tree.size(session), "tree") as advance:
            done = [0]

            def leaves_done(n: int) -> None:
                advance(n - done[0])
                done[0] = n

            checked = tree.verify(session, progress=leaves_done)
        results["tree"] = dict(checked.__dict__)
        address = ctx.settings.resolved_token_address()
        if not no_chain and address is not None:
            token = runtime.build_token(ctx.settings)
            start = runtime.deployment_block(ctx.settings, address)
            with progress(lambda: token.block_number() - start + 1, "anchors") as advance:
                anchors = check_anchors(session, token, start, progress=advance)
            results["anchors"] = dict(anchors.__dict__)
    ok = all(part["ok"] for part in results.values())
    if as_json:
        emit({"ok": ok, **results}, True)
    else:
        if chain.ok:
            click.echo(f"audit chain OK: {chain.checked} entries, head {chain.head_seq} {chain.head_hash}")
        else:
            click.echo(
                f"audit chain BROKEN at seq {chain.first_bad_seq}: {chain.problem} "
                f"({chain.checked} entries verified before it)",
                err=True,
            )
        if checked.ok:
            click.echo(f"transparency log OK: {checked.checked} leaves, root {checked.root}")
        else:
            click.echo(f"transparency log BROKEN at seq {checked.first_bad_seq}: {checked.problem}", err=True)
        if "anchors" in results:
            a = results["anchors"]
            if a["ok"]:
                click.echo(f"on-chain anchors OK: {a['checked']} anchors, last at size {a['last_size']}")
            else:
                click.echo(f"on-chain anchors BROKEN: {a['problem']}", err=True)
        else:
            click.echo("on-chain anchors not checked (no token configured, or --no-chain)")
    if not ok:
        sys.exit(1)


@audit.command("head")
@json_option
@pass_ctx
def audit_head(ctx: Context, as_json: bool) -> None:
    """Print the seq and hash of the last entry."""
    from service import audit as audit_log

    with ctx.db.reading() as session:
        seq, digest = audit_log.head(session)
    emit({"seq": seq, "hash": digest}, as_json, lambda h: click.echo(f"{h['seq']} {h['hash']}"))


@audit.command("show")
@click.option("--after", default=0, type=int)
@click.option("--limit", default=20, type=click.IntRange(1, 10_000))
@json_option
@pass_ctx
def audit_show(ctx: Context, after: int, limit: int, as_json: bool) -> None:
    """Print entries as JSON lines (with --json: one JSON array of them)."""
    from service.audit import repository

    with ctx.db.reading() as session:
        entries = [
            {
                "seq": e.seq,
                "created_at": e.created_at,
                "kind": e.kind,
                "actor": e.actor,
                "payload": json.loads(e.payload),
                "hash": e.hash,
            }
            for e in repository.entries(session, after=after, limit=limit)
        ]
    emit(entries, as_json, _print_lines)


def _print_lines(entries: list[dict]) -> None:
    for e in entries:
        click.echo(json.dumps(e))
