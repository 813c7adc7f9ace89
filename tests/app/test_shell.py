"""The app shell driven through AppTest: login, neutral failures, role navigation, language, headline figures."""

from __future__ import annotations

import pytest

from tests.app.helpers import login, new_app, texts


def test_login_page_is_chinese_by_default(tiny_app_db: str) -> None:
    at = new_app()
    assert "电力营销服务满意度与服务质量看板" in texts(at)
    assert at.text_input(key="login_username").label == "用户名"
    assert not at.metric  # nothing shown before login


@pytest.mark.parametrize("username, password", [("mgr_a1", "wrong-password"), ("no_such_user", "whatever")])
def test_wrong_password_and_unknown_user_get_the_same_message(tiny_app_db: str, username: str, password: str) -> None:
    at = login(username, password)
    assert [e.value for e in at.error] == ["用户名或密码不正确，或账号暂时被锁定。"]
    assert not at.metric


@pytest.mark.parametrize("username", ["admin", "hr", "manager", "mgr_a1"])
def test_each_role_logs_in_and_sees_the_headline_page(tiny_app_db: str, username: str) -> None:
    at = login(username)
    assert not at.error, [e.value for e in at.error]
    labels = [m.label for m in at.metric]
    assert "工单量" in labels and "客户满意度(满意率)" in labels


def _metric(at, label: str) -> str:  # type: ignore[no-untyped-def]
    return next(m.value for m in at.metric if m.label == label)


def test_county_manager_sees_only_their_county(tiny_app_db: str) -> None:
    # The tiny world's tickets are in October 2026; "this year" covers them.
    at = login("mgr_a1")
    at.selectbox(key="f_period").set_value("this_year").run()
    assert _metric(at, "工单量") == "10"
    at = login("manager")
    at.selectbox(key="f_period").set_value("this_year").run()
    assert _metric(at, "工单量") == "40"


def test_headline_figures_match_the_database(tiny_app_db: str) -> None:
    at = login("manager", lang="en")
    at.selectbox(key="f_period").set_value("this_year").run()
    assert _metric(at, "Work orders") == "40"
    # Within 45/90/120: urban A1 (30 min) and urban C (40) yes, rural A2 (100) and remote B1 (150) no -> 20/40.
    assert _metric(at, "SLA attainment: arrival") == "50.0%"
    assert _metric(at, "Open work orders") == "4"
    assert "Test Province" in texts(at)


def test_too_few_observations_instead_of_a_number(tiny_app_db: str) -> None:
    at = login("mgr_a", lang="en")
    at.selectbox(key="f_period").set_value("this_year").run()
    assert _metric(at, "Work orders") == "20"
    assert _metric(at, "CSAT (top-2-box)") == "Too few observations"  # 20 responses < 30


def test_language_switch_to_english(tiny_app_db: str) -> None:
    at = login("hr")
    at.selectbox(key="lang_select").set_value("en").run()
    assert "Work orders" in [m.label for m in at.metric]


def test_logout_returns_to_login(tiny_app_db: str) -> None:
    at = login("admin")
    at.button(key="logout").click().run()
    assert at.text_input(key="login_username")
    assert not at.metric
