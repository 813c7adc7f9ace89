"""On the demo world (ground truth from demo.world): planted best and worst staff get the top and bottom performance
grades, staff with two or three surveys are at neither extreme, the remote crew is not penalised for its area."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from data.engine import get_engine
from data.repositories import Scope
from demo.world import groundtruth_path
from metrics.periods import Period
from reports.assessment import scorecards

WINDOW = Period(dt.date(2025, 1, 1), dt.date(2026, 11, 26))  # the whole demo window


@pytest.fixture(scope="module")
def world(demo_reviews_url: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    engine = get_engine(demo_reviews_url)
    truth = json.loads(groundtruth_path(engine).read_text(encoding="utf-8"))["effects"]["staff"]
    start, end = WINDOW.utc_bounds()
    cards, inp = scorecards(engine, Scope("/1/"), start, end)
    totals = cards.totals.merge(inp.roster[["staff_id", "code"]], on="staff_id").set_index("code")
    kpis = cards.kpis.merge(inp.roster[["staff_id", "code", "team_id"]], on="staff_id")
    return totals, kpis, truth


def test_planted_best_and_worst_get_top_and_bottom_grades(world: tuple[pd.DataFrame, pd.DataFrame, dict]) -> None:
    totals, _, truth = world
    few = set(truth["few_surveys"])
    best = [c for c in truth["best"] if c not in few]
    worst = [c for c in truth["worst"] if c not in few]
    assert best and worst
    for code in best:
        assert totals.loc[code, "perf_grade"] == "excellent", (code, totals.loc[code].to_dict())
    for code in worst:
        assert totals.loc[code, "perf_grade"] == "improve", (code, totals.loc[code].to_dict())
        assert totals.loc[code, "grade"] == "improve"
    # critical items may lower a final grade, never raise it
    order = {"excellent": 0, "good": 1, "pass": 2, "improve": 3}
    for code in best:
        assert order[totals.loc[code, "grade"]] >= order["excellent"]
        if totals.loc[code, "grade"] != "excellent":
            assert totals.loc[code, "critical"], "a lowered grade names its critical item"


def test_few_surveys_are_at_neither_extreme(world: tuple[pd.DataFrame, pd.DataFrame, dict]) -> None:
    totals, kpis, truth = world
    for code in truth["few_surveys"]:
        assert totals.loc[code, "perf_grade"] not in ("excellent", "improve"), totals.loc[code].to_dict()
        sat = kpis[(kpis["code"] == code) & (kpis["kpi"] == "satisfaction")].iloc[0]
        assert sat["n"] <= 3 and sat["status"] == "insufficient"


def test_remote_crew_is_not_penalised_for_the_area(world: tuple[pd.DataFrame, pd.DataFrame, dict]) -> None:
    totals, kpis, truth = world
    remote = truth["remote_crew_staff"]
    crew = kpis[kpis["role"] == "crew"]
    arr = crew[crew["kpi"] == "arrival"]
    mine = arr[arr["code"].isin(remote)]
    others = arr[~arr["code"].isin(remote)]
    # raw: the remote crew arrives within the limit far less often (the area's penalty) ...
    raw_mine = mine["raw"].mul(mine["n"]).sum() / mine["n"].sum()
    raw_all = others["raw"].mul(others["n"]).sum() / others["n"].sum()
    assert raw_mine < raw_all - 0.1
    # ... but against the expectation for their cells they are average (pooled O/E near 1) ...
    pooled_oe = mine["raw"].mul(mine["n"]).sum() / mine["expected"].mul(mine["n"]).sum()
    assert 0.7 < pooled_oe < 1.3
    # ... so their adjusted arrival is on the role's scale, not the remote one
    assert mine["adjusted"].mul(mine["n"]).sum() / mine["n"].sum() > raw_mine + 0.1
    graded = totals.loc[[c for c in remote if totals.loc[c, "sufficient"]]]
    assert len(graded) >= 2
    assert graded["percentile"].median() >= 25
