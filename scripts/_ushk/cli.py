"""click pieces of the scripts: parameter types that fail with a clear `click.BadParameter`
(the parsers' messages), the --json and --account options, and the command class that
connects to the network."""

from __future__ import annotations

from typing import Any

import click
from ape.cli import ConnectedProviderCommand

from scripts._ushk.amounts import parse_usd
from scripts._ushk.ids import parse_deposit_id
from scripts._ushk.roles import role_name
from scripts._ushk.values import parse_address, parse_bytes32


class _Parsed(click.ParamType):
    def _parse(self, value: str) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value  # already converted (a default given as a value)
        try:
            return self._parse(value)
        except ValueError as err:
            self.fail(str(err), param, ctx)


class USDType(_Parsed):
    """US dollars with at most 2 decimals -> token units (int)."""

    name = "USD"

    def __init__(self, allow_zero: bool = False):
        self.allow_zero = allow_zero

    def _parse(self, value):
        return parse_usd(value, allow_zero=self.allow_zero)


class AddressType(_Parsed):
    name = "ADDRESS"

    def _parse(self, value):
        return parse_address(value)


class DepositIdType(_Parsed):
    name = "DEPOSIT_ID"

    def _parse(self, value):
        return parse_deposit_id(value)


class Bytes32Type(_Parsed):
    name = "BYTES32"

    def __init__(self, what: str = "bytes32", hash_text: bool = False):
        self.what = what
        self.hash_text = hash_text

    def _parse(self, value):
        return parse_bytes32(value, what=self.what, hash_text=self.hash_text)


class RoleType(_Parsed):
    name = "ROLE"

    def _parse(self, value):
        return role_name(value)


def json_option(help_text: str = "Print JSON only (amounts in 6-decimal units)."):
    """A --json flag that also quiets ape's INFO lines (they go to stdout) so stdout is pure JSON.

    Eager, so it takes effect while the arguments are parsed, before ape connects and logs.
    """

    def quiet(_ctx, _param, value):
        if value:
            from ape.logging import logger

            logger.set_level("WARNING")
        return value

    return click.option("--json", "as_json", is_flag=True, is_eager=True, callback=quiet, help=help_text)


def signer_option(who: str = "the signer"):
    """ape's account_option (an account alias, or TEST::<n> for a local test account), without a
    prompt: on a local network the default is anvil's account 0 (see resolve_sender)."""
    from ape.cli import account_option

    base = account_option(prompt=False)

    def decorator(f):
        f = base(f)
        f.__click_params__[-1].help = (
            f"Account of {who}: an ape account alias, or TEST::<n>. "
            "Default on a local network: anvil's account 0."
        )
        return f

    return decorator


USD = USDType()
USD_OR_ZERO = USDType(allow_zero=True)
ADDRESS = AddressType()
DEPOSIT_ID = DepositIdType()
BYTES32 = Bytes32Type()
ROLE = RoleType()


class ConnectedCommand(ConnectedProviderCommand):
    """ape's ConnectedProviderCommand (--network, connected for the command's duration), with a
    one-line error instead of a traceback when the node cannot be reached."""

    def invoke(self, ctx: click.Context):
        from ape.exceptions import NetworkError, ProviderError
        from requests.exceptions import RequestException

        try:
            return super().invoke(ctx)
        except (ConnectionError, RequestException, ProviderError, NetworkError) as err:
            if isinstance(err, click.ClickException):
                raise
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise click.ClickException(
                f"cannot use the network: {first} (is the node running? `make run` starts anvil at "
                f"127.0.0.1:8545 for --network ethereum:local:node)"
            ) from err
