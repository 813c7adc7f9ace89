"""data.masking, function by function: the one place personal data is masked (the dashboard's drill-down and
archive, the survey pages and invitations all use it; tests/security/test_masking.py checks it by role)."""

from __future__ import annotations

import doctest

import pytest

from data import masking
from data.masking import mask_account, mask_address, mask_free_text, mask_name, mask_phone


def test_module_examples() -> None:
    assert doctest.testmod(masking).failed == 0


@pytest.mark.parametrize("value, expected", [
    ("13812345678", "138****5678"), ("+86 138-1234-5678", "138****5678"), ("+8613812345678", "138****5678"),
    ("8613812345678", "138****5678"), ("0537-2345678", "053****5678"), (13812345678, "138****5678"),
    ("12345", "****"), ("1", "****"), ("", ""), (None, ""), (float("nan"), ""), ("无", ""),
])
def test_mask_phone(value: object, expected: str) -> None:
    assert mask_phone(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("张三", "张*"), ("张三丰", "张**"), ("欧阳娜娜", "欧***"), ("张", "张*"), (" 张三 ", "张*"),
    ("", ""), ("  ", ""), (None, ""), (float("nan"), ""),
])
def test_mask_name(value: object, expected: str) -> None:
    assert mask_name(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("3700123456789", "370****789"), ("1234567", "123****567"), ("123456", "****"), ("12", "****"),
    ("", ""), (None, ""), (float("nan"), ""),
])
def test_mask_account(value: object, expected: str) -> None:
    assert mask_account(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("山东省济宁市任城区古槐路12号3单元", "山东省济宁市****"), ("济宁市任城区古槐路12号", "济宁市任城区****"),
    ("测试地址", "测试****"), ("甲", "甲****"), ("", ""), ("   ", ""), (None, ""),
])
def test_mask_address(value: object, expected: str) -> None:
    assert mask_address(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("请打13912345678或0537-2345678", "请打139****5678或053****5678"),
    ("手机 +86 139-1234-5678 找我", "手机 139****5678 找我"),
    ("身份证370802199001011234", "身份证3708**********1234"),
    ("身份证37080219900101123X", "身份证3708**********123X"),
    # long numbers that are not phone-shaped: the first three digits kept, the rest starred
    ("户号3700123456789", "户号370**********"), ("编号1234567890", "编号123*******"),
    ("电话12345678901234", "电话123***********"),
    ("2024年3月5日上午9点，等了40分钟", "2024年3月5日上午9点，等了40分钟"),
    ("", ""), (None, ""), (float("nan"), ""),
])
def test_mask_free_text(value: object, expected: str) -> None:
    assert mask_free_text(value) == expected


def test_free_text_hides_every_digit_run_it_masks() -> None:
    text = "客户13912345678，座机0537-2345678，户号3700123456789，身份证370802199001011234"
    out = mask_free_text(text)
    for secret in ("13912345678", "2345678", "3700123456789", "199001011234", "01234567"):
        assert secret not in out


def test_masking_is_written_in_one_place() -> None:
    """No application module defines its own mask_* function: data.masking is the one place (the drill-down, the
    archive, the survey pages, invitations, the HR reports and the satisfaction page's topic examples all use it;
    the metrics layer, which may not import ``data``, is handed the masker by its caller)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    own = []
    for pkg in ("dashboard", "data", "surveys", "reports", "metrics"):
        for path in (root / pkg).rglob("*.py"):
            if path == root / "data" / "masking.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            own += [f"{path.relative_to(root)}:{n.name}" for n in ast.walk(tree)
                    if isinstance(n, ast.FunctionDef) and n.name.startswith("mask_")]
    assert own == []
