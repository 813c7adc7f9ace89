"""人员考核 (HR): staff scorecards for a month, quarter or year within the user's scope; a sortable summary, a
per-staff view (KPIs against team and company, trend, masked comments, previous period), reviewer agreement, and
downloads (Excel, PDF, CSV: built on click, written to the audit trail)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard.db import engine, url
from dashboard.filters import anchor_day
from dashboard.i18n import lang, t
from dashboard.safe import md_escape
from dashboard.scope import identity, region_name, scope_of
from data.access import can, require
from data.engine import get_engine
from data.repositories import Scope, regions, staff_roster
from data.users import Identity
from metrics.periods import Period, named
from reports.assessment import Assessment, build, staff_comments, staff_detail, staff_detail_display, staff_trend
from reports.exports import MIME, display_summary, export, filename, for_team

KINDS = ("month", "quarter", "year")


def last_complete(options: list[str], today: dt.date) -> int:
    """The index of the newest option whose whole period lies within the data (ends by ``today``, the last data
    day): an assessment opens on the last complete period, never on the running one (0 when none is complete)."""
    return next((i for i, name in enumerate(options) if named(name).last_day <= today), 0)


def period_options(kind: str, today: dt.date, count: int = 8) -> list[str]:
    """Named periods of ``kind`` ending with the one that holds ``today``, newest first."""
    if kind == "year":
        return [str(today.year - i) for i in range(count)]
    if kind == "quarter":
        q = (today.month - 1) // 3
        out = []
        y = today.year
        for _ in range(count):
            out.append(f"{y}-Q{q + 1}")
            q -= 1
            if q < 0:
                q, y = 3, y - 1
        return out
    out = []
    y, m = today.year, today.month
    for _ in range(count):
        out.append(f"{y}-{m:02d}")
        m -= 1
        if m == 0:
            m, y = 12, y - 1
    return out


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def _regions(db_url: str, scope_path: str) -> pd.DataFrame:
    df = regions(get_engine(db_url), Scope(scope_path))
    return df[df["level"].isin(["province", "city", "county"])] if len(df) else df


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def _teams(db_url: str, scope_path: str, region_id: int | None) -> pd.DataFrame:
    r = staff_roster(get_engine(db_url), Scope(scope_path), region_id=region_id)
    return r[["team_id", "team_name"]].dropna().drop_duplicates().sort_values("team_name")


@st.cache_data(ttl=300, max_entries=24, show_spinner=False)
def _assessment(db_url: str, scope_path: str, period_name: str, region_id: int | None, team_id: int | None,
                language: str, scope_region_id: int) -> Assessment:
    return build(get_engine(db_url), Scope(scope_path), named(period_name), region_id=region_id, team_id=team_id,
                 lang=language, scope_region_id=region_id or scope_region_id)


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def _trend(db_url: str, scope_path: str, staff_id: int, period_name: str) -> pd.DataFrame:
    return staff_trend(get_engine(db_url), Scope(scope_path), staff_id, named(period_name))


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def _comments(db_url: str, scope_path: str, staff_id: int, period_name: str, language: str) -> pd.DataFrame:
    return staff_comments(get_engine(db_url), Scope(scope_path), staff_id, named(period_name), lang=language)


def render() -> None:
    ident = identity()
    scope = scope_of(ident)
    lg = lang()
    st.title(t("nav.hr"))
    if not can(ident, "hr_reports"):
        st.warning(t("state.no_permission"))
        return
    today = anchor_day(url())
    c1, c2, c3, c4 = st.columns([1.2, 1, 1.4, 1.4])
    kind = c1.segmented_control(t("hr.period_kind"), KINDS, default="quarter", format_func=lambda k: t(f"hr.kind_{k}"),
                                key="hr_kind", required=True) or "quarter"
    options = period_options(kind, today)
    period_name = c2.selectbox(t("hr.period"), options, index=last_complete(options, today), key=f"hr_period_{kind}")
    regs = _regions(url(), scope.path)
    reg_ids: list[int | None] = [None, *[int(x) for x in regs["id"]]] if len(regs) else [None]
    names = dict(zip(regs["id"], regs["name_zh" if lg == "zh-CN" else "name_en"], strict=False)) if len(regs) else {}
    region_id = c3.selectbox(t("hr.region"), reg_ids, key="hr_region",
                             format_func=lambda r: t("hr.all_regions") if r is None else str(names.get(r, r)))
    teams = _teams(url(), scope.path, region_id)
    team_ids: list[int | None] = [None, *[int(x) for x in teams["team_id"]]]
    team_names = dict(zip(teams["team_id"], teams["team_name"], strict=False))
    team_id = c4.selectbox(t("hr.team"), team_ids, key="hr_team",
                           format_func=lambda x: t("hr.all_teams") if x is None else str(team_names.get(x, x)))
    period = named(period_name)
    try:
        a = _assessment(url(), scope.path, period_name, region_id, team_id, lg, ident.region_id)
    except Exception:  # noqa: BLE001 - a clear state, never a traceback
        st.error(t("state.error"))
        return
    where = region_name(engine(), region_id or ident.region_id)
    st.caption(t("hr.caption", region=md_escape(where), period=_period_text(period),
                 previous=_period_text(a.previous) if a.previous else "—"))
    if a.table.empty:
        st.info(t("state.empty"))
        return
    _tiles(a)
    st.subheader(t("hr.table_title"))
    shown = display_summary(a)
    st.dataframe(shown, hide_index=True, width="stretch", key="hr_table",
                 column_config={c: st.column_config.NumberColumn(c, format="%.1f")
                                for c in shown.columns if pd.api.types.is_float_dtype(shown[c])})
    st.caption(t("hr.table_help"))
    _downloads(a, ident)
    _team_pdf(a, ident)
    st.divider()
    _staff_view(a, scope.path, period_name)
    st.divider()
    _agreement(a)


def _period_text(p: Period) -> str:
    return t("period.range", start=p.start.isoformat(), end=p.last_day.isoformat())


def _tiles(a: Assessment) -> None:
    tb = a.table
    graded = tb["total"].notna()
    cols = st.columns(5)
    cols[0].metric(t("hr.tile.staff"), f"{len(tb)}", border=True)
    cols[1].metric(t("hr.tile.graded"), f"{int(graded.sum())}", help=t("hr.tile.graded_help"), border=True)
    cols[2].metric(a.scheme.grade("excellent").name(a.lang), f"{int((tb['grade_key'] == 'excellent').sum())}",
                   border=True)
    cols[3].metric(a.scheme.grade("improve").name(a.lang), f"{int((tb['grade_key'] == 'improve').sum())}",
                   border=True)
    cols[4].metric(t("hr.tile.training"), f"{int((tb['training'] != '').sum())}", border=True)


def _downloads(a: Assessment, ident: Identity) -> None:
    cols = st.columns(3)
    for col, fmt in zip(cols, ("xlsx", "pdf", "csv"), strict=True):
        col.download_button(t(f"hr.download.{fmt}"), data=_builder(a, fmt, ident, url()), file_name=filename(a, fmt),
                            mime=MIME[fmt], key=f"hr_dl_{fmt}", on_click="ignore", icon=":material/download:")


def _builder(a: Assessment, fmt: str, ident: Identity, db_url: str) -> Any:
    """The lazy download: Streamlit calls it outside the script run (no session state), so the identity, the database
    and the assessment (built in the session's language) are captured here; the role matrix is asked again."""
    def build_file() -> bytes:
        who = require(ident, "hr_reports")
        return export(get_engine(db_url), a, fmt, who.username)

    return build_file


def _team_pdf(a: Assessment, ident: Identity) -> None:
    """One team's PDF out of the assessment on screen (the same scores and grades; a small file, quick to build)."""
    teams = a.roster[a.roster["staff_id"].isin(a.table["staff_id"])][["team_id", "team_name"]].dropna()
    teams = teams.drop_duplicates("team_id").sort_values("team_name")
    if teams.empty:
        return
    names = dict(zip(teams["team_id"].astype(int), teams["team_name"], strict=True))
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    team_id = c1.selectbox(t("hr.pdf_team_pick"), list(names), format_func=lambda x: str(names.get(x, x)),
                           key="hr_pdf_team", help=t("hr.pdf_team"))
    if team_id is None:
        return
    sub = for_team(a, int(team_id))
    c2.download_button(t("hr.download.team_pdf"), data=_builder(sub, "pdf", ident, url()),
                       file_name=filename(sub, "pdf", team=str(team_id)), mime=MIME["pdf"], key="hr_dl_team_pdf", on_click="ignore",
                       icon=":material/download:")


def _staff_view(a: Assessment, scope_path: str, period_name: str) -> None:
    st.subheader(t("hr.staff_title"))
    tb = a.table
    labels = dict(zip(tb["staff_id"], tb["code"] + " " + tb["name"], strict=True))
    sid = st.selectbox(t("hr.staff_pick"), list(labels), format_func=lambda s: labels[s], key="hr_staff",
                       index=None, placeholder=t("hr.staff_placeholder"))
    if sid is None:
        return
    rec = tb[tb["staff_id"] == sid].iloc[0]
    cols = st.columns(4)
    cols[0].metric(t("hr.col.total"), "—" if pd.isna(rec["total"]) else f"{rec['total']:.1f}",
                   delta=None if "change" not in rec or pd.isna(rec.get("change")) else f"{rec['change']:+.1f}",
                   help=t("hr.total_help"), border=True)
    cols[1].metric(t("hr.col.grade"), rec["grade"], help=t("hr.grade_help"), border=True)
    cols[2].metric(t("hr.col.rank_band"), rec["rank_band"] or "—", border=True)
    prev = rec.get("prev_total")
    cols[3].metric(t("hr.col.prev_total"), "—" if prev is None or pd.isna(prev) else f"{prev:.1f}",
                   help=t("hr.col.prev_grade") + ": " + str(rec.get("prev_grade") or "—"), border=True)
    if rec["evidence"]:
        st.info(t("hr.pdf.evidence", text=rec["evidence"]))
    if rec["critical"]:
        st.warning(t("hr.critical_note", critical=rec["critical"], perf=rec["perf_grade"]))
    if rec["training"]:
        st.info(t("hr.training_note", kpi=rec["weakest"], text=rec["training"]) if rec["weakest"]
                else t("hr.training_note_plain", text=rec["training"]))
    detail = staff_detail(a, int(sid))
    if len(detail):
        st.markdown("**" + t("hr.kpi_chart_title") + "**")
        base = alt.Chart(detail).encode(y=alt.Y("kpi:N", title=None, sort=None))
        chart = (
            base.mark_rule().encode(x=alt.X("low:Q", title=t("hr.pdf.chart_axis"), scale=alt.Scale(domain=[0, 100])),
                                    x2="high:Q")
            + base.mark_point(filled=True, size=80).encode(x="value:Q", tooltip=["kpi", "value", "low", "high", "n"])
            + base.mark_tick(color="black", thickness=2).encode(x="target:Q")
            + base.mark_point(shape="diamond", color="gray").encode(x="team:Q")
        )
        st.altair_chart(chart, width="stretch")
        st.caption(t("hr.pdf.chart_legend"))
        st.dataframe(staff_detail_display(a, int(sid)), hide_index=True, width="stretch", key="hr_detail")
    trend = _trend(url(), scope_path, int(sid), period_name)
    st.markdown("**" + t("hr.trend_title") + "**")
    if trend.empty:
        st.info(t("state.empty"))
    else:
        line = alt.Chart(trend).mark_line(point=True).encode(
            x=alt.X("month:O", title=t("hr.month")), y=alt.Y("satisfaction:Q", title=t("hr.trend_axis")),
            tooltip=["month", "n", "satisfaction"])
        st.altair_chart(line, width="stretch")
    comments = _comments(url(), scope_path, int(sid), period_name, a.lang)
    st.markdown("**" + t("hr.comments_title") + "**")
    if comments.empty:
        st.caption(t("hr.no_comments"))
    else:
        st.dataframe(comments.rename(columns={c: t(f"hr.ccol.{c}") for c in comments.columns}), hide_index=True,
                     width="stretch")


def _agreement(a: Assessment) -> None:
    st.subheader(t("hr.agreement_title"))
    ag = a.agreement
    if ag.items == 0:
        st.caption(t("hr.agreement_none"))
        return
    st.caption(t("hr.agreement.icc", icc="—" if pd.isna(ag.icc) else f"{ag.icc:.3f}", items=ag.items,
                 ratings=ag.ratings))
    df = ag.per_reviewer.copy()
    df["flag"] = df["flag"].map(lambda x: t(f"hr.flag.{x}") if x else "")
    df = df.round(2).rename(columns={c: t(f"hr.acol.{c}") for c in df.columns})
    st.dataframe(df, hide_index=True, width="stretch")
