"""Empirical-Bayes shrinkage, case-mix O/E and raking against hand computations written out here."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats

from metrics.shrinkage import bayesian_average, case_mix_oe, fit_beta_prior, shrink_proportions
from metrics.weighting import effective_n, kish_deff, rake


def test_beta_prior_method_of_moments_by_hand() -> None:
    x = [2, 9, 15, 40, 3]
    n = [10, 20, 30, 50, 5]
    # by hand: mu = 69/115 = 0.6; rates 0.2, 0.45, 0.5, 0.8, 0.6
    mu = 0.6
    ss = 10 * 0.4 ** 2 + 20 * 0.15 ** 2 + 30 * 0.1 ** 2 + 50 * 0.2 ** 2 + 5 * 0.0  # = 4.35
    tau2 = (ss - 5 * mu * (1 - mu)) / (115 - 5)  # (4.35 - 1.2) / 110
    strength = mu * (1 - mu) / tau2 - 1  # 0.24 / 0.0286364 - 1 = 7.3809...
    prior = fit_beta_prior(x, n)
    assert prior.mean == pytest.approx(0.6)
    assert prior.tau2 == pytest.approx(3.15 / 110)
    assert prior.strength == pytest.approx(strength)
    assert prior.a == pytest.approx(0.6 * strength) and prior.b == pytest.approx(0.4 * strength)
    assert not prior.capped and "Beta(" in prior.describe()
    res = shrink_proportions(x, n, prior=prior)
    assert res.shrunk[0] == pytest.approx((2 + 0.6 * strength) / (10 + strength))
    assert res.low[0] == pytest.approx(stats.beta.ppf(0.025, 2 + 0.6 * strength, 8 + 0.4 * strength))
    # smaller units move more towards the mean
    assert abs(res.shrunk[4] - res.raw[4]) == pytest.approx(0.0, abs=1e-12)  # unit at the mean stays
    assert abs(res.shrunk[0] - res.raw[0]) > abs(res.shrunk[3] - res.raw[3])


def test_beta_prior_capped_when_no_extra_variation() -> None:
    prior = fit_beta_prior([8, 16, 40], [10, 20, 50], max_strength=30)
    assert prior.capped and prior.strength == 30 and prior.mean == pytest.approx(0.8)
    res = shrink_proportions([3, 0], [3, 0], prior=prior)
    assert res.shrunk[0] == pytest.approx((3 + 24) / (3 + 30))
    assert res.shrunk[1] == pytest.approx(0.8)  # no data: the prior mean
    empty = fit_beta_prior([], [])
    assert math.isnan(empty.mean) and empty.units == 0


def test_bayesian_average_by_hand() -> None:
    means, counts, variances = [4.5, 3.9, 4.8], [4, 40, 10], [0.5, 0.8, 0.3]
    grand = (4.5 * 4 + 3.9 * 40 + 4.8 * 10) / 54
    s2w = (3 * 0.5 + 39 * 0.8 + 9 * 0.3) / 51
    msb = (4 * (4.5 - grand) ** 2 + 40 * (3.9 - grand) ** 2 + 10 * (4.8 - grand) ** 2) / 2
    n0 = (54 - (16 + 1600 + 100) / 54) / 2
    tau2 = (msb - s2w) / n0
    c = s2w / tau2
    r = bayesian_average(means, counts, variances)
    assert r.prior.mean == pytest.approx(grand)
    assert r.prior.strength == pytest.approx(c)
    assert r.adjusted[0] == pytest.approx((c * grand + 4 * 4.5) / (c + 4))
    fixed = bayesian_average([5.0], [1], prior_mean=3.0, prior_strength=9)
    assert fixed.adjusted[0] == pytest.approx((27 + 5) / 10)
    with pytest.raises(ValueError):
        bayesian_average(means, counts)


def test_case_mix_oe_by_hand() -> None:
    df = pd.DataFrame({
        "staff": ["A"] * 4 + ["B"] * 4,
        "service_type": ["repair", "repair", "repair", "billing", "billing", "billing", "billing", "repair"],
        "area_class": ["rural", "rural", "urban", "urban", "urban", "urban", "urban", "urban"],
        "ok": [0, 1, 1, 1, 1, 1, 0, 1],
    })
    # strata rates: repair/rural 1/2, repair/urban 2/2, billing/urban 3/4
    out = case_mix_oe(df, "staff", ["service_type", "area_class"], "ok").set_index("staff")
    assert out.loc["A", "observed"] == 3 and out.loc["A", "expected"] == pytest.approx(0.5 + 0.5 + 1 + 0.75)
    assert out.loc["B", "expected"] == pytest.approx(0.75 * 3 + 1.0)
    assert out.loc["A", "oe"] == pytest.approx(3 / 2.75)
    assert out.loc["A", "adjusted_rate"] == pytest.approx(3 / 2.75 * 6 / 8)
    assert out.loc["A", "z"] == pytest.approx((3 - 2.75) / math.sqrt(0.25 + 0.25 + 0 + 0.1875))
    ref = pd.Series({("repair", "rural"): 0.8, ("repair", "urban"): 0.9, ("billing", "urban"): 0.7})
    out2 = case_mix_oe(df, "staff", ["service_type", "area_class"], "ok", reference_rates=ref).set_index("staff")
    assert out2.loc["B", "expected"] == pytest.approx(0.7 * 3 + 0.9)


def test_kish_by_hand() -> None:
    w = [1.0, 2.0, 3.0, 4.0]
    assert kish_deff(w) == pytest.approx(4 * 30 / 100)
    assert effective_n(w) == pytest.approx(100 / 30)
    assert kish_deff([2.0, 2.0, 2.0]) == pytest.approx(1.0)
    assert math.isnan(kish_deff([]))


def _sample() -> pd.DataFrame:
    rows = ([("urban", "hotline")] * 40 + [("urban", "app")] * 30 + [("rural", "hotline")] * 20
            + [("rural", "app")] * 10)
    return pd.DataFrame(rows, columns=["area", "channel"])


def test_rake_single_margin_is_poststratification() -> None:
    df = _sample()
    r = rake(df, {"area": {"urban": 0.5, "rural": 0.5}})
    assert r.converged
    # by hand: urban 70 respondents -> weight 50/70; rural 30 -> 50/30
    assert r.weights[df.area == "urban"].iloc[0] == pytest.approx(50 / 70)
    assert r.weights[df.area == "rural"].iloc[0] == pytest.approx(50 / 30)
    w = r.weights.to_numpy()
    assert r.deff == pytest.approx(100 * (w ** 2).sum() / w.sum() ** 2)


def test_rake_two_margins_matches_targets_and_keeps_odds_ratio() -> None:
    df = _sample()
    targets = {"area": {"urban": 6000, "rural": 4000}, "channel": {"hotline": 5000, "app": 5000}}
    r = rake(df, targets, tol=1e-12, max_iter=500)
    assert r.converged
    tab = r.weights.groupby([df.area, df.channel]).sum()
    assert tab.groupby(level=0).sum()["urban"] == pytest.approx(6000)
    assert tab.groupby(level=1).sum()["app"] == pytest.approx(5000)
    # IPF preserves the sample's odds ratio (40*10)/(30*20)
    ratio = (tab["urban", "hotline"] * tab["rural", "app"]) / (tab["urban", "app"] * tab["rural", "hotline"])
    assert ratio == pytest.approx(400 / 600, rel=1e-9)


def test_rake_errors() -> None:
    df = _sample()
    with pytest.raises(ValueError, match="no target"):
        rake(df, {"area": {"urban": 1.0}})
    with pytest.raises(ValueError, match="no respondents"):
        rake(df, {"area": {"urban": 0.4, "rural": 0.4, "remote": 0.2}})
