"""``t(key)`` in the session's language: the user's choice, else the browser's locale, else zh-CN.

Code that runs outside the script run (the callable of a lazy ``st.download_button``) has no session to read: it
captures ``lang()`` while the script runs and builds its file inside ``with language(captured):``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import streamlit as st

from data.i18n import LANGS, normalise_lang, translate

LANG_KEY = "lang"
LANG_NAMES = {"zh-CN": "中文", "en": "English"}
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
    current = lang()
    choice = st.sidebar.selectbox(
        t("language"), LANGS, index=LANGS.index(current), format_func=LANG_NAMES.__getitem__, key="lang_select"
    )
    if choice != current:
        st.session_state[LANG_KEY] = choice
        st.rerun()
