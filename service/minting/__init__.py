"""Minting: the minter that claims accepted deposits from the outbox and mints them on chain."""
