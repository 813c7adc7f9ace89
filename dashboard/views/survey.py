"""The customer survey page, reached by an invitation link ``/survey?t=<token>``: public, hidden from every menu.

Phone-first (360 px works): one column, large touch targets, a large-type switch, zh/en, progress by question group,
one form with a single submit, a warm thank-you. It shows what the survey is about (service type, date, masked
address) and nothing else; an invalid, expired or used link gets a friendly explanation, never a traceback, and so
does a hall's kiosk code over its ceiling (busy this minute: the answers stay; today's answers all in).
Registered by ``dashboard.app.main`` as a file page, so Streamlit runs this module as ``__main__``.
"""

from __future__ import annotations

import logging
from typing import Any

import streamlit as st

from dashboard.db import engine
from dashboard.i18n import LANG_NAMES, lang, t
from dashboard.safe import md_escape
from data.i18n import LANGS
from data.reference import service_types
from surveys.definitions import Definition, Item
from surveys.intake import LinkResult, SurveyContext, open_link, submit
from surveys.tokens import hash_token, well_formed

log = logging.getLogger("gridcx.survey")

DONE_KEY = "survey_done"  # {"h": token hash, "follow_up": bool, "kiosk": bool}
FORM_PREFIX = "q_"

_CSS = """
<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stSidebarNav"],
[data-testid="collapsedControl"], header[data-testid="stHeader"], [data-testid="stToolbar"],
[data-testid="stDecoration"], [data-testid="stStatusWidget"], [data-testid="stAppDeployButton"],
[data-testid="stMainMenu"], footer, #MainMenu { display: none !important; }
[data-testid="stMainBlockContainer"], .block-container {
  max-width: 560px !important; padding: 0.75rem 1rem 4rem 1rem !important; margin: 0 auto; }
[data-testid="stAppViewContainer"] { overflow-x: hidden; }
.stFormSubmitButton button, .stButton button { min-height: 3.2rem; font-size: 1.15rem; width: 100%; }
[data-testid="stFeedback"] button, .stFeedback button { min-width: 3rem; min-height: 3rem; }
[data-testid="stFeedback"] span, .stFeedback span { font-size: 2rem !important; }
h1 { font-size: 1.7rem !important; line-height: 1.3 !important; }
[data-testid="stRadio"] [data-testid="stWidgetLabel"] p { font-weight: 600; font-size: 1.05rem; }
[data-testid="stRadioOption"] { border: 1px solid #c9d3d0; border-radius: 10px; padding: 0.35rem 0.45rem;
  min-height: 2.9rem; margin: 0 !important; align-items: center; justify-content: center; width: 100%; }
[data-testid="stRadioOption"]:has(input:checked) { border-color: #0b6e4f; background: #e3f1ec; }
[data-testid="stRadioGroup"] { display: grid !important; gap: 0.4rem; width: 100%;
  grid-template-columns: repeat(2, minmax(0, 1fr)); }
.st-key-q_nps [data-testid="stRadioGroup"] { grid-template-columns: repeat(6, minmax(0, 1fr)); }
[data-testid="stRadio"], .stRadio { width: 100% !important; }
[data-testid="stRadioGroup"] > div { width: 100%; min-width: 0; }
[data-testid="stRadioOption"] > div { justify-content: center; width: 100%; }
.st-key-q_nps [data-testid="stRadioOption"] > div > div:first-child,
.gx-numeric [data-testid="stRadioOption"] > div > div:first-child { display: none; }
.st-key-q_nps [data-testid="stRadioOption"] p { font-size: 1.1rem; font-weight: 600; }
.gx-question { font-weight: 600; font-size: 1.05rem; margin: 0.6rem 0 0.1rem 0; }
.gx-anchors { display: flex; justify-content: space-between; font-size: 0.85rem; color: #4a5a62; }
</style>
"""
_CSS_SCALES = """
<style>
.st-key-q_{key} [data-testid="stRadioGroup"] {{ grid-template-columns: repeat({cols}, minmax(0, 1fr)) !important; }}
.st-key-q_{key} [data-testid="stRadioOption"] > div > div:first-child {{ display: none; }}
.st-key-q_{key} [data-testid="stRadioOption"] p {{ font-size: 1.1rem; font-weight: 600; }}
</style>
"""
_CSS_LARGE = """
<style>
html, body, [data-testid="stAppViewContainer"] p, [data-testid="stAppViewContainer"] label,
[data-testid="stAppViewContainer"] span, [data-testid="stAppViewContainer"] textarea,
[data-testid="stMarkdownContainer"] { font-size: 1.3rem !important; line-height: 1.6 !important; }
.gx-question { font-size: 1.35rem !important; }
h1, h1 span, h1 [data-testid="stMarkdownContainer"] { font-size: 2rem !important; line-height: 1.3 !important; }
.stFormSubmitButton button, .stButton button { font-size: 1.4rem !important; min-height: 3.8rem; }
</style>
"""


def _set_lang() -> None:
    choice = st.session_state.get("survey_lang")
    if choice in LANGS:
        st.session_state["lang"] = choice
        st.session_state["lang_select"] = choice  # keep the (hidden) shell selector in step


def _top_bar() -> None:
    with st.container(horizontal=True, vertical_alignment="center", gap="medium"):
        st.segmented_control(t("survey.language"), LANGS, default=lang(), format_func=LANG_NAMES.__getitem__,
                             key="survey_lang", on_change=_set_lang, label_visibility="collapsed")
        st.toggle(t("survey.large_type"), key="survey_large")


def _service_name(ctx: SurveyContext) -> str:
    if ctx.service_type is None:
        return t("survey.kiosk_service")
    df = service_types()
    row = df[df["code"] == ctx.service_type]
    if row.empty:
        return ctx.service_type
    return str(row.iloc[0]["name_en" if lang() == "en" else "name_zh"])


def _about(ctx: SurveyContext, definition: Definition) -> None:
    st.title(definition.title.get(lang()))
    date = ctx.service_date.isoformat() if ctx.service_date else "—"
    # Region names and addresses come from imports: escaped, so they can never render as links or markup.
    lines = [t("survey.about", service=md_escape(_service_name(ctx)), date=date)]
    if ctx.reusable:
        lines.append(t("survey.about_hall", hall=md_escape(ctx.region_name_en if lang() == "en"
                                                            else ctx.region_name_zh)))
    elif ctx.masked_address:
        lines.append(t("survey.about_address", address=md_escape(ctx.masked_address)))
    st.markdown("  \n".join(lines))
    if definition.intro:
        st.caption(definition.intro.get(lang()))


def _question(label: str) -> None:
    st.markdown(f'<p class="gx-question" role="heading" aria-level="3">{_escape(label)}</p>', unsafe_allow_html=True)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _anchors(item: Item) -> None:
    if item.low and item.high:
        st.markdown(f'<div class="gx-anchors" aria-hidden="true"><span>{_escape(item.low.get(lang()))}</span>'
                    f'<span>{_escape(item.high.get(lang()))}</span></div>', unsafe_allow_html=True)


def _widget(item: Item) -> Any:
    """One question; returns the answer in the definition's units (None when unanswered)."""
    label = item.text.get(lang()) + (t("survey.required_mark") if item.required else "")
    key = FORM_PREFIX + item.key
    if item.scale in ("faces5", "stars5"):
        _question(label)
        st.caption(t("survey.hint_faces" if item.scale == "faces5" else "survey.hint_stars"))
        face = st.feedback("faces" if item.scale == "faces5" else "stars", key=key)
        return None if face is None else int(face) + 1
    if item.scale == "nps11":
        options: list[int] = list(range(11))
        value = st.radio(label, options, index=None, horizontal=True, key=key)
        _anchors(item)
        return value
    if item.scale == "ces7":
        st.html(_CSS_SCALES.format(key=item.key, cols=7))
        sevens: list[int] = list(range(1, 8))
        value = st.radio(label, sevens, index=None, horizontal=True, key=key)
        _anchors(item)
        return value
    if item.scale == "yesno":
        return st.radio(label, [True, False], index=None, horizontal=True, key=key,
                        format_func=lambda v: t("survey.yes") if v else t("survey.no"))
    return st.text_area(label, max_chars=500, key=key, height=110, placeholder=t("survey.comment_placeholder"))


def _thanks(done: dict[str, Any]) -> None:
    st.title(t("survey.thanks.title"))
    st.success(t("survey.thanks.body"))
    if done.get("follow_up"):
        st.info(t("survey.thanks.follow_up"))
    if done.get("kiosk"):
        if st.button(t("survey.next_customer"), type="primary", key="survey_next"):
            st.session_state.pop(DONE_KEY, None)
            for k in [k for k in st.session_state if str(k).startswith(FORM_PREFIX)]:
                del st.session_state[k]
            st.rerun()
    else:
        st.caption(t("survey.thanks.close"))


def _problem(state: str) -> None:
    key = {"malformed": "unknown", "unknown": "unknown", "wrong_survey": "unknown"}.get(state, state)
    if key not in ("unknown", "expired", "used", "unavailable", "failed", "limit"):
        key = "unknown"
    st.title(t({"used": "survey.error.used_title", "limit": "survey.error.limit_title"}.get(key, "survey.error.title")))
    st.info(t(f"survey.error.{key}"))
    st.caption(t("survey.error.help"))


def render() -> None:
    st.html(_CSS)
    if st.session_state.get("survey_large"):
        st.html(_CSS_LARGE)
    _top_bar()
    token = st.query_params.get("t")
    done = st.session_state.get(DONE_KEY)
    if done and well_formed(token) and done.get("h") == hash_token(str(token)):
        _thanks(done)
        return
    try:
        link: LinkResult = open_link(engine(), token)
    except Exception:  # noqa: BLE001 - the customer never sees a traceback
        log.exception("survey link lookup failed")
        _problem("unavailable")
        return
    if link.state != "ok" or link.context is None or link.definition is None:
        _problem(link.state)
        return
    ctx, definition = link.context, link.definition
    _about(ctx, definition)
    groups = definition.groups_for(ctx.service_type, ctx.channel)
    answers: dict[str, Any] = {}
    with st.form("survey_form", enter_to_submit=False, border=False):
        for n, (group, items) in enumerate(groups, 1):
            st.progress(n / len(groups), text=t("survey.step", n=n, total=len(groups), title=group.title.get(lang())))
            for item in items:
                answers[item.key] = _widget(item)
            st.divider()
        st.caption(t("survey.privacy"))
        submitted = st.form_submit_button(t("survey.submit"), type="primary", width="stretch")
    if not submitted:
        return
    missing = [i.text.get(lang()) for _, items in groups for i in items if i.required and answers.get(i.key) is None]
    if missing:
        st.warning(t("survey.missing", items="；".join(missing) if lang() != "en" else "; ".join(missing)))
        return
    try:
        result = submit(engine(), token, answers, survey_key=ctx.survey_key, language=lang())
    except Exception:  # noqa: BLE001
        log.exception("survey submission failed")
        st.error(t("survey.error.failed"))
        st.caption(t("survey.error.help"))
        return
    if result.status == "ok":
        st.session_state[DONE_KEY] = {"h": hash_token(str(token)), "follow_up": result.follow_up_id is not None,
                                      "kiosk": ctx.reusable}
        st.rerun()
    elif result.status == "invalid":
        st.warning(t("survey.invalid_answers"))
    elif result.status == "busy":  # a kiosk code's per-minute ceiling: the answers stay in the form
        st.warning(t("survey.error.busy"))
    else:
        _problem(result.status)


if __name__ == "__main__":
    render()
