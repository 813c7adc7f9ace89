"""XLSX reading (calamine): the header found below banners, the sheet chosen with ``sheet`` (and the mapping detected
from that sheet), a missing sheet named in the error, real date/number/boolean cells, blank rows skipped with the
sheet's own row numbers in the rejects, formula cells read as their computed value (never as formula text)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlsxwriter
from sqlalchemy import text

from data.engine import get_engine
from data.io import import_file
from tests.factories import build_tiny_world

HEADER = ["external_no", "created_at", "resolved_at", "region_code", "channel", "service_type", "reopen_count",
          "substantiated", "exception_reason"]


def _book(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    date = wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    first = wb.add_worksheet("说明")
    first.write_row(0, 0, ["本工作簿的第二页是工单"])
    ws = wb.add_worksheet("工单")
    ws.write(0, 0, "国网某供电公司工单导出")  # banner rows above the header
    ws.write(1, 0, "导出时间：2026-10-07")
    ws.write_row(3, 0, HEADER)  # row 4; row 3 is blank
    ws.write_row(4, 0, ["X-1"])
    ws.write_datetime(4, 1, dt.datetime(2026, 10, 5, 9, 0, 20), date)
    ws.write_datetime(4, 2, dt.datetime(2026, 10, 5, 11, 30), date)
    ws.write_row(4, 3, ["A1S", "热线", "报修", 2, True])
    ws.write_formula(4, 8, '="雪"&"灾"', None, "雪灾")  # a formula with its cached value
    # row 6 blank; row 7 has an unknown channel (rejected with its sheet row number)
    ws.write_row(6, 0, ["X-2", "2026-10-05 10:00:00", "", "A1S", "fax", "repair", 0, False])
    ws.write_row(7, 0, ["X-3", "2026/10/05 10:00", "", "A2S", "app", "billing"])
    wb.close()
    return path


def test_xlsx_header_sheet_types_rows_and_formulas(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    book = _book(tmp_path / "tickets.xlsx")
    res = import_file(engine, "tickets", book, sheet="工单")
    assert res.error is None, res.error
    assert (res.mapping, res.header_row, res.imported, res.rejected) == ("gridcx_tickets", 4, 2, 1)
    assert res.rejects["row"].tolist() == [7] and res.rejects["column"].tolist() == ["channel"]
    with engine.connect() as conn:
        row = conn.execute(text("SELECT created_at, resolved_at, channel, reopen_count, substantiated, "
                                "exception_reason FROM ticket WHERE external_no = 'X-1'")).one()
    assert str(row.created_at).startswith("2026-10-05 01:00:20")  # local Shanghai time -> UTC
    assert str(row.resolved_at).startswith("2026-10-05 03:30:00")
    assert (row.channel, row.reopen_count, bool(row.substantiated), row.exception_reason) == (
        "hotline", 2, True, "雪灾")


def test_xlsx_missing_sheet_and_first_sheet_without_header(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    book = _book(tmp_path / "tickets.xlsx")
    wrong = import_file(engine, "tickets", book, sheet="Sheet9")
    assert wrong.error is not None and wrong.error.code == "sheet_missing"
    assert "工单" in wrong.error.message("en") and wrong.exit_code == 2
    first = import_file(engine, "tickets", book)  # the first sheet has no header row
    assert first.error is not None and first.error.code == "no_header"
