"""Risk of an unhappy ending for open work (被动响应 → 主动预判): features known at scoring time, a readable model,
per-case reasons, and an honest evaluation beside the naive rule "longest waiting first".

Pure: numpy / pandas / scipy only. The composition root (``surveys.proactive``) reads the fact frames and passes
them in.

Scoring time (``as_of``)
    Every feature is computed from what was known at ``as_of``: a timestamp later than ``as_of`` (an arrival, a
    resolution, a contact, a response) is treated as not having happened. The training set is built the same way:
    each morning snapshot ``T`` holds the work orders open at ``T`` or resolved in the 24 hours before it, with the
    features as of ``T`` and the outcomes after ``T`` as labels.

Two targets
    ``dissatisfied``   the work order's survey response has CSAT ≤ 2 or NPS 0-6 (rows without a response are not
                       labelled: the model estimates P(dissatisfied | the customer answers)).
    ``contact_again``  the same customer contacts the company again (any channel, mass-outage calls excluded) or
                       files a complaint within ``horizon_days`` after ``as_of``.

Model
    L2-regularised logistic regression fitted with ``scipy.optimize`` (L-BFGS, analytic gradient) on standardised
    features (mean / sd of the training rows). A case's contribution of feature *j* is ``coef_j · z_ij`` on the
    log-odds scale, so the top reasons of a case are its largest positive contributions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = [
    "FEATURES", "REASONS", "LONG_TICKET_MIN", "ONLINE_CHANNELS", "OFFLINE_CHANNELS",
    "LogisticModel", "Evaluation", "fit_logistic", "predict_proba", "predict_and_contributions", "contributions",
    "top_reasons", "reasons_from",
    "snapshots", "build_features", "labels", "auc", "brier", "reliability_curve", "top_decile_lift", "evaluate",
    "naive_score", "default_limits", "split_months", "outcome_rates",
]

LONG_TICKET_MIN = 240.0  # a work order open longer than this without a progress update counts as "no update"
ONLINE_CHANNELS = ("app", "wechat", "alipay", "web")
OFFLINE_CHANNELS = ("hotline", "hall", "rural_point")
_SERVICE_DUMMIES = ("repair", "billing", "payment", "meter", "connection", "reconnection", "complaint")
_CHANNEL_DUMMIES = ("hotline", "hall", "rural_point")
_SEGMENT_DUMMIES = ("commercial", "industrial", "agricultural")

# feature name -> reason code (the catalogue key is ``risk.reason.<code>``)
FEATURES: tuple[str, ...] = (
    "no_update_long", "arrival_vs_limit", "elapsed_vs_limit", "overdue", "repeat_contacts", "channel_switch",
    "outage", "vulnerable", "prior_dissatisfied", "prior_contacts_90d", "prior_complaint",
    "area_rural", "area_remote", "billing_hotline", "resolved",
    *(f"service_{s}" for s in _SERVICE_DUMMIES), *(f"channel_{c}" for c in _CHANNEL_DUMMIES),
    *(f"segment_{s}" for s in _SEGMENT_DUMMIES),
)
REASONS: dict[str, str] = {f: f for f in FEATURES}


# --- limits -------------------------------------------------------------------------------------------------------


def default_limits(policies: pd.DataFrame | None = None) -> pd.DataFrame:
    """The applicable limit of each service type × area class, in calendar minutes: ``arrival_min`` (repairs) and
    ``total_min`` (the whole work order).

    ``policies`` is a policy-pack frame (data.reference.sla_policies): arrival limits and the resolution limits it
    has (working days are converted at 7/5 calendar days each, a stated approximation); services without a limit in
    the pack get the defaults here (a repair's total = arrival + restoration; billing, payment and inquiry one
    working day; complaints 7 working days; reconnection 24 h).
    """
    wd = 1440.0 * 7 / 5
    rows = {  # service -> (arrival by area, total by area)
        "repair": ({"urban": 45.0, "rural": 90.0, "remote": 120.0}, {"urban": 225.0, "rural": 330.0, "remote": 360.0}),
        "billing": (None, wd), "payment": (None, wd), "inquiry": (None, wd), "reconnection": (None, 1440.0),
        "complaint": (None, 7 * wd), "meter": (None, 5 * wd), "connection_residential": (None, 5 * wd),
        "connection_lv": (None, 6 * wd), "connection_hv": (None, 22 * wd), "connection_hv_dual": (None, 32 * wd),
    }
    areas = ("urban", "rural", "remote")
    out = []
    for svc, (arr, tot) in rows.items():
        for a in areas:
            out.append({"service_type": svc, "area_class": a,
                        "arrival_min": (arr[a] if isinstance(arr, dict) else np.nan),
                        "total_min": (tot[a] if isinstance(tot, dict) else tot)})
    lim = pd.DataFrame(out)
    if policies is not None and len(policies):
        unit = {"minutes": 1.0, "hours": 60.0, "days": 1440.0, "working_days": wd}
        p = policies.copy()
        p["minutes"] = p["limit_value"].astype(float) * p["limit_unit"].map(unit).astype(float)
        for interval, col in (("arrival", "arrival_min"), ("resolution", "total_min")):
            sel = p[(p["interval"] == interval) & (p["segment"].isin(["*", "residential"]))]
            for r in sel.itertuples():
                m = (lim["service_type"] == r.service_type) & ((lim["area_class"] == r.area_class)
                                                                | (r.area_class == "*"))
                lim.loc[m, col] = r.minutes
    return lim


# --- snapshots and features ---------------------------------------------------------------------------------------


def snapshots(tickets: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, *, hour_utc: int = 0,
              recent_hours: float = 24.0, stride_days: int = 1) -> pd.DataFrame:
    """Morning snapshots in [start, end): one row per (work order, snapshot time ``as_of``) for every work order
    created by ``as_of`` and not resolved before ``as_of − recent_hours`` (00:00 UTC = 08:00 Beijing).

    Returns the ticket columns plus ``as_of``. Vectorised: each work order's range of snapshot days is computed,
    then expanded with ``np.repeat``.
    """
    day0 = pd.Timestamp(start).tz_convert("UTC").normalize() + pd.Timedelta(hours=hour_utc)
    if day0 < pd.Timestamp(start):
        day0 += pd.Timedelta(days=1)
    step = np.int64(stride_days) * 86_400
    t0 = day0.value // 10**9
    t_end = pd.Timestamp(end).value // 10**9
    if t0 >= t_end or tickets.empty:
        return tickets.iloc[0:0].assign(as_of=pd.Series(dtype="datetime64[ns, UTC]"))
    created = _secs(tickets["created_at"])
    resolved = _secs(tickets["resolved_at"])
    leave = np.where(np.isnan(resolved), np.inf, resolved + recent_hours * 3600.0)  # last moment in a snapshot
    first_k = np.ceil((created - t0) / step)
    first_k = np.maximum(first_k, 0)
    last_k = np.floor((np.minimum(leave, t_end - 1e-6) - t0) / step)
    # a snapshot exactly at the resolution + recent boundary is excluded (resolved_at > as_of - recent)
    on_edge = np.isfinite(leave) & ((t0 + last_k * step) >= leave)
    last_k = np.where(on_edge, last_k - 1, last_k)
    count = np.where(last_k >= first_k, last_k - first_k + 1, 0).astype(np.int64)
    rows = np.repeat(np.arange(len(tickets)), count)
    offs = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    k = np.repeat(first_k.astype(np.int64), count) + offs
    out = tickets.iloc[rows].reset_index(drop=True)
    out["as_of"] = pd.to_datetime((t0 + k * step) * 10**9, utc=True)
    return out


def _secs(col: pd.Series) -> np.ndarray:
    s = pd.to_datetime(col, utc=True)
    v = s.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float) / 1e9
    v[s.isna().to_numpy()] = np.nan
    return v


def _as_of_secs(rows: pd.DataFrame, as_of: pd.Timestamp | None) -> np.ndarray:
    if "as_of" in rows.columns:
        return _secs(rows["as_of"])
    if as_of is None:
        raise ValueError("as_of is required when the rows carry no as_of column")
    return np.full(len(rows), pd.Timestamp(as_of).value / 1e9)


def _per_row_counts(rows: pd.DataFrame, other: pd.DataFrame, other_time: str, lo: np.ndarray, hi: np.ndarray,
                    extra: pd.Series | None = None, value: str | None = None) -> np.ndarray:
    """For each row r: the number of ``other`` rows of the same customer with time in (lo_r, hi_r] (and
    ``extra`` true); with ``value``, the number of distinct values of that column among them."""
    n = len(rows)
    if n == 0 or other.empty:
        return np.zeros(n)
    left = pd.DataFrame({"_r": np.arange(n), "customer_id": rows["customer_id"].to_numpy(), "_lo": lo, "_hi": hi})
    left = left[left["customer_id"].notna()]
    cols = ["customer_id", other_time] + ([value] if value else [])
    right = other.loc[other["customer_id"].notna() & (extra if extra is not None else True), cols].copy()
    right["_t"] = _secs(right[other_time])
    right = right.drop(columns=[other_time])
    left["customer_id"] = left["customer_id"].astype("int64")
    right["customer_id"] = right["customer_id"].astype("int64")
    m = left.merge(right, on="customer_id", how="inner")
    m = m[(m["_t"] > m["_lo"]) & (m["_t"] <= m["_hi"])]
    out = np.zeros(n)
    if m.empty:
        return out
    agg = m.groupby("_r")[value].nunique() if value else m.groupby("_r").size()
    out[agg.index.to_numpy()] = agg.to_numpy()
    return out


def build_features(rows: pd.DataFrame, contacts: pd.DataFrame, responses: pd.DataFrame, history: pd.DataFrame,
                   limits: pd.DataFrame, as_of: pd.Timestamp | None = None) -> pd.DataFrame:
    """The feature matrix (columns :data:`FEATURES`, index aligned with ``rows``) as known at scoring time.

    ``rows``: work orders to score (id, customer_id, area_class, channel, service_type, segment, vulnerable, outage,
    progress_updates, created_at, arrived_at, resolved_at), each with its ``as_of`` column or one ``as_of`` for all.
    ``contacts``: customer_id, channel, queued_at, outage. ``responses``: ticket_id, customer_id, submitted_at, csat,
    nps. ``history``: work orders (id, customer_id, service_type, created_at; only complaints are used).
    Anything stamped after ``as_of`` is ignored; ``progress_updates`` is the counter as stored (see the model card).
    """
    n = len(rows)
    t = _as_of_secs(rows, as_of)
    created = _secs(rows["created_at"])
    arrived = _secs(rows["arrived_at"])
    resolved = _secs(rows["resolved_at"])
    arrived = np.where(arrived <= t, arrived, np.nan)  # not yet known at as_of
    resolved = np.where(resolved <= t, resolved, np.nan)
    end = np.where(np.isnan(resolved), t, resolved)
    elapsed = np.maximum(end - created, 0) / 60.0
    svc = rows["service_type"].astype(str).to_numpy()
    area = rows["area_class"].astype(str).to_numpy()
    ch = rows["channel"].astype(str).to_numpy()
    lim = limits.set_index(["service_type", "area_class"])
    key = pd.MultiIndex.from_arrays([svc, area])
    arr_lim = lim["arrival_min"].reindex(key).to_numpy(dtype=float)
    tot_lim = lim["total_min"].reindex(key).to_numpy(dtype=float)
    tot_lim = np.where(np.isnan(tot_lim), 1440.0, tot_lim)
    X = pd.DataFrame(index=rows.index)
    updates = pd.to_numeric(rows["progress_updates"], errors="coerce").fillna(0).to_numpy()
    X["no_update_long"] = ((updates <= 0) & (elapsed > LONG_TICKET_MIN)).astype(float)
    is_rep = (svc == "repair") & ~np.isnan(arr_lim)
    with np.errstate(divide="ignore", invalid="ignore"):
        arr_min = (arrived - created) / 60.0
        ratio_arrived = np.log(np.maximum(arr_min, 1.0) / arr_lim)
        ratio_waiting = np.maximum(np.log(np.maximum((t - created) / 60.0, 1.0) / arr_lim), 0.0)
    arr_feat = np.where(np.isnan(arrived), ratio_waiting, ratio_arrived)
    X["arrival_vs_limit"] = np.where(is_rep, np.clip(np.nan_to_num(arr_feat), -1.5, 2.0), 0.0)
    X["elapsed_vs_limit"] = np.log1p(elapsed / tot_lim)
    X["overdue"] = (elapsed > tot_lim).astype(float)
    c_ok = contacts["customer_id"].notna() if len(contacts) else None
    after_open = created + 60.0  # the opening contact is queued before the work order exists
    X["repeat_contacts"] = np.log1p(_per_row_counts(rows, contacts, "queued_at", after_open, t, c_ok))
    # a switch: a repeat contact through a channel other than the one the work order came in by
    switch = _switched(rows, contacts, after_open, t, ch) if len(contacts) else np.zeros(n)
    X["channel_switch"] = switch
    X["outage"] = rows["outage"].fillna(False).astype(bool).to_numpy().astype(float)
    X["vulnerable"] = rows["vulnerable"].fillna(False).astype(bool).to_numpy().astype(float)
    if len(responses):
        r = responses.copy()
        bad = ((pd.to_numeric(r["csat"], errors="coerce") <= 2) | (pd.to_numeric(r["nps"], errors="coerce") <= 6))
        X["prior_dissatisfied"] = (_per_row_counts(rows, r, "submitted_at", np.full(n, -np.inf), t,
                                                   bad.fillna(False)) > 0).astype(float)
    else:
        X["prior_dissatisfied"] = 0.0
    X["prior_contacts_90d"] = np.log1p(_per_row_counts(rows, contacts, "queued_at", created - 90 * 86400.0,
                                                       created - 60.0, c_ok))
    if len(history):
        comp = history["service_type"].astype(str) == "complaint"
        h = history.loc[comp, ["id", "customer_id", "created_at"]]
        # strictly before the work order was created (so a complaint work order does not count itself)
        cnt = _per_row_counts(rows, h, "created_at", created - 365 * 86400.0, np.minimum(t, created - 1.0), None)
        X["prior_complaint"] = (cnt > 0).astype(float)
    else:
        X["prior_complaint"] = 0.0
    X["area_rural"] = (area == "rural").astype(float)
    X["area_remote"] = (area == "remote").astype(float)
    X["billing_hotline"] = ((svc == "billing") & (ch == "hotline")).astype(float)
    X["resolved"] = (~np.isnan(resolved)).astype(float)
    svc_group = np.where(np.char.startswith(svc.astype(str), "connection"), "connection", svc)
    for s in _SERVICE_DUMMIES:
        X[f"service_{s}"] = (svc_group == s).astype(float)
    for c in _CHANNEL_DUMMIES:
        X[f"channel_{c}"] = (ch == c).astype(float)
    seg = rows["segment"].astype(str).to_numpy()
    for s in _SEGMENT_DUMMIES:
        X[f"segment_{s}"] = (seg == s).astype(float)
    return X[list(FEATURES)]


def _switched(rows: pd.DataFrame, contacts: pd.DataFrame, lo: np.ndarray, hi: np.ndarray, ch: np.ndarray
              ) -> np.ndarray:
    n = len(rows)
    left = pd.DataFrame({"_r": np.arange(n), "customer_id": rows["customer_id"].to_numpy(), "_lo": lo, "_hi": hi,
                         "_ch": ch})
    left = left[left["customer_id"].notna()]
    right = contacts.loc[contacts["customer_id"].notna(), ["customer_id", "queued_at", "channel"]].copy()
    right["_t"] = _secs(right["queued_at"])
    left["customer_id"] = left["customer_id"].astype("int64")
    right["customer_id"] = right["customer_id"].astype("int64")
    m = left.merge(right[["customer_id", "_t", "channel"]], on="customer_id", how="inner")
    m = m[(m["_t"] > m["_lo"]) & (m["_t"] <= m["_hi"]) & (m["channel"].astype(str) != m["_ch"])]
    out = np.zeros(n)
    out[m["_r"].unique()] = 1.0
    return out


def labels(rows: pd.DataFrame, contacts: pd.DataFrame, responses: pd.DataFrame, history: pd.DataFrame,
           horizon_days: float = 7.0) -> pd.DataFrame:
    """Outcomes after each row's ``as_of``: ``dissatisfied`` (1/0, NaN without a response) and ``contact_again``
    (1/0). Contacts of a mass outage do not count; a complaint work order of the customer does."""
    t = _secs(rows["as_of"])
    hi = t + horizon_days * 86400.0
    out = pd.DataFrame(index=rows.index)
    if len(responses):
        r = responses.sort_values("submitted_at").drop_duplicates("ticket_id")
        r = r.set_index("ticket_id")
        bad = ((pd.to_numeric(r["csat"], errors="coerce") <= 2) | (pd.to_numeric(r["nps"], errors="coerce") <= 6))
        has = r["csat"].notna() | r["nps"].notna()
        lab = bad.astype(float).where(has)
        out["dissatisfied"] = rows["id"].map(lab).to_numpy(dtype=float)
    else:
        out["dissatisfied"] = np.nan
    c_ok = (contacts["customer_id"].notna() & ~contacts["outage"].fillna(False).astype(bool)) if len(contacts) else None
    again = _per_row_counts(rows, contacts, "queued_at", t, hi, c_ok)
    comp = history[history["service_type"].astype(str) == "complaint"][["customer_id", "created_at"]]
    again = again + _per_row_counts(rows, comp, "created_at", t, hi, None)
    out["contact_again"] = (again > 0).astype(float)
    return out


# --- the model ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogisticModel:
    """An L2-regularised logistic regression on standardised features."""

    target: str
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    l2: float
    n_train: int
    positives: int
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "features": list(self.features), "mean": list(self.mean),
                "scale": list(self.scale), "coef": list(self.coef), "intercept": self.intercept, "l2": self.l2,
                "n_train": self.n_train, "positives": self.positives, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogisticModel:
        return cls(d["target"], tuple(d["features"]), tuple(d["mean"]), tuple(d["scale"]), tuple(d["coef"]),
                   float(d["intercept"]), float(d["l2"]), int(d["n_train"]), int(d["positives"]), dict(d.get("meta", {})))

    def standardise(self, X: pd.DataFrame) -> np.ndarray:
        A = X[list(self.features)].to_numpy(dtype=float)
        return (A - np.asarray(self.mean)) / np.asarray(self.scale)


def fit_logistic(X: pd.DataFrame, y: np.ndarray | pd.Series, *, l2: float = 1.0, target: str = "y",
                 weights: np.ndarray | None = None) -> LogisticModel:
    """Maximise the (weighted) log-likelihood minus ``l2/2·‖coef‖²`` (the intercept is not penalised) on features
    standardised with the training mean and sd (constant columns get sd 1 and, penalised, coefficient 0)."""
    yy = np.asarray(y, dtype=float)
    keep = ~np.isnan(yy)
    A = X.to_numpy(dtype=float)[keep]
    yy = yy[keep]
    w = np.ones(len(yy)) if weights is None else np.asarray(weights, dtype=float)[keep]
    mean = A.mean(axis=0)
    sd = A.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    Z = (A - mean) / sd
    wsum = w.sum()
    p0 = float(np.clip(np.average(yy, weights=w), 1e-6, 1 - 1e-6))
    theta0 = np.concatenate([[math.log(p0 / (1 - p0))], np.zeros(Z.shape[1])])

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = theta[0] + Z @ theta[1:]
        # log(1 + e^eta) - y·eta, stable
        ll = np.logaddexp(0.0, eta) - yy * eta
        f = float(w @ ll) / wsum + 0.5 * l2 * float(theta[1:] @ theta[1:]) / wsum
        r = w * (_sigmoid(eta) - yy) / wsum
        g = np.concatenate([[r.sum()], Z.T @ r + l2 * theta[1:] / wsum])
        return f, g

    res = optimize.minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500, "gtol": 1e-8})
    th = res.x
    return LogisticModel(target, tuple(X.columns), tuple(float(v) for v in mean), tuple(float(v) for v in sd),
                         tuple(float(v) for v in th[1:]), float(th[0]), float(l2), int(len(yy)), int(yy.sum()),
                         {"converged": bool(res.success), "iterations": int(res.nit)})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))


def predict_proba(model: LogisticModel, X: pd.DataFrame) -> np.ndarray:
    return _sigmoid(model.intercept + model.standardise(X) @ np.asarray(model.coef))


def predict_and_contributions(model: LogisticModel, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """:func:`predict_proba` and :func:`contributions` (as an array) from one standardisation of ``X``."""
    Z = model.standardise(X)
    coef = np.asarray(model.coef)
    return _sigmoid(model.intercept + Z @ coef), Z * coef


def contributions(model: LogisticModel, X: pd.DataFrame) -> pd.DataFrame:
    """coef × standardised value for each case and feature (log-odds relative to an average training case)."""
    return pd.DataFrame(model.standardise(X) * np.asarray(model.coef), index=X.index, columns=list(model.features))


def top_reasons(model: LogisticModel, X: pd.DataFrame, k: int = 3, min_logit: float = 0.05) -> list[tuple[str, ...]]:
    """The reason codes of each case: its ``k`` largest positive contributions above ``min_logit``; a case with
    none gets its single largest contribution, so every case has at least one reason."""
    return reasons_from(contributions(model, X), k, min_logit)


def reasons_from(contrib: pd.DataFrame, k: int = 3, min_logit: float = 0.05) -> list[tuple[str, ...]]:
    """:func:`top_reasons` for a contributions frame (e.g. the larger of two models' contributions)."""
    C = contrib.to_numpy(dtype=float)
    names = np.array([REASONS.get(f, f) for f in contrib.columns], dtype=object)
    if C.size == 0:
        return [() for _ in range(len(contrib))]
    order = _top_k(C, min(k, C.shape[1]))
    top = np.take_along_axis(C, order, axis=1)
    ok = top > min_logit
    ok[:, 0] = True  # every case keeps its strongest reason
    # the distinct (reasons, kept) patterns are few: build each tuple once, then hand them out by pattern
    pattern = np.where(ok, order, -1) + 1
    code = np.zeros(len(C), dtype=np.int64)
    for j in range(pattern.shape[1]):
        code = code * (C.shape[1] + 1) + pattern[:, j]
    _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
    tuples = [tuple(names[order[i][ok[i]]]) for i in first]
    return [tuples[i] for i in inverse.tolist()]


def _top_k(C: np.ndarray, k: int) -> np.ndarray:
    """The column indices of each row's ``k`` largest values, largest first, ties by lower index: the first ``k``
    of a stable argsort of ``-C``, by ``k`` arg-max passes when every value is finite."""
    if not np.isfinite(C).all():
        return np.argsort(-C, axis=1, kind="stable")[:, :k]
    W = C.copy()
    rows = np.arange(len(C))
    order = np.empty((len(C), k), dtype=np.intp)
    for j in range(k):
        order[:, j] = W.argmax(axis=1)  # the first maximum: the lower index among ties
        W[rows, order[:, j]] = -np.inf
    return order


# --- evaluation ---------------------------------------------------------------------------------------------------


def naive_score(X: pd.DataFrame) -> np.ndarray:
    """"Longest waiting first": the elapsed time against the limit (monotone in the elapsed time per service)."""
    return X["elapsed_vs_limit"].to_numpy(dtype=float)


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve = the Mann-Whitney probability that a positive outranks a negative (ties ½)."""
    y = np.asarray(y, dtype=float)
    s = np.asarray(score, dtype=float)
    pos = y == 1
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = stats.rankdata(s)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    y = np.asarray(y, dtype=float)
    return float(np.mean((np.asarray(p, dtype=float) - y) ** 2))


def reliability_curve(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Equal-count bins of the predicted probability: mean predicted, observed share, n, and the Wilson interval
    of the observed share (for the calibration chart)."""
    from metrics.intervals import wilson_interval  # noqa: PLC0415 - a sibling pure module

    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    if len(p) == 0:
        return pd.DataFrame(columns=["bin", "predicted", "observed", "n", "low", "high"])
    q = pd.qcut(pd.Series(p).rank(method="first"), q=min(bins, len(p)), labels=False)
    df = pd.DataFrame({"bin": q.to_numpy(), "p": p, "y": y})
    g = df.groupby("bin").agg(predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"), x=("y", "sum"))
    ci = wilson_interval(g["x"].to_numpy(), g["n"].to_numpy())
    g["low"], g["high"] = ci.low, ci.high
    return g.reset_index()[["bin", "predicted", "observed", "n", "low", "high"]]


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """Outcome rate among the top 10 % of scores ÷ the overall rate (ties broken by position, stable)."""
    y = np.asarray(y, dtype=float)
    if len(y) == 0 or y.mean() == 0:
        return float("nan")
    k = max(1, int(math.ceil(len(y) * 0.1)))
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")[:k]
    return float(y[order].mean() / y.mean())


@dataclass(frozen=True)
class Evaluation:
    target: str
    n: int
    positives: int
    base_rate: float
    auc: float
    brier: float
    brier_base: float  # the Brier score of always predicting the training base rate
    lift: float
    naive_auc: float
    naive_lift: float
    calibration_gap: float  # mean predicted − observed share
    ece: float  # expected calibration error over the reliability bins
    curve: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "n": self.n, "positives": self.positives, "base_rate": self.base_rate,
                "auc": self.auc, "brier": self.brier, "brier_base": self.brier_base, "lift": self.lift,
                "naive_auc": self.naive_auc, "naive_lift": self.naive_lift,
                "calibration_gap": self.calibration_gap, "ece": self.ece,
                "curve": self.curve.to_dict(orient="list")}


def evaluate(model: LogisticModel, X: pd.DataFrame, y: np.ndarray, train_rate: float | None = None,
             bins: int = 10) -> Evaluation:
    yy = np.asarray(y, dtype=float)
    keep = ~np.isnan(yy)
    Xk, yy = X.loc[keep], yy[keep]
    p = predict_proba(model, Xk)
    naive = naive_score(Xk)
    curve = reliability_curve(yy, p, bins)
    rate = float(train_rate if train_rate is not None else model.positives / max(model.n_train, 1))
    ece = float((curve["n"] * (curve["predicted"] - curve["observed"]).abs()).sum() / max(len(yy), 1))
    return Evaluation(model.target, int(len(yy)), int(yy.sum()), float(yy.mean()) if len(yy) else float("nan"),
                      auc(yy, p), brier(yy, p), brier(yy, np.full(len(yy), rate)), top_decile_lift(yy, p),
                      auc(yy, naive), top_decile_lift(yy, naive), float(p.mean() - yy.mean()) if len(yy) else float("nan"),
                      ece, curve)


def split_months(as_of: pd.Series, test_months: int = 1, horizon_days: float = 7.0,
                 data_end: pd.Timestamp | None = None) -> tuple[np.ndarray, np.ndarray, pd.Timestamp, pd.Timestamp]:
    """Train on earlier months, test on the latest month(s) whose outcomes can be judged.

    The test window is the last ``test_months`` whole calendar months (Beijing time) ending at least
    ``horizon_days`` before ``data_end``; training rows are those whose outcome window closes before the test
    window starts (so no outcome seen in training lies in the test period). Returns (train mask, test mask, test
    start, test end)."""
    t = pd.to_datetime(as_of, utc=True)
    end = pd.Timestamp(data_end) if data_end is not None else t.max()
    last_judgeable = (end - pd.Timedelta(days=horizon_days)).tz_convert("Asia/Shanghai")
    month_end = last_judgeable.normalize().replace(day=1)  # start of the month containing it (exclusive end)
    if (last_judgeable + pd.Timedelta(days=1)).month != last_judgeable.month:
        month_end = (last_judgeable + pd.Timedelta(days=1)).normalize()
    test_end = month_end.tz_convert("UTC")
    test_start = (month_end - pd.DateOffset(months=test_months)).tz_convert("UTC")
    train = (t + pd.Timedelta(days=horizon_days) < test_start).to_numpy()
    test = ((t >= test_start) & (t < test_end)).to_numpy()
    return train, test, test_start, test_end


# --- proactive outcomes -------------------------------------------------------------------------------------------


def outcome_rates(counts: pd.DataFrame) -> pd.DataFrame:
    """Complaint and dissatisfaction rates of contacted vs not-contacted cases with Wilson 95 % intervals.

    ``counts``: one row per group with ``group``, ``n`` (work orders), ``complaints``, ``responses``,
    ``dissatisfied``. Returns group, measure (complaint | dissatisfied), x, n, rate, low, high. Observational: the
    contacted cases were chosen for their risk, so a difference is not an effect of the call.
    """
    from metrics.intervals import wilson_interval  # noqa: PLC0415

    parts = []
    for measure, x, n in (("complaint", "complaints", "n"), ("dissatisfied", "dissatisfied", "responses")):
        xs = counts[x].to_numpy(dtype=float)
        ns = counts[n].to_numpy(dtype=float)
        ci = wilson_interval(xs, ns)
        parts.append(pd.DataFrame({"group": counts["group"].to_numpy(), "measure": measure, "x": xs, "n": ns,
                                   "rate": np.atleast_1d(ci.estimate), "low": np.atleast_1d(ci.low),
                                   "high": np.atleast_1d(ci.high)}))
    return pd.concat(parts, ignore_index=True)
