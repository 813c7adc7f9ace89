"""Private files: every file GridCX writes that holds personal data or survey links is owner-only.

Files are created 0600 and the folders GridCX creates for them 0700: gateway batches (SMS / WeChat / QR links),
QR codes (batch SVGs, kiosk PNG/SVG), SQLite backups and pre-restore copies, canonical and whole-site exports,
rejects files, scheduled report exports. Every such writer goes through this module, so the promise rests on one
place (``tests/security/test_file_modes.py`` checks each writer with ``os.stat``).

The mode is given to ``os.open`` at creation and set again with ``fchmod`` (a file that already existed with
wider bits is narrowed too). The process umask is never changed: it is process-wide, and Streamlit serves
sessions on threads, so a temporary umask would race. A folder that already exists (say an operator's ``outbox``)
keeps its mode: only the folders created here are 0700.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` and its missing parents as 0700 folders (existing ones are left as they are)."""
    path = Path(path)
    missing: list[Path] = []
    p = path
    while not p.exists():
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, PRIVATE_DIR)
        except FileExistsError:
            continue  # created meanwhile by another process: not ours to change
        os.chmod(d, PRIVATE_DIR)  # the umask may have taken bits away; exactly 0700
    return path


def _fd(path: Path, exclusive: bool) -> int:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_private(path: str | Path, mode: str = "w", *, encoding: str | None = None, newline: str | None = None,
                 exclusive: bool = False) -> IO[Any]:
    """Open ``path`` for writing as a 0600 file (created, or truncated and narrowed); its folder is created 0700
    when missing. ``mode`` is ``"w"`` (text, give ``encoding``) or ``"wb"``; ``exclusive`` refuses an existing
    file (``FileExistsError``)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"open_private writes only ('w' or 'wb'), not {mode!r}")
    path = Path(path)
    private_dir(path.parent)
    fd = _fd(path, exclusive)
    if mode == "wb":
        return os.fdopen(fd, "wb")
    return os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)


def write_private(path: str | Path, data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write ``data`` to ``path`` as a 0600 file; returns the path."""
    path = Path(path)
    if isinstance(data, str):
        with open_private(path, "w", encoding=encoding, newline="") as fh:
            fh.write(data)
    else:
        with open_private(path, "wb") as fh:
            fh.write(data)
    return path


def touch_private(path: str | Path, *, exclusive: bool = False) -> Path:
    """Create ``path`` empty as a 0600 file, for a writer that opens the file itself (SQLite's backup API writes
    into it, and SQLite gives its journal and WAL files the database file's mode)."""
    path = Path(path)
    private_dir(path.parent)
    os.close(_fd(path, exclusive))
    return path
