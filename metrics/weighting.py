"""Survey weighting: raking respondents to the service log's margins, Kish design effect and effective n.

References
----------
Deming, W. E. & Stephan, F. F. (1940). On a least squares adjustment of a sampled frequency table when the expected
marginal totals are known. Annals of Mathematical Statistics 11, 427-444 (iterative proportional fitting).
Kish, L. (1965). Survey Sampling: deff = n·Σw²/(Σw)², effective n = (Σw)²/Σw².
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RakeResult", "rake", "kish_deff", "effective_n"]


@dataclass(frozen=True, eq=False)
class RakeResult:
    """Raked weights (aligned with the input rows), convergence information and the weights' design effect."""

    weights: pd.Series
    iterations: int
    converged: bool
    max_error: float
    deff: float
    effective_n: float


def kish_deff(weights: Any) -> float:
    """Kish design effect due to unequal weights: n·Σw²/(Σw)² (1 for equal weights). Missing weights are dropped."""
    w = np.asarray(weights, float).ravel()
    w = w[np.isfinite(w)]
    if w.size == 0 or w.sum() == 0:
        return float("nan")
    return float(w.size * np.sum(w ** 2) / np.sum(w) ** 2)


def effective_n(weights: Any) -> float:
    """Kish effective sample size (Σw)²/Σw² = n/deff."""
    w = np.asarray(weights, float).ravel()
    w = w[np.isfinite(w)]
    if w.size == 0 or np.sum(w ** 2) == 0:
        return float("nan")
    return float(np.sum(w) ** 2 / np.sum(w ** 2))


def rake(
    frame: pd.DataFrame,
    margins: Mapping[str, Mapping[Any, float] | pd.Series],
    base_weights: Any | None = None,
    max_iter: int = 100,
    tol: float = 1e-8,
    bounds: tuple[float, float] | None = None,
) -> RakeResult:
    """Rake weights so the weighted distribution of each column in ``margins`` matches its target.

    Each margin maps a category to a target total or share; shares are scaled to the total of the first margin (or to
    the number of respondents when every margin is a set of shares, i.e. sums to 1). Each iteration multiplies the
    weights of every category by target/current, one margin after the other (vectorised per margin with a group-by),
    until the largest relative margin error is below ``tol``. ``bounds`` (low, high) optionally trims the weights
    relative to their mean after each pass (trimmed raking). Rows with a missing margin value keep weight 0.

    Raises ValueError when a sample category has no target or a target category with a positive target has no
    respondents (raking cannot create people), or when the margins disagree on the total by more than 1e-6.
    """
    if not margins:
        raise ValueError("no margins given")
    n = len(frame)
    w = (np.ones(n) if base_weights is None else np.asarray(base_weights, float).copy())
    targets: dict[str, pd.Series] = {}
    totals = []
    for col, tgt in margins.items():
        t = pd.Series(tgt, dtype=float)
        if (t < 0).any():
            raise ValueError(f"negative target in margin {col!r}")
        present = set(frame[col].dropna().unique())
        missing_target = present - set(t.index)
        if missing_target:
            raise ValueError(f"margin {col!r} has no target for categories {sorted(map(str, missing_target))}")
        empty = [k for k, v in t.items() if v > 0 and k not in present]
        if empty:
            raise ValueError(f"margin {col!r}: no respondents in categories {sorted(map(str, empty))}")
        targets[col] = t
        totals.append(float(t.sum()))
    shares = all(abs(s - 1.0) < 1e-9 for s in totals)
    total = float(n if base_weights is None else np.nansum(w)) if shares else totals[0]
    if not shares and max(totals) - min(totals) > 1e-6 * max(totals):
        raise ValueError(f"margins disagree on the total: {totals}")
    scaled = {c: t / t.sum() * total for c, t in targets.items()}
    codes = {c: frame[c].map({k: i for i, k in enumerate(scaled[c].index)}).to_numpy(dtype=float)
             for c in scaled}
    valid = np.all([np.isfinite(codes[c]) for c in scaled], axis=0)
    w = np.where(valid, w, 0.0)
    converged = False
    err = float("inf")
    iterations = 0
    for it in range(1, max_iter + 1):
        iterations = it
        for c, t in scaled.items():
            idx = np.where(valid, codes[c], 0).astype(np.int64)
            current = np.bincount(idx, weights=w, minlength=len(t))
            with np.errstate(divide="ignore", invalid="ignore"):
                factor = np.where(current > 0, t.to_numpy() / current, 0.0)
            w = np.where(valid, w * factor[idx], 0.0)
        if bounds is not None:
            mean_w = w[valid].mean()
            w = np.where(valid, np.clip(w, bounds[0] * mean_w, bounds[1] * mean_w), 0.0)
        err = 0.0
        for c, t in scaled.items():
            idx = np.where(valid, codes[c], 0).astype(np.int64)
            current = np.bincount(idx, weights=w, minlength=len(t))
            tv = t.to_numpy()
            rel = np.abs(current - tv) / np.where(tv > 0, tv, 1.0)
            err = max(err, float(rel.max()))
        if err < tol:
            converged = True
            break
    weights = pd.Series(w, index=frame.index, name="weight")
    wv = w[valid]
    return RakeResult(weights, iterations, converged, err, kish_deff(wv), effective_n(wv))
