"""IVR keypress and SMS reply files -> responses, rejects per row, safe re-runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from data.engine import get_engine
from data.models import FollowUp, Response
from surveys.results import ResultsFileError, import_ivr, import_sms
from tests.surveys.helpers import NOW, build_survey_world, new_invitation


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    eng = get_engine(db_url)
    build_survey_world(eng)
    return eng


def test_ivr_file_in_gbk_with_rejects_and_a_safe_rerun(engine, tmp_path: Path) -> None:
    path = tmp_path / "ivr.csv"
    path.write_bytes(
        "呼叫流水号,工单编号,按键,回访时间\n"
        "C001,T7-0,1,2026-10-19 10:00:00\n"      # very satisfied -> CSAT 5
        "C002,T7-1,5,2026-10-19 10:05:00\n"      # very dissatisfied -> CSAT 1 -> follow-up
        "C003,NOPE,2,2026-10-19 10:06:00\n"      # unknown work order
        "C004,T7-2,9,2026-10-19 10:07:00\n"      # bad key
        "C005,T7-3,3,yesterday\n"                # bad time
        "C001,T7-0,1,2026-10-19 10:00:00\n"      # duplicate call id in file
        ",T7-4,1,2026-10-19 10:00:00\n".encode("gbk"))  # missing call id
    s = import_ivr(engine, path, now=NOW)
    assert (s.rows, s.imported, s.already, s.follow_ups) == (7, 2, 0, 1)
    rej = s.rejects_frame()
    assert list(rej["row"]) == [4, 5, 6, 7, 8]
    assert list(rej["reason"]) == ["unknown_ticket", "bad_key", "bad_time", "duplicate_in_file", "missing"]
    assert list(rej["column"]) == ["工单编号", "按键", "回访时间", "呼叫流水号", "呼叫流水号"]
    out = s.write_rejects(tmp_path / "rejects.csv")
    assert "找不到这个工单编号" in out.read_text(encoding="utf-8-sig")
    with engine.connect() as conn:
        rows = dict(conn.execute(select(Response.external_no, Response.csat).where(Response.channel == "ivr")).all())
        assert conn.execute(select(FollowUp.reason)).scalars().all() == ["low_csat"]
        when = conn.execute(select(Response.submitted_at).where(Response.external_no == "C001")).scalar_one()
    assert rows == {"C001": 5, "C002": 1}
    assert when == dt.datetime(2026, 10, 19, 2, 0, tzinfo=dt.UTC)  # local time -> UTC
    again = import_ivr(engine, path, now=NOW)
    assert (again.imported, again.already) == (0, 3)  # C001 twice, C002
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Response).where(Response.channel == "ivr")).scalar_one() == 2


def test_ivr_xlsx_with_english_headers(engine, tmp_path: Path) -> None:
    path = tmp_path / "ivr.xlsx"
    pd.DataFrame({"call_id": ["X1", "X2"], "ticket_no": ["T8-0", "T8-1"], "key": [2, 4]}).to_excel(path, index=False)
    s = import_ivr(engine, path, now=NOW)
    assert s.imported == 2 and not s.rejects and s.follow_ups == 1


def test_a_file_without_the_needed_columns_is_refused_whole(engine, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(ResultsFileError, match="missing column"):
        import_ivr(engine, path)
    with pytest.raises(ResultsFileError, match="missing column"):
        import_sms(engine, path)


def test_sms_replies_go_through_the_token_once(engine, tmp_path: Path) -> None:
    w_token, _ = new_invitation(engine, ticket_id=None, region_id=8)
    t2, _ = new_invitation(engine, ticket_id=None, region_id=8)
    t3, _ = new_invitation(engine, ticket_id=None, region_id=8, expires_in=dt.timedelta(hours=1))
    path = tmp_path / "sms.csv"
    path.write_text(
        "令牌,回复内容,回复时间\n"
        f"{w_token},1,2026-10-20 10:30:00\n"
        f"https://cx.example.cn/survey?t={t2},不满意,2026-10-20 10:31:00\n"
        f"{w_token},2,2026-10-20 10:32:00\n"          # second reply with the same token
        "garbage,1,2026-10-20 10:33:00\n"
        f"{t3},ok,2026-10-20 10:34:00\n"             # not a score
        f"{t3},3,2026-10-21 10:34:00\n",             # after expiry
        encoding="utf-8")
    s = import_sms(engine, path, now=NOW + dt.timedelta(days=2))
    assert (s.imported, s.follow_ups) == (2, 1)
    assert [(r["row"], r["reason"]) for r in s.rejects] == [(4, "token_used"), (5, "bad_token"), (6, "bad_reply"),
                                                            (7, "token_expired")]
    assert all(w_token not in str(r["value"]) for r in s.rejects)  # tokens are not echoed into reports
    with engine.connect() as conn:
        assert sorted(conn.execute(select(Response.csat).where(Response.channel == "sms",
                                                               Response.invitation_id.is_not(None))).scalars()) == [2, 5]
