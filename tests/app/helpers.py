"""Driving the real app with Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.factories import PASSWORD

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def new_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def login(username: str, password: str = PASSWORD, lang: str | None = None,
          params: dict[str, str] | None = None) -> AppTest:
    """Log in through the form; ``params`` are URL query parameters present before the first run (a shared link)."""
    at = AppTest.from_file(APP, default_timeout=60)
    if lang:
        at.session_state["lang"] = lang
    for k, v in (params or {}).items():
        at.query_params[k] = v
    at.run()
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.caption] + [m.value for m in at.title]
    parts += [m.label + " " + str(m.value) for m in at.metric]
    parts += [e.value for e in at.error] + [i.value for i in at.info] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def open_page(at: AppTest, url_path: str) -> AppTest:
    """Open a registered page by its URL path, as a browser opening /<url_path> would, and run it.

    AppTest.switch_page only takes file paths; our views are callable pages, which Streamlit identifies by the
    hash of their url_path (streamlit.navigation.page.Page._script_hash). A page the role may not open is not
    registered, and the app then falls back to its default page, exactly as in a browser.
    """
    from streamlit.util import calc_hash

    at._page_hash = calc_hash(url_path)  # noqa: SLF001 - the same hash a browser's URL resolves to
    at.run()
    assert not at.exception, at.exception
    return at


def page_titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]
