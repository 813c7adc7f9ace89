"""In Chromium on a 360 x 740 phone viewport: a customer opens a real invitation link, answers, submits and sees
the thank-you page; the response is in the database and a low score opened a follow-up. Screenshots go to
artifacts/survey-phone-*.png."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from data.engine import get_engine
from data.models import UTC, FollowUp, Invitation, Response
from surveys.invitations import invite
from tests.conftest import chromium_path, need
from tests.e2e.conftest import ARTIFACTS, AppServer, wait_idle
from tests.surveys.helpers import build_survey_world

pytestmark = pytest.mark.browser
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def server(sqlite_url: str) -> Iterator[AppServer]:
    build_survey_world(get_engine(sqlite_url), now=dt.datetime.now(UTC))
    srv = AppServer(sqlite_url)
    yield srv
    srv.stop()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(ARTIFACTS / f"survey-phone-{name}.png"))


def test_customer_answers_on_a_phone_and_a_low_score_opens_a_follow_up(browser, server: AppServer,
                                                                        sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    need(chromium_path() is not None, "chromium")
    engine = get_engine(sqlite_url)
    batch = invite(engine, dt.date.today() - dt.timedelta(days=3), "sms", out_dir=tmp_path, base_url=server.url)
    row = next(r for r in batch.rows if r["ticket_no"] == "T7-0")
    link = row["link"]
    assert link.startswith(f"{server.url}/survey?t=")

    page = browser.new_page(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True, device_scale_factor=2)
    page.goto(link)
    wait_idle(page)
    page.get_by_text("故障抢修服务评价").wait_for(timeout=30_000)
    _shot(page, "1-open")
    # Only the survey: no sidebar, no login, no Streamlit menu, nothing wider than the phone.
    assert not page.locator("[data-testid='stSidebar']").is_visible()
    assert not page.locator("[data-testid='stToolbar']").is_visible()
    assert page.get_by_label("用户名").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    body = page.inner_text("body")
    assert "故障报修" in body and "测试****" in body and "张三" not in body and "13800000000" not in body

    # Very dissatisfied, not resolved, a detractor.
    page.locator(".st-key-q_csat [data-testid='stFeedbackButton']").first.click()
    page.locator(".st-key-q_fcr [data-testid='stRadioOption']").filter(has_text="否").click()
    page.locator(".st-key-q_ces [data-testid='stRadioOption']").filter(has_text="2").click()
    nps = page.locator(".st-key-q_nps [data-testid='stRadioOption']").nth(2)
    nps.scroll_into_view_if_needed()
    box = nps.bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"] and box["height"] >= 40  # fits, tappable
    nps.click()
    page.locator(".st-key-q_comment textarea").fill("停电等了五个小时")
    _shot(page, "2-answered")
    page.get_by_role("button", name="提交评价").click()
    page.get_by_text("谢谢您！").wait_for(timeout=30_000)
    wait_idle(page)
    assert page.get_by_text("负责的班组会尽快与您联系").is_visible()
    _shot(page, "3-thank-you")

    with engine.connect() as conn:
        inv_id = conn.execute(select(Invitation.id).where(Invitation.ticket_id == 1)).scalar_one()
        resp = conn.execute(select(Response.id, Response.csat, Response.fcr, Response.nps, Response.ces,
                                   Response.comment).where(Response.invitation_id == inv_id)).one()
        fu = conn.execute(select(FollowUp.reason, FollowUp.severity, FollowUp.owner_staff_id)
                          .where(FollowUp.response_id == resp.id)).one()
    assert (resp.csat, resp.fcr, resp.nps, resp.ces, resp.comment) == (1, False, 2, 2, "停电等了五个小时")
    assert fu.severity == "high" and fu.owner_staff_id is not None

    # The same link again: a kind explanation, no form, no data.
    page.goto(link)
    wait_idle(page)
    page.get_by_text("您已经评价过了").wait_for(timeout=30_000)
    assert page.locator("[data-testid='stFeedbackButton']").count() == 0
    _shot(page, "4-used-link")
    page.close()


def test_large_type_and_english_on_a_phone(browser, server: AppServer, sqlite_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    need(chromium_path() is not None, "chromium")
    engine = get_engine(sqlite_url)
    batch = invite(engine, dt.date.today() - dt.timedelta(days=3), "wechat", out_dir=tmp_path, base_url=server.url)
    page = browser.new_page(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    page.goto(batch.rows[0]["link"])
    wait_idle(page)
    page.get_by_text("大字").click()
    wait_idle(page)
    page.get_by_role("radio", name="English").click()
    wait_idle(page)
    page.get_by_text("Send my answers").wait_for(timeout=30_000)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.gx-question')).fontSize)")
    assert size >= 20
    _shot(page, "5-large-english")
    page.close()
