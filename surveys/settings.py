"""Survey operations settings from ``surveys/settings.toml`` (cooldown, expiry, sampling, follow-up rules, the kiosk
ceiling)."""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SETTINGS_FILE = Path(__file__).resolve().parent / "settings.toml"
DEFAULT_PUBLIC_URL = "http://localhost:8501"
PUBLIC_URL_ENV = "GRIDCX_PUBLIC_URL"
Severity = Literal["high", "medium", "low"]


class FollowUpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    due_hours: dict[Severity, float]
    escalation_hours: tuple[float, ...] = Field(min_length=1)
    complaint_keywords: tuple[str, ...]

    @field_validator("due_hours")
    @classmethod
    def _all_severities(cls, v: dict[str, float]) -> dict[str, float]:
        missing = {"high", "medium", "low"} - set(v)
        if missing:
            raise ValueError(f"due_hours lacks {', '.join(sorted(missing))}")
        return v


class ResultsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ivr_keys: dict[str, int]
    sms_replies: dict[str, int]

    @field_validator("ivr_keys", "sms_replies")
    @classmethod
    def _csat(cls, v: dict[str, int]) -> dict[str, int]:
        bad = [k for k, s in v.items() if not 1 <= s <= 5]
        if bad:
            raise ValueError(f"scores must be CSAT 1-5: {', '.join(bad)}")
        return v


class KioskSettings(BaseModel):
    """The ceiling of one reusable (kiosk) QR link, enforced in the intake transaction (surveys/intake.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    per_minute: int = Field(ge=1, le=1000)  # accepted submissions in any 60 s
    per_day: int = Field(ge=1, le=100_000)  # accepted submissions per local day
    audit_every_minutes: int = Field(ge=1, le=1440)  # at most one kiosk_refused audit event per link this often


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cooldown_days: int = Field(ge=0)
    expiry_days: int = Field(ge=1, le=90)
    reminder_after_days: int = Field(ge=1)
    timezone: str
    complaint_types: tuple[str, ...]
    sampling: dict[str, float]
    results: ResultsSettings
    follow_up: FollowUpSettings
    kiosk: KioskSettings

    @field_validator("sampling")
    @classmethod
    def _rates(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, r in v.items() if not 0.0 <= r <= 1.0]
        if bad:
            raise ValueError(f"sampling rates must be within 0-1: {', '.join(bad)}")
        if "default" not in v:
            raise ValueError("sampling needs a 'default' rate")
        return v

    def sampling_rate(self, service_type: str) -> float:
        return self.sampling.get(service_type, self.sampling["default"])


class SettingsError(ValueError):
    pass


def load_settings(path: Path = SETTINGS_FILE) -> Settings:
    try:
        return Settings.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise SettingsError(f"{path.name}: {exc}") from None


@cache
def settings() -> Settings:
    return load_settings()


def public_url() -> str:
    """Base URL of the customer survey page (env ``GRIDCX_PUBLIC_URL``), without a trailing slash."""
    return ((os.environ.get(PUBLIC_URL_ENV) or "").strip() or DEFAULT_PUBLIC_URL).rstrip("/")
