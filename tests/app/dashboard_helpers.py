"""Helpers for the manager-dashboard AppTests: open a callable page, find charts and their Vega-Lite specs."""

from __future__ import annotations

import json
from typing import Any

from streamlit.testing.v1 import AppTest


def goto(at: AppTest, url_path: str) -> AppTest:
    """Open a callable page by its URL path (AppTest.switch_page only knows file pages). A page the role does not
    have is not registered, so Streamlit falls back to the default page."""
    from streamlit.navigation.page import calc_hash

    at._page_hash = calc_hash(url_path)
    at.run()
    assert not at.exception, at.exception
    return at


def _walk(node: Any, out: list[Any]) -> list[Any]:
    for child in getattr(node, "children", {}).values():
        if type(child).__name__ == "UnknownElement":
            out.append(child)
        _walk(child, out)
    return out


def chart_specs(at: AppTest) -> list[dict[str, Any]]:
    """Every Altair chart on the page as its Vega-Lite spec (in page order); the rows Streamlit ships apart from
    the spec (``proto.datasets``, Arrow) are put back under ``datasets`` as lists of records."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    out = []
    for el in _walk(at._tree, []):
        if el.type != "vega_lite_chart":
            continue
        spec = json.loads(el.proto.spec)
        spec["datasets"] = {d.name: convert_arrow_bytes_to_pandas_df(d.data.data).to_dict("records")
                            for d in el.proto.datasets}
        out.append(spec)
    return out


def chart_titled(at: AppTest, text: str) -> dict[str, Any]:
    for spec in chart_specs(at):
        title = spec.get("title")
        title = title.get("text") if isinstance(title, dict) else title
        if title and text in str(title):
            return spec
    raise AssertionError(f"no chart titled {text!r}; titles: {[s.get('title') for s in chart_specs(at)]}")


def data_of(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline rows of a spec (Altair puts them under datasets)."""
    rows: list[dict[str, Any]] = []
    for values in spec.get("datasets", {}).values():
        rows.extend(values)
    return rows


def layer_marks(spec: dict[str, Any]) -> list[str]:
    layers = spec.get("layer") or spec.get("spec", {}).get("layer") or [spec]
    out = []
    for layer in layers:
        mark = layer.get("mark")
        out.append(mark.get("type") if isinstance(mark, dict) else mark)
    return out


def encodings(spec: dict[str, Any]) -> list[dict[str, Any]]:
    layers = spec.get("layer") or spec.get("spec", {}).get("layer") or [spec]
    return [layer.get("encoding", {}) for layer in layers]


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)
