"""Streamlit's own widget chrome and catalogue-labelled widgets follow the page language (issue 16.7)."""

from __future__ import annotations

import ast
from pathlib import Path

from dashboard.i18n import RELABELLED_PREFIXES, RELABELLED_WIDGETS, widget_chrome_css

ROOT = Path(__file__).resolve().parents[2]
LABELLED = {"selectbox", "multiselect", "radio", "pills", "segmented_control", "select_slider"}


def _calls() -> list[tuple[str, ast.Call]]:
    out = []
    for path in sorted((ROOT / "dashboard").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LABELLED:
                out.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return out


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_every_catalogue_labelled_widget_is_relabelled_on_a_language_switch() -> None:
    """A choice made in Chinese kept its Chinese label on the English page ("到达现场时限达标率" in the English KPI
    selector) until the widget's value was set again from the server: every widget with a format_func is listed."""
    found: set[str] = set()
    for where, call in _calls():
        if _kw(call, "format_func") is None:
            continue
        key = _kw(call, "key")
        assert key is not None, f"{where}: a labelled widget needs a key to be relabelled"
        if isinstance(key, ast.Constant):
            found.add(str(key.value))
        elif isinstance(key, ast.Name):  # a helper's parameter (page.policy_pack(key)): its callers' keys are listed
            continue
        else:  # an f-string key: its constant head must be a listed prefix
            assert isinstance(key, ast.JoinedStr) and isinstance(key.values[0], ast.Constant), where
            assert str(key.values[0].value).startswith(RELABELLED_PREFIXES), where
    found.discard("lang_select")  # the language switch itself
    assert found <= set(RELABELLED_WIDGETS), found - set(RELABELLED_WIDGETS)
    assert set(RELABELLED_WIDGETS) - found <= {"sq_pack"}, set(RELABELLED_WIDGETS) - found


def test_multiselects_offer_no_english_select_all_and_a_catalogue_placeholder() -> None:
    for where, call in _calls():
        if call.func.attr != "multiselect":  # type: ignore[attr-defined]
            continue
        sa = _kw(call, "select_all")
        assert isinstance(sa, ast.Constant) and sa.value is False, f"{where}: 'Select all' is English chrome"
        assert _kw(call, "placeholder") is not None, f"{where}: 'Choose options' is English chrome"


def test_upload_box_and_input_hints_are_drawn_from_the_catalogue() -> None:
    zh, en = widget_chrome_css("zh-CN"), widget_chrome_css("en")
    assert '"上传文件"' in zh and '"每个文件不超过 200 MB"' in zh
    assert '"Upload a file"' in en and '"Up to 200 MB per file"' in en
    assert '[data-testid="InputInstructions"] {display: none' in zh
