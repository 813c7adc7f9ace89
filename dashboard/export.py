"""Exports of what a table shows: CSV (UTF-8 with BOM, so Excel opens Chinese correctly) and Excel, the active
filters written at the top of the file, and spreadsheet formula injection neutralised in every text cell."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

import pandas as pd

from data.safety import safe_cell, safe_frame

# the one shared helper (data.safety); the old name stays for callers
neutralise = safe_cell

__all__ = ["neutralise", "safe_cell", "safe_frame", "to_csv", "to_excel"]


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
