"""Invitations: who is asked (rules), one-time links, the gateway batch file, one reminder, kiosk QR codes.

Rules for a closed work order to be invited (in this order; the first that fails is the reason it is skipped):
already invited for this ticket; no customer; customer opted out; the customer has a complaint under investigation
(an open ticket of a complaint type); the customer was invited within the cooldown (30 days by default, counting
invitations made earlier in the same batch); no contact for the channel; not drawn by the sampling rate of its
service type (deterministic per ticket number, so re-runs pick the same tickets).

The batch file is written next to the database transaction: first to a temporary file, then the invitations are
committed, then the file is renamed into place. A failed commit leaves no file; the file holds the only copy of
the links (tokens are never stored), so it is written with owner-only permissions (``data.private``: 0600
files, 0700 folders), as are the QR codes.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import segno
from sqlalchemy import Engine, and_, insert, select, update

from data.engine import new_id
from data.i18n import translate
from data.masking import mask_phone
from data.models import UTC, Customer, Invitation, Region, SiteSetting, Ticket
from data.private import open_private, private_dir
from data.reference import service_types as reference_service_types
from surveys.definitions import Registry, registry
from surveys.settings import PUBLIC_URL_ENV, Settings, public_url, settings
from surveys.tokens import hash_token, new_token, survey_link

CHANNELS = ("sms", "wechat", "qr")


class PublicUrlMissing(ValueError):
    """Links would point at http://localhost:8501: ``GRIDCX_PUBLIC_URL`` must be set outside demo mode."""


def demo_mode(engine: Engine) -> bool:
    """True when the database holds a demo world (``python -m data demo`` records its seed in ``site_setting``)."""
    with engine.connect() as conn:
        return conn.execute(select(SiteSetting.key).where(SiteSetting.key == "demo.seed")).first() is not None


def link_base(engine: Engine, base_url: str | None = None) -> str:
    """The base URL survey links start with: ``base_url``, else ``GRIDCX_PUBLIC_URL``; without either only a demo world
    may use the default (``http://localhost:8501``): a real site would send customers links that cannot work."""
    if base_url:
        return base_url.rstrip("/")
    if (os.environ.get(PUBLIC_URL_ENV) or "").strip() or demo_mode(engine):
        return public_url()
    raise PublicUrlMissing(f"{PUBLIC_URL_ENV} is not set, so survey links would point at {public_url()}; set it to "
                           "the address customers open (e.g. https://cx.example.cn) before issuing invitations")
DEFAULT_OUTBOX = Path("outbox")
BATCH_COLUMNS = ["ticket_no", "account_no", "masked_phone", "channel", "link", "message", "expires_at"]


@dataclass(frozen=True)
class InviteResult:
    invited: int
    skipped: dict[str, int]
    batch_file: Path | None
    rows: list[dict[str, str]] = field(repr=False)


def _now(now: dt.datetime | None) -> dt.datetime:
    return now if now is not None else dt.datetime.now(UTC)


def sampled(ticket_no: str, rate: float) -> bool:
    """Deterministic draw: a ticket is in the sample when the hash of its number falls below the rate."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    x = int(hashlib.sha256(ticket_no.encode("utf-8")).hexdigest()[:12], 16) / float(16**12)
    return x < rate


def _service_names() -> dict[str, str]:
    df = reference_service_types()
    return dict(zip(df["code"], df["name_zh"], strict=True))


def _local_date(ts: dt.datetime, tz: str) -> str:
    return ts.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")


def _write_batch(path: Path, rows: list[dict[str, str]], encoding: str) -> Path:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open_private(tmp, "w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=BATCH_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return tmp


def invite(
    engine: Engine,
    since: dt.date | dt.datetime,
    channel: str = "sms",
    *,
    now: dt.datetime | None = None,
    out_dir: Path = DEFAULT_OUTBOX,
    base_url: str | None = None,
    encoding: str = "utf-8-sig",
    reg: Registry | None = None,
    cfg: Settings | None = None,
) -> InviteResult:
    """Invite the customers of work orders closed since ``since`` (UTC midnight for a date)."""
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
    base_url = link_base(engine, base_url)
    now = _now(now)
    reg = reg or registry()
    cfg = cfg or settings()
    start = since if isinstance(since, dt.datetime) else dt.datetime.combine(since, dt.time(), tzinfo=UTC)
    names = _service_names()
    with engine.connect() as conn:
        tickets = conn.execute(
            select(Ticket.id, Ticket.external_no, Ticket.service_type, Ticket.region_id, Ticket.closed_at,
                   Ticket.customer_id, Customer.account_no, Customer.phone, Customer.opted_out)
            .outerjoin(Customer, Customer.id == Ticket.customer_id)
            .outerjoin(Invitation, Invitation.ticket_id == Ticket.id)
            .where(Ticket.status == "closed", Ticket.closed_at >= start, Ticket.closed_at <= now,
                   Invitation.id.is_(None))
            .order_by(Ticket.closed_at, Ticket.id)
        ).all()
        investigating = set(conn.execute(
            select(Ticket.customer_id).where(Ticket.service_type.in_(cfg.complaint_types), Ticket.status != "closed",
                                             Ticket.customer_id.is_not(None))).scalars())
        cooling = set(conn.execute(
            select(Invitation.customer_id).where(
                Invitation.customer_id.is_not(None),
                Invitation.created_at > now - dt.timedelta(days=cfg.cooldown_days))).scalars())
        already = set(conn.execute(select(Invitation.ticket_id).where(Invitation.ticket_id.is_not(None))).scalars())
    skipped: Counter[str] = Counter()
    picked: list[tuple[Any, str, str]] = []
    for tk in tickets:
        if tk.id in already:
            reason = "already_invited"
        elif tk.customer_id is None:
            reason = "no_customer"
        elif tk.opted_out:
            reason = "opted_out"
        elif tk.customer_id in investigating:
            reason = "complaint_open"
        elif tk.customer_id in cooling:
            reason = "cooldown"
        elif channel != "qr" and not (tk.phone or "").strip():
            reason = "no_contact"
        elif not sampled(tk.external_no, cfg.sampling_rate(tk.service_type)):
            reason = "not_sampled"
        else:
            try:
                definition = reg.for_service_type(tk.service_type)
            except KeyError:
                skipped["no_questionnaire"] += 1
                continue
            token = new_token()
            cooling.add(tk.customer_id)
            picked.append((tk, token, f"{definition.key}:{definition.version}"))
            continue
        skipped[reason] += 1

    expires = now + dt.timedelta(days=cfg.expiry_days)
    rows: list[dict[str, str]] = []
    values: list[dict[str, object]] = []
    for tk, token, survey in picked:
        key, version = survey.split(":")
        link = survey_link(token, base_url)
        rows.append({
            "ticket_no": tk.external_no, "account_no": tk.account_no or "", "masked_phone": mask_phone(tk.phone),
            "channel": channel, "link": link,
            "message": translate("survey.msg.invite", "zh-CN", service=names.get(tk.service_type, tk.service_type),
                                 date=_local_date(tk.closed_at, cfg.timezone), link=link, days=cfg.expiry_days),
            "expires_at": _local_date(expires, cfg.timezone),
        })
        values.append(dict(
            token_hash=hash_token(token), survey_key=key, survey_version=int(version), ticket_id=tk.id,
            customer_id=tk.customer_id, region_id=tk.region_id, channel=channel, created_at=now,
            expires_at=expires, delivered=True, reusable=False))
    if not values:
        return InviteResult(0, dict(skipped), None, [])
    final = out_dir / f"invite_{channel}_{now.strftime('%Y%m%dT%H%M%SZ')}_{os.getpid()}.csv"
    tmp = _write_batch(final, rows, encoding)
    try:
        with engine.begin() as conn:
            conn.execute(insert(Invitation), values)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(final)
    if channel == "qr":
        _qr_files(final.with_suffix(""), [(r["ticket_no"], r["link"]) for r in rows])
    return InviteResult(len(values), dict(skipped), final, rows)


def _qr_files(folder: Path, codes: list[tuple[str, str]]) -> None:
    private_dir(folder)
    for name, link in codes:
        with open_private(folder / f"{name}.svg", "wb") as fh:  # each code is a live one-time link
            segno.make(link, error="m").save(fh, kind="svg", scale=6, border=4)


def remind(
    engine: Engine,
    *,
    now: dt.datetime | None = None,
    out_dir: Path = DEFAULT_OUTBOX,
    base_url: str | None = None,
    encoding: str = "utf-8-sig",
    cfg: Settings | None = None,
) -> InviteResult:
    """One reminder for unanswered, unexpired invitations older than ``reminder_after_days``.

    Only hashes are stored, so a reminder cannot repeat the first link: it issues a fresh token for the same
    invitation (same expiry) and the first link stops working. Opted-out customers are not reminded.
    """
    base_url = link_base(engine, base_url)
    now = _now(now)
    cfg = cfg or settings()
    names = _service_names()
    with engine.connect() as conn:
        due = conn.execute(
            select(Invitation.id, Invitation.channel, Invitation.expires_at, Ticket.external_no, Ticket.service_type,
                   Ticket.closed_at, Customer.account_no, Customer.phone, Customer.opted_out)
            .join(Ticket, Ticket.id == Invitation.ticket_id)
            .join(Customer, Customer.id == Invitation.customer_id)
            .where(Invitation.reusable.is_(False), Invitation.used_at.is_(None), Invitation.reminded_at.is_(None),
                   Invitation.delivered.is_(True), Invitation.expires_at > now,
                   Invitation.external_no.is_(None),  # imported: the survey tool sends its own reminders
                   Invitation.created_at <= now - dt.timedelta(days=cfg.reminder_after_days),
                   Invitation.channel.in_(("sms", "wechat")))
            .order_by(Invitation.id)
        ).all()
    skipped: Counter[str] = Counter()
    rows: list[dict[str, str]] = []
    updates: list[tuple[int, str]] = []
    for inv in due:
        if inv.opted_out:
            skipped["opted_out"] += 1
            continue
        token = new_token()
        link = survey_link(token, base_url)
        updates.append((inv.id, hash_token(token)))
        rows.append({
            "ticket_no": inv.external_no, "account_no": inv.account_no or "", "masked_phone": mask_phone(inv.phone),
            "channel": inv.channel, "link": link,
            "message": translate("survey.msg.remind", "zh-CN", service=names.get(inv.service_type, inv.service_type),
                                 date=_local_date(inv.closed_at, cfg.timezone), link=link),
            "expires_at": _local_date(inv.expires_at, cfg.timezone),
        })
    if not rows:
        return InviteResult(0, dict(skipped), None, [])
    final = out_dir / f"remind_{now.strftime('%Y%m%dT%H%M%SZ')}_{os.getpid()}.csv"
    tmp = _write_batch(final, rows, encoding)
    try:
        with engine.begin() as conn:
            for inv_id, h in updates:
                # Guarded: an invitation answered meanwhile is not touched.
                conn.execute(update(Invitation).where(and_(Invitation.id == inv_id, Invitation.used_at.is_(None),
                                                           Invitation.reminded_at.is_(None)))
                             .values(token_hash=h, reminded_at=now))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(final)
    return InviteResult(len(rows), dict(skipped), final, rows)


@dataclass(frozen=True)
class KioskCode:
    invitation_id: int
    link: str
    png: Path
    svg: Path
    expires_at: dt.datetime


def kiosk_qr(
    engine: Engine,
    region_id: int,
    day: dt.date,
    *,
    out_dir: Path = DEFAULT_OUTBOX,
    base_url: str | None = None,
    reg: Registry | None = None,
    cfg: Settings | None = None,
    now: dt.datetime | None = None,
) -> KioskCode:
    """An anonymous, reusable survey code for one hall and one local day (PNG for print, SVG for screens)."""
    base_url = link_base(engine, base_url)
    reg = reg or registry()
    cfg = cfg or settings()
    tz = ZoneInfo(cfg.timezone)
    with engine.connect() as conn:
        code = conn.execute(select(Region.code).where(Region.id == region_id)).scalar_one_or_none()
    if code is None:
        raise ValueError(f"no region with id {region_id}")
    definition = reg.kiosk()
    start = dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(UTC)
    token = new_token()
    link = survey_link(token, base_url)
    with engine.begin() as conn:
        inv_id = new_id(conn.execute(insert(Invitation).values(
            token_hash=hash_token(token), survey_key=definition.key, survey_version=definition.version, ticket_id=None,
            customer_id=None, region_id=region_id, channel="qr", created_at=min(_now(now), start),
            expires_at=end, delivered=True, reusable=True)))
    private_dir(out_dir)
    stem = out_dir / f"kiosk_{code}_{day.strftime('%Y%m%d')}_{inv_id}"
    qr = segno.make(link, error="m")
    with open_private(str(stem) + ".png", "wb") as fh:  # the code is a live link: private until printed
        qr.save(fh, kind="png", scale=12, border=4)
    with open_private(str(stem) + ".svg", "wb") as fh:
        qr.save(fh, kind="svg", scale=12, border=4, title=f"{code} {day.isoformat()}")
    return KioskCode(int(inv_id), link, Path(str(stem) + ".png"), Path(str(stem) + ".svg"), end)
