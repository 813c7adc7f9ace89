"""Reading service-log files: encoding detection, CSV and XLSX in chunks, the header row found below banners.

Every value comes out as text (``str``) or missing (NaN), so validation sees exactly what the file holds.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from data.io.errors import FileError
from data.io.mapping import Mapping
from data.io.xlsx_guard import check_workbook

CHUNK_ROWS = 200_000
SAMPLE_BYTES = 256 * 1024
HEADER_SEARCH_ROWS = 30
BLOCK_BYTES = 32 << 20  # the largest row the CSV reader accepts
DELIMITERS = (",", "\t", ";", "|")
ROW = "__row"
EXTRA = "__extra"


@dataclass
class Source:
    path: Path
    name: str
    sha256: str
    size: int
    format: str  # csv | xlsx
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    header_row: int = 1  # 1-based line (CSV) or sheet row (XLSX) of the header
    lines_before_data: int = 1
    headers: list[str] = field(default_factory=list)


def open_source(path: str | Path, mapping: Mapping, sheet: str | None = None, name: str | None = None) -> Source:
    """Inspect ``path``: hash, format, encoding, delimiter, header row. Raises :class:`FileError`."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(SAMPLE_BYTES)
    except OSError as exc:
        raise FileError("unreadable", detail=exc.strerror or str(exc)) from None
    src = Source(path=path, name=name or path.name, sha256="", size=size, format="csv")
    if size == 0 or not head.strip(b" \r\n\t\xef\xbb\xbf"):
        src.sha256 = _sha256(path)
        raise FileError("empty")
    if head.startswith(b"PK\x03\x04"):
        src.format = "xlsx"
        src.sha256 = _sha256(path)
        _open_xlsx(src, mapping, sheet or mapping.sheet)
        return src
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileError("xls_unsupported")
    src.encoding, src.sha256 = _detect_encoding(path, head, mapping.encoding)
    text = head.decode(src.encoding, errors="replace")
    if len(head) < size:  # drop the partial last line of the sample
        text = text[: text.rfind("\n") + 1] or text
    _find_csv_header(src, text, mapping)
    return src


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _line_of(path: Path, offset: int) -> int:
    with open(path, "rb") as fh:
        return fh.read(offset).count(b"\n") + 1


def _detect_encoding(path: Path, head: bytes, pinned: str | None) -> tuple[str, str]:
    """UTF-8 (with or without BOM), else GB18030 (a superset of GBK/GB2312), else charset-normalizer's guess.

    The whole file is decoded once while hashing it, so a file that changes encoding halfway is refused with the
    line where it happens rather than imported as mojibake.
    """
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    elif b"\x00" in head[:4096]:
        raise FileError("binary")
    else:
        candidates = ["utf-8-sig"] if head.startswith(b"\xef\xbb\xbf") else ["utf-8", "gb18030"]
    if pinned:
        candidates = [pinned]
    fail: dict[str, tuple[int, bool, str]] = {}
    quotes, last_quote = 0, -1
    digest = ""
    size = 0
    ok: str | None = None
    for n, enc in enumerate(candidates):
        h = hashlib.sha256() if n == 0 else None
        dec = codecs.getincrementaldecoder(enc)()
        offset = 0
        failed = False
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(8 << 20), b""):
                if h is not None:
                    h.update(block)
                    q = block.count(b'"')
                    if q:
                        quotes += q
                        last_quote = offset + block.rfind(b'"')
                if not failed:
                    try:
                        dec.decode(block)
                    except UnicodeDecodeError as exc:
                        fail[enc] = (offset + exc.start, True, exc.reason)
                        failed = True
                        if h is None:
                            break
                offset += len(block)
        if not failed:
            try:
                dec.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                fail[enc] = (offset - 1, True, exc.reason)
                failed = True
        if h is not None:
            digest, size = h.hexdigest(), offset
        if not failed:
            ok = enc
            break
        if enc.startswith("utf-8") and not pinned:
            at, _seen, why = fail[enc]
            if at >= size - 4 and "end of data" in why:
                raise FileError("truncated_char")
            with open(path, "rb") as fh:
                before = fh.read(at)
            # Valid UTF-8 lines, then something else. Only whole lines count: a GBK line can open with bytes that
            # happen to be valid UTF-8 (某 is C4 B3, also UTF-8 for "ĳ").
            if re.search(rb"[\x80-\xff]", before[: before.rfind(b"\n") + 1]):
                raise FileError("mixed_encoding", line=_line_of(path, at))
    if ok is not None:
        if ok == "gb18030":
            _check_not_mixed(path)
        if quotes % 2:
            raise FileError("unclosed_quote", row=_line_of(path, last_quote))
        return ok, digest
    if "gb18030" in fail:
        _check_not_mixed(path)
    at = fail[candidates[0]][0]
    if pinned:
        raise FileError("encoding_wrong", encoding=pinned, line=_line_of(path, at))
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(head).best()
    except Exception:  # noqa: BLE001 - the guesser must never crash an import
        best = None
    if best is not None and best.encoding in _GUESSABLE:
        enc = best.encoding
        try:
            with open(path, "rb") as fh:
                codecs.decode(fh.read(), enc)
            return enc, digest
        except (UnicodeDecodeError, LookupError):
            pass
    raise FileError("encoding_unknown")


_GUESSABLE = {"big5", "big5hkscs", "cp950", "utf_16", "utf_16_le", "utf_16_be", "utf_32"}


def _check_not_mixed(path: Path) -> None:
    """In a GBK/GB18030 file, a line that is valid multi-byte UTF-8 means the file mixes encodings."""
    with open(path, "rb") as fh:
        lineno = 0
        for raw in fh:
            lineno += 1
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            raise FileError("mixed_encoding", line=lineno)


def _find_csv_header(src: Source, text: str, mapping: Mapping) -> None:
    csv.field_size_limit(1 << 30)
    delims = (mapping.delimiter,) if mapping.delimiter else DELIMITERS
    best: tuple[int, str, list[str], int, int] | None = None  # matches, delim, header, record idx, lines consumed
    for d in delims:
        reader = csv.reader(io.StringIO(text), delimiter=d)
        try:
            for idx, rec in enumerate(reader):
                if idx >= HEADER_SEARCH_ROWS:
                    break
                n = mapping.match_count(rec)
                if n and (best is None or n > best[0]):
                    best = (n, d, rec, idx, reader.line_num)
        except csv.Error:
            continue
    if best is None:
        first = text.lstrip("\ufeff").splitlines()[0][:120] if text.strip() else ""
        raise FileError("no_header", expected=", ".join(list(mapping.columns)[:6]), first_line=first)
    _n, src.delimiter, header, idx, consumed = best
    src.header_row = consumed
    src.lines_before_data = consumed
    src.headers = _dedupe([h.replace("\ufeff", "").strip() for h in header])
    missing = mapping.required_missing(src.headers)
    if missing:
        raise FileError("columns_missing", columns=", ".join(missing), row=src.header_row)


def _dedupe(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(headers):
        h = h or f"column_{i + 1}"
        if h in seen:
            seen[h] += 1
            h = f"{h} ({seen[h]})"
        else:
            seen[h] = 1
        out.append(h)
    return out


def chunks(src: Source, chunk_rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The data rows in chunks: the file's columns as text (NaN when empty), ``__row`` (the row number a user
    sees: header row + record index) and ``__extra`` (surplus fields, when a row has more than the header)."""
    if src.format == "xlsx":
        yield from _xlsx_chunks(src, chunk_rows)
        return
    yield from _csv_chunks(src)


def _csv_chunks(src: Source) -> Iterator[pd.DataFrame]:
    """Stream the CSV with Arrow's reader (multi-threaded, zero-copy strings). Rows whose field count differs
    from the header are not parsed but handed back as rows with ``__extra`` set, so they are rejected one by one."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    n = len(src.headers)
    names = [f"c{i}" for i in range(n)]
    invalid: dict[int, tuple[int, str]] = {}

    def on_invalid(row: object) -> str:
        num = getattr(row, "number", None)
        text = str(getattr(row, "text", ""))
        if num is None:  # Arrow does not always know the row number: find the line that holds this text
            num = _line_with(src, text, set(invalid))
        invalid[int(num)] = (int(getattr(row, "actual_columns", 0)), text[:1000])
        return "skip"

    enc = src.encoding or "utf-8"
    reader_enc = "utf8" if enc.replace("-", "").replace("_", "").lower() in ("utf8", "utf8sig") else enc
    try:
        reader = pacsv.open_csv(
            src.path,
            read_options=pacsv.ReadOptions(skip_rows=src.lines_before_data, column_names=names,
                                           block_size=BLOCK_BYTES, encoding=reader_enc, use_threads=True),
            parse_options=pacsv.ParseOptions(delimiter=src.delimiter or ",", quote_char='"', double_quote=True,
                                             newlines_in_values=True, ignore_empty_lines=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names}, null_values=[""],
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise _arrow_error(str(exc), src) from None
    next_no = src.lines_before_data + 1  # Arrow's record number (the header's lines included)
    offset = src.header_row - src.lines_before_data
    done: set[int] = set()
    mapper = {pa.string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise _arrow_error(str(exc), src) from None
        m = batch.num_rows
        if not invalid or all(k in done for k in invalid):
            numbers = np.arange(next_no, next_no + m)
            next_no += m
        else:
            nums: list[int] = []
            while len(nums) < m:
                if next_no in invalid:
                    done.add(next_no)
                else:
                    nums.append(next_no)
                next_no += 1
            numbers = np.asarray(nums)
        df = batch.to_pandas(types_mapper=mapper)
        df.columns = src.headers
        df[ROW] = numbers + offset
        df[EXTRA] = pd.Series(pd.NA, index=df.index, dtype=object)
        yield df
    rest = sorted(k for k in invalid if k not in done or k >= next_no)
    if rest:
        bad = pd.DataFrame([[np.nan] * n for _ in rest], columns=src.headers)
        bad[ROW] = [k + offset for k in rest]
        bad[EXTRA] = [str(invalid[k][0]) for k in rest]
        bad = bad.astype({h: "str" for h in src.headers})
        bad["__text"] = [invalid[k][1] for k in rest]
        yield bad


def _line_with(src: Source, text: str, taken: set[int]) -> int:
    """The 1-based line number of the first line (after the header) equal to ``text`` and not yet taken."""
    with open(src.path, encoding=src.encoding or "utf-8", errors="replace", newline="") as fh:
        for i, line in enumerate(fh, start=1):
            if i > src.lines_before_data and i not in taken and line.rstrip("\r\n") == text.rstrip("\r\n"):
                return i
    return max(taken, default=src.lines_before_data) + 1


def _arrow_error(msg: str, src: Source) -> FileError:
    if "straddling" in msg or "block size" in msg:
        return FileError("cell_too_big", mb=BLOCK_BYTES >> 20)
    if "decode" in msg.lower() or "utf" in msg.lower():
        return FileError("encoding_unknown")
    m = re.search(r"Row #(\d+)", msg)
    if "quote" in msg.lower() or "end of file" in msg.lower() or "EOF" in msg:
        return FileError("unclosed_quote", row=int(m.group(1)) if m else src.header_row + 1)
    return FileError("parse", detail=msg.splitlines()[0][:200])


# --- XLSX -------------------------------------------------------------------------------------------------------


def _workbook(path: Path, name: str | None = None):  # type: ignore[no-untyped-def]
    """The workbook, read by calamine (Rust; several times faster than openpyxl and never runs formulas: a formula
    cell reads as the value the spreadsheet last computed for it) once :func:`check_workbook` has measured it:
    calamine builds each sheet as a dense grid from A1 to its farthest cell, so an unchecked workbook can make it
    ask for hundreds of gigabytes and abort the whole process."""
    from python_calamine import CalamineWorkbook

    check_workbook(path, name)
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            return CalamineWorkbook.from_path(str(path))
        with open(path, "rb") as fh:  # another name (.csv, .ods, none): the content decides, as checked
            return CalamineWorkbook.from_filelike(fh)
    except Exception as exc:  # noqa: BLE001 - calamine raises zip, XML and its own errors for a damaged workbook
        raise FileError("not_xlsx", detail=type(exc).__name__) from None


def _sheet_rows(wb, name: str, nrows: int | None = None) -> list[list[object]]:  # type: ignore[no-untyped-def]
    """The sheet's rows from A1 (row i of the list is sheet row i + 1); empty cells are ``""``."""
    try:
        return wb.get_sheet_by_name(name).to_python(skip_empty_area=False, nrows=nrows)
    except Exception as exc:  # noqa: BLE001 - a damaged sheet
        raise FileError("not_xlsx", detail=type(exc).__name__) from None


def xlsx_head(path: Path, sheet: str | None = None) -> list[list[str]]:
    """The first ``HEADER_SEARCH_ROWS`` rows of a sheet (default: the first) as text, for mapping detection."""
    wb = _workbook(path)
    try:
        names = wb.sheet_names
        if not names or (sheet is not None and sheet not in names):
            return []
        rows = _sheet_rows(wb, sheet or names[0], HEADER_SEARCH_ROWS)
    finally:
        wb.close()
    return [[_text(v) for v in r] for r in rows]


def _text(v: object) -> str:
    c = _cell(v)
    return c if isinstance(c, str) else ""


def _cell(v: object) -> object:
    if v is None:
        return float("nan")
    if isinstance(v, str):
        return v if v.strip() else float("nan")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    return str(v)


def _open_xlsx(src: Source, mapping: Mapping, sheet: str | None) -> None:
    wb = _workbook(src.path, src.name)
    try:
        names = list(wb.sheet_names)
        if sheet is not None and sheet not in names:
            raise FileError("sheet_missing", sheet=sheet, sheets=", ".join(names))
        if not names:
            raise FileError("not_xlsx", detail="no sheets")
        src.sheet = sheet or names[0]
        best: tuple[int, int, list[str]] | None = None
        for i, row in enumerate(_sheet_rows(wb, src.sheet, HEADER_SEARCH_ROWS), start=1):
            rec = [_text(v) for v in row]
            n = mapping.match_count(rec)
            if n and (best is None or n > best[0]):
                best = (n, i, rec)
    finally:
        wb.close()
    if best is None:
        raise FileError("no_header", expected=", ".join(list(mapping.columns)[:6]), first_line=f"[{src.sheet}]")
    _n, src.header_row, header = best
    while header and not header[-1].strip():
        header.pop()
    src.headers = _dedupe([h.strip() for h in header])
    src.lines_before_data = src.header_row
    missing = mapping.required_missing(src.headers)
    if missing:
        raise FileError("columns_missing", columns=", ".join(missing), row=src.header_row)


def _xlsx_chunks(src: Source, chunk_rows: int) -> Iterator[pd.DataFrame]:
    wb = _workbook(src.path, src.name)
    try:
        assert src.sheet is not None
        sheet_rows = _sheet_rows(wb, src.sheet)
    finally:
        wb.close()
    n = len(src.headers)
    buf: list[list[object]] = []
    rows: list[int] = []
    extra: list[object] = []
    for i in range(src.header_row, len(sheet_rows)):
        vals = [_cell(v) for v in sheet_rows[i]]
        sheet_rows[i] = []  # free the source row as we go
        if not any(isinstance(v, str) for v in vals):
            continue  # blank row
        surplus = sum(1 for v in vals[n:] if isinstance(v, str))
        vals = (vals + [float("nan")] * n)[:n]
        buf.append(vals)
        rows.append(i + 1)
        extra.append(str(surplus) if surplus else pd.NA)
        if len(buf) >= chunk_rows:
            yield _xlsx_frame(buf, rows, extra, src.headers)
            buf, rows, extra = [], [], []
    if buf:
        yield _xlsx_frame(buf, rows, extra, src.headers)


def _xlsx_frame(buf: list[list[object]], rows: list[int], extra: list[object], headers: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(buf, columns=headers, dtype=object)
    df[ROW] = rows
    df[EXTRA] = pd.Series(extra, dtype=object)
    return df
