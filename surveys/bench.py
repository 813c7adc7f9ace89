"""Intake under load: ``bench_intake(engine)`` — 20 concurrent submitters × 50 submissions, latency percentiles.

Used by the test suite (exactly-once checks) and by ``make bench`` (row ``survey_intake_p95``). It adds its own
region, team, staff and work order (codes starting ``BENCH-``) and one invitation per submission, so it can run
against any database at head, including the demo world.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, insert, select, update

from data.engine import new_id
from data.models import UTC, FollowUp, Invitation, Region, Response, Staff, Team, Ticket
from surveys.definitions import registry, rotation_seed
from surveys.intake import submit
from surveys.tokens import hash_token, new_token


def _answers(i: int) -> dict[str, object]:
    """Every fifth submission is unhappy (CSAT 1, detractor, unresolved) and must open a follow-up."""
    if i % 5 == 0:
        return {"csat": 1, "arrival": 2, "nps": 2, "fcr": False, "ces": 2, "comment": "等了很久"}
    return {"csat": 5, "arrival": 5, "restore": 4, "progress": 5, "crew": 5, "nps": 9, "fcr": True, "ces": 6}


def _asked(engine: Engine, tokens: list[str]) -> list[set[str]]:
    """The item keys each token's invitation is asked (its rotation plan)."""
    definition = registry().for_service_type("repair")
    with engine.connect() as conn:
        ids = dict(conn.execute(select(Invitation.token_hash, Invitation.id)
                                .where(Invitation.token_hash.in_([hash_token(t) for t in tokens]))).all())
    out = []
    for tok in tokens:
        seed = rotation_seed(ids[hash_token(tok)]) if definition.rotation is not None else None
        out.append({i.key for i in definition.asked("repair", "sms", seed)})
    return out


def prepare(engine: Engine, n: int, now: dt.datetime) -> tuple[list[str], int]:
    """A bench region with a work order and ``n`` fresh invitations; returns (tokens, region id)."""
    tag = uuid.uuid4().hex[:8]
    definition = registry().for_service_type("repair")
    with engine.begin() as conn:
        region_id = new_id(conn.execute(insert(Region).values(
            code=f"BENCH-{tag}", name_zh="压测营业厅", name_en="Bench hall", level="station", kind="hall",
            parent_id=None, path="/", area_class="urban", customers=0)))
        path = f"/{region_id}/"
        conn.execute(update(Region).where(Region.id == region_id).values(path=path))
        team_id = new_id(conn.execute(insert(Team).values(code=f"BENCH-{tag}", name="压测班组", role="crew",
                                                   region_id=region_id)))
        lead = new_id(conn.execute(insert(Staff).values(code=f"BENCH-{tag}", name="班组长", role="crew", team_id=team_id,
                                                 region_id=region_id, active=True)))
        conn.execute(update(Team).where(Team.id == team_id).values(lead_staff_id=lead))
        ticket_id = new_id(conn.execute(insert(Ticket).values(
            external_no=f"BENCH-{tag}", region_id=region_id, channel="hotline", service_type="repair",
            team_id=team_id, staff_id=lead, created_at=now - dt.timedelta(hours=5), closed_at=now - dt.timedelta(hours=1),
            status="closed", updated_at=now)))
        tokens = [new_token() for _ in range(n)]
        conn.execute(insert(Invitation), [dict(
            token_hash=hash_token(tok), survey_key=definition.key, survey_version=definition.version,
            ticket_id=ticket_id, customer_id=None, region_id=region_id, channel="sms", created_at=now,
            expires_at=now + dt.timedelta(days=7), delivered=True, reusable=False) for tok in tokens])
    return tokens, region_id


def bench_intake(engine: Engine, threads: int = 20, per_thread: int = 50) -> dict[str, Any]:
    """Submit ``threads × per_thread`` answers concurrently (each thread its own tokens, all starting together).

    Returns counts that must hold exactly (responses = submissions, no duplicate invitation, follow-ups = the
    unhappy fifth) and per-submission latency in milliseconds (p50, p95, max) and the wall time.
    """
    now = dt.datetime.now(UTC)
    n = threads * per_thread
    tokens, region_id = prepare(engine, n, now)
    asked = _asked(engine, tokens)
    answers = [{k: v for k, v in _answers(i).items() if k in asked[i]} for i in range(n)]
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    retries = 0
    lock = threading.Lock()
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        nonlocal retries
        local: list[float] = []
        local_status: Counter[str] = Counter()
        local_retries = 0
        barrier.wait()
        try:
            for j in range(per_thread):
                i = t * per_thread + j
                t0 = time.perf_counter()
                res = submit(engine, tokens[i], answers[i], survey_key="repair")
                local.append((time.perf_counter() - t0) * 1000.0)
                local_status[res.status] += 1
                local_retries += res.attempts - 1
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            errors.append(exc)
        with lock:
            latencies.extend(local)
            statuses.update(local_status)
            retries += local_retries

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    t0 = time.perf_counter()
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    with engine.connect() as conn:
        responses, distinct = conn.execute(
            select(func.count(Response.id), func.count(func.distinct(Response.invitation_id)))
            .where(Response.region_id == region_id)).one()
        follow_ups, fu_distinct = conn.execute(
            select(func.count(FollowUp.id), func.count(func.distinct(FollowUp.response_id)))
            .where(FollowUp.region_id == region_id)).one()
        consumed = conn.execute(select(func.count()).select_from(Invitation).where(
            Invitation.region_id == region_id, Invitation.used_at.is_not(None))).scalar_one()
    lat = np.asarray(latencies)
    return {
        "submissions": n, "threads": threads, "per_thread": per_thread, "db": engine.dialect.name,
        "statuses": dict(statuses), "responses": int(responses), "duplicates": int(responses - distinct),
        "invitations_consumed": int(consumed), "follow_ups": int(follow_ups),
        "follow_ups_expected": sum(1 for i in range(n) if i % 5 == 0), "follow_up_duplicates": int(follow_ups - fu_distinct),
        "retries": retries, "p50_ms": float(np.percentile(lat, 50)), "p95_ms": float(np.percentile(lat, 95)),
        "max_ms": float(lat.max()), "seconds": wall, "per_second": n / wall if wall else float("nan"),
    }
