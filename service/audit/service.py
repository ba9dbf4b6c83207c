"""Verification of the audit chain."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.audit import repository
from service.audit.models import GENESIS_HASH


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str | None = None


def verify(session: Session) -> VerifyResult:
    """Walk the whole chain: seqs contiguous from 1, each prev_hash equal to the previous hash,
    each hash recomputed from the stored fields, and the head row equal to the last entry.
    Reports the first broken link."""
    head_seq, head_hash = repository.head(session)
    prev = GENESIS_HASH
    expected_seq = 1
    checked = 0

    def broken(seq: int, problem: str) -> VerifyResult:
        return VerifyResult(False, checked, head_seq, head_hash, seq, problem)

    for entry in repository.iter_entries(session):
        if entry.seq != expected_seq:
            return broken(expected_seq, f"entry {expected_seq} is missing (next is {entry.seq})")
        if entry.prev_hash != prev:
            return broken(entry.seq, "prev_hash does not match the previous entry's hash")
        try:
            payload = json.loads(entry.payload)
            digest = repository.entry_hash(
                entry.prev_hash, entry.seq, entry.created_at, entry.kind, entry.actor, payload
            )
        except ValueError as exc:
            return broken(entry.seq, f"payload is not canonical JSON: {exc}")
        if digest != entry.hash:
            return broken(entry.seq, "hash does not match the entry's contents")
        prev = entry.hash
        expected_seq += 1
        checked += 1
    if checked != head_seq or prev != head_hash:
        return broken(
            checked + 1 if checked < head_seq else head_seq,
            f"audit head (seq {head_seq}) does not match the last entry (seq {checked})",
        )
    return VerifyResult(True, checked, head_seq, head_hash)
