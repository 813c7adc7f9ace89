"""Routing the riskiest open work into the follow-up queue, the commands, and customer profiles (issue 9)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from data.engine import get_engine
from data.models import UTC, FollowUp, Team, Ticket
from data.repositories import Scope
from data.repositories.customers import customer_profiles
from surveys import proactive


@pytest.fixture(scope="module")
def model_db(demo_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The S demo world with a trained model (training once per module)."""
    path = tmp_path_factory.mktemp("proactive") / "trained.db"
    with sqlite3.connect(demo_sqlite_url.removeprefix("sqlite:///")) as a, sqlite3.connect(path) as b:
        a.backup(b)
    proactive.train(get_engine(f"sqlite:///{path}"), card=path.with_name("card.md"))
    return path


@pytest.fixture
def db(model_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    path = tmp_path / "gridcx.db"
    with sqlite3.connect(model_db) as a, sqlite3.connect(path) as b:
        a.backup(b)
    url = f"sqlite:///{path}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_route_opens_proactive_follow_ups_with_reasons_owner_and_no_duplicates(db: str) -> None:
    engine = get_engine(db)
    scope = proactive.roots(engine)[0]
    scored = proactive.score(engine, scope)
    assert len(scored) > 20 and scored["risk"].is_monotonic_decreasing
    assert all(len(r) >= 1 for r in scored["reasons"])
    # an existing open follow-up for the riskiest ticket: it must be skipped
    first = int(scored.iloc[0]["id"])
    now = dt.datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(insert(FollowUp).values(ticket_id=first, region_id=int(scored.iloc[0]["region_id"]),
                                             reason="low_csat", severity="high", due_at=now, status="open"))
    scored = proactive.score(engine, scope)
    routed = proactive.route(engine, scored, top=5, now=now)
    assert len(routed) == 5 and first not in routed
    assert routed == [int(i) for i in scored.loc[~scored["open_follow_up"], "id"].head(5)]
    with engine.connect() as conn:
        rows = conn.execute(select(FollowUp.__table__, Ticket.team_id).join(Ticket, Ticket.id == FollowUp.ticket_id)
                            .where(FollowUp.proactive.is_(True))).all()
        leads = dict(conn.execute(select(Team.id, Team.lead_staff_id)).all())
    assert len(rows) == 5
    for fu in rows:
        team_id = fu.team_id
        assert fu.reason == "proactive" and fu.status == "open" and 0 < fu.risk_score <= 1
        assert fu.owner_staff_id == leads[team_id]  # the ticket team's lead
        assert "reasons: " in fu.notes and "channel: " in fu.notes
        expected = scored.set_index("id").loc[fu.ticket_id]
        assert fu.risk_score == pytest.approx(expected["risk"], abs=1e-4)
        assert expected["reasons"][0] in fu.notes
    # a second run takes the next five, never the same tickets twice
    again = proactive.route(engine, proactive.score(engine, scope), top=5, now=now)
    assert len(again) == 5 and not set(again) & set(routed)
    with engine.connect() as conn:
        dup = conn.execute(text("SELECT ticket_id FROM follow_up WHERE status != 'closed' GROUP BY ticket_id "
                                "HAVING count(*) > 1")).all()
    assert dup == []


def test_commands(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    from surveys.__main__ import main

    assert main(["risk", "score", "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "routed 3 to the follow-up queue" in out and out.count("→") == 3
    assert proactive.main(["score", "--top", "2", "--no-route"]) == 0
    assert "routed 0" in capsys.readouterr().out


def test_score_without_a_model_exits_3(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from data.schema import upgrade

    upgrade(get_engine(sqlite_url))
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert proactive.main(["score"]) == 3
    assert "python -m surveys.proactive train" in capsys.readouterr().err


def test_customer_profiles_are_scoped_and_summed_by_hand(db: str) -> None:
    engine = get_engine(db)
    with engine.connect() as conn:
        cid, _rid, path = conn.execute(text(
            "SELECT c.id, c.region_id, r.path FROM customer c JOIN region r ON r.id = c.region_id "
            "WHERE (SELECT count(*) FROM ticket t WHERE t.customer_id = c.id) >= 3 ORDER BY c.id LIMIT 1")).one()
        n_t = conn.execute(text("SELECT count(*) FROM ticket WHERE customer_id = :c"), {"c": cid}).scalar_one()
        other = conn.execute(text("SELECT path FROM region WHERE level = 'county' AND :p NOT LIKE path || '%' "
                                  "LIMIT 1"), {"p": path}).scalar_one()
    prof = customer_profiles(engine, proactive.roots(engine)[0], [cid])
    row = prof["customers"].iloc[0]
    assert row["tickets"] == n_t  # every work order of the demo customer lies in its own station's subtree
    assert int(prof["channels"]["n"].sum()) >= n_t
    assert customer_profiles(engine, Scope(other), [cid])["customers"].empty  # outside scope: nothing
