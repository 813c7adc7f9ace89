"""Personal data masking: the helpers in one place, by role, and in the pages' tables and exports."""

from __future__ import annotations

import pytest

from data import masking

pytestmark = pytest.mark.security


@pytest.mark.parametrize("field, value, expected", [
    ("phone", "13812345678", "138****5678"), ("phone", "+86 138-1234-5678", "138****5678"),
    ("phone", "0537-2345678", "053****5678"), ("phone", "12345", "****"), ("phone", None, ""),
    ("name", "张三", "张*"), ("name", "欧阳娜娜", "欧***"), ("name", "", ""),
    ("account_no", "3700123456789", "370****789"), ("account_no", "123", "****"),
    ("address", "济宁市任城区古槐路12号3单元", "济宁市任城区****"),
    ("comment", "请打13912345678或0537-2345678，身份证370802199001011234", None),
])
def test_masks_for_every_role(field: str, value: str | None, expected: str | None) -> None:
    for role in ("admin", "manager", "hr", "customer", "unknown"):
        got = masking.for_role(role, field, value)
        if expected is not None:
            assert got == expected, (role, field)
        else:
            assert "13912345678" not in got and "2345678" not in got and "199001011234" not in got
            assert "139****5678" in got


def test_no_role_sees_personal_data_unmasked() -> None:
    """Written down as data; SECURITY.md documents it. Changing it is a reviewed decision."""
    assert all(not fields for fields in masking.UNMASKED.values())



# --- free text: one masker (data.masking.mask_free_text) for every comment, note and example ---------------------

FREE_TEXT = [
    # mobile numbers, any separators, country prefixes, full-width forms
    ("电话13812345678请回电", "电话138****5678请回电"),
    ("电话138 1234 5678请回电", "电话138****5678请回电"),
    ("138-1234-5678", "138****5678"),
    ("138.1234.5678。", "138****5678。"),
    ("138_1234_5678", "138****5678"),
    ("(138)1234-5678", "138****5678"),
    ("138 - 1234 - 5678", "138****5678"),
    ("138—1234—5678", "138****5678"),
    ("手机 +86 139-8765-4321 找我", "手机 139****4321 找我"),
    ("+86(139)87654321", "139****4321"),
    ("0086 139 8765 4321", "139****4321"),
    ("8613987654321", "139****4321"),
    ("１３７１２３４５６７８", "137****5678"),
    ("电话：１３７　１２３４　５６７８，谢谢", "电话：137****5678，谢谢"),
    ("１３７－１２３４－５６７８", "137****5678"),
    ("＋８６ １３７．１２３４．５６７８", "137****5678"),
    # landlines with area codes
    ("座机0537-2345678", "座机053****5678"),
    ("座机（0537）2345678", "座机053****5678"),
    ("(0537) 234-5678", "053****5678"),
    ("010-8888 6666", "010****6666"),
    ("０５３７－２３４５６７８", "053****5678"),
    # resident identity numbers, spaced or not, X or x
    ("身份证370802199001011234", "身份证3708**********1234"),
    ("身份证37080219900101123X", "身份证3708**********123X"),
    ("身份证 370802 19900101 123X 的", "身份证 3708**********123X 的"),
    ("370 802 1990 0101 123x", "3708**********123x"),
    ("370802-1990-0101-1234", "3708**********1234"),
    ("３７０８０２１９９００１０１１２３Ｘ", "3708**********123X"),
    # account numbers and other long digit runs with separators
    ("户号 3700 0884 70", "户号 370*******"),
    ("户号3700123456789", "户号370**********"),
    ("户号 3700-0884-7012-3", "户号 370**********"),
    ("卡号6222 0212 3456 7890 123", "卡号622****************"),
    ("编号1234567890", "编号123*******"),
    ("邮编272000", "邮编******"), ("编号12345-6", "编号******"),
    # names the writer gives, names before a form of address, names passed by the caller
    ("我叫张三，王师傅没来", "我叫**，*师傅没来"),
    ("我是李小明", "我是***"),
    # what must stay readable
    ("2024年3月5日上午9点，等了40分钟", "2024年3月5日上午9点，等了40分钟"),
    ("2024-03-05 10:30 报修，2024.3.6 才来", "2024-03-05 10:30 报修，2024.3.6 才来"),
    ("２０２４－０３－０５停电", "２０２４－０３－０５停电"),
    ("电费 123.45 元，等了1-2小时", "电费 123.45 元，等了1-2小时"),
    ("打95598没人接，（很慢）", "打95598没人接，（很慢）"),
    # fragments: a bare prefix, a lone parenthesis or X, nothing to mask and nothing to fail on
    ("拨+86", "拨+86"), ("0086", "0086"), ("(1", "(1"), ("1X", "1X"), ("（）", "（）"),
    ("", ""), (None, ""), (float("nan"), ""),
]


@pytest.mark.parametrize("value, expected", FREE_TEXT)
def test_free_text_masks_every_format(value: object, expected: str) -> None:
    assert masking.mask_free_text(value) == expected


def test_free_text_leaves_no_long_digit_chain() -> None:
    """Whatever the format, no more than seven digits of one number survive (138****5678 keeps seven)."""
    import re
    import unicodedata

    for value, _ in FREE_TEXT:
        out = unicodedata.normalize("NFKC", masking.mask_free_text(value))
        for chain in re.findall(r"[0-9][0-9 .\-_()—]*[0-9]", out):
            digits = re.sub(r"\D", "", chain)
            assert len(digits) <= 7 or re.fullmatch(r"20\d\d[-.]\d{1,2}[-.]\d{1,2}( \d\d)?", chain), (value, out)


def test_free_text_masks_names_the_caller_knows() -> None:
    assert masking.mask_free_text("赵六来过，电话138 1234 5678", names=["赵六"]) == "***来过，电话138****5678"


def test_metrics_has_no_masker_of_its_own() -> None:
    """metrics may not import data, so it takes the masker from its caller instead of keeping a second one."""
    import inspect

    from metrics import topics

    assert not hasattr(topics, "mask_text")
    assert "mask" in inspect.signature(topics.topic_examples).parameters
