"""What every rule type shares: its parameters' types (amounts, percentages, durations), the
registry of rule types, the base class and the helpers that read log entries.

A rule type is a subclass of `RuleBase` registered under its `type_name`, with a pydantic model
of its parameters (`params_model`, extra fields refused). `kinds` lists the observation kinds it
looks at; `observe` returns nothing for the others without calling the rule's `check`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from service.monitor.model import Draft, Observation, Severity

_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
HK_OFFSET = 8 * 3600  # Hong Kong time is UTC+8 all year
DAY = 86400
HOUR = 3600


def decimal_value(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f'not a {what} (write it as a string such as "1000.50")')
    text = str(value)
    if _DECIMAL.fullmatch(text) is None:
        raise ValueError(f"not a {what}")
    return Decimal(text)


def _amount(value: object) -> Decimal:
    return decimal_value(value, "decimal amount")


def _percent(value: object) -> Decimal:
    number = decimal_value(value, "percentage")
    if number > 100:
        raise ValueError("not a percentage (above 100)")
    return number


# An amount in token units, written as a decimal string ("250000", "0.5"); converted to base units
# with the token's decimals by `RuleBase.units`.
Amount = Annotated[Decimal, BeforeValidator(_amount)]
# A percentage between 0 and 100, as a decimal string ("20", "2.5").
Percent = Annotated[Decimal, BeforeValidator(_percent)]
# A duration in seconds.
Seconds = Annotated[int, Field(gt=0, strict=True)]
Count = Annotated[int, Field(ge=1, strict=True)]


class Params(BaseModel):
    """Parameters of a rule type: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AmountParams(Params):
    """Parameters of a rule with amounts: `decimals` converts them to base units until a
    `chain_state` observation tells the token's own."""

    decimals: Annotated[int, Field(ge=0, le=36, strict=True)] = 6


P = TypeVar("P", bound=Params)


class RuleBase(Generic[P]):
    """A configured rule: `id`, `type`, `severity` and `observe` (service.monitor.model.Rule)."""

    type_name: ClassVar[str]
    params_model: ClassVar[type[Params]]
    kinds: ClassVar[frozenset[str]]

    def __init__(self, rule_id: str, severity: Severity, params: P) -> None:
        self.id = rule_id
        self.type = self.type_name
        self.severity = severity
        self.params = params
        self.decimals = int(getattr(params, "decimals", 6))
        self.rescale()

    def rescale(self) -> None:
        """Recompute the thresholds in base units (after the token's decimals changed)."""

    def units(self, amount: Decimal) -> int:
        """Token units (a decimal amount) -> base units."""
        return int(amount.scaleb(self.decimals))

    def cents_units(self, cents: int) -> int:
        """US cents of a log entry -> base units (one token is one dollar)."""
        if self.decimals >= 2:
            return cents * 10 ** (self.decimals - 2)
        return cents // 10 ** (2 - self.decimals)

    def observe(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind not in self.kinds:
            return ()
        if obs.kind == "chain_state":
            decimals = obs.fields.get("decimals")
            if isinstance(decimals, int) and decimals != self.decimals:
                self.decimals = decimals
                self.rescale()
        return self.check(obs)

    def check(self, obs: Observation) -> Iterable[Draft]:
        raise NotImplementedError


RULE_TYPES: dict[str, type[RuleBase[Any]]] = {}

R = TypeVar("R", bound=type[RuleBase[Any]])


def register(type_name: str, params_model: type[Params], kinds: Iterable[str]) -> Callable[[R], R]:
    """Class decorator: a rule type of the rules file."""

    def wrap(cls: R) -> R:
        cls.type_name = type_name
        cls.params_model = params_model
        cls.kinds = frozenset(kinds)
        RULE_TYPES[type_name] = cls
        return cls

    return wrap


# ---- log entries ------------------------------------------------------------------------------


def entry_kind(obs: Observation) -> str:
    return str(obs.fields.get("kind", ""))


def entry_fields(obs: Observation) -> Mapping[str, Any]:
    """A log entry's public fields (`fields`; `public` as the leaf itself names them)."""
    fields = obs.fields.get("fields", obs.fields.get("public"))
    return fields if isinstance(fields, Mapping) else {}


def actor_bank(obs: Observation) -> str | None:
    """The bank name of an entry recorded by a bank ("bank:NAME"), else None."""
    actor = obs.fields.get("actor")
    if isinstance(actor, str) and actor.startswith("bank:"):
        return actor[5:]
    return None


class BankNames:
    """Bank names by bank id and by deposit id, learned from the log's public entries (a bank's
    own entries carry "bank:NAME" as actor beside `bank_id` and `deposit_id`). A deposit's bank
    is kept from its entry before the mint (`deposit.accepted`) until its `Minted` is seen."""

    def __init__(self, *, track_deposits: bool = True) -> None:
        self.track_deposits = track_deposits
        self.by_id: dict[int, str] = {}
        self.by_deposit: dict[str, str] = {}

    def learn(self, obs: Observation) -> None:
        fields = entry_fields(obs)
        name = actor_bank(obs) or (fields.get("bank") if isinstance(fields.get("bank"), str) else None)
        bank_id = fields.get("bank_id")
        if name is not None and isinstance(bank_id, int):
            self.by_id[bank_id] = name
        deposit_id = fields.get("deposit_id")
        if self.track_deposits and isinstance(deposit_id, str) and entry_kind(obs) != "deposit.minted":
            bank = name or self.of_id(bank_id)
            if bank is not None:
                self.by_deposit[deposit_id.lower()] = bank

    def minted(self, deposit_id: str) -> str | None:
        """The bank of a deposit now minted (forgotten: a deposit id is minted once)."""
        return self.by_deposit.pop(deposit_id, None)

    def of_id(self, bank_id: object) -> str | None:
        if isinstance(bank_id, int):
            return self.by_id.get(bank_id, f"bank_id:{bank_id}")
        return None

    def of_entry(self, obs: Observation) -> str | None:
        fields = entry_fields(obs)
        return actor_bank(obs) or self.of_id(fields.get("bank_id"))


def hk_day(t: int) -> int:
    """The Hong Kong calendar day of a unix time, as days since 1970-01-01."""
    return (t + HK_OFFSET) // DAY


def day_iso(day: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


def as_int(value: object) -> int | None:
    """An int field that may come as a decimal string ("dust_units": "42")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
