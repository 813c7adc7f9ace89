"""The import engine: file -> mapping -> vectorised validation -> staging table -> one upsert transaction.

Everything a user can start (the CLI, the admin upload page, the benchmark) goes through :func:`import_file`.
The whole import is one transaction: rows are staged in a temporary table (``COPY`` on PostgreSQL, ``executemany``
on SQLite), references are resolved in SQL, and one ``INSERT .. ON CONFLICT (external_no) DO UPDATE .. WHERE
<something changed>`` writes them, so re-importing a file changes nothing and a newer export updates only what
changed. Killing the process at any point leaves the database as it was. A responses file's reserved keys (keyless
web-survey responses, :mod:`data.io.keys`) are first matched to the rows they were derived from
(:func:`_match_reserved`).

On PostgreSQL the ``COPY`` of one chunk overlaps the validation of the next, and a large load into a smaller table
runs in bulk mode (:func:`_bulk_begin`: the table's secondary indexes, unique constraints and foreign keys are
dropped and rebuilt inside the same transaction).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from data.access import require
from data.i18n import translate
from data.io import reading
from data.io.errors import FileError
from data.io.mapping import CANONICAL, Mapping, key, load, shipped
from data.io.reading import Source
from data.io.spec import REFS, SPECS, KindSpec
from data.io.survey_items import Conversion, Target, targets
from data.io.validate import PROBLEM_COLS, Context, scan_dates, set_plans, validate_chunk
from data.models import UTC
from data.private import open_private
from data.settings import site_zone
from data.users import Identity, PermissionDenied, audit

REF_GROUPS = {"customer": "customers", "staff": "staff", "team": "teams", "ticket": "tickets",
              "outage_event": "outage_events", "response": "responses"}
_SQL_TYPES = {"datetime": ("TEXT", "timestamp"), "int": ("INTEGER", "bigint"), "float": ("REAL", "double precision"),
              "bool": ("INTEGER", "boolean"), "str": ("TEXT", "text"), "text": ("TEXT", "text"),
              "enum": ("TEXT", "text")}
VALUE_PREVIEW = 200
# PostgreSQL bulk mode (see _bulk_begin): at least this many new rows, into a table holding fewer rows than that.
BULK_MIN_ROWS = 100_000
BULK_LOCK_TIMEOUT = "2s"


@dataclass
class ImportResult:
    kind: str
    file: str
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    warnings: int = 0
    rejects_file: str | None = None
    seconds: float = 0.0
    sha256: str | None = None
    mapping: str | None = None
    encoding: str | None = None
    header_row: int | None = None
    regions_created: int = 0
    na_answers: int = 0  # responses: N/A codes stored as answers without a value
    conversions: list[Conversion] = field(default_factory=list)  # responses: scale conversions applied
    error: FileError | None = None
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLS))
    # What the wizard's dry run shows (and a real import reports too): the data rows read, the problems counted by
    # level, reason and column, the range of the kind's main time (local dates, the mapping's zone) and file-level
    # checks (suspicious zeros, out-of-scale values, ambiguous dates, unknown regions).
    dry_run: bool = False
    rows: int = 0
    by_reason: list[dict[str, Any]] = field(default_factory=list)
    date_range: tuple[str, str] | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    # Import-level notes: the rules applied and the assumptions made (zone assumed, date order, values mapped),
    # each {"code", "params"}; texts from the catalogues (``import.note.<code>``) via :meth:`note_texts`.
    notes: list[dict[str, Any]] = field(default_factory=list)

    def note_texts(self, lang: str = "en") -> list[str]:
        return [_reason_text(n["code"], lang, n["params"], "note") for n in self.notes]

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return 2
        return 1 if self.rejected else 0

    def summary(self, lang: str = "en") -> dict[str, Any]:
        out: dict[str, Any] = {
            "imported": self.imported, "updated": self.updated, "unchanged": self.unchanged,
            "rejected": self.rejected, "rejects_file": self.rejects_file, "seconds": round(self.seconds, 3),
            "warnings": self.warnings, "kind": self.kind, "file": self.file, "mapping": self.mapping,
        }
        if self.regions_created:
            out["regions_created"] = self.regions_created
        if self.na_answers:
            out["na_answers"] = self.na_answers
            out["na_note"] = translate("import.survey.na", lang, n=self.na_answers)
        if self.conversions:
            out["conversions"] = [conversion_text(c, lang) for c in self.conversions]
        if self.dry_run:
            out["dry_run"] = True
        out["rows"] = self.rows
        out["date_range"] = list(self.date_range) if self.date_range else None
        out["by_reason"] = self.by_reason
        out["checks"] = [{**c, "message": translate(f"import.check.{c['code']}", lang, **c)} for c in self.checks]
        if self.notes:
            out["notes"] = self.note_texts(lang)
        if self.error is not None:
            out["error"] = self.error.code
            out["message"] = self.error.message(lang)
        return out


REJECT_COLS: list[str] = ["row", "column", "value", "level", "reason_zh", "reason_en"]


def conversion_text(c: Conversion, lang: str = "en") -> str:
    """"CSAT 1–10 → 1–5: y = 1 + (x − 1)·4/9, rounded to the nearest point (halfway up); top-2-box (4–5) = 7–10"."""
    name = translate(f"import.field.{c.role}", lang) if c.role else c.item
    text = translate("import.survey.conversion", lang, item=name, src=_span(c.src), dst=_span(c.dst),
                     formula=c.formula)
    if c.top_box:
        text += translate("import.survey.top_box", lang, points=c.top_box)
    return text


def _span(r: tuple[float, float]) -> str:
    return "–".join(str(int(v)) if float(v).is_integer() else f"{v:g}" for v in r)


def _questionnaires(conn: Connection) -> dict[tuple[str, int], dict[str, Target]]:
    """The published questionnaires' items (table ``survey_definition``), for a responses import."""
    rows = conn.execute(text("SELECT key, version, definition FROM survey_definition")).all()
    return {(str(k), int(v)): targets(d if isinstance(d, dict) else json.loads(d)) for k, v, d in rows}


def choose_mapping(path: str | Path, kind: str, sheet: str | None = None) -> Mapping:
    """The shipped mapping of ``kind`` whose headers best match the file's first rows (canonical on a tie); for a
    workbook, those of ``sheet`` (default: the first)."""
    names = shipped(kind)
    candidates = [load(n, kind) for n in [CANONICAL[kind], *[n for n in names if n != CANONICAL[kind]]]]
    rows = _first_rows(Path(path), sheet)
    best, best_n = candidates[0], 0
    for m in candidates:
        n = max((m.match_count(r) for r in rows), default=0)
        if n > best_n:
            best, best_n = m, n
    return best


def _first_rows(path: Path, sheet: str | None = None) -> list[list[str]]:
    import csv

    try:
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
    except OSError:
        return []
    if head.startswith(b"PK\x03\x04"):
        try:
            return reading.xlsx_head(path, sheet)
        except FileError:
            return []
    for enc in ("utf-8-sig", "gb18030"):
        try:
            txt = head.decode(enc)
            break
        except UnicodeDecodeError as exc:
            if exc.start > len(head) - 4:
                txt = head[: exc.start].decode(enc, errors="replace")
                break
    else:
        txt = head.decode("utf-8", errors="replace")
    out: list[list[str]] = []
    csv.field_size_limit(1 << 30)
    for d in reading.DELIMITERS:
        try:
            for i, r in enumerate(csv.reader(io.StringIO(txt), delimiter=d)):
                if i >= reading.HEADER_SEARCH_ROWS:
                    break
                out.append(r)
        except csv.Error:
            continue
    return out


def import_file(
    engine: Engine,
    kind: str,
    path: str | Path,
    mapping: str | Path | Mapping | None = None,
    *,
    sheet: str | None = None,
    user: str | None = None,
    rejects_path: str | Path | None = None,
    display_name: str | None = None,
    chunk_rows: int = reading.CHUNK_ROWS,
    actor: Identity | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Import one file. Never raises for a bad file: a file-level problem comes back in ``result.error``
    (exit code 2) with nothing written except an ``import_failed`` audit event.

    ``actor`` is the logged-in person when a page starts the import: anyone but an administrator is refused with
    :class:`data.users.PermissionDenied` (audited), whatever the menu showed. The command line runs without an
    actor (whoever has shell access to the server is trusted as an operator).

    ``dry_run`` runs the whole file through the same reading, validation and reference resolution inside the
    transaction and reports exactly the counts the import would, then rolls back: no table changes and no audit
    event (a rejects file is still written where asked). On PostgreSQL the id sequences of regions or staff a
    ``create`` policy would add are not given back (sequences are not transactional)."""
    if actor is not None:
        try:
            require(actor, "import")
        except PermissionDenied:
            with engine.begin() as conn:
                audit(conn, getattr(actor, "username", None), "import_refused", kind[:32],
                      Path(str(path)).name[:128], {"role": getattr(actor, "role", None)})
            raise
        user = actor.username
    t0 = time.perf_counter()
    path = Path(path)
    name = display_name or path.name
    res = ImportResult(kind=kind, file=name, dry_run=dry_run)
    try:
        if kind not in SPECS:
            raise FileError("kind_unknown", kind=kind, kinds=", ".join(SPECS))
        from data.repositories.mappings import using  # (data.repositories.mappings imports data.io)

        with using(engine):  # a mapping saved in this database comes before the shipped ones
            m = mapping if isinstance(mapping, Mapping) else (
                load(mapping, kind) if mapping is not None else choose_mapping(path, kind, sheet))
        if m.kind != kind:
            raise FileError("mapping_kind", mapping=m.name, mapping_kind=m.kind, kind=kind)
        res.mapping = m.name
        src = reading.open_source(path, m, sheet=sheet, name=name)
        res.sha256, res.encoding, res.header_row = src.sha256, src.encoding, src.header_row
        _run(engine, SPECS[kind], m, src, res, user, rejects_path, chunk_rows, t0, dry_run)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        return _failed(engine, res, FileError("database", detail=detail), path, name, kind, user, t0)
    except FileError as exc:
        return _failed(engine, res, exc, path, name, kind, user, t0)
    return res


def _failed(engine: Engine, res: ImportResult, exc: FileError, path: Path, name: str, kind: str,
            user: str | None, t0: float) -> ImportResult:
    res.error = exc
    res.imported = res.updated = res.unchanged = res.rejected = res.warnings = 0
    res.notes = []
    res.rejects = pd.DataFrame(columns=REJECT_COLS)
    res.rejects_file = None
    res.seconds = time.perf_counter() - t0
    if res.sha256 is None and path.is_file():
        res.sha256 = reading._sha256(path)
    if res.dry_run:
        return res
    with engine.begin() as conn:
        audit(conn, user, "import_failed", kind[:32], name[:128],
              {"file": name, "sha256": res.sha256, "mapping": res.mapping, "error": exc.code,
               "message": exc.message("en")})
    return res


def _lookups(conn: Connection, m: Mapping) -> tuple[dict[str, int], set[str], dict[str, tuple[int, str, str]]]:
    regions = pd.read_sql(text("SELECT id, code, name_zh, name_en, path, level FROM region"), conn)
    match = m.policy("regions").get("match") or ["code", "name_zh", "name_en"]
    ids: dict[str, int] = {}
    ambiguous: set[str] = set()
    for col in match:
        if col not in ("code", "name_zh", "name_en"):
            raise FileError("mapping_invalid", mapping=m.name, detail=f"regions.match: unknown column {col!r}")
        for k, group in regions.groupby(regions[col].map(key))["id"]:
            vals = set(group)
            if len(vals) > 1 or (k in ids and ids[k] not in vals):
                ambiguous.add(k)
            else:
                ids.setdefault(k, next(iter(vals)))
    codes = {key(c): (int(i), p, lv) for i, c, p, lv in regions[["id", "code", "path", "level"]].itertuples(False)}
    for k in ambiguous:
        ids.pop(k, None)
    # A code always wins over a name that happens to be equal to another region's code.
    for k, (i, _p, _l) in codes.items():
        if "code" in match:
            ids[k] = i
            ambiguous.discard(k)
    return ids, ambiguous, codes


class _DryRun(Exception):
    """Raised at the end of a dry run's transaction to roll it back."""


def _run(engine: Engine, spec: KindSpec, m: Mapping, src: Source, res: ImportResult, user: str | None,
         rejects_path: str | Path | None, chunk_rows: int, t0: float, dry_run: bool = False) -> None:
    pg = engine.dialect.name == "postgresql"
    stg = f"stg_{uuid.uuid4().hex[:12]}"
    problems: list[pd.DataFrame] = []
    now = dt.datetime.now(UTC)
    zone = site_zone(engine)  # naive times of a mapping that states no zone are in the site's zone
    with engine.connect() as conn:
        if not pg:  # a big page cache keeps the index B-trees in memory during the upsert
            conn.exec_driver_sql("PRAGMA cache_size=-524288")
            conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
            conn.commit()
        try:
            with conn.begin():
                _trace("start")
                summary = _Summary(spec, m, zone)
                ids, ambiguous, codes = _lookups(conn, m)
                pol = m.policy("regions")
                default_id = None
                if pol.get("default"):
                    if key(pol["default"]) not in codes:
                        raise FileError("region_config", region=pol["default"])
                    default_id = codes[key(pol["default"])][0]
                if pol.get("unknown") == "create" and key(pol.get("parent", "")) not in codes:
                    raise FileError("region_config", region=pol.get("parent"))
                ctx = Context(m, spec, src.headers, ids, ambiguous, default_id, now,
                              questionnaires=_questionnaires(conn) if spec.kind == "responses" else {},
                              site_zone=zone)
                cols = _staging_columns(spec, ctx)
                _create_staging(conn, stg, cols, pg)
                n_rows = 0
                answers = "answers" in ctx.present
                if answers:
                    _create_staging(conn, f"{stg}_a", ANSWER_COLS, pg)
                keyed = spec.kind == "responses" and "external_no" in ctx.present
                if keyed:
                    _create_staging(conn, f"{stg}_k", KEY_COLS, pg)
                _plan_dates(src, ctx, chunk_rows)
                with _Stager(conn, pg) as stager:
                    for chunk in reading.chunks(src, chunk_rows):
                        n_rows += len(chunk)
                        valid, probs = validate_chunk(chunk, ctx)
                        summary.add(valid)
                        if len(probs):
                            problems.append(probs)
                        if len(valid):
                            stager.put(valid, stg, cols)
                            if answers:
                                stager.put(_answer_rows(valid), f"{stg}_a", ANSWER_COLS)
                            if keyed and "key_rid" in valid:
                                stager.put(_key_rows(valid), f"{stg}_k", KEY_COLS)
                if n_rows == 0:
                    raise FileError("no_rows", row=src.header_row)
                if os.environ.get("GRIDCX_IMPORT_PAUSE_STAGED"):  # test hook: kill -9 while staged
                    print("staged", flush=True)
                    time.sleep(float(os.environ["GRIDCX_IMPORT_PAUSE_STAGED"]))
                _trace("staged")
                res.regions_created = _create_regions(conn, stg, ctx, codes, pol, pg)
                problems += _resolve_refs(conn, stg, spec, ctx, pg)
                counts = _upsert(conn, stg, spec, ctx, cols, pg, now, keyed, dry_run)
                res.imported, res.updated, res.unchanged = counts
                if spec.kind == "invitations" and "response_id" in cols:
                    problems += _link_responses(conn, stg, ctx, pg)  # in a dry run too: rolled back below
                all_problems = pd.concat(problems, ignore_index=True) if problems else pd.DataFrame(
                    columns=PROBLEM_COLS)
                res.rows = n_rows
                res.by_reason = _by_reason(all_problems)
                res.date_range = summary.date_range()
                res.checks = summary.checks(all_problems, ctx, res.regions_created)
                rejects = _reasons(all_problems)
                res.rejects = rejects
                res.rejected = int(rejects.loc[rejects["level"] == "error", "row"].nunique())
                res.warnings = int((rejects["level"] == "warning").sum())
                if ctx.na_rows:
                    gone = set(rejects.loc[rejects["level"] == "error", "row"].tolist())
                    res.na_answers = sum(n for r, n in ctx.na_rows.items() if r not in gone)
                res.conversions = list(ctx.conversions.values())
                res.notes = [{"code": code, "params": params} for (code, _col), params in ctx.notes.items()]
                if len(rejects):
                    res.rejects_file = str(_write_rejects(rejects, src, rejects_path))
                res.seconds = time.perf_counter() - t0
                if dry_run:
                    raise _DryRun
                if os.environ.get("GRIDCX_IMPORT_PAUSE_UPSERTED"):  # test hook: kill -9 before commit
                    print("upserted", flush=True)
                    time.sleep(float(os.environ["GRIDCX_IMPORT_PAUSE_UPSERTED"]))
                audit(conn, user, "import", spec.kind, src.name[:128], {
                    "file": src.name, "sha256": src.sha256, "size": src.size, "mapping": m.name,
                    "encoding": src.encoding, "sheet": src.sheet, "header_row": src.header_row, "rows": n_rows,
                    **{k: v for k, v in res.summary().items() if k in (
                        "imported", "updated", "unchanged", "rejected", "warnings", "rejects_file",
                        "regions_created", "na_answers", "conversions")},
                    "notes": [n["code"] for n in res.notes],
                })
        except _DryRun:
            pass  # the transaction was rolled back: nothing written
        finally:
            if not pg:
                conn.rollback()
                for t in (stg, f"{stg}_a", f"{stg}_d", f"{stg}_k", f"{stg}_m", f"{stg}_e"):
                    conn.exec_driver_sql(f"DROP TABLE IF EXISTS temp.{t}")
                conn.exec_driver_sql("PRAGMA cache_size=-2000")
                conn.exec_driver_sql("PRAGMA temp_store=DEFAULT")
                conn.commit()
    res.seconds = time.perf_counter() - t0


def _plan_dates(src: Source, ctx: Context, chunk_rows: int) -> None:
    """A file of several chunks: decide each time column's date order from all its rows first (one extra read of
    the file, only when the first chunk holds numeric dates with the year last)."""
    it = reading.chunks(src, chunk_rows)
    first = next(it, None)
    if first is None:
        return
    stats = scan_dates(first, ctx)
    if not any(st.n_text for st in stats.values()):
        return
    second = next(it, None)
    if second is None:
        return  # one chunk: it decides for itself
    for chunk in (second, *it):
        for label, st in scan_dates(chunk, ctx).items():
            stats[label] = stats[label].merge(st) if label in stats else st
    set_plans(ctx, stats)


# --- staging ----------------------------------------------------------------------------------------------------


def _staging_columns(spec: KindSpec, ctx: Context) -> dict[str, str]:
    """Staging column -> field type (``<ref>_ref`` business key and ``<ref>_id`` for references)."""
    cols: dict[str, str] = {"row_no": "int"}
    for f in spec.fields:
        if (f.name not in ctx.present and f.default is None) or f.type == "answers":
            continue
        if f.type == "ref":
            assert f.ref is not None
            cols[f"{f.ref}_ref"] = "str"
            cols[REFS[f.ref][2]] = "int"
        elif f.column is not None and not f.column.startswith("__"):  # "__x": derives stored fields only
            cols[f.column] = f.type
    if spec.kind in ("responses", "invitations") and "region_id" not in cols:
        cols["region_ref"] = "str"
        cols["region_id"] = "int"
    if spec.kind == "invitations":  # derived in validation (data.io.validate._invitation_columns)
        cols["expires_at"] = "datetime"
        cols["token_hash"] = "str"  # noqa: S105 - a column type, not a secret
        cols["reusable"] = "bool"
    return cols


def _create_staging(conn: Connection, stg: str, cols: dict[str, str], pg: bool) -> None:
    defs = ", ".join(f"{c} {_SQL_TYPES[t][1 if pg else 0]}" for c, t in cols.items())
    if pg:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {stg} ({defs}) ON COMMIT DROP")
    else:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {stg} ({defs})")


_ARROW_TYPES = {"datetime": "timestamp", "int": "int64", "float": "float64", "bool": "bool_", "str": "string",
                "text": "string", "enum": "string"}


def _stage(conn: Connection, stg: str, valid: pd.DataFrame, cols: dict[str, str], pg: bool) -> None:
    if pg:
        _copy(conn, stg, _staging_csv(valid, cols), cols)
        return
    frame = pd.DataFrame(index=valid.index)
    for c, t in cols.items():
        if c in valid:
            s = valid[c]
        else:
            s = pd.Series(None, index=valid.index, dtype=object)
        if t == "datetime":
            arr = s.to_numpy(dtype="datetime64[us]")
            txt = np.datetime_as_string(arr, unit="us").astype(object)
            txt[np.isnat(arr)] = None
            frame[c] = txt
        else:
            frame[c] = s
    rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    marks = ", ".join("?" * len(cols))
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    cur.executemany(f"INSERT INTO temp.{stg} VALUES ({marks})", rows)
    cur.close()


def _staging_csv(valid: pd.DataFrame, cols: dict[str, str]) -> bytes:
    """The staged columns as CSV for ``COPY .. (FORMAT csv)``, written by Arrow (several times faster than
    ``DataFrame.to_csv``): text is always quoted and a missing value is an unquoted empty field, so NULL and an
    empty string stay apart; times are naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    arrays, names = [], []
    for c, t in cols.items():
        typ = pa.timestamp("us") if t == "datetime" else getattr(pa, _ARROW_TYPES[t])()
        if c in valid:
            s = valid[c]
            if t == "datetime":
                s = s.astype("datetime64[us]")
            elif t == "bool":
                s = s.astype(object).where(s.notna(), None)
            arr = pa.array(s, type=typ, from_pandas=True)
        else:
            arr = pa.nulls(len(valid), type=typ)
        arrays.append(arr)
        names.append(c)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(pa.Table.from_arrays(arrays, names=names), sink, pacsv.WriteOptions(include_header=False))
    return sink.getvalue().to_pybytes()


def _copy(conn: Connection, stg: str, data: bytes, cols: dict[str, str]) -> None:
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:  # type: ignore[union-attr]
        with cur.copy(f"COPY {stg} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv)") as cp:
            cp.write(data)


class _Stager:
    """Stages validated chunks. On PostgreSQL the ``COPY`` of one chunk runs in a worker thread while the caller
    reads and validates the next one (the driver releases the GIL while the server works), so the server's
    parsing and inserting overlaps with ours; at most one chunk is in flight and chunks arrive in order."""

    def __init__(self, conn: Connection, pg: bool) -> None:
        self.conn, self.pg = conn, pg
        self._pool: Any = None
        self._pending: Any = None

    def __enter__(self) -> _Stager:
        if self.pg:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gridcx-copy")
        return self

    def put(self, valid: pd.DataFrame, stg: str, cols: dict[str, str]) -> None:
        if not len(valid):
            return
        if not self.pg:
            _stage(self.conn, stg, valid, cols, self.pg)
            return
        data = _staging_csv(valid, cols)
        self._wait()
        self._pending = self._pool.submit(_copy, self.conn, stg, data, cols)

    def _wait(self) -> None:
        if self._pending is not None:
            fut, self._pending = self._pending, None
            fut.result()

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._pool is None:
            return
        try:
            if exc_type is None:
                self._wait()
            elif self._pending is not None:  # let the chunk in flight finish before the connection is rolled back
                self._pending.exception()
        finally:
            self._pool.shutdown(wait=True)


# Staged answer rows of a responses file: (file row, position in the list) -> one answer.
ANSWER_COLS = {"row_no": "int", "ord": "int", "item_key": "str", "dimension": "str", "value_num": "float",
               "value_text": "text"}


# Staged reserved response keys (data.io.keys): file row -> the id and submission instant the key names.
KEY_COLS = {"row_no": "int", "rid": "int", "at": "datetime"}


def _key_rows(valid: pd.DataFrame) -> pd.DataFrame:
    k = valid[valid["key_rid"].notna()]
    return pd.DataFrame({"row_no": k["row_no"].astype("int64"), "rid": k["key_rid"].astype("int64"),
                         "at": k["key_at"].astype("datetime64[us]")})


def _answer_rows(valid: pd.DataFrame) -> pd.DataFrame:
    recs = [(r, i, a["item_key"], a["dimension"], a["value_num"], a["value_text"])
            for r, items in zip(valid["row_no"].tolist(), valid["answers"].tolist(), strict=True)
            for i, a in enumerate(items or ())]
    df = pd.DataFrame(recs, columns=list(ANSWER_COLS))
    return df.astype({"row_no": "int64", "ord": "int64", "value_num": "float64"})


# --- references ---------------------------------------------------------------------------------------------------


def _create_regions(conn: Connection, stg: str, ctx: Context, codes: dict[str, tuple[int, str, str]],
                    pol: dict[str, Any], pg: bool) -> int:
    """Create the unknown regions of the *valid* rows below the mapping's parent (policy ``create``)."""
    if not ctx.created_labels:
        return 0
    t = stg if pg else f"temp.{stg}"
    labels = [r[0] for r in conn.exec_driver_sql(
        f"SELECT DISTINCT region_ref FROM {t} WHERE region_id IS NULL AND region_ref IS NOT NULL")]
    if not labels:
        return 0
    parent_id, parent_path, parent_level = codes[key(pol["parent"])]
    levels = ("province", "city", "county", "station")
    if parent_level == "station":
        raise FileError("region_config", region=pol["parent"])
    level = levels[levels.index(parent_level) + 1]
    area = pol.get("area_class") or conn.execute(
        text("SELECT area_class FROM region WHERE id = :i"), {"i": parent_id}).scalar_one()
    if pg:
        _bump_sequence(conn, "region")
    n = 0
    for label in sorted(labels):
        rid = conn.execute(text(
            "INSERT INTO region (code, name_zh, name_en, level, kind, parent_id, path, area_class, customers) "
            "VALUES (:c, :zh, :en, :lv, :kind, :p, '', :a, 0) RETURNING id"),
            {"c": label[:32], "zh": label[:64], "en": label[:128], "lv": level,
             "kind": "supply_station" if level == "station" else None, "p": parent_id, "a": area}).scalar_one()
        conn.execute(text("UPDATE region SET path = :path WHERE id = :i"), {"path": f"{parent_path}{rid}/", "i": rid})
        n += 1
    return n


def _resolve_refs(conn: Connection, stg: str, spec: KindSpec, ctx: Context, pg: bool) -> list[pd.DataFrame]:
    probs: list[pd.DataFrame] = []
    t = f"temp.{stg}" if not pg else stg
    if ctx.created_labels:
        conn.exec_driver_sql(
            f"UPDATE {t} SET region_id = (SELECT r.id FROM region r WHERE r.code = {t}.region_ref) "
            "WHERE region_id IS NULL AND region_ref IS NOT NULL")
    for f in spec.fields:
        if f.type != "ref" or f.ref == "region" or f.name not in ctx.present:
            continue
        assert f.ref is not None
        table, keycol, idcol = REFS[f.ref]
        kcol = f"{f.ref}_ref"
        upd = (f"UPDATE {t} SET {idcol} = (SELECT x.id FROM {table} x WHERE x.{keycol} = {t}.{kcol}) "
               f"WHERE {kcol} IS NOT NULL")
        conn.exec_driver_sql(upd)
        policy = ctx.mapping.policy(REF_GROUPS[f.ref]).get("unknown", "ignore")
        if policy == "create" and f.ref == "staff":
            if pg:
                _bump_sequence(conn, "staff")
            role = ctx.mapping.policy("staff").get("role", "crew")
            # Identifiers are ours (staging table and column names); the role from the mapping file is bound.
            conn.execute(text(
                f"INSERT INTO staff (code, name, role, region_id, active) "
                f"SELECT {kcol}, {kcol}, :role, min(region_id), "
                f"{'true' if pg else '1'} FROM {t} WHERE {kcol} IS NOT NULL AND {idcol} IS NULL "
                f"AND region_id IS NOT NULL GROUP BY {kcol}"), {"role": str(role)[:24]})
            conn.exec_driver_sql(upd)
        miss = pd.read_sql(text(f"SELECT row_no, {kcol} AS v FROM {t} WHERE {kcol} IS NOT NULL AND {idcol} IS NULL"),
                           conn)
        if len(miss):
            level = "error" if policy == "reject" else "warning"
            probs.append(pd.DataFrame({"row": miss["row_no"], "column": ctx.label(f.name), "value": miss["v"],
                                       "code": f"unknown_{f.ref}", "params": "", "level": level}))
            if policy == "reject":
                conn.exec_driver_sql(f"DELETE FROM {t} WHERE {kcol} IS NOT NULL AND {idcol} IS NULL")
    if spec.kind in ("responses", "invitations"):
        if "ticket" in ctx.present:
            conn.exec_driver_sql(
                f"UPDATE {t} SET region_id = (SELECT x.region_id FROM ticket x WHERE x.id = {t}.ticket_id) "
                "WHERE region_id IS NULL AND ticket_id IS NOT NULL")
        miss = pd.read_sql(text(f"SELECT row_no FROM {t} WHERE region_id IS NULL"), conn)
        if len(miss):
            probs.append(pd.DataFrame({"row": miss["row_no"], "column": ctx.label("ticket"), "value": "",
                                       "code": "no_region", "params": "", "level": "error"}))
            conn.exec_driver_sql(f"DELETE FROM {t} WHERE region_id IS NULL")
    return probs


def _link_responses(conn: Connection, stg: str, ctx: Context, pg: bool) -> list[pd.DataFrame]:
    """Imported invitations: the response each one names gets it as its invitation (``response.invitation_id``,
    what the response rate counts) and the invitation is marked used at the response's submission time. A response
    already answering another invitation keeps it (a warning names the row)."""
    t = stg if pg else f"temp.{stg}"
    clash = pd.read_sql(text(
        f"SELECT s.row_no, s.response_ref AS v FROM {t} s JOIN response r ON r.id = s.response_id "
        f"JOIN invitation i ON i.external_no = s.external_no "
        f"WHERE r.invitation_id IS NOT NULL AND r.invitation_id <> i.id"), conn)
    conn.exec_driver_sql(
        f"UPDATE response SET invitation_id = (SELECT i.id FROM {t} s JOIN invitation i ON i.external_no = "
        f"s.external_no WHERE s.response_id = response.id) WHERE invitation_id IS NULL AND id IN "
        f"(SELECT response_id FROM {t} WHERE response_id IS NOT NULL)")
    conn.exec_driver_sql(
        f"UPDATE invitation SET used_at = (SELECT r.submitted_at FROM response r WHERE r.invitation_id = invitation.id) "
        f"WHERE used_at IS NULL AND external_no IN (SELECT external_no FROM {t} WHERE response_id IS NOT NULL)")
    if not len(clash):
        return []
    return [pd.DataFrame({"row": clash["row_no"], "column": ctx.label("response"), "value": clash["v"],
                          "code": "response_linked", "params": "", "level": "warning"})]


# --- upsert -------------------------------------------------------------------------------------------------------


def _upsert(conn: Connection, stg: str, spec: KindSpec, ctx: Context, cols: dict[str, str], pg: bool,
            now: dt.datetime, keyed: bool = False, dry_run: bool = False) -> tuple[int, int, int]:
    """Write the staged rows; returns (inserted, updated, unchanged). ``dry_run`` returns the same counts, worked
    out from the same comparison, before anything is written."""
    t = f"temp.{stg}" if not pg else stg
    target = spec.table
    # An invitation's response link is stored on the response (response.invitation_id, _link_responses).
    insert_cols = [c for c in cols if c != "row_no" and not c.endswith("_ref") and c != "response_id"]
    # Only what the file carries is updated; columns filled with defaults for new rows are left alone.
    update_cols = []
    for c in insert_cols:
        f = next((x for x in spec.fields if x.column == c or (x.ref and REFS[x.ref][2] == c)), None)
        if f is None or f.name in ctx.present or c == "region_id":
            update_cols.append(c)
    update_cols = [c for c in update_cols if c != "external_no"]

    defaults = {f.column: f.default for f in spec.fields if f.default is not None and f.column}

    def sel(c: str, alias: str = "") -> str:
        col = f"{alias}{c}"
        if c in defaults:  # NOT NULL columns with a default: an empty cell means the default
            d = defaults[c]
            lit = ("true" if d else "false") if isinstance(d, bool) and pg else (
                str(int(d)) if isinstance(d, bool | int) else "'" + str(d).replace("'", "''") + "'")
            col = f"coalesce({col}, {lit})"
        if not pg and cols[c] == "datetime":
            return f"replace({col}, 'T', ' ')"
        if not pg and cols[c] == "bool":
            return f"CAST({col} AS INTEGER)"
        return col

    if pg:
        conn.exec_driver_sql("SET LOCAL work_mem = '256MB'")
        conn.exec_driver_sql(f"ANALYZE {t}")
    neq = " IS DISTINCT FROM " if pg else " IS NOT "
    changed_sj = " OR ".join(f"x.{c}{neq}{sel(c, 's.')}" for c in update_cols) or "false"
    answers = "answers" in ctx.present
    # Reserved keys of keyless responses (data.io.keys): unchanged matches leave the staging table, changed ones
    # get their key stored, so from here on every match is by external_no.
    same = _match_reserved(conn, stg, t, changed_sj, answers, pg) if keyed else 0
    if answers:
        table = _answer_diff(conn, stg, pg)
        changed_sj = f"({changed_sj}) OR x.id IN (SELECT rid FROM {table})"
    row = conn.execute(text(
        f"SELECT count(*), coalesce(sum(CASE WHEN {changed_sj} THEN 1 ELSE 0 END), 0), "
        f"(SELECT count(*) FROM {t}) FROM {t} s JOIN {target} x ON x.external_no = s.external_no")).one()
    existing, changed, staged = int(row[0]), int(row[1]), int(row[2])
    extra_cols, extra_vals, params = [], [], {}
    if target == "ticket":
        extra_cols, extra_vals = ["updated_at"], [":now"]
        params["now"] = now.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    all_cols = insert_cols + extra_cols
    if existing - changed == staged:
        return 0, 0, staged + same
    if dry_run:
        return staged - existing, changed, existing - changed + same
    # Changed rows first (UPDATE .. FROM, only where something differs), then the new ones (plain INSERT with
    # an anti-join): cheaper than INSERT .. ON CONFLICT, which probes, locks and speculatively inserts every row.
    if changed:
        upd_set = ", ".join([f"{c} = {sel(c, 's.')}" for c in update_cols] +
                            ([f"updated_at = {'CAST(:now AS timestamp)' if pg else ':now'}"] if extra_cols else []))
        changed_st = " OR ".join(f"{target}.{c}{neq}{sel(c, 's.')}" for c in update_cols)
        conn.execute(text(
            f"UPDATE {target} SET {upd_set} FROM {t} s WHERE {target}.external_no = s.external_no "
            f"AND ({changed_st})"), params)
    if answers and changed:
        conn.exec_driver_sql(f"DELETE FROM answer WHERE response_id IN (SELECT rid FROM {table})")
    _trace("updated")
    if staged - existing:
        restore = None
        if pg:
            _bump_sequence(conn, target)
            if staged - existing >= bulk_min_rows() and _few_rows(conn, target, staged - existing):
                restore = _bulk_begin(conn, target, keep_unique=existing > 0)
        select_list_s = ", ".join([sel(c, "s.") for c in insert_cols] + extra_vals)
        if pg and target == "ticket":
            select_list_s = select_list_s.replace(":now", "CAST(:now AS timestamp)")
        # Without the unique index (bulk load, no staged row exists yet) the anti-join is not needed; it would be a
        # nested loop over a growing heap.
        if restore is not None and existing == 0:
            conn.execute(text(f"INSERT INTO {target} ({', '.join(all_cols)}) SELECT {select_list_s} FROM {t} s"),
                         params)
        else:
            sql = (f"INSERT INTO {target} ({', '.join(all_cols)}) SELECT {select_list_s} FROM {t} s "
                   f"WHERE NOT EXISTS (SELECT 1 FROM {target} x WHERE x.external_no = s.external_no)")
            if pg:  # new ids follow the file's order (a hash anti-join shuffles it): the target exports the file
                sql += " ORDER BY s.row_no"
            conn.execute(text(sql), params)
        if restore is not None:
            _trace("inserted")
            _bulk_end(conn, restore)
    if answers:
        _insert_answers(conn, stg, pg)
    _trace("upserted")
    return staged - existing, changed, existing - changed + same


def _match_reserved(conn: Connection, stg: str, t: str, changed_sj: str, answers: bool, pg: bool) -> int:
    """Match the staged reserved keys (``{stg}_k``: file row, id, submission instant) to the keyless responses they
    were derived from: same id, same submission instant, no ``external_no``; a key stored as some response's
    ``external_no`` is matched the ordinary way instead. Matched rows the file does not change (``changed_sj`` over
    ``x``/``s``, and the answer rows as sets) are removed from the staging table; the others get the key stored as
    their ``external_no`` and are then updated like any existing row. Returns how many were unchanged. Staging
    tables are named unqualified (SQLite looks in its temp schema first)."""
    conn.exec_driver_sql(f"CREATE TEMP TABLE {stg}_m (row_no INTEGER, rid INTEGER, changed INTEGER)"
                         + (" ON COMMIT DROP" if pg else ""))
    same_instant = "x.submitted_at = k.at" if pg else "x.submitted_at = replace(k.at, 'T', ' ')"
    n = conn.exec_driver_sql(
        f"INSERT INTO {stg}_m (row_no, rid, changed) SELECT k.row_no, x.id, 0 FROM {stg}_k k "
        f"JOIN {t} s ON s.row_no = k.row_no JOIN response x ON x.id = k.rid "
        "WHERE x.external_no IS NULL AND " + same_instant + " "
        "AND NOT EXISTS (SELECT 1 FROM response y WHERE y.external_no = s.external_no)").rowcount
    if not n:
        return 0
    conn.exec_driver_sql(
        f"UPDATE {stg}_m SET changed = 1 WHERE row_no IN (SELECT s.row_no FROM {t} s "
        f"JOIN {stg}_m m ON m.row_no = s.row_no JOIN response x ON x.id = m.rid WHERE {changed_sj})")
    if answers:
        conn.exec_driver_sql(
            f"UPDATE {stg}_m SET changed = 1 WHERE rid IN (SELECT rid FROM ("
            f"SELECT m.rid, a.item_key, a.dimension, a.value_num, a.value_text FROM {stg}_a a "
            f"JOIN {stg}_m m ON m.row_no = a.row_no "
            f"EXCEPT SELECT w.response_id, w.item_key, w.dimension, w.value_num, w.value_text FROM answer w "
            f"JOIN {stg}_m m ON m.rid = w.response_id) n "
            f"UNION SELECT rid FROM ("
            f"SELECT w.response_id AS rid, w.item_key, w.dimension, w.value_num, w.value_text FROM answer w "
            f"JOIN {stg}_m m ON m.rid = w.response_id "
            f"EXCEPT SELECT m.rid, a.item_key, a.dimension, a.value_num, a.value_text FROM {stg}_a a "
            f"JOIN {stg}_m m ON m.row_no = a.row_no) o)")
    same = int(conn.exec_driver_sql(f"SELECT count(*) FROM {stg}_m WHERE changed = 0").scalar_one())
    if same:
        conn.exec_driver_sql(f"DELETE FROM {t} WHERE row_no IN (SELECT row_no FROM {stg}_m WHERE changed = 0)")
    if same < n:
        conn.exec_driver_sql(
            f"UPDATE response SET external_no = (SELECT s.external_no FROM {t} s JOIN {stg}_m m "
            f"ON m.row_no = s.row_no WHERE m.rid = response.id) WHERE id IN (SELECT rid FROM {stg}_m WHERE changed = 1)")
    _trace("reserved_keys")
    return same


def _answer_diff(conn: Connection, stg: str, pg: bool) -> str:
    """A temporary table ``rid`` of the existing responses in the file whose answer rows differ from the file's
    (compared as sets of (item_key, dimension, value_num, value_text)); returns its name. Staging tables are named
    unqualified: SQLite looks in its temp schema first."""
    if pg:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {stg}_d (rid INTEGER) ON COMMIT DROP")
    else:
        conn.exec_driver_sql(f"CREATE TEMP TABLE {stg}_d (rid INTEGER)")
    conn.exec_driver_sql(
        f"INSERT INTO {stg}_d (rid) SELECT rid FROM ("
        f"SELECT x.id AS rid, a.item_key, a.dimension, a.value_num, a.value_text FROM {stg}_a a "
        f"JOIN {stg} s ON s.row_no = a.row_no JOIN response x ON x.external_no = s.external_no "
        f"EXCEPT SELECT w.response_id, w.item_key, w.dimension, w.value_num, w.value_text FROM answer w "
        f"JOIN response x ON x.id = w.response_id JOIN {stg} s ON s.external_no = x.external_no) n "
        f"UNION SELECT rid FROM ("
        f"SELECT w.response_id AS rid, w.item_key, w.dimension, w.value_num, w.value_text FROM answer w "
        f"JOIN response x ON x.id = w.response_id JOIN {stg} s ON s.external_no = x.external_no "
        f"EXCEPT SELECT x.id, a.item_key, a.dimension, a.value_num, a.value_text FROM {stg}_a a "
        f"JOIN {stg} s ON s.row_no = a.row_no JOIN response x ON x.external_no = s.external_no) o")
    return f"{stg}_d"


def _insert_answers(conn: Connection, stg: str, pg: bool) -> None:
    """The file's answers of every staged response that has none (new ones, and changed ones after the delete)."""
    if pg:
        _bump_sequence(conn, "answer")
    conn.exec_driver_sql(
        f"INSERT INTO answer (response_id, item_key, dimension, value_num, value_text) "
        f"SELECT x.id, a.item_key, a.dimension, a.value_num, a.value_text FROM {stg}_a a "
        f"JOIN {stg} s ON s.row_no = a.row_no JOIN response x ON x.external_no = s.external_no "
        f"WHERE NOT EXISTS (SELECT 1 FROM answer w WHERE w.response_id = x.id) ORDER BY a.row_no, a.ord")


def bulk_min_rows() -> int:
    """New rows from which a PostgreSQL import into a table holding fewer rows than that loads in bulk mode."""
    return int(os.environ.get("GRIDCX_IMPORT_BULK_MIN_ROWS") or BULK_MIN_ROWS)


def _few_rows(conn: Connection, table: str, new: int) -> bool:
    """True when ``table`` holds fewer than ``new`` rows (reads at most ``new`` of them)."""
    n = conn.execute(text(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT :n) x"), {"n": new}).scalar_one()
    return int(n) < new


def _bulk_begin(conn: Connection, table: str, keep_unique: bool) -> list[str] | None:
    """Bulk mode (PostgreSQL, a large load into a table smaller than the load): drop the table's secondary indexes,
    its unique constraints (unless ``keep_unique``) and its foreign keys inside the import's transaction, and return
    the statements that put them back; maintaining them row by row (B-tree inserts, one RI trigger per row and key)
    costs several times more than building them once. The rebuilt constraints check every row, and the DDL is part
    of the one transaction, so a failure or a kill leaves the table as it was.

    The cost: until the commit the table and the tables its foreign keys point to are locked exclusively (readers of
    them wait). When those locks are not free within ``BULK_LOCK_TIMEOUT`` (someone is reading), the import falls
    back to the ordinary row-by-row path and returns None."""
    rows = conn.execute(text(
        "SELECT c.contype, format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname), "
        "format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) "
        "FROM pg_constraint c WHERE c.conrelid = CAST(:t AS regclass) AND c.contype IN ('f', 'u') "
        "ORDER BY c.contype DESC, c.conname"), {"t": table}).all()
    constraints = [(drop, add) for kind, drop, add in rows if not (keep_unique and kind == "u")]
    indexes = conn.execute(text(
        "SELECT format('DROP INDEX %s', CAST(i.indexrelid AS regclass)), pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary AND NOT EXISTS ("
        "SELECT 1 FROM pg_constraint c WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid) "
        "ORDER BY 2"), {"t": table}).all()
    if not constraints and not indexes:
        return None
    before = conn.exec_driver_sql("SHOW lock_timeout").scalar_one()
    sp = conn.begin_nested()
    try:
        conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": BULK_LOCK_TIMEOUT})
        conn.exec_driver_sql(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        # The statements are PostgreSQL's own (format() with %I, pg_get_indexdef, pg_get_constraintdef).
        for drop, _add in constraints:
            conn.exec_driver_sql(drop)
        for drop, _create in indexes:
            conn.exec_driver_sql(drop)
        sp.commit()
    except SQLAlchemyError:  # lock not granted in time, or a deadlock: take the ordinary path
        sp.rollback()
        _trace("bulk_refused")
        return None
    finally:
        conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": before})
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
    _trace("bulk_dropped")
    return [create for _drop, create in indexes] + [add for _drop, add in constraints]


def _bulk_end(conn: Connection, restore: list[str]) -> None:
    for ddl in restore:
        conn.exec_driver_sql(ddl)
    _trace("bulk_rebuilt")


def _bump_sequence(conn: Connection, table: str) -> None:
    """Make the id sequence safe after rows were loaded with explicit ids (reference data, site moves)."""
    seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
    if seq:
        conn.exec_driver_sql(f"SELECT setval('{seq}', greatest((SELECT coalesce(max(id), 0) FROM {table}), "
                             f"(SELECT last_value FROM {seq})))")


_T0 = [0.0]


def _trace(what: str) -> None:
    if os.environ.get("GRIDCX_IMPORT_TRACE"):
        now = time.perf_counter()
        print(f"trace {what} {now - _T0[0]:.2f}s", file=__import__("sys").stderr, flush=True)
        _T0[0] = now


# --- summary (the wizard's dry run) ------------------------------------------------------------------------------

MAIN_TIME = {"tickets": "created_at", "contacts": "queued_at", "responses": "submitted_at",
             "invitations": "created_at"}  # valid rows carry storage columns: invited_at is stored as created_at
ZERO_SUSPECT = ("handle_seconds",)  # a zero here is almost always a system's placeholder, not a measurement
EXAMPLES = 5


def _by_reason(p: pd.DataFrame) -> list[dict[str, Any]]:
    """Problems counted by level, reason code and column (rows affected), errors first, most frequent first."""
    if not len(p):
        return []
    p = p.sort_values("row", kind="stable")
    keys = ["level", "code", "column"]
    g = p.groupby(keys, sort=False).agg(rows=("row", "nunique"), params=("params", "first"),
                                        example=("value", "first")).reset_index()
    g["_err"] = g["level"] != "error"
    g = g.sort_values(["_err", "rows", "code", "column"], ascending=[True, False, True, True], kind="stable")
    out = []
    for lv, c, col, n, params, example in g[[*keys, "rows", "params", "example"]].itertuples(index=False):
        kw = json.loads(params) if params else {}
        ex = "" if example is None or (isinstance(example, float) and np.isnan(example)) else str(example)
        out.append({"level": str(lv), "code": str(c), "column": str(col), "rows": int(n),
                    "example": ex[:VALUE_PREVIEW], "reason_zh": _reason_text(str(c), "zh-CN", kw),
                    "reason_en": _reason_text(str(c), "en", kw)})
    return out


class _Summary:
    """What the chunks' valid rows say about the file as a whole: the main time's range and suspicious zeros."""

    def __init__(self, spec: KindSpec, m: Mapping, site_zone: str) -> None:
        stated = m.model.timestamps.zone if m.model is not None else m.zone
        self.spec, self.zone = spec, stated or site_zone
        self.col = MAIN_TIME[spec.kind]
        self.lo: pd.Timestamp | None = None
        self.hi: pd.Timestamp | None = None
        self.zeros: dict[tuple[str, str | None], int] = {}
        self.new_regions: set[str] = set()  # labels of regions a "create" policy adds for valid rows

    def add(self, valid: pd.DataFrame) -> None:
        if not len(valid):
            return
        if "region_ref" in valid:
            self.new_regions.update(str(v) for v in valid["region_ref"].dropna().unique())
        if self.col in valid:
            t = valid[self.col].dropna()
            if len(t):
                lo, hi = t.min(), t.max()
                self.lo = lo if self.lo is None else min(self.lo, lo)
                self.hi = hi if self.hi is None else max(self.hi, hi)
        for earlier, later in self.spec.order:  # a later step at exactly the earlier instant: a copied time
            a, b = self.spec.by_name[earlier].column, self.spec.by_name[later].column
            if a in valid and b in valid:
                n = int((valid[a].notna() & (valid[a] == valid[b])).sum())
                if n:
                    self.zeros[(later, earlier)] = self.zeros.get((later, earlier), 0) + n
        for f in ZERO_SUSPECT:
            col = self.spec.by_name[f].column if f in self.spec.by_name else None
            if col and col in valid:
                n = int((valid[col] == 0).sum())
                if n:
                    self.zeros[(f, None)] = self.zeros.get((f, None), 0) + n

    def date_range(self) -> tuple[str, str] | None:
        if self.lo is None or self.hi is None:
            return None

        def local(ts: pd.Timestamp) -> str:
            return pd.Timestamp(ts).tz_localize("UTC").tz_convert(self.zone).date().isoformat()

        return local(self.lo), local(self.hi)

    def checks(self, p: pd.DataFrame, ctx: Context, regions_created: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for (f, other), n in self.zeros.items():
            if other is None:
                out.append({"code": "zero_value", "column": ctx.label(f), "rows": n})
            else:
                out.append({"code": "zero_duration", "column": ctx.label(f), "other": ctx.label(other), "rows": n})
        if len(p):
            rng = p[p["code"] == "out_of_range"]
            for column, g in rng.groupby("column", sort=True):
                num = pd.to_numeric(g["value"], errors="coerce")
                params = json.loads(g["params"].iloc[0]) if g["params"].iloc[0] else {}
                out.append({"code": "out_of_scale", "column": str(column), "rows": int(g["row"].nunique()),
                            "min": _num(num.min()), "max": _num(num.max()),
                            "lo": params.get("lo"), "hi": params.get("hi")})
            swap = p[p["code"] == "daymonth_swap"]
            for column, g in swap.groupby("column", sort=True):
                out.append({"code": "ambiguous_dates", "column": str(column), "rows": int(g["row"].nunique())})
            for code, check in (("unknown_region", "regions_unknown"), ("region_defaulted", "regions_defaulted")):
                r = p[p["code"] == code]
                if len(r):
                    labels = sorted({str(v) for v in r["value"]})
                    out.append({"code": check, "column": str(r["column"].iloc[0]), "rows": int(r["row"].nunique()),
                                "labels": len(labels), "examples": "、".join(labels[:EXAMPLES])})
        if regions_created:
            labels = sorted(self.new_regions)
            out.append({"code": "regions_created", "column": ctx.label("region"), "rows": regions_created,
                        "labels": regions_created, "examples": "、".join(labels[:EXAMPLES])})
        return out


def _num(v: object) -> float | int | None:
    if v is None or pd.isna(v):  # type: ignore[arg-type]
        return None
    f = float(v)  # type: ignore[arg-type]
    return int(f) if f.is_integer() else f


# --- rejects ------------------------------------------------------------------------------------------------------


def _reasons(p: pd.DataFrame) -> pd.DataFrame:
    if not len(p):
        return pd.DataFrame(columns=REJECT_COLS)
    p = p.sort_values(["row", "level"], kind="stable").reset_index(drop=True)
    combos = p[["code", "params"]].drop_duplicates()
    zh, en = {}, {}
    for code, params in combos.itertuples(index=False):
        kw = json.loads(params) if params else {}
        zh[(code, params)] = _reason_text(code, "zh-CN", kw)
        en[(code, params)] = _reason_text(code, "en", kw)
    keys = list(zip(p["code"], p["params"], strict=True))
    value = p["value"].astype(object).where(p["value"].notna(), "")
    value = value.map(lambda v: v if len(str(v)) <= VALUE_PREVIEW
                      else f"{str(v)[:VALUE_PREVIEW]}… ({len(str(v))})")
    return pd.DataFrame({
        "row": p["row"].astype("int64"), "column": p["column"], "value": value, "level": p["level"],
        "reason_zh": [zh[k] for k in keys], "reason_en": [en[k] for k in keys],
    })


def _reason_text(code: str, lang: str, kw: dict[str, Any], group: str = "reason") -> str:
    kw = dict(kw)
    for name in ("field", "other"):
        if name in kw:
            kw[name] = translate(f"import.field.{kw[name]}", lang)
    if "order" in kw:
        kw["order"] = translate(f"import.order.{kw['order']}", lang)
    return translate(f"import.{group}.{code}", lang, **kw) if kw else translate(f"import.{group}.{code}", lang)


def _write_rejects(rejects: pd.DataFrame, src: Source, rejects_path: str | Path | None) -> Path:
    from data.safety import safe_series

    path = Path(rejects_path) if rejects_path else src.path.with_name(src.path.stem + ".rejects.csv")
    out = rejects.copy()
    for c in ("column", "value", "reason_zh", "reason_en"):
        out[c] = safe_series(out[c].astype(str))
    with open_private(path, "w", encoding="utf-8-sig", newline="") as fh:  # rejected rows carry personal data
        out.to_csv(fh, index=False)
    return path
