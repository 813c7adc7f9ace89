"""Staff repository: the per-staff inputs of the scorecards for a period and scope, aggregated in SQL.

Scope is the staff member's own region (a person's whole work counts, wherever the order was): every function joins
``staff.region_id`` to ``region.path`` with a bound prefix, so no argument can widen what a user may see. The
scorecard inputs come back as *cells*: one row per staff member x service type x area class (of the work order's
region) x channel with counts, which is what the case-mix adjustment needs and is small (a few rows per person).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVarTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, Float, and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased
from sqlalchemy.sql import Select

from data import snapshot
from data.models import QualityReview, Region, Response, Staff, Team, Ticket, UTCDateTime
from data.reference import AreaClass
from data.repositories.core import AnySelect, Scope, epoch_seconds

CELL_KEYS = ("staff_id", "service_type", "area_class", "channel")
TICKET_COUNTS = ("tickets", "resolved", "not_reopened", "arrival_n", "arrival_within", "arrival_excused",
                 "long_n", "long_updated", "complaints", "substantiated")
SURVEY_COUNTS = ("csat_n", "csat_top2", "csat_sum", "csat_sumsq", "fcr_n", "fcr_yes")

_StaffRegion = aliased(Region, name="staff_region")
_Ts = TypeVarTuple("_Ts")


def _staff_scope(stmt: Select[*_Ts], scope: Scope, team_id: int | None, region_id: int | None) -> Select[*_Ts]:
    """Restrict to staff whose region lies in ``scope`` (and optionally a narrower region subtree or one team)."""
    stmt = stmt.join(_StaffRegion, _StaffRegion.id == Staff.region_id).where(
        _StaffRegion.path.startswith(scope.path, autoescape=True))
    if region_id is not None:
        sub = select(Region.path).where(Region.id == region_id).scalar_subquery()
        stmt = stmt.where(func.substr(_StaffRegion.path, 1, func.length(sub)) == sub)
    if team_id is not None:
        stmt = stmt.where(Staff.team_id == team_id)
    return stmt


def _frame(engine: Engine, stmt: AnySelect, *, driver_rows: bool = False) -> pd.DataFrame:
    """The rows of ``stmt``. ``driver_rows``: take the DBAPI driver's tuples as they are (no SQLAlchemy row or type
    processing: 0.5 s per 150 k rows) — only for statements of plain numbers and text, whose values and inferred
    dtypes are then the same."""
    with engine.connect() as conn:
        result = conn.execute(stmt)
        if driver_rows and result.cursor is not None:
            return pd.DataFrame.from_records(result.cursor.fetchall(), columns=list(result.keys()))
        # plain tuples: pandas probes every row for ``dtype``, which a SQLAlchemy Row answers with a costly
        # KeyError per row (0.15 s per 100 k rows); the values and the inferred dtypes are the same
        rows = [tuple(r) for r in result]
        return pd.DataFrame.from_records(rows, columns=list(result.keys()))


def staff_roster(engine: Engine, scope: Scope, *, team_id: int | None = None,
                 region_id: int | None = None) -> pd.DataFrame:
    """Staff in scope: id, code, name, role, team_id, team_name, region_id, region_zh, region_en, area_class, active."""
    stmt = (
        select(Staff.id.label("staff_id"), Staff.code, Staff.name, Staff.role, Staff.team_id,
               Team.name.label("team_name"), Staff.region_id, _StaffRegion.name_zh.label("region_zh"),
               _StaffRegion.name_en.label("region_en"), _StaffRegion.area_class, Staff.active)
        .select_from(Staff)
        .outerjoin(Team, Team.id == Staff.team_id)
    )
    stmt = _staff_scope(stmt, scope, team_id, region_id).order_by(Staff.id)
    df = _frame(engine, stmt)
    if df.empty:
        df = pd.DataFrame(columns=["staff_id", "code", "name", "role", "team_id", "team_name", "region_id",
                                   "region_zh", "region_en", "area_class", "active"])
    df["active"] = df["active"].astype(bool)
    return df


def staff_ticket_cells(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime, *,
                       arrival_limits: Mapping[AreaClass, float], long_minutes: float, team_id: int | None = None,
                       region_id: int | None = None) -> pd.DataFrame:
    """Work orders created in [start, end) handled by staff in scope, counted per staff x service type x area class
    (of the order's region) x channel.

    Columns: staff_id, service_type, area_class, channel, tickets, resolved, not_reopened (resolved and never
    reopened), arrival_n (repairs with an arrival, outside mass outages and without an exception reason),
    arrival_within (of those, within the area class's limit), arrival_excused (repairs with an arrival in a mass
    outage or with an exception reason: shown, not scored), long_n (open longer than ``long_minutes``, open work
    counted to ``end``), long_updated (of those, with a progress update), complaints, substantiated.

    Durations are compared in whole seconds (``arrival <= limit``, ``open > long``), identically on SQLite and
    PostgreSQL. The rows come from the fact snapshot (:mod:`data.snapshot`, a few compact Parquet months instead of
    a GROUP BY over the period's work orders) and are counted in pandas; without the snapshot the same counts come
    from SQL. Rows are sorted by the cell keys (text in code-point order, missing first).
    """
    df = _ticket_cells_snapshot(engine, scope, start, end, arrival_limits, long_minutes, team_id, region_id)
    if df is None:
        df = _ticket_cells_sql(engine, scope, start, end, arrival_limits, long_minutes, team_id, region_id)
    if df.empty:
        return pd.DataFrame(columns=[*CELL_KEYS, *TICKET_COUNTS])
    df[list(TICKET_COUNTS)] = df[list(TICKET_COUNTS)].fillna(0).astype("int64")
    df["staff_id"] = df["staff_id"].astype("int64")
    return _sorted_cells(df)


def _sorted_cells(df: pd.DataFrame) -> pd.DataFrame:
    """Cells in a fixed order whatever the source or the database (the scorecards' float sums follow row order)."""
    return df.sort_values(list(CELL_KEYS), na_position="first", kind="stable").reset_index(drop=True)


def _seconds_between(engine: Engine, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in whole seconds (SQLite's julianday difference rounded, so 45:00 is never 45:00.0000001)."""
    if engine.dialect.name == "sqlite":
        return func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0)
    return func.extract("epoch", later - earlier)


def _area_limit_seconds(area: Any, arrival_limits: Mapping[AreaClass, float]) -> Any:
    return case((area == "urban", literal(float(arrival_limits["urban"]) * 60.0)),
                (area == "rural", literal(float(arrival_limits["rural"]) * 60.0)),
                else_=literal(float(arrival_limits["remote"]) * 60.0))


def _ticket_cells_sql(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime,
                      arrival_limits: Mapping[AreaClass, float], long_minutes: float, team_id: int | None,
                      region_id: int | None) -> pd.DataFrame:
    area = Region.area_class
    limit = _area_limit_seconds(area, arrival_limits)
    arrival = _seconds_between(engine, Ticket.arrived_at, Ticket.created_at)
    repair_arrived = and_(Ticket.service_type == "repair", Ticket.arrived_at.is_not(None))
    excused = or_(Ticket.outage_event_id.is_not(None), Ticket.exception_reason.is_not(None))
    scored = and_(repair_arrived, ~excused)
    open_end = func.coalesce(Ticket.resolved_at, literal(end, UTCDateTime()))
    long_ = _seconds_between(engine, open_end, Ticket.created_at) > literal(float(long_minutes) * 60.0)
    is_complaint = Ticket.service_type == "complaint"

    def count(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    stmt = (
        select(
            Ticket.staff_id, Ticket.service_type, area.label("area_class"), Ticket.channel,
            func.count().label("tickets"),
            count(Ticket.resolved_at.is_not(None)).label("resolved"),
            count(and_(Ticket.resolved_at.is_not(None), Ticket.reopen_count == 0)).label("not_reopened"),
            count(scored).label("arrival_n"),
            count(and_(scored, arrival <= limit)).label("arrival_within"),
            count(and_(repair_arrived, excused)).label("arrival_excused"),
            count(long_).label("long_n"),
            count(and_(long_, Ticket.progress_updates > 0)).label("long_updated"),
            count(is_complaint).label("complaints"),
            count(and_(is_complaint, Ticket.substantiated.is_(True))).label("substantiated"),
        )
        .select_from(Ticket)
        .join(Staff, Staff.id == Ticket.staff_id)
        .join(Region, Region.id == Ticket.region_id)
        .where(Ticket.created_at >= start, Ticket.created_at < end)
    )
    stmt = _staff_scope(stmt, scope, team_id, region_id)
    stmt = stmt.group_by(Ticket.staff_id, Ticket.service_type, area, Ticket.channel)
    return _frame(engine, stmt)


_SNAPSHOT_TICKET_COLUMNS = ["staff_id", "service_type", "region_id", "channel", "created_at", "arrived_at",
                            "resolved_at", "reopen_count", "outage", "exception_reason", "progress_updates",
                            "substantiated"]


def _staff_ids(engine: Engine, scope: Scope, team_id: int | None, region_id: int | None) -> np.ndarray:
    stmt = _staff_scope(select(Staff.id).select_from(Staff), scope, team_id, region_id)
    with engine.connect() as conn:
        return np.array(conn.execute(stmt).scalars().all(), dtype="int64")


def _epoch_s(col: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column as float seconds since 1970 (NaN where missing)."""
    us = pc.cast(pc.cast(col, pa.timestamp("us", tz="UTC")), pa.int64())
    return pc.divide(pc.cast(us, pa.float64()), 1e6).to_numpy(zero_copy_only=False)


def _staff_partition_rows(engine: Engine, kind: str, columns: list[str], period: str, start: dt.datetime,
                          end: dt.datetime, staff_ids: np.ndarray) -> pa.Table | None:
    """The snapshot rows of ``kind`` with ``period`` in [start, end) and one of ``staff_ids`` as their staff member;
    None when the snapshot is off or unavailable (the callers then use SQL)."""
    if not snapshot.enabled():
        return None
    table = snapshot.safe_read(engine, kind, snapshot.months_between(start, end), columns)
    if table is None:
        return None
    ts = pa.timestamp("us", tz="UTC")
    keep = pc.and_(pc.and_(pc.greater_equal(table[period], pa.scalar(_utc(start), ts)),
                           pc.less(table[period], pa.scalar(_utc(end), ts))),
                   pc.is_in(table["staff_id"], value_set=pa.array(staff_ids, pa.int64())))
    return table.filter(pc.fill_null(keep, False))


def _ticket_cells_snapshot(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime,
                           arrival_limits: Mapping[AreaClass, float], long_minutes: float, team_id: int | None,
                           region_id: int | None) -> pd.DataFrame | None:
    """:func:`staff_ticket_cells` from the fact snapshot, or None when the snapshot is off or unavailable."""
    table = _staff_partition_rows(engine, "ticket", _SNAPSHOT_TICKET_COLUMNS, "created_at", start, end,
                                  _staff_ids(engine, scope, team_id, region_id))
    if table is None:
        return None
    with engine.connect() as conn:
        reg = conn.execute(select(Region.id, Region.area_class)).all()
    area_of = pd.Series([r[1] for r in reg], index=pd.Index([r[0] for r in reg], dtype="int64"), dtype=object)
    region = table["region_id"].to_numpy(zero_copy_only=False)
    known = np.isin(region, area_of.index.to_numpy())
    if not known.all():  # the SQL joins the order's region: rows without one are not counted
        table = table.filter(pa.array(known))
        region = region[known]
    area = area_of.reindex(region).to_numpy()
    service = table["service_type"].to_numpy(zero_copy_only=False)
    created = _epoch_s(table["created_at"])
    arrived = _epoch_s(table["arrived_at"])
    resolved = _epoch_s(table["resolved_at"])
    end_s = _utc(end).timestamp()
    limit = np.where(area == "urban", float(arrival_limits["urban"]) * 60.0,
                     np.where(area == "rural", float(arrival_limits["rural"]) * 60.0,
                              float(arrival_limits["remote"]) * 60.0))
    has_resolved = ~np.isnan(resolved)
    repair_arrived = (service == "repair") & ~np.isnan(arrived)
    excused = table["outage"].to_numpy(zero_copy_only=False).astype(bool) | \
        pc.is_valid(table["exception_reason"]).to_numpy(zero_copy_only=False)
    scored = repair_arrived & ~excused
    with np.errstate(invalid="ignore"):
        within = scored & (np.round(arrived - created) <= limit)
    long_ = np.round(np.where(has_resolved, resolved, end_s) - created) > float(long_minutes) * 60.0
    updates = pc.fill_null(table["progress_updates"], 0).to_numpy(zero_copy_only=False)
    reopen = table["reopen_count"]
    never_reopened = pc.fill_null(pc.equal(reopen, 0), False).to_numpy(zero_copy_only=False)
    complaint = service == "complaint"
    substantiated = pc.fill_null(table["substantiated"], False).to_numpy(zero_copy_only=False).astype(bool)
    if table.num_rows == 0:
        return pd.DataFrame(columns=[*CELL_KEYS, *TICKET_COUNTS])
    return _cell_sums(table["staff_id"].to_numpy(zero_copy_only=False), table["service_type"],
                      pd.Series(area, dtype=object), table["channel"], {
                          "tickets": np.ones(table.num_rows, bool), "resolved": has_resolved,
                          "not_reopened": has_resolved & never_reopened, "arrival_n": scored,
                          "arrival_within": within, "arrival_excused": repair_arrived & excused, "long_n": long_,
                          "long_updated": long_ & (updates > 0), "complaints": complaint,
                          "substantiated": complaint & substantiated}, ints=TICKET_COUNTS)


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def staff_survey_cells(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime, *,
                       team_id: int | None = None, region_id: int | None = None) -> pd.DataFrame:
    """Survey responses submitted in [start, end) on work orders handled by staff in scope, per staff x service type
    x area class x channel (the work order's).

    Columns: staff_id, service_type, area_class, channel, csat_n, csat_top2 (4-5), csat_sum and csat_sumsq (of the
    1-5 score, for means and variances), fcr_n, fcr_yes. From the fact snapshot when it is on (the work order's
    region looked up in the ticket partitions), else from SQL; rows sorted by the cell keys.
    """
    df = _survey_cells_snapshot(engine, scope, start, end, team_id, region_id)
    if df is None:
        df = _survey_cells_sql(engine, scope, start, end, team_id, region_id)
    if df.empty:
        return pd.DataFrame(columns=[*CELL_KEYS, *SURVEY_COUNTS])
    ints = ["csat_n", "csat_top2", "fcr_n", "fcr_yes"]
    df[ints] = df[ints].fillna(0).astype("int64")
    df[["csat_sum", "csat_sumsq"]] = df[["csat_sum", "csat_sumsq"]].fillna(0.0).astype(float)
    df["staff_id"] = df["staff_id"].astype("int64")
    return _sorted_cells(df)


def _survey_cells_sql(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime, team_id: int | None,
                      region_id: int | None) -> pd.DataFrame:
    area = Region.area_class
    csat = Response.csat
    stmt = (
        select(
            Ticket.staff_id, Ticket.service_type, area.label("area_class"), Ticket.channel,
            func.count(csat).label("csat_n"),
            func.sum(case((csat >= 4, 1), else_=0)).label("csat_top2"),
            func.sum(func.cast(csat, Float)).label("csat_sum"),
            func.sum(func.cast(csat * csat, Float)).label("csat_sumsq"),
            func.count(Response.fcr).label("fcr_n"),
            func.sum(case((Response.fcr.is_(True), 1), else_=0)).label("fcr_yes"),
        )
        .select_from(Response)
        .join(Ticket, Ticket.id == Response.ticket_id)
        .join(Staff, Staff.id == Ticket.staff_id)
        .join(Region, Region.id == Ticket.region_id)
        .where(Response.submitted_at >= start, Response.submitted_at < end)
    )
    stmt = _staff_scope(stmt, scope, team_id, region_id)
    stmt = stmt.group_by(Ticket.staff_id, Ticket.service_type, area, Ticket.channel)
    return _frame(engine, stmt)


def _survey_cells_snapshot(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime,
                           team_id: int | None, region_id: int | None) -> pd.DataFrame | None:
    """:func:`staff_survey_cells` from the response and ticket partitions, or None without the snapshot."""
    table = _staff_partition_rows(engine, "response", ["ticket_id", "staff_id", "service_type", "channel",
                                                       "submitted_at", "ticket_created_at", "csat", "fcr"],
                                  "submitted_at", start, end, _staff_ids(engine, scope, team_id, region_id))
    if table is None:
        return None
    table = table.filter(pc.is_valid(table["ticket_id"]))
    if table.num_rows == 0:
        return pd.DataFrame(columns=[*CELL_KEYS, *SURVEY_COUNTS])
    # the work order's region (the SQL joins ticket.region_id): from the partitions of the orders' months
    created = table["ticket_created_at"]
    if created.null_count:
        return None
    months = np.unique(pc.cast(created, pa.timestamp("us")).to_numpy().astype("datetime64[M]")).astype(str)
    tickets = snapshot.safe_read(engine, "ticket", [m[:7] for m in months], ["id", "region_id"])
    if tickets is None:
        return None
    tickets = tickets.filter(pc.is_in(tickets["id"], value_set=pc.unique(table["ticket_id"])))
    tid = tickets["id"].to_numpy(zero_copy_only=False)
    order = np.argsort(tid)
    want = table["ticket_id"].to_numpy(zero_copy_only=False)
    pos = np.clip(np.searchsorted(tid, want, sorter=order), 0, max(len(tid) - 1, 0))
    if len(tid) == 0 or not (tid[order[pos]] == want).all():
        return None  # an order outside its month's partition: let SQL count
    region = tickets["region_id"].to_numpy(zero_copy_only=False)[order[pos]]
    with engine.connect() as conn:
        reg = conn.execute(select(Region.id, Region.area_class)).all()
    area_of = pd.Series([r[1] for r in reg], index=pd.Index([r[0] for r in reg], dtype="int64"), dtype=object)
    known = np.isin(region, area_of.index.to_numpy())
    csat = pc.cast(table["csat"], pa.float64()).to_numpy(zero_copy_only=False)
    has_csat = ~np.isnan(csat)
    fcr = table["fcr"]
    sums = {"csat_n": has_csat, "csat_top2": has_csat & (np.nan_to_num(csat) >= 4),
            "csat_sum": np.nan_to_num(csat), "csat_sumsq": np.nan_to_num(csat * csat),
            "fcr_n": pc.is_valid(fcr).to_numpy(zero_copy_only=False),
            "fcr_yes": pc.fill_null(fcr, False).to_numpy(zero_copy_only=False).astype(bool)}
    if not known.all():
        table = table.filter(pa.array(known))
        region = region[known]
        sums = {k: v[known] for k, v in sums.items()}
    if table.num_rows == 0:
        return pd.DataFrame(columns=[*CELL_KEYS, *SURVEY_COUNTS])
    return _cell_sums(table["staff_id"].to_numpy(zero_copy_only=False), table["service_type"],
                      pd.Series(area_of.reindex(region).to_numpy(), dtype=object), table["channel"], sums,
                      ints=("csat_n", "csat_top2", "fcr_n", "fcr_yes"))


def _key_codes(values: Any) -> tuple[np.ndarray, pd.Index]:
    """Group codes of one key column (missing values get a code of their own, as ``groupby(dropna=False)``):
    Arrow text through its dictionary encoding, anything else through ``pd.factorize``."""
    if isinstance(values, (pa.ChunkedArray, pa.Array)):
        enc = pc.dictionary_encode(values)
        enc = enc.combine_chunks() if isinstance(enc, pa.ChunkedArray) else enc
        uniques = pd.Index(enc.dictionary.to_pandas())
        codes = pc.fill_null(enc.indices, len(uniques)).to_numpy(zero_copy_only=False).astype(np.int64)
        if enc.indices.null_count:
            uniques = uniques.append(pd.Index([None], dtype=uniques.dtype))
        return codes, uniques
    codes, uniq = pd.factorize(values, use_na_sentinel=False)
    return codes.astype(np.int64), pd.Index(np.asarray(uniq))  # text infers pandas' string dtype, as group-by keys


def _cell_sums(staff: np.ndarray, service: Any, area: Any, channel: Any, sums: dict[str, np.ndarray],
               ints: tuple[str, ...]) -> pd.DataFrame:
    """``groupby(CELL_KEYS, dropna=False)[sums].sum()`` over row arrays, in integer codes (the text keys of a
    quarter's million rows are coded once by Arrow, not hashed by pandas per group-by); rows in no set order
    (callers sort the cells)."""
    coded = [_key_codes(k) for k in (staff, service, area, channel)]
    dims = [max(len(u), 1) for _c, u in coded]
    keys, inv = np.unique(np.ravel_multi_index([c for c, _u in coded], dims), return_inverse=True)
    out: dict[str, Any] = {}
    for name, (_c, u), codes in zip(CELL_KEYS, coded, np.unravel_index(keys, dims), strict=True):
        out[name] = u.take(codes)
    for name, v in sums.items():
        total = np.bincount(inv, weights=np.asarray(v, float), minlength=len(keys))
        out[name] = total.astype("int64") if name in ints else total
    return pd.DataFrame({k: pd.Series(v, dtype=v.dtype) if isinstance(v, pd.Index) else v for k, v in out.items()})


def _review_staff(engine: Engine) -> Any:
    """The review's staff id for the join. On SQLite as ``staff_id + 0``: the planner then scans the reviews once
    (one sequential pass, ~0.05 s at L) instead of looking up every review of every staff member through the
    staff_id index and checking its date row by row (~0.4 s); there is no index on ``reviewed_at`` alone."""
    return QualityReview.staff_id + 0 if engine.dialect.name == "sqlite" else QualityReview.staff_id


def staff_reviews(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime, *,
                  team_id: int | None = None, region_id: int | None = None,
                  staff_id: int | None = None, details: bool = True) -> pd.DataFrame:
    """Quality reviews made in [start, end) of staff in scope, one row each (small: a few per person and month).

    Columns: id, staff_id, ticket_id, contact_id, reviewer, reviewed_at (UTC), score (0-1), violation, and with
    ``details`` scores (item -> points), comment, source (the scorecards do not need them).
    """
    extra = (QualityReview.scores, QualityReview.comment, QualityReview.source) if details else ()
    stmt = (
        select(QualityReview.id, QualityReview.staff_id, QualityReview.ticket_id, QualityReview.contact_id,
               QualityReview.reviewer, epoch_seconds(engine, QualityReview.reviewed_at).label("reviewed_at"),
               QualityReview.score, QualityReview.violation, *extra)
        .select_from(QualityReview)
        .join(Staff, Staff.id == _review_staff(engine))
        .where(QualityReview.reviewed_at >= start, QualityReview.reviewed_at < end)
    )
    stmt = _staff_scope(stmt, scope, team_id, region_id)
    if staff_id is not None:
        stmt = stmt.where(QualityReview.staff_id == staff_id)
    df = _frame(engine, stmt.order_by(QualityReview.id), driver_rows=not details)
    cols = ["id", "staff_id", "ticket_id", "contact_id", "reviewer", "reviewed_at", "score", "violation"]
    cols += ["scores", "comment", "source"] if details else []
    if df.empty:
        return pd.DataFrame(columns=cols).astype({"score": float, "violation": bool})
    df["reviewed_at"] = pd.to_datetime(df["reviewed_at"].astype("Float64"), unit="s", utc=True)
    for col in ("ticket_id", "contact_id"):
        df[col] = df[col].astype("Int64")
    df["staff_id"] = df["staff_id"].astype("int64")
    df["violation"] = df["violation"].astype(bool)
    df["score"] = df["score"].astype(float)
    return df


def staff_survey_rows(engine: Engine, scope: Scope, staff_id: int, start: dt.datetime,
                      end: dt.datetime) -> pd.DataFrame:
    """One person's survey responses in [start, end) (for the per-staff trend and comments): submitted_at (UTC),
    csat, fcr, service_type, channel, comment. Empty when the person is outside ``scope``."""
    stmt = (
        select(epoch_seconds(engine, Response.submitted_at).label("submitted_at"), Response.csat, Response.fcr,
               Ticket.service_type, Ticket.channel, Response.comment)
        .select_from(Response)
        .join(Ticket, Ticket.id == Response.ticket_id)
        .join(Staff, Staff.id == Ticket.staff_id)
        .where(Ticket.staff_id == staff_id, Response.submitted_at >= start, Response.submitted_at < end)
    )
    stmt = _staff_scope(stmt, scope, None, None).order_by(Response.submitted_at)
    df = _frame(engine, stmt)
    if df.empty:
        return pd.DataFrame(columns=["submitted_at", "csat", "fcr", "service_type", "channel", "comment"])
    df["submitted_at"] = pd.to_datetime(df["submitted_at"].astype("Float64"), unit="s", utc=True)
    return df
