"""Command line of the survey package: ``python -m surveys <command>``.

  check                       validate every questionnaire file and settings.toml (exit 2 naming file and item)
  sync                        publish the definitions to the survey_definition table
  invite --since D [--channel sms|wechat|qr] [--out DIR]
                              invite closed work orders under the rules; writes the gateway batch CSV
  remind [--out DIR]          one reminder for unanswered invitations (fresh link, same expiry)
  qr --region CODE --day D    anonymous kiosk code for a hall and a day (PNG + SVG)
  import-ivr FILE / import-sms FILE [--rejects PATH]
                              IVR keypress / SMS reply files -> responses, rejects report per row
  escalate                    raise the escalation level of overdue follow-ups
  rates --since D [--until D] [--by channel,region,service_type] [--scope /1/]
  alpha --survey KEY          Cronbach's alpha per dimension
  bench [--threads 20] [--per-thread 50]
                              intake latency under concurrency (adds BENCH- rows to the database!)
  risk train | risk score [--top 20] [--no-route]
                              proactive risk models (surveys.proactive): retrain / score open work and route

Exit codes: 0 success, 2 configuration, definition or file error (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from data.engine import DatabaseConfigError, get_engine
from data.repositories import Scope


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["risk"]:
        from surveys.proactive import main as risk_main

        return risk_main(args_in[1:])
    parser = argparse.ArgumentParser(prog="python -m surveys", description="GridCX post-service surveys")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="validate the questionnaire files and settings")
    sub.add_parser("sync", help="publish the questionnaire definitions to the database")
    p = sub.add_parser("invite", help="invite closed work orders")
    p.add_argument("--since", type=_date, required=True, help="work orders closed on or after this date (UTC)")
    p.add_argument("--channel", choices=["sms", "wechat", "qr"], default="sms")
    p.add_argument("--out", type=Path, default=Path("outbox"))
    p.add_argument("--encoding", default="utf-8-sig", help="batch file encoding (utf-8-sig or gbk)")
    p = sub.add_parser("remind", help="one reminder for unanswered invitations")
    p.add_argument("--out", type=Path, default=Path("outbox"))
    p.add_argument("--encoding", default="utf-8-sig")
    p = sub.add_parser("qr", help="kiosk QR code for a hall and a day")
    p.add_argument("--region", required=True, help="region code of the hall")
    p.add_argument("--day", type=_date, default=dt.date.today())
    p.add_argument("--out", type=Path, default=Path("outbox"))
    for name in ("import-ivr", "import-sms"):
        p = sub.add_parser(name, help=f"{name[7:].upper()} result file -> responses")
        p.add_argument("file", type=Path)
        p.add_argument("--rejects", type=Path, help="where to write the rejects CSV (default: next to the file)")
    sub.add_parser("escalate", help="escalate overdue follow-ups")
    p = sub.add_parser("rates", help="response rates")
    p.add_argument("--since", type=_date, required=True)
    p.add_argument("--until", type=_date, default=dt.date.today() + dt.timedelta(days=1))
    p.add_argument("--by", default="channel,region,service_type")
    p.add_argument("--scope", help="region path prefix, e.g. /1/2/ (default: everything)")
    p = sub.add_parser("alpha", help="Cronbach's alpha per dimension")
    p.add_argument("--survey", required=True)
    p.add_argument("--scope", help="region path prefix (default: everything)")
    p = sub.add_parser("bench", help="intake benchmark (writes BENCH- rows)")
    p.add_argument("--threads", type=int, default=20)
    p.add_argument("--per-thread", type=int, default=50)
    args = parser.parse_args(argv)

    from surveys.definitions import DefinitionError, registry
    from surveys.settings import SettingsError, settings

    try:
        reg = registry()
        settings()
    except (DefinitionError, SettingsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(f"{len(reg.definitions)} survey definitions valid: "
              + ", ".join(f"{k} v{v}" for k, v in sorted(reg.definitions)))
        return 0
    try:
        engine = get_engine(check=True)
        return _run(args, engine)
    except (DatabaseConfigError, DefinitionError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, engine) -> int:  # type: ignore[no-untyped-def]
    from surveys.definitions import sync_definitions

    if args.command == "sync":
        print(json.dumps(sync_definitions(engine)))
        return 0
    if args.command == "invite":
        from surveys.invitations import invite

        sync_definitions(engine)
        res = invite(engine, args.since, args.channel, out_dir=args.out, encoding=args.encoding)
        print(f"invited {res.invited}; skipped {json.dumps(res.skipped, ensure_ascii=False)}; "
              f"batch file {res.batch_file or '-'}")
        return 0
    if args.command == "remind":
        from surveys.invitations import remind

        res = remind(engine, out_dir=args.out, encoding=args.encoding)
        print(f"reminded {res.invited}; skipped {json.dumps(res.skipped)}; batch file {res.batch_file or '-'}")
        return 0
    if args.command == "qr":
        from sqlalchemy import select

        from data.models import Region
        from surveys.invitations import kiosk_qr

        sync_definitions(engine)
        with engine.connect() as conn:
            region_id = conn.execute(select(Region.id).where(Region.code == args.region)).scalar_one_or_none()
        if region_id is None:
            print(f"error: no region with code {args.region!r}", file=sys.stderr)
            return 2
        code = kiosk_qr(engine, region_id, args.day, out_dir=args.out)
        print(f"kiosk code valid until {code.expires_at.isoformat()}: {code.png} {code.svg}")
        return 0
    if args.command in ("import-ivr", "import-sms"):
        from surveys.results import ResultsFileError, import_ivr, import_sms

        fn = import_ivr if args.command == "import-ivr" else import_sms
        try:
            summary = fn(engine, args.file)
        except ResultsFileError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        rejects = args.rejects or args.file.with_name(args.file.stem + ".rejects.csv")
        if summary.rejects:
            summary.write_rejects(rejects)
        print(f"{summary.rows} rows: {summary.imported} imported, {summary.already} already imported, "
              f"{len(summary.rejects)} rejected{f' (see {rejects})' if summary.rejects else ''}; "
              f"{summary.follow_ups} follow-ups opened")
        return 0
    if args.command == "escalate":
        from surveys.followups import escalate_overdue

        print(f"escalated {escalate_overdue(engine)} follow-ups")
        return 0
    if args.command == "rates":
        from data.models import UTC
        from surveys.rates import response_rates

        start = dt.datetime.combine(args.since, dt.time(), tzinfo=UTC)
        end = dt.datetime.combine(args.until, dt.time(), tzinfo=UTC)
        by = tuple(b for b in args.by.split(",") if b)
        print(response_rates(engine, Scope(args.scope) if args.scope else None, start, end, by).to_string(index=False))
        return 0
    if args.command == "alpha":
        from surveys.quality import dimension_alpha, scales

        sc = scales(engine, args.survey)
        where = "" if sc.source == "definition" else " (no definition: dimensions from the stored answers)"
        print(f"{sc.key} v{sc.version}{where}")
        if not sc.dimensions:
            print("no dimension items: Cronbach's alpha needs a dimension with 2 or more items")
            return 0
        for dim, keys in sc.few_items().items():
            print(f"dimension {dim!r} has {len(keys)} item ({', '.join(keys)}): Cronbach's alpha needs 2 or more "
                  "items; it is counted only in __all__")
        table = dimension_alpha(engine, args.survey, Scope(args.scope) if args.scope else None, version=sc.version)
        if table.empty:
            print("fewer than 2 dimension items in all: no alpha")
            return 0
        print(table.to_string(index=False))
        return 0
    if args.command == "bench":
        from surveys.bench import bench_intake

        print(json.dumps(bench_intake(engine, args.threads, args.per_thread), indent=2))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
