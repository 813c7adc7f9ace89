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
    ("hr_pdf_export", "sqlite"): 10.0,  # journeys issue 16, item 15: the assessment PDF of 3,000 staff
    ("survey_intake_p95", "sqlite"): 0.1,
    ("survey_intake_p95", "postgres"): 0.1,
    ("browser_overview_ready", "sqlite"): 3.0,
    ("browser_filter_change", "sqlite"): 1.5,
    ("risk_scoring", "sqlite"): 5.0,
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


def _build_record(size: str, db: str) -> Path:
    return BENCH_DIR / f"demo-build-{size}-{db}.json"


def prepare(size: str, db: str) -> dict[str, Any]:
    """Build the world once (idempotent: a world with this seed and size is reused). A build that really ran is
    recorded (seconds, peak RSS, phases) for ``demo_generate`` at XL, which does not build a second 10 M world."""
    import json
    import resource

    from demo.run import run_demo
    from reports.aggregates import build_all

    t0 = time.perf_counter()
    engine = _engine(size, db)
    out = run_demo(engine, size, SEED)
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    build_all(engine)  # the overview's pre-aggregated cells (built once per partition version; a no-op when fresh)
    cells_seconds = time.perf_counter() - t1
    if out["status"] != "unchanged":
        BENCH_DIR.mkdir(exist_ok=True)
        _build_record(size, db).write_text(json.dumps({
            "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "phases": out.get("phase_seconds"), "layout": out.get("layout"), "counts": out["counts"],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2))
    return {"seconds": seconds, "status": out["status"], "cells_seconds": cells_seconds}


def demo_generate(size: str, db: str) -> dict[str, Any]:
    """A full generation + load into a fresh database of its own. At XL (15 min on the target machine) the build
    of the bench world itself is reported instead: ``prepare`` builds it into an emptied schema by the same code
    and records it; the table says when it was measured."""
    import json

    from demo.run import run_demo

    if size == "XL":
        record = _build_record(size, db)
        if not record.exists():
            raise NotBuilt(f"no recorded XL build: drop the schema bench_xl and re-run to measure one ({record.name})")
        rec = json.loads(record.read_text())
        phases = rec.get("phases") or {}
        detail = ", ".join(f"{k} {v:.0f}s" for k, v in phases.items() if k in ("generate", "sent", "rebuild", "analyze"))
        return {"seconds": rec["seconds"], "peak_rss_mb": rec["peak_rss_mb"],
                "note": f"the bench world's build of {rec['built_at']} ({rec.get('layout')}; {detail}), not repeated"}
    engine = _fresh_engine("gen", size, db)
    t0 = time.perf_counter()
    run_demo(engine, size, SEED)
    seconds = time.perf_counter() - t0
    if db == "sqlite":
        _drop_sqlite(BENCH_DIR / f"gen-{size}.db")
    return {"seconds": seconds}


def _drop_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def _overview_inputs(size: str, db: str):  # type: ignore[no-untyped-def]
    """Engine, scope, the last 90 days of the world and the 90 days before, policies, calendar, regions."""
    import datetime as dt

    from data import reference
    from data.engine import get_engine
    from data.repositories import data_window, regions
    from data.repositories.lookup import scope_for
    from metrics.__main__ import work_calendar

    engine = get_engine(bench_database_url(size, db))
    scope = scope_for(engine)
    window = data_window(engine)
    assert window is not None, "empty bench database"
    # the last 90 local days of the data, as the dashboard's periods are (local midnight to local midnight)
    from metrics.periods import SITE_TZ, Period

    last = window[1].astimezone(SITE_TZ).date()
    start, end = Period(last - dt.timedelta(days=89), last + dt.timedelta(days=1)).utc_bounds()
    prev = start - dt.timedelta(days=90)
    cal = work_calendar(prev.date(), end.date())
    return engine, scope, (prev, start, end), reference.sla_policies("state_grid_2023"), cal, regions(engine, scope)


def _overview_baseline(size: str, db: str, frames: Any) -> float:
    """Parquet read of the same columns + a pandas group-by (PERFORMANCE.md's yardstick for the overview)."""
    import pandas as pd

    path = BENCH_DIR / f"overview-{size}-{db}.parquet"
    cols = ["region_id", "channel", "service_type", "created_at", "arrived_at", "resolved_at", "reopen_count"]
    if not path.exists():
        pd.concat([f.tickets[cols] for f in frames()], ignore_index=True).to_parquet(path)
    t0 = time.perf_counter()
    df = pd.read_parquet(path, columns=cols)
    df["arrival"] = (df["arrived_at"] - df["created_at"]).dt.total_seconds() / 60
    df.groupby(["region_id", "channel"]).agg(n=("arrival", "size"), mean=("arrival", "mean"),
                                             p50=("arrival", "median"))
    return time.perf_counter() - t0


def overview_cold(size: str, db: str) -> dict[str, Any]:
    """Fresh process: read the frames of 90 days + the comparison period and compute the overview pack.

    Like the Parquet baseline, the clock starts once the code is imported (``import_seconds`` reports that part: an
    app server pays it once at start-up, never per page view); everything after — engine, scope, calendar, the
    snapshot reads, the pack — is timed."""
    import importlib

    t_import = time.perf_counter()
    for module in ("data.engine", "data.reference", "data.repositories", "data.repositories.lookup",
                   "metrics.__main__", "metrics.overview", "reports.aggregates",
                   # the database driver's dialect (create_engine imports it on first use: an app server has)
                   "sqlalchemy.dialects.postgresql.psycopg" if db == "postgres" else "sqlalchemy.dialects.sqlite"):
        importlib.import_module(module)
    from metrics.overview import overview_pack
    from reports.aggregates import overview_source

    t0 = time.perf_counter()
    engine, scope, (prev, start, end), policies, cal, reg = _overview_inputs(size, db)
    cur = overview_source(engine, scope, start, end)
    before = overview_source(engine, scope, prev, start)
    t_read = time.perf_counter()
    overview_pack(cur, before, policies, cal, regions=reg, root_path=scope.path)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "read_seconds": t_read - t0, "compute_seconds": seconds - (t_read - t0),
            "import_seconds": t0 - t_import,
            "baseline_seconds": _overview_baseline(size, db, lambda: _ticket_frames(engine, scope, prev, start, end)),
            "rows": _volume(cur),
            "note": f"+{t0 - t_import:.2f}s one-off module import, not counted (as for the baseline)"}


def overview_warm(size: str, db: str) -> dict[str, Any]:
    """Warm process: frames already read and prepared; a filter change (channel, then area class) recomputes."""
    from metrics.overview import overview_pack, prepare
    from reports.aggregates import overview_source

    engine, scope, (prev, start, end), policies, cal, reg = _overview_inputs(size, db)
    cur = prepare(overview_source(engine, scope, start, end), policies, cal, regions=reg, root_path=scope.path)
    before = prepare(overview_source(engine, scope, prev, start), policies, cal, regions=reg, root_path=scope.path)
    overview_pack(cur, before, policies, cal)  # warm-up (imports, caches)
    times = []
    for flt in ({"channels": ("hotline",)}, {"area_classes": ("rural", "remote")}, {"service_types": ("repair",)}):
        t0 = time.perf_counter()
        overview_pack(cur.filter(**flt), before.filter(**flt), policies, cal)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"seconds": times[1],
            "baseline_seconds": _overview_baseline(size, db, lambda: _ticket_frames(engine, scope, prev, start, end))}


def _ticket_frames(engine, scope, prev, start, end):  # type: ignore[no-untyped-def]
    """The work orders of both periods as frames (the Parquet baseline's file is written from them once)."""
    from metrics.__main__ import load_frames

    return (load_frames(engine, scope, start, end, kinds=("ticket",)), load_frames(engine, scope, prev, start,
                                                                                  kinds=("ticket",)))


def _volume(src) -> int:  # type: ignore[no-untyped-def]
    return src.volumes()["tickets"] if hasattr(src, "volumes") else len(src.tickets)


IMPORT_ROWS = {"S": 20_000, "M": 200_000, "L": 1_000_000, "XL": 1_000_000}


def _fresh_engine(label: str, size: str, db: str):  # type: ignore[no-untyped-def]
    """An empty database at head for one repeat of a write measurement."""
    from sqlalchemy import text

    from data.engine import dispose_all, get_engine
    from data.schema import upgrade

    if db == "sqlite":
        path = BENCH_DIR / f"{label}-{size}.db"
        _drop_sqlite(path)
        url = f"sqlite:///{path}"
    else:
        base = bench_database_url(size, db).split("?")[0]
        schema = f"bench_{label}_{size.lower()}"
        with get_engine(base).begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
        dispose_all()
        url = f"{base}?schema={schema}"
    engine = get_engine(url)
    upgrade(engine)
    return engine


def import_tickets_csv(size: str, db: str) -> dict[str, Any]:
    """The real import of an N-row canonical ticket CSV (1 M rows at L/XL) into an empty database; baseline: a bare
    executemany / COPY of the same rows into an unindexed text table."""
    from data.io.bench import bench_bare_insert, bench_import, make_ticket_csv, seed_regions

    rows = IMPORT_ROWS[size]
    engine = _fresh_engine("import", size, db)
    seed_regions(engine)
    csv_path = BENCH_DIR / f"tickets-{rows}.csv"
    if not csv_path.exists():
        make_ticket_csv(engine, csv_path, rows=rows)
    real = bench_import(engine, csv_path)
    bare = bench_bare_insert(engine, csv_path)
    return {"seconds": real["seconds"], "baseline_seconds": bare["seconds"], "note": f"{rows:,} rows"}


def survey_intake_p95(size: str, db: str) -> dict[str, Any]:
    """20 concurrent submitters × 50 submissions through the real intake; seconds = p95 latency per submission.
    Fails (no figure) unless every submission is stored exactly once with its follow-up."""
    from surveys.bench import bench_intake

    out = bench_intake(_fresh_engine("intake", size, db), threads=20, per_thread=50)
    exact = (out["responses"] == out["submissions"] == out["invitations_consumed"] and out["duplicates"] == 0
             and out["follow_ups"] == out["follow_ups_expected"] and out["follow_up_duplicates"] == 0)
    if not exact:
        raise RuntimeError(f"intake lost or duplicated work: {out}")
    return {"seconds": out["p95_ms"] / 1000.0, "note": f"p50 {out['p50_ms']:.0f} ms, 1,000 stored exactly once"}


def _assessment_setup(size: str, db: str):  # type: ignore[no-untyped-def]
    """The bench world with its demo quality reviews (written once, untimed) and the root scope."""
    from sqlalchemy import text

    from data.repositories import Scope
    from reports.reviews import demo_reviews

    engine = _engine(size, db)
    demo_reviews(engine, seed=SEED)
    with engine.connect() as conn:
        root = conn.execute(text("SELECT path FROM region WHERE parent_id IS NULL ORDER BY id")).scalar_one()
    return engine, Scope(root)


def scorecards(size: str, db: str) -> dict[str, Any]:
    """Staff scorecards (all staff, one quarter: 2026-Q3): SQL aggregation + case mix + shrinkage + grades."""
    import statistics

    from metrics.periods import named
    from reports.assessment import scorecards as build_scorecards

    engine, scope = _assessment_setup(size, db)
    start, end = named("2026-Q3").utc_bounds()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        cards, _inp = build_scorecards(engine, scope, start, end)
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times), "staff": int(len(cards.totals))}


def hr_excel_export(size: str, db: str) -> dict[str, Any]:
    """The HR workbook (summary, one sheet per KPI, agreement, method) for all staff, one quarter, from the built
    assessment (the assessment itself is the ``scorecards`` measurement, twice for the previous period)."""
    import statistics

    from metrics.periods import named
    from reports.assessment import build
    from reports.exports import to_xlsx

    engine, scope = _assessment_setup(size, db)
    a = build(engine, scope, named("2026-Q3"))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        data = to_xlsx(a)
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times), "staff": int(len(a.table)), "bytes": len(data)}


def hr_pdf_export(size: str, db: str) -> dict[str, Any]:
    """The assessment PDF (team summary + one page per person, CJK font subset) for all staff, one quarter, from
    the built assessment, as the HR page's download and ``python -m reports assessment --format pdf`` build it."""
    from metrics.periods import named
    from reports.assessment import build
    from reports.exports import to_pdf

    engine, scope = _assessment_setup(size, db)
    a = build(engine, scope, named("2026-Q3"))
    t0 = time.perf_counter()  # once per process (font loading included): the harness repeats it, takes the median
    data = to_pdf(a)
    return {"seconds": time.perf_counter() - t0, "staff": int(len(a.table)), "bytes": len(data),
            "note": f"{len(a.table):,} staff, {len(data) / 1e6:.1f} MB"}


RISK_ROWS = 100_000


def risk_scoring(size: str, db: str) -> dict[str, Any]:
    """Scoring 100 k open work orders (issue 9): the real read + features + both models through
    surveys.proactive.score. The demo holds fewer open orders than that, so the population is widened to the work
    resolved in the last H hours with H chosen to reach 100 k (fewer at S/M: all there are). A model is trained
    first when none is stored (weekly snapshots, not timed)."""
    from sqlalchemy import select

    from data.models import Ticket
    from surveys import proactive

    engine = _engine(size, db)
    try:
        payload = proactive.load(engine)
    except proactive.NoModel:
        proactive.train(engine, stride_days=7, card=None)
        payload = proactive.load(engine)
    scope = proactive.roots(engine)[0]
    as_of = proactive.scoring_time(engine, scope)
    with engine.connect() as conn:
        edge = conn.execute(select(Ticket.resolved_at).where(Ticket.resolved_at.is_not(None))
                            .order_by(Ticket.resolved_at.desc()).offset(RISK_ROWS).limit(1)).scalar_one_or_none()
    hours = 24.0 * 3650 if edge is None else max((as_of - _aware(edge)).total_seconds() / 3600.0, 24.0)
    t0 = time.perf_counter()  # the harness repeats this in fresh processes and takes the median
    n = len(proactive.score(engine, scope, as_of=as_of, recent_hours=hours, payload=payload))
    return {"seconds": time.perf_counter() - t0, "note": f"{n:,} work orders scored (RISK_ROWS target {RISK_ROWS:,})"}


def _aware(value: Any) -> Any:
    import datetime as dt

    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _browser(name: str) -> Callable[[str, str], dict[str, Any]]:
    """A Playwright timing of the manager dashboards (tests/bench/browser.py, issue 6)."""

    def measure(size: str, db: str) -> dict[str, Any]:
        from tests.bench import browser

        return getattr(browser, name)(size, db)  # type: ignore[no-any-return]

    return measure


def _not_built(issue: str) -> Callable[[str, str], dict[str, Any]]:
    def measure(size: str, db: str) -> dict[str, Any]:
        raise NotBuilt(issue)

    return measure


MEASURES: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "prepare": prepare,
    "demo_generate": demo_generate,
    "import_tickets_csv": import_tickets_csv,
    "overview_cold": overview_cold,
    "overview_warm": overview_warm,
    "scorecards": scorecards,
    "hr_excel_export": hr_excel_export,
    "hr_pdf_export": hr_pdf_export,
    "survey_intake_p95": survey_intake_p95,
    "browser_overview_ready": _browser("browser_overview_ready"),
    "browser_filter_change": _browser("browser_filter_change"),
    "server_rss_after_all_pages": _browser("server_rss_after_all_pages"),
    "risk_scoring": risk_scoring,
}
