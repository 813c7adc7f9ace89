"""The risk path on SQLite and PostgreSQL (issue 9): the same S demo world (seed 7) trains the same models, scores
the same open work with the same probabilities and reasons, and routes the same cases into the follow-up queue on
both backends. On each backend the fact-snapshot reads and the SQL fallback (``GRIDCX_FACT_SNAPSHOT=0``) score
alike."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from data.engine import get_engine
from data.models import UTC, FollowUp, Ticket
from data.schema import upgrade
from surveys import proactive
from tests.conftest import drop_pg_schema, new_pg_schema

BACKENDS = ("sqlite", "postgres")
TRAINED_AT = dt.datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
ROUTED_AT = dt.datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
PAST = dt.datetime(2026, 10, 15, 0, 0, tzinfo=UTC)
TOL = 1e-9


@pytest.fixture(scope="module")
def urls(demo_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The S world on both backends, each a private copy (training and routing write to it)."""
    from demo.run import run_demo

    pg = new_pg_schema("risk")  # skips (or fails under GRIDCX_REQUIRE_SERVICES=1) without PostgreSQL
    try:
        engine = get_engine(pg)
        upgrade(engine)
        run_demo(engine, "S", 7)
        path = tmp_path_factory.mktemp("risk_backends") / "gridcx.db"
        with sqlite3.connect(demo_sqlite_url.removeprefix("sqlite:///")) as a, sqlite3.connect(path) as b:
            a.backup(b)
        yield {"sqlite": f"sqlite:///{path}", "postgres": pg}
    finally:
        drop_pg_schema(pg)


@pytest.fixture(scope="module")
def trained(urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, proactive.Trained]:
    card = tmp_path_factory.mktemp("risk_cards")
    return {b: proactive.train(get_engine(urls[b]), card=card / f"{b}.md", now=TRAINED_AT) for b in BACKENDS}


def _scored(url: str, as_of: dt.datetime | None = None, recent_hours: float = 24.0) -> pd.DataFrame:
    engine = get_engine(url)
    scope = proactive.roots(engine)[0]
    return proactive.score(engine, scope, as_of=as_of, recent_hours=recent_hours)


def _same_scores(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b) > 0
    assert list(a["external_no"]) == list(b["external_no"])  # same ranking
    for col in ("p_dissatisfied", "p_contact_again", "risk", "elapsed_min"):
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=0, atol=TOL, err_msg=col)
    assert list(a["reasons"]) == list(b["reasons"])
    for col in ("area_class", "channel", "service_type", "segment", "vulnerable", "outage", "progress_updates",
                "open_follow_up"):
        assert list(a[col]) == list(b[col]), col
    for col in ("customer_id", "lead_staff_id"):
        assert a[col].astype("Int64").tolist() == b[col].astype("Int64").tolist(), col
    for col in ("created_at", "arrived_at", "resolved_at"):
        assert a[col].astype("datetime64[us, UTC]").tolist() == b[col].astype("datetime64[us, UTC]").tolist(), col


def test_training_is_the_same_on_both_backends(trained: dict[str, proactive.Trained]) -> None:
    lite, pg = trained["sqlite"], trained["postgres"]
    assert lite.rows == pg.rows and lite.window == pg.window
    for target in proactive.TARGETS:
        a, b = lite.models[target], pg.models[target]
        assert a.features == b.features and a.n_train == b.n_train and a.positives == b.positives
        np.testing.assert_allclose(a.coef, b.coef, rtol=0, atol=TOL)
        np.testing.assert_allclose(a.mean + a.scale, b.mean + b.scale, rtol=0, atol=TOL)
        assert a.intercept == pytest.approx(b.intercept, abs=TOL)
        ea, eb = lite.evaluations[target], pg.evaluations[target]
        assert (ea.n, ea.positives) == (eb.n, eb.positives)
        assert ea.auc == pytest.approx(eb.auc, abs=TOL) and ea.brier == pytest.approx(eb.brier, abs=TOL)


@pytest.mark.parametrize("when", ["latest", "past", "wide"])
def test_scores_and_reasons_are_the_same_on_both_backends(urls: dict[str, str], trained: dict[str, proactive.Trained],
                                                          monkeypatch: pytest.MonkeyPatch, when: str) -> None:
    as_of, hours = {"latest": (None, 24.0), "past": (PAST, 24.0), "wide": (PAST, 24.0 * 120)}[when]
    scored = {b: _scored(urls[b], as_of, hours) for b in BACKENDS}
    _same_scores(scored["sqlite"], scored["postgres"])
    # the SQL fallback (no fact snapshot) reads the same rows on each backend
    monkeypatch.setenv("GRIDCX_FACT_SNAPSHOT", "0")
    for b in BACKENDS:
        _same_scores(_scored(urls[b], as_of, hours), scored[b])


def test_route_is_the_same_on_both_backends(urls: dict[str, str], trained: dict[str, proactive.Trained]) -> None:
    routed: dict[str, list[list[str]]] = {}
    rows: dict[str, list[tuple[object, ...]]] = {}
    for b in BACKENDS:
        engine = get_engine(urls[b])
        first = proactive.route(engine, _scored(urls[b]), top=5, now=ROUTED_AT)
        second = proactive.route(engine, _scored(urls[b]), top=5, now=ROUTED_AT)  # the next five
        assert len(first) == len(second) == 5 and not set(first) & set(second)
        with engine.connect() as conn:
            ext = dict(conn.execute(select(Ticket.id, Ticket.external_no)
                                    .where(Ticket.id.in_(first + second))).all())
            fus = conn.execute(select(Ticket.external_no, FollowUp.reason, FollowUp.severity, FollowUp.status,
                                      FollowUp.owner_staff_id, FollowUp.risk_score, FollowUp.notes, FollowUp.due_at,
                                      FollowUp.proactive)
                               .join(Ticket, Ticket.id == FollowUp.ticket_id)
                               .where(FollowUp.proactive.is_(True)).order_by(Ticket.external_no)).all()
        routed[b] = [[ext[i] for i in first], [ext[i] for i in second]]
        rows[b] = [tuple(r) for r in fus]
        assert len(rows[b]) == 10
    assert routed["sqlite"] == routed["postgres"]
    for a, p in zip(rows["sqlite"], rows["postgres"], strict=True):
        assert a[:5] == p[:5] and a[6:] == p[6:]  # ticket, reason, severity, status, owner; notes, due, proactive
        assert a[5] == pytest.approx(p[5], abs=1e-9)


def test_model_cards_agree(trained: dict[str, proactive.Trained]) -> None:
    """The card states the same window, rows, coefficients and evaluation on both backends (as printed; the
    training time in seconds aside)."""
    cards = {b: proactive.model_card(dataclasses.replace(trained[b], seconds=0.0)) for b in BACKENDS}
    assert cards["sqlite"] == cards["postgres"]
