"""Statistical process control charts: p-chart, Laney p'-chart and XmR (individuals and moving range).

References
----------
Montgomery, D. C. Introduction to Statistical Quality Control, chapters 6-7 (p-chart, individuals chart; the
orange-juice can and paint-viscosity examples, also shipped as R ``qcc`` data sets ``orangejuice`` and ``viscosity``).
Laney, D. B. (2002). Improved control charts for attributes. Quality Engineering 14, 531-537.
Wheeler, D. J. Understanding Variation: XmR limits x̄ ± 2.66·MR̄ (= 3/d2, d2 = 1.128), MR chart UCL 3.267·MR̄.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ControlChart", "p_chart", "laney_p_chart", "xmr_chart", "D2", "D4"]

D2 = 1.128  # d2 for moving ranges of two
D4 = 3.267  # D4 for moving ranges of two


@dataclass(frozen=True, eq=False)
class ControlChart:
    """A control chart: per-point values and limits, out-of-control flags, and chart-level constants.

    ``beyond`` flags points outside [lcl, ucl]; ``run`` flags points that end a run of ``run_length`` or more
    consecutive points on one side of the centre line (a sustained shift). ``signal`` = beyond | run.
    ``sigma_z`` is Laney's between-point variation factor (1 for an ordinary p-chart, NaN otherwise).
    """

    kind: str
    values: np.ndarray
    center: float
    lcl: np.ndarray
    ucl: np.ndarray
    beyond: np.ndarray
    run: np.ndarray
    sigma_z: float = float("nan")
    mr_bar: float = float("nan")
    mr_ucl: float = float("nan")

    @property
    def signal(self) -> np.ndarray:
        return self.beyond | self.run

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "value": self.values, "center": self.center, "lcl": self.lcl, "ucl": self.ucl,
            "beyond": self.beyond, "run": self.run, "signal": self.signal,
        })


def _runs(values: np.ndarray, center: float, run_length: int) -> np.ndarray:
    """Flag points belonging to a run of >= run_length consecutive points strictly on one side of the centre."""
    side = np.sign(values - center)
    side = np.where(np.isfinite(values), side, 0)
    if side.size == 0:
        return np.zeros(0, bool)
    change = np.concatenate([[True], side[1:] != side[:-1]])
    run_id = np.cumsum(change)
    length = pd.Series(run_id).map(pd.Series(run_id).value_counts()).to_numpy()
    return (side != 0) & (length >= run_length)


def p_chart(successes: Any, n: Any, run_length: int = 8) -> ControlChart:
    """p-chart: p̄ = Σx/Σn, limits p̄ ± 3·sqrt(p̄(1 − p̄)/nᵢ), LCL clipped at 0 and UCL at 1.

    Points with nᵢ = 0 get NaN values and limits and are never flagged.
    Reference: qcc ``orangejuice`` trial samples -> CL 0.2313333, limits (n = 50) [0.05242755, 0.4102391].
    """
    x = np.asarray(successes, float)
    m = np.asarray(n, float)
    ok = m > 0
    pbar = float(x[ok].sum() / m[ok].sum()) if ok.any() else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(ok, x / m, np.nan)
        sig = np.where(ok, np.sqrt(pbar * (1.0 - pbar) / m), np.nan)
    lcl = np.clip(pbar - 3.0 * sig, 0.0, None)
    ucl = np.clip(pbar + 3.0 * sig, None, 1.0)
    beyond = ok & ((p < lcl) | (p > ucl))
    return ControlChart("p", p, pbar, lcl, ucl, beyond, _runs(p, pbar, run_length), sigma_z=1.0)


def laney_p_chart(successes: Any, n: Any, run_length: int = 8) -> ControlChart:
    """Laney p'-chart for large subgroups (daily n in the thousands), where a p-chart flags almost every point.

    zᵢ = (pᵢ − p̄)/σᵢ with σᵢ = sqrt(p̄(1 − p̄)/nᵢ); σ_z = mean |zᵢ − zᵢ₋₁| / 1.128; limits p̄ ± 3·σᵢ·σ_z, clipped to
    [0, 1]. σ_z ≈ 1 means the p-chart was right; σ_z > 1 means over-dispersion between subgroups.
    """
    x = np.asarray(successes, float)
    m = np.asarray(n, float)
    ok = m > 0
    pbar = float(x[ok].sum() / m[ok].sum()) if ok.any() else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(ok, x / m, np.nan)
        sig = np.where(ok, np.sqrt(pbar * (1.0 - pbar) / m), np.nan)
        z = (p - pbar) / sig
    zv = z[ok]
    sigma_z = float(np.abs(np.diff(zv)).mean() / D2) if zv.size >= 2 and np.isfinite(zv).all() else float("nan")
    lcl = np.clip(pbar - 3.0 * sig * sigma_z, 0.0, None)
    ucl = np.clip(pbar + 3.0 * sig * sigma_z, None, 1.0)
    beyond = ok & ((p < lcl) | (p > ucl))
    return ControlChart("laney_p", p, pbar, lcl, ucl, beyond, _runs(p, pbar, run_length), sigma_z=sigma_z)


def xmr_chart(values: Any, run_length: int = 8) -> ControlChart:
    """XmR (individuals) chart: x̄ ± 3·MR̄/1.128 with MR̄ the mean absolute difference of consecutive values.

    Missing values are dropped before the moving ranges are taken. Fewer than two values gives NaN limits.
    Reference: qcc ``viscosity`` phase-I (trial) batches -> CL 33.52333, limits [32.24484, 34.80183].
    """
    v = np.asarray(pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce"), float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        e = np.zeros(0)
        return ControlChart("xmr", e, float("nan"), e, e, np.zeros(0, bool), np.zeros(0, bool))
    center = float(v.mean())
    mr_bar = float(np.abs(np.diff(v)).mean()) if v.size >= 2 else float("nan")
    half = 3.0 * mr_bar / D2
    lcl = np.full(v.shape, center - half)
    ucl = np.full(v.shape, center + half)
    beyond = (v < lcl) | (v > ucl)
    return ControlChart("xmr", v, center, lcl, ucl, beyond, _runs(v, center, run_length), mr_bar=mr_bar,
                        mr_ucl=D4 * mr_bar)
