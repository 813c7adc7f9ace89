"""The mapping language (data.io.mapping.MappingModel): schema file, `python -m data mapping check`, shipped files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data.io.errors import FileError
from data.io.mapping import MAPPINGS_DIR, SCHEMA_PATH, parse, problems, schema_text, shipped

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_is_the_generated_one() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), \
        "run: python -m data mapping schema --out docs/mapping-schema.json"


@pytest.mark.parametrize("path", sorted(MAPPINGS_DIR.glob("*.json")) + sorted((ROOT / "tests/mappings").glob("*.json")),
                         ids=lambda p: p.name)
def test_every_shipped_and_test_mapping_is_valid(path: Path) -> None:
    if path.stem == "enums":
        return
    assert problems(json.loads(path.read_text(encoding="utf-8"))) == []
    assert path.stem in shipped() or "tests" in path.parts


def test_errors_name_the_key_path() -> None:
    raw = {"kind": "tickets", "_comment": "comments are allowed", "columns": {
        "受理时间": {"field": "created_at", "zone": "Asia/Shangai"},
        "处理时长": {"field": "created_at", "unit": "fortnights"}},
        "timestamps": {"date_order": "year_first"}, "colums": {}}
    assert problems(raw) == [
        "columns.受理时间.zone: unknown time zone 'Asia/Shangai'",
        "columns.处理时长.unit: Input should be 'seconds', 'milliseconds', 'minutes' or 'hours'",
        "timestamps.date_order: Input should be 'day_first' or 'month_first'",
        "colums: unknown key",
    ]
    # Checks that need the kind's fields.
    raw = {"kind": "contacts", "columns": {"a": "created_at", "b": {"field": "handle_seconds", "zone": "EST"}},
           "fields": [{"field": "queued_at", "date": "D"}, {"field": "ended_at", "date": "D", "coalesce": ["x"]}],
           "values": {"category": {"map": {}, "unknown": "map"}, "channel": {"map": {}, "unknown": "keep"}},
           "items": {"columns": {"Q1": "q1"}}}
    assert problems(raw) == [
        "fields.1: give exactly one of column, date (+ time) or coalesce",
    ]
    raw["fields"] = [{"field": "queued_at", "date": "D", "time": "T"}]
    assert problems(raw) == [
        "columns.a.field: unknown field 'created_at' for contacts",
        "columns.b.zone: only for time fields",
        "values.category.to: unknown = map needs to",
        "values.channel.unknown: keep is only for free text fields (category_text); use map with keep_in",
        "items: only for kind responses",
    ]


def test_old_simple_forms_and_new_forms_compile_alike() -> None:
    old = parse({"kind": "tickets", "columns": {"No": "external_no", "Done": ["resolved_at", "closed_at"]},
                 "values": {"channel": {"Phone": "hotline"}}, "timestamps": {"zone": "America/Chicago"}})
    new = parse({"kind": "tickets", "columns": {"No": {"field": "external_no"},
                                                "Done": {"field": ["resolved_at", "closed_at"]}},
                 "values": {"channel": {"map": {"Phone": "hotline"}}}, "timestamps": {"zone": "America/Chicago"}})
    for attr in ("columns", "values", "zone", "formats", "header_keys", "zone_stated"):
        assert getattr(old, attr) == getattr(new, attr)
    assert old.columns == {"No": ("external_no",), "Done": ("resolved_at", "closed_at")}
    assert old.values == {"channel": {"phone": "hotline"}}
    # No zone anywhere: the default is assumed and flagged for the import summary.
    bare = parse({"kind": "tickets", "columns": {"No": "external_no"}})
    assert (bare.zone, bare.zone_stated) == ("Asia/Shanghai", False)


def test_parse_raises_a_file_error_with_every_problem() -> None:
    with pytest.raises(FileError) as err:
        parse({"kind": "tickets", "columns": {"a": "nope"}, "regions": {"unknown": "create"}}, path="m.json")
    assert err.value.code == "mapping_invalid"
    assert err.value.message("en") == "Mapping file m.json is invalid: regions: unknown = create needs parent"


def test_cli_check(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"kind": "tickets", "columns": {"受理时间": {"field": "created_at",
                                                                        "zone": "Asia/Shangai"}}},
                              ensure_ascii=False), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "data", "mapping", "check", str(bad)], capture_output=True,
                         text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert run.returncode == 2
    assert run.stderr == f"{bad}: columns.受理时间.zone: unknown time zone 'Asia/Shangai'\n"
    good = MAPPINGS_DIR / "sgcc_95598_tickets.json"
    run = subprocess.run([sys.executable, "-m", "data", "mapping", "check", str(good)], capture_output=True,
                         text=True, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert (run.returncode, run.stdout) == (0, f"{good}: ok\n")


def test_the_documented_examples_are_valid() -> None:
    import re

    doc = (ROOT / "docs" / "mapping.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", doc, re.S)
    full = json.loads(blocks[-1])
    assert problems(full) == []
    assert parse(full).parts["queued_at"].time == "Time"
