"""Personal data masking, in one place, by role.

Customers' names, phone numbers, account numbers (户号) and addresses are shown masked to every dashboard role:
nobody's job on the dashboard needs the full value (a 回访 call is placed from the follow-up system of record, and
the archive shows enough to recognise the customer). :data:`UNMASKED` says per role which fields are shown in full;
it is data, checked by the tests and printed in SECURITY.md. Free text (comments, notes) has phone numbers, identity
numbers and other long numbers (account numbers) masked.

This module is the one place that masks personal data: the dashboard's drill-down and archive, the survey pages and
invitations and the HR reports all call these functions.

    >>> mask_phone("13812345678"), mask_name("张三丰"), mask_account("3700123456789"), mask_address("济宁市任城区古槐路12号")
    ('138****5678', '张**', '370****789', '济宁市任城区****')
"""

from __future__ import annotations

import math
import re
from typing import Any

FIELDS = ("name", "phone", "account_no", "address", "comment")
# role -> fields shown unmasked. Empty everywhere on purpose (see the module docstring and SECURITY.md).
UNMASKED: dict[str, frozenset[str]] = {"admin": frozenset(), "manager": frozenset(), "hr": frozenset()}

_PHONE_LIKE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(?:1\d{2}[- ]?\d{4}[- ]?\d{4}|0\d{2,3}-?\d{7,8})(?!\d)")
_ID_LIKE = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")  # 18-digit resident identity numbers
# any other number of ten or more digits (account numbers, phone numbers run into other digits): the drill-down's
# comment pattern before the masking code was folded here, kept so that nothing it hid is shown now
_LONG_NUMBER = re.compile(r"1\d{10}|\d{3,4}-?\d{7,8}")
_DIGIT_RUN = re.compile(r"\d{5,}")  # what is left of account numbers and the like
_SELF_NAME = re.compile(r"(我(?:叫|是|姓))([\u4e00-\u9fff]{1,3})")  # "我叫张三" -> "我叫**"


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def mask_phone(phone: object) -> str:
    """13812345678 -> 138****5678 (a +86 prefix dropped); short numbers are masked entirely."""
    digits = "".join(ch for ch in _text(phone) if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
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


def mask_free_text(text: object) -> str:
    """Comments and notes: identity numbers, phone numbers and other long numbers inside the text are masked, any
    digit run of five or more left after that is starred out, and a name the writer gives ("我叫张三") is masked.

    >>> mask_free_text("我叫张三，电话13812345678，户号 3700123456789，等了3个小时")
    '我叫**，电话138****5678，户号 370*********，等了3个小时'
    """
    s = _text(text)
    s = _ID_LIKE.sub(lambda m: m.group(0)[:4] + "**********" + m.group(0)[-4:], s)
    s = _PHONE_LIKE.sub(lambda m: mask_phone(m.group(0)), s)
    s = _LONG_NUMBER.sub(lambda m: mask_phone(m.group(0)), s)
    s = _DIGIT_RUN.sub(lambda m: "*" * len(m.group(0)), s)
    return _SELF_NAME.sub(lambda m: m.group(1) + "*" * len(m.group(2)), s)


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
