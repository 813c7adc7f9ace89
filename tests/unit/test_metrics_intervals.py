"""Intervals against published reference values (R binom, Rocks 2016, Conover) and numpy/scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from metrics.intervals import (
    agresti_coull_interval,
    bootstrap_ci,
    bootstrap_diff_ci,
    grouped_quantile,
    mean_interval,
    mean_interval_from_stats,
    nps_counts,
    nps_interval,
    order_statistic_ranks,
    percentile,
    percentile_ci,
    poisson_interval,
    wilson_interval,
)


def test_wilson_reference_r_binom() -> None:
    iv = wilson_interval(18, 20)
    assert iv.estimate == pytest.approx(0.9)
    assert iv.low == pytest.approx(0.6989663547715128, abs=1e-12)
    assert iv.high == pytest.approx(0.972133518786232, abs=1e-12)


def test_agresti_coull_reference_r_binom() -> None:
    iv = agresti_coull_interval(4, 20)
    assert iv.low == pytest.approx(0.0749115102767071, abs=1e-12)
    assert iv.high == pytest.approx(0.4217635845549845, abs=1e-12)


def test_wilson_matches_statsmodels_vectorised() -> None:
    from statsmodels.stats.proportion import proportion_confint

    x = np.array([0, 1, 7, 19, 20, 55])
    n = np.array([20, 20, 20, 20, 20, 400])
    iv = wilson_interval(x, n, level=0.9)
    lo, hi = proportion_confint(x, n, alpha=0.1, method="wilson")
    np.testing.assert_allclose(iv.low, lo, atol=1e-12)
    np.testing.assert_allclose(iv.high, hi, atol=1e-12)
    assert iv.low[0] == 0.0 and iv.high[4] == 1.0


def test_wilson_edge_cases() -> None:
    iv = wilson_interval(0, 0)
    assert math.isnan(iv.estimate) and math.isnan(iv.low) and math.isnan(iv.high)
    one = wilson_interval(1, 1)
    assert one.estimate == 1.0 and one.high == 1.0 and 0.0 < one.low < 1.0
    zero = wilson_interval(0, 1)
    assert zero.low == 0.0 and zero.high < 1.0


def test_nps_reference_wald() -> None:
    r = nps_interval(50, 30, 20, method="wald")
    assert r.nps == pytest.approx(0.30, abs=1e-12)
    assert r.se == pytest.approx(0.0781, abs=5e-5)
    assert r.low == pytest.approx(0.1469, abs=5e-5)
    assert r.high == pytest.approx(0.4531, abs=5e-5)


def test_nps_adjusted_wald_hand_computed() -> None:
    r = nps_interval(50, 30, 20, method="adjusted_wald")
    p, d, n = 50.75 / 103, 20.75 / 103, 103
    centre = p - d
    half = stats.norm.ppf(0.975) * math.sqrt((p + d - (p - d) ** 2) / n)
    assert r.nps == pytest.approx(0.30)  # the reported score stays unadjusted
    assert r.low == pytest.approx(centre - half, abs=1e-12)
    assert r.high == pytest.approx(centre + half, abs=1e-12)


def test_nps_all_promoters_and_empty() -> None:
    w = nps_interval(20, 0, 0, method="wald")
    assert w.nps == 1.0 and w.se == 0.0 and w.low == 1.0 and w.high == 1.0
    a = nps_interval(20, 0, 0)
    assert a.high == 1.0 and a.low < 1.0  # adjusted Wald does not collapse to a point
    e = nps_interval(0, 0, 0)
    assert math.isnan(e.nps) and math.isnan(e.low)


def test_nps_counts_ignores_invalid() -> None:
    assert nps_counts([10, 9, 8, 7, 6, 0, None, 11, -1, float("nan")]) == (2, 2, 2)


def test_mean_interval_against_scipy() -> None:
    v = [3.0, 4.0, 5.0, 5.0, 2.0, np.nan, 4.0]
    iv = mean_interval(v)
    clean = np.array([3, 4, 5, 5, 2, 4], float)
    lo, hi = stats.t.interval(0.95, df=5, loc=clean.mean(), scale=stats.sem(clean))
    assert iv.estimate == pytest.approx(clean.mean())
    assert (iv.low, iv.high) == pytest.approx((lo, hi), abs=1e-12)


def test_mean_interval_edges() -> None:
    assert math.isnan(mean_interval([]).estimate)
    one = mean_interval([4.0])
    assert one.estimate == 4.0 and math.isnan(one.low)
    flat = mean_interval([3.0, 3.0, 3.0])
    assert flat.low == flat.high == 3.0
    lo, hi = mean_interval_from_stats(np.array([1.0, 2.0]), np.array([1.0, 1.0]), np.array([1, 10]))
    assert math.isnan(lo[0]) and hi[1] == pytest.approx(2 + stats.t.ppf(0.975, 9) / math.sqrt(10))


def test_percentile_inverted_cdf_reference() -> None:
    data = list(range(1, 10)) + [100]
    assert percentile(data, 0.9) == 9.0
    assert float(pd.Series(data).quantile(0.9)) == pytest.approx(18.1)  # the pitfall KPIS.md warns about
    assert math.isnan(percentile([], 0.5))


def test_order_statistic_ranks_reference() -> None:
    # Conover: the 95 % CI for the median of n = 100 is (x(40), x(61)).
    assert order_statistic_ranks(100, 0.5) == (40.0, 61.0)
    # coverage >= nominal, checked against the binomial directly for several n and q
    for n in (20, 57, 300):
        for q in (0.5, 0.9):
            lo, hi = order_statistic_ranks(n, q)
            cover = stats.binom.cdf(hi - 1, n, q) - stats.binom.cdf(lo - 1, n, q)
            assert cover >= 0.95


def test_percentile_ci_unbounded_side_is_nan() -> None:
    iv = percentile_ci([1.0, 2.0, 3.0], 0.9)
    assert iv.estimate == 3.0 and math.isnan(iv.high)
    v = np.arange(1, 101, dtype=float)
    iv = percentile_ci(v, 0.5)
    assert (iv.estimate, iv.low, iv.high) == (50.0, 40.0, 61.0)


def test_grouped_quantile_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    df = pd.DataFrame({
        "g": rng.integers(0, 30, 3000), "h": rng.choice(["a", "b"], 3000), "v": rng.exponential(30, 3000),
    })
    df.loc[::17, "v"] = np.nan
    for q in (0.5, 0.9, 0.3):
        out = grouped_quantile(df, "v", ["g", "h"], q)
        for row in out.sample(10, random_state=1).itertuples():
            vals = df.loc[(df.g == row.g) & (df.h == row.h), "v"].dropna().to_numpy()
            assert row.value == np.quantile(vals, q, method="inverted_cdf")
            assert row.n == vals.size
    whole = grouped_quantile(df, "v", [], 0.9)
    assert len(whole) == 1 and whole["value"].iloc[0] == np.quantile(df.v.dropna(), 0.9, method="inverted_cdf")
    empty = grouped_quantile(df.iloc[:0], "v", ["g"], 0.5)
    assert empty.empty and "value" in empty.columns


def test_poisson_interval_against_chi2() -> None:
    lo, hi = poisson_interval(10)
    assert lo == pytest.approx(4.795389, abs=1e-6) and hi == pytest.approx(18.390356, abs=1e-6)
    lo0, hi0 = poisson_interval(0)
    assert lo0 == 0.0 and hi0 == pytest.approx(3.688879, abs=1e-6)


def test_bootstrap_seeded_and_close_to_t() -> None:
    v = np.random.default_rng(11).normal(10.0, 2.0, 400)
    a = bootstrap_ci(v, seed=5)
    b = bootstrap_ci(v, seed=5)
    assert (a.low, a.high) == (b.low, b.high)
    t = mean_interval(v)
    assert a.low == pytest.approx(t.low, abs=0.06) and a.high == pytest.approx(t.high, abs=0.06)
    d = bootstrap_diff_ci(v, v - 1.0, seed=1)
    assert d.estimate == pytest.approx(1.0) and d.low < 1.0 < d.high
    assert math.isnan(bootstrap_ci([1.0]).low)
