"""映射向导 (admin): a file GridCX did not write -> a mapping, a dry run, a saved mapping, the import.

Upload a file; see what was detected (encoding, sheet, header row) and each column with samples and a guessed type
(data/io/profile.py); pick a shipped or saved mapping or build one field by field; see its JSON; dry-run the whole
file (data.io.import_file(..., dry_run=True): the same counts as the import, nothing written); save the mapping as
the next version of a name (data/repositories/mappings.py); import. The page only draws: every decision is in data/.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.db import engine
from dashboard.i18n import lang, t
from dashboard.safe import md_escape
from dashboard.scope import identity, scope_of
from dashboard.views.imports import show_notes
from data.access import can
from data.io import FileError, ImportResult, import_file
from data.io import profile as prof
from data.io.mapping import Mapping, load, parse, shipped
from data.private import write_private
from data.repositories import mappings as saved_mappings
from data.repositories import regions as region_tree
from data.safety import safe_filename
from data.settings import site_zone
from data.users import Identity

KINDS = ("tickets", "contacts", "responses")
POLICIES = ("reject", "create", "default")
MAX_SHOWN = 1000
NONE = ""


def render() -> None:
    ident = identity()
    if not can(ident, "import"):
        st.error(t("state.no_permission"))
        return
    st.title(t("wizard.title"))
    st.caption(t("wizard.caption"))
    kind = st.selectbox(t("imports.kind"), KINDS, format_func=lambda k: t(f"imports.kind.{k}"), key="wiz_kind")
    upload = st.file_uploader(t("wizard.file"), type=["csv", "txt", "xlsx"], key="wiz_file")
    if upload is None:
        st.info(t("wizard.start"))
        return
    data, name = upload.getvalue(), Path(upload.name).name
    digest = hashlib.sha256(data).hexdigest()
    if st.session_state.get("wiz_digest") != digest:  # another file: forget the choices made for the last one
        for k in [k for k in st.session_state if str(k).startswith(("wiz_f_", "wiz_result", "wiz_saved",
                                                                                  "wiz_ambiguous"))]:
            del st.session_state[k]
        st.session_state.pop("wiz_sheet", None)
        st.session_state["wiz_digest"] = digest
    p = _profile(data, name, st.session_state.get("wiz_sheet"))
    if p is None:
        return
    _show_profile(p)
    m, raw = _mapping(ident, kind, p)
    if m is None or raw is None:
        return
    st.subheader(t("wizard.step.run"))
    c1, c2 = st.columns(2)
    if c1.button(t("wizard.dry_run"), key="wiz_dry", type="primary"):
        _run(ident, kind, data, name, m, raw, dry_run=True)
    if c2.button(t("wizard.import"), key="wiz_import"):
        _run(ident, kind, data, name, m, raw, dry_run=False)
    _show_result(json.dumps(raw, sort_keys=True, ensure_ascii=False))


# --- the file -----------------------------------------------------------------------------------------------------


def _profile(data: bytes, name: str, sheet: str | None) -> prof.FileProfile | None:
    key = ("wiz_profile", hashlib.sha256(data).hexdigest(), sheet)
    cached = st.session_state.get("wiz_profile")
    if cached and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = write_private(Path(tmp) / name, data)
            p = prof.profile(path, sheet=sheet)
    except FileError as exc:
        st.error(t("imports.failed", message=md_escape(exc.message(lang()))))
        return None
    st.session_state["wiz_profile"] = (key, p)
    return p


def _show_profile(p: prof.FileProfile) -> None:
    st.subheader(t("wizard.step.file"))
    if p.format == "xlsx" and len(p.sheets) > 1:
        st.selectbox(t("wizard.sheet"), p.sheets, key="wiz_sheet")
    cols = st.columns(4)
    cols[0].metric(t("wizard.encoding"), (p.encoding or "—").upper() if p.format == "csv" else "Excel")
    cols[1].metric(t("wizard.sheet"), p.sheet or "—")
    cols[2].metric(t("wizard.header_row"), p.header_row)
    cols[3].metric(t("wizard.rows_read"), p.rows_read)
    st.table(columns_table(p).set_index(t("wizard.col.name")))  # small, and its text is in the page


def columns_table(p: prof.FileProfile) -> pd.DataFrame:
    """One row per source column: its name, guessed type, filled cells among the rows read and sample values."""
    return pd.DataFrame({
        t("wizard.col.name"): [c.name for c in p.columns],
        t("wizard.col.type"): [t(f"wizard.type.{c.type}") for c in p.columns],
        t("wizard.col.filled"): [c.filled for c in p.columns],
        t("wizard.col.samples"): [" | ".join(c.samples) for c in p.columns],
    })


# --- the mapping --------------------------------------------------------------------------------------------------


def _mapping(ident: Identity, kind: str, p: prof.FileProfile) -> tuple[Mapping | None, dict[str, Any] | None]:
    """The mapping to run (chosen or built), and its JSON; None after showing why it cannot be used."""
    st.subheader(t("wizard.step.mapping"))
    eng = engine()
    saved = saved_mappings.newest(eng, kind)
    source = st.radio(t("wizard.source"), ("build", "existing"), horizontal=True,
                      format_func=lambda s: t(f"wizard.source.{s}"), key="wiz_source")
    label = "wizard"
    if source == "existing":
        options = [*shipped(kind), *[n for n in saved if n not in shipped(kind)]]
        pick = st.selectbox(t("wizard.existing"), options, key="wiz_existing", format_func=lambda n: t(
            "wizard.existing.saved", name=n, version=saved[n].version) if n in saved else n)
        if pick is None:
            return None, None
        try:
            with saved_mappings.using(eng):
                m = load(pick, kind)
        except FileError as exc:
            st.error(md_escape(exc.message(lang())))
            return None, None
        raw = saved[pick].raw() if pick in saved else json.loads(Path(m.path).read_text(encoding="utf-8"))
        raw = {k: v for k, v in raw.items() if not k.startswith("_")}
        label = m.name
    else:
        raw = _builder(ident, kind, p)
        if not raw["columns"] and not raw.get("fields"):
            st.info(t("wizard.choose_columns"))
            return None, None
    with st.expander(t("wizard.json"), expanded=True):
        st.code(json.dumps(raw, ensure_ascii=False, indent=2), language="json")
    try:
        m = parse(raw, path=label, kind=kind)
    except FileError as exc:
        st.error(md_escape(exc.message(lang())))
        return None, None
    missing = m.required_missing(p.headers)
    if missing:
        st.warning(t("wizard.missing", columns=md_escape(", ".join(missing))))
        return None, None
    m = _save(ident, raw, m)
    return m, raw


def _builder(ident: Identity, kind: str, p: prof.FileProfile) -> dict[str, Any]:
    """One selectbox per GridCX field (the file's columns, suggested from the shipped mappings' header synonyms),
    and the policy for regions the database does not know."""
    st.caption(t("wizard.builder"))
    suggestion = prof.suggest(p.headers, kind)
    options = [NONE, *p.headers]
    chosen: dict[str, str | None] = {}
    fields = prof.fields(kind)
    grid = st.columns(3)
    for i, (field, required, _type) in enumerate(fields):
        key = f"wiz_f_{field}"
        if key in st.session_state and st.session_state[key] not in options:
            del st.session_state[key]
        default = options.index(suggestion[field]) if suggestion.get(field) in options else 0
        title = t(f"import.field.{field}") + (" *" if required else "")
        chosen[field] = grid[i % 3].selectbox(title, options, index=default, key=key, format_func=lambda h: h or t(
            "wizard.not_in_file")) or None
    choices: dict[str, str | prof.FieldChoice | None] = {
        **chosen, **_time_choices(kind, p, chosen), **_several(kind, p, chosen)}
    st.markdown(f"**{t('wizard.regions')}**")
    c1, c2 = st.columns(2)
    policy = c1.selectbox(t("wizard.regions.unknown"), POLICIES, key="wiz_reg_unknown",
                          format_func=lambda v: t(f"wizard.regions.{v}"))
    regions: dict[str, Any] = {"unknown": policy}
    if policy != "reject":
        tree = region_tree(engine(), scope_of(ident))
        tree = tree[tree["level"] != "station"] if policy == "create" and len(tree) else tree
        names = dict(zip(tree["code"], tree["name_zh" if lang() == "zh-CN" else "name_en"], strict=True)) \
            if len(tree) else {}
        target = c2.selectbox(t(f"wizard.regions.{policy}.target"), list(names), key="wiz_reg_parent",
                              format_func=lambda c: f"{names.get(c, c)} ({c})")
        regions["parent" if policy == "create" else "default"] = target
    return prof.build(kind, choices, regions)


def _pick(where: Any, label: str, options: list[str], key: str) -> str | None:
    """A selectbox of the file's columns (or none); a value the file no longer has is forgotten."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    return where.selectbox(label, options, key=key, format_func=lambda h: h or t("wizard.not_in_file")) or None


def _more(where: Any, label: str, headers: list[str], first: str | None, key: str) -> list[str]:
    """A multiselect of further columns, tried in order after ``first``."""
    options = [h for h in headers if h != first]
    if key in st.session_state:
        st.session_state[key] = [h for h in st.session_state[key] if h in options]
    return list(where.multiselect(label, options, key=key, placeholder=t("wizard.more.placeholder"),
                                  select_all=False))


def _time_choices(kind: str, p: prof.FileProfile, chosen: dict[str, str | None]) -> dict[str, prof.FieldChoice]:
    """For each time field with a column: one column, date + time in two columns or the first non-empty of several;
    its zone (default: the site's); and its day/month order once a dry run found the column ambiguous."""
    todo = [f for f in prof.time_fields(kind) if chosen.get(f)]
    if not todo:
        return {}
    st.markdown(f"**{t('wizard.times')}**")
    site = site_zone(engine())
    ambiguous = set(st.session_state.get("wiz_ambiguous", ()))
    out: dict[str, prof.FieldChoice] = {}
    for f in todo:
        name = t(f"import.field.{f}")
        cols = st.columns(4)
        how = cols[0].selectbox(t("wizard.how", field=name), prof.HOWS, key=f"wiz_f_{f}__how",
                                format_func=lambda h: t(f"wizard.how.{h}"))
        c = prof.FieldChoice(chosen[f], how)
        if how == "date_time":
            c.time = _pick(cols[1], t("wizard.time_column", field=name), [NONE, *p.headers], f"wiz_f_{f}__time")
        elif how == "coalesce":
            c.more = _more(cols[1], t("wizard.more", field=name), p.headers, c.column, f"wiz_f_{f}__more")
        c.zone = cols[2].selectbox(t("wizard.zone", field=name), [NONE, *prof.ZONES], key=f"wiz_f_{f}__zone",
                                   format_func=lambda z: z or t("wizard.zone.site", zone=site)) or None
        unclear = [h for h in c.headers() if h in ambiguous]
        if unclear or st.session_state.get(f"wiz_f_{f}__order"):
            c.date_order = cols[3].selectbox(
                t("wizard.order", field=name), [NONE, *prof.DATE_ORDERS], key=f"wiz_f_{f}__order",
                format_func=lambda o: t(f"wizard.order.{o or 'none'}")) or None
            if unclear and not c.date_order:
                st.warning(t("wizard.order.hint", columns=md_escape(", ".join(unclear))))
        out[f] = c
    return out


def _several(kind: str, p: prof.FileProfile, chosen: dict[str, str | None]) -> dict[str, prof.FieldChoice]:
    """Other fields filled from the first non-empty of several columns (the chosen one first)."""
    times = set(prof.time_fields(kind))
    candidates = [f for f, h in chosen.items() if h and f not in times]
    if not candidates:
        return {}
    out: dict[str, prof.FieldChoice] = {}
    with st.expander(t("wizard.several"), expanded=bool(st.session_state.get("wiz_f__several"))):
        if "wiz_f__several" in st.session_state:
            st.session_state["wiz_f__several"] = [f for f in st.session_state["wiz_f__several"] if f in candidates]
        picked = st.multiselect(t("wizard.several.fields"), candidates, key="wiz_f__several",
                                format_func=lambda f: t(f"import.field.{f}"), placeholder=t("wizard.more.placeholder"),
                                select_all=False)
        for f in picked:
            more = _more(st, t("wizard.more", field=t(f"import.field.{f}")), p.headers, chosen[f], f"wiz_f_{f}__more")
            out[f] = prof.FieldChoice(chosen[f], "coalesce", more=more)
    return out


def _save(ident: Identity, raw: dict[str, Any], m: Mapping) -> Mapping:
    """The save form; returns the mapping to run, named ``name@version`` once this JSON is saved."""
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    name = c1.text_input(t("wizard.save.name"), key="wiz_name", max_chars=64)
    if c2.button(t("wizard.save"), key="wiz_save"):
        try:
            s = saved_mappings.save(engine(), name, raw, ident.username)
        except FileError as exc:
            st.error(md_escape(exc.message(lang())))
        else:
            st.session_state["wiz_saved"] = (json.dumps(s.body, sort_keys=True, ensure_ascii=False), s.ref)
    done = st.session_state.get("wiz_saved")
    body = json.dumps({k: v for k, v in raw.items() if k != "name"}, sort_keys=True, ensure_ascii=False)
    if done and done[0] == body:
        name_, _, version = done[1].partition("@")
        st.success(t("wizard.saved", name=md_escape(name_), version=version))
        return parse({**raw, "name": done[1]}, path=done[1], kind=m.kind)
    return m


# --- dry run and import -------------------------------------------------------------------------------------------


def _run(ident: Identity, kind: str, data: bytes, name: str, m: Mapping, raw: dict[str, Any],
         dry_run: bool) -> None:
    with st.spinner(t("wizard.running_dry" if dry_run else "imports.running")), \
            tempfile.TemporaryDirectory() as tmp:
        path = write_private(Path(tmp) / name, data)
        res = import_file(engine(), kind, path, m, actor=ident, rejects_path=Path(tmp) / "rejects.csv",
                          display_name=name, dry_run=dry_run)
        rejects_csv = (Path(tmp) / "rejects.csv").read_bytes() if res.rejects_file else None
    st.session_state["wiz_result"] = result_state(res, rejects_csv, json.dumps(raw, sort_keys=True,
                                                                               ensure_ascii=False))
    known = st.session_state.get("wiz_ambiguous", [])
    found = sorted(set(known) | set(prof.ambiguous_columns(res.notes)))
    if found != known:  # draw the builder again with a date order choice for those columns
        st.session_state["wiz_ambiguous"] = found
        st.rerun()


def result_state(res: ImportResult, rejects_csv: bytes | None, mapping_json: str) -> dict[str, Any]:
    return {"summary": res.summary(lang()), "rejects": res.rejects.head(MAX_SHOWN), "n_rejects": len(res.rejects),
            "csv": rejects_csv, "file": res.file, "mapping_json": mapping_json}


def _show_result(mapping_json: str) -> None:
    out = st.session_state.get("wiz_result")
    if not out:
        return
    s = out["summary"]
    if out["mapping_json"] != mapping_json:
        st.caption(t("wizard.result_stale"))
    if "error" in s:
        st.error(t("imports.failed", message=md_escape(s["message"])))
        return
    dry = bool(s.get("dry_run"))
    st.subheader(t("wizard.result.dry" if dry else "wizard.result.real"))
    keys = ("rows", "imported", "updated", "unchanged", "rejected", "warnings")
    for col, k in zip(st.columns(len(keys)), keys, strict=True):
        col.metric(t("wizard.rows") if k == "rows" else t(f"imports.{k}"), s[k])
    if s.get("date_range"):
        st.markdown(t("wizard.date_range", start=s["date_range"][0], end=s["date_range"][1]))
    if dry:
        st.info(t("wizard.dry_note"))
    elif s["rejected"]:
        st.warning(t("imports.partial", n=s["rejected"]))
    else:
        st.success(t("imports.ok", file=md_escape(out["file"]), seconds=s["seconds"]))
    for c in s.get("checks", []):
        st.warning(md_escape(c["message"]))
    show_notes(s)
    if s.get("by_reason"):
        st.markdown(f"**{t('wizard.by_reason')}**")
        reason = "reason_zh" if lang() == "zh-CN" else "reason_en"
        st.dataframe(pd.DataFrame({
            t("imports.col.level"): [t(f"imports.level.{r['level']}") for r in s["by_reason"]],
            t("imports.col.column"): [r["column"] for r in s["by_reason"]],
            t("imports.col.reason"): [r[reason] for r in s["by_reason"]],
            t("wizard.col.rows"): [r["rows"] for r in s["by_reason"]],
            t("wizard.col.example"): [r["example"] for r in s["by_reason"]],
        }), hide_index=True, width="stretch")
    if out["n_rejects"]:
        st.markdown(f"**{t('imports.rejects')}**")
        df: pd.DataFrame = out["rejects"]
        reason = "reason_zh" if lang() == "zh-CN" else "reason_en"
        st.dataframe(pd.DataFrame({
            t("imports.col.row"): df["row"], t("imports.col.column"): df["column"],
            t("imports.col.value"): df["value"],
            t("imports.col.level"): df["level"].map(lambda v: t(f"imports.level.{v}")),
            t("imports.col.reason"): df[reason]}), hide_index=True, width="stretch")
        if out["n_rejects"] > MAX_SHOWN:
            st.caption(t("imports.rejects.more", n=MAX_SHOWN))
        if out["csv"]:
            st.download_button(t("imports.download_rejects"), data=out["csv"], mime="text/csv",
                               file_name=safe_filename(Path(out["file"]).stem + ".rejects", suffix=".csv"),
                               key="wiz_rejects_dl", on_click="ignore")
