"""Difference intervals and tests against statsmodels and scipy (published reference implementations)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportions_chisquare,
    proportions_ztest,
)

from metrics.significance import (
    adjust_pvalues,
    chi_square_proportions,
    dunn_test,
    kruskal_wallis,
    mann_whitney,
    newcombe_diff_interval,
    nps_diff,
    two_proportion_test,
    welch_diff,
)

CASES = [(56, 70, 48, 80), (9, 10, 3, 10), (0, 15, 4, 15), (20, 20, 18, 20), (410, 500, 380, 480), (1, 3, 0, 2)]


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), CASES)
def test_newcombe_matches_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    iv = newcombe_diff_interval(x1, n1, x2, n2)
    lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", compare="diff")
    assert iv.estimate == pytest.approx(x1 / n1 - x2 / n2)
    assert iv.low == pytest.approx(lo, abs=1e-10)
    assert iv.high == pytest.approx(hi, abs=1e-10)


def test_newcombe_vectorised_and_level() -> None:
    a = np.array(CASES, float).T
    iv = newcombe_diff_interval(*a, level=0.9)
    for i, (x1, n1, x2, n2) in enumerate(CASES):
        lo, hi = confint_proportions_2indep(x1, n1, x2, n2, method="newcomb", alpha=0.1)
        assert iv.low[i] == pytest.approx(lo, abs=1e-10) and iv.high[i] == pytest.approx(hi, abs=1e-10)


@pytest.mark.parametrize(("x1", "n1", "x2", "n2"), CASES[:5])
def test_two_proportion_z_matches_statsmodels(x1: int, n1: int, x2: int, n2: int) -> None:
    z, p = proportions_ztest([x1, x2], [n1, n2])
    r = two_proportion_test(x1, n1, x2, n2)
    assert r.statistic == pytest.approx(z, abs=1e-10)
    assert r.pvalue == pytest.approx(p, abs=1e-12)


def test_two_proportion_degenerate() -> None:
    r = two_proportion_test(5, 5, 7, 7)
    assert r.statistic == 0.0 and r.pvalue == 1.0
    assert math.isnan(two_proportion_test(1, 0, 1, 5).pvalue)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(4.1, 0.8, 40), rng.normal(3.8, 1.3, 25)
    iv, t = welch_diff(a.mean(), a.std(ddof=1), a.size, b.mean(), b.std(ddof=1), b.size)
    ref = stats.ttest_ind(a, b, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert t.statistic == pytest.approx(ref.statistic, abs=1e-10)
    assert t.pvalue == pytest.approx(ref.pvalue, abs=1e-12)
    assert (iv.low, iv.high) == pytest.approx((ci.low, ci.high), abs=1e-10)
    iv1, t1 = welch_diff(4.0, 0.0, 1, 3.0, 1.0, 10)
    assert math.isnan(iv1.low) and math.isnan(t1.pvalue)


def test_nps_diff_hand_computed() -> None:
    iv, t = nps_diff(50, 100, 20, 40, 100, 30)
    v = (0.5 + 0.2 - 0.09) / 100 + (0.4 + 0.3 - 0.01) / 100
    assert iv.estimate == pytest.approx(0.2)
    assert iv.low == pytest.approx(0.2 - 1.959963984540054 * math.sqrt(v), abs=1e-12)
    assert t.pvalue == pytest.approx(2 * stats.norm.sf(0.2 / math.sqrt(v)), abs=1e-12)


def test_mann_whitney_matches_scipy() -> None:
    a = [5, 4, 4, 5, 3, 5, 2, 4, np.nan]
    b = [3, 2, 4, 1, 3, 2, 3]
    ref = stats.mannwhitneyu([5, 4, 4, 5, 3, 5, 2, 4], b, alternative="two-sided")
    r = mann_whitney(a, b)
    assert r.statistic == ref.statistic and r.pvalue == pytest.approx(ref.pvalue)
    assert r.effect == pytest.approx(ref.statistic / (8 * 7))
    flat = mann_whitney([3, 3], [3, 3, 3])
    assert flat.pvalue == 1.0
    assert math.isnan(mann_whitney([], [1, 2]).pvalue)


def test_chi_square_k_groups_matches_statsmodels() -> None:
    x, n = [30, 45, 60, 20], [100, 110, 120, 90]
    chi2, p, _ = proportions_chisquare(np.array(x), np.array(n))
    r = chi_square_proportions(x, n)
    assert r.statistic == pytest.approx(chi2, abs=1e-10) and r.pvalue == pytest.approx(p, abs=1e-12)
    assert r.df == 3.0


def test_chi_square_two_groups_uses_yates() -> None:
    x, n = [30, 45], [100, 110]
    table = np.array([[30, 45], [70, 65]])
    # Yates by hand: Σ (|O − E| − 0.5)² / E
    e = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    yates = float((((np.abs(table - e) - 0.5) ** 2) / e).sum())
    r = chi_square_proportions(x, n)
    assert r.statistic == pytest.approx(yates, abs=1e-10)
    assert r.pvalue == pytest.approx(stats.chi2.sf(yates, 1), abs=1e-12)
    assert math.isnan(chi_square_proportions([3], [10]).pvalue)


def test_kruskal_matches_scipy() -> None:
    g = {"a": [5, 4, 4, 5, 3], "b": [3, 2, 4, 1, 3, 2], "c": [4, 4, 5, 5, 5, 4], "empty": []}
    ref = stats.kruskal(g["a"], g["b"], g["c"])
    r = kruskal_wallis(g)
    assert r.statistic == pytest.approx(ref.statistic) and r.pvalue == pytest.approx(ref.pvalue)
    assert kruskal_wallis({"a": [3, 3], "b": [3]}).pvalue == 1.0


def test_dunn_hand_computed_with_ties() -> None:
    g = {"a": [5, 4, 4, 5, 3], "b": [3, 2, 4, 1, 3, 2], "c": [4, 4, 5, 5, 5, 4]}
    allv = np.concatenate([np.array(v, float) for v in g.values()])
    r = stats.rankdata(allv)
    ra, rb = r[:5].mean(), r[5:11].mean()
    n_all = allv.size
    _, t = np.unique(allv, return_counts=True)
    s2 = n_all * (n_all + 1) / 12 - (t ** 3 - t).sum() / (12 * (n_all - 1))
    z_ab = (ra - rb) / math.sqrt(s2 * (1 / 5 + 1 / 6))
    out = dunn_test(g, adjust="holm")
    row = out[(out.group1 == "a") & (out.group2 == "b")].iloc[0]
    assert row.z == pytest.approx(z_ab, abs=1e-12)
    assert row.pvalue == pytest.approx(2 * stats.norm.sf(abs(z_ab)), abs=1e-12)
    np.testing.assert_allclose(out.pvalue_adj, multipletests(out.pvalue, method="holm")[1], atol=1e-12)


@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjustments_match_statsmodels(ours: str, theirs: str) -> None:
    p = np.random.default_rng(5).uniform(0, 0.2, 37)
    p[[3, 9]] = [0.0001, 0.0001]  # ties
    np.testing.assert_allclose(adjust_pvalues(p, ours), multipletests(p, method=theirs)[1], atol=1e-14)


def test_adjustments_keep_nan() -> None:
    p = np.array([0.01, np.nan, 0.04, 0.03])
    out = adjust_pvalues(p, "holm")
    assert math.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="holm")[1])
    assert np.isnan(adjust_pvalues([], "bh")).size == 0
    with pytest.raises(ValueError):
        adjust_pvalues([0.1], "bonferroni-ish")
