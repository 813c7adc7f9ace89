"""Exports of what a table shows: CSV (UTF-8 with BOM, so Excel opens Chinese correctly) and Excel, the active
filters written at the top of the file, and spreadsheet formula injection neutralised in every text cell."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

import pandas as pd

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value and (value[0] in _DANGEROUS or value.lstrip()[:1] in _DANGEROUS):
        return "'" + value
    return value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out.columns = [str(neutralise(str(c))) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    return out


def to_csv(df: pd.DataFrame, header: Mapping[str, str]) -> bytes:
    """The header lines (label, value), an empty line, then the table; UTF-8 with BOM."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    for k, v in header.items():
        w.writerow([neutralise(k), neutralise(v)])
    w.writerow([])
    safe_frame(df).to_csv(buf, index=False, lineterminator="\r\n")
    return buf.getvalue().encode("utf-8-sig")


def to_excel(df: pd.DataFrame, header: Mapping[str, str], sheet: str = "明细") -> bytes:
    """One sheet: the header lines on top, then the table with an autofilter; formulas are never written."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="xlsxwriter",
                        engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}}) as xw:
        top = len(header) + 1
        data = safe_frame(df)
        data.to_excel(xw, sheet_name=sheet, index=False, startrow=top)
        ws = xw.sheets[sheet]
        for i, (k, v) in enumerate(header.items()):
            ws.write_string(i, 0, str(neutralise(k)))
            ws.write_string(i, 1, str(neutralise(v)))
        if len(data.columns):
            ws.autofilter(top, 0, top + len(data), len(data.columns) - 1)
            ws.set_column(0, len(data.columns) - 1, 16)
    return buf.getvalue()
