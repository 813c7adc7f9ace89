"""Assessment exports: Excel workbook, PDF, CSV (UTF-8 with BOM). Every export is written to the audit trail, and
every text cell that a spreadsheet could read as a formula (= + - @, tab, CR) is neutralised with a leading ' by
the shared :func:`data.safety.safe_cell`.

All three show the same :attr:`Assessment.table` the HR page shows, with the same rounding.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from data.safety import safe_cell, safe_frame
from data.users import audit
from reports.assessment import Assessment, staff_details
from reports.charts import PALETTE, ROLE_COLOURS, cjk_font_file

FORMATS = ("xlsx", "pdf", "csv")
MIME = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "csv": "text/csv",
}

SUMMARY_COLUMNS = ("code", "name", "role", "team", "region", "total", "total_low", "total_high", "grade",
                   "perf_grade", "rank_band", "percentile", "critical", "evidence", "weakest", "training")
COMPARE_COLUMNS = ("prev_total", "prev_grade", "change")
KPI_COLUMNS = ("code", "name", "role", "team", "n", "raw", "expected", "adjusted", "value", "low", "high", "target",
               "weight", "status")
NUMERIC = {"total", "total_low", "total_high", "percentile", "prev_total", "change", "n", "raw", "expected",
           "adjusted", "value", "low", "high", "target", "weight"}


def summary_columns(a: Assessment) -> list[str]:
    """The summary's column keys in display order (what the page shows, what the exports write)."""
    cols = list(SUMMARY_COLUMNS) + [f"kpi_{k}" for k in a.scheme.kpis if f"kpi_{k}" in a.table.columns
                                    and a.table[f"kpi_{k}"].notna().any()]
    if "prev_total" in a.table.columns:
        cols += list(COMPARE_COLUMNS)
    return cols


def header(a: Assessment, col: str) -> str:
    if col.startswith("kpi_"):
        return a.scheme.kpis[col[4:]].name(a.lang)
    return a.t(f"hr.col.{col}")


def display_summary(a: Assessment) -> pd.DataFrame:
    """The summary as displayed: localised headers, in display order."""
    cols = summary_columns(a)
    out = a.table[cols].copy()
    out.columns = [header(a, c) for c in cols]
    return out


def period_label(a: Assessment) -> str:
    return a.t("period.range", start=a.period.start.isoformat(), end=a.period.last_day.isoformat())


# --- CSV ----------------------------------------------------------------------------------------------------------


def to_csv(a: Assessment) -> bytes:
    """The summary as CSV in UTF-8 with a BOM, so Excel opens the Chinese correctly."""
    return safe_frame(display_summary(a)).to_csv(index=False).encode("utf-8-sig")


# --- Excel --------------------------------------------------------------------------------------------------------

_SHEET_BAD = str.maketrans({c: "_" for c in "[]:*?/\\"})


def sheet_name(name: str, used: set[str]) -> str:
    base = name.translate(_SHEET_BAD)[:31]
    out, i = base, 2
    while out.lower() in used:
        out = f"{base[:28]}~{i}"
        i += 1
    used.add(out.lower())
    return out


def to_xlsx(a: Assessment) -> bytes:
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                   "nan_inf_to_errors": False})
    wb.set_properties({"title": a.t("hr.report_title"), "subject": period_label(a), "author": "GridCX",
                       "comments": a.t("hr.confidential")})
    f = {
        "head": wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                               "valign": "top"}),
        "num1": wb.add_format({"num_format": "0.0"}),
        "num0": wb.add_format({"num_format": "0"}),
        "num3": wb.add_format({"num_format": "0.000"}),
        "txt": wb.add_format({}),
        "title": wb.add_format({"bold": True, "font_size": 14}),
        "bold": wb.add_format({"bold": True}),
        "wrap": wb.add_format({"text_wrap": True, "valign": "top"}),
        "good": wb.add_format({"bg_color": "#C6EFCE", "font_color": "#006100"}),
        "mid": wb.add_format({"bg_color": "#DDEBF7", "font_color": "#1F4E78"}),
        "warn": wb.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700"}),
        "bad": wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"}),
        "grey": wb.add_format({"font_color": "#808080"}),
    }
    used: set[str] = set()
    # summary
    cols = summary_columns(a)
    ws = wb.add_worksheet(sheet_name(a.t("hr.sheet.summary"), used))
    _write_frame(ws, a.table[cols], [header(a, c) for c in cols], cols, f)
    n = len(a.table)
    if n:
        g = cols.index("grade")
        pg = cols.index("perf_grade")
        for col in (g, pg):
            for key, fmt in (("excellent", "good"), ("good", "mid"), ("pass", "warn"), ("improve", "bad")):
                label = a.scheme.grade(key).name(a.lang)  # a capped grade reads "良好（有责投诉封顶）"
                ws.conditional_format(1, col, n, col, {"type": "text", "criteria": "begins with", "value": label,
                                                       "format": f[fmt]})
        tcol = cols.index("total")
        ws.conditional_format(1, tcol, n, tcol, {"type": "3_color_scale", "min_color": "#F8696B",
                                                 "mid_color": "#FFEB84", "max_color": "#63BE7B"})
    # one sheet per KPI
    status_fmt = {"met": "good", "warn": "warn", "miss": "bad", "insufficient": "grey", "no_data": "grey"}
    for key, table in a.kpi_tables.items():
        ws = wb.add_worksheet(sheet_name(a.scheme.kpis[key].name(a.lang), used))
        kcols = list(KPI_COLUMNS)
        _write_frame(ws, table[kcols], [a.t(f"hr.kcol.{c}") for c in kcols], kcols, f)
        if len(table):
            sc = kcols.index("status")
            for s, fmt in status_fmt.items():
                ws.conditional_format(1, sc, len(table), sc, {"type": "cell", "criteria": "==",
                                                              "value": f'"{a.t(f"hr.status.{s}")}"',
                                                              "format": f[fmt]})
    # reviewer agreement
    ws = wb.add_worksheet(sheet_name(a.t("hr.sheet.agreement"), used))
    ag = a.agreement.per_reviewer.copy()
    ag["flag"] = ag["flag"].map(lambda x: a.t(f"hr.flag.{x}") if x else "")
    acols = ["reviewer", "items", "mean_diff", "low", "high", "mad", "flag"]
    ws.write_string(0, 0, a.t("hr.agreement.icc", icc=_fmt(a.agreement.icc, 3), items=a.agreement.items,
                              ratings=a.agreement.ratings), f["bold"])
    _write_frame(ws, ag[acols].round(2), [a.t(f"hr.acol.{c}") for c in acols], acols, f, start_row=2)
    # method
    _method_sheet(wb.add_worksheet(sheet_name(a.t("hr.sheet.method"), used)), a, f)
    wb.close()
    return buf.getvalue()


def _fmt(v: float, digits: int = 1) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def _write_frame(ws: Any, frame: pd.DataFrame, headers: list[str], keys: list[str], f: dict[str, Any],
                 start_row: int = 0) -> None:
    for j, h in enumerate(headers):
        ws.write_string(start_row, j, h, f["head"])
    values = frame.to_numpy(dtype=object)
    for i, row in enumerate(values, start=start_row + 1):
        for j, v in enumerate(row):
            key = keys[j]
            if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
                ws.write_blank(i, j, None)
            elif key in NUMERIC and isinstance(v, (int, float, np.integer, np.floating)):
                fmt = f["num0"] if key in ("n", "items", "percentile") else f["num3"] if key == "weight" else f["num1"]
                ws.write_number(i, j, float(v), fmt)
            elif isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
                ws.write_number(i, j, float(v))
            else:
                ws.write_string(i, j, str(safe_cell(str(v))))
    ws.freeze_panes(start_row + 1, 2 if "name" in keys else 1)
    if len(frame):
        ws.autofilter(start_row, 0, start_row + len(frame), len(keys) - 1)
    for j, key in enumerate(keys):
        width = 10 if key in NUMERIC else 28 if key in ("training", "critical", "region", "team", "evidence",
                                                        "rank_band") else 14
        ws.set_column(j, j, width)


def _method_sheet(ws: Any, a: Assessment, f: dict[str, Any]) -> None:
    s = a.scheme
    lang = a.lang
    zh = lang == "zh-CN"
    ws.set_column(0, 0, 26)
    ws.set_column(1, 12, 16)
    r = 0
    ws.write_string(r, 0, a.t("hr.report_title"), f["title"])
    r += 2
    start, end = a.period.utc_bounds(a.tz)
    facts = [
        (a.t("hr.method.scheme"), f"{s.name_zh if zh else s.name_en} ({s.key} v{s.version})"),
        (a.t("hr.method.scope"), a.scope_name),
        (a.t("hr.method.period"), period_label(a)),
        (a.t("hr.method.window"), a.t("hr.method.window_text", start=start.isoformat(), end=end.isoformat(),
                                      **a.counts)),
        (a.t("hr.method.previous"), a.t("period.range", start=a.previous.start.isoformat(),
                                        end=a.previous.last_day.isoformat()) if a.previous else "—"),
        (a.t("hr.method.generated"), a.generated_at.astimezone(ZoneInfo(a.tz)).strftime("%Y-%m-%d %H:%M")),
        (a.t("hr.method.level"), f"{s.method.level:.0%}"),
    ]
    for label, value in facts:
        ws.write_string(r, 0, label, f["bold"])
        ws.write_string(r, 1, str(value))
        r += 1
    r += 1
    ws.write_string(r, 0, a.t("hr.method.steps"), f["bold"])
    r += 1
    params = dict(cap=_fmt(s.method.max_prior_strength, 0), min_cell=s.method.min_cell,
                  share=f"{s.method.min_weight_share:.0%}", shortfall=f"{s.training.min_shortfall:.0%}",
                  long=int(s.method.long_ticket_minutes))
    for i in range(1, 9):
        ws.merge_range(r, 0, r, 9, a.t(f"hr.method.step{i}", **params), f["wrap"])
        ws.set_row(r, 48)
        r += 1
    r += 1
    ws.write_string(r, 0, a.t("hr.method.kpis"), f["bold"])
    r += 1
    for j, h in enumerate([a.t("hr.method.kpi"), a.t("hr.method.definition"), a.t("hr.method.source"),
                           a.t("hr.method.case_mix")]):
        ws.write_string(r, j, h, f["head"])
    r += 1
    for k in s.kpis.values():
        ws.write_string(r, 0, k.name(lang))
        ws.write_string(r, 1, k.definition_zh if zh else k.definition_en, f["wrap"])
        ws.write_string(r, 2, a.t(f"hr.source.{k.source}"))
        ws.write_string(r, 3, a.t("hr.yes") if k.case_mix else a.t("hr.no"))
        r += 1
    r += 1
    ws.write_string(r, 0, a.t("hr.method.weights"), f["bold"])
    r += 1
    heads = [a.t("hr.method.role"), a.t("hr.method.kpi"), a.t("hr.method.weight"), a.t("hr.method.target"),
             a.t("hr.method.min_n")]
    for j, h in enumerate(heads):
        ws.write_string(r, j, h, f["head"])
    r += 1
    for role, spec in s.roles.items():
        total_w = sum(spec.weights.values())
        for kpi, w in spec.weights.items():
            ws.write_string(r, 0, s.roles[role].name(lang))
            ws.write_string(r, 1, s.kpis[kpi].name(lang))
            ws.write_number(r, 2, w / total_w, f["num3"])
            ws.write_number(r, 3, spec.targets[kpi] * 100, f["num1"])
            ws.write_number(r, 4, spec.min_n[kpi], f["num0"])
            r += 1
    r += 1
    ws.write_string(r, 0, a.t("hr.method.priors"), f["bold"])
    r += 1
    pcols = ["role", "kpi", "kind", "mean", "strength", "a", "b", "tau2", "sigma2_within", "capped", "units"]
    for j, col in enumerate(pcols):
        ws.write_string(r, j, a.t(f"hr.pcol.{col}"), f["head"])
    r += 1
    for row in a.cards.priors.itertuples(index=False):
        vals = [s.roles[row.role].name(lang), s.kpis[row.kpi].name(lang), a.t(f"hr.kind.{row.kind}"),
                row.mean * 100, row.strength, row.a, row.b, row.tau2, row.sigma2_within,
                a.t("hr.yes") if row.capped else a.t("hr.no"), row.units]
        for j, v in enumerate(vals):
            if isinstance(v, str):
                ws.write_string(r, j, v)
            elif v is None or not np.isfinite(float(v)):
                ws.write_blank(r, j, None)
            else:
                ws.write_number(r, j, float(v), f["num3"] if j in (4, 5, 6, 7, 8) else f["num1"])
        r += 1
    r += 1
    ws.write_string(r, 0, a.t("hr.method.critical"), f["bold"])
    r += 1
    for c in s.critical:
        action = a.t("hr.action.zero") if c.action == "zero" else a.t(
            "hr.action.cap", grade=s.grade(c.max_grade or "improve").name(lang))
        ws.write_string(r, 0, c.name_zh if zh else c.name_en)
        ws.write_string(r, 1, a.t("hr.method.at_least", n=c.at_least))
        ws.write_string(r, 2, action)
        ws.write_string(r, 3, c.definition_zh if zh else c.definition_en)
        r += 1
    r += 1
    ws.write_string(r, 0, a.t("hr.method.grades"), f["bold"])
    r += 1
    for g in s.grades:
        ws.write_string(r, 0, g.name(lang))
        ws.write_string(r, 1, a.t("hr.method.percentile_from", p=_fmt(g.min_percentile, 0)))
        r += 1


# --- PDF ----------------------------------------------------------------------------------------------------------
#
# The PDF holds a page per person (thousands at a province). fpdf2's layout calls (cell, multi_cell, image) cost
# ~0.1-1 ms each, and a page made of them (a raster chart, a bordered table of ~80 cells) ~25 ms, so 1,000 people
# took 25-40 s. The pages are therefore drawn with the cheap primitives: text at a point (``FPDF.text``: the
# font's subset encoding, no layout engine), lines, rectangles and ellipses; the charts are vector drawings (also
# sharper in print and searchable); multi_cell only for the rare line that does not fit on one line. The CJK font
# is loaded once and subset to the glyphs used.


def _nb_alias(expected_pages: int) -> str:
    """The page-count alias, as wide as the count it will hold: fpdf2 reserves one digit per alias character
    ("{nb}": three), so a wider alias leaves a gap before the number and a narrower one crowds the footer."""
    digits = len(str(max(expected_pages, 1)))
    return "{nb}" if digits <= 3 else "{" + "N" * (digits - 2) + "}"


PT = 25.4 / 72  # mm per point


def for_team(a: Assessment, team_id: int) -> Assessment:
    """The assessment restricted to one team's staff, for a team's own PDF: the same scores, grades and rank bands
    as in the whole report (computed over the whole scope; a team is no peer group of its own)."""
    ids = set(a.roster.loc[a.roster["team_id"] == team_id, "staff_id"].tolist())
    table = a.table[a.table["staff_id"].isin(ids)].reset_index(drop=True)
    names = a.roster.loc[a.roster["team_id"] == team_id, "team_name"].dropna()
    scope_name = f"{a.scope_name} · {names.iloc[0]}" if len(names) else a.scope_name
    counts = {**a.counts, "staff": len(table)}
    return dataclasses.replace(a, table=table, scope_name=scope_name, counts=counts,
                               kpi_tables={k: v[v["staff_id"].isin(ids)] for k, v in a.kpi_tables.items()})


def to_pdf(a: Assessment, staff_ids: list[int] | None = None) -> bytes:
    """A team summary (chart and table) and one page per staff member; the CJK font embedded (subset), page numbers
    and a confidentiality footer on every page."""
    from fpdf import FPDF

    font = cjk_font_file()
    footer = a.t("hr.confidential")
    page_word = a.t("hr.pdf.page")

    class _PDF(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("cjk", size=7)
            self.set_text_color(110, 110, 110)
            self.cell(0, 5, footer, align="L")
            self.set_x(self.l_margin)
            self.cell(0, 5, page_word.format(page=self.page_no(), pages=nb), align="R")
            self.set_text_color(0, 0, 0)

    pdf = _PDF(orientation="P", unit="mm", format="A4")
    pdf.add_font("cjk", style="", fname=font, collection_font_number=2)
    _no_bbox_recalc(pdf)
    pdf.set_auto_page_break(auto=True, margin=16)
    ink = _Ink(pdf)
    t = a.table
    ids = staff_ids if staff_ids is not None else t["staff_id"].tolist()
    # a page per person plus the team summary (about 40 table rows a page)
    nb = _nb_alias(len(ids) + len(t) // 40 + 2)
    pdf.alias_nb_pages(nb, align="R")
    pdf.set_title(a.t("hr.report_title"))
    pdf.set_author("GridCX")
    title = a.t("hr.report_title")
    caption = f"{a.scope_name} · {period_label(a)}"
    # team summary
    pdf.add_page()
    ink.line(title, 16, 9)
    ink.line(caption, 9, 6)
    ink.line(a.t("hr.pdf.counts", **a.counts), 9, 6)
    graded = t[t["total"].notna()]
    keys = graded["grade_key"].value_counts()
    ink.line("  ".join(f"{g.name(a.lang)} {int(keys.get(g.key, 0))}" for g in a.scheme.grades)
             + f"  {a.t('hr.insufficient')} {int(t['total'].isna().sum())}", 9, 6)
    if len(graded):
        _team_chart(pdf, ink, a, graded.head(60))
    pdf.ln(2)
    cols = ["code", "name", "role", "team", "total", "grade", "rank_band", "critical"]
    widths = (18, 16, 26, 36, 14, 22, 30, 28)
    _simple_table(pdf, ink, [header(a, c) for c in cols],
                  [[_pdf_text(v, c) for c, v in zip(cols, rec, strict=True)] for rec in t[cols].itertuples(index=False)],
                  widths, 7)
    # one page per person: every record, detail row and chart row prepared at once, as plain Python values
    records = {r["staff_id"]: r for r in t.to_dict("records")}
    details = staff_details(a)
    dcols = ["kpi", "n", "raw", "value", "low", "high", "target", "team", "company", "status", "status_key"]
    rows_of: dict[Any, list[tuple[Any, ...]]] = {}
    for sid, *row in details[["staff_id", *dcols]].itertuples(index=False):
        rows_of.setdefault(sid, []).append(tuple(row))
    heads = [a.t(f"hr.dcol.{c}") for c in dcols[:-1]]
    texts = _PageTexts(a)
    for sid in ids:
        rec = records.get(sid)
        if rec is not None:
            _staff_page(pdf, ink, texts, rec, title, caption, rows_of.get(sid, []), heads)
    return bytes(pdf.output())


def _no_bbox_recalc(pdf: Any) -> None:
    """Keep the CJK font's own bounding boxes when the subset is written: fontTools would otherwise draw every used
    glyph three times (hhea, vhea, CFF) to recompute boxes that the full font's already enclose (~1 s a PDF)."""
    for f in getattr(pdf, "fonts", {}).values():
        tt = getattr(f, "ttfont", None)
        if tt is not None and hasattr(tt, "recalcBBoxes"):
            tt.recalcBBoxes = False


class _PageTexts:
    """The fixed words of a staff page, translated once."""

    def __init__(self, a: Assessment) -> None:
        self.a = a
        self.axis = a.t("hr.pdf.chart_axis")
        self.legend = a.t("hr.pdf.chart_legend")
        self.insufficient = a.t("hr.pdf.insufficient_line")


class _Ink:
    """Cheap drawing on the current fpdf page: one line of text at a point, string widths and encoded strings cached.

    ``text`` is :meth:`FPDF.text` (the font's subset encoding, no layout engine) with the encoded string cached per
    distinct text (a page repeats its labels, numbers and statuses); it writes the same operators as
    :meth:`FPDF.text`, and falls back to it when this fpdf2 lacks the internals or a colour state needs its care."""

    def __init__(self, pdf: Any) -> None:
        self.pdf = pdf
        self._widths: dict[tuple[str, float], float] = {}
        self._encoded: dict[str, str] = {}
        self._fast = all(hasattr(pdf, n) for n in ("_out", "_set_font_for_page", "current_font_is_set_on_page",
                                                    "normalize_text", "fill_color", "text_color"))

    def size(self, size: float) -> None:
        if self.pdf.font_size_pt != size or self.pdf.font_family != "cjk":
            self.pdf.set_font("cjk", size=size)

    def width(self, text: str, size: float) -> float:
        key = (text, size)
        w = self._widths.get(key)
        if w is None:
            self.size(size)
            w = self._widths[key] = self.pdf.get_string_width(text)
        return w

    def text(self, x: float, y: float, text: str, size: float, align: str = "L") -> None:
        """``text`` with its baseline at ``y``; ``align`` L (x is the left edge), R (right edge) or C (centre)."""
        if not text:
            return
        if align != "L":
            w = self.width(text, size)
            x = x - w if align == "R" else x - w / 2
        self.size(size)
        pdf = self.pdf
        if not self._fast or pdf.fill_color != pdf.text_color or pdf.text_mode != 0 or pdf.underline:
            pdf.text(x, y, text)
            return
        enc = self._encoded.get(text)
        if enc is None:
            enc = self._encoded[text] = pdf.current_font.encode_text(pdf.normalize_text(text))
        if not pdf.current_font_is_set_on_page:
            pdf._out(pdf._set_font_for_page(pdf.current_font, pdf.font_size_pt))  # noqa: SLF001
        pdf._out(f"BT {x * pdf.k:.2f} {(pdf.h - y) * pdf.k:.2f} Td {enc} ET")  # noqa: SLF001

    def line(self, text: str, size: float, h: float) -> None:
        """A paragraph of one line at the cursor (``multi_cell`` only when it would not fit on one line)."""
        pdf = self.pdf
        avail = pdf.w - pdf.l_margin - pdf.r_margin
        if sum(1.0 if ord(c) > 0x2E7F else 0.62 for c in text) * size * PT > avail - 2:
            self.size(size)
            pdf.multi_cell(0, h, text, new_x="LMARGIN", new_y="NEXT")
            return
        y = pdf.get_y()
        self.text(pdf.l_margin, y + h / 2 + 0.35 * size * PT, text, size)
        pdf.set_xy(pdf.l_margin, y + h)


def _fit(pdf: Any, text: str, width: float) -> str:
    """Cut ``text`` to fit ``width`` mm (measured only when a rough estimate says it may not fit)."""
    if len(text) * pdf.font_size * 0.55 < width - 1.5:
        return text
    while text and pdf.get_string_width(text + "…") > width - 1.5:
        text = text[:-1]
    return text + "…"


def _simple_table(pdf: Any, ink: _Ink, headers: list[str], rows: list[list[str]], widths: tuple[float, ...],
                  size: float) -> None:
    """A ruled one-line-per-row table drawn as text at points and one set of rules per page (not a bordered cell
    each); the header repeats after a page break."""
    line = size * 0.55
    base = line / 2 + 0.35 * size * PT
    x0 = pdf.l_margin
    xs = [x0]
    for w in widths:
        xs.append(xs[-1] + w)
    bottom = pdf.h - pdf.b_margin

    def rules(top: float, end: float) -> None:
        pdf.set_draw_color(0, 0, 0)
        pdf.set_line_width(0.2)
        y = top
        while y <= end + 1e-6:
            pdf.line(xs[0], y, xs[-1], y)
            y += line
        for x in xs:
            pdf.line(x, top, x, end)

    def head(y: float) -> None:
        pdf.set_fill_color(221, 235, 247)
        pdf.rect(xs[0], y, xs[-1] - xs[0], line, style="F")
        pdf.set_fill_color(0)
        ink.size(size)
        for h, w, x in zip(headers, widths, xs, strict=False):
            ink.text(x + 0.75, y + base, _fit(pdf, h, w), size)

    y = top = pdf.get_y()
    if y + 2 * line > bottom:  # never a header alone at the foot of a page
        pdf.add_page()
        y = top = pdf.get_y()
    head(y)
    y += line
    ink.size(size)
    for r in rows:
        if y + line > bottom:
            rules(top, y)
            pdf.add_page()
            y = top = pdf.get_y()
            head(y)
            y += line
            ink.size(size)
        for v, w, x in zip(r, widths, xs, strict=False):
            if v:
                ink.text(x + 0.75, y + base, _fit(pdf, v, w), size)
        y += line
    rules(top, y)
    pdf.set_xy(x0, y)


def _pdf_text(v: Any, col: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return "—" if col in NUMERIC else ""
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _dot_chart(pdf: Any, ink: _Ink, rows: list[tuple[Any, ...]], x_label: str, *, width: float, row_h: float,
               domain: tuple[float, float] = (0.0, 100.0), label_size: float = 7.0) -> None:
    """A dot with its interval per row, the target as a tick and the team value as a hollow diamond, drawn as
    vectors at the cursor. ``rows``: (label, value, low, high, target, team, rgb) with values on ``domain``."""
    x = pdf.l_margin
    x0, x1 = x + width * 0.24, x + width * 0.96
    top = pdf.get_y() + 1
    n = max(len(rows), 1)
    end = top + n * row_h
    lo_d, hi_d = domain

    def xp(v: float) -> float:
        return x0 + (x1 - x0) * (min(max(float(v), lo_d), hi_d) - lo_d) / (hi_d - lo_d)

    pdf.set_line_width(0.15)
    pdf.set_draw_color(225, 225, 225)
    step = 10.0 if hi_d - lo_d > 30 else 5.0
    tick = np.ceil(lo_d / step) * step
    while tick <= hi_d + 1e-9:
        xt = xp(tick)
        pdf.line(xt, top, xt, end)
        ink.text(xt, end + 3, f"{tick:.0f}", 6, align="C")
        tick += step
    ink.text((x0 + x1) / 2, end + 6.5, x_label, 6.5, align="C")
    for i, (label, value, low, high, target, team, rgb) in enumerate(rows):
        yc = top + (i + 0.5) * row_h
        ink.text(x0 - 2, yc + 0.35 * label_size * PT, _fit_label(ink, str(label), label_size, x0 - x - 3),
                 label_size, align="R")
        if _num(target):
            pdf.set_draw_color(0, 0, 0)
            pdf.set_line_width(0.5)
            pdf.line(xp(target), yc - row_h * 0.32, xp(target), yc + row_h * 0.32)
        if _num(team):
            d = row_h * 0.18
            xt = xp(team)
            pdf.set_draw_color(120, 120, 120)
            pdf.set_line_width(0.3)
            pdf.polygon([(xt, yc - d), (xt + d, yc), (xt, yc + d), (xt - d, yc)], style="D")
        if _num(value):
            pdf.set_draw_color(*rgb)
            if _num(low) and _num(high):
                pdf.set_line_width(0.6)
                pdf.line(xp(low), yc, xp(high), yc)
            r = row_h * 0.16
            pdf.set_fill_color(*rgb)
            pdf.ellipse(xp(value) - r, yc - r, 2 * r, 2 * r, style="F")
            pdf.set_fill_color(0)
        else:
            ink.text(x0 + 1.5, yc + 1, "—", 7)
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.2)
    pdf.set_xy(pdf.l_margin, end + 8)


def _num(v: Any) -> bool:
    return v is not None and v is not pd.NA and isinstance(v, (int, float, np.integer, np.floating)) and np.isfinite(v)


def _fit_label(ink: _Ink, text: str, size: float, width: float) -> str:
    if ink.width(text, size) <= width:
        return text
    while text and ink.width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _team_chart(pdf: Any, ink: _Ink, a: Assessment, rows: pd.DataFrame) -> None:
    """Who scores higher: the first rows of the summary as dots with intervals, coloured by role."""
    roles = list(dict.fromkeys(rows["role"]))
    colour = {r: _hex_rgb(ROLE_COLOURS[i % len(ROLE_COLOURS)]) for i, r in enumerate(roles)}
    lo = float(np.nanmin(rows["total_low"].to_numpy(float)))
    hi = float(np.nanmax(rows["total_high"].to_numpy(float)))
    domain = (max(0.0, np.floor(lo / 5) * 5), min(100.0, np.ceil(hi / 5) * 5 + (5 if hi >= lo else 0)))
    ink.line(a.t("hr.pdf.team_chart", n=len(rows)), 9, 6)
    row_h = 3.6 if len(rows) > 30 else 5.0
    _dot_chart(pdf, ink, [(r.name, r.total, r.total_low, r.total_high, None, None, colour[r.role])
                          for r in rows.itertuples(index=False)], a.t("hr.col.total"), width=150, row_h=row_h,
               domain=domain, label_size=6.5)
    x = pdf.l_margin + 36
    y = pdf.get_y()
    for r in roles:
        pdf.set_fill_color(*colour[r])
        pdf.ellipse(x, y, 2.2, 2.2, style="F")
        pdf.set_fill_color(0)
        ink.text(x + 3.2, y + 1.9, str(r), 7)
        x += 6 + ink.width(str(r), 7)
    pdf.set_xy(pdf.l_margin, y + 5)


def _hex_rgb(h: str) -> tuple[int, int, int]:
    return int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)


def _staff_page(pdf: Any, ink: _Ink, texts: _PageTexts, rec: dict[str, Any], title: str, caption: str,
                rows: list[tuple[Any, ...]], heads: list[str]) -> None:
    a = texts.a
    pdf.add_page()
    ink.line(f"{title} · {caption}", 9, 5)
    ink.line(f"{rec['name']}（{rec['code']}）", 15, 9)
    ink.line(f"{rec['role']} · {rec['team']} · {rec['region']}", 9, 5)
    pdf.ln(2)
    if _num(rec["total"]):
        ink.line(a.t("hr.pdf.total_line", total=f"{rec['total']:.1f}", low=f"{rec['total_low']:.1f}",
                     high=f"{rec['total_high']:.1f}", grade=rec["grade"]), 11, 6)
        ink.line(a.t("hr.pdf.band_line", band=rec["rank_band"]), 9, 5)
    else:
        ink.line(texts.insufficient, 11, 6)
        if rec.get("evidence"):
            ink.line(a.t("hr.pdf.evidence", text=rec["evidence"]), 9, 5)
    if rec["critical"]:
        if rec["grade"] != rec["perf_grade"]:
            ink.line(a.t("hr.pdf.capped", perf=rec["perf_grade"], critical=rec["critical"]), 9, 5)
        else:
            ink.line(a.t("hr.pdf.critical", critical=rec["critical"]), 9, 5)
    if "prev_total" in rec:
        prev, change = rec["prev_total"], rec["change"]
        ink.line(a.t("hr.pdf.previous", prev=f"{prev:.1f}" if _num(prev) else "—", grade=rec["prev_grade"] or "—",
                     change=f"{change:+.1f}" if _num(change) else "—"), 9, 5)
    if rows:
        pdf.ln(1)
        _dot_chart(pdf, ink, [(r[0], r[3], r[4], r[5], r[6], r[7], PALETTE.get(str(r[10]), (60, 60, 60)))
                              for r in rows], texts.axis, width=170, row_h=7.0)
        ink.line(texts.legend, 7, 4)
        pdf.ln(1)
        body = [[str(r[0]), str(int(r[1]))] + [f"{v:.1f}" if _num(v) else "—" for v in r[2:9]] + [str(r[9])]
                for r in rows]
        _simple_table(pdf, ink, heads, body, (34, 12, 14, 14, 14, 14, 14, 14, 14, 18), 8)
    pdf.ln(2)
    if rec["training"] and rec["weakest"]:
        ink.line(a.t("hr.pdf.training", kpi=rec["weakest"], text=rec["training"]), 10, 6)
    elif rec["training"]:
        ink.line(a.t("hr.pdf.training_plain", text=rec["training"]), 10, 6)
    else:
        ink.line(a.t("hr.pdf.no_training"), 10, 6)


# --- entry point with audit ---------------------------------------------------------------------------------------

BUILDERS: dict[str, Callable[[Assessment], bytes]] = {"xlsx": to_xlsx, "pdf": to_pdf, "csv": to_csv}


def export(engine: Engine, a: Assessment, fmt: str, username: str | None) -> bytes:
    """Build the export and write it to the audit trail (who, what, scope, period, rows, size)."""
    if fmt not in BUILDERS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    data = BUILDERS[fmt](a)
    with engine.begin() as conn:
        audit(conn, username, "export", "assessment", f"{a.period.start.isoformat()}..{a.period.last_day.isoformat()}",
              {"format": fmt, "scope": a.scope_path, "staff": int(len(a.table)), "bytes": len(data),
               "scheme": f"{a.scheme.key} v{a.scheme.version}", "lang": a.lang,
               "at_local": dt.datetime.now(ZoneInfo(a.tz)).isoformat(timespec="seconds")})
    return data


def filename(a: Assessment, fmt: str, team: str | None = None) -> str:
    suffix = "_team-" + re.sub(r"[^A-Za-z0-9_.-]", "_", team) if team else ""
    return f"assessment_{a.period.start.isoformat()}_{a.period.last_day.isoformat()}{suffix}.{fmt}"
