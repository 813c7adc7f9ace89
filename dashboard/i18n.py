"""``t(key)`` in the session's language: the user's choice, else the browser's locale, else zh-CN.

Code that runs outside the script run (the callable of a lazy ``st.download_button``) has no session to read: it
captures ``lang()`` while the script runs and builds its file inside ``with language(captured):``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import streamlit as st

from data.i18n import LANGS, normalise_lang, translate

LANG_KEY = "lang"
LANG_NAMES = {"zh-CN": "中文", "en": "English"}
_RELABEL_FLAG = "_relabel_widgets"

# Keys of the widgets whose option labels come from the catalogue (a format_func). The browser keeps showing a
# choice's label from the language it was made in until the widget's value is set again from the server, so a
# language switch sets each of these to its own value (tests/unit/test_i18n_widgets.py keeps the list complete).
RELABELLED_WIDGETS: tuple[str, ...] = (
    "f_period", "f_cmp", "f_region", "f_area", "f_channel", "f_service", "f_segment",
    "ov_bd_kpi", "ov_series", "rg_kpi", "rg_drill_into", "sq_open_cell", "fu_status", "fu_severity", "fu_pick",
    "fu_owner", "fu_to", "fu_score", "fu_outcome", "hr_kind", "hr_region", "hr_team", "hr_staff", "review_staff",
    "imp_kind", "imp_mapping", "exp_kind", "uc_role", "uc_region", "ue_user", "ue_role", "ue_region",
    "drill_archive_pick", "sq_pack", "survey_admin_key", "survey_lang", "hr_pdf_team",
    "survey_admin_rot_key", "survey_admin_rot_st", "sat_driver_method", "wiz_kind", "wiz_source", "wiz_existing",
    "wiz_reg_unknown", "wiz_reg_parent", "wiz_f__several", "ref_kind", "ref_s_parent", "ref_s_level", "ref_s_area",
)
RELABELLED_PREFIXES: tuple[str, ...] = ("hr_period_", "wiz_f_")
_FIXED: ContextVar[str | None] = ContextVar("gridcx_language", default=None)


@contextmanager
def language(code: str) -> Iterator[None]:
    """``lang()`` (and so ``t``) answers ``code`` inside the block, whatever the session says or lacks."""
    token = _FIXED.set(code if code in LANGS else None)
    try:
        yield
    finally:
        _FIXED.reset(token)


def lang() -> str:
    fixed = _FIXED.get()
    if fixed is not None:
        return fixed
    chosen = st.session_state.get(LANG_KEY)
    if chosen in LANGS:
        return str(chosen)
    try:
        browser = st.context.locale
    except Exception:  # noqa: BLE001 - no browser context (AppTest, bare mode)
        browser = None
    # Chinese first: only an explicit English browser locale switches the default.
    return "en" if browser and normalise_lang(browser) == "en" and str(browser).lower().startswith("en") else "zh-CN"


def t(key: str, **kwargs: object) -> str:
    return translate(key, lang(), **kwargs)


def language_switch() -> None:
    """The language selector (sidebar); the choice is kept for the session."""
    if st.session_state.pop(_RELABEL_FLAG, False):
        _relabel_widgets()
    current = lang()
    choice = st.sidebar.selectbox(
        t("language"), LANGS, index=LANGS.index(current), format_func=LANG_NAMES.__getitem__, key="lang_select"
    )
    if choice != current:
        st.session_state[LANG_KEY] = choice
        st.session_state[_RELABEL_FLAG] = True
        st.rerun()
    widget_chrome()


def _relabel_widgets() -> None:
    """Set every catalogue-labelled widget to its own value (before any of them is drawn in this run), so the
    browser redraws the chosen options in the new language."""
    for key in list(st.session_state.keys()):
        if key in RELABELLED_WIDGETS or str(key).startswith(RELABELLED_PREFIXES):
            st.session_state[key] = st.session_state[key]


def widget_chrome_css(language: str) -> str:
    """CSS that puts Streamlit's own widget chrome into ``language``: the upload box's button and size line are
    drawn from the catalogue, and the English "Press Enter to submit form" hints are hidden. Streamlit has no
    i18n of its own (STACK-NOTES); its other English words are avoided at the call sites (``select_all=False``,
    a catalogue ``placeholder`` on every multiselect and empty selectbox)."""
    mb = int(st.get_option("server.maxUploadSize"))

    def content(key: str, **kw: object) -> str:
        return json.dumps(translate(key, language, **kw), ensure_ascii=False)  # a CSS string is a JSON string

    up = '[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p'
    size = '[data-testid="stFileUploaderDropzoneInstructions"] span'
    return (f"<style>{up}, {size} {{font-size: 0 !important;}}"
            f"{up}::after {{content: {content('widget.upload')}; font-size: 0.875rem;}}"
            f"{size}::after {{content: {content('widget.upload_limit', mb=mb)}; font-size: 0.875rem;}}"
            '[data-testid="InputInstructions"] {display: none !important;}</style>')


def widget_chrome() -> None:
    st.html(widget_chrome_css(lang()))
