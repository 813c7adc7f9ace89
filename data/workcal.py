"""The working-day calendar: official Chinese public holidays and make-up working days (调休).

Sources, in order: the ``chinese_calendar`` package (the State Council's published schedules; version 1.11 knows
2004-2026) and the site's own ``data/refdata/holidays_local.csv`` (date, kind holiday|workday, name), where a site
adds a newly published year without waiting for a package release; a local row overrides the package for its date.
A year neither source knows falls back to plain Monday-Friday, and a visible warning is recorded
(:func:`calendar_warnings`, also issued through :mod:`warnings`). Nothing here is a hand-typed holiday list.

All functions are vectorised and return ``numpy.datetime64[D]`` arrays, ready for ``numpy.busday_count`` (pass
``holidays=holidays(...)`` and add the make-up days back with :func:`workday_count`).
"""

from __future__ import annotations

import datetime as dt
import functools
import warnings

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from data.reference import holidays_local

_WARNINGS: list[str] = []


class CalendarFallbackWarning(UserWarning):
    """A year without an official schedule was treated as plain Monday-Friday."""


def _day(value: object) -> dt.date:
    return pd.Timestamp(value).date()  # type: ignore[arg-type]


@functools.cache
def _package_knows(year: int) -> bool:
    import chinese_calendar

    try:
        chinese_calendar.is_holiday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def _local() -> pd.DataFrame:
    return holidays_local()


def _warn(year: int) -> None:
    msg = (f"no official holiday schedule for {year}: working days fall back to Monday-Friday "
           f"(add the year to data/refdata/holidays_local.csv or upgrade chinesecalendar)")
    if msg not in _WARNINGS:
        _WARNINGS.append(msg)
        warnings.warn(msg, CalendarFallbackWarning, stacklevel=3)


def _days(kind: str, start: object, end: object) -> np.ndarray:
    import chinese_calendar

    lo, hi = _day(start), _day(end)
    if hi < lo:
        return np.array([], dtype="datetime64[D]")
    local = _local()
    local_years = set(local["date"].dt.year)
    source = chinese_calendar.holidays if kind == "holiday" else chinese_calendar.workdays
    out = {d for d in source if lo <= d <= hi}
    if kind == "workday":  # the package's "workdays" are the make-up days; keep only those on weekends
        out = {d for d in out if d.weekday() >= 5}
    for year in range(lo.year, hi.year + 1):
        if not _package_knows(year) and year not in local_years:
            _warn(year)
    if len(local):
        in_range = local[(local["date"].dt.date >= lo) & (local["date"].dt.date <= hi)]
        for d, k in zip(in_range["date"].dt.date, in_range["kind"], strict=False):
            if k == kind:
                out.add(d)
            else:
                out.discard(d)  # a local row overrides the package for its date
        if kind == "workday":
            out = {d for d in out if d.weekday() >= 5}
    return np.array(sorted(out), dtype="datetime64[D]")


def holidays(start: object, end: object) -> np.ndarray:
    """Official holiday dates in [start, end] (inclusive), weekends inside a holiday period included."""
    return _days("holiday", start, end)


def makeup_workdays(start: object, end: object) -> np.ndarray:
    """Weekend dates in [start, end] that are official working days (调休 make-up days)."""
    return _days("workday", start, end)


def calendar_warnings() -> list[str]:
    """Warnings recorded so far in this process (years that fell back to Monday-Friday)."""
    return list(_WARNINGS)


def is_workday(dates: ArrayLike) -> np.ndarray:
    """Vectorised: True where the date is a working day (weekday not a holiday, or a make-up weekend day)."""
    d = np.asarray(pd.to_datetime(np.atleast_1d(dates)).values.astype("datetime64[D]"))
    if d.size == 0:
        return np.zeros(0, dtype=bool)
    lo, hi = d.min(), d.max()
    hol = holidays(lo, hi)
    extra = makeup_workdays(lo, hi)
    return np.is_busday(d, holidays=hol) | np.isin(d, extra)


def workday_count(start: ArrayLike, end: ArrayLike) -> np.ndarray:
    """Vectorised count of working days in [start, end) per element (like ``numpy.busday_count``), holidays removed
    and make-up weekend days added."""
    s = np.asarray(pd.to_datetime(np.atleast_1d(start)).values.astype("datetime64[D]"))
    e = np.asarray(pd.to_datetime(np.atleast_1d(end)).values.astype("datetime64[D]"))
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    lo, hi = min(s.min(), e.min()), max(s.max(), e.max())
    hol = holidays(lo, hi)
    extra = makeup_workdays(lo, hi)
    n = np.busday_count(s, e, holidays=hol)
    if extra.size:
        n = n + (np.searchsorted(extra, e) - np.searchsorted(extra, s))
    return n
