"""SQLAlchemy 2 typed models for every GridCX entity.

Times are stored as naive UTC in every dialect (see :class:`UTCDateTime`) and shown in the site's zone at the edge.
Fractions are stored as 0-1. Region scope is enforced through ``region.path`` (a materialised path such as
``/1/3/17/``): a subtree is every region whose path starts with the root's path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

UTC = dt.UTC


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as naive UTC; aware values are converted, values read back are aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if hasattr(value, "to_pydatetime"):
            value = value.to_pydatetime()
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text written by bulk loaders
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


# --- organisation -------------------------------------------------------------------------------------------------


class Region(Base):
    """Province -> city (地市) -> county (县/区) -> station (供电所/营业厅)."""

    __tablename__ = "region"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    level: Mapped[str] = mapped_column(String(16))  # province | city | county | station
    kind: Mapped[str | None] = mapped_column(String(16))  # station kind: supply_station | hall
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    path: Mapped[str] = mapped_column(String(128), index=True)
    area_class: Mapped[str] = mapped_column(String(16))  # urban | rural | remote
    customers: Mapped[int] = mapped_column(Integer, default=0)  # customers served, for complaints per 1,000


class Team(Base):
    __tablename__ = "team"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(24))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    lead_staff_id: Mapped[int | None] = mapped_column(Integer)


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # 工号
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(24))  # agent | clerk | crew | account_manager
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Customer(Base):
    __tablename__ = "customer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_no: Mapped[str] = mapped_column(String(32), unique=True)  # 户号
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(256))
    segment: Mapped[str] = mapped_column(String(16))  # residential | commercial | industrial | agricultural
    vulnerable: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    preferred_channel: Mapped[str | None] = mapped_column(String(16))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)


class OutageEvent(Base):
    """A mass outage; tickets and contacts it causes are linked and excluded where KPIS.md says so."""

    __tablename__ = "outage_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cause: Mapped[str] = mapped_column(String(32))
    customers_affected: Mapped[int] = mapped_column(Integer, default=0)


# --- service log --------------------------------------------------------------------------------------------------


class Ticket(Base):
    """A work order (工单)."""

    __tablename__ = "ticket"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_no: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    channel: Mapped[str] = mapped_column(String(16))
    service_type: Mapped[str] = mapped_column(String(32))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    first_response_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # open | in_progress | resolved | closed
    exception_reason: Mapped[str | None] = mapped_column(String(32))
    outage_event_id: Mapped[int | None] = mapped_column(ForeignKey("outage_event.id"))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    progress_updates: Mapped[int] = mapped_column(Integer, default=0)
    substantiated: Mapped[bool | None] = mapped_column(Boolean)  # complaints: upheld after investigation
    # Imported from a foreign export (migration 0006): the source's own category label kept as text where the
    # mapping knew no code for it, and the source system's own SLA verdict (used when the clock cannot be computed).
    category_text: Mapped[str | None] = mapped_column(String(64))
    sla_met: Mapped[bool | None] = mapped_column(Boolean)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now, onupdate=_now)

    __table_args__ = (
        Index("ix_ticket_region_created", "region_id", "created_at"),
        Index("ix_ticket_created", "created_at"),
    )


class Contact(Base):
    """An inbound contact: a 95598 call, an online chat, a hall visit (queue ticket)."""

    __tablename__ = "contact"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_no: Mapped[str] = mapped_column(String(64), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    channel: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(32))  # business category, same codes as service types
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    handle_seconds: Mapped[float | None] = mapped_column(Float)
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    # Migration 0006: the source's category label kept as text, and the source's own "answered within the service
    # level" verdict (used when answered_at is missing).
    category_text: Mapped[str | None] = mapped_column(String(64))
    sla_met: Mapped[bool | None] = mapped_column(Boolean)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    outage_event_id: Mapped[int | None] = mapped_column(ForeignKey("outage_event.id"))

    __table_args__ = (
        Index("ix_contact_region_queued", "region_id", "queued_at"),
        Index("ix_contact_customer_queued", "customer_id", "queued_at"),
    )


class SlaPolicy(Base):
    """One time-limit commitment of a policy pack (loaded from data/refdata/sla_policies.csv)."""

    __tablename__ = "sla_policy"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pack: Mapped[str] = mapped_column(String(32))
    service_type: Mapped[str] = mapped_column(String(32))
    area_class: Mapped[str] = mapped_column(String(16))  # urban | rural | remote | *
    segment: Mapped[str] = mapped_column(String(16))  # residential | ... | *
    interval: Mapped[str] = mapped_column(String(24))  # arrival | restoration | resolution | first_contact | reply | wait
    clock: Mapped[str] = mapped_column(String(16))  # calendar | working
    limit_value: Mapped[float] = mapped_column(Float)
    limit_unit: Mapped[str] = mapped_column(String(16))  # minutes | hours | working_days | days
    semantics: Mapped[str] = mapped_column(String(16))  # average | each
    source: Mapped[str] = mapped_column(String(256))
    valid_from: Mapped[dt.date | None] = mapped_column(DateTime)
    valid_to: Mapped[dt.date | None] = mapped_column(DateTime)

    __table_args__ = (UniqueConstraint("pack", "service_type", "area_class", "segment", "interval"),)


# --- surveys ------------------------------------------------------------------------------------------------------


class SurveyDefinition(Base):
    __tablename__ = "survey_definition"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    checksum: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)

    __table_args__ = (UniqueConstraint("key", "version"),)


class Invitation(Base):
    """A one-time survey invitation. Only the token's hash is stored."""

    __tablename__ = "invitation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    survey_key: Mapped[str] = mapped_column(String(64))
    survey_version: Mapped[int] = mapped_column(Integer)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms | wechat | qr | ivr
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    delivered: Mapped[bool] = mapped_column(Boolean, default=True)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reusable: Mapped[bool] = mapped_column(Boolean, default=False)  # anonymous kiosk QR codes
    # The survey tool's own number of an imported invitation (import kind ``invitations``); such an invitation has
    # no token anyone holds (token_hash is a non-hex placeholder), so it is never answered or reminded through GridCX.
    external_no: Mapped[str | None] = mapped_column(String(64), index=True, unique=True)


class KioskTally(Base):
    """The ceiling of a reusable (kiosk) invitation, one row per link and local day, counted inside the intake
    transaction (surveys/intake.py): the row is locked first, so instances sharing the database queue on it."""

    __tablename__ = "kiosk_tally"
    invitation_id: Mapped[int] = mapped_column(ForeignKey("invitation.id"), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # local date, YYYY-MM-DD
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    recent: Mapped[list[str]] = mapped_column(JSON, default=list)  # UTC ISO times of the latest accepted, newest last
    audited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # the last kiosk_refused audit event


class Response(Base):
    __tablename__ = "response"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitation.id"), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    external_no: Mapped[str | None] = mapped_column(String(64), unique=True)  # IVR call id / import key
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    channel: Mapped[str] = mapped_column(String(16))  # survey channel: sms | wechat | qr | ivr | web
    survey_key: Mapped[str] = mapped_column(String(64))
    survey_version: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    csat: Mapped[int | None] = mapped_column(Integer)  # 1-5
    nps: Mapped[int | None] = mapped_column(Integer)  # 0-10
    ces: Mapped[int | None] = mapped_column(Integer)  # 1-7
    fcr: Mapped[bool | None] = mapped_column(Boolean)  # survey first-contact resolution
    comment: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    # The respondent's segment as the survey tool recorded it (imported results): used only where the response has
    # no linked customer (through its work order), whose segment is the truth (data.repositories.facts).
    segment: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (Index("ix_response_region_submitted", "region_id", "submitted_at"),)


class Answer(Base):
    __tablename__ = "answer"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("response.id", ondelete="CASCADE"), index=True)
    item_key: Mapped[str] = mapped_column(String(64))
    dimension: Mapped[str | None] = mapped_column(String(32))
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)


class FollowUp(Base):
    """A 回访 / closed-loop case."""

    __tablename__ = "follow_up"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("response.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    reason: Mapped[str] = mapped_column(String(32))  # low_csat | detractor | unresolved | complaint_topic | proactive
    severity: Mapped[str] = mapped_column(String(16))  # high | medium | low
    owner_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | in_progress | escalated | closed
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))  # resolved | unresolved | unreachable
    recovered: Mapped[bool | None] = mapped_column(Boolean)
    recovery_score: Mapped[int | None] = mapped_column(Integer)  # CSAT 1-5 at the follow-up call
    proactive: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_score: Mapped[float | None] = mapped_column(Float)
    notes: Mapped[str | None] = mapped_column(Text)


# --- quality reviews (服务质检) -------------------------------------------------------------------------------------


class QualityReview(Base):
    """One supervisor's grading of one work order or call against a rubric (reports/schemes/qa_rubric.toml).

    ``scores`` holds item key -> points; ``score`` is the rubric-weighted share of the maximum (0-1); ``violation``
    marks a conduct violation ("十个不准"), a critical item of the assessment scheme. ``reviewer`` is the reviewer's
    username (supervisors are app users; demo reviewers need not be). The same ticket or contact graded by more
    than one reviewer gives the inter-reviewer agreement.
    """

    __tablename__ = "quality_review"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))  # the staff member's region, for scope
    reviewer: Mapped[str] = mapped_column(String(64), index=True)
    reviewed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    rubric_key: Mapped[str] = mapped_column(String(32))
    rubric_version: Mapped[int] = mapped_column(Integer)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    violation: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="form")  # form | demo | import

    __table_args__ = (Index("ix_quality_review_region_reviewed", "region_id", "reviewed_at"),)


# --- people and audit ---------------------------------------------------------------------------------------------


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))  # admin | manager | hr
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))  # scope: this region's subtree
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now, index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))  # login | login_failed | import | export | role_change | ...
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ImportMapping(Base):
    """A column mapping saved from the admin wizard (data/repositories/mappings.py): one row per version, never
    updated; ``data.io.mapping.load("name")`` takes the newest, ``"name@3"`` a given one."""

    __tablename__ = "import_mapping"
    __table_args__ = (UniqueConstraint("name", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # tickets | contacts | responses
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)  # the mapping JSON as data.io.mapping.parse reads it
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)


class SiteSetting(Base):
    """Key-value site settings (the demo world's seed and size, the active policy pack)."""

    __tablename__ = "site_setting"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class AuthSession(Base):
    """A "stay signed in" browser session (data/sessions.py): only the SHA-256 of the cookie's random token is kept,
    with the password stamp it was issued under, an idle and an absolute expiry, and the time it was revoked."""

    __tablename__ = "auth_session"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), index=True)
    stamp: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
