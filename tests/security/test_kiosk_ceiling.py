"""Kiosk (hall QR) links are reusable by design, not unlimited: a per-link ceiling per minute and per local day,
counted in the database inside the intake transaction (so separate processes cannot exceed it either), a friendly
message to the customer, and a throttled audit trail of the refusals (issue 18.8).

Before the fix one link took 40 submissions in 22 seconds."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from data.engine import get_engine
from data.models import UTC, AuditEvent, KioskTally, Response
from surveys.intake import open_link, submit
from surveys.settings import KioskSettings, settings
from tests.surveys.helpers import build_survey_world, new_invitation

pytestmark = pytest.mark.security
ROOT = Path(__file__).resolve().parents[2]
HALL = {"csat": 4, "nps": 9}
# 10:00 local time in the site's zone (Asia/Shanghai): far from a local midnight, so every step stays in one day
T0 = dt.datetime(2026, 10, 20, 2, 0, tzinfo=UTC)


def _kiosk(engine, now: dt.datetime = T0, hours: int = 48) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    return new_invitation(engine, ticket_id=None, survey_key="hall", reusable=True, channel="qr", now=now,
                          expires_in=dt.timedelta(hours=hours))


def _stored(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Response).where(
            Response.channel == "qr", Response.invitation_id.is_(None))).scalar_one())


def _refusal_events(engine) -> list[dict]:  # type: ignore[type-arg]
    with engine.connect() as conn:
        rows = conn.execute(select(AuditEvent.object_type, AuditEvent.object_id, AuditEvent.detail)
                            .where(AuditEvent.action == "kiosk_refused").order_by(AuditEvent.id)).all()
    return [{"object": f"{r.object_type}:{r.object_id}", **(r.detail or {})} for r in rows]


def _tally(engine, inv_id: int) -> list[tuple[str, int, int]]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            select(KioskTally.day, KioskTally.accepted, KioskTally.refused)
            .where(KioskTally.invitation_id == inv_id).order_by(KioskTally.day)).all()]


def test_a_burst_through_one_kiosk_link_is_cut_at_the_per_minute_ceiling(db_url: str) -> None:
    engine = get_engine(db_url)
    build_survey_world(engine, now=T0)
    token, inv_id = _kiosk(engine)
    limit = settings().kiosk.per_minute
    assert 1 <= limit < 40
    # The reported attack: 40 submissions from one link in 22 seconds.
    statuses = [submit(engine, token, HALL, now=T0 + dt.timedelta(seconds=0.55 * i)).status for i in range(40)]
    assert statuses[:limit] == ["ok"] * limit
    assert statuses[limit:] == ["busy"] * (40 - limit)
    assert _stored(engine) == limit
    assert _tally(engine, inv_id) == [("2026-10-20", limit, 40 - limit)]
    # 34 refusals, one audit event (throttled), naming the link, the reason and the count so far.
    events = _refusal_events(engine)
    assert len(events) == 1
    assert events[0]["object"] == f"invitation:{inv_id}" and events[0]["reason"] == "per_minute"
    assert events[0]["refused"] == 1 and events[0]["per_minute"] == limit
    # The window slides: a minute after the first accepted submission there is room for one more.
    first_free = T0 + dt.timedelta(seconds=60.1)
    assert submit(engine, token, HALL, now=first_free).status == "ok"
    assert submit(engine, token, HALL, now=first_free).status == "busy"
    # Later refusals are audited again once the throttle interval has passed (with the running count).
    later = T0 + dt.timedelta(minutes=settings().kiosk.audit_every_minutes + 1)
    for _ in range(limit):
        assert submit(engine, token, HALL, now=later).status == "ok"
    assert submit(engine, token, HALL, now=later).status == "busy"
    events = _refusal_events(engine)
    assert len(events) == 2 and events[1]["refused"] == 40 - limit + 2


def test_the_per_day_ceiling_closes_the_link_for_the_local_day(db_url: str) -> None:
    engine = get_engine(db_url)
    build_survey_world(engine, now=T0)
    token, inv_id = _kiosk(engine)
    limits = KioskSettings(per_minute=1000, per_day=5, audit_every_minutes=10)
    statuses = [submit(engine, token, HALL, now=T0 + dt.timedelta(minutes=i), kiosk=limits).status
                for i in range(8)]
    assert statuses == ["ok"] * 5 + ["limit"] * 3
    assert _stored(engine) == 5
    events = _refusal_events(engine)
    assert [e["reason"] for e in events] == ["per_day"] and events[0]["per_day"] == 5
    # The page says so before the customer fills in the form (default ceiling: not reached, so the form opens).
    link = open_link(engine, token, now=T0 + dt.timedelta(hours=1))
    assert link.state == "ok"
    with engine.begin() as conn:  # today's count at the configured ceiling
        conn.execute(update(KioskTally).values(accepted=settings().kiosk.per_day))
    assert open_link(engine, token, now=T0 + dt.timedelta(hours=1)).state == "limit"
    # The next local day (Asia/Shanghai midnight is 16:00 UTC) starts a new count.
    tomorrow = dt.datetime(2026, 10, 20, 16, 30, tzinfo=UTC)
    assert open_link(engine, token, now=tomorrow).state == "ok"
    assert submit(engine, token, HALL, now=tomorrow, kiosk=limits).status == "ok"
    assert [d for d, *_ in _tally(engine, inv_id)] == ["2026-10-20", "2026-10-21"]


def test_one_time_links_are_not_counted(db_url: str) -> None:
    engine = get_engine(db_url)
    build_survey_world(engine, now=T0)
    tokens = [new_invitation(engine, ticket_id=1 + i % 9, now=T0)[0] for i in range(12)]
    limits = KioskSettings(per_minute=1, per_day=1, audit_every_minutes=10)
    answers = {"csat": 5, "fcr": True, "nps": 10}
    assert {submit(engine, t, answers, now=T0, kiosk=limits).status for t in tokens} == {"ok"}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(KioskTally)).scalar_one() == 0


def _start(url: str, tokens: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.faults.intake_worker", url, str(tokens), *extra], cwd=ROOT,
                            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _statuses(procs: list[subprocess.Popen[str]]) -> list[str]:
    lines: list[str] = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        lines += [ln.split()[0] for ln in out.splitlines() if ln and ln != "done"]
    return lines


@pytest.mark.slow
def test_concurrent_processes_on_one_link_do_not_exceed_either_ceiling(db_url: str, tmp_path: Path) -> None:
    """Processes submit through the same link at once: the count lives in the database, not in a process."""
    engine = get_engine(db_url)
    build_survey_world(engine, now=T0)
    token_a, inv_a = _kiosk(engine)
    token_b, inv_b = _kiosk(engine)
    now = (T0 + dt.timedelta(minutes=5)).isoformat()  # every submission at the same instant
    file_a = tmp_path / "a.txt"
    file_a.write_text("\n".join([token_a] * 10), encoding="ascii")
    file_b = tmp_path / "b.txt"
    file_b.write_text("\n".join([token_b] * 10), encoding="ascii")
    # Link A against a per-minute ceiling of 4, link B against a per-day ceiling of 7; two processes on each.
    procs_a = [_start(db_url, file_a, "--kiosk", "4,1000", "--now", now) for _ in range(2)]
    procs_b = [_start(db_url, file_b, "--kiosk", "1000,7", "--now", now) for _ in range(2)]
    minute, day = _statuses(procs_a), _statuses(procs_b)
    assert minute.count("ok") == 4 and minute.count("busy") == 16, minute
    assert day.count("ok") == 7 and day.count("limit") == 13, day
    assert _stored(engine) == 4 + 7
    assert [(a, r) for _, a, r in _tally(engine, inv_a)] == [(4, 16)]
    assert [(a, r) for _, a, r in _tally(engine, inv_b)] == [(7, 13)]
    assert len(_refusal_events(engine)) == 2  # 29 refusals, one audit event per link


def test_the_customer_sees_a_friendly_message_and_keeps_the_answers(sqlite_url: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.app.test_survey_page import _submit, open_survey

    engine = get_engine(sqlite_url)
    now = dt.datetime.now(UTC)
    build_survey_world(engine, now=now)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    token, _ = _kiosk(engine, now=now - dt.timedelta(hours=1), hours=3)
    limit = settings().kiosk.per_minute
    for _ in range(limit):  # others have just answered through the hall's code
        assert submit(engine, token, HALL).status == "ok"
    at = open_survey(token)
    at.feedback(key="q_csat").set_value(3)
    _submit(at)
    assert [w.value for w in at.warning] == [
        "此刻用本营业厅二维码提交评价的人较多，请稍等一分钟后再点“提交评价”。您填写的内容仍保留在这里。"]
    assert at.feedback(key="q_csat").value == 3 and not at.error and not at.exception
    assert _stored(engine) == limit
    # Today's ceiling reached: the page explains, no form.
    with engine.begin() as conn:
        conn.execute(update(KioskTally).values(accepted=settings().kiosk.per_day))
    at = open_survey(token, lang="en")
    assert [t.value for t in at.title] == ["Today's answers are all in"]
    assert not at.get("feedback")
