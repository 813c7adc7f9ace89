"""Response-rate tracking: invitations delivered and answered, per channel, region and service type, within scope.

``response rate = responses / invitations delivered`` (KPIS.md §3), counted by the invitation's creation time.
Kiosk (reusable QR) invitations have no denominator and are left out; their responses are counted by
:func:`kiosk_responses`. The scope is applied in SQL on the region path, like ``data.repositories``; ``None`` means the whole database
(command line and admin use only).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, select

from data.models import UTC, Invitation, Region, Response, Ticket
from data.repositories import Scope

GROUPS = ("channel", "region", "service_type")


def response_rates(engine: Engine, scope: Scope | None, start: dt.datetime, end: dt.datetime,
                   by: tuple[str, ...] = GROUPS, now: dt.datetime | None = None) -> pd.DataFrame:
    """One row per group: ``invited``, ``delivered``, ``responded``, ``reminded``, ``expired_unanswered``, ``rate``.

    ``by`` is any subset of ``channel``, ``region`` (the invitation's region: id, code, names) and ``service_type``
    (of the invited work order); an empty ``by`` gives the overall figure.
    """
    unknown = set(by) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown grouping {', '.join(sorted(unknown))}; use {', '.join(GROUPS)}")
    keys: list[Any] = []
    if "channel" in by:
        keys.append(Invitation.channel.label("channel"))
    if "region" in by:
        keys += [Region.id.label("region_id"), Region.code.label("region_code"), Region.name_zh.label("region_zh"),
                 Region.name_en.label("region_en")]
    if "service_type" in by:
        keys.append(Ticket.service_type.label("service_type"))
    answered = Response.id.is_not(None)
    now = now or dt.datetime.now(UTC)
    stmt = (
        select(*keys,
               func.count(Invitation.id).label("invited"),
               func.sum(case((Invitation.delivered.is_(True), 1), else_=0)).label("delivered"),
               func.sum(case((answered, 1), else_=0)).label("responded"),
               func.sum(case((Invitation.reminded_at.is_not(None), 1), else_=0)).label("reminded"),
               func.sum(case(((~answered) & (Invitation.expires_at <= now), 1),
                             else_=0)).label("expired_unanswered"))
        .select_from(Invitation)
        .join(Region, Region.id == Invitation.region_id)
        .outerjoin(Ticket, Ticket.id == Invitation.ticket_id)
        .outerjoin(Response, Response.invitation_id == Invitation.id)
        .where(Invitation.reusable.is_(False), Invitation.created_at >= start, Invitation.created_at < end)
    )
    if scope is not None:
        stmt = stmt.where(Region.path.startswith(scope.path, autoescape=True))
    if keys:
        stmt = stmt.group_by(*keys).order_by(*keys)
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(stmt).mappings().all())
    cols = [k.key for k in keys] + ["invited", "delivered", "responded", "reminded", "expired_unanswered", "rate"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    for c in ("invited", "delivered", "responded", "reminded", "expired_unanswered"):
        df[c] = df[c].fillna(0).astype(int)
    df["rate"] = (df["responded"] / df["delivered"].where(df["delivered"] > 0)).astype(float)
    return df[cols]


def kiosk_responses(engine: Engine, scope: Scope | None, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """Responses from hall QR codes per hall (no rate: a kiosk code has no denominator)."""
    stmt = (select(Region.id.label("region_id"), Region.code.label("region_code"), Region.name_zh.label("region_zh"),
                   func.count(Response.id).label("responses"))
            .select_from(Response).join(Region, Region.id == Response.region_id)
            .where(Response.channel == "qr", Response.invitation_id.is_(None), Response.submitted_at >= start,
                   Response.submitted_at < end)
            .group_by(Region.id, Region.code, Region.name_zh).order_by(Region.code))
    if scope is not None:
        stmt = stmt.where(Region.path.startswith(scope.path, autoescape=True))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).mappings().all(),
                            columns=["region_id", "region_code", "region_zh", "responses"])
