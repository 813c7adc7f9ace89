"""A workbook is measured before any spreadsheet reader opens it.

A spreadsheet reader trusts the file: calamine lays a sheet out as a dense grid from A1 to its farthest cell
(one 1.7 KB workbook with a single cell at XFD1048576 asks for 512 GB and aborts the process), and a zip member
that inflates 250-fold fills memory before the reader sees a row. :func:`check_workbook` therefore opens the
workbook as a zip and refuses it with a :class:`FileError` (nothing read, nothing written) when

* it is not an Excel 2007+ workbook (``xl/workbook.xml`` missing, ODS or XLSB parts, encrypted members, or a
  compression method other than stored / deflate, which the check could not measure);
* the central directory declares more uncompressed bytes than ``max_mb`` in total, or a member larger than
  ``ratio_grace_mb`` inflates more than ``max_ratio`` times its compressed size (both before inflating anything);
* a sheet's ``<dimension ref>`` declares more than ``max_cells`` cells (rows × columns from A1);
* and, because a header can lie, while every member is inflated here in bounded chunks: a member yielding more
  bytes than it declared, the cells actually present (their ``r`` references, or their positions where a
  writer left ``r`` out) reaching farther than ``max_cells``, or a shared-string table declaring more strings
  (``uniqueCount``, which calamine reserves up front) than its size can hold.

The default ``max_cells`` is 1,048,576 rows × 64 columns, an Excel sheet's full height at more than twice the
widest shipped mapping (25 columns): the product's largest import is a 1 M-row file (PERFORMANCE.md). Every limit
can be changed through the environment (``GRIDCX_XLSX_MAX_CELLS``, ``GRIDCX_XLSX_MAX_MB``,
``GRIDCX_XLSX_MAX_RATIO``).
"""

from __future__ import annotations

import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from data.io.errors import FileError

EXCEL_ROWS = 1_048_576
LIMIT_COLUMNS = 64
MB = 1 << 20
_READ = 1 << 20  # compressed bytes read at a time
_OUT = 8 << 20  # inflated bytes produced at a time


@dataclass(frozen=True)
class Limits:
    max_cells: int = EXCEL_ROWS * LIMIT_COLUMNS
    max_mb: int = 2048  # all members together, uncompressed
    max_ratio: int = 100  # uncompressed : compressed, per member (Apache POI's default zip-bomb ratio)
    ratio_grace_mb: int = 1  # below this a member may compress as well as it likes
    max_members: int = 10_000

    @classmethod
    def from_env(cls) -> Limits:
        def num(var: str, default: int) -> int:
            raw = os.environ.get(var, "").strip()
            try:
                return int(raw) if raw else default
            except ValueError:
                return default

        d = cls()
        return cls(max_cells=num("GRIDCX_XLSX_MAX_CELLS", d.max_cells), max_mb=num("GRIDCX_XLSX_MAX_MB", d.max_mb),
                   max_ratio=num("GRIDCX_XLSX_MAX_RATIO", d.max_ratio))

    def shape(self) -> tuple[int, int]:
        """The limit as rows × columns of a full-height sheet (for the message)."""
        return EXCEL_ROWS, max(1, self.max_cells // EXCEL_ROWS)


def check_workbook(path: str | Path, name: str | None = None, limits: Limits | None = None) -> None:
    """Refuse ``path`` with a :class:`FileError` when reading it could exhaust memory (see the module doc).

    A file that passed is remembered by path, size and modification time, so the several opens of one import
    measure it once."""
    path = Path(path)
    limits = limits or Limits.from_env()
    try:
        st = path.stat()
    except OSError as exc:
        raise FileError("unreadable", detail=exc.strerror or str(exc)) from None
    try:
        _checked(str(path), st.st_size, st.st_mtime_ns, limits)
    except FileError as exc:
        if "file" not in exc.params:
            raise
        raise FileError(exc.code, **{**exc.params, "file": name or path.name}) from None


@lru_cache(maxsize=16)
def _checked(path: str, _size: int, _mtime_ns: int, limits: Limits) -> bool:
    name = Path(path).name
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            _check_directory(infos, name, limits)
            with open(path, "rb") as fp:
                _check_contents(fp, infos, name, limits)
    except FileError:
        raise
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise FileError("not_xlsx", detail=type(exc).__name__) from None
    return True


def _mb(n: int) -> int:
    return round(n / MB)


def _check_directory(infos: list[zipfile.ZipInfo], name: str, limits: Limits) -> None:
    """Everything the central directory says, before a byte is inflated."""
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names or names & {"mimetype", "content.xml", "xl/workbook.bin"}:
        raise FileError("not_xlsx", detail="not an Excel 2007+ workbook")
    if len(infos) > limits.max_members:
        raise FileError("xlsx_members", file=name, n=len(infos), limit=limits.max_members)
    total = 0
    for i in infos:
        if i.flag_bits & 0x1:
            raise FileError("not_xlsx", detail=f"{i.filename}: encrypted")
        if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise FileError("not_xlsx", detail=f"{i.filename}: compression method {i.compress_type}")
        total += max(i.file_size, i.compress_size if i.compress_type == zipfile.ZIP_STORED else 0)
        if i.file_size > limits.ratio_grace_mb * MB and i.file_size > limits.max_ratio * max(i.compress_size, 1):
            raise FileError("xlsx_ratio", file=name, member=i.filename, mb=_mb(i.file_size),
                            compressed_kb=-(-i.compress_size // 1024), ratio=i.file_size // max(i.compress_size, 1),
                            limit=limits.max_ratio)
    if total > limits.max_mb * MB:
        raise FileError("xlsx_size", file=name, mb=_mb(total), limit=limits.max_mb)


def _check_contents(fp: BinaryIO, infos: list[zipfile.ZipInfo], name: str, limits: Limits) -> None:
    """Inflate every member in bounded chunks: no member may yield more than it declared, and no part may place
    cells farther than the limit. Every member is looked at, not just ``xl/worksheets/``: the workbook's
    relationships decide which part is a sheet."""
    for info in infos:
        if info.file_size == 0 and info.compress_size == 0:
            continue
        extent = _Extent()
        for chunk in _inflate(fp, info, name):
            extent.feed(chunk)
            _refuse_extent(extent, info, name, limits)
        if extent.slow_needed:  # some cell without a plain r="A1": place every cell exactly
            extent = _Extent(exact=True)
            for chunk in _inflate(fp, info, name):
                extent.feed(chunk)
                _refuse_extent(extent, info, name, limits)
        extent.finish()
        _refuse_extent(extent, info, name, limits)


def _refuse_extent(extent: _Extent, info: zipfile.ZipInfo, name: str, limits: Limits) -> None:
    lim_rows, lim_cols = limits.shape()
    member = info.filename
    if extent.strings is not None:  # calamine reserves room for every declared shared string up front
        most = min(limits.max_cells, info.file_size // 5 + 1)  # "<si/>": the shortest string entry
        if extent.strings > most:
            raise FileError("xlsx_strings", file=name, member=member, n=f"{extent.strings:,}", limit=f"{most:,}")
    if extent.declared is not None:
        ref, rows, cols = extent.declared
        if rows * cols > limits.max_cells:
            raise FileError("xlsx_dimension", file=name, member=member, ref=ref, rows=f"{rows:,}", cols=f"{cols:,}",
                            limit=f"{limits.max_cells:,}", limit_rows=f"{lim_rows:,}", limit_cols=f"{lim_cols:,}")
    if extent.rows * extent.cols > limits.max_cells:
        raise FileError("xlsx_extent", file=name, member=member, ref=f"{_letters(extent.cols)}{extent.rows}",
                        rows=f"{extent.rows:,}", cols=f"{extent.cols:,}", limit=f"{limits.max_cells:,}",
                        limit_rows=f"{lim_rows:,}", limit_cols=f"{lim_cols:,}")


def _inflate(fp: BinaryIO, info: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    """The member's bytes as a reader would get them: its compressed data (located like every zip reader does,
    after the local header) inflated here, at most ``_OUT`` bytes at a time, stopping as soon as it yields more than
    the central directory declared."""
    fp.seek(info.header_offset)
    head = fp.read(30)
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise FileError("not_xlsx", detail=f"{info.filename}: bad local header")
    n_name, n_extra = struct.unpack("<HH", head[26:30])
    fp.seek(info.header_offset + 30 + n_name + n_extra)
    raw = _raw(fp, info.compress_size)
    seen = 0
    for out in raw if info.compress_type == zipfile.ZIP_STORED else _deflated(raw):
        seen += len(out)
        if seen > info.file_size:
            raise FileError("xlsx_lying", file=name, member=info.filename, mb=_mb(info.file_size))
        yield out


def _raw(fp: BinaryIO, left: int) -> Iterator[bytes]:
    while left > 0:
        block = fp.read(min(_READ, left))
        if not block:
            return
        left -= len(block)
        yield block


def _deflated(blocks: Iterator[bytes]) -> Iterator[bytes]:
    d = zlib.decompressobj(-15)
    for block in blocks:
        data = block
        while data and not d.eof:
            out = d.decompress(data, _OUT)
            data = d.unconsumed_tail
            if out:
                yield out
        if d.eof:
            return
    while not d.eof:  # output still held back by the size cap
        out = d.decompress(b"", _OUT)
        if not out:
            break
        yield out
    rest = d.flush()
    if rest:
        yield rest


# Cells written the usual way: <c r="B7" ...>, found with one pattern per cell. When the part holds a cell tag in
# any other spelling (a namespace prefix, other whitespace, no r or r not first), it is scanned again exactly.
_PLAIN_REF = re.compile(rb'<c r="([A-Z]{1,7}[0-9]{1,12})"')
_ANY_CELL = re.compile(rb"<c[\s/>]")
_PREFIXED_CELL = re.compile(rb"<[A-Za-z_][\w.-]*:c[\s/>]")
_UPPER = bytes(range(65, 91))
_DIGITS = b"0123456789"
_TAG = re.compile(rb"<(/?)(?:[A-Za-z_][\w.-]*:)?(row|c|dimension)(?=[\s/>])([^>]*)>")
_R_ATTR = re.compile(rb"""(?:^|\s)r\s*=\s*["']([A-Za-z]{0,7})([0-9]{0,12})["']""")
_DIM = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?dimension\s[^>]*?\bref\s*=\s*["']([^"']{1,40})["']""")
_REF = re.compile(r"\$?([A-Za-z]{1,7})\$?([0-9]{1,12})")
_SST = re.compile(rb"""<(?:[A-Za-z_][\w.-]*:)?sst\s[^>]*?\buniqueCount\s*=\s*["']\s*([0-9]{1,30})""")


def _column(letters: bytes | str) -> int:
    n = 0
    for ch in letters.upper() if isinstance(letters, str) else letters.decode("ascii").upper():
        n = n * 26 + ord(ch) - 64
    return n


def _letters(col: int) -> str:
    out = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out or "A"


def _max_number(digits: list[bytes]) -> int:
    longest = len(max(digits, key=len))
    if len(min(digits, key=len)) == longest:  # equal lengths: the text order is the numeric order
        return int(max(digits))
    return max(map(int, digits))


class _Extent:
    """The farthest row and column a part places cells at, from a stream of its bytes."""

    def __init__(self, exact: bool = False) -> None:
        self.exact = exact
        self.rows = 0
        self.cols = 0
        self.declared: tuple[str, int, int] | None = None
        self.strings: int | None = None  # the shared-string table's declared uniqueCount
        self.slow_needed = False
        self._tail = b""
        self._first = True
        self._row = 0  # exact mode: the current row and the last column placed in it
        self._col = 0

    def feed(self, chunk: bytes) -> None:
        buf = self._tail + chunk
        cut = buf.rfind(b"<")  # a tag never holds "<": everything before the last one is whole tags and text
        if cut <= 0:
            if len(buf) < (64 << 20):
                self._tail = buf
                return
            cut = len(buf)
        self._tail = buf[cut:]
        self._scan(buf, cut)

    def finish(self) -> None:
        if self._tail:
            buf = self._tail + b">"
            self._tail = b""
            self._scan(buf, len(buf))

    def _scan(self, buf: bytes, end: int) -> None:
        """The whole tags in ``buf[:end]``."""
        if self._first:
            self._first = False
            m = _DIM.search(buf, 0, min(end, 1 << 20))
            if m is not None:
                self._declare(m.group(1).decode("ascii", "replace"))
            m = _SST.search(buf, 0, min(end, 1 << 20))
            if m is not None:
                self.strings = int(m.group(1))
        if self.exact:
            self._scan_exact(buf, end)
            return
        refs = _PLAIN_REF.findall(buf, 0, end)
        if buf.count(b"<c", 0, end) != len(refs) and len(_ANY_CELL.findall(buf, 0, end)) != len(refs):
            self.slow_needed = True
        elif buf.find(b":c", 0, end) >= 0 and _PREFIXED_CELL.search(buf, 0, end):
            self.slow_needed = True
        if refs:  # the largest row and column without a Python step per cell
            joined = b" ".join(refs)
            self.rows = max(self.rows, _max_number(joined.translate(None, _UPPER).split()))
            self.cols = max(self.cols, max(_column(c) for c in set(joined.translate(None, _DIGITS).split())))

    def _scan_exact(self, buf: bytes, end: int) -> None:
        """Every row and cell tag in order; a row without ``r`` follows the previous one, a cell without ``r``
        the previous cell of its row (an upper bound of what any reader makes of it)."""
        for m in _TAG.finditer(buf, 0, end):
            closing, tag, attrs = m.group(1), m.group(2), m.group(3)
            if closing or tag == b"dimension":
                continue
            r = _R_ATTR.search(attrs)
            if tag == b"row":
                self._row = int(r.group(2)) if r is not None and r.group(2) else self._row + 1
                self._col = 0
                continue
            row, col = max(self._row, 1), self._col + 1
            if r is not None and r.group(1):
                col = _column(r.group(1))
            if r is not None and r.group(2):
                row = int(r.group(2))
            self._col = col
            self.rows = max(self.rows, row)
            self.cols = max(self.cols, col)

    def _declare(self, ref: str) -> None:
        ends = _REF.findall(ref)
        if not ends:
            return
        col = max(_column(c) for c, _ in ends)
        row = max(int(r) for _, r in ends)
        self.declared = (ref, row, col)
