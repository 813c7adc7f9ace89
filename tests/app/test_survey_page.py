"""The customer survey page through AppTest: the happy path, the closed loop, and every error path."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from data.engine import get_engine
from data.models import UTC, FollowUp, Invitation, Response
from surveys import definitions
from tests.app.helpers import APP, login, texts
from tests.surveys.helpers import build_survey_world, new_invitation

SURVEY = "dashboard/views/survey.py"


@pytest.fixture
def survey_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    build_survey_world(get_engine(sqlite_url), now=dt.datetime.now(UTC))
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return sqlite_url


def _invite(url: str, **kw) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    kw.setdefault("ticket_id", 1)
    kw.setdefault("customer_id", 1)
    return new_invitation(get_engine(url), now=dt.datetime.now(UTC), **kw)


def open_survey(token: str | None, lang: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    if token is not None:
        at.query_params["t"] = token
    if lang:
        at.session_state["lang"] = lang
    at.run()
    at.switch_page(SURVEY).run()
    assert not at.exception, at.exception
    return at


def _submit(at: AppTest) -> AppTest:
    button = next(b for b in at.button if b.label in ("提交评价", "Send my answers"))
    button.click().run()
    assert not at.exception, at.exception
    return at


def _all_text(at: AppTest) -> str:
    return texts(at) + "\n" + "\n".join(str(s.value) for s in at.success) + "\n".join(r.label for r in at.radio)


def _count(url: str, model, *where) -> int:  # type: ignore[no-untyped-def]
    with get_engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_happy_path_in_chinese(survey_db: str) -> None:
    token, inv_id = _invite(survey_db)
    at = open_survey(token)
    page = _all_text(at)
    shown = re.sub(r"\\(.)", r"\1", page)  # markdown escapes (user data is escaped) as the reader sees them
    assert "故障抢修服务评价" in [t.value for t in at.title]
    assert "故障报修" in shown and "测试****" in shown
    assert "张三" not in page and "13800000000" not in page and "测试路1号" not in page
    assert "第 1 步，共 4 步：总体感受" in [p.proto.text for p in at.get("progress")]
    assert not at.text_input  # no login form
    at.feedback(key="q_csat").set_value(4)  # fifth face = 5
    at.feedback(key="q_arrival").set_value(3)
    at.radio(key="q_fcr").set_value(True)
    at.radio(key="q_ces").set_value(6)
    at.radio(key="q_nps").set_value(9)
    at.text_area(key="q_comment").input("师傅来得很快")
    _submit(at)
    assert [t.value for t in at.title] == ["谢谢您！"]
    assert not at.info  # no follow-up promised after a good score
    with get_engine(survey_db).connect() as conn:
        r = conn.execute(select(Response.__table__).where(Response.invitation_id == inv_id)).one()
    assert (r.csat, r.nps, r.ces, r.fcr, r.comment, r.language) == (5, 9, 6, True, "师傅来得很快", "zh-CN")
    assert _count(survey_db, FollowUp) == 0
    at.run()  # a rerun keeps the thank-you, no error about a used link
    assert [t.value for t in at.title] == ["谢谢您！"]


def test_a_low_score_opens_a_follow_up_and_says_so(survey_db: str) -> None:
    token, inv_id = _invite(survey_db)
    at = open_survey(token)
    at.feedback(key="q_csat").set_value(0)
    at.radio(key="q_fcr").set_value(False)
    _submit(at)
    assert "负责的班组会尽快与您联系" in "".join(i.value for i in at.info)
    with get_engine(survey_db).connect() as conn:
        fu = conn.execute(select(FollowUp.reason, FollowUp.severity, FollowUp.owner_staff_id)).one()
    assert fu.reason in ("unresolved", "low_csat") and fu.severity == "high" and fu.owner_staff_id is not None


def test_the_overall_question_is_required(survey_db: str) -> None:
    token, inv_id = _invite(survey_db)
    at = open_survey(token)
    at.radio(key="q_nps").set_value(3)
    _submit(at)
    assert at.warning and "还差一题没有回答" in at.warning[0].value
    assert _count(survey_db, Response, Response.invitation_id == inv_id) == 0
    with get_engine(survey_db).connect() as conn:
        assert conn.execute(select(Invitation.used_at).where(Invitation.id == inv_id)).scalar_one() is None


@pytest.mark.parametrize("case, title, message", [
    ("none", "这个链接暂时用不了", "链接不完整或不正确"),
    ("malformed", "这个链接暂时用不了", "链接不完整或不正确"),
    ("injection", "这个链接暂时用不了", "链接不完整或不正确"),
    ("unknown", "这个链接暂时用不了", "链接不完整或不正确"),
    ("expired", "这个链接暂时用不了", "已经过期"),
    ("used", "您已经评价过了", "已经提交过了"),
])
def test_error_paths_explain_kindly_and_show_nothing_else(survey_db: str, case: str, title: str,
                                                          message: str) -> None:
    token: str | None
    if case == "none":
        token = None
    elif case == "malformed":
        token = "abc"
    elif case == "injection":
        token = "x' OR '1'='1"
    elif case == "unknown":
        token = "A" * 32
    elif case == "expired":
        token, _ = new_invitation(get_engine(survey_db), ticket_id=1, now=dt.datetime.now(UTC) - dt.timedelta(days=8))
    else:
        token, _ = _invite(survey_db)
        from surveys.intake import submit

        assert submit(get_engine(survey_db), token, {"csat": 5}).status == "ok"
    at = open_survey(token)
    assert [t.value for t in at.title] == [title]
    assert message in at.info[0].value
    assert "95598" in texts(at)
    assert not at.feedback and not at.radio and not at.button and not at.text_input
    assert not at.error  # a friendly info, not an error box


def test_switching_to_english_translates_the_page(survey_db: str) -> None:
    token, _ = _invite(survey_db)
    at = open_survey(token)
    at.segmented_control(key="survey_lang").set_value("en").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Fault repair survey"]
    assert "Your Fault repair on" in texts(at)
    at.feedback(key="q_csat").set_value(3)
    _submit(at)
    assert [t.value for t in at.title] == ["Thank you!"]
    with get_engine(survey_db).connect() as conn:
        assert conn.execute(select(Response.language).where(Response.invitation_id.is_not(None))).scalar_one() == "en"


def test_large_type_and_hidden_chrome(survey_db: str) -> None:
    token, _ = _invite(survey_db)
    at = open_survey(token)
    html = "\n".join(h.proto.body for h in at.get("html"))
    assert '[data-testid="stSidebar"]' in html and "display: none" in html
    assert "1.3rem" not in html
    at.toggle(key="survey_large").set_value(True).run()
    html = "\n".join(h.proto.body for h in at.get("html"))
    assert "font-size: 1.3rem" in html


def test_kiosk_code_takes_one_visitor_after_another(survey_db: str) -> None:
    token, _ = new_invitation(get_engine(survey_db), ticket_id=None, survey_key="hall", reusable=True, channel="qr",
                              now=dt.datetime.now(UTC), expires_in=dt.timedelta(hours=8))
    at = open_survey(token)
    assert "营业厅：甲一营业厅" in texts(at)
    for _ in range(2):
        at.feedback(key="q_csat").set_value(4)
        _submit(at)
        assert [t.value for t in at.title] == ["谢谢您！"]
        next(b for b in at.button if b.label == "下一位顾客填写").click().run()
        assert at.feedback(key="q_csat").value is None
    assert _count(survey_db, Response, Response.channel == "qr") == 2


def test_a_logged_in_manager_can_open_a_survey_link_too(survey_db: str) -> None:
    token, _ = _invite(survey_db)
    at = login("manager")
    at.query_params["t"] = token
    at.switch_page(SURVEY).run()
    assert not at.exception
    assert "故障抢修服务评价" in [t.value for t in at.title]


def test_broken_definitions_close_the_survey_and_alert_the_admin(survey_db: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    folder = tmp_path / "defs"
    shutil.copytree(definitions.DEFINITIONS_DIR, folder)
    path = folder / "repair.v1.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('role = "nps"', 'role = "npx"'), encoding="utf-8")
    monkeypatch.setenv("GRIDCX_SURVEY_DEFINITIONS", str(folder))
    definitions.registry.cache_clear()
    try:
        token, _ = _invite(survey_db)
        at = open_survey(token)
        assert [t.value for t in at.title] == ["这个链接暂时用不了"]
        assert "暂时打不开" in at.info[0].value
        admin = login("admin")
        banner = " ".join(e.value for e in admin.error)
        assert "问卷定义文件有错误" in banner and "repair.v1.toml: item 'nps'" in banner
    finally:
        monkeypatch.delenv("GRIDCX_SURVEY_DEFINITIONS")
        definitions.registry.cache_clear()


def _rotated(url: str, want: str) -> tuple[str, int, set[str]]:
    """A one-time link to the latest repair questionnaire whose rotation plan asks ``want``."""
    from surveys.definitions import rotation_seed

    latest = definitions.registry().for_service_type("repair")
    assert latest.rotation is not None
    for _ in range(60):
        token, inv_id = _invite(url, version=latest.version)
        asked = {i.key for i in latest.asked("repair", "sms", rotation_seed(inv_id))}
        if want in asked:
            return token, inv_id, asked
    raise AssertionError(f"no plan asks {want!r}")


def _shown(at: AppTest) -> dict[str, str]:
    """The questions on the page by item key, with their answer format."""
    out: dict[str, str] = {}
    for fb in at.feedback:
        out[fb.key.removeprefix("q_")] = "faces" if "faces" in str(fb.proto).lower() else "stars"
    for r in at.radio:
        out[r.key.removeprefix("q_")] = f"choice{len(r.options)}"
    for ta in at.text_area:
        out[ta.key.removeprefix("q_")] = "text"
    return out


def test_each_invitee_sees_at_most_five_questions_in_three_formats_and_intake_takes_the_plan(survey_db: str) -> None:
    seen: dict[str, set[str]] = {}
    for want in ("nps", "ces", "fcr"):  # every rotation group exists and is shown as planned
        token, inv_id, asked = _rotated(survey_db, want)
        at = open_survey(token)
        shown = _shown(at)
        assert set(shown) == asked, (shown, asked)
        assert len(shown) <= 5 and len(set(shown.values())) <= 3, shown
        assert "csat" in shown and "comment" in shown
        assert sum(k in shown for k in ("nps", "ces", "fcr")) == 1
        seen[want] = set(shown)
        if want == "nps":  # the customer answers exactly what they were asked: intake takes it
            at.feedback(key="q_csat").set_value(3)
            at.radio(key="q_nps").set_value(10)
            _submit(at)
            assert [t.value for t in at.title] == ["谢谢您！"]
            with get_engine(survey_db).connect() as conn:
                r = conn.execute(select(Response.id, Response.csat, Response.nps, Response.ces, Response.fcr)
                                 .where(Response.invitation_id == inv_id)).one()
            assert (r.csat, r.nps, r.ces, r.fcr) == (4, 10, None, None)  # CES/FCR not asked: missing by design
    assert seen["nps"] != seen["ces"]


def test_a_missing_required_answer_is_marked_at_its_question(survey_db: str) -> None:
    token, inv_id, _ = _rotated(survey_db, "nps")
    at = open_survey(token)
    html = "\n".join(h.proto.body for h in at.get("html"))
    assert "gx_item_csat" not in html and not [m for m in at.markdown if "gx-missing" in m.value]
    at.radio(key="q_nps").set_value(3)
    _submit(at)
    marks = [m.value for m in at.markdown if "gx-missing" in m.value]
    assert len(marks) == 1 and "这一题还没有回答" in marks[0]
    html = "\n".join(h.proto.body for h in at.get("html"))
    assert ".st-key-gx_item_csat {" in html  # the question's box is outlined
    assert '".st-key-gx_item_csat"' in html and "scrollIntoView" in html  # ... and scrolled into view
    assert at.radio(key="q_nps").value == 3  # the answers given are kept
    assert _count(survey_db, Response, Response.invitation_id == inv_id) == 0
