"""The reference data page through AppTest: tree with counts, masked staff names, upload -> preview -> apply, one
region renamed by hand, the site's time zone; admins only."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select

from data import settings
from data.engine import get_engine
from data.io.refdata import apply_rows
from data.models import Region, SiteSetting
from tests.app.helpers import login, open_page, page_titles

UPLOAD = ("编码,名称,上级编码,层级,区域类别\n"
          "A1T,甲一新所,A1,供电所,城区\n"
          "A2,甲二县（新）,A,县,农村\n").encode("gbk")


def _frame(at: object, first_column: str) -> pd.DataFrame:
    frames = [d.value for d in at.dataframe]  # type: ignore[attr-defined]
    return next(f for f in frames if len(f.columns) and f.columns[0] == first_column)


def _regions(url: str) -> dict[str, tuple[object, ...]]:
    with get_engine(url).connect() as conn:
        return {r.code: (r.name_zh, r.parent_id, r.path, r.kind) for r in conn.execute(select(Region))}


def test_admin_previews_and_applies_a_regions_file(tiny_app_db: str) -> None:
    engine = get_engine(tiny_app_db)
    staff_cols = {f: f for f in ("code", "name", "role", "team_code", "region_code", "active")}
    assert apply_rows(engine, "staff", "s.csv", staff_cols, [(2, {
        "code": "S001", "name": "张伟", "role": "crew", "team_code": None, "region_code": "A1S",
        "active": None})]).written
    at = open_page(login("admin"), "reference")
    assert page_titles(at)[0] == "基础数据"
    tree = _frame(at, "区域")
    assert len(tree) == 11
    first, station = tree.iloc[0], tree[tree["编码"] == "A1S"].iloc[0]
    assert (first["区域"], first["下级数"], first["人员数"]) == ("测试省", 3, 0)
    assert (station["区域"], station["上级编码"], station["人员数"]) == ("　　　甲一营业厅", "A1", 1)
    staff = _frame(at, "工号")
    assert list(staff["姓名"]) == ["张*"]  # masked: the page identifies people by staff number
    assert "张伟" not in "".join(str(f.value.to_numpy().tolist()) for f in at.dataframe)

    before = _regions(tiny_app_db)
    at.selectbox(key="ref_kind").set_value("regions")
    at.file_uploader(key="ref_file").set_value(("区域.csv", UPLOAD, "text/csv")).run()
    at.button(key="ref_preview_btn").click().run()
    assert not at.exception, at.exception
    changes = _frame(at, "编码")
    assert changes.values.tolist()[-2:] == [["A1T", "新增", "", "", ""],
                                            ["A2", "修改", "name_zh", "甲二县", "甲二县（新）"]]
    assert _regions(tiny_app_db) == before  # a preview writes nothing
    at.button(key="ref_apply").click().run()
    assert not at.exception, at.exception
    after = _regions(tiny_app_db)
    new_id = max(int(p.strip("/").split("/")[-1]) for _n, _p, p, _k in after.values())
    assert after["A1T"] == ("甲一新所", 4, f"/1/2/4/{new_id}/", "supply_station")
    assert after["A2"][0] == "甲二县（新）"
    assert any("已应用" in s.value for s in at.success)

    # one region renamed by hand: the same checks (a parent is needed below the root)
    at.text_input(key="ref_s_code").input("B1")
    at.text_input(key="ref_s_zh").input("乙一县（改）")
    at.selectbox(key="ref_s_parent").set_value("B")
    at.selectbox(key="ref_s_level").set_value("county")
    at.selectbox(key="ref_s_area").set_value("remote")
    next(b for b in at.button if b.proto.form_id == "ref_single").click().run()
    assert not at.exception, at.exception
    assert _regions(tiny_app_db)["B1"][:2] == ("乙一县（改）", 3)

    at.selectbox(key="ref_tz_zone").set_value("America/Chicago")
    next(b for b in at.button if b.proto.form_id == "ref_tz").click().run()
    assert not at.exception, at.exception
    with engine.connect() as conn:
        assert conn.execute(select(SiteSetting.value).where(SiteSetting.key == "site.timezone")).scalar() == \
            "America/Chicago"
    settings.invalidate()
    assert settings.site_zone(engine) == "America/Chicago"


def test_a_refused_file_names_the_row_and_writes_nothing(tiny_app_db: str) -> None:
    at = open_page(login("admin", lang="en"), "reference")
    before = _regions(tiny_app_db)
    at.file_uploader(key="ref_file").set_value(("cycle.csv", b"code,name,parent,level,area_class\n"
                                                b"X1,x,X2,county,urban\nX2,y,X1,county,urban\n", "text/csv")).run()
    at.button(key="ref_preview_btn").click().run()
    assert not at.exception, at.exception
    problems = list(_frame(at, "Problem")["Problem"])
    assert problems == ["cycle.csv, row 2, column parent, value 'X2': the parents form a cycle: X1 → X2 → X1",
                        "cycle.csv, row 3, column parent, value 'X1': the parents form a cycle: X1 → X2 → X1"]
    assert not [b for b in at.button if b.key == "ref_apply"]
    assert _regions(tiny_app_db) == before


@pytest.mark.parametrize("username", ["hr", "manager"])
def test_only_admins_reach_the_reference_page(tiny_app_db: str, username: str) -> None:
    at = open_page(login(username), "reference")
    assert "基础数据" not in page_titles(at)
    assert not at.get("file_uploader")
