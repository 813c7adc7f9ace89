"""Imported source verdicts reach the overview (issue 15): work orders imported with no resolution time but the
source system's own "timely" flag, and hotline calls with no answer time but its "answered within the service
level" flag, are measured by the source's verdict - SLA attainment and the hotline service level show 75.0 %
(24 of 32 met), not "no data" - and the row path (compute per KPI), the fast cube and the pre-aggregated snapshot
cells give the same numbers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

import metrics.overview as ov
from data import reference
from data.engine import get_engine
from data.io import import_file
from data.repositories import Filters, contact_facts, regions, ticket_facts
from data.repositories.facts import sql_contact_facts, sql_ticket_facts
from data.repositories.lookup import scope_for
from metrics.__main__ import load_frames, work_calendar
from metrics.aggregate import Aggregated
from metrics.kpis import compute
from metrics.overview import overview_pack, prepare
from tests.app.dashboard_helpers import metric
from tests.app.helpers import login
from tests.factories import build_tiny_world

PACK = "state_grid_2023"
MET, MISSED = 24, 8  # 75 %: and n = 32 clears both KPIs' minimum sample (20 and 30)
STATIONS = ("A1S", "A2S", "B1S")
START, END = dt.datetime(2026, 9, 30, 16, tzinfo=dt.UTC), dt.datetime(2026, 10, 10, 16, tzinfo=dt.UTC)
TICKETS = {"kind": "tickets", "timestamps": {"zone": "Asia/Shanghai"},
           "constants": {"channel": "hotline", "service_type": "complaint"},
           "columns": {"No": "external_no", "Unit": "region", "Opened": "created_at", "Timely?": "sla_met"}}
CONTACTS = {"kind": "contacts", "timestamps": {"zone": "Asia/Shanghai"},
            "constants": {"channel": "hotline", "category": "billing"},
            "columns": {"Call": "external_no", "Unit": "region", "Queued": "queued_at", "Within SL": "sla_met"}}


def _csv(head: str) -> str:
    rows = [f"X{i},{STATIONS[i % 3]},2026-10-0{5 + i % 3} 1{i % 10}:00:00,{'Yes' if i < MET else 'No'}"
            for i in range(MET + MISSED)]
    return head + "\n" + "\n".join(rows) + "\n"


def _import(engine: Engine, tmp: Path, kind: str, mapping: dict[str, Any], content: str) -> None:
    mp, f = tmp / f"{kind}.json", tmp / f"{kind}.csv"
    mp.write_text(json.dumps(mapping), encoding="utf-8")
    f.write_text(content, encoding="utf-8")
    res = import_file(engine, kind, f, mp)
    assert res.error is None and (res.imported, res.rejected) == (MET + MISSED, 0), (res.error, res.rejects)


@pytest.fixture
def flagged_db(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tiny world's regions and users, its facts removed, then the imported flagged logs."""
    eng = get_engine(sqlite_url)
    build_tiny_world(eng)
    with eng.begin() as conn:
        for t in ("follow_up", "answer", "response", "invitation", "contact", "ticket"):
            conn.execute(text(f"DELETE FROM {t}"))
    _import(eng, tmp_path, "tickets", TICKETS, _csv("No,Unit,Opened,Timely?"))
    _import(eng, tmp_path, "contacts", CONTACTS, _csv("Call,Unit,Queued,Within SL"))
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return sqlite_url


def _headline(pack: ov.OverviewPack, kpi: str) -> tuple[float, int, str, int]:
    h = pack.headline[kpi]
    return round(h.value, 6), h.n, h.status, int(h.extra["n_source_flag"])


def test_overview_tiles_show_the_source_verdict(flagged_db: str) -> None:
    at = login("manager")
    assert not at.error, [e.value for e in at.error]
    assert metric(at, "办结时限达标率") == "75.0%"
    assert metric(at, "95598热线服务水平") == "75.0%"


def test_row_path_cube_and_snapshot_cells_agree(flagged_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    eng = get_engine(flagged_db)
    scope = scope_for(eng)
    f = Filters(START, END)
    # the snapshot readers and the SQL readers carry the same verdicts
    for snap, sql in ((ticket_facts, sql_ticket_facts), (contact_facts, sql_contact_facts)):
        a, b = (read(eng, scope, f).sort_values("id") for read in (snap, sql))
        assert str(a["sla_met"].dtype) == str(b["sla_met"].dtype) == "boolean"
        assert a["sla_met"].tolist() == b["sla_met"].tolist() and int(a["sla_met"].sum()) == MET
    cal = work_calendar(START.date(), END.date())
    tree = regions(eng, scope)
    policies = reference.sla_policies(PACK)
    kw = {"regions": tree, "root_path": scope.path, "pack": PACK}
    cur = prepare(load_frames(eng, scope, START, END), policies, cal, **kw)
    before = prepare(load_frames(eng, scope, START - (END - START), START), policies, cal, **kw)
    expected = {"sla_resolution": (0.75, 32, "missed", 32), "hotline_service_level": (0.75, 32, "missed", 32)}
    # the row path: compute over the rows
    for kpi, (value, n, status, flagged) in expected.items():
        row = compute(kpi, cur.get(ov.registry.get(kpi).frame), **ov.kpi_params(kpi, cur, cal)).iloc[0]
        assert (round(float(row["value"]), 6), int(row["n"]), row["status"], int(row["n_source_flag"])) == \
            (value, n, status, flagged), kpi
        assert int(row["n_input"]) == 32
    # the fast cube (the overview pack over the frames) and the reference path (compute + rollup)
    fast = overview_pack(cur, before, policies, cal)
    with monkeypatch.context() as m:
        m.setattr(ov, "kpi_cube", lambda *a, **k: None)
        ref = overview_pack(cur, before, policies, cal)
    # the pre-aggregated cells stored beside the snapshot
    from reports.aggregates import build_all, overview_source

    monkeypatch.setenv("GRIDCX_CELLS_MIN_ROWS", "0")
    build_all(eng, PACK)
    src = overview_source(eng, scope, START, END, pack=PACK, tz=cal.tz)
    assert isinstance(src, Aggregated) and src.cells["tickets"].n and src.cells["contacts"].n
    assert int(src.cells["contacts"].values["hotline_service_level:n_source_flag"].sum()) == 32
    cells = overview_pack(prepare(src, policies, cal, **kw), before, policies, cal)
    for kpi, want in expected.items():
        assert _headline(fast, kpi) == _headline(ref, kpi) == _headline(cells, kpi) == want, kpi
