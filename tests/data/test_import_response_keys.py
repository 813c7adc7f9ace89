"""Survey responses without an external number (web survey, kiosk QR code, the tiny world's own rows) travel with
the reserved key the export derives from the row (``gridcx:response:<id>:<UTC instant>``, data.io.keys):

* re-importing an export into the same database recognises every row (all unchanged, nothing written);
* importing it into a fresh database with the same reference data gives the same rows, whose export is
  byte-identical; a site move (export --all / import --all) keeps the keys;
* a changed row is updated and keeps its key from then on; another database's response with the same id is never
  taken for the exported one; a malformed reserved key is rejected.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, insert, text

from data.engine import get_engine
from data.io import export_all, export_table, import_all, import_file
from data.models import UTC, Response
from data.schema import upgrade
from surveys.intake import submit
from tests.conftest import drop_pg_schema, new_pg_schema
from tests.data.import_helpers import ROOT
from tests.surveys.helpers import HAPPY, NOW, UNHAPPY, build_survey_world, new_invitation

KEY = r"^gridcx:response:\d+:\d{8}T\d{6}\.\d{6}Z$"


@pytest.fixture
def other_db(db_url: str, tmp_path: Path) -> Iterator[Callable[[str], Engine]]:
    """Further empty databases at head on the same kind of server as ``db_url``."""
    made: list[str] = []

    def make(label: str) -> Engine:
        if db_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / (label + '.db')}"
        else:
            url = new_pg_schema(f"{label}{len(made)}")
            made.append(url)
        engine = get_engine(url)
        upgrade(engine)
        return engine

    yield make
    for url in made:
        drop_pg_schema(url)


def _web_world(engine: Engine) -> None:
    """The survey world (40 keyless SMS responses) plus web-survey submissions: two one-time links (one unhappy,
    with a comment that looks like a formula) and two visits to a kiosk QR code (no invitation on the response)."""
    world = build_survey_world(engine)
    for i, answers in enumerate([HAPPY, {**UNHAPPY, "comment": "=HYPERLINK(\"x\") 等了很久"}]):
        token, _ = new_invitation(engine, ticket_id=world.ticket_id, now=NOW)
        res = submit(engine, token, answers, now=NOW + dt.timedelta(minutes=i, microseconds=7), channel="web")
        assert res.status == "ok", res.errors
    kiosk, _ = new_invitation(engine, reusable=True, channel="qr", now=NOW)
    for i in range(2):
        assert submit(engine, kiosk, {"csat": 4 + i}, now=NOW + dt.timedelta(hours=1, seconds=i)).status == "ok"


def _reference_only(engine: Engine) -> None:
    """The same reference data (regions, customers, tickets, staff) and no survey responses."""
    build_survey_world(engine)
    with engine.begin() as conn:
        for t in ("follow_up", "answer", "response"):
            conn.execute(text(f"DELETE FROM {t}"))


def _state(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT id, external_no, csat, nps, comment, submitted_at, "
            "(SELECT count(*) FROM answer a WHERE a.response_id = r.id) FROM response r ORDER BY id"))]


def test_keyless_responses_round_trip(db_url: str, other_db: Callable[[str], Engine], tmp_path: Path) -> None:
    src = get_engine(db_url)
    _web_world(src)
    with src.connect() as conn:
        keyless = conn.execute(text("SELECT count(*) FROM response WHERE external_no IS NULL")).scalar_one()
    assert keyless == 44
    out = tmp_path / "responses.csv"
    info = export_table(src, "responses", out)
    assert info["rows"] == 44
    df = pd.read_csv(out, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert df["external_no"].str.match(KEY).all() and df["external_no"].is_unique
    web = df[df["channel"] == "web"]
    assert len(web) == 2 and web["answers"].str.len().gt(2).all()
    assert web["comment"].str.startswith("'=HYPERLINK").sum() == 1  # still neutralised

    # Re-import into the same database: every row recognised, nothing written, the export unchanged.
    before = _state(src)
    res = import_file(src, "responses", out)
    assert (res.imported, res.updated, res.unchanged, res.rejected, res.exit_code) == (0, 0, 44, 0, 0), res.rejects
    assert _state(src) == before  # the keys are not stored: the rows are exactly as they were
    export_table(src, "responses", tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == out.read_bytes()

    # Into a fresh database with the same reference data: the same rows, the same file, re-import unchanged.
    dst = other_db("fresh")
    _reference_only(dst)
    res = import_file(dst, "responses", out)
    assert (res.imported, res.rejected) == (44, 0), res.rejects
    export_table(dst, "responses", tmp_path / "dst.csv")
    assert (tmp_path / "dst.csv").read_bytes() == out.read_bytes()
    assert [r[2:] for r in _state(dst)] == [r[2:] for r in before]
    res = import_file(dst, "responses", out)
    assert (res.imported, res.updated, res.unchanged, res.rejected) == (0, 0, 44, 0)
    # ... and the target's export (keys now stored there) is recognised by the source.
    res = import_file(src, "responses", tmp_path / "dst.csv")
    assert (res.imported, res.updated, res.unchanged) == (0, 0, 44)


def test_site_move_keeps_the_keys(db_url: str, other_db: Callable[[str], Engine], tmp_path: Path) -> None:
    src = get_engine(db_url)
    _web_world(src)
    out = tmp_path / "responses.csv"
    export_table(src, "responses", out)
    export_all(src, tmp_path / "site")
    moved = other_db("moved")
    import_all(moved, tmp_path / "site")
    export_table(moved, "responses", tmp_path / "moved.csv")
    assert (tmp_path / "moved.csv").read_bytes() == out.read_bytes()
    res = import_file(moved, "responses", out)
    assert (res.imported, res.updated, res.unchanged, res.rejected) == (0, 0, 44, 0)


def _edit(path: Path, out: Path, fn: Callable[[pd.DataFrame], None]) -> Path:
    df = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    fn(df)
    df.to_csv(out, index=False, encoding="utf-8-sig")
    return out


def test_a_changed_keyless_row_is_updated_and_keeps_its_key(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    _web_world(engine)
    out = tmp_path / "responses.csv"
    export_table(engine, "responses", out)
    web = pd.read_csv(out, dtype=str, encoding="utf-8-sig", keep_default_na=False).query("channel == 'web'").index

    def change(df: pd.DataFrame) -> None:
        df.loc[web[0], "csat"] = "2"
        df.loc[web[1], "submitted_at"] = "2026-10-21T09:30:00.000000+08:00"  # not the instant in its key
        df.loc[web[1], "answers"] = json.dumps([{"item_key": "csat", "dimension": None, "value_num": 1.0,
                                                 "value_text": None}], separators=(",", ":"))

    edited = _edit(out, tmp_path / "edited.csv", change)
    keys = pd.read_csv(edited, dtype=str, encoding="utf-8-sig")["external_no"]
    res = import_file(engine, "responses", edited)
    assert (res.imported, res.updated, res.unchanged, res.rejected) == (0, 2, 42, 0), res.rejects
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT external_no, csat, submitted_at FROM response "
                                   "WHERE external_no IS NOT NULL ORDER BY id")).all()
        n_answers = conn.execute(text("SELECT count(*) FROM answer a JOIN response r ON r.id = a.response_id "
                                      "WHERE r.external_no = :k"), {"k": keys[web[1]]}).scalar_one()
    assert [r[0] for r in stored] == [keys[web[0]], keys[web[1]]] and stored[0][1] == 2
    assert n_answers == 1
    again = import_file(engine, "responses", edited)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 44)
    export_table(engine, "responses", tmp_path / "after.csv")
    assert (tmp_path / "after.csv").read_bytes() == edited.read_bytes()


def test_another_databases_response_with_the_same_id_is_not_matched(db_url: str, other_db: Callable[[str], Engine],
                                                                     tmp_path: Path) -> None:
    src = get_engine(db_url)
    _web_world(src)
    out = tmp_path / "responses.csv"
    export_table(src, "responses", out)
    first = pd.read_csv(out, dtype=str, encoding="utf-8-sig")["external_no"][0]
    rid = int(first.split(":")[2])
    dst = other_db("other")
    _reference_only(dst)
    with dst.begin() as conn:  # its own web response, same id, submitted at another instant
        conn.execute(insert(Response).values(
            id=rid, region_id=7, channel="web", survey_key="repair", survey_version=1, csat=1, language="zh-CN",
            submitted_at=dt.datetime(2026, 9, 1, 1, 2, 3, 456789, tzinfo=UTC)))
        if dst.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('response', 'id'), (SELECT max(id) FROM response))"))
    res = import_file(dst, "responses", out)
    assert (res.imported, res.updated, res.rejected) == (44, 0, 0), res.rejects
    with dst.connect() as conn:
        own = conn.execute(text("SELECT external_no, csat FROM response WHERE id = :i"), {"i": rid}).one()
    assert tuple(own) == (None, 1)


def test_malformed_reserved_keys_are_rejected(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    _reference_only(engine)
    p = tmp_path / "bad.csv"
    p.write_text("external_no,submitted_at,region_code,channel,survey_key,csat\n"
                 "gridcx:response:1,2026-10-06 10:00:00,A1S,web,repair,5\n"
                 "GRIDCX:RESPONSE:2:20261006T020000.000000Z,2026-10-06 10:00:00,A1S,web,repair,5\n"
                 "gridcx:ticket:3,2026-10-06 10:00:00,A1S,web,repair,5\n"
                 "gridcx:response:4:20261006T020000.000000Z,2026-10-06 10:00:00,A1S,web,repair,5\n"
                 "WEB-5,2026-10-06 10:00:00,A1S,web,repair,5\n", encoding="utf-8")
    res = import_file(engine, "responses", p, "gridcx_responses", rejects_path=tmp_path / "r.csv")
    assert (res.imported, res.rejected, res.exit_code) == (2, 3, 1), res.rejects
    assert list(res.rejects["row"]) == [2, 3, 4]
    assert res.rejects["reason_en"].str.contains("reserved prefix gridcx:").all()
    assert res.rejects["reason_zh"].str.contains("保留前缀").all()


def test_cli_export_then_import_again(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    _web_world(engine)
    env = {**os.environ, "DATABASE_URL": db_url}
    out = tmp_path / "cli.csv"
    proc = subprocess.run([sys.executable, "-m", "data", "export", "responses", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "data", "import", "responses", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["imported"], summary["updated"], summary["unchanged"], summary["rejected"]) == (0, 0, 44, 0)
