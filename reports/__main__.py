"""Command line: scheduled assessment exports and the demo reviews.

    python -m reports assessment --period 2026-Q3 [--scope REGION_CODE] --format xlsx|pdf|csv --out PATH [--lang en]
    python -m reports assessment --period 2026-Q3 --format pdf --per-team --out DIR   (one PDF per team)
    python -m reports demo-reviews [--seed 7] [--replace]
    python -m reports cells [--pack state_grid_2023]   (build the overview's pre-aggregated KPI cells; idempotent)

Errors are one line on stderr, exit status 2. Every export is written to the audit trail (user ``scheduler`` unless
``--user`` says otherwise).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sqlalchemy import select


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports", description="GridCX HR assessment reports")
    sub = ap.add_subparsers(dest="command", required=True)
    a = sub.add_parser("assessment", help="export the staff assessment of a period")
    a.add_argument("--period", required=True, help="2026, 2026-10, 2026-Q3 or 2026-H1")
    a.add_argument("--scope", help="region code (default: the whole company)")
    a.add_argument("--team", help="team code (optional, within the scope)")
    a.add_argument("--format", required=True, choices=("xlsx", "pdf", "csv"))
    a.add_argument("--out", required=True, type=Path)
    a.add_argument("--lang", default="zh-CN", choices=("zh-CN", "en"))
    a.add_argument("--user", default="scheduler")
    a.add_argument("--no-compare", action="store_true", help="skip the previous-period comparison")
    a.add_argument("--per-team", action="store_true",
                   help="PDF only: write one PDF per team into the directory --out (scores as in the whole scope)")
    d = sub.add_parser("demo-reviews", help="generate the deterministic demo quality reviews")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--replace", action="store_true")
    c = sub.add_parser("cells", help="build (or check) the overview's pre-aggregated KPI cells")
    c.add_argument("--pack", default=None, help="SLA policy pack (default: the site's)")
    args = ap.parse_args(argv)
    try:
        if args.command == "assessment":
            return _assessment(args)
        if args.command == "cells":
            return _cells(args)
        return _demo_reviews(args)
    except Exception as exc:  # noqa: BLE001 - one line, exit 2, never a traceback
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"error: {msg}", file=sys.stderr)
        return 2


def _assessment(args: argparse.Namespace) -> int:
    from data.engine import get_engine
    from data.models import Region, Team
    from data.private import write_private
    from data.repositories import Scope
    from metrics.periods import named
    from reports.assessment import build
    from reports.exports import export
    from reports.scheme import load_scheme

    period = named(args.period)
    scheme = load_scheme()
    engine = get_engine()
    with engine.connect() as conn:
        if args.scope:
            row = conn.execute(select(Region.id, Region.path).where(Region.code == args.scope)).first()
            if row is None:
                raise ValueError(f"unknown region code {args.scope!r}")
        else:
            row = conn.execute(select(Region.id, Region.path).where(Region.parent_id.is_(None))
                               .order_by(Region.id)).first()
            if row is None:
                raise ValueError("the database holds no regions")
        team_id = None
        if args.team:
            team_id = conn.execute(select(Team.id).where(Team.code == args.team)).scalar()
            if team_id is None:
                raise ValueError(f"unknown team code {args.team!r}")
    if args.per_team and (args.format != "pdf" or team_id is not None):
        raise ValueError("--per-team writes PDFs (--format pdf) for every team of the scope: leave out --team")
    t0 = time.perf_counter()
    a = build(engine, Scope(row.path), period, team_id=team_id, lang=args.lang, compare=not args.no_compare,
              scheme=scheme, scope_region_id=row.id)
    if args.per_team:
        return _per_team(engine, a, args, t0)
    data = export(engine, a, args.format, args.user)
    write_private(args.out, data)  # staff names and scores: owner-only (0600, folders 0700)
    print(f"{args.out}: {len(a.table)} staff, {len(data):,} bytes in {time.perf_counter() - t0:.1f} s")
    return 0


def _per_team(engine, a, args: argparse.Namespace, t0: float) -> int:  # type: ignore[no-untyped-def]
    from data.models import Team
    from reports.exports import export, filename, for_team

    args.out.mkdir(parents=True, exist_ok=True)
    teams = a.roster[a.roster["staff_id"].isin(a.table["staff_id"])]["team_id"].dropna().astype(int).unique()
    with engine.connect() as conn:
        codes = dict(conn.execute(select(Team.id, Team.code).where(Team.id.in_([int(x) for x in teams]))).all())
    for team_id in sorted(teams):
        sub = for_team(a, int(team_id))
        path = args.out / filename(sub, "pdf", team=str(codes.get(int(team_id), team_id)))
        path.write_bytes(export(engine, sub, "pdf", args.user))
    print(f"{args.out}: {len(teams)} team PDFs, {len(a.table)} staff in {time.perf_counter() - t0:.1f} s")
    return 0


def _demo_reviews(args: argparse.Namespace) -> int:
    from data.engine import get_engine
    from reports.reviews import demo_reviews

    n = demo_reviews(get_engine(), seed=args.seed, replace=args.replace)
    print(f"{n} demo reviews written" if n else "demo reviews exist already: nothing changed (use --replace)")
    return 0


def _cells(args: argparse.Namespace) -> int:
    from data.engine import get_engine
    from data.reference import DEFAULT_PACK
    from reports.aggregates import build_all

    t0 = time.perf_counter()
    months = build_all(get_engine(), args.pack or DEFAULT_PACK)
    print(f"KPI cells up to date: {months.get('ticket', 0)} work-order and {months.get('contact', 0)} contact "
          f"months ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
