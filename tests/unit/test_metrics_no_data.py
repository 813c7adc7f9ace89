"""Missing is not zero: a KPI whose required input (``KPI.requires``) is absent from every row in scope has no value
and status "no_data" on every path (row compute, the fast cube, the roll-up, the overview pack's headline, breakdown
and trend); a partial absence keeps the KPI's definition and says how many rows were measured."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from metrics import registry
from metrics.businesstime import WorkCalendar
from metrics.cube import RowCache, kpi_cube
from metrics.kpis import compute, result
from metrics.overview import Frames, overview_pack
from metrics.rollup import rollup

T0 = pd.Timestamp("2026-03-02 08:00", tz="UTC")
POLICIES = pd.DataFrame([("p", "repair", "*", "*", "arrival", "calendar", 45.0, "minutes", "average")],
                        columns=["pack", "service_type", "area_class", "segment", "interval", "clock", "limit_value",
                                 "limit_unit", "semantics"])


def contacts(n: int = 40, answered: int = 0, days: int = 1) -> pd.DataFrame:
    """Hotline calls in two regions; the first ``answered`` are answered after 10 s, the rest carry no answer time
    and the default abandoned = False (what an import without answer times stores)."""
    q = T0 + pd.to_timedelta(np.arange(n) % days, unit="D") + pd.to_timedelta(np.arange(n), unit="min")
    a = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]")
    a.iloc[:answered] = q[:answered] + pd.Timedelta(seconds=10)
    return pd.DataFrame({
        "id": np.arange(1, n + 1), "region_id": np.where(np.arange(n) < n // 2, 1, 2), "area_class": "urban",
        "channel": "hotline", "category": "billing", "segment": "residential", "customer_id": np.arange(n) + 100,
        "queued_at": q, "answered_at": a, "ended_at": pd.NaT, "abandoned": False})


def tickets(n: int = 30, arrived: bool = False, resolved: bool = True) -> pd.DataFrame:
    """Repair orders created 2 h apart; no arrival time unless ``arrived``; resolved 3 h after creation."""
    c = T0 + pd.to_timedelta(np.arange(n) * 2, unit="h")
    return pd.DataFrame({
        "id": np.arange(1, n + 1), "region_id": 1, "area_class": "urban", "segment": "residential",
        "channel": "hotline", "service_type": "repair", "created_at": c,
        "arrived_at": c + pd.Timedelta(minutes=30) if arrived else pd.NaT,
        "resolved_at": c + pd.Timedelta(hours=3) if resolved else pd.NaT, "exception_reason": None,
        "limit_value": 45.0, "limit_unit": "minutes", "clock": "calendar", "semantics": "each"})


@pytest.mark.parametrize("kpi", ["hotline_service_level", "abandonment_rate", "asa"])
def test_contacts_without_answer_times_are_no_data_on_the_row_path(kpi: str) -> None:
    r = result(kpi, contacts())
    assert r.status == "no_data" and math.isnan(r.value) and math.isnan(r.ci_low) and math.isnan(r.ci_high)
    assert (r.extra["n_scope"], r.extra["n_input"]) == (40, 0)
    by = compute(kpi, contacts(), by=["region_id"])
    assert by["status"].tolist() == ["no_data", "no_data"] and by["value"].isna().all()


@pytest.mark.parametrize("kpi", ["hotline_service_level", "abandonment_rate", "asa"])
def test_the_cube_and_the_rollup_agree_on_no_data(kpi: str) -> None:
    df = contacts()
    cube = kpi_cube(kpi, RowCache(df), ["region_id"], {})
    assert cube is not None
    for out in (cube.at([]), cube.at(["region_id"]), rollup(compute(kpi, df, by=["region_id"]), kpi, [])):
        assert set(out["status"]) == {"no_data"} and out["value"].isna().all()
        assert out["n_input"].sum() == 0 and out["n_scope"].sum() == 40


def test_one_region_without_answer_times_the_other_measured() -> None:
    df = contacts(answered=20)  # region 1 answered within 10 s, region 2 has no answer times
    out = compute("hotline_service_level", df, by=["region_id"], min_n=1).set_index("region_id")
    assert (out.loc[1, "value"], out.loc[1, "status"]) == (1.0, "met")
    assert out.loc[2, "status"] == "no_data" and math.isnan(out.loc[2, "value"])
    cube = kpi_cube("hotline_service_level", RowCache(df), ["region_id"], {}).at(["region_id"])
    assert cube["status"].tolist()[1] == "no_data"


def test_partial_absence_keeps_the_definition_and_counts_the_measured_rows() -> None:
    r = result("hotline_service_level", contacts(answered=30))
    # today's convention: an offered call without an answer counts as a failure: 30 / 40
    assert r.value == pytest.approx(0.75) and r.n == 40 and r.status == "missed"
    assert r.extra["n_measured"] == 30 and r.extra["n_input"] == 30
    cube = kpi_cube("hotline_service_level", RowCache(contacts(answered=30)), [], {}).at([])
    assert cube["n_measured"].iloc[0] == 30 and cube["value"].iloc[0] == pytest.approx(0.75)


def test_tickets_resolved_without_arrival_times_are_no_data() -> None:
    for kpi in ("sla_arrival", "arrival_time", "arrival_time_p90", "sla_restoration"):
        r = result(kpi, tickets(), **({"interval": "arrival"} if kpi == "sla_arrival" else {}))
        assert r.status == "no_data" and math.isnan(r.value), kpi
    cube = kpi_cube("sla_arrival", RowCache(tickets()), [], {"interval": "arrival"}).at([])
    assert cube["status"].iloc[0] == "no_data" and math.isnan(cube["value"].iloc[0])


def test_open_orders_without_arrival_are_censored_not_missing() -> None:
    """An open repair has no arrival time yet: past its limit it is a breach (0 %, missed), as before."""
    r = result("sla_arrival", tickets(resolved=False), interval="arrival", as_of=T0 + pd.Timedelta(days=5))
    assert r.value == 0.0 and r.n == 30 and r.status == "missed"
    arrival = result("arrival_time", tickets(resolved=False))
    assert arrival.status == "insufficient" and arrival.n == 0  # open work: right-censored


def test_a_normal_world_is_unchanged() -> None:
    r = result("sla_arrival", tickets(arrived=True), interval="arrival")
    assert (r.value, r.n, r.status) == (1.0, 30, "met") and r.extra["n_measured"] == 30
    h = result("hotline_service_level", contacts(answered=40))
    assert (h.value, h.n, h.status) == (1.0, 40, "met")


def test_empty_scope_stays_insufficient_and_no_data_is_not_a_filter_verdict() -> None:
    r = result("hotline_service_level", contacts().iloc[0:0])
    assert r.status == "insufficient" and r.n == 0
    assert registry.no_data([3, 0, 2], [0, 0, 1]).tolist() == [True, False, False]
    assert "no_data" in registry.STATUSES and "not_applicable" in registry.STATUSES
    assert not registry.defined_away("hotline_service_level", {})


def test_every_kpi_declares_its_inputs() -> None:
    assert all(k.requires for k in registry.REGISTRY.values())
    with pytest.raises(ValueError, match="requires"):
        registry.KPI(**{**registry.get("csat").__dict__, "key": "x", "requires": ("csat",)})


def test_overview_pack_headline_breakdown_and_trend_gap() -> None:
    """Day 1 has no answer times, day 2 is answered: the trend has a gap on day 1 (not a 0 point), the headline is
    measured; with no answer times at all, headline and breakdown cells are no data."""
    c = contacts(n=80, answered=0, days=2)
    day2 = c["queued_at"] >= T0 + pd.Timedelta(days=1)
    c.loc[day2, "answered_at"] = c.loc[day2, "queued_at"] + pd.Timedelta(seconds=5)
    frames = Frames(tickets(arrived=True), contacts=c, start=pd.Timestamp("2026-03-02", tz="Asia/Shanghai"),
                    end=pd.Timestamp("2026-03-04", tz="Asia/Shanghai"))
    pack = overview_pack(frames, None, POLICIES, WorkCalendar(), kpis=("hotline_service_level",),
                         trend_kpis=("hotline_service_level",))
    tr = pack.trend.loc[pack.trend["series"] == "hotline_service_level"].set_index("day")
    assert math.isnan(tr.loc[pd.Timestamp("2026-03-02"), "value"])
    assert tr.loc[pd.Timestamp("2026-03-03"), "value"] == 1.0
    assert pack.headline["hotline_service_level"].status != "no_data"
    blank = Frames(tickets(arrived=True), contacts=contacts(n=80), start=frames.start, end=frames.end)
    pack = overview_pack(blank, None, POLICIES, WorkCalendar(), kpis=("hotline_service_level", "abandonment_rate"),
                         trend_kpis=("hotline_service_level",))
    for k in ("hotline_service_level", "abandonment_rate"):
        h = pack.headline[k]
        assert h.status == "no_data" and math.isnan(h.value), k
    bd = pack.breakdown
    assert len(bd) and set(bd["status"]) == {"no_data"} and bd["value"].isna().all()
    tr = pack.trend.loc[pack.trend["series"] == "hotline_service_level"]
    assert tr["value"].isna().all()
