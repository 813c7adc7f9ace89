"""Command line of the metrics layer - the one composition root inside ``metrics/`` that may read the database.

``python -m metrics report --from D --to D [--by region,channel,...] [--kpi k1,k2] [--scope REGION_CODE]
[--format json|csv] [--pack state_grid_2023]`` prints the KPI table: one row per KPI x group with ``kpi``,
``group`` (an object of the breakdown values), ``value``, ``n``, ``ci_low``, ``ci_high``, ``target``, ``status``.
``--by dimension`` (alone or with one more breakdown: region, channel, segment, survey_channel, ...) prints the
questionnaire dimension scores instead: ``dimension``, ``group``, ``mean`` (``mean_low``, ``mean_high``: t interval),
``top_box`` (``top_box_low``, ``top_box_high``: Wilson interval; top-2 box of the items' scale), ``top_box_from``, ``n``
respondents (:mod:`metrics.dimensions`).
``python -m metrics drivers --from D --to D [--method relative_weights|shapley] [--outcome csat] [--scope CODE]
[--boot 500] [--format json|csv]`` prints which dimensions drive the overall score: ``driver``, ``weight`` (share of
R²) with its bootstrap interval, ``raw`` (part of R²) with its interval, ``performance`` (dimension mean), ``quadrant``
(importance-performance), ``n``, ``r2``, ``method``.
Both work on survey results without any work order (imported from a questionnaire tool).
``python -m metrics docs [--check]`` writes (or checks) ``docs/metrics.md`` and the ``kpi.*`` catalogue entries.

Exit codes: 0 success; 1 ``docs --check`` found something out of step; 2 a usage, configuration or database error
(one line on stderr). Everything else in ``metrics/`` stays pure; this file only reads frames (``data/``) and
hands them to the pure functions.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from metrics import docs, registry
from metrics.businesstime import WorkCalendar
from metrics.dimensions import DIMENSION_COLUMNS, dimension_scores
from metrics.drivers import DRIVER_METHODS, dimension_matrix, driver_table, importance_performance
from metrics.kpis import compute
from metrics.overview import Frames, kpi_params, no_tickets, prepare, region_rollup
from metrics.periods import Period

ROOT = Path(__file__).resolve().parents[1]
DOCS_PATH = ROOT / "docs" / "metrics.md"
BY_CHOICES = ("region", "region_id", "area_class", "channel", "service_type", "segment", "staff_id", "team_id",
              "category", "survey_channel", "survey_key", "day", "dimension")
READABLE = ("ticket", "contact", "response", "answer", "follow_up", "invitation")
FIELDS = ("kpi", "group", "value", "n", "ci_low", "ci_high", "target", "status")
DIMENSION_FIELDS = ("dimension", "group", *DIMENSION_COLUMNS[1:])
DRIVER_FIELDS = ("driver", "weight", "ci_low", "ci_high", "raw", "raw_ci_low", "raw_ci_high", "performance",
                 "quadrant", "n", "r2", "method", "n_boot")


# --- composition helpers (also used by the benchmark) ------------------------------------------------------------


def work_calendar(start: dt.date, end: dt.date) -> WorkCalendar:
    """The site's working-day calendar for [start, end] from ``data.workcal`` (holidays and make-up days)."""
    from data import workcal

    # room for long-running orders, but not past today (a future year without a schedule would only warn)
    lo, hi = start - dt.timedelta(days=400), min(end + dt.timedelta(days=60), dt.date.today())
    hol = pd.to_datetime(workcal.holidays(lo, hi)).date
    mk = pd.to_datetime(workcal.makeup_workdays(lo, hi)).date
    return WorkCalendar(holidays=tuple(hol), workdays=tuple(mk))


def load_frames(engine: Any, scope: Any, start: dt.datetime, end: dt.datetime,
                kinds: Sequence[str] = ("ticket", "contact", "response", "follow_up"), filters: Any = None) -> Frames:
    """The fact frames of one period (UTC bounds, end exclusive) within ``scope``, read by ``data.repositories``."""
    from data.repositories import (
        Filters,
        answer_facts,
        contact_facts,
        follow_up_facts,
        invitation_facts,
        response_facts,
        ticket_facts,
    )

    f = filters if filters is not None else Filters(start, end)
    readers = {"ticket": ticket_facts, "contact": contact_facts, "response": response_facts,
               "answer": answer_facts, "follow_up": follow_up_facts, "invitation": invitation_facts}
    got = {k: readers[k](engine, scope, f) for k in kinds if k in readers}
    empty = no_tickets()
    return Frames(tickets=got.get("ticket", empty), contacts=got.get("contact"), responses=got.get("response"),
                  answers=got.get("answer"), follow_ups=got.get("follow_up"), invitations=got.get("invitation"),
                  start=pd.Timestamp(start),
                  end=pd.Timestamp(end))


# --- report ------------------------------------------------------------------------------------------------------


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _json_value(v: Any) -> Any:
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (pd.Timestamp, dt.date)):
        return v.isoformat()[:10] if isinstance(v, pd.Timestamp) and v == v.normalize() else v.isoformat()
    return v


def report_rows(engine: Any, start: dt.date, end: dt.date, by: Sequence[str] = (), kpis: Sequence[str] = (),
                scope_code: str | None = None, pack: str = "state_grid_2023") -> tuple[list[dict[str, Any]], list[str]]:
    """The report's rows (one per KPI x group) and notes on KPIs left out; ``end`` is inclusive (local dates)."""
    from data import reference
    from data.repositories import regions as read_regions
    from data.repositories.lookup import scope_for

    scope = scope_for(engine, scope_code)
    period = Period(start, end + dt.timedelta(days=1))
    lo, hi = period.utc_bounds()
    wanted = list(kpis) or [k for k, v in registry.REGISTRY.items() if v.frame in READABLE]
    notes: list[str] = []
    frames_needed = {registry.get(k).frame for k in wanted}
    for k in wanted:
        if registry.get(k).frame not in READABLE:
            notes.append(f"{k}: no fact reader for the {registry.get(k).frame} frame yet; left out")
    kinds = [f for f in READABLE if f in frames_needed]
    frames = load_frames(engine, scope, lo, hi, kinds=kinds or ["ticket"])
    calendar = work_calendar(start, end)
    reg = read_regions(engine, scope)
    frames = prepare(frames, reference.sla_policies(pack), calendar, regions=reg, root_path=scope.path)
    code_of = dict(zip(reg["id"], reg["code"], strict=False))
    customers = _customers(reg, scope.path)
    rows: list[dict[str, Any]] = []
    for k in wanted:
        kpi = registry.get(k)
        df = frames.get(kpi.frame)
        if df is None:
            continue
        missing = [b for b in by if b not in df.columns]
        if missing:
            notes.append(f"{k}: the {kpi.frame} frame has no {', '.join(missing)}; left out")
            continue
        params = kpi_params(k, frames, calendar)
        if kpi.kind == "rate":
            if list(by) not in ([], ["region"]):
                notes.append(f"{k}: customer counts exist per region only; left out for this breakdown")
                continue
            params["customers"] = customers if by else float(customers["customers"].sum())
        res = compute(k, df, by=list(by), **params)
        for rec in res.to_dict("records"):
            group = {b: _json_value(code_of.get(rec[b], rec[b]) if b in ("region", "region_id") else rec[b])
                     for b in by}
            rows.append({"kpi": k, "group": group, **{f: _json_value(rec[f]) for f in FIELDS[2:]}})
    return rows, notes


def _survey_frames(engine: Any, start: dt.date, end: dt.date, scope_code: str | None) -> tuple[Frames, dict[Any, Any]]:
    """The period's responses (rolled-up ``region`` added) and answers within the scope, and region id -> code."""
    from data.repositories import regions as read_regions
    from data.repositories.lookup import scope_for

    scope = scope_for(engine, scope_code)
    lo, hi = Period(start, end + dt.timedelta(days=1)).utc_bounds()
    frames = load_frames(engine, scope, lo, hi, kinds=("response", "answer"))
    reg = read_regions(engine, scope)
    responses = frames.responses if frames.responses is not None else pd.DataFrame(columns=["id"])
    responses = responses.assign(region=responses["region_id"].map(region_rollup(reg, scope.path)))
    code_of = dict(zip(reg["id"], reg["code"], strict=False))
    return Frames(tickets=frames.tickets, responses=responses, answers=frames.answers, start=frames.start,
                  end=frames.end), code_of


def dimension_rows(engine: Any, start: dt.date, end: dt.date, by: Sequence[str] = (),
                   scope_code: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Dimension scores (one row per dimension x group) of the period; ``by`` holds the breakdowns besides
    ``dimension`` (columns of the response frame). Responses without a work order count; a group value they lack
    (segment, the work order's channel) is a group of its own (null)."""
    from data.io.survey_items import ITEM_SCALES  # the one table of answer scales
    from data.repositories import item_scales

    frames, code_of = _survey_frames(engine, start, end, scope_code)
    notes: list[str] = []
    responses, answers = frames.responses, frames.answers
    if answers is None or responses is None or answers.empty:
        return [], ["no questionnaire answers in this period and scope"]
    missing = [b for b in by if b not in responses.columns]
    if missing:
        raise KeyError(f"the response frame has no {', '.join(missing)}")
    scales = {k: ITEM_SCALES[s] for k, s in item_scales(engine).items() if s in ITEM_SCALES}
    table = dimension_scores(answers, responses, by=list(by), scales=scales)
    unknown = sorted(table.loc[table["top_box_from"].isna(), "dimension"].astype(str).unique())
    if unknown:
        notes.append(f"top box left out for {', '.join(unknown)}: no published questionnaire gives the items' scale")
    rows = []
    for rec in table.to_dict("records"):
        group = {b: _json_value(code_of.get(rec[b], rec[b]) if b in ("region", "region_id") else rec[b]) for b in by}
        rows.append({"dimension": rec["dimension"], "group": group,
                     **{f: _json_value(rec[f]) for f in DIMENSION_FIELDS[2:]}})
    return rows, notes


def driver_rows(engine: Any, start: dt.date, end: dt.date, method: str = "relative_weights",
                outcome: str = "csat", scope_code: str | None = None, n_boot: int = 500,
                min_pair_n: int = 30) -> tuple[list[dict[str, Any]], list[str]]:
    """The drivers table of the period (as the satisfaction page draws it): dimension importance for ``outcome``
    with bootstrap intervals, the dimension mean as performance and the importance-performance quadrant."""
    frames, _ = _survey_frames(engine, start, end, scope_code)
    responses, answers = frames.responses, frames.answers
    if answers is None or responses is None or answers.empty:
        return [], ["no questionnaire answers in this period and scope"]
    x, y = dimension_matrix(responses, answers, outcome)
    table = driver_table(x, y, method, min_pair_n=min_pair_n, n_boot=n_boot)
    if table.empty:
        return [], [f"too few respondents: every pair of dimensions needs {min_pair_n} answering both "
                    f"(and {outcome})"]
    perf = x.mean()
    quad = importance_performance(table.set_index("driver")["weight"], perf)
    table["performance"] = table["driver"].map(perf)
    table["quadrant"] = table["driver"].map(quad["quadrant"])
    return [{f: _json_value(rec[f]) for f in DRIVER_FIELDS} for rec in table.to_dict("records")], []


def _customers(reg: pd.DataFrame, root: str) -> pd.DataFrame:
    """Customers per rolled-up region: the sum over leaf regions (regions that are nobody's parent)."""
    leaves = reg.loc[~reg["id"].isin(reg["parent_id"].dropna())]
    roll = region_rollup(reg, root)
    d = pd.DataFrame({"region": leaves["id"].map(roll), "customers": leaves["customers"].fillna(0).astype(float)})
    return d.groupby("region", as_index=False)["customers"].sum()


def _print(rows: list[dict[str, Any]], fmt: str, out: Any, fields: Sequence[str] = FIELDS) -> None:
    if fmt == "json":
        out.write("[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + ("\n" if rows else "")
                  + "]\n")
        return
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(fields)
    for r in rows:
        w.writerow([json.dumps(r[f], ensure_ascii=False) if f == "group" else "" if r[f] is None else r[f]
                    for f in fields])
    out.write(buf.getvalue())


# --- docs --------------------------------------------------------------------------------------------------------


def _catalogue_paths() -> dict[str, Path]:
    from data.i18n import _FILES, CATALOGUE_DIR

    return {lang: CATALOGUE_DIR / name for lang, name in _FILES.items()}


def _read_json(path: Path) -> dict[str, str]:
    return json.loads(path.read_text(encoding="utf-8"))


def docs_command(check: bool) -> int:
    paths = _catalogue_paths()
    if check:
        md = DOCS_PATH.read_text(encoding="utf-8") if DOCS_PATH.exists() else ""
        problems = docs.problems(md, {lang: _read_json(p) for lang, p in paths.items()})
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    DOCS_PATH.write_text(docs.render_markdown(), encoding="utf-8")
    for lang, path in paths.items():
        merged = docs.merge_catalogue(_read_json(path), lang)
        path.write_text(json.dumps(merged, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {DOCS_PATH.relative_to(ROOT)} and the kpi.* entries of "
          f"{', '.join(str(p.relative_to(ROOT)) for p in paths.values())}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m metrics", description="GridCX metrics")
    sub = ap.add_subparsers(dest="command", required=True)
    p_rep = sub.add_parser("report", help="print the KPI table for a period")
    p_rep.add_argument("--from", dest="start", type=_date, required=True, metavar="YYYY-MM-DD")
    p_rep.add_argument("--to", dest="end", type=_date, required=True, metavar="YYYY-MM-DD", help="inclusive")
    p_rep.add_argument("--by", default="", help=f"comma-separated breakdown: {', '.join(BY_CHOICES)}")
    p_rep.add_argument("--kpi", default="", help="comma-separated KPI keys (default: all readable)")
    p_rep.add_argument("--scope", help="region code whose subtree to report (default: everything)")
    p_rep.add_argument("--format", choices=["json", "csv"], default="json")
    p_rep.add_argument("--pack", default="state_grid_2023", help="SLA policy pack")
    p_drv = sub.add_parser("drivers", help="print which questionnaire dimensions drive the overall score")
    p_drv.add_argument("--from", dest="start", type=_date, required=True, metavar="YYYY-MM-DD")
    p_drv.add_argument("--to", dest="end", type=_date, required=True, metavar="YYYY-MM-DD", help="inclusive")
    p_drv.add_argument("--method", choices=DRIVER_METHODS, default="relative_weights",
                       help="Johnson relative weights (default) or exact Shapley/LMG")
    p_drv.add_argument("--outcome", choices=["csat", "nps", "ces"], default="csat", help="the overall score")
    p_drv.add_argument("--scope", help="region code whose subtree to analyse (default: everything)")
    p_drv.add_argument("--boot", type=int, default=500, help="bootstrap resamples for the intervals")
    p_drv.add_argument("--format", choices=["json", "csv"], default="json")
    p_docs = sub.add_parser("docs", help="write docs/metrics.md and the kpi.* catalogue entries from the registry")
    p_docs.add_argument("--check", action="store_true", help="only check; exit 1 when out of step")
    args = ap.parse_args(argv)
    if args.command == "docs":
        return docs_command(args.check)
    if args.command == "drivers":
        return _drivers_command(args)
    by = [b.strip() for b in args.by.split(",") if b.strip()]
    bad = [b for b in by if b not in BY_CHOICES]
    kpis = [k.strip() for k in args.kpi.split(",") if k.strip()]
    unknown = [k for k in kpis if k not in registry.REGISTRY]
    dims = "dimension" in by
    if bad or unknown or args.end < args.start or len(set(by)) != len(by):
        msg = (f"unknown breakdown {bad}; choose from {', '.join(BY_CHOICES)}" if bad else
               f"unknown KPI {unknown}; known: {', '.join(registry.REGISTRY)}" if unknown else
               "duplicate breakdown" if len(set(by)) != len(by) else "--to is before --from")
        print(f"error: {msg}", file=sys.stderr)
        return 2
    if dims and (set(kpis) - {"dimension_score"} or len(by) > 2):
        print("error: --by dimension prints the dimension scores: at most one more breakdown, and no --kpi but "
              "dimension_score", file=sys.stderr)
        return 2
    try:
        from data.engine import DatabaseConfigError, get_engine
        from data.repositories.lookup import UnknownRegion

        engine = get_engine(check=True)
        if dims:
            rows, notes = dimension_rows(engine, args.start, args.end, [b for b in by if b != "dimension"],
                                         args.scope)
        else:
            rows, notes = report_rows(engine, args.start, args.end, by, kpis, args.scope, args.pack)
    except (DatabaseConfigError, UnknownRegion, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    _print(rows, args.format, sys.stdout, DIMENSION_FIELDS if dims else FIELDS)
    return 0


def _drivers_command(args: argparse.Namespace) -> int:
    if args.end < args.start or args.boot < 0:
        print("error: " + ("--to is before --from" if args.end < args.start else "--boot must be >= 0"),
              file=sys.stderr)
        return 2
    try:
        from data.engine import DatabaseConfigError, get_engine
        from data.repositories.lookup import UnknownRegion

        engine = get_engine(check=True)
        rows, notes = driver_rows(engine, args.start, args.end, args.method, args.outcome, args.scope, args.boot)
    except (DatabaseConfigError, UnknownRegion, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    _print(rows, args.format, sys.stdout, DRIVER_FIELDS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
