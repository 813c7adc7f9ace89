"""Questionnaire files: the shipped ones validate and cover every service type; a broken one fails loudly."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from data.engine import get_engine
from data.models import SurveyDefinition
from data.reference import service_types
from surveys.definitions import (
    DEFINITIONS_DIR,
    SERVQUAL_DIMENSIONS,
    SHORT_DIMENSIONS,
    DefinitionError,
    load_registry,
    registry,
    sync_definitions,
)

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_definitions_validate_and_cover_every_service_type() -> None:
    reg = load_registry()
    for code in service_types()["code"]:
        d = reg.for_service_type(code)
        assert d.kind == "short"
        items = d.items_for(code)
        roles = sorted(i.role for i in items if i.role)
        assert roles == ["ces", "comment", "csat", "fcr", "nps"], (code, roles)
        dims = [i for i in items if i.dimension]
        assert 3 <= len(dims) <= 5, code
        assert {i.dimension for i in dims} <= set(SHORT_DIMENSIONS)
        assert all(i.text.zh and i.text.en for i in items)
    assert reg.kiosk().key == "hall"


def test_conditions_ask_the_arrival_question_only_for_repairs() -> None:
    reg = load_registry()
    assert "arrival" in [i.key for i in reg.get("repair").items_for("repair")]
    billing = reg.get("billing")
    assert "reconnect" in [i.key for i in billing.items_for("reconnection")]
    assert "reconnect" not in [i.key for i in billing.items_for("payment")]
    connection = reg.get("connection")
    assert "dual_source" in [i.key for i in connection.items_for("connection_hv_dual")]
    assert "dual_source" not in [i.key for i in connection.items_for("connection_residential")]


def test_annual_questionnaire_is_servqual_with_22_items_in_five_dimensions() -> None:
    annual = load_registry().get("servqual_annual")
    dims = annual.dimensions()
    assert set(dims) == set(SERVQUAL_DIMENSIONS)
    assert sum(len(v) for v in dims.values()) == 22
    assert {k: len(v) for k, v in dims.items()} == {"tangibles": 4, "reliability": 5, "responsiveness": 4,
                                                     "assurance": 4, "empathy": 5}


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "defs"
    shutil.copytree(DEFINITIONS_DIR, target)
    return target


@pytest.mark.parametrize("old, new, expected", [
    ('key = "csat"\nrole = "csat"\nscale = "faces5"', 'key = "csat"\nrole = "csat"\nscale = "nps11"',
     "repair.v1.toml: item 'csat'"),
    ('dimension = "transparency"', 'dimension = "friendliness"', "item 'progress'"),
    ('key = "restore"', 'key = "arrival"', "duplicate item key"),
    ('scale = "yesno"', 'scale = "thumbs"', "item 'fcr' field 'scale'"),
    ('group = "outcome"\ntext = { zh = "您要办的事', 'group = "later"\ntext = { zh = "您要办的事', "unknown group 'later'"),
    ('service_types = ["repair"]\ntitle', 'service_types = ["repair", "teleport"]\ntitle', "unknown service type(s) teleport"),
    ('version = 1', 'version = 2', "do not match the file name"),
    ('key = "crew"\n', 'key = "crew"\ncolour = "red"\n', "item 'crew' field 'colour'"),
    ('text = { zh = "抢修进度有没有及时告诉您？", en = "Were you kept informed about the repair progress?" }',
     'text = { zh = "抢修进度有没有及时告诉您？" }', "item 'progress' field 'text.en'"),
    ('[[items]]\nkey = "restore"', 'oops [[items]]\nkey = "restore"', "repair.v1.toml: not valid TOML"),
])
def test_a_broken_definition_fails_loudly_naming_file_and_item(tmp_path: Path, old: str, new: str,
                                                                expected: str) -> None:
    folder = _copy(tmp_path)
    path = folder / "repair.v1.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(DefinitionError) as err:
        load_registry(folder)
    assert expected in str(err.value)
    assert "repair.v1.toml" in str(err.value)


def test_too_many_dimension_items_and_missing_coverage_are_refused(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "repair.v1.toml"
    extra = '\n[[items]]\nkey = "extra{n}"\ndimension = "convenience"\nscale = "stars5"\ngroup = "details"\n' \
            'text = {{ zh = "额外", en = "Extra" }}\n'
    path.write_text(path.read_text(encoding="utf-8") + extra.format(n=1) + extra.format(n=2), encoding="utf-8")
    with pytest.raises(DefinitionError, match="asks 6 dimension items"):
        load_registry(folder)
    folder2 = _copy(tmp_path / "b")
    for f in folder2.glob("meter.v*.toml"):
        f.unlink()
    with pytest.raises(DefinitionError, match="no short questionnaire for service type.*meter"):
        load_registry(folder2)


def test_command_line_check_exits_2_with_the_message(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "hall.v1.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('scale = "ces7"', 'scale = "stars5"'), encoding="utf-8")
    env = {**os.environ, "GRIDCX_SURVEY_DEFINITIONS": str(folder), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "surveys", "check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "hall.v1.toml: item 'ces'" in proc.stderr and "Traceback" not in proc.stderr
    ok = subprocess.run([sys.executable, "-m", "surveys", "check"], cwd=ROOT, capture_output=True, text=True,
                        timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert ok.returncode == 0, ok.stderr


def test_sync_publishes_versions_and_refuses_a_changed_published_version(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    assert sync_definitions(engine)["inserted"] == len(registry().definitions)
    assert sync_definitions(engine) == {"inserted": 0, "unchanged": len(registry().definitions)}
    with engine.connect() as conn:
        rows = conn.execute(select(SurveyDefinition.key, SurveyDefinition.version, SurveyDefinition.checksum,
                                   SurveyDefinition.active)).all()
    assert all(len(r.checksum) == 64 for r in rows)
    assert {(r.key, r.version) for r in rows if r.active} == {(d.key, d.version) for d in registry().latest()}
    folder = _copy(tmp_path)
    path = folder / "repair.v1.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("抢修进度", "抢修的进度"), encoding="utf-8")
    with pytest.raises(DefinitionError, match="repair.v1.toml: content differs"):
        sync_definitions(engine, load_registry(folder))
    # A new version is fine, and only it stays active.
    v3 = (folder / "repair.v2.toml").read_text(encoding="utf-8").replace("version = 2", "version = 3")
    path.unlink()
    (folder / "repair.v3.toml").write_text(v3.replace("抢修进度", "抢修的进度"), encoding="utf-8")
    reg = load_registry(folder)
    reg.definitions[("repair", 1)] = registry().get("repair", 1)
    assert sync_definitions(engine, reg)["inserted"] == 1
    with engine.connect() as conn:
        active = dict(conn.execute(select(SurveyDefinition.version, SurveyDefinition.active)
                                   .where(SurveyDefinition.key == "repair")).all())
    assert active == {1: False, 2: False, 3: True}



def test_the_latest_versions_show_one_customer_at_most_five_questions_in_three_formats(tmp_path: Path) -> None:
    reg = load_registry()
    for d in reg.latest():
        if d.kind == "annual":
            continue
        assert d.rotation is not None and not d.limit_problems(), d.key
        for st_ in d.service_types or (None,):
            plans = d.plans(st_)
            union = {i.key for i in d.items_for(st_)}
            assert set().union(*plans) | {"csat", "comment"} == union  # every item is asked of someone
            for seed in range(len(plans)):
                asked = d.asked(st_, None, seed)
                assert len(asked) <= 5 and len({i.scale for i in asked}) <= 3, (d.key, st_, asked)
                assert sum(i.key in ("nps", "ces", "fcr") for i in asked) == 1
    # the old, longer version can stay for the responses it has, but may not be the one invitations use
    folder = _copy(tmp_path)
    (folder / "repair.v2.toml").unlink()
    with pytest.raises(DefinitionError, match=r"repair.v1.toml: service type 'repair', plan 1: 9 questions in 6"):
        load_registry(folder)
