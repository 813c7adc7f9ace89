"""Exports: every download is built by the project's code (cells through ``safe_cell``, audited), also when Streamlit
calls the lazy ``st.download_button(data=callable)`` outside the script run, where there is no session state; the
tables' own "Download as CSV" is turned off. AppTest cannot press a download (tests/e2e/test_drill_exports.py does it
in a browser): here the callables the page registers are caught and called from another thread, as the server does."""

from __future__ import annotations

import csv
import io
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select, update

from data.engine import get_engine
from data.models import AuditEvent, Ticket
from data.users import Identity, PermissionDenied
from tests.app.helpers import login

pytestmark = pytest.mark.security

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ("=1+2", "@SUM(1)", "+1+1", '=HYPERLINK("http://ev.il","a")', "-2+3")


def outside_the_script_run(fn: Callable[[], Any]) -> Any:
    """Call ``fn`` in another thread without a script run context, as Streamlit's media endpoint does."""
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    def run() -> Any:
        assert get_script_run_ctx() is None
        return fn()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


@pytest.fixture
def caught(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    """file name -> the data callable of every lazy download button the app draws."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    out: dict[str, Callable[[], Any]] = {}
    original = MediaFileManager.add_deferred

    def spy(self, data_callable, mimetype, coordinates, file_name=None, **kw):  # type: ignore[no-untyped-def]
        out[str(file_name)] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", spy)
    return out


def _exports(url: str) -> list[tuple[str | None, dict[str, Any]]]:
    with get_engine(url).connect() as conn:
        rows = conn.execute(select(AuditEvent.username, AuditEvent.detail).where(AuditEvent.action == "export")).all()
    return [(u, dict(d or {})) for u, d in rows]


def test_drill_downloads_work_outside_the_script_run_neutralised_and_audited(
        tiny_app_db: str, caught: dict[str, Callable[[], Any]]) -> None:
    with get_engine(tiny_app_db).begin() as conn:  # formula payloads in imported work-order numbers
        for i, payload in enumerate(PAYLOADS):
            conn.execute(update(Ticket).where(Ticket.external_no == f"T7-{i}").values(external_no=payload))
    at = login("manager", lang="en")
    at.button(key="drill_tile_sla_arrival").click().run()
    assert not at.exception
    assert {"gridcx-drill.csv", "gridcx-drill.xlsx"} <= set(caught)
    assert not _exports(tiny_app_db)  # drawing the buttons builds nothing

    data = outside_the_script_run(caught["gridcx-drill.csv"])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][0] == "Content"  # the session's language (English), captured while the page ran
    top = next(i for i, r in enumerate(rows) if r and r[0] == "Work order")
    numbers = [r[0] for r in rows[top + 1:]]
    assert len(numbers) == 40
    for payload in PAYLOADS:
        assert "'" + payload in numbers and payload not in numbers
    assert not any(c.startswith(("=", "+", "-", "@")) for r in rows for c in r)

    book = openpyxl.load_workbook(io.BytesIO(outside_the_script_run(caught["gridcx-drill.xlsx"])))
    sheet = book[book.sheetnames[0]]
    assert sheet.title == "Rows"
    cells = [c for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not any(c.data_type == "f" for c in cells)
    values = {str(c.value) for c in cells}
    for payload in PAYLOADS:
        assert "'" + payload in values and payload not in values

    audited = _exports(tiny_app_db)
    assert sorted(d["format"] for _u, d in audited) == ["csv", "xlsx"]
    assert {u for u, _d in audited} == {"manager"} and all(d["rows"] == 40 for _u, d in audited)


def test_a_drill_builder_checks_the_captured_identity_again(tiny_app_db: str) -> None:
    """The builder refuses an identity the role matrix does not allow row exports, even outside a script run."""
    import pandas as pd

    from dashboard.drill import DrillSpec, export_builder

    hr = Identity(2, "hr", "人资", "hr", 1, "/1/", "zh-CN")
    build = export_builder("csv", hr, "zh-CN", tiny_app_db, DrillSpec(kind="ticket", title="x"), "ticket",
                           pd.DataFrame(), {}, {})
    with pytest.raises(PermissionDenied):
        outside_the_script_run(build)
    assert not _exports(tiny_app_db)


def test_hr_downloads_work_outside_the_script_run_and_audit_the_user(tiny_app_db: str) -> None:
    from dashboard.views import hr as hr_page
    from data.repositories import Scope
    from metrics.periods import named
    from reports.assessment import build

    a = build(get_engine(tiny_app_db), Scope("/1/"), named("2026-10"), scope_region_id=1)
    hr = Identity(2, "hr", "人资", "hr", 1, "/1/", "zh-CN")
    data = outside_the_script_run(hr_page._builder(a, "csv", hr, tiny_app_db))
    assert data
    assert [(u, d["format"]) for u, d in _exports(tiny_app_db)] == [("hr", "csv")]
    manager = Identity(3, "manager", "省经理", "manager", 1, "/1/", "zh-CN")
    with pytest.raises(PermissionDenied):  # the role matrix is asked again when the file is built
        outside_the_script_run(hr_page._builder(a, "csv", manager, tiny_app_db))


def test_the_tables_own_download_is_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """No grid offers its raw "Download as CSV": the config says so, and the shell says it again at run time."""
    from streamlit import config

    from dashboard.app import _no_builtin_data_export

    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert cfg["client"]["disableDataExport"] is True
    before = config.get_option("client.disableDataExport")
    try:
        config.set_option("client.disableDataExport", False)
        _no_builtin_data_export()
        assert config.get_option("client.disableDataExport") is True
    finally:
        config.set_option("client.disableDataExport", before)
