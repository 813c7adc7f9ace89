"""首页概览: real headline figures for the user's scope and a chosen period."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from dashboard.db import engine, site_zone, url
from dashboard.i18n import lang, t
from dashboard.scope import identity, region_name, scope_of
from data.engine import get_engine
from data.i18n import fmt_duration, fmt_number, fmt_percent
from data.repositories import Filters, Scope, data_window, headline
from metrics.periods import PRESETS, preset

MIN_N = 30


@st.cache_data(ttl=60, max_entries=256, show_spinner=False)
def _headline(db_url: str, scope_path: str, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    return headline(get_engine(db_url), Scope(scope_path), Filters(start=start, end=end))


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def _anchor_day(db_url: str) -> dt.date:
    """The newest day with data (today on a live site; the demo world's last day in demo mode)."""
    window = data_window(get_engine(db_url))
    zone = ZoneInfo(site_zone())
    if window is None:
        return dt.datetime.now(zone).date()
    return window[1].astimezone(zone).date()


def render() -> None:
    ident = identity()
    today = _anchor_day(url())
    st.title(t("nav.home"))
    choice = st.segmented_control(
        t("home.period"), PRESETS, default="last_30_days", format_func=lambda p: t(f"period.{p}"),
        key="home_period", required=True,
    )
    period = preset(choice or "last_30_days", today)
    start, end = period.utc_bounds(site_zone())
    st.caption(t("home.caption", region=region_name(engine(), ident.region_id),
                 period=t("period.range", start=period.start.isoformat(), end=period.last_day.isoformat())))
    try:
        h = _headline(url(), scope_of(ident).path, start, end)
    except Exception:  # noqa: BLE001 - shown as a clear state, never a traceback
        st.error(t("state.error"))
        return
    if not h["tickets"] and not h["responses"]:
        st.info(t("state.empty"))
        return
    lg = lang()
    cols = st.columns(3)
    cols[0].metric(t("home.tickets"), fmt_number(h["tickets"], lg), help=t("home.help.tickets"), border=True)
    cols[1].metric(t("home.open"), fmt_number(h["open"], lg), help=t("home.help.open"), border=True)
    cols[2].metric(t("home.online_share"), fmt_percent(h["online"] / h["tickets"] if h["tickets"] else None, lg),
                   help=t("home.help.online_share"), border=True)
    cols = st.columns(3)
    _share_tile(cols[0], "home.repair_arrival", h["repairs_within"], h["repairs_arrived"], "home.help.repair_arrival")
    cols[1].metric(t("home.repair_arrival_mean"), fmt_duration(h["repair_arrival_mean"], lg), border=True)
    _share_tile(cols[2], "home.csat", h["csat_top2"], h["csat_n"], "home.help.csat")
    st.caption(t("home.responses") + " · " + fmt_number(h["responses"], lg))


def _share_tile(col: Any, key: str, hits: int, n: int, help_key: str) -> None:
    value = t("home.too_few") if n < MIN_N else fmt_percent(hits / n, lang())
    col.metric(t(key), value, help=t(help_key) + "\n\n" + t("home.sample", n=fmt_number(n, lang())), border=True)
