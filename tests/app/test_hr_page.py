"""The HR page on the real app (AppTest): an hr user sees the scorecard table of the demo world exactly as the
assessment builds it (the same numbers the Excel export writes), the per-staff view, reviewer agreement and download
buttons; a manager has no HR page; a review submitted through the form is stored and audited."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select, text
from streamlit.testing.v1 import AppTest

from data.engine import dispose_all, get_engine
from data.models import AuditEvent, QualityReview
from data.repositories import Scope
from data.users import create_user
from metrics.periods import named
from reports.assessment import build
from reports.exports import display_summary
from tests.app.helpers import login
from tests.factories import PASSWORD
from tests.reports.conftest import demo_reviews_url  # noqa: F401,F811  (shared session fixture)


@pytest.fixture
def hr_db(demo_reviews_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    src = Path(demo_reviews_url.removeprefix("sqlite:///"))
    with get_engine(demo_reviews_url).connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(FULL)"))
    dst = tmp_path / "gridcx.db"
    shutil.copyfile(src, dst)
    url = f"sqlite:///{dst}"
    engine = get_engine(url)
    with engine.connect() as conn:
        root = conn.execute(text("SELECT id FROM region WHERE parent_id IS NULL")).scalar_one()
        county = conn.execute(text("SELECT id FROM region WHERE code = '371302'")).scalar_one()
    create_user(engine, "hr_t", PASSWORD, "hr", int(root), "人资测试")
    create_user(engine, "mgr_t", PASSWORD, "manager", int(county), "经理测试")
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    dispose_all()


def goto(at: AppTest, url_path: str) -> AppTest:
    """Open a function page by its URL path (AppTest.switch_page only knows file pages); a page the role lacks is
    not registered, so Streamlit falls back to the default page."""
    from streamlit.navigation.page import calc_hash

    at._page_hash = calc_hash(url_path)
    at.run(timeout=120)
    assert not at.exception, at.exception
    return at


def _open_hr(username: str) -> AppTest:
    return goto(login(username), "hr")


def test_hr_table_equals_the_assessment(hr_db: str) -> None:
    at = _open_hr("hr_t")
    assert any("人员考核" in t.value for t in at.title)
    table = at.dataframe[0].value
    period = at.selectbox(key="hr_period_quarter").value
    a = build(get_engine(hr_db), Scope("/1/"), named(period), scope_region_id=1)
    want = display_summary(a)
    assert list(table.columns) == list(want.columns)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)
    assert len(at.get("download_button")) == 4  # Excel, PDF, CSV and one team's PDF
    assert any("质检员一致性" in s.value for s in at.subheader)


def test_per_staff_view_and_comparison(hr_db: str) -> None:
    at = _open_hr("hr_t")
    period = at.selectbox(key="hr_period_quarter").value
    a = build(get_engine(hr_db), Scope("/1/"), named(period), scope_region_id=1)
    rec = a.table[a.table["total"].notna()].iloc[0]
    at.selectbox(key="hr_staff").set_value(int(rec["staff_id"])).run(timeout=120)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["综合得分"] == f"{rec['total']:.1f}"
    assert metrics["考核等级"] == rec["grade"] and metrics["名次区间"] == rec["rank_band"]
    assert "上期得分" in metrics
    assert len(at.dataframe) >= 3  # summary, KPIs against team and company, agreement


def test_manager_has_no_hr_page(hr_db: str) -> None:
    from dashboard.app import page_roles

    assert "manager" not in page_roles("hr") and "manager" in page_roles("reviews")
    at = goto(login("mgr_t"), "hr")
    assert not any("人员考核" in t.value for t in at.title)


def test_review_form_stores_and_audits(hr_db: str) -> None:
    at = goto(login("mgr_t"), "reviews")
    assert any("服务质检" in t.value for t in at.title)
    at.selectbox(key="review_staff").select_index(0)
    for r in at.radio:
        r.set_value(3)
    at.text_area(key="review_comment").input("规范用语良好")
    at.button(key="review_submit").click().run(timeout=120)
    assert not at.exception, at.exception
    assert any("已保存质检记录" in s.value for s in at.success), [e.value for e in at.error]
    engine = get_engine(hr_db)
    with engine.connect() as conn:
        row = conn.execute(select(QualityReview).where(QualityReview.reviewer == "mgr_t")).one()
        ev = conn.execute(select(AuditEvent).where(AuditEvent.action == "quality_review",
                                                   AuditEvent.username == "mgr_t")).all()
    assert row.score == pytest.approx(0.75) and row.source == "form" and len(ev) == 1


def test_opens_on_the_last_complete_period_without_the_global_filters(hr_db: str) -> None:
    from data.repositories import data_window
    from metrics.periods import SITE_TZ

    at = goto(login("hr_t"), "home")
    at.selectbox(key="f_cmp").set_value("last_year").run(timeout=120)  # a manager page: the global filters
    goto(at, "hr")
    box = at.selectbox(key="hr_period_quarter")
    last_day = data_window(get_engine(hr_db))[1].astimezone(SITE_TZ).date()
    newer = box.options[:box.options.index(box.value)]
    assert named(box.value).last_day <= last_day
    assert newer and all(named(p).last_day > last_day for p in newer)  # the running quarter is offered, not opened
    side = {w.key for w in at.sidebar.selectbox} | {w.key for w in at.sidebar.multiselect}
    assert not side & {"f_period", "f_cmp", "f_region", "f_area", "f_channel", "f_service", "f_segment"}
    assert "lang_select" in side and "logout" in {b.key for b in at.sidebar.button}
    goto(at, "home")  # back on a manager page the filters are there, with their values
    assert at.selectbox(key="f_cmp").value == "last_year"


def test_staff_detail_says_what_it_means(hr_db: str) -> None:
    from data.reference import service_types

    a = build(get_engine(hr_db), Scope("/1/"), named("2026-Q3"), scope_region_id=1)
    at = _open_hr("hr_t")
    assert at.selectbox(key="hr_period_quarter").value == "2026-Q3"
    k, tb = a.cards.kpis, a.table
    capped = tb[tb["staff_id"].map(a.cards.totals.set_index("staff_id")["capped"]).astype(bool)].iloc[0]
    at.selectbox(key="hr_staff").set_value(int(capped["staff_id"])).run(timeout=120)
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert "封顶" in metrics["考核等级"] or "清零" in metrics["考核等级"]
    assert any("培训建议" in i.value for i in at.info)
    # a KPI without cases: "—", never a literal None; comments name the service type
    sid = int(k.loc[(k["n"] == 0) & k["staff_id"].isin(tb.loc[tb["total"].isna(), "staff_id"]), "staff_id"].iloc[0])
    at.selectbox(key="hr_staff").set_value(sid).run(timeout=120)
    detail = next(d.value for d in at.dataframe if {"指标", "班组", "公司"} <= set(d.value.columns))
    cells = detail.to_numpy(object).ravel()
    assert "—" in set(cells) and not any(c is None or str(c) in ("None", "nan", "<NA>") for c in cells)
    assert any(i.value.startswith("评级还需：还需约") for i in at.info)
    names = set(service_types()["name_zh"])
    shown = [d.value for d in at.dataframe if "业务类型" in d.value.columns]
    for comments in shown:
        assert set(comments["业务类型"]) <= names
