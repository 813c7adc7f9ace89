"""The fast overview pack (metrics.cube: per-row parts summed over integer-coded cells) gives the numbers of the
reference path (``compute`` per KPI at the finest grain + ``rollup``) and of ``kpis.compute`` run directly on the raw
rows, on the S demo world, for the whole period and after in-memory filter changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

import metrics.overview as ov
from data import reference
from data.engine import get_engine
from data.repositories import regions
from data.repositories.lookup import scope_for
from metrics import registry
from metrics.__main__ import load_frames, work_calendar
from metrics.kpis import compute
from metrics.overview import HEADLINE_KPIS, OverviewPack, overview_pack, prepare

POLICIES = reference.sla_policies("state_grid_2023")
FILTERS: tuple[dict[str, Any], ...] = (
    {}, {"channels": ("hotline",)}, {"area_classes": ("rural", "remote")}, {"service_types": ("repair",)},
    {"segments": ("residential",), "channels": ("app", "wechat", "hall")},
)
RTOL = 1e-9


@pytest.fixture(scope="module")
def world(demo_sqlite_url: str) -> Iterator[dict[str, Any]]:
    eng = get_engine(demo_sqlite_url)
    scope = scope_for(eng)
    lo = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    hi = dt.datetime(2026, 8, 1, tzinfo=dt.UTC)
    prev = lo - (hi - lo)
    cal = work_calendar(prev.date(), hi.date())
    tree = regions(eng, scope)
    cur = load_frames(eng, scope, lo, hi)
    before = load_frames(eng, scope, prev, lo)
    yield {"cur": cur, "before": before, "cal": cal, "tree": tree, "root": scope.path}


def _reference_pack(monkeypatch: pytest.MonkeyPatch, *args: Any, **kwargs: Any) -> OverviewPack:
    """The pack through the reference path: no fast cube, so every KPI is ``compute`` at the finest grain and
    rolled up (the implementation before metrics.cube)."""
    with monkeypatch.context() as m:
        m.setattr(ov, "kpi_cube", lambda *a, **k: None)
        return overview_pack(*args, **kwargs)


def _assert_packs_equal(fast: OverviewPack, ref: OverviewPack) -> None:
    assert list(fast.headline) == list(ref.headline)
    for k, r in ref.headline.items():
        f = fast.headline[k]
        assert f.n == r.n and f.status == r.status and f.unit == r.unit, k
        for attr in ("value", "ci_low", "ci_high", "target"):
            np.testing.assert_allclose(getattr(f, attr), getattr(r, attr), rtol=RTOL, err_msg=f"{k} {attr}")
        assert list(f.extra) == list(r.extra), k
        for e, v in r.extra.items():
            w = f.extra[e]
            if isinstance(v, float) and isinstance(w, float):
                np.testing.assert_allclose(w, v, rtol=RTOL, err_msg=f"{k} {e}")
            else:
                assert w == v or (v is None and w is None), (k, e, w, v)
    for part in ("comparison", "breakdown", "trend", "out_of_control", "weighted"):
        pd.testing.assert_frame_equal(getattr(fast, part), getattr(ref, part), check_exact=False, rtol=RTOL,
                                      atol=1e-12, obj=part)
    assert fast.by == ref.by and dict(fast.notes) == dict(ref.notes)


def test_fast_pack_equals_reference_path(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    args = (w["cur"], w["before"], POLICIES, w["cal"])
    kw = {"regions": w["tree"], "root_path": w["root"]}
    fast = overview_pack(*args, **kw)
    ref = _reference_pack(monkeypatch, *args, **kw)
    _assert_packs_equal(fast, ref)
    assert fast.headline["sla_arrival"].n > 100 and fast.headline["csat"].n > 100  # a real world, not empty
    assert len(fast.breakdown) > 50
    # every headline KPI takes the fast path (the comparison above is not the reference against itself)
    prepared = prepare(w["cur"], POLICIES, w["cal"], **kw)
    cubes = ov._cubes(prepared, HEADLINE_KPIS, ("region", "channel"), w["cal"], with_day=True)
    assert {k for k, c in cubes.items() if c.fast is None} == set()


@pytest.mark.parametrize("flt", FILTERS[1:], ids=lambda f: "-".join(f))
def test_fast_pack_after_filter_change_equals_reference(world: dict[str, Any], flt: dict[str, Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    w = world
    cur = prepare(w["cur"], POLICIES, w["cal"], regions=w["tree"], root_path=w["root"])
    before = prepare(w["before"], POLICIES, w["cal"], regions=w["tree"], root_path=w["root"])
    overview_pack(cur, before, POLICIES, w["cal"])  # a warm process: caches used before the filter change
    a, b = cur.filter(**flt), before.filter(**flt)
    fast = overview_pack(a, b, POLICIES, w["cal"])
    # the reference reads the same filtered rows without any cached arrays
    plain_a = ov.replace(a, row_caches=None)
    plain_b = ov.replace(b, row_caches=None)
    ref = _reference_pack(monkeypatch, plain_a, plain_b, POLICIES, w["cal"])
    _assert_packs_equal(fast, ref)
    # the filtered frames are the rows a fresh read + filter gives
    for attr in ("tickets", "contacts", "responses", "follow_ups"):
        assert getattr(a, attr).equals(getattr(prepare(w["cur"], POLICIES, w["cal"], regions=w["tree"],
                                                       root_path=w["root"]).filter(**flt), attr))


def _direct(kpi: str, frames: ov.Frames, by: list[str], cal: Any) -> pd.DataFrame:
    df = frames.get(registry.get(kpi).frame)
    return compute(kpi, df, by=by, **ov.kpi_params(kpi, frames, cal))


@pytest.mark.parametrize("flt", FILTERS[:3], ids=lambda f: "-".join(f) or "all")
def test_pack_cells_equal_compute_on_raw_rows(world: dict[str, Any], flt: dict[str, Any]) -> None:
    """Independent of any roll-up: every headline value and breakdown cell is what ``compute`` gives over the
    rows of that cell."""
    w = world
    cur = prepare(w["cur"], POLICIES, w["cal"], regions=w["tree"], root_path=w["root"]).filter(**flt)
    before = prepare(w["before"], POLICIES, w["cal"], regions=w["tree"], root_path=w["root"]).filter(**flt)
    pack = overview_pack(cur, before, POLICIES, w["cal"])
    for kpi in HEADLINE_KPIS:
        direct = _direct(kpi, cur, [], w["cal"]).iloc[0]
        h = pack.headline[kpi]
        assert h.n == int(direct["n"]) and h.status == direct["status"], kpi
        np.testing.assert_allclose([h.value, h.ci_low, h.ci_high],
                                   direct[["value", "ci_low", "ci_high"]].to_numpy(float), rtol=RTOL, err_msg=kpi)
        for extra in ("successes", "n_exception", "n_open_overdue", "n_repeat", "n_abandoned", "promoters",
                      "detractors", "n_not_yet_due", "n_open"):
            if extra in direct.index and extra in h.extra:
                assert h.extra[extra] == direct[extra], (kpi, extra)
        prev = _direct(kpi, before, [], w["cal"]).iloc[0]
        assert h.extra["n_previous"] == int(prev["n"]), kpi
    by = list(pack.by)
    for kpi, cells in pack.breakdown.groupby("kpi", sort=False):
        direct = _direct(str(kpi), cur, by, w["cal"])
        m = cells.merge(direct, on=by, how="outer", suffixes=("", "_d"), indicator=True)
        assert (m["_merge"] == "both").all(), (kpi, m.loc[m["_merge"] != "both", by])
        assert (m["n"] == m["n_d"]).all() and (m["status"] == m["status_d"]).all(), kpi
        for c in ("value", "ci_low", "ci_high"):
            np.testing.assert_allclose(m[c].to_numpy(float), m[f"{c}_d"].to_numpy(float), rtol=RTOL,
                                       equal_nan=True, err_msg=f"{kpi} {c}")


def test_trend_days_equal_compute_by_day(world: dict[str, Any]) -> None:
    w = world
    cur = prepare(w["cur"], POLICIES, w["cal"], regions=w["tree"], root_path=w["root"])
    pack = overview_pack(cur, None, POLICIES, w["cal"])
    for kpi in ("arrival_time", "online_share"):
        tr = pack.trend.loc[(pack.trend["series"] == kpi) & (pack.trend["n"] > 0)].set_index("day")
        direct = _direct(kpi, cur, ["day"], w["cal"]).set_index("day")
        direct = direct.loc[direct["n"] > 0]
        assert list(tr.index) == list(direct.index)
        assert (tr["n"] == direct["n"]).all()
        if registry.get(kpi).kind == "mean":
            np.testing.assert_allclose(tr["value"], direct["value"], rtol=RTOL)
