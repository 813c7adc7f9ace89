"""Local login, the logged-in identity, idle timeout, logout."""

from __future__ import annotations

import time

import streamlit as st

from dashboard.db import engine
from dashboard.i18n import t
from data.engine import DatabaseConfigError
from data.users import Identity, LoginError, authenticate, identity_for

SESSION_KEY = "identity_user_id"
ACTIVITY_KEY = "last_activity"
IDLE_TIMEOUT_S = 30 * 60


def current_identity() -> Identity | None:
    """The logged-in user, re-read from the database on every run; None when logged out or timed out."""
    user_id = st.session_state.get(SESSION_KEY)
    if not isinstance(user_id, int):
        return None
    now = time.time()
    last = st.session_state.get(ACTIVITY_KEY, now)
    if now - float(last) > IDLE_TIMEOUT_S:
        logout(expired=True)
        return None
    st.session_state[ACTIVITY_KEY] = now
    ident = identity_for(engine(), user_id)
    if ident is None:
        logout()
    return ident


def logout(expired: bool = False) -> None:
    for key in (SESSION_KEY, ACTIVITY_KEY):
        st.session_state.pop(key, None)
    if expired:
        st.session_state["login_notice"] = "login.session_expired"


def login_view() -> None:
    """The login page: a form with username and password; failures get one neutral message."""
    st.title(t("app.title"))
    notice = st.session_state.pop("login_notice", None)
    if notice:
        st.info(t(notice))
    with st.form("login", enter_to_submit=True):
        st.subheader(t("login.title"))
        username = st.text_input(t("login.username"), key="login_username", max_chars=64)
        password = st.text_input(t("login.password"), type="password", key="login_password", max_chars=256)
        submitted = st.form_submit_button(t("login.submit"), type="primary")
    if not submitted:
        return
    if not username or not password:
        st.warning(t("login.empty"))
        return
    try:
        ident = authenticate(engine(), username.strip(), password)
    except LoginError:
        st.error(t("login.failed"))
        return
    except DatabaseConfigError:
        st.error(t("login.db_error"))
        return
    st.session_state[SESSION_KEY] = ident.user_id
    st.session_state[ACTIVITY_KEY] = time.time()
    if ident.language and "lang" not in st.session_state:
        st.session_state["lang"] = ident.language
    st.rerun()
