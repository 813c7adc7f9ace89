"""Drill-down: the rows behind a number (paged, personal data masked, exportable exactly as shown with the filters in
the file) and, from any row, the customer archive (work orders, contacts, surveys, follow-ups).

Who may see what is the role matrix's (``data.access``): opening a drill, its row table and the customer archive need
``drill_down``, its CSV/Excel exports ``export_rows``; a role without them (HR) gets no drill buttons, no rows, no
customer fields, whatever the session state says. The exports are built lazily on click, outside the script run:
:func:`export_builder` captures the identity, language, filters and rows while the script runs.

A page opens a drill with :func:`open_drill` (from a tile button, a chart selection or a table selection) and
calls :func:`render` once near its end. Rows come from the same cached, scoped fact frames the numbers were computed
from; for a proportion KPI the KPI function itself marks each row (``metrics.dashboard_support.row_outcomes``), so
the rows behind a share reproduce it exactly.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard import datasets
from dashboard.db import engine, url
from dashboard.filters import (
    FilterState,
    area_label,
    channel_label,
    frozen,
    headline_line,
    scope_regions,
    segment_label,
    service_label,
)
from dashboard.i18n import lang, language, t
from dashboard.safe import md_escape
from dashboard.scope import identity, may
from dashboard.tiles import fmt_value, kpi_label
from data.access import require
from data.engine import get_engine
from data.masking import mask_account, mask_address, mask_free_text, mask_name, mask_phone
from data.reference import DEFAULT_PACK
from data.repositories import Scope
from data.repositories.drill import customer_history, customers
from data.users import Identity, audit
from metrics import registry
from metrics.dashboard_support import row_outcomes
from metrics.overview import kpi_params

DRILL_KEY = "drill_spec"
PAGE_KEY = "drill_page"
ARCHIVE_KEY = "archive_customer"
PAGE_OWNER = "_drill_current_page"
SCROLL_KEY = "_drill_scroll"  # a drill opened on this run: bring it into view (it sits below the charts)
PAGE_SIZE = 50
EXPORT_MAX = 200_000
_KINDS = {"ticket": "tickets", "contact": "contacts", "response": "responses", "follow_up": "follow_ups"}


@dataclass(frozen=True)
class DrillSpec:
    """What to open: rows of ``kind`` matching ``where`` (column, value) pairs; with a KPI, the rows it counts
    (``outcome`` = "counted"), its hits ("hit") or its misses ("miss")."""

    kind: str  # ticket | contact | response | follow_up
    title: str
    where: tuple[tuple[str, Any], ...] = ()
    kpi: str | None = None
    outcome: str = "all"  # all | counted | hit | miss
    policy_pack: str = DEFAULT_PACK
    ids: tuple[int, ...] | None = None  # an explicit row set (e.g. channel switches)
    page: str = ""  # the page that opened it: a drill stays on its page


def open_drill(spec: DrillSpec) -> None:
    """Open ``spec`` on the current page; nothing for a user who may not drill down."""
    from dataclasses import replace

    if not may("drill_down"):
        return
    st.session_state[DRILL_KEY] = replace(spec, page=str(st.session_state.get(PAGE_OWNER, "")))
    st.session_state[PAGE_KEY] = 0
    st.session_state.pop(ARCHIVE_KEY, None)
    st.session_state[SCROLL_KEY] = abs(int(st.session_state.get(SCROLL_KEY) or 0)) + 1


def close_drill() -> None:
    st.session_state.pop(DRILL_KEY, None)
    st.session_state.pop(ARCHIVE_KEY, None)


def rows_for(spec: DrillSpec, state: FilterState, db_url: str, scope_path: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The fact rows behind ``spec`` (all of them, unpaged) and a summary {counted, hits, value} for KPI drills."""
    kind = spec.kind if spec.kpi is None else registry.get(spec.kpi).frame
    fr = datasets.drill_frames(db_url, scope_path, state.key(), kind, spec.where, spec.policy_pack)
    df = fr.get(kind)
    if df is None:
        return pd.DataFrame(), {}
    for col, value in spec.where:
        if col in df.columns:  # None: the rows without a value (a response without a work order has no segment)
            df = df.loc[df[col].isna() if value is None else df[col] == value]
    if spec.ids is not None:
        df = df.loc[df["id"].isin(list(spec.ids))]
    summary: dict[str, Any] = {}
    if spec.kpi is not None and registry.get(spec.kpi).kind == "proportion" and len(df):
        cal = datasets.calendar_of(state.key())
        out = row_outcomes(spec.kpi, df, **kpi_params(spec.kpi, fr, cal))
        counted = int(out["counted"].sum())
        hits = int(out["hit"].sum())
        summary = {"counted": counted, "hits": hits, "value": hits / counted if counted else float("nan")}
        keep = {"counted": out["counted"], "hit": out["hit"], "miss": out["counted"] & ~out["hit"]}.get(spec.outcome)
        if keep is not None:
            df = df.loc[df["id"].isin(out.loc[keep.to_numpy(), "id"])]
    elif spec.kpi is not None and len(df):
        k = registry.get(spec.kpi)
        if k.kind in ("mean", "percentile") and "start" in k.params:
            s, e = k.params["start"], k.params["end"]
            df = df.loc[df[s].notna() & df[e].notna()]
            if k.params.get("service_types"):
                df = df.loc[df["service_type"].isin(list(k.params["service_types"]))]
    return df.sort_values(df.columns[0]).reset_index(drop=True), summary


# --- display (personal data masked by data.masking) -------------------------------------------------------------------


def _zone(db_url: str) -> str:
    """The site's reporting zone (``site.timezone``), also outside the script run (download callables)."""
    from data.settings import site_zone

    return site_zone(get_engine(db_url))


def _local(ts: pd.Series, zone: str) -> pd.Series:
    s = pd.to_datetime(ts, utc=True)
    return s.dt.tz_convert(zone).dt.strftime("%Y-%m-%d %H:%M").fillna("")


def _minutes(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return ((pd.to_datetime(later, utc=True) - pd.to_datetime(earlier, utc=True)).dt.total_seconds() / 60.0).round(1)


def _region_names(db_url: str, scope_path: str) -> dict[int, str]:
    tree = scope_regions(db_url, scope_path)
    col = "name_zh" if lang() == "zh-CN" else "name_en"
    return dict(zip(tree["id"].astype(int), tree[col].astype(str), strict=False))


def display(kind: str, df: pd.DataFrame, db_url: str, scope_path: str, with_customers: bool = True,
            names: dict[int, str] | None = None) -> pd.DataFrame:
    """The columns a person sees (labels from the catalogue), personal data masked. ``names`` (region id -> name)
    saves a cached read; code outside the script run passes them."""
    names = _region_names(db_url, scope_path) if names is None else names
    zone = _zone(db_url)
    c = lambda k: t(f"col.{k}")  # noqa: E731
    out = pd.DataFrame(index=df.index)
    if kind == "ticket":
        out[c("external_no")] = df["external_no"]
        out[c("region")] = df["region_id"].map(names)
        out[c("area_class")] = df["area_class"].map(area_label)
        out[c("channel")] = df["channel"].map(channel_label)
        out[c("service_type")] = df["service_type"].map(service_label)
        out[c("segment")] = df["segment"].map(lambda s: segment_label(s) if isinstance(s, str) else "")
        out[c("created_at")] = _local(df["created_at"], zone)
        out[c("arrival_min")] = _minutes(df["arrived_at"], df["created_at"])
        out[c("resolution_h")] = (_minutes(df["resolved_at"], df["created_at"]) / 60.0).round(2)
        if "limit_value_arrival" in df.columns:
            out[c("arrival_limit")] = df["limit_value_arrival"]
        out[c("status")] = df["status"].map(lambda s: t(f"ticket_status.{s}"))
        out[c("exception_reason")] = df["exception_reason"].map(
            lambda s: t(f"exception.{s}") if isinstance(s, str) else "")
    elif kind == "contact":
        out[c("contact_id")] = df["id"]
        out[c("region")] = df["region_id"].map(names)
        out[c("channel")] = df["channel"].map(channel_label)
        out[c("category")] = df["category"].map(service_label)
        out[c("queued_at")] = _local(df["queued_at"], zone)
        out[c("wait_min")] = _minutes(df["answered_at"], df["queued_at"])
        out[c("abandoned")] = df["abandoned"].map({True: t("yes"), False: t("no")})
    elif kind == "response":
        out[c("response_id")] = df["id"]
        out[c("region")] = df["region_id"].map(names)
        out[c("service_type")] = df["service_type"].map(lambda s: service_label(s) if isinstance(s, str) else "")
        out[c("submitted_at")] = _local(df["submitted_at"], zone)
        for k in ("csat", "nps", "ces"):
            out[c(k)] = df[k]
        out[c("fcr")] = df["fcr"].map(lambda v: "" if v is None or pd.isna(v) else (t("yes") if v else t("no")))
        out[c("comment")] = df["comment"].fillna("").map(mask_free_text)
    elif kind == "follow_up":
        out[c("follow_up_id")] = df["id"]
        out[c("region")] = df["region_id"].map(names)
        out[c("reason")] = df["reason"].map(lambda s: t(f"fu_reason.{s}"))
        out[c("severity")] = df["severity"].map(lambda s: t(f"severity.{s}"))
        out[c("fu_status")] = df["status"].map(lambda s: t(f"fu_status.{s}"))
        out[c("created_at")] = _local(df["created_at"], zone)
        out[c("due_at")] = _local(df["due_at"], zone)
        out[c("closed_at")] = _local(df["closed_at"], zone)
    if with_customers and "customer_id" in df.columns:
        cust = customers(get_engine(db_url), Scope(scope_path),
                         df["customer_id"].dropna().astype(int).unique().tolist())
        cmap = cust.set_index("id") if len(cust) else None
        cid = df["customer_id"]
        out[c("account_no")] = cid.map(lambda i: mask_account(cmap.at[int(i), "account_no"])
                                       if cmap is not None and pd.notna(i) and int(i) in cmap.index else "")
        out[c("customer")] = cid.map(lambda i: mask_name(cmap.at[int(i), "name"])
                                     if cmap is not None and pd.notna(i) and int(i) in cmap.index else "")
        out[c("phone")] = cid.map(lambda i: mask_phone(cmap.at[int(i), "phone"])
                                  if cmap is not None and pd.notna(i) and int(i) in cmap.index else "")
    return out.reset_index(drop=True)


# --- rendering ---------------------------------------------------------------------------------------------------


def _export_header(spec: DrillSpec, state: FilterState, summary: dict[str, Any], n: int) -> dict[str, str]:
    head = {t("export.title"): spec.title, t("export.filters"): headline_line(state), t("export.rows"): str(n)}
    if summary:
        head[t("export.reproduces")] = f"{summary['hits']} / {summary['counted']}"
    return head


def export_builder(fmt: str, ident: Identity, language_code: str, db_url: str, spec: DrillSpec, kind: str,
                   rows: pd.DataFrame, header: dict[str, str], names: dict[int, str]) -> Callable[[], bytes]:
    """The ``data`` callable of a drill-down download button.

    Streamlit calls it when the browser asks for the file, outside the script run: there is no session state there
    (no identity, no language), so everything it needs is captured here while the script runs. It checks the
    captured identity against the role matrix again, builds the file in the captured language with every cell
    through ``safe_cell`` (dashboard.export), and writes the export to the audit trail under that user's name.
    """
    from dashboard.export import to_csv, to_excel

    if fmt not in ("csv", "xlsx"):
        raise ValueError(fmt)

    def build() -> bytes:
        who = require(ident, "export_rows")
        with language(language_code):
            frame = display(kind, rows.head(EXPORT_MAX), db_url, who.scope_path, names=names)
            head = {**header, t("export.generated"): dt.datetime.now(ZoneInfo(_zone(db_url))).strftime("%Y-%m-%d %H:%M")}
            data = to_csv(frame, head) if fmt == "csv" else to_excel(frame, head, sheet=t("export.sheet"))
        with get_engine(db_url).begin() as conn:
            audit(conn, who.username, "export", "drill", spec.kind,
                  {"format": fmt, "title": spec.title, "rows": int(len(frame)), "filters": header})
        return data

    return build


def render(state: FilterState) -> None:
    """The open drill-down (if any) and the customer archive (if a row was opened)."""
    spec = st.session_state.get(DRILL_KEY)
    if not isinstance(spec, DrillSpec) or spec.page != st.session_state.get(PAGE_OWNER, ""):
        return
    if not may("drill_down"):  # a drill left in (or forged into) the session of a role without drill-down
        close_drill()
        return
    ident = identity()
    db, scope_path = url(), ident.scope_path
    st.divider()
    _scroll_here()
    head, close = st.columns([6, 1])
    head.subheader(t("drill.title", title=spec.title))
    if close.button(t("drill.close"), key="drill_close", icon=":material/close:"):
        close_drill()
        st.rerun()
    try:
        rows, summary = rows_for(spec, state, db, scope_path)
    except Exception:  # noqa: BLE001 - a clear state, never a traceback
        st.error(t("state.error"))
        return
    if rows.empty:
        st.info(t("drill.empty"))
        return
    kind = spec.kind if spec.kpi is None else registry.get(spec.kpi).frame
    if summary:
        st.caption(t("drill.reproduces", hits=summary["hits"], counted=summary["counted"],
                     value=fmt_value(summary["value"], "share"), kpi=kpi_label(spec.kpi or "")))
    pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
    page = min(int(st.session_state.get(PAGE_KEY, 0)), pages - 1)
    nav = st.columns([1, 1, 4])
    if nav[0].button(t("drill.prev"), key="drill_prev", disabled=page == 0):
        st.session_state[PAGE_KEY] = page - 1
        st.rerun()
    if nav[1].button(t("drill.next"), key="drill_next", disabled=page >= pages - 1):
        st.session_state[PAGE_KEY] = page + 1
        st.rerun()
    nav[2].caption(t("drill.page", page=page + 1, pages=pages, n=len(rows)))
    chunk = rows.iloc[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    shown = display(kind, chunk, db, scope_path)
    event = st.dataframe(shown, hide_index=True, width="stretch", key="drill_table", on_select="rerun",
                         selection_mode="single-row")
    if may("export_rows"):
        header = _export_header(spec, state, summary, len(rows))
        names = _region_names(db, scope_path)
        lg = lang()
        e1, e2, _ = st.columns([1, 1, 3])
        e1.download_button(t("drill.csv"), data=export_builder("csv", ident, lg, db, spec, kind, rows, header, names),
                           file_name="gridcx-drill.csv", mime="text/csv", key="drill_csv", on_click="ignore", icon=":material/download:")
        e2.download_button(t("drill.xlsx"),
                           data=export_builder("xlsx", ident, lg, db, spec, kind, rows, header, names),
                           file_name="gridcx-drill.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", key="drill_xlsx", on_click="ignore",
                           icon=":material/download:")
    if "customer_id" in chunk.columns:
        picked = None
        sel = getattr(getattr(event, "selection", None), "rows", None) if event is not None else None
        if sel:
            picked = chunk.iloc[sel[0]]["customer_id"]
        options = [None] + chunk["customer_id"].dropna().astype(int).drop_duplicates().tolist()
        labels = dict(zip(chunk["customer_id"], shown[t("col.account_no")] if t("col.account_no") in shown else
                          chunk["customer_id"], strict=False))
        choice = st.selectbox(t("drill.archive_pick"), options, key="drill_archive_pick",
                              format_func=frozen(options, lambda i: t("drill.archive_none") if i is None else
                                                 str(labels.get(i, i))))
        if picked is not None and not pd.isna(picked):
            st.session_state[ARCHIVE_KEY] = int(picked)
        elif choice is not None:
            st.session_state[ARCHIVE_KEY] = int(choice)
    render_archive()


def _scroll_here() -> None:
    """Right after a drill was opened (a tile's 明细 sits ~3,000 px above the rows), scroll the page to this point.

    A marker and a few lines of JavaScript (nothing from the data goes into it); the number changes with every
    opening, so the element is new and its script runs again. Retried briefly while the charts above settle."""
    n = st.session_state.get(SCROLL_KEY)
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        return
    st.session_state[SCROLL_KEY] = -n  # once: later reruns (paging, selecting a row) do not jump again
    st.html(f'<div id="gridcx-drill-{n}" data-testid="gridcx-drill-anchor"></div><script>(function(){{'
            f'function go(){{var e=document.getElementById("gridcx-drill-{n}");'
            f'if(e)e.scrollIntoView({{block:"start"}});}}'
            f'[0,150,400,900].forEach(function(ms){{setTimeout(go,ms);}});}})();</script>',
            unsafe_allow_javascript=True)


def render_archive() -> None:
    """The customer archive used before a 回访 call: service history, personal data masked."""
    cid = st.session_state.get(ARCHIVE_KEY)
    if cid is None:
        return
    if not may("drill_down"):  # the archive is customer data: only for roles with drill-down (data.access)
        st.session_state.pop(ARCHIVE_KEY, None)
        return
    ident = identity()
    scope_path = ident.scope_path
    hist = customer_history(engine(), Scope(scope_path), int(cid))
    zone = _zone(url())
    st.subheader(t("archive.title"))
    if hist["customer"].empty:
        st.warning(t("state.no_permission"))
        return
    cu = hist["customer"].iloc[0]
    # masked values are full of asterisks (370****789): escaped, or Markdown would read them as emphasis
    st.markdown(" · ".join([
        t("col.customer") + "：" + md_escape(mask_name(cu["name"])),
        t("col.account_no") + "：" + md_escape(mask_account(cu["account_no"])),
        t("col.phone") + "：" + md_escape(mask_phone(cu["phone"])),
        t("col.address") + "：" + md_escape(mask_address(cu["address"])),
        t("col.segment") + "：" + md_escape(segment_label(str(cu["segment"]))),
    ] + ([t("archive.vulnerable")] if bool(cu["vulnerable"]) else [])))
    c = lambda k: t(f"col.{k}")  # noqa: E731
    tk = hist["tickets"]
    st.markdown("**" + t("archive.tickets", n=len(tk)) + "**")
    if len(tk):
        st.dataframe(pd.DataFrame({
            c("external_no"): tk["external_no"], c("created_at"): _local(tk["created_at"], zone),
            c("channel"): tk["channel"].map(channel_label), c("service_type"): tk["service_type"].map(service_label),
            c("status"): tk["status"].map(lambda s: t(f"ticket_status.{s}")),
            c("arrival_min"): _minutes(tk["arrived_at"], tk["created_at"]),
            c("exception_reason"): tk["exception_reason"].map(lambda s: t(f"exception.{s}") if isinstance(s, str) else ""),
        }), hide_index=True, width="stretch", key="archive_tickets")
    co = hist["contacts"]
    st.markdown("**" + t("archive.contacts", n=len(co)) + "**")
    if len(co):
        st.dataframe(pd.DataFrame({
            c("queued_at"): _local(co["queued_at"], zone), c("channel"): co["channel"].map(channel_label),
            c("category"): co["category"].map(service_label),
            c("abandoned"): co["abandoned"].map({True: t("yes"), False: t("no")}),
        }), hide_index=True, width="stretch", key="archive_contacts")
    rs = hist["responses"]
    st.markdown("**" + t("archive.responses", n=len(rs)) + "**")
    if len(rs):
        st.dataframe(pd.DataFrame({
            c("submitted_at"): _local(rs["submitted_at"], zone), c("csat"): rs["csat"], c("nps"): rs["nps"],
            c("ces"): rs["ces"], c("comment"): rs["comment"].fillna("").map(mask_free_text),
        }), hide_index=True, width="stretch", key="archive_responses")
    fu = hist["follow_ups"]
    st.markdown("**" + t("archive.follow_ups", n=len(fu)) + "**")
    if len(fu):
        st.dataframe(pd.DataFrame({
            c("created_at"): _local(fu["created_at"], zone), c("reason"): fu["reason"].map(lambda s: t(f"fu_reason.{s}")),
            c("fu_status"): fu["status"].map(lambda s: t(f"fu_status.{s}")), c("due_at"): _local(fu["due_at"], zone),
            c("outcome"): fu["outcome"].map(lambda s: t(f"outcome.{s}") if isinstance(s, str) else ""),
        }), hide_index=True, width="stretch", key="archive_follow_ups")
