"""Local login, optional OIDC (``st.login``), the logged-in identity, idle timeout, password change, logout.

The session keeps only the user id, the password stamp issued at login, the time of the last activity and the token
of its reload-proof session (:mod:`data.sessions`; the browser keeps it in the ``gridcx_session`` cookie, so a reload
or a new tab is still signed in); the role and scope are re-read from the database on every run
(:func:`data.users.identity_for`), so a role change, a deactivation or a password reset takes effect at once and a
tampered session state cannot widen anything.

OIDC (production, optional): when ``.streamlit/secrets.toml`` holds an ``[auth]`` section (see DEPLOY.md), the login
page offers "sign in with the company account"; the provider's verified e-mail must equal the ``username`` of an
active GridCX user, which gives the role and scope. The provider never creates accounts. ``GRIDCX_LOCAL_LOGIN=0``
hides the local password form.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import streamlit as st
from sqlalchemy.exc import DBAPIError

from dashboard.db import engine
from dashboard.i18n import t
from data import sessions
from data.engine import DatabaseConfigError
from data.users import (
    PASSWORD_MIN,
    Identity,
    LoginError,
    PasswordPolicyError,
    authenticate,
    change_password,
    identity_for,
    identity_for_email,
)

SESSION_KEY = "identity_user_id"
STAMP_KEY = "identity_stamp"
ACTIVITY_KEY = "last_activity"
# the reload-proof session's token (data.sessions), kept in the browser's COOKIE
TOKEN_KEY = "identity_token"  # noqa: S105 - a session-state key, not a secret
CLEAR_COOKIE_KEY = "_clear_session_cookie"
COOKIE = "gridcx_session"
IDLE_TIMEOUT_S = int(sessions.IDLE.total_seconds())
log = logging.getLogger("gridcx.auth")


def oidc_enabled() -> bool:
    """True when ``secrets.toml`` configures ``st.login`` (an ``[auth]`` section with a redirect URI)."""
    try:
        auth = st.secrets.get("auth")
        return auth is not None and bool(auth.get("redirect_uri"))
    except Exception:  # noqa: BLE001 - no secrets file at all
        return False


def local_login_enabled() -> bool:
    return os.environ.get("GRIDCX_LOCAL_LOGIN", "1") != "0" or not oidc_enabled()


def _oidc_identity() -> Identity | None:
    """The identity of an OIDC-logged-in browser, mapped by e-mail to a GridCX user (None if none)."""
    if not oidc_enabled():
        return None
    try:
        user = st.user
        if not user.is_logged_in:
            return None
        email = str(user.get("email") or "")
    except Exception:  # noqa: BLE001 - st.user unavailable (AppTest without auth)
        return None
    ident = identity_for_email(engine(), email)
    if ident is None:
        st.session_state["login_notice"] = "login.oidc_unknown"
    return ident


def current_identity() -> Identity | None:
    """The logged-in user, re-read from the database on every run; None when logged out or timed out.

    Raises :class:`DatabaseConfigError` (a clear message, the session kept) when the database cannot be reached."""
    user_id = st.session_state.get(SESSION_KEY)
    now = time.time()
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        if user_id is not None:
            logout()
        try:
            ident = _oidc_identity()
            token = None
            if ident is None:  # a reload or a new tab: the browser's session cookie, if it is still valid
                token = cookie_token()
                ident = sessions.resolve(engine(), token) if token else None
        except DBAPIError as exc:
            raise _unavailable(exc) from None
        if ident is not None:
            _start_session(ident, now, token)
        return ident
    last = st.session_state.get(ACTIVITY_KEY)
    if not isinstance(last, (int, float)) or now - float(last) > IDLE_TIMEOUT_S or float(last) > now + 5:
        logout(expired=True)
        return None
    stamp = st.session_state.get(STAMP_KEY)
    if not isinstance(stamp, str):
        logout()
        return None
    token = st.session_state.get(TOKEN_KEY)
    try:
        if token is not None:  # revoked by a logout in another tab, expired, or the password changed
            ident = sessions.resolve(engine(), token)
            if ident is not None and (ident.user_id != user_id or ident.stamp != stamp):
                ident = None
        else:
            ident = identity_for(engine(), user_id, stamp)
    except DBAPIError as exc:
        raise _unavailable(exc) from None
    if ident is None:
        logout(expired=True)
        return None
    st.session_state[ACTIVITY_KEY] = now
    return ident


def _unavailable(exc: Exception) -> DatabaseConfigError:
    """A dropped or refused database connection: log it, drop the pool (the next run reconnects), clear message."""
    log.warning("database unavailable: %s", str(getattr(exc, "orig", exc)).splitlines()[0][:200])
    try:
        engine().dispose()
    except Exception:  # noqa: BLE001
        log.debug("dispose failed", exc_info=True)
    return DatabaseConfigError("database unavailable")


def _start_session(ident: Identity, now: float, token: str | None = None) -> None:
    st.session_state[SESSION_KEY] = ident.user_id
    st.session_state[STAMP_KEY] = ident.stamp
    st.session_state[ACTIVITY_KEY] = now
    if token is not None:
        st.session_state[TOKEN_KEY] = token
    if ident.language and "lang" not in st.session_state:
        st.session_state["lang"] = ident.language


def logout(expired: bool = False) -> None:
    token = st.session_state.get(TOKEN_KEY)
    if token is not None:
        try:
            sessions.revoke(engine(), token, username=getattr(st.session_state.get("identity"), "username", None))
        except Exception:  # noqa: BLE001 - the session state is cleared whatever happens; the token expires anyway
            log.warning("could not revoke a session token", exc_info=True)
        st.session_state[CLEAR_COOKIE_KEY] = token
    for key in (SESSION_KEY, STAMP_KEY, ACTIVITY_KEY, TOKEN_KEY, "identity"):
        st.session_state.pop(key, None)
    if expired:
        st.session_state["login_notice"] = "login.session_expired"


def sign_out() -> None:
    """The logout button: the local session, and the OIDC cookie when there is one."""
    logout()
    if oidc_enabled():
        try:
            if st.user.is_logged_in:
                st.logout()
        except Exception:  # noqa: BLE001
            log.debug("OIDC logout failed", exc_info=True)


def login_view() -> None:
    """The login page: a form with username and password; failures get one neutral message."""
    st.title(t("app.title"))
    notice = st.session_state.pop("login_notice", None)
    if notice in ("login.session_expired", "login.oidc_unknown", "login.db_error"):
        st.info(t(notice))
    if oidc_enabled():
        if st.button(t("login.oidc"), key="login_oidc", type="primary"):
            st.login()
    if not local_login_enabled():
        return
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
    except (DatabaseConfigError, DBAPIError):
        st.error(t("login.db_error"))
        return
    try:
        token = sessions.issue(engine(), ident)
    except (DatabaseConfigError, DBAPIError):
        st.error(t("login.db_error"))
        return
    _start_session(ident, time.time(), token)
    st.rerun()  # on the same page: a link opened before signing in lands where it pointed


def password_form(ident: Identity) -> None:
    """Change one's own password (sidebar): the current password, the new one twice; the policy applies."""
    with st.sidebar.expander(t("password.title"), icon=":material/key:"):
        with st.form("password_change", enter_to_submit=False, clear_on_submit=True):
            current = st.text_input(t("password.current"), type="password", key="pw_current", max_chars=256)
            new = st.text_input(t("password.new"), type="password", key="pw_new", max_chars=256,
                                help=t("password.policy", n=PASSWORD_MIN))
            again = st.text_input(t("password.again"), type="password", key="pw_again", max_chars=256)
            submitted = st.form_submit_button(t("password.submit"))
        if not submitted:
            return
        if not current or not new or new != again:
            st.warning(t("password.mismatch"))
            return
        try:
            fresh = change_password(engine(), ident, current, new)
        except PasswordPolicyError as exc:
            st.warning(t(f"password.policy.{exc.code}", n=PASSWORD_MIN))
            return
        except LoginError:
            st.error(t("password.wrong_current"))
            return
        st.session_state[STAMP_KEY] = fresh.stamp
        sessions.revoke_user(engine(), fresh.user_id)  # every other browser signed in as this user is signed out
        st.session_state[TOKEN_KEY] = sessions.issue(engine(), fresh)
        write_cookie()  # now, so a reload right after the change stays signed in
        st.success(t("password.changed"))


# --- the session cookie -----------------------------------------------------------------------------------------
# Streamlit can read the request's cookies (st.context.cookies) but cannot set one: a few lines of JavaScript in an
# st.html element write it. It holds only the opaque token; SameSite=Strict, Secure over https, not HttpOnly (a
# script sets it): see SECURITY.md "Sessions".


def cookie_token() -> str | None:
    """The session token the browser sent when this Streamlit session opened (None when none or malformed)."""
    try:
        value: Any = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no request context (AppTest, bare mode)
        return None
    return value if sessions.well_formed(value) else None


def _cookie_js(value: str, max_age: int, only_if: str | None = None) -> str:
    """The script that writes the cookie; with ``only_if``, only while the browser still holds that (stale) token, so a
    tab showing the login page never deletes the cookie another tab has just written."""
    guard = f"if(document.cookie.split('; ').indexOf('{COOKIE}={only_if}')===-1)return;" if only_if else ""
    return (f"<script>(function(){{{guard}var s=location.protocol==='https:'?'; Secure':'';"
            f"document.cookie='{COOKIE}={value}; Path=/; Max-Age={max_age}; SameSite=Strict'+s;}})();</script>")


def write_cookie() -> None:
    """Keep the browser's cookie on this session's token (an element of the signed-in layout; harmless to repeat)."""
    token = st.session_state.get(TOKEN_KEY)
    if sessions.well_formed(token) and token != cookie_token():
        st.html(_cookie_js(str(token), int(sessions.ABSOLUTE.total_seconds())), unsafe_allow_javascript=True)


def clear_cookie() -> None:
    """After a logout, or when the browser sent a token that is no longer valid, delete that token's cookie."""
    stale = st.session_state.pop(CLEAR_COOKIE_KEY, None) or cookie_token()
    if sessions.well_formed(stale):
        st.html(_cookie_js("", 0, only_if=str(stale)), unsafe_allow_javascript=True)
