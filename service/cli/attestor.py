"""`ushk attestor ...`: the independent attestor (service/reserves/independent.py), a process of
its own holding the only ATTESTOR_ROLE key, and the bank keys it checks statements with."""

from __future__ import annotations

from pathlib import Path

import click

from service.cli.common import Context, chain_configured, pass_ctx, start_logging


@click.group()
def attestor() -> None:
    """The independent attestor: its own process and key, the bank keys it pinned."""


@attestor.command("pin-keys")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write them (default: USHK_ATTESTOR_BANK_KEYS_FILE).",
)
@pass_ctx
def attestor_pin_keys(ctx: Context, output: Path | None) -> None:
    """Write the banks' active confirmation keys, as the service has them now, to the attestor's
    pinned keys file. Check them against what each bank gave you before the attestor uses them:
    the attestor trusts this file, not the service's database."""
    from service.reserves.independent import current_keys

    path = output or ctx.settings.attestor_bank_keys_file
    if path is None:
        raise click.ClickException("give --output, or set USHK_ATTESTOR_BANK_KEYS_FILE")
    with ctx.db.reading() as session:
        pinned = current_keys(session)
    pinned.dump(path)
    keys = sum(len(k) for k in pinned.banks.values())
    click.echo(f"pinned {keys} key(s) of {len(pinned.banks)} bank(s) in {path} (sha256 {pinned.digest})")


@attestor.command("run")
@click.option("--log-level", default=None, help="Defaults to USHK_LOG_LEVEL.")
@pass_ctx
def attestor_run(ctx: Context, log_level: str | None) -> None:
    """Attest the reserves the banks' signed statements prove, every USHK_ATTESTOR_POLL_SECONDS
    when due, until SIGTERM or SIGINT. Needs USHK_ATTESTOR_PRIVATE_KEY and
    USHK_ATTESTOR_BANK_KEYS_FILE, and refuses USHK_MINTER_PRIVATE_KEY."""
    import signal
    import threading

    from service.reserves.independent import PinnedKeysError
    from service.runtime import build_independent_attestor

    start_logging(ctx, log_level)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with chain_configured():
        try:
            worker = build_independent_attestor(ctx.settings, ctx.db)
        except PinnedKeysError as exc:
            raise click.ClickException(str(exc)) from None
    banks = ", ".join(sorted(worker.pinned.banks)) or "none"
    click.echo(f"attestor {worker.signer.address}: banks pinned: {banks}", err=True)
    worker.run(stop, ctx.settings.attestor_poll_seconds)
    click.echo("attestor stopped", err=True)
