"""满意度与驱动因素 Satisfaction & drivers: CSAT / NPS / CES by segment, dimension scores, the driver ranking and an
importance–performance chart, the waiting-time-vs-satisfaction curve, comment topics with masked examples, and a
weighted / unweighted switch (survey respondents raked to the service log)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, datasets, drill, page
from dashboard.filters import segment_label
from dashboard.i18n import lang, t
from dashboard.safe import md_escape
from dashboard.tiles import kpi_label, tile
from data.i18n import fmt_number
from data.masking import mask_free_text
from data.reference import sentiment_lexicon, topics
from metrics import registry
from metrics.dashboard_support import binned_curve
from metrics.drivers import DRIVER_METHODS, importance_performance
from metrics.registry import MetricResult
from metrics.topics import tag_comments, topic_counts, topic_examples

SURVEY_KPIS = ("csat", "nps", "ces_mean", "fcr_survey")
X_FORMAT = {"share": ".0%", "index": ".0f", "score": ".2f"}


def render() -> None:
    ctx = page.start("nav.satisfaction")
    state = ctx.state
    loaded = page.frames_and_pack(ctx, rows="responses")
    if loaded is None:
        return
    fr, pk = loaded
    weighted = st.toggle(t("sat.weighted"), key="sat_weighted", help=t("sat.weighted_help"))
    cols = st.columns(len(SURVEY_KPIS))
    for col, key in zip(cols, SURVEY_KPIS, strict=False):
        res = pk.headline.get(key)
        if weighted and res is not None:
            res = _weighted(res, pk.weighted)
        with col:
            if tile(res, key, comparing=state.comparison_period is not None and not weighted):
                drill.open_drill(drill.DrillSpec(kind="response", kpi=key, title=kpi_label(key),
                                                 outcome="counted" if registry.get(key).kind == "proportion"
                                                 else "all"))
    if weighted:
        _weight_note(pk.weighted)
    _by_segment(ctx)
    _dimensions_and_drivers(ctx, fr.answers)
    _wait_curve(fr.responses)
    _topics(fr.responses)
    drill.render(state)


def _weighted(res: MetricResult, w: pd.DataFrame) -> MetricResult:
    row = w.loc[w["kpi"] == res.kpi] if len(w) else w
    if row.empty:
        return res
    r = row.iloc[0]
    extra = {"deff": float(r["deff"]), "effective_n": float(r["effective_n"])}
    return MetricResult(kpi=res.kpi, value=float(r["value_weighted"]), n=res.n, ci_low=float(r["ci_low_weighted"]),
                        ci_high=float(r["ci_high_weighted"]), target=res.target,
                        status=registry.status(res.kpi, float(r["value_weighted"]), res.n), unit=res.unit,
                        extra=extra)


def _weight_note(w: pd.DataFrame) -> None:
    if w.empty:
        st.info(t("sat.no_weights"))
        return
    r = w.iloc[0]
    st.caption(t("sat.weight_note", margins=str(r["margins"]), deff=f"{float(r['deff']):.2f}",
                 neff=fmt_number(float(r["effective_n"]), lang())))


def _by_segment(ctx: page.Ctx) -> None:
    st.subheader(t("sat.segment_q"))
    # one full-width chart per KPI with one status legend, under the last (side by side each got ~150 px)
    keys = ("csat", "nps", "ces_mean")
    for i, key in enumerate(keys):
        k = registry.get(key)
        d = datasets.kpi_by(ctx.db, ctx.scope_path, ctx.state.key(), key, ("segment",))
        with st.container():
            if d.empty:
                st.info(t("state.empty"))
                continue
            # responses with neither a linked customer nor a segment of their own (imported survey results without
            # a segment column) have no segment: their own group, counted
            d = d.loc[(d["n"] > 0) | (d["status"] == "no_data")].copy()
            d["segment_label"] = [segment_label(s) if isinstance(s, str) else t("sat.segment_unknown")
                                  for s in d["segment"]]
            for c in ("value", "ci_low", "ci_high"):  # NPS is stored in [-1, 1] and shown x 100, like its tile
                d[c] = d[c] * k.display_scale if k.unit == "index" else d[c]
            ranked = d.loc[~d["status"].isin(("insufficient", "no_data"))]
            blank = d.loc[d["status"] == "no_data", "segment_label"].tolist()
            if blank:  # rows without the item: named, never ranked as 0
                st.caption(t("regions.no_data_list", regions="、".join(md_escape(x) for x in blank)))
            if ranked.empty:
                st.info(t("state.too_few", n=int(d["n"].max()) if len(d) else 0, min_n=k.min_n))
                continue
            ch = charts.dot_interval(ranked, label="segment_label", title=kpi_label(key), x_title=kpi_label(key),
                                     target=k.target * (k.display_scale if k.unit == "index" else 1.0),
                                     higher_is_better=True, x_format=X_FORMAT.get(k.unit, ",.2f"),
                                     x_domain=(1.0, 7.0) if key == "ces_mean" else None,  # the CES 2.0 item's scale
                                     legend=i == len(keys) - 1)

            def pick(p: dict[str, object], key: str = key, d: pd.DataFrame = d) -> None:
                row = d.loc[d["segment_label"] == p.get("segment_label")]
                if len(row):
                    drill.open_drill(drill.DrillSpec(kind="response", kpi=key, outcome="counted" if registry.get(
                        key).kind == "proportion" else "all", title=f"{kpi_label(key)} · {row.iloc[0]['segment_label']}",
                        where=(("segment", row.iloc[0]["segment"] if isinstance(row.iloc[0]["segment"], str)
                                else None),)))

            page.chart(ch, f"sat_seg_{key}", pick)
            few = d.loc[d["status"] == "insufficient", "segment_label"].tolist()
            if few:
                st.caption(t("regions.too_few_list", regions="、".join(md_escape(x) for x in few), min_n=k.min_n))


def _dimension_label(dim: str) -> str:
    return t(f"dimension.{dim}")


def _dimensions_and_drivers(ctx: page.Ctx, answers: pd.DataFrame | None) -> None:
    st.subheader(t("sat.drivers_q"))
    if answers is None or answers.empty:
        st.info(t("state.empty"))
        return
    from metrics.kpis import compute

    dims = compute("dimension_score", answers, by=["dimension"])
    dims = dims.loc[dims["n"] > 0].copy()
    dims["driver_label"] = dims["dimension"].map(_dimension_label)
    method = st.segmented_control(t("sat.driver_method"), DRIVER_METHODS, key="sat_driver_method",
                                  default=DRIVER_METHODS[0], format_func=lambda m: t(f"sat.method.{m}"))
    method = method or DRIVER_METHODS[0]
    c1, c2 = st.columns(2)
    with c1:
        ranked = dims.loc[~dims["status"].isin(("insufficient", "no_data"))]
        if len(ranked):
            st.altair_chart(charts.dot_interval(ranked, label="driver_label", title=t("sat.dimensions_title"),
                                                x_title=t("sat.score"), target=float(dims["target"].iloc[0]),
                                                x_format=".2f"), key="sat_dims")
    # Dimension items are asked by service type and rotated across invitees: an item not asked is missing by
    # design, so the fit uses pairwise-complete correlations (every pair of dimensions answered together by >= 30);
    # the whiskers are percentile bootstrap intervals over the respondents
    table = datasets.drivers(ctx.db, ctx.scope_path, ctx.state.key(), method)
    with c2:
        if table.empty:
            st.info(t("state.too_few", n=0 if table.empty else int(table["n"].iloc[0]), min_n=30))
            return
        imp = table.rename(columns={"weight": "rescaled"})
        imp["driver_label"] = imp["driver"].map(_dimension_label)
        r2, n = float(table["r2"].iloc[0]), int(table["n"].iloc[0])
        st.altair_chart(charts.driver_bars(imp, title=t(f"sat.drivers_title_{method}", r2=f"{r2:.2f}", n=n)),
                        key="sat_drivers")
    perf = dims.set_index("dimension")["value"]
    ipa = importance_performance(imp.set_index("driver")["rescaled"], perf)
    ipa["driver_label"] = [_dimension_label(i) for i in ipa.index]
    st.altair_chart(charts.importance_performance(
        ipa.reset_index(drop=True), title=t("sat.ipa_title"), importance_cut=float(ipa["importance"].mean()),
        performance_cut=float(ipa["performance"].mean()), perf_title=t("sat.score")), key="sat_ipa")
    focus = ipa.loc[ipa["quadrant"] == "concentrate_here", "driver_label"].tolist()
    if focus:
        st.caption(t("sat.focus", dims="、".join(focus)))


def _wait_curve(responses: pd.DataFrame) -> None:
    st.subheader(t("sat.wait_q"))
    r = responses.loc[(responses["service_type"] == "repair") & responses["arrived_at"].notna()
                      & responses["csat"].notna()]
    minutes = (r["arrived_at"] - r["ticket_created_at"]).dt.total_seconds() / 60.0
    cv = binned_curve(minutes.to_numpy(), (r["csat"] >= 4).astype(float).to_numpy(), bins=8)
    if cv["bins"].empty:
        st.info(t("state.too_few", n=len(r), min_n=20))
        return
    st.altair_chart(charts.fitted_curve(cv["bins"], cv["curve"], title=t("sat.wait_title"),
                                        x_title=t("col.arrival_min"), y_title=kpi_label("csat")), key="sat_wait")
    st.caption(t("sat.wait_note", n=fmt_number(len(r), lang())))


def _topics(responses: pd.DataFrame) -> None:
    st.subheader(t("sat.topics_q"))
    try:
        lex = topics()
        tagged = tag_comments(responses, lex, sentiment_lexicon())
    except Exception:  # noqa: BLE001 - topics are optional; say so instead of failing the page
        page.failed()
        return
    if tagged.empty:
        st.info(t("sat.no_comments"))
        return
    counts = topic_counts(tagged, by=(), lexicon=lex)
    zh = lang() == "zh-CN"
    counts["driver_label"] = counts.apply(
        lambda r: t("sat.topic_other") if r["topic"] == "other" else (r["label_zh"] if zh else r["label_en"]), axis=1)
    counts = counts.sort_values("n", ascending=False)
    d = counts.rename(columns={"n": "count"})
    st.altair_chart(charts.bars(d, x="count", y="driver_label", title=t("sat.topics_title"),
                                x_title=t("sat.comments")), key="sat_topics")
    ex = topic_examples(tagged, k=2, mask=mask_free_text)
    if len(ex):
        ex["topic_label"] = ex["topic"].map(dict(zip(counts["topic"], counts["driver_label"], strict=False)))
        shown = pd.DataFrame({t("sat.topic"): ex["topic_label"], t("col.comment"): ex["text"]})
        st.dataframe(shown, hide_index=True, width="stretch", key="sat_examples")
        st.caption(t("sat.examples_note"))

