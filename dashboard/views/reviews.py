"""服务质检 (quality reviews): a supervisor grades a work order or call of a staff member in scope against the
rubric (reports/schemes/qa_rubric.toml); the agreement between reviewers of the last 90 days is shown below."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard.db import engine, url
from dashboard.i18n import lang, t
from dashboard.scope import identity, scope_of
from data.access import can
from data.engine import get_engine
from data.repositories import Scope, staff_reviews, staff_roster
from metrics.agreement import reviewer_agreement
from reports.reviews import ReviewError, submit_review
from reports.scheme import SchemeError, load_rubric


@st.cache_data(ttl=120, max_entries=16, show_spinner=False)
def _roster(db_url: str, scope_path: str) -> pd.DataFrame:
    r = staff_roster(get_engine(db_url), Scope(scope_path))
    return r[r["active"]][["staff_id", "code", "name", "role", "team_name"]]


@st.cache_data(ttl=60, max_entries=16, show_spinner=False)
def _agreement(db_url: str, scope_path: str, start: dt.datetime, end: dt.datetime) -> tuple[float, int, int,
                                                                                            pd.DataFrame]:
    rv = staff_reviews(get_engine(db_url), Scope(scope_path), start, end)
    if rv.empty:
        return float("nan"), 0, 0, pd.DataFrame()
    item = rv["ticket_id"].astype("string").fillna("r" + rv["id"].astype("string"))
    res = reviewer_agreement(pd.DataFrame({"item": item, "reviewer": rv["reviewer"], "score": rv["score"] * 100}))
    return res.icc, res.items, res.ratings, res.per_reviewer


def render() -> None:
    ident = identity()
    scope = scope_of(ident)
    lg = lang()
    st.title(t("nav.reviews"))
    if not can(ident, "quality_review"):
        st.warning(t("state.no_permission"))
        return
    try:
        rubric = load_rubric()
    except SchemeError as exc:
        st.error(t("reviews.rubric_broken") + "\n\n" + str(exc))
        return
    st.caption(t("reviews.caption", rubric=rubric.name_zh if lg == "zh-CN" else rubric.name_en))
    roster = _roster(url(), scope.path)
    if roster.empty:
        st.info(t("state.empty"))
        return
    labels = dict(zip(roster["staff_id"], roster["code"] + " " + roster["name"] + " · " + roster["team_name"].fillna(""),
                      strict=True))
    with st.form("review_form", clear_on_submit=True, enter_to_submit=False):
        sid = st.selectbox(t("reviews.staff"), list(labels), format_func=lambda s: labels[s], index=None,
                           placeholder=t("reviews.staff_placeholder"), key="review_staff")
        ticket_no = st.text_input(t("reviews.ticket"), key="review_ticket", help=t("reviews.ticket_help"))
        points: dict[str, int | None] = {}
        for item in rubric.items:
            points[item.key] = st.radio(item.name(lg), list(range(item.max_points + 1)), index=None, horizontal=True,
                                        help=item.hint_zh if lg == "zh-CN" else item.hint_en,
                                        key=f"review_{item.key}")
        violation = st.checkbox(rubric.violation.name_zh if lg == "zh-CN" else rubric.violation.name_en,
                                help=rubric.violation.hint_zh if lg == "zh-CN" else rubric.violation.hint_en,
                                key="review_violation")
        comment = st.text_area(t("reviews.comment"), max_chars=500, key="review_comment")
        submitted = st.form_submit_button(t("reviews.submit"), type="primary", key="review_submit")
    if submitted:
        missing = [i.name(lg) for i in rubric.items if points[i.key] is None]
        if sid is None:
            st.error(t("reviews.need_staff"))
        elif missing:
            st.error(t("reviews.missing", items="、".join(missing)))
        else:
            try:
                rid = submit_review(engine(), scope, ident.username, int(sid),
                                    {k: float(v) for k, v in points.items() if v is not None},
                                    violation=violation, comment=comment or None, ticket_no=ticket_no or None,
                                    rubric=rubric)
            except ReviewError as exc:
                st.error(t("reviews.failed", reason=str(exc)))
            else:
                score = rubric.score({k: float(v) for k, v in points.items() if v is not None})
                st.success(t("reviews.saved", id=rid, score=f"{score * 100:.1f}"))
                st.cache_data.clear()
    st.divider()
    st.subheader(t("hr.agreement_title"))
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    icc, items, ratings, per = _agreement(url(), scope.path, end - dt.timedelta(days=90), end)
    if items == 0:
        st.caption(t("hr.agreement_none"))
        return
    st.caption(t("hr.agreement.icc", icc="—" if pd.isna(icc) else f"{icc:.3f}", items=items, ratings=ratings))
    per = per.copy()
    per["flag"] = per["flag"].map(lambda x: t(f"hr.flag.{x}") if x else "")
    st.dataframe(per.round(2).rename(columns={c: t(f"hr.acol.{c}") for c in per.columns}), hide_index=True,
                 width="stretch")
