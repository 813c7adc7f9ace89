"""Intake: validation, storage in one transaction, follow-up rules, and exactly-once under concurrency."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from data.engine import get_engine
from data.models import Answer, FollowUp, Invitation, Response
from surveys.bench import bench_intake
from surveys.definitions import registry
from surveys.intake import submit, validate_answers
from tests.surveys.helpers import HAPPY, NOW, UNHAPPY, build_survey_world, new_invitation


def _count(engine, model, *where) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one())


def test_validation_names_each_bad_answer() -> None:
    repair = registry().get("repair")
    clean, errors = validate_answers(repair, "repair", "sms", {
        "csat": 6, "nps": -1, "ces": "7", "fcr": "maybe", "comment": "好\x00的", "arrival": True, "teleport": 1})
    assert errors == {"csat": "out_of_range", "nps": "out_of_range", "fcr": "out_of_range",
                      "arrival": "out_of_range", "teleport": "unknown_item"}
    assert clean == {"ces": 7, "comment": "好的"}
    _, errors = validate_answers(repair, "repair", "sms", {"nps": 9})
    assert errors == {"csat": "required"}
    # The reconnection item is not asked for a payment, so an answer to it is refused.
    _, errors = validate_answers(registry().get("billing"), "payment", "sms", {"csat": 3, "reconnect": 4})
    assert errors == {"reconnect": "unknown_item"}


def test_a_happy_submission_stores_response_and_answers_and_no_follow_up(db_url: str) -> None:
    engine = get_engine(db_url)
    w = build_survey_world(engine)
    token, inv_id = new_invitation(engine, ticket_id=w.ticket_id, customer_id=1)
    res = submit(engine, token, {**HAPPY, "comment": "师傅很专业"}, survey_key="repair", language="en", now=NOW)
    assert res.status == "ok" and res.follow_up_id is None
    with engine.connect() as conn:
        r = conn.execute(select(Response.__table__).where(Response.id == res.response_id)).one()
        answers = dict(conn.execute(select(Answer.item_key, Answer.value_num)
                                    .where(Answer.response_id == res.response_id)).all())
        used = conn.execute(select(Invitation.used_at).where(Invitation.id == inv_id)).scalar_one()
    assert (r.csat, r.nps, r.ces, r.fcr, r.comment, r.language, r.channel) == (5, 10, 7, True, "师傅很专业", "en", "sms")
    assert (r.invitation_id, r.ticket_id, r.region_id, r.survey_key, r.survey_version) == (inv_id, w.ticket_id, 7, "repair", 1)
    assert answers == {"csat": 5, "arrival": 5, "restore": 4, "progress": 5, "crew": 5, "fcr": 1, "ces": 7, "nps": 10}
    assert used == NOW


@pytest.mark.parametrize("answers, reason, severity", [
    ({"csat": 2}, "low_csat", "medium"),
    ({"csat": 1}, "low_csat", "high"),
    ({"csat": 4, "nps": 5}, "detractor", "low"),
    ({"csat": 3, "nps": 2}, "detractor", "medium"),
    ({"csat": 4, "fcr": False}, "unresolved", "high"),
    ({"csat": 4, "comment": "抄表员乱收费，我要投诉"}, "complaint_topic", "high"),
    ({"csat": 4, "comment": "The crew was rude"}, "complaint_topic", "high"),
    ({"csat": 3, "nps": 7, "fcr": True, "comment": "还行"}, None, None),
    ({"csat": 3, "comment": "prudent"}, None, None),
])
def test_follow_up_rules(sqlite_url: str, answers, reason, severity) -> None:  # type: ignore[no-untyped-def]
    engine = get_engine(sqlite_url)
    w = build_survey_world(engine)
    token, _ = new_invitation(engine, ticket_id=w.ticket_id, customer_id=1)
    res = submit(engine, token, answers, now=NOW)
    assert res.status == "ok"
    if reason is None:
        assert res.follow_up_id is None
        return
    with engine.connect() as conn:
        fu = conn.execute(select(FollowUp.__table__).where(FollowUp.id == res.follow_up_id)).one()
    assert (fu.reason, fu.severity, fu.status, fu.owner_staff_id, fu.response_id, fu.ticket_id, fu.customer_id) == (
        reason, severity, "open", w.lead_id, res.response_id, w.ticket_id, 1)
    hours = {"high": 4, "medium": 24, "low": 72}[severity]
    assert fu.due_at == NOW + dt.timedelta(hours=hours)


def test_one_follow_up_per_response_with_the_most_severe_reason(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    w = build_survey_world(engine)
    token, _ = new_invitation(engine, ticket_id=w.ticket_id)
    res = submit(engine, token, UNHAPPY, now=NOW)
    with engine.connect() as conn:
        fus = conn.execute(select(FollowUp.reason, FollowUp.severity, FollowUp.notes)).all()
    assert len(fus) == 1
    assert fus[0].reason == "complaint_topic" and fus[0].severity == "high"
    assert fus[0].notes == "rules: complaint_topic, unresolved, low_csat, detractor"
    assert res.follow_up_id is not None


def test_nothing_is_stored_when_the_transaction_fails(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = get_engine(sqlite_url)
    w = build_survey_world(engine)
    token, inv_id = new_invitation(engine, ticket_id=w.ticket_id)
    import surveys.intake as intake

    def boom(*a, **k):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk full")

    monkeypatch.setattr(intake, "due_at", boom)
    with pytest.raises(RuntimeError):
        submit(engine, token, UNHAPPY, now=NOW)
    assert _count(engine, Response, Response.invitation_id == inv_id) == 0
    assert _count(engine, Answer) == 0 and _count(engine, FollowUp) == 0
    with engine.connect() as conn:
        assert conn.execute(select(Invitation.used_at).where(Invitation.id == inv_id)).scalar_one() is None
    monkeypatch.undo()
    assert submit(engine, token, UNHAPPY, now=NOW).status == "ok"


@pytest.mark.slow
def test_twenty_threads_times_fifty_submissions_store_exactly_one_thousand(db_url: str) -> None:
    engine = get_engine(db_url)
    result = bench_intake(engine, threads=20, per_thread=50)
    assert result["statuses"] == {"ok": 1000}
    assert result["responses"] == 1000 and result["duplicates"] == 0
    assert result["invitations_consumed"] == 1000
    assert result["follow_ups"] == result["follow_ups_expected"] == 200
    assert result["follow_up_duplicates"] == 0


def test_concurrent_submits_of_one_token_store_one_response(db_url: str) -> None:
    engine = get_engine(db_url)
    w = build_survey_world(engine)
    for _round in range(5):
        token, inv_id = new_invitation(engine, ticket_id=w.ticket_id)
        statuses: list[str] = []
        barrier = threading.Barrier(8)

        def go() -> None:
            barrier.wait()
            statuses.append(submit(engine, token, UNHAPPY, now=NOW).status)

        threads = [threading.Thread(target=go) for _ in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(statuses) == ["ok"] + ["used"] * 7
        assert _count(engine, Response, Response.invitation_id == inv_id) == 1
        with engine.connect() as conn:
            rid = conn.execute(select(Response.id).where(Response.invitation_id == inv_id)).scalar_one()
        assert _count(engine, FollowUp, FollowUp.response_id == rid) == 1


def test_sqlite_database_is_locked_is_retried(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.exc import OperationalError

    import surveys.intake as intake

    engine = get_engine(sqlite_url)
    w = build_survey_world(engine)
    token, _ = new_invitation(engine, ticket_id=w.ticket_id)
    real = intake.store_response
    calls = {"n": 0}

    def flaky(*a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] < 3:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return real(*a, **k)

    monkeypatch.setattr(intake, "store_response", flaky)
    res = submit(engine, token, HAPPY, now=NOW)
    assert res.status == "ok" and res.attempts == 3
    assert _count(engine, Response, Response.invitation_id.is_not(None)) == 1


def test_a_rotated_invitation_takes_its_plan_and_stores_not_asked_as_missing_by_design(db_url: str) -> None:
    from surveys.definitions import rotation_seed

    engine = get_engine(db_url)
    w = build_survey_world(engine)
    latest = registry().for_service_type("repair")
    plans = set()
    for _ in range(12):
        token, inv_id = new_invitation(engine, ticket_id=w.ticket_id, customer_id=1, version=latest.version)
        asked = {i.key for i in latest.asked("repair", "sms", rotation_seed(inv_id))}
        plans.add(frozenset(asked))
        not_asked = sorted({i.key for i in latest.items_for("repair")} - asked)
        # an answer to a question this customer was not shown is refused, and the link stays usable
        res = submit(engine, token, {**{k: v for k, v in HAPPY.items() if k in asked}, not_asked[0]: HAPPY.get(
            not_asked[0], "x")}, survey_key="repair", now=NOW)
        assert res.status == "invalid" and res.errors == {not_asked[0]: "unknown_item"}
        dims = sorted(k for k in asked if latest.item(k).dimension)
        answers = {"csat": 4, dims[0]: 5}  # the second dimension item of the plan is left blank
        res = submit(engine, token, answers, survey_key="repair", now=NOW)
        assert res.status == "ok"
        with engine.connect() as conn:
            rows = dict(conn.execute(select(Answer.item_key, Answer.value_num)
                                     .where(Answer.response_id == res.response_id)).all())
        # asked and answered: a value; asked and left blank: a row without a value; not asked: no row
        blank = {k: None for k in asked - {"csat", dims[0], "comment"}}
        assert rows == {"csat": 4.0, dims[0]: 5.0, **blank}
        assert not set(rows) & set(not_asked)
    assert len(plans) > 3  # the invitations were spread over several plans


def test_a_kiosk_visitor_may_answer_any_plan_but_only_one(db_url: str) -> None:
    engine = get_engine(db_url)
    build_survey_world(engine)
    hall = registry().kiosk()
    token, inv_id = new_invitation(engine, survey_key="hall", version=hall.version, reusable=True, channel="qr")
    from surveys.definitions import rotation_seed

    for visit in range(4):
        asked = {i.key for i in hall.asked(None, "qr", rotation_seed(inv_id, visit))}
        answers = {k: (True if k == "fcr" else 4) for k in asked if k != "comment"}
        assert submit(engine, token, answers, visit=visit, now=NOW).status == "ok"
    union = {k: (True if k == "fcr" else 4) for k in ("csat", "fcr", "ces", "nps")}
    assert submit(engine, token, union, visit=0, now=NOW).status == "invalid"
    assert _count(engine, Response, Response.channel == "qr") == 4
