"""Every manager page × role on the tiny world: it renders without errors, stays in scope, draws the charts the
design asks for (fields, encodings, sort order), drills through the region tree and opens the rows behind a cell."""

from __future__ import annotations

import pytest

from tests.app.dashboard_helpers import chart_titled, data_of, encodings, goto, layer_marks, markdown, metric
from tests.app.helpers import login

PAGES = ("home", "regions", "channels", "quality", "satisfaction", "followups")


@pytest.mark.parametrize("user", ["admin", "manager", "mgr_a1"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_every_manager_role(tiny_app_db: str, user: str, page: str) -> None:
    at = goto(login(user), page)
    assert not at.error, [e.value for e in at.error]
    assert at.title  # the page title
    assert " · 2026年10月" in markdown(at)  # the line saying what is shown


@pytest.mark.parametrize("page", PAGES[1:])
def test_hr_does_not_get_the_manager_pages(tiny_app_db: str, page: str) -> None:
    at = goto(login("hr"), page)
    # the page is not run for HR: its path says so in the page's language (no English "Page not found")
    assert [x.value for x in at.title] == ["无权访问"] and [w.value for w in at.warning] == ["您没有查看此页面的权限。"]
    assert not at.metric and not at.dataframe


def test_regions_ranking_is_sorted_with_intervals_and_target(tiny_app_db: str) -> None:
    at = goto(login("manager"), "regions")
    at.selectbox(key="rg_kpi").set_value("arrival_time").run()
    spec = chart_titled(at, "下级区域排名")
    assert layer_marks(spec) == ["rule", "point", "rule"]  # whiskers, dots, target rule
    whisk, dots, target = encodings(spec)
    assert (whisk["x"]["field"], whisk["x2"]["field"]) == ("ci_low", "ci_high")
    # mean arrival: C 40 min, A (30 + 100) / 2 = 65 min, B 150 min; lower is better, best first
    assert dots["y"]["sort"] == ["丙市", "甲市", "乙市"]
    values = {r["region_label"]: r["value"] for r in data_of(spec) if "region_label" in r}
    assert values == pytest.approx({"丙市": 40.0, "甲市": 65.0, "乙市": 150.0})
    assert target["x"]["field"] == "target" and 45.0 in [r.get("target") for r in data_of(spec)]
    assert dots["shape"]["field"] == "status_label"  # status by colour and shape


def test_region_drill_province_city_county(tiny_app_db: str) -> None:
    at = goto(login("manager"), "regions")
    assert "测试省 · " in markdown(at)
    at.selectbox(key="rg_drill_into").set_value(2).run()
    assert "甲市 · " in markdown(at)
    assert at.session_state["f_region"] == "A"
    at.selectbox(key="rg_drill_into").set_value(4).run()
    assert "甲一区 · " in markdown(at)
    at = goto(at, "home")  # the region stays when the page changes
    assert metric(at, "工单量") == "10"


def test_urban_rural_remote_side_by_side(tiny_app_db: str) -> None:
    at = goto(login("manager"), "regions")
    assert metric(at, "城区") == "100.0%"  # A1 30 min and C 40 min, both within 45: 20/20
    assert metric(at, "农村") == "样本不足"  # 10 < 20
    spec = chart_titled(at, "城乡抢修到达时长分布")
    assert spec["facet"]["column"]["field"] == "area"
    assert spec["resolve"]["scale"] == {"x": "shared", "y": "shared"}  # same scale side by side
    assert any("没有营业厅排队记录" in i.value for i in at.info)


def test_quality_matrix_and_the_orders_behind_a_missed_limit(tiny_app_db: str) -> None:
    at = goto(login("manager"), "quality")
    spec = chart_titled(at, "业务类型 × 区域类别")
    enc = encodings(spec)[0]
    assert (enc["x"]["field"], enc["y"]["field"], enc["color"]["field"]) == ("area_label", "service_label",
                                                                             "value_shown")
    cells = {(r["service_label"], r["area_label"]): r["value"] for r in data_of(spec)}
    assert cells[("故障报修 · 到达现场", "城区")] == 1.0 and cells[("故障报修 · 到达现场", "农村")] == 0.0
    box = at.selectbox(key="sq_open_cell")
    idx = box.options.index("故障报修 · 到达现场 · 农村")
    box.set_value(idx - 1).run()  # options[0] is "choose"; values are row numbers
    assert "到达现场时限达标率：达标 0 / 计入 10 = 0.0%" in [c.value for c in at.caption]
    rows = at.dataframe[-1].value
    assert len(rows) == 10 and (rows["到达时长（分钟）"] > rows["到达时限（分钟）"]).all()
    assert set(rows["区域"]) == {"甲二供电所"}


def test_quality_under_another_policy_pack(tiny_app_db: str) -> None:
    at = goto(login("manager"), "quality")
    at.selectbox(key="sq_pack").set_value("csg").run()
    assert not at.error
    assert "南方电网服务承诺" in chart_titled(at, "业务类型 × 区域类别")["title"]


def test_channels_mix_is_a_stacked_area_of_shares(tiny_app_db: str) -> None:
    at = goto(login("manager"), "channels")
    spec = chart_titled(at, "渠道构成")
    assert spec["mark"]["type"] == "area"
    enc = spec["encoding"]
    assert enc["y"]["stack"] == "normalize" and enc["y"]["field"] == "share"
    assert enc["color"]["scale"]["domain"] == ["95598热线"] and enc["color"]["scale"]["range"] == ["#0072B2"]
    assert metric(at, "线上办电率") == "0.0%"


def test_satisfaction_page_states(tiny_app_db: str) -> None:
    at = goto(login("manager"), "satisfaction")
    assert metric(at, "客户满意度(满意率)") == "25.0%"  # 9 of 36 answers are 5 (A1), the rest 2
    at.toggle(key="sat_weighted").set_value(True).run()
    assert not at.error
    assert any("本期没有客户意见" in i.value for i in at.info)


@pytest.mark.parametrize("page", ["channels", "quality", "satisfaction"])
def test_channel_quality_satisfaction_empty_state(tiny_app_db: str, page: str) -> None:
    """Filters that leave no work orders (the tiny world has only hotline ones): the empty state, nothing else."""
    at = goto(login("manager"), page)
    at.multiselect(key="f_channel").set_value(["app"]).run()
    assert not at.error and not at.exception
    assert [i.value for i in at.info] == ["当前筛选条件下没有数据，请放宽期间或地区。"]
    assert not at.metric and not at.dataframe


@pytest.mark.parametrize("page", ["channels", "quality", "satisfaction"])
def test_channel_quality_satisfaction_error_state(tiny_app_db: str, page: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading the frames fails: the error state (no traceback, no empty state on top)."""
    from dashboard import datasets

    at = login("manager")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database gone")

    monkeypatch.setattr(datasets, "frames", broken)
    at = goto(at, page)
    assert [e.value for e in at.error] == ["数据暂时无法加载，请稍后重试；若持续出现，请联系系统管理员。"]
    assert not at.info and not at.metric


def test_a_kpi_a_filter_decides_is_not_applicable(tiny_app_db: str) -> None:
    """Issue 16.10: under a hotline-only channel filter 线上办电率 is 0 % by definition: "不适用", never "0.0% ✗ 未达标"."""
    at = goto(login("manager"), "channels")
    at.multiselect(key="f_channel").set_value(["hotline"]).run()
    assert not at.error and not at.exception
    assert metric(at, "线上办电率") == "不适用"
    captions = " ".join(c.value for c in at.caption)
    assert "— 不适用" in captions and "只选热线渠道" in captions and "未达标" not in captions


def test_defined_away_follows_the_declaration() -> None:
    from metrics.registry import defined_away

    assert defined_away("online_share", {"channel": ("hotline",)})
    assert defined_away("online_share", {"channel": ("app", "wechat")})  # 100 % by definition
    assert not defined_away("online_share", {"channel": ("app", "hotline")})  # a real share between the two
    assert not defined_away("online_share", {"channel": ()})
    assert not defined_away("csat", {"channel": ("hotline",)})


def test_regions_ranking_of_a_kpi_a_filter_decides_says_not_applicable(tiny_app_db: str) -> None:
    at = goto(login("manager"), "regions")
    at.selectbox(key="rg_kpi").set_value("online_share").run()
    at.multiselect(key="f_channel").set_value(["hotline"]).run()
    assert not at.error and not at.exception
    assert any("线上办电率：不适用" in i.value for i in at.info)
