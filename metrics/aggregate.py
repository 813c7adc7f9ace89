"""Pre-aggregated KPI cells: the overview of a province without re-reading its raw history.

A *cell* is one (local day, region, area class, channel, service type / category, segment) of one fact partition.
:func:`build_cells` sums, per cell, every row-level part the overview's KPIs roll up (the same parts
:func:`metrics.cube.kpi_cube` sums: bases, successes, counts, first and second moments), so any filter on those
dimensions and any roll-up to the pack's grains (headline, region x channel, day) is a sum over cells — exact, not
estimated. The caller (``reports.aggregates``) stores the cells beside the fact partition they came from, under the
same version token, and hands the pack an :class:`Aggregated`: cells for the whole local days of the period plus
the rows cells cannot stand for, which go through the row path of :mod:`metrics.cube` with the period-wide
parameters:

* work orders still open against a time limit (their SLA status depends on the censoring time: the latest
  timestamp of the period's rows, which is the maximum of the cells' and the rows' own maxima);
* the partial local days at the period's edges (a period bounded at UTC midnight cuts two local days);
* for system FCR, the contacts of the local day holding the judgement cut-off (``until`` − N days): cells store
  every judgeable contact as if nothing were in the tail, and whole days after the cut-off move to the tail.

Rows and cells never overlap, so sums add. Nothing here reads a file or a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from metrics import registry
from metrics.businesstime import WorkCalendar
from metrics.cube import NAT, KpiCube, RowCache, kpi_cube
from metrics.kpis import SLA_INTERVALS

__all__ = ["DIMS", "ALL_DIMS", "Aggregated", "CellTable", "build_cells", "unsettled_tickets", "cell_cube", "ROWS", "OPEN",
           "UNTIL"]

#: The cell dimensions per frame (contacts carry their own channel and business category).
DIMS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "tickets": ("day", "region", "area_class", "channel", "service_type", "segment"),
    "contacts": ("day", "region", "area_class", "channel", "category", "segment"),
})
_KIND = {"tickets": "ticket", "contacts": "contact"}
ROWS = "__rows"  # rows per cell (volumes)
OPEN = "__open"  # work orders without a resolution time (the overview's open count)
UNTIL = "__until"  # latest queued_at of a contact cell (system FCR's judgement window)
_CUT = ":__cut"  # per SLA KPI: the latest of its start, end and created_at in the cell
_PRESENT = ":__present"  # per KPI: 1 when the cell holds rows of the KPI


def cell_kpis(attr: str, kpis: Sequence[str]) -> tuple[str, ...]:
    return tuple(k for k in kpis if registry.get(k).frame == _KIND[attr])


def _sla_interval(kpi: str) -> str | None:
    k = registry.get(kpi)
    return k.params.get("interval") if k.kind == "proportion" and kpi.startswith("sla_") else None


def unsettled_tickets(cache: RowCache, kpis: Sequence[str], params: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """Work orders whose SLA status still depends on the censoring time: started, not ended and under a limit for
    any of the SLA KPIs among ``kpis`` (``params``: each KPI's keyword arguments, with the limit column)."""
    out = np.zeros(len(cache.df), bool)
    for k in kpis:
        iv = _sla_interval(k)
        if iv is None:
            continue
        s_col, e_col = SLA_INTERVALS[iv]
        limit_col = params[k].get("limit_col", "limit_value")
        if not (cache.has(s_col) and cache.has(e_col) and cache.has(limit_col)):
            continue
        out |= (cache.ts(s_col) != NAT) & (cache.ts(e_col) == NAT) & ~np.isnan(cache.num(limit_col))
    return out


def build_cells(cache: RowCache, attr: str, kpis: Sequence[str], params: Mapping[str, Mapping[str, Any]],
                ) -> pd.DataFrame:
    """The cells of one partition's prepared rows (``cache`` over the rows cells stand for: for work orders the
    settled ones) with, per KPI of ``kpis`` on this frame, its sums (``<kpi>:<sum>``) and presence; ``params``
    are the KPIs' keyword arguments (system FCR is built without a tail: pass ``observed_until`` far ahead)."""
    dims = [d for d in DIMS[attr] if cache.has(d)]
    codes = [cache.codes(d) for d in dims]
    shape = [max(len(u), 1) for _c, u in codes]
    flat = np.ravel_multi_index([c for c, _u in codes], shape) if dims else np.zeros(len(cache.df), np.int64)
    keys, inv = np.unique(flat, return_inverse=True)
    parts = np.unravel_index(keys, shape) if dims else ()
    out: dict[str, Any] = {d: u.take(p) for d, (_c, u), p in zip(dims, codes, parts, strict=True)}
    out[ROWS] = np.bincount(inv, minlength=len(keys)).astype(np.int64)
    if attr == "tickets" and cache.has("resolved_at"):
        out[OPEN] = np.bincount(inv, weights=cache.ts("resolved_at") == NAT, minlength=len(keys)).astype(np.int64)
    if attr == "contacts" and cache.has("queued_at"):
        out[UNTIL] = _cell_max(inv, len(keys), cache.ts("queued_at"))
    for k in cell_kpis(attr, kpis):
        cube = kpi_cube(k, cache, dims, params[k])
        if cube is None:
            raise ValueError(f"{k}: no exact cube for these parameters; cells cannot stand for its rows")
        at = np.searchsorted(keys, np.ravel_multi_index(cube.cell_codes, shape) if dims else np.zeros(
            len(next(iter(cube.sums.values()))), np.int64))
        present = np.zeros(len(keys), np.int8)
        present[at] = 1
        out[k + _PRESENT] = present
        for name, v in cube.sums.items():
            col = np.zeros(len(keys))
            col[at] = v
            out[f"{k}:{name}"] = _compact(col)
        iv = _sla_interval(k)
        if iv is not None:
            s_col, e_col = SLA_INTERVALS[iv]
            row_max = np.maximum.reduce([cache.ts(c) for c in dict.fromkeys((s_col, e_col, "created_at"))
                                         if cache.has(c)])
            out[k + _CUT] = _cell_max(inv, len(keys), row_max)
    return pd.DataFrame(out)


def _compact(col: np.ndarray) -> np.ndarray:
    """A sum column as int32 when it holds counts (most do): half the bytes to store and read, the same values."""
    if len(col) and np.all(col == np.floor(col)) and np.abs(col).max() < 2**31:
        return col.astype(np.int32)
    return col


def _cell_max(inv: np.ndarray, n: int, values: np.ndarray) -> np.ndarray:
    out = np.full(n, NAT, np.int64)
    np.maximum.at(out, inv, values)
    return out


# --- the period: cells + remaining rows ----------------------------------------------------------------------------


@dataclass(eq=False)
class CellTable:
    """Cells of one frame as column arrays: each dimension as integer codes into its distinct values (sorted,
    missing last: what :meth:`metrics.cube.RowCache.codes` gives rows), every other column as a numpy array."""

    n: int
    codes: dict[str, np.ndarray]
    uniques: dict[str, pd.Index]
    values: dict[str, np.ndarray]

    @classmethod
    def from_columns(cls, columns: Mapping[str, Any]) -> CellTable:
        """From column-like values (a DataFrame's columns, or Series built from a stored table)."""
        codes, uniques, values = {}, {}, {}
        n = 0
        for name, col in columns.items():
            n = len(col)
            if name not in ALL_DIMS:  # no Series around plain arrays (pandas would copy them)
                values[name] = col.to_numpy() if isinstance(col, pd.Series) else np.asarray(col)
                continue
            s = col if isinstance(col, pd.Series) else pd.Series(col)
            if isinstance(s.dtype, pd.CategoricalDtype):  # stored as a dictionary
                cats = s.cat.categories.sort_values()
                cd = s.cat.reorder_categories(cats).cat.codes.to_numpy().astype(np.int64)
                if (cd < 0).any():  # missing values last, as factorize(use_na_sentinel=False) puts them
                    cd[cd < 0] = len(cats)
                    cats = cats.append(pd.Index([None], dtype=cats.dtype))
                codes[name], uniques[name] = cd, cats
            else:
                cd, u = pd.factorize(s, sort=True, use_na_sentinel=False)
                idx = pd.Index(u)
                codes[name], uniques[name] = cd.astype(np.int64), idx if idx.dtype == s.dtype else idx.astype(s.dtype)
        return cls(n, codes, uniques, values)

    @property
    def columns(self) -> list[str]:
        return [*self.codes, *self.values]

    def has(self, name: str) -> bool:
        return name in self.codes or name in self.values

    def isin(self, dim: str, allowed: Sequence[Any]) -> np.ndarray:
        return np.asarray(self.uniques[dim].isin(list(allowed)), dtype=bool)[self.codes[dim]]

    def take(self, rows: np.ndarray) -> CellTable:
        """The cells at ``rows`` (positions or a mask); distinct values are kept."""
        rows = np.flatnonzero(rows) if rows.dtype == bool else rows
        return CellTable(len(rows), {k: v[rows] for k, v in self.codes.items()}, dict(self.uniques),
                         {k: v[rows] for k, v in self.values.items()})

    def keys(self, dim: str, rows: np.ndarray) -> pd.Series:
        """The values of ``dim`` at ``rows``."""
        return pd.Series(self.uniques[dim].take(self.codes[dim][rows]))


ALL_DIMS = frozenset(d for dims in DIMS.values() for d in dims)


@dataclass(frozen=True, eq=False)
class Aggregated:
    """One period for the overview from pre-aggregated cells.

    ``cells``: per frame (``tickets``, ``contacts``) the cells of the whole local days the period covers (for
    contacts without the day of system FCR's cut-off); ``rows``: a :class:`metrics.overview.Frames` with every row
    the cells do not stand for (open work orders of those days, all rows of the partial days and of the cut-off day,
    the responses and follow-ups of the period); ``contacts_until``: the latest contact of the period in scope
    (unfiltered), which fixes system FCR's cut-off for every filtered view; ``cell_masks``: the cells a filtered
    view keeps."""

    cells: Mapping[str, CellTable]
    rows: Any  # metrics.overview.Frames (not imported here: overview imports this module)
    start: pd.Timestamp
    end: pd.Timestamp
    contacts_until: pd.Timestamp | None = None
    cell_masks: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def prepared(self) -> bool:
        return bool(self.rows.prepared)

    def kept(self, attr: str) -> np.ndarray:
        """Positions of the cells of ``attr`` in this (possibly filtered) view."""
        m = self.cell_masks.get(attr)
        return np.arange(self.cells[attr].n) if m is None else np.flatnonzero(m)

    def filter(self, *, area_classes: Sequence[str] = (), channels: Sequence[str] = (),
               service_types: Sequence[str] = (), segments: Sequence[str] = (), regions: Sequence[Any] = ()
               ) -> Aggregated:
        """The same narrowing as :meth:`metrics.overview.Frames.filter`, on the cells (a mask) and on the rows."""
        masks = {}
        for attr, cells in self.cells.items():
            m = np.ones(cells.n, bool) if attr not in self.cell_masks else self.cell_masks[attr].copy()
            stype = "category" if attr == "contacts" else "service_type"
            for col, allowed in (("area_class", area_classes), ("region", regions), ("channel", channels),
                                 (stype, service_types), ("segment", segments)):
                if allowed and col in cells.codes:
                    m &= cells.isin(col, allowed)
            masks[attr] = m
        rows = self.rows.filter(area_classes=area_classes, channels=channels, service_types=service_types,
                                segments=segments, regions=regions)
        return replace(self, rows=rows, cell_masks=MappingProxyType(masks))

    def volumes(self) -> dict[str, int]:
        """Work orders, open work orders and survey responses of this view."""
        rt = self.rows.tickets
        n_open = int(rt["resolved_at"].isna().sum()) if "resolved_at" in rt.columns else 0
        n = len(rt)
        if "tickets" in self.cells:
            t, at = self.cells["tickets"], self.kept("tickets")
            n += int(t.values[ROWS][at].sum())
            n_open += int(t.values[OPEN][at].sum()) if OPEN in t.values else 0
        return {"tickets": n, "open": n_open,
                "responses": 0 if self.rows.responses is None else len(self.rows.responses)}

    def day_counts(self, service_type: str | None = None) -> pd.Series:
        """Work orders per local day (of one service type)."""
        rt = self.rows.tickets
        parts = []
        if "tickets" in self.cells and self.cells["tickets"].n:
            t, at = self.cells["tickets"], self.kept("tickets")
            if service_type is not None:
                at = at[t.isin("service_type", (service_type,))[at]]
            w = np.bincount(t.codes["day"][at], weights=t.values[ROWS][at], minlength=len(t.uniques["day"]))
            parts.append(pd.Series(w, index=t.uniques["day"])[w > 0])
        if len(rt):
            d = rt["day"] if service_type is None else rt.loc[rt["service_type"] == service_type, "day"]
            parts.append(d.value_counts())
        if not parts:
            return pd.Series(dtype=float)
        return pd.concat(parts).groupby(level=0).sum()

    def service_log(self, columns: Sequence[str]) -> pd.DataFrame:
        """Work orders per combination of ``columns`` (``__rows``), the service log's margins for weighting."""
        rt = self.rows.tickets
        t = self.cells.get("tickets")
        cols = [c for c in columns if c in rt.columns and (t is None or c in t.codes)]
        parts = []
        if t is not None and t.n:
            at = self.kept("tickets")
            parts.append(pd.DataFrame({**{c: t.keys(c, at) for c in cols}, ROWS: t.values[ROWS][at]}))
        if len(rt):
            parts.append(rt[cols].assign(**{ROWS: 1}))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*cols, ROWS])


def cell_cube(agg: Aggregated, kpi: str, grain: Sequence[str], params: Mapping[str, Any], tz: str
              ) -> KpiCube | None:
    """The KPI's cube at ``grain`` over cells and rows of ``agg`` (None when the KPI has no cells: use the rows)."""
    attr = {"ticket": "tickets", "contact": "contacts"}.get(registry.get(kpi).frame)
    ct = agg.cells.get(attr) if attr else None
    if attr is None or ct is None or (kpi + _PRESENT not in ct.values and ct.n):
        return None
    cache = agg.rows.cache(registry.get(kpi).frame)
    p = dict(params)
    at = agg.kept(attr) if ct.n else np.zeros(0, np.int64)
    if ct.n:
        at = at[ct.values[kpi + _PRESENT][at] > 0]
    sums = {c[len(kpi) + 1:]: ct.values[c][at].astype(float, copy=False) for c in ct.values
            if c.startswith(kpi + ":") and not c.endswith((_PRESENT, _CUT))}
    iv = _sla_interval(kpi)
    if iv is not None:
        s_col, e_col = SLA_INTERVALS[iv]
        row_max = [int(cache.ts(c).max()) for c in dict.fromkeys((s_col, e_col, "created_at"))
                   if cache.has(c) and len(cache.df)]
        cut = [int(ct.values[kpi + _CUT][at].max())] if len(at) else []
        p["censor_at"] = max([NAT, *cut, *row_max])
    if kpi == "fcr_system" and agg.contacts_until is not None:
        p["observed_until"] = agg.contacts_until
        if len(at):
            cutoff = pd.Timestamp(agg.contacts_until) - pd.Timedelta(days=int(p.get("days", 7)))
            tail = (_utc_ns(ct.uniques["day"], tz) > cutoff.as_unit("ns").value)[ct.codes["day"][at]]
            sums["n_excluded_tail"] = np.where(tail, sums["n_excluded_tail"] + sums["n"], sums["n_excluded_tail"])
            for c in ("n", "successes", "n_repeat"):
                sums[c] = np.where(tail, 0.0, sums[c])
    raw = kpi_cube(kpi, cache, list(grain), p)
    if raw is None:
        return None
    codes: list[np.ndarray] = []
    uniques: list[pd.Index] = []
    for i, g in enumerate(grain):
        u_cells = ct.uniques[g] if ct.n else None
        cell_codes = ct.codes[g][at] if ct.n else np.zeros(0, np.int64)
        if not len(raw.cell_codes[i]) and u_cells is not None:
            u, entry_codes = u_cells, cell_codes
        else:
            u_raw = raw.uniques[i]
            if u_cells is None:
                u, entry_codes = u_raw, raw.cell_codes[i]
            else:  # the union of both sets of values, re-coded in sorted order (missing last)
                u_all = u_cells.astype(u_raw.dtype).append(u_raw)
                new_codes, u_new = pd.factorize(u_all, sort=True, use_na_sentinel=False)
                u = pd.Index(u_new).astype(u_raw.dtype)
                entry_codes = np.concatenate([new_codes[:len(u_cells)][cell_codes],
                                              new_codes[len(u_cells):][raw.cell_codes[i]]])
        codes.append(np.asarray(entry_codes, np.int64))
        uniques.append(u)
    sums = {k: np.concatenate([v, raw.sums[k]]) for k, v in sums.items()} if len(at) else dict(raw.sums)
    return _cube_of(kpi, tuple(grain), codes, uniques, sums)


def _cube_of(kpi: str, grain: tuple[str, ...], codes: Sequence[np.ndarray], uniques: Sequence[pd.Index],
             sums: Mapping[str, np.ndarray]) -> KpiCube:
    """A cube from per-entry codes and sums (repeated cells are added up)."""
    if not grain:
        return KpiCube(kpi, grain, (), (), {k: np.array([v.sum()]) for k, v in sums.items()})
    shape = [max(len(u), 1) for u in uniques]
    flat = np.ravel_multi_index(list(codes), shape)
    size = int(np.prod(shape))
    if size <= max(4 * len(flat), 1 << 16):  # a dense count over the grain's cells: no sort
        ks = np.flatnonzero(np.bincount(flat, minlength=size))
        out = {k: np.bincount(flat, weights=v, minlength=size)[ks] for k, v in sums.items()}
    else:
        ks, inv = np.unique(flat, return_inverse=True)
        out = {k: np.bincount(inv, weights=v, minlength=len(ks)) for k, v in sums.items()}
    return KpiCube(kpi, grain, tuple(np.asarray(x) for x in np.unravel_index(ks, shape)), tuple(uniques), out)


def _utc_ns(days: pd.Series, tz: str) -> np.ndarray:
    """Local-midnight days (naive) as UTC int64 nanoseconds."""
    d = pd.DatetimeIndex(days).tz_localize(tz).tz_convert("UTC").tz_localize(None)
    return np.asarray(d.as_unit("ns").asi8)


def params_for(kpis: Sequence[str], frames: Any, calendar: WorkCalendar) -> dict[str, dict[str, Any]]:
    """The keyword arguments each KPI's cells are built with (system FCR without a tail or a period)."""
    from metrics.overview import kpi_params

    out = {}
    for k in kpis:
        p = kpi_params(k, frames, calendar)
        if k == "fcr_system":
            p = {"observed_until": pd.Timestamp("2262-01-01", tz="UTC")}
        out[k] = p
    return out
