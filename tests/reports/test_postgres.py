"""The staff repository, the scorecards and the assessment exports on PostgreSQL as on SQLite.

* exact boundary rows (arrival exactly at the limit, open exactly the long-ticket time) counted the same on both
  databases, from the fact snapshot and from SQL;
* the size-S demo world (seed 7, demo reviews seed 7) loaded into a private PostgreSQL schema gives the same scorecard
  inputs and the same scorecards as the SQLite copy;
* ``python -m reports assessment`` writes the workbook, the PDF and the CSV from PostgreSQL (the CSV byte for byte
  the SQLite one) and audits each export there.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from pypdf import PdfReader
from sqlalchemy import insert, select, text

from data.engine import get_engine
from data.models import UTC, AuditEvent, QualityReview, Region, Response, Staff, Team, Ticket
from data.repositories import Scope, staff_reviews, staff_roster, staff_survey_cells, staff_ticket_cells
from metrics.periods import named
from reports.assessment import scorecards
from reports.scheme import load_scheme
from tests.conftest import drop_pg_schema, new_pg_schema
from tests.factories import build_tiny_world

ROOT = Path(__file__).resolve().parents[2]
LIMITS = {"urban": 45.0, "rural": 90.0, "remote": 120.0}
LONG = 240.0


# --- exact rows on both databases ---------------------------------------------------------------------------------


def _boundary_world(url: str) -> tuple[dt.datetime, dt.datetime]:
    """Two staff in the tiny world; repairs whose arrival is exactly at, and a second past, the area's limit; work
    open exactly the long-ticket time and a second longer; surveys and reviews on them. Returns the period."""
    engine = get_engine(url)
    build_tiny_world(engine)
    start = dt.datetime(2026, 11, 1, tzinfo=UTC)
    end = dt.datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as conn:
        team = conn.execute(insert(Team).values(code="T1", name="抢修一班", role="crew", region_id=4)
                            ).inserted_primary_key[0]
        a = conn.execute(insert(Staff).values(code="S1", name="张一", role="crew", team_id=team, region_id=7)
                         ).inserted_primary_key[0]
        b = conn.execute(insert(Staff).values(code="S2", name="李二", role="crew", team_id=None, region_id=9)
                         ).inserted_primary_key[0]
        n = 0

        def ticket(staff: int, region: int, created: dt.datetime, **kw: object) -> int:
            nonlocal n
            n += 1
            values = {"external_no": f"B{n}", "region_id": region, "channel": "hotline", "service_type": "repair",
                      "staff_id": staff, "created_at": created, "status": "closed", "updated_at": created, **kw}
            return int(conn.execute(insert(Ticket).values(**values)).inserted_primary_key[0])

        t0 = start + dt.timedelta(days=2, hours=3)
        minute = dt.timedelta(minutes=1)
        second = dt.timedelta(seconds=1)
        # urban station 7: 45 min exactly (within), 45 min + 1 s (late); remote station 9: 120 min exactly, +1 s
        for staff, region, limit in ((a, 7, 45), (b, 9, 120)):
            for late in (False, True):
                arrived = t0 + limit * minute + (second if late else dt.timedelta(0))
                tid = ticket(staff, region, t0, arrived_at=arrived, resolved_at=arrived + 30 * minute)
                conn.execute(insert(Response).values(
                    ticket_id=tid, region_id=8, channel="sms", survey_key="repair", survey_version=1,
                    submitted_at=t0 + dt.timedelta(days=1), csat=4 if late else 5, fcr=not late,
                    language="zh-CN"))
        # excused: an exception reason
        ticket(a, 7, t0, arrived_at=t0 + 200 * minute, resolved_at=t0 + 210 * minute, exception_reason="weather")
        # long-open: resolved exactly 240 min after creation (not long), 240 min + 1 s (long, one progress update)
        ticket(a, 8, t0, service_type="connection", resolved_at=t0 + LONG * minute)
        ticket(a, 8, t0, service_type="connection", resolved_at=t0 + LONG * minute + second, progress_updates=1)
        # still open at the period end: open exactly 240 min at ``end`` (not long), one created a second earlier
        ticket(b, 9, end - LONG * minute, service_type="connection", status="open")
        ticket(b, 9, end - LONG * minute - second, service_type="connection", status="open", reopen_count=1)
        # a substantiated complaint; one outside the period (never counted)
        ticket(b, 9, t0, service_type="complaint", substantiated=True, resolved_at=t0 + minute)
        ticket(b, 9, start - second, service_type="complaint", substantiated=True)
        for i, (staff, region, score) in enumerate(((a, 7, 0.9), (a, 7, 0.7), (b, 9, 0.5))):
            conn.execute(insert(QualityReview).values(
                staff_id=staff, ticket_id=None, contact_id=None, region_id=region, reviewer=f"r{i}",
                reviewed_at=t0 + dt.timedelta(hours=i), rubric_key="call", rubric_version=1, scores={"a": 1},
                score=score, violation=i == 2, source="form"))
    return start, end


@pytest.fixture(params=["snapshot", "sql"])
def source(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Read the counts from the fact snapshot, or straight from SQL (snapshot off)."""
    monkeypatch.setenv("GRIDCX_FACT_SNAPSHOT", "1" if request.param == "snapshot" else "0")
    return str(request.param)


def test_boundary_rows_counted_exactly_on_both_databases(db_url: str, source: str) -> None:
    start, end = _boundary_world(db_url)
    engine = get_engine(db_url)
    cells = staff_ticket_cells(engine, Scope("/1/"), start, end, arrival_limits=LIMITS, long_minutes=LONG)
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Staff.code, Staff.id)).all())
    got = cells.assign(code=cells["staff_id"].map({v: k for k, v in ids.items()})).drop(columns="staff_id")
    got = got.set_index(["code", "service_type", "area_class", "channel"]).sort_index()
    want = pd.DataFrame([
        # code, service type, area, channel, tickets, resolved, not_reopened, arrival_n, arrival_within,
        # arrival_excused, long_n, long_updated, complaints, substantiated
        ("S1", "connection", "rural", "hotline", 2, 2, 2, 0, 0, 0, 1, 1, 0, 0),
        ("S1", "repair", "urban", "hotline", 3, 3, 3, 2, 1, 1, 0, 0, 0, 0),
        ("S2", "complaint", "remote", "hotline", 1, 1, 1, 0, 0, 0, 0, 0, 1, 1),
        ("S2", "connection", "remote", "hotline", 2, 0, 0, 0, 0, 0, 1, 0, 0, 0),
        ("S2", "repair", "remote", "hotline", 2, 2, 2, 2, 1, 0, 0, 0, 0, 0),
    ], columns=["code", "service_type", "area_class", "channel", "tickets", "resolved", "not_reopened",
                "arrival_n", "arrival_within", "arrival_excused", "long_n", "long_updated", "complaints",
                "substantiated"]).set_index(["code", "service_type", "area_class", "channel"])
    pd.testing.assert_frame_equal(got[want.columns], want, check_dtype=False)
    assert list(cells.columns[:4]) == ["staff_id", "service_type", "area_class", "channel"]
    assert (cells.dtypes[4:] == "int64").all()

    surveys = staff_survey_cells(engine, Scope("/1/"), start, end)
    assert surveys[["csat_n", "csat_top2", "fcr_n", "fcr_yes"]].sum().tolist() == [4, 4, 4, 2]
    assert surveys["csat_sum"].sum() == 18.0 and surveys["csat_sumsq"].sum() == 82.0
    assert set(surveys["area_class"]) == {"urban", "remote"}  # the work order's region, not the response's
    # the narrower scope: only the staff whose own region lies in it
    only_a = staff_ticket_cells(engine, Scope("/1/2/"), start, end, arrival_limits=LIMITS, long_minutes=LONG)
    assert set(only_a["staff_id"]) == {ids["S1"]}
    assert set(staff_survey_cells(engine, Scope("/1/3/"), start, end)["staff_id"]) == {ids["S2"]}
    rv = staff_reviews(engine, Scope("/1/"), start, end, details=False)
    assert sorted(rv["score"].tolist()) == [0.5, 0.7, 0.9] and rv["violation"].sum() == 1
    assert str(rv["reviewed_at"].dt.tz) == "UTC"
    roster = staff_roster(engine, Scope("/1/"))
    assert roster["code"].tolist() == ["S1", "S2"] and roster["active"].dtype == bool


# --- the demo world on both databases -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_reviews_pg_url() -> Iterator[str]:
    """The size-S demo world (seed 7) with the demo quality reviews (seed 7) in a private PostgreSQL schema: the same
    world as the SQLite ``demo_reviews_url``."""
    from data.schema import upgrade
    from demo.run import run_demo
    from reports.reviews import demo_reviews

    url = new_pg_schema("hrdemo")
    engine = get_engine(url)
    upgrade(engine)
    run_demo(engine, "S", 7)
    demo_reviews(engine, seed=7)
    yield url
    drop_pg_schema(url)


CASES = [("2026-Q3", "/1/", None), ("2026-Q2", "/1/", None), ("2026-10", "/1/", None), ("2026-Q3", "sub", None),
         ("2026-Q3", "/1/", "team")]


def _case(url: str, period: str, scope: str, team: str | None) -> tuple[Scope, dict[str, int | None]]:
    with get_engine(url).connect() as conn:
        if scope == "sub":
            scope = conn.execute(text("SELECT path FROM region WHERE code = '371302'")).scalar_one()
        team_id = conn.execute(text("SELECT id FROM team ORDER BY id LIMIT 1")).scalar_one() if team else None
    return Scope(scope), {"team_id": team_id}


@pytest.mark.parametrize(("period", "scope", "team"), CASES)
def test_scorecards_identical_on_sqlite_and_postgres(demo_reviews_url: str, demo_reviews_pg_url: str,
                                                     period: str, scope: str, team: str | None) -> None:
    start, end = named(period).utc_bounds()
    out = []
    for url in (demo_reviews_url, demo_reviews_pg_url):
        sc, kw = _case(url, period, scope, team)
        cards, inp = scorecards(get_engine(url), sc, start, end, **kw)
        out.append((cards, inp))
    (a, ai), (b, bi) = out
    assert len(a.totals) > 0 and (period != "2026-Q3" or a.totals["sufficient"].any())
    pd.testing.assert_frame_equal(ai.roster, bi.roster)
    pd.testing.assert_frame_equal(ai.observations.reset_index(drop=True), bi.observations.reset_index(drop=True))
    pd.testing.assert_frame_equal(ai.criticals, bi.criticals)
    assert ai.counts == bi.counts
    pd.testing.assert_frame_equal(a.kpis, b.kpis)
    pd.testing.assert_frame_equal(a.totals, b.totals)
    pd.testing.assert_frame_equal(a.priors, b.priors)


def test_repository_cells_identical_from_snapshot_and_sql(demo_reviews_pg_url: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    engine = get_engine(demo_reviews_pg_url)
    m = load_scheme().method
    start, end = named("2026-Q3").utc_bounds()
    frames = []
    for flag in ("1", "0"):
        monkeypatch.setenv("GRIDCX_FACT_SNAPSHOT", flag)
        frames.append((staff_ticket_cells(engine, Scope("/1/"), start, end, arrival_limits=m.arrival_limit_minutes,
                                          long_minutes=m.long_ticket_minutes),
                       staff_survey_cells(engine, Scope("/1/"), start, end)))
    (t1, s1), (t2, s2) = frames
    assert len(t1) > 100 and len(s1) > 100
    pd.testing.assert_frame_equal(t1, t2)
    pd.testing.assert_frame_equal(s1, s2)


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": url, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
           "GRIDCX_CACHE_DIR": os.environ["GRIDCX_CACHE_DIR"]}  # the test run's snapshot folder, never data/cache
    return subprocess.run([sys.executable, "-m", "reports", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600, check=False)


def test_cli_exports_from_postgres(demo_reviews_url: str, demo_reviews_pg_url: str, tmp_path: Path) -> None:
    outs = {}
    for fmt in ("xlsx", "pdf", "csv"):
        out = tmp_path / f"pg.{fmt}"
        done = _cli("assessment", "--period", "2026-Q3", "--scope", "3713", "--format", fmt, "--out", str(out),
                    "--user", "hr-pg", url=demo_reviews_pg_url)
        assert done.returncode == 0, done.stderr
        outs[fmt] = out
    wb = openpyxl.load_workbook(outs["xlsx"])
    assert wb.sheetnames[0] == "汇总" and "方法说明" in wb.sheetnames
    rows = list(wb["汇总"].iter_rows(values_only=True))
    assert len(rows) > 10
    names = {r[1] for r in rows[1:]}
    reader = PdfReader(io.BytesIO(outs["pdf"].read_bytes()))
    assert len(reader.pages) >= len(rows)  # a summary, then one page per person
    # pypdf reads fpdf2's ToUnicode map with a NUL before each character: drop them
    text_pdf = "".join(page.extract_text().replace("\x00", "") for page in reader.pages[-3:])
    assert "严格保密" in text_pdf and any(name and name in text_pdf for name in names)
    # the CSV from PostgreSQL is the CSV from SQLite, byte for byte
    ref = tmp_path / "sqlite.csv"
    done = _cli("assessment", "--period", "2026-Q3", "--scope", "3713", "--format", "csv", "--out", str(ref),
                url=demo_reviews_url)
    assert done.returncode == 0, done.stderr
    assert outs["csv"].read_bytes() == ref.read_bytes()
    assert outs["csv"].read_bytes().startswith(b"\xef\xbb\xbf")
    with get_engine(demo_reviews_pg_url).connect() as conn:
        audited = conn.execute(select(AuditEvent.detail).where(AuditEvent.username == "hr-pg")).scalars().all()
    formats = sorted(d["format"] for d in audited if isinstance(d, dict))
    assert formats == ["csv", "pdf", "xlsx"]


def test_region_and_scope_rows_exist(demo_reviews_pg_url: str) -> None:
    """The PostgreSQL world is the SQLite one (ids included), so the cases above compare like with like."""
    with get_engine(demo_reviews_pg_url).connect() as conn:
        assert conn.execute(select(Region.id).where(Region.code == "3713")).scalar_one() > 0
        assert conn.execute(text("SELECT count(*) FROM quality_review")).scalar_one() > 100
