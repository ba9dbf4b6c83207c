"""USHK ape scripts: `ape run deploy|roles|mint|redeem|ops ...` (helpers in the _ushk package)."""
