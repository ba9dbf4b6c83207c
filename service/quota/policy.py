"""The quota and eligibility policy, loaded from a YAML file (configuration, not code).

categories:
  mainland:
    eligible: false          # may residents of this category buy at all?
    limit: "50000.00"        # per resident per period, US dollars; null = no quota
    period: calendar_year    # calendar_year | calendar_month
    timezone: Asia/Shanghai  # where the period rolls over (midnight Jan 1 local time)
    id_types: [prc_id, passport]   # optional: accepted identity document types
splitting:
  min_residents: 5           # this many distinct residents funding one address ...
  window_hours: 24           # ... within this window is flagged
  suspend: true              # flagged residents' quota is suspended (watch list)
banks:
  daily_limit_timezone: Asia/Hong_Kong
value_date:                  # the value dates a deposit or payout settlement may carry
  timezone: Asia/Hong_Kong   # "today" is the calendar day here
  max_days_past: 30          # at most this many days before today ...
  max_days_future: 1         # ... and after it
custody:
  statements_required: true  # each bank's custody counts at most as its latest statement shows
  statement_max_age_hours: 36
  custodian_max_share_percent: 40       # optional: no bank above 40% of the total reserves ...
  concentration_applies_above: "5000000.00"  # ... once they are above this (USD; default 0)
cdd:                         # customer due diligence and the Travel Rule (docs/design.md)
  threshold_usd: "1000.00"   # deposits and payouts at or above this carry the bank's CDD
                             # confirmation and IVMS101 data; null: never required
four_eyes:                   # actions that wait for a second, different operator (optional)
  deposit_above: "250000.00" # a larger deposit waits for an approver; null = none waits
  deposit_approval_hours: 24 # not approved by then: rejected, its quota released
  minting_resume: true       # resuming minting after a halt is a request another approves
  bank_limit_raise: true     # so is raising a bank's limits (lowering applies at once)
  request_expiry_hours: 24   # those requests expire after this
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.money import InvalidAmount, parse_amount


class PolicyError(ValueError):
    pass


class _CategoryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    eligible: bool
    limit: str | None
    period: Literal["calendar_year", "calendar_month"] = "calendar_year"
    timezone: str
    id_types: list[str] | None = None


class _SplittingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_residents: int = Field(5, ge=2)
    window_hours: float = Field(24, gt=0)
    suspend: bool = True


class _BanksFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    daily_limit_timezone: str = "Asia/Hong_Kong"


class _ValueDateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = "Asia/Hong_Kong"
    max_days_past: int = Field(30, ge=0, le=366)
    max_days_future: int = Field(1, ge=0, le=31)


class _CustodyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statements_required: bool = True
    statement_max_age_hours: float = Field(36, gt=0, le=24 * 31)
    # at most this share of the total reserves at one bank (percent, up to 2 decimals); None: no limit
    custodian_max_share_percent: Decimal | None = Field(None, gt=0, le=100, decimal_places=2)
    # ... once the total reserves after the deposit are above this (US dollars, "0.00" if absent)
    concentration_applies_above: str = "0.00"


class _CddFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # HK$8,000 at the 7.75-7.85 band is US$1,019-1,032: US$1,000 is below the whole band.
    threshold_usd: str | None = "1000.00"


class _FourEyesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deposit_above: str | None = None
    deposit_approval_hours: float = Field(24, gt=0, le=24 * 31)
    minting_resume: bool = False
    bank_limit_raise: bool = False
    request_expiry_hours: float = Field(24, gt=0, le=24 * 31)


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: dict[str, _CategoryFile]
    splitting: _SplittingFile = _SplittingFile()
    banks: _BanksFile = _BanksFile()
    value_date: _ValueDateFile = _ValueDateFile()
    custody: _CustodyFile = _CustodyFile()
    cdd: _CddFile = _CddFile()
    four_eyes: _FourEyesFile = _FourEyesFile()

    @field_validator("categories")
    @classmethod
    def _names(cls, value: dict[str, _CategoryFile]) -> dict[str, _CategoryFile]:
        if not value:
            raise ValueError("at least one category is required")
        for name in value:
            if not name.isidentifier() or not name.islower() or len(name) > 32:
                raise ValueError(f"category name {name!r} must be a lowercase identifier")
        return value


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyError(f"unknown timezone {name!r}") from None


@dataclass(frozen=True)
class CategoryPolicy:
    name: str
    eligible: bool
    limit_cents: int | None
    period: str
    timezone: ZoneInfo
    id_types: frozenset[str] | None

    def period_key(self, at: dt.datetime) -> str:
        """The period containing instant `at`, in this category's timezone ("2025" or
        "2025-01")."""
        local = at.astimezone(self.timezone)
        if self.period == "calendar_month":
            return f"{local.year:04d}-{local.month:02d}"
        return f"{local.year:04d}"


@dataclass(frozen=True)
class SplittingPolicy:
    min_residents: int
    window: dt.timedelta
    suspend: bool


@dataclass(frozen=True)
class ValueDateWindow:
    """The value dates accepted at an instant: from `max_days_past` days before that instant's
    calendar day in `timezone` to `max_days_future` days after it, both included."""

    timezone: ZoneInfo
    max_days_past: int
    max_days_future: int

    def bounds(self, at: dt.datetime) -> tuple[dt.date, dt.date]:
        today = at.astimezone(self.timezone).date()
        return (
            today - dt.timedelta(days=self.max_days_past),
            today + dt.timedelta(days=self.max_days_future),
        )


@dataclass(frozen=True)
class CustodyPolicy:
    """How the banks' custody statements bound the attestable reserve (service/reserves/custody.py).
    `statements_required`: each bank's custody counts at most its latest statement's balance, and
    nothing without a statement younger than `statement_max_age`; off, the ledger's custody
    counts as it is (deployments whose banks post no statements yet)."""

    statements_required: bool = True
    statement_max_age: dt.timedelta = dt.timedelta(hours=36)
    # Concentration (service/deposits/service.py): a deposit that would bring its bank's custody
    # above this share of the total reserves (basis points; None: no limit) is refused, once the
    # total reserves after it are above `concentration_applies_above_cents` (a new system's first
    # deposits are necessarily all at one bank or two).
    custodian_max_share_bp: int | None = None
    concentration_applies_above_cents: int = 0


@dataclass(frozen=True)
class CddPolicy:
    """Deposits and payouts of at least `threshold_cents` (None: none) must carry the bank's
    CDD confirmation and the IVMS101 data of the Travel Rule (service/travel_rule/)."""

    threshold_cents: int | None = 100_000

    def requires(self, amount_cents: int) -> bool:
        return self.threshold_cents is not None and amount_cents >= self.threshold_cents


@dataclass(frozen=True)
class FourEyesPolicy:
    """Which actions wait for a second, different operator (service/banks/approvals.py).
    `deposit_above_cents`: a deposit of more is accepted as `awaiting_approval` and minted
    only once approved, rejected (its quota released) when not approved within
    `deposit_approval`; None: no deposit waits. `minting_resume` / `bank_limit_raise`: resuming
    minting after a halt / raising a bank's limits is a request another operator approves
    within `request_expiry`."""

    deposit_above_cents: int | None = None
    deposit_approval: dt.timedelta = dt.timedelta(hours=24)
    minting_resume: bool = False
    bank_limit_raise: bool = False
    request_expiry: dt.timedelta = dt.timedelta(hours=24)

    def deposit_waits(self, amount_cents: int) -> bool:
        return self.deposit_above_cents is not None and amount_cents > self.deposit_above_cents


@dataclass(frozen=True)
class Policy:
    categories: dict[str, CategoryPolicy]
    splitting: SplittingPolicy
    bank_day_timezone: ZoneInfo
    value_dates: ValueDateWindow = ValueDateWindow(ZoneInfo("Asia/Hong_Kong"), 30, 1)
    custody: CustodyPolicy = CustodyPolicy()
    cdd: CddPolicy = CddPolicy()
    four_eyes: FourEyesPolicy = FourEyesPolicy()
    source: str = "<dict>"

    def category(self, name: str) -> CategoryPolicy | None:
        return self.categories.get(name)

    def bank_day(self, at: dt.datetime) -> dt.date:
        """The calendar day (Hong Kong by default) that a bank's daily limit counts in."""
        return at.astimezone(self.bank_day_timezone).date()

    @classmethod
    def from_dict(cls, data: object, source: str = "<dict>") -> Policy:
        try:
            parsed = _PolicyFile.model_validate(data)
        except ValidationError as exc:
            raise PolicyError(f"{source}: {exc}") from None
        categories = {}
        for name, item in parsed.categories.items():
            try:
                limit = None if item.limit is None else parse_amount(item.limit)
            except InvalidAmount as exc:
                raise PolicyError(f"{source}: categories.{name}.limit: {exc.message}") from None
            categories[name] = CategoryPolicy(
                name=name,
                eligible=item.eligible,
                limit_cents=limit,
                period=item.period,
                timezone=_zone(item.timezone),
                id_types=None if item.id_types is None else frozenset(t.lower() for t in item.id_types),
            )
        threshold = parsed.cdd.threshold_usd
        try:
            threshold_cents = None if threshold is None else parse_amount(threshold)
        except InvalidAmount as exc:
            raise PolicyError(f"{source}: cdd.threshold_usd: {exc.message}") from None
        four_eyes = parsed.four_eyes
        try:
            deposit_above = None if four_eyes.deposit_above is None else parse_amount(four_eyes.deposit_above)
        except InvalidAmount as exc:
            raise PolicyError(f"{source}: four_eyes.deposit_above: {exc.message}") from None
        try:
            floor = parse_amount(parsed.custody.concentration_applies_above, allow_zero=True)
        except InvalidAmount as exc:
            raise PolicyError(f"{source}: custody.concentration_applies_above: {exc.message}") from None
        return cls(
            categories=categories,
            splitting=SplittingPolicy(
                min_residents=parsed.splitting.min_residents,
                window=dt.timedelta(hours=parsed.splitting.window_hours),
                suspend=parsed.splitting.suspend,
            ),
            bank_day_timezone=_zone(parsed.banks.daily_limit_timezone),
            value_dates=ValueDateWindow(
                timezone=_zone(parsed.value_date.timezone),
                max_days_past=parsed.value_date.max_days_past,
                max_days_future=parsed.value_date.max_days_future,
            ),
            custody=CustodyPolicy(
                statements_required=parsed.custody.statements_required,
                statement_max_age=dt.timedelta(hours=parsed.custody.statement_max_age_hours),
                custodian_max_share_bp=None
                if parsed.custody.custodian_max_share_percent is None
                else int(parsed.custody.custodian_max_share_percent * 100),
                concentration_applies_above_cents=floor,
            ),
            cdd=CddPolicy(threshold_cents=threshold_cents),
            four_eyes=FourEyesPolicy(
                deposit_above_cents=deposit_above,
                deposit_approval=dt.timedelta(hours=four_eyes.deposit_approval_hours),
                minting_resume=four_eyes.minting_resume,
                bank_limit_raise=four_eyes.bank_limit_raise,
                request_expiry=dt.timedelta(hours=four_eyes.request_expiry_hours),
            ),
            source=source,
        )

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"cannot read policy file {path}: {exc}") from None
        except yaml.YAMLError as exc:
            raise PolicyError(f"{path}: invalid YAML: {exc}") from None
        return cls.from_dict(data, source=str(path))
