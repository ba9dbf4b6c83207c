"""Append-only, hash-chained audit log.

`record(session, kind, actor, payload)` queues an entry written at commit; `head(session)` gives
(seq, hash) of the last entry for on-chain attestation; `verify(session)` checks the chain.
"""

from service.audit.repository import head, record
from service.audit.service import VerifyResult, verify

__all__ = ["VerifyResult", "head", "record", "verify"]
