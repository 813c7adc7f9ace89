"""Workbook bombs (security issue 18, item 6): a workbook whose one cell sits at XFD1048576 (calamine lays the sheet
out densely and asks for 512 GB: SIGABRT, the whole server with it) and a workbook inflating hundreds of times its
size are refused with a file-level error before any reader opens them, on the command line and on the upload
page; nothing is written. The upload page shows the uploaded file's name as text, never as Markdown."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dashboard.safe import md_escape
from data.engine import get_engine
from data.io import load_mapping, reading, xlsx_guard
from data.io.errors import FileError
from data.io.xlsx_guard import Limits, check_workbook
from data.models import AuditEvent, Ticket
from tests.app.helpers import login, open_page
from tests.data.import_helpers import TICKET_HEADER, ticket_csv, ticket_row

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
        '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
        'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
    "xl/workbook.xml": (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" xmlns:r="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships"><sheets><sheet name="工单" sheetId="1" r:id="rId1"/></sheets></workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'),
}
SHEET = "xl/worksheets/sheet1.xml"


def _inline(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


# A real ticket header in row 1, so that a reader without the guard goes on to read the sheet.
HEADER_ROW = '<row r="1">' + "".join(
    _inline(f"{chr(65 + i)}1", h) for i, h in enumerate(TICKET_HEADER.split(","))) + "</row>"


def _sheet(rows: str, dimension: str | None = None, prefix: str = "") -> bytes:
    p = f"{prefix}:" if prefix else ""
    xmlns = f'xmlns:{prefix}="{NS}"' if prefix else f'xmlns="{NS}"'
    dim = f'<{p}dimension ref="{dimension}"/>' if dimension else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><{p}worksheet {xmlns}>{dim}<{p}sheetData>{rows}'
            f"</{p}sheetData></{p}worksheet>").encode()


def _book(sheet: bytes, shared_strings: str | None = None) -> bytes:
    """A workbook written by hand: a few hundred bytes of XML, deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in _PARTS.items():
            if name == "xl/_rels/workbook.xml.rels" and shared_strings is not None:
                text = text.replace("</Relationships>", '<Relationship Id="rId2" Type="http://schemas.openxmlformats'
                                    '.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                                    "</Relationships>")
            zf.writestr(name, text)
        zf.writestr(SHEET, sheet)
        if shared_strings is not None:
            zf.writestr("xl/sharedStrings.xml", shared_strings)
    return buf.getvalue()


def corner_book(dimension: str | None = None) -> bytes:
    """The reported attack: one cell at XFD1048576 below a valid header (1.7 KB)."""
    return _book(_sheet(HEADER_ROW + '<row r="1048576">' + _inline("XFD1048576", "x") + "</row>", dimension))


def expanding_book(mb: int = 32) -> bytes:
    """The same ticket row repeated (cells written without r, as some writers do) until the sheet is ``mb`` MB."""
    row = "<row>" + "".join(f"<c t=\"inlineStr\"><is><t>{v}</t></is></c>"
                            for v in ticket_row("BOMB-1").split(",")) + "</row>"
    return _book(_sheet(HEADER_ROW + row * (mb * (1 << 20) // len(row))))


def _set_sizes(data: bytes, member: str, file_size: int, compress_size: int | None = None) -> bytes:
    """Rewrite what the central directory declares for ``member`` (the bytes themselves stay as they are)."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        n = struct.unpack("<H", out[at + 28:at + 30])[0]
        if out[at + 46:at + 46 + n] == member.encode():
            if compress_size is not None:
                out[at + 20:at + 24] = struct.pack("<I", compress_size)
            out[at + 24:at + 28] = struct.pack("<I", file_size)
            return bytes(out)
        at = out.find(b"PK\x01\x02", at + 4)
    raise AssertionError(member)


def _refused(path: Path, limits: Limits | None = None) -> FileError:
    with pytest.raises(FileError) as err:
        check_workbook(path, limits=limits)
    return err.value


def _count(url: str, model: type) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


# --- the command line -------------------------------------------------------------------------------------------


def _cli_import(url: str, path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url, "LANG": "C.UTF-8", "RUST_BACKTRACE": "0"}
    return subprocess.run([sys.executable, "-m", "data", "import", "tickets", str(path), "--lang", "en"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["corner_cell", "expanding"])
def test_cli_refuses_a_workbook_bomb_with_a_file_level_error(sqlite_url: str, tmp_path: Path, attack: str) -> None:
    path = tmp_path / f"{attack}.xlsx"
    path.write_bytes(corner_book() if attack == "corner_cell" else expanding_book())
    assert path.stat().st_size < (2048 if attack == "corner_cell" else 300_000)
    proc = _cli_import(sqlite_url, path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])  # negative: killed by a signal (SIGABRT)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and path.name in err[0], proc.stderr[-2000:]
    if attack == "corner_cell":
        assert summary["error"] == "xlsx_extent"
        assert "XFD1048576" in err[0] and "1,048,576 rows × 16,384 columns" in err[0]
    else:
        assert summary["error"] == "xlsx_ratio" and "MB" in err[0]
    assert _count(sqlite_url, Ticket) == 0


# --- the upload page --------------------------------------------------------------------------------------------


def _upload(name: str, data: bytes):  # type: ignore[no-untyped-def]
    at = open_page(login("admin"), "imports")
    at.selectbox(key="imp_kind").set_value("tickets")
    at.file_uploader(key="imp_file").set_value((name, data, "application/octet-stream"))
    next(b for b in at.button if b.proto.form_id == "import_form").click().run()
    assert not at.exception, at.exception
    return at


NAME = "**粗体** [点我](http://evil.example/x) <b>hi</b> :red[警告] $x$.csv"
RAW = ("**粗体**", "](http://evil", "<b>", ":red[", "$x$")


@pytest.mark.slow
@pytest.mark.parametrize("attack", ["corner_cell", "expanding"])
def test_upload_page_refuses_a_workbook_bomb(tiny_app_db: str, attack: str) -> None:
    """The server survives, shows one file-level error naming the file (as text: this name is full of Markdown) and
    writes nothing but the audit event."""
    before = (_count(tiny_app_db, Ticket), _count(tiny_app_db, AuditEvent))
    name = NAME.replace(".csv", ".xlsx") if attack == "corner_cell" else "expanding_95598.xlsx"
    at = _upload(name, corner_book() if attack == "corner_cell" else expanding_book())
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and md_escape(name) in errors[0], errors
    assert ("XFD1048576" in errors[0]) if attack == "corner_cell" else ("MB" in errors[0])
    assert not any(raw in errors[0] for raw in RAW)
    assert not at.metric and not at.success  # no summary figures: the file as a whole was refused
    assert _count(tiny_app_db, Ticket) == before[0]
    with get_engine(tiny_app_db).connect() as conn:  # only the refusal was written, as an audit event
        actions = conn.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars().all()[before[1]:]
    assert [a for a in actions if a.startswith("import")] == ["import_failed"], actions


def test_upload_success_message_shows_the_file_name_as_text(tiny_app_db: str) -> None:
    at = _upload(NAME, ticket_csv(ticket_row("NAME-1")).encode())
    shown = [s.value for s in at.success]
    assert len(shown) == 1 and md_escape(NAME) in shown[0], shown
    assert not any(raw in shown[0] for raw in RAW)


# --- the guard itself: where it looks, at the real limits -------------------------------------------------------


def test_guard_refuses_the_declared_dimension_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "declared.xlsx"
    path.write_bytes(_book(_sheet(HEADER_ROW, dimension="A1:XFD1048576")))  # declared only: refused all the same
    err = _refused(path)
    assert err.code == "xlsx_dimension"
    msg = err.message("en")
    assert "declared.xlsx" in msg and "A1:XFD1048576" in msg and "1,048,576 rows × 16,384 columns" in msg
    assert "67,108,864 cells (1,048,576 rows × 64 columns)" in msg
    assert "XFD1048576" in err.message("zh-CN") and "declared.xlsx" in err.message("zh-CN")


@pytest.mark.parametrize("dimension", [None, "A1:R2"])  # absent, or lying: the cells decide
def test_guard_finds_the_farthest_cell_whatever_the_dimension_says(tmp_path: Path, dimension: str | None) -> None:
    path = tmp_path / "corner.xlsx"
    path.write_bytes(corner_book(dimension))
    err = _refused(path)
    assert err.code == "xlsx_extent" and "XFD1048576" in err.message("en")


@pytest.mark.parametrize(("last", "ok"), [("BL", True), ("BM", False)])  # column 64 fits, 65 does not
def test_guard_limit_is_a_full_height_sheet_of_64_columns(tmp_path: Path, last: str, ok: bool) -> None:
    path = tmp_path / "edge.xlsx"
    path.write_bytes(_book(_sheet(HEADER_ROW + f'<row r="1048576">{_inline(f"{last}1048576", "x")}</row>')))
    if ok:
        check_workbook(path)
    else:
        assert _refused(path).code == "xlsx_extent"


@pytest.mark.parametrize("spelling", ["no_r", "prefixed", "r_not_first"])
def test_guard_places_cells_written_in_any_spelling(tmp_path: Path, spelling: str) -> None:
    if spelling == "no_r":  # 65 cells without r in row 1048576: the 65th column
        rows = '<row r="1048576">' + "<c><v>1</v></c>" * 65 + "</row>"
        book = _book(_sheet(HEADER_ROW + rows))
    elif spelling == "prefixed":  # x:c is the same element to a namespace-aware reader
        rows = '<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c></x:row><x:row r="1048576"><x:c r="XFD1048576">' \
               "<x:v>1</x:v></x:c></x:row>"
        book = _book(_sheet(rows, prefix="x"))
    else:
        book = _book(_sheet(HEADER_ROW + '<row r="1048576"><c t="n" r="XFD1048576"><v>1</v></c></row>'))
    path = tmp_path / f"{spelling}.xlsx"
    path.write_bytes(book)
    assert _refused(path).code == "xlsx_extent"


def test_guard_refuses_the_ratio_before_inflating_anything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "expanding.xlsx"
    path.write_bytes(expanding_book(8))

    def inflate(*_a: object) -> None:
        raise AssertionError("inflated")

    monkeypatch.setattr(xlsx_guard, "_inflate", inflate)
    err = _refused(path)
    assert err.code == "xlsx_ratio" and "expanding.xlsx" in err.message("en") and SHEET in err.message("en")


def test_guard_default_limits_on_the_reported_sizes(tmp_path: Path) -> None:
    """The reported 2.8 MB workbook expanding to 732 MB, and a 3 GB one compressed only 60-fold, as their central
    directories declare them: refused on those numbers alone (nothing is inflated: the data is a stub)."""
    small = _book(_sheet(HEADER_ROW))
    reported = tmp_path / "reported.xlsx"
    reported.write_bytes(_set_sizes(small, SHEET, 732 * (1 << 20), int(2.8 * (1 << 20))))
    err = _refused(reported)
    assert err.code == "xlsx_ratio" and err.params["mb"] == 732 and err.params["ratio"] == 261
    big = tmp_path / "big.xlsx"
    big.write_bytes(_set_sizes(small, SHEET, 3 * (1 << 30), 3 * (1 << 30) // 60))
    err = _refused(big)
    assert err.code == "xlsx_size" and "3072 MB" in err.message("en") and "2048 MB" in err.message("en")


def test_guard_refuses_a_member_that_expands_beyond_its_declared_size(tmp_path: Path) -> None:
    data = _book(_sheet(HEADER_ROW + "<row>" + "<c><v>1</v></c>" * 5000 + "</row>"))
    path = tmp_path / "liar.xlsx"
    path.write_bytes(_set_sizes(data, SHEET, 4096))  # the deflate stream holds ~75 KB
    assert _refused(path).code == "xlsx_lying"


def test_guard_refuses_a_forged_shared_string_count(tmp_path: Path) -> None:
    """calamine reserves room for every declared shared string: uniqueCount="4294967295" asks for 103 GB (SIGABRT)."""
    sst = f'<?xml version="1.0"?><sst xmlns="{NS}" count="1" uniqueCount="4294967295"><si><t>a</t></si></sst>'
    path = tmp_path / "strings.xlsx"
    path.write_bytes(_book(_sheet(HEADER_ROW + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'), sst))
    err = _refused(path)
    assert err.code == "xlsx_strings" and "4,294,967,295" in err.message("en") and "strings.xlsx" in err.message("en")
    many = sst.replace('count="1" uniqueCount="4294967295"', 'count="30000000" uniqueCount="1"')  # references: fine
    path.write_bytes(_book(_sheet(HEADER_ROW + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'), many))
    check_workbook(path)


def test_guard_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDCX_XLSX_MAX_CELLS", "1000")
    monkeypatch.setenv("GRIDCX_XLSX_MAX_MB", "5")
    monkeypatch.setenv("GRIDCX_XLSX_MAX_RATIO", "20")
    assert Limits.from_env() == Limits(max_cells=1000, max_mb=5, max_ratio=20)


def test_ordinary_workbooks_pass_and_are_read(tmp_path: Path) -> None:
    rows = HEADER_ROW + "".join(
        f'<row r="{r}">' + "".join(_inline(f"{chr(65 + i)}{r}", v) for i, v in enumerate(
            ticket_row(f"OK-{r}").split(","))) + "</row>" for r in range(2, 12))
    path = tmp_path / "ok.xlsx"
    path.write_bytes(_book(_sheet(rows, dimension="A1:R11")))
    check_workbook(path)
    src = reading.open_source(path, load_mapping("gridcx_tickets", "tickets"))
    assert sum(len(df) for df in reading.chunks(src)) == 10


def test_survey_results_reader_is_guarded(tmp_path: Path) -> None:
    from surveys.results import ResultsFileError, read_table

    path = tmp_path / "ivr.xlsx"
    path.write_bytes(corner_book())
    with pytest.raises(ResultsFileError, match="XFD1048576"):
        read_table(path)


def _zip(entries: dict[str, tuple[bytes, int]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, (data, method) in entries.items():
            zf.writestr(name, data, compress_type=method)
    return buf.getvalue()


@pytest.mark.parametrize("case", ["ods", "bzip2", "members"])
def test_guard_refuses_what_it_cannot_measure(tmp_path: Path, case: str) -> None:
    """An ODS package (calamine would lay it out densely too), a compression method the guard cannot inflate, and a
    workbook of too many parts."""
    parts = {name: (text.encode(), zipfile.ZIP_DEFLATED) for name, text in _PARTS.items()}
    parts[SHEET] = (_sheet(HEADER_ROW), zipfile.ZIP_DEFLATED)
    limits = None
    if case == "ods":
        parts["mimetype"] = (b"application/vnd.oasis.opendocument.spreadsheet", zipfile.ZIP_STORED)
    elif case == "bzip2":
        parts[SHEET] = (_sheet(HEADER_ROW), zipfile.ZIP_BZIP2)
    else:
        limits = Limits(max_members=len(parts) - 1)
    path = tmp_path / "book.xlsx"
    path.write_bytes(_zip(parts))
    assert _refused(path, limits).code == ("xlsx_members" if case == "members" else "not_xlsx")
