"""PostgreSQL bulk mode of the import (a large load into a small table): secondary indexes, unique constraints and
foreign keys are dropped and rebuilt inside the import's one transaction. The threshold is lowered so that small
files take the bulk path; the results must be exactly those of the ordinary path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from data.engine import dispose_all, get_engine
from data.io import import_file, importer
from tests.data.import_helpers import ROOT, snapshot, ticket_csv, ticket_row
from tests.factories import build_tiny_world


def _ddl(engine) -> list[tuple[str, ...]]:  # type: ignore[no-untyped-def]
    """Every index and constraint definition of the import tables."""
    with engine.connect() as conn:
        idx = conn.execute(text(
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename IN ('ticket', 'contact', 'response', 'answer') ORDER BY 1, 2")).all()
        cons = conn.execute(text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = current_schema()::regnamespace ORDER BY 1, 2")).all()
    return [tuple(r) for r in idx] + [tuple(r) for r in cons]


def _write(tmp: Path, name: str, body: str) -> Path:
    p = tmp / name
    p.write_text(body, encoding="utf-8")
    return p


def test_bulk_mode_gives_the_same_rows_and_schema(pg_url: str, sqlite_url: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRIDCX_IMPORT_TRACE", "1")
    rows = [ticket_row(f"B{i}", resolved="" if i % 3 else "2026-10-05 11:00:00", customer_no="0000000007"
                       if i % 2 else "") for i in range(300)]
    path = _write(tmp_path, "t.csv", ticket_csv(*rows, ticket_row("B0"), ticket_row("BAD", region="NOPE")))
    results = {}
    for url in (sqlite_url, pg_url):
        engine = get_engine(url)
        build_tiny_world(engine)
        before = _ddl(engine) if "postgresql" in url else None
        monkeypatch.setattr(importer, "BULK_MIN_ROWS", 10)
        res = import_file(engine, "tickets", path)
        assert (res.imported, res.rejected, res.exit_code) == (300, 2, 1), res.rejects
        if before is not None:
            assert "bulk_rebuilt" in capsys.readouterr().err  # the bulk path was taken
            assert _ddl(engine) == before  # every index and constraint is back, under its own name
        with engine.connect() as conn:
            results[url] = conn.execute(text(
                "SELECT external_no, status, region_id, customer_id, reopen_count FROM ticket "
                "ORDER BY external_no")).all()
        again = import_file(engine, "tickets", path)  # a re-import (unique index used again) changes nothing
        assert (again.imported, again.updated, again.unchanged) == (0, 0, 300)
    assert results[sqlite_url] == results[pg_url]


def test_bulk_mode_rebuilt_constraints_still_refuse_bad_rows(pg_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    engine = get_engine(pg_url)
    build_tiny_world(engine)
    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 10)
    res = import_file(engine, "tickets", _write(tmp_path, "t.csv", ticket_csv(
        *[ticket_row(f"U{i}") for i in range(50)])))
    assert res.imported == 50
    with engine.connect() as conn, pytest.raises(Exception):  # noqa: B017,PT011 - IntegrityError of the driver
        conn.execute(text("INSERT INTO ticket (external_no, created_at, status, region_id, channel, service_type, "
                          "reopen_count, progress_updates) SELECT external_no, created_at, status, region_id, channel, "
                          "service_type, 0, 0 FROM ticket WHERE external_no = 'U1'"))


def test_bulk_mode_falls_back_when_a_reader_holds_the_table(pg_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GRIDCX_IMPORT_TRACE", "1")
    engine = get_engine(pg_url)
    build_tiny_world(engine)
    monkeypatch.setattr(importer, "BULK_MIN_ROWS", 10)
    monkeypatch.setattr(importer, "BULK_LOCK_TIMEOUT", "200ms")
    before = _ddl(engine)
    reader = engine.connect()
    try:
        reader.execute(text("SELECT count(*) FROM region")).scalar_one()  # an open read transaction on region
        res = import_file(engine, "tickets", _write(tmp_path, "t.csv", ticket_csv(
            *[ticket_row(f"R{i}") for i in range(50)])))
    finally:
        reader.rollback()
        reader.close()
    assert (res.imported, res.error) == (50, None)
    assert "bulk_refused" in capsys.readouterr().err
    assert _ddl(engine) == before


def test_kill_9_in_bulk_mode_leaves_database_as_before(pg_url: str, tmp_path: Path) -> None:
    engine = get_engine(pg_url)
    build_tiny_world(engine)
    path = _write(tmp_path, "t.csv", ticket_csv(*[ticket_row(f"K{i}", resolved="") for i in range(500)]))
    before, ddl = snapshot(engine, skip=()), _ddl(engine)
    env = {**os.environ, "DATABASE_URL": pg_url, "GRIDCX_IMPORT_PAUSE_UPSERTED": "60",
           "GRIDCX_IMPORT_BULK_MIN_ROWS": "10", "GRIDCX_IMPORT_TRACE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "data", "import", "tickets", str(path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() == "upserted"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert "bulk_rebuilt" in proc.stderr.read()  # it did take the bulk path
    dispose_all()
    engine = get_engine(pg_url)
    assert snapshot(engine, skip=()) == before
    assert _ddl(engine) == ddl
    assert import_file(engine, "tickets", path).imported == 500
