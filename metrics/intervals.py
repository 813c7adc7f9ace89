"""Confidence intervals: proportions, NPS, means, percentiles (order statistics) and the bootstrap.

Every function is vectorised: counts may be scalars or arrays of the same shape, and the bounds come back with
that shape. An undefined interval (n = 0, or n = 1 for a mean) is NaN, never an exception.

References
----------
Wilson, E. B. (1927). Probable inference, the law of succession, and statistical inference. JASA 22, 209-212.
Agresti, A. & Coull, B. A. (1998). Approximate is better than "exact". The American Statistician 52, 119-126.
Rocks, B. (2016). Interval estimation for the net promoter score. The American Statistician 70, 365-372
(variance of NPS and the adjusted Wald interval: add 3/4 promoter, 3/4 detractor, 3 to n).
Conover, W. J. (1999). Practical Nonparametric Statistics, 3rd ed., section 3.2 (distribution-free quantile CI).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

ArrayLike = Any  # scalar, sequence, numpy array or pandas Series

__all__ = [
    "Interval",
    "NPSResult",
    "z_value",
    "wilson_interval",
    "agresti_coull_interval",
    "nps_counts",
    "nps_interval",
    "mean_interval",
    "percentile",
    "percentile_ci",
    "order_statistic_ranks",
    "grouped_quantile",
    "poisson_interval",
    "bootstrap_ci",
    "bootstrap_diff_ci",
]


@dataclass(frozen=True, eq=False)
class Interval:
    """A point estimate with a two-sided interval. Fields are floats or arrays of one shape."""

    estimate: Any
    low: Any
    high: Any
    level: float
    method: str


@dataclass(frozen=True, eq=False)
class NPSResult:
    """Net promoter score as a fraction in [-1, 1] (x 100 for display) with its standard error and interval."""

    nps: Any
    se: Any
    low: Any
    high: Any
    n: Any
    promoters: Any
    detractors: Any
    level: float
    method: str


def z_value(level: float = 0.95) -> float:
    """Two-sided standard-normal quantile for a confidence level (0.95 -> 1.959964)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    return float(stats.norm.ppf(0.5 + level / 2.0))


def _as_float(a: ArrayLike) -> Any:
    arr = np.asarray(a, dtype=float)
    return arr


def _out(a: np.ndarray) -> Any:
    return float(a) if np.ndim(a) == 0 else a


def wilson_interval(successes: ArrayLike, n: ArrayLike, level: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion.

    centre = (x + z²/2) / (n + z²); half-width = z / (n + z²) · sqrt(x(n − x)/n + z²/4).
    n = 0 gives NaN. Reference: 18/20 -> (0.6989663547715128, 0.972133518786232) (R ``binom``).
    """
    x = _as_float(successes)
    nn = _as_float(n)
    z = z_value(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(nn > 0, x / nn, np.nan)
        denom = nn + z * z
        centre = (x + z * z / 2.0) / denom
        half = z / denom * np.sqrt(np.clip(x * (nn - x) / nn, 0.0, None) + z * z / 4.0)
        low = np.where(nn > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(nn > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # exact bounds at the edges (the formula gives them up to rounding)
    low = np.where((nn > 0) & (x <= 0), 0.0, low)
    high = np.where((nn > 0) & (x >= nn), 1.0, high)
    return Interval(_out(p), _out(low), _out(high), level, "wilson")


def agresti_coull_interval(successes: ArrayLike, n: ArrayLike, level: float = 0.95) -> Interval:
    """Agresti-Coull interval: Wald interval around p~ = (x + z²/2)/(n + z²) with n~ = n + z², clipped to [0, 1].

    Reference: 4/20 -> (0.0749115102767071, 0.4217635845549845) (R ``binom``).
    """
    x = _as_float(successes)
    nn = _as_float(n)
    z = z_value(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(nn > 0, x / nn, np.nan)
        nt = nn + z * z
        pt = (x + z * z / 2.0) / nt
        half = z * np.sqrt(pt * (1.0 - pt) / nt)
        low = np.where(nn > 0, np.clip(pt - half, 0.0, 1.0), np.nan)
        high = np.where(nn > 0, np.clip(pt + half, 0.0, 1.0), np.nan)
    return Interval(_out(p), _out(low), _out(high), level, "agresti_coull")


def nps_counts(scores: ArrayLike) -> tuple[int, int, int]:
    """Promoters (9-10), passives (7-8) and detractors (0-6) among valid 0-10 scores; others are ignored."""
    s = pd.to_numeric(pd.Series(np.asarray(scores, dtype=object).ravel()), errors="coerce")
    s = s[(s >= 0) & (s <= 10)]
    return int((s >= 9).sum()), int(((s >= 7) & (s < 9)).sum()), int((s <= 6).sum())


def nps_interval(
    promoters: ArrayLike,
    passives: ArrayLike,
    detractors: ArrayLike,
    level: float = 0.95,
    method: str = "adjusted_wald",
) -> NPSResult:
    """NPS = (P − D)/n with Var = [p + d − (p − d)²]/n, p = P/n, d = D/n.

    ``method="wald"``: NPS ± z·SE. ``method="adjusted_wald"`` (Rocks 2016): the interval is built around the
    estimate after adding 3/4 promoter, 3/4 detractor and 3 to n (so 3/2 passive), which keeps coverage near
    nominal for small n and at the extremes; the reported ``nps`` and ``se`` stay the unadjusted ones.
    Bounds are clipped to [-1, 1]; n = 0 gives NaN.

    Reference: 50 promoters / 30 passives / 20 detractors -> NPS 0.30, SE 0.0781, Wald 95 % [0.1469, 0.4531].
    """
    P = _as_float(promoters)
    A = _as_float(passives)
    D = _as_float(detractors)
    n = P + A + D
    z = z_value(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        p, d = P / n, D / n
        nps = p - d
        se = np.sqrt(np.clip(p + d - (p - d) ** 2, 0.0, None) / n)
        if method == "wald":
            centre, half = nps, z * se
        elif method == "adjusted_wald":
            na = n + 3.0
            pa, da = (P + 0.75) / na, (D + 0.75) / na
            centre = pa - da
            half = z * np.sqrt(np.clip(pa + da - (pa - da) ** 2, 0.0, None) / na)
        else:
            raise ValueError(f"unknown NPS interval method {method!r}")
        valid = n > 0
        low = np.where(valid, np.clip(centre - half, -1.0, 1.0), np.nan)
        high = np.where(valid, np.clip(centre + half, -1.0, 1.0), np.nan)
        nps = np.where(valid, nps, np.nan)
        se = np.where(valid, se, np.nan)
    return NPSResult(_out(nps), _out(se), _out(low), _out(high), _out(n), _out(P), _out(D), level, method)


def mean_interval(values: ArrayLike, level: float = 0.95) -> Interval:
    """Student-t interval for a mean, x̄ ± t(n−1)·s/√n; missing values are dropped.

    n = 0 gives NaN everywhere; n = 1 gives the value with NaN bounds; all-equal values give a zero-width interval.
    """
    v = np.asarray(pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce"), float)
    v = v[np.isfinite(v)]
    n = v.size
    if n == 0:
        return Interval(np.nan, np.nan, np.nan, level, "t")
    m = float(v.mean())
    if n == 1:
        return Interval(m, np.nan, np.nan, level, "t")
    low, high = mean_interval_from_stats(m, float(v.std(ddof=1)), n, level)
    return Interval(m, float(low), float(high), level, "t")


def mean_interval_from_stats(mean: ArrayLike, sd: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[Any, Any]:
    """Vectorised t interval from summary statistics (sd with ddof = 1); n < 2 gives NaN bounds."""
    m, s, nn = _as_float(mean), _as_float(sd), _as_float(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = stats.t.ppf(0.5 + level / 2.0, np.where(nn >= 2, nn - 1.0, np.nan))
        half = t * s / np.sqrt(nn)
        low = np.where(nn >= 2, m - half, np.nan)
        high = np.where(nn >= 2, m + half, np.nan)
    return _out(low), _out(high)


def percentile(values: ArrayLike, q: float) -> float:
    """Empirical-CDF percentile (numpy ``method="inverted_cdf"``): the smallest observed x with F(x) >= q.

    "90 % of orders within X" is then an observed value: p90 of [1..9, 100] is 9 (linear interpolation says 18.1).
    Missing values are dropped; no data gives NaN.
    """
    v = np.asarray(pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce"), float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan")
    return float(np.quantile(v, q, method="inverted_cdf"))


def order_statistic_ranks(n: ArrayLike, q: float, level: float = 0.95) -> tuple[Any, Any]:
    """1-based ranks (l, u) of the order statistics that bound the q-quantile with coverage >= level.

    B ~ Binomial(n, q) counts observations below the true quantile; P(x_(l) <= ξ_q < x_(u)) = P(l <= B <= u − 1).
    l = F⁻¹(α/2), u = F⁻¹(1 − α/2) + 1. A rank outside 1..n means that side is unbounded by the data (0 or n + 1).
    Reference: n = 100, median, 95 % -> ranks 40 and 61 (Conover 1999, table A3 usage).
    """
    nn = _as_float(n)
    alpha = 1.0 - level
    with np.errstate(invalid="ignore"):
        lo = stats.binom.ppf(alpha / 2.0, nn, q)
        hi = stats.binom.ppf(1.0 - alpha / 2.0, nn, q) + 1.0
    return _out(lo), _out(hi)


def percentile_ci(values: ArrayLike, q: float, level: float = 0.95) -> Interval:
    """Percentile with a distribution-free (order-statistic) interval; a bound the data cannot give is NaN."""
    v = np.asarray(pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce"), float)
    v = np.sort(v[np.isfinite(v)])
    n = v.size
    if n == 0:
        return Interval(np.nan, np.nan, np.nan, level, "order_statistic")
    est = float(np.quantile(v, q, method="inverted_cdf"))
    lo, hi = order_statistic_ranks(n, q, level)
    low = float(v[int(lo) - 1]) if 1 <= lo <= n else float("nan")
    high = float(v[int(hi) - 1]) if 1 <= hi <= n else float("nan")
    return Interval(est, low, high, level, "order_statistic")


def _inverted_cdf_rank(n: np.ndarray, q: float) -> np.ndarray:
    """1-based rank of the inverted-CDF q-quantile among n sorted values (numpy's definition)."""
    k = np.ceil(n * q - 1e-9)
    return np.clip(k, 1, np.maximum(n, 1)).astype(np.int64)


def grouped_quantile(
    frame: pd.DataFrame,
    value: str,
    by: Sequence[str],
    q: float,
    level: float | None = 0.95,
) -> pd.DataFrame:
    """Vectorised inverted-CDF quantile (and optional order-statistic interval) per group, without Python loops.

    Sorts once by the group keys and the value, then picks the k-th row of each group by position. Returns one row
    per group with the group columns and ``value``, ``n``, ``ci_low``, ``ci_high``. Missing values are dropped.
    With ``by=[]`` the whole frame is one group.
    """
    by = list(by)
    d = frame.loc[frame[value].notna(), by + [value]].copy()
    d[value] = d[value].astype(float)
    if not by:
        d["__gq_all__"] = 0
        keys = ["__gq_all__"]
    else:
        keys = by
    cols = keys + ["value", "n", "ci_low", "ci_high"]
    if d.empty:
        out = pd.DataFrame(columns=cols)
        return out.drop(columns=["__gq_all__"], errors="ignore")
    d = d.sort_values(keys + [value], kind="mergesort")
    g = d.groupby(keys, sort=True, dropna=False, observed=True)
    sizes = g.size()
    starts = np.concatenate([[0], np.cumsum(sizes.to_numpy())[:-1]])
    n = sizes.to_numpy().astype(float)
    vals = d[value].to_numpy()
    k = _inverted_cdf_rank(n, q)
    est = vals[starts + k - 1]
    low = np.full(n.shape, np.nan)
    high = np.full(n.shape, np.nan)
    if level is not None:
        lo, hi = order_statistic_ranks(n, q, level)
        lo = np.asarray(lo, float)
        hi = np.asarray(hi, float)
        okl = (lo >= 1) & (lo <= n)
        okh = (hi >= 1) & (hi <= n)
        low[okl] = vals[(starts + lo - 1)[okl].astype(np.int64)]
        high[okh] = vals[(starts + hi - 1)[okh].astype(np.int64)]
    out = sizes.index.to_frame(index=False)
    out["value"] = est
    out["n"] = n.astype(np.int64)
    out["ci_low"] = low
    out["ci_high"] = high
    return out.drop(columns=["__gq_all__"], errors="ignore")


def poisson_interval(count: ArrayLike, level: float = 0.95) -> tuple[Any, Any]:
    """Exact (Garwood) interval for a Poisson count: [χ²(α/2; 2x)/2, χ²(1 − α/2; 2x + 2)/2]; lower is 0 at x = 0."""
    x = _as_float(count)
    alpha = 1.0 - level
    with np.errstate(invalid="ignore"):
        low = np.where(x > 0, stats.chi2.ppf(alpha / 2.0, 2.0 * x) / 2.0, 0.0)
        high = stats.chi2.ppf(1.0 - alpha / 2.0, 2.0 * x + 2.0) / 2.0
    low = np.where(np.isfinite(x), low, np.nan)
    return _out(low), _out(high)


_MAX_CELLS = 4_000_000  # resampled values held in memory at once


def _resample_stat(v: np.ndarray, statistic: Callable[..., Any], n_resamples: int, rng: np.random.Generator) -> Any:
    """The statistic over n_resamples bootstrap resamples of v, drawn in memory-bounded chunks."""
    chunk = max(1, _MAX_CELLS // v.size)
    parts = []
    for start in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - start)
        parts.append(np.asarray(statistic(v[rng.integers(0, v.size, size=(m, v.size))], axis=-1), dtype=float))
    return np.concatenate(parts)


def bootstrap_ci(
    values: ArrayLike,
    statistic: Callable[..., Any] = np.mean,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval for ``statistic(sample, axis=-1)``; seeded, so the result is reproducible.

    The resamples are drawn as one (n_resamples, n) index matrix and the statistic is applied along the last axis,
    so ``statistic`` must accept ``axis`` (numpy reductions do). Missing values are dropped; n < 2 gives NaN bounds.
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Interval(np.nan, np.nan, np.nan, level, "bootstrap_percentile")
    est = float(statistic(v, axis=-1))
    if v.size < 2:
        return Interval(est, np.nan, np.nan, level, "bootstrap_percentile")
    rng = np.random.default_rng(seed)
    reps = _resample_stat(v, statistic, n_resamples, rng)
    alpha = 1.0 - level
    low, high = np.quantile(reps, [alpha / 2.0, 1.0 - alpha / 2.0])
    return Interval(est, float(low), float(high), level, "bootstrap_percentile")


def bootstrap_diff_ci(
    a: ArrayLike,
    b: ArrayLike,
    statistic: Callable[..., Any] = np.mean,
    level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval for statistic(a) − statistic(b), resampling each sample independently."""
    va = np.asarray(a, dtype=float).ravel()
    vb = np.asarray(b, dtype=float).ravel()
    va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
    if va.size == 0 or vb.size == 0:
        return Interval(np.nan, np.nan, np.nan, level, "bootstrap_percentile")
    est = float(statistic(va, axis=-1) - statistic(vb, axis=-1))
    if va.size < 2 or vb.size < 2:
        return Interval(est, np.nan, np.nan, level, "bootstrap_percentile")
    rng = np.random.default_rng(seed)
    ra = _resample_stat(va, statistic, n_resamples, rng)
    rb = _resample_stat(vb, statistic, n_resamples, rng)
    alpha = 1.0 - level
    low, high = np.quantile(np.asarray(ra - rb, float), [alpha / 2.0, 1.0 - alpha / 2.0])
    return Interval(est, float(low), float(high), level, "bootstrap_percentile")
