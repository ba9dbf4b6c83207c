"""Reserves: reserve reports, the attestor, minting halts and the reconciler (the ledger itself is
service/ledger)."""
