"""Overview page on the tiny world: tiles with exact figures per scope, status by colour and icon, "样本不足",
the line saying what is shown, chart specs, drill-down rows that reproduce the number, masking, URL filters."""

from __future__ import annotations

import pytest

from tests.app.dashboard_helpers import chart_titled, data_of, encodings, layer_marks, markdown, metric
from tests.app.helpers import login, texts

# The tiny world (tests/factories.py): 10 repairs per station, arrival 30 min at A1 (urban, limit 45), 100 min at
# A2 (rural, 90), 150 min at B1 (remote, 120), 40 min at C (urban, 45), all in 1-10 October 2026.


@pytest.mark.parametrize("user, tickets, within", [("manager", "40", "50.0%"), ("mgr_a", "20", "50.0%"),
                                                    ("mgr_a1", "10", "样本不足")])  # n = 10 < 20
def test_tiles_follow_the_scope(tiny_app_db: str, user: str, tickets: str, within: str) -> None:
    at = login(user)
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "工单量") == tickets
    assert metric(at, "到达现场时限达标率") == within


def test_status_icon_target_interval_and_the_line_on_top(tiny_app_db: str) -> None:
    at = login("manager")
    md = markdown(at)
    assert "**测试省 · 2026年10月（截至2026-10-10） · 对比：上月同期**" in md
    # 20/40 within the limit, target 95 %: missed, shown by colour AND icon; Wilson 95 % interval of 20/40.
    assert ":red[✗ 未达标] · 目标 ≥ 95.0% · n = 40 · 95%区间 35.2%–64.8%" in md
    # nothing to compare with in September: no change is claimed, never "显著"
    assert "显著" not in texts(at)


def test_too_few_observations(tiny_app_db: str) -> None:
    at = login("mgr_a1")
    # 9 CSAT answers in A1 up to the anchor day (the 10th comes on 11 October): below the minimum of 30
    assert metric(at, "客户满意度(满意率)") == "样本不足"
    assert ":gray[… 样本不足]" in markdown(at)


def test_english_is_complete(tiny_app_db: str) -> None:
    at = login("manager", lang="en")
    assert metric(at, "Work orders") == "40"
    assert metric(at, "SLA attainment: arrival") == "50.0%"
    assert "**Test Province · October 2026 (to 2026-10-10) · vs same days last month**" in markdown(at)
    body = texts(at)
    body = body.replace("省经理", "")  # the user's display name is data, not interface text
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in body), body


def test_trend_is_a_control_chart(tiny_app_db: str) -> None:
    at = login("manager")
    spec = chart_titled(at, "每日走势与控制限")
    assert layer_marks(spec) == ["area", "rule", "line", "point"]
    band, _centre, line, points = encodings(spec)
    assert band["x"]["field"] == "day" and band["x"]["type"] == "temporal"
    assert (band["y"]["field"], band["y2"]["field"]) == ("lcl", "ucl")
    assert line["y"]["field"] == "value"
    assert points["shape"]["field"] == "signal_label"  # out-of-control points marked by shape and colour
    days = sorted(str(r["day"])[:10] for r in data_of(spec))
    assert days[0] == "2026-10-01" and days[-1] == "2026-10-10" and len(days) == 10


def test_breakdown_heatmap_only_within_scope(tiny_app_db: str) -> None:
    at = login("mgr_a")
    spec = chart_titled(at, "区域 × 渠道")
    enc = encodings(spec)[0]
    assert (enc["x"]["field"], enc["y"]["field"]) == ("channel_label", "region_label")
    regions = {r["region_label"] for r in data_of(spec)}
    assert regions == {"甲一区", "甲二县"}  # the children of city A; never City B or C


def test_drill_down_reproduces_the_tile_and_masks_personal_data(tiny_app_db: str) -> None:
    at = login("manager")
    at.button(key="drill_tile_sla_arrival").click().run()
    assert "到达现场时限达标率：达标 20 / 计入 40 = 50.0%" in [c.value for c in at.caption]
    table = at.dataframe[0].value
    assert len(table) == 40
    within = (table["到达时长（分钟）"] <= table["到达时限（分钟）"]).sum()
    assert within == 20  # the rows behind the number reproduce it
    flat = table.astype(str).to_string()
    assert "13800000000" not in flat and "张三" not in flat
    assert set(table["电话（掩码）"]) == {"138****0000"} and set(table["客户（掩码）"]) == {"张*"}


def test_drill_down_stays_in_scope(tiny_app_db: str) -> None:
    at = login("mgr_a1")
    at.button(key="drill_tile_sla_arrival").click().run()
    table = at.dataframe[0].value
    assert len(table) == 10 and set(table["区域"]) == {"甲一营业厅"}


def test_customer_archive_from_a_row(tiny_app_db: str) -> None:
    at = login("mgr_a1")
    at.button(key="drill_tile_sla_arrival").click().run()
    options = at.selectbox(key="drill_archive_pick").options
    assert len(options) == 2  # "choose" + the one customer of A1
    at.selectbox(key="drill_archive_pick").select_index(1).run()
    md = markdown(at)
    assert "客户档案" in [s.value for s in at.subheader]
    assert "工单（10）" in md and "138\\*\\*\\*\\*0000" in md and "张三" not in md  # asterisks escaped: shown as typed


def test_url_filters_narrow_and_a_tampered_region_is_ignored(tiny_app_db: str) -> None:
    at = login("manager", params={"region": "A1", "cmp": "none"})
    assert metric(at, "工单量") == "10"
    assert "甲一区 · 2026年10月（截至2026-10-10） · 对比：无" in markdown(at)
    # mgr_a1 may see only A1: a link that asks for city B is ignored (and the data layer would refuse it anyway)
    at = login("mgr_a1", params={"region": "B"})
    assert metric(at, "工单量") == "10"
    assert any("超出您的权限范围" in w.value for w in at.sidebar.warning)
    assert at.query_params.get("region") in (None, [], "")


def test_period_and_area_filters(tiny_app_db: str) -> None:
    at = login("manager")
    at.multiselect(key="f_area").set_value(["rural", "remote"]).run()
    assert metric(at, "工单量") == "20"
    assert metric(at, "到达现场时限达标率") == "0.0%"  # A2 100 > 90, B1 150 > 120
    at.selectbox(key="f_period").set_value("last_month").run()
    assert any("当前筛选条件下没有数据" in i.value for i in at.info)


def test_province_overview_from_cells_shows_the_same_figures(tiny_app_db: str, monkeypatch) -> None:
    """The province-wide overview from pre-aggregated cells (used for large periods; forced here) draws the same
    tiles as from the rows."""
    import streamlit as st

    st.cache_resource.clear()
    rows = login("manager")
    monkeypatch.setenv("GRIDCX_CELLS_MIN_ROWS", "0")
    st.cache_resource.clear()
    cells = login("manager")
    assert not cells.error, [e.value for e in cells.error]
    for label in ("工单量", "未办结工单", "到达现场时限达标率", "客户满意度(满意率)", "净推荐值"):
        assert metric(cells, label) == metric(rows, label), label
    assert markdown(cells) == markdown(rows)
    # the drill-down behind a tile reads only its kind's rows there, and reproduces the same number
    cells.button(key="drill_tile_sla_arrival").click().run()
    assert "到达现场时限达标率：达标 20 / 计入 40 = 50.0%" in [c.value for c in cells.caption]
    assert len(cells.dataframe[0].value) == 40
