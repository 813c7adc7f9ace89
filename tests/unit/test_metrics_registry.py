"""The KPI registry covers KPIS.md §2-3, every entry is complete, and metrics/ stays pure."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from metrics import registry
from metrics.kpis import _FUNCS
from metrics.registry import REGISTRY, MetricResult, get, status, status_of

METRICS_DIR = Path(__file__).resolve().parents[2] / "metrics"

# KPIS.md §2 and §3, one registry key (or more) per row of the tables.
EXPECTED = {
    "first response time": ["first_response_time", "first_response_time_p50", "first_response_time_p90"],
    "arrival time": ["arrival_time", "arrival_time_p50", "arrival_time_p90"],
    "resolution / restoration time": ["resolution_time", "restoration_time", "resolution_time_p90",
                                      "restoration_time_p90"],
    "SLA attainment": ["sla_arrival", "sla_restoration", "sla_resolution"],
    "FCR system": ["fcr_system"], "FCR survey": ["fcr_survey"],
    "hotline service level": ["hotline_service_level"], "ASA": ["asa"], "abandonment": ["abandonment_rate"],
    "hall waiting time": ["hall_waiting_time"], "online share": ["online_share"],
    "complaints per 1,000": ["complaints_per_1000"], "reopen rate": ["reopen_rate"],
    "follow-up closure": ["followup_closure"], "CSAT": ["csat", "csat_mean"], "NPS": ["nps"],
    "CES": ["ces_mean", "ces_share"], "response rate": ["response_rate"], "dimension scores": ["dimension_score"],
}


def test_registry_covers_kpis_md() -> None:
    for label, keys in EXPECTED.items():
        for key in keys:
            assert key in REGISTRY, f"{label}: {key} missing"


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_every_kpi_is_complete_and_computable(key: str) -> None:
    k = REGISTRY[key]
    assert k.key == key
    for text in (k.label_zh, k.label_en, k.description_zh, k.description_en, k.formula, k.source):
        assert text.strip()
    assert k.unit in registry.UNITS and k.direction in ("higher", "lower")
    assert math.isfinite(k.target) and k.at_risk_margin >= 0 and k.min_n >= 1
    assert k.breakdowns and k.kind in ("proportion", "mean", "percentile", "nps", "rate")
    assert key in _FUNCS
    if k.unit == "share":
        assert 0.0 <= k.target <= 1.0 and k.display_scale == 100.0


def test_system_and_survey_fcr_are_separate() -> None:
    assert REGISTRY["fcr_system"].frame == "contact" and REGISTRY["fcr_survey"].frame == "response"


def test_status_rule_both_directions() -> None:
    hi = status_of([0.96, 0.94, 0.92, 0.99], [50, 50, 50, 5], 0.95, "higher", 0.02, 20)
    assert list(hi) == ["met", "at_risk", "missed", "insufficient"]
    lo = status_of([40.0, 50.0, 60.0, np.nan], [50] * 4, 45.0, "lower", 5.0, 20)
    assert list(lo) == ["met", "at_risk", "missed", "insufficient"]
    assert status("abandonment_rate", 0.055, 100) == "at_risk"
    assert status("csat", 0.95, 100, target=0.96) == "at_risk"
    with pytest.raises(KeyError):
        get("nope")


def test_metric_result_is_frozen() -> None:
    r = MetricResult("csat", 0.9, 100, 0.82, 0.95, 0.9, "met", "share")
    with pytest.raises(AttributeError):
        r.value = 0.1  # type: ignore[misc]


ALLOWED = {"numpy", "pandas", "scipy", "metrics", "jieba"}  # jieba: pure text segmentation for metrics.topics
COMPOSITION_ROOT = "__main__.py"  # the command line reads the database through data/ (see test_architecture)


def test_metrics_package_is_pure() -> None:
    import sys

    stdlib = set(sys.stdlib_module_names)
    for path in sorted(METRICS_DIR.glob("*.py")):
        if path.name == COMPOSITION_ROOT:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    continue
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED or top in stdlib, f"{path.name} imports {name}"
                assert top != "chinese_calendar"
        text = path.read_text(encoding="utf-8")
        for banned in ("open(", "read_csv", "read_sql", "to_csv", "streamlit", "sqlalchemy"):
            assert banned not in text, f"{path.name} contains {banned!r}"


def test_docs_page_lists_every_kpi() -> None:
    doc = (METRICS_DIR.parent / "docs" / "metrics.md").read_text(encoding="utf-8")
    for key in REGISTRY:
        assert f"`{key}`" in doc, f"docs/metrics.md lacks {key}"
