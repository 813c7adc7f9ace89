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
from data.io import times
from data.io.errors import FileError
from data.io.keys import parse_response_keys
from data.io.mapping import DEFAULT_ZONE, UNITS, Mapping, Options, enums, key, zone_ok
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
_NO_OPTIONS = Options()
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
    parts: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # field -> (date header, time header)
    plans: dict[str, times.DatePlan] = field(default_factory=dict)  # source header -> the whole file's date order
    # Import-level notes (rules applied, assumptions): (code, column) -> params, counts summed over chunks.
    notes: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    kept: set[str] = field(default_factory=set)  # free text fields that receive unknown labels (values.keep_in)
    # The zone of naive times when the mapping states none (the site's reporting zone, data.settings.site_zone).
    site_zone: str = DEFAULT_ZONE

    def __post_init__(self) -> None:
        keys = {key(h): h for h in self.headers}
        self.header_of = keys
        for src, fields in self.mapping.columns.items():
            h = keys.get(key(src))
            if h is None:
                continue
            for f in fields:
                self.sources.setdefault(f, []).append(h)
        for fname, p in self.mapping.parts.items():
            if key(p.date) in keys:
                self.parts[fname] = (keys[key(p.date)], keys.get(key(p.time)) if p.time else None)
        self.kept = {pol.keep_in for pol in self.mapping.value_policies.values() if pol.keep_in}
        self.present = (set(self.sources) | set(self.parts) | set(self.mapping.constants)
                        | set(self.mapping.defaults) | (self.kept & set(self.spec.by_name)))
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
        if "wait_seconds" in self.present:
            self.present.add("answered_at")  # queued_at + wait where the file gives no answer time
        if "answered" in self.present:
            self.present.add("abandoned")  # not answered, where the file gives no abandoned flag

    def _item_roles(self) -> set[str]:
        """The response columns the wide block's items fill (csat ...): declared in the block, or the items' roles
        in the questionnaire the mapping names (any published one when the file names it per row)."""
        assert self.mapping.items is not None
        survey = self.mapping.constants.get("survey_key")
        defs = [d for (k, _v), d in self.questionnaires.items() if survey is None or k == survey]
        roles: set[str | None] = set()  # None: an item without a role
        for h in self.item_headers:
            col = self.mapping.items.column(h)
            roles |= {col.role} | {d[col.item].role for d in defs if col.item in d}
        return set(ROLE_FIELDS) & roles

    def label(self, fname: str) -> str:
        """The column name to show for a field: its source header, else the field name."""
        if fname in self.parts:
            return self.parts[fname][0]
        return self.sources.get(fname, [fname])[0]

    def note(self, code: str, column: str, n: int = 0, **params: Any) -> None:
        """Record an import-level note once per (code, column); ``n`` adds up over the chunks."""
        cur = self.notes.setdefault((code, column), {"column": column, "n": 0, **params})
        cur["n"] += n

    def time_sources(self, df: pd.DataFrame, fname: str) -> list[tuple[str, pd.Series, Options, pd.Series | None]]:
        """The sources of a time field in priority order: (label, cleaned text, options, time-of-day text)."""
        out: list[tuple[str, pd.Series, Options, pd.Series | None]] = []
        if fname in self.parts:
            d, t = self.parts[fname]
            o = self.mapping.opts(d)
            out.append((d, _clean(df[d], self, o), o, _clean(df[t], self, self.mapping.opts(t)) if t else None))
        for h in self.sources.get(fname, []):
            o = self.mapping.opts(h)
            out.append((h, _clean(df[h], self, o), o, None))
        if not out and fname in self.mapping.constants:
            out.append((fname, pd.Series(str(self.mapping.constants[fname]), index=df.index, dtype="str"),
                        _NO_OPTIONS, None))
        if fname in self.mapping.defaults:
            out.append((fname, pd.Series(str(self.mapping.defaults[fname]), index=df.index, dtype="str"),
                        _NO_OPTIONS, None))
        return out

    def stated_order(self, o: Options) -> str | None:
        return times.stated_order(o.date_order or self.mapping.date_order, o.formats or self.mapping.formats)

    def plan(self, label: str, s: pd.Series, rows: pd.Series, o: Options) -> times.DatePlan:
        if label in self.plans:
            return self.plans[label]
        return times.plan(times.date_stats(s, rows), self.stated_order(o))


def _problems(rows: pd.Series, column: str, values: pd.Series, code: str, params: dict[str, Any] | None = None,
              level: str = "error") -> pd.DataFrame:
    return pd.DataFrame({
        "row": rows.to_numpy(), "column": column, "value": values.astype(object).to_numpy(),
        "code": code, "params": json.dumps(params, ensure_ascii=False) if params else "", "level": level,
    })


def _clean(s: pd.Series, ctx: Context, opts: Options = _NO_OPTIONS) -> pd.Series:
    if s.dtype != "str":
        s = s.astype(object).where(s.notna(), None).astype("str")
    s = s.str.strip()
    s = s.where(s != "", np.nan)
    if ctx.mapping.null_values:
        is_null = map_unique(s, lambda u: u.map(key).isin(ctx.mapping.null_values)).fillna(False).astype(bool)
        s = s.where(~is_null, np.nan)
    if opts.na:  # the column's own N/A codes (a number also matches as a number: 0 = 0.0 = "00")
        def na(u: pd.Series) -> pd.Series:
            nums = pd.to_numeric(u, errors="coerce")
            return u.map(key).isin(opts.na) | nums.isin(list(opts.na_numbers))

        is_na = map_unique(s, na).fillna(False).astype(bool)
        s = s.where(~is_na, np.nan)
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


def raw_field(df: pd.DataFrame, fname: str, ctx: Context, before: dict[str, pd.Series] | None = None) -> pd.Series:
    """The field's text per row: the first non-empty of its source columns (numbers converted to the field's unit,
    a date and a time column joined), else its constant/default, with the mapping's value synonyms applied
    (``before`` receives the text before them)."""
    out: pd.Series | None = None
    if fname in ctx.parts:
        d, t = ctx.parts[fname]
        out = _clean(df[d], ctx, ctx.mapping.opts(d))
        if t is not None:
            out = out.str.cat(_clean(df[t], ctx, ctx.mapping.opts(t)), sep=" ", na_rep="").str.strip()
    seconds = fname.endswith("_seconds")
    for h in ctx.sources.get(fname, []):
        o = ctx.mapping.opts(h)
        s = _clean(df[h], ctx, o)
        if o.unit or seconds:
            s = to_seconds(s, UNITS[o.unit or "seconds"])
        out = s if out is None else out.fillna(s)
    if out is None:
        out = pd.Series(np.nan, index=df.index, dtype="str")
        if fname in ctx.mapping.constants:
            out = pd.Series(str(ctx.mapping.constants[fname]), index=df.index, dtype="str")
    if fname in ctx.mapping.defaults:
        out = out.fillna(str(ctx.mapping.defaults[fname]))
    if before is not None:
        before[fname] = out
    syn = ctx.mapping.values.get(fname)
    if syn:
        mapped = _lookup(out, {k: str(v) for k, v in syn.items()})
        out = mapped.where(mapped.notna(), out).astype("str")
    return out


def to_seconds(s: pd.Series, factor: float) -> pd.Series:
    """Numbers in a unit -> seconds as text; ``H:MM:SS`` / ``MM:SS`` durations -> seconds. Anything else is kept
    (and rejected as not a number later)."""
    colon = s.str.contains(":", regex=False).fillna(False).astype(bool)
    if factor == 1 and not colon.any():
        return s  # seconds already, no H:MM:SS: nothing to convert
    num = pd.to_numeric(s.where(~colon), errors="coerce") * factor
    if colon.any():
        hms = s[colon].str.extract(r"^(?:(\d+):)?(\d{1,2}):(\d{2}(?:\.\d+)?)$")
        dur = (pd.to_numeric(hms[0], errors="coerce").fillna(0) * 3600 + pd.to_numeric(hms[1], errors="coerce") * 60
               + pd.to_numeric(hms[2], errors="coerce"))
        num = num.fillna(dur.reindex(s.index))
    return num.astype("str").where(num.notna(), s).astype("str")


def scan_dates(df: pd.DataFrame, ctx: Context) -> dict[str, times.DateStats]:
    """The date-order evidence of every time source of a chunk (for a whole-file decision over several chunks)."""
    out: dict[str, times.DateStats] = {}
    for f in ctx.spec.fields:
        if f.type != "datetime" or f.name not in ctx.present:
            continue
        for label, s, _o, _t in ctx.time_sources(df, f.name):
            st = times.date_stats(s, df[ROW])
            out[label] = out[label].merge(st) if label in out else st
    return out


def set_plans(ctx: Context, stats: dict[str, times.DateStats]) -> None:
    """Fix each time column's date order from the whole file's evidence."""
    for label, st in stats.items():
        ctx.plans[label] = times.plan(st, ctx.stated_order(ctx.mapping.opts(label)))


def _zones(df: pd.DataFrame, o: Options, ctx: Context, rows: pd.Series, probs: list[pd.DataFrame],
           reported: set[str]) -> tuple[pd.Series, pd.Series | None]:
    """Each row's zone for naive times: the column's, else the row's zone column, else the mapping's (else the
    site's zone, assumed). Returns (zones, mask of rows on the assumed site zone or None)."""
    mapping_zone = ctx.mapping.zone if ctx.mapping.model is None else ctx.mapping.model.timestamps.zone
    stated = o.zone or mapping_zone
    base = stated or ctx.site_zone
    zones = pd.Series(base, index=df.index, dtype=object)
    default = None if stated else pd.Series(True, index=df.index)
    if o.zone_column and key(o.zone_column) in ctx.header_of:
        h = ctx.header_of[key(o.zone_column)]
        zc = _clean(df[h], ctx)
        ok = map_unique(zc, lambda u: u.map(zone_ok)).fillna(False).astype(bool)
        bad = zc.notna() & ~ok
        if bad.any() and h not in reported:
            probs.append(_problems(rows[bad], h, zc[bad], "unknown_zone"))
            reported.add(h)
        zones = zones.where(~(zc.notna() & ok), zc)
        if default is not None:
            default = default & zc.isna()
    return zones, default


def _times(df: pd.DataFrame, f: Field, ctx: Context, rows: pd.Series, probs: list[pd.DataFrame],
           reported: set[str]) -> pd.Series:
    """Parse a time field from its sources (first non-empty wins), recording problems and notes."""
    val = pd.Series(pd.NaT, index=df.index, dtype="datetime64[us]")
    taken = pd.Series(False, index=df.index)
    for label, s, o, tp in ctx.time_sources(df, f.name):
        use = s.notna() & ~taken
        if not use.any():
            continue
        taken |= use
        zones, default = _zones(df, o, ctx, rows, probs, reported)
        plan = ctx.plan(label, s[use], rows[use], o)
        p = times.parse_column(s[use], o.formats or ctx.mapping.formats, zones[use], ctx.now, plan,
                               tp[use] if tp is not None else None,
                               default[use] if default is not None else None)
        shown = s[use] if tp is None else s[use].str.cat(tp[use], sep=" ", na_rep="").str.strip()
        r = rows[use]
        for code, mask in p.problems.items():
            params: dict[str, Any] = {"field": f.name}
            if code == "date_order_conflict" and plan.evidence:
                params |= {"order": plan.order, "row": plan.evidence[0], "example": plan.evidence[1]}
            if code == "bad_time" and tp is not None:
                params["time_column"] = ctx.parts[f.name][1]
                probs.append(_problems(r[mask], ctx.parts[f.name][1] or label, tp[use][mask], code, params))
                continue
            if code == "time_missing":
                params["time_column"] = ctx.parts[f.name][1]
            probs.append(_problems(r[mask], label, shown[mask], code, params))
        if p.swap_warn.any():
            probs.append(_problems(r[p.swap_warn], label, shown[p.swap_warn], "daymonth_swap", {"field": f.name},
                                   "warning"))
        val.loc[use] = p.values
        if p.naive_default:  # one note naming every column read in the assumed zone
            n = ctx.notes.setdefault(("zone_assumed", ""), {"column": "", "n": 0, "zone": ctx.site_zone})
            if label not in n["column"].split(", "):
                n["column"] = ", ".join(filter(None, [n["column"], label]))
        if p.year_last and plan.how in ("proven", "stated"):
            ev = plan.evidence or (0, "")
            ctx.note(f"date_order_{plan.how}", label, n=p.year_last, order=plan.order, row=ev[0], example=ev[1])
        if plan.how == "ambiguous" and plan.evidence:
            ctx.note("date_order_ambiguous", label, row=plan.evidence[0], example=plan.evidence[1])
        if tp is None and p.values.notna().any() and not s[use].str.contains(r"\d:\d\d|T\d\d", regex=True).any():
            ctx.note("date_only", label, field=f.name)  # durations from this column are whole days
        if p.sheet_swapped:
            ctx.note("date_sheet_swapped", label, n=p.sheet_swapped, order=plan.order)
    return val


def _codes_of(f: Field) -> tuple[Callable[[pd.Series], pd.Series], list[str]]:
    """The built-in lookup of a coded field (label -> code, NaN when unknown) and its codes."""
    if f.type == "bool" or f.enum is None:
        return (lambda u: _lookup(u, enums()["bool"])), ["yes", "no", "是", "否", "1", "0"]
    if f.enum in _REF_KINDS:
        kind = f.enum
        codes = sorted(set(reference.synonyms(kind).values()))
        return (lambda u: map_unique(u, lambda x: reference.normalise(kind, x))), codes
    table = enums()[f.enum]
    return (lambda u: _lookup(u, table)), sorted(set(table.values()))


def _allowed(f: Field, ctx: Context, codes: list[str]) -> str:
    labels = [str(k) for k in (ctx.mapping.model.values[f.name].map if ctx.mapping.model and f.name in
                                ctx.mapping.model.values else {})]
    return ", ".join(dict.fromkeys([*labels, *codes]))


def _coded(s: pd.Series, before: pd.Series, f: Field, ctx: Context, rows: pd.Series, label: str,
           probs: list[pd.DataFrame], kept: dict[str, pd.Series]) -> pd.Series:
    """A coded field (enum or yes/no): the mapping's labels, then the built-in codes and synonyms; an unknown label
    follows the field's ``values.<field>.unknown`` policy (default: reject naming the allowed values)."""
    lookup, codes = _codes_of(f)
    val = pd.Series(lookup(s), index=s.index, dtype=object)
    bad = s.notna() & val.isna()
    if not bad.any():
        return val
    pol = ctx.mapping.value_policies.get(f.name)
    if pol is not None and pol.keep_in:
        kept[pol.keep_in] = before.where(bad) if pol.keep_in not in kept else kept[pol.keep_in].fillna(before.where(bad))
    if pol is not None and pol.unknown == "map":
        to = pd.Series(lookup(pd.Series([str(pol.to)], dtype="str")), dtype=object).iloc[0]
        if pd.notna(to):
            val = val.where(~bad, to)
            examples = ", ".join(map(str, before[bad].drop_duplicates().head(5)))
            ctx.note("values_mapped", label, n=int(bad.sum()), field=f.name, to=str(to), examples=examples)
            return val
    code = "not_bool" if f.type == "bool" and (pol is None or not ctx.mapping.values.get(f.name)) else "unknown_value"
    probs.append(_problems(rows[bad], label, before[bad], code, {"field": f.name, "allowed": _allowed(f, ctx, codes)}))
    return val


def _free_values(s: pd.Series, before: pd.Series, f: Field, ctx: Context, rows: pd.Series, label: str,
                 probs: list[pd.DataFrame]) -> pd.Series:
    """A free text field with a value map: unknown labels are kept (default), mapped to ``to`` or rejected."""
    pol = ctx.mapping.value_policies.get(f.name)
    syn = ctx.mapping.values.get(f.name)
    if pol is None or not syn or pol.unknown in (None, "keep"):
        return s
    known = set(syn) | {key(v) for v in syn.values()}
    bad = before.notna() & ~map_unique(before, lambda u: u.map(key).isin(known)).fillna(False).astype(bool)
    if not bad.any():
        return s
    if pol.unknown == "map":
        examples = ", ".join(map(str, before[bad].drop_duplicates().head(5)))
        ctx.note("values_mapped", label, n=int(bad.sum()), field=f.name, to=str(pol.to), examples=examples)
        return s.where(~bad, str(pol.to))
    probs.append(_problems(rows[bad], label, before[bad], "unknown_value",
                           {"field": f.name, "allowed": _allowed(f, ctx, [])}))
    return s


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
    before: dict[str, pd.Series] = {}
    raw: dict[str, pd.Series] = {f.name: raw_field(df, f.name, ctx, before) for f in spec.fields
                                 if f.name in ctx.present}
    kept: dict[str, pd.Series] = {}  # free text field -> unknown labels kept (values.keep_in)
    reported: set[str] = set()

    # Characters no database column should hold (PostgreSQL refuses NUL) and undecodable bytes.
    for fname, s in raw.items():
        bad = s.str.contains("\x00", regex=False, na=False) | s.str.contains("\ufffd", regex=False, na=False)
        if bad.any():
            probs.append(_problems(rows[bad], ctx.label(fname), s[bad], "bad_chars"))

    stamps: dict[str, pd.Series] = {}
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
            val = _times(df, f, ctx, rows, probs, reported)
            stamps[f.name] = val
            out[f.column] = val
        elif f.type in ("str", "text"):
            s = _free_values(s, before[f.name], f, ctx, rows, label, probs)
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
            val = _coded(s, before[f.name], f, ctx, rows, label, probs, kept)
            out[f.column] = val.map({"true": True, "false": False}).astype(object).where(val.notna(), None)
        elif f.type == "enum":
            val = _coded(s, before[f.name], f, ctx, rows, label, probs, kept)
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

    # Contacts: the answer time from the wait, abandoned from an answered flag (file values win).
    if "__wait_seconds" in out and "queued_at" in stamps:
        ab = out["abandoned"] if "abandoned" in out else pd.Series(None, index=df.index, dtype=object)
        derived = (stamps["queued_at"] + pd.to_timedelta(out["__wait_seconds"], unit="s")).where(ab.ne(True))
        ans = stamps.get("answered_at", pd.Series(pd.NaT, index=df.index, dtype="datetime64[us]"))
        stamps["answered_at"] = ans.where(ans.notna(), derived).astype("datetime64[us]")
        out["answered_at"] = stamps["answered_at"]
        raw["answered_at"] = raw.get("answered_at", raw["wait_seconds"]).fillna(raw["wait_seconds"])
    if "__answered" in out:
        ab = out["abandoned"] if "abandoned" in out else pd.Series(None, index=df.index, dtype=object)
        from_flag = out["__answered"].map({True: False, False: True})
        out["abandoned"] = ab.where(ab.notna(), from_flag).astype(object).where(lambda x: x.notna(), None)

    # Raw labels of unknown values kept in a free text field (values.<field>.keep_in).
    for fname, labels in kept.items():
        col = spec.by_name[fname].column
        assert col is not None
        cur = out[col] if col in out else pd.Series(np.nan, index=df.index, dtype=object)
        out[col] = cur.where(cur.notna(), labels.str.slice(0, spec.by_name[fname].max_len or None))

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
        if "resolved_at" in stamps:
            derived = derived.where(stamps["resolved_at"].isna(), "resolved")
        if "closed_at" in stamps:
            derived = derived.where(stamps["closed_at"].isna(), "closed")
        out["status"] = st.where(raw.get("status", pd.Series(np.nan, index=df.index)).notna(), derived)

    # Timestamp order: a later step before an earlier one is rejected, never repaired.
    for earlier, later in spec.order:
        if earlier in stamps and later in stamps:
            a, b = stamps[earlier], stamps[later]
            bad = a.notna() & b.notna() & (b < a)
            if bad.any():
                probs.append(_problems(rows[bad], ctx.label(later), raw[later][bad], "order",
                                       {"field": later, "other": earlier}))
                month = pd.Timedelta(days=31)
                b_sw, a_sw = times.swapped(raw[later][bad]), times.swapped(raw[earlier][bad])
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
    return pd.Series("1", index=df.index, dtype="str").where(valued)


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
