"""Personal data masking, in one place, by role.

Customers' names, phone numbers, account numbers (户号) and addresses are shown masked to every dashboard role:
nobody's job on the dashboard needs the full value (a 回访 call is placed from the follow-up system of record, and
the archive shows enough to recognise the customer). :data:`UNMASKED` says per role which fields are shown in full;
it is data, checked by the tests and printed in SECURITY.md. Free text (comments, notes) goes through one masker,
:func:`mask_free_text`: phone numbers (any separators, +86 / 0086, full-width digits), landlines, identity numbers
(spaced or not), account and other long numbers, and names the writer gives.

This module is the one place that masks personal data: the dashboard's drill-down and archive, the satisfaction
page's topic examples (``metrics.topics.topic_examples`` is handed :func:`mask_free_text`, since metrics may not
import data), the survey pages and invitations and the HR reports all call these functions. Staff names are not
masked here: they are not customer data (HR and the managers who assign follow-ups need them).

    >>> mask_phone("13812345678"), mask_name("张三丰"), mask_account("3700123456789"), mask_address("济宁市任城区古槐路12号")
    ('138****5678', '张**', '370****789', '济宁市任城区****')
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Any

FIELDS = ("name", "phone", "account_no", "address", "comment")
# role -> fields shown unmasked. Empty everywhere on purpose (see the module docstring and SECURITY.md).
UNMASKED: dict[str, frozenset[str]] = {"admin": frozenset(), "manager": frozenset(), "hr": frozenset()}

# --- free text --------------------------------------------------------------------------------------------------------
# Numbers in free text are found on a folded copy of the text (same length, so spans map back 1:1): every decimal
# digit becomes its ASCII digit (full-width １３８, Arabic-Indic, ...) and full-width or typographic separators their
# ASCII form (NFKC: ＋ （ ） － ． ＿ ideographic space; dashes and middle dots by hand). Only the masked spans are
# replaced in the original text, so the rest (Chinese punctuation included) stays as written.
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_DOTS = "\u00b7\u2022\u30fb\uff65"
_KEEP = frozenset(" -._()+Xx")


class _Fold(dict[int, int]):
    """``str.translate`` table built on demand: one code point in, one code point out."""

    def __missing__(self, cp: int) -> int:
        ch = chr(cp)
        out = cp
        if unicodedata.decimal(ch, None) is not None:
            out = ord(str(unicodedata.decimal(ch)))
        elif ch in _DASHES:
            out = ord("-")
        elif ch in _DOTS:
            out = ord(".")
        elif ch.isspace():
            out = ord(" ")
        else:
            n = unicodedata.normalize("NFKC", ch)
            if len(n) == 1 and n in _KEEP:
                out = ord(n)
        self[cp] = out
        return out


_FOLD = _Fold()
# one number: digit groups joined by up to three separators (space . - _ parentheses), an optional leading + or (,
# an optional trailing X (identity numbers); the caller decides from the digits what it is
_NUMBER = re.compile(r"(?<![0-9])\+?\(?[0-9]+(?:[ \-._()]{1,3}[0-9]+)*(?:[Xx](?![A-Za-z]))?")
_GROUPS = re.compile(r"[0-9]+")
# public service numbers that identify nobody and are common in comments
_PUBLIC = frozenset({"95598", "12345", "12398"})
_SELF_NAME = re.compile(r"(我叫|我是|我姓|本人)([\u4e00-\u9fff]{1,3})")  # "我叫张三" -> "我叫**"
_TITLES = "先生|女士|小姐|师傅|经理|阿姨|大爷|大姐|大哥|老师"
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
             "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤")
_TITLED = re.compile(rf"[{_SURNAMES}][\u4e00-\u9fff]?(?=(?:{_TITLES}))")  # "王师傅" -> "*师傅"


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _digits(value: str) -> str:
    """The decimal digits of ``value`` as ASCII (full-width and other scripts' digits folded)."""
    return "".join(str(unicodedata.decimal(ch)) for ch in value if unicodedata.decimal(ch, None) is not None)


def _national(digits: str, plus: bool = False) -> str:
    """``digits`` without a +86 / 0086 / 86 country prefix (86 alone only before a mobile number)."""
    if digits.startswith("0086") and len(digits) >= 11:
        return digits[4:]
    if digits.startswith("86") and (plus or (len(digits) == 13 and digits[2] == "1")):
        return digits[2:]
    return digits


def mask_phone(phone: object) -> str:
    """13812345678 -> 138****5678 (a +86 / 0086 prefix dropped); short numbers are masked entirely."""
    text = _text(phone)
    digits = _national(_digits(text), plus=text.lstrip().startswith(("+", "＋")))
    if len(digits) < 7:
        return "****" if digits else ""
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: object) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***; the first character kept."""
    s = _text(name).strip()
    return (s[0] + "*" * max(1, len(s) - 1)) if s else ""


def mask_account(acct: object) -> str:
    """3700123456789 -> 370****789; six characters or fewer are masked entirely."""
    s = _text(acct).strip()
    return s[:3] + "****" + s[-3:] if len(s) > 6 else ("****" if s else "")


def mask_address(address: object) -> str:
    """Keep the first part (street level at most), hide the rest: 济宁市任城区古槐路12号3单元 -> 济宁市任城区****."""
    text = _text(address).strip()
    if not text:
        return ""
    keep = min(6, max(1, len(text) // 2))
    return text[:keep] + "****"


def _mask_number(chunk: str) -> str | None:
    """The masked form of one number found in free text (folded), or None to leave it as written.

    Mobile numbers keep their first 3 and last 4 digits, landlines (0 + area code) likewise, identity numbers
    (18 characters, the last may be X) their first 4 and last 4; any other run of 7 or more digits (account, meter,
    card numbers) keeps its first 3; a shorter one with a run of 5-6 digits is starred out. Dates (2024-03-05,
    2024.3.5 10) and public service numbers (95598) stay."""
    lead = "(" if ")" not in chunk and "(" in chunk[:2] else ""
    body = chunk.lstrip("+(")
    x = body[-1] if body[-1] in "Xx" else ""
    groups = _GROUPS.findall(body)
    digits = "".join(groups)
    if x and len(digits) == 17:
        return lead + digits[:4] + "*" * 10 + digits[-3:] + x
    if len(groups) > 1 and len(groups[0]) == 4 and groups[0][:2] in ("19", "20") and all(
            len(g) <= 2 for g in groups[1:]):
        return None  # a date, perhaps with an hour
    d = _national(digits, plus=chunk.startswith("+"))
    if not d:
        return None  # a country prefix and nothing after it
    if len(d) == 11 and d[0] == "1":
        masked = f"{d[:3]}****{d[-4:]}"
    elif d[0] == "0" and 10 <= len(d) <= 12:
        masked = f"{d[:3]}****{d[-4:]}"
    elif len(d) == 18:
        masked = d[:4] + "*" * 10 + d[-4:]
    elif len(d) >= 7:
        masked = d[:3] + "*" * (len(d) - 3)
    elif max(map(len, groups)) >= 5 and d not in _PUBLIC:
        masked = "*" * len(d)
    else:
        return None
    return lead + masked + x


def mask_free_text(text: object, names: Iterable[str] = ()) -> str:
    """Comments and notes, the one masker for free text: phone numbers (mobile and landline, with any separators,
    +86 / 0086 prefixes, full-width digits), identity numbers (spaced or not), account and other long numbers, a
    name the writer gives ("我叫张三"), a surname before a form of address ("王师傅") and any ``names`` passed.
    See :func:`_mask_number` for what each kind of number keeps.

    >>> mask_free_text("我叫张三，电话138 1234 5678，户号 3700 1234 56789，王师傅等了3个小时")
    '我叫**，电话138****5678，户号 370**********，*师傅等了3个小时'
    >>> mask_free_text("身份证 370802 19900101 123X，手机＋８６ １３７－１２３４－５６７８")
    '身份证 3708**********123X，手机137****5678'
    """
    s = _text(text)
    if not s:
        return ""
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        s = s.replace(name, "***")
    folded = s.translate(_FOLD)
    parts: list[str] = []
    last = 0
    for m in _NUMBER.finditer(folded):
        masked = _mask_number(m.group(0))
        if masked is not None:
            parts += [s[last:m.start()], masked]
            last = m.end()
    s = "".join(parts) + s[last:]
    s = _SELF_NAME.sub(lambda m: m.group(1) + "*" * len(m.group(2)), s)
    return _TITLED.sub("*", s)


_MASKERS = {"name": mask_name, "phone": mask_phone, "account_no": mask_account, "address": mask_address,
            "comment": mask_free_text}


def for_role(role: str, field: str, value: Any) -> str:
    """``value`` as ``role`` may see it: masked unless :data:`UNMASKED` lists the field for the role. An unknown
    role (or a customer) gets everything masked."""
    if field not in _MASKERS:
        raise KeyError(field)
    if field in UNMASKED.get(role, frozenset()):
        return _text(value)
    return _MASKERS[field](value)
