"""Wide survey exports (one column per rated item, as questionnaire tools export them) through the mapping's
``items`` block: answer rows per item, 1-10 answers converted onto the items' 1-5 scale by the stated rule, 0 = N/A
stored as an answer without a value, out-of-scale values and bad item keys rejected with the rule they break.

The files are built here: a tool's banner lines above the header, a 1-10 scale, 0 / 不适用 = N/A, one value outside
the source scale; a 33-character item key in a mapping."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from data.engine import get_engine
from data.io import import_file
from data.io.mapping import load, parse
from metrics.kpis import csat
from surveys.definitions import sync_definitions
from tests.factories import build_tiny_world

HEADER = "答卷编号,提交答卷时间,工单编号,1.总体满意度,2.抢修人员到达速度,3.进度告知及时,4.人员服务态度,您的意见和建议"
ROWS = [
    "W-1,2026/10/06 10:00:00,T7-0,10,8,9,10,很好",
    "W-2,2026/10/06 10:05:00,T7-0,0,3,不适用,1,",
    "W-3,2026/10/06 10:10:00,T7-0,11,5,5,5,",  # 11 is outside the source scale 1-10
    "W-4,2026/10/06 10:15:00,T7-0,7,,6,4,",
    "W-5,2026/10/06 10:20:00,T7-0,5,1,2,0,",
]


def _world(url: str):  # type: ignore[no-untyped-def]
    engine = get_engine(url)
    build_tiny_world(engine)
    sync_definitions(engine)
    with engine.begin() as conn:
        for t in ("follow_up", "answer", "response"):
            conn.execute(text(f"DELETE FROM {t}"))
    return engine


def _export(tmp: Path, header: str = HEADER, rows: list[str] = ROWS) -> Path:
    p = tmp / "wjx_export.csv"
    banner = ["问卷星 数据导出：抢修服务满意度回访", "导出时间：2026-10-07 09:00:00", ""]
    p.write_text("\n".join([*banner, header, *rows]) + "\n", encoding="utf-8-sig")
    return p


def _answers(engine) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    q = ("SELECT r.external_no, a.item_key, a.dimension, a.value_num FROM answer a "
         "JOIN response r ON r.id = a.response_id ORDER BY r.external_no, a.id")
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(q))]


def _responses(engine) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return pd.read_sql(text("SELECT external_no, csat, comment, survey_key FROM response ORDER BY external_no"),
                           conn)


def test_wide_export_becomes_answer_rows_with_converted_scale_and_na(db_url: str, tmp_path: Path) -> None:
    engine = _world(db_url)
    res = import_file(engine, "responses", _export(tmp_path), "wide_survey_example")
    assert (res.imported, res.rejected, res.exit_code) == (4, 1, 1), res.rejects
    # 1-10 onto 1-5: y = 1 + (x - 1)·4/9, nearest point: 10->5 9->5 8->4 7->4 6->3 5->3 4->2 3->2 2->1 1->1
    assert _answers(engine) == [
        ("W-1", "csat", None, 5.0), ("W-1", "arrival_speed", "responsiveness", 4.0),
        ("W-1", "progress_updates", "responsiveness", 5.0), ("W-1", "staff_attitude", "assurance", 5.0),
        ("W-2", "csat", None, None), ("W-2", "arrival_speed", "responsiveness", 2.0),
        ("W-2", "progress_updates", "responsiveness", None), ("W-2", "staff_attitude", "assurance", 1.0),
        ("W-4", "csat", None, 4.0),  # an empty cell adds no answer row
        ("W-4", "progress_updates", "responsiveness", 3.0), ("W-4", "staff_attitude", "assurance", 2.0),
        ("W-5", "csat", None, 3.0), ("W-5", "arrival_speed", "responsiveness", 1.0),
        ("W-5", "progress_updates", "responsiveness", 1.0), ("W-5", "staff_attitude", "assurance", None),
    ]
    resp = _responses(engine)
    assert list(resp["external_no"]) == ["W-1", "W-2", "W-4", "W-5"]
    assert resp["csat"].tolist()[0] == 5 and pd.isna(resp["csat"].iloc[1]) and resp["csat"].tolist()[2:] == [4, 3]
    assert set(resp["survey_key"]) == {"wjx_repair"} and resp["comment"].iloc[0] == "很好"
    # The reject: row 7 of the file (three banner lines, the header on line 4), with the value and the range.
    assert res.rejects[["row", "column", "value", "level"]].values.tolist() == [[7, "1.总体满意度", "11", "error"]]
    assert res.rejects["reason_en"].tolist() == [
        "11 is outside the source scale 1–10 of item csat (allowed: 1–10; N/A codes: 0, 不适用, N/A)"]
    assert res.rejects["reason_zh"].tolist() == ["11 超出题目 csat 的原始量表 1–10（允许：1–10；不适用代码：0, 不适用, N/A）"]
    # The summary: N/A counted (W-2 twice, W-5 once), the rule stated, CSAT's top-2-box on the converted scale.
    summary = res.summary("en")
    assert summary["na_answers"] == 3 and summary["na_note"] == "N/A: 3 answers (stored without a value)"
    rule = "1–10 → 1–5: y = 1 + (x − 1)·4/9, rounded to the nearest point (exactly halfway: the higher point)"
    assert summary["conversions"] == [
        f"CSAT {rule}; top-2-box (4–5) on the converted scale = source 7–10",
        f"arrival_speed {rule}", f"progress_updates {rule}", f"staff_attitude {rule}"]
    # CSAT (KPIS.md §3): top-2-box over the valid 1-5 answers: {5, 4, 3} -> 2 of 3; the N/A is not a value.
    kpi = csat(resp.dropna(subset=["csat"])).iloc[0]
    assert (int(kpi["n"]), kpi["mean"]) == (3, 4.0)
    assert kpi["value"] == pytest.approx(2 / 3)
    again = import_file(engine, "responses", _export(tmp_path), "wide_survey_example")
    assert (again.imported, again.updated, again.unchanged, again.rejected) == (0, 0, 4, 1)


def test_item_key_longer_than_32_characters_names_the_rule(db_url: str, tmp_path: Path) -> None:
    engine = _world(db_url)
    raw = json.loads(Path(load("wide_survey_example").path).read_text(encoding="utf-8"))
    long_key = "staff_attitude_and_courtesy_score"  # 33 characters
    assert len(long_key) == 33
    raw["items"]["columns"]["4.人员服务态度"]["item"] = long_key
    mapping_file = tmp_path / "mine.json"
    mapping_file.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    res = import_file(engine, "responses", _export(tmp_path), mapping_file)
    assert res.error is not None and res.error.code == "mapping_invalid"
    assert (f"items.columns.4.人员服务态度.item: item key '{long_key}' is 33 characters long: longer than 32 "
            "characters") in res.error.message("en")
    assert _responses(engine).empty


def test_published_questionnaire_items_roles_and_unknown_keys(db_url: str, tmp_path: Path) -> None:
    """A wide export of a questionnaire GridCX publishes (repair v2): the item scales and the csat role come from
    its definition; an item key it does not have is rejected naming the questionnaire and its items."""
    engine = _world(db_url)
    base = {"kind": "responses", "columns": {"答卷编号": "external_no", "提交答卷时间": "submitted_at",
                                             "工单编号": "ticket"},
            "constants": {"channel": "web", "survey_key": "repair", "survey_version": 2}}
    m = parse({**base, "items": {"scale": [1, 10], "na": [0], "columns": {
        "1.总体满意度": "csat", "2.抢修人员到达速度": "arrival", "4.人员服务态度": "attitude"}}})
    rows = ["W-1,2026/10/06 10:00:00,T7-0,10,8,9,,", "W-2,2026/10/06 10:05:00,T7-0,2,0,9,1,"]
    res = import_file(engine, "responses", _export(tmp_path, rows=rows), m)
    assert (res.imported, res.rejected) == (1, 1)
    assert res.rejects[["row", "column", "value"]].values.tolist() == [[6, "4.人员服务态度", "1"]]
    assert res.rejects["reason_en"].tolist() == [
        "item attitude is not in questionnaire repair v2 (its items: csat, arrival, restore, progress, crew, fcr, "
        "ces, nps, … (9 items))"]
    assert _answers(engine) == [("W-1", "csat", None, 5.0), ("W-1", "arrival", "responsiveness", 4.0)]
    assert _responses(engine)["csat"].tolist() == [5]
    # NPS is only computed from a 0-10 item (KPIS.md §3): a 1-10 column feeding it is refused, nothing written.
    nps = parse({**base, "items": {"scale": [1, 10], "columns": {"1.总体满意度": "nps"}}})
    bad = import_file(engine, "responses", _export(tmp_path, rows=rows), nps)
    assert bad.error is not None and "NPS is only computed from a 0–10 item" in bad.error.message("en")
    assert _responses(engine)["external_no"].tolist() == ["W-1"]


def test_alpha_for_an_imported_questionnaire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m surveys alpha`` used to fail with "max() arg is an empty sequence" for a questionnaire that has no
    definition file; now its dimensions come from the imported answer rows, and a one-item dimension is named."""
    from data.schema import upgrade
    from surveys.__main__ import main

    url = f"sqlite:///{tmp_path / 'gridcx.db'}"
    upgrade(get_engine(url))
    engine = _world(url)
    assert import_file(engine, "responses", _export(tmp_path), "wide_survey_example").imported == 4
    monkeypatch.setenv("DATABASE_URL", url)
    assert main(["alpha", "--survey", "wjx_repair"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        "wjx_repair v1 (no definition: dimensions from the stored answers)",
        "dimension 'assurance' has 1 item (staff_attitude): Cronbach's alpha needs 2 or more items; it is counted "
        "only in __all__"]
    table = out[2:]
    assert table[0].split()[:3] == ["dimension", "items", "k"]
    assert [line.split()[0] for line in table[1:]] == ["responsiveness", "__all__"]
    assert main(["alpha", "--survey", "no_such_survey"]) == 2
    assert "no questionnaire 'no_such_survey'" in capsys.readouterr().err
