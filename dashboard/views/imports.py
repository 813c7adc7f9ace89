"""数据导入导出 (admin): upload a CSV/XLSX through the same engine as ``python -m data import``, see the summary
and the rejected rows, download the rejects; export the canonical format."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.db import engine
from dashboard.i18n import lang, t
from dashboard.safe import md_escape
from dashboard.scope import identity
from data.access import can
from data.io import export_table, import_file, shipped_mappings
from data.private import write_private
from data.repositories import mappings as saved_mappings
from data.safety import safe_filename
from data.users import Identity

KINDS = ("tickets", "contacts", "responses")
MAX_SHOWN = 1000


def render() -> None:
    ident = identity()
    if not can(ident, "import"):
        st.error(t("state.no_permission"))
        return
    st.title(t("imports.title"))
    st.caption(t("imports.caption"))
    _import_form(ident)
    _show_result()
    st.divider()
    _export_form(ident.username)


def _import_form(ident: Identity) -> None:
    with st.form("import_form", enter_to_submit=False):
        kind = st.selectbox(t("imports.kind"), KINDS, format_func=lambda k: t(f"imports.kind.{k}"), key="imp_kind")
        options = ["", *shipped_mappings(kind), *saved_mappings.newest(engine(), kind)]  # saved ones: the wizard
        mapping = st.selectbox(t("imports.mapping"), options, key="imp_mapping",
                               format_func=lambda m: t("imports.mapping.auto") if not m else m)
        upload = st.file_uploader(t("imports.file"), type=["csv", "txt", "xlsx"], key="imp_file")
        sheet = st.text_input(t("imports.sheet"), key="imp_sheet")
        submitted = st.form_submit_button(t("imports.submit"), type="primary")
    if not submitted or upload is None:
        return
    with st.spinner(t("imports.running")), tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(upload.name).name
        write_private(path, upload.getvalue())
        res = import_file(engine(), kind, path, mapping or None, sheet=sheet.strip() or None, actor=ident,
                          rejects_path=Path(tmp) / "rejects.csv", display_name=upload.name)
        rejects_csv = (Path(tmp) / "rejects.csv").read_bytes() if res.rejects_file else None
    st.session_state["imp_result"] = {"summary": res.summary(lang()), "rejects": res.rejects.head(MAX_SHOWN),
                                      "n_rejects": len(res.rejects), "csv": rejects_csv, "file": upload.name}


def _show_result() -> None:
    out = st.session_state.get("imp_result")
    if not out:
        return
    s = out["summary"]
    if "error" in s:
        # The message names the file and may quote it (sheet names, a first line): plain text, never Markdown.
        st.error(t("imports.failed", message=md_escape(s["message"])))
        return
    cols = st.columns(5)
    for col, k in zip(cols, ("imported", "updated", "unchanged", "rejected", "warnings"), strict=True):
        col.metric(t(f"imports.{k}"), s[k])
    if s["rejected"]:
        st.warning(t("imports.partial", n=s["rejected"]))
    else:
        st.success(t("imports.ok", file=md_escape(out["file"]), seconds=s["seconds"]))
    show_notes(s)
    if out["n_rejects"]:
        st.subheader(t("imports.rejects"))
        df: pd.DataFrame = out["rejects"]
        reason = "reason_zh" if lang() == "zh-CN" else "reason_en"
        shown = pd.DataFrame({
            t("imports.col.row"): df["row"], t("imports.col.column"): df["column"],
            t("imports.col.value"): df["value"], t("imports.col.level"): df["level"].map(
                lambda v: t(f"imports.level.{v}")), t("imports.col.reason"): df[reason]})
        st.dataframe(shown, hide_index=True, width="stretch")
        if out["n_rejects"] > MAX_SHOWN:
            st.caption(t("imports.rejects.more", n=MAX_SHOWN))
        if out["csv"]:
            st.download_button(t("imports.download_rejects"), data=out["csv"], mime="text/csv",
                               file_name=safe_filename(Path(out['file']).stem + ".rejects", suffix=".csv"), key="imp_rejects_dl", on_click="ignore")


def show_notes(summary: dict[str, Any]) -> None:
    """The import's notes (the rules applied and the assumptions made: the zone assumed, the date order decided,
    values mapped), the scale conversions and the N/A count of a survey import: one info box each. Their texts quote
    the file (column names, example values), so they are escaped."""
    texts = [*summary.get("notes", []), *[t("imports.conversion", rule=c) for c in summary.get("conversions", [])]]
    if summary.get("na_note"):
        texts.append(summary["na_note"])
    if not texts:
        return
    st.markdown(f"**{t('imports.notes')}**")
    for text in texts:
        st.info(md_escape(text))


def _export_form(username: str) -> None:
    st.subheader(t("imports.export"))
    with st.form("export_form", enter_to_submit=False):
        kind = st.selectbox(t("imports.kind"), KINDS, format_func=lambda k: t(f"imports.kind.{k}"), key="exp_kind")
        today = dt.date.today()
        c1, c2 = st.columns(2)
        start = c1.date_input(t("imports.export.from"), today - dt.timedelta(days=30), key="exp_from")
        end = c2.date_input(t("imports.export.to"), today, key="exp_to")
        go = st.form_submit_button(t("imports.export.build"))
    if go:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"{kind}_{start}_{end}.csv"
            info = export_table(engine(), kind, out, start, end, user=username)
            st.session_state["exp_result"] = (out.name, out.read_bytes(), info["rows"])
    res = st.session_state.get("exp_result")
    if res:
        name, data, rows = res
        st.download_button(t("imports.export.download", rows=rows), data=data, file_name=name, mime="text/csv",
                           key="exp_dl", on_click="ignore")
