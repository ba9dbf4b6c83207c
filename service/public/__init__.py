"""The public ledger: what anyone may read of the service's records, without a login."""
