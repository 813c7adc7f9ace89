"""总览 Overview: every headline KPI as a tile (status, target, change, interval, n), the daily trend with control
limits, and the region × channel breakdown — all from ``metrics.overview.overview_pack``."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, datasets, drill, page
from dashboard.filters import channel_label, frozen
from dashboard.i18n import lang, t
from dashboard.scope import may
from dashboard.tiles import kpi_label, tile
from data.i18n import fmt_number
from metrics import registry
from metrics.overview import HEADLINE_KPIS, TREND_KPIS

TILE_COLUMNS = 4
Y_FORMAT = {"share": ".0%", "index": ".2f", "minutes": ",.0f", "hours": ",.1f", "seconds": ",.0f", "score": ".2f"}


def render() -> None:
    ctx = page.start("nav.home", "read_dashboard")
    state = ctx.state
    try:
        n = datasets.volumes(ctx.db, ctx.scope_path, state.key())
        pk = datasets.state_pack(state, ctx.db, ctx.scope_path) if n["tickets"] else None
    except Exception:  # noqa: BLE001 - a clear state, never a traceback
        page.failed()
        return
    if pk is None:
        st.info(t("state.empty"))
        return
    lg = lang()
    vol = st.columns(3)
    vol[0].metric(t("home.tickets"), fmt_number(n["tickets"], lg), help=t("home.help.tickets"), border=True)
    vol[1].metric(t("home.open"), fmt_number(n["open"], lg), help=t("home.help.open"), border=True)
    vol[2].metric(t("home.responses"), fmt_number(n["responses"], lg), help=t("home.help.responses"), border=True)
    comparing = state.comparison_period is not None
    st.subheader(t("overview.tiles"))
    keys = [k for k in HEADLINE_KPIS if k in pk.headline]
    for i in range(0, len(keys), TILE_COLUMNS):
        cols = st.columns(TILE_COLUMNS)
        for col, key in zip(cols, keys[i:i + TILE_COLUMNS], strict=False):
            with col:
                if tile(pk.headline.get(key), key, comparing=comparing):
                    k = registry.get(key)
                    drill.open_drill(drill.DrillSpec(kind=k.frame, title=kpi_label(key), kpi=key,
                                                     outcome="counted" if k.kind == "proportion" else "all"))
    _trend(pk.trend)
    _breakdown(ctx, pk.breakdown)
    drill.render(state)


def _trend(trend: pd.DataFrame) -> None:
    st.subheader(t("overview.trend_q"))
    if trend.empty:
        st.info(t("state.empty"))
        return
    series = [s for s in ("tickets", *TREND_KPIS) if s in set(trend["series"])]
    choice = st.segmented_control(t("overview.series"), series, default=series[1] if len(series) > 1 else series[0],
                                  key="ov_series", format_func=frozen(series, _series_label), required=True) or series[0]
    d = trend.loc[trend["series"] == choice].copy()
    unit = registry.get(choice).unit if choice in registry.REGISTRY else "count"
    fmt = Y_FORMAT.get(unit, ",.0f")
    ch = charts.control_chart(d, title=t("overview.trend_title", series=_series_label(choice)),
                              y_title=_series_label(choice), y_format=fmt)
    page.chart(ch, "ov_trend")
    flagged = d.loc[d["signal"]]
    if len(flagged):
        st.caption(t("overview.out_of_control", n=len(flagged),
                     days="、".join(pd.to_datetime(flagged["day"]).dt.strftime("%m-%d").tolist()[:10])))


def _series_label(s: str) -> str:
    if s in registry.REGISTRY:
        return kpi_label(s)
    return t(f"series.{s}")


def _breakdown(ctx: page.Ctx, bd: pd.DataFrame) -> None:
    st.subheader(t("overview.breakdown_q"))
    if bd.empty:
        st.info(t("state.empty"))
        return
    kpis = [k for k in HEADLINE_KPIS if k in set(bd["kpi"])]
    key = st.selectbox(t("overview.kpi"), kpis, key="ov_bd_kpi", format_func=frozen(kpis, kpi_label)) or kpis[0]
    k = registry.get(key)
    d = bd.loc[(bd["kpi"] == key) & ((bd["n"] > 0) | (bd["status"] == "no_data"))].copy()
    if d.empty:
        st.info(t("state.empty"))
        return
    names = page.region_names(ctx)
    d["region_label"] = d["region"].map(lambda r: names.get(int(r), str(r)) if pd.notna(r) else "—")
    d["channel_label"] = d["channel"].map(channel_label)
    d["value_shown"] = d["value"].where((d["n"] >= k.min_n) & (d["status"] != "no_data"))
    d["note"] = pd.Series(t("status.no_data"), index=d.index).where(d["status"] == "no_data")
    ch = charts.heatmap(d, x="channel_label", y="region_label", value="value_shown", note="note",
                        title=t("overview.breakdown_title", kpi=kpi_label(key)), x_title=t("filters.channel"),
                        y_title=t("filters.region"), value_title=kpi_label(key),
                        value_format=Y_FORMAT.get(k.unit, ",.1f"), reverse=k.direction == "lower")

    def pick(p: dict[str, object]) -> None:
        row = d.loc[(d["channel_label"] == p.get("channel_label")) & (d["region_label"] == p.get("region_label"))]
        if len(row):
            r = row.iloc[0]
            drill.open_drill(drill.DrillSpec(
                kind=k.frame, kpi=key, outcome="counted" if k.kind == "proportion" else "all",
                title=f"{kpi_label(key)} · {r['region_label']} · {r['channel_label']}",
                where=(("region", int(r["region"])), ("channel", str(r["channel"])))))

    page.chart(ch, "ov_breakdown", pick if may("drill_down") else None)  # a cell opens its rows only for those who may
    st.caption(t("overview.breakdown_note", min_n=k.min_n))
