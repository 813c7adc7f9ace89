"""The test lanes (tests/conftest.py): a test earns its markers from what it uses, so `make test-fast` keeps out every
test that opens a database, runs the app or builds the demo world, wherever its file lives."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAST_LANE = re.search(r"^FAST_LANE := (.+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
FILES = ["tests/unit/test_reference.py", "tests/unit/test_risk_demo.py", "tests/data/test_next_contact.py",
         "tests/data/test_demo.py", "tests/app/test_shell.py", "tests/app/test_survey_page.py",
         "tests/data/test_import_bad_input.py", "tests/surveys/test_definitions.py"]
PROBE = '''
def pytest_collection_finish(session):
    for item in session.items:
        print("MARKS", item.nodeid, ",".join(sorted({m.name for m in item.iter_markers()})), sep="\\t")
'''


def _collect(tmp_path: Path, *args: str) -> dict[str, set[str]]:
    """node id (parameters dropped) -> the markers of its variants."""
    (tmp_path / "lanes_probe.py").write_text(PROBE, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-p", "lanes_probe", *args, *FILES], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    found: dict[str, set[str]] = {}
    for line in out.stdout.splitlines():
        if line.startswith("MARKS\t"):
            _, node, marks = line.split("\t")
            found.setdefault(node.split("[")[0], set()).update(m for m in marks.split(",") if m)
    return found


def test_each_costly_use_earns_its_marker_and_the_fast_lane_keeps_out_the_rest(tmp_path: Path) -> None:
    m = _collect(tmp_path)
    # the demo world: by fixture (from tests/unit), by a parameter naming the fixture, inline (explicit marker)
    for node in ("tests/unit/test_risk_demo.py::test_planted_causes_are_the_strongest_reasons",
                 "tests/data/test_next_contact.py::test_demo_world_unfiltered_kpi_equals_the_in_frame_computation",
                 "tests/data/test_demo.py::test_sizes_match_performance_md"):
        assert {"world", "db"} <= m[node], node
    assert "postgres" in m["tests/data/test_next_contact.py::test_demo_world_unfiltered_kpi_equals_the_in_frame_computation"]
    # AppTest through a conftest fixture (tiny_app_db) and through a helper of the test module
    assert {"app", "db"} <= m["tests/app/test_shell.py::test_login_page_is_chinese_by_default"]
    assert {"app", "db"} <= m["tests/app/test_survey_page.py::test_happy_path_in_chinese"]
    # a module fixture of its own name that builds a database, once per database
    assert {"db", "postgres"} <= m["tests/data/test_import_bad_input.py::test_bad_row_is_rejected_with_reason"]
    assert "subprocess" in m["tests/surveys/test_definitions.py::test_command_line_check_exits_2_with_the_message"]
    assert "db" in m["tests/surveys/test_definitions.py::test_sync_publishes_versions_and_refuses_a_changed_published_version"]
    # pure tests earn nothing
    assert m["tests/surveys/test_definitions.py::test_shipped_definitions_validate_and_cover_every_service_type"] == set()
    assert m["tests/data/test_import_bad_input.py::test_case_counts"] == set()
    assert m["tests/surveys/test_definitions.py::test_a_broken_definition_fails_loudly_naming_file_and_item"] == {
        "parametrize"}

    assert FAST_LANE is not None
    fast = set(_collect(tmp_path, "-m", FAST_LANE.group(1)))
    lanes = set(re.findall(r"\w+", FAST_LANE.group(1))) - {"not", "or", "and"}
    assert lanes == {"slow", "world", "db", "app", "browser", "postgres", "subprocess"}
    pure = {node for node, marks in m.items() if not marks & lanes}
    assert fast == pure
    assert {n.split("::")[0] for n in fast} == {"tests/unit/test_reference.py", "tests/data/test_import_bad_input.py",
                                                "tests/surveys/test_definitions.py", "tests/data/test_next_contact.py"}
