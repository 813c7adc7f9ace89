"""The follow-up model (statuses, escalation, outcome, recovery), response rates in scope, Cronbach's alpha."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import insert, select

from data.engine import get_engine
from data.models import Answer, FollowUp, Response
from data.repositories import Scope
from metrics.reliability import cronbach_alpha
from surveys.followups import (
    FollowUpError,
    close,
    count_by_status,
    escalate_overdue,
    escalation_level,
    queue,
    recovery_summary,
    transition,
)
from surveys.intake import submit
from surveys.quality import dimension_alpha
from surveys.rates import kiosk_responses, response_rates
from tests.surveys.helpers import HAPPY, NOW, UNHAPPY, build_survey_world, new_invitation

START, END = NOW - dt.timedelta(days=30), NOW + dt.timedelta(days=30)


@pytest.fixture
def engine(sqlite_url: str):  # type: ignore[no-untyped-def]
    eng = get_engine(sqlite_url)
    build_survey_world(eng)
    return eng


def _low(engine, csat: int = 2) -> int:  # type: ignore[no-untyped-def]
    token, _ = new_invitation(engine, ticket_id=1)
    res = submit(engine, token, {"csat": csat}, now=NOW)
    assert res.follow_up_id is not None
    return res.follow_up_id


def test_escalation_by_age(engine) -> None:  # type: ignore[no-untyped-def]
    due = NOW
    assert [escalation_level(due, due + dt.timedelta(hours=h)) for h in (-1, 0, 23, 24, 71, 72, 500)] == \
        [0, 1, 1, 2, 2, 3, 3]
    fu = _low(engine)  # medium: due in 24 h
    assert escalate_overdue(engine, NOW + dt.timedelta(hours=23)) == 0
    assert escalate_overdue(engine, NOW + dt.timedelta(hours=25)) == 1
    assert escalate_overdue(engine, NOW + dt.timedelta(hours=30)) == 0  # same level: unchanged
    assert escalate_overdue(engine, NOW + dt.timedelta(hours=24 + 73)) == 1
    with engine.connect() as conn:
        status, level = conn.execute(select(FollowUp.status, FollowUp.escalation_level)
                                     .where(FollowUp.id == fu)).one()
    assert (status, level) == ("escalated", 3)


def test_statuses_outcome_and_recovery(engine) -> None:  # type: ignore[no-untyped-def]
    a, b, c = _low(engine, 1), _low(engine, 2), _low(engine, 2)
    transition(engine, a, "in_progress")
    with pytest.raises(FollowUpError):
        transition(engine, a, "open")
    with pytest.raises(FollowUpError):
        close(engine, a, "fixed", recovered=True)
    with pytest.raises(FollowUpError):
        close(engine, a, "resolved", recovered=True, recovery_score=9)
    close(engine, a, "resolved", recovered=True, recovery_score=5, now=NOW + dt.timedelta(hours=2))
    close(engine, b, "unresolved", recovered=False, recovery_score=2, now=NOW + dt.timedelta(hours=30))
    close(engine, c, "unreachable", recovered=None, now=NOW + dt.timedelta(hours=3))
    with pytest.raises(FollowUpError, match="already closed"):
        close(engine, a, "resolved", recovered=True)
    s = recovery_summary(engine, Scope("/1/"), START, END)
    assert (s["opened"], s["closed"], s["open"]) == (3, 3, 0)
    assert s["recovery_rate"] == 0.5  # 1 of the 2 reached
    assert s["recovery_score"] == 3.5
    assert s["uplift"] == pytest.approx(((5 - 1) + (2 - 2)) / 2)
    assert s["on_time"] == pytest.approx(2 / 3)  # a (due 4 h) and c (due 24 h) on time, b late
    assert recovery_summary(engine, Scope("/1/3/"), START, END)["opened"] == 0
    assert count_by_status(engine, Scope("/1/")) == {"closed": 3}


def test_queue_is_scoped_and_most_urgent_first(engine) -> None:  # type: ignore[no-untyped-def]
    _low(engine, 2)
    token, _ = new_invitation(engine, ticket_id=1)
    submit(engine, token, UNHAPPY, now=NOW)
    q = queue(engine, Scope("/1/2/"))
    assert list(q["severity"]) == ["high", "medium"]
    assert queue(engine, Scope("/1/3/")).empty


def test_response_rates_by_channel_region_and_service_type_in_scope(engine) -> None:  # type: ignore[no-untyped-def]
    for i in range(4):
        token, _ = new_invitation(engine, ticket_id=1, region_id=7)
        if i < 3:
            submit(engine, token, HAPPY, now=NOW)
    for i in range(2):
        token, _ = new_invitation(engine, ticket_id=11, region_id=8, channel="wechat")
        if i == 0:
            submit(engine, token, HAPPY, now=NOW)
    kiosk, _ = new_invitation(engine, region_id=7, survey_key="hall", reusable=True, channel="qr")
    submit(engine, kiosk, {"csat": 5}, now=NOW)
    submit(engine, kiosk, {"csat": 4}, now=NOW)
    df = response_rates(engine, Scope("/1/"), START, END, now=NOW)
    assert list(df.columns[:6]) == ["channel", "region_id", "region_code", "region_zh", "region_en", "service_type"]
    got = {(r.channel, r.region_code, r.service_type): (r.delivered, r.responded, r.rate) for r in df.itertuples()}
    assert got == {("sms", "A1S", "repair"): (4, 3, 0.75), ("wechat", "A2S", "repair"): (2, 1, 0.5)}
    overall = response_rates(engine, Scope("/1/"), START, END, by=(), now=NOW)
    assert overall.iloc[0]["rate"] == pytest.approx(4 / 6)
    only_a1 = response_rates(engine, Scope("/1/2/4/"), START, END, by=("channel",), now=NOW)
    assert list(only_a1["delivered"]) == [4]
    assert response_rates(engine, Scope("/1/3/"), START, END, now=NOW).empty
    assert kiosk_responses(engine, Scope("/1/"), START, END)["responses"].tolist() == [2]
    with pytest.raises(ValueError):
        response_rates(engine, Scope("/1/"), START, END, by=("colour",))


def test_cronbach_alpha_per_dimension_matches_metrics(engine) -> None:  # type: ignore[no-untyped-def]
    from surveys.definitions import registry

    annual = registry().get("servqual_annual")
    dims = annual.dimensions()
    rng = np.random.default_rng(3)
    n = 60
    with engine.begin() as conn:
        for r in range(n):
            rid = conn.execute(insert(Response).values(region_id=7, channel="web", survey_key="servqual_annual",
                                                       survey_version=1, submitted_at=NOW, csat=4)).inserted_primary_key[0]
            for d_i, keys in enumerate(dims.values()):
                trait = rng.normal(4, 1.2)
                for k in keys:
                    v = int(np.clip(round(trait + rng.normal(0, 0.8 + 0.2 * d_i)), 1, 7))
                    if not (r == 0 and k == "tan1"):  # one missing answer: listwise deletion for tangibles
                        conn.execute(insert(Answer).values(response_id=rid, item_key=k, dimension=None, value_num=v))
    df = dimension_alpha(engine, "servqual_annual", Scope("/1/"))
    assert list(df["dimension"]) == [*dims, "__all__"]
    with engine.connect() as conn:
        long = conn.execute(select(Answer.response_id, Answer.item_key, Answer.value_num)).all()
    import pandas as pd

    wide = pd.DataFrame(long, columns=["r", "k", "v"]).pivot(index="r", columns="k", values="v")
    for row in df.itertuples():
        keys = row.items.split(", ")
        expected = cronbach_alpha(wide[keys])
        assert row.alpha == pytest.approx(expected.alpha) and row.n == expected.n
    assert df.set_index("dimension").loc["tangibles", "n"] == n - 1
    assert (df["alpha"] > 0.5).all()
    # Short questionnaires have one item per dimension: only the overall scale row.
    assert list(dimension_alpha(engine, "repair", Scope("/1/"))["dimension"]) == ["__all__"]


def test_alpha_of_a_rotated_questionnaire_treats_items_not_asked_as_missing_by_design(engine) -> None:  # type: ignore[no-untyped-def]
    from surveys.definitions import registry, rotation_seed

    repair = registry().for_service_type("repair")
    assert repair.rotation is not None
    rng = np.random.default_rng(5)
    with engine.begin() as conn:
        for r in range(240):  # each respondent answers the two dimension items of their plan, nothing else
            rid = conn.execute(insert(Response).values(region_id=7, channel="sms", survey_key="repair",
                                                       survey_version=repair.version, submitted_at=NOW,
                                                       csat=4)).inserted_primary_key[0]
            trait = rng.normal(3.5, 1.0)
            for item in repair.asked("repair", "sms", rotation_seed(r + 1)):
                if item.dimension:
                    v = int(np.clip(round(trait + rng.normal(0, 0.6)), 1, 5))
                    conn.execute(insert(Answer).values(response_id=rid, item_key=item.key, dimension=item.dimension,
                                                       value_num=v))
    df = dimension_alpha(engine, "repair", Scope("/1/"), version=repair.version).set_index("dimension")
    row = df.loc["__all__"]
    # listwise deletion would keep nobody (no one is asked all four); pairwise covariances keep everyone
    assert row["k"] == 4 and row["n_dropped"] == 0
    assert 20 <= row["n"] <= 60 and 0.7 < row["alpha"] < 0.95 and row["ci_low"] < row["alpha"] < row["ci_high"]
