"""The wizard's first look at an unmapped file (data/io/profile.py): encoding, header row below a banner, column
types and samples, and the mapping JSON built from the admin's choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.io.mapping import Parts, parse, zone_ok
from data.io.profile import (
    ZONES,
    FieldChoice,
    ambiguous_columns,
    build,
    find_header,
    guess_type,
    profile,
    suggest,
    time_fields,
)


@pytest.mark.parametrize("values, expected", [
    (["2026-10-05 08:00:00", "2026/10/06 09:30", "2026年10月7日"], "date"),
    (["20261005", "20261106"], "date"),
    (["08:30", "17:05:09"], "time"),
    (["12", "3.5", "1,200", "-4"], "number"),
    (["0012345678", "0012345679"], "code"),  # leading zeros: an account number, not a quantity
    (["13800000000", "13911112222"], "code"),  # phone numbers
    (["GD-001", "GD-002", "A1S"], "code"),
    (["故障报修", "电费咨询"], "text"),
    (["", "  "], "text"),
    (["2026-10-05", "2026-10-06", "2026-10-07", "2026-10-08", "2026-10-09", "2026-10-10", "2026-10-11",
      "2026-10-12", "2026-10-13", "N/A"], "date"),  # 9 of 10 fit
    (["2026-10-05", "2026-10-06", "N/A", "-"], "text"),
])
def test_guess_type(values: list[str], expected: str) -> None:
    assert guess_type(values) == expected


def test_header_is_found_below_banner_lines() -> None:
    rows = [["某县供电公司 工单导出"], ["导出时间：2026-11-01"], ["单号", "受理时间", "单位"],
            ["W1", "2026-10-05 08:00", "甲一营业厅"], ["W2", "2026-10-06 08:00", "甲二供电所"]]
    assert find_header(rows) == 2


def test_profile_of_a_gbk_csv_with_a_banner(tmp_path: Path) -> None:
    text = ("国网某县供电公司95598工单导出（2026年10月）\n"
            "工单编号,受理时间,供电单位,客户编号,满意度,备注\n"
            "GD-001,2026-10-05 08:00:00,甲一营业厅,0012345678,5,客户很满意\n"
            "GD-002,2026-10-06 09:00:00,甲二供电所,0012345679,4,\n"
            "GD-003,2026-10-07 10:00:00,甲一营业厅,0012345680,3,回访未接通\n")
    path = tmp_path / "export.csv"
    path.write_bytes(text.encode("gbk"))
    p = profile(path)
    assert (p.format, p.encoding, p.delimiter, p.header_row, p.rows_read) == ("csv", "gb18030", ",", 2, 3)
    assert [(c.name, c.type) for c in p.columns] == [
        ("工单编号", "code"), ("受理时间", "date"), ("供电单位", "text"), ("客户编号", "code"), ("满意度", "number"),
        ("备注", "text")]
    assert p.columns[2].samples == ["甲一营业厅", "甲二供电所"] and p.columns[5].filled == 2


def test_profile_of_a_workbook_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "说明"
    ws.append(["这一页没有数据"])
    ws2 = wb.create_sheet("工单")
    ws2.append(["报表：10月工单"])
    ws2.append([])
    ws2.append(["单号", "时长(秒)", "时间"])
    ws2.append(["W1", 120, "08:30"])
    ws2.append(["W2", 95.5, "09:10"])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    p = profile(path, sheet="工单")
    assert (p.format, p.sheet, p.sheets, p.header_row, p.rows_read) == ("xlsx", "工单", ["说明", "工单"], 3, 2)
    assert [(c.name, c.type, c.samples) for c in p.columns] == [
        ("单号", "code", ["W1", "W2"]), ("时长(秒)", "number", ["120", "95.5"]), ("时间", "time", ["08:30", "09:10"])]


def test_suggestions_and_the_built_mapping_parse() -> None:
    headers = ["工单编号", "受理时间", "供电单位", "受理渠道", "业务类型", "说明"]
    s = suggest(headers, "tickets")
    assert s == {"external_no": "工单编号", "created_at": "受理时间", "region": "供电单位", "channel": "受理渠道",
                 "service_type": "业务类型"}
    raw = build("tickets", {**s, "resolved_at": None, "exception_reason": "说明", "staff": "说明"},
                regions={"unknown": "create", "parent": "A1", "default": ""}, timezone="Asia/Shanghai")
    assert raw == {"kind": "tickets",
                   "columns": {"工单编号": "external_no", "受理时间": "created_at", "供电单位": "region",
                               "受理渠道": "channel", "业务类型": "service_type",
                               "说明": ["exception_reason", "staff"]},
                   "regions": {"unknown": "create", "parent": "A1"}, "timestamps": {"zone": "Asia/Shanghai"}}
    m = parse(raw, path="wizard", kind="tickets")
    assert m.columns["说明"] == ("exception_reason", "staff") and m.policy("regions")["parent"] == "A1"


def test_built_fields_from_two_and_several_columns_with_zone_and_date_order() -> None:
    raw = build("tickets", {
        "external_no": "Ticket",
        "created_at": FieldChoice("Date", how="date_time", time="Time", zone="America/Chicago",
                                  date_order="day_first"),
        "resolved_at": FieldChoice("Fixed", how="coalesce", more=["Closed", "Fixed", ""]),
        "closed_at": FieldChoice("Closed", how="date_time"),  # no time column chosen yet: the plain column
        "arrived_at": FieldChoice("Onsite", zone="UTC"),  # one column with a zone of its own
        "channel": FieldChoice("Via", zone="UTC", date_order="day_first"),  # not a time field: no time options
        "region": FieldChoice(None, how="coalesce", more=["Unit"]),  # no first column: not in the file
    })
    assert raw == {"kind": "tickets",
                   "columns": {"Ticket": "external_no", "Closed": "closed_at", "Via": "channel"},
                   "fields": [
                       {"field": "created_at", "date": "Date", "time": "Time", "zone": "America/Chicago",
                        "date_order": "day_first"},
                       {"field": "resolved_at", "coalesce": ["Fixed", "Closed"]},
                       {"field": "arrived_at", "column": "Onsite", "zone": "UTC"}]}
    m = parse(raw, path="wizard", kind="tickets")
    assert m.parts["created_at"] == Parts("Date", "Time")
    assert (m.opts("Date").zone, m.opts("Date").date_order, m.opts("Time").zone) == (
        "America/Chicago", "day_first", "America/Chicago")
    assert m.columns["Fixed"] == ("resolved_at",) and m.columns["Closed"] == ("closed_at", "resolved_at")
    assert m.zone_stated and m.required_missing(["Ticket", "Date", "Via"]) == ["region", "service_type", "Time"]
    # the site zone: no zone stated anywhere
    assert not parse(build("tickets", {"created_at": FieldChoice("Date", how="date_time", time="Time")}),
                     kind="tickets").zone_stated


def test_time_fields_and_ambiguous_columns() -> None:
    assert time_fields("tickets") == ["created_at", "first_response_at", "arrived_at", "resolved_at", "closed_at"]
    notes = [{"code": "zone_assumed", "params": {"column": "A, B", "n": 0, "zone": "UTC"}},
             {"code": "date_order_ambiguous", "params": {"column": "B", "n": 0, "row": 3, "example": "01/02/2026"}}]
    assert ambiguous_columns(notes) == ["B"]
    assert "Asia/Shanghai" in ZONES and all(zone_ok(z) for z in ZONES)
