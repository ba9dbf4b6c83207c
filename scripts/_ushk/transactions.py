"""Sending transactions: a revert or a refusal becomes a one-line click error naming the
token's custom error and its arguments."""

from __future__ import annotations

import click

from scripts._ushk.roles import ROLE_BY_ID
from scripts._ushk.values import hex32


def _describe_arg(value) -> str:
    if isinstance(value, (bytes, bytearray)) and len(value) == 32:
        name = ROLE_BY_ID.get(bytes(value))
        return name if name else hex32(value)
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def revert_message(err: Exception) -> str:
    """A one-line description of a failed transaction: the custom error and its arguments."""
    from ape.exceptions import CustomError

    if isinstance(err, CustomError):
        inputs = getattr(err, "inputs", None) or {}
        args = ", ".join(f"{k}={_describe_arg(v)}" for k, v in inputs.items())
        return f"{type(err).__name__}({args})"
    message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return message


def transact(method, *args, sender, what: str | None = None):
    """Calls a contract method as a transaction; a revert or a refusal becomes a ClickException
    ("<what> failed: <CustomError(args)>"), so the script exits non-zero with a clear message."""
    from ape.exceptions import ApeException

    label = what or getattr(method, "name", None) or "transaction"
    try:
        return method(*args, sender=sender)
    except ApeException as err:
        raise click.ClickException(f"{label} failed: {revert_message(err)}") from err
