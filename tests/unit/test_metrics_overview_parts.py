"""SLA joins, roll-ups, survey weighting, drivers, arrival effect and comment topics, checked by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metrics.businesstime import WorkCalendar
from metrics.drivers import arrival_effect, dimension_drivers
from metrics.kpis import compute
from metrics.overview import Frames, overview_pack, region_rollup
from metrics.rollup import rollup
from metrics.sla import join_sla_limits
from metrics.topics import tag_comments, topic_counts, topic_examples
from metrics.weighting import weighted_survey

UTC = "UTC"
POLICIES = pd.DataFrame([
    # pack, service, area, segment, interval, clock, value, unit, semantics
    ("p", "repair", "urban", "*", "arrival", "calendar", 45.0, "minutes", "average"),
    ("p", "repair", "rural", "*", "arrival", "calendar", 90.0, "minutes", "average"),
    ("p", "repair", "*", "*", "arrival", "calendar", 120.0, "minutes", "average"),
    ("p", "repair", "urban", "vip", "arrival", "calendar", 30.0, "minutes", "each"),
    ("p", "meter", "*", "*", "resolution", "working", 5.0, "working_days", "each"),
    ("q", "repair", "urban", "*", "arrival", "calendar", 1.0, "minutes", "each"),
], columns=["pack", "service_type", "area_class", "segment", "interval", "clock", "limit_value", "limit_unit",
            "semantics"])


def _ts(*values: str) -> pd.Series:
    return pd.to_datetime(pd.Series(values), utc=True)


def test_join_sla_limits_most_specific_row_wins() -> None:
    t = pd.DataFrame({"service_type": ["repair", "repair", "repair", "repair", "meter", "billing"],
                      "area_class": ["urban", "rural", "remote", "urban", "urban", "urban"],
                      "segment": ["residential", "residential", "residential", "vip", "residential", "vip"]})
    out = join_sla_limits(t, POLICIES, ["arrival", "resolution"], pack="p")
    assert out["limit_value_arrival"].tolist()[:4] == [45.0, 90.0, 120.0, 30.0]
    assert out["semantics_arrival"].tolist()[:4] == ["average", "average", "average", "each"]
    assert np.isnan(out["limit_value_arrival"].iloc[4]) and np.isnan(out["limit_value_arrival"].iloc[5])
    assert out["limit_value_resolution"].tolist()[4] == 5.0 and out["clock_resolution"].iloc[4] == "working"
    one = join_sla_limits(t, POLICIES[POLICIES["pack"] == "p"], "arrival")
    assert one["limit_value"].tolist()[:4] == [45.0, 90.0, 120.0, 30.0] and list(one.index) == list(t.index)
    with pytest.raises(ValueError):
        join_sla_limits(t, POLICIES, "arrival")  # two packs, none chosen


def _tickets(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    created = pd.Timestamp("2026-03-01", tz=UTC) + pd.to_timedelta(rng.uniform(0, 20 * 1440, n), unit="min")
    arrival = rng.lognormal(np.log(50), 0.5, n)
    svc = rng.choice(["repair", "billing"], n)
    return pd.DataFrame({
        "id": np.arange(1, n + 1), "region_id": rng.choice([11, 12, 21], n),
        "area_class": rng.choice(["urban", "rural"], n), "segment": "residential",
        "channel": rng.choice(["hotline", "app", "hall"], n), "service_type": svc,
        "staff_id": rng.integers(1, 6, n), "team_id": 1, "customer_id": rng.integers(1, 300, n),
        "exception_reason": None, "outage": False, "reopen_count": rng.integers(0, 2, n),
        "progress_updates": rng.integers(0, 3, n), "created_at": created,
        "first_response_at": created + pd.to_timedelta(5, unit="min"),
        "arrived_at": (created + pd.to_timedelta(arrival, unit="min")).where(svc == "repair"),
        "resolved_at": created + pd.to_timedelta(arrival + 120, unit="min"), "closed_at": pd.NaT,
    })


def _responses(tickets: pd.DataFrame, seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = tickets.sample(150, random_state=seed).reset_index(drop=True)
    return pd.DataFrame({
        "id": np.arange(1, len(r) + 1), "ticket_id": r["id"], "region_id": r["region_id"],
        "area_class": r["area_class"], "channel": r["channel"], "service_type": r["service_type"],
        "segment": r["segment"], "staff_id": r["staff_id"], "csat": rng.integers(1, 6, len(r)),
        "nps": rng.integers(0, 11, len(r)), "ces": rng.integers(1, 8, len(r)), "fcr": rng.random(len(r)) < 0.8,
        "comment": None, "submitted_at": r["created_at"] + pd.Timedelta(days=1),
        "ticket_created_at": r["created_at"], "arrived_at": r["arrived_at"], "resolved_at": r["resolved_at"],
        "progress_updates": r["progress_updates"],
    })


@pytest.mark.parametrize("kpi", ["sla_arrival", "arrival_time", "reopen_rate", "online_share"])
def test_rollup_equals_compute_over_the_rows(kpi: str) -> None:
    t = join_sla_limits(_tickets(), POLICIES, "arrival", pack="p")
    fine = compute(kpi, t, by=["region_id", "channel", "staff_id"])
    for by in ([], ["region_id"], ["channel", "region_id"]):
        direct = compute(kpi, t, by=by)
        rolled = rollup(fine, kpi, by[::-1] if len(by) == 2 else by)
        rolled = rolled.sort_values(by).reset_index(drop=True) if by else rolled
        direct = direct.sort_values(by).reset_index(drop=True) if by else direct
        for col in ("value", "n", "ci_low", "ci_high", "status"):
            if direct[col].dtype.kind == "f":
                np.testing.assert_allclose(rolled[col], direct[col], rtol=1e-10, equal_nan=True)
            else:
                assert rolled[col].tolist() == direct[col].tolist()
    if kpi == "sla_arrival":
        head = rollup(fine, kpi, [])
        assert head["mean_ratio"].iloc[0] == pytest.approx(compute(kpi, t)["mean_ratio"].iloc[0])


def test_rollup_refuses_percentiles_and_handles_empty() -> None:
    t = _tickets(10)
    with pytest.raises(ValueError):
        rollup(compute("arrival_time_p90", t, by=["channel"]), "arrival_time_p90", [])
    empty = rollup(compute("csat", _responses(_tickets()).iloc[0:0], by=["channel"]), "csat", [])
    assert len(empty) == 1 and empty["n"].iloc[0] == 0 and empty["status"].iloc[0] == "insufficient"


def test_weighted_survey_one_margin_is_post_stratification() -> None:
    # service log: 80 % hotline, 20 % app; respondents 50/50 -> weights 1.6 and 0.4
    log = pd.DataFrame({"channel": ["hotline"] * 80 + ["app"] * 20})
    resp = pd.DataFrame({"channel": ["hotline"] * 10 + ["app"] * 10,
                         "csat": [5] * 4 + [2] * 6 + [5] * 10, "nps": [10] * 10 + [0] * 10})
    out = weighted_survey(resp, log, margins=["channel"], bounds=None).set_index("kpi")
    assert out.loc["csat", "value_unweighted"] == pytest.approx(14 / 20)
    assert out.loc["csat", "value_weighted"] == pytest.approx(0.8 * 0.4 + 0.2 * 1.0)
    assert out.loc["nps", "value_weighted"] == pytest.approx(0.8 * 1.0 + 0.2 * -1.0)
    w = np.array([1.6] * 10 + [0.4] * 10)
    assert out.loc["csat", "deff"] == pytest.approx(20 * (w ** 2).sum() / w.sum() ** 2)
    assert out.loc["csat", "effective_n"] == pytest.approx(w.sum() ** 2 / (w ** 2).sum())


def test_arrival_effect_slope_by_hand() -> None:
    minutes = np.array([10, 20, 40, 60, 80, 100, 130, 160, 200, 240], float)
    csat = np.array([5, 5, 5, 4, 4, 3, 4, 2, 2, 1])
    created = pd.Series(pd.Timestamp("2026-01-01", tz=UTC), index=range(10))
    r = pd.DataFrame({"service_type": "repair", "csat": csat, "ticket_created_at": created,
                      "arrived_at": created + pd.to_timedelta(minutes, unit="min")})
    e = arrival_effect(r, step_minutes=30)
    y = np.where(csat >= 4, 100.0, 0.0)
    slope = np.polyfit(minutes, y, 1)[0]
    assert e.per_step == pytest.approx(slope * 30) and e.n == 10
    assert e.low < e.per_step < e.high
    assert e.bins["n"].sum() == 10
    m = arrival_effect(r, step_minutes=30, outcome="mean")
    assert m.per_step == pytest.approx(np.polyfit(minutes, csat, 1)[0] * 30)


def test_dimension_drivers_by_design() -> None:
    rng = np.random.default_rng(1)
    n = 400
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    c = rng.normal(size=n)
    y = 3 * a + 1 * b + rng.normal(size=n)
    resp = pd.DataFrame({"id": np.arange(n), "csat": y})
    ans = pd.concat([pd.DataFrame({"response_id": np.arange(n), "dimension": d, "value_num": v})
                     for d, v in (("a", a), ("b", b), ("c", c))])
    # half the respondents were not asked c (another questionnaire design)
    ans = ans.loc[~((ans["dimension"] == "c") & (ans["response_id"] >= n // 2))]
    out = dimension_drivers(resp, ans, min_n=50)
    assert out["driver"].tolist()[:2] == ["a", "b"] and set(out["designs"]) <= {1, 2}
    assert out.loc[out["driver"] == "a", "n"].iloc[0] == n


LEXICON = pd.DataFrame({"topic": ["repair_speed", "billing"], "label_zh": ["抢修时效", "电费/账单"],
                        "label_en": ["Repair speed", "Bill"], "keywords": ["抢修|太慢", "电费|账单"]})
SENTIMENT = pd.DataFrame({"word": ["太慢", "满意", "清楚"], "polarity": [-1, 1, 1]})


def test_topics_tagging_sentiment_negation_and_masked_examples() -> None:
    r = pd.DataFrame({"id": [1, 2, 3, 4, 5], "region": [1, 1, 2, 2, 2], "channel": ["hotline"] * 5,
                      "comment": ["抢修人员来得太慢，王师傅电话13812345678", "电费账单不清楚", "非常满意",
                                  None, "抢修太慢，电费也贵"]})
    tg = tag_comments(r, LEXICON, SENTIMENT)
    topics = tg.groupby("response_id")["topic"].apply(set).to_dict()
    assert topics == {1: {"repair_speed"}, 2: {"billing"}, 3: {"other"}, 5: {"repair_speed", "billing"}}
    sent = tg.drop_duplicates("response_id").set_index("response_id")["sentiment"].to_dict()
    assert sent == {1: "negative", 2: "negative", 3: "positive", 5: "negative"}  # 不清楚 flips 清楚
    counts = topic_counts(tg, ["region"], LEXICON)
    row = counts[(counts["region"] == 2) & (counts["topic"] == "billing")].iloc[0]
    assert (row["n"], row["comments"], row["label_zh"]) == (1, 2, "电费/账单")
    ex = topic_examples(tg, k=5, mask=lambda s: s.replace("13812345678", "<masked>"))
    text = ex.loc[ex["response_id"] == 1, "text"].iloc[0]
    assert text == "抢修人员来得太慢，王师傅电话<masked>"  # the caller's masker, applied to every example


def test_region_rollup_skips_single_child_levels() -> None:
    reg = pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "path": ["/1/", "/1/2/", "/1/2/3/", "/1/2/4/", "/1/2/3/5/",
                                                            "/1/2/4/6/"]})
    assert region_rollup(reg, "/1/").to_dict() == {1: 1, 2: 2, 3: 3, 4: 4, 5: 3, 6: 4}
    assert region_rollup(reg, "/1/2/3/").to_dict() == {3: 3, 5: 5}


def test_overview_pack_on_hand_made_frames_and_empty_previous() -> None:
    t = _tickets()
    r = _responses(t)
    cur = Frames(t, responses=r, start=pd.Timestamp("2026-03-01", tz="Asia/Shanghai"),
                 end=pd.Timestamp("2026-03-21", tz="Asia/Shanghai"))  # 20 local days
    pol = POLICIES[POLICIES["pack"] == "p"]
    pack = overview_pack(cur, None, pol, WorkCalendar(), kpis=("sla_arrival", "arrival_time", "csat", "nps"),
                         by=("region", "channel"), trend_kpis=("sla_arrival", "csat"))
    direct = compute("sla_arrival", join_sla_limits(t, pol, "arrival"))
    h = pack.headline["sla_arrival"]
    assert (h.value, h.n) == (pytest.approx(direct["value"].iloc[0]), direct["n"].iloc[0])
    assert h.extra["previous"] is None or np.isnan(h.extra["previous"])
    assert set(pack.trend["series"]) == {"tickets", "repairs", "sla_arrival", "csat"}
    assert pack.trend.groupby("series").size().eq(20).all()  # every day of the period
    cells = pack.breakdown[pack.breakdown["kpi"] == "csat"]
    assert cells["n"].sum() == pack.headline["csat"].n
    assert set(pack.weighted["kpi"]) == {"csat", "nps"}
    empty = overview_pack(Frames(t.iloc[0:0], responses=r.iloc[0:0]), None, pol, WorkCalendar(),
                          kpis=("sla_arrival", "csat"), trend_kpis=())
    assert empty.headline["csat"].n == 0 and empty.headline["csat"].status == "insufficient"
