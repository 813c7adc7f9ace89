"""A first look at a file nobody has mapped yet (the admin mapping wizard): encoding, sheet, header row, and each
column with sample values and a guessed type; plus the small helpers that turn the admin's choices into the mapping
JSON :func:`data.io.mapping.parse` reads.

No mapping is needed: the header is found by shape (the first row as wide as the rows below it whose cells are
labels rather than values). Only the head of the file is read (``reading.SAMPLE_BYTES``, or ``SAMPLE_ROWS`` rows of
a sheet); the dry run then reads the whole file through the importer with the mapping built here.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.io import reading
from data.io.errors import FileError
from data.io.mapping import CANONICAL, MAPPINGS_DIR, key, load, shipped
from data.io.spec import SPECS

SAMPLE_ROWS = 200
SAMPLES_SHOWN = 5
TYPES = ("date", "time", "number", "code", "text")
SHARE = 0.9  # this share of a column's non-empty samples must fit a type

_DATE = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?(?:[ T]\d{1,2}[:时]\d{1,2}(?:[:分]\d{1,2}(?:\.\d+)?秒?)?)?"
                   r"(?:\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}))?|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?"
                   r"|\d{14}|\d{8}")
_TIME = re.compile(r"\d{1,2}[:时]\d{2}(?:[:分]\d{2}(?:\.\d+)?秒?)?")
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?|[+-]?\.\d+")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-/.:#]*")


@dataclass
class ColumnProfile:
    name: str
    type: str  # date | time | number | code | text
    samples: list[str]
    filled: int  # non-empty cells among the rows read
    distinct: int


@dataclass
class FileProfile:
    format: str  # csv | xlsx
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    sheets: list[str]
    header_row: int  # 1-based line (CSV) or sheet row (XLSX)
    rows_read: int
    columns: list[ColumnProfile] = field(default_factory=list)

    @property
    def headers(self) -> list[str]:
        return [c.name for c in self.columns]


def guess_type(values: list[str]) -> str:
    """The type most of the non-empty ``values`` have: ``date`` (a date, with or without a time of day), ``time``
    (a time of day alone), ``number``, ``code`` (identifiers: account and work-order numbers, phone numbers, numbers
    with leading zeros) or ``text``."""
    vals = [v.strip() for v in values if v is not None and str(v).strip()]
    if not vals:
        return "text"

    def share(pred: Any) -> float:
        return sum(1 for v in vals if pred(v)) / len(vals)

    if share(lambda v: _DATE.fullmatch(v) and not (v.isdigit() and not _plausible_compact_date(v))) >= SHARE:
        return "date"
    if share(_TIME.fullmatch) >= SHARE:
        return "time"
    if share(_NUMBER.fullmatch) >= SHARE:
        digits = [v for v in vals if v.isdigit()]
        if digits and (any(len(v) > 1 and v.startswith("0") for v in digits)
                       or (len(digits) == len(vals) and min(len(v) for v in digits) >= 8)):
            return "code"  # leading zeros or long digit strings: numbers nobody adds up
        return "number"
    if share(lambda v: _CODE.fullmatch(v) and any(c.isdigit() for c in v) and len(v) <= 40) >= SHARE:
        return "code"
    return "text"


def _plausible_compact_date(v: str) -> bool:
    """``20261005`` or ``20261005083000``: a year 1970-2100 and a valid month and day."""
    if len(v) not in (8, 14):
        return False
    y, m, d = int(v[:4]), int(v[4:6]), int(v[6:8])
    return 1970 <= y <= 2100 and 1 <= m <= 12 and 1 <= d <= 31


def _cell_kind(v: str) -> str:
    return "empty" if not v.strip() else guess_type([v])


def find_header(rows: list[list[str]]) -> int:
    """The index of the header among ``rows`` (the head of a file): the first row at least as wide as most rows
    below it, with two or more non-empty cells, whose cells are labels (text) rather than dates, numbers or codes,
    and which is followed by a row. Falls back to the first row of the most common width."""
    widths = [sum(1 for c in r if str(c).strip()) for r in rows]
    if not widths:
        raise FileError("empty")
    common = Counter(w for w in widths if w > 1).most_common(1)
    width = common[0][0] if common else max(widths)
    for i, r in enumerate(rows):
        if widths[i] < max(2, width) or i == len(rows) - 1 and len(rows) > 1:
            continue
        cells = [str(c) for c in r if str(c).strip()]
        if sum(1 for c in cells if _cell_kind(c) == "text") / len(cells) >= 0.6:
            return i
    return next((i for i, w in enumerate(widths) if w == width), 0)


def profile(path: str | Path, sheet: str | None = None, sample_rows: int = SAMPLE_ROWS) -> FileProfile:
    """Encoding, delimiter or sheet, header row and column profiles of the file's head. Raises :class:`FileError`
    for what the importer would refuse as a whole (empty, binary, mixed or unknown encoding, a damaged workbook)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(reading.SAMPLE_BYTES)
    except OSError as exc:
        raise FileError("unreadable", detail=exc.strerror or str(exc)) from None
    if size == 0 or not head.strip(b" \r\n\t\xef\xbb\xbf"):
        raise FileError("empty")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise FileError("xls_unsupported")
    if head.startswith(b"PK\x03\x04"):
        return _profile_xlsx(path, sheet, sample_rows)
    encoding, _sha = reading._detect_encoding(path, head, None)  # the importer's own detection  # noqa: SLF001
    text = head.decode(encoding, errors="replace")
    if len(head) < size:
        text = text[: text.rfind("\n") + 1] or text
    delimiter, rows, ends = _csv_rows(text.lstrip("\ufeff"), reading.HEADER_SEARCH_ROWS + sample_rows)
    h = find_header(rows[: reading.HEADER_SEARCH_ROWS])
    return _build("csv", encoding, delimiter, None, [], ends[h], rows[h], rows[h + 1:])


def _csv_rows(text: str, limit: int) -> tuple[str, list[list[str]], list[int]]:
    """The delimiter whose rows have the most consistent width (more than one column), the rows and each row's last
    line number."""
    csv.field_size_limit(1 << 30)
    best: tuple[float, str, list[list[str]], list[int]] | None = None
    for d in reading.DELIMITERS:
        reader = csv.reader(io.StringIO(text), delimiter=d)
        rows: list[list[str]] = []
        ends: list[int] = []
        try:
            for r in reader:
                if not any(c.strip() for c in r):
                    continue
                rows.append(r)
                ends.append(reader.line_num)
                if len(rows) >= limit:
                    break
        except csv.Error:
            continue
        widths = Counter(len(r) for r in rows)
        width, n = widths.most_common(1)[0] if widths else (0, 0)
        score = n + width / 1000 if width > 1 else 0.0
        if best is None or score > best[0]:
            best = (score, d, rows, ends)
    if best is None or not best[2]:
        raise FileError("empty")
    return best[1], best[2], best[3]


def _profile_xlsx(path: Path, sheet: str | None, sample_rows: int) -> FileProfile:
    wb = reading._workbook(path)  # noqa: SLF001 - measured first (workbook bombs)
    try:
        names = list(wb.sheet_names)
        if not names:
            raise FileError("not_xlsx", detail="no sheets")
        if sheet is not None and sheet not in names:
            raise FileError("sheet_missing", sheet=sheet, sheets=", ".join(names))
        sheet = sheet or names[0]
        raw = reading._sheet_rows(wb, sheet, reading.HEADER_SEARCH_ROWS + sample_rows)  # noqa: SLF001
    finally:
        wb.close()
    rows = [[reading._text(v) for v in r] for r in raw]  # noqa: SLF001
    kept = [(i, r) for i, r in enumerate(rows, start=1) if any(c.strip() for c in r)]
    if not kept:
        raise FileError("no_header", expected="", first_line=f"[{sheet}]")
    h = find_header([r for _i, r in kept[: reading.HEADER_SEARCH_ROWS]])
    return _build("xlsx", None, None, sheet, names, kept[h][0], kept[h][1], [r for _i, r in kept[h + 1:]])


def _build(fmt: str, encoding: str | None, delimiter: str | None, sheet: str | None, sheets: list[str],
           header_row: int, header: list[str], data: list[list[str]]) -> FileProfile:
    header = list(header)
    while header and not str(header[-1]).strip():
        header.pop()
    names = reading._dedupe([str(h).replace("\ufeff", "").strip() for h in header])  # noqa: SLF001
    cols = []
    for j, name in enumerate(names):
        values = [str(r[j]).strip() for r in data if j < len(r) and str(r[j]).strip()]
        seen: list[str] = []
        for v in values:
            if v not in seen:
                seen.append(v)
            if len(seen) >= SAMPLES_SHOWN:
                break
        cols.append(ColumnProfile(name, guess_type(values), seen, len(values), len(set(values))))
    return FileProfile(fmt, encoding, delimiter, sheet, sheets, header_row, len(data), cols)


# --- building a mapping ------------------------------------------------------------------------------------------


def fields(kind: str) -> list[tuple[str, bool, str]]:
    """The kind's fields a file can carry: (name, required, type), required ones first."""
    spec = SPECS[kind]
    out = [(f.name, f.required and f.name not in ("status", "survey_version"), f.type) for f in spec.fields]
    return sorted(out, key=lambda x: not x[1])


def suggest(headers: list[str], kind: str) -> dict[str, str]:
    """field -> the header that feeds it in a shipped mapping of ``kind`` (their column synonyms) or that is the
    field's own name; the first header found wins and a header is suggested once."""
    keys = {key(h): h for h in headers}
    out: dict[str, str] = {}
    used: set[str] = set()
    names = [CANONICAL[kind], *[n for n in shipped(kind) if n != CANONICAL[kind]]]
    for name in names:
        m = load(MAPPINGS_DIR / f"{name}.json", kind)
        for src, targets in m.columns.items():
            h = keys.get(key(src))
            if h is None or h in used:
                continue
            for f in targets:
                if f not in out:
                    out[f] = h
                    used.add(h)
                    break
    return out


#: Zones offered for a time field (besides the site's reporting zone, which a mapping without a zone gets).
ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Tokyo", "Asia/Singapore", "UTC", "Europe/London",
         "Europe/Berlin", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
HOWS = ("column", "date_time", "coalesce")  # one column | date + time in two columns | first non-empty of several
DATE_ORDERS = ("day_first", "month_first")


@dataclass
class FieldChoice:
    """How the wizard fills one field. ``column``: the file's column (None: not in the file); with ``how`` =
    ``date_time`` it holds the date and ``time`` the time of day; with ``coalesce`` it is tried first, then
    ``more`` in order. ``zone`` (None: the site's reporting zone, assumed and reported) and ``date_order`` (None:
    not stated) are for time fields only."""

    column: str | None = None
    how: str = "column"
    time: str | None = None
    more: list[str] = field(default_factory=list)
    zone: str | None = None
    date_order: str | None = None

    def headers(self) -> list[str]:
        """The source columns this choice reads, in order."""
        if not self.column:
            return []
        if self.how == "date_time":
            return [self.column, *([self.time] if self.time else [])]
        if self.how == "coalesce":
            return list(dict.fromkeys([self.column, *(h for h in self.more if h)]))
        return [self.column]


def time_fields(kind: str) -> list[str]:
    """The kind's time fields (those a date + time pair, a zone and a date order apply to)."""
    return [name for name, _req, typ in fields(kind) if typ == "datetime"]


def ambiguous_columns(notes: list[dict[str, Any]]) -> list[str]:
    """The source columns an import's notes (``ImportResult.notes``) report as of undecidable day/month order."""
    return [str(n["params"]["column"]) for n in notes if n["code"] == "date_order_ambiguous"]


def _entry(kind: str, name: str, c: FieldChoice) -> dict[str, Any] | None:
    """The ``fields`` entry of a choice that needs one (two columns, several columns or reading options); None for
    a plain column."""
    opts: dict[str, Any] = {}
    if SPECS[kind].by_name[name].type == "datetime":
        opts = {k: v for k, v in (("zone", c.zone), ("date_order", c.date_order)) if v}
    hs = c.headers()
    if c.how == "date_time" and len(hs) == 2:
        return {"field": name, "date": hs[0], "time": hs[1], **opts}
    if c.how == "coalesce" and len(hs) > 1:
        return {"field": name, "coalesce": hs, **opts}
    return {"field": name, "column": hs[0], **opts} if opts else None


def build(kind: str, columns: dict[str, str | FieldChoice | None], regions: dict[str, Any] | None = None,
          timezone: str | None = None) -> dict[str, Any]:
    """The mapping JSON of the wizard's choices: ``columns`` field -> source header (None: not in the file) or a
    :class:`FieldChoice`. A header chosen plainly for several fields feeds them all (``columns``); a field from a
    date and a time column, from the first non-empty of several columns, or with a zone or date order of its own
    becomes a ``fields`` entry. A date + time choice without its time column yet is a plain column."""
    by_header: dict[str, list[str]] = {}
    entries: list[dict[str, Any]] = []
    for f, c in columns.items():
        choice = c if isinstance(c, FieldChoice) else FieldChoice(column=c)
        if not choice.column:
            continue
        entry = _entry(kind, f, choice)
        if entry is None:
            by_header.setdefault(choice.column, []).append(f)
        else:
            entries.append(entry)
    out: dict[str, Any] = {"kind": kind,
                           "columns": {h: fs[0] if len(fs) == 1 else fs for h, fs in by_header.items()}}
    if entries:
        out["fields"] = entries
    if regions:
        out["regions"] = {k: v for k, v in regions.items() if v not in (None, "")}
    if timezone:
        out["timestamps"] = {"zone": timezone}
    return out
