"""KPI functions over DataFrames whose columns follow ``data/models.py``, and the one entry point ``compute``.

``compute(kpi_key, frame, by=[...], **params)`` returns one row per group with the group columns, then ``value``,
``n``, ``ci_low``, ``ci_high``, ``target``, ``status``, ``kpi``, ``unit`` and KPI-specific extra columns (open-work
counts, exclusions, distributions, the numbers needed to compare periods: ``successes`` for proportions, ``sd``
for means, ``promoters``/``detractors`` for NPS, ``events``/``exposure`` for rates). All work is done with
group-by aggregations: no Python loop runs over rows or groups. Every group present in the frame gets a row,
also when none of its rows is countable (n = 0 -> status "insufficient").

Timestamps are tz-aware UTC ``datetime64`` (naive values are taken as UTC). Fractions are 0-1.
The caller filters the frame to the period and scope; parameters that need outside facts (SLA limits joined per
row, a :class:`~metrics.businesstime.WorkCalendar`, customer counts, ``as_of``) are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd

from metrics import registry
from metrics.businesstime import WorkCalendar, working_minutes
from metrics.intervals import (
    grouped_quantile,
    mean_interval_from_stats,
    nps_interval,
    poisson_interval,
    wilson_interval,
)
from metrics.registry import KPI, MetricResult, status_of

__all__ = [
    "compute",
    "result",
    "duration_kpi",
    "sla_attainment",
    "fcr_system",
    "fcr_survey",
    "hotline_service_level",
    "average_speed_of_answer",
    "abandonment_rate",
    "hall_waiting_time",
    "online_share",
    "complaints_per_1000",
    "reopen_rate",
    "followup_closure",
    "csat",
    "csat_mean",
    "nps",
    "ces_mean",
    "ces_share",
    "response_rate",
    "dimension_score",
    "SLA_INTERVALS",
    "RESULT_COLUMNS",
]

RESULT_COLUMNS = ("value", "n", "ci_low", "ci_high", "target", "status", "kpi", "unit")
_ALL = "__all__"
#: While :func:`compute` runs a proportion KPI: the rows carrying its required input (``registry.carried``), so
#: :func:`_proportion` can count the denominator rows actually measured (``n_measured``).
_CARRIED: ContextVar[pd.Series | None] = ContextVar("_CARRIED", default=None)
_UNIT_PER_MINUTE = {"seconds": 60.0, "minutes": 1.0, "hours": 1.0 / 60.0, "days": 1.0 / 1440.0}

#: SLA interval -> (start column, end column) on the ticket frame (contact frame for answer / wait).
SLA_INTERVALS: Mapping[str, tuple[str, str]] = {
    "arrival": ("created_at", "arrived_at"),
    "restoration": ("arrived_at", "resolved_at"),
    "resolution": ("created_at", "resolved_at"),
    "first_contact": ("created_at", "first_response_at"),
    "reply": ("created_at", "resolved_at"),
    "answer": ("queued_at", "answered_at"),
    "wait": ("queued_at", "answered_at"),
}


# --- helpers ------------------------------------------------------------------------------------------------------


def _need(frame: pd.DataFrame, *cols: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks column(s) {missing}")


def _ts(frame: pd.DataFrame, col: str) -> pd.Series:
    """A column as tz-aware UTC timestamps (naive values are taken as UTC)."""
    _need(frame, col)
    s = frame[col]
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC")
    return pd.to_datetime(s, utc=True)


def _keys(frame: pd.DataFrame, by: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """The group-key columns of ``frame`` (a constant key when ``by`` is empty)."""
    by = list(by)
    _need(frame, *by)
    if by:
        return frame[by].copy(), by
    return pd.DataFrame({_ALL: np.zeros(len(frame), dtype=np.int8)}, index=frame.index), [_ALL]


def _finish(out: pd.DataFrame) -> pd.DataFrame:
    out = out.reset_index()
    if _ALL in out.columns:
        out = out.drop(columns=_ALL)
    if out.empty and len(out.columns) == 0:
        return out
    return out


def _empty_whole(by: Sequence[str], out: pd.DataFrame) -> pd.DataFrame:
    """With by = [] and an empty frame, still return the one headline row (n = 0)."""
    if by or len(out):
        return out
    row = {c: (0 if c.startswith("n") or c in ("successes", "events") else np.nan) for c in out.columns}
    return pd.DataFrame([row], columns=out.columns)


def _proportion(
    frame: pd.DataFrame,
    by: Sequence[str],
    success: pd.Series,
    base: pd.Series,
    level: float,
    sums: Mapping[str, pd.Series] | None = None,
) -> pd.DataFrame:
    """Share of ``success`` among ``base`` rows per group, Wilson interval, plus summed extra columns."""
    keys, kcols = _keys(frame, by)
    d = keys
    d["__s"] = np.where(base.to_numpy(bool), success.to_numpy(bool).astype(float), np.nan)
    sums = dict(sums or {})
    carried = _CARRIED.get()
    if carried is not None:  # the denominator rows that carry the KPI's required input
        sums["n_measured"] = base.to_numpy(bool) & carried.reindex(frame.index).fillna(False).to_numpy(bool)
    for name, s in sums.items():
        d[name] = np.asarray(s, dtype=float)
    g = d.groupby(kcols, dropna=False, observed=True, sort=True)
    out = g.sum(min_count=0)
    n = g["__s"].count()
    out = out.rename(columns={"__s": "successes"})
    for c in out.columns:
        if c == "successes" or c.startswith("n_"):
            out[c] = out[c].astype(np.int64)
    out.insert(0, "n", n.astype(np.int64))
    iv = wilson_interval(out["successes"].to_numpy(), out["n"].to_numpy(), level)
    out.insert(0, "value", np.asarray(iv.estimate, float))
    out.insert(2, "ci_low", np.asarray(iv.low, float))
    out.insert(3, "ci_high", np.asarray(iv.high, float))
    return _empty_whole(by, _finish(out))


def _mean(
    frame: pd.DataFrame,
    by: Sequence[str],
    values: pd.Series,
    level: float,
    sums: Mapping[str, pd.Series] | None = None,
    quantiles: Sequence[float] = (),
) -> pd.DataFrame:
    """Mean of ``values`` (NaN = not counted) per group with the t interval, ``sd``, extra sums and quantiles."""
    keys, kcols = _keys(frame, by)
    d = keys
    d["__v"] = np.asarray(values, dtype=float)
    for name, s in (sums or {}).items():
        d[name] = np.asarray(s, dtype=float)
    g = d.groupby(kcols, dropna=False, observed=True, sort=True)
    out = pd.DataFrame({"value": g["__v"].mean(), "n": g["__v"].count().astype(np.int64), "sd": g["__v"].std(ddof=1)})
    lo, hi = mean_interval_from_stats(out["value"].to_numpy(), out["sd"].to_numpy(), out["n"].to_numpy(), level)
    out.insert(2, "ci_low", np.asarray(lo, float))
    out.insert(3, "ci_high", np.asarray(hi, float))
    out.loc[out["n"] == 1, "sd"] = np.nan
    if sums:
        out = out.join(g[list(sums)].sum(min_count=0).astype(np.int64))
    for q in quantiles:
        qd = grouped_quantile(d, "__v", kcols, q, level=None).set_index(kcols)["value"]
        out[f"p{round(q * 100)}"] = qd.reindex(out.index)
    return _empty_whole(by, _finish(out))


def _elapsed(start: pd.Series, end: pd.Series, unit: str, clock: str, calendar: WorkCalendar | None) -> pd.Series:
    """end − start in ``unit`` on the calendar clock, or in working time when ``clock == "working"``."""
    if clock == "working":
        if calendar is None:
            raise ValueError("clock='working' needs a WorkCalendar (calendar=...)")
        minutes = pd.Series(working_minutes(start, end, calendar), index=start.index)
        if unit in ("days", "working_days"):
            return minutes / float(calendar.day_minutes)
    elif clock == "calendar":
        minutes = (end - start).dt.total_seconds() / 60.0
    else:
        raise ValueError(f"unknown clock {clock!r}")
    return minutes * _UNIT_PER_MINUTE[unit]


def _as_of(frame: pd.DataFrame, cols: Sequence[str], as_of: Any) -> pd.Timestamp:
    """The censoring time: ``as_of`` if given, else the latest timestamp seen in ``cols`` (deterministic)."""
    if as_of is not None:
        ts = pd.Timestamp(as_of)
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    latest = [_ts(frame, c).max() for c in cols if c in frame.columns]
    latest = [t for t in latest if pd.notna(t)]
    return max(latest) if latest else pd.NaT


def _filter_in(frame: pd.DataFrame, col: str, allowed: Sequence[Any] | None) -> pd.DataFrame:
    if allowed is None or col not in frame.columns:
        return frame
    return frame.loc[frame[col].isin(list(allowed))]


def _flag(frame: pd.DataFrame, col: str) -> pd.Series:
    """A nullable boolean column as plain bool (missing = False); absent column = all False."""
    if col not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame[col].fillna(False).astype(bool)


# --- operational KPIs: durations ----------------------------------------------------------------------------------


def duration_kpi(
    frame: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    start: str,
    end: str,
    unit: str = "minutes",
    stat: str | float = "mean",
    clock: str = "calendar",
    calendar: WorkCalendar | None = None,
    service_types: Sequence[str] | None = None,
    as_of: Any = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Time from ``start`` to ``end`` per group: the mean (t interval) or a percentile (inverted CDF, order-statistic
    interval).

    Formula: mean(end − start) or Q_q(end − start) over completed orders, in ``unit`` (minutes | hours | seconds |
    days), on the calendar clock or in working time (``clock="working"`` with a ``calendar``).
    Exclusions: rows without ``start``; negative durations (data errors, counted in ``n_invalid``); service types
    outside ``service_types`` (when the frame has ``service_type``).
    Open work (start set, end missing) is right-censored: it is not in the value but reported as ``n_open``,
    ``open_age_mean`` and ``open_age_max`` (in ``unit``, as of ``as_of``, default the latest timestamp in the frame).
    Exception reasons are counted in ``n_exception``, not dropped. Mean results add ``sd``, ``p50``, ``p90``.
    Source: KPIS.md §2 (first response, arrival, resolution / restoration, percentiles).
    """
    f = _filter_in(frame, "service_type", service_types)
    s, e = _ts(f, start), _ts(f, end)
    dur = _elapsed(s, e, unit, clock, calendar)
    valid = dur.notna() & (dur >= 0)
    cutoff = _as_of(f, [start, end, "created_at"], as_of)
    open_ = s.notna() & e.isna()
    # dtype=s.dtype: a NaT cutoff (no rows of these service types) stays tz-aware like s
    age = _elapsed(s, pd.Series(cutoff, index=f.index, dtype=s.dtype), unit, clock, calendar).where(open_)
    exc = f["exception_reason"].notna() if "exception_reason" in f.columns else pd.Series(False, index=f.index)
    sums = {"n_open": open_, "n_invalid": dur < 0, "n_exception": exc & valid}
    if stat == "mean":
        out = _mean(f, by, dur.where(valid), level, sums=sums, quantiles=(0.5, 0.9))
    else:
        out = _mean(f, by, dur.where(valid), level, sums=sums).rename(columns={"value": "mean"})
        out = out.drop(columns=["ci_low", "ci_high"])
        keys, kcols = _keys(f, by)
        keys["__v"] = dur.where(valid).to_numpy()
        qd = grouped_quantile(keys, "__v", kcols, float(stat), level=level).drop(columns="n")
        if by:
            out = out.merge(qd, on=list(by), how="left")
        else:
            for c in ("value", "ci_low", "ci_high"):
                out[c] = qd[c].iloc[0] if len(qd) else np.nan
    # open-age statistics
    keys, kcols = _keys(f, by)
    keys["__age"] = age.to_numpy(dtype=float)
    g = keys.groupby(kcols, dropna=False, observed=True, sort=True)["__age"]
    ages = pd.DataFrame({"open_age_mean": g.mean(), "open_age_max": g.max()}).reset_index()
    if by:
        out = out.merge(ages, on=list(by), how="left")
    else:
        out["open_age_mean"] = ages["open_age_mean"].iloc[0] if len(ages) else np.nan
        out["open_age_max"] = ages["open_age_max"].iloc[0] if len(ages) else np.nan
    out["as_of"] = cutoff
    out["clock"] = clock
    return out


def sla_attainment(
    frame: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    interval: str = "resolution",
    start: str | None = None,
    end: str | None = None,
    limit_col: str = "limit_value",
    unit_col: str = "limit_unit",
    clock_col: str = "clock",
    semantics_col: str = "semantics",
    default_unit: str = "minutes",
    default_clock: str = "calendar",
    default_semantics: str = "each",
    calendar: WorkCalendar | None = None,
    exceptions: str = "apart",
    count_overdue_open: bool = True,
    as_of: Any = None,
    level: float = 0.95,
    flag_col: str = "sla_met",
) -> pd.DataFrame:
    """Share of orders within their applicable time limit, given the limit joined per row.

    The caller joins the applicable ``sla_policy`` row (policy pack x service type x area class x segment x interval)
    onto each order: columns ``limit_value``, ``limit_unit`` (seconds | minutes | hours | days | working_days),
    ``clock`` (calendar | working) and ``semantics`` (each | average | at_least); missing unit/clock/semantics
    columns take the defaults. Working-day limits need ``calendar``.

    Formula: value = within / counted, Wilson interval, where an order is within when its duration (in the limit's
    unit) is <= the limit (>= for ``at_least``, e.g. planned-outage notice).
    Counted: completed orders with a limit, plus open orders already past their limit (certain breaches,
    ``count_overdue_open``). Open orders not yet due are right-censored: ``n_open_pending``.
    Exceptions (``exception_reason`` set): with ``exceptions="apart"`` (default) they are left out of the value and
    counted apart in ``n_exception`` / ``n_exception_within``; ``value_incl_exceptions`` shows the share with them.
    ``exceptions="include"`` counts them like any order. Orders with no applicable limit: ``n_no_limit``.
    'average' vs 'each': the share is always reported; for 'average' commitments (十项承诺 2023) the commitment is
    judged on the mean: ``mean_ratio`` = Σduration/Σlimit over the counted orders (overdue open orders enter with
    their age so far, so the mean is a lower bound while they are open) and ``commitment_met`` = mean_ratio <= 1
    (NA for 'each').
    ``semantics`` says each | average | mixed per group; ``mean_duration`` / ``mean_limit`` are given when a group
    has one limit unit (``limit_unit``). The sums behind these (``n_incl_exceptions``, ``n_within_incl_exceptions``,
    ``n_average``, ``sum_duration``, ``sum_limit``, ``n_ratio``) are returned too, so finer results can be rolled up
    exactly (:mod:`metrics.rollup`).
    Source flag: where the frame has ``flag_col`` (the source system's own verdict, imported) and an order's clock
    cannot be computed (start or end time missing), the flag decides: the order is counted, within when the flag
    is true (``n_source_flag``). The computed clock always wins where both times exist.
    Source: KPIS.md §1 (time-limit commitments), §2 SLA attainment.
    """
    if exceptions not in ("apart", "include"):
        raise ValueError("exceptions must be 'apart' or 'include'")
    s_col, e_col = SLA_INTERVALS.get(interval, (None, None))
    s_col, e_col = start or s_col, end or e_col
    if s_col is None or e_col is None:
        raise ValueError(f"unknown SLA interval {interval!r}; pass start= and end=")
    _need(frame, limit_col)
    f = frame
    idx = f.index
    s, e = _ts(f, s_col), _ts(f, e_col)
    limit = pd.to_numeric(f[limit_col], errors="coerce").astype(float)
    unit = (f[unit_col] if unit_col in f.columns else pd.Series(default_unit, index=idx)).fillna(default_unit)
    clock = (f[clock_col] if clock_col in f.columns else pd.Series(default_clock, index=idx)).fillna(default_clock)
    sem = (f[semantics_col] if semantics_col in f.columns else pd.Series(default_semantics, index=idx)).fillna(
        default_semantics)
    bad_units = set(unit.unique()) - {"seconds", "minutes", "hours", "days", "working_days"}
    if bad_units:
        raise ValueError(f"unknown limit unit(s) {sorted(bad_units)}")
    cutoff = _as_of(f, [s_col, e_col, "created_at"], as_of)
    end_or_now = e.fillna(cutoff) if pd.notna(cutoff) else e
    calendar_minutes = (end_or_now - s).dt.total_seconds() / 60.0
    working = (clock == "working") | (unit == "working_days")
    dur = calendar_minutes * unit.map(_UNIT_PER_MINUTE).fillna(np.nan).astype(float)
    if working.any():
        if calendar is None:
            raise ValueError("working-time limits need a WorkCalendar (calendar=...)")
        wm = working_minutes(s[working], end_or_now[working], calendar)
        wunit = unit[working]
        conv = np.where(wunit.isin(["days", "working_days"]), 1.0 / calendar.day_minutes,
                        wunit.map(_UNIT_PER_MINUTE).fillna(1.0).to_numpy(dtype=float))
        dur.loc[working] = wm * conv
    has_limit = limit.notna()
    started = s.notna()
    completed = started & e.notna() & (dur >= 0)
    open_ = started & e.isna()
    at_least = sem == "at_least"
    within = np.where(at_least, dur >= limit, dur <= limit) & completed
    overdue_open = open_ & ~at_least & (dur > limit)
    exc = f["exception_reason"].notna() if "exception_reason" in f.columns else pd.Series(False, index=idx)
    judged = has_limit & (completed | (overdue_open if count_overdue_open else False))
    flag = f[flag_col] if flag_col in f.columns else pd.Series(pd.NA, index=idx, dtype=object)
    by_flag = flag.notna() & ~(started & e.notna())
    if by_flag.any():  # the source's verdict where the clock cannot be computed
        fl = flag.where(by_flag, False).astype(bool)
        within = np.where(by_flag, fl, within)
        judged = judged | by_flag
        open_ = open_ & ~by_flag
        overdue_open = overdue_open & ~by_flag
        has_limit = has_limit | by_flag
    base = judged & ~exc if exceptions == "apart" else judged
    is_avg = (sem == "average") & base
    ratio_rows = base & ~by_flag  # completed, plus overdue open orders with their age so far (a lower bound)
    single_unit = unit.where(base)
    sums = {
        "n_exception": judged & exc,
        "n_exception_within": judged & exc & within,
        "n_open_pending": has_limit & open_ & ~overdue_open,
        "n_open_overdue": has_limit & overdue_open,
        "n_no_limit": ~has_limit & (completed | open_),
        "n_invalid": started & e.notna() & (dur < 0),
        "n_incl_exceptions": judged,
        "n_within_incl_exceptions": judged & within,
        "n_average": is_avg,
        "sum_duration": dur.where(ratio_rows, 0.0),
        "sum_limit": limit.where(ratio_rows, 0.0),
        "n_ratio": ratio_rows,
        "n_source_flag": base & by_flag,
    }
    out = _proportion(f, by, pd.Series(within, index=idx), base, level, sums=sums)
    # one limit unit per group? (then mean duration and mean limit are meaningful in that unit)
    keys, kcols = _keys(f, by)
    keys["__unit"] = single_unit.to_numpy()
    gu = keys.groupby(kcols, dropna=False, observed=True, sort=True)["__unit"]
    units = pd.DataFrame({"__nu": gu.nunique(), "limit_unit": gu.first()}).reset_index()
    if by:
        out = out.merge(units, on=list(by), how="left")
    else:
        out["__nu"] = units["__nu"].iloc[0] if len(units) else 0
        out["limit_unit"] = units["limit_unit"].iloc[0] if len(units) else None
    with np.errstate(divide="ignore", invalid="ignore"):
        out["value_incl_exceptions"] = out["n_within_incl_exceptions"] / out["n_incl_exceptions"].where(out["n_incl_exceptions"] > 0)
        out["mean_ratio"] = out["sum_duration"] / out["sum_limit"].where(out["sum_limit"] > 0)
        one = out["__nu"] == 1
        out["mean_duration"] = (out["sum_duration"] / out["n_ratio"].where(out["n_ratio"] > 0)).where(one)
        out["mean_limit"] = (out["sum_limit"] / out["n_ratio"].where(out["n_ratio"] > 0)).where(one)
    out["semantics"] = np.where(out["n_average"] == 0, "each", np.where(out["n_average"] == out["n"], "average", "mixed"))
    out["commitment_met"] = pd.array(
        np.where(out["semantics"] == "average", out["mean_ratio"] <= 1.0, False), dtype="boolean")
    out.loc[out["semantics"] != "average", "commitment_met"] = pd.NA
    out["exceptions"] = exceptions
    out["as_of"] = cutoff
    return out.drop(columns=[c for c in out.columns if c.startswith("__")])


# --- contacts ------------------------------------------------------------------------------------------------------


def fcr_system(
    frame: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    days: int = 7,
    period_start: Any = None,
    period_end: Any = None,
    observed_until: Any = None,
    category_col: str = "category",
    exclude_abandoned: bool = True,
    level: float = 0.95,
) -> pd.DataFrame:
    """System first-contact resolution with an N-day repeat window across all channels.

    Formula: a contact is resolved at first contact when the same customer has no new contact of the same business
    category within N days (``days``, 1-30, default 7) on any channel. value = resolved / judgeable, Wilson.
    Judgeable: contacts in [period_start, period_end) with a customer id, not linked to an outage event, not
    abandoned (``exclude_abandoned``), and queued no later than ``observed_until`` − N days (``observed_until``
    defaults to the latest contact in the frame; pass the frame with the N days after the period so the tail can
    be judged). Outage-linked contacts (``outage_event_id`` set, or the fact frames' ``outage`` flag) are neither
    judged nor counted as repeats.
    Repeats: with a ``next_queued_at`` column (the fact frames: the customer's next contact of the same category on
    ANY channel, found in SQL whatever the frame was filtered to), a pool row is a repeat when that next contact is
    at most N days later; without it (hand-made frames, or ``category_col`` other than ``category``), the next
    contact is looked for among the frame's own rows (sorted by customer, category, time; ties in row order).
    Extras: ``successes``, ``n_repeat``, ``n_excluded_tail``, ``n_excluded_outage``, ``n_no_customer``,
    ``window_days``. Source: KPIS.md §2 first-contact resolution, system (show N).
    """
    if not 1 <= int(days) <= 30:
        raise ValueError("days must be between 1 and 30")
    _need(frame, "customer_id", category_col, "queued_at")
    idx = frame.index
    t = _ts(frame, "queued_at")
    if "outage_event_id" in frame.columns:
        outage = frame["outage_event_id"].notna()
    else:
        outage = _flag(frame, "outage")
    cust = frame["customer_id"]
    pool = ~outage & cust.notna() & t.notna()
    window = pd.Timedelta(days=int(days))
    if "next_queued_at" in frame.columns and category_col == "category":
        nq = _ts(frame, "next_queued_at")
        repeat = (pool & nq.notna() & ((nq - t) <= window)).astype(bool)
    else:
        d = pd.DataFrame({"c": cust[pool], "k": frame.loc[pool, category_col], "t": t[pool]})
        d = d.sort_values(["c", "k", "t"], kind="mergesort")
        nxt = d.groupby(["c", "k"], dropna=False, sort=False)["t"].shift(-1)
        gap = (nxt - d["t"]).reindex(idx)
        repeat = (gap <= window).fillna(False).astype(bool)
    until = _as_of(frame, ["queued_at"], observed_until)
    cutoff = until - window if pd.notna(until) else pd.NaT
    in_period = t.notna()
    if period_start is not None:
        in_period &= t >= _as_of(frame, [], period_start)
    if period_end is not None:
        in_period &= t < _as_of(frame, [], period_end)
    served = ~_flag(frame, "abandoned") if exclude_abandoned else pd.Series(True, index=idx)
    candidate = in_period & served
    judgeable = candidate & pool & (t <= cutoff)
    sums = {
        "n_repeat": judgeable & repeat,
        "n_excluded_tail": candidate & pool & (t > cutoff),
        "n_excluded_outage": candidate & outage,
        "n_no_customer": candidate & ~outage & cust.isna(),
    }
    out = _proportion(frame, by, ~repeat, judgeable, level, sums=sums)
    out["window_days"] = int(days)
    out["observed_until"] = until
    return out


def _calls(frame: pd.DataFrame, channels: Sequence[str] | None, short_abandon_seconds: float) -> dict[str, Any]:
    f = _filter_in(frame, "channel", channels)
    q = _ts(f, "queued_at")
    a = _ts(f, "answered_at")
    abandoned = _flag(f, "abandoned")
    wait = (a - q).dt.total_seconds()
    if "ended_at" in f.columns:
        abandon_wait = (_ts(f, "ended_at") - q).dt.total_seconds()
    else:
        abandon_wait = pd.Series(np.nan, index=f.index)
    short = abandoned & (abandon_wait < short_abandon_seconds).fillna(False)
    offered = q.notna() & ~short
    answered = offered & ~abandoned & a.notna()
    return {"f": f, "wait": wait, "abandoned": abandoned, "short": short, "offered": offered, "answered": answered}


def hotline_service_level(
    frame: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    threshold_seconds: float = 30.0,
    short_abandon_seconds: float = 5.0,
    channels: Sequence[str] | None = ("hotline",),
    level: float = 0.95,
    flag_col: str = "sla_met",
) -> pd.DataFrame:
    """Hotline service level: answered within T seconds / offered calls.

    Formula: count(answered and answered_at − queued_at <= T) / offered, Wilson. Offered = all calls queued minus
    abandons under ``short_abandon_seconds`` (measured queued_at -> ended_at; an abandon without ended_at is kept).
    Abandoned calls count as failures (convention stated in ``convention``). Extras: ``n_short_abandon``,
    ``n_abandoned``, ``threshold_seconds``. Source flag: a call not abandoned whose answer time is missing counts
    as within T when the frame's ``flag_col`` (the source's own "answered within the service level", imported) is
    true (``n_source_flag``); the computed wait always wins where answered_at exists.
    Source: KPIS.md §2 hotline service level (default 30 s).
    """
    c = _calls(frame, channels, short_abandon_seconds)
    ok = c["answered"] & (c["wait"] <= threshold_seconds)
    f = c["f"]
    flag = f[flag_col] if flag_col in f.columns else pd.Series(pd.NA, index=f.index, dtype=object)
    by_flag = c["offered"] & ~c["abandoned"] & _ts(f, "answered_at").isna() & flag.notna()
    ok = ok | (by_flag & flag.where(by_flag, False).astype(bool))
    out = _proportion(f, by, ok, c["offered"], level, sums={
        "n_short_abandon": c["short"], "n_abandoned": c["offered"] & c["abandoned"], "n_source_flag": by_flag})
    out["threshold_seconds"] = float(threshold_seconds)
    out["convention"] = f"abandoned calls count as failures; abandons under {short_abandon_seconds:g} s excluded"
    return out


def abandonment_rate(
    frame: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    short_abandon_seconds: float = 5.0,
    channels: Sequence[str] | None = ("hotline",),
    level: float = 0.95,
) -> pd.DataFrame:
    """Abandonment rate: calls abandoned after ``short_abandon_seconds`` / offered calls (short abandons excluded
    from both). Wilson interval. Source: KPIS.md §2 abandonment rate."""
    c = _calls(frame, channels, short_abandon_seconds)
    return _proportion(c["f"], by, c["abandoned"], c["offered"], level, sums={"n_short_abandon": c["short"]})


def average_speed_of_answer(
    frame: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    channels: Sequence[str] | None = ("hotline",),
    short_abandon_seconds: float = 5.0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Average speed of answer: Σ(answered_at − queued_at) / answered calls, in seconds (t interval).

    Abandoned calls are excluded from the mean (read with the abandonment rate: ``n_abandoned`` is reported).
    Source: KPIS.md §2 average speed of answer.
    """
    c = _calls(frame, channels, short_abandon_seconds)
    w = c["wait"].where(c["answered"] & (c["wait"] >= 0))
    return _mean(c["f"], by, w, level, sums={"n_abandoned": c["offered"] & c["abandoned"]}, quantiles=(0.9,))


def hall_waiting_time(
    frame: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    channels: Sequence[str] | None = ("hall",),
    level: float = 0.95,
) -> pd.DataFrame:
    """Service-hall waiting time: mean(called − queue ticket taken) in minutes over customers called.

    Customers who left before being called are counted apart (``n_walked_out``); ``p90`` is reported. For the peak
    pain point, add an ``hour`` or ``weekday`` column (local time) and break down by it.
    Source: KPIS.md §2 hall waiting time; 南方电网 ≤ 15 min average.
    """
    f = _filter_in(frame, "channel", channels)
    q, a = _ts(f, "queued_at"), _ts(f, "answered_at")
    w = (a - q).dt.total_seconds() / 60.0
    served = ~_flag(f, "abandoned") & a.notna() & (w >= 0)
    return _mean(f, by, w.where(served), level, sums={"n_walked_out": _flag(f, "abandoned")}, quantiles=(0.5, 0.9))


# --- tickets: shares and rates --------------------------------------------------------------------------------------


def online_share(
    frame: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    online_channels: Sequence[str] = registry.ONLINE_CHANNELS,
    level: float = 0.95,
) -> pd.DataFrame:
    """Online share: orders started on app / WeChat / Alipay / web over all orders with a channel (Wilson).
    Source: KPIS.md §2 online share."""
    _need(frame, "channel")
    ch = frame["channel"]
    return _proportion(frame, by, ch.isin(list(online_channels)), ch.notna(), level)


def complaints_per_1000(
    frame: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    customers: float | pd.Series | pd.DataFrame | None = None,
    complaint_types: Sequence[str] = ("complaint",),
    level: float = 0.95,
) -> pd.DataFrame:
    """Complaints per 1,000 customers (千户投诉率): complaint orders / customers in scope x 1000.

    ``customers``: a number (the scope's customers, used for every group), a Series indexed by the single ``by``
    column, or a DataFrame with the ``by`` columns and a ``customers`` column. Interval: exact Poisson on the count,
    scaled. ``n`` is the customer count (the exposure); ``events`` is the complaint count.
    Substantiated status is not used (all complaint orders count). Source: KPIS.md §2.
    """
    if customers is None:
        raise ValueError("complaints_per_1000 needs customers= (customer counts per region or in scope)")
    _need(frame, "service_type")
    keys, kcols = _keys(frame, by)
    keys["events"] = frame["service_type"].isin(list(complaint_types)).astype(float).to_numpy()
    out = keys.groupby(kcols, dropna=False, observed=True, sort=True)["events"].sum().reset_index()
    if _ALL in out.columns:
        out = out.drop(columns=_ALL)
    if not by and out.empty:
        out = pd.DataFrame({"events": [0.0]})
    if isinstance(customers, pd.DataFrame):
        out = out.merge(customers[list(by) + ["customers"]].rename(columns={"customers": "exposure"}), on=list(by),
                        how="left")
    elif isinstance(customers, pd.Series):
        if len(by) != 1:
            raise ValueError("a customers Series needs exactly one by column; pass a DataFrame for several")
        out["exposure"] = out[by[0]].map(customers).astype(float)
    else:
        out["exposure"] = float(customers)
    lo, hi = poisson_interval(out["events"].to_numpy(), level)
    with np.errstate(divide="ignore", invalid="ignore"):
        expo = out["exposure"].where(out["exposure"] > 0)
        out["value"] = out["events"] / expo * 1000.0
        out["ci_low"] = np.asarray(lo, float) / expo * 1000.0
        out["ci_high"] = np.asarray(hi, float) / expo * 1000.0
    out["n"] = out["exposure"].fillna(0).astype(np.int64)
    out["events"] = out["events"].astype(np.int64)
    return out


def reopen_rate(frame: pd.DataFrame, by: Sequence[str] = (), *, level: float = 0.95) -> pd.DataFrame:
    """Reopen rate: resolved orders with reopen_count > 0 / resolved orders (Wilson). Source: KPIS.md §2."""
    _need(frame, "reopen_count")
    resolved = _ts(frame, "resolved_at").notna()
    return _proportion(frame, by, pd.to_numeric(frame["reopen_count"], errors="coerce").fillna(0) > 0, resolved, level)


def followup_closure(
    frame: pd.DataFrame, by: Sequence[str] = (), *, as_of: Any = None, level: float = 0.95
) -> pd.DataFrame:
    """Follow-up (回访) closure: follow-ups closed by their due time / follow-ups due by ``as_of`` (Wilson).

    ``as_of`` defaults to the latest created_at / closed_at in the frame. Not yet due: ``n_not_yet_due`` (not
    counted); due and still open: ``n_overdue_open`` (failures). Source: KPIS.md §2 follow-up closure.
    """
    due, closed = _ts(frame, "due_at"), _ts(frame, "closed_at")
    cutoff = _as_of(frame, ["created_at", "closed_at"], as_of)
    is_due = due.notna() & (due <= cutoff)
    ok = closed.notna() & (closed <= due)
    return _proportion(frame, by, ok, is_due, level, sums={
        "n_not_yet_due": due.notna() & ~is_due, "n_overdue_open": is_due & closed.isna()})


# --- survey KPIs ---------------------------------------------------------------------------------------------------


def _scale(frame: pd.DataFrame, col: str, lo: int, hi: int) -> pd.Series:
    """Valid integer answers on a lo..hi scale; anything else (missing, 0 = n/a out of range, junk) is NaN."""
    _need(frame, col)
    v = pd.to_numeric(frame[col], errors="coerce").astype(float)
    return v.where((v >= lo) & (v <= hi) & (v == np.floor(v)))


def csat(frame: pd.DataFrame, by: Sequence[str] = (), *, level: float = 0.95) -> pd.DataFrame:
    """CSAT top-2-box: count(csat in {4, 5}) / count(csat in 1..5), Wilson. Extras: ``mean`` and the full
    distribution ``csat_1`` .. ``csat_5`` (they rank groups differently). Source: KPIS.md §3 CSAT."""
    v = _scale(frame, "csat", 1, 5)
    sums: dict[str, pd.Series] = {f"csat_{k}": v == k for k in range(1, 6)}
    sums["__sum"] = v.fillna(0.0)
    out = _proportion(frame, by, v >= 4, v.notna(), level, sums=sums)
    out["mean"] = out["__sum"] / out["n"].where(out["n"] > 0)
    return out.drop(columns="__sum")


def csat_mean(frame: pd.DataFrame, by: Sequence[str] = (), *, level: float = 0.95) -> pd.DataFrame:
    """Mean of the 1-5 overall satisfaction item, t interval. Source: KPIS.md §3 CSAT."""
    return _mean(frame, by, _scale(frame, "csat", 1, 5), level)


def nps(frame: pd.DataFrame, by: Sequence[str] = (), *, method: str = "adjusted_wald",
        level: float = 0.95) -> pd.DataFrame:
    """Net promoter score in [-1, 1]: P/n − D/n over valid 0-10 answers; promoters 9-10, detractors 0-6.

    Interval: adjusted Wald by default (Var = [p + d − (p − d)²]/n after adding ¾ promoter, ¾ detractor, 3 to n);
    ``method="wald"`` for the plain one. Extras ``promoters``, ``passives``, ``detractors`` (counts), ``se``.
    Source: KPIS.md §3 NPS, §4 NPS interval.
    """
    v = _scale(frame, "nps", 0, 10)
    keys, kcols = _keys(frame, by)
    keys["promoters"] = (v >= 9).astype(float).to_numpy()
    keys["passives"] = ((v >= 7) & (v <= 8)).astype(float).to_numpy()
    keys["detractors"] = (v <= 6).astype(float).to_numpy()
    out = _finish(keys.groupby(kcols, dropna=False, observed=True, sort=True).sum())
    if not by and out.empty:
        out = pd.DataFrame({"promoters": [0.0], "passives": [0.0], "detractors": [0.0]})
    r = nps_interval(out["promoters"].to_numpy(), out["passives"].to_numpy(), out["detractors"].to_numpy(), level,
                     method)
    for c in ("promoters", "passives", "detractors"):
        out[c] = out[c].astype(np.int64)
    out["value"] = np.asarray(r.nps, float)
    out["n"] = np.asarray(r.n, float).astype(np.int64)
    out["ci_low"] = np.asarray(r.low, float)
    out["ci_high"] = np.asarray(r.high, float)
    out["se"] = np.asarray(r.se, float)
    return out


def ces_mean(frame: pd.DataFrame, by: Sequence[str] = (), *, level: float = 0.95) -> pd.DataFrame:
    """CES 2.0 mean on the 1-7 agreement item, t interval. Source: KPIS.md §3 CES 2.0."""
    return _mean(frame, by, _scale(frame, "ces", 1, 7), level)


def ces_share(frame: pd.DataFrame, by: Sequence[str] = (), *, level: float = 0.95) -> pd.DataFrame:
    """CES 2.0 share of 5-7 over valid 1-7 answers, Wilson. Source: KPIS.md §3 CES 2.0."""
    v = _scale(frame, "ces", 1, 7)
    return _proportion(frame, by, v >= 5, v.notna(), level)


def fcr_survey(frame: pd.DataFrame, by: Sequence[str] = (), *, level: float = 0.95) -> pd.DataFrame:
    """Survey first-contact resolution: "yes" / answered to "was your issue resolved at the first contact?" (Wilson).
    Never blended with :func:`fcr_system`. Source: KPIS.md §2-3."""
    _need(frame, "fcr")
    v = frame["fcr"]
    answered = v.notna()
    return _proportion(frame, by, v.where(answered, False).astype(bool), answered, level)


def response_rate(frame: pd.DataFrame, by: Sequence[str] = (), *, level: float = 0.95) -> pd.DataFrame:
    """Response rate over the invitation frame: invitations used / invitations delivered (Wilson).

    Reusable (kiosk QR) invitations are excluded (``n_reusable``); undelivered ones are not in the denominator.
    Source: KPIS.md §3 response rate.
    """
    used = _ts(frame, "used_at").notna()
    delivered = _flag(frame, "delivered") if "delivered" in frame.columns else pd.Series(True, index=frame.index)
    reusable = _flag(frame, "reusable")
    return _proportion(frame, by, used, delivered & ~reusable, level, sums={"n_reusable": reusable})


def dimension_score(frame: pd.DataFrame, by: Sequence[str] = ("dimension",), *, dimension: str | None = None,
                    level: float = 0.95) -> pd.DataFrame:
    """Mean item score per questionnaire dimension over the answer frame (``value_num``), t interval.

    Answers without a dimension or a numeric value are excluded. Pass ``dimension`` to keep one dimension.
    Source: KPIS.md §3 dimension scores.
    """
    _need(frame, "value_num", "dimension")
    f = frame.loc[frame["dimension"].notna()]
    if dimension is not None:
        f = f.loc[f["dimension"] == dimension]
    return _mean(f, by, pd.to_numeric(f["value_num"], errors="coerce"), level)


# --- dispatch -----------------------------------------------------------------------------------------------------


def _duration_dispatch(kpi: KPI) -> Callable[..., pd.DataFrame]:
    def run(frame: pd.DataFrame, by: Sequence[str], **params: Any) -> pd.DataFrame:
        params.setdefault("unit", kpi.unit)
        return duration_kpi(frame, by, **params)

    return run


_FUNCS: dict[str, Callable[..., pd.DataFrame]] = {
    "sla_arrival": sla_attainment,
    "sla_restoration": sla_attainment,
    "sla_resolution": sla_attainment,
    "fcr_system": fcr_system,
    "hotline_service_level": hotline_service_level,
    "asa": average_speed_of_answer,
    "abandonment_rate": abandonment_rate,
    "hall_waiting_time": hall_waiting_time,
    "online_share": online_share,
    "complaints_per_1000": complaints_per_1000,
    "reopen_rate": reopen_rate,
    "followup_closure": followup_closure,
    "fcr_survey": fcr_survey,
    "csat": csat,
    "csat_mean": csat_mean,
    "nps": nps,
    "ces_mean": ces_mean,
    "ces_share": ces_share,
    "response_rate": response_rate,
    "dimension_score": dimension_score,
}
for _k in registry.REGISTRY:
    if _k not in _FUNCS:
        _FUNCS[_k] = _duration_dispatch(registry.REGISTRY[_k])


def _is_set(frame: pd.DataFrame) -> Callable[[str], np.ndarray | None]:
    """``registry.carried``'s test on a frame: a column is set where not null (a flag of FLAG_FIELDS: where true)."""
    def is_set(col: str) -> np.ndarray | None:
        if col not in frame.columns:
            return None
        if col in registry.FLAG_FIELDS:
            return _flag(frame, col).to_numpy(bool)
        return frame[col].notna().to_numpy(bool)
    return is_set


def _in_scope(frame: pd.DataFrame, params: Mapping[str, Any]) -> np.ndarray:
    """The rows a KPI function keeps (its ``channels`` / ``service_types`` parameters, as ``_filter_in``)."""
    m = np.ones(len(frame), bool)
    for param, col in (("channels", "channel"), ("service_types", "service_type")):
        allowed = params.get(param)
        if allowed is not None and col in frame.columns:
            m &= frame[col].isin(list(allowed)).to_numpy(bool)
    return m


@contextmanager
def _measuring(carried: pd.Series | None) -> Iterator[None]:
    token = _CARRIED.set(carried)
    try:
        yield
    finally:
        _CARRIED.reset(token)


def _input_counts(frame: pd.DataFrame, by: Sequence[str], scope: np.ndarray, carried: np.ndarray,
                  out: pd.DataFrame) -> pd.DataFrame:
    """``out`` with ``n_scope`` / ``n_input`` per group (rows in scope; of those, rows carrying the input)."""
    keys, kcols = _keys(frame, by)
    keys["n_scope"] = scope.astype(np.int64)
    keys["n_input"] = (scope & carried).astype(np.int64)
    counts = keys.groupby(kcols, dropna=False, observed=True, sort=True)[["n_scope", "n_input"]].sum()
    if not by:
        tot = counts.sum() if len(counts) else pd.Series({"n_scope": 0, "n_input": 0})
        for c in registry.INPUT_COUNTS:
            out[c] = np.int64(tot[c])
        return out
    out = out.merge(counts.reset_index(), on=list(by), how="left")
    for c in registry.INPUT_COUNTS:
        out[c] = out[c].fillna(0).astype(np.int64)
    return out


def compute(
    kpi_key: str,
    frame: pd.DataFrame,
    by: Sequence[str] | None = None,
    *,
    target: float | None = None,
    min_n: int | None = None,
    level: float = 0.95,
    **params: Any,
) -> pd.DataFrame:
    """Compute a registered KPI per group of ``by`` columns (any combination present in ``frame``).

    Returns one row per group: the group columns, ``value``, ``n``, ``ci_low``, ``ci_high``, ``target``,
    ``status`` ('met' | 'at_risk' | 'missed' | 'insufficient' | 'no_data'), ``kpi``, ``unit``, then the KPI's extra
    columns, ending with ``n_scope`` / ``n_input`` (and ``n_measured`` for proportions, among the counts): a group
    whose rows in scope all lack the KPI's required input (``KPI.requires``) has no value and status 'no_data'.
    ``params`` override the registry defaults of the KPI function (see each function's docstring); ``target``
    and ``min_n`` override the registry's. ``by=None`` or ``[]`` gives the single headline row.
    """
    kpi = registry.get(kpi_key)
    by_list = list(by or [])
    if len(set(by_list)) != len(by_list):
        raise ValueError(f"duplicate by columns {by_list}")
    p = {**kpi.params, **params}
    if not frame.index.is_unique:
        frame = frame.reset_index(drop=True)
    carried = registry.carried(kpi, len(frame), _is_set(frame))
    with _measuring(pd.Series(carried, index=frame.index) if kpi.kind == "proportion" else None):
        out = _FUNCS[kpi.key](frame, by_list, level=level, **p)
    out = _input_counts(frame, by_list, _in_scope(frame, p), carried, out)
    tgt = kpi.target if target is None else float(target)
    mn = kpi.min_n if min_n is None else int(min_n)
    out["target"] = tgt
    out["status"] = status_of(out["value"].to_numpy(float), out["n"].to_numpy(float), tgt, kpi.direction,
                              kpi.at_risk_margin, mn, scope=out["n_scope"].to_numpy(), carried_n=out["n_input"].to_numpy())
    nodata = (out["status"] == "no_data").to_numpy()
    if nodata.any():  # no value where nothing was measured (a denominator of unmeasured rows gives 0, not a value)
        for c in ("value", "ci_low", "ci_high"):
            out[c] = out[c].astype(float).where(~nodata)
    out["kpi"] = kpi.key
    out["unit"] = kpi.unit
    first = by_list + list(RESULT_COLUMNS)
    return out[first + [c for c in out.columns if c not in first]].reset_index(drop=True)


def result(kpi_key: str, frame: pd.DataFrame, **kwargs: Any) -> MetricResult:
    """The headline (ungrouped) value of a KPI as a :class:`MetricResult`; extras go into ``extra``."""
    row = compute(kpi_key, frame, by=None, **kwargs).iloc[0]
    extra = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if k not in RESULT_COLUMNS}
    return MetricResult(
        kpi=kpi_key, value=float(row["value"]), n=int(row["n"]), ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]), target=float(row["target"]), status=row["status"], unit=row["unit"],
        extra=extra,
    )
