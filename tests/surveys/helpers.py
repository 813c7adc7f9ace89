"""A survey world on top of the tiny world: a crew team with a lead, closed repairs, invitations made directly."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from data.models import UTC, Invitation, Staff, Team, Ticket
from surveys.tokens import hash_token, new_token
from tests.factories import TinyWorld, build_tiny_world

NOW = dt.datetime(2026, 10, 20, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class SurveyWorld:
    tiny: TinyWorld
    team_id: int
    lead_id: int
    ticket_id: int  # a closed repair in Hall A1 (station 7) handled by the team


def build_survey_world(engine: Engine, now: dt.datetime = NOW) -> SurveyWorld:
    tiny = build_tiny_world(engine)
    with engine.begin() as conn:
        team_id = conn.execute(insert(Team).values(code="CREW7", name="甲一抢修班", role="crew",
                                                   region_id=7)).inserted_primary_key[0]
        lead_id = conn.execute(insert(Staff).values(code="S700", name="王班长", role="crew", team_id=team_id,
                                                    region_id=7, active=True)).inserted_primary_key[0]
        conn.execute(update(Team).where(Team.id == team_id).values(lead_staff_id=lead_id))
        conn.execute(update(Ticket).where(Ticket.region_id == 7).values(team_id=team_id))
        # closed yesterday (relative to NOW): every closed ticket
        conn.execute(update(Ticket).where(Ticket.status == "closed").values(closed_at=now - dt.timedelta(days=1)))
        ticket_id = conn.execute(select(Ticket.id).where(Ticket.external_no == "T7-0")).scalar_one()
    return SurveyWorld(tiny, int(team_id), int(lead_id), int(ticket_id))


def new_invitation(engine: Engine, *, ticket_id: int | None = None, region_id: int = 7, survey_key: str = "repair",
                   version: int = 1, now: dt.datetime = NOW, expires_in: dt.timedelta = dt.timedelta(days=7),
                   reusable: bool = False, channel: str = "sms", customer_id: int | None = None) -> tuple[str, int]:
    token = new_token()
    with engine.begin() as conn:
        inv_id = conn.execute(insert(Invitation).values(
            token_hash=hash_token(token), survey_key=survey_key, survey_version=version, ticket_id=ticket_id,
            customer_id=customer_id, region_id=region_id, channel=channel, created_at=now,
            expires_at=now + expires_in, delivered=True, reusable=reusable)).inserted_primary_key[0]
    return token, int(inv_id)


HAPPY = {"csat": 5, "arrival": 5, "restore": 4, "progress": 5, "crew": 5, "fcr": True, "ces": 7, "nps": 10}
UNHAPPY = {"csat": 1, "arrival": 1, "fcr": False, "nps": 2, "comment": "等了五个小时，态度差"}
