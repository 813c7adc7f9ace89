"""Fair comparison of units with few cases: empirical-Bayes shrinkage and case-mix adjustment.

A staff member with 3/3 satisfied customers is not better than one with 190/200. Beta-binomial empirical Bayes pulls
each unit towards the population rate in proportion to how little data it has; the prior is estimated from all
units with the binomial noise removed, its strength is capped, and it is returned so reports can state it.

References
----------
Efron, B. & Morris, C. (1975). Data analysis using Stein's estimator and its generalizations. JASA 70, 311-319.
Kleinman, J. C. (1973). Proportions with extraneous variance: single and independent samples. JASA 68, 46-54.
Iezzoni, L. I. (ed.) Risk Adjustment for Measuring Health Care Outcomes (indirect standardisation, O/E ratios).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "BetaPrior",
    "ShrinkageResult",
    "fit_beta_prior",
    "shrink_proportions",
    "MeanPrior",
    "BayesAverageResult",
    "bayesian_average",
    "case_mix_oe",
    "DEFAULT_MAX_STRENGTH",
]

DEFAULT_MAX_STRENGTH = 100.0


@dataclass(frozen=True)
class BetaPrior:
    """Beta(a, b) prior: mean = a/(a + b), strength = a + b ("worth this many cases").

    ``tau2`` is the between-unit variance of true rates after removing binomial noise; ``capped`` says the strength
    hit ``max_strength`` (including the case of no detectable between-unit variation, tau2 <= 0).
    """

    a: float
    b: float
    mean: float
    strength: float
    tau2: float
    capped: bool
    units: int

    def describe(self) -> str:
        cap = " (capped)" if self.capped else ""
        return f"Beta({self.a:.3g}, {self.b:.3g}): mean {self.mean:.4f}, worth {self.strength:.3g} cases{cap}"


@dataclass(frozen=True, eq=False)
class ShrinkageResult:
    """Raw and shrunken rates per unit with equal-tailed posterior intervals, and the prior used."""

    raw: np.ndarray
    shrunk: np.ndarray
    low: np.ndarray
    high: np.ndarray
    prior: BetaPrior
    level: float


def fit_beta_prior(successes: Any, n: Any, max_strength: float = DEFAULT_MAX_STRENGTH) -> BetaPrior:
    """Method-of-moments beta prior from all units, with the binomial noise removed.

    μ = Σx/Σn; with pᵢ = xᵢ/nᵢ and k units (nᵢ > 0), the beta-binomial moments give
    τ² = [Σ nᵢ(pᵢ − μ)² − k·μ(1 − μ)] / (Σnᵢ − k), and a + b = μ(1 − μ)/τ² − 1, capped at ``max_strength``.
    τ² <= 0 (no variation beyond noise) gives the cap. No data or μ in {0, 1} gives the cap around μ (or NaN).
    """
    x = np.asarray(successes, float).ravel()
    m = np.asarray(n, float).ravel()
    ok = (m > 0) & np.isfinite(x)
    x, m = x[ok], m[ok]
    k = int(x.size)
    if k == 0:
        return BetaPrior(float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), True, 0)
    mu = float(x.sum() / m.sum())
    p = x / m
    denom = m.sum() - k
    tau2 = float((np.sum(m * (p - mu) ** 2) - k * mu * (1.0 - mu)) / denom) if denom > 0 else float("nan")
    capped = False
    if 0.0 < mu < 1.0 and np.isfinite(tau2) and tau2 > 0:
        strength = mu * (1.0 - mu) / tau2 - 1.0
        if strength > max_strength:
            strength, capped = max_strength, True
        elif strength <= 0:  # more spread than a beta prior can hold: a near-flat prior, almost no shrinkage
            strength = 1e-6
    else:
        strength, capped = max_strength, True
    return BetaPrior(mu * strength, (1.0 - mu) * strength, mu, float(strength), tau2, capped, k)


def shrink_proportions(
    successes: Any,
    n: Any,
    prior: BetaPrior | None = None,
    max_strength: float = DEFAULT_MAX_STRENGTH,
    level: float = 0.95,
) -> ShrinkageResult:
    """Posterior mean (xᵢ + a)/(nᵢ + a + b) per unit and the Beta(xᵢ + a, nᵢ − xᵢ + b) equal-tailed interval.

    The prior is fitted from these same units unless given. A unit with n = 0 gets the prior mean.
    """
    x = np.asarray(successes, float).ravel()
    m = np.asarray(n, float).ravel()
    pr = prior if prior is not None else fit_beta_prior(x, m, max_strength)
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.where(m > 0, x / m, np.nan)
    xa = np.where(m > 0, x, 0.0)
    ma = np.where(m > 0, m, 0.0)
    post_a = xa + pr.a
    post_b = ma - xa + pr.b
    shrunk = post_a / (post_a + post_b)
    g = 1.0 - level
    low = stats.beta.ppf(g / 2.0, post_a, post_b)
    high = stats.beta.ppf(1.0 - g / 2.0, post_a, post_b)
    return ShrinkageResult(raw, shrunk, np.asarray(low, float), np.asarray(high, float), pr, level)


@dataclass(frozen=True)
class MeanPrior:
    """Normal prior for unit means: mean μ, strength C = σ²_within/τ²_between (in cases)."""

    mean: float
    strength: float
    sigma2_within: float
    tau2: float
    capped: bool


@dataclass(frozen=True, eq=False)
class BayesAverageResult:
    raw: np.ndarray
    adjusted: np.ndarray
    prior: MeanPrior


def bayesian_average(
    means: Any,
    counts: Any,
    variances: Any | None = None,
    prior_mean: float | None = None,
    prior_strength: float | None = None,
    max_strength: float = DEFAULT_MAX_STRENGTH,
) -> BayesAverageResult:
    """Bayesian average of unit means: (C·μ + nᵢ·x̄ᵢ)/(C + nᵢ).

    μ defaults to the case-weighted grand mean Σnᵢx̄ᵢ/Σnᵢ. C defaults to the one-way random-effects moment
    estimate σ²_w/τ²: σ²_w = Σ(nᵢ − 1)sᵢ²/Σ(nᵢ − 1) (needs ``variances``, ddof = 1), MSB = Σnᵢ(x̄ᵢ − μ)²/(k − 1),
    n₀ = (N − Σnᵢ²/N)/(k − 1), τ² = (MSB − σ²_w)/n₀; C is capped at ``max_strength`` (also when τ² <= 0).
    """
    x = np.asarray(means, float).ravel()
    m = np.asarray(counts, float).ravel()
    ok = (m > 0) & np.isfinite(x)
    N = m[ok].sum()
    mu = float((m[ok] * x[ok]).sum() / N) if prior_mean is None and N > 0 else (
        float(prior_mean) if prior_mean is not None else float("nan"))
    sigma2 = tau2 = float("nan")
    capped = False
    if prior_strength is not None:
        strength = float(prior_strength)
    else:
        if variances is None:
            raise ValueError("variances are needed to estimate the prior strength (or pass prior_strength)")
        v = np.asarray(variances, float).ravel()
        okv = ok & (m >= 2) & np.isfinite(v)
        k = int(ok.sum())
        dfw = (m[okv] - 1.0).sum()
        sigma2 = float(((m[okv] - 1.0) * v[okv]).sum() / dfw) if dfw > 0 else float("nan")
        if k >= 2 and np.isfinite(sigma2):
            msb = float((m[ok] * (x[ok] - mu) ** 2).sum() / (k - 1))
            n0 = (N - (m[ok] ** 2).sum() / N) / (k - 1)
            tau2 = (msb - sigma2) / n0
        if np.isfinite(tau2) and tau2 > 0:
            strength = sigma2 / tau2
            capped = strength > max_strength
            strength = min(strength, max_strength)
        else:
            strength, capped = max_strength, True
    with np.errstate(invalid="ignore", divide="ignore"):
        adjusted = np.where(ok, (strength * mu + m * np.where(ok, x, 0.0)) / (strength + m), mu)
    return BayesAverageResult(np.where(ok, x, np.nan), adjusted, MeanPrior(mu, strength, sigma2, tau2, capped))


def case_mix_oe(
    frame: pd.DataFrame,
    unit: str | Sequence[str],
    stratum: str | Sequence[str],
    outcome: str,
    reference_rates: Mapping[Any, float] | pd.Series | None = None,
) -> pd.DataFrame:
    """Case-mix adjusted observed/expected per unit (indirect standardisation).

    The reference rate of a stratum (e.g. service type x area class) is the mean outcome over all rows of that
    stratum (or ``reference_rates``, indexed by the stratum key). For each unit: observed O = Σ outcome,
    expected E = Σ over its cases of its stratum's reference rate, ``oe`` = O/E, ``adjusted_rate`` = O/E x overall
    rate, and for 0/1 outcomes ``z`` = (O − E)/sqrt(Σ r(1 − r)) (a funnel-plot score). Rows with a missing outcome
    or stratum are excluded. Returns one row per unit with n, observed, expected, oe, adjusted_rate, z.
    """
    units = [unit] if isinstance(unit, str) else list(unit)
    strata = [stratum] if isinstance(stratum, str) else list(stratum)
    d = frame.loc[frame[outcome].notna() & frame[strata].notna().all(axis=1), units + strata + [outcome]].copy()
    d[outcome] = d[outcome].astype(float)
    if reference_rates is None:
        d["__ref"] = d.groupby(strata, observed=True, dropna=False)[outcome].transform("mean")
    else:
        ref = pd.Series(reference_rates)
        key = pd.MultiIndex.from_frame(d[strata]) if len(strata) > 1 else pd.Index(d[strata[0]])
        d["__ref"] = ref.reindex(key).to_numpy(dtype=float)
    d["__var"] = d["__ref"] * (1.0 - d["__ref"])
    overall = float(d[outcome].mean()) if len(d) else float("nan")
    g = d.groupby(units, observed=True, dropna=False).agg(
        n=(outcome, "size"), observed=(outcome, "sum"), expected=("__ref", "sum"), var=("__var", "sum"))
    with np.errstate(divide="ignore", invalid="ignore"):
        g["oe"] = g["observed"] / g["expected"]
        g["adjusted_rate"] = g["oe"] * overall
        binary = bool(d[outcome].isin([0.0, 1.0]).all())
        g["z"] = (g["observed"] - g["expected"]) / np.sqrt(g["var"]) if binary else np.nan
    return g.drop(columns="var").reset_index()
