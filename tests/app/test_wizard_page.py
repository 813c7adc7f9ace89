"""The mapping wizard (dashboard/views/wizard.py) through AppTest: a foreign GBK export with a banner and Chinese
headers -> detected encoding, header row and column types -> a mapping built field by field -> a dry run that writes
nothing -> the mapping saved as version 1 -> the import, with the same figures as the dry run. Admin only."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from data.engine import get_engine
from data.models import AuditEvent, ImportMapping, Region, Ticket
from tests.app.helpers import login, open_page
from tests.data.import_helpers import snapshot

FOREIGN = (
    "某县供电公司 业扩报修工单明细 2026年10月\n"
    "序号,工单号,登记时间,办结时间,所属单位,来源,诉求类型,备注\n"
    "1,BX-0001,2026-10-05 08:00:00,2026-10-05 10:30:00,甲一营业厅,95598,故障报修,\n"
    "2,BX-0002,2026/10/06 09:00,2026/10/06 09:00,城东供电所,网上国网,电费咨询,回访已结\n"
    "3,BX-0003,2026-10-07 10:00:00,2026-10-07 09:00:00,城东供电所,95598,故障报修,时间倒挂\n"
    "4,BX-0004,2026-10-08 11:00:00,,城东供电所,95598,故障报修,\n"
).encode("gbk")


def _count(url: str, model: type) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def _metrics(at) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {m.label: m.value for m in at.metric}


def _click(at, key: str):  # type: ignore[no-untyped-def]
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def test_admin_builds_dry_runs_saves_and_imports_a_foreign_export(tiny_app_db: str) -> None:
    engine = get_engine(tiny_app_db)
    at = open_page(login("admin"), "wizard")
    assert [t.value for t in at.title] == ["映射向导：导入外部系统的文件"]
    at.selectbox(key="wiz_kind").set_value("tickets")
    at.file_uploader(key="wiz_file").set_value(("县公司工单.csv", FOREIGN, "text/csv"))
    at.run()
    assert not at.exception, at.exception
    m = _metrics(at)
    assert (m["文字编码"], m["表头所在行"], m["已预览行数"]) == ("GB18030", "2", "4")
    cols = at.table[0].value.reset_index()
    assert list(cols["源列名"]) == ["序号", "工单号", "登记时间", "办结时间", "所属单位", "来源", "诉求类型", "备注"]
    assert list(cols["推测类型"]) == ["数值", "编码/编号", "日期/时间", "日期/时间", "文本", "文本", "文本", "文本"]
    assert cols["示例值"][1] == "BX-0001 | BX-0002 | BX-0003 | BX-0004"

    # Nothing in the file has a shipped header name: each field is chosen by hand.
    for field, header in (("external_no", "工单号"), ("created_at", "登记时间"), ("resolved_at", "办结时间"),
                          ("region", "所属单位"), ("channel", "来源"), ("service_type", "诉求类型")):
        at.selectbox(key=f"wiz_f_{field}").set_value(header)
    at.selectbox(key="wiz_reg_unknown").set_value("create")
    at.run()
    at.selectbox(key="wiz_reg_parent").set_value("A1")
    at.run()
    assert not at.exception, at.exception
    shown = json.loads(at.code[0].value)
    assert shown == {"kind": "tickets", "columns": {
        "工单号": "external_no", "登记时间": "created_at", "办结时间": "resolved_at", "所属单位": "region",
        "来源": "channel", "诉求类型": "service_type"}, "regions": {"unknown": "create", "parent": "A1"}}

    before = snapshot(engine, skip=())
    _click(at, "wiz_dry")
    assert snapshot(engine, skip=()) == before  # the dry run wrote nothing, not even an audit event
    dry = _metrics(at)
    assert [dry[k] for k in ("读取行数", "新增", "更新", "未变化", "拒收")] == ["4", "3", "0", "0", "1"]
    assert any("2026-10-05 至 2026-10-08" in md.value for md in at.markdown)
    warnings = " ".join(w.value for w in at.warning)
    assert "完全相同（耗时为 0）" in warnings and "新建 1 个区域" in warnings
    by_reason = at.dataframe[0].value
    assert (by_reason.iloc[0]["列"], by_reason.iloc[0]["涉及行数"]) == ("办结时间", 1)

    at.text_input(key="wiz_name").input("县公司报修")
    _click(at, "wiz_save")
    assert any("县公司报修（第 1 版）" in s.value for s in at.success)
    with engine.connect() as conn:
        assert conn.execute(select(ImportMapping.name, ImportMapping.version, ImportMapping.created_by)).all() == [
            ("县公司报修", 1, "admin")]

    tickets = _count(tiny_app_db, Ticket)
    _click(at, "wiz_import")
    real = _metrics(at)
    assert [real[k] for k in ("读取行数", "新增", "更新", "未变化", "拒收")] == ["4", "3", "0", "0", "1"]
    assert _count(tiny_app_db, Ticket) == tickets + 3
    with engine.connect() as conn:
        assert conn.execute(select(Region.parent_id).where(Region.code == "城东供电所")).scalar_one() == 4
        detail = conn.execute(select(AuditEvent.detail).where(AuditEvent.action == "import")).scalar_one()
    assert detail["mapping"] == "县公司报修@1" and detail["imported"] == 3

    # The saved mapping is offered at once on the upload page.
    at2 = open_page(login("admin"), "imports")
    at2.selectbox(key="imp_kind").set_value("tickets").run()
    assert "县公司报修" in at2.selectbox(key="imp_mapping").options


@pytest.mark.parametrize("username", ["hr", "manager"])
def test_only_admins_get_the_wizard(tiny_app_db: str, username: str) -> None:
    at = open_page(login(username), "wizard")
    assert not at.get("file_uploader") and "映射向导：导入外部系统的文件" not in [t.value for t in at.title]


DAY_FIRST = (
    "工单号,登记时间,所属单位,来源,诉求类型\n"
    "DF-1,13/10/2026 08:00,甲一营业厅,95598,故障报修\n"
    "DF-2,05/10/2026 09:00,甲一营业厅,95598,故障报修\n"
).encode()
DAY_FIRST_FIELDS = (("external_no", "工单号"), ("created_at", "登记时间"), ("region", "所属单位"),
                    ("channel", "来源"), ("service_type", "诉求类型"))


def _upload(at, name: str, data: bytes, fields: tuple[tuple[str, str], ...]):  # type: ignore[no-untyped-def]
    at.selectbox(key="wiz_kind").set_value("tickets")
    at.file_uploader(key="wiz_file").set_value((name, data, "text/csv"))
    at.run()
    for field, header in fields:
        at.selectbox(key=f"wiz_f_{field}").set_value(header)
    at.run()
    assert not at.exception, at.exception
    return at


def test_dry_run_and_import_show_the_notes(tiny_app_db: str) -> None:
    """Dates that prove day-first and no zone in the mapping: the dry run and the import say so (the zone assumed is
    the site's, by default Asia/Shanghai)."""
    from dashboard.safe import md_escape

    at = _upload(open_page(login("admin"), "wizard"), "日在前.csv", DAY_FIRST, DAY_FIRST_FIELDS)
    notes = [md_escape(n) for n in (
        "时间列 登记时间：未注明时区，按 Asia/Shanghai 解释（如不对，请在映射中设置 zone）",
        "日期列 登记时间：按日/月/年解析 2 个日期：第 2 行 13/10/2026 08:00 只能是这种顺序")]
    _click(at, "wiz_dry")
    assert [_metrics(at)[k] for k in ("读取行数", "新增", "拒收")] == ["2", "2", "0"]
    assert [i.value for i in at.info][-2:] == notes  # after "this was a dry run"
    assert "**本次导入采用的规则与假设**" in [m.value for m in at.markdown]
    _click(at, "wiz_import")
    assert [i.value for i in at.info][-2:] == notes
    with get_engine(tiny_app_db).connect() as conn:
        got = conn.execute(select(Ticket.external_no, Ticket.created_at).order_by(Ticket.external_no)
                           .where(Ticket.external_no.like("DF-%"))).all()
    assert [(n, str(c)[:16]) for n, c in got] == [("DF-1", "2026-10-13 00:00"), ("DF-2", "2026-10-05 01:00")]


TWO_COLUMNS = (
    "工单号,日期,时间,办结,归档,所属单位,备用单位,来源,诉求类型\n"
    "T-1,05/10/2026,08:00,2026-10-05 10:00,,甲一营业厅,,95598,故障报修\n"
    "T-2,06/10/2026,9:30 PM,,2026-10-07 12:00,,甲一营业厅,95598,故障报修\n"
).encode()


def test_builder_date_and_time_columns_zone_first_non_empty_and_date_order(tiny_app_db: str) -> None:
    """created_at from a date column + a time column in Chicago time; resolved_at and the region from the first
    non-empty of two columns; the dry run finds 05/10/2026 and 06/10/2026 undecidable, the admin states day first
    and the import stores the UTC instants worked out by hand (CDT = UTC-5)."""
    from dashboard.safe import md_escape

    at = _upload(open_page(login("admin"), "wizard"), "两列.csv", TWO_COLUMNS, (
        ("external_no", "工单号"), ("created_at", "日期"), ("resolved_at", "办结"), ("region", "所属单位"),
        ("channel", "来源"), ("service_type", "诉求类型")))
    assert at.selectbox(key="wiz_f_created_at__zone").format_func("") == "站点时区（Asia/Shanghai）"
    at.selectbox(key="wiz_f_created_at__how").set_value("date_time").run()
    at.selectbox(key="wiz_f_created_at__time").set_value("时间")
    at.selectbox(key="wiz_f_created_at__zone").set_value("America/Chicago")
    at.selectbox(key="wiz_f_resolved_at__how").set_value("coalesce").run()
    at.multiselect(key="wiz_f_resolved_at__more").set_value(["归档"])
    at.selectbox(key="wiz_f_resolved_at__zone").set_value("America/Chicago")
    at.multiselect(key="wiz_f__several").set_value(["region"]).run()
    at.multiselect(key="wiz_f_region__more").set_value(["备用单位"]).run()
    assert not at.exception, at.exception
    fields = [  # in the kind's field order, required ones first
        {"field": "created_at", "date": "日期", "time": "时间", "zone": "America/Chicago"},
        {"field": "region", "coalesce": ["所属单位", "备用单位"]},
        {"field": "resolved_at", "coalesce": ["办结", "归档"], "zone": "America/Chicago"}]
    assert json.loads(at.code[0].value) == {"kind": "tickets", "columns": {
        "工单号": "external_no", "来源": "channel", "诉求类型": "service_type"}, "fields": fields,
        "regions": {"unknown": "reject"}}
    assert not any(s.key == "wiz_f_created_at__order" for s in at.selectbox)  # no order asked before a dry run

    _click(at, "wiz_dry")
    assert [_metrics(at)[k] for k in ("新增", "拒收")] == ["0", "2"]
    assert at.info[-1].value == md_escape(
        "日期列 日期：日、月顺序无法确定（如第 2 行 05/10/2026），映射也未规定 date_order：这些行被拒收")
    assert "试运行发现 日期 中的日期既可按日/月也可按月/日理解：请选择顺序后重新运行。" in [w.value for w in at.warning]
    at.selectbox(key="wiz_f_created_at__order").set_value("day_first").run()
    assert json.loads(at.code[0].value)["fields"][0] == {**fields[0], "date_order": "day_first"}
    assert "下面的结果来自修改之前的映射，请重新试运行。" in [c.value for c in at.caption]  # the result shown is the previous mapping's

    _click(at, "wiz_dry")
    assert [_metrics(at)[k] for k in ("新增", "拒收")] == ["2", "0"]
    _click(at, "wiz_import")
    assert [_metrics(at)[k] for k in ("新增", "拒收")] == ["2", "0"]
    with get_engine(tiny_app_db).connect() as conn:
        got = conn.execute(select(Ticket.external_no, Ticket.created_at, Ticket.resolved_at, Ticket.region_id)
                           .where(Ticket.external_no.like("T-%")).order_by(Ticket.external_no)).all()
    assert [(n, str(c)[:16], str(r)[:16], g) for n, c, r, g in got] == [
        ("T-1", "2026-10-05 13:00", "2026-10-05 15:00", 7), ("T-2", "2026-10-07 02:30", "2026-10-07 17:00", 7)]


def test_dry_run_of_a_wide_survey_shows_the_scale_conversions_and_na(tiny_app_db: str) -> None:
    """The survey path: a 1-10 export dry-run with the shipped wide mapping states the conversion rule per item and
    the N/A answers (0 = N/A twice), as the import will."""
    from dashboard.safe import md_escape
    from surveys.definitions import sync_definitions

    sync_definitions(get_engine(tiny_app_db))
    wide = ("答卷编号,提交答卷时间,工单编号,1.总体满意度,2.抢修人员到达速度,3.进度告知及时,4.人员服务态度,您的意见和建议\n"
            "W-1,2026/10/06 10:00:00,T7-0,10,8,9,10,很好\n"
            "W-2,2026/10/06 10:05:00,T7-0,0,3,不适用,1,\n").encode()
    at = open_page(login("admin"), "wizard")
    at.selectbox(key="wiz_kind").set_value("responses")
    at.file_uploader(key="wiz_file").set_value(("问卷.csv", wide, "text/csv"))
    at.run()
    at.radio(key="wiz_source").set_value("existing").run()
    at.selectbox(key="wiz_existing").set_value("wide_survey_example").run()
    _click(at, "wiz_dry")
    assert [_metrics(at)[k] for k in ("新增", "拒收")] == ["2", "0"]
    rule = "1–10 → 1–5：y = 1 + (x − 1)·4/9，四舍五入到最近的刻度（正好居中时取较高刻度）"
    infos = [i.value for i in at.info]
    assert infos[-5:] == [md_escape(s) for s in (
        f"量表换算：满意度 {rule}；换算后量表的前两档（4–5）= 原始 7–10", f"量表换算：arrival_speed {rule}",
        f"量表换算：progress_updates {rule}", f"量表换算：staff_attitude {rule}",
        "不适用：2 个答案（不计分值）")]  # W-2: 0 and 不适用
