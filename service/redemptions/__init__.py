"""Redemptions: payout accounts registered by banks, the watcher of on-chain `RedemptionRequested`
events, and the payout instructions banks settle (docs/design.md section 4)."""
