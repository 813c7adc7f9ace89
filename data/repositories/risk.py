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

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    Table,
    and_,
    case,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import aliased

from data import snapshot
from data.models import Contact, Customer, FollowUp, Region, Response, Team, Ticket
from data.repositories.core import AnySelect, Scope, epoch_seconds, scoped
from data.repositories.facts import scope_regions

_T_TIMES = ("created_at", "arrived_at", "resolved_at")


def _frame(bind: Engine | Connection, stmt: AnySelect, times: tuple[str, ...], ints: tuple[str, ...] = (),
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


def _ticket_select(engine: Engine) -> AnySelect:
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


def _population(stmt: AnySelect, as_of: dt.datetime, recent_hours: float) -> AnySelect:
    since = as_of - dt.timedelta(hours=recent_hours)
    return stmt.where(Ticket.created_at <= as_of, or_(Ticket.resolved_at.is_(None), Ticket.resolved_at > since))


# A month's partition is opened for the population's rows when it holds at least DENSE_MONTH_ROWS of them and at
# least DENSE_MONTH_SHARE of the month's rows (a Parquet row costs about a tenth of a row read from SQL by id);
# otherwise its rows are read from SQL by id: work orders still open from long ago are a handful per month, and a
# narrow scope's recent work is a small share of a large province's month.
DENSE_MONTH_ROWS = 1000
DENSE_MONTH_SHARE = 0.1
_OPEN_COLUMNS = ("id", "external_no", "customer_id", "region_id", "channel", "service_type", "segment", "outage",
                 "progress_updates", "team_id", "staff_id", "created_at", "arrived_at", "resolved_at")
_CHUNK = 5000  # ids per IN list (SQLite's bound-parameter limit is 32766)


def _open_work_from_snapshot(engine: Engine, scope: Scope, as_of: dt.datetime, recent_hours: float
                             ) -> pd.DataFrame | None:
    if not snapshot.enabled():
        return None
    since = as_of - dt.timedelta(hours=recent_hours)
    with engine.connect() as conn:
        first = conn.execute(select(func.min(Ticket.created_at))).scalar_one_or_none()
    if first is None:
        return None  # no work orders at all: SQL gives the empty frame with its dtypes
    if isinstance(first, str):
        first = dt.datetime.fromisoformat(first)
    months = snapshot.months_between(first, as_of + dt.timedelta(seconds=1))
    light = snapshot.safe_read(engine, "ticket", months, ["id", "region_id", "created_at", "resolved_at"])
    if light is None:
        return None
    regions = scope_regions(engine, scope, None)
    mask = pc.and_(
        pc.and_(pc.less_equal(light["created_at"], pa.scalar(as_of, _TS)),
                pc.or_kleene(pc.is_null(light["resolved_at"]), pc.greater(light["resolved_at"], pa.scalar(since, _TS)))),
        pc.is_in(light["region_id"], value_set=pa.array(regions["id"].to_numpy(), pa.int64())))
    pop = light.filter(pc.fill_null(mask, False))
    ids = pop["id"].to_numpy()
    # the partition of a row: the UTC month of its creation, as months since the first
    every = light["created_at"].to_numpy().astype("datetime64[M]").astype(np.int64)
    first_month = int(every.min()) if len(every) else 0
    month = pop["created_at"].to_numpy().astype("datetime64[M]").astype(np.int64) - first_month
    total = np.bincount(every - first_month)
    counts = np.bincount(month, minlength=len(total))
    opened = (counts >= DENSE_MONTH_ROWS) & (counts >= DENSE_MONTH_SHARE * total)
    dense = opened[month]
    parts = []
    if dense.any():
        dense_months = [str(np.datetime64(first_month + int(m), "M")) for m in np.flatnonzero(opened)]
        full = snapshot.safe_read(engine, "ticket", dense_months, list(_OPEN_COLUMNS))
        if full is None:
            return None
        parts.append(full.filter(pc.is_in(full["id"], value_set=pa.array(ids[dense], pa.int64()))))
    if (~dense).any():
        parts.append(_tickets_by_id(engine, ids[~dense]))
    schema = pa.schema([snapshot.SCHEMAS["ticket"].field(c) for c in _OPEN_COLUMNS])
    table = pa.concat_tables([t.cast(schema) for t in parts]) if parts else schema.empty_table()
    table = table.take(pc.sort_indices(table["id"]))
    return _with_lookups(engine, table, regions)


def _tickets_by_id(engine: Engine, ids: np.ndarray) -> pa.Table:
    """The ticket columns of the snapshot (:data:`_OPEN_COLUMNS`) for the given ids, from SQL."""
    times = [epoch_seconds(engine, getattr(Ticket, c)).label(c) for c in _T_TIMES]
    base = (select(Ticket.id, Ticket.external_no, Ticket.customer_id, Ticket.region_id, Ticket.channel,
                   Ticket.service_type, Customer.segment, Ticket.outage_event_id.is_not(None).label("outage"),
                   Ticket.progress_updates, Ticket.team_id, Ticket.staff_id, *times)
            .select_from(Ticket).outerjoin(Customer, Customer.id == Ticket.customer_id))
    rows: list[Any] = []
    with engine.connect() as conn:
        for i in range(0, len(ids), _CHUNK):
            chunk = [int(v) for v in ids[i:i + _CHUNK]]
            rows.extend(conn.execute(base.where(Ticket.id.in_(chunk))).cursor.fetchall())
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(_OPEN_COLUMNS)
    arrays = []
    for name, values in zip(_OPEN_COLUMNS, cols, strict=True):
        ftype = snapshot.SCHEMAS["ticket"].field(name).type
        if name in _T_TIMES:
            arrays.append(pa.array(values, pa.int64()).cast(pa.timestamp("s")).cast(ftype))
        elif name == "outage":
            arrays.append(pa.array([bool(v) for v in values], pa.bool_()))
        else:
            arrays.append(pa.array(values, ftype))
    return pa.Table.from_arrays(arrays, names=list(_OPEN_COLUMNS))


def _with_lookups(engine: Engine, table: pa.Table, regions: pd.DataFrame) -> pd.DataFrame:
    """:func:`open_work`'s frame from the ticket columns: area class, the customer's vulnerable flag, the lead
    (the ticket team's, else the handler's team's) and whether an unclosed follow-up exists for the ticket."""
    from data.models import Staff  # noqa: PLC0415

    df = table.to_pandas()
    for col in ("customer_id", "team_id", "staff_id"):
        df[col] = df[col].astype("Int64")
    df["outage"] = df["outage"].astype(bool)
    area = regions.set_index("id")["area_class"]
    df.insert(df.columns.get_loc("region_id") + 1, "area_class", area.reindex(df["region_id"].to_numpy()).to_numpy())
    df["area_class"] = df["area_class"].astype("str")
    custs = df["customer_id"].dropna().unique().astype("int64")
    with engine.connect() as conn:
        vulnerable = select(Customer.id).where(Customer.vulnerable.is_(True))
        if len(custs) <= _CHUNK:  # a day's open work: look its customers up by key
            vulnerable = vulnerable.where(Customer.id.in_([int(v) for v in custs]))
        # else every vulnerable customer (one scan); the DBAPI's tuples, no Row objects
        fragile = np.array(conn.execute(vulnerable).cursor.fetchall(), dtype=np.int64).reshape(-1)
        teams = conn.execute(select(Team.id, Team.lead_staff_id)).all()
        staff = conn.execute(select(Staff.id, Staff.team_id)).all()
        unclosed = conn.execute(select(FollowUp.ticket_id).where(FollowUp.ticket_id.is_not(None),
                                                                 FollowUp.status != "closed")).scalars().all()
    df.insert(df.columns.get_loc("segment") + 1, "vulnerable",
              df["customer_id"].isin(fragile).fillna(False).astype(bool).to_numpy())
    lead = pd.Series({int(t): v for t, v in teams if v is not None}, dtype="Int64")
    handler_team = pd.Series({int(s): int(t) for s, t in staff if t is not None}, dtype="Int64")
    own = df["team_id"].map(lead)
    via_handler = df["staff_id"].map(handler_team).map(lead)
    df["lead_staff_id"] = own.fillna(via_handler).astype("Int64")
    df["open_follow_up"] = df["id"].isin(np.asarray(unclosed, dtype="int64")).to_numpy()
    return df


def open_work(engine: Engine, scope: Scope, as_of: dt.datetime, recent_hours: float = 24.0) -> pd.DataFrame:
    """The work orders to score at ``as_of``: created by then and not resolved before ``as_of − recent_hours``,
    with the ticket team's lead (``lead_staff_id``, else the lead of the handler's team) and whether an unclosed
    follow-up exists for the ticket (``open_follow_up``); by id.

    The population is found in the columnar fact snapshot (ids and times of every month), its rows are read from
    the months that hold many of them; the few work orders still open from long ago are read from SQL by id, and
    the small lookups (area class, vulnerable customers, team leads, unclosed follow-ups) are joined in pandas.
    Without a usable snapshot everything comes from one SQL query; both give the same frame."""
    out = _open_work_from_snapshot(engine, scope, as_of, recent_hours)
    return out if out is not None else _open_work_from_sql(engine, scope, as_of, recent_hours)


def _open_work_from_sql(engine: Engine, scope: Scope, as_of: dt.datetime, recent_hours: float) -> pd.DataFrame:
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
    complaint work orders (``history``) in the last ``lookback_days``. Only the rows a feature can use are kept.

    The rows come from the columnar fact snapshot (:mod:`data.snapshot`: the contact, response and ticket months
    of the window, filtered by customer, scope and time in Arrow before they become DataFrames), or from SQL when
    the snapshot is off or its folder cannot be written. Both give the same rows (in no particular order)."""
    far = as_of - dt.timedelta(days=lookback_days)
    since = max(since, far) if since is not None else far
    ids = np.unique(np.asarray([int(i) for i in customer_ids], dtype=np.int64))
    out = _context_from_snapshot(engine, scope, as_of, ids, since, far)
    return out if out is not None else _context_from_sql(engine, scope, as_of, ids, since, far)


_TS = pa.timestamp("us", tz="UTC")


def _between(table: pa.Table, col: str, lo: dt.datetime, hi: dt.datetime) -> pa.ChunkedArray:
    """lo <= col <= hi (null: false)."""
    return pc.and_(pc.greater_equal(table[col], pa.scalar(lo, _TS)), pc.less_equal(table[col], pa.scalar(hi, _TS)))


def _context_from_snapshot(engine: Engine, scope: Scope, as_of: dt.datetime, ids: np.ndarray, since: dt.datetime,
                           far: dt.datetime) -> dict[str, pd.DataFrame] | None:
    end = as_of + dt.timedelta(seconds=1)  # the month holding as_of itself (rows at exactly as_of count)
    contacts = snapshot.safe_read(engine, "contact", snapshot.months_between(since, end),
                                  ["customer_id", "channel", "queued_at", "outage", "region_id"])
    responses = snapshot.safe_read(engine, "response", snapshot.months_between(far, end),
                                   ["ticket_id", "region_id", "submitted_at", "csat", "nps", "ticket_created_at"])
    if contacts is None or responses is None:
        return None
    who = pa.array(ids, pa.int64())
    regions = pa.array(scope_regions(engine, scope, None)["id"].to_numpy(), pa.int64())

    def keep(table: pa.Table, customer: str, time: str, lo: dt.datetime) -> pa.ChunkedArray:
        mask = pc.and_(pc.and_(_between(table, time, lo, as_of), pc.is_in(table[customer], value_set=who)),
                       pc.is_in(table["region_id"], value_set=regions))
        return pc.fill_null(mask, False)

    contacts = contacts.filter(keep(contacts, "customer_id", "queued_at", since))
    # dissatisfied responses with a work order (SQL semantics: NULL <= 2 OR nps <= 6 holds when nps <= 6)
    bad = pc.or_kleene(pc.less_equal(responses["csat"], 2), pc.less_equal(responses["nps"], 6))
    responses = responses.filter(pc.fill_null(pc.and_(pc.and_(
        _between(responses, "submitted_at", far, as_of), pc.is_in(responses["region_id"], value_set=regions)),
        pc.and_(bad, pc.is_valid(responses["ticket_id"]))), False))
    # the work orders: the complaint history's months and those of the responses' work orders (for the customer)
    months = set(snapshot.months_between(far, end))
    made = pc.min_max(responses["ticket_created_at"])
    if made["min"].is_valid:
        months |= set(snapshot.months_between(made["min"].as_py(), made["max"].as_py() + dt.timedelta(seconds=1)))
    tickets = snapshot.safe_read(engine, "ticket", sorted(months),
                                 ["id", "customer_id", "region_id", "service_type", "created_at"])
    if tickets is None:
        return None
    # a response belongs to the customer of its work order (inner join, as in SQL)
    at = pc.index_in(responses["ticket_id"], value_set=tickets["id"])
    owner = pc.take(tickets["customer_id"], pc.fill_null(at, 0)) if tickets.num_rows else pa.nulls(
        responses.num_rows, pa.int64())
    owner = pc.if_else(pc.is_valid(at), owner, pa.scalar(None, pa.int64()))
    responses = responses.append_column("customer_id", owner)
    responses = responses.filter(pc.fill_null(pc.is_in(responses["customer_id"], value_set=who), False))
    history = tickets.filter(pc.and_(keep(tickets, "customer_id", "created_at", far),
                                     pc.fill_null(pc.equal(tickets["service_type"], "complaint"), False)))
    return {
        "contacts": _typed(contacts.select(["customer_id", "channel", "queued_at", "outage"]),
                           ("customer_id",), ("outage",)),
        "responses": _typed(responses.select(["ticket_id", "customer_id", "submitted_at", "csat", "nps"]),
                            ("ticket_id", "customer_id")),
        "history": _typed(history.select(["id", "customer_id", "service_type", "created_at"]), ("id", "customer_id")),
    }


def _typed(table: pa.Table, ints: tuple[str, ...] = (), bools: tuple[str, ...] = ()) -> pd.DataFrame:
    """An Arrow table as a DataFrame with :func:`_frame`'s dtypes (optional ids Int64, flags bool)."""
    df = table.to_pandas()
    for col in ints:
        df[col] = df[col].astype("Int64")
    for col in bools:
        df[col] = df[col].fillna(False).astype(bool)
    return df


def _context_from_sql(engine: Engine, scope: Scope, as_of: dt.datetime, ids: np.ndarray, since: dt.datetime,
                      far: dt.datetime) -> dict[str, pd.DataFrame]:
    """:func:`customer_context` from SQL. The customer ids go into a temporary table on the same connection, so
    each read is an index lookup per customer instead of re-evaluating the population."""
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
            if len(ids):
                conn.execute(tmp.insert(), [{"id": int(i)} for i in ids])
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
