"""Translation catalogues (zh-CN default, English complete) and zh-CN/English number, date and duration formats.

The catalogues are flat JSON files in ``data/locales/`` (key -> text with ``{name}`` placeholders). They live in the
data layer because every layer shows text: import reject reasons, survey messages, reports and pages.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

from babel.numbers import format_decimal, format_percent

CATALOGUE_DIR = Path(__file__).resolve().parent / "locales"
LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
_FILES = {"zh-CN": "zh_CN.json", "en": "en.json"}
_BABEL = {"zh-CN": "zh_Hans_CN", "en": "en_US"}


@cache
def catalogue(lang: str) -> dict[str, str]:
    with open(CATALOGUE_DIR / _FILES[lang], encoding="utf-8") as fh:
        data: dict[str, str] = json.load(fh)
    return data


def normalise_lang(lang: str | None) -> str:
    if not lang:
        return DEFAULT_LANG
    low = lang.lower().replace("_", "-")
    if low.startswith("zh"):
        return "zh-CN"
    if low.startswith("en"):
        return "en"
    return DEFAULT_LANG


def translate(key: str, lang: str = DEFAULT_LANG, **kwargs: object) -> str:
    """The text for ``key`` in ``lang``; a missing key falls back to zh-CN, then shows the key itself."""
    lang = normalise_lang(lang)
    text = catalogue(lang).get(key)
    if text is None:
        text = catalogue(DEFAULT_LANG).get(key, key)
    return text.format(**kwargs) if kwargs else text


def fmt_percent(value: float | None, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format_percent(value, format="#,##0." + "0" * digits + "%", locale=_BABEL[normalise_lang(lang)])


def fmt_number(value: float | None, lang: str = DEFAULT_LANG, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=_BABEL[normalise_lang(lang)])


def fmt_duration(minutes: float | None, lang: str = DEFAULT_LANG) -> str:
    """A duration in minutes as "1小时25分" / "1 h 25 min"; days appear from 24 h on."""
    if minutes is None or (isinstance(minutes, float) and math.isnan(minutes)):
        return "—"
    total = int(round(minutes))
    days, rem = divmod(total, 1440)
    hours, mins = divmod(rem, 60)
    zh = normalise_lang(lang) == "zh-CN"
    parts: list[str] = []
    if days:
        parts.append(f"{days}天" if zh else f"{days} d")
    if hours:
        parts.append(f"{hours}小时" if zh else f"{hours} h")
    if mins or not parts:
        parts.append(f"{mins}分" if zh else f"{mins} min")
    return "".join(parts) if zh else " ".join(parts)
