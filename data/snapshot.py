"""A bounded columnar snapshot of the fact tables: one Parquet file per kind and calendar month (UTC) of its period
column, so a page view reads a few compact files instead of ``fetchall`` over hundreds of thousands of rows.

Layout: beside a SQLite file ``data/gridcx.db`` -> ``data/gridcx.facts/<kind>/<YYYY-MM>.parquet``; for PostgreSQL
(or any database when ``GRIDCX_CACHE_DIR`` is set) ``<GRIDCX_CACHE_DIR or data/cache>/<hash of the URL without its
password>/<kind>/<YYYY-MM>.parquet``. ``GRIDCX_FACT_SNAPSHOT=0`` turns the snapshot off (readers then use SQL).

Freshness: the table ``fact_version(kind, month, version)`` holds a random token per partition. Every writer of
fact rows calls :func:`touch` (or :func:`touch_rows` / :func:`touch_import` / :func:`invalidate_all`) in the SAME
transaction as its write, which gives the touched months a new token. A partition file carries the token it was
built from in its Parquet metadata; a reader whose file token differs from the table's rebuilds that month from
SQL (all rows of the month, no scope: the scope is applied when reading). Tokens are random, never counters, so a
restored backup or a re-created database can never make an old file look current. The token is read BEFORE the
month's rows, so a write committed in between leaves a file labelled with the older token, rebuilt on next read.
Builds run under a per-partition file lock and land by atomic rename: no process ever reads a half-written file.

Kinds and their period column: ticket (created_at), contact (queued_at), response (submitted_at), answer (the
response's submitted_at) and follow_up (created_at). Response rows carry their work order's attributes, so a write
to tickets also touches the months of those tickets' responses (see :func:`touch_import`). Rows also carry the
customer's segment: a future writer that changes a customer's segment must touch the ticket, contact and response
months of that customer (today only the demo loader writes customers). Region attributes (area class, path) are
not stored: they are joined at read time, so region changes need no touch.

Contact rows also carry ``next_queued_at``, the same customer's next contact of the same category up to 31 days
later (data.repositories.facts), so a contact partition depends on later months' contacts: :func:`touch_many` (and
with it :func:`touch`, :func:`touch_rows` and :func:`touch_import`) touching contact month m also touches every
month that may hold a contact up to 31 days before m starts: m−1, and m−2 when m−1 is shorter than 31 days.

``fact_version`` is bookkeeping, not site data: it lives outside ``data.models.Base`` and is neither exported nor
imported with a site.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import logging
import os
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Column, Engine, MetaData, String, Table, select, text
from sqlalchemy.engine import Connection

from data.models import NAMING_CONVENTION, UTC

log = logging.getLogger(__name__)

KINDS = ("ticket", "contact", "response", "answer", "follow_up")
# kind -> (table, period column); answers follow their response's month.
PERIOD: dict[str, tuple[str, str]] = {
    "ticket": ("ticket", "created_at"),
    "contact": ("contact", "queued_at"),
    "response": ("response", "submitted_at"),
    "answer": ("response", "submitted_at"),
    "follow_up": ("follow_up", "created_at"),
}
VERSION_KEY = b"gridcx.version"
FORMAT = "3"  # bump when the stored columns change: every file is then rebuilt (3: contact next_queued_at)
LOOK_BACK = dt.timedelta(days=31)  # a contact month's rows look this far ahead: touching it touches this far back
DATA_DIR = Path(__file__).resolve().parent

_metadata = MetaData(naming_convention=NAMING_CONVENTION)
fact_version = Table(
    "fact_version", _metadata,
    Column("kind", String(16), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("version", String(32), nullable=False),
)

# kind -> function(engine, month_start, month_end) -> pa.Table with the kind's stored schema (set by
# data.repositories.facts, which owns the SQL).
Builder = Callable[[Engine, dt.datetime, dt.datetime], pa.Table]
BUILDERS: dict[str, Builder] = {}
SCHEMAS: dict[str, pa.Schema] = {}


# --- where -------------------------------------------------------------------------------------------------------


def enabled() -> bool:
    return os.environ.get("GRIDCX_FACT_SNAPSHOT", "1").lower() not in ("0", "off", "false", "no")


def directory(engine: Engine) -> Path:
    """The snapshot folder of this database (not created here)."""
    url = engine.url
    cache = os.environ.get("GRIDCX_CACHE_DIR")
    if not cache and url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = Path(url.database)
        return db.with_name(f"{db.stem}.facts")
    key = url.render_as_string(hide_password=True).replace("***", "") + "|" + _schema(engine)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(cache or DATA_DIR / "cache") / digest


_SCHEMAS: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _schema(engine: Engine) -> str:
    """PostgreSQL's current schema (``?schema=`` URLs set it through the search path, not in ``engine.url``), so
    two schemas on one server never share a snapshot folder."""
    if engine.url.get_backend_name() != "postgresql" or not hasattr(engine, "connect"):
        return ""
    if engine not in _SCHEMAS:
        with engine.connect() as conn:
            _SCHEMAS[engine] = str(conn.execute(text("SELECT current_schema()")).scalar() or "")
    return _SCHEMAS[engine]


def month_key(value: dt.datetime | dt.date | str) -> str:
    if isinstance(value, str):
        return value[:7]
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    return f"{value.year:04d}-{value.month:02d}"


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    y, m = int(month[:4]), int(month[5:7])
    start = dt.datetime(y, m, 1, tzinfo=UTC)
    end = dt.datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC)
    return start, end


def months_between(start: dt.datetime, end: dt.datetime) -> list[str]:
    """The calendar months (UTC) overlapping [start, end)."""
    start, end = _utc(start), _utc(end)
    if end <= start:
        return []
    last = end - dt.timedelta(microseconds=1)
    out, y, m = [], start.year, start.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = y + (m == 12), m % 12 + 1
    return out


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- writers -----------------------------------------------------------------------------------------------------


def touch(conn: Connection, kind: str, months: Iterable[dt.datetime | dt.date | str | None]) -> None:
    """Give the partitions (kind, month) a new version token, inside the caller's transaction. Every write to fact
    rows calls this (or a helper below) in the same transaction as the write."""
    touch_many(conn, {kind: months})


def touch_many(conn: Connection, months: Mapping[str, Iterable[dt.datetime | dt.date | str | None]]) -> None:
    """:func:`touch` for several kinds in one statement, rows in (kind, month) order. Concurrent writers of the same
    month queue on these rows until they commit, so a short transaction calls this last, just before its commit.
    A contact month brings the earlier months whose ``next_queued_at`` it may hold (see the module docstring)."""
    for kind in months:
        if kind not in PERIOD:
            raise ValueError(f"unknown fact kind {kind!r}")
    keys = sorted({(kind, month_key(m)) for kind, ms in months.items() for m in ms if m is not None})
    keys = sorted({(kind, m) for kind, month in keys for m in
                   (_with_earlier(month) if kind == "contact" else (month,))})
    if not keys:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    stmt = insert(fact_version)
    stmt = stmt.on_conflict_do_update(index_elements=["kind", "month"], set_={"version": stmt.excluded.version})
    conn.execute(stmt, [{"kind": kind, "month": k, "version": uuid.uuid4().hex} for kind, k in keys])


def _with_earlier(month: str) -> list[str]:
    """A contact month and the months whose rows may have their next contact in it (up to 31 days back)."""
    start, end = month_bounds(month)
    return months_between(start - LOOK_BACK, end)


def _month_sql(conn: Connection, column: str) -> str:
    if conn.dialect.name == "postgresql":
        return f"to_char({column}, 'YYYY-MM')"
    return f"substr({column}, 1, 7)"


def touch_rows(conn: Connection, kind: str, ids: Iterable[int]) -> None:
    """Touch the months of the given rows of ``kind``'s table (by id), e.g. follow-ups being updated."""
    table, col = PERIOD[kind]
    ids = [int(i) for i in ids]
    if not ids or kind == "answer":
        raise ValueError("touch_rows needs ids of ticket, contact, response or follow_up rows")
    rows = conn.execute(text(f"SELECT DISTINCT {_month_sql(conn, col)} FROM {table} WHERE id IN :ids")
                        .bindparams(_expanding("ids")), {"ids": ids}).scalars().all()
    touch(conn, kind, rows)


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


def touch_import(conn: Connection, target: str, staged: str, columns: Iterable[str],
                 existing: int | None = None) -> None:
    """The importer's hook, before its upsert of ``staged`` (a staging table keyed by ``external_no``) into
    ``target``: touches the old months of the rows it will change and the new months of the staged rows; for work
    orders also the months of their responses (which carry work-order attributes); for responses also answers.
    ``existing`` = how many staged rows are already in ``target`` (0 skips the look-ups of old rows)."""
    kinds = {"ticket": ("ticket",), "contact": ("contact",), "response": ("response", "answer")}.get(target)
    if not kinds:
        return
    _table, col = PERIOD[kinds[0]]
    month = _month_sql(conn, "x." + col)
    found: set[str] = set()
    if existing != 0:
        found |= set(conn.execute(text(
            f"SELECT DISTINCT {month} FROM {target} x JOIN {staged} s ON s.external_no = x.external_no")).scalars())
    if col in set(columns):
        found |= set(conn.execute(text(
            f"SELECT DISTINCT {_month_sql(conn, 's.' + col)} FROM {staged} s WHERE s.{col} IS NOT NULL")).scalars())
    for kind in kinds:
        touch(conn, kind, found)
    if target == "ticket" and existing != 0:
        rmonth = _month_sql(conn, "r.submitted_at")
        touch(conn, "response", conn.execute(text(
            f"SELECT DISTINCT {rmonth} FROM response r JOIN ticket x ON x.id = r.ticket_id "
            f"JOIN {staged} s ON s.external_no = x.external_no")).scalars().all())


INVALIDATE_SQL = "DELETE FROM fact_version"


def invalidate_all(conn: Connection) -> None:
    """Every partition becomes stale (bulk loads, deletes): the next read of a month gives it a new token."""
    conn.execute(text(INVALIDATE_SQL))


# --- readers -----------------------------------------------------------------------------------------------------


def versions(engine: Engine, kind: str, months: list[str]) -> dict[str, str]:
    """The current token of each month; months nobody wrote since the table existed get one now."""
    if not months:
        return {}
    q = select(fact_version.c.month, fact_version.c.version).where(
        fact_version.c.kind == kind, fact_version.c.month.in_(months))
    with engine.connect() as conn:
        got = {m: v for m, v in conn.execute(q)}
    missing = [m for m in months if m not in got]
    if missing:
        if engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        with engine.begin() as conn:
            conn.execute(insert(fact_version).on_conflict_do_nothing(),
                         [{"kind": kind, "month": m, "version": uuid.uuid4().hex} for m in missing])
        with engine.connect() as conn:
            got = {m: v for m, v in conn.execute(q)}
    return got


def _stamp(version: str) -> str:
    return f"{FORMAT}:{version}"


def _read_fresh(path: Path, version: str, columns: list[str] | None) -> pa.Table | None:
    try:
        pf = pq.ParquetFile(path)
    except (FileNotFoundError, pa.ArrowInvalid, OSError):
        return None
    if not _stamped(pf, version):
        return None
    try:
        return pf.read(columns=columns)
    except (pa.ArrowInvalid, OSError):  # a damaged file: rebuilt like a stale one
        return None


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.stem}.lock"), "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build(engine: Engine, kind: str, month: str, path: Path, columns: list[str] | None) -> pa.Table:
    with _locked(path):
        version = versions(engine, kind, [month])[month]  # read before the rows (see the module docstring)
        table = _read_fresh(path, version, columns)  # another process may have built it meanwhile
        if table is not None:
            return table
        start, end = month_bounds(month)
        table = BUILDERS[kind](engine, start, end)
        _write(path, table, version)
    return table.select(columns) if columns is not None else table


def _write(path: Path, table: pa.Table, version: str, row_group_size: int | None = None) -> None:
    """Write a partition under its token: a temporary file, then an atomic rename (the caller holds the lock)."""
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), VERSION_KEY: _stamp(version).encode()})
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        # lz4: the fastest to read here (zstd: -20 % size, +60 % time)
        pq.write_table(table, tmp, compression="lz4", row_group_size=row_group_size)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def plan(months: dict[str, Iterable[str]]) -> list[tuple[str, str, str]]:
    """New tokens (kind, month, version) for a bulk loader: it inserts them with :data:`PLAN_SQL` in its load
    transaction (after :data:`INVALIDATE_SQL`) and then writes its partitions with :func:`write_planned`."""
    return [(kind, m, uuid.uuid4().hex) for kind, ms in months.items() for m in sorted(set(ms))]


PLAN_SQL = ("INSERT INTO fact_version (kind, month, version) VALUES ({0}, {0}, {0}) "
            "ON CONFLICT (kind, month) DO UPDATE SET version = excluded.version")  # .format("?") or ("%s")


def write_planned(engine: Engine, kind: str, month: str, table: pa.Table, version: str) -> None:
    """Write one partition from a loader's in-memory rows (``table`` has the kind's stored schema) under the token
    the loader committed with them; if the month was written again since, the token differs and readers rebuild."""
    _builders()
    path = directory(engine) / kind / f"{month}.parquet"
    with _locked(path):
        _write(path, table.cast(SCHEMAS[kind]), version)


def _builders() -> None:
    if not BUILDERS:
        import data.repositories.facts  # noqa: F401  (registers the builders)


def read(engine: Engine, kind: str, months: list[str], columns: list[str] | None = None) -> pa.Table:
    """The rows of ``kind`` in ``months`` (all regions: the caller filters by scope), rebuilding stale months."""
    _builders()
    root = directory(engine) / kind
    current = versions(engine, kind, months)
    parts = []
    for m in months:
        path = root / f"{m}.parquet"
        table = _read_fresh(path, current[m], columns)
        if table is None:
            table = _build(engine, kind, m, path, columns)
        parts.append(table.replace_schema_metadata(None))
    if not parts:
        empty = SCHEMAS[kind].empty_table()
        return empty.select(columns) if columns is not None else empty
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


def refresh(engine: Engine, kinds: Iterable[str] = KINDS) -> dict[str, int]:
    """Build every stale or missing partition of the months that hold data; returns months checked per kind.
    The demo loader calls this so the app starts with a warm snapshot."""
    _builders()
    out: dict[str, int] = {}
    for kind in kinds:
        months = data_months(engine, kind)
        if months:
            read(engine, kind, months, columns=[])
        out[kind] = len(months)
    return out


def data_months(engine: Engine, kind: str) -> list[str]:
    """The months from the first to the last row of ``kind`` (empty when it has none)."""
    table, col = PERIOD[kind]
    with engine.connect() as conn:
        lo, hi = conn.execute(text(f"SELECT min({col}), max({col}) FROM {table}")).one()
    if lo is None:
        return []
    lo, hi = (dt.datetime.fromisoformat(v) if isinstance(v, str) else v for v in (lo, hi))
    return months_between(lo, hi + dt.timedelta(seconds=1))


def stored_rows(engine: Engine, kind: str, months: list[str]) -> int:
    """Rows held by the partition files of ``months`` as they are on disk (from the Parquet footers: no data read,
    no freshness check; a missing file counts 0) — a size estimate for choosing a read strategy."""
    root = directory(engine) / kind
    total = 0
    for m in months:
        with contextlib.suppress(FileNotFoundError, pa.ArrowInvalid, OSError):
            total += pq.ParquetFile(root / f"{m}.parquet").metadata.num_rows
    return total


def safe_read(engine: Engine, kind: str, months: list[str], columns: list[str] | None = None) -> pa.Table | None:
    """:func:`read`, or None when the snapshot is off or its folder cannot be written (callers then use SQL)."""
    if not enabled():
        return None
    try:
        return read(engine, kind, months, columns)
    except OSError as exc:
        log.warning("fact snapshot unavailable (%s); reading from SQL", exc)
        return None


# --- derived files: computed from one partition by a caller-supplied builder (e.g. pre-aggregated KPI cells) ------


Derive = Callable[[str], Mapping[str, pa.Table]]


def read_derived(engine: Engine, kind: str, month: str, name: str, fingerprint: str, parts: Iterable[str],
                 build: Derive, wanted: Iterable[str] | None = None) -> dict[str, pa.Table]:
    """Files derived from the partition (kind, month): ``<kind>/<month>.<name>.<part>.parquet``, one per part,
    stamped with the partition's version token and ``fingerprint`` (whatever else they depend on: parameters,
    reference data). Stale or missing ones are rebuilt by ``build(month)`` — which reads what it needs itself —
    under the partition's lock, so a writer's new token or a new fingerprint is never served old results. The
    snapshot module knows nothing of what is derived (``data`` imports nothing of the project). Only the
    ``wanted`` parts (default: all) are read and returned; the others are checked from their footers."""
    parts = list(parts)
    wanted = parts if wanted is None else list(wanted)
    root = directory(engine) / kind
    paths = {p: root / f"{month}.{name}.{p}.parquet" for p in parts}

    def fresh(stamp: str) -> dict[str, pa.Table] | None:
        if not all(_has_stamp(paths[p], stamp) for p in parts if p not in wanted):
            return None
        got = {p: _read_fresh(paths[p], stamp, None) for p in wanted}
        return None if any(v is None for v in got.values()) else {p: t for p, t in got.items() if t is not None}

    version = versions(engine, kind, [month])[month]
    got = fresh(f"{version}:{name}:{fingerprint}")
    if got is not None:
        return got
    with _locked(root / f"{month}.{name}.parquet"):
        version = versions(engine, kind, [month])[month]  # before the rows the builder reads
        stamp = f"{version}:{name}:{fingerprint}"
        got = fresh(stamp)
        if got is not None:
            return got
        built = dict(build(month))
        for p, path in paths.items():
            _write(path, built[p], stamp, DERIVED_ROW_GROUP)
    return {p: built[p] for p in wanted}


def _has_stamp(path: Path, version: str) -> bool:
    try:
        return _stamped(pq.ParquetFile(path), version)
    except (FileNotFoundError, pa.ArrowInvalid, OSError):
        return False


def _stamped(pf: pq.ParquetFile, version: str) -> bool:
    """Whether the file was written under ``version`` (and this FORMAT)."""
    return (pf.schema_arrow.metadata or {}).get(VERSION_KEY, b"").decode() == _stamp(version)


DERIVED_ROW_GROUP = 32_768  # small row groups: a time-sorted derived file is read a day at a time


def read_derived_rows(engine: Engine, kind: str, month: str, name: str, fingerprint: str, part: str,
                      filters: list[tuple[str, str, Any]]) -> pa.Table | None:
    """The rows of one fresh derived part matching ``filters`` (pyarrow's row-group statistics skip the rest: a
    part written sorted by the filtered column is read only where it matches); None when the part is stale or
    missing (the caller then reads it whole through :func:`read_derived`, which rebuilds it)."""
    version = versions(engine, kind, [month])[month]
    path = directory(engine) / kind / f"{month}.{name}.{part}.parquet"
    if not _has_stamp(path, f"{version}:{name}:{fingerprint}"):
        return None
    try:
        return pq.read_table(path, filters=filters)
    except (pa.ArrowInvalid, OSError):
        return None
