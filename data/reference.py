"""Reference data shipped as CSV files under ``data/refdata/``: regions, channels, service types, segments,
SLA policy packs and the local holiday file.

Every loader is cached and returns a *copy*, so callers may modify the frame they get. ``normalise`` maps free-text
labels (as found in imported service logs) to our codes with a vectorised dictionary lookup.

``regions.csv`` is the demo province: State Grid Shandong (国网山东省电力公司), its 16 city companies, their 136
counties/districts (administrative codes; development zones are left out), one supply station (供电所) per real
township/sub-district (乡/镇/街道; station names are the township names) and one or two service halls (营业厅) per
county. Area class: sub-districts (街道) are ``urban``, towns and townships (镇/乡) ``rural``, and the Changdao
islands, Qiansandao, Weishan Lake islands, listed Yimeng/Lu-central mountain townships and Yellow River mouth
townships ``remote``. A non-leaf region's area class is the class serving most of its customers. ``customers`` is
plausible, not official: a station's number is its own; a non-leaf row carries its subtree total; halls carry 0
(their customers are registered at supply stations), so never sum ``customers`` across levels.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal, TypeAlias

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent / "refdata"

LEVELS = ("province", "city", "county", "station")
STATION_KINDS = ("supply_station", "hall")
AreaClass: TypeAlias = Literal["urban", "rural", "remote"]
AREA_CLASSES: tuple[AreaClass, ...] = ("urban", "rural", "remote")
PACKS = ("state_grid_2023", "state_grid_2011", "csg")
DEFAULT_PACK = "state_grid_2023"
ONLINE_CHANNELS = ("app", "wechat", "alipay", "web")

_KINDS = {"channel": "channels.csv", "service_type": "service_types.csv", "segment": "segments.csv"}


class ReferenceError(ValueError):
    """A reference file is malformed; the message names the file and the offending rows."""


def _read(name: str, **kwargs: object) -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / name, encoding="utf-8", keep_default_na=False, na_values=[""], **kwargs)


@functools.cache
def _regions() -> pd.DataFrame:
    df = _read("regions.csv", dtype={"code": str, "parent_code": str, "kind": str})
    df["customers"] = df["customers"].astype("int64")
    return df


def regions() -> pd.DataFrame:
    """The full region tree: code, parent_code (NaN for the province), level, kind, name_zh, name_en, area_class,
    customers. Rows are ordered parents before children."""
    return _regions().copy()


@functools.cache
def _codes(kind: str) -> pd.DataFrame:
    if kind not in _KINDS:
        raise KeyError(f"unknown reference kind {kind!r}; expected one of {', '.join(_KINDS)}")
    return _read(_KINDS[kind], dtype=str)


def channels() -> pd.DataFrame:
    """code, name_zh, name_en, online (bool), synonyms ('|'-separated)."""
    df = _codes("channel").copy()
    df["online"] = df["online"].astype(int).astype(bool)
    return df


def service_types() -> pd.DataFrame:
    """code, name_zh, name_en, field_work (bool), synonyms."""
    df = _codes("service_type").copy()
    df["field_work"] = df["field_work"].astype(int).astype(bool)
    return df


def segments() -> pd.DataFrame:
    """code, name_zh, name_en, synonyms."""
    return _codes("segment").copy()


@functools.cache
def _sla() -> pd.DataFrame:
    df = _read("sla_policies.csv", dtype=str)
    df["limit_value"] = df["limit_value"].astype(float)
    for col in ("valid_from", "valid_to"):
        df[col] = pd.to_datetime(df[col])
    return df


def sla_policies(pack: str | None = None) -> pd.DataFrame:
    """The SLA policy packs (columns of the ``sla_policy`` table); ``*`` means any. Optionally one pack only."""
    df = _sla().copy()
    if pack is not None:
        if pack not in set(df["pack"]):
            raise KeyError(f"unknown SLA pack {pack!r}; expected one of {', '.join(sorted(set(df['pack'])))}")
        df = df[df["pack"] == pack].reset_index(drop=True)
    return df


def topics() -> pd.DataFrame:
    """The comment-topic lexicon (topic, label_zh, label_en, keywords separated by ``|``) for
    ``metrics.topics``; read fresh on every call so an edited file takes effect without a restart."""
    return _read("topics.csv", dtype=str)


def sentiment_lexicon() -> pd.DataFrame:
    """The simple sentiment lexicon (word, polarity +1 / -1) for ``metrics.topics``."""
    df = _read("sentiment.csv", dtype={"word": str})
    df["polarity"] = df["polarity"].astype(int)
    return df


def holidays_local() -> pd.DataFrame:
    """The site's own holiday schedule additions (date, kind holiday|workday, name); read fresh on every call so an
    edited file takes effect without a restart."""
    df = _read("holidays_local.csv", dtype=str)
    df["date"] = pd.to_datetime(df["date"]).astype("datetime64[s]")
    bad = df[~df["kind"].isin(["holiday", "workday"])]
    if len(bad):
        raise ReferenceError(f"holidays_local.csv: kind must be holiday or workday (rows {list(bad.index + 2)})")
    return df


def _key(values: pd.Series) -> pd.Series:
    return values.astype("string").str.strip().str.lower().str.replace(r"\s+", "", regex=True)


@functools.cache
def synonyms(kind: str) -> dict[str, str]:
    """Lower-cased, whitespace-free label -> code for ``kind`` (channel | service_type | segment): the code itself,
    both names and every synonym."""
    df = _codes(kind)
    out: dict[str, str] = {}
    for row in df.itertuples(index=False):
        labels = [row.code, row.name_zh, row.name_en, *str(row.synonyms or "").split("|")]
        for label in labels:
            k = "".join(str(label).split()).lower()
            if not k:
                continue
            if k in out and out[k] != row.code:
                raise ReferenceError(f"{_KINDS[kind]}: label {label!r} maps to both {out[k]} and {row.code}")
            out[k] = row.code
    return out


def normalise(kind: str, values: pd.Series) -> pd.Series:
    """Map labels (case/whitespace-insensitive synonyms, names or codes) to codes; unknown or missing -> NaN.

    Vectorised: one string normalisation and one dictionary ``map`` over the whole column.
    """
    mapping = synonyms(kind)
    return _key(values).map(mapping).astype(object).where(lambda s: s.notna(), float("nan"))


def validate() -> list[str]:
    """Check every reference file; returns a list of problems (empty when all is well)."""
    problems: list[str] = []
    reg = _regions()
    if reg["code"].duplicated().any():
        problems.append(f"regions.csv: duplicate codes {sorted(reg.loc[reg['code'].duplicated(), 'code'])[:5]}")
    codes = set(reg["code"])
    orphans = reg[reg["parent_code"].notna() & ~reg["parent_code"].isin(codes)]
    if len(orphans):
        problems.append(f"regions.csv: parents missing for {list(orphans['code'])[:5]}")
    roots = reg[reg["parent_code"].isna()]
    if len(roots) != 1 or roots.iloc[0]["level"] != "province":
        problems.append("regions.csv: exactly one root (the province) expected")
    if not reg["level"].isin(LEVELS).all():
        problems.append("regions.csv: invalid level")
    if not reg["area_class"].isin(AREA_CLASSES).all():
        problems.append("regions.csv: invalid area_class")
    st = reg[reg["level"] == "station"]
    if not st["kind"].isin(STATION_KINDS).all() or reg.loc[reg["level"] != "station", "kind"].notna().any():
        problems.append("regions.csv: kind must be supply_station|hall on stations and blank elsewhere")
    level_rank = {lv: i for i, lv in enumerate(LEVELS)}
    parent_level = reg["parent_code"].map(reg.set_index("code")["level"])
    step = reg["level"].map(level_rank) - parent_level.map(level_rank)
    if (step[reg["parent_code"].notna()] != 1).any():
        problems.append("regions.csv: every region must sit exactly one level below its parent")
    pos = pd.Series(range(len(reg)), index=reg["code"])
    if (reg["parent_code"].dropna().map(pos) > reg.loc[reg["parent_code"].notna()].index.to_series()).any():
        problems.append("regions.csv: parents must come before children")
    sla = _sla()
    st_codes = set(_codes("service_type")["code"]) | {"*", "planned_outage"}
    if not sla["service_type"].isin(st_codes).all():
        problems.append("sla_policies.csv: unknown service_type")
    if not sla["area_class"].isin([*AREA_CLASSES, "*"]).all():
        problems.append("sla_policies.csv: invalid area_class")
    if not sla["segment"].isin([*_codes("segment")["code"], "*"]).all():
        problems.append("sla_policies.csv: unknown segment")
    if not sla["clock"].isin(["calendar", "working"]).all():
        problems.append("sla_policies.csv: clock must be calendar|working")
    if not sla["semantics"].isin(["average", "each", "at_least"]).all():
        problems.append("sla_policies.csv: semantics must be average|each|at_least")
    if sla.duplicated(["pack", "service_type", "area_class", "segment", "interval"]).any():
        problems.append("sla_policies.csv: duplicate (pack, service_type, area_class, segment, interval)")
    if set(sla["pack"]) != set(PACKS):
        problems.append(f"sla_policies.csv: packs {sorted(set(sla['pack']))} != {sorted(PACKS)}")
    for kind in _KINDS:
        try:
            synonyms(kind)
        except ReferenceError as exc:
            problems.append(str(exc))
    return problems


def seed_sla_policies(engine: object, replace: bool = False) -> int:
    """Insert the shipped SLA packs into the ``sla_policy`` table when it is empty (or always, with ``replace``,
    after deleting the existing rows). Returns the number of rows inserted (0 when left alone)."""
    from sqlalchemy import delete, func, insert, select

    from data.models import SlaPolicy

    df = _sla()
    with engine.begin() as conn:  # type: ignore[attr-defined]
        existing = conn.execute(select(func.count()).select_from(SlaPolicy)).scalar_one()
        if existing and not replace:
            return 0
        if existing:
            conn.execute(delete(SlaPolicy))
        rows = [
            {**{k: v for k, v in r.items() if k not in ("valid_from", "valid_to")},
             "valid_from": None if pd.isna(r["valid_from"]) else r["valid_from"].to_pydatetime(),
             "valid_to": None if pd.isna(r["valid_to"]) else r["valid_to"].to_pydatetime()}
            for r in df.to_dict("records")
        ]
        conn.execute(insert(SlaPolicy), rows)
    return len(df)
