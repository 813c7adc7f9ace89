"""Column mappings: data files (JSON) that say how a source file's columns become GridCX fields.

Shipped mappings live in ``data/mappings/``; a site may pass any file path. The language is the pydantic model
:class:`MappingModel` (JSON Schema: ``docs/mapping-schema.json``, guide with examples: ``docs/mapping.md``;
``python -m data mapping check FILE`` validates a file). Keys (all optional except ``kind`` and one of
``columns``/``fields``/``items``); keys starting with ``_`` are comments::

    kind          tickets | contacts | responses | invitations
    columns       {"source header": "field" | ["field", ...] | {"field": ..., <options>}}; several headers may
                  feed one field (the first non-empty one per row wins), which doubles as header synonyms
    fields        [{"field": ..., "date": "Date", "time": "Time"} | {"field": ..., "coalesce": ["A", "B"]} |
                   {"field": ..., "column": "A"}, each with <options>]: a field built from several columns
    <options>     zone "Asia/Shanghai" | "EST" ...; zone_column "TZ" (the row's zone); date_order day_first |
                  month_first; formats [...]; na ["0", "N/A"] (codes that mean missing in this column);
                  unit seconds | minutes | hours | milliseconds (numeric and duration fields, stored as seconds)
    constants     {"field": value} for fields the file does not carry (e.g. service_type of a complaints log)
    defaults      {"field": value} used where the mapped cell is empty
    values        {"field": {"label": value}} or {"field": {"map": {"label": value}, "unknown": "reject" | "map" |
                  "keep", "to": code, "keep_in": "category_text"}}: value synonyms, matched case- and
                  whitespace-insensitively before the built-in ones; ``unknown`` says what an unlisted value
                  becomes (reject: the row is rejected naming the allowed values; map: the code ``to``; keep: the
                  raw text, free text fields only); ``keep_in`` also stores the raw label of such a row in a free
                  text field
    null_values   labels that mean "empty" in every column (e.g. "N/A", "-")
    timestamps    {"formats": [...strftime or "ISO8601" or "excel"], "zone": "Asia/Shanghai", "date_order": ...};
                  naive times are in the column's ``zone``, else the row's ``zone_column``, else this zone, else
                  the site's reporting zone (``site.timezone``, default Asia/Shanghai; reported in the import
                  summary); times carrying an offset, "UTC"/"Z" or a US zone abbreviation (EST, CDT ...) keep it. Numeric dates with the year last (13/04/2024) are
                  read in the order the column proves (a part > 12), else ``date_order``, else rejected as ambiguous
    regions       {"match": ["code", "name_zh", "name_en"], "unknown": "reject" | "default" | "create",
                   "default": "<region code>", "parent": "<region code>", "area_class": "urban"}
                  missing or unknown regions go to ``default`` when one is configured (policy "default"),
                  are created below ``parent`` (policy "create"; missing ones still go to ``default``), or are
                  rejected
    staff, customers, teams, tickets, outage_events
                  {"unknown": "ignore" | "reject"} (staff also "create" with "role"); "ignore" leaves the link
                  empty and reports a warning
    unescape_formulas  strip the protective apostrophe our own exports put before formula-looking text
    encoding, delimiter, sheet   pin what is otherwise detected
    items         responses only: a wide export's item columns -> answer rows (data.io.survey_items.SurveyItems)
"""

from __future__ import annotations

import json
import zoneinfo
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from data.io.errors import FileError
from data.io.spec import SPECS
from data.io.survey_items import SurveyItems

MAPPINGS_DIR = Path(__file__).resolve().parents[1] / "mappings"
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "mapping-schema.json"
CANONICAL = {"tickets": "gridcx_tickets", "contacts": "gridcx_contacts", "responses": "gridcx_responses",
             "invitations": "gridcx_invitations"}
DEFAULT_ZONE = "Asia/Shanghai"  # the importer uses the site's zone (data.settings.site_zone) when none is stated
DEFAULT_FORMATS = (
    "ISO8601",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y-%m-%d %H:%M",
    "%Y年%m月%d日 %H:%M:%S",
    "%Y年%m月%d日 %H:%M",
    "%Y年%m月%d日",
    "%Y%m%d%H%M%S",
    "%Y.%m.%d %H:%M:%S",
    "%Y.%m.%d",
)
# Common US zone abbreviations (fixed offsets, as a clock on the wall shows them) accepted wherever a zone is
# named; CST is US Central (China Standard Time is Asia/Shanghai).
ZONE_ABBREVIATIONS = {
    "EST": "-05:00", "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00",
    "PST": "-08:00", "PDT": "-07:00", "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00",
    "UTC": "+00:00", "GMT": "+00:00", "Z": "+00:00",
}
UNITS = {"seconds": 1.0, "milliseconds": 0.001, "minutes": 60.0, "hours": 3600.0}
DateOrder = Literal["day_first", "month_first"]


def key(label: object) -> str:
    """The matching key of a header or label: whitespace removed, lower-cased, BOM and quotes dropped."""
    return "".join(str(label).replace("\ufeff", "").split()).lower().strip("\"'")


def zone_ok(name: str) -> bool:
    """True for an IANA zone name, a US abbreviation of :data:`ZONE_ABBREVIATIONS` or an offset like +08:00."""
    import re

    if name.upper() in ZONE_ABBREVIATIONS or re.fullmatch(r"[+-]\d{2}:?\d{2}", name):
        return True
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return True


# --- the language (pydantic) -----------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_zone(v: str | None) -> str | None:
    if v is not None and not zone_ok(v):
        raise ValueError(f"unknown time zone {v!r}")
    return v


class SourceOptions(_Strict):
    """How the cells of one source column (or column group) are read."""

    zone: str | None = Field(default=None, description="time zone of naive times in this column: an IANA name "
                                                       "(Asia/Shanghai, America/New_York), a US abbreviation "
                                                       "(EST, CDT ...) or an offset (+08:00)")
    zone_column: str | None = Field(default=None, description="header of a column naming each row's time zone "
                                                              "(IANA name, US abbreviation or offset)")
    date_order: DateOrder | None = Field(default=None, description="how to read numeric dates with the year last "
                                                                   "(01/02/2024) when the column does not prove it")
    formats: list[str] | None = Field(default=None, description="time formats tried in order for this column "
                                                                "(strftime, 'ISO8601' or 'excel')")
    na: list[str | float] | None = Field(default=None, description="codes that mean 'missing' in this column "
                                                                   "(e.g. 0, 'N/A'): never imported as a value")
    unit: Literal["seconds", "milliseconds", "minutes", "hours"] | None = Field(
        default=None, description="unit of a numeric or duration column; stored as seconds (H:MM:SS text is read "
                                  "as a duration whatever the unit)")

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return _check_zone(v)


def _column_input(v: Any) -> Any:
    return {"field": v} if isinstance(v, str | list) else v


class ColumnSpec(SourceOptions):
    """One source column: the field(s) it feeds and how it is read."""

    field: str | list[str] = Field(description="GridCX field name(s) this column feeds")


ColumnEntry = Annotated[ColumnSpec, BeforeValidator(_column_input, json_schema_input_type=str | list[str] | ColumnSpec)]


class FieldSpec(SourceOptions):
    """A field built from source columns: one column, a date column plus a time column, or the first non-empty of
    several columns."""

    field: str = Field(description="GridCX field name")
    column: str | None = Field(default=None, description="one source header")
    date: str | None = Field(default=None, description="header of the date part (text, spreadsheet date or serial)")
    time: str | None = Field(default=None, description="header of the time-of-day part (text like 08:30 or "
                                                       "8:30 PM, a spreadsheet time or a day fraction)")
    coalesce: list[str] | None = Field(default=None, min_length=1, description="headers tried in order; the first "
                                                                               "non-empty cell of a row wins")

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        given = [k for k in ("column", "date", "coalesce") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of column, date (+ time) or coalesce")
        if self.time is not None and self.date is None:
            raise ValueError("time needs date")
        return self

    def headers(self) -> list[str]:
        if self.coalesce is not None:
            return list(self.coalesce)
        return [h for h in (self.column, self.date, self.time) if h is not None]


class ValueMap(_Strict):
    """Value synonyms of one field and what an unlisted value becomes."""

    map: dict[str, Any] = Field(default_factory=dict, description="source label -> GridCX value (matched case- "
                                                                  "and whitespace-insensitively)")
    unknown: Literal["reject", "map", "keep"] | None = Field(
        default=None, description="an unlisted value (unknown to the built-in codes too): 'reject' the row naming "
                                  "the allowed values (default for coded fields), 'map' it to `to`, or 'keep' the "
                                  "raw text (free text fields; their default)")
    to: Any = Field(default=None, description="the value an unknown label becomes with unknown = map (e.g. 'other')")
    keep_in: str | None = Field(default=None, description="a free text field that also receives the raw label of "
                                                          "rows whose value was unknown (e.g. category_text)")


def _values_input(v: Any) -> Any:
    if isinstance(v, dict) and not (isinstance(v.get("map"), dict) and set(v) <= set(ValueMap.model_fields)):
        return {"map": v}
    return v


ValueEntry = Annotated[ValueMap, BeforeValidator(_values_input, json_schema_input_type=dict[str, Any] | ValueMap)]


class Timestamps(_Strict):
    formats: list[str] | None = Field(default=None, description="time formats tried in order (strftime, "
                                                                "'ISO8601', 'excel' for serial day numbers)")
    zone: str | None = Field(default=None, description="zone of naive times (default: the site's "
                                                             "reporting time zone, reported)")
    date_order: DateOrder | None = Field(default=None, description="order of numeric dates with the year last "
                                                                   "when a column does not prove it")

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return _check_zone(v)


class RegionPolicy(_Strict):
    match: list[Literal["code", "name_zh", "name_en"]] | None = None
    unknown: Literal["reject", "default", "create"] = "reject"
    default: str | None = Field(default=None, description="region code for missing (and, with unknown = default, "
                                                          "unknown) regions")
    parent: str | None = Field(default=None, description="region code below which unknown regions are created")
    area_class: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> RegionPolicy:
        if self.unknown == "default" and not self.default:
            raise ValueError("unknown = default needs default")
        if self.unknown == "create" and not self.parent:
            raise ValueError("unknown = create needs parent")
        return self


class RefPolicy(_Strict):
    unknown: Literal["ignore", "reject"] = "ignore"


class StaffPolicy(_Strict):
    unknown: Literal["ignore", "reject", "create"] = "ignore"
    role: str | None = Field(default=None, description="role of staff created with unknown = create")


class MappingModel(_Strict):
    """A GridCX column mapping (one JSON file)."""

    model_config = ConfigDict(extra="forbid", title="GridCX column mapping")

    name: str | None = None
    kind: Literal["tickets", "contacts", "responses", "invitations"]
    description: str | None = None
    columns: dict[str, ColumnEntry] = Field(default_factory=dict)
    fields: list[FieldSpec] = Field(default_factory=list)
    constants: dict[str, Any] = Field(default_factory=dict)
    defaults: dict[str, Any] = Field(default_factory=dict)
    values: dict[str, ValueEntry] = Field(default_factory=dict)
    null_values: list[str | float] = Field(default_factory=list)
    timestamps: Timestamps = Field(default_factory=Timestamps)
    regions: RegionPolicy = Field(default_factory=RegionPolicy)
    staff: StaffPolicy = Field(default_factory=StaffPolicy)
    customers: RefPolicy = Field(default_factory=RefPolicy)
    teams: RefPolicy = Field(default_factory=RefPolicy)
    tickets: RefPolicy = Field(default_factory=RefPolicy)
    outage_events: RefPolicy = Field(default_factory=RefPolicy)
    items: SurveyItems | None = None
    unescape_formulas: bool = False
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_comments(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            return {k: v for k, v in raw.items() if not (isinstance(k, str) and k.startswith("_"))}
        return raw


def _semantic(m: MappingModel) -> list[tuple[str, str]]:
    """Checks that need the kind's fields: (key path, message)."""
    fields = SPECS[m.kind].by_name
    errs: list[tuple[str, str]] = []

    def check_options(path: str, names: list[str], o: SourceOptions) -> None:
        types = {fields[n].type for n in names if n in fields}
        timeish = {"zone", "zone_column", "date_order", "formats"}
        for opt in timeish:
            if getattr(o, opt) is not None and types and types != {"datetime"}:
                errs.append((f"{path}.{opt}", "only for time fields"))
        if o.unit is not None and types - {"int", "float"}:
            errs.append((f"{path}.unit", "only for numeric and duration fields"))

    for src, c in m.columns.items():
        names = [c.field] if isinstance(c.field, str) else list(c.field)
        if not names:
            errs.append((f"columns.{src}.field", "no field"))
        for n in names:
            if n not in fields:
                errs.append((f"columns.{src}.field", f"unknown field {n!r} for {m.kind}"))
        check_options(f"columns.{src}", names, c)
    for i, f in enumerate(m.fields):
        if f.field not in fields:
            errs.append((f"fields.{i}.field", f"unknown field {f.field!r} for {m.kind}"))
        elif f.date is not None and fields[f.field].type != "datetime":
            errs.append((f"fields.{i}.date", "date + time only for time fields"))
        check_options(f"fields.{i}", [f.field], f)
    for group in ("constants", "defaults", "values"):
        for n in getattr(m, group):
            if n not in fields:
                errs.append((f"{group}.{n}", f"unknown field {n!r} for {m.kind}"))
    free = {n for n, f in fields.items() if f.type in ("str", "text") and f.column
            and n not in ("external_no", "survey_key", "language")}
    free_list = ", ".join(sorted(free)) or "none"
    for n, vm in m.values.items():
        if n not in fields:
            continue
        if vm.unknown == "map" and vm.to is None:
            errs.append((f"values.{n}.to", "unknown = map needs to"))
        if vm.unknown == "keep" and n not in free:
            errs.append((f"values.{n}.unknown", f"keep is only for free text fields ({free_list}); "
                                                "use map with keep_in"))
        if vm.keep_in is not None and vm.keep_in not in free:
            errs.append((f"values.{n}.keep_in", f"not a free text field of {m.kind} "
                                                f"(one of: {free_list})"))
    if m.items is not None and m.kind != "responses":
        errs.append(("items", "only for kind responses"))
    if not m.columns and not m.fields and m.items is None:
        errs.append(("columns", "no columns"))
    return errs


def problems(raw: Any) -> list[str]:
    """Every error of a raw mapping (parsed JSON) as ``key.path: message``; empty when it is valid."""
    if not isinstance(raw, dict):
        return ["(root): not a JSON object"]
    try:
        m = MappingModel.model_validate(raw)
    except ValidationError as exc:
        out = []
        for e in exc.errors():
            path = ".".join(str(p) for p in e["loc"]) or "(root)"
            msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
            out.append(f"{path}: {msg}")
        return out
    return [f"{p}: {msg}" for p, msg in _semantic(m)]


def schema() -> dict[str, Any]:
    """The JSON Schema of the mapping language (committed as ``docs/mapping-schema.json``)."""
    out = MappingModel.model_json_schema()
    out["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    out["patternProperties"] = {"^_": {"description": "a comment"}}
    return out


def schema_text() -> str:
    return json.dumps(schema(), ensure_ascii=False, indent=2) + "\n"


# --- the compiled mapping the importer uses ------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """Reading options of one source (compiled :class:`SourceOptions`); None = the mapping's."""

    zone: str | None = None
    zone_column: str | None = None
    date_order: str | None = None
    formats: tuple[str, ...] | None = None
    na: frozenset[str] = frozenset()
    na_numbers: frozenset[float] = frozenset()
    unit: str | None = None


@dataclass(frozen=True)
class Parts:
    """A time field from a date column and a time column."""

    date: str
    time: str | None


@dataclass(frozen=True)
class ValuePolicy:
    unknown: str | None  # reject | map | keep | None (the field type's default)
    to: Any = None
    keep_in: str | None = None


@dataclass(frozen=True)
class Mapping:
    name: str
    kind: str
    columns: dict[str, tuple[str, ...]]  # source header -> fields (simple columns and coalesced headers)
    constants: dict[str, Any]
    defaults: dict[str, Any]
    values: dict[str, dict[str, Any]]  # field -> {key(label): value}
    null_values: frozenset[str]
    formats: tuple[str, ...]
    zone: str
    policies: dict[str, dict[str, Any]]
    unescape_formulas: bool = False
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    path: str = ""
    header_keys: dict[str, str] = field(default_factory=dict)  # key(header) -> header
    items: SurveyItems | None = None  # a wide export's item columns (responses)
    zone_stated: bool = True  # False: no zone anywhere in the mapping; the default is assumed (and reported)
    date_order: str | None = None
    options: dict[str, Options] = field(default_factory=dict)  # key(header) -> options
    parts: dict[str, Parts] = field(default_factory=dict)  # field -> date + time columns
    value_policies: dict[str, ValuePolicy] = field(default_factory=dict)
    model: MappingModel | None = None

    def policy(self, group: str) -> dict[str, Any]:
        return self.policies.get(group, {})

    def opts(self, header: str) -> Options:
        return self.options.get(key(header), _NO_OPTIONS)

    def match_count(self, headers: list[str]) -> int:
        keys = {key(h) for h in headers}
        return sum(1 for k in self.header_keys if k in keys)

    def required_missing(self, headers: list[str]) -> list[str]:
        """Required fields neither in the file (under any of their headers) nor given as constants/defaults, and the
        stated time-of-day and zone columns the file lacks."""
        keys = {key(h) for h in headers}
        present = {f for h, fs in self.columns.items() if key(h) in keys for f in fs}
        present |= {f for f, p in self.parts.items() if key(p.date) in keys}
        present |= set(self.constants) | set(self.defaults)
        missing = []
        for f in SPECS[self.kind].fields:
            if not f.required or f.name in present:
                continue
            if f.name == "status" or (f.name == "region" and self.policy("regions").get("default")):
                continue  # status is derived from the timestamps; a region can come from the default
            if f.name in ("survey_version",):
                continue
            headers_for = [h for h, fs in self.columns.items() if f.name in fs]
            headers_for += [p.date for n, p in self.parts.items() if n == f.name]
            missing.append(" / ".join(headers_for) if headers_for else f.name)
        for p in self.parts.values():
            if key(p.date) in keys and p.time is not None and key(p.time) not in keys:
                missing.append(p.time)  # a date without its stated time would import as whole days
        for h, o in self.options.items():
            if o.zone_column and h in keys and key(o.zone_column) not in keys:
                missing.append(o.zone_column)
        return missing


_NO_OPTIONS = Options()


def load(ref: str | Path, kind: str | None = None) -> Mapping:
    """A mapping by name or by path: a name saved in the database (newest version, ``name@3`` for version 3) before
    a shipped one (``sgcc_95598_tickets``). Raises :class:`FileError` ``mapping``."""
    from data.repositories.mappings import lookup  # saved mappings (the admin wizard) come first

    saved = lookup(ref)
    if saved is not None:
        return parse(saved.raw(), path=saved.ref, kind=kind)
    path = Path(ref)
    if not path.suffix and not path.exists():
        path = MAPPINGS_DIR / f"{ref}.json"
    if not path.is_file():
        raise FileError("mapping_missing", mapping=str(ref), available=", ".join(shipped()))
    st = path.stat()  # an edited file is read again
    return _load(str(path.resolve()), kind, st.st_mtime_ns, st.st_size)


def read_raw(path: str | Path) -> Any:
    """A mapping file's JSON. Raises :class:`FileError` ``mapping_invalid``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileError("mapping_invalid", mapping=str(path), detail=str(exc).splitlines()[0]) from None


@cache
def _load(path: str, kind: str | None, _mtime_ns: int = 0, _size: int = 0) -> Mapping:
    return parse(read_raw(path), path=path, kind=kind)


def _options(o: SourceOptions) -> Options:
    na = frozenset(key(v) for v in o.na or ())
    nums = set()
    for v in o.na or ():
        try:
            nums.add(float(v))
        except ValueError:
            pass
    return Options(zone=o.zone, zone_column=o.zone_column, date_order=o.date_order,
                   formats=tuple(o.formats) if o.formats else None, na=na, na_numbers=frozenset(nums), unit=o.unit)


def parse(raw: Any, path: str = "<mapping>", kind: str | None = None) -> Mapping:
    """Validate a raw mapping and compile it. Raises :class:`FileError` ``mapping_invalid`` naming every broken key
    (``key.path: message``), or ``mapping_kind`` when it is for another kind than ``kind``."""
    errs = problems(raw)
    if errs:
        raise FileError("mapping_invalid", mapping=path, detail="; ".join(errs))
    m = MappingModel.model_validate(raw)
    if kind is not None and m.kind != kind:
        raise FileError("mapping_kind", mapping=Path(path).stem, mapping_kind=m.kind, kind=kind)
    columns: dict[str, tuple[str, ...]] = {}
    options: dict[str, Options] = {}
    parts: dict[str, Parts] = {}
    headers: list[str] = []
    for src, c in m.columns.items():
        columns[str(src)] = (c.field,) if isinstance(c.field, str) else tuple(c.field)
        options[key(src)] = _options(c)
        headers.append(str(src))
    for f in m.fields:
        if f.date is not None:
            parts[f.field] = Parts(f.date, f.time)
        else:
            for h in f.headers():
                columns[h] = (*columns.get(h, ()), f.field)
        for h in f.headers():
            options[key(h)] = _options(f)
            headers.append(h)
    ts = m.timestamps
    zone_stated = ts.zone is not None or any(o.zone or o.zone_column for o in options.values())
    formats = tuple(ts.formats or DEFAULT_FORMATS)
    policies: dict[str, dict[str, Any]] = {
        g: getattr(m, g).model_dump(exclude_none=True) for g in
        ("regions", "staff", "customers", "teams", "tickets", "outage_events")}
    return Mapping(
        name=str(m.name or Path(path).stem),
        kind=m.kind,
        columns=columns,
        constants=dict(m.constants),
        defaults=dict(m.defaults),
        values={f: {key(k): v for k, v in vm.map.items()} for f, vm in m.values.items()},
        null_values=frozenset(key(v) for v in m.null_values),
        formats=formats,
        zone=ts.zone or DEFAULT_ZONE,
        policies=policies,
        unescape_formulas=m.unescape_formulas,
        encoding=m.encoding,
        delimiter=m.delimiter,
        sheet=m.sheet,
        path=path,
        header_keys={key(h): h for h in [*headers, *(m.items.columns if m.items else ())]},
        items=m.items,
        zone_stated=zone_stated,
        date_order=ts.date_order,
        options=options,
        parts=parts,
        value_policies={f: ValuePolicy(vm.unknown, vm.to, vm.keep_in) for f, vm in m.values.items()},
        model=m,
    )


def shipped(kind: str | None = None) -> list[str]:
    """Names of the shipped mappings (optionally for one kind)."""
    names = []
    for p in sorted(MAPPINGS_DIR.glob("*.json")):
        if p.stem == "enums":
            continue
        if kind is None or load(p).kind == kind:
            names.append(p.stem)
    return names


@cache
def enums() -> dict[str, dict[str, str]]:
    """Built-in enumerations that are not reference data: code list and synonyms (data/mappings/enums.json)."""
    raw = json.loads((MAPPINGS_DIR / "enums.json").read_text(encoding="utf-8"))
    out: dict[str, dict[str, str]] = {}
    for name, codes in raw.items():
        if name.startswith("_"):
            continue
        table: dict[str, str] = {}
        for code, labels in codes.items():
            for label in [code, *labels]:
                table[key(label)] = code
        out[name] = table
    return out


def check_file(path: str | Path) -> list[str]:
    """``python -m data mapping check``: every error of a mapping file (empty when valid)."""
    try:
        raw = read_raw(path)
    except FileError as exc:
        return [f"(file): {exc.params.get('detail', exc.code)}"]
    return problems(raw)
