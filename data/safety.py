"""Safe output: spreadsheet formula injection and download file names (one shared helper for every export).

A text cell that starts with ``= + - @``, a tab or a carriage return (also after leading spaces or quotes) would be
run as a formula by Excel / WPS / LibreOffice (CSV injection, OWASP). Every export (dashboard drill-down, HR reports,
``python -m data export``, rejects files) writes cells through :func:`safe_cell` / :func:`safe_frame`, which put a
leading apostrophe before such text. Spreadsheet writers must also be opened with ``strings_to_formulas=False``.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pandas as pd

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
_LEAD = re.compile(r"^[\s\"]*[=+\-@]")


def safe_cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe; anything else is unchanged."""
    if isinstance(value, str) and value and (value[0] in DANGEROUS or _LEAD.match(value)):
        return "'" + value
    return value


def safe_series(s: pd.Series) -> pd.Series:
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        return s.map(safe_cell)
    return s


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell and every column name neutralised."""
    out = df.copy()
    out.columns = [str(safe_cell(str(c))) for c in out.columns]
    for col in out.columns:
        out[col] = safe_series(out[col])
    return out


_NAME_BAD = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


def safe_filename(name: object, default: str = "export", suffix: str = "") -> str:
    """A download / output file name without directories, traversal, control or shell characters:
    ``../../etc/passwd`` -> ``passwd``, ``C:\\x\\报表.xlsx`` -> ``报表.xlsx``. ``suffix`` (e.g. ``.csv``) is enforced."""
    s = unicodedata.normalize("NFKC", str(name or ""))
    s = s.replace("\\", "/").split("/")[-1]
    s = "".join(ch for ch in s if unicodedata.category(ch)[0] != "C")
    s = _NAME_BAD.sub("_", s).strip("._ ")[:100]
    if not s:
        s = default
    if suffix and not s.lower().endswith(suffix.lower()):
        s = s.rsplit(".", 1)[0] if "." in s and len(s.rsplit(".", 1)[1]) <= 5 else s
        s = (s or default) + suffix
    return s
