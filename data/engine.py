"""Engine factory: ``DATABASE_URL`` or the embedded SQLite file under ``data/``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import CursorResult, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

DATA_DIR = Path(__file__).resolve().parent
DEFAULT_SQLITE = DATA_DIR / "gridcx.db"


class DatabaseConfigError(RuntimeError):
    """A malformed ``DATABASE_URL`` or an unreachable server; the message is safe to print (password masked)."""


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE}"


def masked(url: str) -> str:
    """The URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL must still be printable
        return url.split("@")[-1] if "@" in url else url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


_ENGINES: dict[str, Engine] = {}


def get_engine(url: str | None = None, *, check: bool = False) -> Engine:
    """Return a (process-wide, per URL) engine; with ``check`` the connection is tried at once.

    Raises :class:`DatabaseConfigError` with a one-line, password-masked message for a malformed URL or an
    unreachable server.
    """
    url = url or database_url()
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _create(url)
        _ENGINES[url] = engine
    if check:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
            raise DatabaseConfigError(
                f"cannot connect to {masked(url)}: {reason}. Check that the server is running and DATABASE_URL is right."
            ) from None
    return engine


def _create(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseConfigError(
            f"DATABASE_URL is malformed: {masked(url)!r}. Expected e.g. postgresql+psycopg://user:pass@host:5432/db "
            "or sqlite:///path/to/file.db"
        ) from None
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {}
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=10)
        schema = parsed.query.get("schema")
        if schema:  # a test run's own schema: ?schema=name
            parsed = parsed.difference_update_query(["schema"])
            kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    elif backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        raise DatabaseConfigError(f"unsupported database {backend!r} in {masked(url)}: use sqlite or postgresql")
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, SQLAlchemyError, ImportError) as exc:
        raise DatabaseConfigError(f"cannot use {masked(url)}: {exc}") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    from data import snapshot  # here, not at the top: the engine module stays light for its many importers

    snapshot.install(engine)  # every write to a fact table marks its months stale (data.snapshot, freshness)
    return engine


def new_id(result: CursorResult[Any]) -> int:
    """The primary key of a single-row insert."""
    pk = result.inserted_primary_key
    if pk is None:
        raise ValueError("not a single-row insert: no primary key")
    return int(pk[0])


def dispose_all() -> None:
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()
