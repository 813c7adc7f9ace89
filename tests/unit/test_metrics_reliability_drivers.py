"""Cronbach's alpha, Feldt interval, relative weights and Shapley/LMG against references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from metrics.drivers import importance_performance, pairwise_relative_weights, relative_weights, shapley_r2
from metrics.reliability import cronbach_alpha, cronbach_alpha_from_cov, cronbach_alpha_pairwise, feldt_interval

# R datasets::mtcars (public domain R data), the columns the reference regression needs, in row order.
MPG = [21.0, 21.0, 22.8, 21.4, 18.7, 18.1, 14.3, 24.4, 22.8, 19.2, 17.8, 16.4, 17.3, 15.2, 10.4, 10.4, 14.7, 32.4,
       30.4, 33.9, 21.5, 15.5, 15.2, 13.3, 19.2, 27.3, 26.0, 30.4, 15.8, 19.7, 15.0, 21.4]
CYL = [6, 6, 4, 6, 8, 6, 8, 4, 4, 6, 6, 8, 8, 8, 8, 8, 8, 4, 4, 4, 4, 8, 8, 8, 8, 4, 4, 4, 8, 6, 8, 4]
DISP = [160.0, 160.0, 108.0, 258.0, 360.0, 225.0, 360.0, 146.7, 140.8, 167.6, 167.6, 275.8, 275.8, 275.8, 472.0,
        460.0, 440.0, 78.7, 75.7, 71.1, 120.1, 318.0, 304.0, 350.0, 400.0, 79.0, 120.3, 95.1, 351.0, 145.0, 301.0,
        121.0]
HP = [110, 110, 93, 110, 175, 105, 245, 62, 95, 123, 123, 180, 180, 180, 205, 215, 230, 66, 52, 65, 97, 150, 150,
      245, 175, 66, 91, 113, 264, 175, 335, 109]
GEAR = [4, 4, 4, 3, 3, 3, 3, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 4, 4, 4, 3, 3, 3, 3, 3, 4, 5, 5, 5, 5, 5, 4]


def mtcars_x() -> pd.DataFrame:
    return pd.DataFrame({"cyl": CYL, "disp": DISP, "hp": HP, "gear": GEAR})


def test_alpha_from_covariance_reference() -> None:
    cov = [[10, 6, 6, 6], [6, 11, 6, 6], [6, 6, 12, 6], [6, 6, 6, 13]]
    assert cronbach_alpha_from_cov(cov) == pytest.approx(0.8136, abs=5e-5)
    assert math.isnan(cronbach_alpha_from_cov([[1.0]]))


def test_alpha_from_data_hand_formula_and_listwise_deletion() -> None:
    rng = np.random.default_rng(4)
    latent = rng.normal(size=200)
    items = np.column_stack([latent + rng.normal(scale=s, size=200) for s in (0.8, 1.0, 1.2, 1.5)])
    df = pd.DataFrame(items, columns=list("abcd"))
    df.iloc[[3, 50], 1] = np.nan
    res = cronbach_alpha(df)
    x = df.dropna().to_numpy()
    k = x.shape[1]
    hand = k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1))
    assert res.alpha == pytest.approx(hand, abs=1e-12)
    assert res.n == 198 and res.n_dropped == 2 and res.k == 4
    f_hi = stats.f.ppf(0.975, 197, 197 * 3)
    f_lo = stats.f.ppf(0.025, 197, 197 * 3)
    assert res.ci_low == pytest.approx(1 - (1 - hand) * f_hi, abs=1e-12)
    assert res.ci_high == pytest.approx(1 - (1 - hand) * f_lo, abs=1e-12)
    assert res.ci_low < res.alpha < res.ci_high


def test_alpha_edges() -> None:
    assert math.isnan(cronbach_alpha(pd.DataFrame({"a": [1.0], "b": [2.0]})).alpha)
    assert math.isnan(cronbach_alpha(pd.DataFrame({"a": [1.0, 2.0, 3.0]})).alpha)
    assert all(math.isnan(b) for b in feldt_interval(float("nan"), 10, 3))
    assert all(math.isnan(b) for b in feldt_interval(0.5, 1, 3))


def test_relative_weights_reference_rwa() -> None:
    r = relative_weights(mtcars_x(), MPG)
    np.testing.assert_allclose(r.raw, [0.2284797, 0.2221469, 0.2321744, 0.0963886], atol=5e-8)
    assert r.r2 == pytest.approx(0.77919, abs=5e-6)
    assert sum(r.rescaled) == pytest.approx(1.0)
    assert r.names == ("cyl", "disp", "hp", "gear")


def _r2(x: np.ndarray, y: np.ndarray) -> float:
    if x.shape[1] == 0:
        return 0.0
    xd = np.column_stack([np.ones(len(y)), x])
    beta, *_ = np.linalg.lstsq(xd, y, rcond=None)
    resid = y - xd @ beta
    return 1 - resid @ resid / ((y - y.mean()) @ (y - y.mean()))


def test_shapley_equals_average_over_orderings() -> None:
    """LMG by its definition: the mean R² gain over all p! orderings, with OLS fits on the raw data."""
    x = mtcars_x().to_numpy(float)
    y = np.array(MPG)
    p = x.shape[1]
    gains = np.zeros(p)
    perms = list(itertools.permutations(range(p)))
    for perm in perms:
        used: list[int] = []
        for j in perm:
            before = _r2(x[:, used], y)
            used.append(j)
            gains[j] += _r2(x[:, used], y) - before
    gains /= len(perms)
    r = shapley_r2(mtcars_x(), MPG)
    np.testing.assert_allclose(r.raw, gains, atol=1e-10)
    assert r.r2 == pytest.approx(0.77919, abs=5e-6)


def test_drivers_missing_rows_and_limits() -> None:
    x = mtcars_x().astype(float)
    x.iloc[0, 0] = np.nan
    r = relative_weights(x, MPG)
    assert r.n == 31
    with pytest.raises(ValueError):
        shapley_r2(pd.DataFrame(np.random.default_rng(0).normal(size=(50, 16))), np.arange(50.0))
    few = relative_weights(mtcars_x().iloc[:4], MPG[:4])
    assert math.isnan(few.r2)


def test_importance_performance_quadrants() -> None:
    imp = pd.Series({"speed": 0.4, "bill": 0.1, "staff": 0.3, "info": 0.05})
    perf = pd.Series({"speed": 0.6, "bill": 0.9, "staff": 0.95, "info": 0.5})
    q = importance_performance(imp, perf)
    assert q.loc["speed", "quadrant"] == "concentrate_here"
    assert q.loc["staff", "quadrant"] == "keep_up"
    assert q.loc["bill", "quadrant"] == "possible_overkill"
    assert q.loc["info", "quadrant"] == "low_priority"


def _two_of_four(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A rotated design: each respondent is asked two of the four items, every pair equally often."""
    pairs = list(itertools.combinations(range(4), 2))
    out = np.full_like(x, np.nan)
    for row, p in enumerate(rng.integers(0, len(pairs), size=len(x))):
        out[row, list(pairs[p])] = x[row, list(pairs[p])]
    return out


def test_alpha_under_rotation_uses_pairwise_covariances() -> None:
    cov = np.array([[10, 6, 6, 6], [6, 11, 6, 6], [6, 6, 12, 6], [6, 6, 6, 13]], float)  # alpha 0.8136 (reference)
    rng = np.random.default_rng(7)
    full = rng.multivariate_normal(np.zeros(4), cov, size=12_000)
    # complete data: the same as the listwise figure
    a, b = cronbach_alpha(full), cronbach_alpha_pairwise(full)
    assert b.alpha == pytest.approx(a.alpha) and b.n == a.n == len(full)
    rotated = _two_of_four(full, rng)
    assert math.isnan(cronbach_alpha(rotated).alpha) and cronbach_alpha(rotated).n == 0  # listwise: nobody left
    res = cronbach_alpha_pairwise(rotated)
    assert res.alpha == pytest.approx(0.8136, abs=0.02)
    assert 1_700 < res.n < 2_300  # about a sixth of the respondents are behind each covariance
    assert res.ci_low < 0.8136 < res.ci_high and res.n_dropped == 0
    never = rotated.copy()
    never[~np.isnan(never[:, 0]), 1] = np.nan  # items 1 and 2 never asked together
    assert math.isnan(cronbach_alpha_pairwise(never).alpha)


def test_relative_weights_under_rotation_use_pairwise_correlations() -> None:
    x = mtcars_x()
    y = pd.Series(MPG)
    full = pairwise_relative_weights(x, y, min_pair_n=5)
    ref = relative_weights(x, y)
    assert full.raw == pytest.approx(ref.raw) and full.n == 32  # complete data: Johnson's weights (rwa reference)
    rng = np.random.default_rng(3)
    n = 6_000
    z = rng.normal(size=(n, 4))
    out = 2.0 * z[:, 0] + 1.0 * z[:, 1] + 0.5 * z[:, 2] + rng.normal(size=n)
    truth = relative_weights(pd.DataFrame(z, columns=list("abcd")), out)
    rotated = pd.DataFrame(_two_of_four(z, rng), columns=list("abcd"))
    assert math.isnan(relative_weights(rotated, out).r2)  # listwise: nothing left
    res = pairwise_relative_weights(rotated, out, min_pair_n=30)
    assert set(res.names) == set("abcd")
    got = dict(zip(res.names, res.rescaled, strict=True))
    want = dict(zip(truth.names, truth.rescaled, strict=True))
    assert all(got[k] == pytest.approx(want[k], abs=0.03) for k in "abcd")
    assert res.r2 == pytest.approx(truth.r2, abs=0.03) and 800 < res.n < 1_200
