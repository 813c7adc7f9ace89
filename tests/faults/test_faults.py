"""Faults: kill -9 during survey intake (real subprocesses), a locked SQLite database, a PostgreSQL connection
terminated mid-session, two writer processes on one PostgreSQL schema, two Streamlit instances on one PostgreSQL
schema taking concurrent survey submissions from browsers (one-time links and a kiosk code), backup/restore."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.exc import OperationalError

from data.engine import dispose_all, get_engine
from data.models import UTC, Invitation, KioskTally, Response
from surveys.intake import retry_locked, submit
from surveys.settings import settings
from tests.conftest import PG_BASE_URL
from tests.surveys.helpers import HAPPY, build_survey_world, new_invitation

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.security


def _tokens(engine, n: int, tmp_path: Path, name: str = "tokens.txt") -> Path:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(UTC)
    tokens = [new_invitation(engine, ticket_id=1 + (i % 9), customer_id=None, now=now)[0] for i in range(n)]
    path = tmp_path / name
    path.write_text("\n".join(tokens), encoding="ascii")
    return path


def _consistent(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The intake invariants: a used invitation has exactly one response and vice versa; every response has its
    answers; no answer or follow-up without its response."""
    with engine.connect() as conn:
        used = conn.execute(select(func.count()).select_from(Invitation).where(Invitation.used_at.is_not(None))
                            ).scalar_one()
        linked = conn.execute(select(func.count()).select_from(Response).where(Response.invitation_id.is_not(None))
                              ).scalar_one()
        mismatched = conn.execute(text(
            "SELECT count(*) FROM invitation i LEFT JOIN response r ON r.invitation_id = i.id "
            "WHERE (i.used_at IS NULL) <> (r.id IS NULL)")).scalar_one()
        no_answers = conn.execute(text(
            "SELECT count(*) FROM response r WHERE r.invitation_id IS NOT NULL AND "
            "NOT EXISTS (SELECT 1 FROM answer a WHERE a.response_id = r.id)"
        )).scalar_one()
        orphans = conn.execute(text(
            "SELECT (SELECT count(*) FROM answer a WHERE NOT EXISTS (SELECT 1 FROM response r WHERE r.id = a.response_id))"
            " + (SELECT count(*) FROM follow_up f WHERE f.response_id IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM response r WHERE r.id = f.response_id))")).scalar_one()
        dupes = conn.execute(text(
            "SELECT count(*) FROM (SELECT invitation_id FROM response WHERE invitation_id IS NOT NULL "
            "GROUP BY invitation_id HAVING count(*) > 1) x")).scalar_one()
    assert used == linked and mismatched == 0 and no_answers == 0 and orphans == 0 and dupes == 0, \
        (used, linked, mismatched, no_answers, orphans, dupes)
    return {"used": int(used)}


def _worker(url: str, tokens: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tests.faults.intake_worker", url, str(tokens), *extra], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


# --- kill -9 during survey intake -------------------------------------------------------------------------------------


def test_kill_9_inside_the_intake_transaction_leaves_nothing_half_written(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    build_survey_world(engine, now=dt.datetime.now(UTC))
    tokens = _tokens(engine, 1, tmp_path)
    proc = _worker(db_url, tokens, env={"GRIDCX_INTAKE_PAUSE_STORED": "60"})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "stored"  # token consumed, response + answers written, not committed
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    dispose_all()
    engine = get_engine(db_url)
    assert _consistent(engine) == {"used": 0}
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Response)).scalar_one() == 10 * 4  # the tiny world's
    token = tokens.read_text().strip()
    assert submit(engine, token, HAPPY).status == "ok"  # the token was not burnt; nothing left locked
    assert _consistent(engine) == {"used": 1}


def test_kill_9_at_a_random_moment_of_a_submission_stream(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    build_survey_world(engine, now=dt.datetime.now(UTC))
    tokens = _tokens(engine, 400, tmp_path)
    proc = _worker(db_url, tokens)
    assert proc.stdout is not None
    for _ in range(25):  # let it run into the stream
        proc.stdout.readline()
    time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    dispose_all()
    engine = get_engine(db_url)
    done = _consistent(engine)["used"]
    assert 25 <= done < 400
    statuses = [submit(engine, t, HAPPY).status for t in tokens.read_text().split()]
    assert statuses.count("used") == done and statuses.count("ok") == 400 - done
    assert _consistent(engine) == {"used": 400}
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"


# --- a locked SQLite database -----------------------------------------------------------------------------------------


def test_locked_sqlite_database_is_waited_for_and_retried(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    build_survey_world(engine, now=dt.datetime.now(UTC))
    token, _ = new_invitation(engine, ticket_id=1, now=dt.datetime.now(UTC))
    path = sqlite_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, timeout=1, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # another process's writer holds the database
    released = threading.Event()

    def release() -> None:
        time.sleep(1.5)
        holder.rollback()
        holder.close()
        released.set()

    threading.Thread(target=release).start()
    t0 = time.monotonic()
    res = submit(engine, token, HAPPY)
    assert res.status == "ok" and released.is_set() and time.monotonic() - t0 >= 1.0
    assert _consistent(engine) == {"used": 1}


def test_retry_on_database_is_locked_errors() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return "stored"

    assert retry_locked(flaky) == ("stored", 3)
    with pytest.raises(OperationalError):
        retry_locked(lambda: (_ for _ in ()).throw(OperationalError("x", {}, Exception("disk I/O error"))))


# --- PostgreSQL: a connection terminated mid-session ---------------------------------------------------------------


def _terminate(pids: list[int]) -> None:
    admin = create_engine(PG_BASE_URL)
    with admin.begin() as conn:
        for pid in pids:
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    admin.dispose()


def _pooled_pids(engine) -> list[int]:  # type: ignore[no-untyped-def]
    recs = list(engine.pool._pool.queue)  # noqa: SLF001 - the connections idle in the pool
    return [r.dbapi_connection.info.backend_pid for r in recs if r.dbapi_connection is not None]


@pytest.mark.postgres
def test_postgres_connection_terminated_mid_session_gives_a_message_and_recovers(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.app.helpers import login
    from tests.factories import build_tiny_world

    engine = get_engine(pg_url)
    build_tiny_world(engine)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    at = login("mgr_a1")
    assert at.metric
    # 1. Idle pooled connections terminated between two runs: the pool notices (pre-ping) and reconnects.
    _terminate(_pooled_pids(engine))
    at.run()
    assert not at.exception and at.metric and not at.error
    # 2. The connection dies under a running statement: a clear message, the session kept.
    armed = {"on": True}

    def kill_own_backend(conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if armed["on"] and "app_user" in statement:
            armed["on"] = False
            _terminate([conn.connection.dbapi_connection.info.backend_pid])

    event.listen(engine, "before_cursor_execute", kill_own_backend)
    try:
        at.run()
    finally:
        event.remove(engine, "before_cursor_execute", kill_own_backend)
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["无法连接数据库，请联系系统管理员。"] or at.error, [e.value for e in at.error]
    assert at.session_state["identity_user_id"]  # still signed in
    # 3. The next run recovers by itself.
    at.run()
    assert not at.exception and at.metric and not at.error


@pytest.mark.postgres
def test_postgres_writer_killed_mid_transaction_releases_its_locks(pg_url: str, tmp_path: Path) -> None:
    engine = get_engine(pg_url)
    build_survey_world(engine, now=dt.datetime.now(UTC))
    tokens = _tokens(engine, 1, tmp_path)
    proc = _worker(pg_url, tokens, env={"GRIDCX_INTAKE_PAUSE_STORED": "60"})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "stored"
    # The client dies holding the row lock; the server sees the socket close and rolls back (no terminate needed).
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    token = tokens.read_text().strip()
    res = submit(engine, token, HAPPY)
    assert res.status == "ok" and _consistent(engine) == {"used": 1}


# --- two app instances and two writer processes on one PostgreSQL schema --------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
def test_two_writer_processes_on_one_postgres_store_every_submission_exactly_once(pg_url: str,
                                                                                   tmp_path: Path) -> None:
    engine = get_engine(pg_url)
    build_survey_world(engine, now=dt.datetime.now(UTC))
    tokens = _tokens(engine, 150, tmp_path)
    # Every token submitted by two writer processes at once, in opposite orders (so they collide).
    a, b = _worker(pg_url, tokens), _worker(pg_url, tokens, "--reverse")
    out_a, _ = a.communicate(timeout=300)
    out_b, _ = b.communicate(timeout=300)
    lines = [ln.split()[0] for ln in (out_a + out_b).splitlines() if ln and ln != "done"]
    assert lines.count("ok") == 150 and lines.count("used") == 150, (lines.count("ok"), lines.count("used"))
    assert _consistent(engine) == {"used": 150}


_THANKS, _USED, _BUSY = "谢谢您！", "您已经评价过了", "请稍等一分钟"
_OUTCOME = re.compile(f"{_THANKS}|{_USED}|{_BUSY}|提交没有成功|链接无法使用")


def _open_and_answer(pages: list[Any], url_of: Callable[[int], str]) -> None:
    """Open every page on its link, then answer the one required question (all pages loaded in parallel)."""
    from tests.e2e.conftest import wait_idle

    for i, page in enumerate(pages):
        page.goto(url_of(i), wait_until="commit")
    for page in pages:
        wait_idle(page, timeout=60_000)
        page.locator(".st-key-q_csat [data-testid='stFeedbackButton']").nth(3).click()
    for page in pages:
        wait_idle(page, timeout=60_000)


def _send_all(pages: list[Any]) -> list[str]:
    """Press every page's submit button back to back (the servers take them concurrently), then read each page's
    outcome: thanks / used / busy (anything else fails with the page's text)."""
    for page in pages:
        page.get_by_role("button", name="提交评价").click(no_wait_after=True)
    outcomes = []
    for page in pages:
        found = page.get_by_text(_OUTCOME).first
        found.wait_for(timeout=60_000)
        text = found.inner_text()
        assert any(k in text for k in (_THANKS, _USED, _BUSY)), page.inner_text("body")
        outcomes.append("thanks" if _THANKS in text else "used" if _USED in text else "busy")
    return outcomes


@pytest.mark.postgres
@pytest.mark.browser
@pytest.mark.slow
def test_two_app_instances_on_one_postgres_take_concurrent_survey_submissions_exactly_once(
        pg_url: str, browser: Any) -> None:
    """Two `streamlit run` servers on one PostgreSQL schema; customers' browsers submit the survey form through
    both at once: every one-time link is stored exactly once (the other instance's page says "already answered"),
    and a hall's kiosk code submitted through both instances stays within its per-minute ceiling."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.e2e.conftest import AppServer

    engine = get_engine(pg_url)
    now = dt.datetime.now(UTC)
    build_survey_world(engine, now=now)
    n = 10
    tokens = [new_invitation(engine, ticket_id=1 + (i % 9), customer_id=None, now=now)[0] for i in range(n)]
    kiosk, kiosk_id = new_invitation(engine, ticket_id=None, survey_key="hall", reusable=True, channel="qr",
                                     now=now - dt.timedelta(hours=1), expires_in=dt.timedelta(hours=3))
    (ROOT / "artifacts").mkdir(exist_ok=True)
    with ThreadPoolExecutor(2) as pool:
        servers = list(pool.map(lambda _: AppServer(pg_url), range(2)))
    contexts = []
    try:
        assert servers[0].port != servers[1].port
        contexts = [browser.new_context(locale="zh-CN", viewport={"width": 480, "height": 900}) for _ in servers]
        # Page 2k opens token k on instance A, page 2k+1 the same token on instance B.
        pages = [contexts[j].new_page() for _ in range(n) for j in (0, 1)]
        _open_and_answer(pages, lambda i: f"{servers[i % 2].url}/survey?t={tokens[i // 2]}")
        outcomes = _send_all(pages)
        per_token = [sorted(outcomes[2 * k:2 * k + 2]) for k in range(n)]
        assert per_token == [["thanks", "used"]] * n, outcomes
        assert _consistent(engine) == {"used": n}
        with engine.connect() as conn:
            stored = conn.execute(text(
                "SELECT count(*), count(DISTINCT invitation_id) FROM response WHERE invitation_id IS NOT NULL")).one()
        assert tuple(stored) == (n, n)  # one response per token, no duplicates

        # The kiosk code: more visitors than its per-minute ceiling, through both instances at once.
        limit = settings().kiosk.per_minute
        kiosk_pages = pages[:limit + 2]
        _open_and_answer(kiosk_pages, lambda i: f"{servers[i % 2].url}/survey?t={kiosk}")
        outcomes = _send_all(kiosk_pages)
        assert sorted(outcomes) == ["busy"] * 2 + ["thanks"] * limit, outcomes
        with engine.connect() as conn:
            tally = conn.execute(select(KioskTally.accepted, KioskTally.refused)
                                 .where(KioskTally.invitation_id == kiosk_id)).one()
            kiosk_responses = conn.execute(select(func.count()).select_from(Response).where(
                Response.survey_key == "hall", Response.invitation_id.is_(None))).scalar_one()
        assert tuple(tally) == (limit, 2) and kiosk_responses == limit
        for s in servers:
            with urllib.request.urlopen(f"{s.url}/_stcore/health", timeout=10) as r:  # noqa: S310
                assert r.read().decode().strip() == "ok"
    finally:
        for c in contexts:
            c.close()
        for s in servers:
            s.stop()


# --- backup and restore ---------------------------------------------------------------------------------------------


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "data", *args], cwd=ROOT, env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True, timeout=120)


def test_backup_while_writing_and_restore(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    build_survey_world(engine, now=dt.datetime.now(UTC))
    tokens = _tokens(engine, 200, tmp_path)
    writer = _worker(sqlite_url, tokens)
    assert writer.stdout is not None
    for _ in range(20):
        writer.stdout.readline()
    res = _cli(sqlite_url, "backup", "--out", str(tmp_path / "b.db"))
    writer.communicate(timeout=300)
    assert res.returncode == 0, res.stderr
    # The backup is a consistent snapshot: its own invariants hold, whatever the writer was doing.
    snap = get_engine(f"sqlite:///{tmp_path / 'b.db'}")
    n_snap = _consistent(snap)["used"]
    assert 20 <= n_snap <= 200
    assert _consistent(engine) == {"used": 200}
    assert _cli(sqlite_url, "backup", "--out", str(tmp_path / "b.db")).returncode == 2  # never overwrites
    dispose_all()
    res = _cli(sqlite_url, "restore", str(tmp_path / "b.db"))
    assert res.returncode == 0, res.stderr
    dispose_all()
    assert _consistent(get_engine(sqlite_url)) == {"used": n_snap}
    assert list(tmp_path.glob("gridcx.pre-restore-*.db"))  # the replaced database was kept


def test_restore_refuses_what_it_must(sqlite_url: str, tmp_path: Path) -> None:
    from alembic import command

    from data.schema import alembic_config

    old_url = f"sqlite:///{tmp_path / 'old.db'}"
    old = get_engine(old_url)
    cfg = alembic_config(old)
    with old.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    (tmp_path / "junk.db").write_bytes(b"not a database at all")
    assert "not an SQLite database" in _cli(sqlite_url, "restore", str(tmp_path / "junk.db")).stderr
    assert _cli(sqlite_url, "backup", "--out", str(tmp_path / "future.db")).returncode == 0
    future = sqlite3.connect(tmp_path / "future.db")
    future.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    future.commit()
    future.close()
    res = _cli(sqlite_url, "restore", str(tmp_path / "future.db"))
    assert res.returncode == 2 and "newer than this GridCX knows" in res.stderr
    dispose_all()
    res = _cli(sqlite_url, "restore", str(old_url.removeprefix("sqlite:///")))
    assert res.returncode == 2 and "newer schema" in res.stderr  # the database was migrated past the backup
    res = _cli(sqlite_url, "restore", str(old_url.removeprefix("sqlite:///")), "--force-older")
    assert res.returncode == 0, res.stderr
    dispose_all()
    from data.schema import current_revision, head_revision

    assert current_revision(get_engine(sqlite_url)) == head_revision()  # upgraded after the restore
    res = _cli("postgresql+psycopg://u@127.0.0.1:1/x", "backup", "--out", str(tmp_path / "pg.db"))
    assert res.returncode == 2 and "pg_dump" in res.stderr
