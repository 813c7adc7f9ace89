"""Survey answer rows (table ``answer``) travel with the canonical responses format: the ``answers`` column holds a
response's answer rows as JSON; export -> import reproduces them exactly, a re-import changes nothing, a changed
answer updates the response and replaces its rows, a malformed cell is rejected with a reason."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from data.engine import get_engine
from data.io import export_table, import_file
from tests.factories import build_tiny_world

HEADER = "external_no,submitted_at,ticket_no,region_code,channel,survey_key,survey_version,csat,comment,answers"


def _answers(*items: tuple[str, str | None, float | None, str | None]) -> str:
    return json.dumps([{"item_key": k, "dimension": d, "value_num": n, "value_text": t} for k, d, n, t in items],
                      ensure_ascii=False)


def _q(v: str) -> str:
    return '"' + v.replace('"', '""') + '"'


def _file(tmp: Path, name: str, rows: list[tuple[str, str, str]]) -> Path:
    body = [HEADER] + [f"{no},2026-10-06 10:00:00,T7-0,A1S,sms,post_service,1,{csat},,{_q(ans) if ans else ''}"
                       for no, csat, ans in rows]
    p = tmp / name
    p.write_text("\n".join(body) + "\n", encoding="utf-8")
    return p


def _world(url: str):  # type: ignore[no-untyped-def]
    """The tiny world without its survey responses (so the files below are all there is)."""
    engine = get_engine(url)
    build_tiny_world(engine)
    with engine.begin() as conn:
        for t in ("follow_up", "answer", "response"):
            conn.execute(text(f"DELETE FROM {t}"))
    return engine


def _rows(engine) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    q = ("SELECT r.external_no, r.csat, a.item_key, a.dimension, a.value_num, a.value_text FROM answer a "
         "JOIN response r ON r.id = a.response_id ORDER BY r.external_no, a.id")
    with engine.connect() as conn:
        return pd.read_sql(text(q), conn)


def test_answers_round_trip_reimport_and_update(db_url: str, tmp_path: Path) -> None:
    engine = _world(db_url)
    v1 = _file(tmp_path, "v1.csv", [
        ("S-1", "5", _answers(("attitude", "attitude", 5, None), ("speed", "speed", 4.5, None),
                              ("why", None, None, '=说明, "引号"'))),
        ("S-2", "2", _answers(("attitude", "attitude", 1, None))),
        ("S-3", "4", ""),  # no answer rows
    ])
    res = import_file(engine, "responses", v1)
    assert (res.imported, res.rejected) == (3, 0), res.rejects
    first = _rows(engine)
    assert list(first["item_key"]) == ["attitude", "speed", "why", "attitude"]
    assert first["value_num"].iloc[1] == 4.5 and first["value_text"].iloc[2] == '=说明, "引号"'

    again = import_file(engine, "responses", v1)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 3)

    out = tmp_path / "export.csv"
    export_table(engine, "responses", out)
    exported = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
    assert exported["answers"].isna().sum() == 1  # S-3: an empty cell
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM answer"))
        conn.execute(text("DELETE FROM response"))
    back = import_file(engine, "responses", out)
    assert (back.imported, back.rejected) == (3, 0), back.rejects
    pd.testing.assert_frame_equal(_rows(engine), first)
    assert import_file(engine, "responses", out).unchanged == 3
    export_table(engine, "responses", tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == out.read_bytes()

    # One answer changed, one response loses its answers, one gains some: three updates, rows replaced.
    v2 = _file(tmp_path, "v2.csv", [
        ("S-1", "5", _answers(("attitude", "attitude", 5, None), ("speed", "speed", 3, None),
                              ("why", None, None, '=说明, "引号"'))),
        ("S-2", "2", ""),
        ("S-3", "4", _answers(("attitude", "attitude", 4, None))),
    ])
    upd = import_file(engine, "responses", v2)
    assert (upd.imported, upd.updated, upd.unchanged) == (0, 3, 0)
    now = _rows(engine)
    assert list(zip(now["external_no"], now["item_key"], now["value_num"].fillna(-1), strict=True)) == [
        ("S-1", "attitude", 5.0), ("S-1", "speed", 3.0), ("S-1", "why", -1), ("S-3", "attitude", 4.0)]


def test_files_without_the_answers_column_leave_answers_alone(db_url: str, tmp_path: Path) -> None:
    engine = _world(db_url)
    import_file(engine, "responses", _file(tmp_path, "v1.csv", [("S-1", "5", _answers(("q", "d", 1, None)))]))
    p = tmp_path / "plain.csv"
    p.write_text("external_no,submitted_at,ticket_no,region_code,channel,survey_key,csat\n"
                 "S-1,2026-10-06 10:00:00,T7-0,A1S,sms,post_service,3\n", encoding="utf-8")
    res = import_file(engine, "responses", p, "gridcx_responses")
    assert res.updated == 1
    assert list(_rows(engine)[["csat", "item_key"]].itertuples(index=False, name=None)) == [(3, "q")]


def test_malformed_answers_are_rejected(db_url: str, tmp_path: Path) -> None:
    engine = _world(db_url)
    bad = ["not json", '{"item_key": "q"}', '[{"dimension": "d"}]', '[{"item_key": "q", "value_num": "five"}]',
           '[{"item_key": "q", "extra": 1}]', '[{"item_key": "q", "value_num": true}]',
           _answers(("q", None, 1, None), ("k" * 33, None, 2, None)), _answers(("q", "d" * 33, 1, None))]
    rows = [(f"B-{i}", "5", v) for i, v in enumerate(bad)] + [("OK-1", "5", _answers(("q", None, 1, None)))]
    res = import_file(engine, "responses", _file(tmp_path, "bad.csv", rows), rejects_path=tmp_path / "r.csv")
    assert (res.imported, res.rejected, res.exit_code) == (1, len(bad), 1)
    assert set(res.rejects["column"]) == {"answers"}
    # Each reason names the rule the cell breaks (it used to be one generic sentence for all of them).
    assert list(res.rejects["reason_en"]) == [
        "the answers are not valid JSON (Expecting value)",
        "the answers must be a JSON list of objects",
        "answer 1 has no item_key (non-empty text)",
        "answer 1 (item q): value_num must be a number",
        "answer 1 has unknown keys extra (allowed: item_key, dimension, value_num, value_text)",
        "answer 1 (item q): value_num must be a number",
        "answer 2: item_key is 33 characters long, longer than 32 characters",
        "answer 1: dimension is 33 characters long, longer than 32 characters",
    ]
    assert len(_rows(engine)) == 1
