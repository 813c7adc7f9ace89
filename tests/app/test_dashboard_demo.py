"""The manager pages on the size-S demo world (seed 7): numbers checked against SQL counts and the generator's
ground truth, a county manager confined to the county, every page rendering on realistic data."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from streamlit.testing.v1 import AppTest

from data.engine import get_engine
from demo.world import groundtruth_path
from tests.app.dashboard_helpers import chart_titled, data_of, goto, metric
from tests.app.helpers import APP

PAGES = ("home", "regions", "channels", "quality", "satisfaction", "followups")


@pytest.fixture
def demo_app(demo_sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", demo_sqlite_url)
    return demo_sqlite_url


def _accounts(url: str) -> dict[str, str]:
    with get_engine(url).connect() as conn:
        raw = conn.execute(text("SELECT value FROM site_setting WHERE key = 'demo.accounts'")).scalar_one()
    return {name: pw for _role, name, pw in json.loads(raw)}


def _login(url: str, username: str, period: str = "this_year") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(_accounts(url)[username])
    at.button[0].click().run()
    at.selectbox(key="f_period").set_value(period).run()
    assert not at.exception, at.exception
    return at


def _county_manager(url: str) -> tuple[str, int, str]:
    name = next(n for n in _accounts(url) if n.startswith("manager_"))
    with get_engine(url).connect() as conn:
        rid, path = conn.execute(text("SELECT r.id, r.path FROM app_user u JOIN region r ON r.id = u.region_id "
                                      "WHERE u.username = :u"), {"u": name}).one()
    return name, int(rid), str(path)


def test_county_manager_tiles_match_sql_and_stay_in_the_county(demo_app: str) -> None:
    name, _rid, path = _county_manager(demo_app)
    at = _login(demo_app, name)
    # this year in local time (Asia/Shanghai) up to the newest data day, in the county's subtree
    with get_engine(demo_app).connect() as conn:
        n = conn.execute(text(
            "SELECT COUNT(*) FROM ticket t JOIN region r ON r.id = t.region_id WHERE r.path LIKE :p "
            "AND t.created_at >= '2025-12-31 16:00:00'"), {"p": path + "%"}).scalar_one()
    assert metric(at, "工单量") == f"{n:,}"
    spec = chart_titled(at, "区域 × 渠道")
    with get_engine(demo_app).connect() as conn:
        inside = {r[0] for r in conn.execute(text("SELECT name_zh FROM region WHERE path LIKE :p"), {"p": path + "%"})}
    assert {r["region_label"] for r in data_of(spec)} <= inside


def test_drill_down_reproduces_the_tile_on_realistic_data(demo_app: str) -> None:
    at = _login(demo_app, "manager")
    shown = metric(at, "到达现场时限达标率")
    at.button(key="drill_tile_sla_arrival").click().run()
    caption = next(c.value for c in at.caption if c.value.startswith("到达现场时限达标率：达标"))
    assert caption.endswith("= " + shown)
    assert "第 1 / " in "\n".join(c.value for c in at.caption)  # paged


def test_rural_and_remote_attainment_below_urban(demo_app: str) -> None:
    truth = json.load(open(groundtruth_path(get_engine(demo_app)), encoding="utf-8"))
    assert "rural and remote attainment clearly below urban" in truth["effects"]["repair_arrival"]["expect"]
    at = goto(_login(demo_app, "manager"), "regions")
    vals = {a: float(metric(at, a).rstrip("%")) for a in ("城区", "农村", "特殊边远")
            if metric(at, a) not in ("样本不足", "—")}
    assert vals["城区"] > vals["农村"]
    if "特殊边远" in vals:
        assert vals["城区"] > vals["特殊边远"]


def test_hall_peaks_show_in_the_heatmap(demo_app: str) -> None:
    truth = json.load(open(groundtruth_path(get_engine(demo_app)), encoding="utf-8"))["effects"]["hall_congestion"]
    lo, hi = truth["peak_hours"]
    at = goto(_login(demo_app, "manager"), "regions")
    rows = data_of(chart_titled(at, "时段 × 星期"))
    peak = [r for r in rows if lo <= int(r["hour_label"]) <= hi]
    off = [r for r in rows if not lo <= int(r["hour_label"]) <= hi]

    def mean(rs: list[dict[str, float]]) -> float:
        return sum(r["value"] * r["n"] for r in rs) / sum(r["n"] for r in rs)

    assert mean(peak) > 1.3 * mean(off)


def test_top_driver_is_the_planted_one(demo_app: str) -> None:
    truth = json.load(open(groundtruth_path(get_engine(demo_app)), encoding="utf-8"))["effects"]["satisfaction"]
    at = goto(_login(demo_app, "manager"), "satisfaction")
    bars = data_of(chart_titled(at, "驱动因素相对重要性"))
    top = max(bars, key=lambda r: r["rescaled"])
    assert top["driver"] == truth["top_driver_dimension"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_the_demo_world(demo_app: str, page: str) -> None:
    name, _rid, _path = _county_manager(demo_app)
    for user in ("manager", name):
        at = goto(_login(demo_app, user), page)
        assert not at.error, (user, page, [e.value for e in at.error])
