"""Wide survey exports: one column per rated item, as questionnaire tools export them.

A responses mapping may carry an ``items`` block (this model). Each listed source column becomes one answer row
of the named questionnaire item; a source scale different from the item's is converted onto the item's scale by
the stated rule, and N/A codes become missing answers (never a value). The mapping model (``data.io.mapping``)
embeds :class:`SurveyItems`; the conversion itself lives beside it in this module (:func:`wide_answers`, pure:
text cells in, answer rows and problems out).

Rules (documented for the import summary, ``docs``/``KPIS.md`` §3):

* **Where the item's scale comes from.** The questionnaire's published definition (table ``survey_definition``):
  faces5/stars5 1–5, nps11 0–10, ces7 1–7, yesno, text. A questionnaire GridCX has no definition of (an imported
  one) takes the column's ``item_scale`` (or the block's); without one the source value is stored as it is.
* **Linear rule.** ``y = lo + (x − src_lo)·(hi − lo)/(src_hi − src_lo)``, computed exactly (fractions) and rounded to
  the nearest point of the item's scale; a value exactly halfway between two points goes to the higher one. The
  rule, and for a CSAT item which source points make its top-2-box (4–5, KPIS.md §3), are written into the summary.
  NPS is only computed from a 0–10 item: a column feeding an NPS item from another scale is refused.
* **Out of scale.** A value outside the SOURCE scale (or not a whole point of an integer scale, or not a number)
  rejects the row with the value and the allowed range; it is never clipped or guessed.
* **N/A codes** (block ``na`` and column ``na``, e.g. 0) become answer rows without a value (the item was asked and
  not rated), counted in the summary; an empty cell adds no answer row.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ITEM_KEY_MAX = 32  # characters of an item key (questionnaire files, answer rows, imports)
DIMENSION_MAX = 32  # characters of a dimension name (column answer.dimension)
# The numeric answer scales of the questionnaire definitions (surveys.definitions uses this table).
ITEM_SCALES: dict[str, tuple[int, int]] = {"faces5": (1, 5), "stars5": (1, 5), "nps11": (0, 10), "ces7": (1, 7)}
ROLE_FIELDS = ("csat", "nps", "ces", "fcr")  # item roles that fill a response column of the same name
CSAT_TOP_BOX = 4  # CSAT is the share of 4-5 on the 1-5 item (KPIS.md §3)


def _key_rule(key: str) -> str:
    if not key.strip():
        raise ValueError("an item key is empty")
    if len(key) > ITEM_KEY_MAX:
        raise ValueError(f"item key {key!r} is {len(key)} characters long: longer than {ITEM_KEY_MAX} characters")
    return key


def _scale_rule(scale: tuple[float, float] | None) -> tuple[float, float] | None:
    if scale is not None and not (math.isfinite(scale[0]) and math.isfinite(scale[1]) and scale[0] < scale[1]):
        raise ValueError(f"a scale is [lowest, highest] with lowest < highest, not {list(scale)}")
    return scale


class ItemColumn(BaseModel):
    """One source column of a wide export and the questionnaire item it answers."""

    model_config = ConfigDict(extra="forbid")

    item: str = Field(description=f"the item's key in the questionnaire (at most {ITEM_KEY_MAX} characters)")
    scale: tuple[float, float] | None = Field(
        default=None, description="this column's source scale [lowest, highest] when it differs from the block's")
    na: list[str | float] | None = Field(
        default=None, description="codes in this column that mean 'not applicable' (they become missing answers)")
    item_scale: tuple[float, float] | None = Field(
        default=None, description="the item's own scale, for a questionnaire GridCX has no definition of")
    dimension: str | None = Field(
        default=None, max_length=DIMENSION_MAX,
        description="the item's dimension, for a questionnaire GridCX has no definition of")
    role: Literal["csat", "nps", "ces", "fcr"] | None = Field(
        default=None, description="the response column the item fills, for a questionnaire GridCX has no "
                                  "definition of (e.g. csat for the overall satisfaction item)")

    @field_validator("item")
    @classmethod
    def _item(cls, v: str) -> str:
        return _key_rule(v)

    @field_validator("scale", "item_scale")
    @classmethod
    def _scales(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        return _scale_rule(v)


class SurveyItems(BaseModel):
    """Wide export -> answer rows: source column -> item, the source scale, N/A codes and the conversion rule."""

    model_config = ConfigDict(extra="forbid")

    columns: dict[str, ItemColumn] = Field(
        description="source header -> item key, or an object with the item key and column-specific settings")
    scale: tuple[float, float] | None = Field(
        default=None, description="the source scale [lowest, highest] of every column (e.g. [1, 10]); "
                                  "omitted when the export already uses the items' scales")
    na: list[str | float] = Field(
        default_factory=list, description="codes that mean 'not applicable' in every column (e.g. 0)")
    rule: Literal["linear"] = Field(
        default="linear", description="how a source scale maps onto the item's scale: 'linear' maps the source "
                                      "range onto the item's range, rounded to the nearest scale point")
    item_scale: tuple[float, float] | None = Field(
        default=None, description="the items' own scale, for a questionnaire GridCX has no definition of")

    @field_validator("scale", "item_scale")
    @classmethod
    def _scales(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        return _scale_rule(v)

    @field_validator("columns", mode="before")
    @classmethod
    def _short_form(cls, v: Any) -> Any:
        """``"header": "item_key"`` is short for ``"header": {"item": "item_key"}``."""
        return {h: {"item": c} if isinstance(c, str) else c for h, c in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _check(self) -> SurveyItems:
        if not self.columns:
            raise ValueError("items.columns lists no column")
        seen: dict[str, str] = {}
        for header, col in self.columns.items():
            k = col.item
            if k in seen:
                raise ValueError(f"item {k!r} is fed by two columns ({seen[k]!r} and {header!r})")
            seen[k] = header
        return self

    def column(self, header: str) -> ItemColumn:
        """The column's settings with the block's defaults filled in."""
        col = self.columns[header]
        return col.model_copy(update={
            "scale": col.scale or self.scale, "na": col.na if col.na is not None else self.na,
            "item_scale": col.item_scale or self.item_scale})


# --- conversion ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What the questionnaire's definition says about an item."""

    scale: str  # faces5 | stars5 | nps11 | ces7 | yesno | text
    role: str | None = None
    dimension: str | None = None


def targets(definition: dict[str, Any]) -> dict[str, Target]:
    """Item key -> :class:`Target` of a published definition (the JSON of table ``survey_definition``)."""
    return {str(i["key"]): Target(str(i.get("scale")), i.get("role"), i.get("dimension"))
            for i in definition.get("items") or [] if isinstance(i, dict) and "key" in i}


@dataclass(frozen=True)
class Conversion:
    """One item's scale conversion, as the summary states it."""

    item: str
    role: str | None
    src: tuple[float, float]
    dst: tuple[float, float]
    formula: str
    top_box: str | None  # source points that make a CSAT item's top-2-box


@dataclass
class WideResult:
    answers: pd.Series  # per row: list of {"item_key", "dimension", "value_num", "value_text"}
    roles: dict[str, pd.Series]  # role field -> the item's value per row (NaN when missing)
    problems: pd.DataFrame  # row, column, value, code, params, level
    na: int = 0  # N/A answers (valid and rejected rows alike: the caller counts the valid ones)
    na_rows: pd.Series = field(default_factory=lambda: pd.Series(dtype="int64"))  # N/A answers per row
    conversions: list[Conversion] = field(default_factory=list)
    role_columns: dict[str, str] = field(default_factory=dict)  # role field -> the source header that fills it


class ItemsConfigError(ValueError):
    """The block cannot be applied to this questionnaire (e.g. NPS from a scale other than 0-10)."""


def known_items(definition: dict[str, Target], shown: int = 8) -> str:
    """The first item keys of a questionnaire, for a message."""
    keys = list(definition)
    return ", ".join(keys[:shown]) + (f", … ({len(keys)} items)" if len(keys) > shown else "")


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _range(r: tuple[float, float]) -> str:
    return f"{_num(r[0])}–{_num(r[1])}"


def _convert(x: Fraction, src: tuple[Fraction, Fraction], dst: tuple[Fraction, Fraction]) -> int:
    y = dst[0] + (x - src[0]) * (dst[1] - dst[0]) / (src[1] - src[0])
    return math.floor(y + Fraction(1, 2))  # nearest point; exactly halfway goes up


def formula(src: tuple[float, float], dst: tuple[float, float]) -> str:
    """``y = 1 + (x − 1)·4/9`` for 1–10 onto 1–5."""
    f = (Fraction(str(dst[1])) - Fraction(str(dst[0]))) / (Fraction(str(src[1])) - Fraction(str(src[0])))
    factor = f"·{f.numerator}/{f.denominator}" if f.denominator != 1 else ("" if f == 1 else f"·{f.numerator}")
    x = "x" if src[0] == 0 else f"(x − {_num(src[0])})"
    head = "" if dst[0] == 0 else f"{_num(dst[0])} + "
    return f"y = {head}{x}{factor}"


def _top_box(src: tuple[float, float], dst: tuple[float, float]) -> str | None:
    """The source points whose converted value is in the CSAT top-2-box (4-5 on 1-5)."""
    if not (float(src[0]).is_integer() and float(src[1]).is_integer()):
        return None
    s = (Fraction(str(src[0])), Fraction(str(src[1])))
    d = (Fraction(str(dst[0])), Fraction(str(dst[1])))
    pts = [p for p in range(int(src[0]), int(src[1]) + 1) if _convert(Fraction(p), s, d) >= CSAT_TOP_BOX]
    return _range((pts[0], pts[-1])) if pts else None


def _is_na(s: pd.Series, codes: list[str | float]) -> pd.Series:
    from data.io.mapping import key

    num = pd.to_numeric(s, errors="coerce")
    out = pd.Series(False, index=s.index)
    labels = {key(c) for c in codes if isinstance(c, str)}
    numbers = [float(c) for c in codes if not isinstance(c, str)]
    numbers += [float(c) for c in codes if isinstance(c, str) and _as_float(c) is not None]
    if numbers:
        out |= num.isin(numbers)
    if labels:
        out |= s.map(lambda v: isinstance(v, str) and key(v) in labels).astype(bool)
    return out & s.notna()


def _as_float(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _problem(rows: pd.Series, column: str, values: pd.Series, code: str, params: dict[str, Any]) -> pd.DataFrame:
    """Rejects of one column; the message names the value (``{value}``) and the rule."""
    vals = values.astype(object).to_numpy()
    return pd.DataFrame({"row": rows.to_numpy(), "column": column, "value": vals, "code": code,
                         "params": [json.dumps({**params, "value": str(v)}, ensure_ascii=False) for v in vals],
                         "level": "error"})


def wide_answers(cells: pd.DataFrame, rows: pd.Series, items: SurveyItems,
                 definition: dict[str, Target] | None, questionnaire: str = "") -> WideResult:
    """The answer rows of a wide export's rows (all of one questionnaire version).

    ``cells`` holds the block's columns present in the file (cleaned text, NaN for empty), ``rows`` the file row
    numbers (same index), ``definition`` the questionnaire's items (None when GridCX has no definition of it: the
    block's own ``item_scale``/``dimension``/``role`` apply), ``questionnaire`` its name for messages
    ("repair v2"). Raises :class:`ItemsConfigError` for a block the questionnaire cannot take."""
    problems: list[pd.DataFrame] = []
    per_item: list[tuple[str, str | None, pd.Series, pd.Series, pd.Series]] = []  # item, dimension, num, text, given
    roles: dict[str, pd.Series] = {}
    role_columns: dict[str, str] = {}
    conversions: list[Conversion] = []
    na_rows = pd.Series(0, index=cells.index, dtype="int64")
    for header in [h for h in items.columns if h in cells]:
        col = items.column(header)
        s = cells[header]
        if definition is not None and col.item not in definition:
            shown = known_items(definition)
            given = s.notna()
            if given.any():
                problems.append(_problem(rows[given], header, s[given], "item_unknown",
                                         {"item": col.item, "survey": questionnaire, "known": shown}))
            continue
        tgt = definition[col.item] if definition is not None else None
        role = tgt.role if tgt is not None else col.role
        dimension = tgt.dimension if tgt is not None else col.dimension
        kind = "number" if tgt is None or tgt.scale in ITEM_SCALES else tgt.scale
        dst: tuple[float, float] | None = (
            tuple(map(float, ITEM_SCALES[tgt.scale])) if tgt is not None and tgt.scale in ITEM_SCALES  # type: ignore[assignment]
            else col.item_scale)
        src = col.scale or dst
        na = _is_na(s, col.na or [])
        na_rows += na.astype("int64")
        given = s.notna() & ~na
        value_num = pd.Series(np.nan, index=s.index, dtype="float64")
        value_text = pd.Series(None, index=s.index, dtype=object)
        if kind == "text":
            value_text = s.where(given, None).astype(object)
        elif kind == "yesno":
            from data.io.mapping import enums

            b = s.map(lambda v: enums()["bool"].get(_key(v)) if isinstance(v, str) else None)
            bad = given & b.isna()
            if bad.any():
                problems.append(_problem(rows[bad], header, s[bad], "item_not_yesno", {"item": col.item}))
            value_num = b.map({"true": 1.0, "false": 0.0}).astype("float64")
        else:
            if role == "nps" and src is not None and tuple(src) != (0.0, 10.0):
                raise ItemsConfigError(
                    f"column {header!r}: NPS is only computed from a 0–10 item (KPIS.md); this column's scale is "
                    f"{_range(src)}")
            num = pd.to_numeric(s.where(given), errors="coerce")
            notnum = given & (num.isna() | ~np.isfinite(num))
            if notnum.any():
                problems.append(_problem(rows[notnum], header, s[notnum], "item_not_number",
                                         {"item": col.item, "range": _range(src) if src else "",
                                          "na": _na_text(col.na)}))
            ok = given & ~notnum
            if src is not None:
                integral = float(src[0]).is_integer() and float(src[1]).is_integer()
                outside = ok & ((num < src[0]) | (num > src[1]))
                notpoint = ok & ~outside & (num != np.floor(num)) if integral else pd.Series(False, index=s.index)
                for mask, code in ((outside, "item_out_of_scale"), (notpoint, "item_not_point")):
                    if mask.any():
                        problems.append(_problem(rows[mask], header, s[mask], code, {
                            "item": col.item, "range": _range(src), "na": _na_text(col.na)}))
                ok = ok & ~outside & ~notpoint
            if src is not None and dst is not None and tuple(src) != tuple(dst):
                fs = (Fraction(str(src[0])), Fraction(str(src[1])))
                fd = (Fraction(str(dst[0])), Fraction(str(dst[1])))
                uniq = {v: float(_convert(Fraction(str(v)), fs, fd)) for v in num[ok].unique()}
                value_num = num.where(ok).map(uniq).astype("float64")
                conversions.append(Conversion(col.item, role, src, dst, formula(src, dst),
                                              _top_box(src, dst) if role == "csat" and dst == (1.0, 5.0) else None))
            else:
                value_num = num.where(ok).astype("float64")
        # an answer row wherever the cell is not empty: a value, an N/A code (no value) or a rejected value
        per_item.append((col.item, dimension, value_num, value_text, s.notna()))
        if role in ROLE_FIELDS and kind != "text":
            roles[role] = value_num
            role_columns[role] = header
    answers = _rows(per_item, cells.index)
    probs = pd.concat(problems, ignore_index=True) if problems else pd.DataFrame(
        columns=["row", "column", "value", "code", "params", "level"])
    return WideResult(answers, roles, probs, int(na_rows.sum()), na_rows, conversions, role_columns)


def _key(v: str) -> str:
    from data.io.mapping import key

    return key(v)


def _na_text(codes: list[str | float] | None) -> str:
    return ", ".join(_num(c) if not isinstance(c, str) else c for c in codes or []) or "—"


def _rows(per_item: list[tuple[str, str | None, pd.Series, pd.Series, pd.Series]], index: pd.Index) -> pd.Series:
    out: list[list[dict[str, Any]]] = [[] for _ in range(len(index))]
    for item, dim, num, txt, given in per_item:
        present = given.to_numpy(dtype=bool)
        nums = num.to_numpy(dtype="float64")
        txts = txt.to_numpy(dtype=object)
        for i in np.flatnonzero(present):
            v = nums[i]
            out[i].append({"item_key": item, "dimension": dim, "value_num": None if np.isnan(v) else float(v),
                           "value_text": txts[i] if isinstance(txts[i], str) else None})
    arr = np.empty(len(index), dtype=object)
    for row, answers in enumerate(out):
        arr[row] = answers
    return pd.Series(arr, index=index, dtype=object)
