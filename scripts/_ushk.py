"""Shared helpers of the USHK ape scripts (ape does not run files whose name starts with `_`).

- deployments/<network>.json: `load_deployment`, `save_deployment`, `token_from_deployment`.
- Parsing what operators type: US dollar amounts ("1250.00", at most 2 decimals, into 6-decimal
  token units, integers only), deposit ids (a bytes32 in hex, or the reserve service's sequence
  number), addresses, bytes32 values and role names, both as plain functions and as click
  parameter types that fail with a clear `click.BadParameter`.
- `deploy_ushk`: the one way the token is deployed, by `ape run deploy token`, `make run`, the
  tests and the gas benchmark.
- `transact`: sends a transaction and turns a revert into a one-line error naming the token's
  custom error.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import click
from ape.cli import ConnectedProviderCommand
from eth_utils import is_address, is_checksum_address, keccak, to_checksum_address

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENTS_ENV = "USHK_DEPLOYMENTS_DIR"

DECIMALS = 6
UNIT = 10**DECIMALS  # token units per US dollar
CENT = UNIT // 100
MAX_UINT128 = 2**128 - 1
MAX_UINT120 = 2**120 - 1
ZERO32 = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20

DEFAULT_MAX_ATTESTATION_AGE = 86_400  # one day, in seconds
DEFAULT_MINTER_ALLOWANCE = 10_000_000 * UNIT  # 10,000,000.00 USD
DEFAULT_MAX_PER_MINT = 1_000_000 * UNIT  # 1,000,000.00 USD

# Deposit ids of the reserve service: "USHK-DEP" in the top 64 bits, a sequence number below.
DEPOSIT_PREFIX = int.from_bytes(b"USHK-DEP", "big") << 192
MAX_DEPOSIT_SEQ = 2**192 - 1

# ERC-1967 implementation slot: bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1)
IMPLEMENTATION_SLOT = int.from_bytes(keccak(text="eip1967.proxy.implementation"), "big") - 1

# Role names as the contract spells them, in the order the scripts print them.
ROLE_NAMES = (
    "DEFAULT_ADMIN_ROLE",
    "MINTER_ROLE",
    "PAUSER_ROLE",
    "COMPLIANCE_ROLE",
    "ATTESTOR_ROLE",
    "UPGRADER_ROLE",
)
ROLE_IDS: dict[str, bytes] = {
    name: (ZERO32 if name == "DEFAULT_ADMIN_ROLE" else keccak(text=name)) for name in ROLE_NAMES
}
ROLE_BY_ID: dict[bytes, str] = {role_id: name for name, role_id in ROLE_IDS.items()}
# The roles `deploy_ushk` hands out besides the admin's (MINTER_ROLE comes with configureMinter).
OPERATIONAL_ROLES = ("PAUSER_ROLE", "COMPLIANCE_ROLE", "ATTESTOR_ROLE", "UPGRADER_ROLE")
_ROLE_ALIASES = {"ADMIN": "DEFAULT_ADMIN_ROLE", "DEFAULT_ADMIN": "DEFAULT_ADMIN_ROLE"}


# ---------------------------------------------------------------------------------------------
# Parsing (plain functions raise ValueError with a message meant for the operator)
# ---------------------------------------------------------------------------------------------

_USD_RE = re.compile(r"^(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<frac>\d{1,2}))?$")


def parse_usd(text: str, *, allow_zero: bool = False) -> int:
    """'1250.00' (or '1,250.00', '1250', '0.5') US dollars -> token units (1 USD = 10**6 units).

    Integers only: at most two decimals, no signs, no exponents. Positive unless `allow_zero`.
    """
    raw = str(text).strip().removeprefix("$")
    match = _USD_RE.match(raw)
    if not match:
        if re.match(r"^\d[\d,]*\.\d{3,}$", raw):
            raise ValueError(f"'{text}' has more than 2 decimals: US dollar amounts are in cents")
        raise ValueError(f"'{text}' is not a US dollar amount like 1250.00")
    dollars = int(match["int"].replace(",", ""))
    cents = int((match["frac"] or "0").ljust(2, "0"))
    units = dollars * UNIT + cents * CENT
    if units == 0 and not allow_zero:
        raise ValueError(f"'{text}': the amount must be positive")
    if units > MAX_UINT128:
        raise ValueError(f"'{text}' is too large for the token (more than 2^128 units)")
    return units


def format_usd(units: int) -> str:
    """Token units -> '1250.00' (all six decimals when the amount has sub-cent units)."""
    units = int(units)
    sign = "-" if units < 0 else ""
    dollars, rest = divmod(abs(units), UNIT)
    if rest % CENT == 0:
        return f"{sign}{dollars}.{rest // CENT:02d}"
    return f"{sign}{dollars}.{rest:06d}"


def deposit_id(seq: int) -> bytes:
    """The reserve service's deposit id for sequence number `seq`."""
    if not 0 <= seq <= MAX_DEPOSIT_SEQ:
        raise ValueError(f"deposit sequence number {seq} is out of range (0 .. 2^192-1)")
    return (DEPOSIT_PREFIX | seq).to_bytes(32, "big")


def parse_deposit_id(text: str) -> bytes:
    """A deposit id: a bytes32 in hex (0x + 64 hex digits) or a sequence number (42 -> USHK-DEP 42)."""
    raw = str(text).strip()
    if raw.lower().startswith("0x"):
        return parse_bytes32(raw, what="deposit id")
    if raw.isdigit():
        return deposit_id(int(raw))
    raise ValueError(
        f"'{text}' is not a deposit id: give 0x and 64 hex digits, or the deposit's sequence number"
    )


def deposit_seq(dep_id: bytes) -> int | None:
    """The sequence number of a reserve-service deposit id, or None for any other id."""
    value = int.from_bytes(bytes(dep_id), "big")
    return value & MAX_DEPOSIT_SEQ if value >> 192 == DEPOSIT_PREFIX >> 192 else None


def parse_bytes32(text: str, *, what: str = "value", hash_text: bool = False) -> bytes:
    """0x + 64 hex digits -> 32 bytes. With `hash_text`, any other text is keccak256-hashed."""
    raw = str(text).strip()
    if raw.lower().startswith("0x"):
        digits = raw[2:]
        if len(digits) != 64 or not re.fullmatch(r"[0-9a-fA-F]*", digits):
            raise ValueError(f"'{text}' is not a {what}: expected 0x followed by 64 hex digits")
        return bytes.fromhex(digits)
    if hash_text and raw:
        return keccak(text=raw)
    raise ValueError(f"'{text}' is not a {what}: expected 0x followed by 64 hex digits")


def parse_address(text: str, *, allow_zero: bool = False) -> str:
    """An address (checksummed, or all lower/upper case), or TEST::<n> for a local test account."""
    raw = str(text).strip()
    if raw.upper().startswith("TEST::"):
        from ape import accounts

        idx = raw[6:]
        if not idx.isdigit() or int(idx) >= len(accounts.test_accounts):
            raise ValueError(f"'{text}': no such test account")
        return accounts.test_accounts[int(idx)].address
    if not re.fullmatch(r"0x[0-9a-fA-F]{40}", raw) or not is_address(raw):
        raise ValueError(f"'{text}' is not an address (0x followed by 40 hex digits)")
    digits = raw[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(raw):
        raise ValueError(f"'{text}' has a wrong checksum (mixed-case address): check it for typos")
    address = to_checksum_address(raw)
    if address == ZERO_ADDRESS and not allow_zero:
        raise ValueError("the zero address is not allowed here")
    return address


def role_name(text: str) -> str:
    """'pauser', 'PAUSER', 'PAUSER_ROLE', 'admin', ... -> the contract's role name."""
    key = str(text).strip().upper().replace("-", "_")
    key = _ROLE_ALIASES.get(key, key)
    if not key.endswith("_ROLE"):
        key += "_ROLE"
    if key not in ROLE_IDS:
        known = ", ".join(short_role(n) for n in ROLE_NAMES)
        raise ValueError(f"unknown role '{text}'; known roles: {known}")
    return key


def short_role(name: str) -> str:
    """'PAUSER_ROLE' -> 'pauser', 'DEFAULT_ADMIN_ROLE' -> 'admin'."""
    return "admin" if name == "DEFAULT_ADMIN_ROLE" else name.removesuffix("_ROLE").lower()


def hex32(value: bytes) -> str:
    return "0x" + bytes(value).hex()


# ---------------------------------------------------------------------------------------------
# click parameter types
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# The command class
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# Networks, accounts and deployment files
# ---------------------------------------------------------------------------------------------


def network_key() -> str:
    """The name of the connected network, as used for deployments/<network>.json."""
    from ape import chain

    network = chain.provider.network
    eco = network.ecosystem.name
    return network.name if eco == "ethereum" else f"{eco}-{network.name}"


def is_local_network() -> bool:
    from ape import chain

    return chain.provider.network.name in ("local", "anvil")


def network_choice() -> str:
    """The --network value that reaches the connected node again (for printed next steps)."""
    from ape import chain

    provider = chain.provider
    uri = getattr(provider, "http_uri", None) or getattr(provider, "uri", None)
    if provider.name == "node" and uri:
        try:
            configured = provider.config.ethereum.local.get("uri") if provider.network.name == "local" else None
        except Exception:  # noqa: BLE001 - another ecosystem's config
            configured = None
        if not configured or str(configured).rstrip("/") != str(uri).rstrip("/"):
            return f"{provider.network.ecosystem.name}:{provider.network.name}:{uri}"
    return provider.network_choice


def is_throwaway_node() -> bool:
    """True when ape started the node for this command alone (it stops when the command ends)."""
    from ape import chain

    provider = chain.provider
    return provider.name == "foundry" and getattr(provider, "process", None) is not None


def align_local_chain_id() -> None:
    """Makes ape sign for the chain id the local node reports.

    Ape's `node` provider takes a local network's chain id from its configuration (1337 unless
    set) rather than asking the node; anvil's is 31337, and transactions signed for 1337 are
    refused ("invalid chain id for signer"). Against a local node the node's own id is the truth.
    """
    from ape import chain

    provider = chain.provider
    if provider.name != "node" or provider.network.name != "local":
        return
    try:
        real = int(provider.web3.eth.chain_id)
    except Exception:  # noqa: BLE001 - not connected: nothing to align
        return
    if provider.chain_id == real:
        return
    ethereum = dict(provider.settings.model_dump().get("ethereum") or {})
    ethereum["local"] = {**(ethereum.get("local") or {}), "chain_id": real}
    provider.provider_settings = {**(provider.provider_settings or {}), "ethereum": ethereum}


def resolve_sender(account, *, what: str = "the transaction"):
    """The signing account: --account if given; on a local network anvil's account 0 (no prompt);
    elsewhere a prompt when interactive, else a clear usage error."""
    align_local_chain_id()
    if account is not None:
        return account
    from ape import accounts

    if is_local_network():
        return accounts.test_accounts[0]
    if sys.stdin.isatty():
        from ape.cli.choices import AccountAliasPromptChoice

        return AccountAliasPromptChoice().select_account()
    raise click.BadParameter(
        f"give the account that signs {what} on network '{network_key()}'",
        param_hint="--account",
    )


def deployments_dir() -> Path:
    """deployments/ at the project root, or $USHK_DEPLOYMENTS_DIR."""
    override = os.environ.get(DEPLOYMENTS_ENV)
    return Path(override) if override else ROOT / "deployments"


def deployment_path(network: str | None = None) -> Path:
    return deployments_dir() / f"{network or network_key()}.json"


def save_deployment(info: Mapping[str, Any], network: str | None = None) -> Path:
    path = deployment_path(network or info.get("network"))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(info, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_deployment(network: str | None = None, *, check_chain: bool = True) -> dict[str, Any]:
    """Reads deployments/<network>.json; with `check_chain`, makes sure it describes this chain.

    Raises click.BadParameter (a usage error) saying to run the deploy script first when the file
    is missing or describes another chain (a restarted local node, another chain id).
    """
    align_local_chain_id()
    key = network or network_key()
    path = deployment_path(key)
    deploy_cmd = f"ape run deploy token --network {network_choice() if network is None else key}"
    if not path.exists():
        raise click.BadParameter(
            f"no deployment file {_relative(path)}: run `{deploy_cmd}` first", param_hint="--network"
        )
    try:
        info = json.loads(path.read_text())
        info["token"]
    except (ValueError, KeyError) as err:
        raise click.BadParameter(
            f"{_relative(path)} is not a USHK deployment file ({err}): run `{deploy_cmd}` again",
            param_hint="--network",
        )
    if check_chain:
        from ape import chain

        stale = None
        if int(info.get("chain_id", -1)) != chain.chain_id:
            stale = f"it is for chain id {info.get('chain_id')}, this node is chain {chain.chain_id}"
        elif not chain.provider.get_code(info["token"]):
            stale = f"there is no contract at {info['token']} on this chain"
        elif info.get("deployment_block_hash") is not None:
            block = info.get("deployment_block", 0)
            try:
                got = "0x" + bytes(chain.provider.get_block(block).hash).hex()
            except Exception:  # noqa: BLE001 - a block this node does not have
                got = None
            if got != info["deployment_block_hash"]:
                stale = f"block {block} of this chain is not the block the token was deployed in"
        if stale:
            raise click.BadParameter(
                f"{_relative(path)} describes another chain ({stale}): "
                f"run `{deploy_cmd}` first",
                param_hint="--network",
            )
    return info


def project_contract(name: str):
    """The project's contract container `name`, or None if the project has no such contract.

    Falls back to the compiled manifest (.build) when ape's source scan misses the file: ape lists
    at most 500 files under contracts/, and ape-solidity's dependency cache (contracts/.cache)
    alone holds more, so sources in subfolders (contracts/test/) can drop out of the scan.
    """
    from ape import project
    from ape.contracts import ContractContainer

    try:
        container = getattr(project, name)
    except Exception:  # noqa: BLE001 - AttributeError, or a compiler error for a missing source
        container = None
    if container is not None and hasattr(container, "contract_type"):
        return container
    contract_type = (project.manifest.contract_types or {}).get(name)
    return ContractContainer(contract_type) if contract_type is not None else None


def token_at(address: str):
    """The USHK ABI at `address` (the proxy)."""
    from ape import Contract

    return Contract(address, contract_type=project_contract("USHK").contract_type)


def token_from_deployment(network: str | None = None):
    """(token, deployment info) for the connected network."""
    info = load_deployment(network)
    return token_at(info["token"]), info


def implementation_of(proxy_address: str) -> str:
    """The implementation address in the proxy's ERC-1967 slot."""
    from ape import chain

    raw = bytes(chain.provider.get_storage(proxy_address, IMPLEMENTATION_SLOT))
    return to_checksum_address(raw[-20:].rjust(20, b"\x00"))


# ---------------------------------------------------------------------------------------------
# Transactions
# ---------------------------------------------------------------------------------------------


def _address_of(value) -> str:
    return to_checksum_address(getattr(value, "address", value))


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


def has_role(token, role: str, address: str) -> bool:
    return bool(token.hasRole(ROLE_IDS[role], address))


def require_role(token, role: str, account, *, doing: str) -> None:
    """Refuses early, with a clear message, when `account` lacks `role` for `doing`."""
    if not has_role(token, role, account.address):
        raise click.ClickException(
            f"{account.address} does not hold {role}, which {doing} needs "
            f"(pick the holder with --account, or grant it with `ape run roles grant`)"
        )


# ---------------------------------------------------------------------------------------------
# Deployment
# ---------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _receipt_of(instance):
    from ape import chain

    txn_hash = getattr(instance, "txn_hash", None)
    if txn_hash is None:
        creation = instance.creation_metadata
        txn_hash = creation.txn_hash
    return chain.provider.get_receipt(txn_hash)


def _role_map(
    admin: str, roles: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Role name -> holder (an address or a signing account); unnamed roles go to the admin."""
    out: dict[str, Any] = {name: admin for name in OPERATIONAL_ROLES}
    for key, holder in (roles or {}).items():
        name = role_name(key)
        if name in ("DEFAULT_ADMIN_ROLE", "MINTER_ROLE"):
            raise ValueError(f"{name} is set with `admin=` and `minter=`, not in `roles`")
        out[name] = holder
    return out


def deploy_ushk(
    deployer,
    *,
    admin=None,
    max_attestation_age: int = DEFAULT_MAX_ATTESTATION_AGE,
    roles: Mapping[str, Any] | None = None,
    minter=None,
    minter_allowance: int = DEFAULT_MINTER_ALLOWANCE,
    max_per_mint: int = DEFAULT_MAX_PER_MINT,
    attest_amount: int | None = None,
    report_hash: bytes = ZERO32,
    audit_head: bytes = ZERO32,
    implementation: str = "USHK",
    log=None,
):
    """Deploys USHK (implementation + ERC-1967 proxy) and sets it up; returns (token, info).

    - `deployer` (an ape account) sends every transaction. It initialises the proxy as its own
      admin, grants the roles, configures the minter, makes the first attestation, and then, if
      `admin` is someone else, grants DEFAULT_ADMIN_ROLE to `admin` and renounces its own; roles it
      held only for the setup are revoked, so it ends with exactly what was asked for.
    - `admin`: the DEFAULT_ADMIN_ROLE holder (address or account); default: the deployer.
    - `roles`: {'pauser'|'compliance'|'attestor'|'upgrader' (or PAUSER_ROLE ...): address or
      account}; every operational role not named goes to the admin.
    - `minter`: configured with `minter_allowance` and `max_per_mint` (units); None: no minter.
    - `attest_amount` (units): the first reserve attestation, with `report_hash` and `audit_head`;
      None: no attestation. It is signed by the attestor when that is an ape account, otherwise by
      the deployer holding ATTESTOR_ROLE for that one transaction.
    - `max_attestation_age`: seconds, positive.
    - `implementation`: the project contract to deploy as the implementation.

    `info` is what deployments/<network>.json holds: chain id, network, token (proxy) and
    implementation addresses, deployment block (and its hash), role holders, minters, the
    attestation and the maximum attestation age. Amounts are in token units.
    """
    from ape import chain

    say = log or (lambda _msg: None)
    align_local_chain_id()
    if max_attestation_age <= 0:
        raise ValueError("max_attestation_age must be positive")
    if attest_amount is not None and not 0 <= attest_amount <= MAX_UINT128:
        raise ValueError("attest_amount out of range")
    if minter is not None and not (0 <= minter_allowance <= MAX_UINT128 and 0 <= max_per_mint <= MAX_UINT120):
        raise ValueError("minter allowance or per-mint maximum out of range")

    deployer_addr = deployer.address
    admin_addr = _address_of(admin) if admin is not None else deployer_addr
    holders = _role_map(admin_addr, roles)
    holder_addrs = {name: _address_of(h) for name, h in holders.items()}

    contract = project_contract(implementation)
    if contract is None:
        raise ValueError(f"no contract named {implementation!r} in this project")
    impl = deployer.deploy(contract)
    impl_receipt = _receipt_of(impl)
    say(f"implementation {implementation} at {impl.address} (block {impl_receipt.block_number})")
    init_data = impl.initialize.encode_input(deployer_addr, max_attestation_age)
    proxy = deployer.deploy(project_contract("USHKProxy"), impl.address, init_data)
    proxy_receipt = _receipt_of(proxy)
    token = token_at(proxy.address)
    say(f"proxy (the token) at {proxy.address} (block {proxy_receipt.block_number})")

    def grant(role: str, address: str):
        if not token.hasRole(ROLE_IDS[role], address):
            transact(token.grantRole, ROLE_IDS[role], address, sender=deployer, what=f"grant {role}")

    for name in OPERATIONAL_ROLES:
        grant(name, holder_addrs[name])
        say(f"{name} -> {holder_addrs[name]}")

    minter_addr = _address_of(minter) if minter is not None else None
    if minter_addr is not None:
        transact(
            token.configureMinter, minter_addr, minter_allowance, max_per_mint,
            sender=deployer, what="configureMinter",
        )
        say(f"minter {minter_addr}: allowance {format_usd(minter_allowance)}, "
            f"max per mint {format_usd(max_per_mint)} USD")

    attestation = None
    if attest_amount is not None:
        attestor = holders["ATTESTOR_ROLE"]
        temporary = False
        if hasattr(attestor, "sign_message") and hasattr(attestor, "address"):
            signer = attestor
        else:
            signer = deployer
            if holder_addrs["ATTESTOR_ROLE"] != deployer_addr:
                grant("ATTESTOR_ROLE", deployer_addr)
                temporary = True
        receipt = transact(
            token.attestReserves, attest_amount, report_hash, audit_head,
            sender=signer, what="attestReserves",
        )
        if temporary:
            transact(token.revokeRole, ROLE_IDS["ATTESTOR_ROLE"], deployer_addr,
                     sender=deployer, what="revoke the deployer's ATTESTOR_ROLE")
        amount, timestamp, rh, ah = token.reserveAttestation()
        attestation = {
            "amount": int(amount),
            "amount_usd": format_usd(amount),
            "report_hash": hex32(rh),
            "audit_head": hex32(ah),
            "timestamp": int(timestamp),
            "block": receipt.block_number,
            "attestor": signer.address,
        }
        say(f"reserves attested: {format_usd(attest_amount)} USD")

    if admin_addr != deployer_addr:
        grant("DEFAULT_ADMIN_ROLE", admin_addr)
        for name in OPERATIONAL_ROLES:
            if holder_addrs[name] != deployer_addr and token.hasRole(ROLE_IDS[name], deployer_addr):
                transact(token.revokeRole, ROLE_IDS[name], deployer_addr, sender=deployer)
        transact(token.renounceRole, ROLE_IDS["DEFAULT_ADMIN_ROLE"], deployer_addr,
                 sender=deployer, what="renounce the deployer's admin role")
        say(f"DEFAULT_ADMIN_ROLE -> {admin_addr} (the deployer renounced it)")

    role_holders: dict[str, list[str]] = {"DEFAULT_ADMIN_ROLE": [admin_addr]}
    role_holders["MINTER_ROLE"] = [minter_addr] if minter_addr else []
    for name in OPERATIONAL_ROLES:
        role_holders[name] = [holder_addrs[name]]

    block = chain.provider.get_block(proxy_receipt.block_number)
    info: dict[str, Any] = {
        "chain_id": chain.chain_id,
        "network": network_key(),
        "token": proxy.address,
        "implementation": impl.address,
        "implementation_contract": implementation,
        "deployment_block": proxy_receipt.block_number,
        "deployment_block_hash": "0x" + bytes(block.hash).hex(),
        "deployer": deployer_addr,
        "deployed_at": _now(),
        "max_attestation_age": int(max_attestation_age),
        "roles": role_holders,
        "minters": (
            {
                minter_addr: {
                    "allowance": int(minter_allowance),
                    "allowance_usd": format_usd(minter_allowance),
                    "max_per_mint": int(max_per_mint),
                    "max_per_mint_usd": format_usd(max_per_mint),
                }
            }
            if minter_addr
            else {}
        ),
        "attestation": attestation,
        "upgrades": [],
    }
    return token, info


def add_holder(info: dict, role: str, address: str) -> None:
    holders = info.setdefault("roles", {}).setdefault(role, [])
    if address not in holders:
        holders.append(address)


def remove_holder(info: dict, role: str, address: str) -> None:
    holders = info.setdefault("roles", {}).setdefault(role, [])
    if address in holders:
        holders.remove(address)


def known_addresses(token, info: Mapping[str, Any], extra: Iterable[str] = ()) -> list[str]:
    """Every address that may hold a role: the deployment file's holders, the accounts named in
    RoleGranted events since the deployment block (when the node serves logs), and `extra`."""
    seen: dict[str, None] = {}
    for holders in (info.get("roles") or {}).values():
        for address in holders:
            seen[to_checksum_address(address)] = None
    for address in (info.get("minters") or {}):
        seen[to_checksum_address(address)] = None
    try:
        from ape import chain

        start = int(info.get("deployment_block", 0))
        for log in token.RoleGranted.range(start, chain.blocks.height + 1):
            seen[to_checksum_address(log.account)] = None
    except Exception:  # noqa: BLE001 - a node without log queries: the file's holders only
        pass
    for address in extra:
        seen[to_checksum_address(address)] = None
    return list(seen)


def role_table(token, addresses: Iterable[str]) -> dict[str, list[str]]:
    """Role name -> the addresses among `addresses` that hold it now."""
    addresses = list(addresses)
    return {
        name: [a for a in addresses if token.hasRole(ROLE_IDS[name], a)] for name in ROLE_NAMES
    }
