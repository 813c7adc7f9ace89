"""The manager overview pack: every headline KPI with its interval and period comparison, the region x channel
breakdown, the daily trend with control limits, and the survey KPIs weighted to the service log - one pure function.

The caller (``data/`` reads, ``dashboard/`` / ``reports/`` / ``python -m metrics`` compose) passes the fact frames of
``data.repositories.facts`` for the current and the comparison period, the SLA policy rows of one pack
(``data.reference.sla_policies(pack)``), a :class:`~metrics.businesstime.WorkCalendar` built from ``data.workcal``
and optionally the region tree (``data.repositories.regions``) to roll stations up to the level below the scope
root. Nothing here reads a database or a file.

Two steps, so a warm process can reuse the first: :func:`prepare` (joins SLA limits per row, adds the rolled-up
``region`` and the local ``day``) and :func:`overview_pack` (all computations; it prepares unprepared frames
itself). :meth:`Frames.filter` narrows prepared frames in memory for a filter change.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from metrics import registry
from metrics.aggregate import Aggregated, cell_cube
from metrics.businesstime import WorkCalendar
from metrics.compare import compare
from metrics.control import laney_p_chart, p_chart, xmr_chart
from metrics.cube import KpiCube, RowCache, kpi_cube
from metrics.kpis import compute
from metrics.registry import MetricResult, defined_away
from metrics.rollup import ROLLABLE_KINDS, rollup
from metrics.significance import adjust_pvalues
from metrics.sla import _join_coded, sla_columns
from metrics.weighting import weighted_survey

__all__ = [
    "Frames",
    "OverviewPack",
    "HEADLINE_KPIS",
    "TREND_KPIS",
    "SLA_KPIS",
    "prepare",
    "overview_pack",
    "kpi_params",
    "region_rollup",
    "local_day",
]

#: The headline KPIs of the manager overview, in display order.
HEADLINE_KPIS: tuple[str, ...] = (
    "sla_arrival", "arrival_time", "sla_restoration", "sla_resolution", "online_share", "reopen_rate",
    "fcr_system", "hotline_service_level", "abandonment_rate", "asa", "hall_waiting_time",
    "csat", "csat_mean", "nps", "ces_mean", "fcr_survey", "followup_closure",
)
#: KPIs drawn as daily control charts (plus the daily volumes ``tickets`` and ``repairs``).
TREND_KPIS: tuple[str, ...] = ("sla_arrival", "arrival_time", "hotline_service_level", "online_share", "csat")
SLA_KPIS: Mapping[str, str] = MappingProxyType(
    {"sla_arrival": "arrival", "sla_restoration": "restoration", "sla_resolution": "resolution"})
VOLUME_SERIES: Mapping[str, str | None] = MappingProxyType({"tickets": None, "repairs": "repair"})

_FRAME_ATTR = {"ticket": "tickets", "contact": "contacts", "response": "responses", "answer": "answers",
               "follow_up": "follow_ups", "invitation": "invitations"}
_DAY_COLUMN = {"tickets": "created_at", "contacts": "queued_at", "responses": "submitted_at",
               "follow_ups": "created_at", "invitations": "created_at"}
_PREPARED = "__prepared__"


def no_tickets() -> pd.DataFrame:
    """An empty work-order frame with the columns the pack's preparation needs (frames of other kinds only)."""
    return pd.DataFrame(columns=["id", "region_id", "area_class", "channel", "service_type", "segment", "created_at"])


@dataclass(frozen=True, eq=False)
class Frames:
    """The fact frames of one period (columns as ``data.repositories.facts`` returns them).

    ``start`` / ``end`` are the period's UTC bounds (end exclusive); they bound system FCR and the trend's days.
    """

    tickets: pd.DataFrame
    contacts: pd.DataFrame | None = None
    responses: pd.DataFrame | None = None
    answers: pd.DataFrame | None = None
    follow_ups: pd.DataFrame | None = None
    invitations: pd.DataFrame | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    prepared: bool = False
    #: the latest contact of the period before any filter (system FCR's judgement window ends there in every
    #: filtered view: the tail is the last N days of the data, not of the filtered subset); set by :func:`prepare`
    observed_until: pd.Timestamp | None = None
    #: column arrays of the frames (attr -> :class:`~metrics.cube.RowCache`), filled by :func:`prepare` and masked
    #: by :meth:`filter`; a cache whose frame is not the one held here is ignored
    row_caches: Mapping[str, RowCache] | None = field(default=None, repr=False)

    def get(self, kind: str) -> pd.DataFrame | None:
        """The frame a registry KPI reads (``ticket``, ``contact``, ``response``, ``answer``, ``follow_up``)."""
        return getattr(self, _FRAME_ATTR.get(kind, kind), None)

    def cache(self, kind: str) -> RowCache | None:
        """The column-array cache of the frame of ``kind`` (a fresh one when none matches the frame held)."""
        attr = _FRAME_ATTR.get(kind, kind)
        df = getattr(self, attr, None)
        if df is None:
            return None
        c = (self.row_caches or {}).get(attr)
        return c if c is not None and c.valid_for(df) else RowCache(df)

    def filter(
        self,
        *,
        area_classes: Sequence[str] = (),
        channels: Sequence[str] = (),
        service_types: Sequence[str] = (),
        segments: Sequence[str] = (),
        regions: Sequence[Any] = (),
    ) -> Frames:
        """The same period narrowed in memory (a dashboard filter change; the frames are not re-read).

        ``regions`` matches the rolled-up ``region`` column of prepared frames (or ``region_id`` otherwise).
        Channel and service type apply to the work order (the contact's own channel and category for contacts);
        follow-ups follow their response.
        """
        caches = dict(self.row_caches or {})
        new_caches: dict[str, RowCache] = {}

        def take(attr: str, df: pd.DataFrame, m: np.ndarray) -> pd.DataFrame:
            out = df.loc[m]
            c = caches.get(attr)
            if c is not None and c.valid_for(df):
                new_caches[attr] = c.take(m, out)
            return out

        def mask(df: pd.DataFrame | None, kind: str) -> pd.DataFrame | None:
            if df is None:
                return None
            c = caches.get(kind)
            c = c if c is not None and c.valid_for(df) else None
            m = np.ones(len(df), dtype=bool)
            reg_col = "region" if "region" in df.columns else "region_id"
            for col, allowed in (("area_class", area_classes), (reg_col, regions), ("channel", channels),
                                 ("service_type" if kind != "contacts" else "category", service_types),
                                 ("segment", segments)):
                if allowed and col in df.columns:
                    m &= c.isin(col, tuple(allowed)) if c is not None else df[col].isin(list(allowed)).to_numpy()
            return take(kind, df, m)

        responses = mask(self.responses, "responses")
        answers = self.answers
        follow_ups = mask(self.follow_ups, "follow_ups")
        if responses is not None and (channels or service_types or segments):
            keep = responses["id"]
            if answers is not None:
                answers = take("answers", answers, answers["response_id"].isin(keep).to_numpy())
            if follow_ups is not None:
                follow_ups = take("follow_ups", follow_ups, follow_ups["response_id"].isin(keep).to_numpy())
        elif answers is not None and responses is not None:
            answers = take("answers", answers, answers["response_id"].isin(responses["id"]).to_numpy())
        return replace(self, tickets=mask(self.tickets, "tickets"), contacts=mask(self.contacts, "contacts"),
                       responses=responses, answers=answers, follow_ups=follow_ups,
                       invitations=mask(self.invitations, "invitations"),
                       row_caches=MappingProxyType(new_caches))


@dataclass(frozen=True, eq=False)
class OverviewPack:
    """The overview: ``headline`` (KPI -> MetricResult; ``extra`` carries the comparison), ``comparison`` (one row
    per KPI: current, previous, difference, its interval, p, Holm-adjusted p, significant), ``breakdown`` (one row
    per KPI x region x channel, with the comparison and Benjamini-Hochberg-adjusted p per KPI), ``trend`` (one row
    per series x day with the control limits and flags), ``out_of_control`` (the flagged trend rows) and
    ``weighted`` (CSAT / NPS weighted to the service log beside the unweighted values, deff, effective n)."""

    headline: Mapping[str, MetricResult]
    comparison: pd.DataFrame
    breakdown: pd.DataFrame
    trend: pd.DataFrame
    out_of_control: pd.DataFrame
    weighted: pd.DataFrame
    by: tuple[str, ...]
    notes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def headline_frame(self) -> pd.DataFrame:
        rows = [{"kpi": k, "value": r.value, "n": r.n, "ci_low": r.ci_low, "ci_high": r.ci_high,
                 "target": r.target, "status": r.status, "unit": r.unit} for k, r in self.headline.items()]
        return pd.DataFrame(rows, columns=["kpi", "value", "n", "ci_low", "ci_high", "target", "status", "unit"])


# --- preparation -------------------------------------------------------------------------------------------------


def local_day(values: pd.Series, tz: str) -> pd.Series:
    """Local calendar day (naive midnight timestamps) of UTC timestamps."""
    s = values if isinstance(values.dtype, pd.DatetimeTZDtype) else pd.to_datetime(values, utc=True)
    return s.dt.tz_convert(tz).dt.tz_localize(None).dt.floor("D")


def region_rollup(regions: pd.DataFrame, root_path: str | None = None) -> pd.Series:
    """Map every region id to its ancestor at the first level below ``root_path`` (the scope root) that branches,
    from the materialised ``path`` column (``/1/3/17/``): a province scope whose data sit under one city breaks down
    by that city's counties. Regions above that level map to themselves; regions outside the root are left out.
    ``root_path`` defaults to the shortest path in the frame. Works per region (hundreds), not per data row."""
    if regions.empty:
        return pd.Series(dtype="Int64")
    paths = regions["path"].astype(str)
    root = root_path if root_path is not None else min(paths, key=len)
    inside = paths.str.startswith(root)
    parts = paths[inside].str.strip("/").str.split("/").tolist()
    depth = len(root.strip("/").split("/"))
    while True:
        below = {p[depth] for p in parts if len(p) > depth}
        deeper = any(len(p) > depth + 1 for p in parts)
        if len(below) == 1 and deeper:
            depth += 1
            continue
        break
    child = [p[depth] if len(p) > depth else p[-1] for p in parts]
    return pd.Series(np.asarray(child, dtype=np.int64), index=regions.loc[inside, "id"].to_numpy(), name="region")


def prepare(
    frames: Frames | Aggregated,
    policies: pd.DataFrame,
    calendar: WorkCalendar,
    *,
    regions: pd.DataFrame | None = None,
    root_path: str | None = None,
    pack: str | None = None,
) -> Any:
    """Join the SLA limits (arrival, restoration, resolution) onto the work orders, add the rolled-up ``region``
    (or a copy of ``region_id`` without a region tree) and the local ``day`` to every frame (for
    :class:`~metrics.aggregate.Aggregated`, to its rows: cells are stored prepared)."""
    return _prepare_source(frames, policies, calendar, regions=regions, root_path=root_path, pack=pack, warm=True)


def _prepare_source(src: Frames | Aggregated, policies: pd.DataFrame, calendar: WorkCalendar, *,
                    regions: pd.DataFrame | None, root_path: str | None, pack: str | None, warm: bool) -> Any:
    if isinstance(src, Aggregated):
        if src.rows.prepared:
            return src
        rows = replace(src.rows, observed_until=src.contacts_until)
        return replace(src, rows=_prepare(rows, policies, calendar, regions=regions, root_path=root_path,
                                          pack=pack, warm=warm))
    return _prepare(src, policies, calendar, regions=regions, root_path=root_path, pack=pack, warm=warm)


def _prepare(frames: Frames, policies: pd.DataFrame, calendar: WorkCalendar, *, regions: pd.DataFrame | None,
             root_path: str | None, pack: str | None, warm: bool) -> Frames:
    """:func:`prepare`; ``warm`` fills the column caches for later filtered views (a one-off pack fills only what
    it reads)."""
    if frames.prepared:
        return frames
    rollup = region_rollup(regions, root_path) if regions is not None else None

    def add(df: pd.DataFrame | None, attr: str, copy: bool = True) -> pd.DataFrame | None:
        if df is None:
            return None
        df = df.copy() if copy else df
        if "region_id" in df.columns:
            rid = df["region_id"]
            df["region"] = rid.map(rollup).astype("Int64") if rollup is not None else rid
        day_col = _DAY_COLUMN.get(attr)
        if day_col and day_col in df.columns:
            df["day"] = local_day(df[day_col], calendar.tz)
        return df

    tickets, limit_codes = _join_coded(frames.tickets, policies, tuple(SLA_KPIS.values()), pack=pack, suffix=True)
    until = frames.observed_until
    if until is None and frames.contacts is not None and "queued_at" in frames.contacts.columns \
            and frames.contacts["queued_at"].notna().any():
        until = pd.to_datetime(frames.contacts["queued_at"], utc=True).max()
    out = replace(frames, tickets=add(tickets, "tickets", copy=False), contacts=add(frames.contacts, "contacts"),
                  responses=add(frames.responses, "responses"), follow_ups=add(frames.follow_ups, "follow_ups"),
                  invitations=add(frames.invitations, "invitations"), prepared=True, row_caches=None,
                  observed_until=until)
    seed = {("codes", col): v for col, v in limit_codes.items()}
    caches = _warm_caches(out, calendar, seed=seed) if warm else _empty_caches(out, calendar, seed=seed)
    return replace(out, row_caches=MappingProxyType(caches))


def _empty_caches(frames: Frames, calendar: WorkCalendar, seed: Mapping[Any, Any] | None = None
                  ) -> dict[str, RowCache]:
    """Empty column caches of prepared frames (``seed``: ticket arrays already known, e.g. the limit codes)."""
    out = {attr: RowCache(df, calendar=calendar) for attr, df in (
        ("tickets", frames.tickets), ("contacts", frames.contacts), ("responses", frames.responses),
        ("follow_ups", frames.follow_ups)) if df is not None}
    if seed and "tickets" in out:
        out["tickets"].arrays.update(seed)
    return out


def _warm_caches(frames: Frames, calendar: WorkCalendar, kpis: Sequence[str] = HEADLINE_KPIS,
                 by: Sequence[str] = ("region", "channel"), seed: Mapping[Any, Any] | None = None
                 ) -> dict[str, RowCache]:
    """Column-array caches of prepared frames with everything the default pack reads (one pass over the KPIs on
    the whole period: the arrays a filtered view needs are then masks of these)."""
    caches = _empty_caches(frames, calendar, seed)
    warm = replace(frames, row_caches=MappingProxyType(caches))
    for k in kpis:  # the fast cubes only: warming must never fail or recompute where prepare did not before
        cache = warm.cache(registry.get(k).frame)
        if cache is None or registry.get(k).kind not in ROLLABLE_KINDS:
            continue
        grain = tuple(b for b in by if cache.has(b)) + (("day",) if cache.has("day") else ())
        with contextlib.suppress(Exception):  # a frame the pack cannot use either: the pack reports it, not prepare
            kpi_cube(k, cache, grain, kpi_params(k, warm, calendar))
    for c in caches.values():
        for col in ("area_class", "segment", "service_type", "category", "channel"):
            if c.has(col):
                c.codes(col)
    return caches


def kpi_params(kpi: str, frames: Frames, calendar: WorkCalendar) -> dict[str, Any]:
    """The keyword arguments ``compute`` needs for ``kpi`` over prepared ``frames``."""
    if kpi in SLA_KPIS:
        return {**sla_columns(SLA_KPIS[kpi]), "calendar": calendar}
    if kpi == "fcr_system":
        out = {"period_start": frames.start, "period_end": frames.end}
        return out if frames.observed_until is None else {**out, "observed_until": frames.observed_until}
    return {}


# --- the pack ----------------------------------------------------------------------------------------------------


def _supports(kpi: str, by: Sequence[str]) -> bool:
    bd = set(registry.get(kpi).breakdowns)
    alias = {"region": "region_id", "day": "period"}
    return all(alias.get(b, b) in bd for b in by)


@dataclass(frozen=True, eq=False)
class _Cube:
    """One KPI's fine-grained result and how to get coarser ones from it (rolled up, or recomputed for KPIs that
    cannot be rolled up)."""

    kpi: str
    frame: pd.DataFrame  # the KPI's input rows
    fine: pd.DataFrame | None  # compute(..., by=grain) when the KPI can be rolled up
    grain: tuple[str, ...]
    params: Mapping[str, Any]
    fast: KpiCube | None = None  # the same sums from row arrays (metrics.cube), when the KPI has a fast path

    def at(self, by: Sequence[str]) -> pd.DataFrame:
        if self.fast is not None:
            return self.fast.at(list(by))
        if self.fine is not None:
            return rollup(self.fine, self.kpi, list(by))
        return compute(self.kpi, self.frame, by=list(by), **self.params)

    def table(self, by: Sequence[str]) -> dict[str, Any]:
        """:meth:`at` as a mapping of column arrays (the fast cube builds no frame)."""
        if self.fast is not None:
            return self.fast.table(list(by))
        df = self.at(by)
        return {c: df[c].array for c in df.columns}


def _stack(tables: Sequence[Mapping[str, Any]], cols: Sequence[str]) -> pd.DataFrame:
    """One frame of ``cols`` from several result tables, as ``pd.concat`` of their frames would give it (a column
    missing from a table is left out of that table, like the missing values concat fills in)."""
    cols = [c for c in cols if any(c in t for t in tables)]
    data: dict[str, Any] = {}
    n = sum(len(t["value"]) for t in tables)
    for c in cols:
        parts = [t[c] for t in tables if c in t]
        if len(parts) == len(tables) and all(type(p) is type(parts[0]) and p.dtype == parts[0].dtype
                                             for p in parts):
            data[c] = np.concatenate(parts) if isinstance(parts[0], np.ndarray) else \
                type(parts[0])._concat_same_type(parts)
        else:  # mixed dtypes / a missing column: pandas' own rules
            data[c] = pd.concat([pd.DataFrame({c: t[c]}) if c in t else
                                 pd.DataFrame(index=pd.RangeIndex(len(t["value"]))) for t in tables],
                                ignore_index=True)[c].array
        if isinstance(data[c], pd.arrays.NumpyExtensionArray):  # keep object columns object (no re-inference)
            data[c] = pd.Series(data[c].to_numpy(), dtype=data[c].dtype.numpy_dtype, index=pd.RangeIndex(n))
    return pd.DataFrame(data, index=pd.RangeIndex(n))


def _cubes(src: Frames | Aggregated, kpis: Sequence[str], by: Sequence[str], calendar: WorkCalendar,
           with_day: bool) -> dict[str, _Cube]:
    """One compute() per KPI at the finest grain the pack needs (``by`` x day); everything else is rolled up.
    From :class:`~metrics.aggregate.Aggregated`, work-order and contact KPIs add the cells to their rows' cube."""
    out = {}
    frames = src.rows if isinstance(src, Aggregated) else src
    for k in kpis:
        df = frames.get(registry.get(k).frame)
        if df is None:
            continue
        params = kpi_params(k, frames, calendar)
        cells = src.cells.get(_FRAME_ATTR[registry.get(k).frame]) if isinstance(src, Aggregated) else None
        if isinstance(src, Aggregated) and cells is not None:
            grain = tuple(b for b in by if b in cells.columns) + (("day",) if with_day else ())
            fast = cell_cube(src, k, grain, params, calendar.tz)
            if fast is None:
                raise ValueError(f"{k}: the pre-aggregated cells hold no sums for it (rebuild them with it)")
            out[k] = _Cube(k, cells, None, grain, MappingProxyType(params), fast)
            continue
        grain = tuple(b for b in by if b in df.columns) + (("day",) if with_day and "day" in df.columns else ())
        rollable = registry.get(k).kind in ROLLABLE_KINDS
        cache = frames.cache(registry.get(k).frame)
        fast = kpi_cube(k, cache, grain, params) if rollable and cache is not None else None
        fine = compute(k, df, by=list(grain), **params) if rollable and fast is None else None
        out[k] = _Cube(k, df, fine, grain, MappingProxyType(params), fast)
    return out


def _compare_cells(cur: Mapping[str, Mapping[str, Any]], prev: Mapping[str, Mapping[str, Any]], by: Sequence[str],
                   adjust: str, family: str = "kpi") -> pd.DataFrame:
    """Compare every KPI's cells (one compare() call per KPI kind, the KPI being a group column); p-values
    adjusted with ``adjust`` across the cells of each KPI (``family="kpi"``) or across all rows (``"all"``)."""
    parts = []
    kinds: dict[str, list[str]] = {}
    for k in cur:
        kinds.setdefault(registry.get(k).kind, []).append(k)
    for kind, kind_kpis in kinds.items():
        # only the columns compare() reads (concatenating every KPI's extras would only be thrown away)
        need = ["kpi", *by, "value", "n", *_COMPARE_EXTRAS.get(kind, ())]
        c = _stack([cur[k] for k in kind_kpis], need)
        prev_tables = [prev[k] for k in kind_kpis if k in prev]
        p = _stack(prev_tables, need) if prev_tables else c.iloc[0:0]
        parts.append(compare(c, p, kpi=kind_kpis[0], by=["kpi", *by], adjust="none"))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["kpi", *by, "pvalue"])
    pv = out["pvalue"].to_numpy(float)
    if family == "all":
        adj = np.asarray(adjust_pvalues(pv, adjust), float)
    else:
        adj = np.full(len(out), np.nan)
        codes, _ = pd.factorize(out["kpi"])
        for g in range(int(codes.max(initial=-1)) + 1):  # per KPI (~20), not per row
            at = np.flatnonzero(codes == g)
            adj[at] = adjust_pvalues(pv[at], adjust)
    out["pvalue_adj"] = adj
    out["significant"] = np.nan_to_num(out["pvalue_adj"].to_numpy(float), nan=1.0) < 0.05
    out["adjust"] = adjust
    return out


_COMPARE_EXTRAS = {"proportion": ("successes",), "mean": ("sd",), "nps": ("promoters", "detractors"),
                   "rate": ("events", "exposure")}


def _chart_rows(series: str, kpi: str | None, days: pd.DatetimeIndex, values: pd.Series, n: pd.Series,
                successes: pd.Series | None, laney_min_n: float) -> pd.DataFrame:
    value = values.reindex(days).to_numpy(float)
    nn = n.reindex(days).fillna(0)
    if successes is not None:
        x = successes.reindex(days).fillna(0).to_numpy(float)
        m = nn.to_numpy(float)
        use_laney = bool(np.nanmean(np.where(m > 0, m, np.nan)) >= laney_min_n) if (m > 0).any() else False
        ch = (laney_p_chart if use_laney else p_chart)(x, m)
        value = ch.values
        lcl, ucl = ch.lcl, ch.ucl
        beyond, run = ch.beyond, ch.run
    else:
        ok = np.isfinite(value)
        ch = xmr_chart(value[ok])
        lcl = np.full(len(days), np.nan)
        ucl = np.full(len(days), np.nan)
        beyond = np.zeros(len(days), bool)
        run = np.zeros(len(days), bool)
        lcl[ok], ucl[ok], beyond[ok], run[ok] = ch.lcl, ch.ucl, ch.beyond, ch.run
    vv = np.asarray(value, float)
    direction = np.full(len(vv), None, dtype=object)
    with np.errstate(invalid="ignore"):
        direction[vv < np.asarray(lcl, float)] = "low"
        direction[vv > np.asarray(ucl, float)] = "high"
    # one frame from arrays (the same columns and dtypes as inserting them one by one)
    return pd.DataFrame({"day": days, "series": series, "kpi": kpi, "value": value,
                         "n": nn.to_numpy(np.int64), "center": ch.center, "lcl": lcl, "ucl": ucl, "beyond": beyond,
                         "run": run, "signal": np.asarray(beyond, bool) | np.asarray(run, bool), "chart": ch.kind,
                         "direction": direction})


def _days(frames: Frames | Aggregated, tz: str) -> pd.DatetimeIndex:
    if frames.start is not None and frames.end is not None:
        lo = pd.Timestamp(frames.start).tz_convert(tz).tz_localize(None).floor("D")
        hi = (pd.Timestamp(frames.end) - pd.Timedelta(microseconds=1)).tz_convert(tz).tz_localize(None).floor("D")
        return pd.date_range(lo, hi, freq="D")
    t = frames.rows.tickets if isinstance(frames, Aggregated) else frames.tickets
    d = t["day"] if "day" in t.columns else pd.Series(dtype="datetime64[ns]")
    if d.dropna().empty:
        return pd.DatetimeIndex([])
    return pd.date_range(d.min(), d.max(), freq="D")


def _trend(frames: Frames | Aggregated, cubes: Mapping[str, _Cube], kpis: Sequence[str], tz: str,
           laney_min_n: float) -> pd.DataFrame:
    days = _days(frames, tz)
    parts = []
    for name, stype in VOLUME_SERIES.items():
        if isinstance(frames, Aggregated):
            per_day = frames.day_counts(stype)
        else:
            t = frames.tickets
            per_day = (t["day"] if stype is None else t.loc[t["service_type"] == stype, "day"]).value_counts()
        counts = per_day.reindex(days, fill_value=0).astype(float)
        rows = _chart_rows(name, None, days, counts, counts, None, laney_min_n)
        rows["lcl"] = rows["lcl"].clip(lower=0.0)  # a count cannot go below zero
        parts.append(rows)
    for k in kpis:
        if k not in cubes or "day" not in cubes[k].frame.columns:
            continue
        r = cubes[k].table(["day"])
        idx = pd.Index(r["day"], name="day")
        kind = registry.get(k).kind
        # a day without the KPI's input is a gap (no value, out of the control limits), never a 0 point
        measured = ~np.asarray(pd.Series(r["status"]) == "no_data", bool) if "status" in r else True
        n = pd.Series(np.where(measured, np.asarray(r["n"], float), 0.0), index=idx)
        succ = pd.Series(np.where(measured, np.asarray(r["successes"], float), 0.0), index=idx) \
            if kind == "proportion" and "successes" in r else None
        parts.append(_chart_rows(k, k, days, pd.Series(r["value"], index=idx), n, succ, laney_min_n))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def overview_pack(
    current: Frames | Aggregated,
    previous: Frames | Aggregated | None,
    policies: pd.DataFrame,
    calendar: WorkCalendar,
    *,
    regions: pd.DataFrame | None = None,
    root_path: str | None = None,
    pack: str | None = None,
    kpis: Sequence[str] = HEADLINE_KPIS,
    by: Sequence[str] = ("region", "channel"),
    trend_kpis: Sequence[str] = TREND_KPIS,
    headline_adjust: str = "holm",
    cell_adjust: str = "bh",
    laney_min_n: float = 500.0,
    weight_margins: Sequence[str] = ("region", "channel", "service_type"),
    filters: Mapping[str, Sequence[str]] | None = None,
) -> OverviewPack:
    """All headline KPIs with intervals and comparison, the ``by`` breakdown, the daily trend and weighted CSAT/NPS.

    Headline comparison: ``compare`` per KPI (Newcombe / Welch / NPS Wald / Poisson by kind), p-values adjusted
    across the headline KPIs with ``headline_adjust`` (Holm: "flag this KPI"). Breakdown comparison: per KPI across
    its cells with ``cell_adjust`` (Benjamini-Hochberg: an exploratory heat map). KPIs whose registry breakdowns
    do not include every ``by`` column are left out of the breakdown (listed in ``notes["breakdown_skipped"]``).
    Trend: daily p-chart for proportions (Laney p' when the mean daily n >= ``laney_min_n``), XmR for means and
    for the daily volumes; every day of the period appears (n = 0 days have no value).
    """
    cur = _prepare_source(current, policies, calendar, regions=regions, root_path=root_path, pack=pack, warm=False)
    prev = _prepare_source(previous, policies, calendar, regions=regions, root_path=root_path, pack=pack,
                           warm=False) if previous is not None else None
    by = tuple(by)
    cubes = _cubes(cur, kpis, by, calendar, with_day=True)
    cubes_prev = _cubes(prev, kpis, by, calendar, with_day=False) if prev is not None else {}
    head = {k: c.table([]) for k, c in cubes.items()}
    head_prev = {k: c.table([]) for k, c in cubes_prev.items()}
    comparison = _compare_cells(head, head_prev, [], headline_adjust, family="all")
    comparison = comparison.set_index("kpi").reindex(list(head)).reset_index()
    headline: dict[str, MetricResult] = {}
    crows = {c: comparison[c].to_numpy(dtype=object) for c in
             ("value_previous", "n_previous", "diff", "diff_low", "diff_high", "pvalue", "pvalue_adj", "significant",
              "method")}
    for i, (k, h) in enumerate(head.items()):  # one row per KPI (~20), not per data row
        row = {c: v[0] for c, v in h.items()}
        extra = {c: _py(v) for c, v in row.items() if c not in
                 ("kpi", "value", "n", "ci_low", "ci_high", "target", "status", "unit")}
        extra.update({"previous": _py(crows["value_previous"][i]), "n_previous": _py(crows["n_previous"][i]),
                      "diff": _py(crows["diff"][i]), "diff_low": _py(crows["diff_low"][i]),
                      "diff_high": _py(crows["diff_high"][i]), "pvalue": _py(crows["pvalue"][i]),
                      "pvalue_adj": _py(crows["pvalue_adj"][i]), "significant": bool(crows["significant"][i]),
                      "compare_method": crows["method"][i]})
        headline[k] = MetricResult(kpi=k, value=float(row["value"]), n=int(row["n"]), ci_low=float(row["ci_low"]),
                                   ci_high=float(row["ci_high"]), target=float(row["target"]),
                                   status="not_applicable" if defined_away(k, filters or {}) else row["status"],
                                   unit=row["unit"], extra=MappingProxyType(extra))
    cell_kpis = [k for k, c in cubes.items() if _supports(k, by) and all(b in c.frame.columns for b in by)]
    cells = {k: cubes[k].table(by) for k in cell_kpis}
    cells_prev = {k: cubes_prev[k].table(by) for k in cell_kpis if k in cubes_prev}
    breakdown = _breakdown(cells, cells_prev, by, cell_adjust)
    trend = _trend(cur, cubes, trend_kpis, calendar.tz, laney_min_n)
    ooc = trend.loc[trend["signal"]].reset_index(drop=True) if len(trend) else trend
    weighted = pd.DataFrame()
    rows = cur.rows if isinstance(cur, Aggregated) else cur
    volumes = cur.volumes() if isinstance(cur, Aggregated) else {
        "tickets": len(cur.tickets), "responses": 0 if cur.responses is None else len(cur.responses),
        "open": int(cur.tickets["resolved_at"].isna().sum()) if "resolved_at" in cur.tickets.columns else 0}
    if rows.responses is not None and len(rows.responses) and volumes["tickets"]:
        margins = [m for m in weight_margins if m in rows.responses.columns]
        log = cur.service_log(margins) if isinstance(cur, Aggregated) else cur.tickets
        weighted = weighted_survey(rows.responses, log, margins=margins)
    notes = {"breakdown_skipped": tuple(k for k in kpis if k not in cells), "volumes": MappingProxyType(volumes),
             "laney_min_n": laney_min_n, "headline_adjust": headline_adjust, "cell_adjust": cell_adjust}
    return OverviewPack(MappingProxyType(headline), comparison, breakdown, trend, ooc, weighted, by,
                        MappingProxyType(notes))


def _breakdown(cells: Mapping[str, Mapping[str, Any]], prev: Mapping[str, Mapping[str, Any]] | None,
               by: Sequence[str], adjust: str) -> pd.DataFrame:
    if not cells:
        return pd.DataFrame(columns=["kpi", *by, "value", "n", "ci_low", "ci_high", "target", "status"])
    base = _stack(list(cells.values()), [*by, "value", "n", "ci_low", "ci_high", "target", "status", "kpi"])
    cmp = _compare_cells(cells, prev or {}, by, adjust)
    keep = ["kpi", *by, "value_previous", "n_previous", "diff", "diff_low", "diff_high", "pvalue", "pvalue_adj",
            "significant"]
    out = base.merge(cmp[keep], on=["kpi", *by], how="left") if len(cmp) else base
    return out[["kpi"] + [c for c in out.columns if c != "kpi"]]


def _py(v: Any) -> Any:
    if v is pd.NA or v is pd.NaT:
        return None
    return v.item() if hasattr(v, "item") else v
