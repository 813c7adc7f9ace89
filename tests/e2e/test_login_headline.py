"""In Chromium: a manager logs in and sees the headline page in Chinese."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from data.engine import get_engine
from tests.e2e.conftest import ARTIFACTS, AppServer, wait_idle
from tests.factories import PASSWORD, build_tiny_world

pytestmark = pytest.mark.browser


@pytest.fixture
def server(sqlite_url: str) -> Iterator[AppServer]:
    build_tiny_world(get_engine(sqlite_url))
    srv = AppServer(sqlite_url)
    yield srv
    srv.stop()


def test_manager_logs_in_and_sees_headline_in_chinese(browser, server: AppServer) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page.goto(server.url)
    wait_idle(page)
    page.get_by_label("用户名").fill("manager")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_text("工单量").first.wait_for(timeout=30_000)
    wait_idle(page)
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text("统计期间", exact=True)).first
    box.click()
    page.get_by_role("option", name="本年", exact=True).click()
    wait_idle(page)
    page.get_by_text("客户满意度(满意率)").first.wait_for()
    body = page.inner_text("body")
    assert "首页概览" in body and "测试省" in body
    # The year's figures for the whole province: 40 work orders in the tiny world.
    assert "40" in page.locator("[data-testid='stMetric']").first.inner_text()
    page.screenshot(path=str(ARTIFACTS / "e2e-headline-zh.png"), full_page=True)
    page.close()
