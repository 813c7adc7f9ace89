"""The assessment scheme and the quality-review rubric, loaded from TOML and validated (pydantic).

A broken file fails loudly: :class:`SchemeError` names the file and every failing field path
(``roles.crew.weights.arival: unknown KPI``).
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from data.reference import AreaClass

SCHEMES_DIR = Path(__file__).resolve().parent / "schemes"
ASSESSMENT_FILE = SCHEMES_DIR / "assessment.toml"
RUBRIC_FILE = SCHEMES_DIR / "qa_rubric.toml"
ROLES = ("agent", "clerk", "crew", "account_manager")
GRADE_KEYS = ("excellent", "good", "pass", "improve")


class SchemeError(ValueError):
    """A scheme or rubric file is missing, not TOML, or fails validation (message names file and field)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Method(_Frozen):
    level: float = Field(gt=0.5, lt=1.0)
    max_prior_strength: float = Field(gt=0)
    min_cell: int = Field(ge=1)
    min_weight_share: float = Field(gt=0, le=1)
    long_ticket_minutes: float = Field(gt=0)
    arrival_limit_minutes: dict[AreaClass, float]

    @model_validator(mode="after")
    def _all_areas(self) -> Method:
        missing = {"urban", "rural", "remote"} - set(self.arrival_limit_minutes)
        if missing:
            raise ValueError(f"arrival_limit_minutes lacks {', '.join(sorted(missing))}")
        return self


class KpiDef(_Frozen):
    name_zh: str
    name_en: str
    definition_zh: str
    definition_en: str
    source: Literal["survey", "ticket", "review"]
    kind: Literal["proportion", "mean"]
    case_mix: bool
    training_zh: str
    training_en: str

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh-CN" else self.name_en


class RoleDef(_Frozen):
    name_zh: str
    name_en: str
    weights: dict[str, float]
    targets: dict[str, float]
    min_n: dict[str, int]

    @model_validator(mode="after")
    def _consistent(self) -> RoleDef:
        if not self.weights:
            raise ValueError("weights: at least one KPI")
        bad = [k for k, w in self.weights.items() if w <= 0]
        if bad:
            raise ValueError(f"weights must be positive: {', '.join(bad)}")
        for name, table in (("targets", self.targets), ("min_n", self.min_n)):
            missing = set(self.weights) - set(table)
            extra = set(table) - set(self.weights)
            if missing:
                raise ValueError(f"{name} lacks {', '.join(sorted(missing))}")
            if extra:
                raise ValueError(f"{name} has KPIs without a weight: {', '.join(sorted(extra))}")
        bad = [k for k, t in self.targets.items() if not 0.0 <= t <= 1.0]
        if bad:
            raise ValueError(f"targets must be shares 0-1: {', '.join(bad)}")
        bad = [k for k, m in self.min_n.items() if m < 1]
        if bad:
            raise ValueError(f"min_n must be at least 1: {', '.join(bad)}")
        return self

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh-CN" else self.name_en


class CriticalItem(_Frozen):
    key: Literal["substantiated_complaint", "conduct_violation"]
    name_zh: str
    name_en: str
    definition_zh: str
    definition_en: str
    at_least: int = Field(ge=1)
    action: Literal["cap", "zero"]
    max_grade: Literal["excellent", "good", "pass", "improve"] | None = None

    @model_validator(mode="after")
    def _cap_has_grade(self) -> CriticalItem:
        if self.action == "cap" and self.max_grade is None:
            raise ValueError("action 'cap' needs max_grade")
        return self


class GradeBand(_Frozen):
    key: Literal["excellent", "good", "pass", "improve"]
    name_zh: str
    name_en: str
    min_percentile: float = Field(ge=0, le=100)

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh-CN" else self.name_en


class Training(_Frozen):
    min_shortfall: float = Field(ge=0)


class Scheme(_Frozen):
    key: str
    version: int = Field(ge=1)
    name_zh: str
    name_en: str
    method: Method
    kpis: dict[str, KpiDef]
    roles: dict[Literal["agent", "clerk", "crew", "account_manager"], RoleDef]
    critical: tuple[CriticalItem, ...] = ()
    grades: tuple[GradeBand, ...]
    training: Training

    @model_validator(mode="after")
    def _references(self) -> Scheme:
        missing = set(ROLES) - set(self.roles)
        if missing:
            raise ValueError(f"roles lacks {', '.join(sorted(missing))}")
        for role, spec in self.roles.items():
            unknown = set(spec.weights) - set(self.kpis)
            if unknown:
                raise ValueError(f"roles.{role}.weights: unknown KPI {', '.join(sorted(unknown))}")
        keys = [g.key for g in self.grades]
        if sorted(keys) != sorted(GRADE_KEYS):
            raise ValueError(f"grades must be exactly {', '.join(GRADE_KEYS)} once each")
        mins = [g.min_percentile for g in self.grades]
        if mins != sorted(mins, reverse=True) or keys != list(GRADE_KEYS):
            raise ValueError("grades must run from best to worst with falling min_percentile")
        if mins[-1] != 0:
            raise ValueError("the last grade must start at percentile 0")
        return self

    def grade(self, key: str) -> GradeBand:
        return next(g for g in self.grades if g.key == key)


class RubricItem(_Frozen):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str
    hint_zh: str
    hint_en: str
    max_points: int = Field(ge=1, le=100)
    weight: float = Field(gt=0)

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh-CN" else self.name_en


class ViolationDef(_Frozen):
    name_zh: str
    name_en: str
    hint_zh: str
    hint_en: str


class Rubric(_Frozen):
    key: str
    version: int = Field(ge=1)
    name_zh: str
    name_en: str
    items: tuple[RubricItem, ...] = Field(min_length=1)
    violation: ViolationDef

    @model_validator(mode="after")
    def _unique(self) -> Rubric:
        keys = [i.key for i in self.items]
        if len(set(keys)) != len(keys):
            raise ValueError("item keys must be unique")
        return self

    def score(self, points: dict[str, float]) -> float:
        """The weighted share of the maximum, 0-1; every item must be graded within 0..max_points."""
        missing = [i.key for i in self.items if i.key not in points]
        if missing:
            raise ValueError(f"ungraded items: {', '.join(missing)}")
        extra = set(points) - {i.key for i in self.items}
        if extra:
            raise ValueError(f"unknown items: {', '.join(sorted(extra))}")
        total = 0.0
        for i in self.items:
            p = float(points[i.key])
            if not 0 <= p <= i.max_points:
                raise ValueError(f"{i.key}: {p} outside 0..{i.max_points}")
            total += i.weight * p / i.max_points
        return total / sum(i.weight for i in self.items)


def _load(path: Path, model: type[BaseModel]) -> BaseModel:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SchemeError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise SchemeError(f"{path}: not valid TOML: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}" for err in exc.errors()
        )
        raise SchemeError(f"{path}: {fields}") from None


def load_scheme(path: Path = ASSESSMENT_FILE) -> Scheme:
    return _load_scheme_cached(path.resolve(), path.stat().st_mtime_ns if path.exists() else 0)


def load_rubric(path: Path = RUBRIC_FILE) -> Rubric:
    return _load_rubric_cached(path.resolve(), path.stat().st_mtime_ns if path.exists() else 0)


@cache
def _load_scheme_cached(path: Path, _mtime: int) -> Scheme:
    return _load(path, Scheme)  # type: ignore[return-value]


@cache
def _load_rubric_cached(path: Path, _mtime: int) -> Rubric:
    return _load(path, Rubric)  # type: ignore[return-value]
