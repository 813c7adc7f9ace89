"""Missing is not zero, end to end: hotline calls imported without answer times (abandoned left at its default)
give "无数据" on the overview tiles (no ✓/✗), "no_data" with an empty value in ``python -m metrics report``, and
no data from the pre-aggregated cells of the snapshot path."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from sqlalchemy import insert

from data import snapshot
from data.engine import get_engine
from data.models import Contact
from tests.app.dashboard_helpers import markdown, metric
from tests.app.helpers import login

CALLS = 40


def _calls_without_answers(url: str) -> None:
    eng = get_engine(url)
    with eng.begin() as conn:
        for i in range(CALLS):
            conn.execute(insert(Contact).values(
                external_no=f"NA-{i}", region_id=7 if i % 2 else 8, channel="hotline", category="billing",
                queued_at=dt.datetime(2026, 10, 5, 2, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=i)))
        snapshot.invalidate_all(conn)


@pytest.fixture
def no_answer_db(tiny_app_db: str) -> str:
    _calls_without_answers(tiny_app_db)
    return tiny_app_db


def test_overview_tiles_say_no_data_without_a_status(no_answer_db: str) -> None:
    at = login("manager")
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "95598热线服务水平") == "无数据"
    assert metric(at, "呼损率(放弃率)") == "无数据"
    captions = [c.value for c in at.caption]
    assert sum(c.startswith(":gray[∅ 无数据] · 范围内的记录均缺少") for c in captions) >= 2
    # the two tiles draw no status line (✓/✗ · target · n = 40 calls)
    md = markdown(at)
    assert "目标 ≥ 90.0% · n = 40" not in md and "目标 ≤ 5.0% · n = 40" not in md
    assert metric(at, "到达现场时限达标率") == "50.0%"  # the measured KPIs are unchanged


def test_report_command_prints_no_data(no_answer_db: str) -> None:
    env = {**os.environ, "DATABASE_URL": no_answer_db}
    out = subprocess.run([sys.executable, "-m", "metrics", "report", "--from", "2026-10-01", "--to", "2026-10-10",
                          "--kpi", "hotline_service_level,abandonment_rate,sla_arrival", "--format", "csv"],
                         capture_output=True, text=True, env=env, check=True).stdout.splitlines()
    assert out[0] == "kpi,group,value,n,ci_low,ci_high,target,status"
    assert out[1] == f"hotline_service_level,{{}},,{CALLS},,,0.9,no_data"
    assert out[2] == f"abandonment_rate,{{}},,{CALLS},,,0.05,no_data"
    assert out[3].startswith("sla_arrival,{},0.5,40,") and out[3].endswith(",missed")


def test_snapshot_cells_give_no_data(no_answer_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from data import reference
    from data.repositories import regions
    from data.repositories.lookup import scope_for
    from metrics.aggregate import Aggregated
    from metrics.overview import overview_pack, prepare
    from reports.aggregates import _calendar, build_all, overview_source

    monkeypatch.setenv("GRIDCX_CELLS_MIN_ROWS", "0")
    eng = get_engine(no_answer_db)
    scope = scope_for(eng)
    build_all(eng, "state_grid_2023")
    start, end = dt.datetime(2026, 9, 30, 16, tzinfo=dt.UTC), dt.datetime(2026, 10, 10, 16, tzinfo=dt.UTC)
    src = overview_source(eng, scope, start, end, pack="state_grid_2023")
    assert isinstance(src, Aggregated) and src.cells["contacts"].n > 0
    assert int(src.cells["contacts"].values["hotline_service_level:n_scope"].sum()) == CALLS
    assert int(src.cells["contacts"].values["hotline_service_level:n_input"].sum()) == 0
    cal = _calendar()
    pol = reference.sla_policies("state_grid_2023")
    pack = overview_pack(prepare(src, pol, cal, regions=regions(eng, scope), root_path=scope.path), None, pol, cal)
    for k in ("hotline_service_level", "abandonment_rate"):
        h = pack.headline[k]
        assert h.status == "no_data" and h.value != h.value and h.n == CALLS, k
    cells = pack.breakdown.loc[pack.breakdown["kpi"] == "hotline_service_level"]
    assert len(cells) and set(cells["status"]) == {"no_data"}
