"""Survey intake: open a link (what the page may show), then validate and store a submission in ONE transaction.

The transaction consumes the token exactly once with a guarded update::

    UPDATE invitation SET used_at = :now
     WHERE id = :id AND token_hash = :h AND used_at IS NULL AND expires_at > :now AND reusable = false

and proceeds only when exactly one row changed (the same on SQLite and PostgreSQL: the second of two concurrent
submits waits for the first's lock, re-evaluates ``used_at IS NULL`` and changes nothing). The response's unique
``invitation_id`` is a second guard. Kiosk (reusable) invitations create a response without being consumed, under a
ceiling (``[kiosk]`` in settings.toml: at most ``per_minute`` accepted submissions in any 60 s and ``per_day`` per
local day, per link). The ceiling is counted in the database, in the same transaction: the link's ``kiosk_tally``
row for the day is created if missing and then locked (``INSERT .. ON CONFLICT DO NOTHING``, then ``SELECT .. FOR
UPDATE``; on SQLite the insert takes the database's write lock), so submitters through any number of processes or
app instances queue on it and read the counts their predecessors committed. A refused submission stores nothing
but the count (``refused``) and, at most once per link every ``audit_every_minutes``, a ``kiosk_refused`` audit event.
The response, its answers and the follow-up (when the rules fire) commit together or not at all.

Rotation: a questionnaire with a ``[rotation]`` asks each invitee only the items of the plan the invitation's
:func:`~surveys.definitions.rotation_seed` picks (a kiosk code: the visitor's own seed, any plan); answers to items not
asked are refused. An item asked but left blank is stored as an answer row without a value (item non-response); an
item not asked has no row at all (missing by design), so per-item counts can tell the two apart. On SQLite, writers
of one process queue on a lock (:func:`write_lock`); "database is locked" (another process) is retried with a short
random back-off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import aliased

from data.engine import new_id
from data.masking import mask_address
from data.models import (
    UTC,
    Answer,
    Customer,
    FollowUp,
    Invitation,
    KioskTally,
    Region,
    Response,
    Staff,
    Team,
    Ticket,
    UTCDateTime,
)
from data.users import audit
from surveys.definitions import (
    COMMENT_MAX_CHARS,
    SCALE_RANGE,
    Definition,
    DefinitionError,
    definition_for,
    rotation_seed,
)
from surveys.followups import decide, due_at
from surveys.settings import KioskSettings, settings
from surveys.tokens import hash_token, well_formed

T = TypeVar("T")
LINK_STATES = ("ok", "malformed", "unknown", "expired", "used", "unavailable", "limit")
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class SurveyContext:
    """What the customer page may show about a link: no names, no phone, the address masked."""

    invitation_id: int
    survey_key: str
    survey_version: int
    service_type: str | None  # None for a kiosk (hall visit)
    service_date: dt.date | None  # local date of the service
    masked_address: str
    region_name_zh: str
    region_name_en: str
    channel: str
    reusable: bool
    region_id: int
    expires_at: dt.datetime
    used: bool = False

    def seed(self, visit: int = 0) -> int:
        """The rotation seed: of the invitation, or for a reusable kiosk code of one visitor (``visit``)."""
        return rotation_seed(self.invitation_id, visit if self.reusable else 0)


@dataclass(frozen=True)
class LinkResult:
    state: str  # one of LINK_STATES
    context: SurveyContext | None = None
    definition: Definition | None = None


@dataclass(frozen=True)
class SubmitResult:
    # ok | malformed | unknown | expired | used | wrong_survey | invalid | unavailable
    # | busy (kiosk link: per-minute ceiling, try again shortly) | limit (kiosk link: today's ceiling reached)
    status: str
    response_id: int | None = None
    follow_up_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)  # item key -> problem (for status "invalid")
    attempts: int = 1


def retry_locked(fn: Callable[[], T], attempts: int = MAX_ATTEMPTS) -> tuple[T, int]:
    for attempt in range(1, attempts + 1):
        try:
            return fn(), attempt
        except OperationalError as exc:
            msg = str(exc.orig or exc).lower()
            if attempt == attempts or not ("database is locked" in msg or "database is busy" in msg):
                raise
            time.sleep(random.uniform(0.005, 0.02) * attempt)  # noqa: S311 - jitter, not security
    raise AssertionError("unreachable")


_SQLITE_WRITE_LOCKS: dict[str, threading.Lock] = {}


def write_lock(engine: Engine) -> contextlib.AbstractContextManager[Any]:
    """On SQLite, one writer at a time per process: threads queue on a Python lock (woken at once) instead of
    polling SQLite's busy handler, whose growing sleeps put the p95 of 20 concurrent submitters above 100 ms.
    Other processes are still serialised by SQLite itself (busy timeout + :func:`retry_locked`)."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _SQLITE_WRITE_LOCKS.setdefault(engine.url.render_as_string(hide_password=False), threading.Lock())


_Lead = aliased(Staff)
_StaffTeam = aliased(Team)

# Statements are built once (with bind parameters): building and cache-keying them per call cost ~1 ms.
_LOOKUP = (
    select(Invitation.id, Invitation.survey_key, Invitation.survey_version, Invitation.ticket_id,
           Invitation.customer_id, Invitation.region_id, Invitation.channel, Invitation.expires_at,
           Invitation.used_at, Invitation.reusable, Invitation.created_at,
           Ticket.service_type, Ticket.closed_at, Ticket.resolved_at, Ticket.created_at.label("ticket_created"),
           Team.lead_staff_id.label("team_lead"), _StaffTeam.lead_staff_id.label("staff_team_lead"),
           Customer.address, Region.name_zh, Region.name_en)
    .select_from(Invitation)
    .join(Region, Region.id == Invitation.region_id)
    .outerjoin(Ticket, Ticket.id == Invitation.ticket_id)
    .outerjoin(Team, Team.id == Ticket.team_id)
    .outerjoin(_Lead, _Lead.id == Ticket.staff_id)
    .outerjoin(_StaffTeam, _StaffTeam.id == _Lead.team_id)
    .outerjoin(Customer, Customer.id == Invitation.customer_id)
    .where(Invitation.token_hash == bindparam("p_hash"))
)
_CONSUME = (
    update(Invitation)
    .where(Invitation.id == bindparam("p_id"), Invitation.token_hash == bindparam("p_hash"),
           Invitation.used_at.is_(None), Invitation.expires_at > bindparam("p_now", type_=UTCDateTime()),
           Invitation.reusable.is_(False))
    .values(used_at=bindparam("p_now", type_=UTCDateTime()))
)
_INSERT_RESPONSE = insert(Response)
_INSERT_ANSWER = insert(Answer)
_INSERT_FOLLOW_UP = insert(FollowUp)


def _lookup(conn: Connection, token_hash: str) -> Any:
    return conn.execute(_LOOKUP, {"p_hash": token_hash}).first()


def _state(row: Any, now: dt.datetime) -> str:
    if row is None:
        return "unknown"
    if row.used_at is not None and not row.reusable:
        return "used"
    if row.expires_at <= now:
        return "expired"
    return "ok"


def open_link(engine: Engine, token: object, now: dt.datetime | None = None) -> LinkResult:
    """Check a link and return what the page may show; never raises for a bad token."""
    if not well_formed(token):
        return LinkResult("malformed")
    now = now or dt.datetime.now(UTC)
    with engine.connect() as conn:
        row = _lookup(conn, hash_token(str(token)))
    state = _state(row, now)
    if state != "ok":
        return LinkResult(state)
    tz = ZoneInfo(settings().timezone)
    if row.reusable and kiosk_day_full(engine, row.id, now):
        return LinkResult("limit")  # today's answers are in: say so before the customer fills the form
    try:
        definition = definition_for(engine, row.survey_key, row.survey_version)
    except DefinitionError:
        definition = None
    if definition is None:
        return LinkResult("unavailable")
    served = row.closed_at or row.resolved_at or row.ticket_created or (now if row.reusable else row.created_at)
    ctx = SurveyContext(
        invitation_id=row.id, survey_key=row.survey_key, survey_version=row.survey_version,
        service_type=row.service_type, service_date=served.astimezone(tz).date() if served else None,
        masked_address=mask_address(row.address), region_name_zh=row.name_zh, region_name_en=row.name_en,
        channel=row.channel, reusable=bool(row.reusable), region_id=row.region_id, expires_at=row.expires_at)
    return LinkResult("ok", ctx, definition)


# --- validation ---------------------------------------------------------------------------------------------------


def _clean_text(value: str) -> str:
    text = "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    return text.strip()[:COMMENT_MAX_CHARS]


def validate_answers(definition: Definition, service_type: str | None, channel: str | None,
                     answers: Mapping[str, object], seed: int | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Check answers against the items asked (of the rotation plan ``seed`` picks, when given); returns (clean
    values, errors by item key)."""
    items = {i.key: i for i in definition.asked(service_type, channel, seed)}
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in answers:
        if key not in items:
            errors[str(key)] = "unknown_item"
    for key, item in items.items():
        raw = answers.get(key)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if item.required:
                errors[key] = "required"
            continue
        if item.scale in SCALE_RANGE:
            lo, hi = SCALE_RANGE[item.scale]
            value: Any = raw
            if isinstance(raw, str) and raw.strip().isdigit():
                value = int(raw.strip())
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                errors[key] = "out_of_range"
                continue
            clean[key] = value
        elif item.scale == "yesno":
            if isinstance(raw, bool):
                clean[key] = raw
            elif isinstance(raw, str) and raw.strip().lower() in ("yes", "no", "y", "n", "是", "否"):
                clean[key] = raw.strip().lower() in ("yes", "y", "是")
            else:
                errors[key] = "out_of_range"
        else:  # text
            if not isinstance(raw, str):
                errors[key] = "not_text"
                continue
            text = _clean_text(raw)
            if text:
                clean[key] = text
    return clean, errors


# --- storing ------------------------------------------------------------------------------------------------------


def store_response(
    conn: Connection, *, now: dt.datetime, invitation_id: int | None, ticket_id: int | None, customer_id: int | None,
    region_id: int, channel: str, survey_key: str, survey_version: int, csat: int | None = None,
    nps: int | None = None, ces: int | None = None, fcr: bool | None = None, comment: str | None = None,
    language: str = "zh-CN", external_no: str | None = None, answers: list[dict[str, Any]] | None = None,
    owner: int | None = None,
) -> tuple[int, int | None]:
    """Insert a response, its answers and (when the rules fire) its follow-up inside the caller's transaction."""
    response_id = new_id(conn.execute(_INSERT_RESPONSE, dict(
        invitation_id=invitation_id, ticket_id=ticket_id, external_no=external_no, region_id=region_id,
        channel=channel, survey_key=survey_key, survey_version=survey_version, submitted_at=now, csat=csat, nps=nps,
        ces=ces, fcr=fcr, comment=comment, language=language)))
    if answers:
        conn.execute(_INSERT_ANSWER, [{**a, "response_id": response_id} for a in answers])
    decision = decide(csat, nps, fcr, comment)
    follow_up_id = None
    if decision is not None:
        follow_up_id = new_id(conn.execute(_INSERT_FOLLOW_UP, dict(
            response_id=response_id, ticket_id=ticket_id, customer_id=customer_id, region_id=region_id,
            reason=decision.reason, severity=decision.severity, owner_staff_id=owner, created_at=now,
            due_at=due_at(decision.severity, now), status="open", escalation_level=0, proactive=False,
            notes=decision.notes())))
    # the fact snapshot's months go stale at commit, in the same transaction (data.snapshot's hook)
    return response_id, follow_up_id


# --- the kiosk ceiling ---------------------------------------------------------------------------------------------


_TALLY_KEY = (KioskTally.invitation_id == bindparam("p_id"), KioskTally.day == bindparam("p_day"))
_TALLY_ROW = select(KioskTally.accepted, KioskTally.refused, KioskTally.recent, KioskTally.audited_at).where(*_TALLY_KEY)
_TALLY_LOCK = _TALLY_ROW.with_for_update()
_TALLY_ACCEPT = update(KioskTally).where(*_TALLY_KEY).values(accepted=KioskTally.accepted + 1)
_TALLY_REFUSE = update(KioskTally).where(*_TALLY_KEY).values(refused=KioskTally.refused + 1)


def kiosk_day(now: dt.datetime) -> str:
    """The local day (settings.toml ``timezone``) a kiosk submission counts in."""
    return now.astimezone(ZoneInfo(settings().timezone)).date().isoformat()


def kiosk_day_full(engine: Engine, invitation_id: int, now: dt.datetime, limits: KioskSettings | None = None) -> bool:
    """Whether the link has reached today's ceiling (a read for the page; the submission re-checks under lock)."""
    limits = limits or settings().kiosk
    with engine.connect() as conn:
        row = conn.execute(_TALLY_ROW, {"p_id": invitation_id, "p_day": kiosk_day(now)}).first()
    return row is not None and row.accepted >= limits.per_day


def _tally_insert(conn: Connection) -> Any:
    return (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(KioskTally).on_conflict_do_nothing()


def _times(recent: object) -> list[dt.datetime]:
    out = []
    for v in recent if isinstance(recent, list) else []:
        try:
            t = dt.datetime.fromisoformat(str(v))
        except ValueError:
            continue
        out.append(t if t.tzinfo else t.replace(tzinfo=UTC))
    return out


def kiosk_admit(conn: Connection, invitation_id: int, now: dt.datetime, limits: KioskSettings) -> str | None:
    """Inside the submission's transaction: count one accepted submission of a kiosk link, or refuse it.

    Returns None (admitted: the caller stores the response in this transaction) or the refusal, ``"busy"`` (the
    per-minute ceiling) or ``"limit"`` (the per-day ceiling). A refusal is counted and, throttled, audited."""
    day = kiosk_day(now)
    key = {"p_id": invitation_id, "p_day": day}
    # Create the day's row if missing (on SQLite this write takes the database's write lock), then lock it: every
    # other submitter of this link, in any process, waits here until this transaction ends.
    conn.execute(_tally_insert(conn), {"invitation_id": invitation_id, "day": day, "accepted": 0, "refused": 0,
                                       "recent": [], "audited_at": None})
    row = conn.execute(_TALLY_LOCK, key).one()
    recent = _times(row.recent)
    in_minute = sum(1 for t in recent if t > now - dt.timedelta(seconds=60))
    refusal = "limit" if row.accepted >= limits.per_day else ("busy" if in_minute >= limits.per_minute else None)
    if refusal is None:
        kept = sorted([*recent, now])[-limits.per_minute:]  # enough to judge any later 60 s window
        conn.execute(_TALLY_ACCEPT.values(recent=[t.astimezone(UTC).isoformat() for t in kept]), key)
        return None
    refused = row.refused + 1
    refuse = _TALLY_REFUSE
    audited = row.audited_at
    if audited is None or now - audited >= dt.timedelta(minutes=limits.audit_every_minutes) or now < audited:
        refuse = refuse.values(audited_at=now)
        audit(conn, None, "kiosk_refused", "invitation", str(invitation_id), {
            "reason": "per_day" if refusal == "limit" else "per_minute", "day": day, "accepted": row.accepted,
            "refused": refused, "per_minute": limits.per_minute, "per_day": limits.per_day})
    conn.execute(refuse, key)
    return refusal


# --- submission ---------------------------------------------------------------------------------------------------


def _pause_for_fault_tests() -> None:
    """With ``GRIDCX_INTAKE_PAUSE_STORED=<seconds>`` (fault tests only): say "stored" on stdout and wait inside the
    open transaction, so a test can kill -9 the process with everything written but nothing committed."""
    pause = os.environ.get("GRIDCX_INTAKE_PAUSE_STORED")
    if pause:
        print("stored", flush=True)
        time.sleep(float(pause))


def submit(
    engine: Engine,
    token: object,
    answers: Mapping[str, object],
    *,
    survey_key: str | None = None,
    language: str = "zh-CN",
    now: dt.datetime | None = None,
    channel: str | None = None,
    external_no: str | None = None,
    kiosk: KioskSettings | None = None,
    visit: int = 0,
) -> SubmitResult:
    """Validate and store one submission. ``survey_key`` is the questionnaire the form was built from: a token of
    another survey is refused. ``channel`` overrides the response channel (e.g. ``web``); by default it is the
    invitation's channel. A kiosk (reusable) link is held to its ceiling (``kiosk``, by default settings.toml's).
    ``visit`` is a kiosk visitor's rotation number (ignored for a one-time invitation, whose plan follows from its
    id alone)."""
    if not well_formed(token):
        return SubmitResult("malformed")
    now = now or dt.datetime.now(UTC)
    h = hash_token(str(token))
    with engine.connect() as conn:
        row = _lookup(conn, h)
    state = _state(row, now)
    if state != "ok":
        return SubmitResult(state)
    if survey_key is not None and survey_key != row.survey_key:
        return SubmitResult("wrong_survey")
    definition = definition_for(engine, row.survey_key, row.survey_version)
    if definition is None:
        return SubmitResult("unavailable")
    seed = rotation_seed(row.id, visit if row.reusable else 0) if definition.rotation is not None else None
    clean, errors = validate_answers(definition, row.service_type, row.channel, answers, seed)
    if errors:
        return SubmitResult("invalid", errors=errors)

    roles = {i.role: i.key for i in definition.items if i.role}
    csat = clean.get(roles.get("csat", ""))
    nps = clean.get(roles.get("nps", ""))
    ces = clean.get(roles.get("ces", ""))
    fcr = clean.get(roles.get("fcr", ""))
    comment = clean.get(roles.get("comment", ""))
    answer_rows = []
    for key, value in clean.items():
        item = definition.item(key)
        if item.scale == "text":
            continue  # the comment lives in response.comment only
        answer_rows.append({"item_key": key, "dimension": item.dimension,
                            "value_num": float(value) if not isinstance(value, bool) else float(value),
                            "value_text": None})
    if seed is not None:  # asked, left blank: a row without a value (not asked: no row, missing by design)
        answer_rows += [{"item_key": i.key, "dimension": i.dimension, "value_num": None, "value_text": None}
                        for i in definition.asked(row.service_type, row.channel, seed)
                        if i.scale != "text" and i.key not in clean]
    owner = row.team_lead or row.staff_team_lead
    limits = kiosk or settings().kiosk

    def attempt() -> SubmitResult:
        with engine.begin() as conn:
            if row.reusable:
                refusal = kiosk_admit(conn, row.id, now, limits)
                if refusal is not None:
                    return SubmitResult(refusal)  # the refusal's count and audit event commit; nothing else
            else:
                res = conn.execute(_CONSUME, {"p_id": row.id, "p_hash": h, "p_now": now})
                if res.rowcount != 1:
                    again = _lookup(conn, h)
                    return SubmitResult("unknown" if again is None else ("expired" if again.used_at is None
                                                                         else "used"))
            response_id, follow_up_id = store_response(
                conn, now=now, invitation_id=None if row.reusable else row.id, ticket_id=row.ticket_id,
                customer_id=row.customer_id, region_id=row.region_id, channel=channel or row.channel,
                survey_key=row.survey_key, survey_version=row.survey_version, csat=csat, nps=nps, ces=ces, fcr=fcr,
                comment=comment, language=language, external_no=external_no, answers=answer_rows, owner=owner)
            _pause_for_fault_tests()
            return SubmitResult("ok", response_id, follow_up_id)

    try:
        with write_lock(engine):
            result, attempts = retry_locked(attempt)
    except IntegrityError:
        # The unique invitation_id (or an imported response's external number) was taken by a concurrent submit.
        return SubmitResult("used")
    if attempts > 1:
        result = SubmitResult(result.status, result.response_id, result.follow_up_id, result.errors, attempts)
    return result
