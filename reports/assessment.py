"""The staff assessment for a period and scope: inputs from the staff repository, scorecards from
:mod:`metrics.scorecards`, and the presentation tables the HR page and every export share (so the workbook shows
exactly what the page shows).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from data.i18n import translate
from data.masking import mask_free_text
from data.reference import service_types
from data.repositories import (
    Scope,
    region_names,
    staff_reviews,
    staff_roster,
    staff_survey_cells,
    staff_survey_rows,
    staff_ticket_cells,
)
from data.settings import site_zone
from metrics.agreement import AgreementResult, reviewer_agreement
from metrics.periods import SITE_TZ, Period, comparison
from metrics.scorecards import (
    STRATA,
    CriticalRule,
    KpiSpec,
    RoleSpec,
    ScorecardConfig,
    Scorecards,
    compute_scorecards,
)
from reports.scheme import Scheme, load_scheme

POINTS = 100.0  # KPI values and totals are shown as points 0-100 with one decimal


@dataclass(frozen=True, eq=False)
class Assessment:
    """Everything one assessment report shows. ``table`` is the summary the HR page and the exports display."""

    scheme: Scheme
    period: Period
    previous: Period | None
    scope_path: str
    scope_name: str
    lang: str
    cards: Scorecards
    roster: pd.DataFrame
    table: pd.DataFrame  # one row per staff member, display values (points rounded to 0.1)
    kpi_tables: dict[str, pd.DataFrame]  # per KPI: one row per staff member of the roles that have it
    team_company: pd.DataFrame  # per team / role x KPI pooled raw rates, for the per-staff comparison
    agreement: AgreementResult
    counts: dict[str, int]
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    tz: str = str(SITE_TZ)  # the site's reporting zone the period's days were cut in (data.settings)

    def t(self, key: str, **kw: Any) -> str:
        return translate(key, self.lang, **kw)


def config_of(scheme: Scheme) -> ScorecardConfig:
    return ScorecardConfig(
        kpis={k: KpiSpec(k, v.kind, v.case_mix, v.source) for k, v in scheme.kpis.items()},
        roles={r: RoleSpec(dict(v.weights), dict(v.targets), dict(v.min_n)) for r, v in scheme.roles.items()},
        grades=[(g.key, g.min_percentile) for g in scheme.grades],
        critical=[CriticalRule(c.key, c.at_least, c.action, c.max_grade) for c in scheme.critical],
        level=scheme.method.level, max_prior_strength=scheme.method.max_prior_strength,
        min_cell=scheme.method.min_cell, min_weight_share=scheme.method.min_weight_share,
        min_shortfall=scheme.training.min_shortfall,
    )


@dataclass(frozen=True, eq=False)
class Inputs:
    roster: pd.DataFrame
    observations: pd.DataFrame
    criticals: pd.DataFrame
    reviews: pd.DataFrame
    counts: dict[str, int]


def load_inputs(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime, scheme: Scheme, *,
                team_id: int | None = None, region_id: int | None = None) -> Inputs:
    """Read and shape the scorecard inputs (all aggregation of raw rows happens in SQL)."""
    m = scheme.method
    roster = staff_roster(engine, scope, team_id=team_id, region_id=region_id)
    tc = staff_ticket_cells(engine, scope, start, end, arrival_limits=m.arrival_limit_minutes,
                            long_minutes=m.long_ticket_minutes, team_id=team_id, region_id=region_id)
    sc = staff_survey_cells(engine, scope, start, end, team_id=team_id, region_id=region_id)
    rv = staff_reviews(engine, scope, start, end, team_id=team_id, region_id=region_id, details=False)
    return Inputs(roster, observations(tc, sc, rv), criticals(tc, rv), rv, {
        "staff": len(roster), "tickets": int(tc["tickets"].sum()) if len(tc) else 0,
        "surveys": int(sc["csat_n"].sum()) if len(sc) else 0, "reviews": len(rv),
        "arrival_excused": int(tc["arrival_excused"].sum()) if len(tc) else 0,
    })


def observations(tc: pd.DataFrame, sc: pd.DataFrame, rv: pd.DataFrame) -> pd.DataFrame:
    """The long observation frame of :func:`metrics.scorecards.compute_scorecards` from the repository cells."""
    keys = ["staff_id", *STRATA]
    parts = []

    def part(frame: pd.DataFrame, kpi: str, n: Any, x: Any, x2: Any = np.nan) -> None:
        if len(frame):
            parts.append(frame[keys].assign(kpi=kpi, n=np.asarray(n, float), x=np.asarray(x, float),
                                            x2=np.asarray(x2, float) if not np.isscalar(x2) else x2))

    part(sc, "satisfaction", sc["csat_n"], sc["csat_top2"])
    # mean CSAT on 0-1: v = (c - 1)/4, Σv = (Σc - n)/4, Σv² = (Σc² - 2Σc + n)/16
    part(sc, "satisfaction_score", sc["csat_n"], (sc["csat_sum"] - sc["csat_n"]) / 4.0,
         (sc["csat_sumsq"] - 2.0 * sc["csat_sum"] + sc["csat_n"]) / 16.0)
    part(sc, "fcr", sc["fcr_n"], sc["fcr_yes"])
    part(tc, "arrival", tc["arrival_n"], tc["arrival_within"])
    part(tc, "progress", tc["long_n"], tc["long_updated"])
    part(tc, "no_reopen", tc["resolved"], tc["not_reopened"])
    if len(rv):
        items = review_items(rv)
        per = items.groupby("staff_id").agg(n=("score", "size"), x=("score", "sum")).reset_index()
        per["x2"] = _group_square_sums(items["staff_id"].to_numpy(), items["score"].to_numpy(float))
        for col in STRATA:
            per[col] = np.nan
        parts.append(per.assign(kpi="qa")[[*keys, "kpi", "n", "x", "x2"]])
    if not parts:
        return pd.DataFrame(columns=[*keys, "kpi", "n", "x", "x2"])
    out = pd.concat(parts, ignore_index=True)
    return out[out["n"] > 0]


def _group_square_sums(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Σ value² per key, in sorted key order (as ``groupby(keys)``), each summed by numpy over the key's values in
    their original order: the same figures as a per-group ``(s ** 2).sum()``, without a Python call per group."""
    order = np.argsort(keys, kind="stable")
    k, sq = keys[order], values[order] ** 2
    cuts = np.flatnonzero(k[1:] != k[:-1]) + 1
    return np.array([part.sum() for part in np.split(sq, cuts)], float) if len(sq) else np.zeros(0)


def review_items(rv: pd.DataFrame) -> pd.DataFrame:
    """One row per reviewed item (work order or call) and staff member: the mean score of its reviewers."""
    item = np.where(rv["ticket_id"].notna(), "t" + rv["ticket_id"].astype("string"),
                    np.where(rv["contact_id"].notna(), "c" + rv["contact_id"].astype("string"),
                             "r" + rv["id"].astype("string")))
    d = rv.assign(item=item)
    return d.groupby(["staff_id", "item"], as_index=False).agg(score=("score", "mean"), reviews=("id", "size"),
                                                               violation=("violation", "any"))


def criticals(tc: pd.DataFrame, rv: pd.DataFrame) -> pd.DataFrame:
    sub = tc.groupby("staff_id")["substantiated"].sum().rename("substantiated_complaint") if len(tc) else \
        pd.Series(dtype="int64", name="substantiated_complaint")
    if len(rv):
        vio = review_items(rv).groupby("staff_id")["violation"].sum().rename("conduct_violation")
    else:
        vio = pd.Series(dtype="int64", name="conduct_violation")
    out = pd.concat([sub, vio], axis=1).fillna(0).astype("int64")
    out.index.name = "staff_id"
    return out.reset_index()


def scorecards(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime, scheme: Scheme | None = None,
               *, team_id: int | None = None, region_id: int | None = None) -> tuple[Scorecards, Inputs]:
    scheme = scheme or load_scheme()
    inp = load_inputs(engine, scope, start, end, scheme, team_id=team_id, region_id=region_id)
    cards = compute_scorecards(inp.roster, inp.observations, config_of(scheme), inp.criticals)
    return cards, inp


def build(engine: Engine, scope: Scope, period: Period, *, team_id: int | None = None,
          region_id: int | None = None, lang: str = "zh-CN", compare: bool = True,
          scheme: Scheme | None = None, scope_region_id: int | None = None) -> Assessment:
    """The whole assessment of ``period`` within ``scope`` (optionally one team or a narrower region)."""
    scheme = scheme or load_scheme()
    tz = site_zone(engine)
    start, end = period.utc_bounds(tz)
    cards, inp = scorecards(engine, scope, start, end, scheme, team_id=team_id, region_id=region_id)
    prev_period = comparison(period, "previous") if compare else None
    prev = None
    if prev_period is not None:
        ps, pe = prev_period.utc_bounds(tz)
        prev, _ = scorecards(engine, scope, ps, pe, scheme, team_id=team_id, region_id=region_id)
    table = summary_table(scheme, cards, inp.roster, lang, prev.totals if prev is not None else None)
    kpi_tables = {k: kpi_table(scheme, cards, inp.roster, k, lang) for k in scheme.kpis}
    kpi_tables = {k: v for k, v in kpi_tables.items() if len(v)}
    agreement = reviewer_agreement(_agreement_frame(inp.reviews))
    names = region_names(engine, scope_region_id) if scope_region_id is not None else None
    scope_name = (names[0] if lang == "zh-CN" else names[1]) if names else scope.path
    return Assessment(scheme, period, prev_period, scope.path, scope_name, lang, cards, inp.roster, table,
                      kpi_tables, team_company(cards, inp), agreement, inp.counts, tz=tz)


def _agreement_frame(rv: pd.DataFrame) -> pd.DataFrame:
    if rv.empty:
        return pd.DataFrame(columns=["item", "reviewer", "score"])
    item = np.where(rv["ticket_id"].notna(), "t" + rv["ticket_id"].astype("string"),
                    np.where(rv["contact_id"].notna(), "c" + rv["contact_id"].astype("string"),
                             "r" + rv["id"].astype("string")))
    return pd.DataFrame({"item": item, "reviewer": rv["reviewer"], "score": rv["score"] * POINTS})


# --- presentation -------------------------------------------------------------------------------------------------


def _pts(v: pd.Series) -> pd.Series:
    return (v.astype(float) * POINTS).round(1)


def grade_label(scheme: Scheme, key: str, lang: str) -> str:
    if key == "insufficient":
        return translate("hr.insufficient", lang)
    return scheme.grade(key).name(lang)


def summary_table(scheme: Scheme, cards: Scorecards, roster: pd.DataFrame, lang: str,
                  previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """The summary: one row per staff member, the columns the HR page shows (stable English column keys)."""
    t = cards.totals.merge(roster[["staff_id", "code", "name", "team_name", "region_zh", "region_en"]],
                           on="staff_id", how="left")
    critical = [_critical_text(scheme, s, lang) for s in t["critical"]]
    grades = [grade_label(scheme, g, lang) for g in t["grade"]]
    # a grade a critical item lowered says so, naming the items that did it (a zeroing one, else the caps)
    zeroed = [_critical_text(scheme, s, lang, action="zero") if ok else "" for s, ok in
              zip(t["critical"], t["sufficient"], strict=True)]
    shown_grade = [translate("hr.grade_zeroed", lang, grade=g, critical=z) if z else
                   translate("hr.grade_capped", lang, grade=g, critical=_critical_text(scheme, s, lang, action="cap"))
                   if capped else g for g, s, capped, z in zip(grades, t["critical"], t["capped"], zeroed, strict=True)]
    kpi_training = [(scheme.kpis[k].training_zh if lang == "zh-CN" else scheme.kpis[k].training_en)
                    if flag and isinstance(k, str) else "" for k, flag in zip(t["weakest_kpi"], t["training"],
                                                                             strict=True)]
    out = pd.DataFrame({
        "staff_id": t["staff_id"],
        "code": t["code"],
        "name": t["name"],
        "role": t["role"].map(lambda r: scheme.roles[r].name(lang)),
        "team": t["team_name"],
        "region": t["region_zh"] if lang == "zh-CN" else t["region_en"],
        "total": _pts(t["total"]),
        "total_low": _pts(t["total_low"].where(t["sufficient"])),
        "total_high": _pts(t["total_high"].where(t["sufficient"])),
        "final_total": _pts(t["final_total"]),
        "grade": shown_grade,
        "perf_grade": [grade_label(scheme, g, lang) for g in t["perf_grade"]],
        "rank_band": [_rank_band(b, w, n, wide, more, lang) for b, w, n, wide, more in
                      zip(t["rank_best"], t["rank_worst"], t["ranked"], t["rank_wide"], t["more_for_rank"],
                          strict=True)],
        "percentile": t["percentile"].round(0),
        "critical": critical,
        "evidence": [_evidence_text(ok, n, by, lang) for ok, n, by in
                     zip(t["sufficient"], t["more_cases"], t["more_by_source"], strict=True)],
        "weakest": [scheme.kpis[k].name(lang) if isinstance(k, str) and tr else ""
                    for k, tr in zip(t["weakest_kpi"], kpi_training, strict=True)],
        # a veto always comes with advice: the KPI's training, else the veto's own remedial training
        "training": [tr or (translate("hr.training.critical", lang, critical=c) if c else "")
                     for tr, c in zip(kpi_training, critical, strict=True)],
        "grade_key": t["grade"].to_numpy(),
    })
    wide = cards.kpis.assign(shown=np.where(cards.kpis["sufficient"], cards.kpis["value"], np.nan))
    wide = wide.pivot(index="staff_id", columns="kpi", values="shown")
    for k in scheme.kpis:
        out[f"kpi_{k}"] = _pts(out["staff_id"].map(wide[k]) if k in wide.columns else pd.Series(np.nan,
                                                                                               index=out.index))
    if previous is not None:
        p = previous.set_index("staff_id")
        out["prev_total"] = _pts(out["staff_id"].map(p["total"]))
        out["prev_grade"] = [grade_label(scheme, g, lang) if isinstance(g, str) else ""
                             for g in out["staff_id"].map(p["grade"])]
        out["change"] = (out["total"] - out["prev_total"]).round(1)
    # order: graded first by total (best first), then the insufficient ones by code
    out["_ok"] = t["sufficient"].to_numpy()
    out = out.sort_values(["_ok", "total", "code"], ascending=[False, False, True]).drop(columns="_ok")
    return out.reset_index(drop=True)


def _rank_band(best: Any, worst: Any, n: Any, wide: Any, more: Any, lang: str) -> str:
    """The rank band, or, when it spans most of the role, why no rank is given and what would narrow it."""
    if pd.isna(best) or pd.isna(n):
        return ""
    if bool(wide):
        if pd.isna(more):
            return translate("hr.rank_wide_close", lang)
        return translate("hr.rank_wide_more", lang, n=int(more))
    return translate("hr.rank_band", lang, best=int(best), worst=int(worst), n=int(n))


def _critical_hits(scheme: Scheme, hits: str) -> list[Any]:
    """The critical items hit, each key once: a repeated rule (3+ complaints) replaces its milder one."""
    rules = {f"{c.key}>={c.at_least}": c for c in scheme.critical}
    strongest: dict[str, Any] = {}
    for h in hits.split(";") if hits else []:
        c = rules.get(h)
        if c is not None and (c.key not in strongest or c.at_least > strongest[c.key].at_least):
            strongest[c.key] = c
    return list(strongest.values())


def _critical_text(scheme: Scheme, hits: str, lang: str, action: str | None = None) -> str:
    return "；".join(c.name_zh if lang == "zh-CN" else c.name_en for c in _critical_hits(scheme, hits)
                    if action is None or c.action == action)


def _evidence_text(sufficient: Any, more: Any, by_source: Any, lang: str) -> str:
    """For a person without a grade: how many more cases (surveys, work orders, reviews) would give one."""
    if bool(sufficient) or pd.isna(more):
        return ""
    parts = "、".join(translate(f"hr.evidence.{src}", lang, n=n) for src, n in sorted(by_source.items()))
    return translate("hr.evidence_text", lang, n=int(more), parts=parts)


def kpi_table(scheme: Scheme, cards: Scorecards, roster: pd.DataFrame, kpi: str, lang: str) -> pd.DataFrame:
    k = cards.kpis[cards.kpis["kpi"] == kpi].merge(roster[["staff_id", "code", "name", "team_name"]], on="staff_id")
    status = {s: translate(f"hr.status.{s}", lang) for s in ("met", "warn", "miss", "insufficient", "no_data")}
    out = pd.DataFrame({
        "staff_id": k["staff_id"], "code": k["code"], "name": k["name"],
        "role": k["role"].map(lambda r: scheme.roles[r].name(lang)), "team": k["team_name"],
        "n": k["n"].astype("int64"),
        "raw": _pts(k["raw"]), "expected": _pts(k["expected"]),
        "adjusted": _pts(k["adjusted"]),
        "value": _pts(k["value"].where(k["sufficient"])), "low": _pts(k["low"].where(k["sufficient"])),
        "high": _pts(k["high"].where(k["sufficient"])), "target": _pts(k["target"]),
        "weight": k["weight"].round(3), "status": k["status"].map(status),
    })
    return out.sort_values(["value", "code"], ascending=[False, True], na_position="last").reset_index(drop=True)


def team_company(cards: Scorecards, inp: Inputs) -> pd.DataFrame:
    """Pooled raw KPI values per team and per role (the "company" within scope) for the per-staff comparison."""
    obs = inp.observations.merge(inp.roster[["staff_id", "team_id", "role"]], on="staff_id")
    team = obs.groupby(["team_id", "kpi"])[["x", "n"]].sum().reset_index()
    team["team_value"] = team["x"] / team["n"]
    role = obs.groupby(["role", "kpi"])[["x", "n"]].sum().reset_index()
    role["company_value"] = role["x"] / role["n"]
    return team[["team_id", "kpi", "team_value"]].merge(
        inp.roster[["team_id", "role"]].drop_duplicates("team_id"), on="team_id").merge(
        role[["role", "kpi", "company_value"]], on=["role", "kpi"], how="left")


def staff_detail(assessment: Assessment, staff_id: int) -> pd.DataFrame:
    """One person's KPIs against their team and the company (same role, within scope), in points: their rows of
    :func:`staff_details` (empty when the person has no KPIs)."""
    d = staff_details(assessment)
    d = d.loc[d["staff_id"] == staff_id]
    if d.empty:
        return pd.DataFrame()
    return d.drop(columns=["staff_id", "status_key"]).reset_index(drop=True)


def staff_details(assessment: Assessment) -> pd.DataFrame:
    """:func:`staff_detail` of everyone at once (for the PDF's thousands of pages): the same columns plus
    ``staff_id`` and ``status_key``, in the row order of ``cards.kpis``; a person's rows equal their staff_detail."""
    a = assessment
    k = a.cards.kpis
    team_of = a.roster.drop_duplicates("staff_id").set_index("staff_id")["team_id"]
    keys = pd.DataFrame({"team_id": pd.to_numeric(k["staff_id"].map(team_of), errors="coerce").astype(float)
                         .to_numpy(), "kpi": k["kpi"].to_numpy()})
    tc = a.team_company[["team_id", "kpi", "team_value", "company_value"]].assign(
        team_id=lambda d: pd.to_numeric(d["team_id"], errors="coerce").astype(float))
    tc = keys.merge(tc.drop_duplicates(["team_id", "kpi"]), on=["team_id", "kpi"], how="left")
    names = {key: spec.name(a.lang) for key, spec in a.scheme.kpis.items()}
    status = {s: translate(f"hr.status.{s}", a.lang) for s in ("met", "warn", "miss", "insufficient", "no_data")}
    return pd.DataFrame({
        "staff_id": k["staff_id"].to_numpy(),
        "kpi": k["kpi"].map(names).to_numpy(),
        "key": k["kpi"].to_numpy(),
        "n": k["n"].astype("int64").to_numpy(),
        "raw": _pts(k["raw"]).to_numpy(),
        "value": _pts(k["value"].where(k["sufficient"])).to_numpy(),
        "low": _pts(k["low"].where(k["sufficient"])).to_numpy(),
        "high": _pts(k["high"].where(k["sufficient"])).to_numpy(),
        "target": _pts(k["target"]).to_numpy(),
        "team": _pts(tc["team_value"]).to_numpy(),
        "company": _pts(tc["company_value"]).to_numpy(),
        "status": k["status"].map(status).to_numpy(),
        "status_key": k["status"].to_numpy(),
    })


# --- per-staff trend and comments ---------------------------------------------------------------------------------

def staff_trend(engine: Engine, scope: Scope, staff_id: int, end_period: Period, months: int = 12) -> pd.DataFrame:
    """Monthly survey satisfaction (top-2 share, points) of one person over the ``months`` before the period end."""
    end_local = end_period.end
    y, m = divmod(end_local.month - 1 - months, 12)
    start_local = dt.date(end_local.year + y, m + 1, 1)
    tz = site_zone(engine)
    start, end = Period(start_local, end_local).utc_bounds(tz)
    rows = staff_survey_rows(engine, scope, staff_id, start, end)
    if rows.empty:
        return pd.DataFrame(columns=["month", "n", "satisfaction"])
    month = rows["submitted_at"].dt.tz_convert(tz).dt.strftime("%Y-%m")
    g = rows.assign(month=month, top2=(rows["csat"] >= 4).astype(float)).groupby("month").agg(
        n=("csat", "count"), satisfaction=("top2", "mean")).reset_index()
    g["satisfaction"] = _pts(g["satisfaction"])
    return g


def staff_comments(engine: Engine, scope: Scope, staff_id: int, period: Period, limit: int = 20,
                   lang: str = "zh-CN") -> pd.DataFrame:
    tz = site_zone(engine)
    start, end = period.utc_bounds(tz)
    rows = staff_survey_rows(engine, scope, staff_id, start, end)
    rows = rows[rows["comment"].notna() & (rows["comment"].astype(str).str.len() > 0)]
    if rows.empty:
        return pd.DataFrame(columns=["date", "csat", "service_type", "comment"])
    rows = rows.sort_values("submitted_at", ascending=False).head(limit)
    return pd.DataFrame({
        "date": rows["submitted_at"].dt.tz_convert(tz).dt.strftime("%Y-%m-%d").to_numpy(),
        "csat": rows["csat"].to_numpy(), "service_type": rows["service_type"].map(_service_names(lang)).fillna(
            rows["service_type"]).to_numpy(),
        "comment": [mask_free_text(c) for c in rows["comment"]],
    })


def _service_names(lang: str) -> dict[str, str]:
    """Service-type code -> its catalogue name in ``lang`` (billing -> its Chinese name)."""
    st = service_types()
    return dict(zip(st["code"], st["name_zh" if lang == "zh-CN" else "name_en"], strict=True))


def staff_detail_display(assessment: Assessment, staff_id: int) -> pd.DataFrame:
    """One person's :func:`staff_detail` as shown (on screen): numbers as text with one decimal and "—" where a
    value is missing (a KPI without cases), never a literal None/NaN; localised column headers."""
    d = staff_detail(assessment, staff_id)
    if d.empty:
        return d
    d = d.drop(columns=["key"])
    out = pd.DataFrame({"kpi": d["kpi"], "n": d["n"].astype("int64").astype(str)})
    for c in ("raw", "value", "low", "high", "target", "team", "company"):
        out[c] = ["—" if pd.isna(v) else f"{v:.1f}" for v in d[c]]
    out["status"] = d["status"].fillna("—")
    return out.rename(columns={c: assessment.t(f"hr.dcol.{c}") for c in out.columns})
