"""基础数据 (admins): the region tree with its counts, teams and staff; a file upload (regions, teams or staff) with a
preview of what it changes, then apply; one region added or renamed by hand; the site's reporting time zone.

Every write goes through ``data.io.refdata`` (the same checks and transaction as ``python -m data regions import``)
and ``data.settings``. Staff names are masked: the page identifies people by staff number."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.db import engine
from dashboard.filters import area_label, frozen
from dashboard.i18n import lang, t
from dashboard.safe import md_escape
from dashboard.scope import identity
from data.access import can
from data.io.errors import FileError
from data.io.refdata import KINDS, RefResult, apply_rows, import_reference, scoped_frames
from data.masking import mask_name
from data.reference import AREA_CLASSES, LEVELS
from data.settings import TIMEZONE_KEY, SettingError, get_setting, set_setting, timezones

PREVIEW_KEY = "ref_preview"  # (kind, file name, bytes, RefResult of the dry run)
DONE_KEY = "ref_done"


def _name(row: pd.Series) -> str:
    return str(row["name_zh"] if lang() == "zh-CN" else row["name_en"])


def _clear_caches() -> None:
    """The region tree and every page's frames are cached; a change to the tree or the zone must show at once."""
    st.cache_data.clear()
    st.cache_resource.clear()


def _regions_table(df: pd.DataFrame) -> None:
    if df.empty:
        st.info(t("ref.regions.none"))
        return
    shown = pd.DataFrame({
        t("ref.col.region"): [("　" * int(d)) + _name(r) for d, (_i, r) in zip(df["depth"], df.iterrows(),
                                                                             strict=True)],
        t("ref.col.code"): df["code"], t("ref.col.parent"): df["parent_code"].fillna(""),
        t("ref.col.level"): df["level"].map(lambda v: t(f"level.{v}")),
        t("ref.col.area"): df["area_class"].map(area_label),
        t("ref.col.children"): df["children"], t("ref.col.teams"): df["teams"], t("ref.col.staff"): df["staff"],
    })
    st.dataframe(shown, hide_index=True, width="stretch", key="ref_regions_table")


def _teams_table(df: pd.DataFrame, staff: pd.DataFrame) -> None:
    if df.empty:
        st.info(t("ref.teams.none"))
        return
    per_team = staff.groupby("team_code").size()
    st.dataframe(pd.DataFrame({
        t("ref.col.code"): df["code"], t("ref.col.team"): df["name"],
        t("ref.col.role"): df["role"].map(lambda r: t(f"staffrole.{r}")),
        t("ref.col.region_code"): df["region_code"],
        t("ref.col.staff"): df["code"].map(per_team).fillna(0).astype(int),
    }), hide_index=True, width="stretch", key="ref_teams_table")


def _staff_table(df: pd.DataFrame) -> None:
    if df.empty:
        st.info(t("ref.staff.none"))
        return
    st.dataframe(pd.DataFrame({
        t("ref.col.staff_no"): df["code"], t("ref.col.name"): df["name"].map(mask_name),
        t("ref.col.role"): df["role"].map(lambda r: t(f"staffrole.{r}")),
        t("ref.col.team_code"): df["team_code"].fillna(""), t("ref.col.region_code"): df["region_code"],
        t("ref.col.active"): df["active"].map(lambda a: t("yes") if a else t("no")),
    }), hide_index=True, width="stretch", key="ref_staff_table")


def _shown(kind: str, field: str, value: object) -> str:
    if value is None:
        return ""
    if kind == "staff" and field == "name":
        return mask_name(value)
    return str(value)


def _result(res: RefResult) -> None:
    """The errors, or the changes (new codes, changed fields old -> new), of an import or its dry run."""
    if res.errors:
        st.error(t("ref.refused", n=len(res.errors)))
        st.dataframe(pd.DataFrame({t("ref.col.problem"): [e.message(lang()) for e in res.errors]}),
                     hide_index=True, width="stretch", key="ref_errors")
        return
    st.caption(t("ref.counts", inserted=len(res.inserted), updated=len(res.updated), unchanged=res.unchanged))
    rows = [(c, t("ref.change.new"), "", "", "") for c in res.inserted]
    rows += [(c, t("ref.change.update"), f, _shown(res.kind, f, o), _shown(res.kind, f, n))
             for c, ch in res.updated.items() for f, (o, n) in ch.items()]
    if rows:
        st.dataframe(pd.DataFrame(rows, columns=[t("ref.col.code"), t("ref.col.change"), t("ref.col.field"),
                                                 t("ref.col.old"), t("ref.col.new")]),
                     hide_index=True, width="stretch", key="ref_changes")


def _run(kind: str, name: str, data: bytes, dry_run: bool) -> RefResult | None:
    with tempfile.TemporaryDirectory(prefix="gridcx-ref-") as tmp:
        path = Path(tmp) / "upload"
        path.write_bytes(data)
        try:
            return import_reference(engine(), kind, path, name=name, user=identity().username, dry_run=dry_run)
        except FileError as exc:
            st.error(t("ref.file_error", file=md_escape(name), message=md_escape(exc.message(lang()))))
            return None


def _upload(may_write: bool) -> None:
    st.subheader(t("ref.upload"))
    st.caption(t("ref.upload_help"))
    kind = st.selectbox(t("ref.kind"), KINDS, key="ref_kind", format_func=frozen(KINDS, lambda k: t(f"ref.kind.{k}")))
    up = st.file_uploader(t("ref.file"), type=["csv", "txt", "xlsx"], key="ref_file")
    if up is not None and st.button(t("ref.preview"), key="ref_preview_btn", disabled=not may_write):
        res = _run(str(kind), up.name, up.getvalue(), dry_run=True)
        if res is not None:
            st.session_state[PREVIEW_KEY] = (str(kind), up.name, up.getvalue(), res)
    pending = st.session_state.get(PREVIEW_KEY)
    if pending is None:
        return
    p_kind, p_name, p_data, p_res = pending
    st.markdown(t("ref.preview_of", file=md_escape(p_name), kind=t(f"ref.kind.{p_kind}")))
    _result(p_res)
    if p_res.errors or not (p_res.inserted or p_res.updated):
        if not p_res.errors:
            st.info(t("ref.nothing"))
        return
    if st.button(t("ref.apply"), key="ref_apply", type="primary"):
        res = _run(p_kind, p_name, p_data, dry_run=False)
        st.session_state.pop(PREVIEW_KEY, None)
        if res is not None:
            _clear_caches()
            st.session_state[DONE_KEY] = (p_name, res)
            st.rerun()


def _single_region(regions: pd.DataFrame) -> None:
    st.subheader(t("ref.single"))
    codes = [str(c) for c in regions["code"]]
    names = dict(zip(codes, [f"{c} · {_name(r)}" for c, (_i, r) in zip(codes, regions.iterrows(), strict=True)],
                     strict=True))
    with st.form("ref_single", enter_to_submit=False):
        code = st.text_input(t("ref.col.code"), key="ref_s_code", max_chars=32, help=t("ref.single_help"))
        name_zh = st.text_input(t("ref.col.name_zh"), key="ref_s_zh", max_chars=64)
        name_en = st.text_input(t("ref.col.name_en"), key="ref_s_en", max_chars=128)
        parent = st.selectbox(t("ref.col.parent"), codes, key="ref_s_parent", index=None,
                              placeholder=t("ref.no_parent"), format_func=frozen(codes, lambda c: names.get(c, c)))
        level = st.selectbox(t("ref.col.level"), LEVELS, key="ref_s_level",
                             format_func=frozen(LEVELS, lambda v: t(f"level.{v}")))
        area = st.selectbox(t("ref.col.area"), AREA_CLASSES, key="ref_s_area",
                            format_func=frozen(AREA_CLASSES, area_label))
        go = st.form_submit_button(t("ref.single_submit"))
    if not go:
        return
    vals: dict[str, str | None] = {"code": code.strip() or None, "name_zh": name_zh.strip() or None,
                                   "name_en": name_en.strip() or None, "parent_code": parent, "level": level,
                                   "area_class": area}
    cols = {"code": t("ref.col.code"), "name_zh": t("ref.col.name_zh"), "name_en": t("ref.col.name_en"),
            "parent_code": t("ref.col.parent"), "level": t("ref.col.level"), "area_class": t("ref.col.area")}
    res = apply_rows(engine(), "regions", t("ref.form"), cols, [(1, vals)], user=identity().username)
    if res.written:
        _clear_caches()
        st.session_state[DONE_KEY] = (t("ref.form"), res)
        st.rerun()
    _result(res)


def _timezone() -> None:
    st.subheader(t("ref.tz"))
    current = get_setting(engine(), TIMEZONE_KEY)
    zones = timezones()
    if current not in zones:
        zones = [current, *zones]
    with st.form("ref_tz", enter_to_submit=False):
        zone = st.selectbox(t("ref.tz_label"), zones, index=zones.index(current), key="ref_tz_zone",
                            help=t("ref.tz_help"))
        go = st.form_submit_button(t("ref.tz_save"))
    if go and zone and zone != current:
        try:
            set_setting(engine(), TIMEZONE_KEY, str(zone), user=identity().username)
        except SettingError:
            st.error(t("ref.tz_bad", zone=md_escape(str(zone))))
            return
        _clear_caches()
        st.success(t("ref.tz_saved", zone=md_escape(str(zone))))


def render() -> None:
    ident = identity()
    st.title(t("nav.reference"))
    if not can(ident, "reference"):
        st.error(t("state.no_permission"))
        return
    st.caption(t("ref.caption"))
    done = st.session_state.pop(DONE_KEY, None)
    if done is not None:
        st.success(t("ref.applied", file=md_escape(done[0]), inserted=len(done[1].inserted),
                     updated=len(done[1].updated)))
    try:
        frames = scoped_frames(engine(), ident.scope_path)
    except Exception:  # noqa: BLE001 - a clear state, never a traceback
        st.error(t("state.error"))
        return
    regions = frames["regions"]
    # the tree is one: only an account whose scope is its top (or an empty database) may change it
    may_write = bool(regions.empty or (str(regions["path"].iloc[0]) == ident.scope_path
                                       and pd.isna(regions["parent_code"].iloc[0])))
    st.caption(t("ref.summary", regions=len(regions), teams=len(frames["teams"]), staff=len(frames["staff"])))
    tab_r, tab_t, tab_s = st.tabs([t("ref.kind.regions"), t("ref.kind.teams"), t("ref.kind.staff")])
    with tab_r:
        _regions_table(regions)
    with tab_t:
        _teams_table(frames["teams"], frames["staff"])
    with tab_s:
        _staff_table(frames["staff"])
    st.divider()
    if not may_write:
        st.info(t("ref.scope_only"))
        return
    _upload(may_write)
    st.divider()
    _single_region(regions)
    st.divider()
    _timezone()
