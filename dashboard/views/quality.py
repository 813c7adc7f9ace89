"""服务质量 Service quality: time-limit attainment by service type × area class under the chosen policy pack, full
distributions (not only means), open and ageing work, and exception reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import charts, datasets, drill, page
from dashboard.filters import area_label, frozen, service_label
from dashboard.i18n import t
from dashboard.tiles import fmt_value, kpi_label, tile
from data import reference
from metrics.dashboard_support import histogram_counts, quantile_table
from metrics.overview import SLA_KPIS

AREAS = ("urban", "rural", "remote")
AGE_BANDS = ((0, 1, "age.lt1"), (1, 3, "age.1_3"), (3, 7, "age.3_7"), (7, 30, "age.7_30"), (30, np.inf, "age.gt30"))


def render() -> None:
    ctx = page.start("nav.quality")
    state = ctx.state
    pack = page.policy_pack("sq_pack")
    loaded = page.frames_and_pack(ctx, pack)
    if loaded is None:
        return
    fr, pk = loaded
    cols = st.columns(len(SLA_KPIS))
    for col, key in zip(cols, SLA_KPIS, strict=False):
        with col:
            if tile(pk.headline.get(key), key, comparing=state.comparison_period is not None):
                drill.open_drill(drill.DrillSpec(kind="ticket", kpi=key, outcome="miss", policy_pack=pack,
                                                 title=kpi_label(key) + " · " + t("drill.miss")))
    _matrix(ctx, pack)
    _distributions(fr.tickets)
    _open_work(fr.tickets, fr.end)
    _exceptions(fr.tickets)
    drill.render(state)


def _matrix(ctx: page.Ctx, pack: str) -> None:
    """Attainment per service type × area class: each service type under the interval its commitment measures."""
    st.subheader(t("quality.matrix_q"))
    parts = []
    # a cell is "no data" only where the pack commits to a limit: other service types are simply not measured there
    limits = reference.sla_policies(pack)
    committed = set(zip(limits["service_type"], limits["interval"], strict=True))
    for key, interval in SLA_KPIS.items():
        r = datasets.kpi_by(ctx.db, ctx.scope_path, ctx.state.key(), key, ("service_type", "area_class"), pack)
        if r.empty:
            continue
        blank = (r["status"] == "no_data") & r["service_type"].map(lambda s, i=interval: (s, i) in committed)
        r = r.loc[(r["n"] > 0) | blank].assign(interval=interval, kpi=key)
        parts.append(r)
    if not parts:
        st.info(t("quality.no_limits"))
        return
    d = pd.concat(parts, ignore_index=True)
    d["service_label"] = d["service_type"].map(service_label) + " · " + d["interval"].map(
        lambda i: t(f"interval.{i}"))
    d["area_label"] = d["area_class"].map(area_label)
    d["value_shown"] = d["value"].where(~d["status"].isin(("insufficient", "no_data")))
    d["note"] = pd.Series(t("status.no_data"), index=d.index).where(d["status"] == "no_data")
    ch = charts.heatmap(d, x="area_label", y="service_label", value="value_shown", note="note",
                        title=t("quality.matrix_title", pack=t(f"pack.{pack}")), x_title=t("filters.area"),
                        y_title=t("filters.service"), value_title=t("quality.attainment"), value_format=".0%",
                        x_sort=[area_label(a) for a in AREAS], scheme="redyellowgreen")

    def pick(p: dict[str, object]) -> None:
        row = d.loc[(d["area_label"] == p.get("area_label")) & (d["service_label"] == p.get("service_label"))]
        if len(row):
            _open_misses(row.iloc[0], pack)

    page.chart(ch, "sq_matrix", pick)
    table = d[["service_label", "area_label", "value", "ci_low", "ci_high", "n", "n_exception", "n_open_overdue",
               "status", "kpi", "service_type", "area_class"]].copy()
    shown = pd.DataFrame({
        t("filters.service"): table["service_label"], t("filters.area"): table["area_label"],
        t("quality.attainment"): table["value"].map(lambda v: fmt_value(v, "share")),
        t("chart.ci_low"): table["ci_low"].map(lambda v: fmt_value(v, "share")),
        t("chart.ci_high"): table["ci_high"].map(lambda v: fmt_value(v, "share")),
        "n": table["n"].astype(int), t("quality.exceptions"): table["n_exception"].fillna(0).astype(int),
        t("quality.overdue_open"): table["n_open_overdue"].fillna(0).astype(int),
        t("chart.status"): table["status"].map(lambda s: t(f"status.{s}")),
    })
    event = st.dataframe(shown, hide_index=True, width="stretch", key="sq_table", on_select="rerun",
                         selection_mode="single-row")
    rows = getattr(getattr(event, "selection", None), "rows", None)
    marker = "_sq_table_handled"
    if rows and st.session_state.get(marker) != rows[0]:
        st.session_state[marker] = rows[0]
        r = table.iloc[rows[0]]
        _open_misses(r, pack)
    # a keyboard-friendly way to open the misses of a cell (and the one tests and the browser journey use)
    options = [None] + list(range(len(table)))
    choice = st.selectbox(t("quality.open_misses"), options, key="sq_open_cell",
                          format_func=frozen(options, lambda i: t("regions.choose") if i is None else
                                             f"{table.iloc[i]['service_label']} · {table.iloc[i]['area_label']}"))
    if choice is not None and st.session_state.get("_sq_cell_handled") != choice:
        st.session_state["_sq_cell_handled"] = choice
        r = table.iloc[int(choice)]
        _open_misses(r, pack)
    st.caption(t("quality.matrix_note"))


def _open_misses(cell: pd.Series, pack: str) -> None:
    """Open the work orders that missed the time limit in one service type × area class cell of the matrix."""
    drill.open_drill(drill.DrillSpec(
        kind="ticket", kpi=str(cell["kpi"]), outcome="miss", policy_pack=pack,
        title=f"{cell['service_label']} · {cell['area_label']} · {t('drill.miss')}",
        where=(("service_type", str(cell["service_type"])), ("area_class", str(cell["area_class"])))))


def _distributions(tickets: pd.DataFrame) -> None:
    st.subheader(t("quality.dist_q"))
    rep = tickets.loc[(tickets["service_type"] == "repair") & tickets["arrived_at"].notna()]
    if len(rep):
        minutes = (rep["arrived_at"] - rep["created_at"]).dt.total_seconds() / 60.0
        counts = histogram_counts(minutes.to_numpy(), rep["area_class"].to_numpy(), bins=24)
        counts["area"] = counts["group"].map(area_label)
        lim = rep[["area_class", "limit_value_arrival"]].dropna().drop_duplicates("area_class")
        limits = pd.DataFrame({"area": lim["area_class"].map(area_label), "limit": lim["limit_value_arrival"]})
        st.altair_chart(charts.histogram(counts, value="bin_start", title=t("quality.arrival_title"),
                                         x_title=t("col.arrival_min"), limits=limits, facet="area",
                                         colour_scale=charts.area_scale()), key="sq_arrival_hist")
    done = tickets.loc[tickets["resolved_at"].notna()]
    if len(done):
        hours = (done["resolved_at"] - done["created_at"]).dt.total_seconds() / 3600.0
        q = quantile_table(hours.to_numpy(), done["service_type"].map(service_label).to_numpy())
        q = q.rename(columns={"group": "service"}).sort_values("median", ascending=False)
        st.altair_chart(charts.boxplot(q, group="service", title=t("quality.resolution_title"),
                                       y_title=t("col.resolution_h")), key="sq_resolution_box")
        st.caption(t("quality.box_note"))


def _open_work(tickets: pd.DataFrame, end: pd.Timestamp | None) -> None:
    st.subheader(t("quality.open_q"))
    op = tickets.loc[tickets["resolved_at"].isna()]
    if op.empty:
        st.success(t("quality.no_open"))
        return
    as_of = pd.Timestamp(end) if end is not None else tickets["created_at"].max()
    as_of = min(as_of, tickets["created_at"].max() + pd.Timedelta(days=1))
    age = (as_of - op["created_at"]).dt.total_seconds() / 86400.0
    band = pd.cut(age, [b[0] for b in AGE_BANDS] + [np.inf], right=False, labels=[t(b[2]) for b in AGE_BANDS])
    d = pd.DataFrame({"service": op["service_type"].map(service_label), "band": band.astype(str)})
    d = d.value_counts().rename("count").reset_index()
    order = [t(b[2]) for b in AGE_BANDS]
    d["order"] = d["band"].map({b: i for i, b in enumerate(order)})
    st.altair_chart(charts.stacked_bars(d, x="count", y="service", colour="band", title=t("quality.open_title"),
                                        x_title=t("chart.count"), colour_title=t("col.age_days"),
                                        colour_order=order), key="sq_open")
    if st.button(t("quality.open_rows", n=len(op)), key="sq_open_rows", icon=":material/table_rows:"):
        drill.open_drill(drill.DrillSpec(kind="ticket", title=t("quality.open_title"),
                                         ids=tuple(int(i) for i in op["id"])))


def _exceptions(tickets: pd.DataFrame) -> None:
    st.subheader(t("quality.exc_q"))
    ex = tickets["exception_reason"].dropna()
    if ex.empty:
        st.info(t("quality.no_exceptions"))
        return
    d = ex.value_counts().rename("count").reset_index()
    d.columns = ["reason", "count"]
    d["reason_label"] = d["reason"].map(lambda r: t(f"exception.{r}"))
    ch = charts.bars(d, x="count", y="reason_label", title=t("quality.exc_title"), x_title=t("chart.count"),
                     colour="#E69F00")

    def pick(p: dict[str, object]) -> None:
        row = d.loc[d["reason_label"] == p.get("reason_label")]
        if len(row):
            drill.open_drill(drill.DrillSpec(kind="ticket", title=str(row.iloc[0]["reason_label"]),
                                             where=(("exception_reason", str(row.iloc[0]["reason"])),)))

    page.chart(ch, "sq_exc", pick)
    st.caption(t("quality.exc_note", n=int(ex.size), share=fmt_value(ex.size / len(tickets), "share")))

