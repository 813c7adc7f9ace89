"""Backup and restore of the embedded SQLite database (``python -m data backup --out FILE`` / ``restore FILE``).

Backups use SQLite's online backup API (a consistent snapshot while the app keeps running; WAL content included),
are written to a temporary file, checked with ``PRAGMA integrity_check`` and renamed into place. A restore:

* refuses a file that is not a GridCX SQLite database or fails its integrity check;
* refuses a backup whose schema revision this code does not know (made by a newer GridCX);
* refuses to restore over a database whose schema is newer than the backup's (it was migrated since), unless
  ``--force-older`` (the restored database is then upgraded to the code's schema);
* keeps a copy of the current database beside it (``<name>.pre-restore-<UTC time>.db``) before overwriting it,
  and copies through the backup API too, so other processes never see a half-written file.

Backups and pre-restore copies are created owner-only (0600, in 0700 folders when created here; ``data.private``).

PostgreSQL deployments use ``pg_dump`` / ``pg_restore`` (see DEPLOY.md).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from data.engine import database_url, dispose_all
from data.private import private_dir, touch_private

SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(RuntimeError):
    """A refused or failed backup/restore; the message is one line, safe to print."""


@dataclass(frozen=True)
class BackupInfo:
    path: str
    revision: str | None
    bytes: int


def sqlite_path(url: str | None = None) -> Path:
    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise BackupError(f"backup/restore handle the SQLite file database only (this is {parsed.get_backend_name()}); "
                          "use pg_dump / pg_restore for PostgreSQL")
    return Path(parsed.database)


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return None if row is None else str(row[0])


def _check(path: Path) -> str:
    """Integrity-check a database file; returns its schema revision."""
    with open(path, "rb") as fh:
        if fh.read(16) != SQLITE_MAGIC:
            raise BackupError(f"{path.name} is not an SQLite database")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()
        if not ok or ok[0] != "ok":
            raise BackupError(f"{path.name} fails the integrity check: {ok[0] if ok else '?'}")
        rev = _revision(conn)
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path.name} is not a readable SQLite database: {exc}") from None
    finally:
        conn.close()
    if rev is None or not {"ticket", "region", "app_user"} <= tables:
        raise BackupError(f"{path.name} is not a GridCX database (no schema revision or tables)")
    return rev


def _copy(src: Path, dest: Path) -> None:
    if not dest.exists():
        touch_private(dest)  # a new file holding the customers' data: 0600 (SQLite's journals follow its mode)
    s = sqlite3.connect(str(src), timeout=30)
    d = sqlite3.connect(str(dest), timeout=30)
    try:
        s.backup(d, pages=4096)
    finally:
        d.close()
        s.close()


def backup(out: str | Path, url: str | None = None) -> BackupInfo:
    """Write a consistent copy of the SQLite database to ``out`` (refuses to overwrite an existing file)."""
    src = sqlite_path(url)
    if not src.is_file():
        raise BackupError(f"no database file at {src}")
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} exists; choose a new file name")
    if out.resolve() == src.resolve():
        raise BackupError("the backup file must differ from the database file")
    private_dir(out.parent)
    tmp = out.with_name(out.name + ".partial")
    tmp.unlink(missing_ok=True)
    try:
        _copy(src, tmp)
        conn = sqlite3.connect(str(tmp))
        try:
            conn.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
        finally:
            conn.close()
        rev = _check(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return BackupInfo(str(out), rev, out.stat().st_size)


def _is_ancestor_or_same(older: str, newer: str) -> bool:
    from alembic.script import ScriptDirectory

    from data.schema import _script_only_config

    script = ScriptDirectory.from_config(_script_only_config())
    return any(r.revision == older for r in script.iterate_revisions(newer, "base"))


def _known(rev: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from data.schema import _script_only_config

    script = ScriptDirectory.from_config(_script_only_config())
    try:
        return script.get_revision(rev) is not None
    except CommandError:
        return False


def restore(file: str | Path, url: str | None = None, force_older: bool = False) -> BackupInfo:
    """Replace the SQLite database with the backup ``file`` (see the module docstring for what is refused)."""
    from data.engine import get_engine
    from data.schema import upgrade

    url = url or database_url()
    dest = sqlite_path(url)
    src = Path(file)
    if not src.is_file():
        raise BackupError(f"no backup file at {src}")
    rev = _check(src)
    if not _known(rev):
        raise BackupError(f"the backup's schema revision {rev} is newer than this GridCX knows; upgrade GridCX first")
    current = None
    if dest.is_file() and dest.stat().st_size > 0:
        conn = sqlite3.connect(str(dest), timeout=30)
        try:
            current = _revision(conn)
        finally:
            conn.close()
    if current is not None and current != rev:
        if current is not None and not _known(current):
            raise BackupError(f"the database's schema revision {current} is unknown to this GridCX; refusing")
        if _is_ancestor_or_same(rev, current) and not force_older:
            raise BackupError(f"the database has a newer schema ({current}) than the backup ({rev}); refusing to "
                              "restore over it (use --force-older to restore and upgrade the backup)")
    dispose_all()
    if dest.is_file():
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        keep = dest.with_name(f"{dest.stem}.pre-restore-{stamp}{dest.suffix}")
        _copy(dest, keep)
    private_dir(dest.parent)
    _copy(src, dest)
    upgrade(get_engine(url))
    dispose_all()
    return BackupInfo(str(dest), rev, dest.stat().st_size)
