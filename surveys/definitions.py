"""Questionnaires as versioned data files (``surveys/definitions/<key>.v<version>.toml``), validated on load.

A definition names the service types it serves, its question groups (shown one after another with progress) and its
items. Each item has zh/en text, a scale, and either a *role* (the response column it fills: csat, nps, ces, fcr,
comment) or a *dimension* (what the dimension score and Cronbach's alpha are computed over), and optionally a
condition (e.g. the arrival question only for repairs).

A definition may rotate items across invitees (``[rotation]``): everyone is asked the fixed items, plus exactly one
item of ``one_of`` and ``dimension_items`` of the dimension items, chosen by a hash of the invitation id
(:func:`rotation_seed`), so one customer sees at most :data:`MAX_QUESTIONS` questions in at most :data:`MAX_FORMATS`
answer formats (the latest version of every post-service questionnaire must keep to this) while every KPI keeps its
standard scale. Every plan (one ``one_of`` item x one combination of dimension items) is equally likely, so every pair
of dimension items is asked together of some invitees (Cronbach's alpha and driver analysis work on pairwise
covariances). An item not in a customer's plan was not asked: it is missing by design, not a non-response.

A broken file raises :class:`DefinitionError` whose message names the file and the item; the app and
``python -m surveys check`` show it at start-up. :func:`sync_definitions` writes every definition to the
``survey_definition`` table (key, version, checksum); a published version whose content changed is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import Engine, insert, select, update

from data.io.survey_items import ITEM_KEY_MAX, ITEM_SCALES
from data.models import UTC, SurveyDefinition
from data.reference import service_types as reference_service_types

DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"
_FILE_RE = re.compile(r"(?P<key>[a-z][a-z0-9_]*)\.v(?P<version>\d+)\.toml")

Scale = Literal["faces5", "stars5", "nps11", "ces7", "yesno", "text"]
Role = Literal["csat", "nps", "ces", "fcr", "comment"]
Kind = Literal["short", "kiosk", "annual"]

SHORT_DIMENSIONS = ("responsiveness", "reliability", "transparency", "bill_clarity", "assurance", "convenience")
SERVQUAL_DIMENSIONS = ("tangibles", "reliability", "responsiveness", "assurance", "empathy")
ROLE_SCALES: dict[str, tuple[str, ...]] = {
    "csat": ("faces5", "stars5"),
    "nps": ("nps11",),
    "ces": ("ces7",),
    "fcr": ("yesno",),
    "comment": ("text",),
}
SCALE_RANGE: dict[str, tuple[int, int]] = ITEM_SCALES  # one table for questionnaires and imports
NUMERIC_SCALES = tuple(SCALE_RANGE)
MIN_DIMENSION_ITEMS, MAX_DIMENSION_ITEMS = 3, 5
MAX_QUESTIONS, MAX_FORMATS = 5, 3  # what one customer sees (UI.md); the comment box counts as a question and a format
COMMENT_MAX_CHARS = 500


class DefinitionError(ValueError):
    """A questionnaire file is broken; the message names the file and, where it can, the item."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(_Strict):
    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


class Condition(_Strict):
    """All given parts must hold: the ticket's service type is listed, it is field work, the channel is listed."""

    service_types: tuple[str, ...] | None = None
    field_work: bool | None = None
    channels: tuple[str, ...] | None = None

    def holds(self, service_type: str | None, channel: str | None) -> bool:
        if self.service_types is not None and service_type not in self.service_types:
            return False
        if self.field_work is not None and _field_work().get(service_type or "", False) != self.field_work:
            return False
        return not (self.channels is not None and channel not in self.channels)


class Group(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Text


class Item(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=ITEM_KEY_MAX)
    text: Text
    scale: Scale
    group: str
    role: Role | None = None
    dimension: str | None = None
    required: bool = False
    condition: Condition | None = None
    low: Text | None = None  # anchor labels for the ends of a numeric scale
    high: Text | None = None

    @model_validator(mode="after")
    def _role_or_dimension(self) -> Item:
        if self.role is None and self.dimension is None:
            raise ValueError("needs a role (csat/nps/ces/fcr/comment) or a dimension")
        if self.role is not None and self.dimension is not None:
            raise ValueError("has both a role and a dimension; use one")
        if self.role is not None and self.scale not in ROLE_SCALES[self.role]:
            raise ValueError(f"role {self.role!r} needs scale {' or '.join(ROLE_SCALES[self.role])}, not {self.scale!r}")
        if self.dimension is not None and self.scale not in NUMERIC_SCALES:
            raise ValueError(f"a dimension item needs a numeric scale, not {self.scale!r}")
        return self

    def applies(self, service_type: str | None, channel: str | None) -> bool:
        return self.condition is None or self.condition.holds(service_type, channel)


class Rotation(_Strict):
    """Items asked of a part of the invitees: exactly one of ``one_of``, and ``dimension_items`` dimension items."""

    one_of: tuple[str, ...] = ()
    dimension_items: int | None = Field(default=None, ge=2, le=MAX_DIMENSION_ITEMS)


def rotation_seed(invitation_id: int, visit: int = 0) -> int:
    """The deterministic rotation seed of an invitation (``visit`` numbers the visitors of a reusable kiosk code)."""
    digest = hashlib.sha256(f"gridcx-rotation:{int(invitation_id)}:{int(visit)}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Definition(_Strict):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    version: int = Field(ge=1)
    kind: Kind
    title: Text
    intro: Text | None = None
    service_types: tuple[str, ...] = ()
    groups: tuple[Group, ...] = Field(min_length=1)
    items: tuple[Item, ...] = Field(min_length=1)
    rotation: Rotation | None = None

    @field_validator("service_types")
    @classmethod
    def _known_service_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(_field_work()))
        if unknown:
            raise ValueError(f"unknown service type(s) {', '.join(unknown)} (see data/refdata/service_types.csv)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Definition:
        seen: set[str] = set()
        groups = {g.key for g in self.groups}
        allowed_dims = SERVQUAL_DIMENSIONS if self.kind == "annual" else SHORT_DIMENSIONS
        for item in self.items:
            where = f"item {item.key!r}"
            if item.key in seen:
                raise ValueError(f"{where}: duplicate item key")
            seen.add(item.key)
            if item.group not in groups:
                raise ValueError(f"{where}: unknown group {item.group!r}")
            if item.dimension is not None and item.dimension not in allowed_dims:
                raise ValueError(f"{where}: dimension {item.dimension!r} not allowed in a {self.kind} questionnaire "
                                 f"(one of {', '.join(allowed_dims)})")
            if item.condition and item.condition.service_types:
                bad = sorted(set(item.condition.service_types) - set(_field_work()))
                if bad:
                    raise ValueError(f"{where}: condition names unknown service type(s) {', '.join(bad)}")
            if item.role == "csat" and not item.required:
                raise ValueError(f"{where}: the overall satisfaction item must be required")
        roles = [i.role for i in self.items if i.role]
        for role in ("csat", "nps", "ces", "fcr", "comment") if self.kind != "annual" else ("csat",):
            if roles.count(role) != 1:  # type: ignore[arg-type]
                raise ValueError(f"a {self.kind} questionnaire needs exactly one {role!r} item, found {roles.count(role)}")  # type: ignore[arg-type]
        if len(roles) != len(set(roles)):
            raise ValueError("a role appears on more than one item")
        if self.kind == "short":
            if not self.service_types:
                raise ValueError("a short questionnaire must list its service_types")
            for st_ in self.service_types:
                n = sum(1 for i in self.items if i.dimension and i.applies(st_, None))
                if not MIN_DIMENSION_ITEMS <= n <= MAX_DIMENSION_ITEMS:
                    raise ValueError(f"for service type {st_!r} it asks {n} dimension items; "
                                     f"a short questionnaire asks {MIN_DIMENSION_ITEMS}-{MAX_DIMENSION_ITEMS}")
        if self.rotation is not None:
            keys = {i.key: i for i in self.items}
            one_of = self.rotation.one_of
            if len(set(one_of)) != len(one_of):
                raise ValueError("rotation.one_of lists an item twice")
            for k in one_of:
                if k not in keys:
                    raise ValueError(f"rotation.one_of: unknown item {k!r}")
                if keys[k].required or keys[k].dimension is not None:
                    raise ValueError(f"rotation.one_of: item {k!r} is required or a dimension item; "
                                     "rotate dimension items with rotation.dimension_items")
            if len(one_of) == 1:
                raise ValueError("rotation.one_of needs two or more items (or none)")
        used_groups = {i.group for i in self.items}
        empty = [g.key for g in self.groups if g.key not in used_groups]
        if empty:
            raise ValueError(f"group(s) without items: {', '.join(empty)}")
        return self

    # --- use ------------------------------------------------------------------------------------------------------

    def items_for(self, service_type: str | None, channel: str | None = None) -> list[Item]:
        """The items asked for this ticket, in file order."""
        return [i for i in self.items if i.applies(service_type, channel)]

    def plans(self, service_type: str | None, channel: str | None = None) -> list[tuple[str, ...]]:
        """Every set of rotating item keys one invitee can be asked, all equally likely; ``[()]`` without rotation."""
        if self.rotation is None:
            return [()]
        items = self.items_for(service_type, channel)
        one_of: list[str | None] = [i.key for i in items if i.key in self.rotation.one_of]
        one_of = one_of or [None]
        dims = [i.key for i in items if i.dimension] if self.rotation.dimension_items else []
        k = min(self.rotation.dimension_items or 0, len(dims))
        return [tuple(x for x in (first, *pair) if x is not None)
                for first in one_of for pair in combinations(dims, k)]

    def _rotating(self) -> set[str]:
        if self.rotation is None:
            return set()
        rot = set(self.rotation.one_of)
        if self.rotation.dimension_items:
            rot |= {i.key for i in self.items if i.dimension}
        return rot

    def asked(self, service_type: str | None, channel: str | None = None,
              seed: int | None = None) -> list[Item]:
        """The items one invitee is asked (file order): the fixed ones plus the plan ``seed`` picks. Without a seed,
        every item that applies (the union over the plans)."""
        items = self.items_for(service_type, channel)
        if seed is None or self.rotation is None:
            return items
        plans = self.plans(service_type, channel)
        plan = set(plans[seed % len(plans)])
        rot = self._rotating()
        return [i for i in items if i.key not in rot or i.key in plan]

    def asked_share(self, service_type: str | None, channel: str | None = None) -> dict[str, float]:
        """The expected share of invitees asked each item that applies (1.0 for fixed items)."""
        plans = self.plans(service_type, channel)
        rot = self._rotating()
        return {i.key: (sum(i.key in p for p in plans) / len(plans) if i.key in rot else 1.0)
                for i in self.items_for(service_type, channel)}

    def limit_problems(self) -> list[str]:
        """Plans that show one customer more than MAX_QUESTIONS questions or MAX_FORMATS answer formats."""
        problems = []
        for st_ in self.service_types or (None,):
            for n, plan in enumerate(self.plans(st_, None)):
                rot = self._rotating()
                items = [i for i in self.items_for(st_, None) if i.key not in rot or i.key in plan]
                formats = {i.scale for i in items}
                if len(items) > MAX_QUESTIONS or len(formats) > MAX_FORMATS:
                    where = f"service type {st_!r}" if st_ else "every visitor"
                    problems.append(f"{where}, plan {n + 1}: {len(items)} questions in {len(formats)} answer "
                                    f"formats ({', '.join(sorted(formats))}); one customer sees at most "
                                    f"{MAX_QUESTIONS} questions in {MAX_FORMATS} formats (add a [rotation])")
                    break
        return problems

    def groups_for(self, service_type: str | None, channel: str | None = None,
                   seed: int | None = None) -> list[tuple[Group, list[Item]]]:
        items = self.asked(service_type, channel, seed)
        out = [(g, [i for i in items if i.group == g.key]) for g in self.groups]
        return [(g, its) for g, its in out if its]

    def item(self, key: str) -> Item:
        for i in self.items:
            if i.key == key:
                return i
        raise KeyError(key)

    def dimensions(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for i in self.items:
            if i.dimension:
                out.setdefault(i.dimension, []).append(i.key)
        return out

    def canonical_json(self) -> str:
        raw = self.model_dump(mode="json")
        if raw.get("rotation") is None:
            raw.pop("rotation", None)  # a definition without rotation keeps the checksum it was published with
        return json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    def checksum(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()


@cache
def _field_work() -> dict[str, bool]:
    df = reference_service_types()
    return {str(c): bool(f) for c, f in zip(df["code"], df["field_work"], strict=True)}


def _explain(path: Path, exc: ValidationError, raw: dict[str, Any]) -> str:
    """One line per problem, naming the file and the item (by key where the item has one)."""
    lines = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        where = ""
        if len(loc) >= 2 and loc[0] in ("items", "groups") and isinstance(loc[1], int):
            entries = raw.get(str(loc[0])) or []
            key = entries[loc[1]].get("key") if loc[1] < len(entries) and isinstance(entries[loc[1]], dict) else None
            where = f"{str(loc[0])[:-1]} {key!r}" if key else f"{str(loc[0])[:-1]} #{loc[1] + 1}"
            rest = ".".join(str(p) for p in loc[2:])
            where += f" field {rest!r}" if rest else ""
        elif loc:
            where = "field " + ".".join(str(p) for p in loc)
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{path.name}: {where + ': ' if where else ''}{msg}")
    return "survey definition invalid:\n  " + "\n  ".join(lines)


def load_file(path: Path) -> Definition:
    """Parse and validate one file; raises :class:`DefinitionError` naming the file and item."""
    m = _FILE_RE.fullmatch(path.name)
    if not m:
        raise DefinitionError(f"{path.name}: file name must be <key>.v<version>.toml")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DefinitionError(f"{path.name}: not valid TOML: {exc}") from None
    try:
        definition = Definition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionError(_explain(path, exc, raw)) from None
    if definition.key != m["key"] or definition.version != int(m["version"]):
        raise DefinitionError(f"{path.name}: key/version inside ({definition.key} v{definition.version}) "
                              "do not match the file name")
    return definition


@dataclass(frozen=True)
class Registry:
    """Every definition found, by (key, version); the latest version of each key is the one invitations use."""

    definitions: dict[tuple[str, int], Definition]

    def get(self, key: str, version: int | None = None) -> Definition:
        if version is None:
            version = max(v for k, v in self.definitions if k == key)
        return self.definitions[(key, version)]

    def latest(self) -> list[Definition]:
        keys = sorted({k for k, _ in self.definitions})
        return [self.get(k) for k in keys]

    def for_service_type(self, service_type: str) -> Definition:
        """The latest short questionnaire for a service type."""
        for d in self.latest():
            if d.kind == "short" and service_type in d.service_types:
                return d
        raise KeyError(service_type)

    def kiosk(self) -> Definition:
        for d in self.latest():
            if d.kind == "kiosk":
                return d
        raise KeyError("kiosk")


def load_registry(directory: Path = DEFINITIONS_DIR, *, require_coverage: bool = True) -> Registry:
    """Load and validate every definition file; cross-file rules: one short questionnaire per service type."""
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise DefinitionError(f"no survey definitions in {directory}")
    defs: dict[tuple[str, int], Definition] = {}
    for path in files:
        d = load_file(path)
        defs[(d.key, d.version)] = d
    registry = Registry(defs)
    if require_coverage:
        owners: dict[str, list[str]] = {}
        for d in registry.latest():
            if d.kind == "short":
                for st_ in d.service_types:
                    owners.setdefault(st_, []).append(d.key)
        missing = sorted(set(_field_work()) - set(owners))
        if missing:
            raise DefinitionError(f"survey definitions: no short questionnaire for service type(s) {', '.join(missing)}")
        double = {k: v for k, v in owners.items() if len(v) > 1}
        if double:
            k, v = next(iter(double.items()))
            raise DefinitionError(f"survey definitions: service type {k!r} has several short questionnaires: {', '.join(v)}")
        if not any(d.kind == "kiosk" for d in registry.latest()):
            raise DefinitionError("survey definitions: no kiosk questionnaire for hall QR codes")
    for d in registry.latest():  # the versions invitations use: one minute, one customer (UI.md)
        problems = d.limit_problems() if d.kind != "annual" else []
        if problems:
            raise DefinitionError(f"{d.key}.v{d.version}.toml: " + "; ".join(problems))
    return registry


def definitions_dir() -> Path:
    """The shipped folder, or ``GRIDCX_SURVEY_DEFINITIONS`` (a site's own questionnaires, or a test's)."""
    return Path(os.environ.get("GRIDCX_SURVEY_DEFINITIONS") or DEFINITIONS_DIR)


@cache
def registry() -> Registry:
    """The definitions, loaded once per process (a broken file raises every time it is asked; ``cache_clear()``
    reloads)."""
    return load_registry(definitions_dir())


def sync_definitions(engine: Engine, reg: Registry | None = None) -> dict[str, int]:
    """Write new definitions to ``survey_definition``; refuse a published (key, version) whose content changed.

    Only the latest version of each key stays active. Returns counts of inserted and unchanged rows.
    """
    reg = reg or registry()
    inserted = unchanged = 0
    now = dt.datetime.now(UTC)
    with engine.begin() as conn:
        existing = {(r.key, r.version): r.checksum for r in conn.execute(
            select(SurveyDefinition.key, SurveyDefinition.version, SurveyDefinition.checksum))}
        for (key, version), d in sorted(reg.definitions.items()):
            checksum = d.checksum()
            old = existing.get((key, version))
            if old is None:
                conn.execute(insert(SurveyDefinition).values(
                    key=key, version=version, definition=d.model_dump(mode="json"), checksum=checksum,
                    active=False, loaded_at=now))
                inserted += 1
            elif old != checksum:
                raise DefinitionError(f"{key}.v{version}.toml: content differs from the published version "
                                      "in the database; publish a change as a new version file")
            else:
                unchanged += 1
        for d in reg.latest():
            conn.execute(update(SurveyDefinition).where(SurveyDefinition.key == d.key)
                         .values(active=SurveyDefinition.version == d.version))
    return {"inserted": inserted, "unchanged": unchanged}


def definition_for(engine: Engine, key: str, version: int) -> Definition | None:
    """A definition by key and version: from the files, else the copy published in the database."""
    try:
        return registry().definitions[(key, version)]
    except KeyError:
        pass
    with engine.connect() as conn:
        raw = conn.execute(select(SurveyDefinition.definition).where(
            SurveyDefinition.key == key, SurveyDefinition.version == version)).scalar_one_or_none()
    if raw is None:
        return None
    try:
        return Definition.model_validate(raw)
    except ValidationError:
        return None
