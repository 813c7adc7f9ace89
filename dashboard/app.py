"""The app shell: page config, language, login -> role, and ``st.navigation`` with that role's pages."""

from __future__ import annotations

import streamlit as st

from dashboard import auth
from dashboard.db import engine
from dashboard.i18n import language_switch, t
from dashboard.scope import region_name
from data.engine import DatabaseConfigError
from data.users import Identity

# Pages each role may open (the data layer enforces scope again on every read).
ROLE_PAGES: dict[str, tuple[str, ...]] = {
    "admin": ("home",),
    "manager": ("home",),
    "hr": ("home",),
}


def _page(key: str) -> st.Page:
    from dashboard.views import home

    views = {"home": (home.render, "nav.home", ":material/dashboard:")}
    fn, title_key, icon = views[key]
    return st.Page(fn, title=t(title_key), icon=icon, url_path=key, default=key == "home")


def main() -> None:
    st.set_page_config(page_title=t("app.short"), page_icon="⚡", layout="wide")
    try:
        ident = auth.current_identity()
    except DatabaseConfigError:
        st.error(t("login.db_error"))
        return
    language_switch()
    if ident is None:
        nav = st.navigation([st.Page(auth.login_view, title=t("login.title"), url_path="login", default=True)],
                            position="hidden")
        nav.run()
        return
    _sidebar_user(ident)
    pages = [_page(key) for key in ROLE_PAGES.get(ident.role, ())]
    nav = st.navigation({t("nav.section.overview"): pages})
    st.session_state["identity"] = ident
    nav.run()


def _sidebar_user(ident: Identity) -> None:
    with st.sidebar:
        st.caption(t("user.signed_in_as", name=ident.display_name, role=t(f"role.{ident.role}"),
                     region=region_name(engine(), ident.region_id)))
        if st.button(t("logout"), key="logout"):
            auth.logout()
            st.rerun()
