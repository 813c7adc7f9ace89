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

__all__ = [
    "DriverResult",
    "relative_weights",
    "shapley_r2",
    "relative_weights_from_corr",
    "pairwise_relative_weights",
    "pairwise_drivers",
    "driver_table",
    "dimension_matrix",
    "DRIVER_METHODS",
    "shapley_from_corr",
    "importance_performance",
    "dimension_drivers",
    "operational_drivers",
    "ArrivalEffect",
    "arrival_effect",
    "MAX_SHAPLEY_PREDICTORS",
]

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
    return relative_weights_from_corr(rxx, rxy, names, xa.shape[0])


def relative_weights_from_corr(rxx: Any, rxy: Any, names: Any, n: int) -> DriverResult:
    """Johnson's relative weights from a predictor correlation matrix and the predictor-outcome correlations."""
    rxx = np.asarray(rxx, float)
    rxy = np.asarray(rxy, float)
    evals, evecs = np.linalg.eigh(rxx)
    lam = evecs @ np.diag(np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T
    beta = np.linalg.lstsq(lam, rxy, rcond=None)[0]
    raw = (lam ** 2) @ (beta ** 2)
    r2 = float(raw.sum())
    return DriverResult(tuple(map(str, names)), tuple(map(float, raw)), tuple(map(float, raw / r2)), r2, int(n),
                        "relative_weights")


def pairwise_relative_weights(x: pd.DataFrame, y: Any, min_pair_n: int = 30) -> DriverResult:
    """Johnson's relative weights on pairwise-complete correlations, for designs in which each respondent is asked
    only some predictors (rotated questionnaires: an item not asked is missing by design, so listwise deletion would
    drop every respondent).

    Predictors are taken greedily, most answered first, while every pair among them, and each with the outcome, has
    at least ``min_pair_n`` respondents answering both; the rest are left out of the fit. ``n`` is the smallest such
    pairwise count (the conservative sample size). With complete data this equals :func:`relative_weights`.
    Reference for the approach: Graham, Taylor, Olchowski & Cumsille (2006), Planned missing data designs in
    psychological research, Psychological Methods 11, 323-343 (pairwise covariances of a three-form design).
    """
    return pairwise_drivers(x, y, "relative_weights", min_pair_n)


#: the driver methods the satisfaction page and ``python -m metrics drivers`` offer
DRIVER_METHODS: tuple[str, ...] = ("relative_weights", "shapley")


def _pairwise_corr(x: pd.DataFrame, y: Any, min_pair_n: int) -> tuple[list[str], np.ndarray | None, int]:
    """The predictors kept (greedy, most answered first, every pair and each with the outcome answered together by
    >= ``min_pair_n``), the pairwise-complete correlation matrix of [kept predictors, outcome] and the smallest
    pairwise count; the matrix is None when fewer than two predictors are kept or one is constant."""
    xf = x.apply(pd.to_numeric, errors="coerce").astype(float)
    ya = pd.Series(pd.to_numeric(pd.Series(np.asarray(y).ravel()), errors="coerce").to_numpy(float), index=xf.index)
    xf = xf.loc[ya.notna()]
    ya = ya.loc[ya.notna()]
    obs = xf.notna().to_numpy().astype(np.int64)
    pair = obs.T @ obs  # respondents answering both predictors
    order = sorted(range(xf.shape[1]), key=lambda j: -pair[j, j])
    keep: list[int] = []
    for j in order:
        if pair[j, j] >= min_pair_n and all(pair[j, i] >= min_pair_n for i in keep):
            keep.append(j)
    names = [str(xf.columns[j]) for j in keep]
    if len(keep) < 2:
        return names, None, 0
    data = pd.concat([xf.iloc[:, keep], ya.rename("__y")], axis=1)
    c = data.corr(min_periods=min_pair_n).to_numpy()
    n = int(pair[np.ix_(keep, keep)].min())
    return names, (c if np.isfinite(c).all() else None), n


def _from_corr(c: np.ndarray, names: list[str], n: int, method: str) -> DriverResult:
    if method == "shapley":
        return shapley_from_corr(c[:-1, :-1], c[:-1, -1], names, n)
    return relative_weights_from_corr(c[:-1, :-1], c[:-1, -1], names, n)


def pairwise_drivers(x: pd.DataFrame, y: Any, method: str = "relative_weights", min_pair_n: int = 30) -> DriverResult:
    """Driver importance on pairwise-complete correlations (see :func:`pairwise_relative_weights` for the predictor
    selection and ``n``): ``method`` "relative_weights" (Johnson) or "shapley" (exact LMG, <= 15 predictors).
    With complete data this equals :func:`relative_weights` / :func:`shapley_r2`."""
    if method not in DRIVER_METHODS:
        raise ValueError(f"unknown driver method {method!r}; choose from {', '.join(DRIVER_METHODS)}")
    label = "relative_weights_pairwise" if method == "relative_weights" else "shapley_lmg_pairwise"
    names, c, n = _pairwise_corr(x, y, min_pair_n)
    if c is None:
        return _empty(names, n, label)
    res = _from_corr(c, names, n, method)
    return DriverResult(res.names, res.raw, res.rescaled, res.r2, n, label)


DRIVER_TABLE_COLUMNS = ["driver", "weight", "ci_low", "ci_high", "raw", "raw_ci_low", "raw_ci_high", "n", "r2",
                        "method", "n_boot"]


def driver_table(x: pd.DataFrame, y: Any, method: str = "relative_weights", *, min_pair_n: int = 30,
                 n_boot: int = 500, level: float = 0.95, seed: int = 20000) -> pd.DataFrame:
    """:func:`pairwise_drivers` with percentile bootstrap intervals, one row per driver, largest weight first.

    ``weight`` is the driver's share of R² (the weights sum to 1), ``raw`` its part of R²; ``ci_low`` / ``ci_high``
    (and ``raw_ci_*``) are the ``level`` percentile interval over ``n_boot`` resamples of the respondents (with
    replacement; the drivers kept by the point estimate are refitted on each resample; a resample in which a driver
    is constant is skipped, ``n_boot`` reports the resamples used). Percentile bootstrap intervals for relative
    weights: Tonidandel, LeBreton & Johnson (2009), Determining the statistical significance of relative weights,
    Psychological Methods 14, 387-399. ``seed`` makes the intervals reproducible.
    """
    point = pairwise_drivers(x, y, method, min_pair_n)
    if len(point.names) < 2 or not np.isfinite(point.r2):
        return pd.DataFrame(columns=DRIVER_TABLE_COLUMNS)
    names = list(point.names)
    data = pd.concat([x[names].apply(pd.to_numeric, errors="coerce").astype(float),
                      pd.Series(np.asarray(y, float).ravel(), index=x.index, name="__y")], axis=1)
    data = data.loc[data["__y"].notna()].to_numpy(float)
    rng = np.random.default_rng(seed)
    complete = bool(np.isfinite(data).all())
    shares, raws = [], []
    for _ in range(n_boot):  # loops over resamples (a few hundred), each a p x p fit
        sample = data[rng.integers(0, len(data), len(data))]
        with np.errstate(divide="ignore", invalid="ignore"):
            c = (np.corrcoef(sample, rowvar=False) if complete
                 else pd.DataFrame(sample).corr(min_periods=2).to_numpy())
        if not np.isfinite(c).all():
            continue
        res = _from_corr(c, names, point.n, method)
        shares.append(res.rescaled)
        raws.append(res.raw)
    g = (1.0 - level) / 2.0
    nan = np.full(len(names), np.nan)
    lo, hi = (np.quantile(np.asarray(shares), [g, 1 - g], axis=0) if shares else (nan, nan))
    rlo, rhi = (np.quantile(np.asarray(raws), [g, 1 - g], axis=0) if raws else (nan, nan))
    out = pd.DataFrame({"driver": names, "weight": point.rescaled, "ci_low": lo, "ci_high": hi, "raw": point.raw,
                        "raw_ci_low": rlo, "raw_ci_high": rhi, "n": point.n, "r2": point.r2,
                        "method": point.method, "n_boot": len(shares)})
    return out.sort_values("weight", ascending=False, kind="mergesort").reset_index(drop=True)


def dimension_matrix(responses: pd.DataFrame, answers: pd.DataFrame,
                     outcome: str = "csat") -> tuple[pd.DataFrame, pd.Series]:
    """Respondents x dimensions (each the mean of the respondent's items of that dimension; NaN where none was
    asked) and the outcome, for the respondents with both a dimension answer and an outcome. Responses need only
    ``id`` and the outcome: a response without a work order counts like any other."""
    a = answers.loc[answers["dimension"].notna(), ["response_id", "dimension", "value_num"]]
    wide = a.pivot_table(index="response_id", columns="dimension", values="value_num", aggfunc="mean")
    wide.columns = [str(c) for c in wide.columns]
    y = pd.to_numeric(responses.set_index("id")[outcome], errors="coerce").reindex(wide.index)
    ok = y.notna().to_numpy()
    return wide.loc[ok], y.loc[ok]


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
    return shapley_from_corr(rxx, rxy, names, xa.shape[0])


def shapley_from_corr(rxx: Any, rxy: Any, names: Any, n: int,
                      groups: Any = None) -> DriverResult:
    """Exact Shapley (LMG) decomposition of R² from correlations. ``groups`` (a list of column-index lists, one
    per player) treats several columns as one player - the dummies of one categorical factor; ``names`` then
    names the players. R²(S) = r_S' R_SS⁺ r_S (least squares, so a singular block is tolerated)."""
    rxx = np.asarray(rxx, float)
    rxy = np.asarray(rxy, float)
    players = [list(g) for g in groups] if groups is not None else [[j] for j in range(len(rxy))]
    p = len(players)
    if p > MAX_SHAPLEY_PREDICTORS:
        raise ValueError(f"exact Shapley needs at most {MAX_SHAPLEY_PREDICTORS} predictors, got {p}")
    r2 = np.zeros(1 << p)
    for size in range(1, p + 1):  # loops over predictor subsets (≤ 32768), not over data rows
        for subset in combinations(range(p), size):
            idx = [c for j in subset for c in players[j]]
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
    return DriverResult(tuple(map(str, names)), tuple(map(float, phi)), tuple(map(float, phi / total)), total,
                        int(n), "shapley_lmg")


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


# --- drivers of satisfaction from the survey and the service log ------------------------------------------------


def _minutes(later: pd.Series, earlier: pd.Series) -> pd.Series:
    return (pd.to_datetime(later, utc=True) - pd.to_datetime(earlier, utc=True)).dt.total_seconds() / 60.0


def dimension_drivers(
    responses: pd.DataFrame,
    answers: pd.DataFrame,
    outcome: str = "csat",
    min_n: int = 50,
) -> pd.DataFrame:
    """Which questionnaire dimensions drive the overall score: relative weights and exact Shapley per questionnaire
    design, combined, with importance-performance quadrants.

    Dimension items are asked by service type, so no respondent answers every dimension and a pooled listwise fit
    is impossible. Respondents are grouped by the set of dimensions they answered (a complete design each);
    designs with at least ``min_n`` complete respondents and two or more dimensions are fitted separately
    (outcome ``outcome`` on the dimension scores, listwise), and a dimension's importance is the
    respondent-weighted mean of its share of R² over the designs that ask it. ``performance`` is the mean item score.
    Returns one row per dimension sorted by Shapley share: driver, shapley (share), relative_weight (share),
    shapley_r2 / rw_r2 (raw parts of R², weighted likewise), performance, n (respondents of the designs asking
    it), designs, rank, quadrant.
    """
    cols = ["driver", "shapley", "relative_weight", "shapley_r2", "rw_r2", "performance", "n", "designs", "rank",
            "quadrant"]
    a = answers.loc[answers["dimension"].notna(), ["response_id", "dimension", "value_num"]]
    if a.empty or responses.empty:
        return pd.DataFrame(columns=cols)
    wide = a.pivot_table(index="response_id", columns="dimension", values="value_num", aggfunc="mean")
    y = pd.to_numeric(responses.set_index("id")[outcome], errors="coerce")
    wide = wide.join(y.rename("__y"), how="inner")
    wide = wide.loc[wide["__y"].notna()]
    dims = [c for c in wide.columns if c != "__y"]
    present = wide[dims].notna().to_numpy()
    pattern = pd.Series(["|".join(np.asarray(dims)[row]) for row in present], index=wide.index)  # per response
    parts = []
    for pat, idx in pattern.groupby(pattern).groups.items():  # per questionnaire design (a handful)
        names = [d for d in pat.split("|") if d]
        if len(idx) < min_n or len(names) < 2:
            continue
        sub = wide.loc[idx, names]
        try:
            rw = relative_weights(sub, wide.loc[idx, "__y"])
            sh = shapley_r2(sub, wide.loc[idx, "__y"])
        except ValueError:  # a constant item or outcome in this design
            continue
        parts.append(pd.DataFrame({"driver": names, "n": rw.n, "rw_share": rw.rescaled, "rw_raw": rw.raw,
                                   "sh_share": sh.rescaled, "sh_raw": sh.raw}))
    if not parts:
        return pd.DataFrame(columns=cols)
    d = pd.concat(parts, ignore_index=True)
    for c in ("rw_share", "rw_raw", "sh_share", "sh_raw"):
        d[c] = d[c] * d["n"]
    g = d.groupby("driver").agg(n=("n", "sum"), designs=("n", "size"), rw_share=("rw_share", "sum"),
                                rw_raw=("rw_raw", "sum"), sh_share=("sh_share", "sum"), sh_raw=("sh_raw", "sum"))
    out = pd.DataFrame({
        "driver": g.index, "shapley": g["sh_share"] / g["n"], "relative_weight": g["rw_share"] / g["n"],
        "shapley_r2": g["sh_raw"] / g["n"], "rw_r2": g["rw_raw"] / g["n"],
        "performance": a.groupby("dimension")["value_num"].mean().reindex(g.index).to_numpy(),
        "n": g["n"].astype(np.int64), "designs": g["designs"].astype(np.int64),
    }).reset_index(drop=True)
    out = out.sort_values("shapley", ascending=False, kind="mergesort").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    quad = importance_performance(out.set_index("driver")["shapley"], out.set_index("driver")["performance"])
    out["quadrant"] = out["driver"].map(quad["quadrant"])
    return out[cols]


OPERATIONAL_FACTORS = ("arrival_delay", "no_progress_update", "resolution_days", "repeat_contacts", "channel",
                       "segment")


def operational_features(
    responses: pd.DataFrame,
    contacts: pd.DataFrame | None = None,
    *,
    arrival_limit_col: str | None = None,
    long_minutes: float = 240.0,
) -> pd.DataFrame:
    """The operational facts behind each response (one row per response, index aligned):

    ``arrival_delay`` minutes beyond the arrival limit (``arrival_limit_col``, e.g. joined with
    :func:`metrics.sla.join_sla_limits`) or, without limits, the arrival minutes; 0 for orders without a crew
    visit. ``no_progress_update`` 1 for a long order (resolved − created > ``long_minutes``) with no progress
    update. ``resolution_days`` resolved − created in days (capped at 30; 0 when unresolved). ``repeat_contacts``
    contacts linked to the order beyond the first (needs ``contacts``). ``channel`` and ``segment`` as given.
    """
    r = responses
    created = r["ticket_created_at"]
    arrival = _minutes(r["arrived_at"], created)
    if arrival_limit_col is not None and arrival_limit_col in r.columns:
        delay = (arrival - pd.to_numeric(r[arrival_limit_col], errors="coerce")).clip(lower=0)
    else:
        delay = arrival
    res = _minutes(r["resolved_at"], created)
    updates = pd.to_numeric(r["progress_updates"], errors="coerce")
    f = pd.DataFrame(index=r.index)
    f["arrival_delay"] = delay.fillna(0.0).clip(lower=0.0)
    f["no_progress_update"] = ((updates == 0) & (res > long_minutes)).astype(float)
    f["resolution_days"] = (res / 1440.0).clip(lower=0.0, upper=30.0).fillna(0.0)
    if contacts is not None and "ticket_id" in contacts.columns:
        per_ticket = contacts["ticket_id"].dropna().value_counts()
        f["repeat_contacts"] = (r["ticket_id"].map(per_ticket).fillna(0).astype(float) - 1.0).clip(lower=0.0)
    f["channel"] = r["channel"] if "channel" in r.columns else None
    f["segment"] = r["segment"] if "segment" in r.columns else None
    return f


def operational_drivers(
    responses: pd.DataFrame,
    contacts: pd.DataFrame | None = None,
    outcome: str = "csat",
    *,
    arrival_limit_col: str | None = None,
    long_minutes: float = 240.0,
) -> pd.DataFrame:
    """Which operational facts drive the overall score: arrival delay, missing progress updates on long orders,
    resolution time, repeat contacts, channel and segment (:func:`operational_features`).

    Exact Shapley (LMG) over the factors, a categorical factor (channel, segment) being one player made of its
    dummies (the most frequent level is the reference), and Johnson's relative weights summed over a factor's
    dummies. Respondents with a missing outcome or factor are dropped (listwise). Returns one row per factor
    sorted by Shapley share: driver, shapley (share of R²), relative_weight (share), shapley_r2, rw_r2, n, r2, rank.
    """
    feats = operational_features(responses, contacts, arrival_limit_col=arrival_limit_col, long_minutes=long_minutes)
    y = pd.to_numeric(responses[outcome], errors="coerce")
    cols: list[pd.Series] = []
    names: list[str] = []
    groups: dict[str, list[int]] = {}
    ok = y.notna()
    for c in feats.columns:
        if feats[c].isna().all():
            continue
        ok &= feats[c].notna()
    for factor in [c for c in OPERATIONAL_FACTORS if c in feats.columns and not feats[c].isna().all()]:
        v = feats.loc[ok, factor]
        if factor in ("channel", "segment"):
            levels = v.value_counts()
            for lvl in levels.index[1:]:
                col = (v == lvl).astype(float)
                if col.std() > 0:
                    groups.setdefault(factor, []).append(len(cols))
                    cols.append(col)
                    names.append(f"{factor}={lvl}")
        elif v.astype(float).std() > 0:
            groups.setdefault(factor, []).append(len(cols))
            cols.append(v.astype(float))
            names.append(factor)
    out_cols = ["driver", "shapley", "relative_weight", "shapley_r2", "rw_r2", "n", "r2", "rank"]
    n = int(ok.sum())
    if not cols or n < len(cols) + 2:
        return pd.DataFrame(columns=out_cols)
    xa = np.column_stack([c.to_numpy(float) for c in cols])
    ya = y[ok].to_numpy(float)
    rxx, rxy = _correlations(xa, ya)
    rw = relative_weights_from_corr(rxx, rxy, names, n)
    factors = list(groups)
    sh = shapley_from_corr(rxx, rxy, factors, n, groups=[groups[f] for f in factors])
    rw_raw = {f: float(sum(rw.raw[i] for i in groups[f])) for f in factors}
    out = pd.DataFrame({"driver": factors, "shapley": sh.rescaled, "relative_weight": [rw_raw[f] / rw.r2 for f in factors],
                        "shapley_r2": sh.raw, "rw_r2": [rw_raw[f] for f in factors]})
    out["n"] = n
    out["r2"] = sh.r2
    out = out.sort_values("shapley", ascending=False, kind="mergesort").reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out[out_cols]


@dataclass(frozen=True, eq=False)
class ArrivalEffect:
    """Satisfaction as a function of the time until the crew arrives.

    ``per_step`` is the change in the outcome per ``step_minutes`` more waiting (for ``outcome="top2"`` in
    percentage points of CSAT; for ``"mean"`` in score points) with its ``level`` interval (OLS slope with the
    HC1 heteroskedasticity-robust standard error, which a 0/1 outcome needs) and two-sided ``pvalue``; ``bins``
    holds the observed outcome per ``step_minutes`` bin with its interval (Wilson for top2, t for mean).
    """

    per_step: float
    low: float
    high: float
    pvalue: float
    step_minutes: float
    intercept: float
    n: int
    outcome: str
    bins: pd.DataFrame


def arrival_effect(
    responses: pd.DataFrame,
    step_minutes: float = 30.0,
    outcome: str = "top2",
    *,
    service_types: tuple[str, ...] | None = ("repair",),
    cap_minutes: float | None = None,
    level: float = 0.95,
) -> ArrivalEffect:
    """"Each extra ``step_minutes`` before the crew arrives costs X points of CSAT", with an interval.

    Rows: responses about orders of ``service_types`` with an arrival time (arrived_at − ticket_created_at >= 0) and
    a valid 1-5 CSAT. Outcome ``"top2"``: 100 x [csat >= 4] (so the slope is in percentage points); ``"mean"``:
    the 1-5 score. Linear fit y = a + b·minutes by least squares; X = b·step with the HC1 robust interval.
    ``cap_minutes`` drops longer waits from the fit (the bins keep an open last bin). Vectorised; no loops.
    """
    from scipy import stats

    from metrics.intervals import mean_interval_from_stats, wilson_interval, z_value

    r = responses
    if service_types is not None and "service_type" in r.columns:
        r = r.loc[r["service_type"].isin(list(service_types))]
    minutes = _minutes(r["arrived_at"], r["ticket_created_at"])
    csat = pd.to_numeric(r["csat"], errors="coerce")
    ok = minutes.notna() & (minutes >= 0) & csat.isin([1, 2, 3, 4, 5])
    x_all = minutes[ok].to_numpy(float)
    c_all = csat[ok].to_numpy(float)
    y_all = np.where(c_all >= 4, 100.0, 0.0) if outcome == "top2" else c_all
    fit = np.ones(len(x_all), bool) if cap_minutes is None else x_all <= cap_minutes
    x, y = x_all[fit], y_all[fit]
    n = len(x)
    nan = float("nan")
    b = a = lo = hi = pv = nan
    if n >= 3 and np.ptp(x) > 0:
        xm = x.mean()
        sxx = float(((x - xm) ** 2).sum())
        b = float(((x - xm) * (y - y.mean())).sum() / sxx)
        a = float(y.mean() - b * xm)
        e = y - a - b * x
        xmat = np.column_stack([np.ones(n), x])
        bread = np.linalg.inv(xmat.T @ xmat)
        meat = (xmat * (e ** 2)[:, None]).T @ xmat
        cov = bread @ meat @ bread * n / (n - 2)
        se = float(np.sqrt(cov[1, 1]))
        z = z_value(level)
        lo, hi = (b - z * se) * step_minutes, (b + z * se) * step_minutes
        pv = float(2 * stats.norm.sf(abs(b / se))) if se > 0 else nan
        b = b * step_minutes
    # binned table (open last bin at the 95th percentile of the waits)
    if len(x_all):
        top = np.quantile(x_all, 0.95, method="inverted_cdf") if cap_minutes is None else cap_minutes
        edges = np.arange(0.0, max(top, step_minutes) + step_minutes, step_minutes)
        idx = np.minimum(np.searchsorted(edges, x_all, side="right") - 1, len(edges) - 1)
        df = pd.DataFrame({"bin": idx, "y": y_all, "top2": (c_all >= 4).astype(float)})
        g = df.groupby("bin")
        bins = pd.DataFrame({"n": g.size(), "sum_top2": g["top2"].sum(), "mean": g["y"].mean(),
                             "sd": g["y"].std(ddof=1)})
        bins["from_minutes"] = edges[bins.index]
        bins["to_minutes"] = np.where(bins.index == len(edges) - 1, np.inf, edges[bins.index] + step_minutes)
        if outcome == "top2":
            iv = wilson_interval(bins["sum_top2"].to_numpy(), bins["n"].to_numpy(), level)
            bins["value"] = np.asarray(iv.estimate, float) * 100
            bins["ci_low"] = np.asarray(iv.low, float) * 100
            bins["ci_high"] = np.asarray(iv.high, float) * 100
        else:
            lo_b, hi_b = mean_interval_from_stats(bins["mean"].to_numpy(), bins["sd"].to_numpy(),
                                                  bins["n"].to_numpy(), level)
            bins["value"], bins["ci_low"], bins["ci_high"] = bins["mean"], lo_b, hi_b
        bins = bins.reset_index(drop=True)[["from_minutes", "to_minutes", "n", "value", "ci_low", "ci_high"]]
    else:
        bins = pd.DataFrame(columns=["from_minutes", "to_minutes", "n", "value", "ci_low", "ci_high"])
    return ArrivalEffect(b, lo, hi, pv, float(step_minutes), a, n, outcome, bins)
