"""The chunked demo world: XL (10 M work orders, 15 M contacts, 2.5 M responses) on PostgreSQL in bounded memory.

``demo.world.generate`` builds a whole world in memory (L peaks at 2.8 GB), so XL is generated in chunks instead:

* the selected counties (XL: all 136 of Shandong) are cut, in code order, into ``n_chunks`` groups of about equal
  customers; each chunk gets its share of tickets, contacts, responses and staff (largest remainders, so the
  totals are exact) and is built by the same code as the in-memory world (``demo.world._build``) over its own
  counties, with its own ``numpy`` Generator seeded from (seed, chunk count, chunk index): deterministic per seed;
* each chunk's ids start after the previous chunk's (teams, staff, customers, outage events, work orders, contacts,
  invitations, responses, answers, follow-ups; account numbers too) and its codes (SD/TM/OE/GD/CT/SV/IVR) are
  re-derived from the shifted ids, so every key is unique across the world;
* the planted staff (3 best, 3 worst, the zero-effect remote crew) live in one chunk: the first one with a remote
  supply station. Every other effect is planted in every chunk by construction. Storm days are drawn per chunk
  (regional thunderstorms), so each county sees about as many as in a small world;
* ``n_chunks == 1`` reproduces ``demo.world.generate`` exactly (same Generator, same region table): the tests compare
  the two, frames, ground truth, loaded rows and fact snapshot.

Loading (PostgreSQL only): one transaction. The demo tables are truncated, their foreign keys, unique constraints
and secondary indexes dropped (definitions read from the catalogue of the current schema), each chunk is sent with
``COPY ... (FORMAT csv, FREEZE)`` (CSV rendered by pyarrow) by a loader thread while the next chunk is generated;
then the sequences are moved past the ids, the indexes and constraints re-created (the foreign keys are validated
by PostgreSQL as they are added), the fact-snapshot tokens planned, and the transaction committed; ANALYZE of the
loaded tables follows. The fact snapshot (data.snapshot) is written from the generated rows: each chunk's rows per
(kind, month) go to a temporary Arrow file, and each month's partition is assembled from those files while the
server builds the indexes. A contact's ``next_queued_at`` (its customer's next contact of the same category) is
computed per chunk, before the split by month: a chunk holds its customers' every contact.

Memory is bounded by about three chunks' frames (one generating, one queued, one being sent) plus one month's
partition of the largest fact kind plus the ground-truth accumulators (repair arrival minutes, ~25 MB at XL).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc
from sqlalchemy import Engine

from data import snapshot
from data.repositories.facts import with_next_contact
from demo import world as mem  # the in-memory generator

log = logging.getLogger(__name__)

CHUNKS = {"XL": 40}  # ~250 k work orders per chunk at XL
MAX_CHUNKS_ENV = "GRIDCX_DEMO_MAX_CHUNKS"  # test hook: build only the first N chunks (the world is then partial)
ACCOUNT_BASE = 3_700_000_000  # demo.world._make_customers numbers accounts from here


@dataclass(frozen=True)
class Chunk:
    index: int
    n_chunks: int
    county_ids: tuple[int, ...]
    cfg: dict[str, Any]
    plant: bool


def _apportion(total: int, shares: np.ndarray) -> np.ndarray:
    """Integers proportional to ``shares`` summing exactly to ``total`` (largest remainders, ties by position)."""
    raw = total * shares / shares.sum()
    base = np.floor(raw).astype(np.int64)
    rest = int(total - base.sum())
    base[np.argsort(-(raw - base), kind="stable")[:rest]] += 1
    return base


def plan_chunks(size: str, n_chunks: int) -> tuple[pd.DataFrame, list[Chunk]]:
    """The world's region table and its chunks: consecutive counties (in code order) of about equal customers."""
    cfg = mem.SIZES[size]
    region = mem._select_regions(size)
    counties = region[region["level"] == "county"]
    stations = region[(region["level"] == "station") & (region["kind"] == "supply_station")]
    cust = stations.groupby("parent_id")["customers"].sum()
    w = counties["id"].map(cust).fillna(0).to_numpy(float)
    n_chunks = max(1, min(int(n_chunks), len(counties)))
    before = np.cumsum(w) - w
    group = np.minimum((before / w.sum() * n_chunks).astype(int), n_chunks - 1)
    _, group = np.unique(group, return_inverse=True)  # no empty chunks
    n = int(group.max()) + 1
    shares = np.bincount(group, weights=w, minlength=n)
    counts = {k: _apportion(int(cfg[k]), shares) for k in ("tickets", "contacts", "responses", "staff")}
    remote_county = set(stations.loc[stations["area_class"] == "remote", "parent_id"])
    ids = counties["id"].to_numpy()
    has_remote = [bool(remote_county & set(ids[group == g].tolist())) for g in range(n)]
    plant_at = has_remote.index(True) if n > 1 and any(has_remote) else 0
    chunks = [Chunk(g, n, tuple(int(i) for i in ids[group == g]),
                    {**cfg, **{k: int(v[g]) for k, v in counts.items()}}, g == plant_at) for g in range(n)]
    return region, chunks


def _chunk_region(region: pd.DataFrame, chunk: Chunk) -> pd.DataFrame:
    if chunk.n_chunks == 1:
        return region
    mine = set(chunk.county_ids)
    keep = region["level"].isin(["province", "city"]) | region["id"].isin(mine) | region["parent_id"].isin(mine)
    return region[keep].reset_index(drop=True)


def _rng(seed: int, chunk: Chunk) -> np.random.Generator:
    if chunk.n_chunks == 1:
        return np.random.default_rng([seed, 20251126])  # exactly demo.world.generate
    return np.random.default_rng([seed, 20251126, chunk.n_chunks, chunk.index])


# --- ids ----------------------------------------------------------------------------------------------------------

_ID_TABLES = ("team", "staff", "customer", "outage_event", "ticket", "contact", "invitation", "response", "answer",
              "follow_up")
# table -> {column: the table its ids come from}
_REFS: dict[str, dict[str, str]] = {
    "team": {"id": "team", "lead_staff_id": "staff"},
    "staff": {"id": "staff", "team_id": "team"},
    "customer": {"id": "customer"},
    "outage_event": {"id": "outage_event"},
    "ticket": {"id": "ticket", "customer_id": "customer", "staff_id": "staff", "team_id": "team",
               "outage_event_id": "outage_event"},
    "contact": {"id": "contact", "customer_id": "customer", "ticket_id": "ticket", "staff_id": "staff",
                "outage_event_id": "outage_event"},
    "invitation": {"id": "invitation", "ticket_id": "ticket", "customer_id": "customer"},
    "response": {"id": "response", "invitation_id": "invitation", "ticket_id": "ticket"},
    "answer": {"id": "answer", "response_id": "response"},
    "follow_up": {"id": "follow_up", "response_id": "response", "ticket_id": "ticket", "customer_id": "customer",
                  "owner_staff_id": "staff"},
}


@dataclass
class Offsets:
    ids: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_ID_TABLES, 0))
    account: int = 0


def _add(s: pd.Series, by: int) -> Any:
    if by == 0:
        return s
    if s.dtype == object:  # ids with None
        arr = s.to_numpy(dtype=object).copy()
        m = pd.notna(arr)
        arr[m] = arr[m].astype(np.int64) + by
        return arr
    return s + by


def _zfill(ids: Any, width: int) -> np.ndarray:
    return np.char.zfill(np.asarray(ids).astype(str), width)


def shift(world: mem.World, off: Offsets) -> None:
    """Move a chunk's ids (1..n per table) behind the previous chunks' and re-derive the codes made from ids;
    then advance ``off`` past this chunk."""
    for table, cols in _REFS.items():
        df = getattr(world, table)
        for col, src in cols.items():
            df[col] = _add(df[col], off.ids[src])
    w = world
    if off.ids["team"]:
        w.team["code"] = mem._code("TM", w.team["id"].to_numpy(), 5)
    if off.ids["staff"]:
        w.staff["code"] = mem._code("SD", w.staff["id"].to_numpy(), 6)
    if off.ids["outage_event"]:
        w.outage_event["code"] = np.char.add(w.outage_event["code"].to_numpy(dtype=str).astype("<U7"),
                                             _zfill(w.outage_event["id"], 5)).astype(object)
    if off.ids["ticket"]:
        w.ticket["external_no"] = np.char.add(w.ticket["external_no"].to_numpy(dtype=str).astype("<U10"),
                                              _zfill(w.ticket["id"], 8)).astype(object)
    if off.ids["contact"]:
        w.contact["external_no"] = mem._code("CT", w.contact["id"].to_numpy(), 10)
    if off.ids["response"]:
        ids = w.response["id"].to_numpy()
        w.response["external_no"] = np.where(w.response["channel"].to_numpy(dtype=object) == "ivr",
                                             mem._code("IVR", ids, 9), mem._code("SV", ids, 9))
    acct = w.customer["account_no"].to_numpy(dtype=str).astype(np.int64)
    if off.account:
        w.customer["account_no"] = (acct + off.account).astype(str).astype(object)
    for table in _ID_TABLES:
        off.ids[table] += len(getattr(world, table))
    off.account += int(acct.max()) - ACCOUNT_BASE if len(acct) else 0


# --- ground truth, accumulated chunk by chunk (the same dictionary as demo.world._truth) --------------------------


class Truth:
    def __init__(self, size: str, seed: int, region: pd.DataFrame) -> None:
        self.size, self.seed, self.region = size, seed, region
        self.counts = dict.fromkeys(mem.World.TABLES, 0)
        self.counts["region"] = len(region)
        self.arrival: dict[str, list[np.ndarray]] = {a: [] for a in mem.ARRIVAL}
        self.n = dict.fromkeys(("outage_events", "linked_tickets", "linked_contacts", "weather", "hall_peak_n",
                                "hall_off_n", "hot_ok", "hot_n", "csat_top2", "csat_n", "peers_n", "open",
                                "resolved"), 0)
        self.f = {"hall_peak_sum": 0.0, "hall_off_sum": 0.0, "peers_sum": 0.0}
        self.any_hall = False
        self.online = np.zeros(mem.N_MONTHS + 1)
        self.month_n = np.zeros(mem.N_MONTHS + 1)
        self.staff: dict[str, Any] = {}

    def add(self, world: mem.World, planted: dict[str, Any], info: dict[str, Any], staff_off: int,
            team_off: int) -> None:
        """One chunk, after :func:`shift` (``staff_off``/``team_off`` are the offsets it was shifted by)."""
        for name, df in world.frames().items():
            if name != "region":
                self.counts[name] += len(df)
        t, contact, resp = world.ticket, world.contact, world.response
        rep = (t["service_type"] == "repair").to_numpy() & t["arrived_at"].notna().to_numpy()
        arr_min = ((t["arrived_at"] - t["created_at"]).dt.total_seconds() / 60).to_numpy()
        for a in mem.ARRIVAL:
            self.arrival[a].append(arr_min[rep & (info["area"] == a)])
        n = self.n
        n["outage_events"] += len(world.outage_event)
        n["linked_tickets"] += int(t["outage_event_id"].notna().sum())
        n["linked_contacts"] += int(contact["outage_event_id"].notna().sum())
        n["weather"] += int((t["exception_reason"] == "weather").sum())
        hall = contact["channel"].to_numpy() == "hall"
        self.any_hall |= bool(hall.any())
        q = contact["queued_at"].to_numpy()[hall]
        local_h = ((q + mem.UTC_OFFSET).astype("datetime64[h]").astype(np.int64) % 24)
        wait_min = contact["wait_s"].to_numpy()[hall] / 60
        peak = (local_h >= 9) & (local_h < 11)
        self.f["hall_peak_sum"] += float(wait_min[peak].sum())
        n["hall_peak_n"] += int(peak.sum())
        self.f["hall_off_sum"] += float(wait_min[~peak].sum())
        n["hall_off_n"] += int((~peak).sum())
        hot = (contact["channel"] == "hotline").to_numpy()
        hot_ans = hot & ~contact["abandoned"].to_numpy()
        n["hot_ok"] += int((contact["wait_s"].to_numpy()[hot_ans] <= 30).sum())
        n["hot_n"] += int(hot.sum())
        online = np.isin(t["channel"], ["app", "wechat", "alipay", "web"])
        month = info["month_idx"]
        self.online += np.bincount(month, weights=online, minlength=len(self.online))
        self.month_n += np.bincount(month, minlength=len(self.month_n))
        csat = resp["csat"].to_numpy()
        n["csat_top2"] += int((csat >= 4).sum())
        n["csat_n"] += len(csat)
        sid = resp["staff_idx"].to_numpy() + 1  # local staff ids
        planted_ids = planted["best"] + planted["worst"]
        peers = ~np.isin(sid, planted_ids)
        self.f["peers_sum"] += float(csat[peers].sum())
        n["peers_n"] += int(peers.sum())
        n["open"] += int(t["status"].isin(["open", "in_progress"]).sum())
        n["resolved"] += int((t["status"] == "resolved").sum())
        if planted_ids:
            staff = world.staff
            code_of = dict(zip(staff["id"] - staff_off, staff["code"], strict=False))  # local id -> code

            def mean_csat(ids: list[int]) -> dict[str, Any]:
                m = np.isin(sid, ids)
                return {"mean_csat": round(float(csat[m].mean()), 3) if m.any() else None, "n": int(m.sum())}

            role_of = dict(zip(staff["id"] - staff_off, staff["role"], strict=False))
            remote_team = planted["remote_team_id"]
            team_code = None
            remote_staff: list[str] = []
            if remote_team:
                team_code = str(world.team.loc[world.team["id"] == remote_team + team_off, "code"].iloc[0])
                remote_staff = [code_of[s - staff_off] for s in
                                staff.loc[staff["team_id"] == remote_team + team_off, "id"].tolist()]
            self.staff = {
                "best": [code_of[s] for s in planted["best"]], "worst": [code_of[s] for s in planted["worst"]],
                "few_surveys": [code_of[s] for s in planted["few_surveys"]],
                "observed": {code_of[s]: {**mean_csat([s]), "role": str(role_of[s])} for s in planted_ids},
                "remote_crew_team_code": team_code, "remote_crew_staff": remote_staff,
            }

    def result(self) -> dict[str, Any]:
        n, f, region = self.n, self.f, self.region
        arrival_obs = {}
        for a in mem.ARRIVAL:
            x = np.concatenate(self.arrival[a]) if self.arrival[a] else np.zeros(0)
            if len(x):
                arrival_obs[a] = {"median_min": round(float(np.median(x)), 2),
                                  "within_limit": round(float(np.mean(x <= mem.ARRIVAL_LIMIT[a])), 4), "n": len(x)}
        last = int(np.flatnonzero(self.month_n)[-1]) if self.month_n.any() else 0
        st = self.staff or {"best": [], "worst": [], "few_surveys": [], "observed": {}, "remote_crew_team_code": None,
                            "remote_crew_staff": []}
        return {
            "generator_version": mem.GENERATOR_VERSION, "size": self.size, "seed": self.seed,
            "window": {"start_local": "2025-01-01", "end_local_inclusive": "2026-11-25", "zone": "Asia/Shanghai",
                       "stored": "naive UTC"},
            "regions": {"counties": mem.SIZES[self.size]["counties"], "n_regions": len(region),
                        "area_classes": region[region["level"] == "station"]["area_class"].value_counts().to_dict()},
            "counts": dict(self.counts),
            "effects": {
                "repair_arrival": {"params_median_min_logsd": mem.ARRIVAL, "limits_min": mem.ARRIVAL_LIMIT,
                                   "outage_factor": mem.OUTAGE_ARRIVAL_FACTOR, "observed": arrival_obs,
                                   "expect": "rural and remote attainment clearly below urban"},
                "restoration_after_arrival": mem.RESTORATION,
                "thunderstorms": {"months": mem.STORM_MONTHS, "storm_days_per_summer": mem.STORM_DAYS_PER_SUMMER,
                                  "outage_events": n["outage_events"], "linked_tickets": n["linked_tickets"],
                                  "linked_contacts": n["linked_contacts"], "weather_exceptions": n["weather"]},
                "hall_congestion": {
                    **mem.HALL_WAIT,
                    "observed_mean_wait_min_peak": round(f["hall_peak_sum"] / n["hall_peak_n"], 2)
                    if self.any_hall and n["hall_peak_n"] else None,
                    "observed_mean_wait_min_offpeak": round(f["hall_off_sum"] / n["hall_off_n"], 2)
                    if self.any_hall and n["hall_off_n"] else None},
                "hotline": {**mem.HOTLINE_WAIT,
                            "observed_service_level_30s": round(n["hot_ok"] / max(n["hot_n"], 1), 4)},
                "online_share": {"planned_first_last_month": mem.ONLINE_SHARE,
                                 "observed_first_month": round(float(self.online[0] / self.month_n[0]), 4),
                                 "observed_last_month": round(float(self.online[last] / self.month_n[last]), 4)},
                "satisfaction": {
                    "top_driver": "missing progress updates on long tickets (progress_updates = 0, open > 4 h)",
                    "top_driver_dimension": "transparency",
                    "dimension_weights_on_latent": mem.DIM_WEIGHTS, "no_update_penalty": mem.NO_UPDATE_PENALTY,
                    "no_update_share_of_long_tickets": mem.NO_UPDATE_SHARE,
                    "long_ticket_minutes": mem.LONG_TICKET_MIN,
                    "second_driver": "delay (repair arrival vs limit, slow resolution) -> responsiveness",
                    "hotline_billing_penalty": mem.HOTLINE_BILLING_PENALTY,
                    "hotline_billing_expect": "billing tickets via the hotline have the highest detractor share",
                    "csat_top2_overall": round(n["csat_top2"] / n["csat_n"], 4) if n["csat_n"] else None,
                },
                "staff": {
                    "effect_on_latent": mem.STAFF_EFFECT, "best": st["best"], "worst": st["worst"],
                    "few_surveys": st["few_surveys"], "observed": st["observed"],
                    "peers_mean_csat": round(f["peers_sum"] / n["peers_n"], 3) if n["peers_n"] else None,
                    "remote_crew_team_code": st["remote_crew_team_code"],
                    "remote_crew_staff": st["remote_crew_staff"],
                    "remote_crew_effect": 0.0,
                    "remote_crew_expect": "raw CSAT below average; average once area class is accounted for",
                },
                "comments_share": mem.COMMENT_SHARE,
                "response_rate_target": mem.RESPONSE_RATE,
                "open_work": {"open_or_in_progress": n["open"], "resolved_not_closed": n["resolved"],
                              "long_open_share": 0.002},
            },
        }


# --- the generator ------------------------------------------------------------------------------------------------


def chunks(size: str, seed: int, n_chunks: int, max_chunks: int | None = None,
           truth: Truth | None = None, region: pd.DataFrame | None = None, plan: list[Chunk] | None = None):  # type: ignore[no-untyped-def]
    """Yield the world chunk by chunk: ``(chunk, world)`` with global ids (``world.region`` is the chunk's
    counties; the world's region table is :func:`plan_chunks`' first value). Feeds ``truth`` when given."""
    if region is None or plan is None:
        region, plan = plan_chunks(size, n_chunks)
    off = Offsets()
    for chunk in plan[:max_chunks]:
        world, planted, info = mem._build(_rng(seed, chunk), chunk.cfg, size, seed, _chunk_region(region, chunk),
                                           plant=chunk.plant)
        staff_off, team_off = off.ids["staff"], off.ids["team"]
        shift(world, off)
        if truth is not None:
            truth.add(world, planted, info, staff_off, team_off)
        del info, planted
        yield chunk, world


def generate(size: str, seed: int, n_chunks: int, max_chunks: int | None = None) -> mem.World:
    """The chunked world concatenated in memory (for tests at S/M; XL is only ever streamed by :func:`load`)."""
    region, plan = plan_chunks(size, n_chunks)
    truth = Truth(size, seed, region)
    parts = [w for _c, w in chunks(size, seed, n_chunks, max_chunks, truth, region, plan)]
    frames = {t: pd.concat([getattr(w, t) for w in parts], ignore_index=True) for t in mem.World.TABLES
              if t != "region"}
    world = mem.World(size, seed, region[list(mem.COLUMNS["region"])], **frames)
    world.truth = truth.result()
    return world


# --- the fact snapshot, from the generated rows -------------------------------------------------------------------


class Facts:
    """Each chunk's fact rows per (kind, month) in temporary Arrow files; :meth:`write` assembles the partitions."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gridcx-demo-facts-"))
        self.parts: dict[tuple[str, str], list[Path]] = {}
        snapshot._builders()  # the stored schemas

    def add(self, chunk: int, world: mem.World) -> None:
        for kind, (table, months) in mem._fact_tables(world).items():
            if kind == "contact":  # a chunk holds all contacts of its customers: their next contacts are in it
                table = with_next_contact(table)
            order = np.argsort(months, kind="stable")  # by month, ids ascending within each month
            table = table.cast(snapshot.SCHEMAS[kind]).take(pa.array(order))
            months = months[order]
            keys, starts = np.unique(months, return_index=True)
            ends = np.append(starts[1:], len(months))
            for m, a, b in zip(keys, starts, ends, strict=True):
                path = self.dir / f"{kind}-{m}-{chunk:05d}.arrow"
                with ipc.new_file(path, table.schema) as out:
                    out.write_table(table.slice(int(a), int(b - a)))
                self.parts.setdefault((kind, str(m)), []).append(path)

    def months(self) -> dict[str, Iterable[str]]:
        out: dict[str, Iterable[str]] = {}
        for kind, month in self.parts:
            out[kind] = [*out.get(kind, []), month]
        return out

    def write(self, engine: Engine, tokens: list[tuple[str, str, str]]) -> None:
        for kind, month, version in tokens:
            tables = []
            for path in self.parts[(kind, month)]:
                with ipc.open_file(path) as f:
                    tables.append(f.read_all())
            snapshot.write_planned(engine, kind, month, pa.concat_tables(tables), version)
            for path in self.parts[(kind, month)]:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


# --- PostgreSQL ---------------------------------------------------------------------------------------------------


def _csv(df: pd.DataFrame, cols: list[str]) -> pa.Buffer:
    """Rows as PostgreSQL CSV: NULL is an unquoted empty field, strings are quoted, timestamps naive UTC."""
    arrays = []
    for c in cols:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            arrays.append(pa.array(s.to_numpy().astype("datetime64[us]"), from_pandas=True))
        elif s.dtype == object:  # None mixed with ints, bools or strings (numpy scalars included)
            arrays.append(pa.array(s.to_numpy(dtype=object), from_pandas=True))
        else:
            arrays.append(pa.array(s, from_pandas=True))
    table = pa.Table.from_arrays(arrays, names=cols)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
    return sink.getvalue()


_CATALOGUE = """
SELECT 'fk' AS kind, conrelid::regclass::text AS tbl, conname AS name, pg_get_constraintdef(oid) AS def
  FROM pg_constraint WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
   AND (conrelid::regclass::text = ANY(%(t)s) OR confrelid::regclass::text = ANY(%(t)s))
UNION ALL
SELECT 'uq', conrelid::regclass::text, conname, pg_get_constraintdef(oid)
  FROM pg_constraint WHERE contype = 'u' AND connamespace = current_schema()::regnamespace
   AND conrelid::regclass::text = ANY(%(t)s)
UNION ALL
SELECT 'ix', i.indrelid::regclass::text, c.relname, pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE c.relnamespace = current_schema()::regnamespace AND i.indrelid::regclass::text = ANY(%(t)s)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
"""


class PgLoader:
    """One transaction: truncate, drop the constraints and secondary indexes, COPY FREEZE, rebuild, commit."""

    def __init__(self, engine: Engine, trust_keys: bool | None = None) -> None:
        self.raw = engine.raw_connection()
        self.conn: Any = self.raw.driver_connection  # psycopg.Connection
        self.seconds: dict[str, float] = {}
        self.trust_keys = trust_keys

    def begin(self) -> None:
        tables = [t for t in mem._delete_order()]
        with self.conn.cursor() as cur:
            if self.trust_keys is None:  # needs a superuser, like pg_restore --disable-triggers
                cur.execute("SELECT current_setting('is_superuser')")
                self.trust_keys = cur.fetchone()[0] == "on"
            cur.execute("SET LOCAL synchronous_commit = off")
            cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
            if self.trust_keys:
                # The generator makes every reference by construction (tests check them at S/M); the foreign keys
                # stay in place and valid, only their per-row triggers are off for this transaction's COPYs.
                cur.execute("SET LOCAL session_replication_role = replica")
            cur.execute(f"TRUNCATE {', '.join(f'{chr(34)}{t}{chr(34)}' for t in tables)}")
            cur.execute(_CATALOGUE, {"t": list(mem.World.TABLES)})
            self.dropped = [r for r in cur.fetchall() if not (self.trust_keys and r[0] == "fk")]
            for kind, tbl, name, _def in self.dropped:  # foreign keys first, then what they might lean on
                if kind == "fk":
                    cur.execute(f'ALTER TABLE {tbl} DROP CONSTRAINT "{name}"')
            for kind, tbl, name, _def in self.dropped:
                if kind == "uq":
                    cur.execute(f'ALTER TABLE {tbl} DROP CONSTRAINT "{name}"')
                elif kind == "ix":
                    cur.execute(f'DROP INDEX "{name}"')

    def copy(self, table: str, df: pd.DataFrame) -> None:
        if not len(df):
            return
        t0 = time.perf_counter()
        cols = mem.COLUMNS[table]
        data = _csv(df, cols)
        t1 = time.perf_counter()
        with self.conn.cursor() as cur:
            with cur.copy(f'COPY "{table}" ({", ".join(cols)}) FROM STDIN (FORMAT csv, FREEZE true)') as cp:
                step = 8 << 20
                for start in range(0, data.size, step):
                    cp.write(memoryview(data)[start:start + step])
        self.seconds["csv"] = self.seconds.get("csv", 0.0) + t1 - t0
        self.seconds["copy"] = self.seconds.get("copy", 0.0) + time.perf_counter() - t1

    def finish(self, tokens: list[tuple[str, str, str]]) -> None:
        t0 = time.perf_counter()
        with self.conn.cursor() as cur:
            if self.trust_keys:
                cur.execute("SET LOCAL session_replication_role = origin")
            for table in mem.World.TABLES:  # keep identity sequences ahead of the explicit ids
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                            f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM \"{table}\"), 1))")
            for kinds in (("ix", "uq"), ("fk",)):
                for kind, tbl, name, definition in self.dropped:
                    if kind not in kinds:
                        continue
                    t1 = time.perf_counter()
                    cur.execute(definition if kind == "ix" else f'ALTER TABLE {tbl} ADD CONSTRAINT "{name}" {definition}')
                    log.debug("%s %.1f s", name, time.perf_counter() - t1)
            cur.execute(snapshot.INVALIDATE_SQL)  # same transaction: every fact snapshot partition goes stale
            cur.executemany(snapshot.PLAN_SQL.format("%s"), tokens)  # ... except those written from the rows
        self.seconds["rebuild"] = time.perf_counter() - t0

    def commit_and_analyze(self) -> None:
        self.conn.commit()
        t0 = time.perf_counter()
        self.conn.autocommit = True
        try:
            with self.conn.cursor() as cur:
                for table in mem.World.TABLES:
                    cur.execute(f'ANALYZE "{table}"')
        finally:
            self.conn.autocommit = False
        self.seconds["analyze"] = time.perf_counter() - t0

    def rollback(self) -> None:
        try:
            self.conn.rollback()
        except Exception as exc:  # noqa: BLE001 - the connection may already be gone
            log.warning("rollback of the demo load failed: %s", exc)

    def close(self) -> None:
        self.raw.close()


def _max_chunks(max_chunks: int | None) -> int | None:
    if max_chunks is None and os.environ.get(MAX_CHUNKS_ENV):
        return int(os.environ[MAX_CHUNKS_ENV])
    return max_chunks


def layout(size: str, n_chunks: int, max_chunks: int | None = None) -> str:
    """How a chunked world was cut, e.g. ``chunks 40/40`` (a partial world built under the test hook: ``2/40``);
    stored as the ``demo.layout`` setting so a different cut is never taken for the same world."""
    _region, plan = plan_chunks(size, n_chunks)
    return f"chunks {len(plan[:_max_chunks(max_chunks)])}/{len(plan)}"


def load(engine: Engine, size: str, seed: int, n_chunks: int | None = None, max_chunks: int | None = None,
         truth_path: Path | None = None, trust_keys: bool | None = None) -> dict[str, Any]:
    """Generate and load the world chunk by chunk into an (emptied) PostgreSQL demo database; writes the ground
    truth and the fact snapshot. Returns ``{"counts", "region", "truth", "groundtruth", "layout", "seconds"}``."""
    if engine.url.get_backend_name() != "postgresql":
        raise ValueError("the chunked demo loader needs PostgreSQL")
    n_chunks = n_chunks or CHUNKS.get(size, 1)
    max_chunks = _max_chunks(max_chunks)
    t0 = time.perf_counter()
    region, plan = plan_chunks(size, n_chunks)
    n_built = len(plan[:max_chunks])
    truth = Truth(size, seed, region)
    facts = Facts() if snapshot.enabled() else None
    loader = PgLoader(engine, trust_keys)
    work: queue.Queue[mem.World | None] = queue.Queue(maxsize=1)
    failed: list[BaseException] = []
    seconds: dict[str, float] = {"generate": 0.0, "facts": 0.0}

    def send() -> None:
        while True:
            world = work.get()
            if world is None:
                return
            if failed:
                continue  # drain, so the producer never blocks
            try:
                for table in mem.World.TABLES:
                    if table != "region":
                        loader.copy(table, getattr(world, table))
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                failed.append(exc)

    sender = threading.Thread(target=send, name="demo-copy")
    try:
        loader.begin()
        loader.copy("region", region)
        sender.start()
        it = chunks(size, seed, n_chunks, max_chunks, truth, region, plan)
        while True:
            t1 = time.perf_counter()
            item = next(it, None)
            seconds["generate"] += time.perf_counter() - t1
            if item is None or failed:
                break
            chunk, world = item
            t1 = time.perf_counter()
            if facts is not None:
                facts.add(chunk.index, world)
            seconds["facts"] += time.perf_counter() - t1
            log.info("demo %s chunk %d/%d generated (%.0f s)", size, chunk.index + 1, n_built,
                     time.perf_counter() - t0)
            work.put(world)
            del world, item
        work.put(None)
        sender.join()
        if failed:
            raise failed[0]
        seconds["sent"] = time.perf_counter() - t0
        tokens = snapshot.plan(facts.months()) if facts is not None else []
        # the server rebuilds the indexes while this process writes the Parquet partitions
        rebuild = threading.Thread(target=lambda: _catch(failed, loader.finish, tokens), name="demo-rebuild")
        rebuild.start()
        t1 = time.perf_counter()
        try:
            if facts is not None:
                facts.write(engine, tokens)
        except OSError as exc:
            log.warning("fact snapshot not written: %s", exc)
        finally:
            seconds["snapshot"] = time.perf_counter() - t1
            rebuild.join()
        if failed:
            raise failed[0]
        loader.commit_and_analyze()
    except BaseException:
        if sender.is_alive():
            failed.append(RuntimeError("aborted"))
            work.put(None)
            sender.join()
        loader.rollback()
        raise
    finally:
        loader.close()
        if facts is not None:
            facts.close()
    result = truth.result()
    path = truth_path or mem.groundtruth_path(engine)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=mem._json_default), encoding="utf-8")
    seconds.update(loader.seconds)
    seconds["total"] = time.perf_counter() - t0
    return {"counts": result["counts"], "region": region, "truth": result, "groundtruth": path,
            "layout": f"chunks {n_built}/{len(plan)}", "seconds": {k: round(v, 1) for k, v in seconds.items()}}


def _catch(failed: list[BaseException], fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except BaseException as exc:  # noqa: BLE001 - handed to the main thread
        failed.append(exc)
