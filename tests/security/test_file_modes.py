"""Every file GridCX writes with personal data or live survey links is owner-only: 0600 files, 0700 for the folders
it creates (issue 18.8: QR codes, backups and pre-restore copies were 0644). Each writer is run with the umask at
0, so a mode that merely rested on the operator's umask would show up as 0666 / 0644 here."""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from data.engine import get_engine
from data.models import UTC
from data.private import open_private, private_dir, touch_private, write_private
from tests.surveys.helpers import build_survey_world

pytestmark = pytest.mark.security


@pytest.fixture(autouse=True)
def _no_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _private(*paths: Path) -> None:
    assert paths
    modes = {str(p): oct(_mode(p)) for p in paths}
    want = {str(p): oct(0o700 if p.is_dir() else 0o600) for p in paths}
    assert modes == want


def _tree(root: Path) -> list[Path]:
    return [root, *sorted(root.rglob("*"))]


def test_the_helper_creates_narrows_and_leaves_foreign_folders_alone(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    old = shared / "old.csv"
    old.write_text("x")
    os.chmod(old, 0o644)
    with open_private(old, "w", encoding="utf-8") as fh:  # an existing file is narrowed too
        fh.write("y")
    new = write_private(shared / "a" / "b" / "c.bin", b"\x00")
    touched = touch_private(shared / "t.db")
    _private(old, new, touched, shared / "a", shared / "a" / "b")
    assert _mode(shared) == 0o755  # the operator's folder keeps its mode
    assert private_dir(shared / "a") == shared / "a" and old.read_text() == "y"
    with pytest.raises(FileExistsError):
        open_private(old, "wb", exclusive=True)


def test_invitation_batches_and_qr_codes_are_private(sqlite_url: str, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from surveys.invitations import invite, kiosk_qr

    monkeypatch.setenv("GRIDCX_PUBLIC_URL", "https://cx.example.cn")  # not a demo world: links need the address
    engine = get_engine(sqlite_url)
    now = dt.datetime.now(UTC)
    build_survey_world(engine, now=now)
    since = (now - dt.timedelta(days=3)).date()
    sms = invite(engine, since, "sms", out_dir=tmp_path / "outbox" / "sms", now=now)
    assert sms.batch_file is not None and sms.invited
    _private(*_tree(tmp_path / "outbox"))
    with engine.begin() as conn:  # invite the same closed work orders again, by QR this time
        conn.exec_driver_sql("DELETE FROM invitation")
    qr = invite(engine, since, "qr", out_dir=tmp_path / "qr", now=now + dt.timedelta(days=31))
    assert qr.batch_file is not None and list(qr.batch_file.with_suffix("").glob("*.svg"))
    _private(*_tree(tmp_path / "qr"))
    code = kiosk_qr(engine, 7, now.date(), out_dir=tmp_path / "kiosk")
    assert code.png.read_bytes()[:4] == b"\x89PNG" and b"<svg" in code.svg.read_bytes()
    _private(*_tree(tmp_path / "kiosk"))


def test_backups_and_pre_restore_copies_are_private(sqlite_url: str, tmp_path: Path) -> None:
    from data.backup import backup, restore
    from tests.factories import build_tiny_world

    build_tiny_world(get_engine(sqlite_url))
    info = backup(tmp_path / "backups" / "b1.db", sqlite_url)
    _private(*_tree(tmp_path / "backups"))
    restore(info.path, sqlite_url)
    kept = list(tmp_path.glob("gridcx.pre-restore-*.db"))
    assert len(kept) == 1
    _private(*kept)


def test_exports_rejects_and_reports_are_private(sqlite_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from data.io import export_all, export_table, import_file
    from surveys.results import ImportSummary
    from tests.data.import_helpers import ticket_csv, ticket_row

    engine = get_engine(sqlite_url)
    build_survey_world(engine)
    out = tmp_path / "exports"
    export_table(engine, "tickets", out / "tickets.csv")
    export_table(engine, "responses", out / "responses.xlsx")
    export_all(engine, out / "site")
    assert (out / "site" / "customer.jsonl").stat().st_size > 0
    _private(*_tree(out))
    # Rejects files repeat the rejected values (a phone, an account number): the importer's and the IVR/SMS one.
    src = tmp_path / "in" / "tickets.csv"
    src.parent.mkdir()
    src.write_text(ticket_csv(ticket_row("X-1", region="NOPE", customer_no="3700001234")), encoding="utf-8")
    res = import_file(engine, "tickets", src, rejects_path=tmp_path / "rejects" / "tickets.rejects.csv")
    assert res.rejects_file is not None
    summary = ImportSummary("sms", rejects=[{"row": 2, "column": "token", "value": "13800001234",
                                             "reason": "bad_token"}])
    summary.write_rejects(tmp_path / "rejects" / "sms.rejects.csv")
    _private(*_tree(tmp_path / "rejects"))
    # The scheduled report export (python -m reports assessment --out FILE): only the writing is under test here.
    import reports.assessment
    import reports.exports
    from reports.__main__ import main

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setattr(reports.assessment, "build", lambda *a, **k: type("A", (), {"table": [1]})())
    monkeypatch.setattr(reports.exports, "export", lambda *a, **k: b"staff,score\n")
    assert main(["assessment", "--period", "2026-10", "--format", "csv", "--out",
                 str(tmp_path / "reports" / "q" / "a.csv")]) == 0
    _private(*_tree(tmp_path / "reports"))
