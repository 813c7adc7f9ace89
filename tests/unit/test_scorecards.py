"""Scorecards: shrinkage against a hand computation, case mix against case_mix_oe, rank bands, insufficient data,
critical items, the training flag, reviewer agreement against Shrout & Fleiss (1979)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from metrics.agreement import icc1, reviewer_agreement
from metrics.scorecards import (
    CriticalRule,
    KpiSpec,
    RoleSpec,
    ScorecardConfig,
    case_mix_expected,
    compute_scorecards,
    rank_bands,
)
from metrics.shrinkage import case_mix_oe

GRADES = [("excellent", 85.0), ("good", 45.0), ("pass", 10.0), ("improve", 0.0)]


def _config(kpis: dict[str, KpiSpec], weights: dict[str, float], targets: dict[str, float],
            min_n: dict[str, int], **kw: object) -> ScorecardConfig:
    return ScorecardConfig(kpis=kpis, roles={"crew": RoleSpec(weights, targets, min_n)}, grades=GRADES, **kw)


def test_beta_binomial_shrinkage_matches_hand_computation() -> None:
    x = [18, 4, 30, 2, 25]
    n = [20, 20, 40, 2, 30]
    # hand computation of the method-of-moments prior (KPIS.md §4) and the posterior means
    mu = sum(x) / sum(n)  # 79/112
    p = [a / b for a, b in zip(x, n, strict=True)]
    k = len(x)
    tau2 = (sum(b * (q - mu) ** 2 for q, b in zip(p, n, strict=True)) - k * mu * (1 - mu)) / (sum(n) - k)
    strength = mu * (1 - mu) / tau2 - 1
    assert 0 < strength < 50  # not capped in this example
    a, b = mu * strength, (1 - mu) * strength
    expected = [(xi + a) / (ni + a + b) for xi, ni in zip(x, n, strict=True)]
    roster = pd.DataFrame({"staff_id": range(1, 6), "role": "crew"})
    obs = pd.DataFrame({"staff_id": range(1, 6), "kpi": "sat", "n": n, "x": x})
    cfg = _config({"sat": KpiSpec("sat", "proportion", False)}, {"sat": 1.0}, {"sat": 0.8}, {"sat": 1})
    cards = compute_scorecards(roster, obs, cfg)
    got = cards.kpis.sort_values("staff_id")
    np.testing.assert_allclose(got["value"], expected, rtol=1e-12)
    np.testing.assert_allclose(got["low"], stats.beta.ppf(0.025, np.array(x) + a, np.array(n) - np.array(x) + b))
    prior = cards.priors.iloc[0]
    assert prior["a"] == pytest.approx(a) and prior["b"] == pytest.approx(b)
    # 2/2 is pulled hard toward the mean; 30/40 barely moves
    assert abs(got["value"].iloc[3] - mu) < abs(1.0 - mu) / 2
    # the total of a one-KPI role is that KPI's value
    np.testing.assert_allclose(cards.totals.sort_values("staff_id")["total"], expected)


def test_case_mix_expected_equals_case_mix_oe_on_rows() -> None:
    rng = np.random.default_rng(3)
    rows = pd.DataFrame({
        "staff_id": rng.integers(1, 6, 600),
        "service_type": rng.choice(["repair", "meter"], 600),
        "area_class": rng.choice(["urban", "rural", "remote"], 600),
        "channel": "hotline",
    })
    rows["y"] = (rng.random(600) < np.where(rows["area_class"] == "remote", 0.4, 0.8)).astype(float)
    ref = case_mix_oe(rows, "staff_id", ["service_type", "area_class", "channel"], "y")
    cells = rows.groupby(["staff_id", "service_type", "area_class", "channel"], as_index=False).agg(
        n=("y", "size"), x=("y", "sum")).assign(kpi="k")
    cm = case_mix_expected(cells, min_cell=1)
    e = (cm["n"] * cm["ref"]).groupby(cm["staff_id"]).sum()
    np.testing.assert_allclose(e.sort_index().to_numpy(), ref.sort_values("staff_id")["expected"].to_numpy())


def test_case_mix_falls_back_to_coarser_cells() -> None:
    cells = pd.DataFrame({"kpi": "k", "staff_id": [1, 2, 3], "service_type": ["repair"] * 3,
                          "area_class": ["urban", "urban", "remote"], "channel": ["app", "hotline", "app"],
                          "n": [30, 30, 2], "x": [27, 21, 0]})
    cm = case_mix_expected(cells, min_cell=20)
    assert cm.loc[0, "ref"] == pytest.approx(0.9) and cm.loc[0, "ref_level"] == 3
    # the remote cell has 2 cases: service type x area class has 2 too, service type has 62 -> 48/62
    assert cm.loc[2, "ref"] == pytest.approx(48 / 62) and cm.loc[2, "ref_level"] == 1


def test_case_mix_removes_an_area_penalty() -> None:
    # staff 1 serves only remote cells (rate 0.5 for everyone there), staff 2 urban (0.9): both average for their mix
    roster = pd.DataFrame({"staff_id": [1, 2, 3, 4], "role": "crew"})
    obs = pd.DataFrame({"staff_id": [1, 2, 3, 3, 4, 4], "kpi": "arr", "service_type": "repair",
                        "area_class": ["remote", "urban", "remote", "urban", "remote", "urban"],
                        "channel": "hotline", "n": [40, 40, 40, 40, 40, 40], "x": [20, 36, 20, 36, 20, 36]})
    cfg = _config({"arr": KpiSpec("arr", "proportion", True)}, {"arr": 1.0}, {"arr": 0.7}, {"arr": 5})
    k = compute_scorecards(roster, obs, cfg).kpis.set_index("staff_id")
    assert k.loc[1, "raw"] == pytest.approx(0.5) and k.loc[2, "raw"] == pytest.approx(0.9)
    assert k.loc[1, "oe"] == pytest.approx(1.0) and k.loc[2, "oe"] == pytest.approx(1.0)
    assert k.loc[1, "adjusted"] == pytest.approx(k.loc[2, "adjusted"])


def test_rank_bands_from_interval_overlap() -> None:
    low = np.array([0.10, 0.50, 0.52, 0.90])
    high = np.array([0.30, 0.70, 0.72, 0.95])
    best, worst = rank_bands(low, high)
    # unit 4 is clearly first; units 2 and 3 overlap (2nd-3rd); unit 1 clearly last
    assert best.tolist() == [4, 2, 2, 1] and worst.tolist() == [4, 3, 3, 1]


def test_insufficient_data_critical_items_and_training() -> None:
    roster = pd.DataFrame({"staff_id": [1, 2, 3, 4, 5], "role": "crew"})
    rows = []
    for sid, (sat_x, sat_n, arr_x, arr_n) in {1: (19, 20, 38, 40), 2: (15, 20, 20, 40), 3: (16, 20, 30, 40),
                                              4: (2, 2, 30, 40), 5: (17, 20, 31, 40)}.items():
        rows += [(sid, "sat", sat_n, sat_x), (sid, "arr", arr_n, arr_x)]
    obs = pd.DataFrame(rows, columns=["staff_id", "kpi", "n", "x"])
    crit = pd.DataFrame({"staff_id": [1, 5], "complaint": [1, 0], "violation": [0, 1]})
    cfg = _config({"sat": KpiSpec("sat", "proportion", False), "arr": KpiSpec("arr", "proportion", False)},
                  {"sat": 0.5, "arr": 0.5}, {"sat": 0.8, "arr": 0.8}, {"sat": 10, "arr": 10},
                  critical=[CriticalRule("complaint", 1, "cap", "good"), CriticalRule("violation", 1, "zero")],
                  min_weight_share=0.6)
    cards = compute_scorecards(roster, obs, cfg, crit)
    t = cards.totals.set_index("staff_id")
    k = cards.kpis.set_index(["staff_id", "kpi"])
    assert k.loc[(4, "sat"), "status"] == "insufficient"
    assert not t.loc[4, "sufficient"] and t.loc[4, "grade"] == "insufficient" and pd.isna(t.loc[4, "total"])
    assert pd.isna(t.loc[4, "rank_best"])
    assert t.loc[1, "perf_grade"] == "excellent" and t.loc[1, "grade"] == "good" and bool(t.loc[1, "capped"])
    assert t.loc[5, "grade"] == "improve" and t.loc[5, "final_total"] == 0.0
    # four graded staff: the lowest has mid-rank percentile 100 x (1 - 0.5)/4 = 12.5, inside the "pass" band (>= 10)
    assert t.loc[2, "percentile"] == pytest.approx(12.5) and t.loc[2, "perf_grade"] == "pass"
    # staff 2's weakest KPI is arrival (20/40 against 0.8), flagged for training
    assert t.loc[2, "weakest_kpi"] == "arr" and bool(t.loc[2, "training"])


def test_icc_matches_shrout_fleiss_table() -> None:
    x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    icc, items, ratings = icc1(np.repeat(np.arange(6), 4), x.ravel())
    assert round(icc, 2) == 0.17 and items == 6 and ratings == 24


def test_a_harsh_reviewer_is_visible() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(80, 8, 200)
    rows = []
    for i, v in enumerate(truth):
        for r in rng.choice(["a", "b", "c", "d"], 2, replace=False):
            rows.append((i, r, v + (-10 if r == "c" else 0) + rng.normal(0, 3)))
    res = reviewer_agreement(pd.DataFrame(rows, columns=["item", "reviewer", "score"]))
    per = res.per_reviewer.set_index("reviewer")
    assert per.loc["c", "flag"] == "harsh" and per.loc["c", "mean_diff"] < -9
    assert (per.drop(index="c")["flag"] != "harsh").all()
    assert res.items == 200 and res.icc > 0.5


def test_extreme_grades_need_an_interval_clear_of_the_median() -> None:
    """Bottom of the ranking on a noisy score is not enough for the bottom grade (nor top for the top grade):
    the interval must lie wholly beyond the role's median; the percentile alone places the others."""
    # twenty staff with 400 surveys around 80 %, one poor performer with 400 (clearly below), one with 12 surveys
    # that rank last but whose interval reaches the median, and one lucky 5/5 ranking first
    x = [320 + d for d in (-6, -4, -3, -2, -1, 0, 0, 1, 2, 3, 4, 6, -5, 5, -2, 2, -1, 1, 0, 0)] + [240, 8, 5]
    n = [400] * 20 + [400, 12, 5]
    ids = list(range(1, len(x) + 1))
    roster = pd.DataFrame({"staff_id": ids, "role": "crew"})
    obs = pd.DataFrame({"staff_id": ids, "kpi": "sat", "n": n, "x": x})
    kpis = {"sat": KpiSpec("sat", "proportion", False)}
    cfg = _config(kpis, {"sat": 1.0}, {"sat": 0.8}, {"sat": 1}, max_prior_strength=5.0)
    t = compute_scorecards(roster, obs, cfg).totals.set_index("staff_id")
    median = t["total"].median()
    poor, noisy_low, lucky = len(x) - 2, len(x) - 1, len(x)
    assert t.loc[poor, "total_high"] < median and t.loc[poor, "grade"] == "improve"
    assert t.loc[noisy_low, "percentile"] < 10 and t.loc[noisy_low, "total_high"] >= median
    assert t.loc[noisy_low, "grade"] == "pass"
    assert t.loc[lucky, "percentile"] >= 85 and t.loc[lucky, "total_low"] <= median
    assert t.loc[lucky, "grade"] == "good"
    # without the rule the percentile alone decides (the previous behaviour)
    plain = compute_scorecards(roster, obs, _config(kpis, {"sat": 1.0}, {"sat": 0.8}, {"sat": 1},
                                                    max_prior_strength=5.0, extremes_need_evidence=False))
    p = plain.totals.set_index("staff_id")
    assert p.loc[noisy_low, "grade"] == "improve" and p.loc[lucky, "grade"] == "excellent"


def test_a_kpi_without_one_observed_case_is_no_data_not_zero() -> None:
    """Work orders imported without arrival times give a crew member no arrival case at all: no value, status
    "no_data" (an empty cell plus the marker in every export), never 0 or "too few"."""
    roster = pd.DataFrame({"staff_id": [1, 2, 3], "role": "crew"})
    obs = pd.DataFrame([(1, "sat", 20, 18), (1, "arr", 40, 30), (2, "sat", 20, 15), (2, "arr", 0, 0),
                        (3, "sat", 20, 16), (3, "arr", 5, 4)], columns=["staff_id", "kpi", "n", "x"])
    cfg = _config({"sat": KpiSpec("sat", "proportion", False), "arr": KpiSpec("arr", "proportion", False)},
                  {"sat": 0.5, "arr": 0.5}, {"sat": 0.8, "arr": 0.8}, {"sat": 10, "arr": 10})
    k = compute_scorecards(roster, obs, cfg).kpis.set_index(["staff_id", "kpi"])
    assert k.loc[(2, "arr"), "status"] == "no_data" and pd.isna(k.loc[(2, "arr"), "raw"])
    assert k.loc[(3, "arr"), "status"] == "insufficient"  # 5 cases < 10: too few, but measured
    assert k.loc[(1, "arr"), "status"] in ("met", "warn", "miss")
