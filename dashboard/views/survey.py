"""The customer survey page, reached by an invitation link ``/survey?t=<token>``: public, hidden from every menu.

Phone-first (360 px works): one column, large touch targets, a large-type switch, zh/en, progress by question group,
one form with a single submit, a warm thank-you. It shows what the survey is about (service type, date, masked
address) and nothing else; an invalid, expired or used link gets a friendly explanation, never a traceback, and so
does a hall's kiosk code over its ceiling (busy this minute: the answers stay; today's answers all in).
Each invitee sees the rotation plan of their invitation (at most five questions in three formats); a kiosk visitor gets
a random plan of their own. A missing required answer is marked at its question, which is scrolled into view. The
face/star buttons of ``st.feedback`` carry English screen-reader labels in Streamlit 1.67: a small static script
relabels them in the page language.
Registered by ``dashboard.app.main`` as a file page, so Streamlit runs this module as ``__main__``.
"""

from __future__ import annotations

import json
import logging
import secrets
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
ITEM_PREFIX = "gx_item_"  # the container of one question (its key gives the CSS class .st-key-gx_item_<item>)
SUBMIT_KEY = "survey_submits"  # counts submit clicks (a callback, so the form knows before it is drawn)
VISIT_KEY = "survey_visit"  # a kiosk visitor's own rotation number

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
[data-testid="stButtonGroup"] button { min-height: 3rem; padding: 0 1rem; }
[data-testid="stCheckbox"] label, .stToggle label { min-height: 3rem; align-items: center; }
h1 { font-size: 1.7rem !important; line-height: 1.3 !important; }
[data-testid="stRadio"] [data-testid="stWidgetLabel"] p { font-weight: 600; font-size: 1.05rem; }
[data-testid="stRadioOption"] { border: 1px solid #c9d3d0; border-radius: 10px; padding: 0.35rem 0.45rem;
  min-height: 3rem; margin: 0 !important; align-items: center; justify-content: center; width: 100%; }
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
.gx-missing { color: #b3261e; font-weight: 600; margin: 0.2rem 0; }
</style>
"""
_CSS_MISSING = """
<style>
.st-key-{item_class} {{ border-left: 4px solid #b3261e; background: #fdeceb; border-radius: 8px;
  padding: 0.4rem 0.6rem; }}
</style>
"""
_CSS_SCALES = """
<style>
.st-key-q_{key} [data-testid="stRadioGroup"] {{ grid-template-columns: repeat({cols}, minmax(0, 1fr)) !important; }}
.st-key-q_{key} [data-testid="stRadioOption"] > div > div:first-child {{ display: none; }}
.st-key-q_{key} [data-testid="stRadioOption"] p {{ font-size: 1.1rem; font-weight: 600; }}
</style>
"""
# Large type: the root font grows by 1.3, so everything sized in rem grows with it (the faces, the title, every tap
# target: 3rem = 62 px); text, the title and the faces are set explicitly so they keep their proportions (the span/p
# rule must not shrink the title and the faces below the text).
_CSS_LARGE = """
<style>
html, body, [data-testid="stAppViewContainer"] p, [data-testid="stAppViewContainer"] label,
[data-testid="stAppViewContainer"] span, [data-testid="stAppViewContainer"] textarea,
[data-testid="stMarkdownContainer"] { font-size: 1.3rem !important; line-height: 1.6 !important; }
[data-testid="stAppViewContainer"] .gx-question { font-size: 1.3rem !important; }
[data-testid="stAppViewContainer"] h1, [data-testid="stAppViewContainer"] h1 span {
  font-size: 2.25rem !important; line-height: 1.3 !important; }
[data-testid="stAppViewContainer"] [data-testid="stFeedback"] span { font-size: 2.3rem !important; line-height: 1.2 !important; }
.stFormSubmitButton button, .stButton button { font-size: 1.4rem !important; }
[data-testid="stAppViewContainer"] .st-key-q_nps [data-testid="stRadioOption"] p { font-size: 1.2rem !important; }
[data-testid="stAppViewContainer"] .gx-anchors span { font-size: 1rem !important; }
</style>
"""
# st.feedback labels its buttons in English ("Very dissatisfied", "3 out of 5 stars", "Feedback rating"): relabel them
# in the page language. Static code; the labels come from our catalogue as JSON. One observer per page, reading the
# latest labels, so buttons drawn later (and after a language switch) are relabelled too.
_A11Y_JS = """
<script>
(function () {
  window.gxA11y = %s;
  function apply() {
    var cfg = window.gxA11y;
    document.querySelectorAll('[data-testid="stFeedback"]').forEach(function (fb) {
      var box = fb.closest('[class*="st-key-q_"]');
      if (!box) return;
      var m = /st-key-q_([a-z0-9_]+)/.exec(box.className);
      var item = m && cfg.items[m[1]];
      if (!item) return;
      var group = fb.querySelector('[role="radiogroup"]');
      if (group && group.getAttribute('aria-label') !== item.label) group.setAttribute('aria-label', item.label);
      fb.querySelectorAll('button[role="radio"]').forEach(function (b, i) {
        var want = cfg[item.kind][i];
        if (want && b.getAttribute('aria-label') !== want) b.setAttribute('aria-label', want);
      });
    });
  }
  apply();
  if (!window.gxA11yObserver) {
    window.gxA11yObserver = new MutationObserver(apply);
    window.gxA11yObserver.observe(document.body, {childList: true, subtree: true});
  }
})();
</script>
"""
# After a submit with a required answer missing: bring the (first) marked question into view and focus it.
_SCROLL_JS = """
<script>
(function () {
  var tries = 0, sel = %s;
  (function go() {
    var el = document.querySelector(sel);
    if (!el) { if (++tries < 40) setTimeout(go, 50); return; }
    el.scrollIntoView({block: 'center'});
    var f = el.querySelector('button, input, textarea');
    if (f) f.focus({preventScroll: true});
  })();
})(/* submit %d */);
</script>
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


def _label(item: Item) -> str:
    return item.text.get(lang()) + (t("survey.required_mark") if item.required else "")


def _value(item: Item, raw: Any) -> Any:
    """A widget's state in the definition's units (None when unanswered)."""
    if item.scale in ("faces5", "stars5"):
        return None if raw is None else int(raw) + 1
    if item.scale == "text":
        return raw or None
    return raw


def _missing_mark() -> None:
    st.markdown(f'<p class="gx-missing" role="alert">⚠ {_escape(t("survey.missing_here"))}</p>',
                unsafe_allow_html=True)


def _widget(item: Item, missing: bool = False) -> Any:
    """One question in its own container; returns the answer in the definition's units (None when unanswered).
    ``missing``: the customer submitted without this required answer, so it is marked."""
    label = _label(item)
    key = FORM_PREFIX + item.key
    with st.container(key=ITEM_PREFIX + item.key):
        if missing:
            st.html(_CSS_MISSING.format(item_class=ITEM_PREFIX + item.key))
        if item.scale in ("faces5", "stars5"):
            _question(label)
            if missing:
                _missing_mark()
            st.caption(t("survey.hint_faces" if item.scale == "faces5" else "survey.hint_stars"))
            return _value(item, st.feedback("faces" if item.scale == "faces5" else "stars", key=key))
        if missing:
            _missing_mark()
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
        return _value(item, st.text_area(label, max_chars=500, key=key, height=110,
                                         placeholder=t("survey.comment_placeholder")))


def _a11y(items: list[Item]) -> None:
    """Screen-reader labels of the face/star buttons in the page language (see _A11Y_JS)."""
    cfg = {
        "faces": [t(f"survey.a11y.face_{n}") for n in range(1, 6)],
        "stars": [t("survey.a11y.stars", n=n) for n in range(1, 6)],
        "items": {i.key: {"kind": "faces" if i.scale == "faces5" else "stars", "label": _label(i)}
                  for i in items if i.scale in ("faces5", "stars5")},
    }
    # JSON inside <script>: "<" escaped so no text can close the element
    st.html(_A11Y_JS % json.dumps(cfg, ensure_ascii=False).replace("<", "\\u003c"), unsafe_allow_javascript=True)


def _count_submit() -> None:
    st.session_state[SUBMIT_KEY] = st.session_state.get(SUBMIT_KEY, 0) + 1
    st.session_state["survey_just_submitted"] = True


def _thanks(done: dict[str, Any]) -> None:
    st.title(t("survey.thanks.title"))
    st.success(t("survey.thanks.body"))
    if done.get("follow_up"):
        st.info(t("survey.thanks.follow_up"))
    if done.get("kiosk"):
        if st.button(t("survey.next_customer"), type="primary", key="survey_next"):
            st.session_state.pop(DONE_KEY, None)
            st.session_state[VISIT_KEY] = secrets.randbelow(2**31)  # the next visitor gets a plan of their own
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
    visit = 0
    if ctx.reusable:  # one kiosk code, many visitors: each gets a rotation plan of their own
        visit = st.session_state.setdefault(VISIT_KEY, secrets.randbelow(2**31))
    seed = ctx.seed(visit) if definition.rotation is not None else None
    groups = definition.groups_for(ctx.service_type, ctx.channel, seed)
    asked = [i for _, items in groups for i in items]
    # The submit callback ran before this script: check the required answers first, so the form can mark them.
    submitted = bool(st.session_state.pop("survey_just_submitted", False))
    missing = [i for i in asked if i.required and _value(i, st.session_state.get(FORM_PREFIX + i.key)) is None] \
        if submitted else []
    answers: dict[str, Any] = {}
    with st.form("survey_form", enter_to_submit=False, border=False):
        for n, (group, items) in enumerate(groups, 1):
            st.progress(n / len(groups), text=t("survey.step", n=n, total=len(groups), title=group.title.get(lang())))
            for item in items:
                answers[item.key] = _widget(item, missing=item in missing)
            st.divider()
        st.caption(t("survey.privacy"))
        st.form_submit_button(t("survey.submit"), type="primary", width="stretch", on_click=_count_submit)
    _a11y(asked)
    if not submitted:
        return
    if missing:
        names = [i.text.get(lang()) for i in missing]
        st.warning(t("survey.missing", items="；".join(names) if lang() != "en" else "; ".join(names)))
        target = json.dumps(f".st-key-{ITEM_PREFIX}{missing[0].key}")
        st.html(_SCROLL_JS % (target, st.session_state.get(SUBMIT_KEY, 0)), unsafe_allow_javascript=True)
        return
    try:
        result = submit(engine(), token, answers, survey_key=ctx.survey_key, language=lang(), visit=visit)
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
