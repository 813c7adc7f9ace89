"""渠道分析 Channels: the channel mix over time (online share), satisfaction, first-contact resolution and time limits
by channel, and the customers who had to switch channels for the same issue."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, datasets, drill, page
from dashboard.db import site_zone
from dashboard.filters import channel_label, service_label
from dashboard.i18n import lang, t
from dashboard.safe import md_escape
from dashboard.tiles import kpi_label, tile
from data.i18n import fmt_number
from metrics import registry
from metrics.dashboard_support import add_buckets, channel_switches

BY_CHANNEL = ("csat", "fcr_system", "sla_arrival")
X_FORMAT = {"share": ".0%", "score": ".2f"}
SWITCH_DAYS = 7


def render() -> None:
    ctx = page.start("nav.channels")
    state = ctx.state
    loaded = page.frames_and_pack(ctx)
    if loaded is None:
        return
    fr, pk = loaded
    with st.columns(3)[0]:
        tile(pk.headline.get("online_share"), "online_share", comparing=state.comparison_period is not None,
             drill=False)
    _mix(fr.tickets)
    _by_channel(ctx)
    _switches(fr.contacts)
    drill.render(state)


def _mix(tickets: pd.DataFrame) -> None:
    st.subheader(t("channels.mix_q"))
    b = add_buckets(tickets[["created_at", "channel"]], "created_at", tz=site_zone())
    bucket = "week" if b["day"].nunique() > 21 else "day"
    counts = b.groupby([bucket, "channel"]).size().rename("n").reset_index()
    counts["share"] = counts["n"] / counts.groupby(bucket)["n"].transform("sum")
    ch = charts.stacked_area(counts.rename(columns={bucket: "bucket"}), x="bucket", title=t("channels.mix_title"))
    st.altair_chart(ch, key="ch_mix")


def _by_channel(ctx: page.Ctx) -> None:
    st.subheader(t("channels.by_q"))
    # one full-width chart per KPI (side by side each plot got ~90 px) and one status legend, under the last
    for i, key in enumerate(BY_CHANNEL):
        k = registry.get(key)
        d = datasets.kpi_by(ctx.db, ctx.scope_path, ctx.state.key(), key, ("channel",))
        with st.container():
            if d.empty or int(d["n"].sum()) == 0:
                st.info(t("state.empty"))
                continue
            d = d.loc[((d["n"] > 0) | (d["status"] == "no_data")) & d["channel"].notna()].copy()
            d["channel_label"] = d["channel"].map(channel_label)
            ranked = d.loc[~d["status"].isin(("insufficient", "no_data"))]
            blank = d.loc[d["status"] == "no_data", "channel_label"].tolist()
            if blank:  # rows without the KPI's input: named, never ranked as 0
                st.caption(t("regions.no_data_list", regions="、".join(md_escape(x) for x in blank)))
            if ranked.empty:
                st.info(t("state.too_few", n=int(d["n"].max()) if len(d) else 0, min_n=k.min_n))
                continue
            ch = charts.dot_interval(ranked, label="channel_label", title=kpi_label(key), x_title=kpi_label(key),
                                     target=k.target, higher_is_better=k.direction == "higher",
                                     x_format=X_FORMAT.get(k.unit, ",.1f"), legend=i == len(BY_CHANNEL) - 1)

            def pick(p: dict[str, object], key: str = key, d: pd.DataFrame = d) -> None:
                row = d.loc[d["channel_label"] == p.get("channel_label")]
                if len(row):
                    kk = registry.get(key)
                    drill.open_drill(drill.DrillSpec(
                        kind=kk.frame, kpi=key, outcome="counted" if kk.kind == "proportion" else "all",
                        title=f"{kpi_label(key)} · {row.iloc[0]['channel_label']}",
                        where=(("channel", str(row.iloc[0]["channel"])),)))

            page.chart(ch, f"ch_by_{key}", pick)


def _switches(contacts: pd.DataFrame | None) -> None:
    st.subheader(t("channels.switch_q"))
    if contacts is None or contacts.empty:
        st.info(t("state.empty"))
        return
    sw = channel_switches(contacts, days=SWITCH_DAYS)
    linked = contacts["customer_id"].notna().sum()
    customers = sw["customer_id"].nunique()
    c1, c2 = st.columns(2)
    c1.metric(t("channels.switch_customers"), fmt_number(customers, lang()),
              help=t("channels.switch_help", days=SWITCH_DAYS), border=True)
    c2.metric(t("channels.switch_share"),
              f"{customers / max(1, contacts.loc[contacts['customer_id'].notna(), 'customer_id'].nunique()):.1%}",
              help=t("channels.switch_share_help", n=int(linked)), border=True)
    if sw.empty:
        st.info(t("channels.no_switches"))
        return
    m = sw.groupby(["from_channel", "to_channel"]).size().rename("n").reset_index()
    m["from_label"] = m["from_channel"].map(channel_label)
    m["to_label"] = m["to_channel"].map(channel_label)
    ch = charts.heatmap(m, x="to_label", y="from_label", value="n", title=t("channels.switch_title"),
                        x_title=t("channels.to"), y_title=t("channels.from"), value_title=t("chart.count"),
                        value_format=",.0f", scheme="blues")

    def pick(p: dict[str, object]) -> None:
        row = m.loc[(m["from_label"] == p.get("from_label")) & (m["to_label"] == p.get("to_label"))]
        if len(row):
            r = row.iloc[0]
            ids = sw.loc[(sw["from_channel"] == r["from_channel"]) & (sw["to_channel"] == r["to_channel"])]
            drill.open_drill(drill.DrillSpec(kind="contact", title=f"{r['from_label']} → {r['to_label']}",
                                             ids=tuple(int(i) for i in pd.concat([ids["id"], ids["next_id"]]))))

    page.chart(ch, "ch_switch", pick)
    top = sw["category"].value_counts().head(5)
    st.caption(t("channels.switch_topics", topics="、".join(f"{service_label(c)}（{n}）" for c, n in top.items())))
    if st.button(t("channels.switch_rows", n=len(sw)), key="ch_switch_rows", icon=":material/table_rows:"):
        drill.open_drill(drill.DrillSpec(kind="contact", title=t("channels.switch_title"),
                                         ids=tuple(int(i) for i in pd.concat([sw["id"], sw["next_id"]]))))
