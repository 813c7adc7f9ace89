"""Questionnaire dimension scores per respondent: mean with its t interval, top-2-box share with its Wilson interval.

A respondent's score on a dimension is the mean of the items of that dimension they answered (one item in the short
post-service questionnaires, four or five in the annual SERVQUAL one), so every respondent counts once and the
Wilson interval's independence assumption holds (the registry KPI ``dimension_score`` pools item answers instead).
Top-2-box is the share of respondents whose dimension score is in the top two points of the items' scale (4-5 of
1-5, 6-7 of 1-7), as CSAT is the top-2 box of its 1-5 item (KPIS.md §3).

Responses need no work order: a response's own columns (region, survey channel, the work order's channel where it
has one, the linked customer's segment or else the segment the survey tool recorded, else missing) are its groups; a
missing group value is a group of its own, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from metrics.intervals import mean_interval_from_stats, wilson_interval

__all__ = ["DIMENSION_COLUMNS", "respondent_scores", "dimension_scores"]

DIMENSION_COLUMNS = ["dimension", "mean", "mean_low", "mean_high", "top_box", "top_box_low", "top_box_high",
                     "top_box_from", "n"]


def respondent_scores(answers: pd.DataFrame, scales: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """One row per respondent x dimension: response_id, dimension, score (mean of the answered items) and
    top_box_from (the lowest score counted as top-2 box: the scale's highest point - 1; NaN when the dimension's items
    have no known scale or different scales). ``scales`` maps item key -> its scale's (lowest, highest) point."""
    a = answers.loc[answers["dimension"].notna(), ["response_id", "item_key", "dimension", "value_num"]].copy()
    a["value_num"] = pd.to_numeric(a["value_num"], errors="coerce")
    a = a.loc[a["value_num"].notna()]
    top = {k: float(hi) - 1.0 for k, (_lo, hi) in (scales or {}).items()}
    a["top_from"] = a["item_key"].map(top).astype(float)
    g = a.groupby(["response_id", "dimension"], sort=True)
    out = g.agg(score=("value_num", "mean")).reset_index()
    per_dim = a.groupby("dimension")["top_from"].agg(["min", "max", lambda s: s.isna().any()])
    per_dim.columns = ["lo", "hi", "missing"]
    same = (per_dim["lo"] == per_dim["hi"]) & ~per_dim["missing"]
    out["top_box_from"] = out["dimension"].map(per_dim["lo"].where(same))
    return out


def dimension_scores(answers: pd.DataFrame, responses: pd.DataFrame | None = None, by: Sequence[str] = (),
                     scales: Mapping[str, tuple[float, float]] | None = None, level: float = 0.95) -> pd.DataFrame:
    """Per dimension (x the ``by`` columns of ``responses``, joined on response id): ``mean`` of the respondents'
    dimension scores with its t interval (``mean_low``, ``mean_high``), ``top_box`` share with its Wilson interval
    (NaN when the items' scale is unknown), ``top_box_from`` (the threshold) and ``n`` respondents.

    Formulae: mean ± t(n-1)·s/√n; Wilson (p̂ + z²/2n ± z·√(p̂(1-p̂)/n + z²/4n²)) / (1 + z²/n) (KPIS.md §4).
    Answers without a dimension or a numeric value are excluded; a respondent counts once per dimension.
    """
    by = list(by)
    scores = respondent_scores(answers, scales)
    if by:
        if responses is None:
            raise ValueError("a breakdown needs the responses frame")
        missing = [b for b in by if b not in responses.columns]
        if missing:
            raise ValueError(f"the responses have no {', '.join(missing)}")
        groups = responses.drop_duplicates("id").set_index("id")[by]
        scores = scores.join(groups, on="response_id", how="inner")
    keys = ["dimension", *by]
    if scores.empty:
        return pd.DataFrame(columns=keys + DIMENSION_COLUMNS[1:])
    scores["hit"] = (scores["score"] >= scores["top_box_from"]).astype(float).where(scores["top_box_from"].notna())
    g = scores.groupby(keys, dropna=False, sort=True)
    t = g.agg(n=("score", "size"), mean=("score", "mean"), sd=("score", "std"), hits=("hit", "sum"),
              judged=("hit", "count"), top_box_from=("top_box_from", "first")).reset_index()
    lo, hi = mean_interval_from_stats(t["mean"].to_numpy(float), t["sd"].to_numpy(float), t["n"].to_numpy(float),
                                      level)
    t["mean_low"], t["mean_high"] = lo, hi
    judged = t["judged"].to_numpy(float)
    iv = wilson_interval(t["hits"].to_numpy(float), np.where(judged > 0, judged, np.nan), level)
    t["top_box"] = np.asarray(iv.estimate, float)
    t["top_box_low"] = np.asarray(iv.low, float)
    t["top_box_high"] = np.asarray(iv.high, float)
    t["n"] = t["n"].astype(np.int64)
    return t[keys + DIMENSION_COLUMNS[1:]]
