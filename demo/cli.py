"""Command line of the demo world: ``python -m demo [--size S|M|L|XL] [--seed N] [--replace | --if-empty]``.

Prints the outcome on stderr and the demo accounts on stdout, one per line as ``role username password``. Exit codes:
0 success, 2 configuration error or refused (the database holds data that is not a demo world). ``python -m data
demo`` and ``python -m data init --demo-if-empty SIZE`` call :func:`demo_command` and :func:`load_if_empty` here
(a lazy import inside the data command line: ``data`` itself never imports ``demo``).
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine, func, select

from data.engine import DatabaseConfigError, get_engine
from data.models import Ticket
from data.schema import upgrade
from demo.run import DemoRefused, run_demo, stored_demo_accounts

SIZE_CHOICES = ["S", "M", "L", "XL"]


def demo_command(engine: Engine, size: str, seed: int, replace: bool = False) -> int:
    """Load (or keep) the demo world of ``size`` and ``seed``; prints the message and the accounts. Exit code."""
    try:
        summary = run_demo(engine, size, seed, replace=replace)
    except DemoRefused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.get("message", ""), file=sys.stderr)
    _print(summary["accounts"])
    return 0


def load_if_empty(engine: Engine, size: str, seed: int) -> int:
    """The demo world when the database holds no work orders; otherwise only the stored demo accounts (if any)."""
    with engine.connect() as conn:
        empty = conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 0
    if empty:
        return demo_command(engine, size, seed)
    _print(stored_demo_accounts(engine))
    return 0


def _print(accounts: list[tuple[str, str, str]]) -> None:
    for role, username, password in accounts:
        print(f"{role} {username} {password}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description="GridCX deterministic demo world")
    parser.add_argument("--size", choices=SIZE_CHOICES, default="M")
    parser.add_argument("--seed", type=int, default=42)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--replace", action="store_true", help="replace non-demo data (destructive)")
    mode.add_argument("--if-empty", action="store_true",
                      help="load only when the database holds no work orders (else print the stored demo accounts)")
    args = parser.parse_args(argv)
    try:
        engine = get_engine(check=True)
        upgrade(engine)
    except DatabaseConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.if_empty:
        return load_if_empty(engine, args.size, args.seed)
    return demo_command(engine, args.size, args.seed, replace=args.replace)
