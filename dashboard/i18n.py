"""``t(key)`` in the session's language: the user's choice, else the browser's locale, else zh-CN."""

from __future__ import annotations

import streamlit as st

from data.i18n import LANGS, normalise_lang, translate

LANG_KEY = "lang"
LANG_NAMES = {"zh-CN": "中文", "en": "English"}


def lang() -> str:
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
    current = lang()
    choice = st.sidebar.selectbox(
        t("language"), LANGS, index=LANGS.index(current), format_func=LANG_NAMES.__getitem__, key="lang_select"
    )
    if choice != current:
        st.session_state[LANG_KEY] = choice
        st.rerun()
