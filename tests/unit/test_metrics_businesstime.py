"""Working time with holidays and make-up workdays passed in (never read from chinese_calendar here)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from metrics.businesstime import (
    WorkCalendar,
    elapsed_working_days,
    is_working_day,
    working_days_between,
    working_minutes,
)

# 2024 National Day: holidays 1-7 October; make-up workdays Sunday 29 September and Saturday 12 October
# (State Council General Office notice on the 2024 holiday schedule).
NATIONAL_DAY_2024 = WorkCalendar(
    day_start="08:00", day_end="17:00",
    holidays=tuple(dt.date(2024, 10, d) for d in range(1, 8)),
    workdays=(dt.date(2024, 9, 29), dt.date(2024, 10, 12)),
)


def utc(*local: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(local)).tz_localize("Asia/Shanghai").tz_convert("UTC"))


def test_reference_friday_to_monday() -> None:
    # Fri 1 March 2024 16:00 -> Mon 4 March 10:00, Mon-Fri 08-17: 1 h + 2 h = 3.0 h
    cal = WorkCalendar("08:00", "17:00")
    h = working_minutes(utc("2024-03-01 16:00"), utc("2024-03-04 10:00"), cal) / 60
    assert h[0] == pytest.approx(3.0)


def test_makeup_saturday_counts() -> None:
    # Fri 11 Oct 16:00 -> Mon 14 Oct 10:00 with Saturday 12 Oct a make-up workday: 1 + 9 + 2 = 12 h
    m = working_minutes(utc("2024-10-11 16:00"), utc("2024-10-14 10:00"), NATIONAL_DAY_2024)
    assert m[0] / 60 == pytest.approx(12.0)
    plain = working_minutes(utc("2024-10-11 16:00"), utc("2024-10-14 10:00"), WorkCalendar())
    assert plain[0] / 60 == pytest.approx(3.0)


def test_holiday_week_is_skipped_vectorised() -> None:
    start = utc("2024-09-30 09:00", "2024-10-03 10:00", "2024-10-08 07:00", "2024-10-08 12:00", "2024-10-08 09:00")
    end = utc("2024-10-08 09:00", "2024-10-05 10:00", "2024-10-08 18:30", "2024-10-08 12:30", "2024-10-08 08:00")
    m = working_minutes(start, end, NATIONAL_DAY_2024)
    # Mon 30 Sep 09:00 -> 17:00 = 8 h, 1-7 Oct holiday, Tue 8 Oct 08:00 -> 09:00 = 1 h
    np.testing.assert_allclose(m, [9 * 60, 0.0, 9 * 60, 30.0, -60.0])


def test_missing_and_naive_inputs() -> None:
    s = pd.Series([pd.Timestamp("2024-03-01 16:00"), pd.NaT])
    e = pd.Series([pd.Timestamp("2024-03-04 10:00"), pd.Timestamp("2024-03-04 10:00")])
    m = working_minutes(s, e, WorkCalendar())  # naive = already local
    assert m[0] == pytest.approx(180.0) and math.isnan(m[1])
    assert working_minutes(pd.Series([], dtype="datetime64[ns, UTC]"),
                           pd.Series([], dtype="datetime64[ns, UTC]"), WorkCalendar()).size == 0


def test_working_days_and_elapsed() -> None:
    d = working_days_between(utc("2024-09-27 10:00"), utc("2024-10-15 10:00"), NATIONAL_DAY_2024)
    # 27 Sep, 29 Sep (make-up), 30 Sep, 8-11 Oct, 12 Oct (make-up), 14 Oct
    assert d[0] == 9
    e = elapsed_working_days(utc("2024-03-01 12:30"), utc("2024-03-08 12:30"), WorkCalendar())
    assert e[0] == pytest.approx(5.0)
    assert list(is_working_day(["2024-10-12", "2024-10-13", "2024-10-02", "2024-10-08"], NATIONAL_DAY_2024)) == [
        True, False, False, True]


def test_calendar_validation_and_conflicts() -> None:
    with pytest.raises(ValueError):
        WorkCalendar("17:00", "08:00")
    both = WorkCalendar(holidays=(dt.date(2024, 10, 12),), workdays=(dt.date(2024, 10, 12),))
    assert not is_working_day(["2024-10-12"], both)[0]  # a holiday wins
