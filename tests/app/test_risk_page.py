"""The at-risk page (issue 9) on the S demo world with a trained model: the manager sees only their scope, every
listed case has reasons, personal data is masked, the comparison is stated as observational."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from data.engine import get_engine
from data.repositories import Scope
from data.users import create_user
from surveys import proactive
from tests.app.helpers import login, open_page, texts

PW = "Risk-page-PASSWORD-1"


@pytest.fixture(scope="module")
def trained_db(demo_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("riskpage") / "gridcx.db"
    with sqlite3.connect(demo_sqlite_url.removeprefix("sqlite:///")) as a, sqlite3.connect(path) as b:
        a.backup(b)
    engine = get_engine(f"sqlite:///{path}")
    proactive.train(engine, card=path.with_name("card.md"))
    with engine.connect() as conn:
        county = conn.execute(text("SELECT id FROM region WHERE level = 'county' ORDER BY path LIMIT 1")).scalar_one()
    create_user(engine, "risk_admin", PW, "admin", 1)
    create_user(engine, "risk_mgr", PW, "manager", int(county))
    return path


@pytest.fixture
def app_db(trained_db: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{trained_db}"
    monkeypatch.setenv("DATABASE_URL", url)
    return url


def test_manager_sees_only_their_scope_with_reasons_and_masking(app_db: str) -> None:
    engine = get_engine(app_db)
    with engine.connect() as conn:
        path, = conn.execute(text("SELECT r.path FROM app_user u JOIN region r ON r.id = u.region_id "
                                  "WHERE u.username = 'risk_mgr'")).one()
        names = set(conn.execute(text("SELECT name_en FROM region WHERE path LIKE :p || '%'"), {"p": path}).scalars())
        all_names = set(conn.execute(text("SELECT name FROM customer")).scalars())
    expected = proactive.score(engine, Scope(path))
    assert 0 < len(expected) < len(proactive.score(engine, proactive.roots(engine)[0]))
    at = open_page(login("risk_mgr", PW, lang="en"), "risk")
    body = texts(at)
    assert "At-risk work orders" in body
    assert f"{len(expected)} work orders scored in your scope" in body
    assert "observational" in body
    table = at.dataframe[0].value
    assert set(table["Region"]) <= names
    assert list(table["Work order"]) == list(expected["external_no"].head(len(table)))
    assert all(isinstance(r, str) and r for r in table["Reasons"])
    assert all(n.endswith("*") for n in table["Customer"] if n)
    assert not set(table["Customer"]) & all_names  # no full name shown
    assert all("****" in a for a in table["Account"] if a)


def test_admin_sees_more_and_metrics_in_chinese(app_db: str) -> None:
    at = open_page(login("risk_admin", PW), "risk")
    body = texts(at)
    assert "风险工单预警" in body and "观察性比较" in body and "AUC" in body
    assert len(at.dataframe[0].value) == 20


def test_without_a_model_the_page_builds_one_itself_and_says_so(tiny_app_db: str) -> None:
    """Issue 16.11: a fresh install told a manager to run a command. The page starts the training in the background
    on first use, says so in the product's terms, and says plainly when the history is too short to learn from."""
    from dashboard.views import risk as risk_view

    at = open_page(login("manager"), "risk")
    body = texts(at)
    assert "python -m" not in body
    job = risk_view._jobs()[tiny_app_db]
    assert "正在根据本单位的历史工单建立" in body or job["state"] != "running"
    job["thread"].join(timeout=120)
    at.run()
    assert not at.exception
    body = texts(at)
    if job["state"] == "failed":  # the tiny world holds one month: too little history, said as such
        assert "历史数据还不够建立风险模型" in body
    else:
        assert job["state"] == "done" and "模型每周根据最新数据自动重新训练" in body
    assert "python -m" not in body


def test_a_week_old_model_is_due_for_training(tiny_app_db: str) -> None:
    import datetime as dt

    from data.engine import get_engine
    from surveys import proactive

    engine = get_engine(tiny_app_db)
    assert proactive.due_for_training(engine)  # no model yet
    payload = {"version": 1, "horizon_days": 7.0, "window": {"trained_at": "2026-11-01T00:00:00+00:00"},
               "rows": {}, "models": {}, "evaluation": {}, "policy_pack": "sgcc_2023"}
    import json

    from sqlalchemy import insert

    from data.models import SiteSetting

    with engine.begin() as conn:
        conn.execute(insert(SiteSetting).values(key=proactive.MODEL_KEY, value=json.dumps(payload)))
    utc = dt.UTC
    assert not proactive.due_for_training(engine, now=dt.datetime(2026, 11, 7, 23, tzinfo=utc))
    assert proactive.due_for_training(engine, now=dt.datetime(2026, 11, 8, 0, tzinfo=utc))
