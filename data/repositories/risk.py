"""Fact frames for the risk model (issue 9): work orders, contacts, responses and earlier history, scope in SQL.

Training reads a whole window (``risk_*`` with start/end); scoring reads the open work at ``as_of`` (created by then
and not resolved before ``as_of − recent_hours``) and only the history of those customers. Timestamps travel as
epoch seconds and come back as tz-aware UTC. Nothing here filters by "known at as_of" beyond the population: the
pure feature builder (metrics.risk) ignores what lies after ``as_of``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Select,
    Table,
    and_,
    case,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from data.models import Contact, Customer, FollowUp, Region, Response, Team, Ticket
from data.repositories.core import Scope, epoch_seconds, scoped

_T_TIMES = ("created_at", "arrived_at", "resolved_at")


def _frame(bind: Engine | Connection, stmt: Select[Any], times: tuple[str, ...], ints: tuple[str, ...] = (),
           bools: tuple[str, ...] = ()) -> pd.DataFrame:
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return _frame(conn, stmt, times, ints, bools)
    result = bind.execute(stmt)
    cols = list(result.keys())
    # the DBAPI cursor's plain tuples: every column is an int, float, str or (SQLite) 0/1, converted below, so
    # SQLAlchemy's per-row Row objects and result processors would only cost time at 100 k rows
    df = pd.DataFrame(result.cursor.fetchall(), columns=cols)
    for col in times:
        df[col] = pd.to_datetime(df[col].astype("Float64"), unit="s", utc=True)
    for col in ints:
        df[col] = df[col].astype("Int64")
    for col in bools:
        df[col] = df[col].fillna(False).astype(bool)
    return df


def _ticket_select(engine: Engine) -> Select[Any]:
    times = [epoch_seconds(engine, getattr(Ticket, c)).label(c) for c in _T_TIMES]
    return (
        select(Ticket.id, Ticket.external_no, Ticket.customer_id, Ticket.region_id, Region.area_class,
               Ticket.channel, Ticket.service_type, Customer.segment, Customer.vulnerable,
               Ticket.outage_event_id.is_not(None).label("outage"), Ticket.progress_updates, Ticket.team_id,
               Ticket.staff_id, *times)
        .select_from(Ticket)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
    )


def risk_tickets(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Work orders created in [start, end) within scope, with the columns the feature builder needs."""
    stmt = scoped(_ticket_select(engine), Ticket.region_id, scope, None, engine)
    stmt = stmt.where(Ticket.created_at >= start, Ticket.created_at < end).order_by(Ticket.id)
    return _frame(engine, stmt, _T_TIMES, ("customer_id", "team_id", "staff_id"), ("outage", "vulnerable"))


def risk_contacts(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Contacts queued in [start, end) within scope: customer_id, channel, queued_at, outage."""
    stmt = select(Contact.customer_id, Contact.channel, epoch_seconds(engine, Contact.queued_at).label("queued_at"),
                  Contact.outage_event_id.is_not(None).label("outage")).select_from(Contact)
    stmt = scoped(stmt, Contact.region_id, scope, None, engine)
    stmt = stmt.where(Contact.queued_at >= start, Contact.queued_at < end, Contact.customer_id.is_not(None))
    return _frame(engine, stmt, ("queued_at",), ("customer_id",), ("outage",))


def risk_responses(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Responses with a work order, submitted in [start, end) within scope: ticket_id, customer_id, submitted_at,
    csat, nps."""
    stmt = (select(Response.ticket_id, Ticket.customer_id,
                   epoch_seconds(engine, Response.submitted_at).label("submitted_at"), Response.csat, Response.nps)
            .select_from(Response).join(Ticket, Ticket.id == Response.ticket_id))
    stmt = scoped(stmt, Response.region_id, scope, None, engine)
    stmt = stmt.where(Response.submitted_at >= start, Response.submitted_at < end)
    return _frame(engine, stmt, ("submitted_at",), ("ticket_id", "customer_id"))


def _population(stmt: Select[Any], as_of: dt.datetime, recent_hours: float) -> Select[Any]:
    since = as_of - dt.timedelta(hours=recent_hours)
    return stmt.where(Ticket.created_at <= as_of, or_(Ticket.resolved_at.is_(None), Ticket.resolved_at > since))


def open_work(engine: Engine, scope: Scope, as_of: dt.datetime, recent_hours: float = 24.0) -> pd.DataFrame:
    """The work orders to score at ``as_of``: created by then and not resolved before ``as_of − recent_hours``,
    with the ticket team's lead (``lead_staff_id``, else the lead of the handler's team) and whether an unclosed
    follow-up exists for the ticket (``open_follow_up``)."""
    handler_team = aliased(Team)
    from data.models import Staff  # noqa: PLC0415

    handler = aliased(Staff)
    fu = exists().where(FollowUp.ticket_id == Ticket.id, FollowUp.status != "closed")
    stmt = (_ticket_select(engine)
            .add_columns(func.coalesce(Team.lead_staff_id, handler_team.lead_staff_id).label("lead_staff_id"),
                         case((fu, True), else_=False).label("open_follow_up"))
            .outerjoin(Team, Team.id == Ticket.team_id)
            .outerjoin(handler, handler.id == Ticket.staff_id)
            .outerjoin(handler_team, handler_team.id == handler.team_id))
    stmt = _population(scoped(stmt, Ticket.region_id, scope, None, engine), as_of, recent_hours).order_by(Ticket.id)
    return _frame(engine, stmt, _T_TIMES, ("customer_id", "team_id", "staff_id", "lead_staff_id"),
                  ("outage", "vulnerable", "open_follow_up"))


def customer_context(engine: Engine, scope: Scope, as_of: dt.datetime, customer_ids: Sequence[int],
                     since: dt.datetime | None = None, lookback_days: int = 400) -> dict[str, pd.DataFrame]:
    """What the features need about the given customers (those of :func:`open_work`'s population), within scope,
    up to ``as_of``: their ``contacts`` since ``since`` (default ``as_of − lookback_days``; callers pass the
    earliest creation time minus 90 days), their dissatisfied ``responses`` (CSAT ≤ 2 or NPS ≤ 6) and their
    complaint work orders (``history``) in the last ``lookback_days``. Only the rows a feature can use are read.

    The customer ids go into a temporary table on the same connection, so each read is an index lookup per
    customer instead of re-evaluating the population (100 k customers at size L)."""
    far = as_of - dt.timedelta(days=lookback_days)
    since = max(since, far) if since is not None else far
    ids = sorted({int(i) for i in customer_ids})
    tmp = Table("risk_customer_tmp", MetaData(), Column("id", Integer, primary_key=True), prefixes=["TEMPORARY"])
    c = select(Contact.customer_id, Contact.channel, epoch_seconds(engine, Contact.queued_at).label("queued_at"),
               Contact.outage_event_id.is_not(None).label("outage")).select_from(Contact).join(
        tmp, tmp.c.id == Contact.customer_id)
    c = scoped(c, Contact.region_id, scope, None, engine).where(Contact.queued_at >= since,
                                                                 Contact.queued_at <= as_of)
    r = (select(Response.ticket_id, Ticket.customer_id,
                epoch_seconds(engine, Response.submitted_at).label("submitted_at"), Response.csat, Response.nps)
         .select_from(Ticket).join(tmp, tmp.c.id == Ticket.customer_id)
         .join(Response, Response.ticket_id == Ticket.id))
    r = scoped(r, Response.region_id, scope, None, engine).where(
        Response.submitted_at >= far, Response.submitted_at <= as_of, or_(Response.csat <= 2, Response.nps <= 6))
    h = select(Ticket.id, Ticket.customer_id, Ticket.service_type,
               epoch_seconds(engine, Ticket.created_at).label("created_at")).select_from(Ticket).join(
        tmp, tmp.c.id == Ticket.customer_id)
    h = scoped(h, Ticket.region_id, scope, None, engine).where(
        Ticket.service_type == "complaint", Ticket.created_at >= far, Ticket.created_at <= as_of)
    with engine.connect() as conn:
        tmp.create(conn)
        try:
            if ids:
                conn.execute(tmp.insert(), [{"id": i} for i in ids])
            out = {
                "contacts": _frame(conn, c, ("queued_at",), ("customer_id",), ("outage",)),
                "responses": _frame(conn, r, ("submitted_at",), ("ticket_id", "customer_id")),
                "history": _frame(conn, h, ("created_at",), ("id", "customer_id")),
            }
        finally:
            tmp.drop(conn)
            conn.commit()
    return out


def latest_activity(engine: Engine, scope: Scope) -> dt.datetime | None:
    """The latest work-order creation time within scope (scoring defaults to min(now, this))."""
    stmt = scoped(select(func.max(Ticket.created_at)).select_from(Ticket), Ticket.region_id, scope, None, engine)
    with engine.connect() as conn:
        v = conn.execute(stmt).scalar_one_or_none()
    if v is None:
        return None
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    return v.replace(tzinfo=dt.UTC) if v.tzinfo is None else v


def proactive_outcome_counts(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime,
                             horizon_days: float = 7.0) -> pd.DataFrame:
    """Per group (contacted = a proactive follow-up exists for the work order, else not contacted), over the work
    orders created in [start, end) within scope: n, complaints (a complaint work order of the same customer within
    ``horizon_days`` after creation), responses, dissatisfied (CSAT ≤ 2 or NPS ≤ 6). Aggregated in SQL."""
    contacted = exists().where(FollowUp.ticket_id == Ticket.id, FollowUp.proactive.is_(True))
    later = aliased(Ticket)
    horizon = dt.timedelta(days=horizon_days)
    if engine.dialect.name == "sqlite":
        within = func.julianday(later.created_at) - func.julianday(Ticket.created_at) <= horizon_days
    else:
        within = later.created_at - Ticket.created_at <= horizon
    complaint = exists().where(later.customer_id == Ticket.customer_id, later.id != Ticket.id,
                               later.service_type == "complaint", later.created_at > Ticket.created_at, within)
    resp = aliased(Response)
    first_resp = (select(func.min(resp.id)).where(resp.ticket_id == Ticket.id).correlate(Ticket).scalar_subquery())
    group = case((contacted, "contacted"), else_="not_contacted").label("group")
    bad = and_(Response.id.is_not(None), or_(Response.csat <= 2, Response.nps <= 6))
    stmt = (select(group, func.count().label("n"),
                   func.sum(case((complaint, 1), else_=0)).label("complaints"),
                   func.count(Response.id).label("responses"),
                   func.sum(case((bad, 1), else_=0)).label("dissatisfied"))
            .select_from(Ticket)
            .outerjoin(Response, Response.id == first_resp))
    stmt = scoped(stmt, Ticket.region_id, scope, None, engine)
    stmt = stmt.where(Ticket.created_at >= start, Ticket.created_at < end).group_by(group)
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(stmt).mappings().all(),
                          columns=["group", "n", "complaints", "responses", "dissatisfied"])
    base = pd.DataFrame({"group": ["contacted", "not_contacted"]})
    df = base.merge(df, on="group", how="left").fillna(0)
    for col in ("n", "complaints", "responses", "dissatisfied"):
        df[col] = df[col].astype(int)
    return df
