"""风险工单预警 At-risk work orders (issue 9): the open work most likely to end badly, with reasons and the outreach
channel (personal data masked); the model's held-out quality beside the naive rule with its calibration chart; and
the outcomes of proactively contacted vs not-contacted cases with Wilson intervals, stated as observational."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import filters, page
from dashboard.db import engine, site_zone
from dashboard.filters import channel_label, service_label
from dashboard.i18n import lang, t
from data.engine import get_engine
from data.i18n import fmt_number, fmt_percent
from data.masking import mask_account, mask_name
from data.repositories import Scope
from data.repositories.customers import customer_profiles
from data.repositories.drill import customers
from data.repositories.risk import proactive_outcome_counts
from metrics.profiles import outreach_channel, summarise_profiles
from metrics.risk import outcome_rates
from surveys import proactive

TOP_CHOICES = (10, 20, 50, 100)
SHOW_COLUMNS = ("id", "external_no", "customer_id", "region_id", "area_class", "service_type", "channel",
                "elapsed_min", "p_dissatisfied", "p_contact_again", "risk", "reasons", "open_follow_up")


@st.cache_data(ttl=300, max_entries=16, show_spinner=False)
def _payload(db_url: str) -> dict[str, Any] | None:
    try:
        raw = proactive.load(engine())
    except proactive.NoModel:
        return None
    raw["models"] = {k: m.to_dict() for k, m in raw["models"].items()}
    return raw


@st.cache_data(ttl=300, max_entries=32, show_spinner=False)
def _scored(db_url: str, scope_path: str) -> tuple[pd.DataFrame, str]:
    """Scores of the open work inside ``scope_path`` (the user's scope or a narrower region of it)."""
    payload = proactive.load(engine())
    scope = Scope(scope_path)
    as_of = proactive.scoring_time(engine(), scope)
    df = proactive.score(engine(), scope, as_of=as_of, payload=payload)
    keep = [c for c in SHOW_COLUMNS if c in df.columns]
    return df[keep].copy(), as_of.isoformat()


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def _people(db_url: str, scope_path: str, ids: tuple[int, ...]) -> pd.DataFrame:
    """Masked name and account plus the outreach channel of the listed customers (inside scope)."""
    scope = Scope(scope_path)
    cu = customers(engine(), scope, list(ids))
    prof = summarise_profiles(customer_profiles(engine(), scope, list(ids)))
    prof["outreach"] = outreach_channel(prof) if len(prof) else []
    out = cu[["id", "name", "account_no"]].rename(columns={"id": "customer_id"})
    out["name"] = out["name"].map(mask_name)
    out["account_no"] = out["account_no"].map(mask_account)
    return out.merge(prof[["customer_id", "outreach"]], on="customer_id", how="left")


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def _outcomes(db_url: str, scope_path: str, start: str, end: str, days: float) -> pd.DataFrame:
    counts = proactive_outcome_counts(engine(), Scope(scope_path), dt.datetime.fromisoformat(start),
                                      dt.datetime.fromisoformat(end), days)
    return outcome_rates(counts)


def _view_scope(ctx: page.Ctx) -> str:
    """The user's scope, or the narrower region picked in the global filter (never wider)."""
    state = ctx.state
    if state.region_is_scope_root:
        return ctx.scope_path
    tree = filters.scope_regions(ctx.db, ctx.scope_path)
    hit = tree.loc[tree["id"] == state.region_id, "path"]
    path = str(hit.iloc[0]) if len(hit) else ctx.scope_path
    return path if path.startswith(ctx.scope_path) else ctx.scope_path


RETRY_FAILED_AFTER_S = 3600.0  # a training that found too little history is tried again after an hour (or a restart)
_JOBS_LOCK = threading.Lock()


@st.cache_resource(show_spinner=False)
def _jobs() -> dict[str, dict[str, Any]]:
    """The process's risk-model trainings, one per database: {"state": running|done|failed, "at", "thread"}."""
    return {}


def training_job(db_url: str) -> dict[str, Any] | None:
    """Start the model's training in the background when it is due (no model yet, or the stored one is a week old:
    the product keeps its own weekly schedule), at most one per process and database; returns the job, if any."""
    jobs = _jobs()
    with _JOBS_LOCK:
        job = jobs.get(db_url)
        if job is not None and (job["state"] == "running" or
                                (job["state"] == "failed" and time.time() - job["at"] < RETRY_FAILED_AFTER_S)):
            return job
        if not proactive.due_for_training(get_engine(db_url)):
            return job
        job = {"state": "running", "at": time.time()}
        job["thread"] = threading.Thread(target=_train, args=(db_url, job), name="gridcx-risk-training", daemon=True)
        jobs[db_url] = job
        job["thread"].start()
        return job


def _train(db_url: str, job: dict[str, Any]) -> None:
    try:
        proactive.train(get_engine(db_url), card=None)
    except Exception as exc:  # noqa: BLE001 - too little history on a new site: said on the page, retried later
        logging.getLogger("gridcx").warning("risk model not trained (too little judgeable history?): %s", exc)
        job.update(state="failed", at=time.time())
        return
    _payload.clear()
    _scored.clear()
    job.update(state="done", at=time.time())


@st.fragment(run_every=3)
def _await_training(job: dict[str, Any]) -> None:
    """While the first model is built: say so, and show the page as soon as it is ready."""
    if job["state"] == "running":
        st.info(t("risk.training"), icon=":material/model_training:")
    elif job["state"] == "done":
        st.rerun()
    else:
        st.info(t("risk.too_little"))


def render() -> None:
    ctx = page.start("nav.risk")
    scope_path = _view_scope(ctx)
    job = training_job(ctx.db)
    payload = _payload(ctx.db)
    if payload is None:
        if job is not None:
            _await_training(job)
        _outcome_section(ctx, scope_path, 7.0)
        return
    _at_risk(ctx, scope_path)
    _model_section(payload, job)
    _outcome_section(ctx, scope_path, float(payload.get("horizon_days", 7.0)))


def _at_risk(ctx: page.Ctx, scope_path: str) -> None:
    st.subheader(t("risk.at_risk_q"))
    try:
        scored, as_of = _scored(ctx.db, scope_path)
    except Exception:  # noqa: BLE001
        page.failed()
        return
    local = pd.Timestamp(as_of).tz_convert(site_zone()).strftime("%Y-%m-%d %H:%M")
    st.caption(t("risk.intro", as_of=local))
    if scored.empty:
        st.info(t("risk.empty"))
        return
    top = st.segmented_control(t("risk.top"), TOP_CHOICES, default=20, key="risk_top") or 20
    head = scored.head(int(top))
    ids = tuple(sorted(int(i) for i in head["customer_id"].dropna().unique()))
    people = _people(ctx.db, scope_path, ids)
    head = head.merge(people, on="customer_id", how="left")
    names = page.region_names(ctx)
    lg = lang()
    shown = pd.DataFrame({
        t("risk.col.ticket"): head["external_no"],
        t("risk.col.customer"): head["name"].fillna(""),
        t("risk.col.account"): head["account_no"].fillna(""),
        t("risk.col.region"): head["region_id"].map(lambda r: names.get(int(r), str(r))),
        t("risk.col.service"): head["service_type"].map(service_label),
        t("risk.col.channel"): head["channel"].map(channel_label),
        t("risk.col.elapsed_h"): (head["elapsed_min"] / 60.0).round(1),
        t("risk.col.risk"): head["risk"].map(lambda v: fmt_percent(v, lg)),
        t("risk.col.p_dissatisfied"): head["p_dissatisfied"].map(lambda v: fmt_percent(v, lg)),
        t("risk.col.p_contact"): head["p_contact_again"].map(lambda v: fmt_percent(v, lg)),
        t("risk.col.reasons"): head["reasons"].map(lambda rs: "；".join(t(f"risk.reason.{r}") for r in rs)),
        t("risk.col.outreach"): head["outreach"].map(lambda c: t(f"outreach.{c}") if isinstance(c, str) else ""),
        t("risk.col.in_queue"): head["open_follow_up"].map(bool),
    })
    st.caption(t("risk.count", n=fmt_number(len(scored), lg), top=len(head)))
    st.dataframe(shown, hide_index=True, width="stretch", key="risk_table")


def _model_section(payload: dict[str, Any], job: dict[str, Any] | None) -> None:
    st.subheader(t("risk.model_q"))
    w = payload["window"]
    zone = site_zone()
    day = lambda s: pd.Timestamp(s).tz_convert(zone).strftime("%Y-%m-%d")  # noqa: E731
    st.caption(t("risk.model_caption", trained_at=day(w["trained_at"]), test_start=day(w["test_start"]),
                 test_end=day(w["test_end"])) + " " + t("risk.schedule"))
    if job is not None and job["state"] == "running":
        st.caption(t("risk.retraining"))
    horizon = float(payload.get("horizon_days", 7.0))
    curves = []
    for target, ev in payload["evaluation"].items():
        st.markdown("**" + t(f"risk.target.{target}", days=f"{horizon:g}") + "**")
        c1, c2, c3 = st.columns(3)
        c1.metric(t("risk.auc"), f"{ev['auc']:.3f}", help=t("risk.auc_help"), border=True,
                  delta=t("risk.vs_naive", value=f"{ev['naive_auc']:.3f}"), delta_color="off")
        c2.metric(t("risk.brier"), f"{ev['brier']:.3f} ({ev['brier_base']:.3f})", help=t("risk.brier_help"),
                  border=True)
        c3.metric(t("risk.lift"), f"{ev['lift']:.2f}", help=t("risk.lift_help"), border=True,
                  delta=t("risk.vs_naive", value=f"{ev['naive_lift']:.2f}"), delta_color="off")
        cv = pd.DataFrame(ev["curve"])
        cv["target"] = t(f"risk.target.{target}", days=f"{horizon:g}")
        curves.append(cv)
    if curves:
        page.chart(calibration_chart(pd.concat(curves, ignore_index=True)), key="risk_calibration")


def calibration_chart(df: pd.DataFrame) -> alt.Chart:
    """Reliability curve: observed share (with its Wilson interval) against the mean predicted probability per bin,
    beside the diagonal of perfect calibration."""
    x = alt.X("predicted:Q", title=t("risk.predicted"), scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
    y = alt.Y("observed:Q", title=t("risk.observed"), scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
    colour = alt.Color("target:N", title=None, legend=alt.Legend(orient="bottom"))
    base = alt.Chart(df)
    diag = alt.Chart(pd.DataFrame({"a": [0.0, 1.0]})).mark_line(strokeDash=[4, 4], color="#888").encode(
        x="a:Q", y="a:Q")
    bars = base.mark_rule().encode(x=x, y=alt.Y("low:Q"), y2="high:Q", color=colour)
    pts = base.mark_circle(size=70).encode(
        x=x, y=y, color=colour,
        tooltip=[alt.Tooltip("predicted:Q", format=".1%"), alt.Tooltip("observed:Q", format=".1%"),
                 alt.Tooltip("n:Q"), alt.Tooltip("low:Q", format=".1%"), alt.Tooltip("high:Q", format=".1%")])
    line = base.mark_line(opacity=0.6).encode(x=x, y=y, color=colour)
    return (diag + bars + line + pts).properties(title=t("risk.calibration_title"), height=340)


def _outcome_section(ctx: page.Ctx, scope_path: str, horizon: float) -> None:
    st.subheader(t("risk.outcomes_q"))
    st.warning(t("risk.observational"))
    start, end = ctx.state.period.utc_bounds(site_zone())
    try:
        rates = _outcomes(ctx.db, scope_path, start.isoformat(), end.isoformat(), horizon)
    except Exception:  # noqa: BLE001
        page.failed()
        return
    st.caption(t("risk.outcomes_caption", days=f"{horizon:g}"))
    lg = lang()
    shown = pd.DataFrame({
        t("risk.measure"): rates["measure"].map(lambda m: t(f"risk.measure.{m}")),
        t("risk.group"): rates["group"].map(lambda g: t(f"risk.group.{g}")),
        t("risk.n"): rates["n"].map(lambda v: fmt_number(int(v), lg)),
        t("risk.rate"): rates["rate"].map(lambda v: fmt_percent(v, lg) if pd.notna(v) else "–"),
        t("risk.interval"): [f"{fmt_percent(lo, lg)} – {fmt_percent(hi, lg)}" if pd.notna(lo) else "–"
                             for lo, hi in zip(rates["low"], rates["high"], strict=True)],
    })
    st.dataframe(shown, hide_index=True, width="stretch", key="risk_outcomes")
    plot = rates.dropna(subset=["rate"]).assign(
        group_label=lambda d: d["group"].map(lambda g: t(f"risk.group.{g}")),
        measure_label=lambda d: d["measure"].map(lambda m: t(f"risk.measure.{m}")))
    if len(plot):
        x = alt.X("rate:Q", title=t("risk.rate"), axis=alt.Axis(format="%"))
        yy = alt.Y("group_label:N", title=None)
        base = alt.Chart(plot)
        ch = (base.mark_rule().encode(x="low:Q", x2="high:Q", y=yy)
              + base.mark_point(filled=True, size=80).encode(x=x, y=yy)).properties(height=90).facet(
            row=alt.Row("measure_label:N", title=None))
        page.chart(ch, key="risk_outcome_chart")

