"""Survey invitations from a questionnaire tool's distribution list (import kind ``invitations``): one row per
invitee, answered or not, so the response rate (responses / invitations delivered, KPIS.md §3) works for imported
surveys; the answering response is linked by its number, the region comes from the work order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import text

from data.io import import_file
from data.models import UTC
from surveys.rates import response_rates
from tests.data.test_import_wide_survey import _export, _world

INVITES = ("邀请编号,发送时间,工单编号,渠道,survey_key,答卷编号,是否送达\n"
           "I-1,2026/10/06 09:00:00,T7-0,短信,wjx_repair,W-1,是\n"
           "I-2,2026/10/06 09:00:00,T7-0,短信,wjx_repair,W-2,是\n"
           "I-3,2026/10/06 09:00:00,T7-0,微信,wjx_repair,,是\n"
           "I-4,2026/10/06 09:00:00,T7-0,短信,wjx_repair,,否\n"
           "I-5,2026/10/06 09:30:00,T7-0,短信,wjx_repair,W-9,是\n"
           "I-6,2026/10/06 09:30:00,T7-0,传真,wjx_repair,,是\n")


def test_invitations_give_imported_surveys_a_response_rate(db_url: str, tmp_path: Path) -> None:
    engine = _world(db_url)
    assert import_file(engine, "responses", _export(tmp_path), "wide_survey_example").imported == 4
    p = tmp_path / "invites.csv"
    p.write_text(INVITES, encoding="utf-8")
    res = import_file(engine, "invitations", p)
    assert (res.mapping, res.imported, res.rejected, res.warnings) == ("gridcx_invitations", 5, 1, 1), res.rejects
    assert res.rejects[["row", "column", "value", "level", "reason_en"]].values.tolist() == [
        [6, "答卷编号", "W-9", "warning", "unknown response number (import the responses first)"],
        [7, "渠道", "传真", "error", "unknown channel (not a code or synonym); allowed: ivr, qr, sms, web, wechat"]]
    with engine.connect() as conn:
        inv = conn.execute(text(
            "SELECT i.external_no, i.channel, i.delivered, i.region_id, i.expires_at, i.used_at, r.external_no "
            "FROM invitation i LEFT JOIN response r ON r.invitation_id = i.id ORDER BY i.external_no")).all()
    assert [(r[0], r[1], bool(r[2]), r[3], r[6]) for r in inv] == [
        ("I-1", "sms", True, 7, "W-1"), ("I-2", "sms", True, 7, "W-2"), ("I-3", "wechat", True, 7, None),
        ("I-4", "sms", False, 7, None), ("I-5", "sms", True, 7, None)]
    # Sent 09:00 Shanghai = 01:00 UTC; no expiry in the file: 7 days; used when W-1 was submitted (10:00 local).
    assert str(inv[0][4])[:19] == "2026-10-13 01:00:00" and str(inv[0][5])[:19] == "2026-10-06 02:00:00"
    rates = response_rates(engine, None, dt.datetime(2026, 10, 1, tzinfo=UTC), dt.datetime(2026, 11, 1, tzinfo=UTC),
                           ("channel",))
    assert rates[["channel", "invited", "delivered", "responded"]].values.tolist() == [
        ["sms", 4, 3, 2], ["wechat", 1, 1, 0]]
    assert rates["rate"].tolist() == [2 / 3, 0.0]
    again = import_file(engine, "invitations", p)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 5)
