"""`ushk deposits import FILE --bank NAME`: a bank's CSV file of deposit confirmations, sent as
signed batches to the service (docs/bank-api.md, "Importing a CSV file").

The service accepts a deposit only on the bank's signature, so this is the bank's tool, run by
the bank's integrator with the bank's signing key (`--key-file`) and API key: it reads the file,
checks the columns, signs each batch of up to `--batch-size` confirmations as one message and
posts it to `POST /v1/deposits/batch` at `--url`. Every row is answered on its own; the
answers can be written to a CSV file (`--results`). The command needs no database and no
settings of the service; an operator without the bank's key cannot use it.
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import click

from service.cli.common import progress, progress_option

COLUMNS = (
    "reference",
    "amount",
    "currency",
    "value_date",
    "beneficiary",
    "id_type",
    "id_number",
    "category",
    "purpose_code",
)
MAX_BATCH = 1000


def read_confirmations(path: Path) -> list[dict[str, Any]]:
    """The file's rows as confirmations; a missing or unknown column is refused."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = tuple(reader.fieldnames or ())
        missing = [c for c in COLUMNS if c not in header]
        unknown = [c for c in header if c not in COLUMNS]
        if missing or unknown or len(set(header)) != len(header):
            raise click.ClickException(
                f"{path}: the columns must be {', '.join(COLUMNS)} (missing: {', '.join(missing) or '-'}; "
                f"unknown: {', '.join(unknown) or '-'})"
            )
        rows = []
        for line, row in enumerate(reader, start=2):
            if None in row or any(value is None for value in row.values()):
                raise click.ClickException(f"{path}, line {line}: not {len(COLUMNS)} fields")
            rows.append(
                {
                    "reference": row["reference"],
                    "amount": row["amount"],
                    "currency": row["currency"],
                    "value_date": row["value_date"],
                    "beneficiary": row["beneficiary"],
                    "resident": {
                        "id_type": row["id_type"],
                        "id_number": row["id_number"],
                        "category": row["category"],
                    },
                    "purpose_code": row["purpose_code"],
                }
            )
    return rows


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--bank", "bank_name", required=True, help="The bank the file is from (checked against the API key's)."
)
@click.option(
    "--url", required=True, envvar="USHK_SERVICE_URL", help="The service, e.g. https://reserve.example."
)
@click.option(
    "--api-key", required=True, envvar="USHK_BANK_API_KEY", help="The bank's API key (or USHK_BANK_API_KEY)."
)
@click.option("--key-id", required=True, help="The bank's confirmation key id.")
@click.option(
    "--key-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The bank's Ed25519 signing key: its 32-byte seed, hex or base64.",
)
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, MAX_BATCH))
@click.option(
    "--form",
    default="batch",
    show_default=True,
    type=click.Choice(["batch", "items"]),
    help="batch: one signature per batch; items: each confirmation signed.",
)
@click.option(
    "--results",
    "results_file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write each row's answer here (CSV: reference, status, deposit_status, code, message).",
)
@progress_option
def deposits_import(
    file: Path,
    bank_name: str,
    url: str,
    api_key: str,
    key_id: str,
    key_file: Path,
    batch_size: int,
    form: str,
    results_file: Path | None,
) -> None:
    """Send a bank's CSV file of deposit confirmations as signed batches; exits 1 if any row
    was refused."""
    from service.client import BankClient, USHKError

    confirmations = read_confirmations(file)
    try:
        client = BankClient(url, api_key=api_key, key_id=key_id, private_key=key_file.read_text().strip())
    except ValueError as exc:
        raise click.ClickException(f"{key_file}: {exc}") from None
    answers: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with client:
        try:
            name = client.http.get("/v1/bank").raise_for_status().json()["name"]
        except Exception as exc:  # noqa: BLE001 - any failure: nothing is sent
            raise click.ClickException(f"the service at {url} did not answer GET /v1/bank: {exc}") from None
        if name != bank_name:
            raise click.ClickException(f"the API key is bank {name!r}'s, not {bank_name!r}: nothing sent")
        with progress(len(confirmations), "deposits") as advance:
            for start in range(0, len(confirmations), batch_size):
                chunk = confirmations[start : start + batch_size]
                try:
                    results = client.deposit_batch(chunk, form=form)
                except USHKError as exc:
                    raise click.ClickException(
                        f"the batch from row {start + 1} was refused as a whole ({exc}); "
                        f"{start} rows were sent before it"
                    ) from None
                answers.extend(zip(chunk, results, strict=True))
                advance(len(chunk))
    outcome = Counter(_label(result) for _, result in answers)
    if results_file is not None:
        _write_results(results_file, answers)
    for label, count in sorted(outcome.items()):
        click.echo(f"{count}\t{label}")
    if any(result["status"] >= 400 for _, result in answers):
        sys.exit(1)


def _label(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"{result['status']} {result['error']['code']}"
    return f"{result['status']} {result['deposit']['status']}"


def _write_results(path: Path, answers: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["reference", "status", "deposit_status", "code", "message"])
        for confirmation, result in answers:
            error = result.get("error", {})
            writer.writerow(
                [
                    confirmation["reference"],
                    result["status"],
                    result.get("deposit", {}).get("status", ""),
                    error.get("code", ""),
                    error.get("message", ""),
                ]
            )
