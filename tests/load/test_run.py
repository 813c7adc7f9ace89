"""The load script's own smoke test: a tiny bounded run on a copy of the demo world completes without errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.load.run import main

pytestmark = pytest.mark.security


def test_load_script_runs_bounded_and_reports(demo_sqlite_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "load.db"
    shutil.copy(demo_sqlite_url.removeprefix("sqlite:///"), copy)
    out = tmp_path / "load.json"
    assert main(["--database-url", f"sqlite:///{copy}", "--levels", "1,2", "--seconds", "3", "--max-ops", "20",
                 "--json", str(out)]) == 0
    res = json.loads(out.read_text(encoding="utf-8"))
    assert [lv["workers"] for lv in res["levels"]] == [1, 2]
    for lv in res["levels"]:
        assert lv["ops"] <= 20 and lv["intake"]["errors"] == 0 and lv["read"]["errors"] == 0


def test_load_script_refuses_remote_hosts() -> None:
    with pytest.raises(SystemExit):
        main(["--database-url", "postgresql+psycopg://u@10.1.2.3:5432/x"])
