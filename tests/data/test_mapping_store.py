"""Mappings saved in the database (data/repositories/mappings.py): versions never overwritten, every save audited,
``data.io.mapping.load`` resolving a saved name (newest or ``name@N``) before the shipped files, and the command
line using them at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from data.engine import get_engine
from data.io import FileError
from data.io.mapping import load
from data.models import ImportMapping
from data.repositories import mappings
from tests.data.import_helpers import audit_rows
from tests.factories import build_tiny_world

ROOT = Path(__file__).resolve().parents[2]
V1 = {"kind": "tickets", "columns": {"单号": "external_no", "受理时间": "created_at", "单位": "region",
                                     "渠道": "channel", "类型": "service_type"}}
V2 = {**V1, "columns": {**V1["columns"], "完成时间": "resolved_at"}, "null_values": ["-"]}


def test_versions_are_kept_audited_and_resolved_before_shipped_files(db_url: str) -> None:
    engine = get_engine(db_url)
    first = mappings.save(engine, "县公司导出", V1, "admin")
    second = mappings.save(engine, "县公司导出", V2, "admin2")
    assert (first.version, second.version) == (1, 2)
    with engine.connect() as conn:
        rows = conn.execute(select(ImportMapping.version, ImportMapping.body, ImportMapping.created_by)
                            .order_by(ImportMapping.version)).all()
    assert [(v, b, u) for v, b, u in rows] == [(1, V1, "admin"), (2, V2, "admin2")]  # v1 untouched
    events = audit_rows(engine, "mapping_saved")
    assert [(e["username"], e["object_id"]) for e in events] == [("admin", "县公司导出@1"), ("admin2", "县公司导出@2")]
    assert events[1]["detail"] == {"name": "县公司导出", "kind": "tickets", "version": 2, "columns": 6}

    with mappings.using(engine):
        newest = load("县公司导出", "tickets")
        old = load("县公司导出@1")
        with pytest.raises(FileError) as kind:
            load("县公司导出", "contacts")
        with pytest.raises(FileError) as missing:
            load("县公司导出@7")
    assert newest.name == "县公司导出@2" and "完成时间" in newest.columns and newest.null_values == {"-"}
    assert old.name == "县公司导出@1" and "完成时间" not in old.columns
    assert kind.value.code == "mapping_kind"
    assert missing.value.code == "mapping_missing"


def test_save_refuses_bad_names_shipped_names_other_kinds_and_invalid_mappings(db_url: str) -> None:
    engine = get_engine(db_url)
    mappings.save(engine, "county", V1, "admin")
    cases = [("a.b", V1, "mapping_name"), ("x@2", V1, "mapping_name"), ("", V1, "mapping_name"),
             ("sgcc_95598_tickets", V1, "mapping_shipped"),
             ("county", {**V1, "kind": "contacts", "columns": {"号": "external_no"}}, "mapping_kind"),
             ("other", {**V1, "columns": {"单号": "no_such_field"}}, "mapping_invalid")]
    for name, body, code in cases:
        with pytest.raises(FileError) as err:
            mappings.save(engine, name, body, "admin")
        assert err.value.code == code, name
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ImportMapping)).scalar_one() == 1
    assert len(audit_rows(engine, "mapping_saved")) == 1


def test_load_asks_the_configured_database_and_never_creates_one(tmp_path: Path, sqlite_url: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "gridcx.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")
    assert load("sgcc_95598_tickets").name == "sgcc_95598_tickets"  # shipped file; no database
    assert not missing.exists() and not missing.parent.exists()
    mappings.save(get_engine(sqlite_url), "site_a", V1, "admin")
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    assert load("site_a").name == "site_a@1"


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "data", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=120)


def test_cli_saves_lists_and_imports_with_a_saved_name(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    spec = tmp_path / "m.json"
    spec.write_text(json.dumps(V1, ensure_ascii=False), encoding="utf-8")
    assert _cli(sqlite_url, "mapping", "save", "county_x", str(spec), "--user", "ops").returncode == 0
    mappings.save(engine, "county_x", V2, "admin")  # the page saves version 2 while the CLI is not running
    listing = _cli(sqlite_url, "mapping", "list", "--kind", "tickets")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert any(line.split()[:3] == ["sgcc_95598_tickets", "tickets", "shipped"] for line in lines)
    saved = next(line for line in lines if line.startswith("county_x"))
    assert saved.split()[:4] == ["county_x", "tickets", "saved", "1,"] and " 2 (newest 2:" in saved
    assert "by admin" in saved
    data = tmp_path / "t.csv"
    data.write_text("导出\n单号,受理时间,单位,渠道,类型,完成时间\n"
                    "X1,2026-10-05 08:00:00,A1S,95598,故障报修,2026-10-05 09:00:00\n"
                    "X2,2026-10-06 08:00:00,甲二供电所,95598,电费咨询,-\n", encoding="utf-8")
    dry = _cli(sqlite_url, "import", "tickets", str(data), "--mapping", "county_x", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    out = json.loads(dry.stdout.splitlines()[-1])
    assert (out["imported"], out["dry_run"], out["mapping"], out["rows"]) == (2, True, "county_x@2", 2)
    assert out["date_range"] == ["2026-10-05", "2026-10-06"]
    real = _cli(sqlite_url, "import", "tickets", str(data), "--mapping", "county_x@1")
    assert real.returncode == 0, real.stderr
    out = json.loads(real.stdout.splitlines()[-1])
    assert (out["imported"], out["mapping"]) == (2, "county_x@1")
    assert "dry_run" not in out
    shown = _cli(sqlite_url, "mapping", "show", "county_x@1")
    assert json.loads(shown.stdout) == {**V1, "name": "county_x@1"}
