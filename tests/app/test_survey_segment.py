"""Imported survey results carry a customer segment of their own (issue 15: "top-box by segment work for imported
survey results"): a wide questionnaire export with a 客户类别 column (codes and synonyms: 居民, residential, 工商业,
Commercial) imported through the shipped wide example mapping groups by segment on the satisfaction page and in
``python -m metrics report --by segment`` / ``--by segment,dimension``. A response linked to a work order takes its
customer's segment, whatever the export says (the linked customer is the truth).

Top-2-box (KPIS.md §3) is counted here from the source answers: the example mapping converts 1-10 onto 1-5 by
y = 1 + (x − 1)·4/9, so a source 10 is a 5 (top box) and a source 3 a 2 (not)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import text

from data.engine import get_engine
from data.io import import_file
from data.io.mapping import load
from metrics.__main__ import dimension_rows, report_rows
from surveys.definitions import sync_definitions
from tests.app.dashboard_helpers import chart_titled, data_of, goto
from tests.app.helpers import login
from tests.factories import build_tiny_world

HEADER = "答卷编号,提交答卷时间,工单编号,供电单位,客户类别,1.总体满意度,2.抢修人员到达速度,3.进度告知及时,4.人员服务态度"
# segment -> (labels used in the file, respondents, top-box respondents); all on unlinked responses
GROUPS = {"residential": (("居民", "residential"), 40, 30), "commercial": (("工商业", "Commercial"), 30, 12)}


def _rows() -> list[str]:
    rows, i = [], 0
    for labels, n, top in GROUPS.values():
        for j in range(n):
            i += 1
            score = 10 if j < top else 3
            when = dt.datetime(2026, 10, 6, 9) + dt.timedelta(minutes=7 * i)
            rows.append(f"W-{i},{when:%Y/%m/%d %H:%M:%S},,A1S,{labels[j % 2]},{score},{score},{score},{score}")
    # linked to a residential customer's work order: the export's 商业 is overridden by the customer's segment
    rows.append("W-L,2026/10/08 10:00:00,T7-0,A1S,商业,10,10,10,10")
    return rows


@pytest.fixture
def survey_db(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    eng = get_engine(sqlite_url)
    build_tiny_world(eng)
    sync_definitions(eng)
    with eng.begin() as conn:
        for t in ("follow_up", "answer", "response"):
            conn.execute(text(f"DELETE FROM {t}"))
    # the shipped wide example (which maps 客户类别 / Customer type) plus this export's region column
    mapping = json.loads(Path(load("wide_survey_example").path).read_text(encoding="utf-8"))
    mapping["columns"]["供电单位"] = "region"
    mp, f = tmp_path / "m.json", tmp_path / "wjx.csv"
    mp.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    f.write_text("\n".join([HEADER, *_rows()]) + "\n", encoding="utf-8-sig")
    res = import_file(eng, "responses", f, mp)
    assert res.error is None and (res.imported, res.rejected) == (71, 0), (res.error, res.rejects)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return sqlite_url


def test_import_stores_the_segment_and_rejects_an_unknown_one(survey_db: str, tmp_path: Path) -> None:
    eng = get_engine(survey_db)
    with eng.connect() as conn:
        got = dict(conn.execute(text("SELECT segment, count(*) FROM response GROUP BY segment")).all())
    assert got == {"residential": 40, "commercial": 31}  # as recorded (W-L's 商业 too)
    f = tmp_path / "bad.csv"
    f.write_text(HEADER + "\nW-X,2026/10/06 10:00:00,,A1S,外星人,10,10,10,10\n", encoding="utf-8")
    res = import_file(eng, "responses", f, tmp_path / "m.json")
    assert (res.imported, res.rejected) == (0, 1)
    assert res.rejects["reason_en"].tolist() == [
        "unknown customer segment (not a code or synonym); allowed: agricultural, commercial, industrial, residential"]


def test_satisfaction_page_and_report_group_by_the_segment(survey_db: str) -> None:
    want = {"residential": (41, 31), "commercial": (30, 12)}  # W-L counts with its customer's segment
    at = goto(login("manager"), "satisfaction")
    seg = {r["segment_label"]: (r["n"], r["successes"]) for r in data_of(chart_titled(at, "客户满意度(满意率)"))
           if "segment_label" in r}
    assert seg == {"居民": want["residential"], "商业": want["commercial"]}

    eng = get_engine(survey_db)
    rows, _notes = report_rows(eng, dt.date(2026, 10, 1), dt.date(2026, 10, 31), by=["segment"], kpis=["csat"])
    got = {r["group"]["segment"]: (r["n"], r["value"]) for r in rows}
    assert got == {s: (n, pytest.approx(top / n, abs=1e-12)) for s, (n, top) in want.items()}
    dims, _notes = dimension_rows(eng, dt.date(2026, 10, 1), dt.date(2026, 10, 31), by=["segment"])
    # dimension scores by segment (this questionnaire is not published, so no top box: its items' mean)
    resp = {r["group"]["segment"]: (r["n"], r["mean"]) for r in dims if r["dimension"] == "responsiveness"}
    assert resp == {s: (n, pytest.approx((5 * top + 2 * (n - top)) / n, abs=1e-12)) for s, (n, top) in want.items()}
