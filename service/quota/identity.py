"""Resident identities: only a keyed hash is ever kept, and the public sees a pseudonym.

    resident_hash = hex(HMAC-SHA256(id_hmac_secret, id_type ":" normalized id_number))

`id_type` is lowercased. The id number is normalized so that the same document written two
ways hashes the same: Unicode NFKC, uppercase, and spaces, hyphens, dots, slashes and
parentheses removed ("a123 456(7)" -> "A1234567"); what remains must be 1-64 ASCII letters or
digits. The pseudonym is derived from the hash (not from the number), so it can be published
without the HMAC key being usable to test guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from service.errors import ServiceError

_ID_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_SEPARATORS = re.compile(r"[\s\-./()]")
_ID_NUMBER = re.compile(r"[A-Z0-9]{1,64}")


class InvalidResident(ServiceError):
    """Resident id type or id number format."""

    status_code = 422
    code = "invalid_resident"


def normalize_id_type(id_type: str) -> str:
    if not _ID_TYPE.fullmatch(id_type):
        raise InvalidResident("resident.id_type must be 1-32 letters, digits or _")
    return id_type.lower()


def normalize_id_number(id_number: str) -> str:
    value = _SEPARATORS.sub("", unicodedata.normalize("NFKC", id_number).upper())
    if not _ID_NUMBER.fullmatch(value):
        raise InvalidResident(
            "resident.id_number must be 1-64 letters or digits (spaces, -, ., /, ( ) ignored)"
        )
    return value


def resident_hash(secret: bytes, id_type: str, id_number: str) -> str:
    message = f"{normalize_id_type(id_type)}:{normalize_id_number(id_number)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def pseudonym(resident_hash_hex: str) -> str:
    """Public pseudonym of a resident: "R-" and 16 hex digits of SHA-256 over the hash."""
    digest = hashlib.sha256(b"ushk-pseudonym:" + bytes.fromhex(resident_hash_hex)).hexdigest()
    return "R-" + digest[:16]
