"""The admin's first import into an EMPTY database through the mapping wizard, in Chromium: ``python -m data init``,
the province root and one administrator (``python -m data user-add``), then a foreign export GridCX never wrote (GBK,
a banner line, Chinese headers none of the shipped mappings know) -> the mapping built field by field (unknown supply
units created below the province) -> a dry run that writes nothing -> the mapping saved -> the import -> the
overview shows the imported work orders. Fails on an exception or a catalogue key on screen, a table changed by the
dry run, or an ERROR / Traceback line in the server's log. Screenshots: artifacts/screens/wizard-*.png (used by
docs/onboarding.md)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update

from data.engine import get_engine
from data.models import ImportMapping, Region, Ticket
from tests.data.import_helpers import snapshot
from tests.e2e.conftest import ARTIFACTS, ROOT, AppServer, wait_idle
from tests.e2e.journeys import SCREENS, ServerLog, check_screen, press_downloads
from tests.e2e.test_journeys import DESKTOP, go, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "Wizard-Journey-2026!k7"
TODAY = dt.date.today()


def _day(back: int, hhmm: str) -> str:
    return f"{(TODAY - dt.timedelta(days=back)).isoformat()} {hhmm}:00"


def foreign_export() -> bytes:
    """A county's repair/consultation log as its own system exports it: GBK, a title line, Chinese headers that no
    shipped mapping knows, supply units GridCX has never heard of; one order finished before it was registered."""
    rows = [
        ("1", "BX-0001", _day(12, "08:05"), _day(12, "10:40"), "历城供电中心", "95598", "故障报修"),
        ("2", "BX-0002", _day(11, "09:10"), _day(11, "09:50"), "历城供电中心", "网上国网", "电费咨询"),
        ("3", "BX-0003", _day(10, "14:00"), _day(10, "16:30"), "章丘供电中心", "95598", "故障报修"),
        ("4", "BX-0004", _day(9, "07:45"), "", "章丘供电中心", "营业厅", "居民新装"),
        ("5", "BX-0005", _day(8, "11:20"), _day(8, "13:00"), "历城供电中心", "95598", "故障报修"),
        ("6", "BX-0006", _day(6, "16:00"), _day(6, "15:00"), "章丘供电中心", "95598", "故障报修"),  # finished first
        ("7", "BX-0007", _day(4, "10:30"), _day(4, "11:10"), "章丘供电中心", "网上国网", "电费咨询"),
    ]
    lines = ["济南某县供电公司 营销工单明细表（导出）", "序号,单据编号,登记时间,办结时间,所属单位,来源,诉求类型"]
    lines += [",".join(r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


@pytest.fixture(scope="module")
def empty_world(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``python -m data init`` on a new file, the province root (what a reference-data import would give) and one
    administrator made with ``python -m data user-add``: no demo data, no regions below the province."""
    url = f"sqlite:///{tmp_path_factory.mktemp('wizard') / 'gridcx.db'}"
    env = {**os.environ, "DATABASE_URL": url, "GRIDCX_NEW_PASSWORD": PASSWORD}
    subprocess.run([sys.executable, "-m", "data", "init"], cwd=ROOT, env=env, check=True, timeout=120)
    engine = get_engine(url)
    with engine.begin() as conn:
        rid = conn.execute(insert(Region).values(code="37", name_zh="国网山东省电力公司", name_en="State Grid Shandong",
                                                 level="province", path="", area_class="rural", customers=0)
                           ).inserted_primary_key[0]
        conn.execute(update(Region).where(Region.id == rid).values(path=f"/{rid}/"))
    subprocess.run([sys.executable, "-m", "data", "user-add", "admin", "--role", "admin", "--region", "37",
                    "--name", "系统管理员"], cwd=ROOT, env=env, check=True, timeout=120)
    return url


@pytest.fixture(scope="module")
def server(empty_world: str) -> Iterator[AppServer]:
    srv = AppServer(empty_world)
    yield srv
    srv.stop()


def _shot(page: Any, name: str) -> None:
    from tests.e2e.journeys import shot

    shot(page, "wizard", name)


def _choose(page: Any, label: str, option: str) -> None:
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text(label, exact=True))
    assert box.count() == 1, (label, box.count())
    opt = page.get_by_role("option", name=option, exact=True)
    for _attempt in range(3):  # the list opens on the press that follows the page's last repaint
        box.locator("button[aria-haspopup='listbox']").click()
        try:
            opt.wait_for(timeout=5_000)
            break
        except Exception:  # noqa: BLE001 - not open yet: press again
            page.keyboard.press("Escape")
            wait_idle(page, 60_000)
    opt.click()
    wait_idle(page, 60_000)


def _tickets(url: str) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Ticket)).scalar_one())


def test_first_import_into_an_empty_database_through_the_wizard(browser: Any, server: AppServer, empty_world: str,
                                                                tmp_path: Path) -> None:
    log = ServerLog(ARTIFACTS / f"streamlit-{server.port}.log")
    log.mark()
    export = tmp_path / "县公司工单明细.csv"
    export.write_bytes(foreign_export())
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    page = ctx.new_page()
    page.goto(f"{server.url}/wizard")
    wait_idle(page)
    sign_in(page, "admin", PASSWORD)
    assert "/wizard" in page.url
    check_screen(page, "wizard before upload")

    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(export))
    page.locator("[data-testid='stTable']").first.wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    check_screen(page, "wizard after upload")
    values = [v.inner_text().strip() for v in page.locator("[data-testid='stMetricValue']").all()]
    assert values[:4] == ["GB18030", "—", "2", "7"], values  # encoding, sheet, header row (below the title), rows
    table = " ".join(page.locator("[data-testid='stTable']").first.inner_text().split())
    for seen in ("单据编号 编码/编号 7 BX-0001 | BX-0002", "登记时间 日期/时间", "所属单位 文本 7 历城供电中心 | 章丘供电中心"):
        assert seen in table, (seen, table)
    _shot(page, "upload")

    for label, header in (("编号 *", "单据编号"), ("受理时间 *", "登记时间"), ("处理完成时间", "办结时间"),
                          ("区域 *", "所属单位"), ("渠道 *", "来源"), ("业务类型 *", "诉求类型")):
        _choose(page, label, header)
    _choose(page, "处理方式", "在上级区域下新建")
    check_screen(page, "wizard mapping built")
    assert page.get_by_label("上级区域", exact=True).input_value() == "国网山东省电力公司 (37)"
    code = page.locator("[data-testid='stCode']").first.inner_text()
    assert '"parent": "37"' in code and '"单据编号": "external_no"' in code and '"办结时间": "resolved_at"' in code
    _shot(page, "mapping")

    before = snapshot(get_engine(empty_world), skip=())
    page.get_by_role("button", name="试运行（不写入）").click()
    page.get_by_text("试运行结果（未写入任何数据）").wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    text = check_screen(page, "wizard dry run")
    assert snapshot(get_engine(empty_world), skip=()) == before, "the dry run changed the database"
    first, last = (TODAY - dt.timedelta(days=12)).isoformat(), (TODAY - dt.timedelta(days=4)).isoformat()
    assert f"数据时间范围：{first} 至 {last}" in text
    assert "在上级区域下新建 2 个区域，例如：历城供电中心、章丘供电中心" in text
    metrics = {m.locator("[data-testid='stMetricLabel']").inner_text().strip():
               m.locator("[data-testid='stMetricValue']").inner_text().strip()
               for m in page.locator("[data-testid='stMetric']").all()}
    assert [metrics[k] for k in ("读取行数", "新增", "更新", "未变化", "拒收")] == ["7", "6", "0", "0", "1"], metrics
    assert press_downloads(page, tmp_path, "wizard dry run") == ["县公司工单明细.rejects.csv"]
    _shot(page, "dry-run")

    name_box = page.get_by_label("映射名称（字母、汉字、数字、_ 或 -）")
    name_box.fill("济南某县工单")
    name_box.press("Enter")
    wait_idle(page, 60_000)
    page.get_by_role("button", name="保存映射").click()
    page.get_by_text("映射已保存：济南某县工单（第 1 版）").wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    check_screen(page, "wizard saved")
    with get_engine(empty_world).connect() as conn:
        assert conn.execute(select(ImportMapping.name, ImportMapping.version)).all() == [("济南某县工单", 1)]
    _shot(page, "saved")

    page.get_by_role("button", name="正式导入").click()
    page.get_by_text("导入结果", exact=True).wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    check_screen(page, "wizard imported")
    assert _tickets(empty_world) == 6
    _shot(page, "imported")

    go(page, "home")
    page.goto(f"{server.url}/?period=last_30_days")  # the six orders span two calendar months
    wait_idle(page, 90_000)
    page.locator("[data-testid='stMetric']").filter(has_text="工单量").first.wait_for(timeout=90_000)
    text = check_screen(page, "overview after the first import")
    tile = page.locator("[data-testid='stMetric']").filter(has_text="工单量").first
    assert tile.locator("[data-testid='stMetricValue']").inner_text().strip() == "6", text[:2000]
    _shot(page, "overview")
    ctx.close()
    assert log.problems() == [], "server log"
    assert {p.name for p in SCREENS.glob("wizard-*.png")} >= {
        "wizard-dry-run.png", "wizard-imported.png", "wizard-mapping.png", "wizard-overview.png",
        "wizard-saved.png", "wizard-upload.png"}
