"""Pre-aggregated KPI cells: the overview pack from cells + remaining rows equals the pack from the fact rows, on
SQLite and PostgreSQL, unfiltered and for every filter the dashboard offers; cells follow writes (version tokens)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from data import reference
from data.engine import get_engine
from data.repositories import data_window, regions
from data.repositories.lookup import scope_for
from metrics.aggregate import Aggregated
from metrics.overview import overview_pack, prepare
from reports.aggregates import _calendar as cell_calendar
from reports.aggregates import build_all, load_frames, overview_source

PACK = "state_grid_2023"


@pytest.fixture(autouse=True)
def _cells_at_any_size(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cells are used only for large periods; the S world is small, so force them (the rule itself is tested below)."""
    monkeypatch.setenv("GRIDCX_CELLS_MIN_ROWS", "0")


def _inputs(url: str, utc_midnight: bool):
    engine = get_engine(url)
    scope = scope_for(engine)
    window = data_window(engine)
    assert window is not None
    end = window[1].replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    if not utc_midnight:  # local midnight (what the dashboard's periods use)
        end = end - dt.timedelta(hours=8)
    start = end - dt.timedelta(days=90)
    prev = start - dt.timedelta(days=90)
    return engine, scope, (prev, start, end), reference.sla_policies(PACK), cell_calendar(), regions(engine, scope)


def _assert_same(a, b) -> None:
    head_a, head_b = a.headline_frame(), b.headline_frame()
    pd.testing.assert_frame_equal(head_a, head_b, check_exact=False, rtol=1e-9)
    for name in ("comparison", "breakdown", "trend"):
        x, y = getattr(a, name), getattr(b, name)
        keys = [c for c in ("kpi", "series", "region", "channel", "day") if c in x.columns]
        x = x.sort_values(keys).reset_index(drop=True)
        y = y.sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9, check_dtype=False)
    pd.testing.assert_frame_equal(a.weighted, b.weighted, check_exact=False, rtol=1e-6)
    assert dict(a.notes["volumes"]) == dict(b.notes["volumes"])


FILTERS = [
    {},
    {"channels": ("hotline",)},
    {"area_classes": ("rural", "remote")},
    {"service_types": ("repair",)},
    {"segments": ("commercial", "industrial")},
    {"channels": ("app", "wechat"), "service_types": ("repair", "billing")},
]


@pytest.mark.parametrize("utc_midnight", [True, False])
@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_pack_from_cells_equals_pack_from_rows(which, utc_midnight, request) -> None:
    url = request.getfixturevalue("demo_sqlite_url" if which == "sqlite" else "demo_pg_url")
    engine, scope, (prev, start, end), policies, cal, reg = _inputs(url, utc_midnight)
    build_all(engine, PACK)
    src_cur = overview_source(engine, scope, start, end, pack=PACK)
    src_prev = overview_source(engine, scope, prev, start, pack=PACK)
    assert isinstance(src_cur, Aggregated) and isinstance(src_prev, Aggregated)
    # cells stand for most rows: the remaining rows are the open orders and the edge / cut-off days
    assert src_cur.cells["tickets"].n > 0 and len(src_cur.rows.tickets) < 0.5 * src_cur.volumes()["tickets"]
    rows_cur = prepare(load_frames(engine, scope, start, end), policies, cal, regions=reg, root_path=scope.path,
                       pack=PACK)
    rows_prev = prepare(load_frames(engine, scope, prev, start), policies, cal, regions=reg, root_path=scope.path,
                        pack=PACK)
    agg_cur = prepare(src_cur, policies, cal, regions=reg, root_path=scope.path, pack=PACK)
    agg_prev = prepare(src_prev, policies, cal, regions=reg, root_path=scope.path, pack=PACK)
    for flt in FILTERS:
        a = overview_pack(agg_cur.filter(**flt) if flt else agg_cur, agg_prev.filter(**flt) if flt else agg_prev,
                          policies, cal, regions=reg, root_path=scope.path, pack=PACK)
        b = overview_pack(rows_cur.filter(**flt) if flt else rows_cur,
                          rows_prev.filter(**flt) if flt else rows_prev, policies, cal, regions=reg,
                          root_path=scope.path, pack=PACK)
        _assert_same(a, b)


def test_small_periods_read_rows(demo_sqlite_url, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = get_engine(demo_sqlite_url)
    scope = scope_for(engine)
    window = data_window(engine)
    assert window is not None
    monkeypatch.setenv("GRIDCX_CELLS_MIN_ROWS", "100000000")
    assert not isinstance(overview_source(engine, scope, window[1] - dt.timedelta(days=30), window[1]), Aggregated)
    monkeypatch.delenv("GRIDCX_CELLS_MIN_ROWS")  # the default floor: far above the S world's 20 k work orders
    assert not isinstance(overview_source(engine, scope, window[1] - dt.timedelta(days=30), window[1]), Aggregated)


def test_below_the_top_scope_reads_rows(demo_sqlite_url) -> None:
    engine = get_engine(demo_sqlite_url)
    tree = regions(engine, scope_for(engine))
    city = tree.loc[tree["level"] == "city", "code"].iloc[0]
    scope = scope_for(engine, city)
    window = data_window(engine)
    assert window is not None
    src = overview_source(engine, scope, window[1] - dt.timedelta(days=30), window[1], pack=PACK)
    assert not isinstance(src, Aggregated)


def test_cells_follow_a_write(demo_sqlite_url, tmp_path) -> None:
    """A new work order in a month gives the month a new token: its cells are rebuilt and count it."""
    import shutil

    from sqlalchemy import text

    path = tmp_path / "copy.db"
    shutil.copy(demo_sqlite_url.removeprefix("sqlite:///"), path)
    engine = get_engine(f"sqlite:///{path}")
    engine, scope, (_prev, start, end), _pol, _cal, _reg = _inputs(f"sqlite:///{path}", True)
    before = overview_source(engine, scope, start, end, pack=PACK).volumes()["tickets"]
    with engine.begin() as conn:
        row = conn.execute(text("SELECT * FROM ticket WHERE resolved_at IS NOT NULL AND created_at >= :s "
                                "ORDER BY id LIMIT 1"), {"s": start + dt.timedelta(days=10)}).mappings().one()
        new = dict(row)
        new["id"] = None
        new["external_no"] = "AGG-TEST-1"
        cols = [c for c in new if c != "id"]
        conn.execute(text(f"INSERT INTO ticket ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"),
                     {c: new[c] for c in cols})  # a plain write: the snapshot's hook marks its month
    after = overview_source(engine, scope, start, end, pack=PACK).volumes()["tickets"]
    assert after == before + 1
    assert np.isfinite(after)
