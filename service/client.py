"""The bank client, for the service's own tools and tests: the `ushk-client` package
(clients/python/, `pip install ./clients/python`; tools/install.sh installs it into .venv),
re-exported under its old name. Banks install that package; it needs nothing of `service`."""

from ushk_client import (
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

__all__ = [
    "AsyncBankClient",
    "BankClient",
    "USHKError",
    "build_confirmation",
    "build_settlement",
    "signed_batch",
    "signed_request",
    "signed_settlement",
    "signed_statement",
]
