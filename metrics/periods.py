"""Reporting periods: presets (本月/上月/本季/本年/近30天), named periods (2026-10, 2026-Q3, 2026), comparison periods.

Pure date arithmetic in the site's local zone; callers convert the half-open local range to UTC for queries.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

SITE_TZ = ZoneInfo("Asia/Shanghai")  # the default zone; the site's own comes from its setting (data.settings)
PRESETS = ("last_30_days", "this_month", "last_month", "this_quarter", "this_year")
COMPARISONS = ("previous", "last_year", "none")


@dataclass(frozen=True)
class Period:
    """A half-open range of local dates: ``start`` inclusive, ``end`` exclusive."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"empty period {self.start} .. {self.end}")

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def utc_bounds(self, tz: ZoneInfo | str = SITE_TZ) -> tuple[dt.datetime, dt.datetime]:
        """The UTC instants of the local midnights that open ``start`` and ``end`` in zone ``tz``."""
        zone = ZoneInfo(tz) if isinstance(tz, str) else tz

        def edge(d: dt.date) -> dt.datetime:
            return dt.datetime.combine(d, dt.time(), tzinfo=zone).astimezone(dt.UTC)

        return edge(self.start), edge(self.end)

    @property
    def last_day(self) -> dt.date:
        return self.end - dt.timedelta(days=1)


def _month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    return dt.date(d.year + y, m + 1, 1)


def preset(name: str, today: dt.date) -> Period:
    """A preset period relative to ``today`` (the anchor day, included in current periods)."""
    tomorrow = today + dt.timedelta(days=1)
    if name == "last_30_days":
        return Period(tomorrow - dt.timedelta(days=30), tomorrow)
    if name == "this_month":
        return Period(_month_start(today), tomorrow)
    if name == "last_month":
        start = _add_months(_month_start(today), -1)
        return Period(start, _month_start(today))
    if name == "this_quarter":
        q_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        return Period(q_start, tomorrow)
    if name == "this_year":
        return Period(dt.date(today.year, 1, 1), tomorrow)
    raise ValueError(f"unknown period preset {name!r}; expected one of {', '.join(PRESETS)}")


_NAMED = re.compile(r"^(?P<y>\d{4})(?:-(?:(?P<m>\d{1,2})|[Qq](?P<q>[1-4])|[Hh](?P<h>[12])))?$")


def named(text: str) -> Period:
    """Parse ``2026``, ``2026-10``, ``2026-Q3`` or ``2026-H1``."""
    m = _NAMED.match(text.strip())
    if not m:
        raise ValueError(f"period {text!r} is not of the form 2026, 2026-10, 2026-Q3 or 2026-H1")
    year = int(m["y"])
    if m["m"]:
        month = int(m["m"])
        if not 1 <= month <= 12:
            raise ValueError(f"period {text!r}: month must be 1-12")
        start = dt.date(year, month, 1)
        return Period(start, _add_months(start, 1))
    if m["q"]:
        start = dt.date(year, 3 * (int(m["q"]) - 1) + 1, 1)
        return Period(start, _add_months(start, 3))
    if m["h"]:
        start = dt.date(year, 6 * (int(m["h"]) - 1) + 1, 1)
        return Period(start, _add_months(start, 6))
    return Period(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))


def comparison(period: Period, mode: str) -> Period | None:
    """The comparison period: the previous period (the previous calendar unit for whole months, quarters and years,
    else the preceding range of equal length), or the same dates one year earlier."""
    if mode == "none":
        return None
    if mode == "previous":
        months = _whole_months(period)
        if months:  # a calendar month, quarter, half or year: the previous one (2026-Q3 -> 2026-Q2), never
            return Period(_add_months(period.start, -months), period.start)  # "92 days back" (31 March)
        return Period(period.start - dt.timedelta(days=period.days), period.start)
    if mode == "last_year":
        return Period(_minus_year(period.start), _minus_year(period.end))
    raise ValueError(f"unknown comparison {mode!r}; expected one of {', '.join(COMPARISONS)}")


def _whole_months(period: Period) -> int:
    """How many whole calendar months ``period`` spans when it runs from a first of month to a first of month,
    else 0."""
    if period.start.day != 1 or period.end.day != 1:
        return 0
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month


def _minus_year(d: dt.date) -> dt.date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)
