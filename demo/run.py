"""The demo world's entry point: ``run_demo`` (behind ``python -m demo`` and ``python -m data demo``) makes a database
hold the deterministic demo world of a size and seed, idempotently, in memory (:mod:`demo.world`) or chunk by chunk
on PostgreSQL (:mod:`demo.xl`), creates the demo accounts and warms the fact snapshot.

Module graph (no loop): ``demo.run -> demo.xl -> demo.world``, ``demo.run -> demo.world``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, text

from data import reference, snapshot
from demo import xl
from demo.world import (
    GENERATOR_VERSION,
    SIZES,
    World,
    _accounts,
    _delete_order,
    generate,
    groundtruth_path,
    load,
)


class DemoRefused(RuntimeError):
    """The database holds data that is not a demo world; the message says what to do."""


def _settings(conn: Any) -> dict[str, str]:
    rows = conn.execute(text("SELECT key, value FROM site_setting")).fetchall()
    return {k: v for k, v in rows}


def stored_demo_accounts(engine: Engine) -> list[tuple[str, str, str]]:
    """The accounts of the demo world in this database (empty when it holds none)."""
    with engine.connect() as conn:
        raw = _settings(conn).get("demo.accounts")
    return [tuple(a) for a in json.loads(raw)] if raw else []  # type: ignore[misc]


def _count(conn: Any, table: str) -> int:
    return int(conn.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one())


def run_demo(engine: Engine, size: str, seed: int, replace: bool = False,
             truth_path: Path | None = None, chunks: int | None = None) -> dict[str, Any]:
    """Make the database hold the demo world (size, seed). Idempotent: the same size and seed change nothing; a
    different demo is replaced cleanly; non-demo data is refused unless ``replace``. Returns
    ``{"status": "unchanged"|"loaded"|"replaced", "message", "counts", "accounts", "seconds", "groundtruth"}``.

    XL (and any size given ``chunks``) is generated and loaded chunk by chunk (demo.xl), on PostgreSQL only."""
    from data.models import SiteSetting
    from data.users import create_user

    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; expected one of {', '.join(SIZES)}")
    t0 = time.perf_counter()
    if size == "XL" and not chunks:
        chunks = xl.CHUNKS["XL"]
    if chunks and engine.url.get_backend_name() != "postgresql":
        # 10 M work orders in one in-memory world would need ~28 GB (L peaks at 2.8 GB); the chunked generator
        # loads with PostgreSQL's COPY. Refuse before touching the database.
        raise DemoRefused(f"size {size} in chunks (XL: 10 M work orders) is built for PostgreSQL only "
                          "(DATABASE_URL=postgresql+psycopg://...); use S, M or L on SQLite")
    layout = ""
    if chunks:
        layout = xl.layout(size, chunks)
    with engine.connect() as conn:
        settings = _settings(conn)
        has_data = any(_count(conn, t) for t in ("region", "ticket", "customer", "response"))
    is_demo = "demo.seed" in settings
    if is_demo and settings.get("demo.seed") == str(seed) and settings.get("demo.size") == size \
            and settings.get("demo.generator_version") == GENERATOR_VERSION \
            and settings.get("demo.layout", "") == layout:
        with engine.connect() as conn:
            counts = {t: _count(conn, t) for t in World.TABLES}
        _warm_snapshot(engine)
        return {"status": "unchanged", "counts": counts, "accounts": stored_demo_accounts(engine),
                "seconds": round(time.perf_counter() - t0, 2), "groundtruth": str(truth_path or groundtruth_path(engine)),
                "message": f"demo world {size} seed {seed} is already loaded: nothing changed"}
    if has_data and not is_demo and not replace:
        raise DemoRefused("the database holds data that is not a demo world; refusing to overwrite it. "
                          "Use --replace to delete it and load the demo (destructive).")
    status = "replaced" if has_data else "loaded"
    if chunks:
        with engine.begin() as conn:  # the loader truncates the tables in its own transaction
            conn.execute(text("DELETE FROM site_setting WHERE key LIKE 'demo.%'"))
        reference.seed_sla_policies(engine)
        out = xl.load(engine, size, seed, chunks, truth_path=truth_path)
        region, counts, path = out["region"], out["counts"], out["groundtruth"]
        t_gen = out["seconds"]["generate"]
        parts = out["seconds"]
    else:
        world = generate(size, seed)
        t_gen = time.perf_counter() - t0
        if has_data:
            with engine.begin() as conn:
                for table in _delete_order():
                    conn.execute(text(f'DELETE FROM "{table}"'))
                snapshot.invalidate_all(conn)
                conn.execute(text("DELETE FROM site_setting WHERE key LIKE 'demo.%'"))
        reference.seed_sla_policies(engine)
        path = load(engine, world, truth_path)
        region, counts, parts = world.region, world.counts(), {}
    accounts = _accounts(region, seed)
    by_code = dict(zip(region["code"], region["id"], strict=False))
    province = int(region.loc[region["level"] == "province", "id"].iloc[0])
    for role, username, password in accounts:
        scope = by_code[username.split("_", 1)[1]] if username.startswith("manager_") else province
        create_user(engine, username, password, role, int(scope), display_name=f"演示{username}")
    with engine.begin() as conn:
        values = {"demo.size": size, "demo.seed": str(seed), "demo.generator_version": GENERATOR_VERSION,
                  "demo.accounts": json.dumps(accounts, ensure_ascii=False)}
        if layout:
            values["demo.layout"] = layout
        for k, v in values.items():
            conn.execute(delete(SiteSetting).where(SiteSetting.key == k))
            conn.execute(insert(SiteSetting).values(key=k, value=v))
    t_snap = _warm_snapshot(engine)
    seconds = round(time.perf_counter() - t0, 2)
    return {"status": status, "counts": counts, "accounts": accounts, "seconds": seconds,
            "generate_seconds": round(t_gen, 2), "snapshot_seconds": round(t_snap, 2), "groundtruth": str(path),
            **({"layout": layout, "phase_seconds": parts} if layout else {}),
            "message": f"demo world {size} seed {seed} {status} in {seconds:.1f} s (generation {t_gen:.1f} s); "
                       f"ground truth: {path}. Demo-only passwords follow (role username password)."}


def _warm_snapshot(engine: Engine) -> float:
    """Build the fact snapshot's stale or missing partitions (data.snapshot) so the first page view reads Parquet;
    returns the seconds it took. A folder that cannot be written only costs speed (readers fall back to SQL)."""
    t0 = time.perf_counter()
    if snapshot.enabled():
        try:
            snapshot.refresh(engine)
        except OSError as exc:
            logging.getLogger(__name__).warning("fact snapshot not built: %s", exc)
    return time.perf_counter() - t0
