"""System first-contact resolution counts a repeat on ANY channel (KPIS.md: "across all channels"): contact fact rows
carry ``next_queued_at`` (the same customer's next contact of the same category, found in SQL over all channels and
regions), so a frame filtered to one channel still sees the repeat made on another; the snapshot partitions carry it
too (and go stale with the next month's writes), and the chunked demo loader computes it the same way in memory."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select

from data import snapshot
from data.engine import get_engine
from data.models import UTC, Contact, Customer, OutageEvent, Region
from data.repositories import Filters, Scope, facts
from demo import world as demo
from demo import xl as demo_xl
from metrics.cube import RowCache, kpi_cube
from metrics.kpis import compute
from tests.factories import build_tiny_world

MARCH = Filters(dt.datetime(2026, 3, 1, tzinfo=UTC), dt.datetime(2026, 4, 1, tzinfo=UTC))


def _at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


# (external_no, customer: 1/2/None, channel, category, queued_at, outage-linked)
CONTACTS = [
    ("A", 1, "hotline", "billing", "2026-03-10 09:00:00", False),  # next: B by app 2 days later -> a repeat
    ("N", None, "hotline", "billing", "2026-03-11 08:00:00", False),  # no customer: neither gets nor gives
    ("X", 2, "hotline", "billing", "2026-03-11 09:00:00", False),  # another customer: not A's next contact
    ("B", 1, "app", "billing", "2026-03-12 09:00:00", False),  # next pool billing contact: D, 39 days -> NULL
    ("O", 1, "hotline", "billing", "2026-03-13 09:00:00", True),  # outage-linked: neither gets nor gives
    ("E1", 1, "hotline", "repair", "2026-03-20 10:00:00", False),  # tie with E2: the lower id comes first
    ("E2", 1, "app", "repair", "2026-03-20 10:00:00", False),  # next: F (10 days)
    ("F", 1, "wechat", "repair", "2026-03-30 10:00:00", False),  # next: H in April (month boundary)
    ("H", 1, "hall", "repair", "2026-04-02 10:00:00", False),
    ("D", 1, "wechat", "billing", "2026-04-20 09:00:00", False),
    ("J", 1, "hotline", "meter", "2026-05-01 00:00:00", False),  # next: K exactly 31 days later -> kept
    ("K", 1, "hotline", "meter", "2026-06-01 00:00:00", False),  # next: L 31 days + 1 s later -> NULL
    ("L", 1, "hotline", "meter", "2026-07-02 00:00:01", False),
]
EXPECTED = {"A": "2026-03-12 09:00:00", "E1": "2026-03-20 10:00:00", "E2": "2026-03-30 10:00:00",
            "F": "2026-04-02 10:00:00", "J": "2026-06-01 00:00:00"}  # every other contact: NULL


def _world(engine: Any) -> dict[str, int]:
    """The tiny world plus the contacts above (customers of stations 7 and 8); returns external_no -> id."""
    build_tiny_world(engine)
    with engine.begin() as conn:
        cust = {1: conn.execute(select(Customer.id).where(Customer.region_id == 7)).scalar_one(),
                2: conn.execute(select(Customer.id).where(Customer.region_id == 8)).scalar_one()}
        event = conn.execute(insert(OutageEvent).values(
            code="OE1", region_id=7, started_at=_at("2026-03-13 08:00:00"), cause="storm")).inserted_primary_key[0]
        for no, who, channel, category, when, outage in CONTACTS:
            conn.execute(insert(Contact).values(
                external_no=no, customer_id=cust[who] if who else None, region_id=7 if who != 2 else 8,
                channel=channel, category=category, queued_at=_at(when), abandoned=False,
                outage_event_id=event if outage else None))
        return dict(conn.execute(select(Contact.external_no, Contact.id)).all())


def _next_by_no(df: pd.DataFrame, ids: dict[str, int]) -> dict[str, str | None]:
    no = {v: k for k, v in ids.items()}
    return {no[int(i)]: (None if pd.isna(t) else t.strftime("%Y-%m-%d %H:%M:%S"))
            for i, t in zip(df["id"], df["next_queued_at"], strict=True)}


def _expected(nos: list[str]) -> dict[str, str | None]:
    return {n: EXPECTED.get(n) for n in nos}


def test_next_contact_by_hand(db_url: str) -> None:
    engine = get_engine(db_url)
    ids = _world(engine)
    scope = Scope("/1/")
    wide = Filters(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC))
    for reader in (facts.contact_facts, facts.sql_contact_facts):
        df = reader(engine, scope, wide)
        assert isinstance(df["next_queued_at"].dtype, pd.DatetimeTZDtype)
        got = _next_by_no(df, ids)
        assert got == _expected([c[0] for c in CONTACTS]), reader.__name__
        # March only: F's next contact is in April, read from the March rows alone (month boundary)
        march = _next_by_no(reader(engine, scope, MARCH), ids)
        assert march == _expected(["A", "N", "X", "B", "O", "E1", "E2", "F"]), reader.__name__
        # filtered to the hotline: A still sees its repeat by app; outside the scope (county A2 only) X's row
        # is there, A's is not
        hot = reader(engine, scope, Filters(MARCH.start, MARCH.end, channels=("hotline",)))
        assert _next_by_no(hot, ids) == _expected(["A", "N", "X", "O", "E1"])
        a2 = reader(engine, Scope("/1/2/5/"), MARCH)
        assert _next_by_no(a2, ids) == {"X": None}


def test_a_hotline_filter_no_longer_hides_a_repeat_made_in_the_app(db_url: str) -> None:
    engine = get_engine(db_url)
    _world(engine)
    hot = facts.contact_facts(engine, Scope("/1/"), Filters(MARCH.start, MARCH.end, channels=("hotline",)))
    params = {"days": 7, "period_start": MARCH.start, "period_end": MARCH.end, "min_n": 1,
              "observed_until": _at("2026-04-30 00:00:00")}
    r = compute("fcr_system", hot, **params).iloc[0]
    # judgeable hotline contacts: A, X, E1 (N has no customer, O is outage-linked); A is repeated by app 2 days
    # later, E1 by the app contact E2 queued at the same second (a higher id)
    assert (r["n"], r["n_repeat"], r["n_excluded_outage"], r["n_no_customer"]) == (3, 2, 1, 1)
    # the in-frame computation (the frame's rows only) cannot see A's app repeat, nor E1's tie partner
    old = compute("fcr_system", hot.drop(columns="next_queued_at"), **params).iloc[0]
    assert (old["n"], old["n_repeat"]) == (3, 0)
    # the fast cube gives the counts of compute (default censoring: the last hotline contact, E1 at 03-20, so
    # only A and X are judgeable)
    short = {"days": 7, "period_start": MARCH.start, "period_end": MARCH.end}
    ref = compute("fcr_system", hot, min_n=1, **short).iloc[0]
    cube = kpi_cube("fcr_system", RowCache(hot), (), short)
    assert cube is not None
    at = cube.at(()).iloc[0]
    assert (int(at["n"]), int(at["n_repeat"])) == (int(ref["n"]), int(ref["n_repeat"])) == (2, 1)


def test_touching_a_contact_month_makes_the_earlier_months_stale(sqlite_url: str) -> None:
    engine = get_engine(sqlite_url)
    ids = _world(engine)
    scope = Scope("/1/")
    feb = Filters(dt.datetime(2026, 2, 1, tzinfo=UTC), dt.datetime(2026, 3, 1, tzinfo=UTC))
    months = ["2026-01", "2026-02", "2026-03", "2026-06", "2026-07", "2026-08", "2026-09"]
    facts.contact_facts(engine, scope, Filters(_at("2026-01-01 00:00:00"), _at("2026-10-01 00:00:00")))
    before = snapshot.versions(engine, "contact", months)
    with engine.begin() as conn:
        snapshot.touch(conn, "contact", ["2026-03"])
    after = snapshot.versions(engine, "contact", months)
    changed = {m for m in months if before[m] != after[m]}
    # March's rows may be the next contact of February's and (February being shorter than 31 days) of the last
    # days of January
    assert changed == {"2026-01", "2026-02", "2026-03"}
    with engine.begin() as conn:
        snapshot.touch(conn, "contact", [dt.datetime(2026, 9, 5, tzinfo=UTC)])
    again = snapshot.versions(engine, "contact", months)
    assert {m for m in months if after[m] != again[m]} == {"2026-08", "2026-09"}  # August has 31 days
    # a real write: a March contact that is the next one of a February contact, touching only March
    with engine.begin() as conn:
        cust = conn.execute(select(Customer.id).where(Customer.region_id == 9)).scalar_one()
        for no, when in (("P1", "2026-02-27 12:00:00"), ("P2", "2026-03-02 12:00:00")):
            conn.execute(insert(Contact).values(external_no=no, customer_id=cust, region_id=9, channel="hotline",
                                                category="billing", queued_at=_at(when), abandoned=False))
        ids = dict(conn.execute(select(Contact.external_no, Contact.id)).all())
    assert _next_by_no(facts.contact_facts(engine, scope, feb), ids) == {"P1": "2026-03-02 12:00:00"}
    with engine.begin() as conn:
        conn.execute(insert(Contact).values(external_no="P0", customer_id=cust, region_id=9, channel="app",
                                            category="billing", queued_at=_at("2026-03-01 08:00:00"),
                                            abandoned=False))
        ids = dict(conn.execute(select(Contact.external_no, Contact.id)).all())
    assert _next_by_no(facts.contact_facts(engine, scope, feb), ids) == {"P1": "2026-03-01 08:00:00"}


def test_next_contact_times_in_memory_matches_the_hand_made_case() -> None:
    rows = [c for c in CONTACTS]
    cust = np.array([c[1] for c in rows], dtype=object)
    out = facts.next_contact_times(
        cust, np.array([c[3] for c in rows], dtype=object),
        np.array([np.datetime64(c[4].replace(" ", "T")) for c in rows]), np.arange(1, len(rows) + 1),
        np.array([c[1] is not None and not c[5] for c in rows]))
    got = {c[0]: (None if np.isnat(t) else str(t.astype("datetime64[s]")).replace("T", " "))
           for c, t in zip(rows, out, strict=True)}
    assert got == _expected([c[0] for c in CONTACTS])


# --- the S demo world ---------------------------------------------------------------------------------------------


def _period(engine: Any) -> Filters:
    with engine.connect() as conn:
        last = conn.execute(select(Contact.queued_at).order_by(Contact.queued_at.desc()).limit(1)).scalar_one()
    end = last.replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    return Filters(end - dt.timedelta(days=90), end)


def _top(engine: Any) -> Scope:
    with engine.connect() as conn:
        return Scope(conn.execute(select(Region.path).order_by(Region.path).limit(1)).scalar_one())


@pytest.mark.parametrize("world", ["demo_sqlite_url", "demo_pg_url"])
def test_demo_world_unfiltered_kpi_equals_the_in_frame_computation(world: str,
                                                                   request: pytest.FixtureRequest) -> None:
    engine = get_engine(request.getfixturevalue(world))
    f, scope = _period(engine), _top(engine)
    df = facts.contact_facts(engine, scope, f)
    assert df["next_queued_at"].notna().sum() > 100
    for days in (1, 7, 30):
        params = {"days": days, "period_start": f.start, "period_end": f.end, "min_n": 1}
        for by in ([], ["channel"], ["category"]):
            new = compute("fcr_system", df, by=by, **params)
            old = compute("fcr_system", df.drop(columns="next_queued_at"), by=by, **params)
            pd.testing.assert_frame_equal(new, old, check_exact=True)
        assert new["n_repeat"].sum() > 0 and new["n_excluded_outage"].sum() > 0
    # filtered to the hotline, the column sees the repeats made on other channels; the frame alone cannot
    hot = facts.contact_facts(engine, scope, Filters(f.start, f.end, channels=("hotline",)))
    params = {"period_start": f.start, "period_end": f.end, "min_n": 1,
              "observed_until": df["queued_at"].max()}  # the same censoring for both frames
    new = compute("fcr_system", hot, **params).iloc[0]
    old = compute("fcr_system", hot.drop(columns="next_queued_at"), **params).iloc[0]
    assert new["n"] == old["n"] and new["n_repeat"] > old["n_repeat"]
    # ... and equals the hotline rows of the unfiltered frame
    by_channel = compute("fcr_system", df, by=["channel"], **params).set_index("channel").loc["hotline"]
    assert (by_channel["n"], by_channel["n_repeat"]) == (new["n"], new["n_repeat"])


@pytest.mark.parametrize("world", ["demo_sqlite_url", "demo_pg_url"])
def test_demo_world_snapshot_sql_and_in_memory_next_contacts_agree(world: str, request: pytest.FixtureRequest,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    engine = get_engine(request.getfixturevalue(world))
    f, scope = _period(engine), _top(engine)
    for filters in (f, Filters(f.start, f.end, channels=("hotline", "app"), segments=("residential",))):
        snap = facts.contact_facts(engine, scope, filters).sort_values("id").reset_index(drop=True)
        sql = facts.sql_contact_facts(engine, scope, filters).sort_values("id").reset_index(drop=True)
        pd.testing.assert_series_equal(snap["next_queued_at"], sql["next_queued_at"], check_exact=True)
        monkeypatch.setenv("GRIDCX_FACT_SNAPSHOT", "0")
        off = facts.contact_facts(engine, scope, filters).sort_values("id").reset_index(drop=True)
        monkeypatch.delenv("GRIDCX_FACT_SNAPSHOT")
        pd.testing.assert_frame_equal(off, sql, check_exact=True)
    # every contact of the world at once, in memory (what the chunked demo loader does), equals SQL
    everything = Filters(dt.datetime(2000, 1, 1, tzinfo=UTC), dt.datetime(2100, 1, 1, tzinfo=UTC))
    allc = facts.sql_contact_facts(engine, scope, everything)
    pool = ~allc["outage"] & allc["customer_id"].notna() & allc["queued_at"].notna()
    mem = facts.next_contact_times(allc["customer_id"].to_numpy(dtype=object), allc["category"].to_numpy(dtype=object),
                                   allc["queued_at"].dt.tz_localize(None).to_numpy(), allc["id"].to_numpy(),
                                   pool.to_numpy())
    want = allc["next_queued_at"].dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    assert np.array_equal(mem, want, equal_nan=True)


def test_demo_world_fast_cube_equals_compute_after_a_channel_filter(demo_sqlite_url: str) -> None:
    engine = get_engine(demo_sqlite_url)
    f, scope = _period(engine), _top(engine)
    df = facts.contact_facts(engine, scope, f)
    parent = RowCache(df)
    params = {"period_start": f.start, "period_end": f.end}
    kpi_cube("fcr_system", parent, ("channel",), params)  # fills the parent's arrays
    m = df["channel"].isin(["hotline", "wechat"]).to_numpy()
    sub = df.loc[m]
    cube = kpi_cube("fcr_system", parent.take(m, sub), (), params)
    assert cube is not None
    fast = cube.at(()).iloc[0]
    ref = compute("fcr_system", sub, min_n=1, **params).iloc[0]
    for col in ("n", "successes", "n_repeat", "n_excluded_tail", "n_excluded_outage", "n_no_customer"):
        assert int(fast[col]) == int(ref[col]), col


# --- the chunked demo loader --------------------------------------------------------------------------------------


@pytest.mark.world  # generates the S demo world in chunks (in memory)
def test_chunked_demo_facts_carry_the_next_contact_of_the_whole_world() -> None:
    """A chunk holds every contact of its customers, so per-chunk next contacts are the whole world's."""
    region, plan = demo_xl.plan_chunks("S", 3)
    seen: set[int] = set()
    parts = []
    for _chunk, w in demo_xl.chunks("S", 7, 3, region=region, plan=plan):
        cust = set(w.customer["id"].tolist())
        used = set(pd.to_numeric(w.contact["customer_id"].astype(object), errors="coerce").dropna().astype(int))
        assert used <= cust and not cust & seen
        seen |= cust
        table, _months = demo._fact_tables(w)["contact"]
        parts.append(facts.with_next_contact(table).cast(snapshot.SCHEMAS["contact"]))
    import pyarrow as pa

    chunked = pa.concat_tables(parts).to_pandas()
    whole = demo_xl.generate("S", 7, 3)
    table, _months = demo._fact_tables(whole)["contact"]
    full = facts.with_next_contact(table).to_pandas()
    assert chunked["id"].tolist() == full["id"].tolist()
    pd.testing.assert_series_equal(chunked["next_queued_at"], full["next_queued_at"], check_exact=True)
    assert full["next_queued_at"].notna().sum() > 1000
