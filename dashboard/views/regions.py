"""区域分析 Regions: drill the region tree (province → city → county → station), rankings with intervals, a region
grid, urban / rural / remote side by side, and hall waiting time by hour × weekday."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, datasets, drill, filters, page
from dashboard.filters import area_label, frozen
from dashboard.i18n import lang, t
from dashboard.safe import md_escape
from dashboard.tiles import fmt_value, kpi_label
from metrics import registry
from metrics.dashboard_support import histogram_counts

RANK_KPIS = ("sla_arrival", "arrival_time", "sla_resolution", "csat", "nps", "online_share", "fcr_system",
             "hall_waiting_time", "followup_closure")
AREAS = ("urban", "rural", "remote")
X_FORMAT = {"share": ".0%", "index": ".2f", "minutes": ",.0f", "hours": ",.1f", "seconds": ",.0f", "score": ".2f"}


def render() -> None:
    ctx = page.start("nav.regions")
    state = ctx.state
    tree = filters.scope_regions(ctx.db, ctx.scope_path)
    names = page.region_names(ctx)
    current = tree.loc[tree["id"] == state.region_id].iloc[0]
    _breadcrumb(tree, current, names, ctx.scope_path)
    children = tree.loc[tree["parent_id"] == state.region_id]
    key = st.selectbox(t("regions.kpi"), RANK_KPIS, key="rg_kpi", format_func=frozen(RANK_KPIS, kpi_label)) or RANK_KPIS[0]
    try:
        by_region = datasets.kpi_by(ctx.db, ctx.scope_path, state.key(), key, ("region",))
    except Exception:  # noqa: BLE001
        page.failed()
        return
    if registry.defined_away(key, filters.filters_from_key(state.key()).kept()):
        st.info(f"{kpi_label(key)}：{t('status.not_applicable')} · {t('tile.not_applicable')}")
    elif by_region.empty or int(by_region["n"].sum()) == 0:
        st.info(t("state.empty"))
    else:
        _ranking(ctx, by_region, key, names, children)
    _equity(ctx, key)
    _hall_heatmap(ctx)
    drill.render(state)


def _breadcrumb(tree: pd.DataFrame, current: pd.Series, names: dict[int, str], scope_path: str) -> None:
    ids = [int(p) for p in str(current["path"]).strip("/").split("/")]
    known = set(tree["id"].astype(int))
    inside = [i for i in ids if i in known]  # ancestors above the user's scope are not shown
    st.caption(t("regions.level", level=t(f"level.{current['level']}")))
    cols = st.columns(max(1, len(inside)) + 1)
    for col, rid in zip(cols, inside, strict=False):
        if rid == int(current["id"]):
            col.markdown(f"**{md_escape(names.get(rid, rid))}**")
        elif col.button(names.get(rid, str(rid)), key=f"rg_up_{rid}", icon=":material/north_west:"):
            filters.set_region(rid)


def _ranking(ctx: page.Ctx, by_region: pd.DataFrame, key: str, names: dict[int, str],
             children: pd.DataFrame) -> None:
    k = registry.get(key)
    d = by_region.loc[(by_region["n"] > 0) | (by_region["status"] == "no_data")].copy()
    d["region_label"] = d["region"].map(lambda r: names.get(int(r), str(r)))
    st.subheader(t("regions.rank_q", kpi=kpi_label(key)))
    ranked = d.loc[~d["status"].isin(("insufficient", "no_data"))]
    blank = d.loc[d["status"] == "no_data", "region_label"].tolist()
    if blank:  # regions whose rows lack the KPI's input: named, never ranked as 0
        st.caption(t("regions.no_data_list", regions="、".join(md_escape(x) for x in blank)))
    if ranked.empty:
        st.info(t("state.too_few", n=int(d["n"].max()) if len(d) else 0, min_n=k.min_n))
    else:
        ch = charts.dot_interval(ranked, label="region_label", title=t("regions.rank_title", kpi=kpi_label(key)),
                                 x_title=kpi_label(key), target=k.target, higher_is_better=k.direction == "higher",
                                 x_format=X_FORMAT.get(k.unit, ",.1f"))

        def pick(p: dict[str, object]) -> None:
            row = d.loc[d["region_label"] == p.get("region_label")]
            if len(row):
                _open(key, int(row.iloc[0]["region"]), str(row.iloc[0]["region_label"]))

        page.chart(ch, "rg_rank", pick)
        few = d.loc[d["status"] == "insufficient", "region_label"].tolist()
        if few:
            st.caption(t("regions.too_few_list", regions="、".join(md_escape(x) for x in few), min_n=k.min_n))
    st.subheader(t("regions.grid_q"))
    grid = d.copy()
    grid["status"] = grid["status"].where((grid["n"] >= k.min_n) | (grid["status"] == "no_data"), "insufficient")
    ch = charts.region_grid(grid.sort_values("region_label"), title=t("regions.grid_title", kpi=kpi_label(key)),
                            value_title=kpi_label(key), value_format=X_FORMAT.get(k.unit, ",.1f"))
    child_ids = set(children["id"].astype(int))

    def go(p: dict[str, object]) -> None:
        rid = p.get("region")
        if isinstance(rid, int | float | str) and int(rid) in child_ids:  # the picked mark's JSON value
            filters.set_region(int(rid))

    page.chart(ch, "rg_grid", go)
    st.caption(t("regions.grid_hint"))
    table = d.sort_values("value", ascending=k.direction != "higher")[
        ["region_label", "value", "ci_low", "ci_high", "n", "status"]].copy()
    for c in ("value", "ci_low", "ci_high"):
        table[c] = table[c].map(lambda v: fmt_value(v, k.unit))
    table["status"] = table["status"].map(lambda s: t(f"status.{s}"))
    table.columns = [t("col.region"), kpi_label(key), t("chart.ci_low"), t("chart.ci_high"), "n", t("chart.status")]
    st.dataframe(table, hide_index=True, width="stretch", key="rg_table")
    if len(children):
        opts = [None] + children["id"].astype(int).tolist()
        nxt = st.selectbox(t("regions.drill_into"), opts, key="rg_drill_into",
                           format_func=frozen(opts, lambda i: t("regions.choose") if i is None else
                                              names.get(int(i), str(i))))
        if nxt is not None:
            st.session_state.pop("rg_drill_into", None)
            filters.set_region(int(nxt))


def _open(key: str, region: int, label: str) -> None:
    k = registry.get(key)
    drill.open_drill(drill.DrillSpec(kind=k.frame, kpi=key, title=f"{kpi_label(key)} · {label}",
                                     outcome="counted" if k.kind == "proportion" else "all",
                                     where=(("region", region),)))


def _equity(ctx: page.Ctx, key: str) -> None:
    """Urban / rural / remote side by side: the KPI by area class and the arrival-time distributions."""
    st.subheader(t("regions.equity_q"))
    k = registry.get(key)
    by_area = datasets.kpi_by(ctx.db, ctx.scope_path, ctx.state.key(), key, ("area_class",))
    if by_area.empty or int(by_area["n"].sum()) == 0:
        st.info(t("state.empty"))
        return
    d = by_area.loc[(by_area["n"] > 0) | (by_area["status"] == "no_data")].copy()
    d["area_label"] = d["area_class"].map(area_label)
    cols = st.columns(len(AREAS))
    for col, area in zip(cols, AREAS, strict=False):
        row = d.loc[d["area_class"] == area]
        with col, st.container(border=True):
            if row.empty:
                st.metric(area_label(area), "—")
                continue
            r = row.iloc[0]
            value = t("home.too_few") if r["status"] == "insufficient" else t("status.no_data") \
                if r["status"] == "no_data" else fmt_value(r["value"], k.unit)
            st.metric(area_label(area), value, help=t("tile.n", n=int(r["n"])))
            st.caption(t("tile.n", n=int(r["n"])) + " · " + t(f"status.{r['status']}"))
    fr = datasets.frames(ctx.db, ctx.scope_path, ctx.state.key())
    rep = fr.tickets.loc[(fr.tickets["service_type"] == "repair") & fr.tickets["arrived_at"].notna()]
    if rep.empty:
        return
    minutes = (rep["arrived_at"] - rep["created_at"]).dt.total_seconds() / 60.0
    counts = histogram_counts(minutes.to_numpy(), rep["area_class"].to_numpy(), bins=24)
    counts["area"] = counts["group"].map(area_label)
    limits = rep[["area_class", "limit_value_arrival"]].dropna().drop_duplicates("area_class")
    limits = pd.DataFrame({"area": limits["area_class"].map(area_label), "limit": limits["limit_value_arrival"]})
    order = [area_label(a) for a in AREAS if a in set(rep["area_class"])]
    ch = charts.histogram(counts, value="bin_start", title=t("regions.arrival_dist_title"),
                          x_title=t("col.arrival_min"), limits=limits, facet="area", facet_title=None,
                          colour_scale=charts.area_scale(), facet_order=order)
    ch = ch.properties(title=t("regions.arrival_dist_title"))
    st.altair_chart(ch, key="rg_equity_hist")
    st.caption(t("regions.arrival_dist_note", areas="、".join(order)))


def _hall_heatmap(ctx: page.Ctx) -> None:
    st.subheader(t("regions.hall_q"))
    hw = datasets.kpi_by(ctx.db, ctx.scope_path, ctx.state.key(), "hall_waiting_time", ("weekday", "hour"),
                         buckets="queued_at")
    if hw.empty or int(hw["n"].sum()) == 0:
        st.info(t("regions.no_hall"))
        return
    d = hw.loc[hw["n"] > 0].copy()
    wd = [t(f"weekday.{i}") for i in range(7)]
    d["weekday_label"] = d["weekday"].map(lambda i: wd[int(i)])
    d["hour_label"] = d["hour"].map(lambda h: f"{int(h):02d}")
    ch = charts.heatmap(d, x="hour_label", y="weekday_label", value="value", title=t("regions.hall_title"),
                        x_title=t("chart.hour"), y_title=t("chart.weekday"), value_title=t("regions.wait_min"),
                        value_format=",.1f", y_sort=wd, scheme="orangered")
    page.chart(ch, "rg_hall")
    worst = d.sort_values("value", ascending=False).head(3)
    st.caption(t("regions.hall_peaks", peaks="、".join(
        f"{r.weekday_label} {r.hour_label}:00（{r.value:.0f}{'分' if lang() == 'zh-CN' else ' min'}）"
        for r in worst.itertuples())))
