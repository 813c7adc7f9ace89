"""Customer profiles for the customer archive and the choice of outreach channel (issue 9), scope in SQL.

:func:`customer_profiles` returns, for the given customers inside the caller's scope, the customer's own attributes
and service history aggregated in SQL (work orders, complaints, survey answers, last contact) plus the use of each
channel (work orders and contacts together, long format). The summary and the channel rule are pure
(metrics.profiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, or_, select, union_all

from data.models import Contact, Customer, Region, Response, Ticket
from data.repositories.core import Scope, epoch_seconds, scoped

PROFILE_COLUMNS = ["customer_id", "segment", "vulnerable", "opted_out", "preferred_channel", "region_id",
                   "area_class", "tickets", "complaints", "responses", "dissatisfied", "csat_mean",
                   "last_ticket_at"]


def customer_profiles(engine: Engine, scope: Scope, customer_ids: Sequence[int]) -> dict[str, pd.DataFrame]:
    """``customers`` (one row per customer in scope, columns :data:`PROFILE_COLUMNS`) and ``channels``
    (customer_id, channel, n: work orders and contacts per channel, within scope)."""
    ids = sorted({int(i) for i in customer_ids})
    if not ids:
        return {"customers": pd.DataFrame(columns=PROFILE_COLUMNS),
                "channels": pd.DataFrame(columns=["customer_id", "channel", "n"])}
    base = select(Customer.id, Customer.segment, Customer.vulnerable, Customer.opted_out,
                  Customer.preferred_channel, Customer.region_id).select_from(Customer)
    base = scoped(base, Customer.region_id, scope, None, engine).add_columns(Region.area_class).where(
        Customer.id.in_(ids))
    t = (select(Ticket.customer_id, func.count().label("tickets"),
                func.sum(case((Ticket.service_type == "complaint", 1), else_=0)).label("complaints"),
                func.max(epoch_seconds(engine, Ticket.created_at)).label("last_ticket_at"))
         .select_from(Ticket))
    t = scoped(t, Ticket.region_id, scope, None, engine).where(Ticket.customer_id.in_(ids)).group_by(Ticket.customer_id)
    bad = or_(Response.csat <= 2, Response.nps <= 6)
    r = (select(Ticket.customer_id, func.count().label("responses"),
                func.sum(case((bad, 1), else_=0)).label("dissatisfied"), func.avg(Response.csat).label("csat_mean"))
         .select_from(Response).join(Ticket, Ticket.id == Response.ticket_id))
    r = scoped(r, Response.region_id, scope, None, engine).where(Ticket.customer_id.in_(ids)).group_by(
        Ticket.customer_id)
    tc = scoped(select(Ticket.customer_id.label("customer_id"), Ticket.channel.label("channel")).select_from(Ticket),
                Ticket.region_id, scope, None, engine).where(Ticket.customer_id.in_(ids))
    # a contact that opened a work order is the same event as the work order: count contacts without one
    cc = scoped(select(Contact.customer_id.label("customer_id"), Contact.channel.label("channel"))
                .select_from(Contact), Contact.region_id, scope, None, engine).where(
        Contact.customer_id.in_(ids), Contact.ticket_id.is_(None))
    u = union_all(tc, cc).subquery()
    ch = select(u.c.customer_id, u.c.channel, func.count().label("n")).group_by(u.c.customer_id, u.c.channel)
    with engine.connect() as conn:
        cust = _df(conn, base, ["customer_id", "segment", "vulnerable", "opted_out", "preferred_channel",
                                "region_id", "area_class"])
        tk = _df(conn, t, ["customer_id", "tickets", "complaints", "last_ticket_at"])
        rs = _df(conn, r, ["customer_id", "responses", "dissatisfied", "csat_mean"])
        chan = _df(conn, ch, ["customer_id", "channel", "n"])
    out = cust.merge(tk, on="customer_id", how="left").merge(rs, on="customer_id", how="left")
    for col in ("tickets", "complaints", "responses", "dissatisfied"):
        out[col] = out[col].fillna(0).astype(int)
    out["csat_mean"] = out["csat_mean"].astype(float)
    out["last_ticket_at"] = pd.to_datetime(out["last_ticket_at"].astype("Float64"), unit="s", utc=True)
    out["vulnerable"] = out["vulnerable"].fillna(False).astype(bool)
    out["opted_out"] = out["opted_out"].fillna(False).astype(bool)
    chan = chan[chan["customer_id"].isin(out["customer_id"])]
    chan["n"] = chan["n"].astype(int)
    return {"customers": out[PROFILE_COLUMNS], "channels": chan.reset_index(drop=True)}


def _df(conn: Any, stmt: Any, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(conn.execute(stmt).fetchall(), columns=columns)


