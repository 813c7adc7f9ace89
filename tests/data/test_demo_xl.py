"""The chunked demo world (demo.xl): one chunk is the in-memory world exactly; several chunks give unique ids,
closed references and the planted effects; the PostgreSQL chunked load matches the in-memory load row for row."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from data import snapshot
from data.engine import get_engine
from data.schema import upgrade
from demo import world as demo
from demo import xl as demo_xl
from demo.run import DemoRefused, run_demo
from demo.world import World
from tests.conftest import drop_pg_schema, new_pg_schema

pytestmark = pytest.mark.world  # builds demo worlds inline (tests/conftest.py: lane markers)


def _same_world(a: World, b: World) -> None:
    for name in World.TABLES:
        x, y = getattr(a, name), getattr(b, name)
        assert list(x.columns) == [c for c in y.columns if c in x.columns], name
        pd.testing.assert_frame_equal(x.reset_index(drop=True), y[list(x.columns)].reset_index(drop=True),
                                      check_exact=True)
    assert a.truth == b.truth


def test_one_chunk_is_exactly_the_in_memory_world() -> None:
    _same_world(demo.generate("S", 7), demo_xl.generate("S", 7, 1))


def test_chunk_plan_is_exact_and_covers_every_county_once() -> None:
    region, plan = demo_xl.plan_chunks("XL", demo_xl.CHUNKS["XL"])
    counties = region.loc[region["level"] == "county", "id"].tolist()
    assert sorted(c for ch in plan for c in ch.county_ids) == sorted(counties)
    for key in ("tickets", "contacts", "responses", "staff"):
        assert sum(ch.cfg[key] for ch in plan) == demo.SIZES["XL"][key]
    assert sum(ch.plant for ch in plan) == 1
    planted = next(ch for ch in plan if ch.plant)
    remote = region[(region["area_class"] == "remote") & (region["level"] == "station")]
    assert set(remote["parent_id"]) & set(planted.county_ids)  # the zero-effect remote crew can be planted
    assert 1_900 <= len(region) <= 2_300
    assert max(ch.cfg["tickets"] for ch in plan) < 400_000  # bounded chunks


def _check_keys(w: World) -> None:
    for name in World.TABLES:
        df = getattr(w, name)
        assert df["id"].is_unique, name
        if name != "region":
            assert (df["id"].to_numpy() == np.arange(1, len(df) + 1)).all(), name
    for table, col in (("ticket", "external_no"), ("contact", "external_no"), ("response", "external_no"),
                       ("customer", "account_no"), ("staff", "code"), ("team", "code"), ("outage_event", "code"),
                       ("invitation", "token_hash")):
        assert getattr(w, table)[col].is_unique, (table, col)
    for table, cols in demo_xl._REFS.items():
        df = getattr(w, table)
        for col, src in cols.items():
            if col != "id":
                ids = pd.to_numeric(df[col].astype(object), errors="coerce").dropna().astype(np.int64)
                assert ids.isin(getattr(w, src)["id"]).all(), (table, col)
    # codes follow the (shifted) ids
    t = w.ticket
    assert (t["external_no"].str[-8:].astype(int) == t["id"]).all()
    assert (w.staff["code"].str[2:].astype(int) == w.staff["id"]).all()
    assert (w.contact["external_no"].str[2:].astype(int) == w.contact["id"]).all()
    # staff work where they belong: a ticket's team is the staff member's team
    staff_team = w.staff.set_index("id")["team_id"]
    has = t["staff_id"].notna()
    assert (t.loc[has, "staff_id"].astype(int).map(staff_team).to_numpy()
            == t.loc[has, "team_id"].astype(int).to_numpy()).all()


def test_several_chunks_unique_ids_closed_references_deterministic() -> None:
    a = demo_xl.generate("S", 7, 4)
    _check_keys(a)
    counts = a.counts()
    assert counts["ticket"] == demo.SIZES["S"]["tickets"]
    assert abs(counts["contact"] - 30_000) < 600 and abs(counts["response"] - 5_000) < 150
    assert abs(counts["staff"] - 200) <= 4
    assert a.truth["counts"] == counts
    _same_world(a, demo_xl.generate("S", 7, 4))
    b = demo_xl.generate("S", 8, 4)
    assert not b.ticket["created_at"].equals(a.ticket["created_at"])


def test_planted_effects_survive_chunking() -> None:
    w = demo_xl.generate("M", 42, 4)
    eff = w.truth["effects"]
    obs = eff["repair_arrival"]["observed"]
    assert obs["urban"]["median_min"] < obs["rural"]["median_min"] < obs["remote"]["median_min"]
    assert obs["urban"]["within_limit"] > obs["rural"]["within_limit"]
    st = eff["staff"]
    assert len(st["best"]) == len(st["worst"]) == 3 and st["remote_crew_staff"]
    peers = st["peers_mean_csat"]
    for code in st["best"]:
        if st["observed"][code]["n"] >= 10:
            assert st["observed"][code]["mean_csat"] > peers + 0.3
    for code in st["worst"]:
        if st["observed"][code]["n"] >= 10:
            assert st["observed"][code]["mean_csat"] < peers - 0.3
    for code in st["few_surveys"]:
        assert 2 <= st["observed"][code]["n"] <= 3
    hall = eff["hall_congestion"]
    assert hall["observed_mean_wait_min_peak"] > 1.5 * hall["observed_mean_wait_min_offpeak"]
    assert eff["online_share"]["observed_last_month"] > eff["online_share"]["observed_first_month"] + 0.15
    # satisfaction: long tickets without progress updates score lowest on transparency
    r = w.response.merge(w.ticket[["id", "progress_updates", "created_at", "resolved_at"]], left_on="ticket_id",
                         right_on="id", suffixes=("", "_t"))
    long_t = (r["resolved_at"] - r["created_at"]).dt.total_seconds() / 60 > demo.LONG_TICKET_MIN
    no_upd = long_t & (r["progress_updates"] == 0)
    assert r.loc[no_upd, "csat"].mean() < r.loc[long_t & ~no_upd, "csat"].mean() - 0.3
    assert eff["thunderstorms"]["linked_tickets"] > 0.04 * len(w.ticket)


# --- PostgreSQL ---------------------------------------------------------------------------------------------------


def _pg(label: str) -> tuple[str, Engine]:
    url = new_pg_schema(label)
    engine = get_engine(url)
    upgrade(engine)
    return url, engine


def _schema(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def _digest(engine: Engine, schema: str, table: str) -> tuple[str, int]:
    with engine.connect() as conn:
        row = conn.execute(text(f'SELECT md5(string_agg(x::text, \'|\' ORDER BY x.id)), count(*) '
                                f'FROM "{schema}"."{table}" x')).one()
    return row[0], row[1]


def _catalogue(engine: Engine, schema: str) -> set[tuple[str, str, str, bool]]:
    with engine.connect() as conn:
        cons = conn.execute(text(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
            "WHERE connamespace = CAST(:s AS regnamespace)"), {"s": schema}).all()
        idx = conn.execute(text("SELECT tablename, indexname, replace(indexdef, :s, 'S'), true FROM pg_indexes "
                                "WHERE schemaname = :s"), {"s": schema}).all()
    return {tuple(r) for r in cons} | {tuple(r) for r in idx}  # type: ignore[misc]


@pytest.mark.postgres
def test_pg_chunked_load_of_one_chunk_equals_the_in_memory_load(tmp_path: Path) -> None:
    url_a, a = _pg("xl_a")
    url_b, b = _pg("xl_b")
    try:
        ra = run_demo(a, "S", 7, truth_path=tmp_path / "a.json")
        rb = run_demo(b, "S", 7, truth_path=tmp_path / "b.json", chunks=1)
        assert rb["status"] == "loaded" and rb["layout"] == "chunks 1/1" and ra["accounts"] == rb["accounts"]
        for table in World.TABLES:
            assert _digest(a, _schema(url_a), table) == _digest(b, _schema(url_b), table), table
        assert _catalogue(a, _schema(url_a)) == _catalogue(b, _schema(url_b))
        assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())
        da, db = snapshot.directory(a), snapshot.directory(b)
        files = sorted(p.relative_to(da) for p in da.rglob("*.parquet"))
        assert files and files == sorted(p.relative_to(db) for p in db.rglob("*.parquet"))
        for rel in files:
            assert pq.read_table(da / rel).replace_schema_metadata(None).equals(
                pq.read_table(db / rel).replace_schema_metadata(None)), rel
        # the partitions the loader wrote are current: a read rebuilds nothing from SQL
        with b.connect() as conn:
            tokens = dict(conn.execute(text("SELECT kind || '/' || month, version FROM fact_version")).all())
        for rel in files:
            meta = pq.ParquetFile(db / rel).schema_arrow.metadata[snapshot.VERSION_KEY].decode()
            assert meta.endswith(tokens[f"{rel.parent}/{rel.stem}"])
        assert run_demo(b, "S", 7, truth_path=tmp_path / "b.json", chunks=1)["status"] == "unchanged"
    finally:
        drop_pg_schema(url_a)
        drop_pg_schema(url_b)


@pytest.mark.postgres
def test_pg_chunked_load_validates_keys_without_superuser_shortcut(tmp_path: Path) -> None:
    url, engine = _pg("xl_c")
    try:
        before = _catalogue(engine, _schema(url))
        run_demo(engine, "S", 3, truth_path=tmp_path / "first.json")  # a different demo: replaced by the chunks
        out = demo_xl.load(engine, "S", 7, n_chunks=3, truth_path=tmp_path / "t.json", trust_keys=False)
        assert out["layout"] == "chunks 3/3"
        assert _catalogue(engine, _schema(url)) == before  # every constraint and index back, and validated
        with engine.connect() as conn:
            for table, n in out["counts"].items():
                assert conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one() == n, table
            assert conn.execute(text("SELECT count(*) FROM app_user")).scalar_one() == 0  # truncated with the rest
            nxt = conn.execute(text("SELECT nextval(pg_get_serial_sequence('ticket', 'id'))")).scalar_one()
            assert nxt == out["counts"]["ticket"] + 1
        w = demo_xl.generate("S", 7, 3)
        assert out["truth"] == w.truth
    finally:
        drop_pg_schema(url)


@pytest.mark.postgres
def test_pg_partial_world_under_the_test_hook_is_not_taken_for_the_whole(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    url, engine = _pg("xl_d")
    try:
        monkeypatch.setenv(demo_xl.MAX_CHUNKS_ENV, "1")
        first = run_demo(engine, "S", 7, truth_path=tmp_path / "t.json", chunks=4)
        assert first["layout"] == "chunks 1/4" and 0 < first["counts"]["ticket"] < 20_000
        monkeypatch.delenv(demo_xl.MAX_CHUNKS_ENV)
        second = run_demo(engine, "S", 7, truth_path=tmp_path / "t.json", chunks=4)
        assert second["status"] == "replaced" and second["counts"]["ticket"] == 20_000
    finally:
        drop_pg_schema(url)


def test_xl_on_sqlite_is_refused_before_touching_the_database(sqlite_url: str) -> None:
    with pytest.raises(DemoRefused, match="PostgreSQL"):
        run_demo(get_engine(sqlite_url), "XL", 42)
    with get_engine(sqlite_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM region")).scalar_one() == 0
