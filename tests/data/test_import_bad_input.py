"""Bad input: malformed files and rows, each with a clear message and an unchanged database.

One database per backend for the whole module (the cases never write business rows), so ~60 cases stay fast.
File-level problems: exit code 2, the message's catalogue code, nothing written but an ``import_failed`` audit
event. Row-level problems: exit code 1, the reason's code and column in the rejects, nothing written.
"""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from openpyxl import Workbook

from data.engine import dispose_all, get_engine
from data.io import import_file
from data.schema import upgrade
from tests.conftest import drop_pg_schema, new_pg_schema
from tests.data.import_helpers import TICKET_HEADER, snapshot, ticket_csv, ticket_row
from tests.factories import build_tiny_world

GOOD = ticket_row("OK-1")


def _xlsx(rows: list[list[object]], sheet: str = "工单") -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip_not_xlsx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    return buf.getvalue()


_rng = random.Random(7)
GOOD_XLSX = _xlsx([TICKET_HEADER.split(","), GOOD.split(",")])

# name -> (file bytes, kind, mapping or None, expected code)
FILE_CASES: dict[str, tuple[bytes, str, object, str]] = {
    "empty": (b"", "tickets", None, "empty"),
    "whitespace_only": (b"  \r\n\r\n \t\n", "tickets", None, "empty"),
    "bom_only": (b"\xef\xbb\xbf", "tickets", None, "empty"),
    "header_only": ((TICKET_HEADER + "\n").encode(), "tickets", None, "no_rows"),
    "header_only_blank_lines": ((TICKET_HEADER + "\n\n\n").encode(), "tickets", None, "no_rows"),
    "binary_nul": (bytes(_rng.randrange(256) for _ in range(5000)) + b"\x00" * 10, "tickets", None, "binary"),
    "png": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(100), "tickets", None, "binary"),
    "old_xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "tickets", None, "xls_unsupported"),
    "zip_not_xlsx": (_zip_not_xlsx(), "tickets", None, "not_xlsx"),
    "truncated_xlsx": (GOOD_XLSX[: len(GOOD_XLSX) // 2], "tickets", None, "not_xlsx"),
    "xlsx_wrong_sheet": (GOOD_XLSX, "tickets", "sheet:Sheet9", "sheet_missing"),
    "xlsx_no_header": (_xlsx([["a", "b"], [1, 2]]), "tickets", None, "no_header"),
    "wrong_delimiter_colon": (ticket_csv(GOOD).replace(",", ":").encode(), "tickets", None, "no_header"),
    "required_column_missing": (b"external_no,region_code,channel,service_type\nX,A1S,app,billing\n", "tickets",
                                None, "columns_missing"),
    "unrelated_csv": (b"name,age\nbob,3\n", "tickets", None, "no_header"),
    "html_error_page": (b"<html><body><h1>502 Bad Gateway</h1></body></html>\n", "tickets", None, "no_header"),
    "json_file": (json.dumps([{"external_no": "X"}]).encode(), "tickets", None, "no_header"),
    "truncated_in_quote": ((TICKET_HEADER + "\n" + GOOD + '\n"OK-2,2026-10-05 09:00').encode(), "tickets", None,
                           "unclosed_quote"),
    "truncated_mid_character": (ticket_csv(ticket_row("工单1")).encode()[:-1] + "工".encode()[:2], "tickets",
                                None, "truncated_char"),
    "mixed_utf8_then_gbk": ((ticket_csv(ticket_row("甲-1")).encode("utf-8")
                             + ticket_row("乙-2").encode("gbk") + b"\n"), "tickets", None, "mixed_encoding"),
    "mixed_gbk_then_utf8": ((ticket_csv(ticket_row("甲-1")).encode("gbk")
                             + ticket_row("乙-2").encode("utf-8") + b"\n"), "tickets", None, "mixed_encoding"),
    "mapping_for_other_kind": (ticket_csv(GOOD).encode(), "tickets", "gridcx_contacts", "mapping_kind"),
    "mapping_missing": (ticket_csv(GOOD).encode(), "tickets", "no_such_mapping", "mapping_missing"),
    "mapping_broken_json": (ticket_csv(GOOD).encode(), "tickets", "file:{not json", "mapping_invalid"),
    "mapping_unknown_field": (ticket_csv(GOOD).encode(), "tickets",
                              'file:{"kind": "tickets", "columns": {"a": "no_such_field"}}', "mapping_invalid"),
    "mapping_default_region_missing": (ticket_csv(GOOD).encode(), "tickets",
                                       'file:{"kind": "tickets", "columns": {"external_no": "external_no", '
                                       '"created_at": "created_at", "channel": "channel", "service_type": '
                                       '"service_type"}, "regions": {"unknown": "default", "default": "NOPE"}}',
                                       "region_config"),
    "unknown_kind": (ticket_csv(GOOD).encode(), "invoices", None, "kind_unknown"),
}


def _bad_row(row: str, code: str, column: str) -> tuple[bytes, str, object, str, str]:
    return ticket_csv(row).encode(), "tickets", None, code, column


TEN_MB = "X" * (10 * 1024 * 1024)

# name -> (file bytes, kind, mapping, reason code, column)
ROW_CASES: dict[str, tuple[bytes, str, object, str, str]] = {
    "created_missing": _bad_row(ticket_row("R1", created=""), "required", "created_at"),
    "created_garbage": _bad_row(ticket_row("R1", created="yesterday"), "bad_datetime", "created_at"),
    "month_13": _bad_row(ticket_row("R1", created="2026-13-01 10:00:00"), "bad_datetime", "created_at"),
    "february_30": _bad_row(ticket_row("R1", created="2026-02-30 10:00:00"), "bad_datetime", "created_at"),
    "year_1900": _bad_row(ticket_row("R1", created="1900-01-01 10:00:00", resolved=""), "implausible_date",
                          "created_at"),
    "resolution_before_creation": _bad_row(ticket_row("R1", resolved="2026-10-05 08:59:59"), "order",
                                           "resolved_at"),
    "arrival_before_creation": _bad_row(ticket_row("R1", arrived_at="2026-10-04 09:00:00"), "order",
                                        "arrived_at"),
    "closed_before_resolved": _bad_row(ticket_row("R1", closed_at="2026-10-05 10:00:00"), "order", "closed_at"),
    "unknown_channel": _bad_row(ticket_row("R1", channel="carrier pigeon"), "unknown_value", "channel"),
    "unknown_service_type": _bad_row(ticket_row("R1", service="teleportation"), "unknown_value", "service_type"),
    "unknown_status": _bad_row(ticket_row("R1", status="frobbed"), "unknown_value", "status"),
    "unknown_region": _bad_row(ticket_row("R1", region="NOWHERE"), "unknown_region", "region_code"),
    "region_missing": _bad_row(ticket_row("R1", region=""), "required", "region_code"),
    "formula_as_region": _bad_row(ticket_row("R1", region='=HYPERLINK("http://evil.example","A1S")'),
                                  "unknown_region", "region_code"),
    "external_no_too_long": _bad_row(ticket_row("R" * 65), "too_long", "external_no"),
    "ten_mb_external_no": _bad_row(ticket_row(TEN_MB), "too_long", "external_no"),
    "ten_mb_exception_reason": _bad_row(ticket_row("R1", exception_reason=TEN_MB), "too_long",
                                        "exception_reason"),
    "reopen_not_a_number": _bad_row(ticket_row("R1", reopen_count="abc"), "not_int", "reopen_count"),
    "reopen_negative": _bad_row(ticket_row("R1", reopen_count="-1"), "out_of_range", "reopen_count"),
    "reopen_fraction": _bad_row(ticket_row("R1", reopen_count="1.5"), "not_int", "reopen_count"),
    "substantiated_maybe": _bad_row(ticket_row("R1", substantiated="maybe"), "not_bool", "substantiated"),
    "replacement_character": _bad_row(ticket_row("R1", exception_reason="bad\ufffdbytes"), "bad_chars",
                                      "exception_reason"),
    "unknown_customer": _bad_row(ticket_row("R1", customer_no="999999"), "unknown_customer", "customer_no"),
    "unknown_staff": _bad_row(ticket_row("R1", staff_code="S-404"), "unknown_staff", "staff_code"),
    "too_many_fields": (ticket_csv(ticket_row("R1") + ",extra,fields").encode(), "tickets", None, "extra_fields",
                        "*"),
    "too_few_fields_truncated_line": ((TICKET_HEADER + "\nR1,2026-10-05 09:00:00,,").encode(), "tickets", None,
                                      "extra_fields", "*"),
    "duplicate_of_rejected_row": (ticket_csv(ticket_row("D1", channel="fax"), ticket_row("D1")).encode(),
                                  "tickets", None, "duplicate", "external_no"),
    "dst_gap_new_york": (ticket_csv(ticket_row("R1", created="2026-03-08 02:30:00", resolved="")).encode(),
                         "tickets", 'file:{"kind": "tickets", "columns": {"external_no": "external_no", '
                         '"created_at": "created_at", "region_code": "region", "channel": "channel", '
                         '"service_type": "service_type"}, "timestamps": {"zone": "America/New_York"}}',
                         "dst_gap", "created_at"),
    "contact_answer_before_queue": (
        b"external_no,queued_at,answered_at,region_code,channel,category\n"
        b"C1,2026-10-05 09:00:00,2026-10-05 08:00:00,A1S,hotline,billing\n", "contacts", None, "order",
        "answered_at"),
    "contact_negative_handle_time": (
        b"external_no,queued_at,handle_seconds,region_code,channel,category\n"
        b"C1,2026-10-05 09:00:00,-5,A1S,hotline,billing\n", "contacts", None, "out_of_range", "handle_seconds"),
    "response_csat_6": (b"external_no,submitted_at,region_code,channel,survey_key,survey_version,csat\n"
                        b"S1,2026-10-05 09:00:00,A1S,sms,repair,1,6\n", "responses", None, "out_of_range", "csat"),
    "response_nps_11": (b"external_no,submitted_at,region_code,channel,survey_key,survey_version,nps\n"
                        b"S1,2026-10-05 09:00:00,A1S,sms,repair,1,11\n", "responses", None, "out_of_range", "nps"),
    "response_empty": (b"external_no,submitted_at,region_code,channel,survey_key,survey_version,csat,comment\n"
                       b"S1,2026-10-05 09:00:00,A1S,sms,repair,1,,\n", "responses", None, "empty_response", "*"),
    "response_unknown_channel": (b"external_no,submitted_at,region_code,channel,survey_key,survey_version,csat\n"
                                 b"S1,2026-10-05 09:00:00,A1S,pager,repair,1,5\n", "responses", None,
                                 "unknown_value", "channel"),
    "ivr_key_star": ("呼叫流水号,工单编号,按键,回访时间\nCALL-1,T7-1,*,2026-10-06 10:00:00\n".encode(), "responses",
                     "ivr_keypress", "not_int", "按键"),
    "ivr_key_9": ("呼叫流水号,工单编号,按键,回访时间\nCALL-1,T7-1,9,2026-10-06 10:00:00\n".encode(), "responses",
                  "ivr_keypress", "out_of_range", "按键"),
    "ivr_unknown_ticket": ("呼叫流水号,工单编号,按键,回访时间\nCALL-1,T-NONE,1,2026-10-06 10:00:00\n".encode(),
                           "responses", "ivr_keypress", "unknown_ticket", "工单编号"),
    "sms_reply_gibberish": ("短信流水号,工单编号,回复内容,回复时间\nSMS-1,T7-1,好的谢谢,2026-10-06 10:00:00\n"
                            .encode("gbk"), "responses", "sms_reply", "not_int", "回复内容"),
    "gbk_95598_unknown_unit": (("工单编号,受理时间,业务类型,受理渠道,供电单位\n"
                                "G1,2026/10/05 09:00:00,故障报修,95598,不存在的供电所\n").encode("gbk"),
                               "tickets", "sgcc_95598_tickets", "unknown_region", "供电单位"),
    "gbk_95598_bad_time": (("工单编号,受理时间,业务类型,受理渠道,供电单位\n"
                            "G1,2026年13月45日,故障报修,95598,A1S\n").encode("gbk"), "tickets",
                           "sgcc_95598_tickets", "bad_datetime", "受理时间"),
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def bad_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('bad') / 'gridcx.db'}"
    else:
        url = new_pg_schema("bad")
    engine = get_engine(url)
    upgrade(engine)
    build_tiny_world(engine)
    yield url
    if request.param == "postgres":
        drop_pg_schema(url)
    else:
        dispose_all()


def _mapping(spec: object, tmp_path: Path) -> object:
    if isinstance(spec, str) and spec.startswith("file:"):
        p = tmp_path / "mapping.json"
        p.write_text(spec[5:], encoding="utf-8")
        return p
    if isinstance(spec, str) and spec.startswith("sheet:"):
        return None
    return spec


def test_case_counts() -> None:
    assert len(FILE_CASES) + len(ROW_CASES) >= 50


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_file_level_error_writes_nothing(name: str, bad_db: str, tmp_path: Path) -> None:
    data, kind, mapping, code = FILE_CASES[name]
    engine = get_engine(bad_db)
    path = tmp_path / ("input.xlsx" if data.startswith(b"PK") else "input.csv")
    path.write_bytes(data)
    before = snapshot(engine)
    sheet = mapping[6:] if isinstance(mapping, str) and mapping.startswith("sheet:") else None
    res = import_file(engine, kind, path, _mapping(mapping, tmp_path), sheet=sheet, user="bad",
                      rejects_path=tmp_path / "rejects.csv")
    assert res.error is not None, res.summary()
    assert res.error.code == code, res.error.message("en")
    assert res.exit_code == 2
    for lang in ("zh-CN", "en"):
        msg = res.error.message(lang)
        assert msg and not re.search(r"\{[a-z_]+\}", msg) and "import.error" not in msg
    assert snapshot(engine) == before
    assert not (tmp_path / "rejects.csv").exists()
    summary = res.summary()
    assert (summary["imported"], summary["updated"], summary["unchanged"], summary["rejected"]) == (0, 0, 0, 0)


@pytest.mark.parametrize("name", sorted(ROW_CASES))
def test_bad_row_is_rejected_with_reason(name: str, bad_db: str, tmp_path: Path) -> None:
    from data.i18n import translate

    data, kind, mapping, code, column = ROW_CASES[name]
    engine = get_engine(bad_db)
    path = tmp_path / "input.csv"
    path.write_bytes(data)
    before = snapshot(engine)
    res = import_file(engine, kind, path, _mapping(mapping, tmp_path), user="bad",
                      rejects_path=tmp_path / "rejects.csv")
    assert res.error is None, res.error.message("en")
    assert res.exit_code == 1 and res.imported == 0 and res.updated == 0, res.summary()
    errors = res.rejects[res.rejects["level"] == "error"]
    hit = errors[errors["column"] == column]
    assert len(hit), errors.to_dict("records")
    expected_start = translate(f"import.reason.{code}", "en").split("{")[0][:12]
    assert any(expected_start in r or code in ("order",) for r in hit["reason_en"]), hit["reason_en"].tolist()
    texts = errors["reason_en"].tolist() + errors["reason_zh"].tolist()
    assert all("import." not in r and not re.search(r"\{[a-z_]+\}", r) for r in texts)
    assert all(len(str(v)) < 300 for v in res.rejects["value"])  # a 10 MB cell is cut in the report
    assert snapshot(engine) == before
    assert (tmp_path / "rejects.csv").exists()
