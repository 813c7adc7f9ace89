"""A page link opened before signing in shows the login form at that page and lands there after the login; the login
starts a reload-proof session (data.sessions) that logout revokes. The browser side is tests/e2e/test_session_reload."""

from __future__ import annotations

from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from data.engine import get_engine
from data.models import AuthSession
from tests.app.helpers import APP, page_titles
from tests.factories import PASSWORD


def test_page_link_before_login_lands_on_that_page(tiny_app_db: str) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at._page_hash = calc_hash("regions")  # noqa: SLF001 - as a browser opening /regions resolves it
    at.query_params["period"] = "this_year"
    at.run()
    assert not at.exception, at.exception
    assert at.text_input(key="login_username") and not at.metric
    at.text_input(key="login_username").input("manager")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert page_titles(at) == ["区域分析"]
    token = at.session_state["identity_token"]
    with get_engine(tiny_app_db).connect() as conn:
        rows = conn.execute(select(AuthSession.token_hash, AuthSession.revoked_at)).all()
    assert len(rows) == 1 and rows[0].revoked_at is None and token not in rows[0].token_hash
    at.button(key="logout").click().run()
    assert not at.exception, at.exception
    assert at.text_input(key="login_username")
    with get_engine(tiny_app_db).connect() as conn:
        assert conn.execute(select(AuthSession.revoked_at)).scalar_one() is not None
