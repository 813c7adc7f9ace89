"""Schema, engine, users and scope on a real SQLite file and on the PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
from sqlalchemy import inspect, select

from data.engine import DatabaseConfigError, get_engine, masked
from data.models import UTC, Base, Ticket
from data.repositories import Filters, Scope, headline, tickets
from data.schema import current_revision, head_revision, upgrade
from data.users import LoginError, authenticate, identity_for
from tests.factories import PASSWORD, build_tiny_world

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_migrations_create_every_model_table(db_url: str) -> None:
    engine = get_engine(db_url)
    assert current_revision(engine) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    # Upgrading again is a no-op.
    assert upgrade(engine) == head_revision()


def test_model_round_trip_keeps_utc(db_url: str) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    shanghai = dt.timezone(dt.timedelta(hours=8))
    created = dt.datetime(2026, 3, 1, 9, 30, tzinfo=shanghai)
    with engine.begin() as conn:
        conn.execute(Ticket.__table__.insert().values(
            external_no="RT-1", region_id=7, channel="app", service_type="billing", created_at=created,
            status="open", reopen_count=0, progress_updates=0, updated_at=created))
    with engine.connect() as conn:
        back = conn.execute(select(Ticket.created_at, Ticket.channel).where(Ticket.external_no == "RT-1")).one()
    assert back.created_at == created
    assert back.created_at.tzinfo is not None and back.created_at.utcoffset() == dt.timedelta(0)
    assert back.created_at.hour == 1  # 09:30 in Shanghai is 01:30 UTC


@pytest.mark.parametrize(
    "url, expected",
    [
        ("not a url", "malformed"),
        ("mysql://u:secret@localhost/db", "unsupported"),
        ("postgresql+psycopg://root:s3cret@127.0.0.1:1/nowhere", "cannot connect"),
    ],
)
def test_bad_database_url_is_one_line_exit_2(url: str, expected: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "data", "init"], cwd=ROOT, capture_output=True, text=True,
                          env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr
    assert "secret" not in proc.stderr and "s3cret" not in proc.stderr


def test_masked_hides_password() -> None:
    assert "pw" not in masked("postgresql://u:pw@h/db")
    assert "***" in masked("postgresql://u:pw@h/db")


def test_engine_check_raises_config_error() -> None:
    with pytest.raises(DatabaseConfigError, match="unsupported"):
        get_engine("nonsense://x", check=True)


def test_login_failures_are_neutral_and_lock(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    ident = authenticate(engine, "mgr_a1", PASSWORD)
    assert ident.role == "manager" and ident.scope_path == "/1/2/4/"
    with pytest.raises(LoginError) as wrong_pw:
        authenticate(engine, "mgr_a1", "nope")
    with pytest.raises(LoginError) as unknown:
        authenticate(engine, "nobody", "nope")
    assert str(wrong_pw.value) == str(unknown.value)
    for _ in range(5):
        with pytest.raises(LoginError):
            authenticate(engine, "hr", "wrong")
    # Locked now: even the right password fails, with the same message.
    with pytest.raises(LoginError) as locked:
        authenticate(engine, "hr", PASSWORD)
    assert locked.value.reason == "locked" and str(locked.value) == str(unknown.value)
    later = dt.datetime.now(UTC) + dt.timedelta(minutes=16)
    assert authenticate(engine, "hr", PASSWORD, now=later).role == "hr"
    assert identity_for(engine, ident.user_id) == ident


def _all_time() -> Filters:
    return Filters(start=dt.datetime(2000, 1, 1, tzinfo=UTC), end=dt.datetime(2100, 1, 1, tzinfo=UTC))


def test_county_manager_never_sees_another_county(db_url: str) -> None:
    engine = get_engine(db_url)
    w = build_tiny_world(engine)
    scope = Scope("/1/2/4/")  # county A1
    own = tickets(engine, scope, _all_time())
    assert set(own["region_id"]) == {w.station_a1}
    # Whatever filter is passed, nothing outside the scope comes back.
    for region in (w.province, w.city_a, w.city_b, w.county_a2, w.county_b1, w.station_b1, 12, 13, 999):
        rows = tickets(engine, scope, Filters(start=_all_time().start, end=_all_time().end, region_id=region))
        assert rows.empty or set(rows["region_id"]) <= {w.station_a1}, region
    # City A's path /1/2/ must not match City C's /1/12/.
    city = tickets(engine, Scope("/1/2/"), _all_time())
    assert set(city["region_id"]) == {7, 8}
    h = headline(engine, scope, _all_time())
    assert h["tickets"] == 10 and h["repairs_within"] == 10 and h["responses"] == 10


def test_headline_figures_are_exact(db_url: str) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    h = headline(engine, Scope("/1/"), _all_time())
    assert h["tickets"] == 40
    assert h["open"] == 4
    # Within 45/90/120 by area class: urban A1 (30) and urban C (40) yes; rural 100 > 90; remote 150 > 120.
    assert h["repairs_within"] == 20 and h["repairs_arrived"] == 40
    assert h["repair_arrival_mean"] == pytest.approx((30 + 100 + 150 + 40) / 4, abs=1e-6)
    assert h["csat_top2"] == 10 and h["csat_n"] == 40


def test_scope_path_must_be_well_formed() -> None:
    with pytest.raises(ValueError):
        Scope("1/2")
    with pytest.raises(ValueError):
        Scope("/1/%")


@pytest.mark.parametrize("command", [["data", "demo"], ["demo"]], ids=["python -m data demo", "python -m demo"])
def test_demo_xl_is_refused_cleanly_until_chunked_generation_exists(sqlite_url: str, command: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", *command, "--size", "XL"], cwd=ROOT, capture_output=True,
                          text=True, env={"DATABASE_URL": sqlite_url, "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode == 2
    assert "XL" in proc.stderr and "Traceback" not in proc.stderr
    with get_engine(sqlite_url).connect() as conn:
        assert conn.execute(select(Ticket.id)).first() is None
