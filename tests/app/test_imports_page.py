"""The admin upload page through AppTest: a GBK 95598 export with a banner line, per-row rejects, admin only."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from data.engine import get_engine
from data.models import AuditEvent, Ticket
from tests.app.helpers import login, open_page, page_titles

EXPORT = (
    "国网测试供电公司 95598 工单导出（2026年10月）\n"  # a banner line above the header
    "工单编号,受理时间,派工时间,到达现场时间,处理完成时间,归档时间,业务类型,受理渠道,供电单位,客户编号,工单状态\n"
    "GD-001,2026-10-05 08:00:00,2026-10-05 08:05:00,2026-10-05 08:40:00,2026-10-05 10:00:00,2026-10-05 12:00:00,"
    "故障报修,95598,甲一营业厅,,已归档\n"
    "GD-002,2026/10/06 09:00,2026/10/06 09:03,,2026/10/06 11:00,,电费咨询,网上国网,甲二供电所,,处理中\n"
    # resolved before it was created: rejected with that reason, never fixed
    "GD-003,2026-10-07 10:00:00,,,2026-10-07 09:00:00,,故障报修,电话,甲一营业厅,,已归档\n"
).encode("gb18030")


def _count(url: str, model: type) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_admin_imports_a_gbk_export_with_a_banner(tiny_app_db: str) -> None:
    before = _count(tiny_app_db, Ticket)
    at = open_page(login("admin"), "imports")
    assert page_titles(at) and at.get("file_uploader")
    at.selectbox(key="imp_kind").set_value("tickets")
    at.selectbox(key="imp_mapping").set_value("sgcc_95598_tickets")
    at.file_uploader(key="imp_file").set_value(("95598导出.csv", EXPORT, "text/csv"))
    submit = next(b for b in at.button if b.proto.form_id == "import_form" or "导入" in b.label)
    submit.click().run()
    assert not at.exception, at.exception
    figures = [m.value for m in at.metric]
    assert figures[:4] == ["2", "0", "0", "1"], figures  # imported, updated, unchanged, rejected
    assert _count(tiny_app_db, Ticket) == before + 2
    rejects = at.dataframe[0].value
    assert rejects.shape[0] == 1
    row, column, value, _level, reason = rejects.iloc[0]
    # The file line (banner 1, header 2, GD-003 on line 5), the column, the value and why.
    assert (int(row), column, value) == (5, "处理完成时间", "2026-10-07 09:00:00")
    assert "早于受理时间" in reason
    assert _count(tiny_app_db, AuditEvent) > 0


@pytest.mark.parametrize("username", ["hr", "manager", "mgr_a1"])
def test_only_admins_can_reach_the_import_page(tiny_app_db: str, username: str) -> None:
    at = open_page(login(username), "imports")
    # Not registered for this role: the URL falls back to the overview, no upload form anywhere.
    assert not at.get("file_uploader")


DAY_FIRST = (
    "工单编号,受理时间,处理完成时间,业务类型,受理渠道,供电单位,工单状态\n"
    "GD-101,13/10/2026 08:00,13/10/2026 10:00,故障报修,95598,甲一营业厅,已归档\n"
    "GD-102,05/10/2026 09:00,05/10/2026 11:00,故障报修,95598,甲一营业厅,已归档\n"
).encode("gb18030")


def test_the_import_notes_are_shown(tiny_app_db: str) -> None:
    """Dates that prove day-first (13/10/2026): the page says the column was read so, and which row proved it; the
    05/10/2026 row is 5 October."""
    from dashboard.safe import md_escape

    at = open_page(login("admin"), "imports")
    at.selectbox(key="imp_kind").set_value("tickets")
    at.selectbox(key="imp_mapping").set_value("sgcc_95598_tickets")
    at.file_uploader(key="imp_file").set_value(("日在前.csv", DAY_FIRST, "text/csv"))
    next(b for b in at.button if b.proto.form_id == "import_form").click().run()
    assert not at.exception, at.exception
    assert [m.value for m in at.metric][:4] == ["2", "0", "0", "0"]
    assert "**本次导入采用的规则与假设**" in [m.value for m in at.markdown]
    assert [i.value for i in at.info] == [md_escape(n) for n in (
        "日期列 受理时间：按日/月/年解析 2 个日期：第 2 行 13/10/2026 08:00 只能是这种顺序",
        "日期列 处理完成时间：按日/月/年解析 2 个日期：第 2 行 13/10/2026 10:00 只能是这种顺序")]
    with get_engine(tiny_app_db).connect() as conn:
        created = conn.execute(select(Ticket.created_at).where(Ticket.external_no == "GD-102")).scalar_one()
    assert str(created)[:16] == "2026-10-05 01:00"  # 09:00 in Shanghai
