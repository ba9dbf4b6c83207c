"""Reserves: the double-entry reserve ledger, reserve reports, minting halts and the reconciler."""
