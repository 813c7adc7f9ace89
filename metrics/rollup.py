"""Exact roll-up of fine-grained ``compute`` results to coarser groups (a KPI cube).

``compute(kpi, frame, by=[region, channel, day])`` once, then :func:`rollup` to (region, channel), to (day,) or to
the headline row, instead of computing the KPI again over the rows: the sufficient statistics every result carries
are summed and the value, interval and status recomputed from them.

========== ======================================================= =========================================
kind       summed                                                   recomputed
========== ======================================================= =========================================
proportion ``successes``, ``n``, every ``n_*`` / ``sum_*`` count   Wilson interval; SLA and CSAT extras
mean       ``n``, Σx = n·mean, Σx² = (n − 1)·sd² + n·mean²         mean, sd, t interval
nps        ``promoters``, ``passives``, ``detractors``             NPS and its adjusted-Wald interval
========== ======================================================= =========================================

Percentile KPIs cannot be rolled up (a percentile of percentiles is not a percentile): :func:`rollup` raises.
Proportions and NPS roll up exactly (integer counts); means up to floating-point rounding (~1e-12 relative).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from metrics import registry
from metrics.intervals import mean_interval_from_stats, nps_interval, wilson_interval
from metrics.registry import status_of

__all__ = ["rollup", "from_sums", "sums_table", "ROLLABLE_KINDS"]

ROLLABLE_KINDS = ("proportion", "mean", "nps")
_SUM_PREFIXES = ("n_", "sum_", "csat_", "successes")
_NPS_COUNTS = ("promoters", "passives", "detractors")
_ALL = "__all__"


def _summable(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c.startswith(_SUM_PREFIXES) or c in _NPS_COUNTS]


def rollup(
    result: pd.DataFrame,
    kpi: str,
    by: Sequence[str] = (),
    *,
    target: float | None = None,
    min_n: int | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Roll a ``compute`` result of ``kpi`` up to the ``by`` columns (a subset of its group columns; ``()`` gives
    the headline row). Returns the columns of ``compute``: ``by``, value, n, ci_low, ci_high, target, status, kpi,
    unit, then the summed counts and the extras that follow from them.

    Groups with n = 0 stay (status "insufficient"); with ``by=()`` an empty result still gives one row (n = 0).
    """
    k = registry.get(kpi)
    if k.kind not in ROLLABLE_KINDS:
        raise ValueError(f"{kpi} is a {k.kind} KPI: recompute it from the rows, it cannot be rolled up")
    by = list(by)
    missing = [b for b in by if b not in result.columns]
    if missing:
        raise ValueError(f"result lacks group column(s) {missing}")
    sums = _summable(result.columns)
    keys = by or [_ALL]
    d = pd.DataFrame({c: result[c] for c in [*by, "n", *sums]}, index=result.index)
    if not by:
        d[_ALL] = 0
    n = d["n"].astype(float)
    if k.kind == "mean":
        v = result["value"].astype(float).where(n > 0, 0.0).fillna(0.0)
        sd = result["sd"].astype(float).where(n > 1, 0.0).fillna(0.0)
        d["__sx"] = v * n
        d["__sxx"] = (n - 1.0).clip(lower=0.0) * sd ** 2 + n * v ** 2
        sums = sums + ["__sx", "__sxx"]
    d["n"] = n
    g = d.groupby(keys, dropna=False, observed=True, sort=True)
    out = g[["n", *sums]].sum(min_count=0)
    if not len(out) and not by:
        out = pd.DataFrame({c: [0.0] for c in ["n", *sums]}, index=pd.Index([0], name=_ALL))
    out = out.reset_index()
    if _ALL in out.columns:
        out = out.drop(columns=_ALL)
    return from_sums(out, kpi, by, target=target, min_n=min_n, level=level)


def from_sums(
    out: pd.DataFrame | Mapping[str, Any],
    kpi: str,
    by: Sequence[str] = (),
    *,
    target: float | None = None,
    min_n: int | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """The :func:`rollup` result from summed statistics: ``out`` (a frame or a mapping of equal-length columns) has
    the ``by`` columns (one row per group, in order), ``n`` and the summable columns of the KPI's ``compute`` result
    in its order (for means ``__sx`` = Σx and ``__sxx`` = Σx² instead of ``value`` / ``sd``). Used by
    :func:`rollup` and by :mod:`metrics.cube`; builds the result frame once from arrays."""
    cols = sums_table(out, kpi, by, target=target, min_n=min_n, level=level)
    return pd.DataFrame(cols, index=pd.RangeIndex(len(cols["value"])))


def sums_table(
    out: pd.DataFrame | Mapping[str, Any],
    kpi: str,
    by: Sequence[str] = (),
    *,
    target: float | None = None,
    min_n: int | None = None,
    level: float = 0.95,
) -> dict[str, Any]:
    """The columns of :func:`from_sums` (in order) as arrays of the dtypes the frame would give them, without
    building the frame (the overview stacks many KPIs' columns and builds one frame)."""
    k = registry.get(kpi)
    by = list(by)
    cols = {c: (out[c].array if isinstance(out, pd.DataFrame) and c in by else out[c]) for c in out.keys()} \
        if isinstance(out, pd.DataFrame) else dict(out)
    keys = {b: cols.pop(b) for b in by}
    sums = {c: np.asarray(v, dtype=float) for c, v in cols.items()}
    nn = sums["n"]
    extra: dict[str, Any] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        if k.kind == "proportion":
            iv = wilson_interval(sums["successes"], nn, level)
            value, lo, hi = (np.asarray(a, float) for a in (iv.estimate, iv.low, iv.high))
        elif k.kind == "nps":
            promoters, passives, detractors = (sums[c] for c in _NPS_COUNTS)
            r = nps_interval(promoters, passives, detractors, level=level)
            value, lo, hi = (np.asarray(a, float) for a in (r.nps, r.low, r.high))
            extra["se"] = np.asarray(r.se, float)
        else:
            value = np.where(nn > 0, sums["__sx"] / nn, np.nan)
            var = np.where(nn > 1, (sums["__sxx"] - nn * value ** 2) / (nn - 1.0), np.nan)
            sd = np.sqrt(np.clip(var, 0.0, None))
            lo, hi = (np.asarray(a, float) for a in mean_interval_from_stats(value, sd, nn, level))
            del sums["__sx"], sums["__sxx"]
            extra["sd"] = sd
    for c in sums:
        if c == "n" or c.startswith(("n_", "csat_", "successes")) or c in _NPS_COUNTS:
            sums[c] = sums[c].astype(np.int64)
    tgt = k.target if target is None else float(target)
    mn = k.min_n if min_n is None else int(min_n)
    nrows = len(nn)
    status = status_of(value, nn, tgt, k.direction, k.at_risk_margin, mn, scope=sums.get("n_scope"),
                       carried_n=sums.get("n_input"))
    nodata = status == "no_data"
    if nodata.any():  # nothing measured: no value (see registry.no_data)
        value, lo, hi = (np.where(nodata, np.nan, a) for a in (value, lo, hi))
    data: dict[str, Any] = dict(keys)
    data.update({"value": value, "n": sums.pop("n"), "ci_low": lo, "ci_high": hi,
                 "target": np.full(nrows, tgt, dtype=float),
                 "status": status,
                 "kpi": _const(k.key, nrows), "unit": _const(k.unit, nrows)})
    data.update(sums)
    data.update(extra)
    data.update(_derived_cols(data, kpi))
    for c in ("status", "semantics"):
        if c in data:
            data[c] = _infer(data[c])
    return data


def _infer(values: np.ndarray) -> Any:
    """An object / text numpy column with the dtype a DataFrame column built from it gets."""
    return pd.Series(values, copy=False).array


_CONST: dict[Any, Any] = {}


def _const(value: Any, n: int) -> Any:
    """A constant column as ``frame[col] = value`` makes it (the default string dtype for text)."""
    one = _CONST.get(value)
    if one is None:
        one = _CONST[value] = pd.Series([value]).array
    return one.take(np.zeros(n, dtype=np.intp))


def _derived_cols(out: Mapping[str, Any], kpi: str) -> dict[str, Any]:
    """:func:`_derived` on a mapping of numpy columns (returns the new columns)."""
    new: dict[str, Any] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        if {"n_incl_exceptions", "sum_duration", "sum_limit", "n_average"} <= set(out):
            ni = out["n_incl_exceptions"].astype(float)
            sl = out["sum_limit"].astype(float)
            new["value_incl_exceptions"] = out["n_within_incl_exceptions"] / np.where(ni > 0, ni, np.nan)
            ratio = out["sum_duration"] / np.where(sl > 0, sl, np.nan)
            new["mean_ratio"] = ratio
            sem = np.where(out["n_average"] == 0, "each", np.where(out["n_average"] == out["n"], "average", "mixed"))
            new["semantics"] = sem
            met = pd.array(np.where(sem == "average", ratio <= 1.0, False), dtype="boolean")
            met[sem != "average"] = pd.NA
            new["commitment_met"] = met
        dist = [f"csat_{i}" for i in range(1, 6)]
        if kpi == "csat" and set(dist) <= set(out):
            total = sum(out[c] * i for i, c in enumerate(dist, start=1))
            n = out["n"]
            new["mean"] = total / np.where(n > 0, n, np.nan)
    return new


def _derived(out: pd.DataFrame, kpi: str) -> None:
    """Extras that follow from the summed counts (the same formulas as :mod:`metrics.kpis`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if {"n_incl_exceptions", "sum_duration", "sum_limit", "n_average"} <= set(out.columns):
            out["value_incl_exceptions"] = out["n_within_incl_exceptions"] / out["n_incl_exceptions"].where(
                out["n_incl_exceptions"] > 0)
            out["mean_ratio"] = out["sum_duration"] / out["sum_limit"].where(out["sum_limit"] > 0)
            out["semantics"] = np.where(out["n_average"] == 0, "each",
                                        np.where(out["n_average"] == out["n"], "average", "mixed"))
            met = pd.array(np.where(out["semantics"] == "average", out["mean_ratio"] <= 1.0, False), dtype="boolean")
            met[(out["semantics"] != "average").to_numpy()] = pd.NA
            out["commitment_met"] = met
        dist = [f"csat_{i}" for i in range(1, 6)]
        if kpi == "csat" and set(dist) <= set(out.columns):
            total = sum(out[c] * i for i, c in enumerate(dist, start=1))
            out["mean"] = total / out["n"].where(out["n"] > 0)
