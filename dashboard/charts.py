"""Altair chart builders: one question per chart, Chinese labels from the catalogues, a colour-blind-safe palette
(Okabe-Ito) with fixed colours per channel and per area class on every page.

Every builder takes a tidy, already aggregated frame (never raw rows) and returns an ``alt.Chart``; selection
parameters named ``pick`` let the page open the rows behind a mark (``st.altair_chart(on_select="rerun")``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypeAlias

import altair as alt
import pandas as pd

from dashboard.filters import area_label, channel_label
from dashboard.i18n import t

# Okabe & Ito (2008), safe for the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000", "#999999")
CHANNEL_COLOURS = {
    "hotline": "#0072B2", "app": "#009E73", "wechat": "#56B4E9", "alipay": "#E69F00", "web": "#CC79A7",
    "hall": "#D55E00", "rural_point": "#999999",
}
AREA_COLOURS = {"urban": "#0072B2", "rural": "#E69F00", "remote": "#009E73"}
STATUS_COLOURS = {"met": "#009E73", "at_risk": "#E69F00", "missed": "#D55E00", "insufficient": "#999999",
                  "no_data": "#D9D9D9"}
STATUS_SHAPES = {"met": "circle", "at_risk": "triangle-up", "missed": "cross", "insufficient": "square",
                 "no_data": "diamond"}
NO_DATA = "#D9D9D9"  # a cell whose rows lack the KPI's input: grey, labelled, never coloured as a value
# the quadrant to fix first is always the warning colour, whatever the labels' alphabetical order
IPA_COLOURS = {"concentrate_here": "#D55E00", "keep_up": "#009E73", "low_priority": "#999999",
               "possible_overkill": "#E69F00"}
OUT_OF_CONTROL = "#D55E00"
BAND = "#56B4E9"
WIDTH = "container"
TILE_TEXT_PX = 100  # a region tile is about 1/6 of a ~700 px plot
LABEL_LIMIT = 320  # px: a category axis shows at least 20 Chinese characters before cutting a label
# Fit the container's width only: the given height is the plot's own, so long axis labels and titles never squash
# the marks (with "fit" the labels eat into a fixed total height).
FIT_X = alt.AutoSizeParams(type="fit-x", contains="padding")
# alt.layer returns a FacetChart when its layers share a facet encoding (hoisted), a LayerChart otherwise
Layered: TypeAlias = alt.LayerChart | alt.FacetChart
# the Vega colour schemes the heatmaps use (a subset of Vega's names: a misspelt scheme fails type checking)
Scheme: TypeAlias = Literal["viridis", "blues", "orangered", "redyellowgreen"]


def _status_scale() -> alt.Scale:
    return alt.Scale(domain=[t(f"status.{s}") for s in STATUS_COLOURS], range=list(STATUS_COLOURS.values()))


def _status_shape() -> alt.Scale:
    return alt.Scale(domain=[t(f"status.{s}") for s in STATUS_SHAPES], range=list(STATUS_SHAPES.values()))


def channel_scale(codes: Sequence[str]) -> alt.Scale:
    codes = [c for c in CHANNEL_COLOURS if c in set(codes)] or list(CHANNEL_COLOURS)
    return alt.Scale(domain=[channel_label(c) for c in codes], range=[CHANNEL_COLOURS[c] for c in codes])


def area_scale() -> alt.Scale:
    return alt.Scale(domain=[area_label(a) for a in AREA_COLOURS], range=list(AREA_COLOURS.values()))


def control_chart(df: pd.DataFrame, *, title: str, y_title: str, y_format: str = ",.1f",
                  x: str = "day") -> Layered:
    """Line with the control limits as a band and the centre line; out-of-control points marked (colour+shape).

    Columns: ``x`` (dates), value, center, lcl, ucl, signal (bool). A day without a value (no data) is a gap in
    the line, not a point at 0.
    """
    d = df.copy()
    d["signal_label"] = d["signal"].map({True: t("chart.out_of_control"), False: t("chart.in_control")})
    base = alt.Chart(d).encode(x=alt.X(f"{x}:T", title=t("chart.date"), axis=alt.Axis(format="%m-%d")))
    band = base.mark_area(opacity=0.25, color=BAND).encode(
        y=alt.Y("lcl:Q", title=y_title, axis=alt.Axis(format=y_format)), y2="ucl:Q")
    centre = alt.Chart(d).mark_rule(strokeDash=[4, 3], color="#555").encode(y="mean(center):Q")
    line = base.mark_line(color="#0072B2", invalid="break-paths-show-domains").encode(y="value:Q")
    points = base.mark_point(filled=True, size=60).encode(
        y="value:Q",
        color=alt.Color("signal_label:N", title=t("chart.control"),
                        scale=alt.Scale(domain=[t("chart.in_control"), t("chart.out_of_control")],
                                        range=["#0072B2", OUT_OF_CONTROL])),
        shape=alt.Shape("signal_label:N", title=t("chart.control"),
                        scale=alt.Scale(domain=[t("chart.in_control"), t("chart.out_of_control")],
                                        range=["circle", "diamond"])),
        tooltip=[alt.Tooltip(f"{x}:T", title=t("chart.date")), alt.Tooltip("value:Q", title=y_title, format=y_format),
                 alt.Tooltip("n:Q", title="n"), alt.Tooltip("lcl:Q", title=t("chart.lcl"), format=y_format),
                 alt.Tooltip("ucl:Q", title=t("chart.ucl"), format=y_format)],
    ).add_params(alt.selection_point(name="pick", fields=[x]))
    return alt.layer(band, centre, line, points).properties(title=title, width=WIDTH, autosize=FIT_X, height=260)


def dot_interval(df: pd.DataFrame, *, label: str, title: str, x_title: str, target: float | None,
                 higher_is_better: bool = True, x_format: str = ",.1f", pick_field: str | None = None,
                 x_domain: tuple[float, float] | None = None, legend: bool = True) -> Layered:
    """Dot with interval whiskers, sorted best to worst, status by colour and shape, the target as a rule.

    Columns: ``label``, value, ci_low, ci_high, n, status (status codes). ``x_domain``: the scale's range when
    the measure has one (a 1-7 item), instead of an axis from zero. ``legend=False`` leaves the status legend to
    another chart of the same page (one legend, not one per chart). Labels are never cut short of 20 characters.
    """
    d = df.copy()
    d["status_label"] = d["status"].map(lambda s: t(f"status.{s}"))
    order = d.sort_values("value", ascending=not higher_is_better)[label].tolist()
    y = alt.Y(f"{label}:N", sort=order, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT))
    status_legend = alt.Legend(orient="bottom", direction="horizontal") if legend else None
    base = alt.Chart(d).encode(y=y)
    whisk = base.mark_rule(color="#555").encode(
        x=alt.X("ci_low:Q", title=x_title, axis=alt.Axis(format=x_format),
                scale=alt.Scale(domain=list(x_domain)) if x_domain else alt.Undefined), x2="ci_high:Q")
    pick = alt.selection_point(name="pick", fields=[pick_field or label])
    dots = base.mark_point(filled=True, size=90).encode(
        x="value:Q",
        color=alt.Color("status_label:N", title=t("chart.status"), scale=_status_scale(), legend=status_legend),
        shape=alt.Shape("status_label:N", title=t("chart.status"), scale=_status_shape(), legend=status_legend),
        tooltip=[alt.Tooltip(f"{label}:N", title=t("chart.group")),
                 alt.Tooltip("value:Q", title=x_title, format=x_format),
                 alt.Tooltip("ci_low:Q", title=t("chart.ci_low"), format=x_format),
                 alt.Tooltip("ci_high:Q", title=t("chart.ci_high"), format=x_format),
                 alt.Tooltip("n:Q", title="n"), alt.Tooltip("status_label:N", title=t("chart.status"))],
    ).add_params(pick)
    layers: list[alt.Chart] = [whisk, dots]
    if target is not None:
        rule = alt.Chart(pd.DataFrame({"target": [target]})).mark_rule(color="#D55E00", strokeDash=[6, 3]).encode(
            x="target:Q", tooltip=[alt.Tooltip("target:Q", title=t("chart.target"), format=x_format)])
        layers.append(rule)
    return alt.layer(*layers).properties(title=title, width=WIDTH, autosize=FIT_X, height=max(120, 26 * len(d)))


def histogram(df: pd.DataFrame, *, value: str, title: str, x_title: str, limits: pd.DataFrame | None = None,
              facet: str | None = None, facet_title: str | None = None, bins: int = 30,
              colour_scale: alt.Scale | None = None, facet_order: Sequence[str] | None = None) -> Layered:
    """Distribution (histogram) with the limit as a rule; optional small multiples (same x and y scale).

    ``df`` holds pre-binned counts: ``bin_start``, ``bin_end``, ``count`` (+ ``facet``); ``limits`` has
    ``limit`` (+ ``facet``).
    """
    enc: dict[str, object] = {
        "x": alt.X("bin_start:Q", title=x_title, bin="binned"), "x2": "bin_end:Q",
        "y": alt.Y("count:Q", title=t("chart.count")),
        "tooltip": [alt.Tooltip("bin_start:Q", title=t("chart.from"), format=",.0f"),
                    alt.Tooltip("bin_end:Q", title=t("chart.to"), format=",.0f"),
                    alt.Tooltip("count:Q", title=t("chart.count"))],
    }
    if facet and colour_scale is not None:
        enc["color"] = alt.Color(f"{facet}:N", scale=colour_scale, legend=None)
    bars = alt.Chart().mark_bar(opacity=0.85).encode(**enc)  # type: ignore[arg-type]
    layers: list[alt.Chart] = [bars]
    if limits is not None and len(limits):
        layers.append(alt.Chart().mark_rule(color="#D55E00", strokeDash=[6, 3], size=2).encode(
            x="limit:Q", tooltip=[alt.Tooltip("limit:Q", title=t("chart.limit"), format=",.0f")]))
    if facet:
        data = df if limits is None else pd.concat([df, limits], ignore_index=True)
        return alt.layer(*layers, data=data).properties(width=240, height=180).facet(
            column=alt.Column(f"{facet}:N", title=facet_title,
                              sort=list(facet_order) if facet_order is not None else None)).resolve_scale(
            x="shared", y="shared").properties(title=title)
    data = df if limits is None else pd.concat([df, limits], ignore_index=True)
    return alt.layer(*layers, data=data).properties(title=title, width=WIDTH, autosize=FIT_X, height=220)


def boxplot(df: pd.DataFrame, *, group: str, title: str, y_title: str, limit: float | None = None) -> Layered:
    """Box per group from pre-computed quantiles (``q1``, ``median``, ``q3``, ``p10``, ``p90``, ``n``), one row per
    group: horizontal, so every group's label is shown however many there are (``y_title`` names the value axis)."""
    base = alt.Chart(df).encode(y=alt.Y(f"{group}:N", title=None, sort=None, axis=alt.Axis(labelLimit=LABEL_LIMIT)))
    whisk = base.mark_rule(color="#555").encode(x=alt.X("p10:Q", title=y_title), x2="p90:Q")
    box = base.mark_bar(size=18, color="#56B4E9").encode(x="q1:Q", x2="q3:Q", tooltip=[
        alt.Tooltip(f"{group}:N", title=t("chart.group")), alt.Tooltip("median:Q", title=t("chart.median"), format=",.1f"),
        alt.Tooltip("p90:Q", title="P90", format=",.1f"), alt.Tooltip("n:Q", title="n")])
    med = base.mark_tick(color="#000", size=18, thickness=2, orient="vertical").encode(x="median:Q")
    layers: list[alt.Chart] = [whisk, box, med]
    if limit is not None:
        layers.append(alt.Chart(pd.DataFrame({"limit": [limit]})).mark_rule(color="#D55E00", strokeDash=[6, 3])
                      .encode(x="limit:Q"))
    return alt.layer(*layers).properties(title=title, width=WIDTH, autosize=FIT_X,
                                         height=max(120, 30 * int(df[group].nunique())))


def _text_px(label: object) -> int:
    """Rough rendered width of a label at 11 px: CJK glyphs are square, Latin ones about 6.5 px."""
    text = str(label)
    wide = sum(1 for ch in text if ord(ch) > 0x2E80)
    return int(11 * wide + 6.5 * (len(text) - wide))


def heatmap(df: pd.DataFrame, *, x: str, y: str, value: str, title: str, x_title: str, y_title: str,
            value_title: str, value_format: str = ",.1f", x_sort: Sequence[str] | None = None,
            y_sort: Sequence[str] | None = None, scheme: Scheme = "viridis", reverse: bool = False,
            note: str | None = None) -> alt.Chart | Layered:
    """Heatmap (e.g. hall waiting by hour × weekday, attainment by service type × area class); cells pickable.

    ``note``: a text column; a cell without a value but with a note (e.g. "无数据") is drawn grey with its note."""
    pick = alt.selection_point(name="pick", fields=[x, y])
    # Vega drops colliding labels silently (3 of 6 English channel names): slant them where a row would not fit a
    # narrow column (~560 px of cells), and never drop one.
    x_labels = df[x].dropna().unique()
    slant = len(x_labels) * (max((_text_px(v) for v in x_labels), default=0) + 10) > 560
    x_axis = alt.Axis(labelAngle=-35 if slant else 0, labelOverlap=False, labelLimit=LABEL_LIMIT)
    rect = alt.Chart(df).mark_rect(stroke="#fff").encode(
        x=alt.X(f"{x}:O", title=x_title, sort=list(x_sort) if x_sort else None, axis=x_axis),
        y=alt.Y(f"{y}:O", title=y_title, sort=list(y_sort) if y_sort else None,
                axis=alt.Axis(labelLimit=LABEL_LIMIT, labelOverlap=False)),
        color=alt.Color(f"{value}:Q", title=value_title, scale=alt.Scale(scheme=scheme, reverse=reverse),
                        legend=alt.Legend(format=value_format)),
        tooltip=[alt.Tooltip(f"{x}:O", title=x_title), alt.Tooltip(f"{y}:O", title=y_title),
                 alt.Tooltip(f"{value}:Q", title=value_title, format=value_format)]
        + ([alt.Tooltip("n:Q", title="n")] if "n" in df.columns else []),
    ).add_params(pick)
    layers: list[alt.Chart] = [rect]
    if note is not None and note in df.columns:
        blank = df.loc[df[value].isna() & df[note].notna()]
        if len(blank):
            enc = {"x": alt.X(f"{x}:O", sort=list(x_sort) if x_sort else None),
                   "y": alt.Y(f"{y}:O", sort=list(y_sort) if y_sort else None)}
            grey = alt.Chart(blank).mark_rect(stroke="#fff", color=NO_DATA).encode(
                **enc, tooltip=[alt.Tooltip(f"{x}:O", title=x_title), alt.Tooltip(f"{y}:O", title=y_title),
                                alt.Tooltip(f"{note}:N", title=value_title)])
            label = alt.Chart(blank).mark_text(fontSize=10, color="#555").encode(**enc, text=f"{note}:N")
            layers += [grey, label]
    size = {"title": title, "width": WIDTH, "autosize": FIT_X, "height": max(160, 28 * df[y].nunique())}
    return rect.properties(**size) if len(layers) == 1 else alt.layer(*layers).properties(**size)


def driver_bars(df: pd.DataFrame, *, title: str) -> alt.Chart | alt.LayerChart:
    """Horizontal bars of relative importance (share of R²), largest first. Columns: driver_label, rescaled; with
    ``ci_low`` / ``ci_high`` the interval is drawn as a whisker on each bar."""
    order = df.sort_values("rescaled", ascending=False)["driver_label"].tolist()
    y = alt.Y("driver_label:N", sort=order, title=None)
    tips = [alt.Tooltip("driver_label:N", title=t("chart.driver")),
            alt.Tooltip("rescaled:Q", title=t("chart.importance"), format=".1%")]
    has_ci = {"ci_low", "ci_high"} <= set(df.columns)
    if has_ci:
        tips += [alt.Tooltip("ci_low:Q", title=t("chart.ci_low"), format=".1%"),
                 alt.Tooltip("ci_high:Q", title=t("chart.ci_high"), format=".1%")]
    bars = alt.Chart(df).mark_bar(color="#0072B2").encode(
        x=alt.X("rescaled:Q", title=t("chart.importance"), axis=alt.Axis(format=".0%")), y=y, tooltip=tips)
    chart: alt.Chart | alt.LayerChart = bars
    if has_ci:
        chart = bars + alt.Chart(df).mark_rule(color="#333333", strokeWidth=2).encode(
            x="ci_low:Q", x2="ci_high:Q", y=y, tooltip=tips)
    return chart.properties(title=title, width=WIDTH, autosize=FIT_X, height=max(120, 30 * len(df)))


def importance_performance(df: pd.DataFrame, *, title: str, importance_cut: float, performance_cut: float,
                           perf_title: str) -> Layered:
    """Importance–performance scatter with the quadrant cut lines and quadrant labels.

    The scales reach a margin beyond the data on every side and the quadrant captions sit in those margins' corners,
    so no caption covers an item (the item to fix first is the one nearest the 重点改进 corner); item labels sit
    beside their point, toward the middle of the chart.
    """
    d = df.copy()
    d["quadrant_label"] = d["quadrant"].map(lambda q: t(f"ipa.{q}"))
    lo_i, hi_i = float(d["importance"].min()), float(d["importance"].max())
    lo_p, hi_p = float(d["performance"].min()), float(d["performance"].max())
    pad_i = max(hi_i - lo_i, 0.05) * 0.35
    pad_p = max(hi_p - lo_p, 0.2) * 0.35
    x_dom = [max(0.0, lo_i - pad_i), hi_i + pad_i]
    y_dom = [lo_p - pad_p, hi_p + pad_p]
    x = alt.X("importance:Q", title=t("chart.importance"), axis=alt.Axis(format=".0%"),
              scale=alt.Scale(domain=x_dom, nice=False))
    y = alt.Y("performance:Q", title=perf_title, scale=alt.Scale(domain=y_dom, zero=False, nice=False))
    d["right"] = d["importance"] > (lo_i + hi_i) / 2
    pts = alt.Chart(d).mark_point(filled=True, size=110).encode(
        x=x, y=y,
        color=alt.Color("quadrant_label:N", title=t("chart.quadrant"),
                        scale=alt.Scale(domain=[t(f"ipa.{q}") for q in IPA_COLOURS], range=list(IPA_COLOURS.values())),
                        legend=alt.Legend(orient="bottom", direction="horizontal")),
        tooltip=[alt.Tooltip("driver_label:N", title=t("chart.driver")),
                 alt.Tooltip("importance:Q", title=t("chart.importance"), format=".1%"),
                 alt.Tooltip("performance:Q", title=perf_title, format=".2f")],
    )
    text = dict(fontSize=12, baseline="middle", color="#1f2a30")
    left_labels = alt.Chart(d.loc[~d["right"]]).mark_text(align="left", dx=9, **text).encode(  # type: ignore[arg-type]
        x="importance:Q", y="performance:Q", text="driver_label:N")
    right_labels = alt.Chart(d.loc[d["right"]]).mark_text(align="right", dx=-9, **text).encode(  # type: ignore[arg-type]
        x="importance:Q", y="performance:Q", text="driver_label:N")
    vx = alt.Chart(pd.DataFrame({"v": [importance_cut]})).mark_rule(strokeDash=[4, 3], color="#555").encode(x="v:Q")
    hy = alt.Chart(pd.DataFrame({"h": [performance_cut]})).mark_rule(strokeDash=[4, 3], color="#555").encode(y="h:Q")
    quad = pd.DataFrame({
        "x": [x_dom[1], x_dom[1], x_dom[0], x_dom[0]], "y": [y_dom[0], y_dom[1], y_dom[0], y_dom[1]],
        "align": ["right", "right", "left", "left"], "baseline": ["bottom", "top", "bottom", "top"],
        "text": [t("ipa.concentrate_here"), t("ipa.keep_up"), t("ipa.low_priority"), t("ipa.possible_overkill")],
    })
    qtext = [alt.Chart(quad.iloc[[i]]).mark_text(fontSize=11, fontStyle="italic", color="#555", align=r.align,
                                                 baseline=r.baseline, dx=-4 if r.align == "right" else 4,
                                                 dy=-4 if r.baseline == "bottom" else 4)
             .encode(x="x:Q", y="y:Q", text="text:N") for i, r in enumerate(quad.itertuples())]
    return alt.layer(vx, hy, pts, left_labels, right_labels, *qtext).properties(
        title=title, width=WIDTH, autosize=FIT_X, height=340)


def stacked_area(df: pd.DataFrame, *, x: str, title: str) -> alt.Chart:
    """Stacked area of channel shares over time. Columns: ``x`` (dates), channel (code), share."""
    d = df.copy()
    d["channel_label"] = d["channel"].map(channel_label)
    order = [c for c in CHANNEL_COLOURS if c in set(d["channel"])]
    d["order"] = d["channel"].map({c: i for i, c in enumerate(order)})
    return alt.Chart(d).mark_area().encode(
        x=alt.X(f"{x}:T", title=t("chart.week"), axis=alt.Axis(format="%m-%d")),
        y=alt.Y("share:Q", stack="normalize", title=t("chart.share"), axis=alt.Axis(format=".0%")),
        color=alt.Color("channel_label:N", title=t("filters.channel"), scale=channel_scale(order),
                        sort=[channel_label(c) for c in order]),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip(f"{x}:T", title=t("chart.week")), alt.Tooltip("channel_label:N", title=t("filters.channel")),
                 alt.Tooltip("share:Q", title=t("chart.share"), format=".1%"), alt.Tooltip("n:Q", title="n")],
    ).properties(title=title, width=WIDTH, autosize=FIT_X, height=260)


def fitted_curve(bins: pd.DataFrame, curve: pd.DataFrame, *, title: str, x_title: str, y_title: str) -> Layered:
    """A fitted curve with its band over binned means (with their intervals)."""
    band = alt.Chart(curve).mark_area(opacity=0.25, color=BAND).encode(
        x=alt.X("x:Q", title=x_title), y=alt.Y("low:Q", title=y_title, axis=alt.Axis(format=".0%")), y2="high:Q")
    line = alt.Chart(curve).mark_line(color="#0072B2").encode(x="x:Q", y="fit:Q")
    err = alt.Chart(bins).mark_rule(color="#555").encode(x="x_mid:Q", y="ci_low:Q", y2="ci_high:Q")
    pts = alt.Chart(bins).mark_point(filled=True, size=70, color="#E69F00").encode(
        x="x_mid:Q", y="share:Q",
        tooltip=[alt.Tooltip("x_low:Q", title=t("chart.from"), format=",.0f"),
                 alt.Tooltip("x_high:Q", title=t("chart.to"), format=",.0f"),
                 alt.Tooltip("share:Q", title=y_title, format=".1%"), alt.Tooltip("n:Q", title="n")])
    return alt.layer(band, line, err, pts).properties(title=title, width=WIDTH, autosize=FIT_X, height=280)


def region_grid(df: pd.DataFrame, *, title: str, value_title: str, value_format: str = ".1%",
                columns: int = 6) -> Layered:
    """A map-like region grid: one tile per region, coloured by status, labelled with the value; pickable.

    Columns: region_label, region, value, status (codes), n.
    """
    d = df.reset_index(drop=True).copy()
    d["col"] = d.index % columns
    d["row"] = d.index // columns
    d["status_label"] = d["status"].map(lambda s: t(f"status.{s}"))
    pick = alt.selection_point(name="pick", fields=["region"])
    base = alt.Chart(d).encode(x=alt.X("col:O", axis=None), y=alt.Y("row:O", axis=None))
    rect = base.mark_rect(stroke="#fff", strokeWidth=3, cornerRadius=4).encode(
        color=alt.Color("status_label:N", title=t("chart.status"), scale=_status_scale(),
                        legend=alt.Legend(orient="bottom", direction="horizontal", labelLimit=LABEL_LIMIT)),
        tooltip=[alt.Tooltip("region_label:N", title=t("filters.region")),
                 alt.Tooltip("value:Q", title=value_title, format=value_format), alt.Tooltip("n:Q", title="n"),
                 alt.Tooltip("status_label:N", title=t("chart.status"))],
    ).add_params(pick)
    # a name longer than its tile is cut with an ellipsis (the tooltip has it whole), never drawn over its neighbours
    name = base.mark_text(dy=-8, fontSize=12, color="#fff", fontWeight="bold", limit=TILE_TEXT_PX).encode(
        text="region_label:N")
    # a region without the KPI's input says so instead of a number
    val = base.mark_text(dy=9, fontSize=11, color="#fff").transform_calculate(
        value_text=f"isValid(datum.value) && isFinite(datum.value) ? format(datum.value, {value_format!r}) "
                   ": datum.status_label").encode(text="value_text:N")
    return alt.layer(rect, name, val).properties(title=title, width=WIDTH, autosize=FIT_X, height=70 * (int(d["row"].max()) + 1))


def bars(df: pd.DataFrame, *, x: str, y: str, title: str, x_title: str, colour: str = "#0072B2",
         x_format: str = ",.0f") -> alt.Chart:
    """Horizontal bars sorted by value (counts of exception reasons, open work by age)."""
    return alt.Chart(df).mark_bar(color=colour).encode(
        x=alt.X(f"{x}:Q", title=x_title, axis=alt.Axis(format=x_format, tickMinStep=1)),
        y=alt.Y(f"{y}:N", sort="-x", title=None),
        tooltip=[alt.Tooltip(f"{y}:N", title=t("chart.group")), alt.Tooltip(f"{x}:Q", title=x_title, format=x_format)],
    ).add_params(alt.selection_point(name="pick", fields=[y])).properties(
        title=title, width=WIDTH, autosize=FIT_X, height=max(100, 28 * len(df)))


def stacked_bars(df: pd.DataFrame, *, x: str, y: str, colour: str, title: str, x_title: str,
                 colour_title: str, colour_order: Sequence[str]) -> alt.Chart:
    """Stacked horizontal counts (open work by age band per service type)."""
    palette = ["#009E73", "#56B4E9", "#E69F00", "#D55E00", "#000000"]
    return alt.Chart(df).mark_bar().encode(
        x=alt.X(f"{x}:Q", title=x_title), y=alt.Y(f"{y}:N", sort="-x", title=None),
        color=alt.Color(f"{colour}:N", title=colour_title,
                        scale=alt.Scale(domain=list(colour_order), range=palette[: len(colour_order)]),
                        sort=list(colour_order)),
        order=alt.Order("order:Q"),
        tooltip=[alt.Tooltip(f"{y}:N", title=t("chart.group")), alt.Tooltip(f"{colour}:N", title=colour_title),
                 alt.Tooltip(f"{x}:Q", title=x_title)],
    ).properties(title=title, width=WIDTH, autosize=FIT_X, height=max(120, 28 * df[y].nunique()))
