"""Reads behind the manager pages' drill-downs: customer details for a page of rows, the customer archive (service
history), staff a follow-up can be assigned to, and the live follow-up queue. All scoped in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from data.models import Contact, Customer, FollowUp, Region, Response, Staff, Ticket
from data.repositories.core import AnySelect, Scope, _utc, scoped


def _df(engine: Engine, stmt: Any, columns: Sequence[str]) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return _utc(pd.DataFrame(rows, columns=list(columns)))


def customers(engine: Engine, scope: Scope, ids: Sequence[int]) -> pd.DataFrame:
    """id, account_no, name, phone, address, segment, vulnerable of the given customers inside the scope (a page of
    rows at a time: callers pass at most a few hundred ids)."""
    cols = ["id", "account_no", "name", "phone", "address", "segment", "vulnerable"]
    ids = [int(i) for i in ids if i is not None and not pd.isna(i)]
    if not ids:
        return pd.DataFrame(columns=cols)
    stmt = select(Customer.id, Customer.account_no, Customer.name, Customer.phone, Customer.address,
                  Customer.segment, Customer.vulnerable).select_from(Customer)
    stmt = scoped(stmt, Customer.region_id, scope, None, engine).where(Customer.id.in_(ids))
    return _df(engine, stmt, cols)


def customer_history(engine: Engine, scope: Scope, customer_id: int, limit: int = 200) -> dict[str, pd.DataFrame]:
    """The customer archive: the customer (inside scope) and their work orders, contacts, survey responses and
    follow-ups inside scope, newest first. An empty ``customer`` frame means out of scope or unknown."""
    out: dict[str, pd.DataFrame] = {"customer": customers(engine, scope, [customer_id])}
    if out["customer"].empty:
        return {k: pd.DataFrame() for k in ("customer", "tickets", "contacts", "responses", "follow_ups")}
    t_cols = ["id", "external_no", "created_at", "channel", "service_type", "status", "arrived_at", "resolved_at",
              "exception_reason", "region"]
    stmt: AnySelect = select(Ticket.id, Ticket.external_no, Ticket.created_at, Ticket.channel, Ticket.service_type,
                  Ticket.status, Ticket.arrived_at, Ticket.resolved_at, Ticket.exception_reason,
                  Region.name_zh).select_from(Ticket)
    stmt = scoped(stmt, Ticket.region_id, scope, None, engine).where(Ticket.customer_id == customer_id)
    out["tickets"] = _df(engine, stmt.order_by(Ticket.created_at.desc()).limit(limit), t_cols)
    c_cols = ["id", "queued_at", "channel", "category", "abandoned", "answered_at", "ticket_id"]
    stmt = select(Contact.id, Contact.queued_at, Contact.channel, Contact.category, Contact.abandoned,
                  Contact.answered_at, Contact.ticket_id).select_from(Contact)
    stmt = scoped(stmt, Contact.region_id, scope, None, engine).where(Contact.customer_id == customer_id)
    out["contacts"] = _df(engine, stmt.order_by(Contact.queued_at.desc()).limit(limit), c_cols)
    r_cols = ["id", "submitted_at", "ticket_id", "channel", "csat", "nps", "ces", "fcr", "comment"]
    tk = aliased(Ticket)
    stmt = select(Response.id, Response.submitted_at, Response.ticket_id, Response.channel, Response.csat,
                  Response.nps, Response.ces, Response.fcr, Response.comment).select_from(Response).join(
        tk, tk.id == Response.ticket_id)
    stmt = scoped(stmt, Response.region_id, scope, None, engine).where(tk.customer_id == customer_id)
    out["responses"] = _df(engine, stmt.order_by(Response.submitted_at.desc()).limit(limit), r_cols)
    f_cols = ["id", "created_at", "reason", "severity", "status", "due_at", "closed_at", "outcome", "recovered"]
    stmt = select(FollowUp.id, FollowUp.created_at, FollowUp.reason, FollowUp.severity, FollowUp.status,
                  FollowUp.due_at, FollowUp.closed_at, FollowUp.outcome, FollowUp.recovered).select_from(FollowUp)
    stmt = scoped(stmt, FollowUp.region_id, scope, None, engine).where(FollowUp.customer_id == customer_id)
    out["follow_ups"] = _df(engine, stmt.order_by(FollowUp.created_at.desc()).limit(limit), f_cols)
    return out


def staff_in_scope(engine: Engine, scope: Scope) -> pd.DataFrame:
    """Active staff inside the scope (id, code, name, role, region_id) for assigning follow-ups."""
    stmt = select(Staff.id, Staff.code, Staff.name, Staff.role, Staff.region_id).select_from(Staff)
    stmt = scoped(stmt, Staff.region_id, scope, None, engine).where(Staff.active.is_(True)).order_by(Staff.code)
    return _df(engine, stmt, ["id", "code", "name", "role", "region_id"])


def follow_up_queue(engine: Engine, scope: Scope, *, region_path: str | None = None,
                    statuses: Sequence[str] = ("open", "in_progress", "escalated"), limit: int = 1000) -> pd.DataFrame:
    """Follow-ups inside the scope (optionally a narrower region subtree) with the given statuses, most urgent first:
    id, reason, severity, status, escalation_level, owner_staff_id, owner_code, owner_name, region_id, region,
    customer_id, ticket_id, ticket_no, response_id, created_at, due_at, closed_at, outcome, recovered, notes."""
    owner = aliased(Staff)
    cols = ["id", "reason", "severity", "status", "escalation_level", "owner_staff_id", "owner_code", "owner_name",
            "region_id", "region", "customer_id", "ticket_id", "ticket_no", "response_id", "created_at", "due_at",
            "closed_at", "outcome", "recovered", "notes"]
    stmt: AnySelect = (select(FollowUp.id, FollowUp.reason, FollowUp.severity, FollowUp.status,
                               FollowUp.escalation_level,
                   FollowUp.owner_staff_id, owner.code, owner.name, FollowUp.region_id, Region.name_zh,
                   FollowUp.customer_id, FollowUp.ticket_id, Ticket.external_no, FollowUp.response_id,
                   FollowUp.created_at, FollowUp.due_at, FollowUp.closed_at, FollowUp.outcome, FollowUp.recovered,
                   FollowUp.notes)
            .select_from(FollowUp)
            .outerjoin(owner, owner.id == FollowUp.owner_staff_id)
            .outerjoin(Ticket, Ticket.id == FollowUp.ticket_id))
    stmt = scoped(stmt, FollowUp.region_id, scope, None, engine)
    if region_path:
        stmt = stmt.where(Region.path.startswith(region_path, autoescape=True))
    stmt = stmt.where(FollowUp.status.in_(list(statuses)))
    stmt = stmt.order_by(FollowUp.escalation_level.desc(), FollowUp.due_at, FollowUp.id).limit(limit)
    return _df(engine, stmt, cols)
