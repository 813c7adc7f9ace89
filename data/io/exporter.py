"""Exports: the canonical format per kind (what the ``gridcx_*`` mappings read back) and whole-site moves.

A survey response without an ``external_no`` (submitted through the web survey) is exported with a reserved key
derived from the row (:mod:`data.io.keys`), which the importer matches back to it.
Text that a spreadsheet would run as a formula is neutralised in CSV exports with a leading apostrophe by the shared
rule (:func:`data.safety.safe_cell`); the canonical mappings strip it again on import (:func:`unescape`), so a round
trip is exact.
A site export is one JSON Lines file per table (ids kept, rows ordered by primary key, times in UTC) plus a
``manifest.json``; importing it into an empty database and exporting again gives the same files (the audit
trail aside, which gains the move itself).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.types import Date, DateTime

from data.io.errors import FileError
from data.io.keys import response_keys
from data.models import UTC, Base, UTCDateTime
from data.private import open_private, private_dir, write_private
from data.safety import safe_cell
from data.users import audit

SITE_FORMAT = "gridcx-site"
SITE_VERSION = 1
ZONE = "Asia/Shanghai"  # the default; exports use the site's zone (data.settings.site_zone)

# Canonical columns per kind: (header, SQL expression). Times are exported in the site's zone with the offset.
_CANONICAL: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "tickets": ("ticket", "created_at", [
        ("external_no", "t.external_no"), ("created_at", "t.created_at"),
        ("first_response_at", "t.first_response_at"), ("arrived_at", "t.arrived_at"),
        ("resolved_at", "t.resolved_at"), ("closed_at", "t.closed_at"), ("status", "t.status"),
        ("region_code", "r.code"), ("channel", "t.channel"), ("service_type", "t.service_type"),
        ("customer_no", "(SELECT c.account_no FROM customer c WHERE c.id = t.customer_id)"),
        ("staff_code", "(SELECT s.code FROM staff s WHERE s.id = t.staff_id)"),
        ("team_code", "(SELECT m.code FROM team m WHERE m.id = t.team_id)"),
        ("outage_code", "(SELECT o.code FROM outage_event o WHERE o.id = t.outage_event_id)"),
        ("exception_reason", "t.exception_reason"), ("reopen_count", "t.reopen_count"),
        ("progress_updates", "t.progress_updates"), ("substantiated", "t.substantiated"),
        ("category_text", "t.category_text"), ("sla_met", "t.sla_met"),
    ]),
    "contacts": ("contact", "queued_at", [
        ("external_no", "t.external_no"), ("queued_at", "t.queued_at"), ("answered_at", "t.answered_at"),
        ("ended_at", "t.ended_at"), ("handle_seconds", "t.handle_seconds"), ("abandoned", "t.abandoned"),
        ("region_code", "r.code"), ("channel", "t.channel"), ("category", "t.category"),
        ("customer_no", "(SELECT c.account_no FROM customer c WHERE c.id = t.customer_id)"),
        ("ticket_no", "(SELECT k.external_no FROM ticket k WHERE k.id = t.ticket_id)"),
        ("staff_code", "(SELECT s.code FROM staff s WHERE s.id = t.staff_id)"),
        ("outage_code", "(SELECT o.code FROM outage_event o WHERE o.id = t.outage_event_id)"),
        ("category_text", "t.category_text"), ("sla_met", "t.sla_met"),
    ]),
    "responses": ("response", "submitted_at", [
        ("external_no", "t.external_no"), ("submitted_at", "t.submitted_at"),
        ("ticket_no", "(SELECT k.external_no FROM ticket k WHERE k.id = t.ticket_id)"),
        ("region_code", "r.code"), ("channel", "t.channel"), ("survey_key", "t.survey_key"),
        ("survey_version", "t.survey_version"), ("csat", "t.csat"), ("nps", "t.nps"), ("ces", "t.ces"),
        ("fcr", "t.fcr"), ("comment", "t.comment"), ("language", "t.language"), ("segment", "t.segment"),
        ("answers", "t.id"),  # the response id: its reserved key when keyless, then its answer rows as JSON
    ]),
}
_TIMES = {"created_at", "first_response_at", "arrived_at", "resolved_at", "closed_at", "queued_at", "answered_at",
          "ended_at", "submitted_at"}
_BOOLS = {"substantiated", "abandoned", "fcr", "sla_met"}
_INTS = {"reopen_count", "progress_updates", "survey_version", "csat", "nps", "ces"}


def _dangerous(v: str) -> bool:
    """Whether the shared rule neutralises ``v`` once its leading apostrophes are set aside."""
    bare = v.lstrip("'")
    return safe_cell(bare) != bare


def escape_cell(v: Any) -> Any:
    """:func:`data.safety.safe_cell`, made exactly reversible: text that starts with apostrophes before
    formula-looking text gets one apostrophe more too, so :func:`unescape_cell` can tell ours from the data's."""
    return "'" + v if isinstance(v, str) and v and _dangerous(v) else v


def unescape_cell(v: Any) -> Any:
    """The inverse of :func:`escape_cell` (what the canonical mappings' ``unescape_formulas`` does on import)."""
    return v[1:] if isinstance(v, str) and v.startswith("'") and _dangerous(v[1:]) else v


def _maybe_formula(s: pd.Series) -> pd.Series:
    """Cells that do not start with a letter, digit or CJK character: the only ones any formula rule can flag (a
    cheap vectorised filter so the per-cell rule runs on few values)."""
    return s.notna() & ~s.astype("str").str.match(r"\w", na=True)


def neutralise(s: pd.Series) -> pd.Series:
    """Every text cell through :func:`escape_cell` (the shared spreadsheet-safety rule); missing stays missing."""
    mask = _maybe_formula(s)
    if not mask.any():
        return s
    out = s.astype(object).copy()
    out[mask] = [escape_cell(v) for v in out[mask]]
    return out


def unescape(s: pd.Series) -> pd.Series:
    """Every text cell through :func:`unescape_cell`."""
    mask = s.notna() & s.astype("str").str.startswith("'", na=False)
    if not mask.any():
        return s
    out = s.astype(object).copy()
    out[mask] = [unescape_cell(v) for v in out[mask]]
    return out.astype(s.dtype) if s.dtype == "str" else out


def _times(s: pd.Series, zone: str) -> pd.Series:
    ts = pd.to_datetime(s, format="ISO8601", utc=True)
    local = ts.dt.tz_convert(zone)
    fmt = "%Y-%m-%dT%H:%M:%S.%f%z" if (ts.dt.microsecond.fillna(0) != 0).any() else "%Y-%m-%dT%H:%M:%S%z"
    out = local.dt.strftime(fmt)
    out = out.str.replace(r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True)
    return out.astype(object).where(ts.notna(), None)


def _day_bound(d: dt.date | str | None, zone: str, end: bool) -> dt.datetime | None:
    if d is None:
        return None
    day = dt.date.fromisoformat(str(d)) if not isinstance(d, dt.date) else d
    if end:
        day = day + dt.timedelta(days=1)
    local = pd.Timestamp(day).tz_localize(zone)
    return local.tz_convert("UTC").tz_localize(None).to_pydatetime()


def export_table(engine: Engine, kind: str, out: str | Path, start: dt.date | str | None = None,
                 end: dt.date | str | None = None, user: str | None = None, zone: str | None = None,
                 chunk_rows: int = 100_000) -> dict[str, Any]:
    """Write ``kind`` in the canonical format (CSV, or XLSX when ``out`` ends in .xlsx); ``start``/``end`` are
    inclusive local dates of the creation / queue / submission time in ``zone`` (default: the site's zone), and
    times are written in that zone with their offset. Returns rows, file, sha256, seconds."""
    if kind not in _CANONICAL:
        raise FileError("kind_unknown", kind=kind, kinds=", ".join(_CANONICAL))
    if zone is None:
        from data.settings import site_zone

        zone = site_zone(engine)
    t0 = time.perf_counter()
    table, tcol, cols = _CANONICAL[kind]
    where: list[str] = []
    bounds: dict[str, dt.datetime] = {}
    try:
        lo, hi = _day_bound(start, zone, False), _day_bound(end, zone, True)
    except ValueError:
        raise FileError("bad_date", value=f"{start} / {end}") from None
    if lo is not None:
        where.append(f"t.{tcol} >= :lo")
        bounds["lo"] = lo
    if hi is not None:
        where.append(f"t.{tcol} < :hi")
        bounds["hi"] = hi
    sql = (f"SELECT {', '.join(f'{expr} AS {name}' for name, expr in cols)} FROM {table} t "
           f"JOIN region r ON r.id = t.region_id {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY t.id")
    out = Path(out)
    private_dir(out.parent)
    xlsx = out.suffix.lower() == ".xlsx"
    frames: list[pd.DataFrame] = []
    n = 0
    with engine.connect() as conn:
        params: dict[str, dt.datetime | str] = dict(bounds)
        if engine.dialect.name == "sqlite":  # SQLite stores the instants as text
            params = {k: v.isoformat(sep=" ", timespec="microseconds") for k, v in bounds.items()}
        first = True
        with open_private(out, "w", encoding="utf-8-sig", newline="") if not xlsx else _Null() as fh:
            for df in pd.read_sql(text(sql), conn, params=params, chunksize=chunk_rows, dtype=object):
                if kind == "responses":
                    keyless = df["external_no"].isna()
                    if keyless.any():  # web-survey responses: the key derived from the row (data.io.keys)
                        df.loc[keyless, "external_no"] = response_keys(df.loc[keyless, "answers"],
                                                                      df.loc[keyless, "submitted_at"])
                    df["answers"] = _answers(conn, df["answers"])
                df = _format(df, zone)
                n += len(df)
                if xlsx:
                    frames.append(df)
                    continue
                for c in df.columns:
                    if c not in _INTS and c != "handle_seconds":
                        df[c] = neutralise(df[c].astype(object).where(df[c].notna(), None))
                df.to_csv(fh, header=first, index=False)
                first = False
            if first and not xlsx:
                pd.DataFrame(columns=[c for c, _ in cols]).to_csv(fh, index=False)
    if xlsx:
        df = pd.concat(frames) if frames else pd.DataFrame(columns=[c for c, _ in cols])
        with open_private(out, "wb") as fh, pd.ExcelWriter(
                fh, engine="xlsxwriter",
                engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}}) as xw:
            df.to_excel(xw, sheet_name=kind, index=False)
    sha = _file_sha(out)
    info = {"kind": kind, "rows": n, "file": str(out), "sha256": sha, "from": str(start) if start else None,
            "to": str(end) if end else None, "seconds": round(time.perf_counter() - t0, 3)}
    with engine.begin() as conn:
        audit(conn, user, "export", kind, out.name[:128], info)
    return info


def _answers(conn: Connection, ids: pd.Series) -> pd.Series:
    """Each response's answer rows (in id order) as a JSON list of {item_key, dimension, value_num, value_text};
    empty when it has none. ``ids`` are response ids in ascending order (one chunk of the export)."""
    out = pd.Series(None, index=ids.index, dtype=object)
    if not len(ids):
        return out
    rows = conn.execute(text(
        "SELECT response_id, item_key, dimension, value_num, value_text FROM answer "
        "WHERE response_id BETWEEN :lo AND :hi ORDER BY response_id, id"),
        {"lo": int(ids.min()), "hi": int(ids.max())}).all()
    by_id: dict[int, list[dict[str, Any]]] = {}
    for rid, item, dim, num, txt in rows:
        by_id.setdefault(int(rid), []).append(
            {"item_key": item, "dimension": dim, "value_num": None if num is None else float(num), "value_text": txt})
    return pd.Series([json.dumps(by_id[int(i)], ensure_ascii=False, separators=(",", ":")) if int(i) in by_id
                      else None for i in ids], index=ids.index, dtype=object)


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


def _format(df: pd.DataFrame, zone: str) -> pd.DataFrame:
    for c in df.columns:
        if c in _TIMES:
            df[c] = _times(df[c], zone)
        elif c in _BOOLS:
            df[c] = df[c].map(lambda v: None if v is None or pd.isna(v) else ("true" if bool(v) else "false"))
        elif c in _INTS:
            df[c] = pd.to_numeric(df[c]).astype("Int64")
        elif c == "handle_seconds":
            df[c] = pd.to_numeric(df[c]).astype("float64")
    return df


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(8 << 20), b""):
            h.update(block)
    return h.hexdigest()


# --- whole-site move ----------------------------------------------------------------------------------------------


def _tables() -> list[Any]:
    return [t for t in Base.metadata.sorted_tables]


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(UTC)
        return v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def export_all(engine: Engine, out_dir: str | Path, user: str | None = None) -> dict[str, Any]:
    """Write every table to ``out_dir/<table>.jsonl`` plus ``manifest.json``; returns the manifest."""
    from data.schema import current_revision

    t0 = time.perf_counter()
    out = Path(out_dir)
    private_dir(out)
    manifest: dict[str, Any] = {"format": SITE_FORMAT, "version": SITE_VERSION,
                                "schema_revision": current_revision(engine), "tables": {}}
    with engine.connect() as conn:
        for table in _tables():
            path = out / f"{table.name}.jsonl"
            n = 0
            pk = list(table.primary_key.columns)
            with open_private(path, "w", encoding="utf-8", newline="\n") as fh:
                result = conn.execution_options(yield_per=20_000).execute(select(table).order_by(*pk))
                for row in result:
                    rec = {k: _jsonable(v) for k, v in row._mapping.items()}
                    fh.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
                    n += 1
            manifest["tables"][table.name] = {"file": path.name, "rows": n, "sha256": _file_sha(path)}
    write_private(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    counts = {k: v["rows"] for k, v in manifest["tables"].items()}
    with engine.begin() as conn:
        audit(conn, user, "export", "site", str(out)[-128:],
              {"dir": str(out), "tables": counts, "seconds": round(time.perf_counter() - t0, 3)})
    return manifest


def _convert(table: Any) -> dict[str, Any]:
    conv: dict[str, Any] = {}
    for col in table.columns:
        if isinstance(col.type, (UTCDateTime, DateTime, Date)):
            conv[col.name] = lambda v: None if v is None else dt.datetime.fromisoformat(v)
    return conv


def import_all(engine: Engine, in_dir: str | Path, user: str | None = None, batch: int = 10_000) -> dict[str, int]:
    """Load a site export into an empty database in one transaction; returns rows per table."""
    t0 = time.perf_counter()
    src = Path(in_dir)
    mf = src / "manifest.json"
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise FileError("site_manifest", path=str(mf)) from None
    if manifest.get("format") != SITE_FORMAT or not isinstance(manifest.get("tables"), dict):
        raise FileError("site_manifest", path=str(mf))
    from data.schema import current_revision

    if manifest.get("schema_revision") != current_revision(engine):
        raise FileError("site_revision", source=manifest.get("schema_revision"), target=current_revision(engine))
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for table in _tables():
            if conn.execute(select(func.count()).select_from(table)).scalar_one():
                raise FileError("target_not_empty", table=table.name)
        for table in _tables():
            entry = manifest["tables"].get(table.name)
            if entry is None:
                counts[table.name] = 0
                continue
            path = src / entry["file"]
            if not path.is_file() or _file_sha(path) != entry.get("sha256"):
                raise FileError("site_file", file=str(path))
            conv = _convert(table)
            n = 0
            buf: list[dict[str, Any]] = []
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    for c, f in conv.items():
                        rec[c] = f(rec.get(c))
                    buf.append(rec)
                    if len(buf) >= batch:
                        conn.execute(insert(table), buf)
                        n += len(buf)
                        buf = []
            if buf:
                conn.execute(insert(table), buf)
                n += len(buf)
            counts[table.name] = n
        if engine.dialect.name == "postgresql":
            _reset_sequences(conn)
        audit(conn, user, "import", "site", str(src)[-128:],
              {"dir": str(src), "tables": counts, "seconds": round(time.perf_counter() - t0, 3)})
    return counts


def _reset_sequences(conn: Connection) -> None:
    for table in _tables():
        if "id" not in table.c or not table.c.id.primary_key:
            continue
        seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}).scalar()
        if seq:
            conn.execute(text(f"SELECT setval('{seq}', COALESCE((SELECT max(id) FROM {table.name}), 0) + 1, false)"))
