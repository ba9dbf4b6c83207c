"""The connected network and the account that signs: network names as deployment files use
them, the --network value that reaches the node again, and the signer's default."""

from __future__ import annotations

import sys

import click


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
            configured = (
                provider.config.ethereum.local.get("uri") if provider.network.name == "local" else None
            )
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
