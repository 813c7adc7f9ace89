"""Column mappings saved in the database (table ``import_mapping``), one row per version, never overwritten.

The admin wizard and ``python -m data mapping save`` write them with :func:`save` (every save audited as
``mapping_saved``); :func:`data.io.mapping.load` asks :func:`lookup` first, so a saved name works at once in the
upload page and in ``python -m data import --mapping NAME`` (no restart, no file on the server). ``NAME`` is the
newest version, ``NAME@3`` version 3.

The database asked is the one bound with :func:`using` (the importer binds its own engine), else
``DATABASE_URL``'s; a SQLite file that does not exist is not created, and a database without the table (an older
schema) simply has no saved mappings.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from data.io.errors import FileError
from data.models import UTC, ImportMapping
from data.users import audit

# Letters (Chinese too), digits, "_" and "-": no path separators, dots or "@" (which selects a version).
NAME_RE = re.compile(r"[^\W][\w-]{0,63}")
_REF_RE = re.compile(r"(?P<name>[^@/\\]+?)(?:@(?P<version>\d{1,9}))?")
_BOUND: ContextVar[Engine | None] = ContextVar("gridcx_mapping_engine", default=None)


@dataclass(frozen=True)
class SavedMapping:
    name: str
    kind: str
    version: int
    body: dict[str, Any]
    created_by: str | None
    created_at: dt.datetime

    @property
    def ref(self) -> str:
        """``name@version``: what an import records, so it can be repeated exactly."""
        return f"{self.name}@{self.version}"

    def raw(self) -> dict[str, Any]:
        """The JSON for :func:`data.io.mapping.parse`, named ``name@version``."""
        return {**self.body, "name": self.ref}


@contextmanager
def using(engine: Engine) -> Iterator[None]:
    """Saved mappings are looked up in ``engine``'s database inside the block."""
    token = _BOUND.set(engine)
    try:
        yield
    finally:
        _BOUND.reset(token)


def split_ref(ref: object) -> tuple[str, int | None] | None:
    """``"name"`` -> (name, None), ``"name@3"`` -> (name, 3); None for a path or anything not a saved name."""
    if not isinstance(ref, str) or Path(ref).suffix or "/" in ref or "\\" in ref:
        return None
    m = _REF_RE.fullmatch(ref.strip())
    if m is None or not NAME_RE.fullmatch(m["name"]):
        return None
    return m["name"], int(m["version"]) if m["version"] else None


def _default_engine() -> Engine | None:
    from data.engine import DatabaseConfigError, database_url, get_engine

    url = database_url()
    if url.startswith("sqlite:///"):
        db = url.removeprefix("sqlite:///").split("?", 1)[0]
        if db and db != ":memory:" and not Path(db).is_file():
            return None  # never create an empty database just to find out it has no mappings
    try:
        return get_engine(url)
    except DatabaseConfigError:
        return None


def lookup(ref: object) -> SavedMapping | None:
    """The saved mapping ``ref`` names (newest version, or ``name@N``), or None: the hook of
    :func:`data.io.mapping.load`, which then tries the shipped files."""
    parts = split_ref(ref)
    if parts is None:
        return None
    engine = _BOUND.get() or _default_engine()
    if engine is None:
        return None
    try:
        return get(engine, *parts)
    except SQLAlchemyError:  # no such table (older schema) or no database: nothing saved there
        return None


def get(engine: Engine, name: str, version: int | None = None) -> SavedMapping | None:
    q = select(ImportMapping).where(ImportMapping.name == name)
    q = q.where(ImportMapping.version == version) if version is not None else \
        q.order_by(ImportMapping.version.desc()).limit(1)
    with engine.connect() as conn:
        row = conn.execute(q).mappings().first()
    return _saved(row) if row is not None else None


def listing(engine: Engine, kind: str | None = None) -> list[SavedMapping]:
    """Every saved version, by name then version (optionally of one kind)."""
    q = select(ImportMapping).order_by(ImportMapping.name, ImportMapping.version)
    if kind is not None:
        q = q.where(ImportMapping.kind == kind)
    try:
        with engine.connect() as conn:
            return [_saved(r) for r in conn.execute(q).mappings()]
    except SQLAlchemyError:
        return []


def newest(engine: Engine, kind: str | None = None) -> dict[str, SavedMapping]:
    """The newest version of each saved name."""
    out: dict[str, SavedMapping] = {}
    for m in listing(engine, kind):
        out[m.name] = m
    return out


def save(engine: Engine, name: str, body: dict[str, Any], user: str | None) -> SavedMapping:
    """Store ``body`` as the next version of ``name`` (version 1 for a new name) and audit it. The mapping is checked
    by :func:`data.io.mapping.parse` first; a name keeps its kind; a shipped mapping's name is refused (the shipped
    file would be shadowed). Raises :class:`FileError` (``mapping_name``, ``mapping_shipped``,
    ``mapping_invalid``, ``mapping_kind``)."""
    from data.io.mapping import parse, shipped

    name = str(name).strip()
    if not NAME_RE.fullmatch(name):
        raise FileError("mapping_name", name=name[:80])
    if name in shipped():
        raise FileError("mapping_shipped", name=name)
    body = {k: v for k, v in body.items() if k != "name"}
    parsed = parse({**body, "name": name}, path=name)
    for _attempt in range(3):
        try:
            with engine.begin() as conn:
                rows = conn.execute(select(ImportMapping.kind, func.max(ImportMapping.version))
                                    .where(ImportMapping.name == name).group_by(ImportMapping.kind)).all()
                if rows and rows[0][0] != parsed.kind:
                    raise FileError("mapping_kind", mapping=name, mapping_kind=rows[0][0], kind=parsed.kind)
                version = int(rows[0][1]) + 1 if rows else 1
                at = dt.datetime.now(UTC)
                conn.execute(insert(ImportMapping).values(
                    name=name, kind=parsed.kind, version=version, body=body, created_by=user, created_at=at))
                audit(conn, user, "mapping_saved", "mapping", f"{name}@{version}",
                      {"name": name, "kind": parsed.kind, "version": version, "columns": len(parsed.columns)})
            return SavedMapping(name, parsed.kind, version, body, user, at)
        except IntegrityError:  # someone saved the same version at the same moment: take the next one
            continue
    raise FileError("database", detail=f"could not save mapping {name!r}")


def _saved(row: Any) -> SavedMapping:
    return SavedMapping(str(row["name"]), str(row["kind"]), int(row["version"]), dict(row["body"]),
                        row["created_by"], row["created_at"])
