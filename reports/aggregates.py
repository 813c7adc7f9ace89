"""The overview's period source: pre-aggregated KPI cells stored beside the fact snapshot, or the fact frames.

For the whole region tree (the province: the scope whose overview would otherwise read millions of rows), every
month partition of work orders and contacts gets derived files (:func:`data.snapshot.read_derived`, stamped with
the partition's version token and a fingerprint of what the cells depend on — the SLA policy pack, the working
calendar, the region tree and the KPI definitions): ``cells`` (:func:`metrics.aggregate.build_cells`); for work
orders ``open`` (the rows still open against a time limit, kept as rows); for contacts ``rows`` (the contacts sorted
by time in small row groups: a day of them — system FCR's cut-off day, a partial edge day — reads fast). A write to
a month gives it a new token,
so its files are rebuilt on next read; nothing is ever served stale. :func:`overview_source` assembles a period from
them (:class:`metrics.aggregate.Aggregated`); scopes below the province, or a snapshot that is off, get the fact
frames (:func:`load_frames`), which are small there.

This module composes ``data`` and ``metrics`` (``reports -> metrics, data``); the dashboard and the benchmark call it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from data import reference, snapshot, workcal
from data.repositories import (
    Filters,
    Scope,
    contact_facts,
    follow_up_facts,
    response_facts,
    ticket_facts,
)
from data.settings import site_zone
from metrics import registry
from metrics.aggregate import ALL_DIMS, UNTIL, Aggregated, CellTable, build_cells, params_for, unsettled_tickets
from metrics.businesstime import WorkCalendar
from metrics.overview import HEADLINE_KPIS, Frames, no_tickets, prepare

__all__ = ["overview_source", "load_frames", "CELL_FORMAT", "build_all", "cells_apply"]

CELL_FORMAT = "6"  # bump when the cells' columns or meaning change (6: the source verdict sla_met, n_source_flag)
#: Cells pay off for large periods only (below this, reading the rows is as fast and needs no derived files): the
#: work orders stored for the period's months; ``GRIDCX_CELLS_MIN_ROWS`` overrides it (0 = always, tests).
CELLS_MIN_ROWS = 400_000
_KIND_ATTR = {"ticket": "tickets", "contact": "contacts"}
#: the columns of the rows the overview reads beside the cells (the pack's KPIs, filters, weighting)
RESPONSE_COLUMNS = ["id", "ticket_id", "region_id", "area_class", "channel", "service_type", "segment", "csat", "nps",
                    "ces", "fcr", "submitted_at"]
CONTACT_COLUMNS = ["id", "region_id", "area_class", "channel", "category", "segment", "customer_id", "abandoned",
                   "outage", "sla_met", "queued_at", "answered_at", "ended_at", "next_queued_at"]


def load_frames(engine: Any, scope: Scope, start: dt.datetime, end: dt.datetime,
                kinds: Sequence[str] = ("ticket", "contact", "response", "follow_up")) -> Frames:
    """The fact frames of one period (UTC bounds, end exclusive) within ``scope``."""
    from metrics.__main__ import load_frames as _load

    return _load(engine, scope, start, end, kinds=kinds)


def _top_path(tree: pd.DataFrame) -> str:
    return str(min(tree["path"], key=len)) if len(tree) else "/"


def whole_tree(engine: Any) -> pd.DataFrame:
    """The whole region tree."""
    from data.repositories import regions
    from data.repositories.lookup import scope_for

    return regions(engine, scope_for(engine))


def cells_apply(engine: Any, scope: Scope, root_path: str | None = None, start: dt.datetime | None = None,
                end: dt.datetime | None = None, tree: pd.DataFrame | None = None) -> bool:
    """Whether cells stand for this scope's rows: the snapshot is on, the overview rolls up from the top of the
    region tree (cells hold the regions one level below it) and, given the period, its months hold at least
    :data:`CELLS_MIN_ROWS` work orders."""
    if not snapshot.enabled():
        return False
    top = _top_path(whole_tree(engine) if tree is None else tree)
    if scope.path != top or (root_path is not None and root_path != top):
        return False
    if start is None or end is None:
        return True
    floor = int(os.environ.get("GRIDCX_CELLS_MIN_ROWS", CELLS_MIN_ROWS))
    return floor <= 0 or snapshot.stored_rows(engine, "ticket", snapshot.months_between(start, end)) >= floor


def _calendar(tz: str = "Asia/Shanghai") -> WorkCalendar:
    """The working calendar the cells are built with: every holiday the site's schedule knows; local days of
    ``tz`` (the site's zone)."""
    lo, hi = dt.date(2004, 1, 1), dt.date(dt.date.today().year, 12, 31)  # the years with official schedules
    hol = tuple(pd.to_datetime(workcal.holidays(lo, hi)).date)
    mk = tuple(pd.to_datetime(workcal.makeup_workdays(lo, hi)).date)
    return WorkCalendar(holidays=hol, workdays=mk, tz=tz)


@functools.lru_cache(maxsize=8)
def _context(url: str, pack: str, tz: str = "Asia/Shanghai") -> tuple[WorkCalendar, str]:
    cal = _calendar(tz)
    kpis = {k: {"params": registry.get(k).params, "requires": registry.get(k).requires} for k in HEADLINE_KPIS}
    blob = json.dumps({"format": CELL_FORMAT, "pack": pack, "kpis": kpis, "tz": cal.tz,
                       "holidays": [str(d) for d in cal.holidays], "workdays": [str(d) for d in cal.workdays],
                       "policies": reference.sla_policies(pack).to_csv(index=False)}, sort_keys=True, default=str)
    return cal, hashlib.sha256(blob.encode()).hexdigest()[:16]


def _fingerprint(engine: Any, pack: str, tree: pd.DataFrame) -> tuple[WorkCalendar, str]:
    cal, base = _context(engine.url.render_as_string(hide_password=True), pack, site_zone(engine))
    cols = [c for c in ("id", "path", "area_class") if c in tree.columns]
    tree_hash = hashlib.sha256(tree[cols].to_csv(index=False).encode()).hexdigest()[:16]
    return cal, f"{base}-{tree_hash}"


def _build(engine: Any, kind: str, pack: str, cal: WorkCalendar, tree: pd.DataFrame, month: str
           ) -> dict[str, pa.Table]:
    """The cells (and for work orders the open rows) of one month partition, whole region tree."""
    start, end = snapshot.month_bounds(month)
    top = Scope(str(min(tree["path"], key=len)))
    f = Filters(start, end)
    read = ticket_facts if kind == "ticket" else contact_facts
    rows = read(engine, top, f)
    frames = Frames(tickets=rows if kind == "ticket" else no_tickets(),
        contacts=rows if kind == "contact" else None, start=pd.Timestamp(start), end=pd.Timestamp(end))
    prepared = prepare(frames, reference.sla_policies(pack), cal, regions=tree, root_path=top.path, pack=pack)
    attr = _KIND_ATTR[kind]
    cache = prepared.cache(kind)
    kpis = [k for k in HEADLINE_KPIS if registry.get(k).frame == kind]
    params = params_for(kpis, prepared, cal)
    out: dict[str, pa.Table] = {}
    if kind == "ticket":
        open_ = unsettled_tickets(cache, kpis, params)
        cells = build_cells(cache.take(~open_, prepared.tickets.loc[~open_]), attr, kpis, params)
        out["open"] = pa.Table.from_pandas(rows.loc[open_], preserve_index=False)
    else:
        cells = build_cells(cache, attr, kpis, params)
        # the contacts themselves sorted by time: a day of them (system FCR's cut-off, partial days) reads fast
        out["rows"] = pa.Table.from_pandas(rows[CONTACT_COLUMNS].sort_values("queued_at", kind="stable"),
                                           preserve_index=False)
    text_dims = [d for d in ALL_DIMS if d in cells.columns and d not in ("day", "region")]
    cells[text_dims] = cells[text_dims].astype("category")  # stored as dictionaries: cheap to read and code
    out["cells"] = pa.Table.from_pandas(cells, preserve_index=False)
    return out


def _parts(kind: str) -> tuple[str, ...]:
    return ("cells", "open") if kind == "ticket" else ("cells", "rows")


def _contact_rows(engine: Any, pack: str, tree: pd.DataFrame,
                  ranges: Sequence[tuple[pd.Timestamp, pd.Timestamp]]) -> pd.DataFrame:
    """The contacts (all regions: the cells' scope) queued in the time ranges, from the time-sorted derived rows."""
    _cal, fp = _fingerprint(engine, pack, tree)
    parts = []
    for lo, hi in ranges:
        if lo >= hi:
            continue
        for m in snapshot.months_between(lo.to_pydatetime(), hi.to_pydatetime()):
            flt = [("queued_at", ">=", lo.to_pydatetime()), ("queued_at", "<", hi.to_pydatetime())]
            got = snapshot.read_derived_rows(engine, "contact", m, "cells", fp, "rows", flt)
            if got is None:  # stale: rebuilt (with its cells) and filtered here
                got = _between(_read_cells(engine, "contact", [m], pack, tree, ["rows"])["rows"][0], "queued_at",
                               lo.to_pydatetime(), hi.to_pydatetime())
            parts.append(got)
    if not parts:
        return contact_facts(engine, Scope(_top_path(tree)), Filters(ranges[0][0], ranges[0][0]), CONTACT_COLUMNS)
    return pa.concat_tables(parts, promote_options="permissive").to_pandas()


def _read_cells(engine: Any, kind: str, months: Sequence[str], pack: str, tree: pd.DataFrame,
                wanted: Sequence[str] | None = None) -> dict[str, list[pa.Table]]:
    """The derived tables of ``months`` (built where missing or stale), one per month and part; ``tree``: the
    whole region tree (read once by the caller)."""
    cal, fp = _fingerprint(engine, pack, tree)
    got: dict[str, list[pa.Table]] = {p: [] for p in (wanted or _parts(kind))}
    for m in months:
        tables = snapshot.read_derived(engine, kind, m, "cells", fp, _parts(kind),
                                       functools.partial(_build, engine, kind, pack, cal, tree), wanted)
        for p, t in tables.items():
            got[p].append(t)
    return got


def build_all(engine: Any, pack: str = reference.DEFAULT_PACK) -> dict[str, int]:
    """Build (or check) the cells of every month holding data: the demo loader and the benchmark call this so the
    first overview reads finished cells."""
    out = {}
    tree = whole_tree(engine)
    for kind in _KIND_ATTR:
        months = snapshot.data_months(engine, kind)
        if months:
            _read_cells(engine, kind, months, pack, tree, ["cells"])
        out[kind] = len(months)
    return out


def _local_midnights(start: pd.Timestamp, end: pd.Timestamp, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first local midnight at or after ``start`` and the last at or before ``end`` (UTC)."""
    s = start.tz_convert(tz)
    first = s.normalize() if s == s.normalize() else (s + pd.Timedelta(days=1)).normalize()
    last = end.tz_convert(tz).normalize()
    return first.tz_convert("UTC"), last.tz_convert("UTC")


def _local_day(ts: pd.Timestamp, tz: str) -> pd.Timestamp:
    return ts.tz_convert(tz).tz_localize(None).floor("D")


def _day_bounds(day: pd.Timestamp, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo = day.tz_localize(tz)
    return lo.tz_convert("UTC"), (day + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC")


def _rows(engine: Any, scope: Scope, reader: Any, ranges: Sequence[tuple[pd.Timestamp, pd.Timestamp]]
          ) -> pd.DataFrame:
    """The rows of ``reader`` in the time ranges (an empty frame of its columns when there are none)."""
    wanted = [(lo, hi) for lo, hi in ranges if lo < hi] or [(ranges[0][0], ranges[0][0])]
    parts = [reader(engine, scope, Filters(lo.to_pydatetime(), hi.to_pydatetime())) for lo, hi in wanted]
    parts = [p for p in parts if len(p)] or parts[:1]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def overview_source(engine: Any, scope: Scope, start: dt.datetime, end: dt.datetime, *,
                    pack: str = reference.DEFAULT_PACK, tz: str | None = None,
                    root_path: str | None = None) -> Aggregated | Frames:
    """The period [start, end) for :func:`metrics.overview.overview_pack`: cells + remaining rows where cells
    apply (:func:`cells_apply`), else the fact frames. ``tz``: the zone of the local days (default: the site's)."""
    tz = tz or site_zone(engine)
    tree = whole_tree(engine)
    if not cells_apply(engine, scope, root_path, start, end, tree):
        return load_frames(engine, scope, start, end)
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    s = s.tz_localize("UTC") if s.tzinfo is None else s.tz_convert("UTC")
    e = e.tz_localize("UTC") if e.tzinfo is None else e.tz_convert("UTC")
    first, last = _local_midnights(s, e, tz)
    if last <= first:  # not one whole local day: the rows are few
        return load_frames(engine, scope, start, end)
    months = snapshot.months_between(s.to_pydatetime(), e.to_pydatetime())
    lo_day, hi_day = _local_day(first, tz), _local_day(last, tz)  # whole days: [lo_day, hi_day)
    edges = [(s, first), (last, e)]

    t = _read_cells(engine, "ticket", months, pack, tree)
    cells_t = _whole_days(t["cells"], lo_day, hi_day)
    open_t = _between(pa.concat_tables(t["open"], promote_options="permissive"), "created_at", first, last).to_pandas()
    c = _read_cells(engine, "contact", months, pack, tree, ["cells"])
    cells_c = _whole_days(c["cells"], lo_day, hi_day)
    edge_c = _contact_rows(engine, pack, tree, edges)
    until_parts = [int(cells_c.values[UNTIL].max())] if cells_c.n else []
    if len(edge_c):
        until_parts.append(pd.Timestamp(edge_c["queued_at"].max()).as_unit("ns").value)
    until = pd.Timestamp(max(until_parts), tz="UTC") if until_parts else None
    contact_ranges = list(edges)
    if until is not None:
        days = int(registry.get("fcr_system").params.get("days", 7))
        cut_day = _local_day(until - pd.Timedelta(days=days), tz)
        if lo_day <= cut_day < hi_day:  # that whole day goes back to rows (its contacts straddle the cut-off)
            same = np.asarray(cells_c.uniques["day"] == cut_day, dtype=bool)
            cells_c = cells_c.take(~same[cells_c.codes["day"]])
            contact_ranges.append(_day_bounds(cut_day, tz))
    edge_t = _rows(engine, scope, ticket_facts, edges)
    tickets = pd.concat([x for x in (edge_t, open_t) if len(x)] or [edge_t], ignore_index=True)
    contacts = _contact_rows(engine, pack, tree, contact_ranges)
    f = Filters(start, end)
    rows = Frames(tickets=tickets, contacts=contacts, responses=response_facts(engine, scope, f, RESPONSE_COLUMNS),
                  follow_ups=follow_up_facts(engine, scope, f), start=pd.Timestamp(start), end=pd.Timestamp(end))
    return Aggregated(cells={"tickets": cells_t, "contacts": cells_c}, rows=rows, start=s, end=e,
                      contacts_until=until)


def _between(table: pa.Table, col: str, lo: Any, hi: Any) -> pa.Table:
    """Rows of ``table`` with ``lo <= col < hi`` (filtered in Arrow, before any pandas conversion)."""
    import pyarrow.compute as pc

    typ = table.schema.field(col).type
    keep = pc.and_(pc.greater_equal(table[col], pa.scalar(lo, typ)), pc.less(table[col], pa.scalar(hi, typ)))
    return table.filter(pc.fill_null(keep, False))


def _dictionary(col: pa.ChunkedArray) -> pa.Array:
    """A text dimension as one dictionary array of a fixed type (months' dictionaries differ; pandas unifies them)."""
    typ = pa.dictionary(pa.int32(), pa.string())
    arr = col.combine_chunks()
    return arr.cast(typ) if arr.type != typ else arr


def _whole_days(months: Sequence[pa.Table], lo_day: pd.Timestamp, hi_day: pd.Timestamp) -> CellTable:
    """The stored cells of the whole days [lo_day, hi_day) as column arrays (dimensions coded once): months with
    days outside are filtered first, then every column is one array."""
    import pyarrow.compute as pc

    parts = []
    for t in months:
        if not t.num_rows:
            continue
        lo, hi = pc.min_max(t["day"]).values()
        if lo.as_py() < lo_day or hi.as_py() >= hi_day:
            t = _between(t, "day", lo_day.to_pydatetime(), hi_day.to_pydatetime())
        parts.append(t)
    if not parts:
        return CellTable.from_columns({c: months[0].column(c).to_pandas() for c in months[0].column_names})
    names = parts[0].column_names
    cols: dict[str, Any] = {}
    for c in names:
        if c in ALL_DIMS:
            cols[c] = pa.chunked_array([_dictionary(p.column(c)) for p in parts]).to_pandas() \
                if c not in ("day", "region") else pa.concat_tables([p.select([c]) for p in parts]).column(c).to_pandas()
        else:
            cols[c] = np.concatenate([p.column(c).to_numpy() for p in parts])
    return CellTable.from_columns(cols)

