"""Repository core: scope, filters and the SQL helpers every repository module uses; headline and drill queries.

Every function that serves a person takes a :class:`Scope` and applies it in SQL (a join on ``region.path``
with a bound prefix), so no filter a caller passes can widen what a user may see. Filters are bound parameters.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pandas as pd
from sqlalchemy import BigInteger, Engine, Integer, and_, case, func, literal, select
from sqlalchemy.sql import ColumnElement, Select

from data.models import UTC, Region, Response, Ticket

#: a SELECT of any columns (SQLAlchemy 2.1 types a Select by its column tuple)
AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"

_PATH_RE = re.compile(r"/(?:\d+/)+")


@dataclass(frozen=True)
class Scope:
    """A region subtree a person may see: every region whose path starts with ``path``."""

    path: str

    def __post_init__(self) -> None:
        if not _PATH_RE.fullmatch(self.path):
            raise ValueError(f"invalid scope path {self.path!r}")


@dataclass(frozen=True)
class Filters:
    """Global dashboard filters; ``region_id`` narrows within the scope and can never widen it."""

    start: dt.datetime
    end: dt.datetime  # exclusive
    region_id: int | None = None
    area_classes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    service_types: tuple[str, ...] = ()
    segments: tuple[str, ...] = field(default=())

    def kept(self) -> dict[str, tuple[str, ...]]:
        """The attribute filters as attribute -> values kept (empty: all), in the KPI registry's attribute names."""
        return {"area_class": self.area_classes, "channel": self.channels, "service_type": self.service_types,
                "segment": self.segments}


def epoch_seconds(engine: Engine, column: Any) -> ColumnElement[Any]:
    """A timestamp column as integer seconds since 1970 UTC (cheap to fetch, no string parsing in Python)."""
    if engine.dialect.name == "sqlite":
        return func.cast(func.round((func.julianday(column) - 2440587.5) * 86400.0), Integer)
    return func.cast(func.extract("epoch", column), BigInteger)


def minutes_between(engine: Engine, later: Any, earlier: Any) -> ColumnElement[Any]:
    """A SQL expression for ``later - earlier`` in minutes, in the engine's dialect."""
    if engine.dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 1440.0
    return func.extract("epoch", later - earlier) / 60.0


def region_path(engine: Engine, region_id: int) -> str:
    with engine.connect() as conn:
        return str(conn.execute(select(Region.path).where(Region.id == region_id)).scalar_one())


def scoped(stmt: AnySelect, region_fk: Any, scope: Scope, filters: Filters | None, engine: Engine) -> AnySelect:
    stmt = stmt.join(Region, Region.id == region_fk).where(Region.path.startswith(scope.path, autoescape=True))
    if filters is None:
        return stmt
    if filters.region_id is not None:
        # A narrower subtree: combined with the scope by AND, so it can only narrow.
        sub = select(Region.path).where(Region.id == filters.region_id).scalar_subquery()
        stmt = stmt.where(func.substr(Region.path, 1, func.length(sub)) == sub)
    if filters.area_classes:
        stmt = stmt.where(Region.area_class.in_(filters.area_classes))
    return stmt


def headline(engine: Engine, scope: Scope, filters: Filters) -> dict[str, Any]:
    """Headline figures for the first page: work orders, open work, repair arrival, surveys (all in SQL)."""
    arrival = minutes_between(engine, Ticket.arrived_at, Ticket.created_at)
    limit = case(
        (Region.area_class == "urban", literal(45.0)),
        (Region.area_class == "rural", literal(90.0)),
        else_=literal(120.0),
    )
    is_repair = Ticket.service_type == "repair"
    t = select(
        func.count().label("tickets"),
        func.sum(case((Ticket.resolved_at.is_(None), 1), else_=0)).label("open"),
        func.sum(case((and_(is_repair, Ticket.arrived_at.is_not(None)), 1), else_=0)).label("repairs_arrived"),
        func.sum(case((and_(is_repair, arrival <= limit), 1), else_=0)).label("repairs_within"),
        func.avg(case((is_repair, arrival))).label("repair_arrival_mean"),
        func.sum(case((Ticket.channel.in_(("app", "wechat", "alipay", "web")), 1), else_=0)).label("online"),
    ).select_from(Ticket)
    t = scoped(t, Ticket.region_id, scope, filters, engine)
    t = t.where(Ticket.created_at >= filters.start, Ticket.created_at < filters.end)
    t = ticket_filters(t, filters)

    r = select(
        func.count().label("responses"),
        func.sum(case((Response.csat >= 4, 1), else_=0)).label("csat_top2"),
        func.count(Response.csat).label("csat_n"),
    ).select_from(Response)
    r = scoped(r, Response.region_id, scope, filters, engine)
    r = r.where(Response.submitted_at >= filters.start, Response.submitted_at < filters.end)
    with engine.connect() as conn:
        tr = conn.execute(t).mappings().one()
        rr = conn.execute(r).mappings().one()
    out = {k: (v or 0) for k, v in {**tr, **rr}.items()}
    out["repair_arrival_mean"] = tr["repair_arrival_mean"]
    return out


def ticket_filters(stmt: AnySelect, filters: Filters) -> AnySelect:
    if filters.channels:
        stmt = stmt.where(Ticket.channel.in_(filters.channels))
    if filters.service_types:
        stmt = stmt.where(Ticket.service_type.in_(filters.service_types))
    return stmt


def tickets(engine: Engine, scope: Scope, filters: Filters, columns: tuple[str, ...] | None = None,
            limit: int | None = None, offset: int = 0) -> pd.DataFrame:
    """The work orders behind a number, within scope and filters, paged."""
    cols = [getattr(Ticket, c) for c in (columns or _TICKET_COLUMNS)]
    stmt = select(*cols, Region.area_class).select_from(Ticket)
    stmt = scoped(stmt, Ticket.region_id, scope, filters, engine)
    stmt = stmt.where(Ticket.created_at >= filters.start, Ticket.created_at < filters.end)
    stmt = ticket_filters(stmt, filters).order_by(Ticket.created_at, Ticket.id)
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(stmt).mappings().all())
    return _utc(df)


_TICKET_COLUMNS = (
    "id", "external_no", "region_id", "channel", "service_type", "staff_id", "created_at", "arrived_at",
    "resolved_at", "status", "exception_reason",
)


def regions(engine: Engine, scope: Scope) -> pd.DataFrame:
    """The region tree within scope (for filters and drill-down)."""
    stmt = select(Region.id, Region.code, Region.name_zh, Region.name_en, Region.level, Region.parent_id,
                  Region.path, Region.area_class, Region.customers)
    stmt = stmt.where(Region.path.startswith(scope.path, autoescape=True)).order_by(Region.path)
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).mappings().all())


def data_window(engine: Engine) -> tuple[dt.datetime, dt.datetime] | None:
    """The first and last work-order creation time in the database (UTC); in a database without work orders (survey
    results imported from a questionnaire tool) the first and last survey submission; None when both are empty."""
    for col in (Ticket.created_at, Response.submitted_at):
        # Two scalar subqueries: each is a single index seek (min and max together make SQLite scan the whole index).
        lo_q = select(func.min(col)).scalar_subquery()
        hi_q = select(func.max(col)).scalar_subquery()
        with engine.connect() as conn:
            lo, hi = conn.execute(select(lo_q, hi_q)).one()
        if lo is not None:
            return _aware(lo), _aware(hi)
    return None


def _aware(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _utc(df: pd.DataFrame) -> pd.DataFrame:
    for col in df.columns:
        if col.endswith("_at"):
            df[col] = pd.to_datetime(df[col], utc=True)
    return df


def region_names(engine: Engine, region_id: int) -> tuple[str, str] | None:
    """(name_zh, name_en) of one region, for captions."""
    with engine.connect() as conn:
        row = conn.execute(select(Region.name_zh, Region.name_en).where(Region.id == region_id)).first()
    return None if row is None else (row.name_zh, row.name_en)
