"""Exports on the demo world: the workbook read back equals the summary the page shows, the PDF's text holds the
Chinese names and numbers, the CSV opens as UTF-8 with BOM, an injected formula stays text, every export is audited;
the command line and the scheme validation fail in one clear line."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from pypdf import PdfReader
from sqlalchemy import select, text, update

from data.engine import get_engine
from data.models import AuditEvent, Staff
from data.repositories import Scope
from metrics.periods import named
from reports.assessment import build
from reports.exports import display_summary, export, safe_cell, summary_columns
from reports.scheme import SchemeError, load_scheme
from tests.reports.pdftext import pdf_texts

ROOT = Path(__file__).resolve().parents[2]
INJECTED = "=HYPERLINK(\"http://evil.example\",\"x\")"


@pytest.fixture(scope="module")
def assessment(demo_reviews_url: str):  # type: ignore[no-untyped-def]
    engine = get_engine(demo_reviews_url)
    with engine.begin() as conn:  # a staff name that would run as a formula in a spreadsheet
        conn.execute(update(Staff).where(Staff.id == 2).values(name=INJECTED))
    yield build(engine, Scope("/1/"), named("2026-Q3"), scope_region_id=1)
    with engine.begin() as conn:
        conn.execute(update(Staff).where(Staff.id == 2).values(name="邓国飞"))


def test_excel_read_back_equals_the_summary(assessment, demo_reviews_url: str) -> None:  # type: ignore[no-untyped-def]
    data = export(get_engine(demo_reviews_url), assessment, "xlsx", "hr")
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames[0] == "汇总" and "方法说明" in wb.sheetnames and "客户满意率" in wb.sheetnames
    ws = wb["汇总"]
    assert ws.freeze_panes == "C2"
    rows = list(ws.iter_rows(values_only=True))
    shown = display_summary(assessment)
    assert list(rows[0]) == list(shown.columns)
    assert len(rows) - 1 == len(shown)
    for got, (_, want) in zip(rows[1:], shown.iterrows(), strict=True):
        for g, w in zip(got, want.tolist(), strict=True):
            if isinstance(w, float) and pd.isna(w):
                assert g is None
            elif isinstance(w, float):
                assert g == pytest.approx(w)
            else:
                assert g == safe_cell(w) or (g is None and w == "")
    # the injected formula is text (an apostrophe-prefixed string), never a formula cell
    name_col = summary_columns(assessment).index("name")
    cell = next(c for c in ws.iter_cols(min_col=name_col + 1, max_col=name_col + 1).__next__()
                if isinstance(c.value, str) and "HYPERLINK" in c.value)
    assert cell.data_type == "s" and cell.value == "'" + INJECTED


def test_pdf_text_has_chinese_names_and_numbers(assessment, demo_reviews_url: str) -> None:  # type: ignore[no-untyped-def]
    data = export(get_engine(demo_reviews_url), assessment, "pdf", "hr")
    reader = PdfReader(io.BytesIO(data))
    texts = pdf_texts(data)  # not extract_text: pypdf reads fpdf2's two-byte glyph codes a byte at a time

    def page_text_of(i: int) -> str:
        return re.sub(r"\s+", " ", texts[i])

    t = assessment.table
    assert len(reader.pages) >= 1 + len(t)
    graded = t[t["total"].notna()].iloc[0]
    page_text = "\n".join(page_text_of(i) for i in range(8))
    assert "员工服务绩效考核报告" in page_text and "严格保密" in page_text
    person = next(i for i in range(1, len(reader.pages)) if graded["code"] in page_text_of(i))
    text_ = page_text_of(person)
    assert graded["name"] in text_ and f"{graded['total']:.1f}" in text_ and graded["grade"] in text_
    assert f"第 {person + 1} 页" in text_ or f"第{person + 1}页" in text_.replace(" ", "")
    fonts = str(reader.pages[person]["/Resources"]["/Font"])
    assert "/F" in fonts  # the CJK font is embedded (subset) as a resource of the page


def test_csv_is_utf8_with_bom_and_neutralised(assessment, demo_reviews_url: str) -> None:  # type: ignore[no-untyped-def]
    data = export(get_engine(demo_reviews_url), assessment, "csv", "hr")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["工号", "姓名", "岗位"]
    names = [r[1] for r in rows[1:]]
    assert "'" + INJECTED in names and INJECTED not in names


def test_every_export_is_audited(assessment, demo_reviews_url: str) -> None:  # type: ignore[no-untyped-def]
    engine = get_engine(demo_reviews_url)
    with engine.connect() as conn:
        before = conn.execute(select(AuditEvent).where(AuditEvent.action == "export")).all()
    export(engine, assessment, "csv", "auditor")
    with engine.connect() as conn:
        after = conn.execute(select(AuditEvent.username, AuditEvent.object_type, AuditEvent.detail)
                             .where(AuditEvent.action == "export").order_by(AuditEvent.id)).all()
    assert len(after) == len(before) + 1
    user, obj, detail = after[-1]
    assert user == "auditor" and obj == "assessment" and detail["format"] == "csv" and detail["scope"] == "/1/"


def test_safe_cell() -> None:
    assert [safe_cell(v) for v in ["=1+1", "+1", "-2", "@x", "\tx", "ok", 3.5, -1.0]] == \
        ["'=1+1", "'+1", "'-2", "'@x", "'\tx", "ok", 3.5, -1.0]


def _cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {"DATABASE_URL": url, "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "reports", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300, check=False)


def test_cli_writes_the_workbook_and_fails_in_one_line(demo_reviews_url: str, tmp_path: Path) -> None:
    out = tmp_path / "a.xlsx"
    ok = _cli("assessment", "--period", "2026-Q3", "--scope", "3713", "--format", "xlsx", "--out", str(out),
              url=demo_reviews_url)
    assert ok.returncode == 0, ok.stderr
    assert openpyxl.load_workbook(out).sheetnames[0] == "汇总"
    bad = _cli("assessment", "--period", "2026-Q7", "--format", "csv", "--out", str(tmp_path / "x.csv"),
               url=demo_reviews_url)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "2026-Q7" in bad.stderr
    bad = _cli("assessment", "--period", "2026-Q3", "--scope", "NOPE", "--format", "csv", "--out",
               str(tmp_path / "x.csv"), url=demo_reviews_url)
    assert bad.returncode == 2 and "NOPE" in bad.stderr and "Traceback" not in bad.stderr


def test_scheme_errors_name_file_and_field(tmp_path: Path) -> None:
    src = (ROOT / "reports" / "schemes" / "assessment.toml").read_text(encoding="utf-8")
    broken = tmp_path / "assessment.toml"
    broken.write_text(src.replace("arrival = 0.25", "arival = 0.25"), encoding="utf-8")
    with pytest.raises(SchemeError) as exc:
        load_scheme(broken)
    assert str(broken) in str(exc.value) and "roles.crew" in str(exc.value)
    broken.write_text(src.replace("min_percentile = 85", "min_percentile = 185"), encoding="utf-8")
    with pytest.raises(SchemeError, match=r"grades\.0\.min_percentile"):
        load_scheme(broken)


def test_scope_never_widens(demo_reviews_url: str) -> None:
    engine = get_engine(demo_reviews_url)
    with engine.connect() as conn:
        path = conn.execute(text("SELECT path FROM region WHERE code = '371302'")).scalar_one()
    a = build(engine, Scope(path), named("2026-Q3"), compare=False)
    with engine.connect() as conn:
        inside = {r[0] for r in conn.execute(text(
            "SELECT s.code FROM staff s JOIN region r ON r.id = s.region_id WHERE r.path LIKE :p"), {"p": path + "%"})}
    assert set(a.table["code"]) == inside and 0 < len(inside) < 200


def test_staff_detail_compares_with_the_pooled_team_and_role(assessment) -> None:  # type: ignore[no-untyped-def]
    """A person's team and company columns are the pooled raw rates (Σx / Σn) of their team and of their role, in
    points, recomputed here from the scorecards' own per-person raw rates and counts."""
    from reports.assessment import staff_detail, staff_details

    roster = assessment.roster[["staff_id", "team_id", "role"]].drop_duplicates("staff_id")
    k = assessment.cards.kpis.drop(columns=["role"], errors="ignore").merge(roster, on="staff_id")
    k = k.loc[k["n"] > 0].assign(x=lambda d: d["raw"] * d["n"])
    everyone = staff_details(assessment)
    assert set(everyone["staff_id"]) == set(assessment.cards.kpis["staff_id"])
    checked = 0
    for sid in k["staff_id"].drop_duplicates().head(25):
        me = k.loc[k["staff_id"] == sid].iloc[0]
        one = staff_detail(assessment, int(sid)).set_index("key")
        for kpi in k.loc[k["staff_id"] == sid, "kpi"]:
            team = k.loc[(k["team_id"] == me["team_id"]) & (k["kpi"] == kpi)]
            role = k.loc[(k["role"] == me["role"]) & (k["kpi"] == kpi)]
            scale = 100.0  # every KPI is held as a 0-1 share or normalised score and shown in points
            if one.loc[kpi, "team"] == one.loc[kpi, "team"]:  # rounded to points for display
                assert one.loc[kpi, "team"] == pytest.approx(team["x"].sum() / team["n"].sum() * scale, abs=0.051)
                assert one.loc[kpi, "company"] == pytest.approx(role["x"].sum() / role["n"].sum() * scale,
                                                                abs=0.051)
                checked += 1
    assert checked > 50
    assert staff_detail(assessment, -1).empty


def test_a_kpi_without_one_observed_case_is_blank_and_says_no_data_in_the_workbook(  # type: ignore[no-untyped-def]
        assessment, demo_reviews_url: str) -> None:
    """A staff member with no case of a KPI in the period: the KPI sheet's value cells are empty and the status
    reads 无数据 (never 0 with a status)."""
    empty = {key: table.loc[table["status"] == assessment.t("hr.status.no_data")]
             for key, table in assessment.kpi_tables.items()}
    empty = {k: v for k, v in empty.items() if len(v)}
    assert empty, "the demo world's assessment has staff without a case for some KPI"
    wb = openpyxl.load_workbook(io.BytesIO(export(get_engine(demo_reviews_url), assessment, "xlsx", "hr")))
    key, rows = next(iter(empty.items()))
    ws = wb[assessment.scheme.kpis[key].name(assessment.lang)[:31]]
    header = [c.value for c in ws[1]]
    value, status, n = (header.index(assessment.t(f"hr.kcol.{c}")) for c in ("value", "status", "n"))
    codes = set(rows["code"].astype(str))
    seen = [r for r in ws.iter_rows(min_row=2, values_only=True) if str(r[0]) in codes]
    assert len(seen) == len(codes)
    for r in seen:
        assert r[status] == "无数据" and r[value] is None and r[n] in (0, None), r
