"""Business (working) time between timestamps, with holidays and make-up workdays passed in by the caller.

The holiday schedule is data, not code: the caller (``data/``) reads the official Chinese schedule (``chinese-calendar``
plus any local file for years it does not know) and passes the dates here. This module only counts.

Method: a working-minute clock W(t) = (working days before t's date) x day length + the clipped working minutes of
t's own day; the working time between s and e is W(e) − W(s). Whole days are counted with ``numpy.busday_count``
(weekmask + holidays) plus the make-up workdays that fall on non-working weekdays, so everything is vectorised.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "WorkCalendar",
    "to_local_naive",
    "is_working_day",
    "working_minutes",
    "working_days_between",
    "elapsed_working_days",
]


def _parse_time(value: str | dt.time) -> int:
    """Minutes after midnight of an "HH:MM" string or a time."""
    if isinstance(value, dt.time):
        return value.hour * 60 + value.minute
    hh, mm = value.split(":")
    return int(hh) * 60 + int(mm)


@dataclass(frozen=True)
class WorkCalendar:
    """Working-hours window, working weekdays, holidays and make-up workdays (调休) in a local time zone.

    Parameters
    ----------
    day_start, day_end : "HH:MM" local times of the working window (end > start; no lunch break is modelled).
    weekmask : numpy weekmask, Monday first ("1111100" = Monday-Friday).
    holidays : dates that are not worked although their weekday is (e.g. 2024-10-01 .. 2024-10-07).
    workdays : make-up working days on days the weekmask does not work (e.g. Saturday 2024-10-12).
        A date listed as both holiday and workday counts as a holiday.
    tz : the site's zone; tz-aware timestamps are converted to it, naive ones are taken as already local.
    """

    day_start: str = "08:00"
    day_end: str = "17:00"
    weekmask: str = "1111100"
    holidays: tuple[dt.date, ...] = field(default=())
    workdays: tuple[dt.date, ...] = field(default=())
    tz: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if _parse_time(self.day_end) <= _parse_time(self.day_start):
            raise ValueError("day_end must be after day_start")
        object.__setattr__(self, "holidays", tuple(sorted(pd.to_datetime(list(self.holidays)).date)))
        object.__setattr__(self, "workdays", tuple(sorted(pd.to_datetime(list(self.workdays)).date)))

    @property
    def day_minutes(self) -> int:
        return _parse_time(self.day_end) - _parse_time(self.day_start)

    def _holiday_array(self) -> np.ndarray:
        return np.array(self.holidays, dtype="datetime64[D]")

    def _makeup_array(self) -> np.ndarray:
        """Make-up days that add a working day: not worked by the weekmask, not a holiday."""
        w = np.array(self.workdays, dtype="datetime64[D]")
        if w.size == 0:
            return w
        hol = self._holiday_array()
        not_normal = ~np.is_busday(w, weekmask=self.weekmask)
        return np.sort(w[not_normal & ~np.isin(w, hol)])


def to_local_naive(values: Any, tz: str) -> pd.DatetimeIndex:
    """Timestamps as naive local times: tz-aware values are converted to ``tz``; naive ones are taken as local."""
    idx = pd.DatetimeIndex(pd.to_datetime(pd.Series(values).to_numpy() if not isinstance(values, pd.Series)
                                          else values))
    if idx.tz is not None:
        idx = idx.tz_convert(tz).tz_localize(None)
    return idx


def _days(idx: pd.DatetimeIndex) -> np.ndarray:
    return idx.to_numpy().astype("datetime64[D]")


def is_working_day(dates: Any, calendar: WorkCalendar) -> np.ndarray:
    """True where a date is a working day: a weekmask day that is no holiday, or a make-up workday."""
    if isinstance(dates, (dt.date, str, np.datetime64, pd.Timestamp)):
        dates = [dates]
    if isinstance(dates, np.ndarray) and dates.dtype.kind == "M":
        d = dates.astype("datetime64[D]")  # already dates (working_minutes passes these): no object round trip
    else:
        d = np.asarray(pd.to_datetime(pd.Series(list(dates) if not isinstance(dates, pd.Series) else dates)
                                      ).to_numpy(), dtype="datetime64[D]")
    ok = ~np.isnat(d)
    out = np.zeros(d.shape, bool)
    dd = d[ok]
    out[ok] = np.is_busday(dd, weekmask=calendar.weekmask, holidays=calendar._holiday_array()) | np.isin(
        dd, calendar._makeup_array())
    return out


def _working_days_before(d: np.ndarray, ref: np.ndarray, calendar: WorkCalendar) -> np.ndarray:
    """Signed count of working days in [ref, d) (negative when d < ref)."""
    cnt = np.busday_count(ref, d, weekmask=calendar.weekmask, holidays=calendar._holiday_array())
    mk = calendar._makeup_array()
    extra = np.searchsorted(mk, d, side="left") - np.searchsorted(mk, ref, side="left")
    return cnt.astype(np.int64) + extra


def _clock_parts(ts: pd.DatetimeIndex, calendar: WorkCalendar) -> tuple[np.ndarray, np.ndarray]:
    """(day, worked minutes of that day up to ts) for each timestamp."""
    day = _days(ts)
    minutes = (ts.hour.to_numpy() * 60 + ts.minute.to_numpy() + ts.second.to_numpy() / 60.0
               + ts.microsecond.to_numpy() / 60e6)
    start = _parse_time(calendar.day_start)
    part = np.clip(minutes - start, 0.0, float(calendar.day_minutes))
    return day, part


def working_minutes(start: Any, end: Any, calendar: WorkCalendar) -> np.ndarray:
    """Working minutes between ``start`` and ``end`` (element-wise), inside the calendar's working window.

    W(e) − W(s) with W counting whole working days x day length plus the clipped part of the last day, so a
    Friday 16:00 -> Monday 10:00 interval with Monday-Friday 08:00-17:00 is 60 + 120 = 180 minutes. Missing
    timestamps give NaN; end before start gives a negative value (a data error the caller should flag).
    """
    s = to_local_naive(start, calendar.tz)
    e = to_local_naive(end, calendar.tz)
    if len(s) != len(e):
        raise ValueError("start and end have different lengths")
    out = np.full(len(s), np.nan)
    ok = ~(s.isna() | e.isna())
    if not ok.any():
        return out
    sd, sp = _clock_parts(s[ok], calendar)
    ed, ep = _clock_parts(e[ok], calendar)
    sp = np.where(is_working_day(sd, calendar), sp, 0.0)
    ep = np.where(is_working_day(ed, calendar), ep, 0.0)
    days = _working_days_before(ed, sd, calendar)
    out[np.asarray(ok)] = days * float(calendar.day_minutes) + ep - sp
    return out


def working_days_between(start: Any, end: Any, calendar: WorkCalendar) -> np.ndarray:
    """Whole working days in [date(start), date(end)) (``numpy.busday_count`` semantics plus make-up days).

    Missing values give NaN. This counts calendar dates only; for elapsed working time use
    :func:`elapsed_working_days`.
    """
    s = to_local_naive(start, calendar.tz)
    e = to_local_naive(end, calendar.tz)
    out = np.full(len(s), np.nan)
    ok = ~(s.isna() | e.isna())
    if ok.any():
        out[np.asarray(ok)] = _working_days_before(_days(e[ok]), _days(s[ok]), calendar)
    return out


def elapsed_working_days(start: Any, end: Any, calendar: WorkCalendar) -> np.ndarray:
    """Elapsed working time in working days: working minutes / day length (for "within 5 working days")."""
    return working_minutes(start, end, calendar) / float(calendar.day_minutes)

