"""Scale reliability: Cronbach's alpha and the Feldt confidence interval.

References
----------
Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests. Psychometrika 16, 297-334.
Feldt, L. S. (1965). The approximate sampling distribution of Kuder-Richardson reliability coefficient twenty.
Psychometrika 30, 357-370: (1 − α)/(1 − α̂) ~ F(n − 1, (n − 1)(k − 1)).
Graham, J. W., Taylor, B. J., Olchowski, A. E. & Cumsille, P. E. (2006). Planned missing data designs in
psychological research. Psychological Methods 11, 323-343 (pairwise covariances under planned missingness).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["AlphaResult", "cronbach_alpha", "cronbach_alpha_from_cov", "cronbach_alpha_pairwise", "feldt_interval"]


@dataclass(frozen=True)
class AlphaResult:
    """Cronbach's alpha with its Feldt interval; ``n`` counts the complete rows actually used."""

    alpha: float
    ci_low: float
    ci_high: float
    n: int
    k: int
    n_dropped: int
    level: float


def cronbach_alpha_from_cov(cov: Any) -> float:
    """α = k/(k − 1) · (1 − tr(C) / ΣC) for a k x k item covariance matrix C.

    Reference: [[10,6,6,6],[6,11,6,6],[6,6,12,6],[6,6,6,13]] -> 0.8136. k < 2 or zero total variance gives NaN.
    """
    c = np.asarray(cov, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError("covariance matrix must be square")
    k = c.shape[0]
    total = c.sum()
    if k < 2 or total <= 0:
        return float("nan")
    return float(k / (k - 1.0) * (1.0 - np.trace(c) / total))


def feldt_interval(alpha: float, n: int, k: int, level: float = 0.95) -> tuple[float, float]:
    """Feldt interval: [1 − (1 − α̂)·F(1 − γ/2), 1 − (1 − α̂)·F(γ/2)], F with (n − 1, (n − 1)(k − 1)) df, γ = 1 − level.

    n < 2 or k < 2 gives NaN bounds.
    """
    if n < 2 or k < 2 or not np.isfinite(alpha):
        return float("nan"), float("nan")
    df1 = n - 1.0
    df2 = (n - 1.0) * (k - 1.0)
    g = 1.0 - level
    low = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - g / 2.0, df1, df2)
    high = 1.0 - (1.0 - alpha) * stats.f.ppf(g / 2.0, df1, df2)
    return float(low), float(high)


def cronbach_alpha(data: Any, level: float = 0.95) -> AlphaResult:
    """Cronbach's alpha of a respondents x items matrix, with listwise deletion and the Feldt interval.

    Rows with any missing item are dropped first (``n`` in the result is the count after dropping, which is also
    the n of the Feldt interval). Items with zero variance stay in (they lower alpha, as they should).
    """
    frame = pd.DataFrame(np.asarray(data, dtype=float)) if not isinstance(data, pd.DataFrame) else data
    x = frame.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    complete = np.isfinite(x).all(axis=1) if x.size else np.zeros(0, bool)
    x = x[complete]
    n, k = x.shape if x.ndim == 2 else (0, 0)
    dropped = int(frame.shape[0] - n)
    if n < 2 or k < 2:
        return AlphaResult(float("nan"), float("nan"), float("nan"), int(n), int(k), dropped, level)
    a = cronbach_alpha_from_cov(np.cov(x, rowvar=False, ddof=1))
    low, high = feldt_interval(a, n, k, level)
    return AlphaResult(a, low, high, int(n), int(k), dropped, level)


def cronbach_alpha_pairwise(data: Any, level: float = 0.95, min_pair_n: int = 2) -> AlphaResult:
    """Cronbach's alpha for a planned-missing (rotated) design: each respondent answers only some items, by design.

    The item covariance matrix is estimated from pairwise-complete rows (each covariance from the respondents asked
    both items), then α = k/(k − 1) · (1 − tr(C) / ΣC). Listwise deletion would drop every respondent of such a
    design. ``n`` is the smallest number of respondents behind any covariance (used for the Feldt interval, so the
    interval is conservative); ``n_dropped`` counts rows with fewer than two items answered. A pair never asked
    together (fewer than ``min_pair_n``) gives NaN. With complete data this equals :func:`cronbach_alpha`.
    """
    frame = pd.DataFrame(np.asarray(data, dtype=float)) if not isinstance(data, pd.DataFrame) else data
    x = frame.apply(pd.to_numeric, errors="coerce").astype(float)
    k = x.shape[1]
    obs = x.notna().to_numpy().astype(np.int64)
    dropped = int((obs.sum(axis=1) < 2).sum()) if k else int(len(x))
    if k < 2:
        return AlphaResult(float("nan"), float("nan"), float("nan"), 0, int(k), dropped, level)
    pair = obs.T @ obs
    n = int(pair.min())
    cov = x.cov(min_periods=max(min_pair_n, 2), ddof=1).to_numpy()
    if n < max(min_pair_n, 2) or not np.isfinite(cov).all():
        return AlphaResult(float("nan"), float("nan"), float("nan"), n, int(k), dropped, level)
    a = cronbach_alpha_from_cov(cov)
    low, high = feldt_interval(a, n, k, level)
    return AlphaResult(a, low, high, n, int(k), dropped, level)
