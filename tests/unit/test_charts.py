"""Chart builders, spec by spec (the pages' charts are asserted through AppTest in tests/app)."""

from __future__ import annotations

import pandas as pd

from dashboard import charts


def _rows() -> pd.DataFrame:
    return pd.DataFrame({"seg": ["居民", "工业"], "value": [5.8, 5.2], "ci_low": [5.7, 4.9], "ci_high": [5.9, 5.5],
                         "n": [900, 60], "status": ["met", "at_risk"]})


def test_dot_interval_on_a_bounded_scale_spans_the_scale_not_zero() -> None:
    spec = charts.dot_interval(_rows(), label="seg", title="CES", x_title="CES", target=5.5,
                               x_domain=(1.0, 7.0)).to_dict()
    whisk, dots, rule = spec["layer"]
    assert whisk["encoding"]["x"]["field"] == "ci_low" and whisk["encoding"]["x2"]["field"] == "ci_high"
    assert whisk["encoding"]["x"]["scale"]["domain"] == [1.0, 7.0]
    assert dots["encoding"]["y"]["sort"] == ["居民", "工业"]  # best first
    assert rule["encoding"]["x"]["field"] == "target"


def test_dot_interval_without_a_domain_leaves_the_scale_to_vega() -> None:
    spec = charts.dot_interval(_rows(), label="seg", title="CES", x_title="CES", target=None).to_dict()
    assert "scale" not in spec["layer"][0]["encoding"]["x"] and len(spec["layer"]) == 2


# --- legibility (issue 16.6): rendered with vl-convert at a typical plot width, every label must be drawn ---------

def _svg(chart: object, width: int = 640) -> str:
    import json
    import re

    import vl_convert as vlc

    spec = chart.to_dict()  # type: ignore[attr-defined]
    text = json.dumps(spec).replace('"width": "container"', f'"width": {width}')
    svg = vlc.vegalite_to_svg(json.loads(text))
    # Vega hides a label that would collide with another by drawing it transparent
    return " ".join(text for attrs, text in re.findall(r"<text([^>]*)>([^<]*)</text>", svg)
                    if 'opacity="0"' not in attrs)


SERVICES = ["Power outage repair", "New connection (residential)", "New connection (business)", "Capacity change",
            "Meter fault", "Billing enquiry", "Payment problem", "Complaint", "Information request",
            "Name or account transfer", "Distributed PV connection"]


def test_the_service_quality_box_plot_labels_every_service_type() -> None:
    """Eleven service types: 6 were labelled (Vega dropped the colliding ones)."""
    df = pd.DataFrame({"service": SERVICES, "p10": 1.0, "q1": 2.0, "median": 3.0, "q3": 4.0, "p90": 6.0, "n": 50})
    drawn = _svg(charts.boxplot(df, group="service", title="How long", y_title="hours", limit=5.0))
    assert [s for s in SERVICES if s not in drawn] == []


def test_a_heat_map_labels_every_english_channel() -> None:
    chans = ["95598 hotline", "Online State Grid app", "WeChat", "Alipay", "Service hall", "Rural service point"]
    df = pd.DataFrame([{"to": a, "from": b, "n": 3} for a in chans for b in chans])
    chart = charts.heatmap(df, x="to", y="from", value="n", title="Switches", x_title="to", y_title="from",
                           value_title="n")
    x_axis = chart.to_dict()["encoding"]["x"]["axis"]
    # an ordinal axis lets Vega hide every other colliding label ("parity": 3 of 6 shown in Chromium)
    assert x_axis["labelOverlap"] is False and x_axis["labelAngle"] == -35
    drawn = _svg(chart)
    assert [c for c in chans if drawn.count(c) < 2] == []  # whole, on both axes


def test_importance_performance_captions_never_cover_an_item() -> None:
    """The item to fix first sat under its own label and the 重点改进 caption: captions now lie in the margins beyond
    every item, and each item's label sits beside it."""
    df = pd.DataFrame({"driver_label": ["Arrival speed", "Courtesy", "Information", "Repair quality"],
                       "importance": [0.45, 0.10, 0.20, 0.25], "performance": [3.2, 4.6, 4.1, 4.4],
                       "quadrant": ["concentrate_here", "possible_overkill", "low_priority", "keep_up"]})
    spec = charts.importance_performance(df, title="IPA", importance_cut=0.25, performance_cut=4.07,
                                         perf_title="score").to_dict()
    captions = [layer for layer in spec["layer"] if layer.get("mark", {}).get("fontStyle") == "italic"]
    assert len(captions) == 4
    datasets = spec["datasets"]
    for cap in captions:
        row = datasets[cap["data"]["name"]][0]
        inside_x = 0.10 <= row["x"] <= 0.45
        inside_y = 3.2 <= row["y"] <= 4.6
        assert not (inside_x or inside_y), row  # a corner beyond the data on both axes
    drawn = _svg(charts.importance_performance(df, title="IPA", importance_cut=0.25, performance_cut=4.07,
                                               perf_title="score"))
    assert all(label in drawn for label in df["driver_label"])


def test_channel_charts_share_one_legend_and_facets_keep_the_area_order() -> None:
    rows = _rows()
    without = charts.dot_interval(rows, label="seg", title="x", x_title="x", target=None, legend=False).to_dict()
    assert without["layer"][1]["encoding"]["color"]["legend"] is None
    counts = pd.DataFrame({"bin_start": [0, 0], "bin_end": [10, 10], "count": [3, 4], "area": ["农村", "城区"]})
    spec = charts.histogram(counts, value="bin_start", title="t", x_title="x", facet="area",
                            facet_order=["城区", "农村"]).to_dict()
    assert spec["facet"]["column"]["sort"] == ["城区", "农村"]


def test_region_grid_names_stay_inside_their_tiles_and_the_legend_is_whole() -> None:
    df = pd.DataFrame({"region_label": ["莒南县供电公司（临沂）", "兰陵县供电公司"], "region": [1, 2], "value": [0.9, 0.8],
                       "status": ["met", "missed"], "n": [40, 50]})
    spec = charts.region_grid(df, title="g", value_title="v").to_dict()
    name = spec["layer"][1]
    assert 0 < name["mark"]["limit"] <= 120
    assert spec["layer"][0]["encoding"]["color"]["legend"]["orient"] == "bottom"


def test_the_quadrant_to_fix_first_is_drawn_in_the_warning_colour() -> None:
    """The colours were given in the labels' order, so 重点改进 came out grey in Chinese."""
    df = pd.DataFrame({"driver_label": ["a", "b"], "importance": [0.6, 0.1], "performance": [3.0, 4.5],
                       "quadrant": ["concentrate_here", "possible_overkill"]})
    spec = charts.importance_performance(df, title="t", importance_cut=0.3, performance_cut=4.0,
                                         perf_title="s").to_dict()
    scale = next(layer for layer in spec["layer"] if "color" in layer.get("encoding", {})
                 and "scale" in layer["encoding"]["color"])["encoding"]["color"]["scale"]
    colour = dict(zip(scale["domain"], scale["range"], strict=True))
    from dashboard.i18n import t

    assert colour[t("ipa.concentrate_here")] == "#D55E00"
