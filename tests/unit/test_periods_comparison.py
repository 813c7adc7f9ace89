"""The comparison period of a calendar month, quarter, half or year is the previous calendar unit (journeys issue
16, item 13: 2026-Q3 was compared with "2026-03-31 至 2026-06-30", 92 days back); other ranges keep the preceding
range of equal length."""

from __future__ import annotations

import datetime as dt

from metrics.periods import Period, comparison, named


def test_previous_of_a_calendar_unit_is_the_previous_unit() -> None:
    assert comparison(named("2026-Q3"), "previous") == named("2026-Q2")
    assert comparison(named("2026-Q1"), "previous") == named("2025-Q4")
    assert comparison(named("2026-03"), "previous") == named("2026-02")
    assert comparison(named("2026-H2"), "previous") == named("2026-H1")
    assert comparison(named("2025"), "previous") == named("2024")


def test_other_ranges_keep_the_preceding_range_of_equal_length() -> None:
    p = Period(dt.date(2026, 10, 28), dt.date(2026, 11, 27))
    assert comparison(p, "previous") == Period(dt.date(2026, 9, 28), dt.date(2026, 10, 28))
    assert comparison(named("2026-Q3"), "last_year") == named("2025-Q3")
