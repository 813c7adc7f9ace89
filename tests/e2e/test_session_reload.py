"""In Chromium: the sign-in survives a reload (session cookie), a page link opened before signing in shows the login
form there and lands on that page after it, logout ends it, and a tile's 明细 scrolls the rows into view."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from data.engine import get_engine
from tests.e2e.conftest import ARTIFACTS, AppServer, wait_idle
from tests.factories import PASSWORD, build_tiny_world

pytestmark = [pytest.mark.browser, pytest.mark.slow]
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture
def server(sqlite_url: str) -> Iterator[AppServer]:
    build_tiny_world(get_engine(sqlite_url))
    srv = AppServer(sqlite_url)
    yield srv
    srv.stop()


def sign_in(page, user: str = "manager") -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("用户名").fill(user)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("button", name="退出登录").wait_for(timeout=30_000)
    wait_idle(page)


def title(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("h1").first.inner_text(timeout=30_000)


def test_reload_deep_link_logout_and_drill_scroll(browser, server: AppServer) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    page = ctx.new_page()
    page.goto(server.url + "/?period=this_year")
    wait_idle(page)
    sign_in(page)
    assert "首页概览" in title(page)
    cookie = [c for c in ctx.cookies() if c["name"] == "gridcx_session"]
    assert len(cookie) == 1 and cookie[0]["sameSite"] == "Strict" and cookie[0]["path"] == "/"
    assert len(cookie[0]["value"]) >= 43  # an opaque 256-bit token, nothing else

    # 明细 on a tile: the rows open far below the tiles and the page scrolls to them.
    page.get_by_text("工单量").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="明细").first.click()
    wait_idle(page)
    heading = page.get_by_role("heading", name=re.compile("^明细：")).first
    expect(heading).to_be_in_viewport(timeout=10_000)
    box = heading.bounding_box()
    assert box is not None and 0 <= box["y"] < VIEWPORT["height"]
    page.screenshot(path=str(ARTIFACTS / "e2e-drill-scrolled.png"))

    # Reload on another page: still signed in, still on that page.
    page.goto(server.url + "/regions?period=this_year")
    wait_idle(page)
    assert "区域分析" in title(page)
    page.reload()
    wait_idle(page)
    page.get_by_role("button", name="退出登录").wait_for(timeout=30_000)
    assert "区域分析" in title(page)
    assert "/regions" in page.url

    # A page link opened in a fresh browser before signing in: the login form there, no "Page not found", and the
    # page it pointed at after signing in.
    other = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
    fresh = other.new_page()
    fresh.goto(server.url + "/regions")
    wait_idle(fresh)
    fresh.get_by_label("用户名").wait_for(timeout=30_000)
    assert "Page not found" not in fresh.inner_text("body")
    assert fresh.get_by_role("dialog").count() == 0
    sign_in(fresh)
    assert "区域分析" in title(fresh)
    assert "/regions" in fresh.url and "Page not found" not in fresh.inner_text("body")
    other.close()

    # Logout: the session is revoked and the cookie deleted; a reload shows the login form.
    page.get_by_role("button", name="退出登录").click()
    page.get_by_label("用户名").wait_for(timeout=30_000)
    wait_idle(page)
    page.reload()
    wait_idle(page)
    page.get_by_label("用户名").wait_for(timeout=30_000)
    assert page.get_by_role("button", name="退出登录").count() == 0
    assert not [c for c in ctx.cookies() if c["name"] == "gridcx_session" and c["value"]]
    ctx.close()

    log = (ARTIFACTS / f"streamlit-{server.port}.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
