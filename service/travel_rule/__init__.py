"""Customer due diligence and the Travel Rule: the IVMS101 data a bank signs into a deposit
confirmation (the originator) or a payout settlement (the beneficiary), kept encrypted at rest
(AES-256-GCM, the key from USHK_TRAVEL_RULE_KEY) and readable only by a supervisor."""
