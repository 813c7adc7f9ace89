"""Column mappings: data files (JSON) that say how a source file's columns become GridCX fields.

Shipped mappings live in ``data/mappings/``; a site may pass any file path. Keys (all optional except ``kind``
and ``columns``)::

    kind          tickets | contacts | responses | invitations
    columns       {"source header": "field" | ["field", ...]}; several headers may feed one field (the first one
                  present in the file wins), which doubles as header synonyms
    constants     {"field": value} for fields the file does not carry (e.g. service_type of a complaints log)
    defaults      {"field": value} used where the mapped cell is empty
    values        {"field": {"label": value}}: value synonyms, matched case- and whitespace-insensitively,
                  before the built-in synonyms (reference data and data/mappings/enums.json)
    null_values   labels that mean "empty" (e.g. "N/A", "-")
    timestamps    {"formats": [...strftime or "ISO8601" or "excel"], "zone": "Asia/Shanghai"}; naive times are
                  in ``zone``; times carrying an offset or "UTC"/"Z" keep it
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
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from data.io.errors import FileError
from data.io.spec import KINDS, SPECS
from data.io.survey_items import SurveyItems

MAPPINGS_DIR = Path(__file__).resolve().parents[1] / "mappings"
CANONICAL = {"tickets": "gridcx_tickets", "contacts": "gridcx_contacts", "responses": "gridcx_responses",
             "invitations": "gridcx_invitations"}
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
_POLICIES = {
    "regions": {"reject", "default", "create"},
    "staff": {"ignore", "reject", "create"},
    "customers": {"ignore", "reject"},
    "teams": {"ignore", "reject"},
    "tickets": {"ignore", "reject"},
    "outage_events": {"ignore", "reject"},
}
_KNOWN_KEYS = {
    "name", "kind", "description", "columns", "constants", "defaults", "values", "null_values", "timestamps",
    "unescape_formulas", "encoding", "delimiter", "sheet", "items", *_POLICIES,
}


def key(label: object) -> str:
    """The matching key of a header or label: whitespace removed, lower-cased, BOM and quotes dropped."""
    return "".join(str(label).replace("\ufeff", "").split()).lower().strip("\"'")


@dataclass(frozen=True)
class Mapping:
    name: str
    kind: str
    columns: dict[str, tuple[str, ...]]  # source header -> fields
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

    def policy(self, group: str) -> dict[str, Any]:
        return self.policies.get(group, {})

    def match_count(self, headers: list[str]) -> int:
        keys = {key(h) for h in headers}
        return sum(1 for k in self.header_keys if k in keys)

    def required_missing(self, headers: list[str]) -> list[str]:
        """Required fields neither in the file (under any of their headers) nor given as constants/defaults."""
        keys = {key(h) for h in headers}
        present = {f for h, fs in self.columns.items() if key(h) in keys for f in fs}
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
            missing.append(" / ".join(headers_for) if headers_for else f.name)
        return missing


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
    return _load(str(path.resolve()), kind)


@cache
def _load(path: str, kind: str | None) -> Mapping:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileError("mapping_invalid", mapping=path, detail=str(exc).splitlines()[0]) from None
    return parse(raw, path=path, kind=kind)


def parse(raw: Any, path: str = "<mapping>", kind: str | None = None) -> Mapping:
    def bad(detail: str) -> FileError:
        return FileError("mapping_invalid", mapping=path, detail=detail)

    if not isinstance(raw, dict):
        raise bad("not a JSON object")
    unknown = {k for k in raw if not k.startswith("_")} - _KNOWN_KEYS
    if unknown:
        raise bad(f"unknown keys {sorted(unknown)}")
    mkind = raw.get("kind")
    if mkind not in KINDS:
        raise bad(f"kind must be one of {', '.join(KINDS)}")
    if kind is not None and mkind != kind:
        raise FileError("mapping_kind", mapping=Path(path).stem, mapping_kind=mkind, kind=kind)
    fields = SPECS[mkind].by_name
    columns: dict[str, tuple[str, ...]] = {}
    for src, dst in (raw.get("columns") or {}).items():
        targets = (dst,) if isinstance(dst, str) else tuple(dst)
        for t in targets:
            if t not in fields:
                raise bad(f"column {src!r} maps to unknown field {t!r}")
        columns[str(src)] = targets
    if not columns:
        raise bad("no columns")
    for group in ("constants", "defaults", "values"):
        for f in raw.get(group) or {}:
            if f not in fields:
                raise bad(f"{group}: unknown field {f!r}")
    values = {f: {key(k): v for k, v in (syn or {}).items()} for f, syn in (raw.get("values") or {}).items()}
    policies: dict[str, dict[str, Any]] = {}
    for group, allowed in _POLICIES.items():
        pol = raw.get(group) or {}
        if not isinstance(pol, dict):
            raise bad(f"{group} must be an object")
        if pol.get("unknown", next(iter(sorted(allowed)))) not in allowed:
            raise bad(f"{group}.unknown must be one of {sorted(allowed)}")
        policies[group] = pol
    reg = policies["regions"]
    if reg.get("unknown") == "default" and not reg.get("default"):
        raise bad("regions.unknown = default needs regions.default")
    if reg.get("unknown") == "create" and not reg.get("parent"):
        raise bad("regions.unknown = create needs regions.parent")
    ts = raw.get("timestamps") or {}
    formats = tuple(ts.get("formats") or DEFAULT_FORMATS)
    zone = ts.get("zone") or "Asia/Shanghai"
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(zone)
    except Exception:  # noqa: BLE001 - any bad zone name
        raise bad(f"unknown time zone {zone!r}") from None
    items = None
    if raw.get("items") is not None:  # wide survey exports (data.io.survey_items)
        if mkind != "responses":
            raise bad("items: only a responses mapping has an items block")
        try:
            items = SurveyItems.model_validate(raw["items"])
        except ValueError as exc:  # pydantic's ValidationError: the first problem, with where it is
            err = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (), "msg": str(exc)}
            where = ".".join(str(p) for p in ("items", *err["loc"]))
            raise bad(f"{where}: {str(err['msg']).removeprefix('Value error, ')}") from None
    return Mapping(
        name=str(raw.get("name") or Path(path).stem),
        kind=mkind,
        columns=columns,
        constants=dict(raw.get("constants") or {}),
        defaults=dict(raw.get("defaults") or {}),
        values=values,
        null_values=frozenset(key(v) for v in raw.get("null_values") or []),
        formats=formats,
        zone=zone,
        policies=policies,
        unescape_formulas=bool(raw.get("unescape_formulas")),
        encoding=raw.get("encoding"),
        delimiter=raw.get("delimiter"),
        sheet=raw.get("sheet"),
        path=path,
        header_keys={key(h): h for h in [*columns, *(items.columns if items else ())]},
        items=items,
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
