"""Minters and mints of the deployed USHK token: `ape run mint configure-minter|set-rate-limit|remove-minter|mint|mint-batch`.

Amounts are US dollars with at most 2 decimals ("1250.00"). A deposit id is a bytes32 in hex or
the reserve service's deposit sequence number (42 -> "USHK-DEP" << 192 | 42). Every mint needs a
fresh reserve attestation covering the supply after it (`ape run ops attest`).
"""

import csv
from pathlib import Path

import click

from scripts._ushk.amounts import MAX_UINT120, format_usd, parse_usd
from scripts._ushk.cli import ADDRESS, DEPOSIT_ID, USD, USD_OR_ZERO, ConnectedCommand, signer_option
from scripts._ushk.contracts import token_from_deployment
from scripts._ushk.deployments import add_holder, remove_holder, save_deployment
from scripts._ushk.ids import deposit_seq, parse_deposit_id
from scripts._ushk.network import resolve_sender
from scripts._ushk.roles import require_role
from scripts._ushk.transactions import transact
from scripts._ushk.values import hex32, parse_address


@click.group()
def cli():
    """Configure minters and mint USHK for bank deposits.

    Minting here goes around the reserve service: against a chain the service reconciles, every
    Minted event must be a deposit it accepted, so a direct mint trips its reconciler's
    unbacked-mint halt (minting stops until an operator resumes). To fund an address on a local
    stack, use `ushk dev fund ADDRESS AMOUNT` (`make fund TO=... AMOUNT=...`): a real deposit
    through the service as the demo bank.
    """


def _deposit_label(dep_id: bytes) -> str:
    seq = deposit_seq(dep_id)
    return f"{hex32(dep_id)} (USHK-DEP {seq})" if seq is not None else hex32(dep_id)


def _require_minter(token, sender):
    if not token.isMinter(sender.address):
        raise click.ClickException(
            f"{sender.address} is not a minter (pick the minter with --account, or configure it "
            f"with `ape run mint configure-minter`)"
        )


@cli.command("set-rate-limit", cls=ConnectedCommand)
@signer_option("the admin")
@click.argument("minter", type=ADDRESS)
@click.option(
    "--capacity", type=USD_OR_ZERO, required=True, help="Most it may mint in a burst, in USD (0: no limit)."
)
@click.option(
    "--refill-per-hour", type=USD_OR_ZERO, default="0", help="What the bucket regains an hour, in USD."
)
def set_rate_limit(account, minter, capacity, refill_per_hour):
    """Give MINTER an on-chain rate limit (a token bucket, as the admin): it starts full and
    every mint spends from it; 0 capacity removes the limit. The refill is rounded down to whole
    units a second."""
    if capacity >= 2**80:
        raise click.BadParameter("too large for the contract (2^80 units)", param_hint="--capacity")
    refill = refill_per_hour // 3600
    token, _info = token_from_deployment()
    sender = resolve_sender(account, what="the rate limit")
    require_role(token, "DEFAULT_ADMIN_ROLE", sender, doing="setting a rate limit")
    transact(token.setMinterRateLimit, minter, capacity, refill, sender=sender, what="setMinterRateLimit")
    if capacity == 0:
        click.echo(f"minter {minter}: no rate limit")
    else:
        click.echo(
            f"minter {minter}: rate limit {format_usd(capacity)} USD, refilling {format_usd(refill * 3600)} USD an hour"
        )


@cli.command("configure-minter", cls=ConnectedCommand)
@signer_option("the admin")
@click.argument("minter", type=ADDRESS)
@click.option("--allowance", type=USD_OR_ZERO, required=True, help="Total it may mint from now on, in USD.")
@click.option("--max-per-mint", type=USD, required=True, help="Most a single mint may mint, in USD.")
def configure_minter(account, minter, allowance, max_per_mint):
    """Make MINTER a minter with an allowance and a per-mint maximum (as the admin).

    Replaces any previous configuration of MINTER.
    """
    if max_per_mint > MAX_UINT120:
        raise click.BadParameter("too large for the contract (2^120 units)", param_hint="--max-per-mint")
    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the minter configuration")
    require_role(token, "DEFAULT_ADMIN_ROLE", sender, doing="configuring a minter")
    transact(token.configureMinter, minter, allowance, max_per_mint, sender=sender, what="configureMinter")
    click.echo(
        f"minter {minter}: allowance {format_usd(allowance)} USD, max per mint {format_usd(max_per_mint)} USD"
    )
    info.setdefault("minters", {})[minter] = {
        "allowance": allowance,
        "allowance_usd": format_usd(allowance),
        "max_per_mint": max_per_mint,
        "max_per_mint_usd": format_usd(max_per_mint),
    }
    add_holder(info, "MINTER_ROLE", minter)
    save_deployment(info)


@cli.command("remove-minter", cls=ConnectedCommand)
@signer_option("the admin")
@click.argument("minter", type=ADDRESS)
def remove_minter(account, minter):
    """Remove MINTER: revoke MINTER_ROLE and clear its allowance (as the admin)."""
    token, info = token_from_deployment()
    sender = resolve_sender(account, what="the minter removal")
    require_role(token, "DEFAULT_ADMIN_ROLE", sender, doing="removing a minter")
    if not token.isMinter(minter):
        click.echo(f"{minter} is not a minter")
    else:
        transact(token.removeMinter, minter, sender=sender, what="removeMinter")
        click.echo(f"removed minter {minter}")
    info.get("minters", {}).pop(minter, None)
    remove_holder(info, "MINTER_ROLE", minter)
    save_deployment(info)


@cli.command(cls=ConnectedCommand)
@signer_option("the minter")
@click.argument("to", type=ADDRESS)
@click.argument("amount", type=USD)
@click.option(
    "--deposit",
    "dep_id",
    type=DEPOSIT_ID,
    required=True,
    help="Deposit id: 0x + 64 hex digits, or the deposit's sequence number.",
)
def mint(account, to, amount, dep_id):
    """Mint AMOUNT US dollars of USHK to TO for one bank deposit (as a minter).

    A mint of a deposit the reserve service did not accept trips its reconciler's unbacked-mint
    halt; to fund an address on a local stack use `ushk dev fund` (`make fund`) instead.

    \b
    Example: ape run mint mint 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 1250.00 --deposit 42
    """
    token, _info = token_from_deployment()
    sender = resolve_sender(account, what="the mint")
    _require_minter(token, sender)
    if token.isDepositMinted(dep_id):
        raise click.ClickException(f"deposit {_deposit_label(dep_id)} was already minted")
    receipt = transact(token.mint, to, amount, dep_id, sender=sender, what="mint")
    click.echo(
        f"minted {format_usd(amount)} USD to {to} for deposit {_deposit_label(dep_id)} "
        f"(tx {receipt.txn_hash}, gas {receipt.gas_used})"
    )
    click.echo(f"balance of {to}: {format_usd(token.balanceOf(to))} USD")


def read_batch_csv(path: Path) -> list[tuple[str, int, bytes]]:
    """Rows `to,amount,deposit_id` (a header line is optional) -> [(address, units, id)].

    Raises click.BadParameter naming the line of the first bad row or repeated deposit id.
    """
    rows: list[tuple[str, int, bytes]] = []
    seen: dict[bytes, int] = {}
    with open(path, newline="") as handle:
        for line_no, record in enumerate(csv.reader(handle), start=1):
            fields = [f.strip() for f in record]
            if not any(fields) or fields[0].startswith("#"):
                continue
            if line_no == 1 and fields[0].lower() in ("to", "address", "recipient"):
                continue
            if len(fields) != 3:
                raise click.BadParameter(
                    f"line {line_no}: expected 3 columns to,amount,deposit_id; got {len(fields)}",
                    param_hint="CSV_FILE",
                )
            try:
                to = parse_address(fields[0])
                amount = parse_usd(fields[1])
                dep_id = parse_deposit_id(fields[2])
            except ValueError as err:
                raise click.BadParameter(f"line {line_no}: {err}", param_hint="CSV_FILE") from None
            if dep_id in seen:
                raise click.BadParameter(
                    f"line {line_no}: deposit {_deposit_label(dep_id)} repeats line {seen[dep_id]}",
                    param_hint="CSV_FILE",
                )
            seen[dep_id] = line_no
            rows.append((to, amount, dep_id))
    if not rows:
        raise click.BadParameter("no rows to mint", param_hint="CSV_FILE")
    return rows


@cli.command("mint-batch", cls=ConnectedCommand)
@signer_option("the minter")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--batch-size",
    type=click.IntRange(1, 1000),
    default=100,
    show_default=True,
    help="Deposits per mintBatch transaction.",
)
@click.option("--dry-run", is_flag=True, help="Check the file and print the totals; send nothing.")
def mint_batch(account, csv_file, batch_size, dry_run):
    """Mint the deposits listed in CSV_FILE with mintBatch (as a minter). Deposits the reserve
    service did not accept trip its reconciler's unbacked-mint halt (see `ushk dev fund`).

    CSV_FILE has the columns to,amount,deposit_id (an optional header line, `#` comments):

    \b
      to,amount,deposit_id
      0x70997970C51812dc3A010C7d01b50e0d17dc79C8,1250.00,42
      0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC,99.99,43
    """
    rows = read_batch_csv(csv_file)
    token, _info = token_from_deployment()
    total = sum(amount for _, amount, _ in rows)
    already = [dep for _, _, dep in rows if token.isDepositMinted(dep)]
    if already:
        listed = ", ".join(_deposit_label(d) for d in already[:5])
        raise click.ClickException(f"{len(already)} deposit(s) already minted: {listed}")
    click.echo(
        f"{len(rows)} deposits, {format_usd(total)} USD in {-(-len(rows) // batch_size)} transaction(s)"
    )
    if dry_run:
        return
    sender = resolve_sender(account, what="the mints")
    _require_minter(token, sender)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        receipt = transact(
            token.mintBatch,
            [r[0] for r in chunk],
            [r[1] for r in chunk],
            [r[2] for r in chunk],
            sender=sender,
            what=f"mintBatch of rows {start + 1}-{start + len(chunk)}",
        )
        click.echo(
            f"minted rows {start + 1}-{start + len(chunk)}: "
            f"{format_usd(sum(r[1] for r in chunk))} USD (tx {receipt.txn_hash}, gas {receipt.gas_used})"
        )
    click.echo(f"total supply: {format_usd(token.totalSupply())} USD")
