"""KPI functions over model-shaped frames, checked against hand counts and statsmodels/scipy intervals."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from metrics.businesstime import WorkCalendar
from metrics.kpis import RESULT_COLUMNS, compute, result
from metrics.registry import MetricResult


def utc(*values: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True))


def wilson(x: int, n: int) -> tuple[float, float]:
    lo, hi = proportion_confint(x, n, method="wilson")
    return float(lo), float(hi)


# --- durations ----------------------------------------------------------------------------------------------------


def repairs() -> pd.DataFrame:
    created = pd.Timestamp("2024-03-01 00:00", tz="UTC")
    minutes = [10, 20, 30, 40, 50, 60, 70, 80, 90, 300]
    df = pd.DataFrame({
        "region_id": [1] * 10 + [2, 2],
        "service_type": ["repair"] * 11 + ["billing"],
        "created_at": [created] * 12,
        "arrived_at": [created + pd.Timedelta(minutes=m) for m in minutes] + [pd.NaT, pd.NaT],
        "exception_reason": [None] * 9 + ["traffic", None, None],
    })
    return df


def test_arrival_mean_and_percentiles_by_hand() -> None:
    df = repairs()
    out = compute("arrival_time", df, by=["region_id"], as_of="2024-03-01 02:00").set_index("region_id")
    r1 = out.loc[1]
    assert r1["value"] == pytest.approx(75.0)  # (450 + 300) / 10
    assert r1["n"] == 10
    lo, hi = stats.t.interval(0.95, 9, loc=75.0, scale=stats.sem([10, 20, 30, 40, 50, 60, 70, 80, 90, 300]))
    assert (r1["ci_low"], r1["ci_high"]) == pytest.approx((lo, hi))
    assert r1["p90"] == 90.0 and r1["p50"] == 50.0  # observed values (inverted CDF)
    assert r1["n_exception"] == 1 and r1["n_open"] == 0
    # region 2: the billing row is filtered out (arrival is a repair KPI), the repair row is open work
    r2 = out.loc[2]
    assert r2["n"] == 0 and math.isnan(r2["value"]) and r2["status"] == "insufficient"
    assert r2["n_open"] == 1 and r2["open_age_max"] == pytest.approx(120.0)
    p90 = compute("arrival_time_p90", df, by=["region_id"]).set_index("region_id")
    assert p90.loc[1, "value"] == np.quantile([10, 20, 30, 40, 50, 60, 70, 80, 90, 300], 0.9, method="inverted_cdf")
    assert p90.loc[1, "mean"] == pytest.approx(75.0)


def test_window_with_only_open_work() -> None:
    df = repairs().iloc[10:11]
    r = result("resolution_time", df.assign(resolved_at=pd.NaT), as_of="2024-03-02 00:00")
    assert isinstance(r, MetricResult)
    assert r.n == 0 and math.isnan(r.value) and r.status == "insufficient"
    assert r.extra["n_open"] == 1 and r.extra["open_age_max"] == pytest.approx(24.0)  # hours


def test_first_response_working_clock() -> None:
    df = pd.DataFrame({
        "created_at": utc("2024-03-01 08:00"),  # Fri 16:00 Asia/Shanghai
        "first_response_at": utc("2024-03-04 02:00"),  # Mon 10:00
    })
    cal = WorkCalendar("08:00", "17:00")
    out = compute("first_response_time", df, clock="working", calendar=cal, min_n=1)
    assert out["value"].iloc[0] == pytest.approx(180.0)
    cal_out = compute("first_response_time", df)
    assert cal_out["value"].iloc[0] == pytest.approx(66 * 60.0)
    with pytest.raises(ValueError):
        compute("first_response_time", df, clock="working")


# --- SLA attainment -----------------------------------------------------------------------------------------------


def sla_frame() -> pd.DataFrame:
    c = pd.Timestamp("2024-03-01 00:00", tz="UTC")
    m = pd.Timedelta(minutes=1)
    return pd.DataFrame({
        "area_class": ["urban"] * 6 + ["rural"] * 4,
        "created_at": [c] * 10,
        "arrived_at": [c + 30 * m, c + 44 * m, c + 60 * m, c + 50 * m, pd.NaT, pd.NaT,
                       c + 80 * m, c + 100 * m, c + 95 * m, c + 10 * m],
        "exception_reason": [None, None, None, "weather", None, None, None, None, "traffic", None],
        "limit_value": [45.0] * 6 + [90.0, 90.0, 90.0, np.nan],
        "limit_unit": "minutes",
        "clock": "calendar",
        "semantics": ["average"] * 6 + ["each"] * 4,
    })


def test_sla_each_average_exceptions_and_open_work() -> None:
    df = sla_frame()
    # as of 00:50: open urban row 4 is overdue (50 > 45), row 5 too; use as_of 00:40 to keep them pending
    out = compute("sla_arrival", df, by=["area_class"], as_of="2024-03-01 00:40").set_index("area_class")
    u = out.loc["urban"]
    # counted: rows 0, 1, 2 (row 3 is an exception, rows 4-5 open but not yet due)
    assert (u["n"], u["successes"]) == (3, 2)
    assert u["value"] == pytest.approx(2 / 3)
    assert (u["ci_low"], u["ci_high"]) == pytest.approx(wilson(2, 3))
    assert u["n_exception"] == 1 and u["n_exception_within"] == 0
    assert u["n_open_pending"] == 2 and u["n_open_overdue"] == 0
    assert u["value_incl_exceptions"] == pytest.approx(2 / 4)
    assert u["semantics"] == "average"
    assert u["mean_ratio"] == pytest.approx((30 + 44 + 60) / 135)
    assert u["mean_duration"] == pytest.approx(134 / 3) and u["mean_limit"] == pytest.approx(45.0)
    assert bool(u["commitment_met"]) is True  # the average commitment is met although one order breached
    r = out.loc["rural"]
    assert (r["n"], r["successes"]) == (2, 1) and r["n_no_limit"] == 1 and r["semantics"] == "each"
    assert pd.isna(r["commitment_met"])


def test_sla_overdue_open_counts_as_breach() -> None:
    df = sla_frame()
    out = compute("sla_arrival", df, by=["area_class"], as_of="2024-03-01 02:00").set_index("area_class")
    u = out.loc["urban"]
    assert (u["n"], u["successes"]) == (5, 2) and u["n_open_overdue"] == 2
    assert u["mean_ratio"] == pytest.approx((30 + 44 + 60 + 120 + 120) / (5 * 45))
    assert bool(u["commitment_met"]) is False
    incl = compute("sla_arrival", df, by=["area_class"], as_of="2024-03-01 02:00", exceptions="include")
    assert incl.set_index("area_class").loc["urban", "n"] == 6
    lax = compute("sla_arrival", df, by=["area_class"], as_of="2024-03-01 02:00", count_overdue_open=False)
    assert lax.set_index("area_class").loc["urban", "n"] == 3


def test_sla_working_days_with_makeup_day() -> None:
    # residential connection, 5 working days (average). Created Mon 7 Oct 2024 10:00 local (holiday week).
    cal = WorkCalendar(holidays=tuple(dt.date(2024, 10, d) for d in range(1, 8)),
                       workdays=(dt.date(2024, 9, 29), dt.date(2024, 10, 12)))
    df = pd.DataFrame({
        "created_at": utc("2024-10-07 02:00", "2024-10-07 02:00"),
        "resolved_at": utc("2024-10-14 09:00", "2024-10-15 09:00"),  # Mon 14 Oct 17:00, Tue 15 Oct 17:00 local
        "limit_value": [5.0, 5.0], "limit_unit": "working_days", "clock": "working", "semantics": "each",
    })
    # working days: 8, 9, 10, 11, 12 (make-up Saturday), 14 -> 6 by Mon 17:00; 7 by Tue 17:00 -> both breach.
    out = compute("sla_resolution", df, calendar=cal, min_n=1)
    assert out["n"].iloc[0] == 2 and out["successes"].iloc[0] == 0
    no_makeup = WorkCalendar(holidays=cal.holidays)
    out2 = compute("sla_resolution", df, calendar=no_makeup, min_n=1)
    assert out2["successes"].iloc[0] == 1  # 8-11 Oct + 14 Oct = exactly 5 working days: within
    with pytest.raises(ValueError):
        compute("sla_resolution", df)  # working days without a calendar


# --- contacts -----------------------------------------------------------------------------------------------------


def contacts_fcr() -> pd.DataFrame:
    rows = [
        # customer, category, channel, time, outage, abandoned
        (1, "billing", "hotline", "2024-03-01 10:00", None, False),  # repeat on day 4 via app -> not resolved
        (1, "billing", "app", "2024-03-05 10:00", None, False),  # next billing contact day 13 > 7 -> resolved
        (1, "billing", "hall", "2024-03-13 10:00", None, False),  # tail (after 03-23 cutoff? no) -> judged
        (2, "repair", "hotline", "2024-03-02 09:00", None, False),  # next repair contact is outage-linked -> resolved
        (2, "repair", "hotline", "2024-03-03 09:00", 77, False),  # outage: excluded
        (2, "billing", "hotline", "2024-03-04 09:00", None, False),  # other category -> resolved
        (3, "meter", "hotline", "2024-03-10 09:00", None, True),  # abandoned: not judged, but is a repeat target
        (3, "meter", "hotline", "2024-03-08 09:00", None, False),  # abandoned call 2 days later -> repeat
        (None, "billing", "hotline", "2024-03-09 09:00", None, False),  # no customer id
        (4, "billing", "web", "2024-03-28 09:00", None, False),  # last 7 days of the window: tail
        (4, "billing", "web", "2024-03-31 09:00", None, False),  # tail
    ]
    df = pd.DataFrame(rows, columns=["customer_id", "category", "channel", "queued_at", "outage_event_id",
                                     "abandoned"])
    df["queued_at"] = pd.to_datetime(df["queued_at"], utc=True)
    return df


def test_fcr_system_by_hand() -> None:
    df = contacts_fcr()
    r = result("fcr_system", df, min_n=1)
    # judgeable: c1 x3, c2 repair 03-02, c2 billing, c3 meter 03-08 -> 6; not resolved: c1 03-01, c3 03-08
    assert r.n == 6 and r.extra["successes"] == 4 and r.value == pytest.approx(4 / 6)
    assert r.extra["n_excluded_tail"] == 2 and r.extra["n_excluded_outage"] == 1
    assert r.extra["n_no_customer"] == 1 and r.extra["window_days"] == 7
    assert (r.ci_low, r.ci_high) == pytest.approx(wilson(4, 6))
    one_day = result("fcr_system", df, days=1, min_n=1)
    # with N = 1 the tail is only 03-30 09:00 onwards; c1's 4-day gap and c3's 2-day gap are no longer repeats
    assert one_day.extra["n_excluded_tail"] == 1 and one_day.n == 7 and one_day.extra["successes"] == 7
    by_channel = compute("fcr_system", df, by=["channel"], min_n=1).set_index("channel")
    assert by_channel.loc["hotline", "n"] == 4 and by_channel.loc["hotline", "successes"] == 2
    with pytest.raises(ValueError):
        compute("fcr_system", df, days=31)


def calls() -> pd.DataFrame:
    q = pd.Timestamp("2024-03-01 01:00", tz="UTC")
    s = pd.Timedelta(seconds=1)
    waits = [10, 25, 30, 31, 120, None, None, None]
    abandoned = [False, False, False, False, False, True, True, False]
    ended = [None, None, None, None, None, q + 3 * s, q + 40 * s, None]
    return pd.DataFrame({
        "channel": ["hotline"] * 7 + ["hall"],
        "queued_at": [q] * 8,
        "answered_at": [q + w * s if w is not None else pd.NaT for w in waits[:7]] + [q + 600 * s],
        "ended_at": pd.to_datetime(ended, utc=True),
        "abandoned": abandoned,
    })


def test_hotline_service_level_asa_abandonment() -> None:
    df = calls()
    sl = result("hotline_service_level", df, min_n=1)
    # offered: 7 hotline calls − 1 abandon under 5 s = 6; within 30 s: 10, 25, 30 -> 3
    assert (sl.n, sl.extra["successes"], sl.extra["n_short_abandon"]) == (6, 3, 1)
    assert sl.value == pytest.approx(0.5) and "5 s" in sl.extra["convention"]
    ab = result("abandonment_rate", df, min_n=1)
    assert (ab.n, ab.extra["successes"]) == (6, 1)
    asa = result("asa", df, min_n=1)
    assert asa.value == pytest.approx((10 + 25 + 30 + 31 + 120) / 5) and asa.n == 5
    assert asa.extra["n_abandoned"] == 1
    sl20 = result("hotline_service_level", df, threshold_seconds=20, min_n=1)
    assert sl20.extra["successes"] == 1


def test_hall_waiting_time() -> None:
    df = calls()
    r = result("hall_waiting_time", df, min_n=1)
    assert r.value == pytest.approx(10.0) and r.n == 1 and math.isnan(r.ci_low)
    assert r.status == "met"  # 10 min <= 15 min (CSG)


# --- tickets: shares and rates ------------------------------------------------------------------------------------


def test_online_share_reopen_and_complaints() -> None:
    df = pd.DataFrame({
        "region_id": [1, 1, 1, 2, 2, 2, 2],
        "channel": ["app", "wechat", "hotline", "alipay", "web", "hall", None],
        "service_type": ["complaint", "billing", "complaint", "complaint", "repair", "repair", "repair"],
        "resolved_at": utc("2024-03-02", "2024-03-02", None, "2024-03-02", "2024-03-02", None, "2024-03-02"),
        "reopen_count": [1, 0, 0, 0, 2, 0, 0],
    })
    on = compute("online_share", df, by=["region_id"], min_n=1).set_index("region_id")
    assert on.loc[1, "value"] == pytest.approx(2 / 3) and on.loc[2, "n"] == 3 and on.loc[2, "successes"] == 2
    ro = compute("reopen_rate", df, min_n=1)
    assert (ro["n"].iloc[0], ro["successes"].iloc[0]) == (5, 2)
    cp = compute("complaints_per_1000", df, by=["region_id"], customers=pd.Series({1: 1000, 2: 4000}),
                 min_n=1).set_index("region_id")
    assert cp.loc[1, "value"] == pytest.approx(2.0) and cp.loc[2, "value"] == pytest.approx(0.25)
    assert cp.loc[1, "ci_low"] == pytest.approx(stats.chi2.ppf(0.025, 4) / 2)
    assert cp.loc[1, "ci_high"] == pytest.approx(stats.chi2.ppf(0.975, 6) / 2)
    assert cp.loc[1, "status"] == "missed" and cp.loc[2, "status"] == "met"
    whole = compute("complaints_per_1000", df, customers=5000)
    assert whole["value"].iloc[0] == pytest.approx(3 / 5)
    with pytest.raises(ValueError):
        compute("complaints_per_1000", df)


def test_followup_closure() -> None:
    df = pd.DataFrame({
        "created_at": utc("2024-03-01", "2024-03-01", "2024-03-01", "2024-03-05"),
        "due_at": utc("2024-03-03", "2024-03-03", "2024-03-03", "2024-03-20"),
        "closed_at": utc("2024-03-02", "2024-03-04", None, None),
    })
    r = result("followup_closure", df, as_of="2024-03-10", min_n=1)
    assert (r.n, r.extra["successes"], r.extra["n_not_yet_due"], r.extra["n_overdue_open"]) == (3, 1, 1, 1)


# --- surveys ------------------------------------------------------------------------------------------------------


def responses() -> pd.DataFrame:
    nps = [10] * 30 + [9] * 20 + [8] * 15 + [7] * 15 + [6] * 10 + [0] * 10
    csat = [5] * 40 + [4] * 35 + [3] * 15 + [2] * 5 + [1] * 5
    ces = [7, 6, 5, 4, 3, 2, 1, 5, 6, 7] * 10
    return pd.DataFrame({
        "region_id": [1, 2] * 50, "nps": nps, "csat": csat, "ces": ces,
        "fcr": [True, False, None, True] * 25,
    })


def test_nps_reference_from_frame() -> None:
    df = responses()
    w = compute("nps", df, method="wald").iloc[0]
    assert (w["promoters"], w["passives"], w["detractors"]) == (50, 30, 20)
    assert w["value"] == pytest.approx(0.30) and w["se"] == pytest.approx(0.0781, abs=5e-5)
    assert w["ci_low"] == pytest.approx(0.1469, abs=5e-5) and w["ci_high"] == pytest.approx(0.4531, abs=5e-5)
    assert w["status"] == "met"


def test_nps_all_promoters_and_invalid_values() -> None:
    df = pd.DataFrame({"nps": [9, 10, 10, 11, None, -1]})
    r = result("nps", df, min_n=1)
    assert r.value == 1.0 and r.n == 3 and r.ci_high == 1.0 and r.ci_low < 1.0


def test_csat_top2_box_distribution_and_mean() -> None:
    df = responses()
    df.loc[0, "csat"] = 0  # "0 = not applicable" pitfall: not a valid answer
    df.loc[1, "csat"] = None
    r = result("csat", df)
    assert r.n == 98 and r.extra["successes"] == 73
    assert (r.ci_low, r.ci_high) == pytest.approx(wilson(73, 98))
    assert [r.extra[f"csat_{k}"] for k in range(1, 6)] == [5, 5, 15, 35, 38]
    assert r.extra["mean"] == pytest.approx((5 + 10 + 45 + 140 + 190) / 98)
    m = result("csat_mean", df)
    assert m.value == pytest.approx(r.extra["mean"])


def test_ces_and_survey_fcr() -> None:
    df = responses()
    share = result("ces_share", df)
    assert share.n == 100 and share.extra["successes"] == 60
    mean = result("ces_mean", df)
    assert mean.value == pytest.approx(4.6)
    f = result("fcr_survey", df, min_n=1)
    assert (f.n, f.extra["successes"]) == (75, 50)


def test_response_rate_and_dimension_score() -> None:
    inv = pd.DataFrame({
        "channel": ["sms", "sms", "sms", "wechat", "qr"],
        "delivered": [True, True, False, True, True],
        "reusable": [False, False, False, False, True],
        "used_at": utc("2024-03-01", None, None, "2024-03-02", "2024-03-03"),
    })
    r = result("response_rate", inv, min_n=1)
    assert (r.n, r.extra["successes"], r.extra["n_reusable"]) == (3, 2, 1)
    ans = pd.DataFrame({"dimension": ["reliability", "reliability", "empathy", None],
                        "value_num": [5.0, 4.0, 3.0, 1.0]})
    d = compute("dimension_score", ans, by=["dimension"], min_n=1).set_index("dimension")
    assert d.loc["reliability", "value"] == 4.5 and d.loc["empathy", "n"] == 1 and len(d) == 2


# --- compute contract -----------------------------------------------------------------------------------------------


def test_compute_any_breakdown_combination() -> None:
    rng = np.random.default_rng(9)
    n = 5000
    df = pd.DataFrame({
        "region_id": rng.integers(1, 6, n), "channel": rng.choice(["sms", "wechat", "ivr"], n),
        "service_type": rng.choice(["repair", "billing"], n), "csat": rng.integers(1, 6, n).astype(float),
    })
    df.loc[rng.choice(n, 300, replace=False), "csat"] = np.nan
    out = compute("csat", df, by=["region_id", "channel", "service_type"])
    assert list(out.columns[:9]) == ["region_id", "channel", "service_type", *RESULT_COLUMNS[:6]]
    assert len(out) == 30 and out["n"].sum() == df["csat"].notna().sum()
    sub = df[(df.region_id == 3) & (df.channel == "ivr") & (df.service_type == "billing")]["csat"].dropna()
    row = out[(out.region_id == 3) & (out.channel == "ivr") & (out.service_type == "billing")].iloc[0]
    assert row["value"] == pytest.approx((sub >= 4).mean()) and row["n"] == len(sub)
    assert set(out["status"]) <= {"met", "at_risk", "missed", "insufficient"}
    with pytest.raises(ValueError):
        compute("csat", df, by=["no_such_column"])
    with pytest.raises(KeyError):
        compute("no_such_kpi", df)


def test_compute_empty_input_and_n1() -> None:
    empty = responses().iloc[:0]
    whole = compute("csat", empty)
    assert len(whole) == 1 and whole["n"].iloc[0] == 0 and whole["status"].iloc[0] == "insufficient"
    grouped = compute("csat", empty, by=["region_id"])
    assert grouped.empty and "value" in grouped.columns
    nps_empty = result("nps", empty)
    assert nps_empty.n == 0 and math.isnan(nps_empty.value)
    one = result("csat_mean", responses().iloc[:1], min_n=1)
    assert one.n == 1 and math.isnan(one.ci_low) and one.value == 5.0
    flat = result("csat_mean", pd.DataFrame({"csat": [4, 4, 4]}), min_n=1)
    assert flat.ci_low == flat.ci_high == 4.0


def test_status_honours_target_margin_and_min_n() -> None:
    df = responses()
    assert compute("csat", df, target=0.70)["status"].iloc[0] == "met"  # 0.75
    assert compute("csat", df, target=0.76)["status"].iloc[0] == "at_risk"  # within the 0.02 margin
    assert compute("csat", df, target=0.80)["status"].iloc[0] == "missed"
    assert compute("csat", df, min_n=101)["status"].iloc[0] == "insufficient"
