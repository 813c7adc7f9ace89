"""Import semantics: idempotent re-import, newer exports update, kill -9 leaves the database as before, export ->
import round trip, a whole-site move SQLite -> PostgreSQL, the CLI's exit codes and JSON line, odd-but-valid text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from data.engine import get_engine
from data.io import export_all, export_table, import_all, import_file
from tests.data.import_helpers import ROOT, audit_rows, snapshot, ticket_csv, ticket_row
from tests.factories import build_tiny_world


def _write(tmp: Path, name: str, body: str | bytes) -> Path:
    p = tmp / name
    p.write_bytes(body if isinstance(body, bytes) else body.encode("utf-8"))
    return p


def test_reimport_changes_nothing_and_newer_export_updates(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    first = _write(tmp_path, "v1.csv", ticket_csv(ticket_row("N1", resolved="", reopen_count="2"),
                                                  ticket_row("N2", resolved="")))
    res = import_file(engine, "tickets", first, user="alice")
    assert (res.imported, res.updated, res.unchanged, res.rejected, res.exit_code) == (2, 0, 0, 0, 0)
    snap = snapshot(engine)
    again = import_file(engine, "tickets", first, user="alice")
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)
    assert snapshot(engine) == snap
    newer = _write(tmp_path, "v2.csv", "external_no,created_at,resolved_at,region_code,channel,service_type\n"
                   "N1,2026-10-05 09:00:00,2026-10-05 12:00:00,A1S,hotline,repair\n"
                   "N2,2026-10-05 09:00:00,,A1S,hotline,repair\n"
                   "N3,2026-10-06 09:00:00,,A1S,app,billing\n")
    upd = import_file(engine, "tickets", newer, user="bob")
    assert (upd.imported, upd.updated, upd.unchanged) == (1, 1, 1)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT status, resolved_at, reopen_count FROM ticket WHERE external_no='N1'")).one()
    assert row.status == "resolved" and str(row.resolved_at).startswith("2026-10-05 04:00:00")
    assert row.reopen_count == 2  # not in the newer file: left alone
    ev = audit_rows(engine, "import")[-1]
    assert ev["username"] == "bob" and ev["detail"]["updated"] == 1 and len(ev["detail"]["sha256"]) == 64


def test_kill_9_mid_import_leaves_database_as_before(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    path = _write(tmp_path, "t.csv", ticket_csv(*[ticket_row(f"K{i}", resolved="") for i in range(500)]))
    before = snapshot(engine, skip=())
    env = {**os.environ, "DATABASE_URL": db_url, "GRIDCX_IMPORT_PAUSE_UPSERTED": "60"}
    proc = subprocess.Popen([sys.executable, "-m", "data", "import", "tickets", str(path)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "upserted"  # every row written inside the open transaction
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    from data.engine import dispose_all

    dispose_all()
    engine = get_engine(db_url)
    assert snapshot(engine, skip=()) == before  # audit included: exactly as before
    res = import_file(engine, "tickets", path)  # and nothing is left locked
    assert res.imported == 500


def test_export_import_round_trip_and_odd_text(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    odd = ['=HYPERLINK("http://evil.example","click")', "1'); DROP TABLE ticket;--", "工单😀-1", "+86-10", "@SUM(A1)",
           "-5"]
    path = _write(tmp_path, "odd.csv", ticket_csv(*[ticket_row(n, exception_reason="天气⛈") for n in odd]))
    res = import_file(engine, "tickets", path)
    assert res.imported == len(odd), res.rejects
    with engine.connect() as conn:
        stored = {r[0] for r in conn.execute(text("SELECT external_no FROM ticket WHERE exception_reason IS NOT NULL"))}
    assert stored == set(odd)  # stored as text, exactly
    out = tmp_path / "export.csv"
    info = export_table(engine, "tickets", out, "2026-10-01", "2026-10-31", user="alice")
    assert info["rows"] == 40 + len(odd)
    raw = out.read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK(" in raw and "\n=HYPERLINK" not in raw  # neutralised for spreadsheets
    cols = ["external_no", "created_at", "resolved_at", "status", "region_id", "channel", "service_type",
            "customer_id", "exception_reason", "reopen_count"]
    q = f"SELECT {', '.join(cols)} FROM ticket ORDER BY external_no"
    a = pd.read_sql(text(q), engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM response"))
        conn.execute(text("DELETE FROM ticket"))
    back = import_file(engine, "tickets", out)
    assert (back.imported, back.rejected) == (40 + len(odd), 0), back.rejects
    b = pd.read_sql(text(q), engine)
    pd.testing.assert_frame_equal(a, b)
    assert import_file(engine, "tickets", out).unchanged == 40 + len(odd)
    assert audit_rows(engine, "export")[-1]["detail"]["rows"] == info["rows"]


def test_chinese_gbk_xlsx_ivr_sms(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    gbk = ("国网某供电公司工单导出\n导出时间：2026-10-07\n"
           "工单编号,受理时间,派工时间,到达现场时间,处理完成时间,归档时间,业务类型,受理渠道,供电单位,客户编号,处理人员,工单状态\n"
           "G-1,2026/10/05 09:00:00,2026/10/05 09:05:00,2026/10/05 09:40:00,2026/10/05 11:00:00,"
           "2026/10/06 09:00:00,故障报修,95598,甲一营业厅,0000000007,无此人,已归档\n"
           "G-2,2026-10-05 10:00:00,,,,,电费电价咨询,网上国网,A2S,,,处理中\n").encode("gbk")
    res = import_file(engine, "tickets", _write(tmp_path, "95598.csv", gbk))
    assert res.mapping == "sgcc_95598_tickets" and res.encoding == "gb18030" and res.header_row == 3
    assert (res.imported, res.rejected, res.warnings) == (2, 0, 1)  # unknown staff: link left empty, warned
    with engine.connect() as conn:
        g1 = conn.execute(text("SELECT region_id, status, channel, customer_id FROM ticket WHERE external_no='G-1'")).one()
    assert (g1.region_id, g1.status, g1.channel, g1.customer_id) == (7, "closed", "hotline", 1)
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "导出"
    ws.append(["接触记录导出"])
    ws.append(["external_no", "queued_at", "answered_at", "region_code", "channel", "category", "ticket_no"])
    ws.append(["C-1", dt.datetime(2026, 10, 5, 9, 0), dt.datetime(2026, 10, 5, 9, 0, 20), "A1S", "热线", "报修", "G-1"])
    xlsx = tmp_path / "contacts.xlsx"
    wb.save(xlsx)
    c = import_file(engine, "contacts", xlsx, sheet="导出")
    assert (c.imported, c.rejected, c.header_row) == (1, 0, 2), c.rejects
    ivr = _write(tmp_path, "ivr.csv", "呼叫流水号,工单编号,按键,回访时间\nCALL-1,G-1,1,2026-10-06 10:00:00\n"
                 "CALL-2,G-2,5,2026-10-06 10:01:00\n")
    r = import_file(engine, "responses", ivr, "ivr_keypress")
    assert (r.imported, r.rejected) == (2, 0)
    sms = _write(tmp_path, "sms.csv", "短信流水号,工单编号,回复内容,回复时间\nSMS-1,G-1,非常满意,2026/10/06 10:00\n"
                 .encode("gbk"))
    s = import_file(engine, "responses", sms, "sms_reply")
    assert (s.imported, s.rejected) == (1, 0)
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT external_no, csat FROM response WHERE external_no IS NOT NULL")).all())
        region = conn.execute(text("SELECT region_id FROM response WHERE external_no='CALL-2'")).scalar_one()
    assert rows == {"CALL-1": 5, "CALL-2": 1, "SMS-1": 5} and region == 8  # region taken from the work order


def test_site_move_sqlite_to_postgres(sqlite_url: str, pg_url: str, tmp_path: Path) -> None:
    src = get_engine(sqlite_url)
    build_tiny_world(src)
    import_file(src, "tickets", _write(tmp_path, "t.csv", ticket_csv(ticket_row("M-1", exception_reason="雪"))))
    manifest = export_all(src, tmp_path / "site", user="admin")
    assert manifest["tables"]["ticket"]["rows"] == 41
    proc = subprocess.run([sys.executable, "-m", "data", "import", "--all", str(tmp_path / "site")], cwd=ROOT,
                          env={**os.environ, "DATABASE_URL": pg_url}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    dst = get_engine(pg_url)
    export_all(dst, tmp_path / "again")
    for f in sorted((tmp_path / "site").glob("*.jsonl")):
        if f.name != "audit_event.jsonl":
            assert (tmp_path / "again" / f.name).read_bytes() == f.read_bytes(), f.name
    again = import_all  # a second load into a non-empty database is refused
    from data.io import FileError

    try:
        again(dst, tmp_path / "site")
        raise AssertionError("expected target_not_empty")
    except FileError as exc:
        assert exc.code == "target_not_empty"
    # New rows after the move get fresh ids (sequences were reset).
    assert import_file(dst, "tickets", _write(tmp_path, "n.csv", ticket_csv(ticket_row("AFTER-1")))).imported == 1


def test_cli_exit_codes_and_json_line(sqlite_url: str, tmp_path: Path) -> None:
    build_tiny_world(get_engine(sqlite_url))
    env = {**os.environ, "DATABASE_URL": sqlite_url}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "data", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    ok = run("import", "tickets", str(_write(tmp_path, "ok.csv", ticket_csv(ticket_row("CLI-1")))))
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout.strip().splitlines()[-1])
    assert {"imported", "updated", "unchanged", "rejected", "rejects_file", "seconds"} <= set(summary)
    assert summary["imported"] == 1 and summary["rejects_file"] is None
    some = run("import", "tickets", str(_write(tmp_path, "some.csv", ticket_csv(ticket_row("CLI-2"),
                                                                                ticket_row("CLI-3", channel="fax")))),
               "--rejects", str(tmp_path / "r.csv"))
    assert some.returncode == 1
    s = json.loads(some.stdout.strip().splitlines()[-1])
    assert (s["imported"], s["rejected"], s["rejects_file"]) == (1, 1, str(tmp_path / "r.csv"))
    bad = run("import", "tickets", str(_write(tmp_path, "empty.csv", b"")))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert json.loads(bad.stdout.strip().splitlines()[-1])["error"] == "empty"
    exp = run("export", "tickets", "--out", str(tmp_path / "e.xlsx"), "--from", "2026-10-01", "--to", "2026-10-31")
    assert exp.returncode == 0 and json.loads(exp.stdout.strip().splitlines()[-1])["rows"] == 42
    back = run("import", "tickets", str(tmp_path / "e.xlsx"))
    assert back.returncode == 0 and json.loads(back.stdout.strip().splitlines()[-1])["unchanged"] == 42
    nodate = run("export", "tickets", "--out", str(tmp_path / "x.csv"), "--from", "yesterday")
    assert nodate.returncode == 2 and "Traceback" not in nodate.stderr
