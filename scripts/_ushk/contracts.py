"""The project's contracts and the deployed token: containers, the USHK ABI at the proxy, and
the proxy's ERC-1967 implementation slot."""

from __future__ import annotations

from eth_utils import keccak, to_checksum_address

from scripts._ushk.deployments import load_deployment

# ERC-1967 implementation slot: bytes32(uint256(keccak256("eip1967.proxy.implementation")) - 1)
IMPLEMENTATION_SLOT = int.from_bytes(keccak(text="eip1967.proxy.implementation"), "big") - 1


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
