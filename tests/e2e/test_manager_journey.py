"""In Chromium on the S demo world: a manager logs in, changes the filters, drills from the province to a county,
opens the work orders behind a missed time limit, assigns and closes a follow-up. Screenshots go to artifacts/."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from data.engine import get_engine
from data.schema import upgrade
from tests.e2e.conftest import ARTIFACTS, AppServer, wait_idle

pytestmark = pytest.mark.browser
VIEWPORT = {"width": 1440, "height": 2400}


@pytest.fixture
def demo_copy(demo_sqlite_url: str, tmp_path: Path) -> str:
    """A private copy of the S demo world (this journey writes to it)."""
    src = Path(demo_sqlite_url.removeprefix("sqlite:///"))
    dst = tmp_path / "journey.db"
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:  # the backup API: WAL content included
        a.backup(b)
    for name in src.parent.glob(src.stem + "*.json"):  # the ground truth beside it
        shutil.copy(name, tmp_path / name.name.replace(src.stem, dst.stem))
    url = f"sqlite:///{dst}"
    upgrade(get_engine(url))
    return url


@pytest.fixture
def server(demo_copy: str) -> Iterator[AppServer]:
    srv = AppServer(demo_copy)
    yield srv
    srv.stop()


def choose(page, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick ``option`` in the selectbox labelled ``label`` and wait for the rerun."""
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text(label, exact=True)).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    wait_idle(page)


def choose_containing(page, label: str, fragment: str) -> str:  # type: ignore[no-untyped-def]
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text(label, exact=True)).first
    box.click()
    opt = page.get_by_role("option").filter(has_text=fragment).first
    name = opt.inner_text()
    opt.click()
    wait_idle(page)
    return name


def nav(page, title: str) -> None:  # type: ignore[no-untyped-def]
    page.locator("[data-testid='stSidebarNavLink']").filter(has_text=title).first.click()
    wait_idle(page, 60_000)


def shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _journey_facts(url: str) -> dict[str, object]:
    """The manager's password and an open follow-up in a county (re-opening the newest one if none is open: the
    demo world closes almost all of them)."""
    with get_engine(url).begin() as conn:
        if not conn.execute(text("SELECT COUNT(*) FROM follow_up WHERE status != 'closed'")).scalar_one():
            fid = conn.execute(text("SELECT MAX(id) FROM follow_up")).scalar_one()
            conn.execute(text("UPDATE follow_up SET status = 'open', closed_at = NULL, outcome = NULL, recovered = NULL, "
                              "recovery_score = NULL, owner_staff_id = NULL WHERE id = :i"), {"i": fid})
        accounts = json.loads(conn.execute(text("SELECT value FROM site_setting WHERE key='demo.accounts'")).scalar_one())
        fu = conn.execute(text(
            "SELECT f.id, c.name_zh AS county, p.name_zh AS city FROM follow_up f JOIN region r ON r.id = f.region_id "
            "JOIN region c ON r.path LIKE c.path || '%' AND c.level = 'county' "
            "JOIN region p ON p.id = c.parent_id WHERE f.status != 'closed' ORDER BY f.id LIMIT 1")).mappings().one()
    return {"password": next(pw for _r, n, pw in accounts if n == "manager"), **fu}


def test_manager_journey(browser, server: AppServer, demo_copy: str) -> None:  # type: ignore[no-untyped-def]
    facts = _journey_facts(demo_copy)
    page = browser.new_page(viewport=VIEWPORT, locale="zh-CN")
    page.goto(server.url)
    wait_idle(page)
    page.get_by_label("用户名").fill("manager")
    page.get_by_label("密码").fill(str(facts["password"]))
    page.get_by_role("button", name="登录").click()
    page.get_by_text("核心指标").first.wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    body = page.inner_text("body")
    assert "国网山东省电力公司 · 2026年11月" in body and "对比：上月同期" in body
    # The tiles stream in after the headline: wait for the fifteenth before counting.
    page.locator("[data-testid='stMetric']").nth(14).wait_for(timeout=60_000)
    assert page.locator("[data-testid='stMetric']").count() >= 15
    page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg").nth(1).wait_for(
        timeout=30_000)  # charts drawn, not only sent
    shot(page, "e2e-overview.png")

    # filters: last month, compared with the same month last year
    choose(page, "统计期间", "上月")
    choose(page, "对比方式", "去年同期")
    page.get_by_text("2026年10月 · 对比：去年同期").first.wait_for(timeout=30_000)
    wait_idle(page)
    assert "period=last_month" in page.url and "cmp=last_year" in page.url  # shareable in the URL

    # regions: province -> city -> county
    nav(page, "区域分析")
    choose(page, "进入下级区域", str(facts["city"]))
    page.get_by_text(f"{facts['city']} · 2026年10月").first.wait_for(timeout=30_000)  # the drill reruns the page
    wait_idle(page)
    choose(page, "进入下级区域", str(facts["county"]))
    page.get_by_text(f"{facts['county']} · 2026年10月").first.wait_for(timeout=30_000)
    wait_idle(page)
    body = page.inner_text("body")
    assert f"{facts['county']} · 2026年10月" in body and "当前层级：县公司" in body
    shot(page, "e2e-regions-county.png")

    # service quality: the work orders behind a missed arrival limit
    nav(page, "服务质量")
    cell = choose_containing(page, "查看某一格的超时工单", "故障报修 · 到达现场")
    page.get_by_text("明细：").first.wait_for(timeout=30_000)
    body = page.inner_text("body")
    hits, counted = map(int, re.search(r"到达现场时限达标率：达标 (\d+) / 计入 (\d+)", body).groups())  # type: ignore[union-attr]
    assert f"共 {counted - hits} 条" in body  # the rows shown are exactly the misses behind the cell
    assert page.locator("[data-testid='stDataFrame']").count() >= 2
    assert cell.split(" · ")[0] == "故障报修"
    shot(page, "e2e-quality-misses.png")

    # follow-up queue: assign, then close with an outcome
    nav(page, "回访工单")
    page.get_by_text("处理回访").first.wait_for(timeout=30_000)
    shot(page, "e2e-followups-queue.png")
    page.get_by_role("button", name="指派", exact=True).click()
    wait_idle(page)
    page.get_by_text(f"回访 #{facts['id']} 已指派。").wait_for(timeout=30_000)
    page.get_by_text("已解决", exact=True).first.click()
    page.get_by_role("button", name="关闭回访").click()
    wait_idle(page)
    page.get_by_text(f"回访 #{facts['id']} 已关闭。").wait_for(timeout=30_000)
    shot(page, "e2e-followups.png")
    with get_engine(demo_copy).connect() as conn:
        status, owner, outcome = conn.execute(
            text("SELECT status, owner_staff_id, outcome FROM follow_up WHERE id = :i"), {"i": facts["id"]}).one()
    assert (status, outcome) == ("closed", "resolved") and owner is not None

    # the remaining pages render with their charts (screenshots for the README)
    for title, marker, name in (("渠道分析", "客户越来越多地在线上办电吗？", "e2e-channels.png"),
                                ("满意度与驱动因素", "什么最影响客户满意？", "e2e-satisfaction.png")):
        nav(page, title)
        page.get_by_text(marker).first.wait_for(timeout=60_000)
        wait_idle(page, 60_000)
        assert "数据暂时无法加载" not in page.inner_text("body")
        shot(page, name)
    page.close()
