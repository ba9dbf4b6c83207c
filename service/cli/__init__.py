"""`ushk`: the operator command line of the reserve service, one module per domain.

Every command reads the same settings as the server (USHK_* environment, .env). Commands that
change state run in one transaction each and are recorded in the audit log with the actor
"cli:<os user>". Secrets (API keys, operator tokens, webhook secrets, generated private keys)
are printed once and never stored. `ushk verify` is the exception: it reads no settings and
opens no database (service/verifier/ checks the public transparency log from the outside); so is
`ushk statement`, the bank's tool (service/camt053.py).
"""

from __future__ import annotations

import click

from service.cli import (
    approvals,
    attestor,
    audit,
    banks,
    deposits,
    dev,
    imports,
    minting,
    monitor,
    quota,
    redemptions,
    reserves,
    server,
    statement,
    transparency,
    verify,
    webhooks,
)

deposits.deposits.add_command(imports.deposits_import)  # `ushk deposits import`, a bank's tool


@click.group(name="ushk")
def cli() -> None:
    """USHK reserve service."""


for command in (
    server.serve,
    server.db,
    server.workers,
    attestor.attestor,
    banks.operator,
    banks.bank,
    approvals.approvals,
    quota.quota,
    deposits.deposits,
    audit.audit,
    webhooks.webhooks,
    minting.minter,
    minting.minting,
    reserves.reserves,
    redemptions.redemptions,
    redemptions.payouts,
    transparency.transparency,
    verify.verify,
    statement.statement,
    monitor.monitor,
    dev.dev,
):
    cli.add_command(command)
# `ushk banks ...` is `ushk bank ...` (the custodian failure drill is often written
# `ushk banks mark-failed BANK`), under both names
cli.add_command(banks.bank, name="banks")


def main() -> None:
    cli(prog_name="ushk")
