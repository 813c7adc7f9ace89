"""Cached reads and computations for the manager pages: thin glue between ``data.repositories`` and ``metrics``.

Two cache layers, both bounded and keyed by (database URL, scope path, filter key):

* the fact frames of one period and region subtree (``st.cache_resource``: big, shared read-only, never copied;
  only a handful of entries), read once in SQL with the scope applied there;
* the numbers the pages draw (``st.cache_data`` for small frames; the overview pack holds read-only mappings that
  do not pickle, so it is a bounded ``st.cache_resource`` too), recomputed from the cached
  frames on a filter change (area class, channel, service type and segment narrow the frames in memory via
  :meth:`metrics.overview.Frames.filter`) — no page re-reads the raw history on a rerun.

Nothing in this module defines a KPI: the numbers come from ``metrics``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.db import site_zone
from dashboard.filters import FilterState, filters_from_key, scope_regions
from data import workcal
from data.engine import get_engine
from data.reference import DEFAULT_PACK, PACKS, sla_policies
from data.repositories import (
    Filters,
    Scope,
    answer_facts,
    contact_facts,
    follow_up_facts,
    response_facts,
    ticket_facts,
)
from metrics.aggregate import Aggregated
from metrics.businesstime import WorkCalendar
from metrics.overview import Frames, OverviewPack, no_tickets, overview_pack, prepare
from reports.aggregates import cells_apply, overview_source

FRAME_TTL = 600
RESULT_TTL = 600


def calendar_for(start: dt.date, end: dt.date) -> WorkCalendar:
    """The working calendar (official holidays and make-up days) covering [start, end] and a margin after, in the
    site's zone (its local days are the overview's days)."""
    s, e = start - dt.timedelta(days=400), end + dt.timedelta(days=60)
    hol = tuple(pd.to_datetime(workcal.holidays(s, e)).date)
    mk = tuple(pd.to_datetime(workcal.makeup_workdays(s, e)).date)
    return WorkCalendar(holidays=hol, workdays=mk, tz=site_zone())


def _base_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """The part of a filter key that needs a database read: period and region (the rest narrows in memory)."""
    return key[:3] + ((), (), (), ())


@st.cache_resource(ttl=FRAME_TTL, max_entries=6, show_spinner=False)
def _raw_frames(db_url: str, scope_path: str, base_key: tuple[Any, ...], pack: str) -> Frames:
    engine = get_engine(db_url)
    scope = Scope(scope_path)
    f: Filters = filters_from_key(base_key)
    tree = scope_regions(db_url, scope_path)
    frames = Frames(
        tickets=ticket_facts(engine, scope, f), contacts=contact_facts(engine, scope, f),
        responses=response_facts(engine, scope, f), answers=answer_facts(engine, scope, f),
        follow_ups=follow_up_facts(engine, scope, f), start=pd.Timestamp(f.start), end=pd.Timestamp(f.end),
    )
    root = scope_path if base_key[2] is None else str(tree.loc[tree["id"] == base_key[2], "path"].iloc[0])
    cal = calendar_for(dt.date.fromisoformat(str(base_key[0])), dt.date.fromisoformat(str(base_key[1])))
    return prepare(frames, sla_policies(pack), cal, regions=tree, root_path=root, pack=pack)


def frames(db_url: str, scope_path: str, key: tuple[Any, ...], pack: str = DEFAULT_PACK) -> Frames:
    """The prepared fact frames for a filter key: read (cached) for period + region, narrowed in memory."""
    fr = _raw_frames(db_url, scope_path, _base_key(key), pack)
    _s, _e, _r, areas, chans, svcs, segs = key
    if areas or chans or svcs or segs:
        fr = fr.filter(area_classes=areas, channels=chans, service_types=svcs, segments=segs)
    return fr


@st.cache_resource(ttl=FRAME_TTL, max_entries=6, show_spinner=False)
def _raw_source(db_url: str, scope_path: str, base_key: tuple[Any, ...], pack: str) -> Frames | Aggregated:
    """The overview's period: pre-aggregated cells + remaining rows for the whole province (it would otherwise
    read millions of rows), else the cached fact frames (``reports.aggregates.overview_source``)."""
    engine = get_engine(db_url)
    tree = scope_regions(db_url, scope_path)
    root = _root_path(tree, scope_path, base_key)
    f: Filters = filters_from_key(base_key)
    if not cells_apply(engine, Scope(scope_path), root, f.start, f.end):
        return _raw_frames(db_url, scope_path, base_key, pack)
    cal = calendar_of(base_key)
    src = overview_source(engine, Scope(scope_path), f.start, f.end, pack=pack, tz=cal.tz, root_path=root)
    return prepare(src, sla_policies(pack), cal, regions=tree, root_path=root, pack=pack)


def source(db_url: str, scope_path: str, key: tuple[Any, ...], pack: str = DEFAULT_PACK) -> Frames | Aggregated:
    """:func:`frames` for the overview pack: cells where they apply (narrowed in memory like the frames)."""
    src = _raw_source(db_url, scope_path, _base_key(key), pack)
    _s, _e, _r, areas, chans, svcs, segs = key
    if areas or chans or svcs or segs:
        src = src.filter(area_classes=areas, channels=chans, service_types=svcs, segments=segs)
    return src


def volumes(db_url: str, scope_path: str, key: tuple[Any, ...], pack: str = DEFAULT_PACK) -> dict[str, int]:
    """Work orders, open work orders and responses of the filtered period (the overview's volume tiles)."""
    src = source(db_url, scope_path, key, pack)
    return src.volumes() if isinstance(src, Aggregated) else volumes_of(src)


def volumes_of(fr: Frames) -> dict[str, int]:
    """:func:`volumes` of frames in memory."""
    open_ = int(fr.tickets["resolved_at"].isna().sum()) if "resolved_at" in fr.tickets.columns else 0
    return {"tickets": len(fr.tickets), "open": open_, "responses": 0 if fr.responses is None else len(fr.responses)}


_READERS = {"ticket": ticket_facts, "contact": contact_facts, "response": response_facts,
            "follow_up": follow_up_facts}


@st.cache_resource(ttl=FRAME_TTL, max_entries=4, show_spinner=False)
def _drill_frames(db_url: str, scope_path: str, key: tuple[Any, ...], kind: str, where: tuple[tuple[str, Any], ...],
                  pack: str) -> Frames:
    """One kind's rows of the period, narrowed in the read by the drill's region and channel and the filters (at
    province scale a cell's drill-down reads its rows, not the whole period's frames)."""
    f: Filters = filters_from_key(key)
    w = dict(where)
    if w.get("region") is not None:
        f = replace(f, region_id=int(w["region"]))
    if w.get("channel") is not None and kind != "follow_up":
        f = replace(f, channels=(str(w["channel"]),))
    engine = get_engine(db_url)
    rows = _READERS[kind](engine, Scope(scope_path), f)
    src = _raw_source(db_url, scope_path, _base_key(key), pack)
    fr = Frames(tickets=rows if kind == "ticket" else no_tickets(), contacts=rows if kind == "contact" else None,
                responses=rows if kind == "response" else None, follow_ups=rows if kind == "follow_up" else None,
                start=pd.Timestamp(f.start), end=pd.Timestamp(f.end),
                observed_until=src.contacts_until if isinstance(src, Aggregated) else None)
    tree = scope_regions(db_url, scope_path)
    root = _root_path(tree, scope_path, key)
    return prepare(fr, sla_policies(pack), calendar_of(key), regions=tree, root_path=root, pack=pack)


def drill_frames(db_url: str, scope_path: str, key: tuple[Any, ...], kind: str,
                 where: tuple[tuple[str, Any], ...] = (), pack: str = DEFAULT_PACK) -> Frames:
    """The frames a drill-down reads its rows from: the page's cached frames, or, where the overview came from
    pre-aggregated cells (the province at scale, no frames in memory), only the rows of the drilled kind and cell."""
    if kind in _READERS and isinstance(_raw_source(db_url, scope_path, _base_key(key), pack), Aggregated):
        return _drill_frames(db_url, scope_path, key, kind, tuple(where), pack)
    return frames(db_url, scope_path, key, pack)


@st.cache_resource(ttl=RESULT_TTL, max_entries=32, show_spinner=False)
def pack(db_url: str, scope_path: str, key: tuple[Any, ...], cmp_key: tuple[Any, ...] | None,
         policy_pack: str = DEFAULT_PACK) -> OverviewPack:
    """The overview pack (headline KPIs with comparison, region x channel breakdown, daily trend)."""
    cur = source(db_url, scope_path, key, policy_pack)
    prev = source(db_url, scope_path, cmp_key, policy_pack) if cmp_key is not None else None
    if prev is not None and not any((prev.volumes() if isinstance(prev, Aggregated) else volumes_of(prev)).values()):
        prev = None  # nothing to compare with (the tiles then show no change rather than a change from zero)
    cal = calendar_for(dt.date.fromisoformat(str(key[0])), dt.date.fromisoformat(str(key[1])))
    tree = scope_regions(db_url, scope_path)
    return overview_pack(cur, prev, sla_policies(policy_pack), cal, regions=tree, pack=policy_pack,
                         root_path=_root_path(tree, scope_path, key), filters=filters_from_key(key).kept())


def _root_path(tree: pd.DataFrame, scope_path: str, key: tuple[Any, ...]) -> str:
    if key[2] is None:
        return scope_path
    return str(tree.loc[tree["id"] == key[2], "path"].iloc[0])


def calendar_of(key: tuple[Any, ...]) -> WorkCalendar:
    return calendar_for(dt.date.fromisoformat(str(key[0])), dt.date.fromisoformat(str(key[1])))


def state_pack(state: FilterState, db_url: str, scope_path: str, policy_pack: str = DEFAULT_PACK) -> OverviewPack:
    return pack(db_url, scope_path, state.key(), state.comparison_key(), policy_pack)


def policy_packs() -> tuple[str, ...]:
    return PACKS


@st.cache_data(ttl=RESULT_TTL, max_entries=256, show_spinner=False)
def kpi_by(db_url: str, scope_path: str, key: tuple[Any, ...], kpi: str, by: tuple[str, ...],
           policy_pack: str = DEFAULT_PACK, where: tuple[tuple[str, Any], ...] = (),
           buckets: str | None = None) -> pd.DataFrame:
    """``metrics.kpis.compute(kpi, frame, by=by)`` over the cached frames (optionally narrowed by ``where`` pairs
    and with local time buckets of ``buckets`` added: day, week, month, hour, weekday)."""
    from metrics import registry
    from metrics.dashboard_support import add_buckets
    from metrics.kpis import compute
    from metrics.overview import kpi_params

    fr = frames(db_url, scope_path, key, policy_pack)
    df = fr.get(registry.get(kpi).frame)
    if df is None:
        return pd.DataFrame()
    for col, value in where:
        df = df.loc[df[col] == value]
    if buckets:
        df = add_buckets(df, buckets, tz=site_zone())
    if any(b not in df.columns for b in by):
        return pd.DataFrame()
    return compute(kpi, df, by=list(by), **kpi_params(kpi, fr, calendar_of(key)))


@st.cache_data(ttl=RESULT_TTL, max_entries=32, show_spinner=False)
def drivers(db_url: str, scope_path: str, key: tuple[Any, ...], method: str, outcome: str = "csat",
            policy_pack: str = DEFAULT_PACK, min_pair_n: int = 30) -> pd.DataFrame:
    """The drivers table of the filtered period (``metrics.drivers.driver_table``: importance with bootstrap
    intervals) over the respondents x dimensions matrix; responses without a work order count."""
    from metrics.drivers import dimension_matrix, driver_table

    fr = frames(db_url, scope_path, key, policy_pack)
    if fr.responses is None or fr.answers is None or fr.answers.empty:
        return pd.DataFrame()
    x, y = dimension_matrix(fr.responses, fr.answers, outcome)
    return driver_table(x, y, method, min_pair_n=min_pair_n)
