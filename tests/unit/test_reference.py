"""Reference data files, their loaders, the synonym normaliser and the working-day calendar."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from data import reference, workcal


def test_reference_files_validate() -> None:
    assert reference.validate() == []


def test_region_tree_is_shandong_with_real_names() -> None:
    reg = reference.regions()
    codes = set(reg["code"])
    assert reg["parent_code"].dropna().isin(codes).all()  # every parent exists
    assert reg["area_class"].isin(["urban", "rural", "remote"]).all()
    assert reg.loc[reg["level"] == "province", "name_zh"].tolist() == ["国网山东省电力公司"]
    cities = reg[reg["level"] == "city"]
    assert len(cities) == 16 and "国网济南供电公司" in set(cities["name_zh"]) and "国网临沂供电公司" in set(cities["name_zh"])
    counties = reg[reg["level"] == "county"]
    assert 130 <= len(counties) <= 140
    assert {"国网商河县供电公司", "国网蒙阴县供电公司", "国网济南市历下区供电公司"} <= set(counties["name_zh"])
    stations = reg[reg["level"] == "station"]
    assert set(stations["kind"]) == {"supply_station", "hall"}
    by_name = stations.set_index("code")
    # township names: 商河县殷巷镇 -> 殷巷供电所; the Changdao islands are remote
    assert "殷巷供电所" in set(stations.loc[stations["code"].str.startswith("370126"), "name_zh"])
    tuoji = stations[(stations["name_zh"] == "砣矶供电所")]
    assert len(tuoji) == 1 and tuoji.iloc[0]["area_class"] == "remote"
    assert by_name.loc["370102S01", "area_class"] == "urban"  # 解放路街道, a Jinan city sub-district
    # city districts mostly urban, counties mostly rural
    is_district = counties["name_zh"].str.endswith("区供电公司")
    assert (counties.loc[is_district, "area_class"] == "urban").mean() > 0.6
    assert (counties.loc[~is_district, "area_class"] == "rural").mean() > 0.9
    assert 1_000 < (stations["area_class"] == "rural").sum() and (stations["area_class"] == "remote").sum() >= 20
    total = int(reg.loc[reg["level"] == "province", "customers"].iloc[0])
    assert 20_000_000 < total < 80_000_000
    assert total == int(stations["customers"].sum())
    assert 1_900 <= len(reg) <= 2_300  # enough for the XL world of ~2,000 regions


def _limit(pack: str, service: str, area: str, interval: str, segment: str = "*") -> tuple[float, str, str, str]:
    df = reference.sla_policies(pack)
    row = df[(df["service_type"] == service) & (df["area_class"] == area) & (df["interval"] == interval)
             & (df["segment"] == segment)]
    assert len(row) == 1, (pack, service, area, interval)
    r = row.iloc[0]
    return r["limit_value"], r["limit_unit"], r["semantics"], r["clock"]


def test_sla_packs_match_kpis_md() -> None:
    assert set(reference.sla_policies()["pack"]) == {"state_grid_2023", "state_grid_2011", "csg"}
    # State Grid 2023: averages
    assert _limit("state_grid_2023", "repair", "urban", "arrival") == (45, "minutes", "average", "calendar")
    assert _limit("state_grid_2023", "repair", "rural", "arrival") == (90, "minutes", "average", "calendar")
    assert _limit("state_grid_2023", "repair", "remote", "arrival") == (120, "minutes", "average", "calendar")
    assert _limit("state_grid_2023", "repair", "rural", "restoration")[:2] == (4, "hours")
    assert _limit("state_grid_2023", "connection_residential", "*", "resolution", "residential")[:2] == (5, "working_days")
    assert _limit("state_grid_2023", "connection_lv", "*", "resolution")[:2] == (6, "working_days")
    assert _limit("state_grid_2023", "connection_hv", "*", "resolution")[:2] == (22, "working_days")
    assert _limit("state_grid_2023", "connection_hv_dual", "*", "resolution")[:2] == (32, "working_days")
    assert _limit("state_grid_2023", "meter", "*", "resolution")[:3] == (5, "working_days", "average")
    # State Grid 2011: "一般不超过" = each order
    assert _limit("state_grid_2011", "repair", "remote", "arrival") == (120, "minutes", "each", "calendar")
    assert _limit("state_grid_2011", "complaint", "*", "first_contact") == (1, "working_days", "each", "working")
    assert _limit("state_grid_2011", "complaint", "*", "reply")[:2] == (7, "working_days")
    assert _limit("state_grid_2011", "connection_hv", "*", "reply")[:2] == (15, "working_days")
    assert _limit("state_grid_2011", "meter", "*", "resolution")[:2] == (7, "working_days")
    assert _limit("state_grid_2011", "reconnection", "*", "resolution")[:2] == (24, "hours")
    # China Southern Grid
    assert _limit("csg", "repair", "urban", "restoration")[:3] == (4, "hours", "average")
    assert _limit("csg", "repair", "rural", "restoration")[:2] == (5, "hours")
    assert _limit("csg", "*", "*", "wait")[:3] == (15, "minutes", "average")
    assert _limit("csg", "reconnection", "*", "resolution")[:2] == (12, "hours")
    assert _limit("csg", "*", "*", "answer")[:2] == (30, "seconds")


def test_code_lists() -> None:
    ch = reference.channels()
    assert set(ch["code"]) == {"hotline", "app", "wechat", "alipay", "web", "hall", "rural_point"}
    assert set(ch.loc[ch["online"], "code"]) == set(reference.ONLINE_CHANNELS)
    st = reference.service_types()
    assert {"repair", "connection_residential", "connection_lv", "connection_hv", "meter", "billing", "payment",
            "reconnection", "complaint", "inquiry"} <= set(st["code"])
    assert st.set_index("code").loc["repair", "field_work"]
    assert set(reference.segments()["code"]) == {"residential", "commercial", "industrial", "agricultural"}
    local = reference.holidays_local()
    assert list(local.columns) == ["date", "kind", "name"]


def test_normalise_synonyms_vectorised() -> None:
    values = pd.Series([" 95598 ", "Phone", "呼叫中心", "网上国网", "WeChat", "支 付 宝", "营业厅", None, "fax"])
    out = reference.normalise("channel", values)
    assert out.iloc[:7].tolist() == ["hotline", "hotline", "hotline", "app", "wechat", "alipay", "hall"]
    assert out.iloc[7:].isna().all()
    assert out.index.equals(values.index)
    svc = reference.normalise("service_type", pd.Series(["故障报修", "抢修", "电费", "BILLING", "居民新装", "投诉"]))
    assert svc.tolist() == ["repair", "repair", "billing", "billing", "connection_residential", "complaint"]
    seg = reference.normalise("segment", pd.Series(["居民", "Commercial", "大工业", "农排", "??"]))
    assert seg.iloc[:4].tolist() == ["residential", "commercial", "industrial", "agricultural"]
    assert pd.isna(seg.iloc[4])
    with pytest.raises(KeyError):
        reference.normalise("colour", pd.Series(["red"]))


def test_calendar_official_days() -> None:
    makeup = workcal.makeup_workdays("2025-01-01", "2025-12-31")
    assert makeup.dtype == np.dtype("datetime64[D]")
    assert np.datetime64("2025-01-26") in makeup  # a Sunday worked before the Spring Festival
    hol = workcal.holidays("2025-01-01", "2025-12-31")
    assert np.datetime64("2025-10-01") in hol and np.datetime64("2025-01-01") in hol
    assert workcal.is_workday(["2025-01-26", "2025-10-01", "2025-10-09", "2025-10-11"]).tolist() == [
        True, False, True, True]
    # Fri 2025-09-26 .. Mon 2025-10-13 (exclusive): 26, Sun 28 (make-up), 29, 30, 9, 10, Sat 11 (make-up)
    assert workcal.workday_count(["2025-09-26"], ["2025-10-13"]).tolist() == [7]


def test_calendar_unknown_year_falls_back_with_warning() -> None:
    with pytest.warns(workcal.CalendarFallbackWarning, match="2027"):
        workcal._WARNINGS.clear()
        hol = workcal.holidays("2027-01-01", "2027-12-31")
    assert len(hol) == 0 and len(workcal.makeup_workdays("2027-01-01", "2027-12-31")) == 0
    assert any("2027" in w for w in workcal.calendar_warnings())
    assert workcal.is_workday(["2027-10-01", "2027-10-02"]).tolist() == [True, False]  # Mon-Fri fallback


def test_calendar_local_file_adds_a_year(monkeypatch: pytest.MonkeyPatch) -> None:
    local = pd.DataFrame({"date": pd.to_datetime(["2028-10-02", "2028-10-07"]).astype("datetime64[s]"),
                          "kind": ["holiday", "workday"], "name": ["国庆节", "国庆节调休"]})
    monkeypatch.setattr(workcal, "_local", lambda: local)
    with warnings.catch_warnings():
        warnings.simplefilter("error", workcal.CalendarFallbackWarning)
        assert workcal.holidays("2028-01-01", "2028-12-31").tolist() == [np.datetime64("2028-10-02")]
        assert workcal.makeup_workdays("2028-01-01", "2028-12-31").tolist() == [np.datetime64("2028-10-07")]
    assert not any("2028" in w for w in workcal.calendar_warnings())
