"""`python -m tests.bench --size S --db sqlite`: build (or reuse) the demo world, measure, print, write JSON.

Each measurement runs in its own subprocess (``python -m tests.bench.one``) so "fresh process" timings and the
peak RSS are honest; the median of the repeats is reported beside its baseline and target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.bench.measures import MEASURES, TARGETS, bench_database_url

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / ".bench"


def _machine(db_url: str) -> dict[str, Any]:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    from data.engine import get_engine

    engine = get_engine(db_url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            version = "SQLite " + conn.exec_driver_sql("select sqlite_version()").scalar_one()
        else:
            version = conn.exec_driver_sql("show server_version").scalar_one()
            version = f"PostgreSQL {version}"
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "database": version,
        "platform": platform.platform(),
    }


def _run_one(name: str, size: str, db: str, repeat_index: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.bench.one", name, "--size", size, "--db", db, "--repeat", str(repeat_index)],
        cwd=ROOT, capture_output=True, text=True, timeout=3600,
    )
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.bench")
    ap.add_argument("--size", default="S", choices=["S", "M", "L", "XL"])
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", help="comma-separated measurement names")
    args = ap.parse_args(argv)
    url = bench_database_url(args.size, args.db)
    # The world is built (or reused) first; demo_generate measures a full build separately.
    prep = _run_one("prepare", args.size, args.db, 0)
    if "error" in prep:
        print(f"error: cannot prepare the {args.size} world on {args.db}: {prep['error']}", file=sys.stderr)
        return 2
    names = [n for n in MEASURES if n != "prepare"]
    if args.only:
        wanted = set(args.only.split(","))
        names = [n for n in names if n in wanted]
    results: list[dict[str, Any]] = []
    for name in names:
        if args.size == "XL" and not args.only and (name, args.db) not in TARGETS:
            # PERFORMANCE.md sets no XL target for these (HR export, browser, memory, risk: the L/SQLite column);
            # a 10 M world makes each a long run, so the default XL table skips them and says so.
            results.append({"name": name, "size": args.size, "db": args.db, "seconds": None,
                            "baseline_seconds": None, "target_seconds": None, "peak_rss_mb": None, "repeats": 0,
                            "note": f"skipped: no XL target in PERFORMANCE.md (measure with --only {name})"})
            continue
        runs = [_run_one(name, args.size, args.db, i) for i in range(args.repeats if name != "demo_generate" else 1)]
        ok = [r for r in runs if "error" not in r and r.get("seconds") is not None]
        note = next((r.get("note") for r in runs if r.get("note")), None) or next(
            (r["error"] for r in runs if "error" in r), None)
        results.append({
            "name": name,
            "size": args.size,
            "db": args.db,
            "seconds": statistics.median(r["seconds"] for r in ok) if ok else None,
            "baseline_seconds": statistics.median(r["baseline_seconds"] for r in ok)
            if ok and all(r.get("baseline_seconds") is not None for r in ok) else None,
            "target_seconds": TARGETS.get((name, args.db)),
            "peak_rss_mb": max((r.get("peak_rss_mb") or 0) for r in ok) if ok else None,
            "repeats": len(ok),
            **({"note": note} if note else {}),
        })
    OUT.mkdir(exist_ok=True)
    doc = {"machine": _machine(url), "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "results": results}
    (OUT / "results.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False))
    _print_table(doc)
    return 0


def _fmt(v: float | None, unit: str = "s") -> str:
    return "—" if v is None else f"{v:.3f}{unit}" if unit == "s" else f"{v:.0f}{unit}"


def _print_table(doc: dict[str, Any]) -> None:
    m = doc["machine"]
    print(f"machine: {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}, {m['database']}")
    print(f"{'measurement':<28}{'size':<5}{'db':<9}{'seconds':>11}{'baseline':>11}{'target':>10}{'peak RSS':>10}  status")
    for r in doc["results"]:
        target = r["target_seconds"]
        status = r.get("note") or ""
        target_size = "L" if r["db"] == "sqlite" else "XL"
        if r["seconds"] is not None and target is not None and r["size"] == target_size:
            status = ("met" if r["seconds"] <= target else "MISSED") + (f" ({status})" if status else "")
        elif r["seconds"] is not None and target is not None:
            status = f"target applies at {target_size}" + (f" ({status})" if status else "")
        print(f"{r['name']:<28}{r['size']:<5}{r['db']:<9}{_fmt(r['seconds']):>11}{_fmt(r['baseline_seconds']):>11}"
              f"{_fmt(target):>10}{_fmt(r['peak_rss_mb'], ' MB'):>10}  {status}")


if __name__ == "__main__":
    sys.exit(main())
