"""The upgrade timelock (an OpenZeppelin TimelockController, contracts/USHKTimelock.sol) of a
deployment, its roles, the operations recorded in deployments/<network>.json, and the checks an
implementation passes before it is scheduled (UUPS, and the storage-layout gate)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import click
from eth_utils import keccak

from scripts._ushk.contracts import project_contract

ROOT = Path(__file__).resolve().parents[2]
# TimelockController.OperationState, by its value
OPERATION_STATES = ("unset", "waiting", "ready", "done")
TIMELOCK_ROLES = ("PROPOSER_ROLE", "EXECUTOR_ROLE", "CANCELLER_ROLE")


@cache
def storage_layout_tool():
    """tools/storage_layout.py as a module."""
    spec = importlib.util.spec_from_file_location("storage_layout", ROOT / "tools" / "storage_layout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def uups_container(contract_name: str):
    """The project contract `contract_name`, refused (a usage error) unless it is a UUPS
    implementation."""
    container = project_contract(contract_name)
    if container is None:
        raise click.BadParameter(
            f"no contract named '{contract_name}' in this project", param_hint="CONTRACT_NAME"
        )
    abi_names = {getattr(item, "name", None) for item in container.contract_type.abi}
    if not {"proxiableUUID", "upgradeToAndCall"} <= abi_names:
        raise click.BadParameter(
            f"'{contract_name}' is not a UUPS implementation (no proxiableUUID/upgradeToAndCall)",
            param_hint="CONTRACT_NAME",
        )
    return container


def check_storage_layout(container, contract_name: str) -> None:
    """The storage-layout gate: refuses (exit 1) an implementation whose USHKStorage moves or
    changes a member contracts/storage-layout/USHK.json records, or that keeps state outside the
    ERC-7201 namespaces."""
    source = container.contract_type.source_id
    if not source or not (ROOT / source).exists():
        raise click.ClickException(
            f"the source of {contract_name} is not in this project: cannot check its storage"
        )
    problems = storage_layout_tool().implementation_problems(source, contract_name)
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise click.ClickException(
            f"refused: {contract_name} ({source}) is not storage-compatible with the deployed token "
            f"(contracts/storage-layout/USHK.json):\n{lines}\n"
            "an upgrade may only append members to USHKStorage (docs/token-design.md, Upgrades)"
        )


def timelock_at(address: str):
    from ape import Contract

    return Contract(address, contract_type=project_contract("USHKTimelock").contract_type)


def timelock_from_deployment(info: dict[str, Any]):
    """The deployment's timelock; a clear error when it has none (deployed with --upgrader)."""
    record = info.get("timelock")
    if not record:
        raise click.ClickException(
            "this deployment has no upgrade timelock (it was deployed with --upgrader): the upgrader "
            "upgrades directly with `ape run ops upgrade`"
        )
    return timelock_at(record["address"])


def role_id(name: str) -> bytes:
    return keccak(text=name)


def require_timelock_role(timelock, role: str, account, *, doing: str) -> None:
    """Refuses early, with a clear message, when `account` lacks the timelock's `role` (an
    EXECUTOR_ROLE held by address(0) is open to everyone)."""
    rid = role_id(role)
    if timelock.hasRole(rid, account.address):
        return
    if role == "EXECUTOR_ROLE" and timelock.hasRole(rid, "0x" + "00" * 20):
        return
    raise click.ClickException(
        f"{account.address} does not hold the timelock's {role}, which {doing} needs "
        f"(pick the holder with --account)"
    )


def find_operation(info: dict[str, Any], operation_id: bytes | None) -> dict[str, Any]:
    """The recorded operation `operation_id`, or the last one scheduled when None."""
    ops = (info.get("timelock") or {}).get("operations") or []
    if operation_id is None:
        pending = [op for op in ops if op.get("state") == "scheduled"]
        if not pending:
            raise click.ClickException("no scheduled upgrade recorded: `ape run upgrade schedule` first")
        return pending[-1]
    wanted = "0x" + bytes(operation_id).hex()
    for op in ops:
        if op["id"] == wanted:
            return op
    raise click.BadParameter(f"no operation {wanted} in the deployment file", param_hint="OPERATION_ID")
