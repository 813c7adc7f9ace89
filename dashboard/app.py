"""The app shell: page config, language, login -> role, and ``st.navigation`` with that role's pages."""

from __future__ import annotations

import importlib

import streamlit as st

from dashboard import auth
from dashboard.db import engine
from dashboard.i18n import language_switch, t
from dashboard.scope import region_name
from data.engine import DatabaseConfigError
from data.users import Identity

# Every page: key (also its URL path) -> (view module under dashboard.views, title key, icon, roles, section key).
# A role sees only its pages; the data layer enforces scope again on every read. The survey page is public.
PAGES: dict[str, tuple[str, str, str, tuple[str, ...], str]] = {
    "home": ("home", "nav.home", ":material/dashboard:", ("admin", "manager", "hr"), "nav.section.overview"),
}


def _page(key: str) -> st.Page:
    module, title_key, icon, _roles, _section = PAGES[key]
    view = importlib.import_module(f"dashboard.views.{module}")
    return st.Page(view.render, title=t(title_key), icon=icon, url_path=key, default=key == "home")


def pages_for(role: str) -> dict[str, list[st.Page]]:
    sections: dict[str, list[st.Page]] = {}
    for key, (_m, _t, _i, roles, section) in PAGES.items():
        if role in roles:
            sections.setdefault(t(section), []).append(_page(key))
    return sections


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
    nav = st.navigation(pages_for(ident.role))
    st.session_state["identity"] = ident
    nav.run()


def _sidebar_user(ident: Identity) -> None:
    with st.sidebar:
        st.caption(t("user.signed_in_as", name=ident.display_name, role=t(f"role.{ident.role}"),
                     region=region_name(engine(), ident.region_id)))
        if st.button(t("logout"), key="logout"):
            auth.logout()
            st.rerun()
