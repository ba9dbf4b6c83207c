"""Redemptions: payout accounts registered by banks, the watcher of on-chain `RedemptionRequested`
events, and the payout instructions banks settle (DESIGN.md section 4)."""
