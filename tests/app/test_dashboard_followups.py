"""Follow-up queue on the tiny world plus hand-made follow-ups: scope, overdue highlighted, assign, status, close
(through surveys.followups), audit trail, and the customer archive before the call."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select, update

from data.engine import get_engine
from data.models import UTC, AuditEvent, Customer, FollowUp, Response, Staff, Team, Ticket
from tests.app.dashboard_helpers import goto
from tests.app.helpers import login


@pytest.fixture
def queue_db(tiny_app_db: str) -> str:
    """Two staff (A1, B1) and three follow-ups: A1 overdue, A1 not yet due, B1 (outside mgr_a1's scope)."""
    engine = get_engine(tiny_app_db)
    now = dt.datetime.now(UTC)
    with engine.begin() as conn:
        team = conn.execute(insert(Team).values(code="TA1", name="甲一班", role="crew", region_id=7)).inserted_primary_key[0]
        conn.execute(insert(Staff).values(id=101, code="S101", name="李四", role="crew", team_id=team, region_id=7))
        conn.execute(insert(Staff).values(id=102, code="S102", name="王五", role="crew", team_id=team, region_id=9))
        cust = {r.region_id: r.id for r in conn.execute(select(Customer.id, Customer.region_id))}
        tk = {r.region_id: r.id for r in conn.execute(select(Ticket.id, Ticket.region_id))}
        for fid, region, due in ((1, 7, now - dt.timedelta(hours=30)), (2, 7, now + dt.timedelta(hours=20)),
                                 (3, 9, now - dt.timedelta(hours=5))):
            conn.execute(insert(FollowUp).values(
                id=fid, region_id=region, customer_id=cust[region], ticket_id=tk[region], reason="low_csat",
                severity="high", created_at=now - dt.timedelta(days=2), due_at=due, status="open"))
    return tiny_app_db


def test_queue_is_scoped_and_overdue_is_marked(queue_db: str) -> None:
    at = goto(login("mgr_a1"), "followups")
    table = at.dataframe[0].value
    assert sorted(table["回访编号"]) == [1, 2]  # #3 is in B1, outside A1
    overdue = dict(zip(table["回访编号"], table["超期"], strict=True))
    assert overdue == {1: "⚠ 超期", 2: ""}
    assert "共 2 条，其中超期 1 条（红色 ⚠ 标出）。" in [c.value for c in at.caption]
    at = goto(login("manager"), "followups")
    assert sorted(at.dataframe[0].value["回访编号"]) == [1, 2, 3]


def test_assign_update_and_close(queue_db: str) -> None:
    at = goto(login("mgr_a1"), "followups")
    at.selectbox(key="fu_pick").set_value(1).run()
    assert at.selectbox(key="fu_owner").options == ["S101 李四"]  # only staff inside A1
    at.selectbox(key="fu_owner").set_value(101).run()
    at.button(key="fu_assign").click().run()
    assert "回访 #1 已指派。" in [s.value for s in at.success]
    at.selectbox(key="fu_pick").set_value(1).run()
    at.selectbox(key="fu_to").set_value("in_progress").run()
    at.button(key="fu_transition").click().run()
    at.selectbox(key="fu_pick").set_value(1).run()
    at.radio(key="fu_outcome").set_value("resolved")
    at.checkbox(key="fu_recovered").check()
    at.selectbox(key="fu_score").set_value(4)
    at.text_input(key="fu_notes").input("已电话联系，问题已解决")
    at.button[[b.label for b in at.button].index("关闭回访")].click().run()
    assert "回访 #1 已关闭。" in [s.value for s in at.success]
    engine = get_engine(queue_db)
    with engine.connect() as conn:
        row = conn.execute(select(FollowUp.__table__).where(FollowUp.id == 1)).one()
        actions = [a for (a,) in conn.execute(select(AuditEvent.action).where(AuditEvent.object_type == "follow_up"))]
    assert (row.owner_staff_id, row.status, row.outcome, row.recovered, row.recovery_score) == (
        101, "closed", "resolved", True, 4)
    assert row.closed_at is not None and row.notes == "已电话联系，问题已解决"
    assert actions == ["follow_up_assign", "follow_up_status", "follow_up_close"]
    # the closed follow-up leaves the open queue
    assert sorted(at.dataframe[0].value["回访编号"]) == [2]


@pytest.mark.security
def test_archive_before_the_call(queue_db: str) -> None:
    at = goto(login("mgr_a1"), "followups")
    at.selectbox(key="fu_pick").set_value(1).run()
    at.button(key="fu_archive").click().run()
    md = "\n".join(m.value for m in at.markdown)
    assert "客户档案" in [s.value for s in at.subheader]
    assert "工单（10）" in md and "回访（2）" in md and "张三" not in md
    # masked values keep their asterisks literally: escaped, not read as Markdown emphasis
    line = next(m.value for m in at.markdown if "户号" in m.value)
    assert "：张\\* · " in line and "：000\\*\\*\\*\\*007" in line and "：138\\*\\*\\*\\*0000" in line


def test_manager_sees_staff_names_and_the_uplift_with_its_unit(queue_db: str) -> None:
    """Staff are not customers: the manager who assigns work sees their names. The satisfaction uplift is in points
    of the 1-5 scale and says how it is computed."""
    engine = get_engine(queue_db)
    with engine.begin() as conn:
        rid = conn.execute(select(Response.id).where(Response.region_id == 7)).scalars().first()
        conn.execute(update(Response).where(Response.id == rid).values(csat=2))
        # a closed follow-up inside the tiny world's month (the default period): called back, now 4 of 5
        closed = dt.datetime(2026, 10, 5, 3, 0, tzinfo=UTC)
        conn.execute(insert(FollowUp).values(
            id=4, region_id=7, response_id=rid, reason="low_csat", severity="high", created_at=closed,
            due_at=closed + dt.timedelta(days=1), status="closed", closed_at=closed, outcome="resolved",
            recovered=True, recovery_score=4, owner_staff_id=101))
        conn.execute(update(FollowUp).where(FollowUp.id == 1).values(owner_staff_id=101))
    at = goto(login("mgr_a1"), "followups")
    owners = dict(zip(at.dataframe[0].value["回访编号"], at.dataframe[0].value["负责人"], strict=True))
    assert owners == {1: "李四", 2: "—"}
    uplift = next(m for m in at.metric if m.label == "满意度提升")
    assert uplift.value == "+2.00分"
    assert "1–5 分" in uplift.help and "1 条" in uplift.help
    at = goto(login("mgr_a1", lang="en"), "followups")
    uplift = next(m for m in at.metric if m.label == "Satisfaction uplift")
    assert uplift.value == "+2.00 pts" and "1–5" in uplift.help


def test_assignment_outside_scope_is_refused(queue_db: str) -> None:
    from data.repositories import Scope
    from surveys.followups import FollowUpError, assign

    engine = get_engine(queue_db)
    with pytest.raises(FollowUpError):
        assign(engine, Scope("/1/2/4/"), 3, 101)  # follow-up #3 is in B1
    with pytest.raises(FollowUpError):
        assign(engine, Scope("/1/2/4/"), 1, 102)  # staff 102 works in B1
