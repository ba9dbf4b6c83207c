"""Redemptions of USHK at par, as a holder: `ape run redeem request|balance`.

The payout reference is the hash the holder's bank hands out for a registered bank account: give
it as 0x + 64 hex digits, or give the bank's reference text and its keccak256 is used.
"""

import click

from scripts._ushk.amounts import format_usd
from scripts._ushk.cli import ADDRESS, USD, Bytes32Type, ConnectedCommand, signer_option
from scripts._ushk.contracts import token_from_deployment
from scripts._ushk.network import is_local_network, resolve_sender
from scripts._ushk.transactions import transact
from scripts._ushk.values import hex32

PAYOUT_REF = Bytes32Type(what="payout reference", hash_text=True)


@click.group()
def cli():
    """Redeem USHK for US dollars at par (the token is burned, the bank pays out)."""


@cli.command(cls=ConnectedCommand)
@signer_option("the holder")
@click.argument("amount", type=USD)
@click.option(
    "--payout-ref",
    type=PAYOUT_REF,
    required=True,
    help="Payout reference from the holder's bank: 0x + 64 hex digits, or text (hashed).",
)
def request(account, amount, payout_ref):
    """Burn AMOUNT US dollars of the account's USHK to be paid out to the bank account of PAYOUT_REF.

    \b
    Example: ape run redeem request 25.00 --payout-ref ACME-BANK-PAYOUT-7781 --account TEST::1
    """
    if payout_ref == b"\x00" * 32:
        raise click.BadParameter("the payout reference must not be zero", param_hint="--payout-ref")
    token, _info = token_from_deployment()
    sender = resolve_sender(account, what="the redemption")
    balance = int(token.balanceOf(sender.address))
    if balance < amount:
        raise click.ClickException(
            f"{sender.address} holds {format_usd(balance)} USD, less than {format_usd(amount)} USD"
        )
    receipt = transact(token.redeem, amount, payout_ref, sender=sender, what="redeem")
    redemption_id = None
    for log in receipt.decode_logs(token.RedemptionRequested):
        redemption_id = int(log.redemptionId)
    click.echo(
        f"redemption {redemption_id}: {format_usd(amount)} USD burned from {sender.address}, "
        f"payout ref {hex32(payout_ref)} (tx {receipt.txn_hash})"
    )
    click.echo(f"balance: {format_usd(token.balanceOf(sender.address))} USD")


@cli.command(cls=ConnectedCommand)
@signer_option("the holder")
@click.argument("address", type=ADDRESS, required=False)
def balance(account, address):
    """Show the USHK balance of ADDRESS (default: the account)."""
    token, _info = token_from_deployment()
    if address is None:
        if account is None and not is_local_network():
            raise click.BadArgumentUsage("give ADDRESS or --account")
        address = resolve_sender(account, what="the balance query").address
    click.echo(f"{address}: {format_usd(token.balanceOf(address))} USD")
