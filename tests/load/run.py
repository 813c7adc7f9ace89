"""Bounded load test on loopback: survey intake and dashboard reads at rising concurrency; p50/p95 and errors.

    python -m tests.load.run                       # a fresh SQLite file with the size-S demo world
    python -m tests.load.run --database-url postgresql+psycopg://root@127.0.0.1:5432/test?schema=load_x
    python -m tests.load.run --levels 1,2,4,8,16 --seconds 10 --max-ops 600 --json out.json

What one operation is:
  * intake  - ``surveys.intake.submit`` of a fresh one-time token (validate, consume, response + answers +
              follow-up in one transaction) - what the survey page does on "submit";
  * read    - a county manager's page view on a cache miss: ``headline`` + ``response_facts`` + ``ticket_facts``
              for the last 30 days of data in that county's scope (SQL with the scope applied).
The mix is ``--intake-share`` intake (default 0.5). Each level runs for at most ``--seconds`` and ``--max-ops``
operations (bounded), with that many worker threads in one process (as in one Streamlit replica). A level is
"sustained" when it has no errors and p95 stays under the targets (intake 500 ms, read 2 s; PERFORMANCE.md).
Refuses any database host that is not loopback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from data.engine import get_engine
from data.models import UTC, Invitation, Region, Ticket
from data.repositories import Filters, Scope, data_window, headline, response_facts, ticket_facts
from data.schema import upgrade
from surveys.intake import submit
from surveys.tokens import hash_token, new_token

HAPPY = {"csat": 5, "arrival": 5, "restore": 4, "progress": 5, "crew": 5, "fcr": True, "ces": 7, "nps": 10}
UNHAPPY = {"csat": 1, "arrival": 1, "fcr": False, "nps": 2, "comment": "等了五个小时，态度差"}
TARGET_P95 = {"intake": 0.5, "read": 2.0}
LOOPBACK = {"127.0.0.1", "localhost", "::1", None, ""}


def _prepare(url: str | None, size: str) -> str:
    if url is None:
        path = Path(tempfile.mkdtemp(prefix="gridcx-load-")) / "gridcx.db"
        url = f"sqlite:///{path}"
    parsed = make_url(url)
    if parsed.host not in LOOPBACK:
        raise SystemExit(f"refusing a non-loopback database host {parsed.host!r}: this load test is loopback only")
    engine = get_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        have = conn.execute(select(Ticket.id).limit(1)).first()
    if have is None:
        from demo.run import run_demo

        print(f"loading the demo world {size} ...", file=sys.stderr)
        run_demo(engine, size, 42)
    return url


def _invitations(engine, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    """``n`` fresh one-time invitations on closed repairs (tokens in memory, hashes in the database)."""
    now = dt.datetime.now(UTC)
    with engine.connect() as conn:
        rows = conn.execute(select(Ticket.id, Ticket.customer_id, Ticket.region_id).where(
            Ticket.service_type == "repair", Ticket.status == "closed").limit(5000)).all()
    tokens, values = [], []
    for i in range(n):
        t = rows[i % len(rows)]
        token = new_token()
        tokens.append(token)
        values.append(dict(token_hash=hash_token(token), survey_key="repair", survey_version=1, ticket_id=t.id,
                           customer_id=t.customer_id, region_id=t.region_id, channel="sms", created_at=now,
                           expires_at=now + dt.timedelta(days=7), delivered=True, reusable=False))
    with engine.begin() as conn:
        for k in range(0, len(values), 2000):
            conn.execute(insert(Invitation), values[k:k + 2000])
    return tokens


def _scopes(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [p for (p,) in conn.execute(select(Region.path).where(Region.level == "county"))]


def _level(engine, workers: int, seconds: float, max_ops: int, intake_share: float, tokens: list[str],  # type: ignore[no-untyped-def]
           scopes: list[str], window: tuple[dt.datetime, dt.datetime]) -> dict[str, object]:
    lock = threading.Lock()
    lat: dict[str, list[float]] = {"intake": [], "read": []}
    errors: dict[str, int] = {"intake": 0, "read": 0}
    issued = [0]
    deadline = time.monotonic() + seconds
    end = window[1]
    filters = Filters(start=end - dt.timedelta(days=30), end=end)

    def one(rng: random.Random) -> bool:
        with lock:
            if issued[0] >= max_ops or time.monotonic() > deadline:
                return False
            issued[0] += 1
            kind = "intake" if rng.random() < intake_share and tokens else "read"
            token = tokens.pop() if kind == "intake" else None
        t0 = time.perf_counter()
        try:
            if kind == "intake":
                res = submit(engine, token, HAPPY if rng.random() < 0.8 else UNHAPPY)
                ok = res.status == "ok"
            else:
                scope = Scope(rng.choice(scopes))
                headline(engine, scope, filters)
                response_facts(engine, scope, filters)
                ticket_facts(engine, scope, filters)
                ok = True
        except Exception:  # noqa: BLE001 - counted as an error
            ok = False
        took = time.perf_counter() - t0
        with lock:
            lat[kind].append(took)
            if not ok:
                errors[kind] += 1
        return True

    def worker(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311
        while one(rng):
            pass

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(worker, range(workers)))
    wall = time.perf_counter() - t0
    out: dict[str, object] = {"workers": workers, "seconds": round(wall, 2), "ops": sum(len(v) for v in lat.values())}
    out["ops_per_s"] = round(out["ops"] / wall, 1) if wall else 0.0  # type: ignore[operator]
    sustained = True
    for kind, values in lat.items():
        if values:
            arr = np.array(values)
            p50, p95 = float(np.percentile(arr, 50)), float(np.percentile(arr, 95))
        else:
            p50 = p95 = float("nan")
        out[kind] = {"n": len(values), "per_s": round(len(values) / wall, 1) if wall else 0.0,
                     "p50_ms": round(p50 * 1000, 1), "p95_ms": round(p95 * 1000, 1), "errors": errors[kind]}
        if errors[kind] or (values and p95 > TARGET_P95[kind]):
            sustained = False
    out["sustained"] = sustained
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.load.run", description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", help="loopback only; default: a fresh SQLite file with the demo world")
    ap.add_argument("--size", default="S", choices=["S", "M"])
    ap.add_argument("--levels", default="1,2,4,8,16")
    ap.add_argument("--seconds", type=float, default=10.0, help="at most this long per level")
    ap.add_argument("--max-ops", type=int, default=600, help="at most this many operations per level")
    ap.add_argument("--intake-share", type=float, default=0.5)
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    if max(levels) > 64 or args.seconds > 120 or args.max_ops > 20_000:
        raise SystemExit("bounded: at most 64 workers, 120 s and 20000 operations per level")
    url = _prepare(args.database_url, args.size)
    engine = get_engine(url)
    window = data_window(engine)
    assert window is not None
    scopes = _scopes(engine)
    tokens = _invitations(engine, args.max_ops * len(levels))
    results = []
    print(f"{'workers':>7} {'ops/s':>7} {'intake/s':>8} {'p50':>7} {'p95':>7} {'err':>4} {'read/s':>7} {'p50':>7} "
          f"{'p95':>7} {'err':>4}  sustained")
    for w in levels:
        r = _level(engine, w, args.seconds, args.max_ops, args.intake_share, tokens, scopes, window)
        results.append(r)
        i, rd = r["intake"], r["read"]  # type: ignore[index]
        print(f"{w:>7} {r['ops_per_s']:>7} {i['per_s']:>8} {i['p50_ms']:>7} {i['p95_ms']:>7} {i['errors']:>4} "  # type: ignore[index]
              f"{rd['per_s']:>7} {rd['p50_ms']:>7} {rd['p95_ms']:>7} {rd['errors']:>4}  {r['sustained']}", flush=True)  # type: ignore[index]
    best = max((r for r in results if r["sustained"]), key=lambda r: r["ops_per_s"], default=None)  # type: ignore[arg-type,return-value]
    summary = {"database": make_url(url).render_as_string(hide_password=True), "levels": results,
               "highest_sustained": best and {"workers": best["workers"], "ops_per_s": best["ops_per_s"],
                                              "intake_per_s": best["intake"]["per_s"],  # type: ignore[index]
                                              "read_per_s": best["read"]["per_s"]}}  # type: ignore[index]
    print(json.dumps(summary["highest_sustained"], ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
