"""Pure helpers behind the dashboards (metrics.dashboard_support) and the export writer, against hand computations."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from dashboard.export import neutralise, to_csv, to_excel
from metrics.dashboard_support import (
    add_buckets,
    binned_curve,
    channel_switches,
    comparison_for,
    histogram_counts,
    quantile_table,
    row_outcomes,
)
from metrics.kpis import compute
from metrics.periods import Period, preset


def test_comparison_for_calendar_presets() -> None:
    today = dt.date(2026, 11, 25)
    p = preset("this_month", today)
    assert comparison_for("this_month", p, "previous") == Period(dt.date(2026, 10, 1), dt.date(2026, 10, 26))
    p = preset("last_month", today)
    assert comparison_for("last_month", p, "previous") == Period(dt.date(2026, 9, 1), dt.date(2026, 10, 1))
    p = preset("this_quarter", today)
    assert comparison_for("this_quarter", p, "previous") == Period(dt.date(2026, 7, 1), dt.date(2026, 8, 26))
    p = preset("last_30_days", today)  # equal-length preceding range
    assert comparison_for("last_30_days", p, "previous") == Period(dt.date(2026, 9, 27), dt.date(2026, 10, 27))
    assert comparison_for("this_month", preset("this_month", today), "last_year") == Period(
        dt.date(2025, 11, 1), dt.date(2025, 11, 26))
    assert comparison_for("this_month", preset("this_month", today), "none") is None
    # 31 March -> the previous month has 29 days in 2024: clipped, never an invalid date
    assert comparison_for("this_month", Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31)), "previous") == Period(
        dt.date(2024, 2, 1), dt.date(2024, 2, 29))


def test_quantiles_are_observed_values() -> None:
    q = quantile_table(list(range(1, 10)) + [100], ["a"] * 10)
    assert q.iloc[0]["p90"] == 9.0  # KPIS.md: inverted CDF, not 18.1
    assert (q.iloc[0]["median"], q.iloc[0]["q1"], q.iloc[0]["q3"], q.iloc[0]["n"]) == (5.0, 3.0, 8.0, 10)


def test_histogram_shares_edges_across_groups() -> None:
    h = histogram_counts([1, 2, 3, 50, 100], ["x", "x", "y", "y", "y"], bins=4)
    assert h.groupby("group")["count"].sum().to_dict() == {"x": 2, "y": 3}
    assert (h.loc[h["group"] == "x", "bin_start"].to_numpy() == h.loc[h["group"] == "y", "bin_start"].to_numpy()).all()
    assert h.loc[(h["group"] == "y") & h["open_ended"], "count"].item() == 1


def test_row_outcomes_reproduce_the_share() -> None:
    t0 = pd.Timestamp("2026-10-01 02:00", tz="UTC")
    f = pd.DataFrame({
        "id": [1, 2, 3, 4, 5], "created_at": [t0] * 5,
        "arrived_at": [t0 + pd.Timedelta(minutes=m) for m in (30, 50, 100, 20, 200)],
        "resolved_at": [t0 + pd.Timedelta(hours=3)] * 5, "limit_value": [45, 45, 90, 45, np.nan],
        "limit_unit": "minutes", "exception_reason": [None, None, None, "weather", None],
    })
    head = compute("sla_arrival", f, limit_col="limit_value")
    rows = row_outcomes("sla_arrival", f, limit_col="limit_value")
    assert rows["counted"].sum() == head["n"].item() == 3  # exception apart, no limit apart
    assert rows["hit"].sum() / rows["counted"].sum() == pytest.approx(head["value"].item())
    assert rows.set_index("id")["hit"].to_dict() == {1: True, 2: False, 3: False, 4: False, 5: False}


def test_channel_switches_same_issue_within_days() -> None:
    t = pd.Timestamp("2026-10-01 00:00", tz="UTC")
    c = pd.DataFrame({
        "id": [1, 2, 3, 4, 5, 6],
        "customer_id": [7, 7, 7, 8, 8, None],
        "category": ["repair", "repair", "billing", "meter", "meter", "repair"],
        "channel": ["app", "hotline", "hall", "hotline", "hotline", "app"],
        "queued_at": [t, t + pd.Timedelta(days=2), t + pd.Timedelta(days=3), t, t + pd.Timedelta(days=1), t],
    })
    sw = channel_switches(c, days=7)
    assert sw[["id", "next_id", "from_channel", "to_channel"]].values.tolist() == [[1, 2, "app", "hotline"]]
    assert channel_switches(c, days=1).empty


def test_buckets_are_local_time() -> None:
    f = pd.DataFrame({"t": pd.to_datetime(["2026-10-04 17:30"], utc=True)})  # Sunday 17:30 UTC = Monday 01:30 CST
    b = add_buckets(f, "t")
    assert (b["weekday"].item(), b["hour"].item(), str(b["day"].item().date())) == (0, 1, "2026-10-05")


def test_binned_curve_falls_with_waiting() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 240, 2000)
    p = 1 / (1 + np.exp(-(4 - 0.03 * x)))
    y = rng.uniform(size=x.size) < p
    out = binned_curve(x, y, bins=8)
    assert len(out["bins"]) == 8 and out["bins"]["n"].sum() == 2000
    fit = out["curve"]["fit"].to_numpy()
    assert fit[0] > fit[-1] and (out["curve"]["low"] <= out["curve"]["fit"]).all()
    assert binned_curve([1, 2], [1, 0])["curve"].empty


def test_export_neutralises_formulas_and_carries_the_filters() -> None:
    df = pd.DataFrame({"意见": ["=HYPERLINK(\"http://x\")", "+1", "正常", "@SUM(A1)"], "n": [-1, 2, 3, 4]})
    header = {"筛选条件": "测试省 · 2026年10月 · 对比：上月"}
    raw = to_csv(df, header)
    assert raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    assert text.splitlines()[0] == "筛选条件,测试省 · 2026年10月 · 对比：上月"
    back = pd.read_csv(io.StringIO(text), skiprows=2)
    assert back["意见"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1", "正常", "'@SUM(A1)"]
    assert back["n"].tolist() == [-1, 2, 3, 4]  # numbers stay numbers
    xl = pd.read_excel(io.BytesIO(to_excel(df, header)), engine="openpyxl", header=None)
    assert xl.iloc[0, 0] == "筛选条件" and xl.iloc[3, 0] == "'=HYPERLINK(\"http://x\")"
    assert neutralise(" =1") == "' =1" and neutralise(5) == 5
