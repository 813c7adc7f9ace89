"""Invitation rules, the gateway batch file, the one reminder, kiosk QR codes."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select, update

from data.engine import get_engine
from data.models import Customer, Invitation, SiteSetting, Ticket
from surveys.intake import open_link, submit
from surveys.invitations import PublicUrlMissing, invite, kiosk_qr, remind, sampled
from surveys.settings import settings
from tests.surveys.helpers import NOW, build_survey_world

SINCE = dt.date(2026, 10, 1)


@pytest.fixture
def engine(sqlite_url: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("GRIDCX_PUBLIC_URL", "https://cx.example.cn/")  # a real site sets it (see the test below)
    eng = get_engine(sqlite_url)
    build_survey_world(eng)
    return eng


def _add_customers(engine, n: int = 5) -> None:  # type: ignore[no-untyped-def]
    """Give each of the first n closed tickets of Hall A1 its own customer (the tiny world shares one per hall)."""
    with engine.begin() as conn:
        tickets = conn.execute(select(Ticket.id).where(Ticket.region_id == 7, Ticket.status == "closed")
                               .order_by(Ticket.id).limit(n)).scalars().all()
        for i, tid in enumerate(tickets):
            cid = conn.execute(insert(Customer).values(account_no=f"99{i:08d}", name=f"客户{i}", phone=f"1390000{i:04d}",
                                                       address="济宁市任城区古槐路12号", segment="residential",
                                                       region_id=7)).inserted_primary_key[0]
            conn.execute(update(Ticket).where(Ticket.id == tid).values(customer_id=cid))


def test_invite_writes_a_gateway_batch_with_masked_phones_and_links(engine, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDCX_PUBLIC_URL", "https://cx.example.cn/")
    res = invite(engine, SINCE, "sms", now=NOW, out_dir=tmp_path)
    # One customer per hall in the tiny world: the cooldown leaves one invitation each (4 halls).
    assert res.invited == 4
    assert res.skipped == {"cooldown": 32}
    assert res.batch_file is not None and res.batch_file.exists()
    assert oct(res.batch_file.stat().st_mode & 0o777) == "0o600"
    rows = list(csv.DictReader(res.batch_file.open(encoding="utf-8-sig")))
    assert len(rows) == 4
    for row in rows:
        assert row["masked_phone"] == "138****0000"
        assert row["link"].startswith("https://cx.example.cn/survey?t=")
        assert "故障报修" in row["message"] and row["link"] in row["message"] and "7天内有效" in row["message"]
        assert "13800000000" not in ",".join(row.values())
        token = row["link"].split("t=")[1]
        assert open_link(engine, token, NOW).state == "ok"
    with engine.connect() as conn:
        exp = conn.execute(select(Invitation.expires_at)).scalars().all()
    assert set(exp) == {NOW + dt.timedelta(days=settings().expiry_days)}
    assert not list(tmp_path.glob("*.tmp"))


def test_rerun_invites_nobody_twice_and_cooldown_runs_30_days(engine, tmp_path: Path) -> None:
    first = invite(engine, SINCE, now=NOW, out_dir=tmp_path)
    again = invite(engine, SINCE, now=NOW + dt.timedelta(hours=1), out_dir=tmp_path)
    assert again.invited == 0 and again.batch_file is None
    assert again.skipped == {"cooldown": 32}
    # 31 days later the customers may be asked again, but not about the tickets already invited.
    later = invite(engine, SINCE, now=NOW + dt.timedelta(days=31), out_dir=tmp_path)
    assert later.invited == 4
    with engine.connect() as conn:
        per_ticket = conn.execute(select(Invitation.ticket_id, func.count()).group_by(Invitation.ticket_id)
                                  .having(func.count() > 1)).all()
    assert per_ticket == [] and first.invited == 4


def test_opted_out_and_complaint_under_investigation_are_excluded(engine, tmp_path: Path) -> None:
    _add_customers(engine, 3)
    with engine.begin() as conn:
        custs = conn.execute(select(Customer.id).where(Customer.account_no.like("99%")).order_by(Customer.id)).scalars().all()
        conn.execute(update(Customer).where(Customer.id == custs[0]).values(opted_out=True))
        conn.execute(insert(Ticket).values(external_no="C-1", customer_id=custs[1], region_id=7, channel="hotline",
                                           service_type="complaint", created_at=NOW - dt.timedelta(days=2),
                                           status="in_progress", updated_at=NOW))
    res = invite(engine, SINCE, now=NOW, out_dir=tmp_path)
    assert res.skipped.get("opted_out") == 1 and res.skipped.get("complaint_open") == 1
    with engine.connect() as conn:
        invited = set(conn.execute(select(Invitation.customer_id)).scalars())
    assert custs[0] not in invited and custs[1] not in invited and custs[2] in invited


def test_sampling_is_deterministic_per_ticket_and_close_to_the_rate() -> None:
    picks = [sampled(f"T{i}", 0.3) for i in range(10_000)]
    assert 0.28 < sum(picks) / len(picks) < 0.32
    assert picks == [sampled(f"T{i}", 0.3) for i in range(10_000)]
    assert sampled("x", 1.0) and not sampled("x", 0.0)


def test_qr_channel_writes_svg_codes(engine, tmp_path: Path) -> None:
    res = invite(engine, SINCE, "qr", now=NOW, out_dir=tmp_path)
    assert res.invited == 4 and res.batch_file is not None
    svgs = list(res.batch_file.with_suffix("").glob("*.svg"))
    assert len(svgs) == 4 and svgs[0].read_text().startswith("<?xml")


def test_one_reminder_with_a_fresh_link_and_the_first_link_stops_working(engine, tmp_path: Path) -> None:
    res = invite(engine, SINCE, now=NOW, out_dir=tmp_path)
    tokens = [r["link"].split("t=")[1] for r in res.rows]
    assert submit(engine, tokens[0], {"csat": 5}, now=NOW + dt.timedelta(days=1)).status == "ok"
    assert remind(engine, now=NOW + dt.timedelta(days=2), out_dir=tmp_path).invited == 0  # too early
    rem = remind(engine, now=NOW + dt.timedelta(days=3), out_dir=tmp_path)
    assert rem.invited == 3  # the answered one is not reminded
    assert all("还没有评价" in r["message"] for r in rem.rows)
    assert open_link(engine, tokens[1], NOW + dt.timedelta(days=3)).state == "unknown"
    new = rem.rows[0]["link"].split("t=")[1]
    assert open_link(engine, new, NOW + dt.timedelta(days=3)).state == "ok"
    assert remind(engine, now=NOW + dt.timedelta(days=4), out_dir=tmp_path).invited == 0  # only one reminder
    with engine.connect() as conn:
        assert set(conn.execute(select(Invitation.expires_at)).scalars()) == {NOW + dt.timedelta(days=7)}


def test_kiosk_code_for_a_hall_and_a_day(engine, tmp_path: Path) -> None:
    code = kiosk_qr(engine, 7, dt.date(2026, 10, 20), out_dir=tmp_path, now=NOW, base_url="https://cx.example.cn")
    assert code.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert code.svg.read_text().startswith("<?xml")
    # valid until local midnight (Asia/Shanghai = UTC+8)
    assert code.expires_at == dt.datetime(2026, 10, 20, 16, 0, tzinfo=dt.UTC)
    token = code.link.split("t=")[1]
    link = open_link(engine, token, NOW)
    assert link.state == "ok" and link.context is not None and link.context.reusable
    assert link.context.service_type is None and link.context.region_name_zh == "甲一营业厅"
    with pytest.raises(ValueError):
        kiosk_qr(engine, 999, dt.date(2026, 10, 20), out_dir=tmp_path)


def test_no_invitations_with_localhost_links_outside_demo_mode(engine, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Without GRIDCX_PUBLIC_URL the links would point at http://localhost:8501: refused unless a demo world."""
    monkeypatch.delenv("GRIDCX_PUBLIC_URL")
    tmp_path = tmp_path / "outbox"
    with pytest.raises(PublicUrlMissing, match="GRIDCX_PUBLIC_URL"):
        invite(engine, SINCE, now=NOW, out_dir=tmp_path)
    with pytest.raises(PublicUrlMissing):
        remind(engine, now=NOW + dt.timedelta(days=3), out_dir=tmp_path)
    with pytest.raises(PublicUrlMissing):
        kiosk_qr(engine, 7, dt.date(2026, 10, 20), out_dir=tmp_path, now=NOW)
    monkeypatch.setenv("GRIDCX_PUBLIC_URL", "   ")
    with pytest.raises(PublicUrlMissing):
        invite(engine, SINCE, now=NOW, out_dir=tmp_path)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Invitation)).scalar_one() == 0
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []
    # an explicit base works; so does the default in a demo world (python -m data demo records its seed)
    assert kiosk_qr(engine, 7, dt.date(2026, 10, 20), out_dir=tmp_path, now=NOW,
                    base_url="https://cx.example.cn").link.startswith("https://cx.example.cn/survey?t=")
    with engine.begin() as conn:
        conn.execute(insert(SiteSetting).values(key="demo.seed", value="7"))
    res = invite(engine, SINCE, now=NOW, out_dir=tmp_path)
    assert res.invited == 4 and res.rows[0]["link"].startswith("http://localhost:8501/survey?t=")
