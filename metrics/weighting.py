"""Survey weighting: raking respondents to the service log's margins, Kish design effect and effective n.

References
----------
Deming, W. E. & Stephan, F. F. (1940). On a least squares adjustment of a sampled frequency table when the expected
marginal totals are known. Annals of Mathematical Statistics 11, 427-444 (iterative proportional fitting).
Kish, L. (1965). Survey Sampling: deff = n·Σw²/(Σw)², effective n = (Σw)²/Σw².
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metrics.intervals import nps_interval, wilson_interval

__all__ = ["RakeResult", "rake", "kish_deff", "effective_n", "service_margins", "weighted_survey"]


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
    codes = {c: _positions(pd.Index(scaled[c].index), frame[c]) for c in scaled}
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


def _positions(categories: pd.Index, values: pd.Series) -> np.ndarray:
    """Each value's position among ``categories`` as float (NaN where it is missing or not a category)."""
    pos = categories.get_indexer(values).astype(float)
    pos[pos < 0] = np.nan
    return pos


def service_margins(service_log: pd.DataFrame, columns: Sequence[str]) -> dict[str, pd.Series]:
    """The service log's marginal counts per column (work orders per region, per channel, per service type),
    the targets survey respondents are raked to. Missing values are not counted. A log of pre-counted rows gives
    each row's count in ``__rows`` (pre-aggregated cells)."""
    if "__rows" in service_log.columns:
        return {c: _counts(service_log, c) for c in columns}
    return {c: service_log[c].dropna().value_counts() for c in columns}


def _counts(log: pd.DataFrame, col: str) -> pd.Series:
    """``value_counts`` of a column whose rows stand for ``__rows`` work orders each (same order: count
    descending, ties in first-seen order)."""
    s = log.loc[log[col].notna()].groupby(col, sort=False)["__rows"].sum()
    s = s.iloc[np.argsort(-s.to_numpy(), kind="stable")]
    return s.rename("count").rename_axis(col).astype("int64")


def weighted_survey(
    responses: pd.DataFrame,
    service_log: pd.DataFrame,
    margins: Sequence[str] = ("region", "channel", "service_type"),
    level: float = 0.95,
    bounds: tuple[float, float] | None = (0.2, 5.0),
    max_iter: int = 100,
) -> pd.DataFrame:
    """CSAT (top-2-box) and NPS weighted to the service log beside the unweighted values.

    Respondents are raked (:func:`rake`) so their weighted distribution over each column in ``margins`` matches the
    work orders of ``service_log`` (region x channel x service type: one margin each, not the full cross). Shares
    are used, so the weights sum to the respondents raked. Respondents with a missing margin value or a category
    the service log lacks are left out of the weighted figures (``n_unweightable``); service-log categories without
    a respondent cannot be represented and are dropped from the targets (``uncovered_share`` = the service log's
    share in such categories, the largest over the margins). ``bounds`` trims the weights relative to their mean.

    Weighted intervals use the Kish effective n: Wilson for CSAT at (p·n_eff, n_eff), the adjusted-Wald NPS interval
    with counts scaled to n_eff. ``deff`` = n·Σw²/(Σw)² and ``effective_n`` = (Σw)²/Σw² are over the rows each KPI
    counts. Returns one row per KPI (csat, nps).
    """
    cols = [c for c in margins if c in responses.columns and c in service_log.columns]
    r = responses
    csat = pd.to_numeric(r["csat"], errors="coerce") if "csat" in r.columns else pd.Series(np.nan, index=r.index)
    csat = csat.where(csat.isin([1, 2, 3, 4, 5]))
    nps = pd.to_numeric(r["nps"], errors="coerce") if "nps" in r.columns else pd.Series(np.nan, index=r.index)
    nps = nps.where((nps >= 0) & (nps <= 10) & (nps == np.floor(nps)))
    targets = service_margins(service_log, cols)
    ok = np.ones(len(r), dtype=bool)
    for c in cols:
        ok &= r[c].isin(targets[c].index).to_numpy()
    uncovered = 0.0
    tgt: dict[str, pd.Series] = {}
    for c in cols:
        present = set(r.loc[ok, c].unique())
        t = targets[c]
        covered = t[t.index.isin(present)]
        if t.sum() > 0:
            uncovered = max(uncovered, float(1.0 - covered.sum() / t.sum()))
        tgt[c] = covered / covered.sum() if covered.sum() > 0 else covered
    w = pd.Series(np.nan, index=r.index)
    converged, iterations = False, 0
    if ok.any() and cols:
        res = rake(r.loc[ok], tgt, max_iter=max_iter, bounds=bounds)
        w.loc[ok] = res.weights.to_numpy()
        converged, iterations = res.converged, res.iterations
    elif ok.any():
        w.loc[ok] = 1.0
        converged = True
    rows = []
    for kpi, valid, score in (("csat", csat.notna(), csat), ("nps", nps.notna(), nps)):
        v = valid.to_numpy()
        n = int(v.sum())
        if kpi == "csat":
            x = int((score[v] >= 4).sum())
            uc = wilson_interval(x, n, level)
            unw = (float(uc.estimate), float(uc.low), float(uc.high))
        else:
            P, A, D = (int((score[v] >= 9).sum()), int(((score[v] >= 7) & (score[v] <= 8)).sum()),
                       int((score[v] <= 6).sum()))
            un = nps_interval(P, A, D, level)
            unw = (float(un.nps), float(un.low), float(un.high))
        vw = v & ok
        ww = w.to_numpy()[vw]
        s = score.to_numpy()[vw]
        n_eff = effective_n(ww) if ww.size else float("nan")
        deff = kish_deff(ww) if ww.size else float("nan")
        tot = float(ww.sum()) if ww.size else 0.0
        if tot > 0:
            if kpi == "csat":
                p = float(ww[s >= 4].sum() / tot)
                ic = wilson_interval(p * n_eff, n_eff, level)
                wtd = (p, float(ic.low), float(ic.high))
            else:
                pp, dd = float(ww[s >= 9].sum() / tot), float(ww[s <= 6].sum() / tot)
                iv = nps_interval(pp * n_eff, (1.0 - pp - dd) * n_eff, dd * n_eff, level)
                wtd = (pp - dd, float(iv.low), float(iv.high))
        else:
            wtd = (float("nan"),) * 3
        rows.append({
            "kpi": kpi, "value_unweighted": unw[0], "ci_low_unweighted": unw[1], "ci_high_unweighted": unw[2],
            "n": n, "value_weighted": wtd[0], "ci_low_weighted": wtd[1], "ci_high_weighted": wtd[2],
            "deff": deff, "effective_n": n_eff, "n_unweightable": int((v & ~ok).sum()),
            "uncovered_share": uncovered, "margins": ",".join(cols), "converged": converged,
            "iterations": iterations,
        })
    return pd.DataFrame(rows)
