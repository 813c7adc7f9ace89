"""Fair staff scorecards: case-mix adjusted, empirically shrunk KPI scores with intervals, a weighted total, grades
from rank percentiles, rank bands instead of bare ranks, an "insufficient data" state, critical-item caps and a
training flag. Pure and vectorised (pandas/numpy/scipy); the scheme arrives as plain dataclasses.

Method (stated again on every report's method sheet):

1. **Case mix** (indirect standardisation, as :func:`metrics.shrinkage.case_mix_oe`, but on cell counts): each cell
   (service type x area class x channel) gets the reference rate of all staff in the input; a cell with fewer than
   ``min_cell`` observations borrows the rate of service type x area class, then service type, then the overall
   rate. Expected E = Σ nᶜ·rᶜ; proportions: adjusted rate = O/E x the role's pooled rate (O = Σ successes);
   means: adjusted mean = observed mean − E/n + the role's pooled mean.
2. **Shrinkage toward the role**: proportions by beta-binomial empirical Bayes (:func:`fit_beta_prior` on the
   adjusted successes of the role's staff, prior strength capped at ``max_prior_strength``), posterior mean
   (x* + a)/(n + a + b) and the equal-tailed Beta posterior interval; means by the Bayesian average
   (C·μ + n·x̄)/(C + n) with C = σ²_within/τ² (capped) and the normal interval ± z·σ_within/√(n + C).
3. **Insufficient data**: a KPI with n below the role's minimum is not scored; the total uses the remaining KPIs with
   their weights renormalised, and is itself "insufficient" when those carry less than ``min_weight_share`` of the
   weights. Insufficient totals get no grade and no rank.
4. **Total** = Σ w̃ₖ·vₖ (w̃ renormalised over scored KPIs); its variance Σ w̃ₖ²·Var(vₖ) (KPIs taken as independent);
   the interval ± z·sd.
5. **Grade**: the total's mid-rank percentile among the role's graded staff, read against the bands. The top and
   bottom bands also need evidence (``extremes_need_evidence``): the top band only when the interval lies wholly
   above the role's median total, the bottom band only when it lies wholly below; otherwise the grade moves one
   band toward the middle (a noisy score near the median is never graded best or worst). **Rank band**: the best
   rank is 1 + the number of peers whose interval lies wholly above, the worst is N − the number whose interval
   lies wholly below.
6. **Critical items** (after grading): ``cap`` lowers the grade to at most ``max_grade``; ``zero`` sets the final
   score to 0 and the lowest grade. The performance grade stays visible beside the final one.
7. **Training flag**: the scored KPI with the largest relative shortfall (b − v)/b against the benchmark
   b = min(target, the role's pooled rate), when it is at least ``min_shortfall``.
8. **What more evidence would give**: for an insufficient total, ``more_cases`` is the fewest further cases that
   would bring the scored weight share to ``min_weight_share`` (every subset of the unscored KPIs is tried; KPIs of
   one source share their cases, so a subset costs, per source, its largest shortfall min_n − n), and
   ``more_by_source`` says how many of each source. A rank band wider than ``max_band_share`` of the role's graded
   staff says nothing (``rank_wide``); ``more_for_rank`` estimates the further cases that would narrow it to that
   share: the interval is shrunk by the factor s that would do so (peers held fixed), and the posterior variance
   ∝ 1/(n + m) (n: the person's cases of their heaviest KPI, m: that KPI's prior strength) gives
   (n + m)(1/s² − 1) more cases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from metrics.shrinkage import BetaPrior, bayesian_average, fit_beta_prior, shrink_proportions

__all__ = [
    "KpiSpec", "RoleSpec", "CriticalRule", "ScorecardConfig", "Scorecards", "compute_scorecards",
    "case_mix_expected", "rank_bands", "STRATA",
]

STRATA = ("service_type", "area_class", "channel")
STATUS = ("met", "warn", "miss", "insufficient", "no_data")  # no_data: not one observed case (n = 0), not 0


@dataclass(frozen=True)
class KpiSpec:
    key: str
    kind: str  # proportion | mean
    case_mix: bool
    source: str = ""  # KPIs of one source are fed by the same cases (one survey answers every survey KPI)


@dataclass(frozen=True)
class RoleSpec:
    weights: Mapping[str, float]
    targets: Mapping[str, float]
    min_n: Mapping[str, int]


@dataclass(frozen=True)
class CriticalRule:
    key: str  # the count column in the criticals frame
    at_least: int
    action: str  # cap | zero
    max_grade: str | None = None


@dataclass(frozen=True)
class ScorecardConfig:
    kpis: Mapping[str, KpiSpec]
    roles: Mapping[str, RoleSpec]
    grades: Sequence[tuple[str, float]]  # (key, min percentile), best first, the last at 0
    critical: Sequence[CriticalRule] = ()
    level: float = 0.95
    max_prior_strength: float = 50.0
    min_cell: int = 20
    min_weight_share: float = 0.6
    min_shortfall: float = 0.0
    extremes_need_evidence: bool = True
    max_band_share: float = 0.5


@dataclass(frozen=True, eq=False)
class Scorecards:
    """``kpis``: one row per staff member x KPI of their role; ``totals``: one row per staff member; ``priors``: the
    prior of every role x KPI (what the values were shrunk toward)."""

    kpis: pd.DataFrame
    totals: pd.DataFrame
    priors: pd.DataFrame
    config: ScorecardConfig = field(repr=False)


# --- case mix -----------------------------------------------------------------------------------------------------


def case_mix_expected(cells: pd.DataFrame, min_cell: int, strata: Sequence[str] = STRATA) -> pd.DataFrame:
    """Reference value per cell with hierarchical fallback; returns ``cells`` with ``ref`` and ``ref_level`` added.

    ``cells`` has one row per unit x KPI x stratum with ``kpi``, ``n`` and ``x`` (successes or the sum of values).
    The reference of a stratum is Σx/Σn over every unit of the KPI in it; strata with Σn < ``min_cell`` fall back
    to coarser strata (dropping the last key each time), finally the KPI's overall rate.
    """
    out = cells.copy()
    ref = pd.Series(np.nan, index=out.index)
    level = pd.Series(-1, index=out.index, dtype="int64")
    keys = list(strata)
    # group on integer codes (missing values get a code of their own): the same groups, summed in the same row
    # order, as grouping on the text columns, without hashing the text once per level
    codes = pd.DataFrame({c: pd.factorize(out[c], use_na_sentinel=False)[0] for c in ["kpi", *keys]},
                         index=out.index)
    codes["x"] = out["x"]
    codes["n"] = out["n"]
    for depth in range(len(keys), -1, -1):
        by = ["kpi", *keys[:depth]]
        grp = codes.groupby(by, sort=False)
        sx = grp["x"].transform("sum")
        sn = grp["n"].transform("sum")
        ok = ref.isna() & ((sn >= min_cell) | (depth == 0)) & (sn > 0)
        ref = ref.where(~ok, sx / sn)
        level = level.where(~ok, depth)
    out["ref"] = ref.astype(float)
    out["ref_level"] = level
    return out


# --- rank bands ---------------------------------------------------------------------------------------------------


def rank_bands(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best and worst plausible rank (1 = best) of each unit among all given, from interval overlap."""
    low = np.asarray(low, float)
    high = np.asarray(high, float)
    n = len(low)
    sl = np.sort(low)
    sh = np.sort(high)
    above = n - np.searchsorted(sl, high, side="right")  # peers whose low exceeds my high
    below = np.searchsorted(sh, low, side="left")  # peers whose high is under my low
    return 1 + above, n - below


# --- main ---------------------------------------------------------------------------------------------------------


def compute_scorecards(roster: pd.DataFrame, observations: pd.DataFrame, config: ScorecardConfig,
                       criticals: pd.DataFrame | None = None) -> Scorecards:
    """Scorecards for every staff member of ``roster`` (columns staff_id, role).

    ``observations``: one row per staff member x KPI x stratum with columns staff_id, kpi, service_type, area_class,
    channel (strata may be NaN for KPIs without case mix), n, x (successes, or the sum of values on a 0-1 scale for
    means) and x2 (the sum of squared values; means only). ``criticals``: staff_id plus one count column per
    critical-item key.
    """
    z = float(stats.norm.ppf(0.5 + config.level / 2.0))
    roster = roster[["staff_id", "role"]].drop_duplicates("staff_id")
    plan = _plan(roster, config)  # staff_id, role, kpi, weight, target, min_n
    obs = observations.merge(roster, on="staff_id", how="inner")
    obs = obs.merge(plan[["staff_id", "kpi"]], on=["staff_id", "kpi"], how="inner")
    if "x2" not in obs.columns:
        obs["x2"] = np.nan
    for col in STRATA:
        if col not in obs.columns:
            obs[col] = np.nan
    case_mix = {key: spec.case_mix for key, spec in config.kpis.items()}  # dict maps: no Python call per row
    kind_of = {key: spec.kind for key, spec in config.kpis.items()}
    # every KPI here is in the plan, so in ``case_mix``: membership, not a per-row map of text (0.25 s at 1 M rows)
    mixed_kpis = [key for key, on in case_mix.items() if on]
    mixed = obs["kpi"].isin(mixed_kpis)
    cm = case_mix_expected(obs[mixed], config.min_cell)
    obs["ref"] = np.nan
    obs.loc[cm.index, "ref"] = cm["ref"]
    obs["e"] = obs["n"] * obs["ref"]
    agg = obs.groupby(["staff_id", "kpi"], observed=True).agg(
        n=("n", "sum"), x=("x", "sum"), x2=("x2", "sum"), e=("e", "sum")).reset_index()
    # KPIs without case mix: expected = observed (oe = 1)
    no_mix = ~agg["kpi"].isin(mixed_kpis)
    agg.loc[no_mix, "e"] = agg.loc[no_mix, "x"]
    k = plan.merge(agg, on=["staff_id", "kpi"], how="left")
    k[["n", "x", "e"]] = k[["n", "x", "e"]].fillna(0.0)
    k["kind"] = k["kpi"].map(kind_of)
    with np.errstate(divide="ignore", invalid="ignore"):
        k["raw"] = np.where(k["n"] > 0, k["x"] / k["n"], np.nan)
        k["expected"] = np.where(k["n"] > 0, k["e"] / k["n"], np.nan)
    pooled = k.groupby(["role", "kpi"])[["x", "n"]].transform("sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        k["role_rate"] = pooled["x"] / pooled["n"]
        prop = k["kind"] == "proportion"
        oe = np.where(k["e"] > 0, k["x"] / k["e"], np.nan)
        adj_prop = np.clip(oe * k["role_rate"], 0.0, 1.0)
        adj_mean = np.clip(k["raw"] - k["expected"] + k["role_rate"], 0.0, 1.0)
    mix = k["kpi"].isin(mixed_kpis).to_numpy()
    k["oe"] = np.where(prop, oe, k["raw"] - k["expected"])  # ratio for shares, difference for means
    k["adjusted"] = np.where(mix, np.where(prop, adj_prop, adj_mean), k["raw"])
    k.loc[~mix, ["oe", "expected"]] = np.nan
    k["adjusted"] = np.where(k["n"] > 0, k["adjusted"], np.nan)
    # the observed variance of values for means (ddof 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k["s2"] = np.where(k["n"] >= 2, (k["x2"] - k["x"] ** 2 / k["n"]) / (k["n"] - 1), np.nan)
    k["value"] = np.nan
    k["low"] = np.nan
    k["high"] = np.nan
    k["var"] = np.nan
    priors: list[dict[str, object]] = []
    for (role, kpi), idx in k.groupby(["role", "kpi"]).groups.items():
        part = k.loc[idx]
        if config.kpis[kpi].kind == "proportion":
            xs = (part["adjusted"].fillna(0.0) * part["n"]).to_numpy(float)
            ns = part["n"].to_numpy(float)
            prior = fit_beta_prior(xs, ns, config.max_prior_strength)
            res = shrink_proportions(xs, ns, prior=prior, level=config.level)
            pa = xs + prior.a
            pb = ns - xs + prior.b
            var = pa * pb / ((pa + pb) ** 2 * (pa + pb + 1.0))
            k.loc[idx, ["value", "low", "high", "var"]] = np.column_stack([res.shrunk, res.low, res.high, var])
            priors.append(_beta_row(role, kpi, prior))
        else:
            ns = part["n"].to_numpy(float)
            means = part["adjusted"].to_numpy(float)
            s2 = part["s2"].to_numpy(float)
            if np.nansum(ns) == 0:
                continue
            avg = bayesian_average(np.nan_to_num(means), ns, variances=s2, max_strength=config.max_prior_strength)
            pr = avg.prior
            sigma2 = pr.sigma2_within if np.isfinite(pr.sigma2_within) else float(np.nanmean(s2)) \
                if np.isfinite(np.nanmean(s2)) else 0.0
            var = sigma2 / (ns + pr.strength)
            half = z * np.sqrt(var)
            k.loc[idx, ["value", "low", "high", "var"]] = np.column_stack(
                [avg.adjusted, np.clip(avg.adjusted - half, 0, 1), np.clip(avg.adjusted + half, 0, 1), var])
            priors.append({"role": role, "kpi": kpi, "kind": "mean", "mean": pr.mean, "strength": float(pr.strength),
                           "a": np.nan, "b": np.nan, "tau2": float(pr.tau2), "sigma2_within": float(sigma2),
                           "capped": bool(pr.capped), "units": int((ns > 0).sum())})
    k["sufficient"] = k["n"] >= k["min_n"]
    k["status"] = np.select(
        [k["n"] <= 0, ~k["sufficient"], k["value"] >= k["target"], k["high"] >= k["target"]],
        ["no_data", "insufficient", "met", "warn"],
        "miss")
    kpis_out = k[["staff_id", "role", "kpi", "kind", "weight", "target", "min_n", "n", "raw", "expected", "oe",
                  "adjusted", "value", "low", "high", "var", "sufficient", "status", "role_rate"]].reset_index(drop=True)
    totals = _totals(roster, kpis_out, config, z, criticals)
    priors_df = pd.DataFrame(priors, columns=["role", "kpi", "kind", "mean", "strength", "a", "b", "tau2",
                                              "sigma2_within", "capped", "units"])
    totals = _more_evidence(totals, kpis_out, priors_df, config)
    return Scorecards(kpis_out, totals, priors_df, config)


def _beta_row(role: str, kpi: str, prior: BetaPrior) -> dict[str, object]:
    return {"role": role, "kpi": kpi, "kind": "proportion", "mean": prior.mean, "strength": prior.strength,
            "a": prior.a, "b": prior.b, "tau2": prior.tau2, "sigma2_within": np.nan, "capped": prior.capped,
            "units": prior.units}


def _plan(roster: pd.DataFrame, config: ScorecardConfig) -> pd.DataFrame:
    rows = [(role, kpi, float(spec.weights[kpi]), float(spec.targets[kpi]), int(spec.min_n[kpi]))
            for role, spec in config.roles.items() for kpi in spec.weights]
    table = pd.DataFrame(rows, columns=["role", "kpi", "weight", "target", "min_n"])
    return roster.merge(table, on="role", how="inner")


def _totals(roster: pd.DataFrame, k: pd.DataFrame, config: ScorecardConfig, z: float,
            criticals: pd.DataFrame | None) -> pd.DataFrame:
    d = k.copy()
    d["w_all"] = d["weight"]
    d["w"] = np.where(d["sufficient"], d["weight"], 0.0)
    g = d.groupby("staff_id")
    wsum = g["w"].transform("sum")
    with np.errstate(divide="ignore", invalid="ignore"):
        d["wn"] = np.where(wsum > 0, d["w"] / wsum, 0.0)
    d["wv"] = d["wn"] * d["value"].fillna(0.0)
    d["wvar"] = d["wn"] ** 2 * d["var"].fillna(0.0)
    # the benchmark is the target, or the role's pooled rate when the whole role is below target (so the flag
    # points at the person's own weakness, not at a target nobody meets)
    bench = np.fmin(d["target"].to_numpy(float), d["role_rate"].to_numpy(float))
    with np.errstate(divide="ignore", invalid="ignore"):
        short = np.where(d["sufficient"] & (bench > 0), (bench - d["value"]) / bench, -np.inf)
    d["shortfall"] = short
    t = d.groupby("staff_id").agg(total=("wv", "sum"), var=("wvar", "sum"), w=("w", "sum"), w_all=("w_all", "sum"),
                                  kpis_scored=("sufficient", "sum")).reset_index()
    weakest = d.loc[d.groupby("staff_id")["shortfall"].idxmax(), ["staff_id", "kpi", "shortfall"]]
    weakest = weakest.rename(columns={"kpi": "weakest_kpi", "shortfall": "weakest_shortfall"})
    t = roster.merge(t, on="staff_id", how="left").merge(weakest, on="staff_id", how="left")
    t["weight_share"] = (t["w"] / t["w_all"]).fillna(0.0)
    t["sufficient"] = t["weight_share"] >= config.min_weight_share - 1e-12
    sd = np.sqrt(t["var"].fillna(0.0))
    t["total"] = t["total"].where(t["sufficient"])
    t["total_low"] = (t["total"] - z * sd).clip(lower=0.0)
    t["total_high"] = (t["total"] + z * sd).clip(upper=1.0)
    finite_short = np.isfinite(t["weakest_shortfall"].astype(float))
    t["training"] = finite_short & (t["weakest_shortfall"] >= config.min_shortfall) & (t["weakest_shortfall"] > 0)
    t["weakest_kpi"] = t["weakest_kpi"].where(finite_short)
    t["weakest_shortfall"] = t["weakest_shortfall"].where(finite_short)
    # percentiles, grades and rank bands within the role, among graded staff
    t["percentile"] = np.nan
    t["rank_best"] = pd.array([pd.NA] * len(t), dtype="Int64")
    t["rank_worst"] = pd.array([pd.NA] * len(t), dtype="Int64")
    t["ranked"] = pd.array([pd.NA] * len(t), dtype="Int64")
    graded = t["sufficient"]
    grp = t[graded].groupby("role")["total"]
    t.loc[graded, "percentile"] = 100.0 * (grp.rank(method="average") - 0.5) / grp.transform("size")
    t.loc[graded, "ranked"] = grp.transform("size").astype("int64")
    for _role, idx in t[graded].groupby("role").groups.items():
        best, worst = rank_bands(t.loc[idx, "total_low"].to_numpy(float), t.loc[idx, "total_high"].to_numpy(float))
        t.loc[idx, "rank_best"] = best
        t.loc[idx, "rank_worst"] = worst
    keys = [g for g, _ in config.grades]
    mins = np.array([m for _, m in config.grades], float)
    pct = t["percentile"].to_numpy(float)
    # index of the first band whose minimum the percentile reaches (bands run best to worst)
    gi = np.argmax(pct[:, None] >= mins[None, :] - 1e-9, axis=1)
    if config.extremes_need_evidence and len(keys) > 2:
        median = t["total"].where(graded).groupby(t["role"]).transform("median").to_numpy(float)
        low, high = t["total_low"].to_numpy(float), t["total_high"].to_numpy(float)
        gi = np.where((gi == 0) & ~(low > median), 1, gi)
        gi = np.where((gi == len(keys) - 1) & ~(high < median), len(keys) - 2, gi)
    t["perf_grade_idx"] = np.where(graded, gi, -1)
    final = t["perf_grade_idx"].to_numpy().copy()
    t["final_total"] = t["total"]
    crit_hits: list[list[str]] = [[] for _ in range(len(t))]
    if criticals is not None and len(config.critical):
        c = t[["staff_id"]].merge(criticals, on="staff_id", how="left").fillna(0)
        for rule in config.critical:
            count = c[rule.key].to_numpy(float) if rule.key in c.columns else np.zeros(len(t))
            hit = count >= rule.at_least
            if rule.action == "zero":
                final = np.where(hit & graded, len(keys) - 1, final)
                t["final_total"] = t["final_total"].where(~hit | ~graded, 0.0)
            else:
                cap = keys.index(rule.max_grade or keys[-1])
                final = np.where(hit & graded, np.maximum(final, cap), final)
            for i in np.flatnonzero(hit):
                crit_hits[i].append(f"{rule.key}>={rule.at_least}")
    t["critical"] = [";".join(h) for h in crit_hits]
    keys_arr = np.array(keys + [""], dtype=object)
    t["perf_grade"] = np.where(graded, keys_arr[t["perf_grade_idx"]], "insufficient")
    t["grade"] = np.where(graded, keys_arr[final], "insufficient")
    t["capped"] = graded & (t["grade"] != t["perf_grade"])
    cols = ["staff_id", "role", "total", "total_low", "total_high", "final_total", "weight_share", "kpis_scored",
            "sufficient", "percentile", "ranked", "rank_best", "rank_worst", "perf_grade", "grade", "capped",
            "critical", "weakest_kpi", "weakest_shortfall", "training"]
    return t[cols].reset_index(drop=True)


# --- what more evidence would give --------------------------------------------------------------------------------


def _more_evidence(t: pd.DataFrame, k: pd.DataFrame, priors: pd.DataFrame, config: ScorecardConfig) -> pd.DataFrame:
    """Add ``more_cases`` / ``more_by_source`` (insufficient totals) and ``rank_wide`` / ``more_for_rank`` (graded
    totals whose rank band spans more than ``max_band_share`` of the role): method step 8."""
    t = t.copy()
    t["more_cases"] = pd.array([pd.NA] * len(t), dtype="Int64")
    t["more_by_source"] = [{} for _ in range(len(t))]
    source = {key: spec.source or key for key, spec in config.kpis.items()}
    pos = pd.Series(np.arange(len(t)), index=t["staff_id"].to_numpy())
    for _role, part in k[k["staff_id"].isin(t.loc[~t["sufficient"], "staff_id"])].groupby("role"):
        wide_w = part.pivot(index="staff_id", columns="kpi", values="weight")
        kpis = list(wide_w.columns)
        w = wide_w.to_numpy(float)
        short = (part.pivot(index="staff_id", columns="kpi", values="min_n")
                 - part.pivot(index="staff_id", columns="kpi", values="n")).clip(lower=0).to_numpy(float)
        ok = short <= 0
        w_all = np.nansum(w, axis=1)
        srcs = sorted({source[c] for c in kpis})
        best = np.full(len(w), np.inf)
        best_mask = np.zeros(len(w), dtype=np.int64)
        for mask in range(1, 2 ** len(kpis)):
            pick = np.array([(mask >> j) & 1 for j in range(len(kpis))], bool)
            share = np.nansum(np.where(ok | pick[None, :], w, 0.0), axis=1) / w_all
            cost = np.zeros(len(w))
            for src in srcs:
                cols = pick & np.array([source[c] == src for c in kpis])
                if cols.any():
                    cost += np.nanmax(np.where(cols[None, :], short, 0.0), axis=1)
            better = (share >= config.min_weight_share - 1e-12) & (cost < best)
            best = np.where(better, cost, best)
            best_mask = np.where(better, mask, best_mask)
        for sid, cost, chosen, sh in zip(wide_w.index, best, best_mask, short, strict=True):
            if not np.isfinite(cost):
                continue
            i = int(pos[sid])
            by: dict[str, int] = {}
            for j, c in enumerate(kpis):
                if (int(chosen) >> j) & 1 and sh[j] > 0:
                    by[source[c]] = max(by.get(source[c], 0), int(np.ceil(sh[j])))
            t.at[i, "more_cases"] = int(sum(by.values()))
            t.at[i, "more_by_source"] = by
    # rank bands too wide to say anything, and the cases that would narrow them
    t["rank_wide"] = False
    t["more_for_rank"] = pd.array([pd.NA] * len(t), dtype="Int64")
    graded = t["sufficient"].to_numpy(bool)
    heaviest = k.sort_values(["staff_id", "weight"], ascending=[True, False]).drop_duplicates("staff_id")
    strength = dict(zip(zip(priors["role"], priors["kpi"], strict=True), priors["strength"], strict=True))
    n_of = dict(zip(heaviest["staff_id"], heaviest["n"], strict=True))
    m_of = {sid: float(strength.get((r, kp), 0.0)) for sid, r, kp in
            zip(heaviest["staff_id"], heaviest["role"], heaviest["kpi"], strict=True)}
    scales = np.linspace(1.0, 0.3, 36)
    for _role, idx in t[graded].groupby("role").groups.items():
        sub = t.loc[idx]
        n = len(sub)
        if n < 3:
            continue
        total = sub["total"].to_numpy(float)
        low, high = sub["total_low"].to_numpy(float), sub["total_high"].to_numpy(float)
        width = (sub["rank_worst"].to_numpy(float) - sub["rank_best"].to_numpy(float) + 1) / n
        wide = width > config.max_band_share
        t.loc[idx, "rank_wide"] = wide
        sl, sh = np.sort(low), np.sort(high)
        need = np.full(n, np.nan)
        for s in scales:  # the widest interval (largest s) whose band is narrow enough
            lo_s, hi_s = total - s * (total - low), total + s * (high - total)
            best = 1 + (n - np.searchsorted(sl, hi_s, side="right"))
            worst = n - np.searchsorted(sh, lo_s, side="left")
            fits = (worst - best + 1) / n <= config.max_band_share
            need = np.where(np.isnan(need) & fits, s, need)
        for j, sid in enumerate(sub["staff_id"]):
            # below s = 0.3 (over ten times the evidence) the person's own cases would not do it: the role's
            # totals lie closer together than anyone's measurement error, so no count is given
            if wide[j] and np.isfinite(need[j]) and need[j] >= 0.3:
                base = float(n_of.get(sid, 0.0)) + m_of.get(sid, 0.0)
                t.at[idx[j], "more_for_rank"] = int(np.ceil(base * (1.0 / need[j] ** 2 - 1.0)))
    return t
