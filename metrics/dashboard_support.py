"""Small pure helpers the manager dashboards need beside the KPI functions (issue 6).

Nothing here defines a KPI: numbers come from :func:`metrics.kpis.compute`. These helpers prepare frames for it
(local time buckets), turn its per-group output into chart-ready shapes (control limits, per-row outcomes for the
drill-down), and compute the few descriptive figures the pages show that the registry does not hold (channel
switches for the same issue, the binned waiting-time curve).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from metrics import kpis
from metrics.control import laney_p_chart, p_chart, xmr_chart
from metrics.intervals import wilson_interval
from metrics.periods import COMPARISONS, Period, comparison

__all__ = [
    "comparison_for", "add_buckets", "row_outcomes", "control_trend", "channel_switches", "binned_curve",
    "WEEKDAYS", "histogram_counts", "quantile_table",
]

WEEKDAYS = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0
_MONTHS = {"this_month": 1, "last_month": 1, "this_quarter": 3, "this_year": 12}


def _shift_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, min(d.day, (nxt - dt.timedelta(days=1)).day))


def comparison_for(preset_name: str, period: Period, mode: str) -> Period | None:
    """The comparison period for a dashboard preset.

    "previous" for calendar presets means the previous calendar unit over the same elapsed days (本月 1–25 Nov ->
    1–25 Oct; 上月 Oct -> Sep; 本季 -> the previous quarter to the same day); other presets and custom ranges use
    :func:`metrics.periods.comparison` (the preceding range of equal length). "last_year" and "none" likewise.
    """
    if mode not in COMPARISONS:
        raise ValueError(f"unknown comparison {mode!r}")
    months = _MONTHS.get(preset_name)
    if mode != "previous" or months is None:
        return comparison(period, mode)
    start = _shift_months(period.start, -months)
    end = _shift_months(period.end, -months)
    if end <= start:
        return comparison(period, mode)
    return Period(start, min(end, period.start))


def add_buckets(frame: pd.DataFrame, column: str, tz: str = "Asia/Shanghai") -> pd.DataFrame:
    """A copy of ``frame`` with local-time buckets of ``column``: ``day`` (date), ``week`` (Monday), ``month``
    (first day), ``hour`` (0-23) and ``weekday`` (Monday = 0). Missing timestamps give missing buckets."""
    out = frame.copy()
    ts = pd.to_datetime(out[column], utc=True).dt.tz_convert(tz)
    day = ts.dt.tz_localize(None).dt.normalize()
    out["day"] = day
    out["week"] = day - pd.to_timedelta(ts.dt.day_of_week, unit="D")
    out["month"] = day.dt.to_period("M").dt.to_timestamp()
    out["hour"] = ts.dt.hour.astype("Int64")
    out["weekday"] = ts.dt.day_of_week.astype("Int64")
    return out


def row_outcomes(kpi_key: str, frame: pd.DataFrame, id_col: str = "id", **params: Any) -> pd.DataFrame:
    """Per-row outcome of a proportion KPI, computed by the KPI function itself (each row its own group).

    Returns ``id_col``, ``counted`` (the row is in the denominator) and ``hit`` (the row is in the numerator), so
    the rows behind a share reproduce it exactly: value = hit.sum() / counted.sum().
    """
    if frame.empty:
        return pd.DataFrame({id_col: pd.Series(dtype=frame[id_col].dtype if id_col in frame else "int64"),
                             "counted": pd.Series(dtype=bool), "hit": pd.Series(dtype=bool)})
    out = kpis.compute(kpi_key, frame, by=[id_col], **params)
    counted = out["n"].to_numpy(float) > 0
    hit = counted & (np.nan_to_num(out["value"].to_numpy(float)) >= 0.5)
    return pd.DataFrame({id_col: out[id_col].to_numpy(), "counted": counted, "hit": hit})


def control_trend(result: pd.DataFrame, kind: str, bucket: str = "period") -> pd.DataFrame:
    """Control limits for a KPI computed per time bucket (``compute(..., by=[bucket])``).

    Proportions use a p-chart, or Laney's p'-chart when the mean subgroup size is over 1,000 (KPIS.md §4);
    means and other kinds an XmR chart. Returns bucket, value, n, center, lcl, ucl, signal.
    """
    df = result.sort_values(bucket).reset_index(drop=True)
    if df.empty:
        return pd.DataFrame(columns=[bucket, "value", "n", "center", "lcl", "ucl", "signal"])
    if kind == "proportion" and "successes" in df.columns:
        n = df["n"].to_numpy(float)
        chart = (laney_p_chart if np.nanmean(n) > 1000 else p_chart)(df["successes"].to_numpy(float), n)
        cf = chart.to_frame()
    else:
        vals = df["value"].to_numpy(float)
        ok = np.isfinite(vals)
        chart = xmr_chart(vals[ok])
        cf = pd.DataFrame(index=df.index, columns=["value", "center", "lcl", "ucl", "signal"], dtype=float)
        cf.loc[ok, :] = chart.to_frame()[["value", "center", "lcl", "ucl", "signal"]].to_numpy()
        cf["value"] = vals
        cf["signal"] = cf["signal"].fillna(0).astype(bool)
    out = pd.DataFrame({bucket: df[bucket], "value": cf["value"].to_numpy(float), "n": df["n"].to_numpy(),
                        "center": cf["center"].to_numpy(float), "lcl": cf["lcl"].to_numpy(float),
                        "ucl": cf["ucl"].to_numpy(float), "signal": cf["signal"].to_numpy(bool)})
    return out


def channel_switches(contacts: pd.DataFrame, days: int = 7) -> pd.DataFrame:
    """Customers who had to switch channel for the same issue: a contact followed, within ``days``, by a contact of
    the same customer and business category on a *different* channel.

    Input columns: id, customer_id, category, channel, queued_at. Returns one row per switch: ``id`` (the first
    contact), ``next_id``, customer_id, category, ``from_channel``, ``to_channel``, ``gap_hours``. Anonymous
    contacts (no customer) cannot be linked and are left out. Vectorised (sort + shift).
    """
    cols = ["id", "next_id", "customer_id", "category", "from_channel", "to_channel", "gap_hours"]
    c = contacts.dropna(subset=["customer_id"])
    if c.empty:
        return pd.DataFrame(columns=cols)
    c = c.sort_values(["customer_id", "category", "queued_at", "id"], kind="mergesort")
    t = pd.to_datetime(c["queued_at"], utc=True)
    same = (c["customer_id"].shift(-1) == c["customer_id"]) & (c["category"].shift(-1) == c["category"])
    gap = (t.shift(-1) - t).dt.total_seconds() / 3600.0
    switch = same & (gap <= days * 24.0) & (c["channel"].shift(-1) != c["channel"])
    out = pd.DataFrame({
        "id": c["id"], "next_id": c["id"].shift(-1), "customer_id": c["customer_id"], "category": c["category"],
        "from_channel": c["channel"], "to_channel": c["channel"].shift(-1), "gap_hours": gap,
    }).loc[switch.fillna(False).astype(bool)]
    out["next_id"] = out["next_id"].astype("int64")
    return out.reset_index(drop=True)


def binned_curve(x: Any, y: Any, bins: int = 10, grid: int = 60, level: float = 0.95) -> dict[str, pd.DataFrame]:
    """A binary outcome ``y`` (e.g. satisfied = CSAT 4-5) against a continuous ``x`` (e.g. waiting minutes).

    Returns ``bins``: quantile bins of x with the share of y (Wilson interval) and n; ``curve``: a logistic fit
    of y on log(1 + x) (Newton/IRLS) over a grid of x with a 95 % band from the fit's covariance (delta method
    on the logit scale). Fewer than 20 complete pairs or a constant x: empty frames.
    """
    xs = pd.to_numeric(pd.Series(np.asarray(x, dtype=float)), errors="coerce")
    ys = pd.to_numeric(pd.Series(np.asarray(y, dtype=float)), errors="coerce")
    ok = xs.notna() & ys.notna() & (xs >= 0)
    xv, yv = xs[ok].to_numpy(float), ys[ok].to_numpy(float)
    empty = {"bins": pd.DataFrame(columns=["x_mid", "x_low", "x_high", "share", "ci_low", "ci_high", "n"]),
             "curve": pd.DataFrame(columns=["x", "fit", "low", "high"])}
    if xv.size < 20 or np.ptp(xv) == 0:
        return empty
    edges = np.unique(np.quantile(xv, np.linspace(0, 1, bins + 1), method="inverted_cdf"))
    if edges.size < 3:
        return empty
    idx = np.clip(np.searchsorted(edges, xv, side="right") - 1, 0, edges.size - 2)
    g = pd.DataFrame({"b": idx, "x": xv, "y": yv}).groupby("b")
    agg = g.agg(x_mid=("x", "median"), x_low=("x", "min"), x_high=("x", "max"), hits=("y", "sum"), n=("y", "size"))
    ci = wilson_interval(agg["hits"].to_numpy(), agg["n"].to_numpy(), level)
    b = pd.DataFrame({"x_mid": agg["x_mid"], "x_low": agg["x_low"], "x_high": agg["x_high"],
                      "share": agg["hits"] / agg["n"], "ci_low": np.asarray(ci.low), "ci_high": np.asarray(ci.high),
                      "n": agg["n"]}).reset_index(drop=True)
    design = np.column_stack([np.ones_like(xv), np.log1p(xv)])
    beta = np.zeros(2)
    for _ in range(50):
        eta = design @ beta
        p = 1.0 / (1.0 + np.exp(-eta))
        w = np.clip(p * (1 - p), 1e-9, None)
        hess = design.T @ (design * w[:, None])
        step = np.linalg.solve(hess + 1e-9 * np.eye(2), design.T @ (yv - p))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-8:
            break
    p = 1.0 / (1.0 + np.exp(-(design @ beta)))
    cov = np.linalg.inv(design.T @ (design * np.clip(p * (1 - p), 1e-9, None)[:, None]))
    gx = np.linspace(float(xv.min()), float(np.quantile(xv, 0.99, method="inverted_cdf")), grid)
    gd = np.column_stack([np.ones_like(gx), np.log1p(gx)])
    eta = gd @ beta
    se = np.sqrt(np.einsum("ij,jk,ik->i", gd, cov, gd))
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + level / 2))

    def inv(v: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-v))

    curve = pd.DataFrame({"x": gx, "fit": inv(eta), "low": inv(eta - z * se), "high": inv(eta + z * se)})
    return {"bins": b, "curve": curve}


def histogram_counts(values: Any, groups: Any = None, bins: int = 30, upper_q: float = 0.99) -> pd.DataFrame:
    """Counts per equal-width bin (shared edges for every group, so small multiples share one scale).

    The top edge is the ``upper_q`` quantile; larger values fall in the last bin (its ``bin_end`` says "and more"
    through ``open_ended``). Returns group (if given), bin_start, bin_end, count, open_ended.
    """
    v = pd.to_numeric(pd.Series(np.asarray(values, dtype=float)), errors="coerce")
    g = pd.Series(np.asarray(groups, dtype=object)) if groups is not None else pd.Series(["all"] * len(v))
    ok = v.notna() & (v >= 0)
    v, g = v[ok], g[ok]
    cols = ["group", "bin_start", "bin_end", "count", "open_ended"]
    if v.empty:
        return pd.DataFrame(columns=cols)
    top = float(np.quantile(v, upper_q, method="inverted_cdf"))
    top = top if top > 0 else float(v.max()) or 1.0
    edges = np.linspace(0.0, top, bins + 1)
    idx = np.clip(np.searchsorted(edges, v.to_numpy(), side="right") - 1, 0, bins - 1)
    counts = pd.DataFrame({"group": g.to_numpy(), "b": idx}).value_counts().rename("count").reset_index()
    full = pd.MultiIndex.from_product([sorted(g.unique(), key=str), range(bins)], names=["group", "b"])
    counts = counts.set_index(["group", "b"]).reindex(full, fill_value=0).reset_index()
    counts["bin_start"] = edges[counts["b"].to_numpy()]
    counts["bin_end"] = edges[counts["b"].to_numpy() + 1]
    counts["open_ended"] = counts["b"] == bins - 1
    return counts[cols]


def quantile_table(values: Any, groups: Any) -> pd.DataFrame:
    """p10, q1, median, q3, p90 and n per group (inverted-CDF percentiles: observed values), for box plots."""
    df = pd.DataFrame({"g": np.asarray(groups, dtype=object), "v": pd.to_numeric(
        pd.Series(np.asarray(values, dtype=float)), errors="coerce")}).dropna()
    if df.empty:
        return pd.DataFrame(columns=["group", "p10", "q1", "median", "q3", "p90", "n"])
    df = df.sort_values(["g", "v"], kind="mergesort").reset_index(drop=True)
    n = df.groupby("g")["v"].transform("size").to_numpy()
    pos = df.groupby("g").cumcount().to_numpy()
    out = pd.DataFrame({"n": df.groupby("g")["v"].size()})
    for name, q in (("p10", 0.1), ("q1", 0.25), ("median", 0.5), ("q3", 0.75), ("p90", 0.9)):
        want = np.clip(np.ceil(n * q).astype(int) - 1, 0, None)  # inverted CDF: the ceil(n*q)-th smallest
        out[name] = df.loc[pos == want].set_index("g")["v"]
    return out.reset_index().rename(columns={"g": "group"})[["group", "p10", "q1", "median", "q3", "p90", "n"]]
