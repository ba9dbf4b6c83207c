"""Deployment records: deployments/<network>.json (or $USHK_DEPLOYMENTS_DIR/<network>.json),
written by `ape run deploy token` and kept current by the commands that change roles, minters,
the maximum attestation age or the implementation."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from scripts._ushk.network import align_local_chain_id, network_choice, network_key

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENTS_ENV = "USHK_DEPLOYMENTS_DIR"


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


def relative_path(path: Path) -> str:
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
            f"no deployment file {relative_path(path)}: run `{deploy_cmd}` first", param_hint="--network"
        )
    try:
        info = json.loads(path.read_text())
        info["token"]
    except (ValueError, KeyError) as err:
        raise click.BadParameter(
            f"{relative_path(path)} is not a USHK deployment file ({err}): run `{deploy_cmd}` again",
            param_hint="--network",
        ) from None
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
                f"{relative_path(path)} describes another chain ({stale}): run `{deploy_cmd}` first",
                param_hint="--network",
            )
    return info


def add_holder(info: dict, role: str, address: str) -> None:
    holders = info.setdefault("roles", {}).setdefault(role, [])
    if address not in holders:
        holders.append(address)


def remove_holder(info: dict, role: str, address: str) -> None:
    holders = info.setdefault("roles", {}).setdefault(role, [])
    if address in holders:
        holders.remove(address)


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()
