"""Freshness without calls (data.snapshot's hook): a brand-new writer that knows nothing of the snapshot — Core,
ORM, ``text()`` or driver SQL, single rows, executemany or INSERT .. SELECT from a staging table — sees its months
rebuilt on the next read; a rolled-back write changes no token; what the hook cannot place is invalidated whole."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from data import snapshot
from data.engine import get_engine
from data.models import UTC, Customer, Ticket
from data.repositories import Filters, Scope, facts
from tests.factories import build_tiny_world

SCOPE = Scope("/1/")
OCT = Filters(dt.datetime(2026, 10, 1, tzinfo=UTC), dt.datetime(2026, 11, 1, tzinfo=UTC))
NOV = Filters(dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC))


def _tickets(engine, f: Filters = OCT) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """The snapshot's read, checked against SQL (the snapshot must never serve an old month)."""
    got = facts.ticket_facts(engine, SCOPE, f).sort_values("id").reset_index(drop=True)
    want = facts.sql_ticket_facts(engine, SCOPE, f).sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    return got


def _tokens(engine) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {(k, m): v for k, m, v in conn.execute(select(snapshot.fact_version))}


def _new_ticket(no: str, created: dt.datetime) -> dict[str, object]:
    return dict(external_no=no, region_id=7, channel="app", service_type="repair", created_at=created,
                status="open", updated_at=created)


def test_a_new_core_writer_is_seen_without_any_call(db_url: str) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    before = set(_tickets(engine)["external_no"])
    with engine.begin() as conn:
        conn.execute(insert(Ticket).values(**_new_ticket("CORE-1", dt.datetime(2026, 10, 20, 8, tzinfo=UTC))))
        conn.execute(insert(Ticket), [_new_ticket(f"CORE-M{i}", dt.datetime(2026, 10, 21, i, tzinfo=UTC))
                                      for i in range(3)])
        conn.execute(update(Ticket).where(Ticket.external_no == "T7-1").values(channel="web"))
        conn.execute(delete(Ticket).where(Ticket.external_no == "T8-3"))
    after = _tickets(engine)
    assert set(after["external_no"]) == before - {"T8-3"} | {"CORE-1", "CORE-M0", "CORE-M1", "CORE-M2"}
    assert after.loc[after["external_no"] == "T7-1", "channel"].tolist() == ["web"]
    # moving a work order to November refreshes both months
    with engine.begin() as conn:
        conn.execute(update(Ticket).where(Ticket.external_no == "T9-0")
                     .values(created_at=dt.datetime(2026, 11, 2, tzinfo=UTC)))
    assert "T9-0" not in set(_tickets(engine)["external_no"])
    assert set(_tickets(engine, NOV)["external_no"]) == {"T9-0"}


def test_a_new_orm_writer_is_seen_without_any_call(db_url: str) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    _tickets(engine)
    _tickets(engine, NOV)
    with Session(engine) as session:
        session.add(Ticket(**_new_ticket("ORM-1", dt.datetime(2026, 10, 25, tzinfo=UTC))))
        moved = session.scalars(select(Ticket).where(Ticket.external_no == "T13-4")).one()
        moved.created_at = dt.datetime(2026, 11, 5, 3, tzinfo=UTC)
        session.delete(session.scalars(select(Ticket).where(Ticket.external_no == "T13-5")).one())
        session.commit()
    oct_ = set(_tickets(engine)["external_no"])
    assert "ORM-1" in oct_ and "T13-4" not in oct_ and "T13-5" not in oct_
    assert set(_tickets(engine, NOV)["external_no"]) == {"T13-4"}
    # a customer's new segment reaches the rows that carry it
    with Session(engine) as session:
        cust = session.scalars(select(Customer).where(Customer.region_id == 9)).one()
        cust.segment = "commercial"
        session.commit()
    t = _tickets(engine)
    assert set(t.loc[t["region_id"] == 9, "segment"]) == {"commercial"}


def test_text_and_driver_sql_writers_and_a_staging_table(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    _tickets(engine)
    _tickets(engine, NOV)
    with engine.begin() as conn:
        conn.execute(text("UPDATE ticket SET channel = :c WHERE external_no = :e"), {"c": "hall", "e": "T8-1"})
        conn.exec_driver_sql("DELETE FROM ticket WHERE external_no = 'T8-2'")
        conn.exec_driver_sql("CREATE TEMP TABLE stg (external_no TEXT, created_at TEXT)")
        conn.exec_driver_sql("INSERT INTO stg VALUES ('STG-1', '2026-11-09 01:00:00.000000'), "
                             "('T7-2', '2026-11-10 01:00:00.000000')")
        # the importer's shapes: UPDATE .. FROM staging moving a row to another month, INSERT .. SELECT
        conn.exec_driver_sql("UPDATE ticket SET created_at = s.created_at FROM stg s "
                             "WHERE ticket.external_no = s.external_no")
        conn.exec_driver_sql("INSERT INTO ticket (external_no, region_id, channel, service_type, created_at, status, "
                             "updated_at, reopen_count, progress_updates) SELECT s.external_no, 7, 'app', 'repair', "
                             "s.created_at, 'open', s.created_at, 0, 0 FROM stg s WHERE NOT EXISTS "
                             "(SELECT 1 FROM ticket x WHERE x.external_no = s.external_no)")
    t = _tickets(engine)
    assert t.loc[t["external_no"] == "T8-1", "channel"].tolist() == ["hall"]
    assert not {"T8-2", "T7-2"} & set(t["external_no"])
    assert set(_tickets(engine, NOV)["external_no"]) == {"STG-1", "T7-2"}


def test_only_committed_writes_change_tokens_and_only_their_months(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    _tickets(engine)
    _tickets(engine, Filters(dt.datetime(2026, 9, 1, tzinfo=UTC), dt.datetime(2026, 10, 1, tzinfo=UTC)))
    start = _tokens(engine)
    with engine.connect() as conn:
        conn.execute(update(Ticket).where(Ticket.external_no == "T7-1").values(channel="web"))
        conn.rollback()
    assert _tokens(engine) == start
    with engine.begin() as conn:
        conn.execute(update(Ticket).where(Ticket.external_no == "T7-1").values(channel="web"))
    changed = {k for k, v in _tokens(engine).items() if start.get(k) != v}
    assert changed == {("ticket", "2026-10")}  # the responses of the tiny world carry no work order


def test_what_cannot_be_placed_is_invalidated_whole(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    _tickets(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("WITH x AS (SELECT 'T9-1' AS e) UPDATE ticket SET channel = 'wechat' "
                             "WHERE external_no IN (SELECT e FROM x)")
    assert ("ticket", "2026-10") not in _tokens(engine)  # every ticket partition is stale
    t = _tickets(engine)
    assert t.loc[t["external_no"] == "T9-1", "channel"].tolist() == ["wechat"]
