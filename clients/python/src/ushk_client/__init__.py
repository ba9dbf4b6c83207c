"""ushk-client: the Python client for banks of the USHK reserve service (README.md)."""

from ushk_client.client import (
    AsyncBankClient,
    BankClient,
    USHKError,
    build_confirmation,
    build_settlement,
    signed_batch,
    signed_request,
    signed_settlement,
    signed_statement,
)
from ushk_client.signing import (
    canonical_batch,
    canonical_message,
    load_private_key,
    public_key_b64,
    sign,
    sign_batch,
)

__all__ = [
    "AsyncBankClient",
    "BankClient",
    "USHKError",
    "build_confirmation",
    "build_settlement",
    "canonical_batch",
    "canonical_message",
    "load_private_key",
    "public_key_b64",
    "sign",
    "sign_batch",
    "signed_batch",
    "signed_request",
    "signed_settlement",
    "signed_statement",
]
__version__ = "0.1.0"
