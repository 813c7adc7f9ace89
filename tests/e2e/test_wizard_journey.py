"""A new site's first day, in Chromium (issue 15): from an empty database to a dashboard on a file GridCX never
wrote, the way docs/onboarding.md tells it, with no code and no SQL.

Outside the browser, as an operator would (subprocesses): ``python -m data init``, ``python -m data regions import``
of a one-row file (the province, which the first account's scope needs) and ``python -m data user-add`` for the
first administrator. In the browser: sign in -> 基础数据: upload the region tree (province -> 2 cities -> 4 counties),
preview, apply -> 映射向导: upload a county's GBK export with a banner line and headers no shipped mapping knows,
build the mapping field by field, dry run (the counts, a reject whose reason states its rule, nothing written),
save, import -> 首页概览 shows the 6 work orders, and again after a reload. Fails on an exception, a catalogue key or
English widget chrome on screen, a table changed by a dry run or preview, or an ERROR / Traceback line in the
server's log. Screenshots: artifacts/screens/onboarding-*.png (docs/onboarding.md; ``make screenshots``)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from data.engine import get_engine
from data.models import ImportMapping, Region, Ticket
from tests.data.import_helpers import snapshot
from tests.e2e.conftest import ARTIFACTS, ROOT, AppServer, wait_idle
from tests.e2e.journeys import SCREENS, ServerLog, check_screen, press_downloads, shot
from tests.e2e.test_journeys import DESKTOP, go, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "Wizard-Journey-2026!k7"
TODAY = dt.date.today()
PROVINCE = "37,国网山东省电力公司,State Grid Shandong,,省,城区"
REGIONS_HEADER = "区域编码,区域名称,英文名称,上级编码,层级,区域类别"
# the tree below the province, as a site's planning department keeps it (Chinese headers and labels)
REGIONS = [PROVINCE,
           "3701,济南供电公司,Jinan,37,地市,城区",
           "370112,历城供电中心,Licheng,3701,县,城区",
           "370114,章丘供电中心,Zhangqiu,3701,县,农村",
           "3703,淄博供电公司,Zibo,37,地市,城区",
           "370303,张店供电中心,Zhangdian,3703,县,城区",
           "370323,沂源供电中心,Yiyuan,3703,县,特殊边远"]
SHOTS = ("reference-preview", "reference-applied", "upload", "mapping", "dry-run", "saved", "imported", "overview")


def _day(back: int, hhmm: str) -> str:
    return f"{(TODAY - dt.timedelta(days=back)).isoformat()} {hhmm}:00"


def foreign_export() -> bytes:
    """A county company's repair/consultation log as its own system exports it: GBK, a title line, Chinese headers
    that no shipped mapping knows, supply units named as in the region tree; one order finished before it was
    registered and one from a unit the tree does not have."""
    rows = [
        ("1", "BX-0001", _day(12, "08:05"), _day(12, "10:40"), "历城供电中心", "95598", "故障报修"),
        ("2", "BX-0002", _day(11, "09:10"), _day(11, "09:50"), "历城供电中心", "网上国网", "电费咨询"),
        ("3", "BX-0003", _day(10, "14:00"), _day(10, "16:30"), "章丘供电中心", "95598", "故障报修"),
        ("4", "BX-0004", _day(9, "07:45"), "", "章丘供电中心", "营业厅", "居民新装"),
        ("5", "BX-0005", _day(8, "11:20"), _day(8, "13:00"), "历城供电中心", "95598", "故障报修"),
        ("6", "BX-0006", _day(6, "16:00"), _day(6, "15:00"), "章丘供电中心", "95598", "故障报修"),  # finished first
        ("7", "BX-0007", _day(5, "09:30"), _day(5, "10:00"), "高新区供电中心", "95598", "电费咨询"),  # not in the tree
        ("8", "BX-0008", _day(4, "10:30"), _day(4, "11:10"), "章丘供电中心", "网上国网", "电费咨询"),
    ]
    lines = ["济南某县供电公司 营销工单明细表（导出）", "序号,单据编号,登记时间,办结时间,所属单位,来源,诉求类型"]
    lines += [",".join(r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode("gbk")


def _cli(env: dict[str, str], *args: str) -> str:
    """One operator command; its stderr (the commands' messages) for the assertions."""
    done = subprocess.run([sys.executable, "-m", "data", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stderr


@pytest.fixture(scope="module")
def new_site(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What README / docs/onboarding.md have a new site run before anyone signs in: the schema, the province's
    row (the first account's scope) and the first administrator. No demo data, no SQL."""
    folder = tmp_path_factory.mktemp("onboarding")
    url = f"sqlite:///{folder / 'gridcx.db'}"
    env = {**os.environ, "DATABASE_URL": url, "GRIDCX_NEW_PASSWORD": PASSWORD, "LANG": "C.UTF-8"}
    _cli(env, "init")
    province = folder / "province.csv"
    province.write_text(f"{REGIONS_HEADER}\n{PROVINCE}\n", encoding="utf-8")
    _cli(env, "regions", "import", str(province))
    assert "created admin admin (scope 37)" in _cli(env, "user-add", "admin", "--role", "admin", "--region", "37",
                                                    "--name", "系统管理员")
    return url


@pytest.fixture(scope="module")
def server(new_site: str) -> Iterator[AppServer]:
    srv = AppServer(new_site)
    yield srv
    srv.stop()


def _shot(page: Any, name: str) -> None:
    assert name in SHOTS, name
    shot(page, "onboarding", name)


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


def _metrics(page: Any) -> dict[str, str]:
    return {m.locator("[data-testid='stMetricLabel']").inner_text().strip():
            m.locator("[data-testid='stMetricValue']").inner_text().strip()
            for m in page.locator("[data-testid='stMetric']").all()}


def _count(url: str, model: Any) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_a_new_site_from_an_empty_database_to_its_first_dashboard(browser: Any, server: AppServer, new_site: str,
                                                                  tmp_path: Path) -> None:
    log = ServerLog(ARTIFACTS / f"streamlit-{server.port}.log")
    log.mark()
    tree = tmp_path / "regions.csv"
    tree.write_text("\n".join([REGIONS_HEADER, *REGIONS]) + "\n", encoding="utf-8-sig")  # Excel's "CSV UTF-8"
    export = tmp_path / "县公司工单明细.csv"
    export.write_bytes(foreign_export())
    for stale in SCREENS.glob("onboarding-*.png"):
        stale.unlink()
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    page = ctx.new_page()

    # 1. sign in: a link to the admin page opened before signing in survives the login
    page.goto(f"{server.url}/reference")
    wait_idle(page)
    sign_in(page, "admin", PASSWORD)
    assert "/reference" in page.url
    page.get_by_text("区域 1 个 · 班组 0 个 · 人员 0 人").wait_for(timeout=60_000)
    check_screen(page, "reference data, province only")

    # 2. 基础数据: the region tree from a file, previewed (nothing written), then applied
    assert page.get_by_label("数据类型").input_value() == "区域"
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(tree))
    page.get_by_role("button", name="预览变更").wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    before = snapshot(get_engine(new_site), skip=())
    page.get_by_role("button", name="预览变更").click()
    page.get_by_text("新增 6 · 修改 0 · 不变 1").wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    text = check_screen(page, "reference data preview")
    assert "regions.csv\n（区域）的变更预览：" in text, text[:2000]
    changes = _cells(page.locator("[data-testid='stDataFrame']").last)  # the changes, below the tree
    assert [changes[i] for i in range(0, len(changes), 5)] == [c.split(",")[0] for c in REGIONS[1:]], changes
    assert snapshot(get_engine(new_site), skip=()) == before, "the preview changed the database"
    _shot(page, "reference-preview")
    page.get_by_role("button", name="应用变更").click()
    page.get_by_text("已应用 regions.csv：新增 6，修改 0。").wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    text = check_screen(page, "reference data applied")
    assert "区域 7 个 · 班组 0 个 · 人员 0 人" in text
    with get_engine(new_site).connect() as conn:
        tree_rows = {c: (lv, p) for c, lv, p in conn.execute(
            select(Region.code, Region.level, Region.parent_id))}
        ids = {c: i for c, i in conn.execute(select(Region.code, Region.id))}
    assert tree_rows == {"37": ("province", None), "3701": ("city", ids["37"]), "3703": ("city", ids["37"]),
                         "370112": ("county", ids["3701"]), "370114": ("county", ids["3701"]),
                         "370303": ("county", ids["3703"]), "370323": ("county", ids["3703"])}
    _shot(page, "reference-applied")

    # 3. 映射向导: the foreign file, what was detected
    go(page, "wizard")
    check_screen(page, "wizard before upload")
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(export))
    page.locator("[data-testid='stTable']").first.wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    check_screen(page, "wizard after upload")
    values = [v.inner_text().strip() for v in page.locator("[data-testid='stMetricValue']").all()]
    assert values[:4] == ["GB18030", "—", "2", "8"], values  # encoding, sheet, header row (below the title), rows
    table = " ".join(page.locator("[data-testid='stTable']").first.inner_text().split())
    for seen in ("单据编号 编码/编号 8 BX-0001 | BX-0002", "登记时间 日期/时间",
                 "所属单位 文本 8 历城供电中心 | 章丘供电中心"):
        assert seen in table, (seen, table)
    _shot(page, "upload")

    # 4. the mapping, field by field; units the tree does not know are refused (the default policy)
    for label, header in (("编号 *", "单据编号"), ("受理时间 *", "登记时间"), ("处理完成时间", "办结时间"),
                          ("区域 *", "所属单位"), ("渠道 *", "来源"), ("业务类型 *", "诉求类型")):
        _choose(page, label, header)
    check_screen(page, "wizard mapping built")
    assert page.get_by_label("处理方式", exact=True).input_value() == "拒收该行"
    code = page.locator("[data-testid='stCode']").first.inner_text()
    for part in ('"单据编号": "external_no"', '"办结时间": "resolved_at"', '"所属单位": "region"',
                 '"unknown": "reject"'):
        assert part in code, (part, code)
    _shot(page, "mapping")

    # 5. the dry run: the whole file checked, the same counts as the import, nothing written
    before = snapshot(get_engine(new_site), skip=())
    page.get_by_role("button", name="试运行（不写入）").click()
    page.get_by_text("试运行结果（未写入任何数据）").wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    text = check_screen(page, "wizard dry run")
    assert snapshot(get_engine(new_site), skip=()) == before, "the dry run changed the database"
    first, last = (TODAY - dt.timedelta(days=12)).isoformat(), (TODAY - dt.timedelta(days=4)).isoformat()
    assert f"数据时间范围：{first} 至 {last}" in text, text[:3000]
    assert "“所属单位”有 1 个未知区域（1 行被拒绝），例如：高新区供电中心。" in text, text[:3000]
    metrics = _metrics(page)
    assert [metrics[k] for k in ("读取行数", "新增", "更新", "未变化", "拒收")] == ["8", "6", "0", "0", "2"], metrics
    files = press_downloads(page, tmp_path, "wizard dry run")
    assert files == ["县公司工单明细.rejects.csv"], files
    rejects = list(csv.DictReader(io.StringIO(next(tmp_path.glob("*县公司工单明细.rejects.csv")).read_text(
        encoding="utf-8-sig"))))
    assert [(r["row"], r["column"], r["value"], r["reason_zh"]) for r in rejects] == [
        ("8", "办结时间", _day(6, "15:00"), "处理完成时间早于受理时间，不合逻辑"),
        ("9", "所属单位", "高新区供电中心", "未知区域（供电单位）")]
    shown = _cells(page.locator("[data-testid='stDataFrame']").last)
    assert shown == ["8", "办结时间", _day(6, "15:00"), "拒收", "处理完成时间早于受理时间，不合逻辑",
                     "9", "所属单位", "高新区供电中心", "拒收", "未知区域（供电单位）"], shown  # 问题清单, on screen
    _shot(page, "dry-run")

    # 6. the mapping saved as version 1 of a name (imports record the version they used)
    name_box = page.get_by_label("映射名称（字母、汉字、数字、_ 或 -）")
    name_box.fill("济南某县工单")
    name_box.press("Enter")
    wait_idle(page, 60_000)
    page.get_by_role("button", name="保存映射").click()
    page.get_by_text("映射已保存：济南某县工单（第 1 版）").wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    check_screen(page, "wizard saved")
    with get_engine(new_site).connect() as conn:
        assert conn.execute(select(ImportMapping.name, ImportMapping.version)).all() == [("济南某县工单", 1)]
    _shot(page, "saved")

    # 7. the import: what the dry run said
    page.get_by_role("button", name="正式导入").click()
    page.get_by_text("导入结果", exact=True).wait_for(timeout=60_000)
    wait_idle(page, 60_000)
    check_screen(page, "wizard imported")
    metrics = _metrics(page)
    assert [metrics[k] for k in ("读取行数", "新增", "更新", "未变化", "拒收")] == ["8", "6", "0", "0", "2"], metrics
    assert _count(new_site, Ticket) == 6
    with get_engine(new_site).connect() as conn:
        by_county = dict(conn.execute(select(Region.code, func.count()).join(Ticket, Ticket.region_id == Region.id)
                                      .group_by(Region.code)).all())
    assert by_county == {"370112": 3, "370114": 3}, by_county
    _shot(page, "imported")

    # 8. the overview shows them, and still does after a reload (the session survives it)
    go(page, "home")
    page.goto(f"{server.url}/?period=last_30_days")  # the orders span two calendar months
    wait_idle(page, 90_000)
    for when in ("overview after the first import", "overview after a reload"):
        tile = page.locator("[data-testid='stMetric']").filter(has_text="工单量").first
        tile.wait_for(timeout=90_000)
        text = check_screen(page, when)
        assert tile.locator("[data-testid='stMetricValue']").inner_text().strip() == "6", (when, text[:2000])
        if when.endswith("import"):
            _shot(page, "overview")
            page.reload()
            wait_idle(page, 90_000)
            assert "period=last_30_days" in page.url
    ctx.close()
    assert log.problems() == [], "server log"
    assert {p.name for p in SCREENS.glob("onboarding-*.png")} == {f"onboarding-{n}.png" for n in SHOTS}


def _cells(grid: Any) -> list[str]:
    """The cells of an st.dataframe, row by row (the grid draws on a canvas; its accessible table holds the text)."""
    grid.locator("[role='gridcell']").first.wait_for(state="attached", timeout=30_000)
    return [c.strip() for c in grid.locator("[role='gridcell']").all_text_contents()]
