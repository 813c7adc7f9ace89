"""Benchmark hooks for the import (PERFORMANCE.md row ``import_tickets_csv``): the real import and its baseline.

``make_ticket_csv`` writes an N-row canonical ticket file over the regions in the database; ``bench_import``
imports it with the real engine (parse, validate, stage, upsert, audit); ``bench_bare_insert`` is the baseline:
the same rows read with pandas and written with a bare ``executemany`` (SQLite) / ``COPY`` (PostgreSQL) into a
scratch table, with no validation. ``python -m data.io.bench --rows 1000000 --db-url URL`` runs both.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, insert, select, text

from data.io.importer import import_file
from data.models import Region

CHANNELS = ("hotline", "app", "wechat", "alipay", "web", "hall", "rural_point")
SERVICES = ("repair", "billing", "payment", "inquiry", "complaint", "meter", "connection_residential")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def seed_regions(engine: Engine) -> int:
    """Load the shipped region tree when the region table is empty (for a bare benchmark database)."""
    from data import reference

    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(Region)).scalar_one():
            return 0
        reg = reference.regions()
        ids: dict[str, int] = {}
        paths: dict[str, str] = {}
        rows = []
        for i, r in enumerate(reg.itertuples(index=False), start=1):
            ids[r.code] = i
            parent = None if pd.isna(r.parent_code) else r.parent_code
            paths[r.code] = (paths[parent] if parent else "/") + f"{i}/"
            rows.append({"id": i, "code": r.code, "name_zh": r.name_zh, "name_en": r.name_en, "level": r.level,
                         "kind": None if pd.isna(r.kind) else r.kind, "parent_id": ids.get(parent) if parent else None,
                         "path": paths[r.code], "area_class": r.area_class, "customers": int(r.customers)})
        conn.execute(insert(Region), rows)
    return len(rows)


def make_ticket_csv(engine: Engine, path: str | Path, rows: int = 1_000_000, seed: int = 1,
                    prefix: str = "B") -> Path:
    """An N-row ticket file in the canonical format (UTF-8, local times with offset) over the leaf regions."""
    with engine.connect() as conn:
        codes = [r[0] for r in conn.execute(text("SELECT code FROM region WHERE level = 'station'"))] or \
            [r[0] for r in conn.execute(text("SELECT code FROM region"))]
    rng = np.random.default_rng(seed)
    path = Path(path)
    base = np.datetime64("2026-01-01T00:00:00")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        first = True
        for start in range(0, rows, 200_000):
            n = min(200_000, rows - start)
            created = base + rng.integers(0, 300 * 86400, n).astype("timedelta64[s]")
            arrived = created + rng.integers(10 * 60, 200 * 60, n).astype("timedelta64[s]")
            resolved = arrived + rng.integers(30 * 60, 600 * 60, n).astype("timedelta64[s]")
            open_ = rng.random(n) < 0.05
            fmt = lambda a: pd.Series(np.datetime_as_string(a, unit="s")) + "+08:00"  # noqa: E731
            df = pd.DataFrame({
                "external_no": [f"{prefix}{i:08d}" for i in range(start, start + n)],
                "created_at": fmt(created),
                "arrived_at": fmt(arrived),
                "resolved_at": fmt(resolved).where(~open_, ""),
                "status": np.where(open_, "open", "resolved"),
                "region_code": rng.choice(codes, n),
                "channel": rng.choice(CHANNELS, n),
                "service_type": rng.choice(SERVICES, n),
                "reopen_count": rng.integers(0, 2, n),
            })
            df.to_csv(fh, header=first, index=False)
            first = False
    return path


def bench_import(engine: Engine, csv_path: str | Path) -> dict[str, Any]:
    """Import ``csv_path`` as tickets through the real engine; returns seconds, rows/s, counts, peak RSS."""
    t0 = time.perf_counter()
    res = import_file(engine, "tickets", csv_path, "gridcx_tickets", user="bench")
    seconds = time.perf_counter() - t0
    if res.error is not None:
        raise RuntimeError(res.error.message("en"))
    rows = res.imported + res.updated + res.unchanged + res.rejected
    return {"name": "import_tickets_csv", "db": engine.dialect.name, "seconds": round(seconds, 3),
            "rows": rows, "rows_per_second": round(rows / seconds) if seconds else None,
            "imported": res.imported, "updated": res.updated, "unchanged": res.unchanged,
            "rejected": res.rejected, "peak_rss_mb": round(_peak_rss_mb(), 1), "target_seconds": 20.0}


def bench_bare_insert(engine: Engine, csv_path: str | Path) -> dict[str, Any]:
    """Baseline: the same rows read with pandas and written with a bare executemany / COPY, no validation."""
    t0 = time.perf_counter()
    pg = engine.dialect.name == "postgresql"
    n = 0
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS bench_bare")
        cols = None
        for df in pd.read_csv(csv_path, dtype=str, chunksize=200_000, keep_default_na=False):
            if cols is None:
                cols = list(df.columns)
                conn.exec_driver_sql(f"CREATE TABLE bench_bare ({', '.join(c + ' TEXT' for c in cols)})")
            raw = conn.connection.driver_connection
            if pg:
                buf = io.StringIO()
                df.to_csv(buf, header=False, index=False)
                with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                        f"COPY bench_bare ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)") as cp:
                    cp.write(buf.getvalue())
            else:
                cur = raw.cursor()  # type: ignore[union-attr]
                cur.executemany(f"INSERT INTO bench_bare VALUES ({', '.join('?' * len(cols))})",
                                df.itertuples(index=False, name=None))
                cur.close()
            n += len(df)
        conn.exec_driver_sql("DROP TABLE bench_bare")
    seconds = time.perf_counter() - t0
    return {"name": "import_tickets_csv_baseline", "db": engine.dialect.name, "seconds": round(seconds, 3),
            "rows": n, "rows_per_second": round(n / seconds) if seconds else None}


def main(argv: list[str] | None = None) -> int:
    from data.engine import get_engine
    from data.schema import upgrade

    p = argparse.ArgumentParser(prog="python -m data.io.bench")
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--db-url", required=True, help="an empty database (it is upgraded and seeded with regions)")
    p.add_argument("--file", help="reuse this CSV instead of generating one")
    p.add_argument("--reimport", action="store_true", help="also time a second import of the same file")
    args = p.parse_args(argv)
    engine = get_engine(args.db_url)
    upgrade(engine)
    seed_regions(engine)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.file) if args.file else make_ticket_csv(engine, Path(tmp) / "tickets.csv", args.rows)
        out = [bench_bare_insert(engine, path), bench_import(engine, path)]
        if args.reimport:
            again = bench_import(engine, path)
            again["name"] = "import_tickets_csv_again"
            out.append(again)
    for r in out:
        print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
