"""The demo world: determinism, idempotent loading, planted effects visible in the loaded data (size S, SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from data.engine import dispose_all, get_engine
from data.schema import upgrade
from data.users import authenticate
from demo.run import DemoRefused, run_demo
from demo.world import World, demo_accounts, generate

pytestmark = pytest.mark.world  # builds demo worlds inline (tests/conftest.py: lane markers)


def _engine(path: Path) -> Engine:
    engine = get_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Engine]:
    yield _engine(tmp_path / "fresh.db")
    dispose_all()


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict, Path]]:
    path = tmp_path_factory.mktemp("demo") / "world.db"
    engine = _engine(path)
    summary = run_demo(engine, "S", 7)
    yield engine, summary, path
    dispose_all()


def _q(engine: Engine, sql: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(text(sql), conn)


def _scalar(engine: Engine, sql: str) -> float:
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def test_same_seed_same_frames_other_seed_differs() -> None:
    a, b = generate("S", 11), generate("S", 11)
    for name in World.TABLES:
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    assert a.truth == b.truth
    c = generate("S", 12)
    assert not c.ticket["created_at"].equals(a.ticket["created_at"])


def test_sizes_match_performance_md() -> None:
    w = generate("S", 3)
    counts = w.counts()
    assert counts["ticket"] == 20_000 and counts["staff"] == 200
    assert abs(counts["contact"] - 30_000) < 300 and abs(counts["response"] - 5_000) < 100
    assert 45 <= counts["region"] <= 75


def test_loaded_world_is_consistent(loaded: tuple[Engine, dict, Path]) -> None:
    engine, summary, path = loaded
    assert summary["status"] == "loaded"
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
        for table, n in summary["counts"].items():
            assert conn.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one() == n
    # timestamps are stored the way SQLAlchemy stores them, and read back as aware UTC
    from sqlalchemy.orm import Session

    from data.models import Ticket

    with Session(engine) as s:
        t = s.query(Ticket).filter(Ticket.arrived_at.is_not(None)).first()
        assert t is not None and t.arrived_at > t.created_at and t.created_at.utcoffset().total_seconds() == 0
    assert _scalar(engine, "SELECT COUNT(*) FROM ticket WHERE created_at < '2024-12-31 16:00:00' "
                           "OR created_at >= '2026-11-25 16:00:00'") == 0
    # open work at the end: null resolved_at, a few long-open cases
    open_ = _q(engine, "SELECT status, resolved_at, created_at FROM ticket WHERE status IN ('open','in_progress')")
    assert len(open_) > 0 and open_["resolved_at"].isna().all()
    assert (pd.to_datetime(open_["created_at"]) < pd.Timestamp("2026-09-01")).any()
    assert _scalar(engine, "SELECT COUNT(*) FROM ticket WHERE reopen_count > 0") > 0
    assert _scalar(engine, "SELECT COUNT(*) FROM ticket WHERE service_type='complaint' AND substantiated IS NULL") == 0
    assert _scalar(engine, "SELECT COUNT(*) FROM ticket WHERE service_type IN ('billing','payment','inquiry') "
                           "AND arrived_at IS NOT NULL") == 0
    # responses follow their ticket's close; comments on about 10 %
    assert _scalar(engine, "SELECT COUNT(*) FROM response r JOIN ticket t ON t.id = r.ticket_id "
                           "WHERE t.closed_at IS NULL OR r.submitted_at <= t.closed_at") == 0
    share = _scalar(engine, "SELECT AVG(comment IS NOT NULL) FROM response")
    assert 0.07 < share < 0.13
    assert _scalar(engine, "SELECT MIN(n) FROM (SELECT COUNT(*) n FROM answer GROUP BY response_id)") >= 3
    assert _scalar(engine, "SELECT MAX(n) FROM (SELECT COUNT(*) n FROM answer GROUP BY response_id)") <= 5
    # staff roles fit the work
    roles = _q(engine, "SELECT t.service_type, t.channel, s.role FROM ticket t JOIN staff s ON s.id = t.staff_id")
    assert set(roles.loc[roles["channel"] == "hall", "role"]) == {"clerk"}
    assert set(roles.loc[(roles["service_type"] == "repair"), "role"]) == {"crew"}
    # the SLA packs are seeded
    assert _scalar(engine, "SELECT COUNT(DISTINCT pack) FROM sla_policy") == 3


def test_planted_effects_visible_in_loaded_data(loaded: tuple[Engine, dict, Path]) -> None:
    engine, summary, path = loaded
    truth = json.loads(Path(summary["groundtruth"]).read_text(encoding="utf-8"))
    assert Path(summary["groundtruth"]) == path.with_name("world.groundtruth.json")
    eff = truth["effects"]
    # repair arrival by area class
    rep = _q(engine, "SELECT r.area_class, (julianday(t.arrived_at) - julianday(t.created_at)) * 1440 AS m "
                     "FROM ticket t JOIN region r ON r.id = t.region_id "
                     "WHERE t.service_type = 'repair' AND t.arrived_at IS NOT NULL")
    med = rep.groupby("area_class")["m"].median()
    within = rep.assign(ok=rep["m"] <= rep["area_class"].map({"urban": 45, "rural": 90, "remote": 120})) \
        .groupby("area_class")["ok"].mean()
    assert med["urban"] < med["rural"] < med["remote"]
    assert within["urban"] - within["rural"] > 0.1 and within["urban"] - within["remote"] > 0.1
    assert abs(med["rural"] - eff["repair_arrival"]["observed"]["rural"]["median_min"]) < 1
    # staff: planted best above peers, worst below, two with only 2-3 surveys
    by_staff = _q(engine, "SELECT s.code, r.csat FROM response r JOIN ticket t ON t.id = r.ticket_id "
                          "JOIN staff s ON s.id = t.staff_id")
    st = eff["staff"]
    planted = set(st["best"]) | set(st["worst"])
    peers = by_staff[~by_staff["code"].isin(planted)]["csat"].mean()
    best = by_staff[by_staff["code"].isin(st["best"])]["csat"].mean()
    worst = by_staff[by_staff["code"].isin(st["worst"])]["csat"].mean()
    assert best > peers + 0.4 and worst < peers - 0.6
    n_few = by_staff[by_staff["code"].isin(st["few_surveys"])].groupby("code").size()
    assert sorted(n_few.tolist()) == [2, 3]
    remote = by_staff[by_staff["code"].isin(st["remote_crew_staff"])]["csat"]
    assert len(st["remote_crew_staff"]) > 0 and len(remote) > 0
    # storms: repair volume spikes on summer days with mass outages
    daily = _q(engine, "SELECT date(created_at, '+8 hours') d, COUNT(*) n, "
                       "SUM(outage_event_id IS NOT NULL) o FROM ticket WHERE service_type='repair' GROUP BY 1")
    daily["month"] = pd.to_datetime(daily["d"]).dt.month
    assert daily.loc[daily["o"] > 0, "month"].isin([6, 7, 8]).mean() > 0.8
    assert daily.loc[daily["o"] > 0, "n"].mean() > 1.5 * daily.loc[daily["o"] == 0, "n"].mean()
    assert _scalar(engine, "SELECT COUNT(*) FROM ticket WHERE exception_reason = 'weather'") > 0
    # halls: congested 9-11 am and on Mondays
    hall = _q(engine, "SELECT queued_at, answered_at FROM contact WHERE channel = 'hall' AND answered_at IS NOT NULL")
    local = pd.to_datetime(hall["queued_at"]) + pd.Timedelta(hours=8)
    wait = (pd.to_datetime(hall["answered_at"]) - pd.to_datetime(hall["queued_at"])).dt.total_seconds() / 60
    peak = (local.dt.hour >= 9) & (local.dt.hour < 11)
    assert wait[peak].mean() > 1.5 * wait[~peak].mean()
    assert wait[local.dt.day_of_week == 0].mean() > 1.3 * wait[local.dt.day_of_week.between(1, 4)].mean()
    # hotline service level around 85 % within 30 s (abandoned calls count as failures)
    hot = _q(engine, "SELECT abandoned, (julianday(answered_at) - julianday(queued_at)) * 86400 AS w, "
                     "(julianday(ended_at) - julianday(queued_at)) * 86400 AS a FROM contact WHERE channel='hotline'")
    offered = hot[~(hot["abandoned"].astype(bool) & (hot["a"] < 5))]
    sl = ((~offered["abandoned"].astype(bool)) & (offered["w"] <= 30)).mean()
    assert 0.78 < sl < 0.92
    # online share rises month by month
    monthly = _q(engine, "SELECT strftime('%Y-%m', created_at, '+8 hours') m, "
                         "AVG(channel IN ('app','wechat','alipay','web')) s FROM ticket GROUP BY 1 ORDER BY 1")
    assert monthly["s"].iloc[:3].mean() < 0.42 and monthly["s"].iloc[-3:].mean() > 0.52
    # dissatisfaction: missing progress updates on long tickets is the top driver (transparency)
    sat = _q(engine, "SELECT r.csat, t.progress_updates, t.channel, t.service_type, r.nps, "
                     "(julianday(t.resolved_at) - julianday(t.created_at)) * 1440 AS dur "
                     "FROM response r JOIN ticket t ON t.id = r.ticket_id")
    long_ = sat[sat["dur"] > 240]
    assert long_.loc[long_["progress_updates"] == 0, "csat"].mean() < long_.loc[long_["progress_updates"] > 0, "csat"].mean() - 0.8
    assert eff["satisfaction"]["top_driver_dimension"] == "transparency"
    dims = _q(engine, "SELECT a.response_id, a.dimension, a.value_num, r.csat FROM answer a "
                      "JOIN response r ON r.id = a.response_id")
    corr = dims.groupby("dimension").apply(lambda g: g["value_num"].corr(g["csat"]), include_groups=False)
    assert corr.idxmax() == "transparency"
    # billing questions drive hotline detractors
    hot_sat = sat[sat["channel"] == "hotline"]
    det = hot_sat.assign(d=hot_sat["nps"] <= 6).groupby("service_type")["d"].agg(["mean", "size"])
    assert det[det["size"] >= 30]["mean"].idxmax() == "billing"
    # follow-ups for low scores, some overdue
    fu = _q(engine, "SELECT f.reason, f.status, f.due_at, f.closed_at, r.csat FROM follow_up f "
                    "JOIN response r ON r.id = f.response_id")
    assert (fu.loc[fu["reason"] == "low_csat", "csat"] <= 2).all()
    closed = fu[fu["closed_at"].notna()]
    overdue = pd.to_datetime(closed["closed_at"]) > pd.to_datetime(closed["due_at"])
    assert 0.1 < overdue.mean() < 0.5
    # system FCR is computable: repeat contacts of the same customer and category within 7 days exist
    rep_share = _scalar(engine, """
        SELECT AVG(EXISTS (SELECT 1 FROM contact c2 WHERE c2.customer_id = c.customer_id AND c2.category = c.category
                           AND c2.queued_at > c.queued_at AND julianday(c2.queued_at) - julianday(c.queued_at) <= 7))
        FROM contact c WHERE c.customer_id IS NOT NULL""")
    assert 0.03 < rep_share < 0.3


def test_same_seed_in_two_files_gives_identical_figures(tmp_path: Path, loaded: tuple[Engine, dict, Path]) -> None:
    engine_a = loaded[0]
    engine_b = _engine(tmp_path / "second.db")
    run_demo(engine_b, "S", 7)
    sql = ("SELECT COUNT(*), SUM(csat), SUM(nps), MIN(submitted_at), MAX(submitted_at), SUM(LENGTH(comment)) "
           "FROM response")
    assert _q(engine_a, sql).equals(_q(engine_b, sql))
    sql = "SELECT status, channel, COUNT(*) n, MAX(updated_at) u, SUM(staff_id) s FROM ticket GROUP BY 1, 2 ORDER BY 1, 2"
    assert _q(engine_a, sql).equals(_q(engine_b, sql))
    sql = "SELECT COUNT(*), SUM(handle_seconds), SUM(abandoned), MAX(queued_at) FROM contact"
    assert _q(engine_a, sql).equals(_q(engine_b, sql))


def test_idempotent_replace_and_refuse(fresh: Engine) -> None:
    first = run_demo(fresh, "S", 5)
    again = run_demo(fresh, "S", 5)
    assert first["status"] == "loaded" and again["status"] == "unchanged"
    assert "nothing changed" in again["message"]
    assert again["counts"] == first["counts"]
    assert again["accounts"] == first["accounts"]
    other = run_demo(fresh, "S", 6)
    assert other["status"] == "replaced"
    with fresh.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM ticket")).scalar_one() == other["counts"]["ticket"]
        assert conn.execute(text("SELECT COUNT(*) FROM app_user")).scalar_one() == 4
        assert conn.execute(text("SELECT value FROM site_setting WHERE key='demo.seed'")).scalar_one() == "6"
        assert conn.execute(text("PRAGMA foreign_key_check")).fetchall() == []
    # the demo accounts log in with their demo-only passwords
    role, username, password = other["accounts"][-1]
    ident = authenticate(fresh, username, password)
    assert ident.role == "manager" and ident.scope_path.count("/") == 4  # /province/city/county/


def test_non_demo_data_is_refused_unless_replace(fresh: Engine) -> None:
    with fresh.begin() as conn:
        conn.execute(text("INSERT INTO region (id, code, name_zh, name_en, level, path, area_class, customers) "
                          "VALUES (1, 'X', '某地', 'Somewhere', 'province', '/1/', 'urban', 0)"))
    with pytest.raises(DemoRefused, match="--replace"):
        run_demo(fresh, "S", 5)
    done = run_demo(fresh, "S", 5, replace=True)
    assert done["status"] == "replaced"
    assert _scalar(fresh, "SELECT COUNT(*) FROM region WHERE code = 'X'") == 0


def test_demo_accounts_are_deterministic() -> None:
    w = generate("S", 9)
    accounts = demo_accounts(w)
    assert [a[:2] for a in accounts][:3] == [("admin", "admin"), ("hr", "hr"), ("manager", "manager")]
    assert accounts[3][1].startswith("manager_37")
    assert accounts == demo_accounts(generate("S", 9))
    assert accounts[0][2] != demo_accounts(generate("S", 10))[0][2]
    assert np.all([a[2].startswith("demo-") for a in accounts])
