"""Command line of the data layer: ``python -m data init | demo ...``.

Exit codes: 0 success, 2 configuration or file-level error (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys

from data.engine import DatabaseConfigError, database_url, get_engine, masked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data", description="GridCX data layer")
    sub = parser.add_subparsers(dest="command", required=True)

    p_init = sub.add_parser("init", help="upgrade the database to the newest schema")
    p_init.add_argument("--demo-if-empty", metavar="SIZE", choices=["S", "M", "L", "XL"],
                        help="load the demo world of this size when the database holds no work orders")
    p_init.add_argument("--seed", type=int, default=42)

    p_demo = sub.add_parser("demo", help="generate the deterministic demo world (idempotent)")
    p_demo.add_argument("--size", choices=["S", "M", "L", "XL"], default="M")
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument("--replace", action="store_true", help="replace non-demo data (destructive)")

    args = parser.parse_args(argv)
    try:
        engine = get_engine(check=True)
        from data.schema import upgrade

        head = upgrade(engine)
        if args.command == "init":
            print(f"database {masked(database_url())} at schema revision {head}", file=sys.stderr)
            if args.demo_if_empty and _is_empty(engine):
                return _demo(engine, args.demo_if_empty, args.seed, replace=False)
            if args.demo_if_empty:
                _print_accounts(engine)
            return 0
        if args.command == "demo":
            return _demo(engine, args.size, args.seed, replace=args.replace)
    except DatabaseConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _is_empty(engine) -> bool:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from data.models import Ticket

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0


def _demo(engine, size: str, seed: int, replace: bool) -> int:  # type: ignore[no-untyped-def]
    from data.demo import DemoRefused, run_demo

    try:
        summary = run_demo(engine, size, seed, replace=replace)
    except DemoRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.get("message", ""), file=sys.stderr)
    for role, username, password in summary["accounts"]:
        print(f"{role} {username} {password}")
    return 0


def _print_accounts(engine) -> None:  # type: ignore[no-untyped-def]
    from data.demo import stored_demo_accounts

    for role, username, password in stored_demo_accounts(engine):
        print(f"{role} {username} {password}")


if __name__ == "__main__":
    sys.exit(main())
