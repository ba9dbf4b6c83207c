"""Hong Kong business days, for payout deadlines (docs/design.md, redemptions).

A business day is a Monday to Friday that is not a Hong Kong general holiday (the General
Holidays Ordinance, Cap. 149: the days the banks close), as the `holidays` package lists them
(its Hong Kong calendar, category "optional"; "public" there is the shorter list of statutory
holidays of the Employment Ordinance), nor one of the operator's extra closure days
(`USHK_PAYOUT_HOLIDAYS`: a day with typhoon signal No. 8 or a black rainstorm warning in business
hours, a holiday announced after the package's release). `USHK_PAYOUT_CALENDAR=none` leaves the
package's list out: then only weekends and the configured days are closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from functools import cache
from zoneinfo import ZoneInfo

import holidays

HONG_KONG = ZoneInfo("Asia/Hong_Kong")


@cache
def general_holidays(year: int) -> frozenset[dt.date]:
    """Hong Kong's general holidays of `year`."""
    return frozenset(holidays.country_holidays("HK", years=year, categories=(holidays.OPTIONAL,)))


def is_business_day(day: dt.date, closures: Collection[dt.date] = (), *, general: bool = True) -> bool:
    """Whether banks in Hong Kong are open on `day` (`closures`: extra days they are not;
    `general=False`: without the general holidays)."""
    if day.weekday() >= 5 or day in closures:
        return False
    return not (general and day in general_holidays(day.year))


def due_at(created_at: dt.datetime, closures: Iterable[dt.date] = (), *, general: bool = True) -> dt.datetime:
    """End (midnight, Hong Kong time) of the first business day after the Hong Kong day of
    `created_at`, in UTC."""
    closed = set(closures)
    day = created_at.astimezone(HONG_KONG).date() + dt.timedelta(days=1)
    while not is_business_day(day, closed, general=general):
        day += dt.timedelta(days=1)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=HONG_KONG)
    return end.astimezone(dt.UTC)
