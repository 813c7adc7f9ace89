"""Vectorised validation of one chunk: source columns -> typed fields, plus the rows' problems.

Nothing here touches the database except through the lookups passed in (:class:`Context`). A problem is one row
of a frame with columns ``row, column, value, code, params, level`` (``level`` error rejects the row, warning
only reports).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data import reference
from data.io.errors import FileError
from data.io.keys import parse_response_keys
from data.io.mapping import Mapping, enums, key
from data.io.reading import EXTRA, ROW
from data.io.spec import Field, KindSpec
from data.io.survey_items import (
    DIMENSION_MAX,
    ITEM_KEY_MAX,
    ROLE_FIELDS,
    Conversion,
    ItemsConfigError,
    Target,
    known_items,
    wide_answers,
)

PROBLEM_COLS = ["row", "column", "value", "code", "params", "level"]
_TZ_SUFFIX = r"(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})$"
_REF_KINDS = {"channel", "service_type", "segment"}


@dataclass
class Context:
    """Lookups and state that live across the chunks of one import."""

    mapping: Mapping
    spec: KindSpec
    headers: list[str]
    region_ids: dict[str, int]  # key(label) -> id for unique labels
    region_ambiguous: set[str]
    default_region: int | None
    now: dt.datetime
    sources: dict[str, list[str]] = field(default_factory=dict)  # field -> source headers present in the file
    present: set[str] = field(default_factory=set)  # fields present (file, constant or default)
    seen: dict[str, int] = field(default_factory=dict)  # external_no -> first row
    created_labels: dict[str, str] = field(default_factory=dict)  # key(region label) -> label to create
    # Responses: the published questionnaires' items ((key, version) -> item key -> Target), the wide block's
    # source headers in the file (block header -> file header), and what the summary reports.
    questionnaires: dict[tuple[str, int], dict[str, Target]] = field(default_factory=dict)
    item_headers: dict[str, str] = field(default_factory=dict)
    na_rows: dict[int, int] = field(default_factory=dict)  # file row -> N/A answers
    conversions: dict[tuple[str, tuple[float, float], tuple[float, float]], Conversion] = field(
        default_factory=dict)

    def __post_init__(self) -> None:
        keys = {key(h): h for h in self.headers}
        for src, fields in self.mapping.columns.items():
            h = keys.get(key(src))
            if h is None:
                continue
            for f in fields:
                self.sources.setdefault(f, []).append(h)
        self.present = set(self.sources) | set(self.mapping.constants) | set(self.mapping.defaults)
        if "region" in self.spec.by_name and self.default_region is not None:
            self.present.add("region")
        if "status" in self.spec.by_name:
            self.present.add("status")  # derived from the timestamps when the file has none
        items = self.mapping.items
        if items is not None and self.spec.kind == "responses":
            self.item_headers = {h: keys[key(h)] for h in items.columns if key(h) in keys}
            if self.item_headers:
                self.present.add("answers")
                self.present |= self._item_roles() - set(self.sources)

    def _item_roles(self) -> set[str]:
        """The response columns the wide block's items fill (csat ...): declared in the block, or the items' roles
        in the questionnaire the mapping names (any published one when the file names it per row)."""
        assert self.mapping.items is not None
        survey = self.mapping.constants.get("survey_key")
        defs = [d for (k, _v), d in self.questionnaires.items() if survey is None or k == survey]
        roles = set()
        for h in self.item_headers:
            col = self.mapping.items.column(h)
            roles |= {col.role} | {d[col.item].role for d in defs if col.item in d}
        return roles & set(ROLE_FIELDS)
    def label(self, fname: str) -> str:
        """The column name to show for a field: its source header, else the field name."""
        return self.sources.get(fname, [fname])[0]


def _problems(rows: pd.Series, column: str, values: pd.Series, code: str, params: dict[str, Any] | None = None,
              level: str = "error") -> pd.DataFrame:
    return pd.DataFrame({
        "row": rows.to_numpy(), "column": column, "value": values.astype(object).to_numpy(),
        "code": code, "params": json.dumps(params, ensure_ascii=False) if params else "", "level": level,
    })


def _clean(s: pd.Series, ctx: Context) -> pd.Series:
    if s.dtype != "str":
        s = s.astype(object).where(s.notna(), None).astype("str")
    s = s.str.strip()
    s = s.where(s != "", np.nan)
    if ctx.mapping.null_values:
        is_null = map_unique(s, lambda u: u.map(key).isin(ctx.mapping.null_values)).fillna(False).astype(bool)
        s = s.where(~is_null, np.nan)
    if ctx.mapping.unescape_formulas and s.str.startswith("'").any():
        from data.io.exporter import unescape

        s = unescape(s)
    return s


def map_unique(s: pd.Series, fn: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """Apply ``fn`` to the distinct values only (labels repeat a lot in service logs), then spread back."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = fn(pd.Series(np.asarray(uniques, dtype=object), dtype=object)).to_numpy(dtype=object)
    out = np.empty(len(s), dtype=object)
    out[:] = None
    ok = codes >= 0
    out[ok] = mapped[codes[ok]]
    return pd.Series(out, index=s.index, dtype=object).where(lambda x: x.notna(), np.nan)


def _lookup(s: pd.Series, table: dict[str, Any]) -> pd.Series:
    """Case/whitespace-insensitive dictionary lookup of each label (NaN when unknown or missing)."""
    return map_unique(s, lambda u: u.map(lambda v: table.get(key(v))))


def raw_field(df: pd.DataFrame, fname: str, ctx: Context) -> pd.Series:
    """The field's text per row: the first non-empty of its source columns, else its constant/default."""
    out: pd.Series | None = None
    for h in ctx.sources.get(fname, []):
        s = _clean(df[h], ctx)
        out = s if out is None else out.fillna(s)
    if out is None:
        out = pd.Series(np.nan, index=df.index, dtype="str")
        if fname in ctx.mapping.constants:
            out = pd.Series(str(ctx.mapping.constants[fname]), index=df.index, dtype="str")
    if fname in ctx.mapping.defaults:
        out = out.fillna(str(ctx.mapping.defaults[fname]))
    syn = ctx.mapping.values.get(fname)
    if syn:
        mapped = _lookup(out, {k: str(v) for k, v in syn.items()})
        out = mapped.where(mapped.notna(), out).astype("str")
    return out


def validate_chunk(df: pd.DataFrame, ctx: Context) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Returns (valid rows as a frame of staged columns, problems)."""
    spec = ctx.spec
    rows = df[ROW]
    probs: list[pd.DataFrame] = []
    out = pd.DataFrame({"row_no": rows.to_numpy()}, index=df.index)

    extra = df[EXTRA].notna()
    if extra.any():
        # Rows the CSV reader could not split into the header's columns: one problem each, nothing else.
        text = df["__text"] if "__text" in df else df[EXTRA]
        bad_rows = _problems(rows[extra], "*", text[extra], "extra_fields", {"expected": len(ctx.headers)})
        df = df[~extra]
        rows = rows[~extra]
        if not len(df):
            return pd.DataFrame(columns=["row_no"]), bad_rows
    else:
        bad_rows = None
    raw: dict[str, pd.Series] = {f.name: raw_field(df, f.name, ctx) for f in spec.fields if f.name in ctx.present}

    # Characters no database column should hold (PostgreSQL refuses NUL) and undecodable bytes.
    for fname, s in raw.items():
        bad = s.str.contains("\x00", regex=False, na=False) | s.str.contains("\ufffd", regex=False, na=False)
        if bad.any():
            probs.append(_problems(rows[bad], ctx.label(fname), s[bad], "bad_chars"))

    times: dict[str, pd.Series] = {}
    for f in spec.fields:
        if f.name not in raw:
            continue
        s = raw[f.name]
        label = ctx.label(f.name)
        if f.required and f.name not in ("status", "region"):
            miss = s.isna()
            if miss.any():
                probs.append(_problems(rows[miss], label, s[miss], "required", {"field": f.name}))
        if f.type == "datetime":
            val, bad, warn = parse_times(s, ctx.mapping.formats, ctx.mapping.zone, ctx.now)
            for code, mask in bad.items():
                if mask.any():
                    probs.append(_problems(rows[mask], label, s[mask], code, {"field": f.name}))
            if warn.any():
                probs.append(_problems(rows[warn], label, s[warn], "daymonth_swap", {"field": f.name}, "warning"))
            times[f.name] = val
            out[f.column] = val
        elif f.type in ("str", "text"):
            _check_len(s, f, rows, label, probs)
            out[f.column] = s
        elif f.type == "int":
            num = pd.to_numeric(s, errors="coerce")
            bad = s.notna() & (num.isna() | (num != np.floor(num)))
            _range(num, f, rows, label, s, bad, probs, "not_int")
            out[f.column] = num.where(~bad).round().astype("Int64")
        elif f.type == "float":
            num = pd.to_numeric(s, errors="coerce")
            bad = s.notna() & (num.isna() | ~np.isfinite(num))
            _range(num, f, rows, label, s, bad, probs, "not_number")
            out[f.column] = num.where(~bad).astype("float64")
        elif f.type == "bool":
            val = _lookup(s, enums()["bool"])
            bad = s.notna() & val.isna()
            if bad.any():
                probs.append(_problems(rows[bad], label, s[bad], "not_bool", {"field": f.name}))
            out[f.column] = val.map({"true": True, "false": False}).astype(object).where(val.notna(), None)
        elif f.type == "enum":
            assert f.enum is not None
            if f.enum in _REF_KINDS:
                kind = f.enum
                val = map_unique(s, lambda u, kind=kind: reference.normalise(kind, u))
            else:
                val = _lookup(s, enums()[f.enum])
            bad = s.notna() & pd.Series(val, index=s.index).isna()
            if bad.any():
                probs.append(_problems(rows[bad], label, s[bad], "unknown_value", {"field": f.name}))
            out[f.column] = pd.Series(val, index=s.index, dtype=object)
        elif f.type == "answers":
            if f.name not in ctx.sources:
                continue  # the wide block's items (below)
            parsed, reasons = parse_answers_explained(s)
            bad = s.notna() & parsed.isna()
            if bad.any():
                probs.append(pd.DataFrame({
                    "row": rows[bad].to_numpy(), "column": label, "value": s[bad].astype(object).to_numpy(),
                    "code": [reasons[i][0] for i in s.index[bad]],
                    "params": [json.dumps(reasons[i][1], ensure_ascii=False) for i in s.index[bad]],
                    "level": "error"}))
            out["answers"] = parsed
        elif f.type == "ref":
            _check_len(s, f, rows, label, probs)
            if f.ref == "region":
                _regions(s, ctx, rows, label, probs, out)
            else:
                out[f"{f.ref}_ref"] = s

    # Reserved keys (data.io.keys): a response key the export derived from a keyless row; parsed for matching.
    if spec.kind == "responses" and "external_no" in raw:
        rid, at, bad = parse_response_keys(raw["external_no"])
        if bad.any():
            probs.append(_problems(rows[bad], ctx.label("external_no"), raw["external_no"][bad], "reserved_key"))
        if rid.notna().any():
            out["key_rid"], out["key_at"] = rid, at

    # Status derived from the timestamps where the file gives none.
    if "status" in spec.by_name:
        st = out.get("status", pd.Series(None, index=df.index, dtype=object))
        derived = pd.Series("open", index=df.index, dtype=object)
        if "resolved_at" in times:
            derived = derived.where(times["resolved_at"].isna(), "resolved")
        if "closed_at" in times:
            derived = derived.where(times["closed_at"].isna(), "closed")
        out["status"] = st.where(raw.get("status", pd.Series(np.nan, index=df.index)).notna(), derived)

    # Timestamp order: a later step before an earlier one is rejected, never repaired.
    for earlier, later in spec.order:
        if earlier in times and later in times:
            a, b = times[earlier], times[later]
            bad = a.notna() & b.notna() & (b < a)
            if bad.any():
                probs.append(_problems(rows[bad], ctx.label(later), raw[later][bad], "order",
                                       {"field": later, "other": earlier}))
                month = pd.Timedelta(days=31)
                b_sw, a_sw = _swapped(raw[later][bad]), _swapped(raw[earlier][bad])
                aa, bb = a[bad], b[bad]
                fixes = ((b_sw >= aa) & (b_sw - aa <= month)) | ((a_sw <= bb) & (bb - a_sw <= month))
                hint = pd.Series(False, index=a.index)
                hint.loc[bad] = fixes.fillna(False).to_numpy()
                if hint.any():
                    probs.append(_problems(rows[hint], ctx.label(later), raw[later][hint], "daymonth_swap",
                                           {"field": later}, "warning"))

    # Fields the file does not carry get their defaults on new rows (never used to overwrite existing rows).
    for f in spec.fields:
        if f.default is not None and f.name not in ctx.present and f.column is not None:
            out[f.column] = f.default

    if spec.kind == "invitations":
        _invitation_columns(out, raw)
    if spec.kind == "responses" and ctx.item_headers:
        raw["answers"] = _wide(df, ctx, raw, rows, out, probs)
    elif spec.kind == "responses" and "answers" in out and ctx.questionnaires:
        _known_items(out, ctx, rows, probs)

    if spec.any_of:
        given = [raw[f] for f in spec.any_of if f in raw]
        empty = pd.concat(given, axis=1).isna().all(axis=1) if given else pd.Series(True, index=df.index)
        if empty.any():
            probs.append(_problems(rows[empty], "*", pd.Series("", index=df.index)[empty], "empty_response"))

    # Duplicates inside the file (across chunks): the first occurrence is kept, later ones are rejected.
    ext = raw["external_no"]
    has = ext.notna()
    dup_here = has & ext.duplicated(keep="first")
    prev = ext.map(ctx.seen) if ctx.seen else pd.Series(np.nan, index=ext.index)
    dup = dup_here | prev.notna()
    if dup.any():
        first_map = pd.Series(rows[has & ~dup_here].to_numpy(), index=ext[has & ~dup_here].to_numpy())
        first_row = prev.fillna(ext.map(first_map))
        probs.append(pd.DataFrame({
            "row": rows[dup].to_numpy(), "column": ctx.label("external_no"), "value": ext[dup].astype(object).to_numpy(),
            "code": "duplicate", "params": [f'{{"first": {int(x)}}}' for x in first_row[dup]], "level": "error",
        }))
    firsts = has & ~dup
    ctx.seen.update(zip(ext[firsts].tolist(), rows[firsts].tolist(), strict=True))

    if bad_rows is not None:
        probs.append(bad_rows)
    problems = pd.concat(probs, ignore_index=True) if probs else pd.DataFrame(columns=PROBLEM_COLS)
    rejected = problems.loc[problems["level"] == "error", "row"].unique()
    valid = out[~out["row_no"].isin(rejected)]
    if "__na" in valid:
        na = valid["__na"]
        ctx.na_rows.update(zip(valid["row_no"][na > 0].tolist(), na[na > 0].tolist(), strict=True))
        valid = valid.drop(columns="__na")
    return valid, problems


def _invitation_columns(out: pd.DataFrame, raw: dict[str, pd.Series]) -> None:
    """An imported invitation: a token placeholder no token can hash to (non-hex, derived from the number, so a
    re-import changes nothing) and, without an expiry in the file, INVITATION_DAYS after the send time."""
    import hashlib

    from data.io.spec import INVITATION_DAYS

    out["token_hash"] = map_unique(raw["external_no"], lambda u: u.map(
        lambda v: "imported:" + hashlib.sha256(str(v).encode("utf-8")).hexdigest()[:55]))
    sent = out["created_at"]
    given = out["expires_at"] if "expires_at" in out else pd.Series(pd.NaT, index=out.index, dtype="datetime64[us]")
    out["expires_at"] = given.fillna(sent + pd.Timedelta(days=INVITATION_DAYS)).astype("datetime64[us]")
    out["reusable"] = False


def _versions(out: pd.DataFrame, index: pd.Index) -> pd.Series:
    v = out["survey_version"] if "survey_version" in out else pd.Series(1, index=index)
    return pd.Series(v, index=index).astype("Int64")


def _wide(df: pd.DataFrame, ctx: Context, raw: dict[str, pd.Series], rows: pd.Series, out: pd.DataFrame,
          probs: list[pd.DataFrame]) -> pd.Series:
    """A wide export's item columns -> ``out["answers"]`` (answer rows per row) and the response columns its items
    fill (csat ...) where the file does not map them; returns a marker per row that has an answer with a value (for
    the "something was answered" rule)."""
    items = ctx.mapping.items
    assert items is not None
    cells = pd.DataFrame({h: _clean(df[fh], ctx) for h, fh in ctx.item_headers.items()}, index=df.index)
    survey = raw.get("survey_key", pd.Series(np.nan, index=df.index, dtype="str"))
    version = _versions(out, df.index)
    answers = pd.Series([[] for _ in range(len(df))], index=df.index, dtype=object)
    role_vals: dict[str, pd.Series] = {}
    role_headers: dict[str, str] = {}
    na = pd.Series(0, index=df.index, dtype="int64")
    keyed = survey.notna() & version.notna()
    groups = pd.DataFrame({"k": survey[keyed], "v": version[keyed]}).groupby(["k", "v"], sort=True).groups
    for (k, v), idx in groups.items():
        name = f"{k} v{v}"
        try:
            res = wide_answers(cells.loc[idx], rows.loc[idx], items, ctx.questionnaires.get((str(k), int(v))), name)
        except ItemsConfigError as exc:
            raise FileError("mapping_invalid", mapping=ctx.mapping.name, detail=str(exc)) from None
        answers.loc[idx] = res.answers
        na.loc[idx] = res.na_rows
        if len(res.problems):
            probs.append(res.problems)
        role_headers.update(res.role_columns)
        for role, vals in res.roles.items():
            role_vals.setdefault(role, pd.Series(np.nan, index=df.index, dtype="float64")).loc[idx] = vals
        for c in res.conversions:
            ctx.conversions.setdefault((c.item, c.src, c.dst), c)
    out["answers"] = answers
    out["__na"] = na
    for role, vals in role_vals.items():
        f = ctx.spec.by_name[role]
        if role in ctx.sources or role not in ctx.present:
            continue  # the file maps the column itself
        if f.type == "bool":
            out[f.column] = vals.map({1.0: True, 0.0: False}).astype(object).where(vals.notna(), None)
            continue
        _range(vals, f, rows, role_headers.get(role, role), vals, pd.Series(False, index=vals.index), probs, "not_int")
        out[f.column] = vals.round().astype("Int64")
    valued = answers.map(lambda a: any(x["value_num"] is not None or x["value_text"] is not None for x in a))
    return pd.Series(np.where(valued, "1", None), index=df.index, dtype="str")


def _known_items(out: pd.DataFrame, ctx: Context, rows: pd.Series, probs: list[pd.DataFrame]) -> None:
    """The answers column's item keys must be items of the row's questionnaire where GridCX has its definition."""
    survey = out["survey_key"] if "survey_key" in out else pd.Series(np.nan, index=out.index)
    version = _versions(out, out.index)
    recs = []
    for i, k, v, answers in zip(out.index, survey, version, out["answers"], strict=True):
        d = ctx.questionnaires.get((k, int(v))) if isinstance(k, str) and not pd.isna(v) else None
        if d is None or not isinstance(answers, list):
            continue
        unknown = [a["item_key"] for a in answers if a["item_key"] not in d]
        if unknown:
            recs.append((rows[i], unknown[0], {"item": unknown[0], "survey": f"{k} v{v}", "known": known_items(d)}))
    if recs:
        probs.append(pd.DataFrame({"row": [r[0] for r in recs], "column": ctx.label("answers"),
                                   "value": [r[1] for r in recs], "code": "item_unknown",
                                   "params": [json.dumps(r[2], ensure_ascii=False) for r in recs],
                                   "level": "error"}))


ANSWER_KEYS = {"item_key": (str, ITEM_KEY_MAX), "dimension": (str, DIMENSION_MAX), "value_num": (float, None),
               "value_text": (str, 4000)}


def _answer_list(text: str) -> tuple[list[dict[str, Any]] | None, str, dict[str, Any]]:
    """One cell of the ``answers`` column -> (its answer rows, "", {}), or (None, reason code, params) naming the
    rule the cell breaks."""
    try:
        items = json.loads(text)
    except ValueError as exc:
        return None, "answers_json", {"detail": str(exc).split(":")[0]}
    if not isinstance(items, list):
        return None, "answers_not_list", {}
    out = []
    for n, a in enumerate(items, start=1):
        if not isinstance(a, dict):
            return None, "answers_not_object", {"n": n}
        extra = sorted(set(a) - set(ANSWER_KEYS))
        if extra:
            return None, "answers_keys", {"n": n, "keys": ", ".join(extra), "allowed": ", ".join(ANSWER_KEYS)}
        if not isinstance(a.get("item_key"), str) or not a["item_key"].strip():
            return None, "answers_item_key", {"n": n}
        row: dict[str, Any] = {}
        for k, (typ, max_len) in ANSWER_KEYS.items():
            v = a.get(k)
            if v is None:
                row[k] = None
            elif typ is float:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                    return None, "answers_value", {"n": n, "item": str(a["item_key"])[:ITEM_KEY_MAX]}
                row[k] = float(v)
            elif not isinstance(v, str) or "\x00" in v:
                return None, "answers_text", {"n": n, "name": k}
            elif max_len is not None and len(v) > max_len:
                return None, "answers_too_long", {"n": n, "name": k, "max": max_len, "length": len(v)}
            else:
                row[k] = v
        out.append(row)
    return out, "", {}


def parse_answers_explained(s: pd.Series) -> tuple[pd.Series, dict[Any, tuple[str, dict[str, Any]]]]:
    """The ``answers`` column parsed per row: a list of answer rows, an empty list for an empty cell, NaN when the
    cell is not a valid JSON list of answers; and per invalid row (by index) its reason code and parameters."""
    arr = np.empty(len(s), dtype=object)
    reasons: dict[Any, tuple[str, dict[str, Any]]] = {}
    for i, (ix, v) in enumerate(zip(s.index, s.astype(object).where(s.notna(), None), strict=True)):
        if v is None:
            arr[i] = []
            continue
        arr[i], code, params = _answer_list(v)
        if arr[i] is None:
            reasons[ix] = (code, params)
    return pd.Series(arr, index=s.index, dtype=object), reasons


def parse_answers(s: pd.Series) -> pd.Series:
    """The ``answers`` column parsed per row (see :func:`parse_answers_explained`)."""
    return parse_answers_explained(s)[0]


def _check_len(s: pd.Series, f: Field, rows: pd.Series, label: str, probs: list[pd.DataFrame]) -> None:
    if f.max_len is None:
        return
    n = s.str.len()
    bad = n > f.max_len
    if bad.any():
        probs.append(pd.DataFrame({
            "row": rows[bad].to_numpy(), "column": label, "value": s[bad].astype(object).to_numpy(),
            "code": "too_long",
            "params": [json.dumps({"max": f.max_len, "length": int(x)}) for x in n[bad]], "level": "error",
        }))


def _range(num: pd.Series, f: Field, rows: pd.Series, label: str, s: pd.Series, bad: pd.Series,
           probs: list[pd.DataFrame], code: str) -> None:
    if bad.any():
        probs.append(_problems(rows[bad], label, s[bad], code, {"field": f.name}))
    ok = num.notna() & ~bad
    out = pd.Series(False, index=num.index)
    if f.lo is not None:
        out |= ok & (num < f.lo)
    if f.hi is not None:
        out |= ok & (num > f.hi)
    if out.any():
        lo = int(f.lo) if f.lo is not None and float(f.lo).is_integer() else f.lo
        hi = int(f.hi) if f.hi is not None and float(f.hi).is_integer() else f.hi
        probs.append(_problems(rows[out], label, s[out], "out_of_range", {"field": f.name, "lo": lo, "hi": hi}))


def _regions(s: pd.Series, ctx: Context, rows: pd.Series, label: str, probs: list[pd.DataFrame],
             out: pd.DataFrame) -> None:
    pol = ctx.mapping.policy("regions")
    unknown_policy = pol.get("unknown", "reject")
    k = map_unique(s, lambda u: u.map(key))
    ids = k.map(ctx.region_ids)
    amb = s.notna() & k.isin(ctx.region_ambiguous)
    if amb.any():
        probs.append(_problems(rows[amb], label, s[amb], "region_ambiguous"))
    missing = s.isna()
    unknown = s.notna() & ids.isna() & ~amb
    region_ref = pd.Series(np.nan, index=s.index, dtype=object)
    if missing.any():
        if ctx.default_region is not None:
            ids = ids.where(~missing, ctx.default_region)
        else:
            probs.append(_problems(rows[missing], label, s[missing], "required", {"field": "region"}))
    if unknown.any():
        if unknown_policy == "default" and ctx.default_region is not None:
            ids = ids.where(~unknown, ctx.default_region)
            probs.append(_problems(rows[unknown], label, s[unknown], "region_defaulted", None, "warning"))
        elif unknown_policy == "create":
            too_long = unknown & (s.str.len() > 32)
            if too_long.any():
                probs.append(_problems(rows[too_long], label, s[too_long], "too_long", {"max": 32}))
            ok = unknown & ~too_long
            for kk, label_value in zip(k[ok], s[ok], strict=True):
                ctx.created_labels.setdefault(kk, label_value)
            region_ref = k.map(ctx.created_labels).where(ok, np.nan)
        else:
            probs.append(_problems(rows[unknown], label, s[unknown], "unknown_region"))
    out["region_id"] = ids.astype("Int64")
    out["region_ref"] = region_ref


# --- timestamps ------------------------------------------------------------------------------------------------


def parse_times(s: pd.Series, formats: tuple[str, ...], zone: str,
                now: dt.datetime) -> tuple[pd.Series, dict[str, pd.Series], pd.Series]:
    """Parse text to naive UTC ``datetime64[us]``.

    Each format is tried on the values the previous ones left unparsed ("ISO8601", "excel" for serial day
    numbers, or a strftime pattern). A value carrying ``Z``/``UTC``/``GMT`` or an offset keeps it; a naive value
    is local time in ``zone``. Returns (values, {reason code: mask}, suspected day/month swap mask).
    """
    idx = s.index
    if s.dtype != "str":
        s = s.astype("str")
    has_tz = s.str.contains(_TZ_SUFFIX, regex=True).fillna(False).astype(bool)
    out = pd.Series(pd.NaT, index=idx, dtype="datetime64[us]")
    naive_mask = s.notna() & ~has_tz
    if naive_mask.any():
        base = s[naive_mask]
        naive = pd.Series(pd.NaT, index=base.index, dtype="datetime64[us]")
        for fmt in formats:
            rem = naive.isna()
            if not rem.any():
                break
            naive.loc[rem] = _parse(base[rem], fmt, aware=False)
        local = naive.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        out.loc[naive_mask] = local.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
        dst = pd.Series(False, index=idx)
        dst.loc[naive_mask] = naive.notna() & local.isna()
    else:
        dst = pd.Series(False, index=idx)
    if has_tz.any():
        tzs = s[has_tz]
        named = tzs.str.endswith("UTC") | tzs.str.endswith("GMT")
        if named.any():
            tzs = tzs.where(~named, tzs.str.slice(0, -3).str.rstrip() + "+00:00")
        aware = pd.Series(pd.NaT, index=tzs.index, dtype="datetime64[us]")
        for fmt in formats:
            rem = aware.isna()
            if not rem.any():
                break
            aware.loc[rem] = _parse(tzs[rem], fmt, aware=True)
        out.loc[has_tz] = aware
    unparsed = s.notna() & out.isna() & ~dst
    years = out.dt.year
    implausible = out.notna() & ((years < 1970) | (years > 2100))
    out = out.where(~implausible)
    bad = {"bad_datetime": unparsed, "dst_gap": dst, "implausible_date": implausible}
    # Suspected Excel day/month swap: in the future, while the swapped reading is not.
    limit = pd.Timestamp(now.replace(tzinfo=None)) + pd.Timedelta(days=1)
    future = out > limit
    warn = pd.Series(False, index=idx)
    if future.any():
        sw = _swapped(s[future])
        warn.loc[future] = (sw.notna() & (sw <= limit)).to_numpy()
    return out, bad, warn


def _parse(s: pd.Series, fmt: str, aware: bool) -> pd.Series:
    if fmt == "excel":
        if aware:
            return pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
        num = pd.to_numeric(s, errors="coerce")
        num = num.where((num > 1) & (num < 2958465))
        got = pd.to_datetime(num, unit="D", origin="1899-12-30", errors="coerce")
    elif aware:
        got = pd.to_datetime(s, format=fmt if fmt == "ISO8601" else fmt + "%z", errors="coerce", utc=True)
        got = got.dt.tz_localize(None)
    else:
        got = pd.to_datetime(s, format=fmt, errors="coerce")
        if getattr(got.dtype, "tz", None) is not None:
            got = got.dt.tz_convert("UTC").dt.tz_localize(None)
    return got.astype("datetime64[us]")


def _swapped(s: pd.Series) -> pd.Series:
    """The value read with day and month exchanged (naive), where that is a different valid date; else NaT."""
    m = s.astype("str").str.extract(r"^\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})")
    m2 = s.astype("str").str.extract(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
    y = m[0].fillna(m2[2])
    a = m[1].fillna(m2[0])
    b = m[2].fillna(m2[1])
    a_n, b_n = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    ok = a_n.notna() & b_n.notna() & (a_n <= 12) & (b_n <= 12) & (a_n != b_n)
    parts = pd.DataFrame({"year": pd.to_numeric(y, errors="coerce"), "month": b_n, "day": a_n}).where(ok)
    if not ok.any():
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    res = pd.to_datetime(parts[ok], errors="coerce").astype("datetime64[us]")
    return res.reindex(s.index)

