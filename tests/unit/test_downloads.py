"""Every download control builds its file without re-running the page (a rerun after each click re-drew the HR page
and lost the next click in the browser journey)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_download_button_ignores_the_click_for_reruns() -> None:
    found = []
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr == "download_button":
                kw = {k.arg: k.value for k in node.keywords}
                on_click = kw.get("on_click")
                found.append(f"{path.name}:{node.lineno}")
                assert isinstance(on_click, ast.Constant) and on_click.value == "ignore", found[-1]
    assert len(found) >= 6, found
