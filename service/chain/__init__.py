"""The chain side: the token client (JSON-RPC, signing, event decoding), chain cursors and the
minter's lease. It knows no domain: the minter, attestor and followers above it use it."""
