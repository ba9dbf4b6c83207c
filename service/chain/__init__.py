"""The chain side of the reserve service: the token client, the minter and the attestor."""
