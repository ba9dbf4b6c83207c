"""`ushk verify`: check a USHK transparency log from the outside (service/verifier/).

It reads no settings and opens no database: only the service's public endpoints, a JSON-RPC
node and the verifier's own state file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from service.cli.common import emit, json_option, progress, progress_option


@click.command("verify")
@click.option(
    "--service", "service_url", required=True, help="Base URL of the USHK service (public endpoints)."
)
@click.option("--rpc-url", required=True, help="JSON-RPC URL of a node of the token's chain.")
@click.option(
    "--token", "token_address", help="The token's address (else recorded, else named by the service)."
)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The state file (default $USHK_VERIFY_STATE, else ~/.ushk/verify-state.json).",
)
@click.option("--seq", "seqs", type=int, multiple=True, help="Prove this entry included (repeatable).")
@click.option(
    "--deposit-id", "deposit_ids", multiple=True, help="Prove every entry about this deposit included."
)
@click.option("--log-key", help="The log's Ed25519 public key (base64 of its 32 raw bytes): pins it.")
@click.option(
    "--anchors-from",
    type=click.IntRange(min=0),
    help="Also check every AuditLogAnchored event from this block on.",
)
@click.option(
    "--claim",
    "claims",
    multiple=True,
    help="Prove a claim counted in the latest snapshot's liabilities: payout:REDEMPTION_ID or refund:DEPOSIT_SEQ.",
)
@click.option("--require-snapshot", is_flag=True, help="Fail when the service has published no snapshot.")
@click.option(
    "--timeout", type=click.FloatRange(min=0.1), default=15.0, show_default=True, help="Seconds per request."
)
@json_option
@progress_option
def verify(
    service_url: str,
    rpc_url: str,
    token_address: str | None,
    state_path: Path | None,
    seqs: tuple[int, ...],
    deposit_ids: tuple[str, ...],
    log_key: str | None,
    anchors_from: int | None,
    claims: tuple[str, ...],
    require_snapshot: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Check the service's transparency log: the latest signed head's signature under the pinned
    key, its consistency with the head verified last time, the head anchored on the token, the
    latest signed snapshot (its signature, its figures read again at its block, the claims asked
    for), and the inclusion of the entries asked for. Exit 0 when all hold, 1 naming what failed. Needs no
    database and no USHK_ settings."""
    from service.verifier import check_count
    from service.verifier import verify as run_verify

    with progress(check_count(seqs, deposit_ids), "checks") as advance:
        report = run_verify(
            service_url,
            rpc_url,
            token_address=token_address,
            state_path=state_path,
            seqs=seqs,
            deposit_ids=deposit_ids,
            log_key=log_key,
            anchors_from=anchors_from,
            claims=claims,
            require_snapshot=require_snapshot,
            timeout=timeout,
            progress=advance,
        )
    if as_json:
        emit(report.out(), True)
    else:
        width = max(len(c.name) for c in report.checks)
        for check in report.checks:
            click.echo(f"{check.name:<{width}}  {'ok    ' if check.ok else 'FAILED'}  {check.reason}")
        if report.state_written:
            first = " (the log key trusted on first use)" if report.trusted_on_first_use else ""
            assert report.head is not None
            click.echo(f"recorded the head of size {report.head.tree_size}{first} in {report.state_path}")
        else:
            click.echo(f"{report.state_path} not written: a check failed")
    if not report.ok:
        if not as_json:  # the object names them in "failed"
            click.echo(f"verification FAILED: {', '.join(report.failed)}", err=True)
        sys.exit(1)
