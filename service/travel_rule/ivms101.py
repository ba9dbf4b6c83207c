"""The CDD confirmation and IVMS101 natural-person data a bank signs (docs/bank-api.md).

Inside a signed confirmation or settlement, every value is a string:

    "cdd": {"confirmed": "true", "reference": "HSBC-CDD-2025-0042"}
    "originator" (deposits) / "beneficiary_party" (payouts): {
        "primary_identifier": "CHAN",            IVMS101 NaturalPersonNameID.primaryIdentifier
        "secondary_identifier": "TAI MAN",       ... .secondaryIdentifier (optional)
        "national_identifier": "A1234567",       NationalIdentification.nationalIdentifier
        "national_identifier_type": "IDCD",      NationalIdentification.nationalIdentifierType
        "country_of_residence": "HK"}            NaturalPerson.countryOfResidence (ISO 3166-1)

Required (`cdd_required`, `travel_rule_data_required`) when the amount is at least the policy's
`cdd.threshold_usd`; checked for form (`invalid_travel_rule_data`) whenever present.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

from service.errors import ServiceError

Text = Annotated[str, StringConstraints(strict=True, max_length=256)]

# IVMS101 NationalIdentifierTypeCode.
ID_TYPE_CODES = frozenset({"ARNU", "CCPT", "RAID", "DRLC", "FIIN", "TXID", "SOCS", "IDCD", "LEIX", "MISC"})
# ISO 3166-1 alpha-2, officially assigned codes.
_COUNTRY_CODES = """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC
    EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK
    HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB
    LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU
    RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN
    TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"""
COUNTRIES = frozenset(_COUNTRY_CODES.split())


class CddRequired(ServiceError):
    """At or above the CDD threshold (policy `cdd.threshold_usd`) the signed body must carry the
    bank's CDD confirmation, `cdd: {"confirmed": "true", "reference": ...}`. Nothing is stored."""

    status_code = 422
    code = "cdd_required"
    message = "This amount requires the bank's CDD confirmation in the signed body."


class TravelRuleDataRequired(ServiceError):
    """At or above the CDD threshold the signed body must carry the IVMS101 data of the
    originator (deposit) or beneficiary (payout): the Travel Rule. Nothing is stored."""

    status_code = 422
    code = "travel_rule_data_required"
    message = "This amount requires the IVMS101 Travel Rule data in the signed body."


class InvalidTravelRuleData(ServiceError):
    """A CDD confirmation or IVMS101 party of the wrong form (name, national identifier and its
    type code, country of residence)."""

    status_code = 422
    code = "invalid_travel_rule_data"
    message = "The CDD confirmation or the IVMS101 data is malformed."


def _no_null(value: Any) -> Any:
    if value is None:
        raise ValueError("must be given as a string or object, not null")
    return value


class CddIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    confirmed: Text
    reference: Text


class PartyIn(BaseModel):
    """An IVMS101 natural person (the originator of a deposit, the beneficiary of a payout)."""

    model_config = ConfigDict(extra="forbid")
    primary_identifier: Text
    secondary_identifier: Text | None = None
    national_identifier: Text
    national_identifier_type: Text
    country_of_residence: Text

    @field_validator("secondary_identifier", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        return _no_null(value)


def _text(value: str, name: str, limit: int) -> str:
    if not value.strip() or len(value) > limit or value != value.strip():
        raise InvalidTravelRuleData(f"{name} must be 1-{limit} characters without surrounding spaces")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in value):
        raise InvalidTravelRuleData(f"{name} must not hold control characters")
    return value


def check_cdd(cdd: CddIn) -> None:
    if cdd.confirmed != "true":
        raise CddRequired('cdd.confirmed must be "true": the bank completed CDD on this customer')
    _text(cdd.reference, "cdd.reference", 64)


def check_party(party: PartyIn, name: str) -> None:
    _text(party.primary_identifier, f"{name}.primary_identifier", 100)
    if party.secondary_identifier is not None:
        _text(party.secondary_identifier, f"{name}.secondary_identifier", 100)
    _text(party.national_identifier, f"{name}.national_identifier", 35)
    if party.national_identifier_type not in ID_TYPE_CODES:
        raise InvalidTravelRuleData(
            f"{name}.national_identifier_type must be an IVMS101 code: " + ", ".join(sorted(ID_TYPE_CODES))
        )
    if party.country_of_residence not in COUNTRIES:
        raise InvalidTravelRuleData(f"{name}.country_of_residence must be an ISO 3166-1 alpha-2 code (HK)")


def check(*, required: bool, cdd: CddIn | None, party: PartyIn | None, name: str) -> dict[str, Any] | None:
    """The data to keep ({"cdd": ..., name: ...}), None when there is none; refuses what is
    missing when `required` and what is malformed whenever it is present."""
    if required and cdd is None:
        raise CddRequired(
            'an amount at or above the CDD threshold requires `cdd` ({"confirmed": "true", '
            '"reference": ...}) in the signed body'
        )
    if required and party is None:
        raise TravelRuleDataRequired(
            f"an amount at or above the CDD threshold requires `{name}`, the IVMS101 data of the "
            "natural person (name, national identification and its type code, country of residence)"
        )
    if cdd is not None:
        check_cdd(cdd)
    if party is not None:
        check_party(party, name)
    data: dict[str, Any] = {}
    if cdd is not None:
        data["cdd"] = cdd.model_dump(exclude_none=True)
    if party is not None:
        data[name] = party.model_dump(exclude_none=True)
    return data or None


ERRORS: tuple[type[ServiceError], ...] = (CddRequired, TravelRuleDataRequired, InvalidTravelRuleData)
