"""Period-over-period (or any two-sample) comparison of ``compute`` results, cell by cell, with multiplicity control.

For each group present in both results: difference = current − previous, its interval and a two-sided p-value,
chosen by the KPI's kind:

=========== ================================================ ==========================================
kind        interval                                          test
=========== ================================================ ==========================================
proportion  Newcombe hybrid score (method 10)                 pooled two-proportion z
mean        Welch (from value, sd, n)                         Welch t
nps         Wald on the difference, Var = Σ [p + d − (p − d)²]/n  z
rate        Wald on the difference of Poisson rates           z with the pooled rate
percentile  bootstrap needs the raw rows: use                 none (NaN); ``significant`` is False
            :func:`metrics.intervals.bootstrap_diff_ci`
=========== ================================================ ==========================================

p-values are adjusted across all compared cells: Holm ("flag this region", family-wise) or Benjamini-Hochberg
(exploratory heat maps, false discovery rate). ``significant`` = adjusted p < alpha.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from metrics import registry
from metrics.intervals import z_value
from metrics.significance import adjust_pvalues, newcombe_diff_interval, nps_diff, two_proportion_test, welch_diff

__all__ = ["compare", "COMPARE_COLUMNS"]

COMPARE_COLUMNS = (
    "value_current", "value_previous", "n_current", "n_previous", "diff", "diff_low", "diff_high", "pvalue",
    "pvalue_adj", "significant", "method",
)


def _group_columns(frame: pd.DataFrame) -> list[str]:
    """Group columns of a compute() result: the columns before ``value``."""
    cols = list(frame.columns)
    return cols[: cols.index("value")] if "value" in cols else []


def compare(
    current: pd.DataFrame,
    previous: pd.DataFrame,
    kpi: str | None = None,
    by: Sequence[str] | None = None,
    level: float = 0.95,
    adjust: str = "holm",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Compare two ``compute`` results of the same KPI, matched on their group columns.

    Parameters
    ----------
    current, previous : results of :func:`metrics.kpis.compute` for the same KPI and breakdown.
    kpi : the KPI key; defaults to the ``kpi`` column of ``current``.
    by : group columns to match on; defaults to the columns before ``value``.
    adjust : "holm" (default), "bh" or "none", applied across all matched cells with a p-value.
    alpha : significance level for ``significant`` (on adjusted p-values).

    Returns
    -------
    DataFrame with the group columns and ``value_current``, ``value_previous``, ``n_current``, ``n_previous``,
    ``diff``, ``diff_low``, ``diff_high``, ``pvalue``, ``pvalue_adj``, ``significant``, ``method``. Groups present in
    only one result are kept with NaN differences (and are not significant).
    """
    key = kpi if kpi is not None else (str(current["kpi"].iloc[0]) if len(current) and "kpi" in current else None)
    if key is None:
        raise ValueError("kpi is needed when the results are empty or lack a 'kpi' column")
    k = registry.get(key)
    cols = list(by) if by is not None else _group_columns(current)
    if sorted(cols) != sorted(by if by is not None else _group_columns(previous)):
        raise ValueError("current and previous have different group columns")
    extras = {"proportion": ["successes"], "mean": ["sd"], "nps": ["promoters", "detractors"],
              "rate": ["events", "exposure"], "percentile": []}[k.kind]
    keep = ["value", "n"] + [c for c in extras if c in current.columns]
    missing = [c for c in extras if c not in current.columns or c not in previous.columns]
    if missing:
        raise ValueError(f"results lack {missing} needed to compare a {k.kind} KPI")
    if cols:
        m = current[cols + keep].merge(previous[cols + keep], on=cols, how="outer", suffixes=("_c", "_p"),
                                       sort=True)
    else:
        m = pd.concat([current[keep].add_suffix("_c").reset_index(drop=True),
                       previous[keep].add_suffix("_p").reset_index(drop=True)], axis=1)
    v1, v2 = m["value_c"].to_numpy(float), m["value_p"].to_numpy(float)
    n1, n2 = m["n_c"].to_numpy(float), m["n_p"].to_numpy(float)
    diff = v1 - v2
    low = np.full(len(m), np.nan)
    high = np.full(len(m), np.nan)
    p = np.full(len(m), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        if k.kind == "proportion":
            x1, x2 = m["successes_c"].to_numpy(float), m["successes_p"].to_numpy(float)
            ok = (n1 > 0) & (n2 > 0)
            iv = newcombe_diff_interval(np.where(ok, x1, 0), np.where(ok, n1, 1), np.where(ok, x2, 0),
                                        np.where(ok, n2, 1), level)
            tr = two_proportion_test(x1, n1, x2, n2)
            low = np.where(ok, iv.low, np.nan)
            high = np.where(ok, iv.high, np.nan)
            p = np.where(ok, tr.pvalue, np.nan)
            method = "newcombe / two-proportion z"
        elif k.kind == "mean":
            iv, tr = welch_diff(v1, m["sd_c"].to_numpy(float), n1, v2, m["sd_p"].to_numpy(float), n2, level)
            low, high, p = (np.asarray(a, float) for a in (iv.low, iv.high, tr.pvalue))
            method = "welch"
        elif k.kind == "nps":
            iv, tr = nps_diff(m["promoters_c"].to_numpy(float), n1, m["detractors_c"].to_numpy(float),
                              m["promoters_p"].to_numpy(float), n2, m["detractors_p"].to_numpy(float), level)
            low, high, p = (np.asarray(a, float) for a in (iv.low, iv.high, tr.pvalue))
            method = "nps wald / z"
        elif k.kind == "rate":
            c1, c2 = m["events_c"].to_numpy(float), m["events_p"].to_numpy(float)
            e1, e2 = m["exposure_c"].to_numpy(float), m["exposure_p"].to_numpy(float)
            se = np.sqrt(c1 / e1 ** 2 + c2 / e2 ** 2) * 1000.0
            z = z_value(level)
            low, high = diff - z * se, diff + z * se
            pooled = (c1 + c2) / (e1 + e2)
            se0 = np.sqrt(pooled * (1.0 / e1 + 1.0 / e2)) * 1000.0
            p = np.where(se0 > 0, 2.0 * stats.norm.sf(np.abs(diff / se0)), np.where(diff == 0, 1.0, np.nan))
            method = "poisson rate wald / z"
        else:
            method = "none (percentile: bootstrap the raw rows)"
    p = np.asarray(p, float)
    p_adj = adjust_pvalues(p, adjust)
    data = {c: m[c] for c in cols}
    data.update({
        "value_current": v1, "value_previous": v2,
        "n_current": m["n_c"].astype("Int64").to_numpy(), "n_previous": m["n_p"].astype("Int64").to_numpy(),
        "diff": diff, "diff_low": np.asarray(low, float), "diff_high": np.asarray(high, float), "pvalue": p,
        "pvalue_adj": p_adj, "significant": np.nan_to_num(p_adj, nan=1.0) < alpha, "method": method,
        "adjust": adjust,
    })
    out = pd.DataFrame(data, index=m.index)  # one frame, not a column insert per statistic
    return out.reset_index(drop=True)

