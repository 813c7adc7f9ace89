"""A swarm of browser tabs that submit the login form of a running GridCX server at once (security issue 18).

``python -m tests.security.login_swarm '{"url": ..., "username": ..., "passwords": [...]}'`` opens one tab per
password (each tab its own websocket session), fills every form, submits all but the last together, then the last,
and prints as JSON what each tab shows: ``"refused"`` (the neutral message), ``"signed in"`` (the dashboard) or the
text of any other message. It uses Playwright's async API for real concurrency and runs as its own process, so it
never meets the test session's sync Playwright (which cannot nest).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys

from playwright.async_api import Page, async_playwright

NEUTRAL = "用户名或密码不正确，或账号暂时被锁定。"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
TIMEOUT = 90_000


async def _ready(page: Page, url: str, username: str, password: str) -> None:
    await page.goto(url)
    await page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=TIMEOUT)
    await page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=TIMEOUT)
    await page.get_by_label("用户名").fill(username, timeout=TIMEOUT)
    await page.get_by_label("密码").fill(password, timeout=TIMEOUT)


async def _shown(page: Page) -> str:
    await page.locator("[data-testid='stAlert'], [data-testid='stMetric']").first.wait_for(timeout=TIMEOUT)
    alerts = await page.locator("[data-testid='stAlert']").all_inner_texts()
    return "refused" if alerts == [NEUTRAL] else "; ".join(alerts) or "signed in"


async def swarm(url: str, username: str, passwords: list[str]) -> list[str]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=shutil.which("chromium") or shutil.which("chromium-browser"),
                                           headless=True, args=ARGS)
        try:
            # One context, so the app's scripts are fetched once; every tab is still its own session.
            context = await browser.new_context(locale="zh-CN", viewport={"width": 800, "height": 600})
            pages = [await context.new_page() for _ in passwords]
            await asyncio.gather(*(_ready(p, url, username, pw_) for p, pw_ in zip(pages, passwords, strict=True)))
            buttons = [p.get_by_role("button", name="登录") for p in pages]
            await asyncio.gather(*(b.click(timeout=TIMEOUT) for b in buttons[:-1]))
            await buttons[-1].click(timeout=TIMEOUT)  # the last password arrives among the others' checks
            return list(await asyncio.gather(*(_shown(p) for p in pages)))
        finally:
            await browser.close()


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    print(json.dumps(asyncio.run(swarm(spec["url"], spec["username"], spec["passwords"])), ensure_ascii=False))
