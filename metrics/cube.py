"""Exact KPI cubes from per-row additive parts: the fast path behind :func:`metrics.overview.overview_pack`.

:func:`metrics.kpis.compute` is general (any frame, any ``by``) but pays pandas overhead per call: several group-bys,
column insertions and string factorisations. The overview needs the same rollable KPIs (proportions, means, NPS)
at a handful of grains of one row set, so here each KPI's row-level contributions (the base and successes of a
proportion, the values of a mean, and the counts / sums ``compute`` reports beside them) are evaluated with numpy
over cached column arrays, summed once per cell of the finest grain with ``numpy.bincount`` over integer group
codes, and rolled up from the cells (:meth:`KpiCube.at`); value, interval, status and the derived extras are then
computed by the same code as :func:`metrics.rollup.rollup`, so the result is that of ``rollup(compute(...))``:
counts exactly, sums and means up to floating-point rounding (~1e-12 relative).

The row semantics mirror :mod:`metrics.kpis` function by function (the censoring time ``as_of`` and the system-FCR
window are evaluated on the rows given, as ``compute`` does); a KPI or parameter combination not covered here
returns ``None`` from :func:`kpi_cube` and the caller falls back to ``compute``. :class:`RowCache` holds the column
arrays (timestamps as int64 nanoseconds, sorted group codes, flags, working minutes of completed orders) so that a
filtered row set reuses them by masking instead of converting the pandas columns again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from metrics import registry
from metrics.businesstime import WorkCalendar, working_minutes
from metrics.kpis import SLA_INTERVALS
from metrics.rollup import sums_table

__all__ = ["RowCache", "KpiCube", "kpi_cube", "FAST_KPIS"]

NAT = np.iinfo(np.int64).min
_UNIT_PER_MINUTE = {"seconds": 60.0, "minutes": 1.0, "hours": 1.0 / 60.0, "days": 1.0 / 1440.0}
_UNITS = ("seconds", "minutes", "hours", "days", "working_days")


@dataclass(eq=False)
class RowCache:
    """Column arrays of one DataFrame, computed on first use and kept (a filtered cache masks them)."""

    df: pd.DataFrame
    arrays: dict[Any, Any] = field(default_factory=dict)
    calendar: WorkCalendar | None = None
    parent: RowCache | None = None  # a filtered cache takes the parent's arrays at ``rows`` on first use
    rows: np.ndarray | None = None

    def valid_for(self, df: pd.DataFrame) -> bool:
        return self.df is df

    def _get(self, key: Any, make: Callable[[], Any]) -> Any:
        if key not in self.arrays:
            p = self.parent
            if p is not None and key in p.arrays and key[0] != "fcr_order":
                v = p.arrays[key]
                self.arrays[key] = (v[0].take(self.rows), v[1]) if key[0] == "codes" else v.take(self.rows)
            else:
                self.arrays[key] = make()
        return self.arrays[key]

    def row_order(self, key: Any, make: Callable[[], np.ndarray]) -> np.ndarray:
        """Row positions in a sorted order over a row-wise selection: a filtered cache keeps its rows' positions
        in the parent's order (no new sort), since the order and the selection are per row."""
        if key not in self.arrays:
            p = self.parent
            if p is not None and key in p.arrays:
                assert self.rows is not None  # a filtered cache (one with a parent) always has its rows
                inv = np.full(len(p.df), -1, dtype=np.int64)
                inv[self.rows] = np.arange(len(self.rows))
                o = inv[p.arrays[key]]
                self.arrays[key] = o[o >= 0]
            else:
                self.arrays[key] = make()
        return self.arrays[key]

    def has(self, col: str) -> bool:
        return col in self.df.columns

    def ts(self, col: str) -> np.ndarray:
        """int64 nanoseconds since the epoch, UTC (NaT = :data:`NAT`)."""
        def make() -> np.ndarray:
            s = self.df[col]
            if not isinstance(s.dtype, pd.DatetimeTZDtype):
                s = pd.to_datetime(s, utc=True)
            return np.asarray(s.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
                              ).view(np.int64)
        return self._get(("ts", col), make)

    def num(self, col: str) -> np.ndarray:
        return self._get(("num", col), lambda: pd.to_numeric(self.df[col], errors="coerce").astype(float)
                         .to_numpy(dtype=float, na_value=np.nan))

    def notna(self, col: str) -> np.ndarray:
        return self._get(("notna", col), lambda: self.df[col].notna().to_numpy())

    def flag(self, col: str) -> np.ndarray:
        """A nullable boolean column as plain bool (missing = False); absent column = all False."""
        if col not in self.df.columns:
            return np.zeros(len(self.df), bool)
        return self._get(("flag", col), lambda: self.df[col].fillna(False).astype(bool).to_numpy())

    def isin(self, col: str, values: Sequence[Any]) -> np.ndarray:
        """``df[col].isin(values)`` through the group codes (nothing new is cached per value set)."""
        codes, uniques = self.codes(col)
        return np.asarray(uniques.isin(list(values)), dtype=bool)[codes]

    def text(self, col: str, default: str) -> tuple[np.ndarray, np.ndarray]:
        """(codes, distinct values with missing ones as ``default``): compare the few values, index by codes."""
        if col not in self.df.columns:
            return np.zeros(len(self.df), np.int64), np.array([default], dtype=object)
        codes, uniques = self.codes(col)
        return codes, np.array([default if pd.isna(u) else u for u in uniques], dtype=object)

    def codes(self, col: str) -> tuple[np.ndarray, pd.Index]:
        """Group codes in sorted key order (a missing key last), as ``groupby(sort=True, dropna=False)`` orders."""
        def make() -> tuple[np.ndarray, pd.Index]:
            s = self.df[col]
            codes, uniques = pd.factorize(s, sort=True, use_na_sentinel=False)
            idx = pd.Index(uniques)
            if idx.dtype != s.dtype:  # e.g. an empty column: keep the column's dtype for the group keys
                idx = idx.astype(s.dtype)
            return codes.astype(np.int64), idx
        return self._get(("codes", col), make)

    def working_completed(self, s_col: str, e_col: str, calendar: WorkCalendar) -> np.ndarray:
        """Working minutes from ``s_col`` to ``e_col`` where both are set (NaN elsewhere), for ``calendar``."""
        key: tuple[str | int, ...] = ("wm", s_col, e_col)
        if self.calendar is not None and calendar is not self.calendar and calendar != self.calendar:
            key = ("wm", s_col, e_col, id(calendar))

        def make() -> np.ndarray:
            s, e = self.ts(s_col), self.ts(e_col)
            out = np.full(len(s), np.nan)
            ok = (s != NAT) & (e != NAT)
            if ok.any():
                out[ok] = working_minutes(_dti(s[ok]), _dti(e[ok]), calendar)
            return out
        return self._get(key, make)

    def take(self, mask: np.ndarray, df: pd.DataFrame) -> RowCache:
        """The cache of ``df`` = this frame's rows where ``mask`` holds: this cache's arrays are taken at those
        rows when first asked for (group codes keep their distinct values)."""
        return RowCache(df, {}, self.calendar, parent=self, rows=np.flatnonzero(mask))


def _cal_key(c: RowCache, calendar: WorkCalendar | None) -> Any:
    """A cache-key part for values that depend on the calendar (the cache's own calendar needs none)."""
    if calendar is None or calendar is c.calendar or (c.calendar is not None and calendar == c.calendar):
        return None
    return id(calendar)


def _dti(ns: np.ndarray) -> pd.Series:
    """int64 nanoseconds as a tz-aware UTC Series (what :func:`working_minutes` converts fastest)."""
    return pd.Series(pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC"))


def _seconds(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(b − a) in seconds, NaN where either is missing (as ``Series.dt.total_seconds``)."""
    ok = (a != NAT) & (b != NAT)
    out = np.full(len(a), np.nan)
    out[ok] = (b[ok] - a[ok]) / 1e9
    return out


def _max_ts(*arrays: np.ndarray) -> int:
    best = NAT
    for a in arrays:
        if len(a):
            best = max(best, int(a.max()))
    return best


# --- row parts per KPI -------------------------------------------------------------------------------------------


@dataclass
class Parts:
    """One KPI's row contributions: ``present`` (rows the KPI groups; None = all), ``sums`` in the order
    ``compute`` reports them (``n`` first; for means the extra counts only) and for means the values ``x``."""

    present: np.ndarray | None
    sums: dict[str, np.ndarray]
    x: np.ndarray | None = None


class _Unsupported(Exception):
    pass


def _prop(base: np.ndarray, success: np.ndarray, sums: Mapping[str, np.ndarray] | None = None,
          present: np.ndarray | None = None) -> Parts:
    out = {"n": base, "successes": base & success}
    out.update(sums or {})
    return Parts(present, out)


def _sla(c: RowCache, p: Mapping[str, Any]) -> Parts:
    allowed = {"interval", "limit_col", "unit_col", "clock_col", "semantics_col", "calendar", "censor_at", "flag_col"}
    if set(p) - allowed:
        raise _Unsupported
    interval = p.get("interval", "resolution")
    if interval not in SLA_INTERVALS:
        raise _Unsupported
    s_col, e_col = SLA_INTERVALS[interval]
    limit_col = p.get("limit_col", "limit_value")
    unit_col, clock_col = p.get("unit_col", "limit_unit"), p.get("clock_col", "clock")
    sem_col = p.get("semantics_col", "semantics")
    calendar = p.get("calendar")
    for col in (s_col, e_col, limit_col):
        if not c.has(col):
            raise _Unsupported
    n = len(c.df)
    s, e = c.ts(s_col), c.ts(e_col)
    limit = c.num(limit_col)
    ucode, uval = c.text(unit_col, "minutes")
    ccode, cval = c.text(clock_col, "calendar")
    scode, sval = c.text(sem_col, "each")
    if not set(uval[np.bincount(ucode, minlength=len(uval)) > 0]) <= set(_UNITS):
        raise _Unsupported  # compute raises the error
    cut = p.get("censor_at")  # the censoring time of open orders (default: the latest timestamp of these rows)
    cut = _max_ts(s, e, c.ts("created_at") if c.has("created_at") else s[:0]) if cut is None else int(cut)
    factor_u = np.array([_UNIT_PER_MINUTE.get(u, np.nan) for u in uval], dtype=float)
    working_u = (uval == "working_days")
    working_c = (cval == "working")
    if calendar is None and (working_c[ccode].any() or working_u[ucode].any()):
        raise _Unsupported
    conv_u = np.array([1.0 / calendar.day_minutes if u in ("days", "working_days") else
                       _UNIT_PER_MINUTE.get(u, 1.0) for u in uval], dtype=float) if calendar is not None else None

    def completed_duration() -> np.ndarray:
        """Duration in the limit's unit of every order with both timestamps (no censoring time involved)."""
        dur = _seconds(s, e) / 60.0 * factor_u[ucode]
        working = working_c[ccode] | working_u[ucode]
        if working.any():
            assert calendar is not None and conv_u is not None  # checked above: working clocks need a calendar
            wm = c.working_completed(s_col, e_col, calendar)[working]
            dur[working] = wm * conv_u[ucode[working]]
        return dur

    dur = c._get(("sla_dur", s_col, e_col, limit_col, unit_col, clock_col, _cal_key(c, calendar)),
                 completed_duration)
    open_rows = (e == NAT) & (s != NAT)
    if cut != NAT and open_rows.any():
        # open orders: their age so far at the censoring time
        dur = dur.copy()
        at = np.flatnonzero(open_rows)
        uc = ucode[at]
        d_open = (cut - s[at]) / 1e9 / 60.0 * factor_u[uc]
        w_open = working_c[ccode[at]] | working_u[uc]
        if w_open.any():
            assert calendar is not None and conv_u is not None  # checked above: working clocks need a calendar
            sub = at[w_open]
            wm = working_minutes(_dti(s[sub]), _dti(np.full(len(sub), cut, dtype=np.int64)), calendar)
            d_open[w_open] = wm * conv_u[uc[w_open]]
        dur[at] = d_open
    has_limit = ~np.isnan(limit)
    started = s != NAT
    ended = e != NAT
    with np.errstate(invalid="ignore"):
        completed = started & ended & (dur >= 0)
        open_ = started & ~ended
        at_least = (sval == "at_least")[scode]
        within = np.where(at_least, dur >= limit, dur <= limit) & completed
        overdue_open = open_ & ~at_least & (dur > limit)
        invalid = started & ended & (dur < 0)
    exc = c.notna("exception_reason") if c.has("exception_reason") else np.zeros(n, bool)
    judged = has_limit & (completed | overdue_open)
    by_flag = _source_flag(c, p) & ~(started & ended)
    if by_flag.any():  # the source's verdict where the clock cannot be computed (as kpis.sla_attainment)
        within = np.where(by_flag, c.flag(p.get("flag_col", "sla_met")), within)
        judged = judged | by_flag
        open_ = open_ & ~by_flag
        overdue_open = overdue_open & ~by_flag
        has_limit = has_limit | by_flag
    base = judged & ~exc
    ratio_rows = base & ~by_flag
    return _prop(base, within, {
        "n_exception": judged & exc,
        "n_exception_within": judged & exc & within,
        "n_open_pending": has_limit & open_ & ~overdue_open,
        "n_open_overdue": has_limit & overdue_open,
        "n_no_limit": ~has_limit & (completed | open_),
        "n_invalid": invalid,
        "n_incl_exceptions": judged,
        "n_within_incl_exceptions": judged & within,
        "n_average": (sval == "average")[scode] & base,
        "sum_duration": np.where(ratio_rows, dur, 0.0),
        "sum_limit": np.where(ratio_rows, limit, 0.0),
        "n_ratio": ratio_rows,
        "n_source_flag": base & by_flag,
    })


def _source_flag(c: RowCache, p: Mapping[str, Any]) -> np.ndarray:
    """Rows carrying the source system's own verdict (``flag_col``, default ``sla_met``; absent column: none)."""
    col = p.get("flag_col", "sla_met")
    return c.notna(col) if c.has(col) else np.zeros(len(c.df), bool)


def _duration(c: RowCache, p: Mapping[str, Any]) -> Parts:
    if set(p) - {"start", "end", "unit", "stat", "clock", "service_types"} or p.get("stat", "mean") != "mean" \
            or p.get("clock", "calendar") != "calendar" or p.get("unit", "minutes") not in _UNIT_PER_MINUTE:
        raise _Unsupported
    start, end = p["start"], p["end"]
    if not (c.has(start) and c.has(end)):
        raise _Unsupported
    svc = p.get("service_types")
    present = c.isin("service_type", svc) if svc is not None and c.has("service_type") else None
    s, e = c.ts(start), c.ts(end)
    dur = _seconds(s, e) / 60.0 * _UNIT_PER_MINUTE[p.get("unit", "minutes")]
    with np.errstate(invalid="ignore"):
        valid = ~np.isnan(dur) & (dur >= 0)
        invalid = dur < 0
    exc = c.notna("exception_reason") if c.has("exception_reason") else np.zeros(len(s), bool)
    return Parts(present, {"n_open": (s != NAT) & (e == NAT), "n_invalid": invalid, "n_exception": exc & valid},
                 np.where(valid, dur, np.nan))


def _online_share(c: RowCache, p: Mapping[str, Any]) -> Parts:
    if set(p) - {"online_channels"} or not c.has("channel"):
        raise _Unsupported
    return _prop(c.notna("channel"), c.isin("channel", p.get("online_channels", registry.ONLINE_CHANNELS)))


def _reopen_rate(c: RowCache, p: Mapping[str, Any]) -> Parts:
    if p or not (c.has("reopen_count") and c.has("resolved_at")):
        raise _Unsupported
    r = c.num("reopen_count")
    return _prop(c.ts("resolved_at") != NAT, np.nan_to_num(r, nan=0.0) > 0)


def _fcr_system(c: RowCache, p: Mapping[str, Any]) -> Parts:
    if set(p) - {"days", "period_start", "period_end", "observed_until"}:
        raise _Unsupported
    days = int(p.get("days", 7))
    if not 1 <= days <= 30 or not all(c.has(x) for x in ("customer_id", "category", "queued_at")):
        raise _Unsupported
    n = len(c.df)
    t = c.ts("queued_at")
    has_t = t != NAT
    outage = c.notna("outage_event_id") if c.has("outage_event_id") else c.flag("outage")
    cust_ok = c.notna("customer_id")
    pool = ~outage & cust_ok & has_t
    window = days * 86_400 * 10**9
    repeat = np.zeros(n, bool)
    if c.has("next_queued_at"):  # the next contact on any channel, from the fact reader: no sort, no other rows
        nq = c.ts("next_queued_at")
        ok = pool & (nq != NAT)
        repeat[ok] = (nq[ok] - t[ok]) <= window
    else:
        # pool rows in (customer, category, time) order, stable; same group = same (customer, category)
        group = c._get(("fcr_group",), lambda: _fcr_group(c))
        order = c.row_order(("fcr_order",), lambda: _fcr_order(c, pool, group))
        if len(order) > 1:
            same = group[order[1:]] == group[order[:-1]]
            gap_ok = (t[order[1:]] - t[order[:-1]]) <= window
            repeat[order[:-1]] = same & gap_ok
    until = _max_ts(t) if p.get("observed_until") is None else _ns(p["observed_until"])
    cutoff = until - window if until != NAT else NAT
    in_period = has_t.copy()
    for key, op in (("period_start", np.greater_equal), ("period_end", np.less)):
        v = p.get(key)
        if v is not None:
            ts = pd.Timestamp(v)
            ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
            in_period &= op(t, ts.as_unit("ns").value)
    served = ~c.flag("abandoned")
    candidate = in_period & served
    le_cut = (t <= cutoff) & has_t if cutoff != NAT else np.zeros(n, bool)
    gt_cut = (t > cutoff) & has_t if cutoff != NAT else np.zeros(n, bool)
    judgeable = candidate & pool & le_cut
    return _prop(judgeable, ~repeat, {
        "n_repeat": judgeable & repeat,
        "n_excluded_tail": candidate & pool & gt_cut,
        "n_excluded_outage": candidate & outage,
        "n_no_customer": candidate & ~outage & ~cust_ok,
    })


def _ns(value: Any) -> int:
    ts = pd.Timestamp(value)
    return (ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")).as_unit("ns").value


def _fcr_group(c: RowCache) -> np.ndarray:
    """An id per (customer, category), missing values included (as ``groupby(dropna=False)``)."""
    cust, _ = c.codes("customer_id")
    cat, _ = c.codes("category")
    return cust * (int(cat.max(initial=0)) + 1) + cat


def _fcr_order(c: RowCache, pool: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Positions of the pool rows sorted by (customer, category, time), ties in row order (a stable sort)."""
    idx = np.flatnonzero(pool)
    return idx[np.lexsort((c.ts("queued_at")[idx], group[idx]))]


def _calls(c: RowCache, p: Mapping[str, Any], allowed: set[str]) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    if set(p) - allowed or not (c.has("queued_at") and c.has("answered_at")):
        raise _Unsupported
    channels = p.get("channels", ("hotline",))
    present = c.isin("channel", channels) if channels is not None and c.has("channel") else None
    short_s = float(p.get("short_abandon_seconds", 5.0))
    names = ("wait", "abandoned", "short", "offered", "answered")
    if all(("calls", x, short_s) in c.arrays or c.parent is not None and ("calls", x, short_s) in c.parent.arrays
           for x in names):
        return present, {x: c._get(("calls", x, short_s), lambda: None) for x in names}
    q, a = c.ts("queued_at"), c.ts("answered_at")
    abandoned = c.flag("abandoned")
    wait = _seconds(q, a)
    abandon_wait = _seconds(q, c.ts("ended_at")) if c.has("ended_at") else np.full(len(q), np.nan)
    with np.errstate(invalid="ignore"):
        short = abandoned & (abandon_wait < float(p.get("short_abandon_seconds", 5.0)))
    offered = (q != NAT) & ~short
    answered = offered & ~abandoned & (a != NAT)
    out = {"wait": wait, "abandoned": abandoned, "short": short, "offered": offered, "answered": answered}
    for x, v in out.items():
        c.arrays[("calls", x, short_s)] = v
    return present, out


def _hotline_sl(c: RowCache, p: Mapping[str, Any]) -> Parts:
    present, k = _calls(c, p, {"threshold_seconds", "short_abandon_seconds", "channels", "flag_col"})
    with np.errstate(invalid="ignore"):
        ok = k["answered"] & (k["wait"] <= float(p.get("threshold_seconds", 30.0)))
    # the source's "answered within the service level" where the answer time is missing (kpis.hotline_service_level)
    by_flag = k["offered"] & ~k["abandoned"] & (c.ts("answered_at") == NAT) & _source_flag(c, p)
    ok = ok | (by_flag & c.flag(p.get("flag_col", "sla_met")))
    return _prop(k["offered"], ok, {"n_short_abandon": k["short"], "n_abandoned": k["offered"] & k["abandoned"],
                                    "n_source_flag": by_flag}, present)


def _abandonment(c: RowCache, p: Mapping[str, Any]) -> Parts:
    present, k = _calls(c, p, {"short_abandon_seconds", "channels"})
    return _prop(k["offered"], k["abandoned"], {"n_short_abandon": k["short"]}, present)


def _asa(c: RowCache, p: Mapping[str, Any]) -> Parts:
    present, k = _calls(c, p, {"short_abandon_seconds", "channels"})
    with np.errstate(invalid="ignore"):
        ok = k["answered"] & (k["wait"] >= 0)
    return Parts(present, {"n_abandoned": k["offered"] & k["abandoned"]}, np.where(ok, k["wait"], np.nan))


def _hall(c: RowCache, p: Mapping[str, Any]) -> Parts:
    if set(p) - {"channels"} or not (c.has("queued_at") and c.has("answered_at")):
        raise _Unsupported
    channels = p.get("channels", ("hall",))
    present = c.isin("channel", channels) if channels is not None and c.has("channel") else None
    q, a = c.ts("queued_at"), c.ts("answered_at")
    w = _seconds(q, a) / 60.0
    abandoned = c.flag("abandoned")
    with np.errstate(invalid="ignore"):
        served = ~abandoned & (a != NAT) & (w >= 0)
    return Parts(present, {"n_walked_out": abandoned}, np.where(served, w, np.nan))


def _scale(c: RowCache, col: str, lo: int, hi: int) -> np.ndarray:
    if not c.has(col):
        raise _Unsupported
    v = c.num(col)
    with np.errstate(invalid="ignore"):
        return np.where((v >= lo) & (v <= hi) & (v == np.floor(v)), v, np.nan)


def _csat(c: RowCache, p: Mapping[str, Any]) -> Parts:
    if p:
        raise _Unsupported
    v = _scale(c, "csat", 1, 5)
    ok = ~np.isnan(v)
    with np.errstate(invalid="ignore"):
        return _prop(ok, v >= 4, {f"csat_{k}": v == k for k in range(1, 6)})


def _nps(c: RowCache, p: Mapping[str, Any]) -> Parts:
    if set(p) - {"method"} or p.get("method", "adjusted_wald") != "adjusted_wald":
        raise _Unsupported
    v = _scale(c, "nps", 0, 10)
    with np.errstate(invalid="ignore"):
        return Parts(None, {"n": ~np.isnan(v), "promoters": v >= 9, "passives": (v >= 7) & (v <= 8),
                            "detractors": v <= 6})


def _mean_of(col: str, lo: int, hi: int) -> Callable[[RowCache, Mapping[str, Any]], Parts]:
    def run(c: RowCache, p: Mapping[str, Any]) -> Parts:
        if p:
            raise _Unsupported
        return Parts(None, {}, _scale(c, col, lo, hi))
    return run


def _fcr_survey(c: RowCache, p: Mapping[str, Any]) -> Parts:
    if p or not c.has("fcr"):
        raise _Unsupported
    answered = c.notna("fcr")
    yes = c._get(("fcr_yes",), lambda: c.df["fcr"].where(c.df["fcr"].notna(), False).astype(bool).to_numpy())
    return _prop(answered, yes)


def _followup(c: RowCache, p: Mapping[str, Any]) -> Parts:
    if p or not (c.has("due_at") and c.has("closed_at")):
        raise _Unsupported
    due, closed = c.ts("due_at"), c.ts("closed_at")
    cut = _max_ts(*(c.ts(x) for x in ("created_at", "closed_at") if c.has(x)))
    has_due = due != NAT
    is_due = has_due & (due <= cut) if cut != NAT else np.zeros(len(due), bool)
    ok = (closed != NAT) & has_due & (closed <= due)
    return _prop(is_due, ok, {"n_not_yet_due": has_due & ~is_due, "n_overdue_open": is_due & (closed == NAT)})


_PARTS: dict[str, Callable[[RowCache, Mapping[str, Any]], Parts]] = {
    "sla_arrival": _sla, "sla_restoration": _sla, "sla_resolution": _sla,
    "online_share": _online_share, "reopen_rate": _reopen_rate, "fcr_system": _fcr_system,
    "hotline_service_level": _hotline_sl, "abandonment_rate": _abandonment, "asa": _asa,
    "hall_waiting_time": _hall, "csat": _csat, "csat_mean": _mean_of("csat", 1, 5), "nps": _nps,
    "ces_mean": _mean_of("ces", 1, 7), "fcr_survey": _fcr_survey, "followup_closure": _followup,
}
#: KPIs with a fast exact cube (registered duration KPIs with a calendar-clock mean as well).
FAST_KPIS = frozenset(_PARTS)


def _is_set(c: RowCache) -> Callable[[str], np.ndarray | None]:
    """``registry.carried``'s test on the cached columns (a flag of FLAG_FIELDS is set where true)."""
    def is_set(col: str) -> np.ndarray | None:
        if not c.has(col):
            return None
        return c.flag(col) if col in registry.FLAG_FIELDS else c.notna(col)
    return is_set


def _parts_fn(kpi: str) -> Callable[[RowCache, Mapping[str, Any]], Parts] | None:
    if kpi in _PARTS:
        return _PARTS[kpi]
    k = registry.get(kpi)
    if k.kind == "mean" and {"start", "end"} <= set(k.params):
        return _duration
    return None


# --- the cube ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class KpiCube:
    """One KPI's sums per cell of the finest grain (only cells with rows of the KPI are kept)."""

    kpi: str
    grain: tuple[str, ...]
    cell_codes: tuple[np.ndarray, ...]  # per grain column: the code of each kept cell
    uniques: tuple[pd.Index, ...]
    sums: Mapping[str, np.ndarray]  # per kept cell

    def at(self, by: Sequence[str]) -> pd.DataFrame:
        """``rollup(compute(kpi, rows, by=grain), kpi, by)`` from the cell sums."""
        t = self.table(by)
        return pd.DataFrame(t, index=pd.RangeIndex(len(t["value"])))

    def table(self, by: Sequence[str]) -> dict[str, Any]:
        """The columns of :meth:`at` as arrays (no frame built)."""
        by = list(by)
        pos = [self.grain.index(b) for b in by]
        if not by:
            return sums_table({k: np.array([v.sum()]) for k, v in self.sums.items()}, self.kpi, [])
        comps = [self.cell_codes[i] for i in pos]
        dims = [len(self.uniques[i]) for i in pos]
        flat = np.ravel_multi_index(comps, dims) if len(comps) > 1 else comps[0]
        keys, inv = np.unique(flat, return_inverse=True)
        data: dict[str, Any] = {}
        parts = np.unravel_index(keys, dims) if len(comps) > 1 else (keys,)
        for b, i, codes in zip(by, pos, parts, strict=True):
            u = self.uniques[i]
            data[b] = u.take(codes).array if len(codes) else pd.array([], dtype=u.dtype)
        for k, v in self.sums.items():
            data[k] = np.bincount(inv, weights=v, minlength=len(keys)) if len(keys) else np.zeros(0)
        return sums_table(data, self.kpi, by)


def kpi_cube(kpi: str, cache: RowCache, grain: Sequence[str], params: Mapping[str, Any]) -> KpiCube | None:
    """The cube of ``kpi`` over the rows of ``cache`` at ``grain``; None when this KPI / its parameters have no
    fast path (the caller then uses ``compute``)."""
    fn = _parts_fn(kpi)
    k = registry.get(kpi)
    if fn is None or k.kind not in ("proportion", "mean", "nps"):
        return None
    p = {**k.params, **params}
    try:
        parts = fn(cache, p)
    except _Unsupported:
        return None
    n = len(cache.df)
    sel = parts.present
    # the counts behind "no data" (registry.carried), in the order compute reports them
    carried = cache._get(("carried", kpi), lambda: registry.carried(k, n, _is_set(cache)))
    if k.kind == "proportion":
        parts.sums["n_measured"] = parts.sums["n"] & carried
    parts.sums["n_scope"] = np.ones(n, bool)
    parts.sums["n_input"] = carried
    uniques = [cache.codes(g)[1] for g in grain]
    dims = [len(u) for u in uniques]

    def make_cell() -> np.ndarray:
        if not grain:
            return np.zeros(n, np.int64)
        codes = [cache.codes(g)[0] for g in grain]
        return np.ravel_multi_index(codes, dims) if len(codes) > 1 else codes[0]
    cell = cache._get(("cell", tuple(grain)), make_cell)
    ncell = int(np.prod(dims)) if grain else 1
    if sel is not None:
        cell = cell[sel]
    if k.kind == "mean":
        assert parts.x is not None  # every mean KPI's parts carry the values
        x = parts.x if sel is None else parts.x[sel]
        ok = ~np.isnan(x)
        xv = np.where(ok, x, 0.0)
        cols = {"n": ok, "__sx": xv, "__sxx": xv * xv}
        cols.update(parts.sums)
        # compute's column order: n, then the extra counts, then the moments
        order = ["n", *parts.sums, "__sx", "__sxx"]
        cols = {c: cols[c] for c in order}
    else:
        cols = parts.sums
    present = np.bincount(cell, minlength=ncell) > 0
    kept = np.flatnonzero(present)
    sums = {}
    for name, arr in cols.items():
        a = arr if (sel is None or name in ("__sx", "__sxx", "n") and k.kind == "mean") else arr[sel]
        sums[name] = np.bincount(cell, weights=a.astype(float, copy=False), minlength=ncell)[kept]
    cell_codes = np.unravel_index(kept, dims) if grain else ()
    return KpiCube(kpi, tuple(grain), tuple(np.asarray(c) for c in cell_codes), tuple(uniques), sums)
