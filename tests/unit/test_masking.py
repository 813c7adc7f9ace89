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
    # long numbers that are not phone-shaped (the drill-down masked them before the code was folded here)
    ("户号3700123456789", "户号370****56789"), ("编号1234567890", "编号123****7890"),
    ("电话12345678901234", "电话123****8901234"),
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


def test_callers_use_the_shared_functions() -> None:
    """The drill-down and the survey tokens module hand out data.masking's functions, not copies of them."""
    from dashboard import drill
    from surveys import tokens

    assert drill.mask_name is mask_name and drill.mask_account is mask_account
    assert drill.mask_phone is mask_phone and drill.mask_address is mask_address
    assert drill.mask_free_text is mask_free_text
    assert tokens.mask_phone is mask_phone and tokens.mask_address is mask_address
    assert not hasattr(drill, "mask_comment")
