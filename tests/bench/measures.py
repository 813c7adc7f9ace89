"""The measurements. Each takes (size, db) and returns {"seconds", "baseline_seconds"?, "peak_rss_mb"?}.

A measurement whose feature does not exist yet raises :class:`NotBuilt`: the table then says so instead of
printing a made-up figure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / ".bench"
SEED = 42

# (name, db) -> target seconds, from ../shared/reference/PERFORMANCE.md (sqlite column at L, postgres at XL).
TARGETS: dict[tuple[str, str], float] = {
    ("demo_generate", "sqlite"): 90.0,
    ("demo_generate", "postgres"): 900.0,
    ("import_tickets_csv", "sqlite"): 20.0,
    ("import_tickets_csv", "postgres"): 20.0,
    ("overview_cold", "sqlite"): 2.0,
    ("overview_cold", "postgres"): 3.0,
    ("overview_warm", "sqlite"): 0.3,
    ("overview_warm", "postgres"): 1.0,
    ("scorecards", "sqlite"): 2.0,
    ("scorecards", "postgres"): 5.0,
    ("hr_excel_export", "sqlite"): 5.0,
    ("survey_intake_p95", "sqlite"): 0.1,
    ("survey_intake_p95", "postgres"): 0.1,
    ("browser_overview_ready", "sqlite"): 3.0,
    ("browser_filter_change", "sqlite"): 1.5,
}


class NotBuilt(Exception):
    """The feature this measurement exercises is not in the product yet."""


def bench_database_url(size: str, db: str) -> str:
    if db == "sqlite":
        BENCH_DIR.mkdir(exist_ok=True)
        return f"sqlite:///{BENCH_DIR / f'gridcx-{size}.db'}"
    base = os.environ.get("GRIDCX_BENCH_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
    return f"{base}?schema=bench_{size.lower()}"


def _engine(size: str, db: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from data.engine import get_engine
    from data.schema import upgrade

    url = bench_database_url(size, db)
    if db == "postgres":
        base = url.split("?")[0]
        with get_engine(base).begin() as conn:
            conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS bench_{size.lower()}"))
    engine = get_engine(url)
    upgrade(engine)
    return engine


def prepare(size: str, db: str) -> dict[str, Any]:
    """Build the world once (idempotent: a world with this seed and size is reused)."""
    from data.demo import run_demo

    t0 = time.perf_counter()
    run_demo(_engine(size, db), size, SEED)
    return {"seconds": time.perf_counter() - t0}


def demo_generate(size: str, db: str) -> dict[str, Any]:
    """A full generation + load into a fresh database of its own."""
    from sqlalchemy import text

    from data.demo import run_demo
    from data.engine import get_engine
    from data.schema import upgrade

    if db == "sqlite":
        path = BENCH_DIR / f"gen-{size}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        base = bench_database_url(size, db).split("?")[0]
        schema = f"bench_gen_{size.lower()}"
        with get_engine(base).begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        url = f"{base}?schema={schema}"
    engine = get_engine(url)
    upgrade(engine)
    t0 = time.perf_counter()
    run_demo(engine, size, SEED)
    seconds = time.perf_counter() - t0
    if db == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    return {"seconds": seconds}


def _not_built(issue: str) -> Callable[[str, str], dict[str, Any]]:
    def measure(size: str, db: str) -> dict[str, Any]:
        raise NotBuilt(issue)

    return measure


MEASURES: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "prepare": prepare,
    "demo_generate": demo_generate,
    "import_tickets_csv": _not_built("issue 3"),
    "overview_cold": _not_built("issue 4"),
    "overview_warm": _not_built("issue 4"),
    "scorecards": _not_built("issue 7"),
    "hr_excel_export": _not_built("issue 7"),
    "survey_intake_p95": _not_built("issue 5"),
    "browser_overview_ready": _not_built("issue 6"),
    "browser_filter_change": _not_built("issue 6"),
    "server_rss_after_all_pages": _not_built("issue 6"),
}
