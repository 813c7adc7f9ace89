"""Browser timings of the manager dashboards (issue 6): a real ``streamlit run`` on the benchmark world, driven by
Chromium through Playwright; "ready" means Streamlit's script state is idle and the charts are drawn.

* ``browser_overview_ready``: from pressing 登录 to the overview page ready (fresh server process: cold caches).
* ``browser_filter_change``: in the same warm session, switching the period (本月 -> 上月 -> 本月 ...) until the page
  is ready again; the median of five changes.
* ``server_rss_after_all_pages``: the server's resident memory (VmRSS of the streamlit process) after every
  manager page was opened once with the default filters and once with the previous month.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PAGES = ("首页概览", "区域分析", "渠道分析", "服务质量", "满意度与驱动因素", "回访工单")


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (the streamlit server), from /proc."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        status = Path(f"/proc/{p}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024.0
    return total


@contextmanager
def _session(size: str, db: str) -> Iterator[tuple[Any, Any]]:
    """A server on the benchmark world and a logged-out Chromium page on it."""
    from playwright.sync_api import sync_playwright
    from sqlalchemy import text

    cache_dir = os.environ.get("GRIDCX_CACHE_DIR")
    from tests.bench.measures import NotBuilt, _engine, bench_database_url
    from tests.conftest import chromium_path
    from tests.e2e.conftest import ARTIFACTS, CHROMIUM_ARGS, AppServer

    if cache_dir is None:  # the test conftest points the fact snapshot at a throwaway folder; the bench server must
        os.environ.pop("GRIDCX_CACHE_DIR", None)  # read the world's own snapshot, as `make run` does

    chromium = chromium_path()
    if chromium is None:
        raise NotBuilt("chromium is not installed")
    engine = _engine(size, db)
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT value FROM site_setting WHERE key = 'demo.accounts'")).scalar()
    if raw is None:
        raise NotBuilt("the benchmark world has no demo accounts (run `make bench` prepare first)")
    password = next(pw for _role, name, pw in json.loads(raw) if name == "manager")
    ARTIFACTS.mkdir(exist_ok=True)
    server = AppServer(bench_database_url(size, db))
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000}, locale="zh-CN")
            page.set_default_timeout(180_000)
            page.goto(server.url)
            _idle(page)
            page.get_by_label("用户名").fill("manager")
            page.get_by_label("密码").fill(password)
            yield page, server
            browser.close()
    finally:
        server.stop()


def _idle(page: Any) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']")


def _ready(page: Any, marker: str) -> None:
    """The script ran to the end, ``marker`` is on the page and at least one chart is drawn."""
    page.get_by_text(marker).first.wait_for()
    _idle(page)
    page.locator("[data-testid='stVegaLiteChart'] canvas, [data-testid='stVegaLiteChart'] svg").first.wait_for()


def _login(page: Any) -> float:
    t0 = time.perf_counter()
    page.get_by_role("button", name="登录").click()
    _ready(page, "核心指标")
    return time.perf_counter() - t0


def _choose_period(page: Any, option: str) -> None:
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_text("统计期间", exact=True)).first
    box.click()
    page.get_by_role("option", name=option, exact=True).click()


def browser_overview_ready(size: str, db: str) -> dict[str, Any]:
    with _session(size, db) as (page, _server):
        return {"seconds": _login(page)}


def browser_filter_change(size: str, db: str) -> dict[str, Any]:
    with _session(size, db) as (page, _server):
        _login(page)
        times = []
        for option, label in (("上月", "月 · 对比"), ("本月", "截至"), ("上月", "月 · 对比"), ("本月", "截至"),
                              ("上月", "月 · 对比")):
            t0 = time.perf_counter()
            _choose_period(page, option)
            page.wait_for_timeout(50)  # let the rerun start before waiting for it to end
            _ready(page, label)
            times.append(time.perf_counter() - t0)
        return {"seconds": statistics.median(times), "all_seconds": times}


def server_rss_after_all_pages(size: str, db: str) -> dict[str, Any]:
    with _session(size, db) as (page, server):
        t0 = time.perf_counter()
        _login(page)
        for option in ("本月", "上月"):
            _choose_period(page, option)
            page.wait_for_timeout(50)
            _idle(page)
            for title in PAGES:
                page.locator("[data-testid='stSidebarNavLink']").filter(has_text=title).first.click()
                page.wait_for_timeout(50)
                _idle(page)
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "peak_rss_mb": _rss_mb(server.proc.pid), "server_rss": True}
