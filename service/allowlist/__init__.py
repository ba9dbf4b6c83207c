"""KYC allowlist end to end: a resident proves control of an address (EIP-191 personal_sign of
a fixed message), the bank relays it, the service checks it and a worker holding the compliance
key calls the token's `setAllowed`; the bank's KYC revocation removes it again."""
