"""The columnar fact snapshot (data/snapshot.py) behind the fact readers: same frames as SQL, freshness after every
writer, stale and damaged partitions rebuilt, and the scope enforced whatever filter is passed."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import insert, select, update

from data import snapshot
from data.engine import get_engine
from data.io.importer import import_file
from data.models import UTC, Answer, Contact, FollowUp, Region, Response, Ticket
from data.repositories import Filters, Scope, facts
from surveys import followups
from surveys.intake import submit
from tests.data.import_helpers import ticket_csv, ticket_row
from tests.factories import build_tiny_world
from tests.surveys.helpers import NOW, UNHAPPY, build_survey_world, new_invitation

KINDS = ("ticket", "contact", "response", "answer", "follow_up")
OCT = Filters(dt.datetime(2026, 9, 30, 16, tzinfo=UTC), dt.datetime(2026, 11, 1, tzinfo=UTC))
WIDE = Filters(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC))


def _sorted(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    keys = ["response_id", "item_key"] if kind == "answer" else ["id"]
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


def _same(engine, scope: Scope, f: Filters) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Every reader equals its SQL reader (same rows, columns, dtypes; order normalised); returns row counts."""
    out = {}
    for kind in KINDS:
        got = getattr(facts, f"{kind}_facts")(engine, scope, f)
        want = getattr(facts, f"sql_{kind}_facts")(engine, scope, f)
        pd.testing.assert_frame_equal(_sorted(got, kind), _sorted(want, kind), check_exact=True)
        out[kind] = len(got)
    return out


def _rich_world(engine) -> None:  # type: ignore[no-untyped-def]
    """The tiny world plus contacts, answers and follow-ups with the nullable columns both set and empty, in two
    months (September and October), so every dtype rule of the readers is exercised."""
    build_tiny_world(engine)
    with engine.begin() as conn:
        tickets = conn.execute(select(Ticket.id, Ticket.region_id, Ticket.created_at)).all()
        for i, (tid, region, created) in enumerate(tickets):
            when = created - dt.timedelta(days=20) if i % 3 == 0 else created
            conn.execute(update(Ticket).where(Ticket.id == tid).values(
                created_at=when, substantiated=(None if i % 2 else bool(i % 4)), exception_reason=(
                    "weather" if i % 5 == 0 else None)))
            conn.execute(insert(Contact).values(
                external_no=f"C{tid}", region_id=region, channel="hotline" if i % 2 else "wechat",
                category="repair" if i % 3 else "billing", queued_at=when, abandoned=bool(i % 7 == 0),
                answered_at=None if i % 7 == 0 else when + dt.timedelta(seconds=40),
                handle_seconds=None if i % 7 == 0 else 120.0 + i, ticket_id=tid if i % 2 else None))
        responses = conn.execute(select(Response.id, Response.region_id, Response.submitted_at)).all()
        for i, (rid, region, submitted) in enumerate(responses):
            conn.execute(update(Response).where(Response.id == rid).values(
                ticket_id=tickets[i][0] if i % 2 else None, nps=None if i % 3 == 0 else 7,
                fcr=None if i % 4 == 0 else bool(i % 2), comment="很好" if i % 5 == 0 else None))
            conn.execute(insert(Answer), [
                {"response_id": rid, "item_key": "arrival", "dimension": "timeliness", "value_num": float(i % 5 + 1)},
                {"response_id": rid, "item_key": "comment", "dimension": None, "value_num": None,
                 "value_text": "快"}])
            if i % 3 == 0:
                conn.execute(insert(FollowUp).values(
                    response_id=rid, region_id=region, reason="low_csat", severity="high", created_at=submitted,
                    due_at=submitted + dt.timedelta(hours=24), status="closed" if i % 2 else "open",
                    closed_at=submitted + dt.timedelta(hours=3) if i % 2 else None,
                    outcome="resolved" if i % 2 else None, recovered=True if i % 2 else None,
                    recovery_score=4 if i % 2 else None, proactive=False, escalation_level=0))


@pytest.mark.parametrize("path", ["/1/", "/1/2/", "/1/2/4/", "/1/3/"])
def test_snapshot_reads_equal_sql_reads(db_url: str, path: str) -> None:
    engine = get_engine(db_url)
    _rich_world(engine)
    scope = Scope(path)
    counts = _same(engine, scope, WIDE)
    assert counts["ticket"] > 0 and counts["answer"] > 0
    _same(engine, scope, OCT)
    _same(engine, scope, Filters(WIDE.start, WIDE.end, channels=("hotline",), service_types=("repair",)))
    _same(engine, scope, Filters(WIDE.start, WIDE.end, segments=("residential",), area_classes=("urban",)))
    _same(engine, scope, Filters(WIDE.start, WIDE.end, region_id=7))
    empty = _same(engine, scope, Filters(dt.datetime(2001, 1, 1, tzinfo=UTC), dt.datetime(2001, 3, 1, tzinfo=UTC)))
    assert set(empty.values()) == {0}
    # Only the months of the periods read were built; every file carries its token.
    built = sorted(p.stem for p in (snapshot.directory(engine) / "ticket").glob("*.parquet"))
    assert built == ["2001-01", "2001-02"] + [f"2026-{m:02d}" for m in range(1, 13)]
    for p in (snapshot.directory(engine) / "ticket").glob("*.parquet"):
        assert pq.read_schema(p).metadata[snapshot.VERSION_KEY].startswith(snapshot.FORMAT.encode() + b":")


@pytest.mark.parametrize("world", ["demo_sqlite_url", "demo_pg_url"])
def test_snapshot_equals_sql_on_the_demo_world(world: str, request: pytest.FixtureRequest) -> None:
    """The demo loader writes the partitions from its frames: they equal what SQL gives."""
    engine = get_engine(request.getfixturevalue(world))
    with engine.connect() as conn:
        top = conn.execute(select(Region.path).order_by(Region.path).limit(1)).scalar_one()
        county = conn.execute(select(Region.path, Region.id).where(Region.level == "county")
                              .order_by(Region.id).limit(1)).one()
        last = conn.execute(select(Ticket.created_at).order_by(Ticket.created_at.desc()).limit(1)).scalar_one()
    end = last.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    f = Filters(end - dt.timedelta(days=90), end)
    counts = _same(engine, Scope(top), f)
    assert counts["ticket"] > 1000 and counts["contact"] > 1000 and counts["response"] > 100
    _same(engine, Scope(county.path), f)
    _same(engine, Scope(top), Filters(f.start, f.end, channels=("hotline", "app"), segments=("commercial",)))


def test_county_manager_never_sees_another_county(db_url: str) -> None:
    engine = get_engine(db_url)
    _rich_world(engine)
    scope = Scope("/1/2/4/")  # county A1 (regions 4 and its station 7)
    facts.ticket_facts(engine, Scope("/1/"), WIDE)  # the snapshot holds every region's rows
    attempts = [
        WIDE,
        Filters(WIDE.start, WIDE.end, region_id=6),  # another county
        Filters(WIDE.start, WIDE.end, region_id=1),  # the province (wider than the scope)
        Filters(WIDE.start, WIDE.end, region_id=12),  # /1/12/ shares a text prefix with /1/2/... paths
        Filters(WIDE.start, WIDE.end, region_id=999),  # unknown
        Filters(WIDE.start, WIDE.end, area_classes=("remote", "rural", "urban")),
        Filters(WIDE.start, WIDE.end, region_id=3, area_classes=("remote",)),
    ]
    for f in attempts:
        for kind in ("ticket", "contact", "response", "follow_up"):
            df = getattr(facts, f"{kind}_facts")(engine, scope, f)
            assert set(df["region_id"]) <= {4, 7}, (kind, f)
        answers = facts.answer_facts(engine, scope, f)
        with engine.connect() as conn:
            allowed = set(conn.execute(select(Response.id).where(Response.region_id.in_((4, 7)))).scalars())
        assert set(answers["response_id"].dropna()) <= allowed
    wide = facts.ticket_facts(engine, scope, WIDE)
    assert len(wide) == 10 and set(wide["region_id"]) == {7}
    assert facts.ticket_facts(engine, scope, Filters(WIDE.start, WIDE.end, region_id=6)).empty


def test_an_import_is_seen_by_the_next_read(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    scope = Scope("/1/")
    before = facts.ticket_facts(engine, scope, OCT)
    csv = tmp_path / "t.csv"
    csv.write_text(ticket_csv(ticket_row("NEW-1", created="2026-10-05 09:00:00"),
                              ticket_row("T7-0", created="2026-10-01 10:00:00", channel="app")), encoding="utf-8")
    res = import_file(engine, "tickets", csv)
    assert res.error is None and res.imported == 1 and res.updated == 1
    after = facts.ticket_facts(engine, scope, OCT)
    assert len(after) == len(before) + 1
    assert "NEW-1" in set(after["external_no"])
    assert after.loc[after["external_no"] == "T7-0", "channel"].tolist() == ["app"]
    pd.testing.assert_frame_equal(_sorted(after, "ticket"), _sorted(facts.sql_ticket_facts(engine, scope, OCT),
                                                                    "ticket"))
    # Moving a work order to another month refreshes both months.
    csv.write_text(ticket_csv(ticket_row("NEW-1", created="2026-11-03 09:00:00", resolved="2026-11-03 11:00:00")), encoding="utf-8")
    assert import_file(engine, "tickets", csv).updated == 1
    assert "NEW-1" not in set(facts.ticket_facts(engine, scope, OCT)["external_no"])
    nov = Filters(dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC))
    assert set(facts.ticket_facts(engine, scope, nov)["external_no"]) == {"NEW-1"}


def test_a_ticket_import_refreshes_the_responses_that_carry_its_attributes(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    world = build_survey_world(engine)
    token, _ = new_invitation(engine, ticket_id=world.ticket_id)
    assert submit(engine, token, UNHAPPY, now=NOW).status == "ok"
    scope = Scope("/1/")
    r = facts.response_facts(engine, scope, OCT)
    assert r.loc[r["ticket_id"] == world.ticket_id, "channel"].tolist() == ["hotline"]
    csv = tmp_path / "t.csv"
    csv.write_text(ticket_csv(ticket_row("T7-0", created="2026-10-01 02:00:00", channel="wechat")), encoding="utf-8")
    assert import_file(engine, "tickets", csv).updated == 1
    r = facts.response_facts(engine, scope, OCT)
    assert r.loc[r["ticket_id"] == world.ticket_id, "channel"].tolist() == ["wechat"]


def test_a_survey_and_follow_up_changes_are_seen_by_the_next_read(db_url: str) -> None:
    engine = get_engine(db_url)
    world = build_survey_world(engine)
    scope = Scope("/1/")
    n_resp = len(facts.response_facts(engine, scope, OCT))
    n_ans = len(facts.answer_facts(engine, scope, OCT))
    assert facts.follow_up_facts(engine, scope, OCT).empty
    token, _ = new_invitation(engine, ticket_id=world.ticket_id)
    res = submit(engine, token, UNHAPPY, now=NOW)
    assert res.status == "ok" and res.follow_up_id is not None
    assert len(facts.response_facts(engine, scope, OCT)) == n_resp + 1
    assert len(facts.answer_facts(engine, scope, OCT)) > n_ans
    fu = facts.follow_up_facts(engine, scope, OCT)
    assert fu["status"].tolist() == ["open"]
    followups.close(engine, int(res.follow_up_id), "resolved", recovered=True, recovery_score=4,
                    now=NOW + dt.timedelta(hours=2))
    fu = facts.follow_up_facts(engine, scope, OCT)
    assert fu["status"].tolist() == ["closed"] and fu["recovered"].tolist() == [True]
    assert fu["recovery_score"].tolist() == [4]
    _same(engine, scope, OCT)


def test_stale_damaged_and_foreign_partitions_are_rebuilt(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    scope = Scope("/1/")
    first = facts.ticket_facts(engine, scope, OCT)
    path = snapshot.directory(engine) / "ticket" / "2026-10.parquet"
    assert path.is_file() and pq.read_schema(path).metadata[snapshot.VERSION_KEY]
    # A plain write to the month makes the file stale (data.snapshot's hook, no call needed): rebuilt on the next read.
    with engine.begin() as conn:
        conn.execute(update(Ticket).where(Ticket.external_no == "T7-1").values(channel="web"))
    again = facts.ticket_facts(engine, scope, OCT)
    assert again.loc[again["external_no"] == "T7-1", "channel"].tolist() == ["web"]
    assert len(again) == len(first)
    # A damaged file and a file of another database state (other token) are rebuilt too.
    path.write_bytes(b"not parquet")
    assert len(facts.ticket_facts(engine, scope, OCT)) == len(first)
    table = pq.read_table(path).replace_schema_metadata({snapshot.VERSION_KEY: b"1:someoneelse"})
    pq.write_table(table.slice(0, 3), path)
    assert len(facts.ticket_facts(engine, scope, OCT)) == len(first)
    # Bulk loads invalidate everything; no temporary files are left behind.
    with engine.begin() as conn:
        snapshot.invalidate_all(conn)
    assert len(facts.ticket_facts(engine, scope, OCT)) == len(first)
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


def test_snapshot_location_and_switch(sqlite_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GRIDCX_CACHE_DIR", raising=False)
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    db = Path(engine.url.database or "")
    assert snapshot.directory(engine) == db.with_name(f"{db.stem}.facts")
    monkeypatch.setenv("GRIDCX_CACHE_DIR", str(tmp_path / "cache"))
    where = snapshot.directory(engine)
    assert where.parent == tmp_path / "cache"
    facts.ticket_facts(engine, Scope("/1/"), OCT)
    assert (where / "ticket" / "2026-10.parquet").is_file()
    monkeypatch.setenv("GRIDCX_FACT_SNAPSHOT", "0")
    os.remove(where / "ticket" / "2026-10.parquet")
    assert len(facts.ticket_facts(engine, Scope("/1/"), OCT)) == 40
    assert not (where / "ticket" / "2026-10.parquet").exists()


def test_cache_folder_name_does_not_carry_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRIDCX_CACHE_DIR", raising=False)
    from types import SimpleNamespace

    from sqlalchemy.engine import make_url

    a = SimpleNamespace(url=make_url("postgresql+psycopg://u:secret@h/db"))
    b = SimpleNamespace(url=make_url("postgresql+psycopg://u:other@h/db"))
    assert snapshot.directory(a) == snapshot.directory(b)  # type: ignore[arg-type]
    assert "secret" not in str(snapshot.directory(a))  # type: ignore[arg-type]
    assert snapshot.directory(a).parent == snapshot.DATA_DIR / "cache"  # type: ignore[arg-type]


def test_two_postgresql_schemas_never_share_a_snapshot_folder(pg_url: str) -> None:
    from tests.conftest import drop_pg_schema, new_pg_schema

    other = new_pg_schema("other")
    try:
        assert snapshot.directory(get_engine(pg_url)) != snapshot.directory(get_engine(other))
    finally:
        drop_pg_schema(other)


def test_months_between_covers_partial_months() -> None:
    s = dt.datetime(2026, 6, 30, 16, tzinfo=UTC)
    assert snapshot.months_between(s, dt.datetime(2026, 9, 1, tzinfo=UTC)) == ["2026-06", "2026-07", "2026-08"]
    assert snapshot.months_between(s, s) == []
    assert snapshot.months_between(dt.datetime(2025, 12, 31, tzinfo=UTC),
                                   dt.datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)) == ["2025-12", "2026-01"]
