"""回访工单 Follow-up queue: filter, assign, update status and outcome (through ``surveys.followups``), overdue
highlighted by colour and icon; the closed-loop KPIs; the customer archive before the call."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboard import datasets, drill, filters, page
from dashboard.db import engine, site_zone
from dashboard.filters import frozen
from dashboard.i18n import lang, t
from dashboard.scope import may
from dashboard.tiles import fmt_value, tile
from data.i18n import fmt_number
from data.models import UTC
from data.repositories import Scope
from data.repositories.drill import follow_up_queue, staff_in_scope
from data.users import audit
from surveys import followups
from surveys.followups import OUTCOMES, STATUSES, TRANSITIONS, FollowUpError

OPEN = ("open", "in_progress", "escalated")
SEVERITIES = ("high", "medium", "low")


def render() -> None:
    ctx = page.start("nav.followups", "work_follow_ups")
    state = ctx.state
    scope = Scope(ctx.scope_path)
    tree = filters.scope_regions(ctx.db, ctx.scope_path)
    region_path = None if state.region_is_scope_root else str(
        tree.loc[tree["id"] == state.region_id, "path"].iloc[0])
    try:
        has_work = len(datasets.frames(ctx.db, ctx.scope_path, state.key()).tickets) > 0
        pk = datasets.state_pack(state, ctx.db, ctx.scope_path) if has_work else None
        start, end = state.period.utc_bounds(site_zone())
        # the chosen region (always inside the user's scope: the sidebar offers nothing else)
        summary = followups.recovery_summary(engine(), Scope(region_path or ctx.scope_path), start, end)
    except Exception:  # noqa: BLE001
        page.failed()
        return
    _kpis(pk, summary, state.comparison_period is not None)
    st.subheader(t("fu.queue_q"))
    done = st.session_state.pop("fu_done", None)
    if done:
        st.success(done)
    c1, c2, c3 = st.columns([2, 2, 1])
    statuses = c1.multiselect(t("fu.status_filter"), STATUSES, default=list(OPEN), key="fu_status",
                              select_all=False, placeholder=t("filters.all"),
                              format_func=frozen(STATUSES, lambda s: t(f"fu_status.{s}")))
    severities = c2.multiselect(t("fu.severity_filter"), SEVERITIES, default=list(SEVERITIES), key="fu_severity",
                                select_all=False, placeholder=t("filters.all"),
                                format_func=frozen(SEVERITIES, lambda s: t(f"severity.{s}")))
    only_overdue = c3.toggle(t("fu.only_overdue"), key="fu_only_overdue")
    q = follow_up_queue(engine(), scope, region_path=region_path, statuses=tuple(statuses) or OPEN)
    now = pd.Timestamp(dt.datetime.now(UTC))
    if len(q):
        q = q.loc[q["severity"].isin(severities or SEVERITIES)].copy()
        q["overdue"] = (q["status"] != "closed") & (q["due_at"] < now)
        if only_overdue:
            q = q.loc[q["overdue"]]
    if q.empty:
        st.info(t("fu.empty"))
        drill.render_archive()
        return
    st.caption(t("fu.count", n=len(q), overdue=int(q["overdue"].sum())))
    shown = _table(q, page.region_names(ctx))
    styled = shown.style.apply(
        lambda row: ["background-color: #fde2d4; color: #7a1f00" if q["overdue"].iloc[row.name] else ""
                     for _ in row], axis=1)
    st.dataframe(styled, hide_index=True, width="stretch", key="fu_table")
    _actions(ctx, scope, q)
    drill.render_archive()


def _kpis(pk: object, summary: dict[str, float | int], comparing: bool) -> None:
    cols = st.columns(4)
    with cols[0]:
        tile(pk.headline.get("followup_closure") if pk is not None else None,  # type: ignore[attr-defined]
             "followup_closure", comparing=comparing, drill=False)
    lg = lang()
    cols[1].metric(t("fu.opened_closed"), f"{fmt_number(summary['opened'], lg)} / {fmt_number(summary['closed'], lg)}",
                   help=t("fu.opened_closed_help"), border=True)
    cols[2].metric(t("fu.recovery_rate"), fmt_value(summary["recovery_rate"], "share"), help=t("fu.recovery_help"),
                   border=True)
    uplift = summary["uplift"]
    cols[3].metric(t("fu.uplift"), "—" if pd.isna(uplift) else t("unit.points", n=f"{uplift:+.2f}"),
                   help=t("fu.uplift_help", n=fmt_number(summary.get("uplift_n", 0), lg)), border=True)


def _table(q: pd.DataFrame, names: dict[int, str]) -> pd.DataFrame:
    c = lambda k: t(f"col.{k}")  # noqa: E731
    zone = site_zone()
    local = lambda s: pd.to_datetime(s, utc=True).dt.tz_convert(zone).dt.strftime("%m-%d %H:%M")  # noqa: E731
    return pd.DataFrame({
        c("follow_up_id"): q["id"].to_numpy(),
        c("overdue"): q["overdue"].map({True: "⚠ " + t("fu.overdue"), False: ""}).to_numpy(),
        c("severity"): q["severity"].map(lambda s: t(f"severity.{s}")).to_numpy(),
        c("reason"): q["reason"].map(lambda s: t(f"fu_reason.{s}")).to_numpy(),
        c("fu_status"): q["status"].map(lambda s: t(f"fu_status.{s}")).to_numpy(),
        c("escalation"): q["escalation_level"].to_numpy(),
        c("owner"): q["owner_name"].fillna("—").to_numpy(),  # staff, not customers: the manager assigns by name
        c("region"): q["region_id"].map(lambda r: names.get(int(r), "")).to_numpy(),
        c("external_no"): q["ticket_no"].fillna("").to_numpy(),
        c("due_at"): local(q["due_at"]).to_numpy(),
    })


def _label(r: pd.Series) -> str:
    flag = "⚠ " if bool(r["overdue"]) else ""
    return f"{flag}#{int(r.name)} · {t(f'fu_reason.{r.reason}')} · {t(f'severity.{r.severity}')}"


def _actions(ctx: page.Ctx, scope: Scope, q: pd.DataFrame) -> None:
    st.subheader(t("fu.act_q"))
    ids = q["id"].astype(int).tolist()
    by_id = q.set_index(q["id"].astype(int))
    fid = st.selectbox(t("fu.pick"), ids, key="fu_pick", format_func=frozen(ids, lambda i: _label(by_id.loc[i])))
    if fid is None:
        return
    row = by_id.loc[int(fid)]
    user = ctx.ident.username
    a, b, c = st.columns(3)
    with a, st.container(border=True):
        st.markdown("**" + t("fu.assign") + "**")
        staff = staff_in_scope(engine(), scope)
        if staff.empty:
            st.info(t("fu.no_staff"))
        else:
            opts = staff["id"].astype(int).tolist()
            labels = dict(zip(opts, staff["code"] + " " + staff["name"], strict=False))  # staff names in full
            cur = row["owner_staff_id"]
            idx = opts.index(int(cur)) if pd.notna(cur) and int(cur) in opts else 0
            who = st.selectbox(t("col.owner"), opts, index=idx, key="fu_owner", format_func=lambda i: labels[i])
            if st.button(t("fu.assign_btn"), key="fu_assign", type="primary", disabled=row["status"] == "closed"):
                _do(lambda: followups.assign(engine(), scope, int(fid), int(who)), user, "follow_up_assign", fid,
                    {"staff_id": int(who)})
    with b, st.container(border=True):
        st.markdown("**" + t("fu.status") + "**")
        nxt = [s for s in TRANSITIONS.get(str(row["status"]), ()) if s != "closed"]
        if not nxt:
            st.caption(t("fu.no_transition"))
        else:
            to = st.selectbox(t("fu.new_status"), nxt, key="fu_to", format_func=frozen(nxt, lambda s: t(f"fu_status.{s}")))
            if st.button(t("fu.status_btn"), key="fu_transition"):
                _do(lambda: followups.transition(engine(), int(fid), str(to)), user, "follow_up_status", fid,
                    {"status": to})
    with c, st.container(border=True):
        st.markdown("**" + t("fu.close") + "**")
        with st.form("fu_close_form", enter_to_submit=False):
            outcome = st.radio(t("col.outcome"), OUTCOMES, key="fu_outcome", horizontal=True,
                               format_func=frozen(OUTCOMES, lambda s: t(f"outcome.{s}")))
            recovered = st.checkbox(t("fu.recovered"), key="fu_recovered")
            score = st.selectbox(t("fu.score"), [None, 1, 2, 3, 4, 5], key="fu_score",
                                 format_func=lambda v: "—" if v is None else str(v))
            notes = st.text_input(t("fu.notes"), key="fu_notes", max_chars=500)
            done = st.form_submit_button(t("fu.close_btn"), type="primary")
        if done:
            unreachable = outcome == "unreachable"
            _do(lambda: followups.close(engine(), int(fid), str(outcome),
                                        recovered=None if unreachable else bool(recovered),
                                        recovery_score=None if unreachable else score, notes=notes or None),
                user, "follow_up_close", fid, {"outcome": outcome})
    if may("drill_down") and pd.notna(row["customer_id"]) and st.button(t("fu.archive"), key="fu_archive", icon=":material/person_search:"):
        st.session_state[drill.ARCHIVE_KEY] = int(row["customer_id"])


def _do(action: object, user: str, what: str, fid: int, detail: dict[str, object]) -> None:
    try:
        action()  # type: ignore[operator]
    except FollowUpError as exc:
        st.error(t("fu.failed", reason=str(exc)))
        return
    with engine().begin() as conn:
        audit(conn, user, what, "follow_up", str(fid), detail)
    st.session_state["fu_done"] = t(f"fu.done.{what}", id=fid)
    st.rerun()
