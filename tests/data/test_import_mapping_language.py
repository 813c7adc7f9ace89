"""Foreign exports through the mapping language: date + time columns, zones, date order, N/A codes, value policies,
units and source flags. Each test builds its file and mapping, imports into a real database and asserts the exact
rows, rejects and notes (the expected times are worked out by hand from the stated zones)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from data.engine import get_engine
from data.io import import_file
from data.io.importer import ImportResult
from tests.factories import build_tiny_world

TICKET_CONSTANTS = {"channel": "hotline", "service_type": "repair"}


@pytest.fixture
def engine(sqlite_url: str) -> Engine:
    eng = get_engine(sqlite_url)
    build_tiny_world(eng)
    return eng


@pytest.fixture
def any_engine(db_url: str) -> Engine:
    """SQLite and PostgreSQL: the new columns (booleans, texts) staged and upserted on both."""
    eng = get_engine(db_url)
    build_tiny_world(eng)
    return eng


def run(engine: Engine, tmp_path: Path, kind: str, mapping: dict[str, Any], content: str | bytes,
        name: str = "f.csv") -> ImportResult:
    mp = tmp_path / "m.json"
    mp.write_text(json.dumps(mapping, ensure_ascii=False), encoding="utf-8")
    f = tmp_path / name
    if isinstance(content, str):
        f.write_text(content, encoding="utf-8")
    else:
        f.write_bytes(content)
    res = import_file(engine, kind, f, mp, rejects_path=tmp_path / "rejects.csv")
    assert res.error is None, res.error
    return res


def rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(str(v)[:19] if isinstance(v, dt.datetime | str) and ":" in str(v) else v for v in r)
                for r in conn.execute(text(sql)).all()]


def rejects(res: ImportResult, lang: str = "en") -> list[tuple[int, str, str, str]]:
    col = "reason_en" if lang == "en" else "reason_zh"
    return [(int(r.row), r.column, r.value, getattr(r, col)) for r in res.rejects.itertuples()]


# --- 2. fields from several columns ---------------------------------------------------------------------------


def test_date_and_time_columns_make_one_time(engine: Engine, tmp_path: Path) -> None:
    """The trial's complaint: the date alone gave whole-day durations. K1 is 868 minutes (14 h 28 min)."""
    mapping = {"kind": "tickets", "columns": {"No": "external_no", "Unit": "region"},
               "fields": [{"field": "created_at", "date": "Date", "time": "Time"},
                          {"field": "resolved_at", "date": "Done date", "time": "Done time"}],
               "timestamps": {"zone": "Asia/Shanghai", "formats": ["%Y-%m-%d"]}, "constants": TICKET_CONSTANTS}
    res = run(engine, tmp_path, "tickets", mapping,
              "No,Date,Time,Done date,Done time,Unit\n"
              "K1,2024-04-05,08:00,2024-04-05,22:28,A1S\n"
              "K2,2024-04-05,8:30 PM,2024-04-06,0.375,A1S\n"  # a day fraction: 0.375 d = 09:00
              "K3,2024-04-05,,2024-04-05,9:00,A1S\n"
              "K4,2024-04-05,25:00,2024-04-05,9:00,A1S\n")
    assert (res.imported, res.rejected) == (2, 2)
    assert rejects(res) == [
        (4, "Date", "2024-04-05", "creation time has a date but no time (the time column Time is empty); "
                                  "a date alone is not imported as a time"),
        (5, "Time", "25:00", "the time column Time of creation time is not a recognisable time of day (e.g. 08:30, "
                             "8:30 PM, 08:30:15 or a day fraction)"),
    ]
    assert rows(engine, "SELECT external_no, created_at, resolved_at FROM ticket WHERE external_no LIKE 'K%' "
                        "ORDER BY 1") == [("K1", "2024-04-05 00:00:00", "2024-04-05 14:28:00"),
                                          ("K2", "2024-04-05 12:30:00", "2024-04-06 01:00:00")]
    minutes = rows(engine, "SELECT (julianday(resolved_at) - julianday(created_at)) * 1440 FROM ticket "
                           "WHERE external_no = 'K1'")[0][0]
    assert round(minutes) == 868
    assert res.summary("en").get("notes") is None  # zone stated, no year-last dates: nothing assumed


def test_date_without_its_time_column_is_refused(engine: Engine, tmp_path: Path) -> None:
    mapping = {"kind": "tickets", "columns": {"No": "external_no", "Unit": "region"},
               "fields": [{"field": "created_at", "date": "Date", "time": "Time"}],
               "timestamps": {"zone": "Asia/Shanghai"}, "constants": TICKET_CONSTANTS}
    mp = tmp_path / "m.json"
    mp.write_text(json.dumps(mapping), encoding="utf-8")
    f = tmp_path / "f.csv"
    f.write_text("No,Date,Unit\nK1,2024-04-05,A1S\n", encoding="utf-8")
    res = import_file(engine, "tickets", f, mp)
    assert res.error is not None and res.error.code == "columns_missing"
    assert "Time" in res.error.message("en")


def test_excel_date_and_time_cells(engine: Engine, tmp_path: Path) -> None:
    """Spreadsheet date cells with time cells (datetime.time) or time fractions (plain numbers)."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["No", "Date", "Time", "Unit"])
    ws.append(["X1", dt.datetime(2024, 4, 5), dt.time(8, 30), "A1S"])
    ws.append(["X2", dt.date(2024, 4, 6), 0.75, "A1S"])  # 18:00
    ws.append(["X3", dt.datetime(2024, 4, 7), dt.time(23, 59, 59), "A1S"])
    buf = tmp_path / "x.xlsx"
    wb.save(buf)
    mapping = {"kind": "tickets", "columns": {"No": "external_no", "Unit": "region"},
               "fields": [{"field": "created_at", "date": "Date", "time": "Time", "zone": "+08:00"}],
               "constants": TICKET_CONSTANTS}
    res = run(engine, tmp_path, "tickets", mapping, buf.read_bytes(), "x.xlsx")
    assert (res.imported, res.rejected) == (3, 0), res.rejects
    assert rows(engine, "SELECT external_no, created_at FROM ticket WHERE external_no LIKE 'X%' ORDER BY 1") == [
        ("X1", "2024-04-05 00:30:00"), ("X2", "2024-04-06 10:00:00"), ("X3", "2024-04-07 15:59:59")]


def test_coalesce_takes_the_first_non_empty_column(engine: Engine, tmp_path: Path) -> None:
    mapping = {"kind": "tickets", "columns": {"No": "external_no", "Unit": "region", "Opened": "created_at"},
               "fields": [{"field": "resolved_at", "coalesce": ["Fixed", "Closed"]}],
               "timestamps": {"zone": "UTC"}, "constants": TICKET_CONSTANTS}
    res = run(engine, tmp_path, "tickets", mapping,
              "No,Opened,Fixed,Closed,Unit\n"
              "C1,2024-04-05 08:00,2024-04-05 09:00,2024-04-05 10:00,A1S\n"
              "C2,2024-04-05 08:00,,2024-04-05 11:00,A1S\n"
              "C3,2024-04-05 08:00,,,A1S\n")
    assert (res.imported, res.rejected) == (3, 0)
    assert rows(engine, "SELECT external_no, resolved_at, status FROM ticket WHERE external_no LIKE 'C%' "
                        "ORDER BY 1") == [("C1", "2024-04-05 09:00:00", "resolved"),
                                          ("C2", "2024-04-05 11:00:00", "resolved"), ("C3", None, "open")]


# --- 6. time zones ----------------------------------------------------------------------------------------------


def test_zone_per_mapping_column_and_row(engine: Engine, tmp_path: Path) -> None:
    mapping = {"kind": "tickets", "columns": {
        "No": "external_no", "Unit": "region",
        "Opened": {"field": "created_at", "zone_column": "TZ"},
        "Fixed": {"field": "resolved_at", "zone": "America/Chicago"}},
        "timestamps": {"zone": "Asia/Shanghai"}, "constants": TICKET_CONSTANTS}
    res = run(engine, tmp_path, "tickets", mapping,
              "No,Opened,TZ,Fixed,Unit\n"
              "Z1,2024-07-01 08:00,America/New_York,2024-07-01 08:00,A1S\n"  # EDT -4; CDT -5
              "Z2,2024-07-01 08:00,EST,2024-07-01 09:00,A1S\n"  # the abbreviation is a fixed -5
              "Z3,2024-07-01 08:00,+09:00,2024-07-01 09:00 UTC,A1S\n"  # a value with its own zone keeps it
              "Z4,2024-07-01 08:00,,2024-07-01 09:00,A1S\n"  # an empty zone cell: the mapping's zone
              "Z5,2024-07-01 08:00,Mars/Base,2024-07-01 09:00,A1S\n"
              "Z6,2024-07-01 08:00 CDT,Asia/Tokyo,2024-07-01 09:00,A1S\n"  # the value's own zone wins
              "Z7,2024-03-10 02:30,America/New_York,2024-03-10 09:00,A1S\n")  # does not exist (DST gap)
    assert (res.imported, res.rejected) == (5, 2)
    assert rejects(res) == [
        (6, "TZ", "Mars/Base", "unknown time zone (expected an IANA name like America/New_York, a US abbreviation "
                               "like EST/CDT, or an offset like +08:00)"),
        (8, "Opened", "2024-03-10 02:30", "creation time does not exist or is ambiguous at a daylight-saving "
                                          "change; give the offset"),
    ]
    assert rows(engine, "SELECT external_no, created_at, resolved_at FROM ticket WHERE external_no LIKE 'Z%' "
                        "ORDER BY 1") == [
        ("Z1", "2024-07-01 12:00:00", "2024-07-01 13:00:00"),
        ("Z2", "2024-07-01 13:00:00", "2024-07-01 14:00:00"),
        ("Z3", "2024-06-30 23:00:00", "2024-07-01 09:00:00"),
        ("Z4", "2024-07-01 00:00:00", "2024-07-01 14:00:00"),
        ("Z6", "2024-07-01 13:00:00", "2024-07-01 14:00:00"),
    ]
    assert "notes" not in res.summary("en")


def test_no_zone_anywhere_is_reported(engine: Engine, tmp_path: Path) -> None:
    mapping = {"kind": "tickets", "columns": {"No": "external_no", "Unit": "region", "Opened": "created_at",
                                              "Fixed": "resolved_at"}, "constants": TICKET_CONSTANTS}
    res = run(engine, tmp_path, "tickets", mapping,
              "No,Opened,Fixed,Unit\nN1,2024-07-01 08:00,2024-07-01 09:00 UTC,A1S\n")
    assert res.imported == 1
    assert rows(engine, "SELECT created_at, resolved_at FROM ticket WHERE external_no = 'N1'") == [
        ("2024-07-01 00:00:00", "2024-07-01 09:00:00")]
    # Only the column whose values had no zone of their own is named.
    assert res.summary("en")["notes"] == [
        "Time columns Opened: no time zone stated, read as Asia/Shanghai (set zone in the mapping if that is wrong)"]
    assert res.summary("zh-CN")["notes"] == ["时间列 Opened：未注明时区，按 Asia/Shanghai 解释（如不对，请在映射中设置 zone）"]


# --- 7. date order ----------------------------------------------------------------------------------------------


def _dated(rows_: list[tuple[str, str]]) -> str:
    return "No,Opened,Unit\n" + "".join(f"{no},{d},A1S\n" for no, d in rows_)


DATED = {"kind": "tickets", "columns": {"No": "external_no", "Unit": "region", "Opened": "created_at"},
         "timestamps": {"zone": "UTC"}, "constants": TICKET_CONSTANTS}


def test_the_column_proves_day_first(engine: Engine, tmp_path: Path) -> None:
    """05/04 alone is ambiguous; row 4's 13/04 proves day first for the whole column (one month, not twelve)."""
    res = run(engine, tmp_path, "tickets", DATED, _dated([("D1", "05/04/2024"), ("D2", "11/04/2024 8:30"),
                                                          ("D3", "13/04/2024"), ("D4", "04/04/2024")]))
    assert (res.imported, res.rejected) == (4, 0)
    assert rows(engine, "SELECT external_no, created_at FROM ticket WHERE external_no LIKE 'D%' ORDER BY 1") == [
        ("D1", "2024-04-05 00:00:00"), ("D2", "2024-04-11 08:30:00"), ("D3", "2024-04-13 00:00:00"),
        ("D4", "2024-04-04 00:00:00")]
    assert res.summary("zh-CN")["notes"] == ["日期列 Opened：按日/月/年解析 4 个日期：第 4 行 13/04/2024 只能是这种顺序"]
    assert res.summary("en")["notes"] == [
        "Date column Opened: 4 dates read as day/month/year: row 4: 13/04/2024 can only be read so"]


def test_month_first_proof_and_a_contradicting_row(engine: Engine, tmp_path: Path) -> None:
    res = run(engine, tmp_path, "tickets", DATED, _dated([("M1", "04/13/2024"), ("M2", "04/05/2024"),
                                                          ("M3", "04/20/2024"), ("M4", "14/04/2024")]))
    assert (res.imported, res.rejected) == (3, 1)
    assert rejects(res) == [(5, "Opened", "14/04/2024",
                             "creation time contradicts the column's date order: the column reads as month/day/year "
                             "(row 2: 04/13/2024 can only be read so), this value only the other way round")]
    assert rows(engine, "SELECT external_no, created_at FROM ticket WHERE external_no LIKE 'M%' ORDER BY 1") == [
        ("M1", "2024-04-13 00:00:00"), ("M2", "2024-04-05 00:00:00"), ("M3", "2024-04-20 00:00:00")]


def test_ambiguous_column_is_rejected_unless_the_mapping_states_the_order(engine: Engine, tmp_path: Path) -> None:
    data = _dated([("A1", "05/04/2024"), ("A2", "06/06/2024"), ("A3", "2024-04-07")])
    res = run(engine, tmp_path, "tickets", DATED, data)
    # 06/06 reads the same both ways; the ISO date is not ambiguous.
    assert (res.imported, res.rejected) == (2, 1)
    assert rejects(res) == [(2, "Opened", "05/04/2024",
                             "creation time reads as day/month and as month/day: no date in the column proves the "
                             "order (a part above 12) and the mapping states no date_order")]
    assert res.summary("en")["notes"] == [
        "Date column Opened: day and month order undecidable (e.g. row 2: 05/04/2024) and the mapping states no "
        "date_order: those rows are rejected",
        "Time column Opened (creation time) holds dates without a time of day: durations computed from it are whole "
        "days; if the time is in another column, combine them with date + time in the mapping's fields"]
    stated = {**DATED, "timestamps": {"zone": "UTC", "date_order": "month_first"}}
    res = run(engine, tmp_path, "tickets", stated, data)
    assert (res.imported, res.updated, res.unchanged, res.rejected) == (1, 0, 2, 0)
    assert rows(engine, "SELECT created_at FROM ticket WHERE external_no = 'A1'") == [("2024-05-04 00:00:00",)]
    assert res.summary("en")["notes"] == [
        "Date column Opened: the column does not prove its date order; 2 dates read as month/day/year as the mapping "
        "states",
        "Time column Opened (creation time) holds dates without a time of day: durations computed from it are whole "
        "days; if the time is in another column, combine them with date + time in the mapping's fields"]


def test_spreadsheet_dates_misread_in_the_other_order(engine: Engine, tmp_path: Path) -> None:
    """A day-first CSV opened in a month-first spreadsheet: 05/04/2024 became the date cell 4 May, 13/04/2024 (no
    13th month) stayed text. The text proves day first and every date cell has a day <= 12: the cells are read
    with day and month exchanged, and the summary says so."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["No", "Opened", "Unit"])
    ws.append(["S1", dt.datetime(2024, 5, 4), "A1S"])  # was 05/04/2024 = 5 April
    ws.append(["S2", "13/04/2024", "A1S"])
    ws.append(["S3", dt.datetime(2024, 12, 4, 9, 15), "A1S"])  # was 12/04/2024 09:15 = 12 April
    ws.append(["S4", "28/04/2024 10:00", "A1S"])
    buf = tmp_path / "s.xlsx"
    wb.save(buf)
    res = run(engine, tmp_path, "tickets", DATED, buf.read_bytes(), "s.xlsx")
    assert (res.imported, res.rejected) == (4, 0)
    assert rows(engine, "SELECT external_no, created_at FROM ticket WHERE external_no LIKE 'S%' ORDER BY 1") == [
        ("S1", "2024-04-05 00:00:00"), ("S2", "2024-04-13 00:00:00"), ("S3", "2024-04-12 09:15:00"),
        ("S4", "2024-04-28 10:00:00")]
    assert res.summary("en")["notes"] == [
        "Date column Opened: 2 dates read as day/month/year: row 3: 13/04/2024 can only be read so",
        "Date column Opened: 2 spreadsheet dates had day and month the other way round from the text dates (the "
        "spreadsheet read them in the other order); day and month exchanged to read them as day/month/year"]


def test_date_order_is_decided_over_the_whole_file(engine: Engine, tmp_path: Path) -> None:
    """Chunks of 2 rows: the proof sits in the last chunk and still decides the first one."""
    mp = tmp_path / "m.json"
    mp.write_text(json.dumps(DATED), encoding="utf-8")
    f = tmp_path / "f.csv"
    f.write_text(_dated([("W1", "01/02/2024"), ("W2", "03/02/2024"), ("W3", "04/02/2024"),
                         ("W4", "02/25/2024")]), encoding="utf-8")
    res = import_file(engine, "tickets", f, mp, chunk_rows=2)
    assert (res.imported, res.rejected) == (4, 0), res.rejects
    assert rows(engine, "SELECT external_no, created_at FROM ticket WHERE external_no LIKE 'W%' ORDER BY 1") == [
        ("W1", "2024-01-02 00:00:00"), ("W2", "2024-03-02 00:00:00"), ("W3", "2024-04-02 00:00:00"),
        ("W4", "2024-02-25 00:00:00")]


# --- 5, 4. N/A codes and units --------------------------------------------------------------------------------


CONTACTS = {"kind": "contacts", "timestamps": {"zone": "UTC"},
            "constants": {"channel": "hotline", "category": "repair"},
            "columns": {"Call": "external_no", "Unit": "region", "Queued": "queued_at",
                        "Talk (min)": {"field": "handle_seconds", "unit": "minutes", "na": [0, "N/A"]},
                        "Wait": {"field": "wait_seconds", "na": ["-"]},
                        "Answered": "answered", "In SLA": "sla_met"}}


def test_na_codes_units_wait_and_answered_flag(any_engine: Engine, tmp_path: Path) -> None:
    engine = any_engine
    res = run(engine, tmp_path, "contacts", CONTACTS,
              "Call,Queued,Talk (min),Wait,Answered,In SLA,Unit\n"
              "H1,2024-04-05 08:00:00,5,20,Y,Yes,A1S\n"  # 5 min = 300 s; answered 20 s after queueing
              "H2,2024-04-05 08:00:00,0,-,N,No,A1S\n"  # 0 and '-' are N/A: missing, never 0
              "H3,2024-04-05 08:00:00,N/A,0:45,Y,,A1S\n"  # a wait of 0:45 = 45 s
              "H4,2024-04-05 08:00:00,2.5,,Y,Yes,A1S\n"  # no wait given: no answer time
              "H5,2024-04-05 08:00:00,1:30:00,15,Y,No,A1S\n"  # an H:MM:SS duration is a duration
              "H6,2024-04-05 08:00:00,five,10,Y,Yes,A1S\n"
              "H7,2024-04-05 08:00:00,3,10,maybe,Yes,A1S\n")
    assert (res.imported, res.rejected) == (5, 2)
    assert rejects(res) == [
        (7, "Talk (min)", "five", "handle time (s) must be a number"),
        (8, "Answered", "maybe", "answered must be yes or no (allowed: yes, no, 是, 否, 1, 0)"),
    ]
    assert rows(engine, "SELECT external_no, handle_seconds, answered_at, abandoned, sla_met FROM contact "
                        "WHERE external_no LIKE 'H%' ORDER BY 1") == [
        ("H1", 300.0, "2024-04-05 08:00:20", 0, 1),
        ("H2", None, None, 1, 0),
        ("H3", None, "2024-04-05 08:00:45", 0, None),
        ("H4", 150.0, None, 0, 1),
        ("H5", 5400.0, "2024-04-05 08:00:15", 0, 0),
    ]


# --- 3. value maps and unknown values -------------------------------------------------------------------------


def _causes(policy: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "tickets", "timestamps": {"zone": "UTC"}, "constants": {"channel": "hotline"},
            "columns": {"No": "external_no", "Unit": "region", "Opened": "created_at", "Type": "service_type",
                        "Cause": "exception_reason"},
            "values": {"service_type": {"map": {"Outage": "repair", "Question": "inquiry"}, **policy}}}


CAUSES_CSV = ("No,Opened,Type,Cause,Unit\n"
              "V1,2024-04-05 08:00,Outage,,A1S\n"
              "V2,2024-04-05 08:00,Tree on line,,A1S\n"
              "V3,2024-04-05 08:00,complaint,,A1S\n"  # a GridCX code is always known
              "V4,2024-04-05 08:00,Squirrel,,A1S\n")


def test_unknown_values_rejected_naming_the_allowed_ones(engine: Engine, tmp_path: Path) -> None:
    res = run(engine, tmp_path, "tickets", _causes({}), CAUSES_CSV)
    assert (res.imported, res.rejected) == (2, 2)
    allowed = ("Outage, Question, billing, complaint, connection_hv, connection_hv_dual, connection_lv, "
               "connection_residential, inquiry, meter, payment, reconnection, repair")
    assert rejects(res) == [
        (3, "Type", "Tree on line", f"unknown service type (not a code or synonym); allowed: {allowed}"),
        (5, "Type", "Squirrel", f"unknown service type (not a code or synonym); allowed: {allowed}"),
    ]


def test_unknown_values_mapped_to_a_code_and_kept_as_text(any_engine: Engine, tmp_path: Path) -> None:
    engine = any_engine
    res = run(engine, tmp_path, "tickets", _causes({"unknown": "map", "to": "inquiry", "keep_in": "category_text"}),
              CAUSES_CSV)
    assert (res.imported, res.rejected) == (4, 0)
    assert rows(engine, "SELECT external_no, service_type, category_text FROM ticket WHERE external_no LIKE 'V%' "
                        "ORDER BY 1") == [("V1", "repair", None), ("V2", "inquiry", "Tree on line"),
                                          ("V3", "complaint", None), ("V4", "inquiry", "Squirrel")]
    assert res.summary("en")["notes"] == [
        "Column Type: 2 rows with unknown values recorded as inquiry by the mapping's rule (e.g. Tree on line, "
        "Squirrel)"]


def test_free_text_field_policies(engine: Engine, tmp_path: Path) -> None:
    """A free text field keeps unknown labels by default; 'reject' and 'map' are stated rules."""
    csv = ("No,Opened,Cause,Unit\n"
           "F1,2024-04-05 08:00,天气原因,A1S\n"
           "F2,2024-04-05 08:00,鸟害,A1S\n")
    base = {"kind": "tickets", "timestamps": {"zone": "UTC"}, "constants": TICKET_CONSTANTS,
            "columns": {"No": "external_no", "Unit": "region", "Opened": "created_at", "Cause": "exception_reason"}}
    res = run(engine, tmp_path, "tickets", {**base, "values": {"exception_reason": {"天气原因": "weather"}}}, csv)
    assert (res.imported, res.rejected) == (2, 0)
    assert rows(engine, "SELECT external_no, exception_reason FROM ticket WHERE external_no LIKE 'F%' "
                        "ORDER BY 1") == [("F1", "weather"), ("F2", "鸟害")]
    res = run(engine, tmp_path, "tickets", {**base, "values": {"exception_reason": {
        "map": {"天气原因": "weather"}, "unknown": "reject"}}}, csv)
    assert rejects(res, "zh-CN") == [(3, "Cause", "鸟害", "延时原因的取值无法识别（不在代码表或同义词中）；允许的取值：天气原因")]
    res = run(engine, tmp_path, "tickets", {**base, "values": {"exception_reason": {
        "map": {"天气原因": "weather"}, "unknown": "map", "to": "other"}}}, csv)
    assert (res.updated, res.rejected) == (1, 0)
    assert rows(engine, "SELECT exception_reason FROM ticket WHERE external_no = 'F2'") == [("other",)]


# --- 8. source flags --------------------------------------------------------------------------------------------


def test_source_sla_flag_is_stored(any_engine: Engine, tmp_path: Path) -> None:
    engine = any_engine
    mapping = {"kind": "tickets", "timestamps": {"zone": "UTC"}, "constants": TICKET_CONSTANTS,
               "columns": {"No": "external_no", "Unit": "region", "Opened": "created_at", "Timely?": "sla_met"}}
    res = run(engine, tmp_path, "tickets", mapping,
              "No,Opened,Timely?,Unit\nT1,2024-04-05 08:00,Yes,A1S\nT2,2024-04-05 08:00,No,A1S\n"
              "T3,2024-04-05 08:00,,A1S\nT4,2024-04-05 08:00,late,A1S\n")
    assert (res.imported, res.rejected) == (3, 1)
    assert rows(engine, "SELECT external_no, sla_met FROM ticket WHERE external_no LIKE 'T_' ORDER BY 1") == [
        ("T1", 1), ("T2", 0), ("T3", None)]


def test_cli_shows_the_notes(sqlite_url: str, engine: Engine, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    mp = tmp_path / "m.json"
    mp.write_text(json.dumps({**DATED, "timestamps": {}}), encoding="utf-8")
    f = tmp_path / "f.csv"
    f.write_text(_dated([("L1", "13/04/2024 09:00")]), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "data", "import", "tickets", str(f), "--mapping", str(mp),
                           "--lang", "zh-CN"], cwd=root, env={**os.environ, "DATABASE_URL": sqlite_url},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    notes = ["时间列 Opened：未注明时区，按 Asia/Shanghai 解释（如不对，请在映射中设置 zone）",
             "日期列 Opened：按日/月/年解析 1 个日期：第 2 行 13/04/2024 09:00 只能是这种顺序"]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["notes"] == notes
    assert [ln.removeprefix("note: ") for ln in proc.stderr.splitlines() if ln.startswith("note: ")] == notes
    assert rows(engine, "SELECT created_at FROM ticket WHERE external_no = 'L1'") == [("2024-04-13 01:00:00",)]
