"""The app shell: page config, language, login -> role, and ``st.navigation`` with that role's pages."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import streamlit as st

from dashboard import auth, filters
from dashboard.db import engine
from dashboard.db import url as db_url
from dashboard.i18n import language_switch, t
from dashboard.safe import md_escape
from dashboard.scope import region_name
from data import access
from data.engine import DatabaseConfigError
from data.users import Identity
from surveys.definitions import DefinitionError, registry, sync_definitions

# Every page: key (also its URL path) -> (view module under dashboard.views, title key, icon, operation, section key).
# The operation is looked up in the role matrix (data.access): a page is registered only for a user who may perform
# it, and the page checks the same operation again (dashboard.page.start); the data layer enforces scope again on
# every read. The survey page is public.
PAGES: dict[str, tuple[str, str, str, str, str]] = {
    "home": ("overview", "nav.home", ":material/dashboard:", "read_dashboard", "nav.section.overview"),
    "regions": ("regions", "nav.regions", ":material/account_tree:", "analyse_service", "nav.section.overview"),
    "channels": ("channels", "nav.channels", ":material/alt_route:", "analyse_service", "nav.section.overview"),
    "quality": ("quality", "nav.quality", ":material/timer:", "analyse_service", "nav.section.overview"),
    "satisfaction": ("satisfaction", "nav.satisfaction", ":material/sentiment_satisfied:", "analyse_service",
                     "nav.section.overview"),
    "followups": ("followups", "nav.followups", ":material/support_agent:", "work_follow_ups",
                  "nav.section.overview"),
    "risk": ("risk", "nav.risk", ":material/crisis_alert:", "analyse_service", "nav.section.service"),
    "imports": ("imports", "nav.imports", ":material/upload_file:", "import", "nav.section.admin"),
    "wizard": ("wizard", "nav.wizard", ":material/schema:", "import", "nav.section.admin"),
    "survey_admin": ("survey_admin", "nav.survey_admin", ":material/rate_review:", "manage_surveys",
                     "nav.section.admin"),
    "users": ("users_admin", "nav.users", ":material/manage_accounts:", "manage_users", "nav.section.admin"),
    "reference": ("reference_admin", "nav.reference", ":material/lan:", "reference", "nav.section.admin"),
    "hr": ("hr", "nav.hr", ":material/badge:", "hr_reports", "nav.section.people"),
    "reviews": ("reviews", "nav.reviews", ":material/fact_check:", "quality_review", "nav.section.people"),
}


def page_roles(key: str) -> tuple[str, ...]:
    """The roles that get page ``key``: those the role matrix allows its operation."""
    return tuple(r for r in access.ROLES if access.allowed(r, PAGES[key][3]))


# The customer survey page (/survey?t=...): public, always registered and hidden, so an invitation link works on a
# session's first run whether or not anyone is logged in. A file page, so AppTest can switch to it.
SURVEY_VIEW = Path(__file__).resolve().parent / "views" / "survey.py"


def _survey_page() -> st.Page:
    return st.Page(SURVEY_VIEW, title=t("survey.page_title"), icon=":material/rate_review:", url_path="survey",
                   visibility="hidden")


@st.cache_resource(max_entries=4)
def _survey_definitions_problem(db_url: str) -> str | None:
    """Validate the questionnaire files once per process and publish them; a broken file is reported loudly."""
    try:
        registry()
        sync_definitions(engine())
    except DefinitionError as exc:
        logging.getLogger("gridcx").error("survey definitions broken: %s", exc)
        return str(exc)
    except Exception:  # noqa: BLE001 - a database problem is reported by the pages themselves
        logging.getLogger("gridcx").exception("survey definitions could not be published")
    return None


def _page(key: str) -> st.Page:
    module, title_key, icon, _operation, _section = PAGES[key]
    view = importlib.import_module(f"dashboard.views.{module}")
    return st.Page(view.render, title=t(title_key), icon=icon, url_path=key, default=key == "home")


def pages_for(ident: Identity) -> dict[str, list[st.Page]]:
    """The pages ``ident`` may open, by section (``data.access.can`` on each page's operation)."""
    sections: dict[str, list[st.Page]] = {}
    for key, (_m, _t, _i, operation, section) in PAGES.items():
        if access.can(ident, operation):
            sections.setdefault(t(section), []).append(_page(key))
    return sections


def _no_builtin_data_export() -> None:
    """Tables' own "Download as CSV" and clipboard copy write raw cells (``=1+2`` stays a formula) and bypass the
    audit trail: every export goes through the project's buttons instead (SECURITY.md, "Exports").
    ``.streamlit/config.toml`` sets this; here it is set again for a server started where that file is not read."""
    if not st.get_option("client.disableDataExport"):
        st.set_option("client.disableDataExport", True)


def _no_permission() -> None:
    st.title(t("state.no_permission_title"))
    st.warning(t("state.no_permission"))


def main() -> None:
    _no_builtin_data_export()
    st.set_page_config(page_title=t("app.short"), page_icon="⚡", layout="wide",
                       initial_sidebar_state="collapsed" if "t" in st.query_params else "auto")
    try:
        ident = auth.current_identity()
    except DatabaseConfigError:
        st.error(t("login.db_error"))
        return
    language_switch()
    problem = _survey_definitions_problem(db_url())
    if ident is None:
        # Every page's URL path shows the login form, so a link opened before signing in (/regions) is known on this
        # first run (no "Page not found") and the rerun after the login runs the page it pointed at.
        login_pages = [st.Page(auth.login_view, title=t("login.title"), url_path=key, visibility="hidden")
                       for key in PAGES]
        nav = st.navigation([st.Page(auth.login_view, title=t("login.title"), url_path="login", default=True),
                             *login_pages, _survey_page()], position="hidden")
        nav.run()
        auth.clear_cookie()
        return
    _sidebar_user(ident)
    if problem and access.can(ident, "manage_surveys"):
        st.error(t("survey.definitions_broken") + "\n\n" + problem)
    st.session_state["identity"] = ident
    sections = pages_for(ident)
    # Every other page's URL path says plainly that this role may not open it (a shared link, a reload after a role
    # change), instead of Streamlit's English "Page not found" pop-up; the page itself is never run.
    allowed = {key for key in PAGES if access.can(ident, PAGES[key][3])}
    sections.setdefault(t("nav.section.overview"), []).extend(
        [st.Page(_no_permission, title=t("state.no_permission_title"), url_path=key, visibility="hidden")
         for key in PAGES if key not in allowed] + [_survey_page()])
    nav = st.navigation(sections, expanded=True)  # every page listed: no English "View N more"
    if nav.url_path in OWN_FILTERS:
        _keep_filters()
    else:
        filters.sidebar(ident)
    st.session_state["identity"] = ident
    nav.run()


# Pages with filters of their own (the HR page picks an assessment period, unit and team): the global filters do
# nothing there, so the sidebar shows only language, user and logout; the filters' values are kept for the next page.
OWN_FILTERS = frozenset({"hr"})


def _keep_filters() -> None:
    """Keep the global filters' widget values over a run that does not draw them (Streamlit drops the state of a
    widget not drawn in a run unless the value is written back)."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith("f_")]:
        st.session_state[key] = st.session_state[key]


def _sidebar_user(ident: Identity) -> None:
    with st.sidebar:
        st.caption(t("user.signed_in_as", name=md_escape(ident.display_name), role=t(f"role.{ident.role}"),
                     region=md_escape(region_name(engine(), ident.region_id))))
        if st.button(t("logout"), key="logout"):
            auth.sign_out()
            st.rerun()
        auth.write_cookie()
    auth.password_form(ident)
