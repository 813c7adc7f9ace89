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
