"""Proactive follow-up (主动回访): train the risk models, score open work, route the riskiest cases to the queue.

``python -m surveys.proactive train [--horizon 7] [--l2 1.0] [--card docs/model-card.md]``
    reads the whole history, builds morning snapshots (metrics.risk.snapshots), trains both models on the earlier
    months and evaluates them on the latest judgeable month beside "longest waiting first", then refits on all
    judgeable rows and stores the coefficients, the evaluation and the data window as JSON in ``site_setting``
    (key ``risk.model``) and writes the model card.
``python -m surveys.proactive score [--top 20] [--no-route] [--as-of ISO]``
    scores the open work (and work resolved in the last 24 h) as of min(now, the latest work order) and routes the
    ``top`` highest-risk cases without an unclosed follow-up into ``follow_up`` (proactive, reasons in notes, risk
    score, owner = the ticket team's lead). ``python -m surveys risk ...`` is the same command.

Exit codes: 0 success, 2 configuration or data problem (one line on stderr), 3 no trained model.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, insert, select

from data.models import UTC, FollowUp, SiteSetting
from data.reference import sla_policies
from data.repositories import Scope
from data.repositories.customers import customer_profiles
from data.repositories.risk import (
    customer_context,
    latest_activity,
    open_work,
    risk_contacts,
    risk_responses,
    risk_tickets,
)
from metrics import risk
from metrics.profiles import outreach_channel, summarise_profiles
from surveys.followups import due_at

MODEL_KEY = "risk.model"
CARD_PATH = Path(__file__).resolve().parents[1] / "docs" / "model-card.md"
TARGETS = ("dissatisfied", "contact_again")
POLICY_PACK = "state_grid_2023"


class NoModel(RuntimeError):
    """No trained model is stored yet."""


@dataclass(frozen=True)
class Trained:
    models: dict[str, risk.LogisticModel]
    evaluations: dict[str, risk.Evaluation]
    window: dict[str, str]
    rows: dict[str, int]
    horizon_days: float
    seconds: float


def roots(engine: Engine) -> list[Scope]:
    """The top regions' scopes (the command line works on everything)."""
    from data.models import Region

    with engine.connect() as conn:
        paths = conn.execute(select(Region.path).where(Region.parent_id.is_(None)).order_by(Region.path)).scalars()
        return [Scope(p) for p in paths]


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)] or frames[:1]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


@functools.lru_cache(maxsize=4)
def _limits(pack: str) -> pd.DataFrame:
    return risk.default_limits(sla_policies(pack))


def limits() -> pd.DataFrame:
    """The applicable limits of the policy pack (read once per process; a copy, so callers cannot change it)."""
    return _limits(POLICY_PACK).copy()


def training_frame(engine: Engine, horizon_days: float = 7.0, stride_days: int = 1,
                   scopes: list[Scope] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Morning snapshots over the whole history with features and labels; returns (X, y, rows, data end)."""
    far = dt.datetime(1900, 1, 1, tzinfo=UTC), dt.datetime(2999, 1, 1, tzinfo=UTC)
    scopes = scopes or roots(engine)
    tickets = _concat([risk_tickets(engine, s, *far) for s in scopes])
    if tickets.empty:
        raise ValueError("no work orders to train on")
    contacts = _concat([risk_contacts(engine, s, *far) for s in scopes])
    responses = _concat([risk_responses(engine, s, *far) for s in scopes])
    data_end = max(tickets["created_at"].max(), contacts["queued_at"].max() if len(contacts) else tickets[
        "created_at"].max())
    rows = risk.snapshots(tickets, tickets["created_at"].min(), data_end, stride_days=stride_days)
    X = risk.build_features(rows, contacts, responses, tickets, limits())
    y = risk.labels(rows, contacts, responses, tickets, horizon_days)
    # an outcome window that reaches past the data is not judgeable
    judge = (rows["as_of"] + pd.Timedelta(days=horizon_days) <= data_end).to_numpy()
    y.loc[~judge, "contact_again"] = np.nan
    return X, y, rows, data_end


def train(engine: Engine, *, horizon_days: float = 7.0, l2: float = 1.0, stride_days: int = 1,
          card: Path | None = CARD_PATH, now: dt.datetime | None = None) -> Trained:
    """Fit on earlier months, evaluate on the latest judgeable month, refit on everything judgeable, store."""
    import time

    t0 = time.perf_counter()
    X, y, rows, data_end = training_frame(engine, horizon_days, stride_days)
    train_m, test_m, test_start, test_end = risk.split_months(rows["as_of"], 1, horizon_days, data_end)
    models: dict[str, risk.LogisticModel] = {}
    evals: dict[str, risk.Evaluation] = {}
    counts: dict[str, int] = {}
    for target in TARGETS:
        yt = y[target].to_numpy()
        held = risk.fit_logistic(X.loc[train_m], yt[train_m], l2=l2, target=target)
        evals[target] = risk.evaluate(held, X.loc[test_m], yt[test_m])
        # the stored model: refit on every row whose outcome is known before the data end
        models[target] = risk.fit_logistic(X, yt, l2=l2, target=target)
        counts[f"{target}_train"] = int((~np.isnan(yt[train_m])).sum())
        counts[f"{target}_test"] = int((~np.isnan(yt[test_m])).sum())
        counts[f"{target}_final"] = int((~np.isnan(yt)).sum())
    window = {"first_snapshot": rows["as_of"].min().isoformat(), "data_end": pd.Timestamp(data_end).isoformat(),
              "test_start": test_start.isoformat(), "test_end": test_end.isoformat(),
              "trained_at": (now or dt.datetime.now(UTC)).isoformat()}
    trained = Trained(models, evals, window, {"snapshots": len(rows), **counts}, horizon_days,
                      round(time.perf_counter() - t0, 2))
    save(engine, trained)
    if card is not None:
        card.parent.mkdir(parents=True, exist_ok=True)
        card.write_text(model_card(trained), encoding="utf-8")
    return trained


def save(engine: Engine, trained: Trained) -> None:
    payload = {"version": 1, "horizon_days": trained.horizon_days, "window": trained.window, "rows": trained.rows,
               "models": {k: m.to_dict() for k, m in trained.models.items()},
               "evaluation": {k: e.to_dict() for k, e in trained.evaluations.items()},
               "policy_pack": POLICY_PACK}
    text = json.dumps(payload, ensure_ascii=False, default=_json_default)
    with engine.begin() as conn:
        exists = conn.execute(select(SiteSetting.key).where(SiteSetting.key == MODEL_KEY)).first()
        if exists:
            from sqlalchemy import update

            conn.execute(update(SiteSetting).where(SiteSetting.key == MODEL_KEY).values(value=text))
        else:
            conn.execute(insert(SiteSetting).values(key=MODEL_KEY, value=text))


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return None if np.isnan(v) else float(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def load(engine: Engine) -> dict[str, Any]:
    """The stored payload (models as :class:`metrics.risk.LogisticModel` under ``models``)."""
    with engine.connect() as conn:
        raw = conn.execute(select(SiteSetting.value).where(SiteSetting.key == MODEL_KEY)).scalar_one_or_none()
    if not raw:
        raise NoModel("no risk model trained yet: run `python -m surveys.proactive train`")
    payload = json.loads(raw)
    payload["models"] = {k: risk.LogisticModel.from_dict(v) for k, v in payload["models"].items()}
    return payload


RETRAIN_AFTER = dt.timedelta(days=7)


def model_age(engine: Engine, now: dt.datetime | None = None) -> dt.timedelta | None:
    """How long ago the stored model was trained (None: no model yet)."""
    try:
        trained_at = dt.datetime.fromisoformat(str(load(engine)["window"]["trained_at"]))
    except NoModel:
        return None
    return (now or dt.datetime.now(UTC)) - trained_at


def due_for_training(engine: Engine, now: dt.datetime | None = None, every: dt.timedelta = RETRAIN_AFTER) -> bool:
    """True when there is no model yet or the stored one is older than ``every`` (the weekly schedule the product
    keeps by itself; `python -m surveys risk train` from a scheduler does the same at a time the site chooses)."""
    age = model_age(engine, now)
    return age is None or age >= every


# --- scoring ------------------------------------------------------------------------------------------------------


def scoring_time(engine: Engine, scope: Scope, now: dt.datetime | None = None) -> dt.datetime:
    """min(now, the latest work order in scope): stale data is scored as of its own end, not the wall clock."""
    now = now or dt.datetime.now(UTC)
    latest = latest_activity(engine, scope)
    return now if latest is None else min(now, latest)


def score(engine: Engine, scope: Scope, *, as_of: dt.datetime | None = None, recent_hours: float = 24.0,
          payload: dict[str, Any] | None = None) -> pd.DataFrame:
    """Score the open work in scope as of ``as_of``: one row per work order with ``p_dissatisfied``,
    ``p_contact_again``, ``risk`` (= 1 − (1 − p₁)(1 − p₂), the chance of either, treating them as independent),
    ``reasons`` (reason codes, strongest first, from both models), and the ticket columns; riskiest first."""
    payload = payload or load(engine)
    as_of = as_of or scoring_time(engine, scope)
    work = open_work(engine, scope, as_of, recent_hours)
    if work.empty:
        return work.assign(p_dissatisfied=[], p_contact_again=[], risk=[], reasons=[])
    first = work["created_at"].min().to_pydatetime() - dt.timedelta(days=90)
    ctx = customer_context(engine, scope, as_of, work["customer_id"].dropna().astype(int).unique().tolist(),
                           since=max(first, as_of - dt.timedelta(days=180)))
    return score_frame(work, ctx, payload["models"], as_of)


def score_frame(work: pd.DataFrame, ctx: dict[str, pd.DataFrame], models: dict[str, risk.LogisticModel],
                as_of: dt.datetime, k: int = 3) -> pd.DataFrame:
    """The pure part of :func:`score` (features, probabilities, reasons) for frames already read."""
    X = risk.build_features(work, ctx["contacts"], ctx["responses"], ctx["history"], limits(), pd.Timestamp(as_of))
    out = work.copy()
    md, mc = models["dissatisfied"], models["contact_again"]
    pd_, cd = risk.predict_and_contributions(md, X)
    pc_, cc = risk.predict_and_contributions(mc, X)
    out["p_dissatisfied"] = pd_
    out["p_contact_again"] = pc_
    out["risk"] = 1 - (1 - out["p_dissatisfied"]) * (1 - out["p_contact_again"])
    # reasons from both models, the larger contribution first, no repeats
    both = np.maximum(cd, cc)
    out["reasons"] = risk.reasons_from(pd.DataFrame(both, index=X.index, columns=list(md.features)), k=k)
    out["elapsed_min"] = ((pd.Timestamp(as_of) - out["created_at"]).dt.total_seconds() / 60.0).round(1)
    out["as_of"] = pd.Timestamp(as_of)
    return out.sort_values(["risk", "id"], ascending=[False, True]).reset_index(drop=True)


def route(engine: Engine, scored: pd.DataFrame, top: int = 20, now: dt.datetime | None = None) -> list[int]:
    """Put the ``top`` riskiest scored cases without an unclosed follow-up for their ticket into ``follow_up``
    (reason ``proactive``, proactive = true, risk score, reasons and the outreach channel in notes, owner = the
    ticket team's lead). Returns the ticket ids routed; the check for an existing follow-up is repeated inside the
    transaction, so two runs never duplicate a case."""
    now = now or dt.datetime.now(UTC)
    cand = scored.loc[~scored["open_follow_up"]].head(top)
    if cand.empty:
        return []
    cust_ids = cand["customer_id"].dropna().astype(int).unique().tolist()
    channels = {}
    if cust_ids:
        prof = summarise_profiles({
            k: _concat([customer_profiles(engine, s, cust_ids)[k] for s in roots(engine)])
            for k in ("customers", "channels")})
        channels = dict(zip(prof["customer_id"], outreach_channel(prof), strict=False))
    routed: list[int] = []
    with engine.begin() as conn:
        for row in cand.itertuples():  # at most `top` rows
            taken = conn.execute(select(FollowUp.id).where(FollowUp.ticket_id == int(row.id),
                                                           FollowUp.status != "closed")).first()
            if taken:
                continue
            sev = "high" if row.risk >= 0.6 else "medium" if row.risk >= 0.35 else "low"
            cid = None if pd.isna(row.customer_id) else int(row.customer_id)
            notes = (f"proactive risk {row.risk:.2f} (dissatisfied {row.p_dissatisfied:.2f}, contact again "
                     f"{row.p_contact_again:.2f}); reasons: {', '.join(row.reasons)}; "
                     f"channel: {channels.get(cid, 'sms')}")
            conn.execute(insert(FollowUp).values(
                ticket_id=int(row.id), customer_id=cid, region_id=int(row.region_id), reason="proactive",
                severity=sev, owner_staff_id=None if pd.isna(row.lead_staff_id) else int(row.lead_staff_id),
                created_at=now, due_at=due_at(sev, now), status="open", escalation_level=0, proactive=True,
                risk_score=float(round(row.risk, 4)), notes=notes))
            routed.append(int(row.id))
    return routed


# --- the model card -----------------------------------------------------------------------------------------------


def model_card(tr: Trained) -> str:
    w = tr.window
    lines = [
        "# Model card: proactive follow-up risk (issue 9)", "",
        "_Written by `python -m surveys.proactive train`; do not edit by hand._", "",
        "## What it predicts", "",
        "For each open work order (and each resolved in the last 24 h) at a morning scoring time, two probabilities:",
        "",
        "* **dissatisfied** — the customer's survey answer will have CSAT ≤ 2 or NPS 0-6 (given that they answer);",
        f"* **contact_again** — the customer contacts us again (any channel; mass-outage calls excluded) or files a "
        f"complaint within {tr.horizon_days:g} days.",
        "",
        "The queue ranks by the chance of either, 1 − (1 − p₁)(1 − p₂) (the two treated as independent).", "",
        "## Data window", "",
        f"* snapshots from {w['first_snapshot']} to the data end {w['data_end']} (one each morning, 08:00 Beijing);",
        f"* held-out test month: {w['test_start']} – {w['test_end']} (training rows end {tr.horizon_days:g} days "
        "before it, so no training outcome lies in the test period);",
        f"* rows: {json.dumps(tr.rows)}; trained at {w['trained_at']} in {tr.seconds:g} s.", "",
        "## Model", "",
        "L2-regularised logistic regression (scipy L-BFGS) on standardised features; a case's reasons are its largest "
        "positive contributions coef × standardised value (log-odds against an average training case). The stored "
        "model is refitted on every judgeable row after the evaluation.", "",
        "## Features (all known at the scoring time)", "",
        "| feature | meaning | coef (dissatisfied) | coef (contact again) |", "|---|---|---|---|",
    ]
    md, mc = tr.models["dissatisfied"], tr.models["contact_again"]
    for i, f in enumerate(md.features):
        lines.append(f"| `{f}` | {FEATURE_DOC.get(f, f)} | {md.coef[i]:+.3f} | {mc.coef[i]:+.3f} |")
    lines += ["", "## Held-out metrics", "",
              "| target | n | base rate | AUC | naive AUC | Brier | Brier (base rate) | top-decile lift | naive lift "
              "| calibration gap | ECE |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t_, e in tr.evaluations.items():
        lines.append(f"| {t_} | {e.n} | {e.base_rate:.3f} | {e.auc:.3f} | {e.naive_auc:.3f} | {e.brier:.4f} | "
                     f"{e.brier_base:.4f} | {e.lift:.2f} | {e.naive_lift:.2f} | {e.calibration_gap:+.3f} | "
                     f"{e.ece:.3f} |")
    lines += ["", "Naive rule = \"longest waiting first\": the elapsed time against the applicable limit. Lift = the "
              "outcome rate in the top 10 % ÷ the overall rate. ECE = count-weighted mean |predicted − observed| over "
              "ten equal-count bins.", "",
              "## Known limits", "",
              "* `progress_updates` is a counter without timestamps: in training its final value stands for the value "
              "at each snapshot, so a work order updated later looks updated earlier (this flatters the no-update "
              "feature slightly; at scoring time the counter is current). Reopen counts are left out for the same "
              "reason.",
              "* Working-day limits are converted at 7/5 calendar days per working day.",
              "* The dissatisfaction model learns only from customers who answer surveys (non-response is not "
              "modelled); long work orders appear in many snapshots, as they do in the morning queue.",
              "* The held-out month is one month: its AUC has a standard error of a few hundredths on the S demo.",
              "* Handling staff are deliberately not a feature. Outcomes of contacted vs not-contacted cases are "
              "observational: contacted cases were chosen because they were at risk.", ""]
    return "\n".join(lines)


FEATURE_DOC = {
    "no_update_long": "open > 4 h and no progress update so far",
    "arrival_vs_limit": "repairs: log(arrival time / arrival limit); still waiting: log of the wait so far, ≥ 0",
    "elapsed_vs_limit": "log(1 + elapsed / the applicable total limit)",
    "overdue": "elapsed beyond the applicable limit",
    "repeat_contacts": "log(1 + contacts of the customer since the work order opened)",
    "channel_switch": "a repeat contact through another channel than the work order's",
    "outage": "linked to a mass-outage event",
    "vulnerable": "customer flagged vulnerable (elderly, disabled, ...)",
    "prior_dissatisfied": "an earlier survey answer of the customer was dissatisfied",
    "prior_contacts_90d": "log(1 + the customer's contacts in the 90 days before the work order)",
    "prior_complaint": "the customer filed a complaint in the year before",
    "area_rural": "rural area", "area_remote": "remote area",
    "billing_hotline": "a billing question raised through the hotline",
    "resolved": "already resolved at the scoring time (waiting for closure/survey)",
}


# --- command line -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m surveys.proactive", description="GridCX proactive risk")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train and evaluate both models, store them, write the model card")
    p.add_argument("--horizon", type=float, default=7.0, help="days for 'contacts again' (default 7)")
    p.add_argument("--l2", type=float, default=1.0)
    p.add_argument("--stride", type=int, default=1, help="days between training snapshots (default 1)")
    p.add_argument("--card", type=Path, default=CARD_PATH)
    p = sub.add_parser("score", help="score open work and route the riskiest to the follow-up queue")
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--no-route", action="store_true", help="only print, do not open follow-ups")
    p.add_argument("--as-of", type=dt.datetime.fromisoformat, help="scoring time (ISO, UTC if naive)")
    p.add_argument("--recent-hours", type=float, default=24.0)
    args = parser.parse_args(argv)
    from data.engine import DatabaseConfigError, get_engine

    try:
        engine = get_engine(check=True)
        if args.command == "train":
            tr = train(engine, horizon_days=args.horizon, l2=args.l2, stride_days=args.stride, card=args.card)
            for t_, e in tr.evaluations.items():
                print(f"{t_}: n={e.n} AUC {e.auc:.3f} (naive {e.naive_auc:.3f}) Brier {e.brier:.4f} "
                      f"(base {e.brier_base:.4f}) top-decile lift {e.lift:.2f} (naive {e.naive_lift:.2f})")
            print(f"model stored in site_setting[{MODEL_KEY}]; card {args.card}")
            return 0
        as_of = args.as_of
        if as_of is not None and as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=UTC)
        payload = load(engine)
        scored = _concat([score(engine, s, as_of=as_of, recent_hours=args.recent_hours, payload=payload)
                          for s in roots(engine)])
        scored = scored.sort_values(["risk", "id"], ascending=[False, True]).reset_index(drop=True)
        routed = [] if args.no_route else route(engine, scored, args.top)
        show = scored.head(args.top)
        for r in show.itertuples():
            mark = "→" if int(r.id) in routed else " "
            print(f"{mark} {r.external_no} risk {r.risk:.2f} (dissatisfied {r.p_dissatisfied:.2f}, contact again "
                  f"{r.p_contact_again:.2f}) {', '.join(r.reasons)}")
        print(f"scored {len(scored)} work orders; routed {len(routed)} to the follow-up queue")
        return 0
    except NoModel as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except (DatabaseConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
