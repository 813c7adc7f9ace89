"""What every role's browser journey checks on every page (issue 16): no exception on screen, no catalogue key or
foreign widget chrome in the visible text, every download non-empty and readable, a clean server log."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ARTIFACTS, wait_idle

ROOT = Path(__file__).resolve().parents[2]
SCREENS = ARTIFACTS / "screens"
# Streamlit's own English words that must not reach a Chinese (or any) page: the widgets are configured or styled
# so these never show (dashboard/i18n.py).
CHROME = ("Select all", "Choose an option", "Choose options", "per file", "Press Enter to", "Drag and drop",
          "Page not found", "No results", "Browse files", "Running the app's main page")
BAD_LOG = re.compile(r"\bERROR\b|Traceback|Callable execution failed|Uncaught app exception")

# The text a person can see: text nodes whose element is displayed, not transparent and has a non-zero font size
# (the upload box's English words are kept in the DOM at font-size 0 and replaced by catalogue text).
_VISIBLE_TEXT_JS = """
() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  let n;
  while ((n = walker.nextNode())) {
    const el = n.parentElement;
    if (!el || !n.textContent.trim()) continue;
    if (el.closest('script,style,noscript')) continue;
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden' || parseFloat(cs.fontSize) === 0) continue;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) continue;  // none, or visually hidden for screen readers only
    out.push(n.textContent.trim());
  }
  return out.join('\\n');
}
"""


def catalogue_keys() -> set[str]:
    keys: set[str] = set()
    for name in ("zh_CN.json", "en.json"):
        keys |= set(json.loads((ROOT / "data" / "locales" / name).read_text(encoding="utf-8")))
    return {k for k in keys if "." in k}


KEYS = catalogue_keys()
KEY_LIKE = re.compile(r"\b[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+\b")


def visible_text(page: Any) -> str:
    return str(page.evaluate(_VISIBLE_TEXT_JS))


def check_screen(page: Any, where: str) -> str:
    """Fail on an exception element, a catalogue key or Streamlit's English chrome in the visible text."""
    assert page.locator("[data-testid='stException']").count() == 0, f"{where}: exception on screen"
    text = visible_text(page)
    keys = sorted({k for k in KEY_LIKE.findall(text) if k in KEYS})
    assert not keys, f"{where}: catalogue keys on screen: {keys}"
    chrome = [c for c in CHROME if c in text]
    assert not chrome, f"{where}: widget chrome in another language: {chrome}"
    return text


def shot(page: Any, role: str, name: str) -> Path:
    """The whole page: Streamlit scrolls its main section, not the document, so the viewport is stretched to the
    section's height for the picture (at most 6,000 px) and put back."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{role}-{name}.png"
    size = page.viewport_size
    height = int(page.evaluate("Math.max(...[...document.querySelectorAll("
                               "'[data-testid=stMain], [data-testid=stSidebarContent]')].map(e => e.scrollHeight), 0)"))
    if size and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(height + 40, 6000)})
        page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    if size and height > size["height"]:
        page.set_viewport_size(size)
    return path


def check_download(path: Path, filename: str) -> None:
    """The file is not empty and opens as what its name says."""
    data = path.read_bytes()
    assert data, f"{filename}: empty download"
    low = filename.lower()
    if low.endswith(".csv"):
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows and rows[0], f"{filename}: no header"
        for row in rows:
            for cell in row:
                assert not (cell[:1] in "=+-@" and len(cell) > 1 and not _number(cell)), \
                    f"{filename}: formula-like cell {cell!r} not neutralised"
    elif low.endswith(".xlsx"):
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True)
        assert wb.sheetnames, f"{filename}: no sheet"
    elif low.endswith(".pdf"):
        from pypdf import PdfReader

        reader = PdfReader(io.BytesIO(data))
        assert len(reader.pages) >= 1 and reader.pages[0].extract_text().strip(), f"{filename}: PDF without text"
    elif low.endswith(".zip"):
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.namelist(), f"{filename}: empty archive"


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def press_downloads(page: Any, tmp: Path, where: str, limit: int = 8) -> list[str]:
    """Press every download control on the page (up to ``limit``); each file is saved and opened."""
    names: list[str] = []
    buttons = page.locator("[data-testid='stDownloadButton'] button")
    for i in range(min(buttons.count(), limit)):
        btn = buttons.nth(i)
        if not btn.is_enabled():
            continue
        label = btn.inner_text()
        try:
            with page.expect_download(timeout=60_000) as info:
                btn.click()
        except Exception as exc:  # noqa: BLE001 - say which control failed
            raise AssertionError(f"{where}: the download {label!r} gave no file ({exc.__class__.__name__})") from exc
        dl = info.value
        assert dl.failure() is None, f"{where}: download failed: {dl.failure()}"
        target = tmp / f"{len(names)}-{dl.suggested_filename}"
        dl.save_as(target)
        check_download(target, dl.suggested_filename)
        names.append(dl.suggested_filename)
        wait_idle(page, 60_000)
    return names


def press_tabs(page: Any, where: str) -> int:
    tabs = page.locator("[data-baseweb='tab-list'] [role='tab'], [data-testid='stTabs'] [role='tab']")
    n = tabs.count()
    for i in range(n):
        tabs.nth(i).click()
        wait_idle(page, 60_000)
        check_screen(page, f"{where} tab {i}")
    return n


class ServerLog:
    """The part of a server's log written since ``mark()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def problems(self) -> list[str]:
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            fh.seek(self.offset)
            return [line.rstrip() for line in fh if BAD_LOG.search(line)]
