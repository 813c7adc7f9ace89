"""Key-driver analysis: Johnson relative weights, exact Shapley/LMG R² decomposition, importance-performance.

References
----------
Johnson, J. W. (2000). A heuristic method for estimating the relative weight of predictor variables in multiple
regression. Multivariate Behavioral Research 35, 1-19 (R package ``rwa``).
Lindeman, Merenda & Gold (1980); Grömping, U. (2006). Relative importance for linear regression in R: the package
relaimpo. Journal of Statistical Software 17(1) (LMG = Shapley value of R²).
Martilla, J. A. & James, J. C. (1977). Importance-performance analysis. Journal of Marketing 41, 77-79.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DriverResult", "relative_weights", "shapley_r2", "importance_performance", "MAX_SHAPLEY_PREDICTORS"]

MAX_SHAPLEY_PREDICTORS = 15


@dataclass(frozen=True)
class DriverResult:
    """Importance per predictor: ``raw`` sums to R², ``rescaled`` sums to 1 (as shares of R²)."""

    names: tuple[str, ...]
    raw: tuple[float, ...]
    rescaled: tuple[float, ...]
    r2: float
    n: int
    method: str

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"driver": self.names, "raw": self.raw, "rescaled": self.rescaled})


def _prepare(x: Any, y: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
    xf = x if isinstance(x, pd.DataFrame) else pd.DataFrame(np.asarray(x, dtype=float))
    names = [str(c) for c in xf.columns]
    xa = xf.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    ya = np.asarray(pd.to_numeric(pd.Series(np.asarray(y).ravel()), errors="coerce"), dtype=float)
    if xa.shape[0] != ya.shape[0]:
        raise ValueError("x and y have different numbers of rows")
    ok = np.isfinite(xa).all(axis=1) & np.isfinite(ya)  # listwise deletion
    return names, xa[ok], ya[ok]


def _correlations(xa: np.ndarray, ya: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sx = xa.std(axis=0, ddof=1)
    if (sx == 0).any() or ya.std(ddof=1) == 0:
        raise ValueError("a predictor or the outcome has zero variance")
    c = np.corrcoef(np.column_stack([xa, ya]), rowvar=False)
    return c[:-1, :-1], c[:-1, -1]


def _empty(names: list[str], n: int, method: str) -> DriverResult:
    nan = tuple(float("nan") for _ in names)
    return DriverResult(tuple(names), nan, nan, float("nan"), n, method)


def relative_weights(x: Any, y: Any) -> DriverResult:
    """Johnson's relative weights.

    With the predictor correlation matrix R = QΛQ' and Λ* = QΛ^½Q' (correlations of X with its closest orthogonal
    counterpart Z), β = Λ*⁻¹ r_xy and RW_j = Σ_k Λ*_jk² β_k². ΣRW_j = R² of the OLS fit.
    Reference: mtcars mpg ~ cyl + disp + hp + gear -> [0.2284797, 0.2221469, 0.2321744, 0.0963886], R² 0.77919.
    Rows with a missing value are dropped; fewer rows than predictors + 2 gives NaN.
    """
    names, xa, ya = _prepare(x, y)
    p = len(names)
    if xa.shape[0] < p + 2:
        return _empty(names, xa.shape[0], "relative_weights")
    rxx, rxy = _correlations(xa, ya)
    evals, evecs = np.linalg.eigh(rxx)
    lam = evecs @ np.diag(np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T
    beta = np.linalg.solve(lam, rxy)
    raw = (lam ** 2) @ (beta ** 2)
    r2 = float(raw.sum())
    return DriverResult(tuple(names), tuple(map(float, raw)), tuple(map(float, raw / r2)), r2, xa.shape[0],
                        "relative_weights")


def shapley_r2(x: Any, y: Any) -> DriverResult:
    """Exact Shapley value (LMG) decomposition of R² over all 2^p predictor subsets (p <= 15).

    φ_j = Σ_{S ⊆ P∖{j}} |S|!(p − |S| − 1)!/p! · [R²(S ∪ {j}) − R²(S)], with R²(S) = r_S' R_SS⁻¹ r_S from the
    correlation matrix. Σφ_j = R² of the full model.
    """
    names, xa, ya = _prepare(x, y)
    p = len(names)
    if p > MAX_SHAPLEY_PREDICTORS:
        raise ValueError(f"exact Shapley needs at most {MAX_SHAPLEY_PREDICTORS} predictors, got {p}")
    if xa.shape[0] < p + 2:
        return _empty(names, xa.shape[0], "shapley_lmg")
    rxx, rxy = _correlations(xa, ya)
    r2 = np.zeros(1 << p)
    for size in range(1, p + 1):  # loops over predictor subsets (≤ 32768), not over data rows
        for subset in combinations(range(p), size):
            idx = list(subset)
            r = rxy[idx]
            sol = np.linalg.lstsq(rxx[np.ix_(idx, idx)], r, rcond=None)[0]
            mask = sum(1 << i for i in subset)
            r2[mask] = float(r @ sol)
    masks = np.arange(1 << p)
    sizes = np.array([bin(m).count("1") for m in masks])
    weights = np.array([math.factorial(s) * math.factorial(p - s - 1) / math.factorial(p) if s < p else 0.0
                        for s in range(p + 1)])
    phi = np.zeros(p)
    for j in range(p):
        bit = 1 << j
        without = masks[(masks & bit) == 0]
        phi[j] = float((weights[sizes[without]] * (r2[without | bit] - r2[without])).sum())
    total = float(r2[-1])
    return DriverResult(tuple(names), tuple(map(float, phi)), tuple(map(float, phi / total)), total, xa.shape[0],
                        "shapley_lmg")


def importance_performance(
    importance: pd.Series, performance: pd.Series, importance_cut: float | None = None,
    performance_cut: float | None = None,
) -> pd.DataFrame:
    """Importance-performance quadrants; cut points default to the means of the two axes.

    Quadrants: "concentrate_here" (important, low performance), "keep_up" (important, high), "low_priority"
    (unimportant, low), "possible_overkill" (unimportant, high). Index: driver names common to both series.
    """
    df = pd.DataFrame({"importance": importance, "performance": performance}).dropna()
    ic = float(df["importance"].mean()) if importance_cut is None else importance_cut
    pc = float(df["performance"].mean()) if performance_cut is None else performance_cut
    hi_i = df["importance"] >= ic
    hi_p = df["performance"] >= pc
    df["quadrant"] = np.select(
        [hi_i & ~hi_p, hi_i & hi_p, ~hi_i & ~hi_p], ["concentrate_here", "keep_up", "low_priority"],
        default="possible_overkill",
    )
    return df
