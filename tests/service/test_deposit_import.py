"""`ushk deposits import FILE --bank NAME`: a bank's CSV file sent as signed batches to a live
service, each row answered on its own."""

from __future__ import annotations

import csv

from click.testing import CliRunner

from service.cli import cli
from service.cli.imports import COLUMNS
from svc_support import BENEFICIARY, today


def write_csv(path, rows, columns=COLUMNS):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)


def row(reference, amount="10.00", currency="USD"):
    return [reference, amount, currency, today(), BENEFICIARY, "hkid", "A1234567", "hk", "INVS"]


def run_import(url, bank, tmp_path, file, *extra):
    key_file = tmp_path / "bank.key"
    key_file.write_text(bank.seed.hex())
    args = ["deposits", "import", str(file), "--bank", bank.name, "--url", url, "--key-id", bank.key_id]
    args += ["--key-file", str(key_file), *extra]
    return CliRunner().invoke(cli, args, env={"USHK_BANK_API_KEY": bank.api_key})


def test_import_sends_signed_batches_and_reports_each_row(live, tmp_path):
    env, url = live
    bank = env.add_bank()
    file = tmp_path / "deposits.csv"
    write_csv(file, [row(f"C-{i}") for i in range(7)] + [row("C-eur", currency="EUR")])
    results = tmp_path / "results.csv"
    result = run_import(url, bank, tmp_path, file, "--batch-size", "3", "--results", str(results))
    assert result.exit_code == 1, result.output  # one row was refused
    assert "7\t201 accepted" in result.output and "1\t422 unsupported_currency" in result.output
    with results.open() as handle:
        answers = list(csv.DictReader(handle))
    assert [a["reference"] for a in answers] == [f"C-{i}" for i in range(7)] + ["C-eur"]
    assert answers[-1]["code"] == "unsupported_currency"
    # the same file again: every row a replay, nothing new
    before = env.snapshot()
    for form in ("batch", "items"):
        result = run_import(url, bank, tmp_path, file, "--form", form)
        assert "7\t200 accepted" in result.output, result.output
    assert env.snapshot() == before


def test_import_refuses_a_bad_file_or_another_banks_key_and_sends_nothing(live, tmp_path):
    env, url = live
    bank, other = env.add_bank(), env.add_bank("other")
    before = env.snapshot()
    bad = tmp_path / "bad.csv"
    write_csv(bad, [row("X-1")[:-1]], columns=COLUMNS[:-1])
    result = run_import(url, bank, tmp_path, bad)
    assert result.exit_code != 0 and "purpose_code" in result.output
    good = tmp_path / "good.csv"
    write_csv(good, [row("X-1")])
    other.name = bank.name  # the other bank's keys, under this bank's name
    result = run_import(url, other, tmp_path, good)
    assert result.exit_code != 0 and "nothing sent" in result.output
    assert env.snapshot() == before
