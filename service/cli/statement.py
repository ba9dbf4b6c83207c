"""`ushk statement ...`: the bank's side of custody statements, run at the bank (no settings, no
database): `from-camt053` turns the bank's ISO 20022 camt.053 export into the signed JSON body of
POST /v1/bank/custody-statements (service/camt053.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.group()
def statement() -> None:
    """Custody statements, on the bank's side."""


@statement.command("from-camt053")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File holding the bank's Ed25519 private key seed (32 bytes, hex or base64).",
)
@click.option("--key-id", required=True, help="The id of that confirmation key at the service.")
@click.option("--account", default=None, help="The reserve account's IBAN or id, if the file holds several.")
@click.option(
    "--timezone",
    default="UTC",
    show_default=True,
    help="The zone of the file's times without an offset (and of a date-only closing balance).",
)
def from_camt053(file: Path, key_file: Path, key_id: str, account: str | None, timezone: str) -> None:
    """Print the signed custody statement of FILE's closing booked balance (CLBD), ready to POST
    to /v1/bank/custody-statements."""
    from service.camt053 import Camt053Error, parse
    from service.client import signed_statement

    try:
        taken = parse(file.read_bytes(), account=account, timezone=timezone)
    except Camt053Error as exc:
        raise click.ClickException(f"{file}: {exc}") from None
    try:
        body = signed_statement(taken, key_id, key_file.read_text(encoding="ascii").strip())
    except (ValueError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{key_file}: {exc}") from None
    click.echo(json.dumps(body, indent=2))
