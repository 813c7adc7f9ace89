"""A shared link's custom dates outside the data (issue 16.5 / security 18.9): an end date after the newest data used
to raise StreamlitValueAboveMaxError on every rerun. Dates are clamped into the data's range with a note; malformed
dates are ignored with a note; a start after the end is swapped. The tiny world spans 2026-10-01 .. 2026-10-10."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.app.helpers import login, texts

D = dt.date


@pytest.mark.security
@pytest.mark.parametrize("params, start, last, notes", [
    ({"from": "2026-10-03", "to": "2027-05-01"}, D(2026, 10, 3), D(2026, 10, 10),
     ["链接中的结束日期晚于最新数据，已调整为 2026-10-10"]),
    ({"from": "2019-01-01", "to": "2026-10-05"}, D(2026, 10, 1), D(2026, 10, 5),
     ["链接中的开始日期早于最早数据，已调整为 2026-10-01"]),
    ({"from": "2031-01-01", "to": "1999-12-31"}, D(2026, 10, 1), D(2026, 10, 10),
     ["开始日期晚于最新数据，已调整为 2026-10-10", "结束日期早于最早数据，已调整为 2026-10-01", "已将两者对调"]),
    ({"from": "garbage", "to": "2026-02-30"}, None, None, ["链接中的部分筛选条件无效", "from, to"]),
])
def test_link_dates_are_clamped_into_the_data_with_a_note(tiny_app_db: str, params: dict[str, str],
                                                          start: dt.date | None, last: dt.date | None,
                                                          notes: list[str]) -> None:
    at = login("manager", params={"period": "custom", **params})
    assert not at.exception, at.exception
    shown = texts(at) + "\n".join(str(x.value) for x in at.toast)
    for note in notes:
        assert note in shown, shown
    first, second = at.date_input(key="f_from").value, at.date_input(key="f_to").value
    if start is not None:
        assert (first, second) == (start, last)
    assert D(2026, 10, 1) <= first <= second <= D(2026, 10, 10)
    at.run()  # and the next rerun is fine too (it used to fail on every rerun)
    assert not at.exception, at.exception
    if start is not None:
        assert at.query_params["from"] == start.isoformat() and at.query_params["to"] == last.isoformat()
