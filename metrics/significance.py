"""Group differences and significance tests, with multiplicity adjustment.

Rules (KPIS.md section 4): Newcombe interval for a difference of proportions; chi-square for k groups (Yates only for
2 x 2); Kruskal-Wallis with Dunn post-hoc (Holm) and Mann-Whitney for ratings; Holm for "flag this region",
Benjamini-Hochberg for exploratory heat maps.

References
----------
Newcombe, R. G. (1998). Interval estimation for the difference between independent proportions: comparison of
eleven methods. Statistics in Medicine 17, 873-890 (method 10, hybrid score).
Dunn, O. J. (1964). Multiple comparisons using rank sums. Technometrics 6, 241-252.
Holm, S. (1979). A simple sequentially rejective multiple test procedure. Scand. J. Statist. 6, 65-70.
Benjamini, Y. & Hochberg, Y. (1995). Controlling the false discovery rate. JRSS B 57, 289-300.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metrics.intervals import Interval, _out, wilson_interval, z_value

__all__ = [
    "TestResult",
    "newcombe_diff_interval",
    "two_proportion_test",
    "welch_diff",
    "nps_diff",
    "mann_whitney",
    "chi_square_proportions",
    "kruskal_wallis",
    "dunn_test",
    "adjust_pvalues",
]


@dataclass(frozen=True, eq=False)
class TestResult:
    """A test statistic and its two-sided p-value; ``effect`` is a method-specific effect size (or NaN)."""

    __test__ = False  # not a pytest test class

    statistic: Any
    pvalue: Any
    method: str
    effect: Any = float("nan")
    df: Any = float("nan")


def newcombe_diff_interval(
    x1: Any, n1: Any, x2: Any, n2: Any, level: float = 0.95
) -> Interval:
    """Newcombe hybrid score interval (method 10) for p1 − p2, from the two Wilson intervals.

    L = d − sqrt((p1 − l1)² + (u2 − p2)²), U = d + sqrt((u1 − p1)² + (p2 − l2)²), d = p1 − p2.
    Vectorised; NaN where either n is 0. Matches statsmodels ``confint_proportions_2indep(method="newcomb")``.
    """
    w1 = wilson_interval(x1, n1, level)
    w2 = wilson_interval(x2, n2, level)
    p1, l1, u1 = (np.asarray(a, float) for a in (w1.estimate, w1.low, w1.high))
    p2, l2, u2 = (np.asarray(a, float) for a in (w2.estimate, w2.low, w2.high))
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(_out(d), _out(low), _out(high), level, "newcombe_hybrid_score")


def two_proportion_test(x1: Any, n1: Any, x2: Any, n2: Any) -> TestResult:
    """Two-sided z test of p1 = p2 with the pooled variance p̂(1 − p̂)(1/n1 + 1/n2) (= uncorrected 2 x 2 χ²).

    Vectorised; NaN where a sample is empty or the pooled proportion is 0 or 1 (no variation: p-value 1).
    """
    a1, m1, a2, m2 = (np.asarray(v, float) for v in (x1, n1, x2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = a1 / m1, a2 / m2
        pp = (a1 + a2) / (m1 + m2)
        se = np.sqrt(pp * (1.0 - pp) * (1.0 / m1 + 1.0 / m2))
        z = (p1 - p2) / se
        p = 2.0 * stats.norm.sf(np.abs(z))
    empty = (m1 <= 0) | (m2 <= 0)
    flat = ~empty & (se == 0)
    z = np.where(flat, 0.0, np.where(empty, np.nan, z))
    p = np.where(flat, 1.0, np.where(empty, np.nan, p))
    return TestResult(_out(z), _out(p), "two_proportion_z", effect=_out(np.where(empty, np.nan, p1 - p2)))


def welch_diff(
    mean1: Any, sd1: Any, n1: Any, mean2: Any, sd2: Any, n2: Any, level: float = 0.95
) -> tuple[Interval, TestResult]:
    """Welch interval and t test for mean1 − mean2 from summary statistics (sd with ddof = 1). Vectorised.

    SE = sqrt(s1²/n1 + s2²/n2); Welch-Satterthwaite df. n < 2 in either sample gives NaN; two zero-variance samples
    give a zero-width interval and p = 1 if the means are equal, 0 otherwise.
    """
    m1, s1, k1, m2, s2, k2 = (np.asarray(v, float) for v in (mean1, sd1, n1, mean2, sd2, n2))
    with np.errstate(divide="ignore", invalid="ignore"):
        v1, v2 = s1 ** 2 / k1, s2 ** 2 / k2
        se = np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1 ** 2 / (k1 - 1.0) + v2 ** 2 / (k2 - 1.0))
        d = m1 - m2
        tq = stats.t.ppf(0.5 + level / 2.0, df)
        low, high = d - tq * se, d + tq * se
        t = d / se
        p = 2.0 * stats.t.sf(np.abs(t), df)
    ok = (k1 >= 2) & (k2 >= 2)
    zero = ok & (se == 0)
    low = np.where(zero, d, np.where(ok, low, np.nan))
    high = np.where(zero, d, np.where(ok, high, np.nan))
    p = np.where(zero, np.where(d == 0, 1.0, 0.0), np.where(ok, p, np.nan))
    t = np.where(ok & ~zero, t, np.nan)
    iv = Interval(_out(d), _out(low), _out(high), level, "welch")
    return iv, TestResult(_out(t), _out(p), "welch_t", effect=_out(d), df=_out(np.where(ok, df, np.nan)))


def nps_diff(
    promoters1: Any, n1: Any, detractors1: Any, promoters2: Any, n2: Any, detractors2: Any, level: float = 0.95
) -> tuple[Interval, TestResult]:
    """Wald interval and z test for NPS1 − NPS2 of independent samples: Var = Σ [p + d − (p − d)²]/n. Vectorised."""
    P1, N1, D1, P2, N2, D2 = (np.asarray(v, float) for v in (promoters1, n1, detractors1, promoters2, n2, detractors2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, d1, p2, d2 = P1 / N1, D1 / N1, P2 / N2, D2 / N2
        var = (p1 + d1 - (p1 - d1) ** 2) / N1 + (p2 + d2 - (p2 - d2) ** 2) / N2
        diff = (p1 - d1) - (p2 - d2)
        se = np.sqrt(var)
        z = z_value(level)
        zs = diff / se
        p = 2.0 * stats.norm.sf(np.abs(zs))
    ok = (N1 > 0) & (N2 > 0)
    zero = ok & (se == 0)
    p = np.where(zero, np.where(diff == 0, 1.0, 0.0), np.where(ok, p, np.nan))
    iv = Interval(_out(np.where(ok, diff, np.nan)), _out(np.where(ok, diff - z * se, np.nan)),
                  _out(np.where(ok, diff + z * se, np.nan)), level, "nps_wald")
    return iv, TestResult(_out(np.where(ok & ~zero, zs, np.nan)), _out(p), "nps_z", effect=iv.estimate)


def mann_whitney(a: Any, b: Any) -> TestResult:
    """Two-sided Mann-Whitney U test for ratings (scipy, tie-corrected); effect = P(A > B) + ½P(A = B).

    Missing values are dropped; an empty sample gives NaN.
    """
    va = np.asarray(a, float).ravel()
    vb = np.asarray(b, float).ravel()
    va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
    if va.size == 0 or vb.size == 0:
        return TestResult(np.nan, np.nan, "mann_whitney_u")
    if np.ptp(np.concatenate([va, vb])) == 0:
        return TestResult(va.size * vb.size / 2.0, 1.0, "mann_whitney_u", effect=0.5)
    res = stats.mannwhitneyu(va, vb, alternative="two-sided")
    return TestResult(float(res.statistic), float(res.pvalue), "mann_whitney_u",
                      effect=float(res.statistic) / (va.size * vb.size))


def chi_square_proportions(successes: Sequence[float], n: Sequence[float]) -> TestResult:
    """χ² test of equal proportions across k groups on the 2 x k table; Yates' correction only when k = 2.

    Groups with n = 0 are dropped. Effect = Cramér's V. Fewer than two groups, or no variation, gives p = NaN / 1.
    """
    x = np.asarray(successes, float)
    m = np.asarray(n, float)
    keep = m > 0
    x, m = x[keep], m[keep]
    if x.size < 2:
        return TestResult(np.nan, np.nan, "chi_square")
    table = np.vstack([x, m - x])
    if (table.sum(axis=1) == 0).any():
        return TestResult(0.0, 1.0, "chi_square", effect=0.0, df=float(x.size - 1))
    chi2, p, dof, _ = stats.chi2_contingency(table, correction=x.size == 2)
    v = float(np.sqrt(chi2 / table.sum()))  # min(r, c) − 1 = 1 for a 2 x k table
    return TestResult(float(chi2), float(p), "chi_square_yates" if x.size == 2 else "chi_square", effect=v,
                      df=float(dof))


def _groups_from(data: Mapping[Any, Any] | Sequence[Any]) -> tuple[list[Any], list[np.ndarray]]:
    if isinstance(data, Mapping):
        labels = list(data.keys())
        arrays = [np.asarray(v, float).ravel() for v in data.values()]
    else:
        arrays = [np.asarray(v, float).ravel() for v in data]
        labels = list(range(len(arrays)))
    arrays = [a[np.isfinite(a)] for a in arrays]
    pairs = [(lab, a) for lab, a in zip(labels, arrays, strict=True) if a.size > 0]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def kruskal_wallis(groups: Mapping[Any, Any] | Sequence[Any]) -> TestResult:
    """Kruskal-Wallis H test (tie-corrected, scipy) across groups of ratings; effect = ε² = H/(N − 1).

    Empty groups and missing values are dropped; fewer than two groups gives NaN; all-equal values give p = 1.
    """
    _, arrays = _groups_from(groups)
    if len(arrays) < 2:
        return TestResult(np.nan, np.nan, "kruskal_wallis")
    allv = np.concatenate(arrays)
    if np.ptp(allv) == 0:
        return TestResult(0.0, 1.0, "kruskal_wallis", effect=0.0, df=float(len(arrays) - 1))
    h, p = stats.kruskal(*arrays)
    return TestResult(float(h), float(p), "kruskal_wallis", effect=float(h) / (allv.size - 1),
                      df=float(len(arrays) - 1))


def dunn_test(groups: Mapping[Any, Any] | Sequence[Any], adjust: str = "holm") -> pd.DataFrame:
    """Dunn's pairwise post-hoc test after Kruskal-Wallis, with tie correction and p-value adjustment.

    z_ij = (R̄_i − R̄_j) / sqrt([N(N+1)/12 − Σ(t³ − t)/(12(N − 1))] · (1/n_i + 1/n_j)), ranks over all groups.
    Returns columns group1, group2, mean_rank1, mean_rank2, z, pvalue, pvalue_adj.
    """
    labels, arrays = _groups_from(groups)
    cols = ["group1", "group2", "mean_rank1", "mean_rank2", "z", "pvalue", "pvalue_adj"]
    if len(arrays) < 2:
        return pd.DataFrame(columns=cols)
    allv = np.concatenate(arrays)
    ranks = stats.rankdata(allv)
    sizes = np.array([a.size for a in arrays], float)
    gid = np.repeat(np.arange(len(arrays)), sizes.astype(int))
    mean_rank = np.bincount(gid, weights=ranks) / sizes
    big_n = allv.size
    _, tie_counts = np.unique(allv, return_counts=True)
    tie = float(((tie_counts ** 3) - tie_counts).sum()) / (12.0 * (big_n - 1)) if big_n > 1 else 0.0
    i, j = np.triu_indices(len(arrays), k=1)
    var = (big_n * (big_n + 1) / 12.0 - tie) * (1.0 / sizes[i] + 1.0 / sizes[j])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (mean_rank[i] - mean_rank[j]) / np.sqrt(var)
    z = np.where(var > 0, z, 0.0)
    p = 2.0 * stats.norm.sf(np.abs(z))
    return pd.DataFrame({
        "group1": [labels[a] for a in i], "group2": [labels[b] for b in j],
        "mean_rank1": mean_rank[i], "mean_rank2": mean_rank[j],
        "z": z, "pvalue": p, "pvalue_adj": adjust_pvalues(p, adjust),
    }, columns=cols)


def adjust_pvalues(pvalues: Any, method: str = "holm") -> np.ndarray:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted p-values.

    ``method``: "holm" or "bh" (alias "fdr_bh"); "none" returns the input. NaN p-values are kept as NaN and do not
    count in m. Matches statsmodels ``multipletests(method="holm" | "fdr_bh")``.
    """
    p = np.asarray(pvalues, float).ravel().copy()
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    m = q.size
    if m == 0:
        return out
    order = np.argsort(q, kind="mergesort")
    ps = q[order]
    rank = np.arange(1, m + 1, dtype=float)
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, (m - rank + 1.0) * ps))
    elif method in ("bh", "fdr_bh"):
        adj = np.minimum.accumulate(np.minimum(1.0, ps * m / rank)[::-1])[::-1]
    elif method == "none":
        adj = ps
    else:
        raise ValueError(f"unknown adjustment {method!r}; use 'holm', 'bh' or 'none'")
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out

