"""metrics.risk and metrics.profiles on hand-made frames: hand-computed metrics, the fit against a known truth,
snapshots, no leakage from after the scoring time, reasons for every case, the outreach rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metrics import risk
from metrics.profiles import outreach_channel, summarise_profiles

UTC = "UTC"


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz=UTC)


def test_auc_brier_lift_by_hand() -> None:
    # the textbook ROC example: 3 of the 4 positive/negative pairs are ordered correctly
    assert risk.auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert risk.auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)  # a tie counts one half
    assert risk.brier(np.array([1, 0]), np.array([0.8, 0.3])) == pytest.approx((0.04 + 0.09) / 2)
    y = np.array([1] + [0] * 9 + [1] * 2 + [0] * 8)  # 3 of 20 positive; the top 2 scores hold 1 positive
    score = np.arange(20, 0, -1, dtype=float)
    assert risk.top_decile_lift(y, score) == pytest.approx((1 / 2) / (3 / 20))


def test_fit_recovers_a_known_truth() -> None:
    rng = np.random.default_rng(3)
    n = 40_000
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.binomial(1, 0.3, n).astype(float), "c": rng.normal(size=n)})
    eta = -1.0 + 0.8 * X["a"] + 1.5 * X["b"]  # c has no effect
    y = rng.random(n) < 1 / (1 + np.exp(-eta))
    m = risk.fit_logistic(X, y.to_numpy(), l2=1e-6)
    raw = np.asarray(m.coef) / np.asarray(m.scale)  # back to the raw scale
    assert raw[0] == pytest.approx(0.8, abs=0.05)
    assert raw[1] == pytest.approx(1.5, abs=0.07)
    assert abs(raw[2]) < 0.05
    again = risk.fit_logistic(X, y.to_numpy(), l2=1e-6)
    assert again.coef == m.coef  # deterministic
    assert risk.LogisticModel.from_dict(m.to_dict()) == m


def test_snapshots_follow_each_morning() -> None:
    t = pd.DataFrame({"id": [1, 2, 3],
                      "created_at": [ts("2026-01-01 10:00"), ts("2026-01-01 23:00"), ts("2026-01-02 01:00")],
                      "resolved_at": [ts("2026-01-01 12:00"), ts("2026-01-04 05:00"), pd.NaT]})
    s = risk.snapshots(t, ts("2026-01-01"), ts("2026-01-06"))
    got = {(int(i), a.strftime("%m-%d")) for i, a in zip(s["id"], s["as_of"], strict=True)}
    # 1: resolved 12:00, seen the next morning only; 2: mornings 02..04 (resolved 04 05:00, so 05 00:00 counts as
    # within 24 h); 3: never resolved, every morning from 03 to 05
    assert got == {(1, "01-02"), (2, "01-02"), (2, "01-03"), (2, "01-04"), (2, "01-05"),
                   (3, "01-03"), (3, "01-04"), (3, "01-05")}


def _world() -> dict[str, pd.DataFrame]:
    rows = pd.DataFrame({
        "id": [1, 2, 3], "customer_id": [10, 20, 30], "area_class": ["rural", "urban", "remote"],
        "channel": ["hotline", "app", "hall"], "service_type": ["repair", "billing", "connection_residential"],
        "segment": ["residential", "commercial", "residential"], "vulnerable": [True, False, False],
        "outage": [False, False, False], "progress_updates": [0, 1, 0],
        "created_at": [ts("2026-03-01 07:50"), ts("2026-03-01 09:00"), ts("2026-02-20 09:00")],
        "arrived_at": [ts("2026-03-01 10:30"), pd.NaT, pd.NaT],
        "resolved_at": [pd.NaT, ts("2026-03-01 10:00"), pd.NaT],
    })
    contacts = pd.DataFrame({"customer_id": [10, 10, 30, 30], "channel": ["hotline", "app", "hall", "wechat"],
                             "queued_at": [ts("2026-03-01 07:49"), ts("2026-03-01 11:00"), ts("2026-01-15"),
                                           ts("2026-02-25")], "outage": [False] * 4})
    responses = pd.DataFrame({"ticket_id": [99], "customer_id": [20], "submitted_at": [ts("2026-01-10")],
                              "csat": [1], "nps": [2]})
    history = pd.DataFrame({"id": [50], "customer_id": [30], "service_type": ["complaint"],
                            "created_at": [ts("2025-12-01")]})
    return {"rows": rows, "contacts": contacts, "responses": responses, "history": history}


AS_OF = ts("2026-03-01 12:00")


def _features(w: dict[str, pd.DataFrame], as_of: pd.Timestamp = AS_OF) -> pd.DataFrame:
    return risk.build_features(w["rows"], w["contacts"], w["responses"], w["history"], risk.default_limits(), as_of)


def test_features_by_hand() -> None:
    X = _features(_world())
    r1, r2, r3 = (X.iloc[i] for i in range(3))
    assert r1["no_update_long"] == 1.0  # open 4 h 10 min at noon, no update
    assert r1["arrival_vs_limit"] == pytest.approx(np.log(160 / 90))  # 160 min against the rural 90
    assert r1["repeat_contacts"] == pytest.approx(np.log1p(1))  # the 11:00 chat; 07:49 opened the order
    assert r1["channel_switch"] == 1.0 and r1["vulnerable"] == 1.0 and r1["area_rural"] == 1.0
    assert r2["billing_hotline"] == 0.0 and r2["resolved"] == 1.0 and r2["prior_dissatisfied"] == 1.0
    assert r2["no_update_long"] == 0.0 and r2["segment_commercial"] == 1.0
    assert r3["prior_complaint"] == 1.0 and r3["service_connection"] == 1.0 and r3["area_remote"] == 1.0
    assert r3["prior_contacts_90d"] == pytest.approx(np.log1p(1))  # 15 Jan; 25 Feb came after it opened
    assert r3["repeat_contacts"] == pytest.approx(np.log1p(1))
    assert r3["elapsed_vs_limit"] == pytest.approx(np.log1p((9 * 1440 + 180) / (5 * 1440 * 7 / 5)))


def test_no_leakage_from_after_the_scoring_time() -> None:
    """Resolutions and arrivals after as_of, later contacts, later responses and the response itself change
    nothing; the same change before as_of does (so the test can fail)."""
    w = _world()
    base = _features(w)
    later = {k: v.copy() for k, v in w.items()}
    later["rows"].loc[0, "resolved_at"] = ts("2026-03-01 13:00")
    later["rows"].loc[2, "resolved_at"] = ts("2026-03-09")
    later["rows"].loc[2, "arrived_at"] = ts("2026-03-05")
    later["contacts"] = pd.concat([later["contacts"], pd.DataFrame({
        "customer_id": [10, 20, 30], "channel": ["wechat", "hall", "hotline"],
        "queued_at": [ts("2026-03-01 12:01"), ts("2026-03-02"), ts("2026-03-03")], "outage": [False] * 3})])
    later["responses"] = pd.concat([later["responses"], pd.DataFrame({
        "ticket_id": [1, 2], "customer_id": [10, 20], "submitted_at": [ts("2026-03-02"), ts("2026-03-03")],
        "csat": [1, 1], "nps": [0, 0]})])
    later["history"] = pd.concat([later["history"], pd.DataFrame({
        "id": [60], "customer_id": [10], "service_type": ["complaint"], "created_at": [ts("2026-03-02")]})])
    pd.testing.assert_frame_equal(_features(later), base)
    # sanity: the same resolution before as_of is seen
    before = {k: v.copy() for k, v in w.items()}
    before["rows"].loc[0, "resolved_at"] = ts("2026-03-01 11:00")
    assert _features(before).iloc[0]["resolved"] == 1.0


def test_every_case_has_reasons_strongest_first() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(500, 4)), columns=["no_update_long", "outage", "vulnerable", "overdue"])
    y = (X["no_update_long"] + 0.3 * X["outage"] + rng.normal(size=500) > 0).to_numpy()
    m = risk.fit_logistic(X, y)
    reasons = risk.top_reasons(m, X, k=3)
    assert len(reasons) == 500 and all(len(r) >= 1 for r in reasons)
    C = risk.contributions(m, X)
    for i in range(0, 500, 37):
        assert reasons[i][0] == C.iloc[i].idxmax()


def test_split_months_keeps_outcomes_out_of_the_test_month() -> None:
    as_of = pd.Series(pd.date_range("2026-01-01", "2026-11-20", freq="D", tz=UTC))
    train, test, start, end = risk.split_months(as_of, 1, 7.0, ts("2026-11-25 14:00"))
    assert start == ts("2026-09-30 16:00") and end == ts("2026-10-31 16:00")  # October in Beijing time
    assert (as_of[train] + pd.Timedelta(days=7) < start).all()
    assert test.sum() == 31 and not (train & test).any()


def test_reliability_curve_and_outcome_rates() -> None:
    y = np.array([0, 0, 1, 1] * 5)
    p = np.linspace(0.05, 0.95, 20)
    cur = risk.reliability_curve(y, p, bins=4)
    assert cur["n"].sum() == 20 and len(cur) == 4
    counts = pd.DataFrame({"group": ["contacted", "not_contacted"], "n": [20, 100], "complaints": [18, 0],
                           "responses": [20, 10], "dissatisfied": [4, 5]})
    out = outcome_rates_row = risk.outcome_rates(counts)
    row = out[(out["group"] == "contacted") & (out["measure"] == "complaint")].iloc[0]
    assert (row["low"], row["high"]) == pytest.approx((0.6989663547715128, 0.972133518786232))  # R binom, 18/20
    assert len(outcome_rates_row) == 4


def test_outreach_channel_rule() -> None:
    customers = pd.DataFrame({
        "customer_id": [1, 2, 3, 4, 5, 6], "segment": "residential",
        "vulnerable": [True, True, False, False, False, False], "opted_out": False,
        "preferred_channel": [None, "app", None, "hotline", "wechat", "app"], "region_id": 1,
        "area_class": ["rural", "urban", "rural", "urban", "urban", "urban"], "tickets": 2, "complaints": 0,
        "responses": 0, "dissatisfied": 0, "csat_mean": np.nan, "last_ticket_at": pd.NaT})
    channels = pd.DataFrame({"customer_id": [3, 3, 4, 4, 5, 6], "channel": ["rural_point", "hotline", "hotline",
                                                                        "hall", "app", "app"], "n": [3, 1, 2, 1, 1, 2]})
    s = summarise_profiles({"customers": customers, "channels": channels})
    assert list(outreach_channel(s)) == ["visit", "ivr", "visit", "ivr", "wechat", "sms"]
    assert s.set_index("customer_id").loc[4, "offline_share"] == 1.0
    assert bool(s.set_index("customer_id").loc[4, "channel_mismatch"]) is False
