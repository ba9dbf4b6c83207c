"""The statistical anomaly rule: per-bank baselines of daily mint volume and hourly mint count
(velocity) learned from the log's `deposit.minted` entries, and a robust z-score of the current
period against them.

    z = (x - median) / (1.4826 * MAD)

over the bank's last completed periods (periods without mints count as zero). A MAD of zero
falls back to the mean absolute deviation times 1.2533 (both estimate the standard deviation of
a normal sample); when that is zero too the baseline is flat and nothing fires. Only bank
baselines with at least `min_days` days (`min_hours` hours) of history are judged. Pure
arithmetic on the observations, so replays give the same scores.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from statistics import median
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from service.monitor.model import Draft, Observation
from service.monitor.rules.base import (
    HK_OFFSET,
    HOUR,
    AmountParams,
    BankNames,
    Count,
    RuleBase,
    as_int,
    day_iso,
    decimal_value,
    entry_fields,
    entry_kind,
    hk_day,
    register,
)

MAD_SCALE = 1.4826
MEAN_AD_SCALE = 1.2533


def _score(value: object) -> Decimal:
    return decimal_value(value, "decimal number")


Score = Annotated[Decimal, BeforeValidator(_score)]


class AnomalyParams(AmountParams):
    threshold: Score = Decimal("3.5")
    min_days: Count = 7
    min_hours: Count = 48
    history_days: Count = 60
    history_hours: Count = 24 * 14
    volume: bool = True
    velocity: bool = True
    min_count: int = Field(3, ge=0, strict=True)  # an hour with fewer mints is never an anomaly


def baseline(history: Iterable[float]) -> tuple[float, float, float]:
    """(median, MAD, scale) of a history: scale is what divides the deviation."""
    values = list(history)
    med = median(values)
    mad = median(abs(v - med) for v in values)
    scale = MAD_SCALE * mad
    if scale == 0:
        scale = MEAN_AD_SCALE * sum(abs(v - med) for v in values) / len(values)
    return med, mad, scale


def _num(value: float, places: int = 3) -> str:
    """A figure of a finding as a decimal string (findings are canonical JSON: no floats)."""
    return str(int(value)) if value == int(value) else f"{value:.{places}f}"


class _Series:
    """One bank's per-period totals: the completed ones (the last `keep`) and the current one."""

    __slots__ = ("current", "history", "period", "reported")

    def __init__(self, period: int, keep: int) -> None:
        self.period = period
        self.current = 0
        self.history: deque[int] = deque(maxlen=keep)
        self.reported = -1

    def add(self, period: int, value: int) -> None:
        if period > self.period:
            self.history.append(self.current)
            keep = self.history.maxlen or 0
            for _ in range(min(period - self.period - 1, keep)):
                self.history.append(0)
            self.period, self.current = period, 0
        self.current += value


@register("bank_anomaly", AnomalyParams, ("log_entry", "chain_state"))
class BankAnomaly(RuleBase[AnomalyParams]):
    """A bank's mint volume of the current Hong Kong day, or its mint count of the current hour,
    above its baseline by a robust z-score over `threshold`; once per bank, feature and period."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.banks = BankNames(track_deposits=False)
        self.days: dict[str, _Series] = {}
        self.hours: dict[str, _Series] = {}
        super().__init__(*args, **kwargs)
        self.limit = float(self.params.threshold)

    def check(self, obs: Observation) -> Iterable[Draft]:
        if obs.kind != "log_entry":
            return ()
        self.banks.learn(obs)
        if entry_kind(obs) != "deposit.minted":
            return ()
        f = entry_fields(obs)
        bank = self.banks.of_entry(obs) or "unknown"
        units = self.cents_units(as_int(f.get("amount_cents")) or 0)
        p = self.params
        judged: list[tuple[str, _Series, int, str, int]] = []
        if p.volume:
            day = hk_day(obs.time)
            series = self.days.get(bank)
            if series is None:
                series = self.days[bank] = _Series(day, p.history_days)
            series.add(day, units)
            judged.append(("daily_volume_units", series, p.min_days, day_iso(day), 0))
        if p.velocity:
            hour = (obs.time + HK_OFFSET) // HOUR
            series = self.hours.get(bank)
            if series is None:
                series = self.hours[bank] = _Series(hour, p.history_hours)
            series.add(hour, 1)
            label = f"{day_iso(hour // 24)}T{hour % 24:02d}"
            judged.append(("hourly_mints", series, p.min_hours, label, p.min_count))
        features = {feature: series.current for feature, series, *_ in judged}
        drafts = []
        for feature, series, min_history, label, floor in judged:
            draft = self._judge(bank, feature, series, min_history, label, floor, features)
            if draft is not None:
                drafts.append(draft)
        return drafts

    def _judge(
        self,
        bank: str,
        feature: str,
        series: _Series,
        min_history: int,
        label: str,
        floor: int,
        features: dict[str, int],
    ) -> Draft | None:
        n = len(series.history)
        if n < min_history or series.reported == series.period or series.current < floor:
            return None
        med, mad, scale = baseline(series.history)
        if scale == 0 or series.current <= med:
            return None
        score = (series.current - med) / scale
        if score <= self.limit:
            return None
        series.reported = series.period
        return Draft(
            f"{bank}: {feature} {series.current} in {label}, robust z-score {score:.2f} over its baseline "
            f"(median {_num(med, 2)}, MAD {_num(mad, 2)}, n {n})",
            {
                "bank": bank,
                "feature": feature,
                "period": label,
                "value": series.current,
                "features": dict(features),
                "baseline": {"median": _num(med), "mad": _num(mad), "scale": _num(scale, 6), "n": n},
                "score": f"{score:.3f}",
                "threshold": str(self.params.threshold),
            },
            part=f"{feature}:{bank}:{label}",
        )
