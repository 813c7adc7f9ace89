"""Agreement between reviewers who graded the same items (quality reviews, 服务质检).

* ICC(1,1), the one-way random-effects intraclass correlation for unbalanced designs (each item graded by its own
  set of reviewers): MSB = Σkᵢ(m̄ᵢ − m̄)²/(g − 1), MSW = ΣΣ(x − m̄ᵢ)²/(N − g), k₀ = (N − Σkᵢ²/N)/(g − 1),
  ICC = (MSB − MSW)/(MSB + (k₀ − 1)·MSW) (Shrout & Fleiss 1979, case 1; k₀ from Snedecor & Cochran for unequal kᵢ).
* Per reviewer: the difference between the reviewer's score and the mean of the *other* reviewers of the same item,
  averaged over the reviewer's shared items (negative = harsher than colleagues), its t interval, and the mean
  absolute difference. A harsh (or lenient) reviewer is one whose interval excludes 0.

Reference: Shrout, P. E. & Fleiss, J. L. (1979). Intraclass correlations: uses in assessing rater reliability.
Psychological Bulletin 86, 420-428 (their Table 2 data give ICC(1,1) = 0.17).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["AgreementResult", "icc1", "reviewer_agreement"]


@dataclass(frozen=True, eq=False)
class AgreementResult:
    icc: float
    items: int  # items graded by two or more reviewers
    ratings: int  # ratings of those items
    per_reviewer: pd.DataFrame  # reviewer, items, mean_diff, low, high, mad, flag (harsh | lenient | "")


def icc1(item: object, score: object) -> tuple[float, int, int]:
    """ICC(1,1) over items with at least two ratings; returns (icc, items, ratings). NaN when fewer than 2 items."""
    d = pd.DataFrame({"item": np.asarray(item), "score": np.asarray(score, float)}).dropna()
    k = d.groupby("item")["score"].transform("size")
    d = d[k >= 2]
    g = int(d["item"].nunique())
    n = len(d)
    if g < 2:
        return float("nan"), g, n
    grp = d.groupby("item")["score"]
    ki = grp.size().to_numpy(float)
    mi = grp.mean().to_numpy(float)
    grand = float(d["score"].mean())
    msb = float((ki * (mi - grand) ** 2).sum() / (g - 1))
    resid = d["score"].to_numpy(float) - grp.transform("mean").to_numpy(float)
    msw = float((resid ** 2).sum() / (n - g)) if n > g else float("nan")
    k0 = (n - (ki ** 2).sum() / n) / (g - 1)
    denom = msb + (k0 - 1.0) * msw
    return (float((msb - msw) / denom) if denom > 0 else float("nan")), g, n


def reviewer_agreement(frame: pd.DataFrame, item: str = "item", reviewer: str = "reviewer", score: str = "score",
                       level: float = 0.95) -> AgreementResult:
    """ICC(1,1) and each reviewer's mean difference from the other reviewers of the same items (vectorised)."""
    d = frame[[item, reviewer, score]].dropna().copy()
    d[score] = d[score].astype(float)
    k = d.groupby(item)[score].transform("size")
    d = d[k >= 2].copy()
    icc, items, ratings = icc1(d[item], d[score])
    cols = ["reviewer", "items", "mean_diff", "low", "high", "mad", "flag"]
    if d.empty:
        return AgreementResult(icc, items, ratings, pd.DataFrame(columns=cols))
    kk = d.groupby(item)[score].transform("size").to_numpy(float)
    total = d.groupby(item)[score].transform("sum").to_numpy(float)
    x = d[score].to_numpy(float)
    d["diff"] = x - (total - x) / (kk - 1.0)
    d["absdiff"] = np.abs(d["diff"])
    g = d.groupby(reviewer).agg(items=("diff", "size"), mean_diff=("diff", "mean"), sd=("diff", "std"),
                                mad=("absdiff", "mean")).reset_index().rename(columns={reviewer: "reviewer"})
    n = g["items"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = stats.t.ppf(0.5 + level / 2.0, np.maximum(n - 1, 1))
        half = np.where(n >= 2, t * g["sd"].to_numpy(float) / np.sqrt(n), np.nan)
    g["low"] = g["mean_diff"] - half
    g["high"] = g["mean_diff"] + half
    g["flag"] = np.select([g["high"] < 0, g["low"] > 0], ["harsh", "lenient"], "")
    return AgreementResult(icc, items, ratings, g[cols].sort_values("mean_diff").reset_index(drop=True))
