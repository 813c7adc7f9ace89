"""Fact frames: compact columns of work orders, contacts, survey responses and follow-ups for the metrics layer.

Each reader applies the caller's scope and the global filters in SQL and fetches timestamps as epoch seconds
(no string parsing in Python); timestamps come back as tz-aware UTC ``datetime64`` columns.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, Select, select

from data.models import Answer, Contact, Customer, FollowUp, Region, Response, Ticket
from data.repositories.core import Filters, Scope, epoch_seconds, scoped, ticket_filters

TICKET_TIMES = ("created_at", "first_response_at", "arrived_at", "resolved_at", "closed_at")
CONTACT_TIMES = ("queued_at", "answered_at", "ended_at")
FOLLOW_UP_TIMES = ("created_at", "due_at", "closed_at")


def _frame(engine: Engine, stmt: Select[Any], times: tuple[str, ...]) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(stmt)
        df = pd.DataFrame.from_records(result.fetchall(), columns=list(result.keys()))
    for col in times:
        df[col] = pd.to_datetime(df[col].astype("Float64"), unit="s", utc=True)
    for col in ("staff_id", "team_id", "customer_id", "ticket_id", "owner_staff_id", "response_id"):
        if col in df.columns:
            df[col] = df[col].astype("Int64")
    for col in ("outage", "abandoned", "proactive"):
        if col in df.columns:
            df[col] = df[col].astype(bool)
    return df


def _segments(stmt: Select[Any], filters: Filters) -> Select[Any]:
    return stmt.where(Customer.segment.in_(filters.segments)) if filters.segments else stmt


def ticket_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Work orders created in the period, within scope and filters, one row each.

    Columns: id, external_no, region_id, area_class, channel, service_type, segment, staff_id, team_id, customer_id,
    status, exception_reason, outage (bool), reopen_count, progress_updates, substantiated, and the timestamps.
    """
    times = [epoch_seconds(engine, getattr(Ticket, c)).label(c) for c in TICKET_TIMES]
    stmt = (
        select(
            Ticket.id, Ticket.external_no, Ticket.region_id, Region.area_class, Ticket.channel, Ticket.service_type,
            Customer.segment, Ticket.staff_id, Ticket.team_id, Ticket.customer_id, Ticket.status,
            Ticket.exception_reason, Ticket.outage_event_id.is_not(None).label("outage"), Ticket.reopen_count,
            Ticket.progress_updates, Ticket.substantiated, *times,
        )
        .select_from(Ticket)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
    )
    stmt = scoped(stmt, Ticket.region_id, scope, filters, engine)
    stmt = stmt.where(Ticket.created_at >= filters.start, Ticket.created_at < filters.end)
    return _frame(engine, _segments(ticket_filters(stmt, filters), filters), TICKET_TIMES)


def contact_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Inbound contacts queued in the period, within scope and filters (channel filter on the contact's channel,
    service-type filter on its business category).

    Columns: id, region_id, area_class, channel, category, segment, customer_id, ticket_id, staff_id, abandoned,
    handle_seconds, outage (bool), queued_at, answered_at, ended_at.
    """
    times = [epoch_seconds(engine, getattr(Contact, c)).label(c) for c in CONTACT_TIMES]
    stmt = (
        select(
            Contact.id, Contact.region_id, Region.area_class, Contact.channel, Contact.category, Customer.segment,
            Contact.customer_id, Contact.ticket_id, Contact.staff_id, Contact.abandoned, Contact.handle_seconds,
            Contact.outage_event_id.is_not(None).label("outage"), *times,
        )
        .select_from(Contact)
        .outerjoin(Customer, Customer.id == Contact.customer_id)
    )
    stmt = scoped(stmt, Contact.region_id, scope, filters, engine)
    stmt = stmt.where(Contact.queued_at >= filters.start, Contact.queued_at < filters.end)
    if filters.channels:
        stmt = stmt.where(Contact.channel.in_(filters.channels))
    if filters.service_types:
        stmt = stmt.where(Contact.category.in_(filters.service_types))
    return _frame(engine, _segments(stmt, filters), CONTACT_TIMES)


def response_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Survey responses submitted in the period, within scope and filters, with their work order's attributes.

    Columns: id, ticket_id, region_id, area_class, survey_channel, channel (the work order's service channel),
    service_type, segment, staff_id, team_id, csat, nps, ces, fcr, comment, survey_key, submitted_at,
    ticket_created_at, arrived_at, resolved_at, progress_updates.
    Channel and service-type filters apply to the work order (responses without one, e.g. kiosk, pass only
    when those filters are empty).
    """
    t_times = [
        epoch_seconds(engine, Ticket.created_at).label("ticket_created_at"),
        epoch_seconds(engine, Ticket.arrived_at).label("arrived_at"),
        epoch_seconds(engine, Ticket.resolved_at).label("resolved_at"),
    ]
    stmt = (
        select(
            Response.id, Response.ticket_id, Response.region_id, Region.area_class,
            Response.channel.label("survey_channel"), Ticket.channel, Ticket.service_type, Customer.segment,
            Ticket.staff_id, Ticket.team_id, Response.csat, Response.nps, Response.ces, Response.fcr,
            Response.comment, Response.survey_key, epoch_seconds(engine, Response.submitted_at).label("submitted_at"),
            *t_times, Ticket.progress_updates,
        )
        .select_from(Response)
        .outerjoin(Ticket, Ticket.id == Response.ticket_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
    )
    stmt = scoped(stmt, Response.region_id, scope, filters, engine)
    stmt = stmt.where(Response.submitted_at >= filters.start, Response.submitted_at < filters.end)
    stmt = _segments(ticket_filters(stmt, filters), filters)
    return _frame(engine, stmt, ("submitted_at", "ticket_created_at", "arrived_at", "resolved_at"))


def answer_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Item answers (long format) of the responses :func:`response_facts` returns for the same scope and filters.

    Columns: response_id, item_key, dimension, value_num.
    """
    inner = response_facts_ids(engine, scope, filters)
    stmt = select(Answer.response_id, Answer.item_key, Answer.dimension, Answer.value_num).where(
        Answer.response_id.in_(inner)
    )
    return _frame(engine, stmt, ())


def response_facts_ids(engine: Engine, scope: Scope, filters: Filters) -> Select[Any]:
    """The ids of the responses in scope and filters, as a subquery."""
    stmt = (
        select(Response.id)
        .select_from(Response)
        .outerjoin(Ticket, Ticket.id == Response.ticket_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
    )
    stmt = scoped(stmt, Response.region_id, scope, filters, engine)
    stmt = stmt.where(Response.submitted_at >= filters.start, Response.submitted_at < filters.end)
    return _segments(ticket_filters(stmt, filters), filters)


def follow_up_facts(engine: Engine, scope: Scope, filters: Filters) -> pd.DataFrame:
    """Follow-ups (回访) created in the period within scope (region and area-class filters apply).

    Columns: id, response_id, ticket_id, region_id, area_class, reason, severity, owner_staff_id, status,
    escalation_level, outcome, recovered, recovery_score, proactive, risk_score, created_at, due_at, closed_at.
    """
    times = [epoch_seconds(engine, getattr(FollowUp, c)).label(c) for c in FOLLOW_UP_TIMES]
    stmt = select(
        FollowUp.id, FollowUp.response_id, FollowUp.ticket_id, FollowUp.region_id, Region.area_class,
        FollowUp.reason, FollowUp.severity, FollowUp.owner_staff_id, FollowUp.status, FollowUp.escalation_level,
        FollowUp.outcome, FollowUp.recovered, FollowUp.recovery_score, FollowUp.proactive, FollowUp.risk_score,
        *times,
    ).select_from(FollowUp)
    stmt = scoped(stmt, FollowUp.region_id, scope, filters, engine)
    stmt = stmt.where(FollowUp.created_at >= filters.start, FollowUp.created_at < filters.end)
    return _frame(engine, stmt, FOLLOW_UP_TIMES)


