"""A bounded columnar snapshot of the fact tables: one Parquet file per kind and calendar month (UTC) of its period
column, so a page view reads a few compact files instead of ``fetchall`` over hundreds of thousands of rows.

Layout: beside a SQLite file ``data/gridcx.db`` -> ``data/gridcx.facts/<kind>/<YYYY-MM>.parquet``; for PostgreSQL
(or any database when ``GRIDCX_CACHE_DIR`` is set) ``<GRIDCX_CACHE_DIR or data/cache>/<hash of the URL without its
password>/<kind>/<YYYY-MM>.parquet``. ``GRIDCX_FACT_SNAPSHOT=0`` turns the snapshot off (readers then use SQL).

Freshness: the table ``fact_version(kind, month, version)`` holds a random token per partition. Writers call nothing:
one hook on every engine (:func:`install`, called where data.engine creates engines) sees each INSERT / UPDATE /
DELETE on the fact tables (and customers) that reaches a cursor — ORM, Core, ``text()``, ``exec_driver_sql`` —
works out the months it touches and gives them new tokens in the SAME transaction, just before it commits (see the
section *freshness* below for how the months are found and the coarse fallback). A partition file carries the token
it was built from in its Parquet metadata; a reader whose file token differs from the table's rebuilds that month
from SQL (all rows of the month, no scope: the scope is applied when reading). Tokens are random, never counters, so
a restored backup or a re-created database can never make an old file look current. The token is read BEFORE the
month's rows, so a write committed in between leaves a file labelled with the older token, rebuilt on next read.
Builds run under a per-partition file lock and land by atomic rename: no process ever reads a half-written file.

Kinds and their period column: ticket (created_at), contact (queued_at), response (submitted_at), answer (the
response's submitted_at) and follow_up (created_at). Response rows carry their work order's attributes, so a write
to those columns of tickets also marks the months of those tickets' responses. Rows also carry the customer's
segment: a change to a customer's segment marks the months of that customer's work orders, contacts and responses.
Region attributes (area class, path) are not stored: they are joined at read time, so region changes mark nothing.

Contact rows also carry ``next_queued_at``, the same customer's next contact of the same category up to 31 days
later (data.repositories.facts), so a contact partition depends on later months' contacts: :func:`touch_many` (and
with it :func:`touch` and the hook) touching contact month m also touches every month that may hold a contact up to
31 days before m starts: m−1, and m−2 when m−1 is shorter than 31 days.

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
import re
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Column, Engine, MetaData, String, Table, event, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

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
FORMAT = "4"  # bump when the stored columns change: every file is then rebuilt (4: ticket / contact sla_met, response segment)
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
    """Give the partitions (kind, month) a new version token, inside the caller's transaction. Writers need not
    call it (the hook of :func:`install` does, at commit); it stays for tests and explicit maintenance."""
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


INVALIDATE_SQL = "DELETE FROM fact_version"


def invalidate_all(conn: Connection) -> None:
    """Every partition becomes stale (bulk loads, deletes): the next read of a month gives it a new token."""
    conn.execute(text(INVALIDATE_SQL))


# --- freshness: one hook on every connection -----------------------------------------------------------------------
#
# Writers call nothing. :func:`install` (called by data.engine for every engine it creates) listens to the SQL each
# connection sends to its cursor — ORM flushes, Core constructs, ``text()`` and ``exec_driver_sql`` alike, so a new
# writer cannot forget it — and recognises INSERT / UPDATE / DELETE on the tables the snapshot reads:
#
# * UPDATE / DELETE: before the statement runs, the months of the rows it will change are read with the statement's
#   own target, FROM / USING list, WHERE clause and parameters (``SELECT DISTINCT month FROM <target>, <from> WHERE
#   <where>``); an UPDATE that assigns the period column also gives the months of the assigned expression, evaluated
#   over the same rows (every SET expression sees the old row, so this is exact: ``UPDATE .. FROM staging`` of the
#   importer included). Work-order changes to columns response rows carry also mark those responses' months;
#   customer segment changes mark the customer's work orders, contacts and responses; answers mark their responses'
#   months.
# * INSERT (VALUES, executemany, INSERT .. SELECT from a staging table): the table's largest id is noted before the
#   first insert of the transaction; at commit the months of the rows above it are read (ids come from sequences, so
#   new rows are above it; explicit ids below it lower the mark to the smallest explicit id, or to 0 when they cannot
#   be read from the statement).
# * What the statement's shape does not tell (a WITH prefix, ``INSERT .. ON CONFLICT DO UPDATE``, ``REPLACE``, an
#   UPDATE / DELETE without WHERE, a probe that fails): the coarse fallback, every partition of the affected kinds
#   goes stale (their rows of ``fact_version`` are deleted; readers rebuild each month once).
#
# The marks are collected per transaction and applied by :func:`touch_many` in one statement when the connection
# commits (the commit event, still inside the transaction: concurrent writers of a month queue on its row only from
# there to the commit, and in one order); a rollback drops them. Writes that bypass SQLAlchemy's cursor (a raw DBAPI
# cursor, psycopg ``COPY`` into a fact table) are not seen: only the demo loaders do that, and they plan their tokens
# themselves (:func:`plan`, :data:`INVALIDATE_SQL`).

# table -> period column (None: the month is the response's)
_PERIOD_OF: dict[str, str | None] = {"ticket": "created_at", "contact": "queued_at", "response": "submitted_at",
                                     "answer": None, "follow_up": "created_at", "customer": None}
_KINDS_OF: dict[str, tuple[str, ...]] = {"ticket": ("ticket",), "contact": ("contact",),
                                         "response": ("response", "answer"), "answer": ("answer",),
                                         "follow_up": ("follow_up",), "customer": ()}
# columns of a table that rows of other kinds carry (data.repositories.facts): changing them marks those rows' months
_CARRIED: dict[str, set[str]] = {
    "ticket": {"channel", "service_type", "staff_id", "team_id", "customer_id", "created_at", "arrived_at",
               "resolved_at", "progress_updates"},
    "customer": {"segment"},
}
# the kinds whose months a change of (table, carried column) marks: (kind, SQL of their months given ids of `table`)
_DEPENDENTS: dict[str, tuple[tuple[tuple[str, ...], str, str, str], ...]] = {
    # (kinds, dependent table, its period column, its column pointing at `table`)
    "ticket": ((("response", "answer"), "response", "submitted_at", "ticket_id"),),
    "customer": ((("ticket",), "ticket", "created_at", "customer_id"),
                 (("contact",), "contact", "queued_at", "customer_id"),
                 (("response", "answer"), "response", "submitted_at", "__via_ticket__")),
}
_STATE = "gridcx.snapshot.marks"
_BUSY = "gridcx.snapshot.busy"
_MAX_PROBED_SETS = 500  # an executemany UPDATE / DELETE with more parameter sets marks its kinds coarsely

_TOKEN = re.compile(r"""
    (?P<str>'(?:[^']|'')*')
  | (?P<qid>"(?:[^"]|"")*")
  | (?P<ph>\?|%\([^)]+\)s|%s)
  | (?P<pct>%%)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<comma>,)
  | (?P<word>[A-Za-z_][\w$]*)
  | (?P<other>\S)
""", re.X)


class _Marks:
    """What one transaction wrote: months per kind, kinds to invalidate whole, insert marks per table."""

    def __init__(self) -> None:
        self.months: dict[str, set[str]] = {}
        self.coarse: set[str] = set()
        self.above: dict[str, int] = {}

    def add(self, kinds: Iterable[str], months: Iterable[Any]) -> None:
        ms = {month_key(m) for m in months if m is not None}
        for kind in kinds:
            self.months.setdefault(kind, set()).update(ms)

    def all_of(self, table: str) -> None:
        self.coarse.update(_KINDS_OF[table])
        for kinds, *_rest in _DEPENDENTS.get(table, ()):
            self.coarse.update(kinds)


class _Tok:
    __slots__ = ("kind", "text", "start", "end", "depth", "ph")

    def __init__(self, kind: str, text: str, start: int, end: int, depth: int, ph: int) -> None:
        self.kind, self.text, self.start, self.end, self.depth, self.ph = kind, text, start, end, depth, ph


def _tokens(sql: str) -> list[_Tok]:
    out, depth, ph = [], 0, 0
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind == "close":
            depth -= 1
        out.append(_Tok(kind, m.group(), m.start(), m.end(), depth, ph if kind == "ph" else -1))
        if kind == "ph":
            ph += 1
        elif kind == "open":
            depth += 1
    return out


def _ident(tok: _Tok) -> str:
    return tok.text[1:-1].replace('""', '"').lower() if tok.kind == "qid" else tok.text.lower()


def _table_at(toks: list[_Tok], i: int) -> tuple[str | None, int]:
    """The (unqualified, lower-case) table name at ``toks[i]`` (``schema.table`` allowed) and the index after it."""
    if i >= len(toks) or toks[i].kind not in ("word", "qid"):
        return None, i
    name, i = _ident(toks[i]), i + 1
    while i + 1 < len(toks) and toks[i].text == "." and toks[i + 1].kind in ("word", "qid"):
        name, i = _ident(toks[i + 1]), i + 2
    return name, i


_CLAUSES = {"set", "from", "where", "returning", "using", "values", "select", "on", "default", "order", "limit"}


def _alias_at(toks: list[_Tok], i: int) -> tuple[str | None, int]:
    if i < len(toks) and toks[i].kind == "word" and toks[i].text.lower() == "as":
        i += 1
    if i < len(toks) and toks[i].kind in ("word", "qid") and toks[i].text.lower() not in _CLAUSES:
        return toks[i].text, i + 1
    return None, i


def _top(toks: list[_Tok], start: int, words: set[str]) -> dict[str, int]:
    """Indexes of the first top-level occurrence of each keyword in ``words`` from ``start`` on."""
    found: dict[str, int] = {}
    for j in range(start, len(toks)):
        t = toks[j]
        if t.depth == 0 and t.kind == "word" and t.text.lower() in words and t.text.lower() not in found:
            found[t.text.lower()] = j
    return found


class _Stmt:
    """A write on a snapshot table, cut into the parts the probes reuse (character spans of the SQL)."""

    def __init__(self, sql: str, toks: list[_Tok], op: str, table: str) -> None:
        self.sql, self.toks, self.op, self.table = sql, toks, op, table
        self.ref = table  # how the statement's clauses name the target (its alias, else its name)
        self.target = (0, 0)  # span of "table [alias]"
        self.from_: tuple[int, int] | None = None  # span of the extra FROM / USING list
        self.where: tuple[int, int] | None = None  # span of the WHERE condition
        self.sets: dict[str, tuple[int, int]] = {}  # UPDATE: column -> span of its expression
        self.columns: list[str] = []  # INSERT column list
        self.values: list[list[tuple[int, int]]] | None = None  # INSERT .. VALUES: spans per row and column
        self.coarse = False


def _parse(sql: str) -> _Stmt | None:
    """The write's shape, or None when ``sql`` writes no snapshot table (cheap for every other statement)."""
    head = sql.lstrip()[:12].lower()
    if not head.startswith(("insert", "update", "delete", "replace", "with")):
        return None
    toks = _tokens(sql)
    words = [t.text.lower() if t.kind == "word" else t.text for t in toks[:4]]
    if words and words[0] == "with":  # a CTE in front: which table it writes is not worth guessing
        for j, t in enumerate(toks):
            if t.depth == 0 and t.kind == "word" and t.text.lower() in ("insert", "update", "delete"):
                k = j + (2 if t.text.lower() in ("insert", "delete") else 1)
                name, _ = _table_at(toks, k)
                if name in _PERIOD_OF:
                    st = _Stmt(sql, toks, t.text.lower(), name)
                    st.coarse = True
                    return st
        return None
    i = 1
    if words[0] == "replace" or (words[0] in ("insert", "update") and len(words) > 2 and words[1] == "or"):
        i = 3 if words[0] != "replace" else 1
        op = "insert"
        if words[0] == "replace" or words[2] == "replace":
            name, _ = _table_at(toks, i + (1 if toks[i].text.lower() == "into" else 0))
            if name in _PERIOD_OF:
                st = _Stmt(sql, toks, op, name)
                st.coarse = True
                return st
            return None
    op = words[0]
    if op in ("insert", "delete"):
        if i >= len(toks) or toks[i].text.lower() not in ("into", "from"):
            return None
        i += 1
    name, j = _table_at(toks, i)
    if name not in _PERIOD_OF:
        return None
    st = _Stmt(sql, toks, op, name)
    start = toks[i].start
    if op == "insert":
        return _parse_insert(st, j)
    alias, j = _alias_at(toks, j)
    if alias:
        st.ref = alias
    st.target = (start, toks[j - 1].end)
    kw = _top(toks, j, {"set", "from", "using", "where", "returning"})
    for clause in ("from", "using"):  # e.g. "IS DISTINCT FROM" in the WHERE clause is no FROM list
        if clause in kw and "where" in kw and kw[clause] > kw["where"]:
            del kw[clause]
    end = toks[kw["returning"]].start if "returning" in kw else len(sql)
    if "where" in kw:
        st.where = (toks[kw["where"]].end, end)
    extra = "from" if op == "update" else "using"
    if extra in kw:
        stop = toks[kw["where"]].start if "where" in kw else end
        st.from_ = (toks[kw[extra]].end, stop)
    if op == "update":
        if "set" not in kw:
            return None
        stop = min(toks[kw[k]].start for k in ("from", "where", "returning") if k in kw) if \
            any(k in kw for k in ("from", "where", "returning")) else len(sql)
        for a, b in _split(toks, kw["set"] + 1, stop):
            col, expr = _assignment(toks, a, b)
            if col is None:
                st.coarse = True
            else:
                st.sets[col] = expr
    return st


def _split(toks: list[_Tok], i: int, stop: int, depth: int = 0) -> list[tuple[int, int]]:
    """Token index ranges of the comma-separated items at ``depth`` from token ``i`` to character ``stop``."""
    items, a = [], i
    j = i
    while j < len(toks) and toks[j].start < stop:
        if toks[j].kind == "comma" and toks[j].depth == depth:
            items.append((a, j))
            a = j + 1
        j += 1
    items.append((a, j))
    return [(x, y) for x, y in items if y > x]


def _assignment(toks: list[_Tok], a: int, b: int) -> tuple[str | None, tuple[int, int]]:
    """``col = expr`` (col possibly qualified) -> (col, character span of expr)."""
    if b - a < 3:
        return None, (0, 0)
    k = a
    while k + 2 < b and toks[k + 1].text == ".":
        k += 2
    if toks[k].kind not in ("word", "qid") or toks[k + 1].text != "=":
        return None, (0, 0)
    return _ident(toks[k]), (toks[k + 2].start, toks[b - 1].end)


def _parse_insert(st: _Stmt, j: int) -> _Stmt:
    toks, sql = st.toks, st.sql
    if j < len(toks) and toks[j].kind == "open":
        close = next(k for k in range(j + 1, len(toks)) if toks[k].kind == "close" and toks[k].depth == 0)
        st.columns = [_ident(toks[b - 1]) for a, b in _split(toks, j + 1, toks[close].start, 1)]
        j = close + 1
    kw = _top(toks, j, {"values", "on", "returning", "select", "default"})
    if "on" in kw and any(t.depth == 0 and t.kind == "word" and t.text.lower() == "update"
                          for t in toks[kw["on"]:]):
        st.coarse = True  # ON CONFLICT .. DO UPDATE changes rows the statement does not name
    if "values" in kw and kw["values"] == j:
        stop = min([toks[kw[k]].start for k in ("on", "returning") if k in kw] + [len(sql)])
        rows = []
        for a, b in _split(toks, kw["values"] + 1, stop):
            if toks[a].kind != "open":
                continue
            rows.append([(toks[x].start, toks[y - 1].end) for x, y in _split(toks, a + 1, toks[b - 1].start, 1)])
        st.values = rows
    return st


_WRITE = re.compile(r"^\s*(?:insert\s+(?:or\s+\w+\s+)?into|replace\s+into|update(?:\s+or\s+\w+)?|delete\s+from)\s+"
                    r"(?:\"?\w+\"?\.)?\"?(\w+)\"?", re.I)


def _guess(sql: str) -> _Stmt | None:
    """A write the parser could not cut: its table from the head of the statement, marked coarse."""
    m = _WRITE.match(sql)
    if m is None or m.group(1).lower() not in _PERIOD_OF:
        return None
    st = _Stmt(sql, [], "update", m.group(1).lower())
    st.coarse = True
    return st


def _month_expr(dialect: str, expr: str) -> str:
    if dialect == "postgresql":
        return f"to_char(CAST(({expr}) AS timestamp), 'YYYY-MM')"
    return f"substr(({expr}), 1, 7)"


def _spans_params(sql: str, toks: list[_Tok], spans: list[tuple[int, int]], params: Any) -> Any:
    """The parameters of the placeholders inside ``spans`` (in order): a slice of positional parameters, or the
    whole mapping for named ones."""
    if params is None or isinstance(params, Mapping):
        return params
    idx = [t.ph for a, b in spans for t in toks if t.ph >= 0 and a <= t.start < b]
    return tuple(params[k] for k in idx)


def install(engine: Engine) -> None:
    """Keep the snapshot fresh for every write through ``engine`` (see the section comment above). Idempotent."""
    if event.contains(engine, "before_cursor_execute", _before_cursor_execute):
        return
    event.listen(engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(engine, "commit", _on_commit)
    event.listen(engine, "rollback", _on_rollback)
    event.listen(engine, "engine_connect", _on_rollback)


def _on_rollback(conn: Connection, *_args: Any) -> None:
    try:
        conn.info.pop(_STATE, None)
    except SQLAlchemyError:  # an invalidated connection (the server dropped it): its record and marks are discarded
        pass


def _before_cursor_execute(conn: Connection, _cursor: Any, statement: str, parameters: Any, _context: Any,
                           executemany: bool) -> None:
    if conn.info.get(_BUSY):
        return
    try:
        st = _parse(statement)
    except (StopIteration, IndexError, ValueError):  # a shape the parser does not know: the coarse fallback
        st = _guess(statement)
    if st is None:
        return
    marks = conn.info.get(_STATE)
    if marks is None:
        marks = conn.info[_STATE] = _Marks()
    conn.info[_BUSY] = True
    try:
        _mark(conn, st, marks, parameters, executemany)
    finally:
        conn.info[_BUSY] = False


def _mark(conn: Connection, st: _Stmt, marks: _Marks, parameters: Any, executemany: bool) -> None:
    if st.coarse or (st.op != "insert" and st.where is None):
        marks.all_of(st.table)
        return
    if st.op == "insert":
        _mark_insert(conn, st, marks, parameters, executemany)
        return
    sets = list(parameters) if executemany else [parameters]
    if len(sets) > _MAX_PROBED_SETS:
        marks.all_of(st.table)
        return
    for params in sets:
        try:
            _probe_rows(conn, st, marks, params)
        except DBAPIError as exc:
            log.warning("fact snapshot: months of %s on %s unknown (%s); all its months go stale", st.op, st.table,
                        str(exc.orig or exc).splitlines()[0] if str(exc) else exc)
            marks.all_of(st.table)
            return


def _probe(conn: Connection, sql: str, params: Any) -> list[Any]:
    """One read on the writer's connection; on PostgreSQL inside a savepoint, so a failure leaves the writer's
    transaction usable."""
    args = () if params is None else (params,)
    if conn.dialect.name != "postgresql":
        return list(conn.exec_driver_sql(sql, *args).scalars())
    with conn.begin_nested():
        return list(conn.exec_driver_sql(sql, *args).scalars())


def _probe_rows(conn: Connection, st: _Stmt, marks: _Marks, params: Any) -> None:
    """UPDATE / DELETE: the months of the rows the statement changes, before it runs."""
    sql, toks, d = st.sql, st.toks, conn.dialect.name
    spans = [st.target] + ([st.from_] if st.from_ else [])
    frm = sql[st.target[0]:st.target[1]] + (", " + sql[st.from_[0]:st.from_[1]] if st.from_ else "")
    where = sql[st.where[0]:st.where[1]] if st.where else "1 = 1"
    scope_spans = spans + ([st.where] if st.where else [])

    def rows_sql(select_list: str) -> str:
        return f"SELECT DISTINCT {select_list} FROM {frm} WHERE {where}"

    def months_of(select_list: str, extra: list[tuple[int, int]] = ()) -> list[Any]:  # type: ignore[assignment]
        spans_all = list(extra) + scope_spans
        return _probe(conn, rows_sql(select_list), _spans_params(sql, toks, spans_all, params))

    period = _PERIOD_OF[st.table]
    kinds = _KINDS_OF[st.table]
    if period is not None:
        marks.add(kinds, months_of(_month_expr(d, f"{st.ref}.{period}")))
        if st.op == "update" and period in st.sets:
            a, b = st.sets[period]
            marks.add(kinds, months_of(_month_expr(d, sql[a:b]), [(a, b)]))
    elif st.table == "answer":
        via = [f"{st.ref}.response_id"]
        if st.op == "update" and "response_id" in st.sets:
            a, b = st.sets["response_id"]
            via.append(sql[a:b])
        for i, col in enumerate(via):
            extra = [st.sets["response_id"]] if i else []
            inner = rows_sql(col)
            got = _probe(conn, f"SELECT DISTINCT {_month_expr(d, 'r.submitted_at')} FROM response r "
                               f"WHERE r.id IN ({inner})", _spans_params(sql, toks, extra + scope_spans, params))
            marks.add(kinds, got)
    carried = _CARRIED.get(st.table)
    if carried is not None and (st.op == "delete" or carried & set(st.sets)):
        ids = rows_sql(f"{st.ref}.id")
        for dep_kinds, dep, dep_period, fk in _DEPENDENTS[st.table]:
            cond = (f"x.{fk} IN ({ids})" if fk != "__via_ticket__" else
                    f"x.ticket_id IN (SELECT t.id FROM ticket t WHERE t.customer_id IN ({ids}))")
            got = _probe(conn, f"SELECT DISTINCT {_month_expr(d, 'x.' + dep_period)} FROM {dep} x WHERE {cond}",
                         _spans_params(sql, toks, scope_spans, params))
            marks.add(dep_kinds, got)


def _mark_insert(conn: Connection, st: _Stmt, marks: _Marks, parameters: Any, executemany: bool) -> None:
    """INSERT: note the table's largest id before the transaction's first insert into it (lowered to the smallest
    explicit id); the new rows' months are read at commit."""
    if st.table == "customer":
        return  # a new customer has no work orders, contacts or responses yet
    if st.table not in marks.above:
        top = _probe(conn, f"SELECT max(id) FROM {st.table}", None)
        marks.above[st.table] = int(top[0] or 0) if top else 0
    if "id" not in st.columns:
        return
    if st.values is None:
        marks.above[st.table] = 0  # explicit ids from a SELECT: every row's month is read at commit
        return
    pos = st.columns.index("id")
    lowest: int | None = None
    for params in (list(parameters) if executemany else [parameters]):
        for row in st.values:
            if pos >= len(row):
                marks.above[st.table] = 0
                return
            value = _value(st, row[pos], params)
            if value is None:
                marks.above[st.table] = 0
                return
            lowest = value if lowest is None else min(lowest, value)
    if lowest is not None:
        marks.above[st.table] = min(marks.above[st.table], lowest - 1)


def _value(st: _Stmt, span: tuple[int, int], params: Any) -> int | None:
    """An integer literal or a single placeholder's integer value, else None."""
    text_ = st.sql[span[0]:span[1]].strip()
    if text_.isdigit():
        return int(text_)
    inside = [t for t in st.toks if span[0] <= t.start < span[1]]
    if len(inside) != 1 or inside[0].ph < 0 or params is None:
        return None
    tok = inside[0]
    try:
        if isinstance(params, Mapping):
            key = tok.text[2:-2] if tok.text.startswith("%(") else tok.text[1:]
            return int(params[key])
        return int(params[tok.ph])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _on_commit(conn: Connection) -> None:
    """Apply the transaction's marks, inside it, just before its commit."""
    marks: _Marks | None = conn.info.pop(_STATE, None)
    if marks is None or not (marks.months or marks.coarse or marks.above):
        return
    conn.info[_BUSY] = True
    try:
        d = conn.dialect.name
        for table, above in sorted(marks.above.items()):
            if table == "answer":
                got = _probe(conn, f"SELECT DISTINCT {_month_expr(d, 'r.submitted_at')} FROM response r "
                                   f"WHERE r.id IN (SELECT a.response_id FROM answer a WHERE a.id > {int(above)})",
                             None)
            else:
                col = _PERIOD_OF[table]
                got = _probe(conn, f"SELECT DISTINCT {_month_expr(d, col or '')} FROM {table} "
                                   f"WHERE id > {int(above)}", None)
            marks.add(_KINDS_OF[table], got)
        if marks.coarse:
            conn.execute(fact_version.delete().where(fact_version.c.kind.in_(sorted(marks.coarse))))
        touch_many(conn, {k: ms for k, ms in marks.months.items() if k not in marks.coarse})
    finally:
        conn.info[_BUSY] = False


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
