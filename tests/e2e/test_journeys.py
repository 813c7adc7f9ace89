"""One browser journey per role on a copy of the S demo world (issue 16): the province manager, a county manager,
HR and the admin visit every page their role has, press its tabs, a drill-down and every download control, open
each file, reload, follow a deep link opened before signing in, switch language; the customer opens a survey link on
a 390 x 844 phone in both languages and in large type. A journey fails on an exception on screen, a catalogue key
or Streamlit's English chrome in the visible text, an empty or unreadable download, or an ERROR / Traceback /
"Callable execution failed" line in the server's log. Screenshots of every page per role: artifacts/screens/."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dashboard.app import PAGES, page_roles
from data.engine import get_engine
from data.i18n import translate
from data.schema import upgrade
from tests.e2e.conftest import ARTIFACTS, AppServer, wait_idle
from tests.e2e.journeys import ServerLog, check_screen, press_downloads, press_tabs, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]
DESKTOP = {"width": 1440, "height": 1100}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def world(demo_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A private copy of the S demo world shared by the journeys (they change little: a drill, a language)."""
    src = Path(demo_sqlite_url.removeprefix("sqlite:///"))
    dst = tmp_path_factory.mktemp("journeys") / "gridcx.db"
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    for name in src.parent.glob(src.stem + "*.json"):
        shutil.copy(name, dst.parent / name.name.replace(src.stem, dst.stem))
    url = f"sqlite:///{dst}"
    upgrade(get_engine(url))
    return url


@pytest.fixture(scope="module")
def server(world: str) -> Iterator[AppServer]:
    srv = AppServer(world, {"GRIDCX_PUBLIC_URL": "https://survey.example.cn"})
    yield srv
    srv.stop()


@pytest.fixture
def log(server: AppServer) -> Iterator[ServerLog]:
    lg = ServerLog(ARTIFACTS / f"streamlit-{server.port}.log")
    lg.mark()
    yield lg
    assert lg.problems() == [], "server log"


def _accounts(url: str) -> list[tuple[str, str, str]]:
    with get_engine(url).connect() as conn:
        return [tuple(a) for a in json.loads(conn.execute(  # type: ignore[misc]
            text("SELECT value FROM site_setting WHERE key='demo.accounts'")).scalar_one())]


def _password(url: str, username: str) -> str:
    return next(pw for _r, n, pw in _accounts(url) if n == username)


def _county_manager(url: str) -> str:
    return next(n for _r, n, _pw in _accounts(url) if n.startswith("manager_"))


def sign_in(page: Any, username: str, password: str) -> None:
    page.get_by_label("用户名", exact=True).fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.locator("[data-testid='stSidebarNav']").wait_for(timeout=60_000)
    wait_idle(page, 60_000)


def signed_in(browser: Any, server: AppServer, world: str, username: str, *,
              check_login: bool = False) -> tuple[Any, Any]:
    """A fresh desktop browser context signed in as ``username`` (the demo world's password)."""
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    page = ctx.new_page()
    page.goto(server.url)
    wait_idle(page)
    if check_login:
        check_screen(page, "login")
    sign_in(page, username, _password(world, username))
    return ctx, page


def go(page: Any, key: str, lang: str = "zh-CN") -> None:
    title = translate(PAGES[key][1], lang)
    page.locator("[data-testid='stSidebarNavLink']").filter(has_text=title).first.click()
    wait_idle(page, 90_000)
    page.wait_for_timeout(300)  # a page may stream a second part (tiles, then charts) after the first idle
    wait_idle(page, 90_000)


def pages_of(role: str) -> list[str]:
    return [key for key in PAGES if role in page_roles(key)]


def tour(page: Any, role: str, tmp: Path, *, drill: bool = True) -> dict[str, list[str]]:
    """Visit every page of the role: check it, screenshot it, press its tabs, one drill-down and its downloads."""
    files: dict[str, list[str]] = {}
    for key in pages_of(role):
        go(page, key)
        where = f"{role}/{key}"
        check_screen(page, where)
        shot(page, role, key)
        press_tabs(page, where)
        opener = page.locator("[data-testid='stButton'] button").filter(has_text="明细")
        if drill and opener.count():
            opener.first.click()
            wait_idle(page, 90_000)
            page.locator("[data-testid='stDownloadButton']").first.wait_for(timeout=60_000)
            check_screen(page, f"{where} drill-down")
            shot(page, role, f"{key}-drill")
        files[key] = press_downloads(page, tmp, where)
        check_screen(page, f"{where} after downloads")
    return files


def test_province_manager_journey(browser: Any, server: AppServer, world: str, log: ServerLog,
                                  tmp_path: Path) -> None:
    ctx, page = signed_in(browser, server, world, "manager", check_login=True)
    files = tour(page, "manager", tmp_path)
    assert any(n.endswith(".csv") for n in files["home"]) and any(n.endswith(".xlsx") for n in files["home"]), files
    # a reload keeps the user signed in on the same page
    go(page, "regions")
    page.reload()
    wait_idle(page, 90_000)
    assert page.locator("[data-testid='stSidebarNav']").count() == 1, "a reload signed the user out"
    assert page.get_by_role("button", name="登录", exact=True).count() == 0, "a reload signed the user out"
    assert page.url.rstrip("/").endswith("/regions")
    check_screen(page, "manager/regions after reload")
    # English, complete
    go(page, "home")
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name="English").click()
    page.locator("[data-testid='stSidebarNavLink']").filter(has_text="Overview").first.wait_for(timeout=60_000)
    wait_idle(page, 90_000)
    text_en = check_screen(page, "manager/home in English")
    assert "Overview" in text_en and "到达现场时限达标率" not in text_en
    shot(page, "manager", "home-en")
    ctx.close()


def test_county_manager_deep_link_before_sign_in(browser: Any, server: AppServer, world: str, log: ServerLog,
                                                 tmp_path: Path) -> None:
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    page = ctx.new_page()
    page.goto(f"{server.url}/quality?period=last_month")
    wait_idle(page)
    check_screen(page, "deep link before sign-in")  # no English "Page not found"
    county = _county_manager(world)
    sign_in(page, county, _password(world, county))
    assert "/quality" in page.url, page.url
    assert "上月" in check_screen(page, "county/quality after sign-in")
    for key in ("home", "regions", "followups"):
        go(page, key)
        check_screen(page, f"county/{key}")
        shot(page, "county-manager", key)
    ctx.close()


def test_hr_journey(browser: Any, server: AppServer, world: str, log: ServerLog, tmp_path: Path) -> None:
    ctx, page = signed_in(browser, server, world, "hr")
    files = tour(page, "hr", tmp_path, drill=False)
    assert page.locator("[data-testid='stButton'] button").filter(has_text="明细").count() == 0
    got = [n.rsplit(".", 1)[-1] for n in files["hr"]]
    assert {"xlsx", "pdf", "csv"} <= set(got), files["hr"]
    # a manager's page opened by link: said plainly in Chinese, nothing of the page shown
    page.goto(f"{server.url}/regions")
    wait_idle(page, 90_000)
    body = check_screen(page, "hr opening /regions")
    assert "无权访问" in body and page.locator("[data-testid='stMetric']").count() == 0
    ctx.close()


def test_admin_journey(browser: Any, server: AppServer, world: str, log: ServerLog, tmp_path: Path) -> None:
    ctx, page = signed_in(browser, server, world, "admin")
    tour(page, "admin", tmp_path)
    ctx.close()


def _invitation_link(url: str, base: str, tmp: Path) -> str:
    from surveys.invitations import invite

    with get_engine(url).connect() as conn:
        day = conn.execute(text("SELECT MAX(closed_at) FROM ticket WHERE closed_at IS NOT NULL")).scalar_one()
    closed = dt.date.fromisoformat(str(day)[:10])
    for back in range(0, 30):
        batch = invite(get_engine(url), closed - dt.timedelta(days=back), "sms", out_dir=tmp, base_url=base)
        if batch.rows:
            return str(batch.rows[0]["link"])
    raise AssertionError("no invitation could be issued on the demo world")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_customer_survey_journey_on_a_phone(browser: Any, server: AppServer, world: str, log: ServerLog,
                                            tmp_path: Path, lang: str) -> None:
    link = _invitation_link(world, server.url, tmp_path)
    ctx = browser.new_context(viewport=PHONE, locale=lang, is_mobile=True, has_touch=True, device_scale_factor=2)
    page = ctx.new_page()
    page.goto(link)
    wait_idle(page)
    role = f"customer-{lang}"
    check_screen(page, role)
    shot(page, role, "survey")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    large = page.get_by_text("大字" if lang == "zh-CN" else "Large text", exact=True)
    assert large.count() == 1, "the large-type switch"
    large.first.click()
    wait_idle(page)
    check_screen(page, f"{role} large type")
    shot(page, role, "survey-large")
    ctx.close()
