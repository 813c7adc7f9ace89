"""The KPI tile: name (definition, formula, source and n on hover), value in the KPI's unit, target, status by colour
*and* icon, the change against the comparison period with its significance, and "样本不足" below the minimum n."""

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from dashboard.i18n import lang, t
from dashboard.scope import may
from data.i18n import fmt_duration, fmt_number, fmt_percent
from metrics import registry
from metrics.registry import MetricResult

STATUS_ICON = {"met": "✓", "at_risk": "!", "missed": "✗", "insufficient": "…", "not_applicable": "—", "no_data": "∅"}
STATUS_COLOUR = {"met": "green", "at_risk": "orange", "missed": "red", "insufficient": "gray", "not_applicable": "gray",
                 "no_data": "gray"}


def _finite(v: Any) -> bool:
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def kpi_label(key: str) -> str:
    k = registry.get(key)
    return k.label_zh if lang() == "zh-CN" else k.label_en


def fmt_value(value: float | None, unit: str) -> str:
    """A KPI value in its unit, formatted for the session's language."""
    lg = lang()
    if not _finite(value):
        return "—"
    v = float(value)  # type: ignore[arg-type]
    if unit == "share":
        return fmt_percent(v, lg)
    if unit == "minutes":
        return fmt_duration(v, lg)
    if unit == "hours":
        return fmt_duration(v * 60.0, lg)
    if unit == "days":
        return t("unit.days", n=fmt_number(v, lg, 1))
    if unit == "seconds":
        return t("unit.seconds", n=fmt_number(v, lg, 1))
    if unit == "index":
        return fmt_number(v * 100.0, lg, 1)
    if unit == "score":
        return fmt_number(v, lg, 2)
    if unit == "per_mille":
        return fmt_number(v, lg, 2) + "‰"
    return fmt_number(v, lg)


def fmt_diff(diff: float, unit: str) -> str:
    """A signed change in the KPI's unit: percentage points for shares, points for NPS."""
    lg = lang()
    sign = "+" if diff > 0 else "-" if diff < 0 else "±"
    a = abs(diff)
    if unit == "share":
        return sign + t("unit.pp", n=fmt_number(a * 100.0, lg, 1))
    if unit == "index":
        return sign + t("unit.points", n=fmt_number(a * 100.0, lg, 1))
    return sign + fmt_value(a, unit)


def help_text(key: str, n: int | None = None, extra: str = "") -> str:
    k = registry.get(key)
    zh = lang() == "zh-CN"
    parts = [
        f"**{kpi_label(key)}** — " + (k.description_zh if zh else k.description_en),
        t("tile.formula") + f"`{k.formula}`",
        t("tile.source") + k.source,
        t("tile.min_n", n=k.min_n),
    ]
    if n is not None:
        parts.append(t("tile.n", n=fmt_number(n, lang())))
    if extra:
        parts.append(extra)
    return "\n\n".join(parts)


def required_fields(key: str) -> str:
    """The input fields a KPI needs (``KPI.requires``), for the "no data" help: "a 或 b；c"."""
    alt = " 或 " if lang() == "zh-CN" else " or "
    return "; ".join(alt.join(f for f in group if not f.startswith("!")) for group in registry.get(key).requires)


def n_text(result: MetricResult) -> str:
    """``n = …``; with the rows actually measured when some rows of the denominator lack the KPI's input."""
    m = result.extra.get("n_measured")
    if _finite(m) and int(m) < result.n:  # type: ignore[arg-type]
        return t("tile.n_measured", n=fmt_number(result.n, lang()), m=fmt_number(int(m), lang()))  # type: ignore[arg-type]
    return t("tile.n", n=fmt_number(result.n, lang()))


def status_text(status: str) -> str:
    return f":{STATUS_COLOUR[status]}[{STATUS_ICON[status]} {t(f'status.{status}')}]"


def target_text(key: str, target: float, unit: str) -> str:
    op = "≥" if registry.get(key).direction == "higher" else "≤"
    return t("tile.target", op=op, value=fmt_value(target, unit))


def tile(result: MetricResult | None, key: str, *, comparing: bool = True, drill: bool = True,
         label: str | None = None) -> bool:
    """Draw one KPI tile in the current container; returns True when its drill-down button was pressed (the button
    is drawn only for a user who may drill down)."""
    k = registry.get(key)
    unit = k.unit
    with st.container(border=True):
        if result is None:
            st.metric(label or kpi_label(key), "—", help=help_text(key))
            st.caption(t("state.empty_short"))
            return False
        if result.status == "not_applicable":  # a filter decides it by definition: no value, no target, no drill
            st.metric(label or kpi_label(key), t("status.not_applicable"), help=help_text(key))
            st.caption(f"{status_text('not_applicable')} · {t('tile.not_applicable')}")
            return False
        if result.status == "no_data":  # every row in scope lacks the KPI's input: no value, no status, no drill
            fields = t("tile.no_data_fields", fields=required_fields(key))
            st.metric(label or kpi_label(key), t("status.no_data"), help=help_text(key, result.n, fields))
            st.caption(f"{status_text('no_data')} · {t('tile.no_data')} · {fields}")
            return False
        too_few = result.status == "insufficient" or result.n < k.min_n or not _finite(result.value)
        value = t("home.too_few") if too_few else fmt_value(result.value, unit)
        extra = dict(result.extra)
        delta = None
        delta_colour = "off"
        if comparing and not too_few and _finite(extra.get("diff")) and _finite(extra.get("previous")):
            significant = bool(extra.get("significant"))
            delta = fmt_diff(float(extra["diff"]), unit) + (" " + t("tile.significant") if significant else "")
            if significant:
                delta_colour = "normal" if k.direction == "higher" else "inverse"
        interval = ""
        if not too_few and _finite(result.ci_low) and _finite(result.ci_high):
            interval = t("tile.interval", low=fmt_value(result.ci_low, unit), high=fmt_value(result.ci_high, unit))
        st.metric(label or kpi_label(key), value, delta=delta, delta_color=delta_colour,  # type: ignore[arg-type]
                  help=help_text(key, result.n, interval))
        status = "insufficient" if too_few else result.status
        line = [status_text(status), target_text(key, result.target, unit), n_text(result)]
        if interval:
            line.append(interval)
        st.markdown(" · ".join(line))
        if comparing and not too_few and _finite(extra.get("previous")):
            st.caption(t("tile.previous", value=fmt_value(extra.get("previous"), unit),
                         n=fmt_number(extra.get("n_previous") or 0, lang())))
        if drill and may("drill_down"):  # the rows behind a number: not for every role (data.access)
            return st.button(t("drill.open"), key=f"drill_tile_{key}", type="tertiary",
                             icon=":material/table_rows:")
    return False
