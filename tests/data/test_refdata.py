"""Reference data files on a fresh database: regions, teams and staff imported from their own files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from data.__main__ import main as data_cli
from data.engine import get_engine
from data.io.errors import FileError
from data.io.refdata import export_reference, import_reference
from data.models import Region, Staff, Team

GBK_TREE = (
    "区域编码,区域名称,英文名称,上级编码,层级,区域类别\n"
    "37,山东省,Shandong,,省,城区\n"
    "3708,济宁市,Jining,37,地市,城区\n"
    "370811,任城区,Rencheng,3708,县,城区\n"
    "370811001,任城营业厅,Rencheng Hall,370811,营业厅,城区\n"
    "370881,曲阜市,Qufu,3708,县,农村\n"
    "370881101,尼山供电所,Nishan,370881,供电所,特殊边远\n"
)
TREE_ROWS = [
    (1, "37", "山东省", "Shandong", None, "/1/", "province", None, "urban"),
    (2, "3708", "济宁市", "Jining", 1, "/1/2/", "city", None, "urban"),
    (3, "370811", "任城区", "Rencheng", 2, "/1/2/3/", "county", None, "urban"),
    (4, "370811001", "任城营业厅", "Rencheng Hall", 3, "/1/2/3/4/", "station", "hall", "urban"),
    (5, "370881", "曲阜市", "Qufu", 2, "/1/2/5/", "county", None, "rural"),
    (6, "370881101", "尼山供电所", "Nishan", 5, "/1/2/5/6/", "station", "supply_station", "remote"),
]


@pytest.fixture
def engine(sqlite_url: str) -> Engine:
    return get_engine(sqlite_url)


def _write(path: Path, body: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(body.encode(encoding))
    return path


def _regions(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(
            Region.id, Region.code, Region.name_zh, Region.name_en, Region.parent_id, Region.path, Region.level,
            Region.kind, Region.area_class).order_by(Region.id))]


def _messages(res: object, lang: str = "en") -> list[str]:
    return [e.message(lang) for e in res.errors]  # type: ignore[attr-defined]


def test_gbk_chinese_header_tree_and_rerun(engine: Engine, tmp_path: Path) -> None:
    f = _write(tmp_path / "regions.csv", GBK_TREE, "gbk")
    res = import_reference(engine, "regions", f, user="ops")
    assert (res.errors, res.inserted, res.written) == ([], ["37", "3708", "370811", "370811001", "370881",
                                                            "370881101"], True)
    assert _regions(engine) == TREE_ROWS
    again = import_reference(engine, "regions", f, user="ops")
    assert (again.inserted, again.updated, again.unchanged, again.written) == ([], {}, 6, False)
    assert _regions(engine) == TREE_ROWS
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_event WHERE action = 'reference_import'")).scalar() == 1


def test_rename_and_move_update_paths(db_url: str, tmp_path: Path) -> None:
    """Also on PostgreSQL: ids from the sequence, paths rewritten for the moved subtree in one transaction."""
    engine = get_engine(db_url)
    import_reference(engine, "regions", _write(tmp_path / "r.csv", GBK_TREE, "gbk"))
    # Qufu moves under a new city; Rencheng is renamed; the new city comes after its child in the file
    f = _write(tmp_path / "r2.csv", "code,name,parent,level,area_class\n"
               "370881,曲阜市,3799,county,rural\n370811,任城区（新）,3708,county,urban\n3799,新市,37,city,rural\n")
    res = import_reference(engine, "regions", f)
    assert res.errors == []
    assert res.inserted == ["3799"]
    assert res.updated == {"370881": {"parent_code": ("3708", "3799")},
                           "370811": {"name_zh": ("任城区", "任城区（新）")}}
    assert res.unchanged == 0
    rows = {r[1]: r for r in _regions(engine)}
    assert rows["3799"][4:6] == (1, "/1/7/")
    assert rows["370881"][4:6] == (7, "/1/7/5/")
    assert rows["370881101"][5] == "/1/7/5/6/"  # the subtree moved with it
    assert rows["370811"][2:4] == ("任城区（新）", "Rencheng")  # no name_en column: the English name is kept


def test_cycle_refused_whole(engine: Engine, tmp_path: Path) -> None:
    import_reference(engine, "regions", _write(tmp_path / "r.csv", GBK_TREE, "gbk"))
    f = _write(tmp_path / "cycle.csv", "code,name,parent,level,area_class\n"
               "X1,新甲,X2,county,urban\nX2,新乙,X1,county,urban\nX3,新丙,3708,county,urban\n")
    res = import_reference(engine, "regions", f)
    assert _messages(res) == [
        "cycle.csv, row 2, column parent, value 'X2': the parents form a cycle: X1 → X2 → X1",
        "cycle.csv, row 3, column parent, value 'X1': the parents form a cycle: X1 → X2 → X1",
    ]
    assert (res.inserted, res.updated, res.written) == ([], {}, False)
    assert _regions(engine) == TREE_ROWS  # X3 (a good row) was not written either
    # a move of a city under its own county closes a cycle through the database
    f2 = _write(tmp_path / "loop.csv", "code,name,parent,level,area_class\n3708,济宁市,370811,city,urban\n")
    assert _messages(import_reference(engine, "regions", f2), "zh-CN") == [
        "loop.csv 第 2 行，列「parent」，值「370811」：上级关系成环：3708 → 370811 → 3708"]
    assert _regions(engine) == TREE_ROWS


def test_unknown_parent_second_root_and_row_rules(engine: Engine, tmp_path: Path) -> None:
    import_reference(engine, "regions", _write(tmp_path / "r.csv", GBK_TREE, "gbk"))
    f = _write(tmp_path / "bad.csv", "code,name,parent,level,area_class\n"
               "Y1,某县,9999,county,urban\nY2,另一省,,province,urban\nY3,某所,3708,station,urban\n")
    assert _messages(import_reference(engine, "regions", f)) == [
        "bad.csv, row 2, column parent, value '9999': the parent code is neither in the file nor in the database",
        "bad.csv, row 3, column parent, value '': has no parent, but the tree already has its root 37 "
        "(only one root is allowed)",
    ]  # Y3, a station right below a city, is deeper than its parent: allowed
    f2 = _write(tmp_path / "rows.csv", "code,name,parent,level,area_class\n"
                "Z1,,37,city,urban\nZ2,乙,37,市级,urban\nZ3,丙,37,city,郊区\nZ1,丁,37,city,urban\n"
                + "Z" * 33 + ",戊,37,city,urban\n")
    assert _messages(import_reference(engine, "regions", f2)) == [
        "rows.csv, row 2, column name, value '': must not be empty",
        "rows.csv, row 3, column level, value '市级': is not a level (province, city, county, station, or "
        "省/地市/县/供电所/营业厅)",
        "rows.csv, row 4, column area_class, value '郊区': is not an area class (urban, rural, remote, or "
        "城区/农村/特殊边远)",
        "rows.csv, row 5, column code, value 'Z1': the code appears twice (first in row 2)",
        f"rows.csv, row 6, column code, value '{'Z' * 33}': longer than 32 characters",
    ]
    assert _regions(engine) == TREE_ROWS


def test_level_below_parent(engine: Engine, tmp_path: Path) -> None:
    import_reference(engine, "regions", _write(tmp_path / "r.csv", GBK_TREE, "gbk"))
    f = _write(tmp_path / "lv.csv", "code,name,parent,level,area_class\nY3,某市,370811,city,urban\n")
    assert _messages(import_reference(engine, "regions", f)) == [
        "lv.csv, row 2, column level, value 'city': the level must be below the level of its parent 370811 "
        "(county)"]


def test_teams_staff_and_round_trip(engine: Engine, tmp_path: Path) -> None:
    import_reference(engine, "regions", _write(tmp_path / "r.csv", GBK_TREE, "gbk"))
    teams = _write(tmp_path / "teams.csv", "班组编码,班组名称,区域编码,岗位\n"
                   "T1,尼山抢修班,370881101,抢修人员\nT2,任城营业班,370811001,营业员\n", "gbk")
    res = import_reference(engine, "teams", teams)
    assert (res.errors, res.inserted) == ([], ["T1", "T2"])
    staff = _write(tmp_path / "staff.csv", "工号,姓名,岗位,班组编码,区域编码,在岗\n"
                   "S001,张伟,抢修人员,T1,370881101,是\nS002,李娜,clerk,T2,370811001,否\n"
                   "S003,王芳,客户经理,,370811,1\n")
    res = import_reference(engine, "staff", staff)
    assert (res.errors, res.inserted) == ([], ["S001", "S002", "S003"])
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(select(Team.code, Team.name, Team.role, Team.region_id)
                                               .order_by(Team.id))] == [
            ("T1", "尼山抢修班", "crew", 6), ("T2", "任城营业班", "clerk", 4)]
        assert [tuple(r) for r in conn.execute(select(Staff.code, Staff.name, Staff.role, Staff.team_id,
                                                      Staff.region_id, Staff.active).order_by(Staff.id))] == [
            ("S001", "张伟", "crew", 1, 6, True), ("S002", "李娜", "clerk", 2, 4, False),
            ("S003", "王芳", "account_manager", None, 3, True)]
    bad = _write(tmp_path / "bad_staff.csv", "staff_no,name,role,team_code,region_code,active\n"
                 "S004,赵敏,司机,T9,999,maybe\n")
    assert _messages(import_reference(engine, "staff", bad)) == [
        "bad_staff.csv, row 2, column active, value 'maybe': is not yes/no (1/0, true/false, 是/否, 在岗/离岗)",
        "bad_staff.csv, row 2, column region_code, value '999': no region with this code in the database "
        "(import the regions first)",
        "bad_staff.csv, row 2, column role, value '司机': is not a role (agent, clerk, crew, account_manager, or "
        "客服代表/营业员/抢修人员/客户经理)",
        "bad_staff.csv, row 2, column team_code, value 'T9': no team with this code in the database "
        "(import the teams first)",
    ]
    # export -> import changes nothing, for every kind; a moved staff member is an update
    for kind in ("regions", "teams", "staff"):
        out = tmp_path / f"{kind}.out.csv"
        export_reference(engine, kind, out)
        res = import_reference(engine, kind, out)
        assert (res.errors, res.inserted, res.updated) == ([], [], {}), kind
    moved = _write(tmp_path / "moved.csv", "工号,姓名,岗位,班组编码,区域编码,在岗\nS002,李娜,营业员,T2,370811001,在岗\n")
    assert import_reference(engine, "staff", moved).updated == {"S002": {"active": (False, True)}}


def test_command_line(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    f = _write(tmp_path / "r.csv", GBK_TREE, "gbk")
    assert data_cli(["regions", "import", str(f), "--dry-run"]) == 0
    assert _regions(engine) == []
    assert data_cli(["regions", "import", str(f)]) == 0
    assert _regions(engine) == TREE_ROWS
    capsys.readouterr()
    cyc = _write(tmp_path / "c.csv", "code,name,parent,level,area_class\nX1,甲,X1,county,urban\n")
    assert data_cli(["regions", "import", str(cyc), "--lang", "en"]) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[:2] == ["c.csv, row 2, column parent, value 'X1': the parents form a cycle: X1 → X1",
                                    "refused: 1 problem(s); nothing was written"]
    assert data_cli(["regions", "import", str(tmp_path / "none.csv")]) == 2
    empty = _write(tmp_path / "e.csv", "")
    with pytest.raises(FileError):
        import_reference(engine, "regions", empty)


def test_first_administrator_of_an_empty_database(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A new site: ``user-add`` needs the account's region, so on an empty database it says to import the tree first;
    a file with the province's row alone is enough, and the admin can then load the rest on the 基础数据 page."""
    from data.users import authenticate

    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("GRIDCX_NEW_PASSWORD", "Grid-first-2026!qz")
    add = ["user-add", "admin", "--role", "admin", "--region", "37"]
    assert data_cli(add) == 2
    assert capsys.readouterr().err.strip() == (
        "error: no region with code '37': the database has no regions yet; import the region tree first "
        "(python -m data regions import FILE; a file with the province's row is enough)")
    root = _write(tmp_path / "province.csv", "区域编码,区域名称,上级编码,层级,区域类别\n37,山东省,,省,城区\n")
    assert data_cli(["regions", "import", str(root)]) == 0
    assert data_cli([*add[:-1], "99"]) == 2
    assert capsys.readouterr().err.strip().endswith("error: no region with code '99'")
    assert data_cli(add) == 0
    assert authenticate(engine, "admin", "Grid-first-2026!qz").role == "admin"
