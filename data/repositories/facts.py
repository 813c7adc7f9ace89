"""Fact frames: compact columns of work orders, contacts, survey responses and follow-ups for the metrics layer.

The public readers (``ticket_facts`` ...) read the columnar snapshot (:mod:`data.snapshot`: one Parquet file per
kind and month, rebuilt from SQL when a writer touched the month): the caller's scope is resolved to region ids in
SQL (``region.path`` prefix as a bound parameter, narrowed by ``Filters.region_id`` and area classes), and the
snapshot rows are filtered by those ids, the period and the other filters before they become a DataFrame. Only the
months overlapping the period are opened. Rows come back in month order, by id within a month.

The SQL readers (``sql_ticket_facts`` ...) apply scope and filters in SQL and fetch timestamps as epoch seconds;
they build the snapshot partitions (one month, all regions) and are the fallback when the snapshot is off
(``GRIDCX_FACT_SNAPSHOT=0``) or its folder is not writable. Both return the same columns and dtypes: timestamps as
tz-aware UTC ``datetime64[us]``, optional ids as ``Int64``, flags as bool, other columns as
``DataFrame.from_records`` infers them.

Contact rows carry ``next_queued_at``: when the same customer next contacted about the same business category, on
any channel (system first-contact resolution, KPIS.md: "across all channels"), so the KPI needs neither the other
channels' rows nor a sort. Only "pool" contacts take part, as giver or receiver: not outage-linked, with a customer
and a queue time. Ties at the same queue second follow the contact id. NULL when the row is not a pool contact or
the next one is more than :data:`LOOK_AHEAD` later (the KPI window is at most 30 days). It is computed in SQL over
all regions (the scope never hides a repeat), so a contact partition depends on the next month's contacts too
(:mod:`data.snapshot` touches the earlier months with it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Engine, case, func, select

from data import snapshot
from data.models import (
    UTC,
    Answer,
    Contact,
    Customer,
    FollowUp,
    Invitation,
    Region,
    Response,
    SurveyDefinition,
    Ticket,
)
from data.repositories.core import AnySelect, Filters, Scope, epoch_seconds, scoped, ticket_filters

TICKET_TIMES = ("created_at", "first_response_at", "arrived_at", "resolved_at", "closed_at")
CONTACT_TIMES = ("queued_at", "answered_at", "ended_at")
CONTACT_FACT_TIMES = (*CONTACT_TIMES, "next_queued_at")
LOOK_AHEAD = dt.timedelta(days=31)  # next_queued_at is kept up to 31 days later (the FCR window N is 1-30 days)
FOLLOW_UP_TIMES = ("created_at", "due_at", "closed_at")
RESPONSE_TIMES = ("submitted_at", "ticket_created_at", "arrived_at", "resolved_at")
INVITATION_TIMES = ("created_at", "expires_at", "used_at")
OPTIONAL_IDS = ("staff_id", "team_id", "customer_id", "ticket_id", "owner_staff_id", "response_id")
FLAGS = ("outage", "abandoned", "proactive", "delivered", "reusable")
#: Nullable verdicts (true / false / unknown) imported from a source system: pandas ``boolean`` in both readers.
VERDICTS = ("sla_met",)


def _frame(engine: Engine, stmt: AnySelect, times: tuple[str, ...]) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(stmt)
        df = pd.DataFrame.from_records(result.fetchall(), columns=list(result.keys()))
    for col in times:
        df[col] = pd.to_datetime(df[col].astype("Float64"), unit="s", utc=True)
    for col in OPTIONAL_IDS:
        if col in df.columns:
            df[col] = df[col].astype("Int64")
    for col in FLAGS:
        if col in df.columns:
            df[col] = df[col].astype(bool)
    for col in VERDICTS:
        if col in df.columns:
            df[col] = df[col].astype("boolean")
    return df


def _segments(stmt: AnySelect, filters: Filters, segment: Any = Customer.segment) -> AnySelect:
    return stmt.where(segment.in_(filters.segments)) if filters.segments else stmt


#: A response's segment: its linked customer's (through the work order) is the truth; the response's own (as an
#: imported survey tool recorded it) stands in where there is no linked customer (survey-only results).
RESPONSE_SEGMENT = func.coalesce(Customer.segment, Response.segment)


def ticket_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Work orders created in the period, within scope and filters, one row each.

    Columns: id, external_no, region_id, area_class, channel, service_type, segment, staff_id, team_id, customer_id,
    status, exception_reason, outage (bool), reopen_count, progress_updates, substantiated, sla_met (the source
    system's own "within the time limit" verdict, nullable ``boolean``), and the timestamps.
    """
    df = _from_snapshot(engine, "ticket", scope, filters, "created_at",
                        {"channel": filters.channels, "service_type": filters.service_types,
                         "segment": filters.segments})
    return sql_ticket_facts(engine, scope, filters) if df is None else df


def _ticket_stmt(engine: Engine) -> AnySelect:
    times = [epoch_seconds(engine, getattr(Ticket, c)).label(c) for c in TICKET_TIMES]
    return (
        select(
            Ticket.id, Ticket.external_no, Ticket.region_id, Region.area_class, Ticket.channel, Ticket.service_type,
            Customer.segment, Ticket.staff_id, Ticket.team_id, Ticket.customer_id, Ticket.status,
            Ticket.exception_reason, Ticket.outage_event_id.is_not(None).label("outage"), Ticket.reopen_count,
            Ticket.progress_updates, Ticket.substantiated, Ticket.sla_met, *times,
        )
        .select_from(Ticket)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
    )


def sql_ticket_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """:func:`ticket_facts` straight from SQL."""
    stmt = scoped(_ticket_stmt(engine), Ticket.region_id, scope, filters, engine)
    stmt = stmt.where(Ticket.created_at >= filters.start, Ticket.created_at < filters.end)
    return _frame(engine, _segments(ticket_filters(stmt, filters), filters), TICKET_TIMES)


def contact_facts(engine: Engine, scope: Scope, filters: Filters, columns: list[str] | None = None) -> pd.DataFrame:
    """Inbound contacts queued in the period, within scope and filters (channel filter on the contact's channel,
    service-type filter on its business category).

    Columns: id, region_id, area_class, channel, category, segment, customer_id, ticket_id, staff_id, abandoned,
    handle_seconds, outage (bool), sla_met (the source's "answered within the service level", nullable ``boolean``),
    queued_at, answered_at, ended_at, next_queued_at (the same customer's next
    contact of the same category on any channel, whatever the scope and filters; see the module docstring).
    """
    df = _from_snapshot(engine, "contact", scope, filters, "queued_at",
                        {"channel": filters.channels, "category": filters.service_types,
                         "segment": filters.segments}, columns)
    if df is None:
        df = sql_contact_facts(engine, scope, filters)
        return df if columns is None else df[columns]
    return df


def _next_contact(engine: Engine, start: dt.datetime, end: dt.datetime) -> Any:
    """The pool contacts queued in [start, end + LOOK_AHEAD), all regions and channels, as a subquery (id, q, nxt):
    q = the queue time and nxt = the queue time of the same customer's next pool contact of the same category, in
    epoch seconds (the values the readers return), ordered by (queue second, id)."""
    q = epoch_seconds(engine, Contact.queued_at)
    nxt = func.lead(q).over(partition_by=(Contact.customer_id, Contact.category), order_by=(q, Contact.id))
    return (
        select(Contact.id, q.label("q"), nxt.label("nxt"))
        .where(Contact.outage_event_id.is_(None), Contact.customer_id.is_not(None), Contact.queued_at.is_not(None),
               Contact.queued_at >= start, Contact.queued_at < end + LOOK_AHEAD)
        .subquery("next_contact")
    )


def _contact_stmt(engine: Engine, start: dt.datetime, end: dt.datetime) -> AnySelect:
    """Contact rows with ``next_queued_at`` looked up among the pool contacts of [start, end + LOOK_AHEAD): the
    caller keeps rows of [start, end)."""
    times = [epoch_seconds(engine, getattr(Contact, c)).label(c) for c in CONTACT_TIMES]
    nc = _next_contact(engine, start, end)
    within = nc.c.nxt - nc.c.q <= int(LOOK_AHEAD.total_seconds())
    return (
        select(
            Contact.id, Contact.region_id, Region.area_class, Contact.channel, Contact.category, Customer.segment,
            Contact.customer_id, Contact.ticket_id, Contact.staff_id, Contact.abandoned, Contact.handle_seconds,
            Contact.outage_event_id.is_not(None).label("outage"), Contact.sla_met, *times,
            case((within, nc.c.nxt)).label("next_queued_at"),
        )
        .select_from(Contact)
        .outerjoin(Customer, Customer.id == Contact.customer_id)
        .outerjoin(nc, nc.c.id == Contact.id)
    )


def sql_contact_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """:func:`contact_facts` straight from SQL."""
    stmt = scoped(_contact_stmt(engine, filters.start, filters.end), Contact.region_id, scope, filters, engine)
    stmt = stmt.where(Contact.queued_at >= filters.start, Contact.queued_at < filters.end)
    if filters.channels:
        stmt = stmt.where(Contact.channel.in_(filters.channels))
    if filters.service_types:
        stmt = stmt.where(Contact.category.in_(filters.service_types))
    return _frame(engine, _segments(stmt, filters), CONTACT_FACT_TIMES)


def next_contact_times(customer_id: Any, category: Any, queued_at: Any, contact_id: Any, pool: Any) -> np.ndarray:
    """``next_queued_at`` computed in memory (as the SQL readers do) for rows holding ALL of their customers'
    contacts: ``queued_at`` as ``datetime64``, ``pool`` = not outage-linked, with a customer and a queue time.
    Returns ``datetime64[us]`` (NaT where NULL), one per row, in the rows' order."""
    t = np.asarray(queued_at).astype("datetime64[us]")
    out = np.full(len(t), np.datetime64("NaT"), dtype="datetime64[us]")
    idx = np.flatnonzero(np.asarray(pool, dtype=bool))
    if len(idx) < 2:
        return out
    cust, _ = pd.factorize(pd.Series(np.asarray(customer_id, dtype=object)[idx]), use_na_sentinel=False)
    cat, _ = pd.factorize(pd.Series(np.asarray(category, dtype=object)[idx]), use_na_sentinel=False)
    ti = t[idx].view(np.int64)
    ids = np.asarray(contact_id, dtype=np.int64)[idx]
    order = np.lexsort((ids, ti, cat, cust))  # (customer, category, time, id)
    o = idx[order]
    same = (cust[order][1:] == cust[order][:-1]) & (cat[order][1:] == cat[order][:-1])
    gap = ti[order][1:] - ti[order][:-1]
    keep = same & (gap <= LOOK_AHEAD // dt.timedelta(microseconds=1))
    out[o[:-1][keep]] = t[o[1:][keep]]
    return out


def with_next_contact(table: pa.Table) -> pa.Table:
    """A contact table of the stored columns but ``next_queued_at`` (e.g. a loader's generated rows, holding all
    contacts of their customers) with that column added by :func:`next_contact_times`."""
    if "next_queued_at" in table.column_names:
        return table
    pool = pc.and_(pc.and_(pc.invert(pc.fill_null(table["outage"], False)), pc.is_valid(table["customer_id"])),
                   pc.is_valid(table["queued_at"])).to_numpy(zero_copy_only=False)
    nxt = next_contact_times(table["customer_id"].to_numpy(zero_copy_only=False),
                             table["category"].to_numpy(zero_copy_only=False),
                             pc.cast(table["queued_at"], pa.timestamp("us")).to_numpy(zero_copy_only=False),
                             table["id"].to_numpy(zero_copy_only=False), pool)
    return table.append_column("next_queued_at", pa.array(nxt, pa.timestamp("us"), from_pandas=True).cast(_TS))


def response_facts(engine: Engine, scope: Scope, filters: Filters, columns: list[str] | None = None) -> pd.DataFrame:
    """Survey responses submitted in the period, within scope and filters, with their work order's attributes.

    Columns: id, ticket_id, region_id, area_class, survey_channel, channel (the work order's service channel),
    service_type, segment (the linked customer's; without one, the response's own: :data:`RESPONSE_SEGMENT`),
    staff_id, team_id, csat, nps, ces, fcr, comment, survey_key, submitted_at, ticket_created_at, arrived_at,
    resolved_at, progress_updates.
    Channel and service-type filters apply to the work order (responses without one, e.g. kiosk, pass only
    when those filters are empty). ``columns`` reads only those (a snapshot read skips the others' bytes).
    """
    df = _from_snapshot(engine, "response", scope, filters, "submitted_at",
                        {"channel": filters.channels, "service_type": filters.service_types,
                         "segment": filters.segments}, columns)
    if df is None:
        df = sql_response_facts(engine, scope, filters)
        return df if columns is None else df[columns]
    return df


def _response_stmt(engine: Engine) -> AnySelect:
    t_times = [
        epoch_seconds(engine, Ticket.created_at).label("ticket_created_at"),
        epoch_seconds(engine, Ticket.arrived_at).label("arrived_at"),
        epoch_seconds(engine, Ticket.resolved_at).label("resolved_at"),
    ]
    return (
        select(
            Response.id, Response.ticket_id, Response.region_id, Region.area_class,
            Response.channel.label("survey_channel"), Ticket.channel, Ticket.service_type,
            RESPONSE_SEGMENT.label("segment"), Ticket.staff_id, Ticket.team_id, Response.csat, Response.nps,
            Response.ces, Response.fcr, Response.comment, Response.survey_key,
            epoch_seconds(engine, Response.submitted_at).label("submitted_at"), *t_times, Ticket.progress_updates,
        )
        .select_from(Response)
        .outerjoin(Ticket, Ticket.id == Response.ticket_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
    )


def sql_response_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """:func:`response_facts` straight from SQL."""
    stmt = scoped(_response_stmt(engine), Response.region_id, scope, filters, engine)
    stmt = stmt.where(Response.submitted_at >= filters.start, Response.submitted_at < filters.end)
    stmt = _segments(ticket_filters(stmt, filters), filters, RESPONSE_SEGMENT)
    return _frame(engine, stmt, RESPONSE_TIMES)


def answer_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Item answers (long format) of the responses :func:`response_facts` returns for the same scope and filters.

    Columns: response_id, item_key, dimension, value_num.
    """
    ids = _from_snapshot(engine, "response", scope, filters, "submitted_at",
                         {"channel": filters.channels, "service_type": filters.service_types,
                          "segment": filters.segments}, columns=["id"])
    if ids is not None:
        table = snapshot.safe_read(engine, "answer", snapshot.months_between(filters.start, filters.end))
        if table is not None:
            keep = pc.is_in(table["response_id"], value_set=pa.array(ids["id"].to_numpy(), pa.int64()))
            return _to_frame(table.filter(keep), ())
    return sql_answer_facts(engine, scope, filters)


def sql_answer_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """:func:`answer_facts` straight from SQL."""
    inner = response_facts_ids(engine, scope, filters)
    stmt = select(Answer.response_id, Answer.item_key, Answer.dimension, Answer.value_num).where(
        Answer.response_id.in_(inner)
    )
    return _frame(engine, stmt, ())


def item_scales(engine: Engine) -> dict[str, str]:
    """Questionnaire item key -> its answer scale name (``faces5``, ``ces7``, ...) from the published questionnaires
    (table ``survey_definition``); an item key that two questionnaires give different scales is left out."""
    with engine.connect() as conn:
        defs = conn.execute(select(SurveyDefinition.definition)).scalars().all()
    seen: dict[str, set[str]] = {}
    for d in defs:
        for item in (d or {}).get("items", []) if isinstance(d, dict) else []:
            if isinstance(item, dict) and item.get("key") and item.get("scale"):
                seen.setdefault(str(item["key"]), set()).add(str(item["scale"]))
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}


def response_facts_ids(engine: Engine, scope: Scope, filters: Filters) -> AnySelect:
    """The ids of the responses in scope and filters, as a subquery."""
    stmt = (
        select(Response.id)
        .select_from(Response)
        .outerjoin(Ticket, Ticket.id == Response.ticket_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
    )
    stmt = scoped(stmt, Response.region_id, scope, filters, engine)
    stmt = stmt.where(Response.submitted_at >= filters.start, Response.submitted_at < filters.end)
    return _segments(ticket_filters(stmt, filters), filters, RESPONSE_SEGMENT)


def invitation_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Survey invitations created in the period, within scope and filters, with their work order's attributes (the
    denominator of the response rate). Read from SQL: one narrow row per invitation, only for the KPIs that need it.

    Columns: id, ticket_id, region_id, area_class, survey_channel (how the invitation went out), channel (the work
    order's service channel), service_type, segment, survey_key, delivered, reusable, created_at, expires_at,
    used_at. Channel, service-type and segment filters apply to the work order, as for responses.
    """
    times = [epoch_seconds(engine, getattr(Invitation, c)).label(c) for c in INVITATION_TIMES]
    stmt: AnySelect = (
        select(Invitation.id, Invitation.ticket_id, Invitation.region_id, Region.area_class,
               Invitation.channel.label("survey_channel"), Ticket.channel, Ticket.service_type, Customer.segment,
               Invitation.survey_key, Invitation.delivered, Invitation.reusable, *times)
        .select_from(Invitation)
        .outerjoin(Ticket, Ticket.id == Invitation.ticket_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
    )
    stmt = scoped(stmt, Invitation.region_id, scope, filters, engine)
    stmt = stmt.where(Invitation.created_at >= filters.start, Invitation.created_at < filters.end)
    stmt = _segments(ticket_filters(stmt, filters), filters).order_by(Invitation.id)
    return _frame(engine, stmt, INVITATION_TIMES)


def follow_up_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Follow-ups (回访) created in the period within scope (region and area-class filters apply).

    Columns: id, response_id, ticket_id, region_id, area_class, reason, severity, owner_staff_id, status,
    escalation_level, outcome, recovered, recovery_score, proactive, risk_score, created_at, due_at, closed_at.
    """
    df = _from_snapshot(engine, "follow_up", scope, filters, "created_at", {})
    return sql_follow_up_facts(engine, scope, filters) if df is None else df


def _follow_up_stmt(engine: Engine) -> AnySelect:
    times = [epoch_seconds(engine, getattr(FollowUp, c)).label(c) for c in FOLLOW_UP_TIMES]
    return select(
        FollowUp.id, FollowUp.response_id, FollowUp.ticket_id, FollowUp.region_id, Region.area_class,
        FollowUp.reason, FollowUp.severity, FollowUp.owner_staff_id, FollowUp.status, FollowUp.escalation_level,
        FollowUp.outcome, FollowUp.recovered, FollowUp.recovery_score, FollowUp.proactive, FollowUp.risk_score,
        *times,
    ).select_from(FollowUp)


def sql_follow_up_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """:func:`follow_up_facts` straight from SQL."""
    stmt = scoped(_follow_up_stmt(engine), FollowUp.region_id, scope, filters, engine)
    stmt = stmt.where(FollowUp.created_at >= filters.start, FollowUp.created_at < filters.end)
    return _frame(engine, stmt, FOLLOW_UP_TIMES)




# --- snapshot: schemas, builders (one month, all regions, from the SQL readers' statements) and the scoped read ---

_TS = pa.timestamp("us", tz="UTC")
_I, _F, _S, _B = pa.int64(), pa.float64(), pa.string(), pa.bool_()


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(fields))


SCHEMAS: dict[str, pa.Schema] = {
    "ticket": _schema(
        ("id", _I), ("external_no", _S), ("region_id", _I), ("channel", _S), ("service_type", _S), ("segment", _S),
        ("staff_id", _I), ("team_id", _I), ("customer_id", _I), ("status", _S), ("exception_reason", _S),
        ("outage", _B), ("reopen_count", _I), ("progress_updates", _I), ("substantiated", _B),
        ("sla_met", _B), *((c, _TS) for c in TICKET_TIMES)),
    "contact": _schema(
        ("id", _I), ("region_id", _I), ("channel", _S), ("category", _S), ("segment", _S), ("customer_id", _I),
        ("ticket_id", _I), ("staff_id", _I), ("abandoned", _B), ("handle_seconds", _F), ("outage", _B),
        ("sla_met", _B), *((c, _TS) for c in CONTACT_FACT_TIMES)),
    "response": _schema(
        ("id", _I), ("ticket_id", _I), ("region_id", _I), ("survey_channel", _S), ("channel", _S),
        ("service_type", _S), ("segment", _S), ("staff_id", _I), ("team_id", _I), ("csat", _I), ("nps", _I),
        ("ces", _I), ("fcr", _B), ("comment", _S), ("survey_key", _S), ("submitted_at", _TS),
        ("ticket_created_at", _TS), ("arrived_at", _TS), ("resolved_at", _TS), ("progress_updates", _I)),
    "answer": _schema(("response_id", _I), ("item_key", _S), ("dimension", _S), ("value_num", _F)),
    "follow_up": _schema(
        ("id", _I), ("response_id", _I), ("ticket_id", _I), ("region_id", _I), ("reason", _S), ("severity", _S),
        ("owner_staff_id", _I), ("status", _S), ("escalation_level", _I), ("outcome", _S), ("recovered", _B),
        ("recovery_score", _I), ("proactive", _B), ("risk_score", _F), *((c, _TS) for c in FOLLOW_UP_TIMES)),
}
TIMES: dict[str, tuple[str, ...]] = {"ticket": TICKET_TIMES, "contact": CONTACT_FACT_TIMES, "response": RESPONSE_TIMES,
                                     "answer": (), "follow_up": FOLLOW_UP_TIMES}


def _month_builder(kind: str, base: Callable[[Engine, dt.datetime, dt.datetime], AnySelect], period: Any,
                   region_fk: Any, order: Any) -> snapshot.Builder:
    def build(engine: Engine, start: dt.datetime, end: dt.datetime) -> pa.Table:
        stmt = base(engine, start, end)
        if region_fk is not None:
            stmt = stmt.join(Region, Region.id == region_fk)
        stmt = stmt.where(period >= start, period < end).order_by(order)
        return _arrow(engine, stmt, SCHEMAS[kind])

    return build


def _arrow(engine: Engine, stmt: AnySelect, schema: pa.Schema) -> pa.Table:
    """The rows of ``stmt`` as an Arrow table of ``schema``, column by column from the DBAPI cursor's tuples (no
    per-row Python objects beyond the driver's; the values are the ones :func:`_frame` converts)."""
    with engine.connect() as conn:
        result = conn.execute(stmt)
        names = list(result.keys())
        rows = result.cursor.fetchall() if result.cursor is not None else []
    cols = dict(zip(names, zip(*rows, strict=True), strict=False)) if rows else {n: () for n in names}
    arrays = []
    for field in schema:
        values = list(cols[field.name])
        if pa.types.is_timestamp(field.type):
            arr = pa.array(values, pa.int64()).cast(pa.timestamp("s")).cast(field.type)
        elif pa.types.is_boolean(field.type) and field.name in FLAGS:
            arr = pa.array([bool(v) for v in values], pa.bool_())  # as _frame's astype(bool)
        elif pa.types.is_boolean(field.type):
            arr = pa.array(values).cast(pa.bool_())  # SQLite gives 0/1, PostgreSQL True/False
        else:
            arr = pa.array(values, field.type)
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def _answer_stmt(engine: Engine) -> AnySelect:
    return (select(Answer.response_id, Answer.item_key, Answer.dimension, Answer.value_num)
            .join(Response, Response.id == Answer.response_id))


def _any_month(stmt: Callable[[Engine], AnySelect]) -> Callable[[Engine, dt.datetime, dt.datetime], AnySelect]:
    """A statement that does not depend on the month's bounds (all kinds but contact)."""
    return lambda engine, _start, _end: stmt(engine)


snapshot.SCHEMAS.update(SCHEMAS)
snapshot.BUILDERS.update({
    "ticket": _month_builder("ticket", _any_month(_ticket_stmt), Ticket.created_at, Ticket.region_id, Ticket.id),
    "contact": _month_builder("contact", _contact_stmt, Contact.queued_at, Contact.region_id, Contact.id),
    "response": _month_builder("response", _any_month(_response_stmt), Response.submitted_at, Response.region_id,
                               Response.id),
    "answer": _month_builder("answer", _any_month(_answer_stmt), Response.submitted_at, None, Answer.id),
    "follow_up": _month_builder("follow_up", _any_month(_follow_up_stmt), FollowUp.created_at, FollowUp.region_id,
                                FollowUp.id),
})


def scope_regions(engine: Engine, scope: Scope, filters: Filters | None) -> pd.DataFrame:
    """The regions (id, area_class) a read within ``scope`` and ``filters`` may return rows of, resolved in SQL
    exactly as :func:`data.repositories.core.scoped` does (path prefix bound, region narrowing, area classes)."""
    stmt = select(Region.id, Region.area_class).where(Region.path.startswith(scope.path, autoescape=True))
    if filters is not None:
        if filters.region_id is not None:
            sub = select(Region.path).where(Region.id == filters.region_id).scalar_subquery()
            stmt = stmt.where(func.substr(Region.path, 1, func.length(sub)) == sub)
        if filters.area_classes:
            stmt = stmt.where(Region.area_class.in_(filters.area_classes))
    with engine.connect() as conn:
        rows = conn.execute(stmt.order_by(Region.id)).all()
    return pd.DataFrame({"id": np.array([r[0] for r in rows], dtype="int64"),
                         "area_class": [r[1] for r in rows]})


def _from_snapshot(engine: Engine, kind: str, scope: Scope, filters: Filters, period: str,
                   narrow: dict[str, tuple[str, ...]], columns: list[str] | None = None) -> pd.DataFrame | None:
    """Rows of ``kind`` from the snapshot within scope, period and filters, or None when the snapshot is off."""
    if not snapshot.enabled():
        return None
    with_area = columns is None or "area_class" in columns
    stored = None if columns is None else [c for c in columns if c != "area_class"]
    needed = None if stored is None else list(dict.fromkeys(
        [*stored, "region_id", period, *(c for c, v in narrow.items() if v)]))
    table = snapshot.safe_read(engine, kind, snapshot.months_between(filters.start, filters.end), needed)
    if table is None:
        return None
    reg, everything = scope_regions(engine, scope, filters), _all_regions(engine)
    keep = pc.and_(pc.greater_equal(table[period], pa.scalar(_aware(filters.start), _TS)),
                   pc.less(table[period], pa.scalar(_aware(filters.end), _TS)))
    if len(reg) < everything:  # the scope (and region filter) leaves regions out: keep only its regions' rows
        keep = pc.and_(keep, pc.is_in(table["region_id"], value_set=pa.array(reg["id"].to_numpy(), pa.int64())))
    for col, values in narrow.items():
        if values:
            keep = pc.and_(keep, pc.is_in(table[col], value_set=pa.array(list(values), pa.string())))
    table = table.filter(pc.fill_null(keep, False))
    if with_area:
        pos = np.searchsorted(reg["id"].to_numpy(), table["region_id"].to_numpy())
        area = pa.array(reg["area_class"].tolist(), pa.string()).take(pa.array(pos, pa.int64()))
        table = table.add_column(table.schema.get_field_index("region_id") + 1, "area_class", area)
    return _to_frame(table if columns is None else table.select(columns), TIMES[kind])


def _all_regions(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Region)).scalar_one())


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _to_frame(table: pa.Table, times: tuple[str, ...]) -> pd.DataFrame:
    """A DataFrame with the dtypes :func:`_frame` gives the same rows (``from_records`` inference + conversions)."""
    df = table.to_pandas()
    n = len(df)
    for name in df.columns:
        if name in OPTIONAL_IDS:
            df[name] = df[name].astype("Int64")
        elif name in FLAGS:
            df[name] = df[name].astype(bool)
        elif name in VERDICTS:
            df[name] = df[name].astype("boolean")
        elif name in times:
            continue
        elif n == 0 or table[name].null_count == n:  # from_records: object when nothing is known
            df[name] = pd.Series([None] * n, dtype=object, index=df.index)
    return df
