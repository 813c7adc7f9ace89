"""Reference data files: the region tree, teams and staff from CSV/XLSX (UTF-8 or GBK, English or Chinese headers).

``import_reference(engine, kind, path)`` reads the file with the service-log reader (:mod:`data.io.reading`:
encoding, banner lines, header row, XLSX guard), checks every row and the whole tree against the database, and
writes in one transaction only when nothing is wrong: upsert by code (new rows inserted, changed names / parents /
attributes updated and listed field by field, equal rows left alone), so re-running a file changes nothing. Rows
the database holds but the file does not are kept. With ``dry_run`` the same plan is returned and nothing is
written (the admin page's preview). Any error refuses the whole file; every error names the file, row, column,
value and the rule broken (catalogue ``ref.rule.<code>``).

``export_reference`` writes the same columns back (UTF-8 with BOM), so export -> import is a no-op.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.engine import Connection

from data.engine import new_id
from data.i18n import translate
from data.io.errors import FileError
from data.io.exporter import escape_cell, unescape_cell
from data.io.mapping import key as header_key
from data.io.reading import ROW, chunks, open_source
from data.models import Region, Staff, Team
from data.private import open_private, private_dir
from data.reference import LEVELS
from data.users import audit

KINDS = ("regions", "teams", "staff")
STAFF_ROLES = ("agent", "clerk", "crew", "account_manager")

# field -> (accepted headers, header required, max length); the first header is the one exports write
COLUMNS: dict[str, dict[str, tuple[tuple[str, ...], bool, int]]] = {
    "regions": {
        "code": (("code", "region_code", "编码", "区域编码", "单位编码", "代码"), True, 32),
        "name_zh": (("name_zh", "name", "名称", "区域名称", "单位名称", "中文名称"), True, 64),
        "name_en": (("name_en", "english_name", "英文名称", "英文名"), False, 128),
        "parent_code": (("parent_code", "parent", "上级编码", "上级单位编码", "上级区域编码", "父级编码", "上级"),
                        True, 32),
        "level": (("level", "层级", "级别"), True, 16),
        "area_class": (("area_class", "area", "区域类别", "区域类型", "地区类别", "城乡类别"), True, 16),
        "kind": (("kind", "站所类型"), False, 16),
        "customers": (("customers", "客户数", "用户数"), False, 12),
    },
    "teams": {
        "code": (("code", "team_code", "班组编码", "编码"), True, 32),
        "name": (("name", "班组名称", "名称"), True, 64),
        "region_code": (("region_code", "region", "区域编码", "所属单位编码", "单位编码"), True, 32),
        "role": (("role", "班组类型", "岗位"), False, 24),
    },
    "staff": {
        "code": (("staff_no", "code", "staff_number", "工号", "员工编号"), True, 32),
        "name": (("name", "姓名"), True, 64),
        "role": (("role", "岗位", "角色"), True, 24),
        "team_code": (("team_code", "team", "班组编码", "班组"), False, 32),
        "region_code": (("region_code", "region", "区域编码", "所属单位编码", "单位编码"), True, 32),
        "active": (("active", "在岗", "是否在岗", "状态"), False, 8),
    },
}

_LEVEL_LABELS = {
    "province": ("province", None), "省": ("province", None), "省公司": ("province", None),
    "city": ("city", None), "市": ("city", None), "地市": ("city", None), "地市公司": ("city", None),
    "county": ("county", None), "县": ("county", None), "区县": ("county", None), "县区": ("county", None),
    "县公司": ("county", None), "县/区": ("county", None),
    "station": ("station", None), "站所": ("station", None), "供电所": ("station", "supply_station"),
    "营业厅": ("station", "hall"),
}
_AREA_LABELS = {"urban": "urban", "城区": "urban", "城市": "urban", "rural": "rural", "农村": "rural",
                "乡村": "rural", "remote": "remote", "特殊边远": "remote", "边远": "remote"}
_KIND_LABELS = {"supply_station": "supply_station", "供电所": "supply_station", "hall": "hall", "营业厅": "hall"}
_ROLE_LABELS = {"agent": "agent", "坐席": "agent", "客服": "agent", "客服代表": "agent", "clerk": "clerk",
                "营业员": "clerk", "柜员": "clerk", "crew": "crew", "抢修": "crew", "抢修人员": "crew",
                "抢修班": "crew", "account_manager": "account_manager", "客户经理": "account_manager"}
_BOOL_LABELS = {"1": True, "true": True, "yes": True, "y": True, "是": True, "在岗": True, "在职": True,
                "0": False, "false": False, "no": False, "n": False, "否": False, "离岗": False, "离职": False}


def _norm(label: str) -> str:
    return header_key(label)


_LEVELS_N = {_norm(k): v for k, v in _LEVEL_LABELS.items()}
_AREAS_N = {_norm(k): v for k, v in _AREA_LABELS.items()}
_KINDS_N = {_norm(k): v for k, v in _KIND_LABELS.items()}
_ROLES_N = {_norm(k): v for k, v in _ROLE_LABELS.items()}
_BOOLS_N = {_norm(k): v for k, v in _BOOL_LABELS.items()}


@dataclass(frozen=True)
class RowError:
    """One broken rule: ``rule`` picks ``ref.rule.<rule>`` (its placeholders from ``params``)."""

    file: str
    row: int
    column: str
    value: str
    rule: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str = "en") -> str:
        return translate("ref.error.row", lang, file=self.file, row=self.row, column=self.column, value=self.value,
                         rule=translate(f"ref.rule.{self.rule}", lang, **self.params))


@dataclass
class RefResult:
    """What an import did (or, dry run / refused, would do): codes inserted, codes updated with field -> (old,
    new), the number of rows left unchanged, and the errors (none written when there is any)."""

    kind: str
    file: str
    inserted: list[str] = field(default_factory=list)
    updated: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def summary(self, lang: str = "en") -> dict[str, Any]:
        return {"kind": self.kind, "file": self.file, "inserted": len(self.inserted), "updated": len(self.updated),
                "unchanged": self.unchanged, "errors": len(self.errors), "written": self.written,
                "changes": {c: {f: [o, n] for f, (o, n) in ch.items()} for c, ch in self.updated.items()},
                "new": self.inserted, "messages": [e.message(lang) for e in self.errors]}


class _Headers:
    """The reader's header matcher (the part of :class:`data.io.mapping.Mapping` that :func:`open_source` uses)."""

    encoding = None
    delimiter = None
    sheet = None

    def __init__(self, kind: str) -> None:
        self.spec = COLUMNS[kind]
        self.columns = {h: (f,) for f, (hs, _r, _n) in self.spec.items() for h in hs}

    def match_count(self, headers: list[str]) -> int:
        keys = {_norm(h) for h in headers}
        return sum(1 for hs, _r, _n in self.spec.values() if any(_norm(h) in keys for h in hs))

    def required_missing(self, headers: list[str]) -> list[str]:
        keys = {_norm(h) for h in headers}
        return [" / ".join(hs[:3]) for f, (hs, req, _n) in self.spec.items()
                if req and not any(_norm(h) in keys for h in hs)]

    def resolve(self, headers: list[str]) -> dict[str, str]:
        """field -> the file's header for it (the first accepted header present)."""
        by_key: dict[str, str] = {}
        for h in headers:
            by_key.setdefault(_norm(h), h)
        out = {}
        for f, (hs, _r, _n) in self.spec.items():
            for h in hs:
                if _norm(h) in by_key:
                    out[f] = by_key[_norm(h)]
                    break
        return out


def read_rows(kind: str, path: str | Path, name: str | None = None,
              sheet: str | None = None) -> tuple[str, dict[str, str], list[tuple[int, dict[str, str | None]]]]:
    """(file name, field -> header, [(row number, field -> text or None)]); :class:`FileError` for the file."""
    if kind not in COLUMNS:
        raise FileError("kind_unknown", kind=kind, kinds=", ".join(KINDS))
    matcher = _Headers(kind)
    src = open_source(path, matcher, sheet=sheet, name=name)  # type: ignore[arg-type]
    cols = matcher.resolve(src.headers)
    rows: list[tuple[int, dict[str, str | None]]] = []
    for chunk in chunks(src):
        for rec in chunk.to_dict("records"):
            vals: dict[str, str | None] = {}
            for f, h in cols.items():
                v = rec.get(h)
                vals[f] = None if v is None or (isinstance(v, float) and pd.isna(v)) or not str(v).strip() \
                    else str(unescape_cell(str(v).strip()))  # our own exports' protective apostrophe
            rows.append((int(rec[ROW]), vals))
    return src.name, cols, rows


class _Checker:
    def __init__(self, kind: str, file: str, cols: dict[str, str]) -> None:
        self.kind, self.file, self.cols = kind, file, cols
        self.errors: list[RowError] = []

    def err(self, row: int, fld: str, value: object, rule: str, **params: Any) -> None:
        self.errors.append(RowError(self.file, row, self.cols.get(fld, fld), "" if value is None else str(value),
                                    rule, params))

    def text(self, row: int, vals: dict[str, str | None], fld: str) -> str | None:
        v = vals.get(fld)
        _hs, req, n = COLUMNS[self.kind][fld]
        if v is None:
            if req and fld not in ("parent_code",):
                self.err(row, fld, "", "required")
            return None
        if len(v) > n:
            self.err(row, fld, v, "too_long", n=n)
            return None
        return v

    def label(self, row: int, vals: dict[str, str | None], fld: str, table: dict[str, Any], rule: str) -> Any:
        v = self.text(row, vals, fld)
        if v is None:
            return None
        got = table.get(_norm(v))
        if got is None:
            self.err(row, fld, v, rule)
        return got


def _keep(check: _Checker, parsed: dict[str, tuple[int, dict[str, Any]]], seen: dict[str, int], row: int,
          code: str | None, rec: dict[str, Any], n0: int) -> None:
    """Keep a row that broke no rule (``n0``: the error count before it); a code seen before is an error."""
    if code is None:
        return
    if code in seen:
        check.err(row, "code", code, "duplicate", first=seen[code])
    else:
        seen[code] = row
    if len(check.errors) == n0:
        parsed[code] = (row, rec)


# --- regions --------------------------------------------------------------------------------------------------------

_REGION_FIELDS = ("name_zh", "name_en", "parent_code", "level", "kind", "area_class", "customers")


def _parse_regions(check: _Checker, rows: list[tuple[int, dict[str, str | None]]]
                   ) -> dict[str, tuple[int, dict[str, Any]]]:
    parsed: dict[str, tuple[int, dict[str, Any]]] = {}
    seen: dict[str, int] = {}
    for row, vals in rows:
        n0 = len(check.errors)
        code = check.text(row, vals, "code")
        rec: dict[str, Any] = {"name_zh": check.text(row, vals, "name_zh"), "name_en": check.text(row, vals, "name_en"),
                               "parent_code": check.text(row, vals, "parent_code")}
        level = check.label(row, vals, "level", _LEVELS_N, "bad_level")
        rec["level"], kind_from_level = level if level else (None, None)
        rec["area_class"] = check.label(row, vals, "area_class", _AREAS_N, "bad_area")
        kind = check.label(row, vals, "kind", _KINDS_N, "bad_kind") if vals.get("kind") else kind_from_level
        if rec["level"] == "station":
            rec["kind"] = kind or "supply_station"
        elif kind is not None and rec["level"] is not None:
            check.err(row, "kind" if vals.get("kind") else "level", vals.get("kind") or vals.get("level"),
                      "kind_not_station")
        else:
            rec["kind"] = None
        cust = check.text(row, vals, "customers")
        if cust is not None:
            if cust.isdigit():
                rec["customers"] = int(cust)
            else:
                check.err(row, "customers", cust, "bad_count")
        if rec["parent_code"] is not None and rec["parent_code"] == code:
            check.err(row, "parent_code", code, "cycle", chain=f"{code} → {code}")
        _keep(check, parsed, seen, row, code, rec, n0)
    return parsed


def _existing_regions(conn: Connection) -> dict[str, dict[str, Any]]:
    cols = [Region.id, Region.code, Region.name_zh, Region.name_en, Region.parent_id, Region.level, Region.kind,
            Region.area_class, Region.customers, Region.path]
    rows = [dict(r._mapping) for r in conn.execute(select(*cols).order_by(Region.id))]
    code_of = {r["id"]: r["code"] for r in rows}
    for r in rows:
        r["parent_code"] = code_of.get(r["parent_id"])
    return {r["code"]: r for r in rows}


def _check_tree(check: _Checker, parsed: dict[str, tuple[int, dict[str, Any]]],
                existing: dict[str, dict[str, Any]]) -> dict[str, str | None]:
    """The merged parent map (code -> parent code) after the unknown-parent, cycle, root and level checks."""
    parent = {c: r["parent_code"] for c, r in existing.items()}
    level = {c: r["level"] for c, r in existing.items()}
    for c, (_row, rec) in parsed.items():
        parent[c] = rec["parent_code"]
        if rec.get("level"):
            level[c] = rec["level"]
    for row, rec in parsed.values():
        p = rec["parent_code"]
        if p is not None and p not in parent:
            check.err(row, "parent_code", p, "unknown_parent")
    # cycles: walk up from every file row; a walk that comes back to a code it passed is a cycle
    in_cycle: set[str] = set()
    for start in parsed:
        seen: list[str] = []
        at: str | None = start
        while at is not None and at in parent and at not in seen:
            seen.append(at)
            at = parent[at]
        if at is not None and at in seen:
            loop = seen[seen.index(at):]
            if not (set(loop) & in_cycle):
                in_cycle |= set(loop)
                chain = " → ".join([*loop, at])
                for m in loop:
                    if m in parsed and parent[m] != m:
                        check.err(parsed[m][0], "parent_code", parent[m], "cycle", chain=chain)
    roots = [c for c, p in parent.items() if p is None]
    if len(roots) > 1:
        kept = [c for c in roots if c in existing and existing[c]["parent_code"] is None]
        first = kept[0] if kept else min(roots, key=lambda c: parsed[c][0] if c in parsed else 0)
        for c in roots:
            if c != first and c in parsed:
                check.err(parsed[c][0], "parent_code", "", "second_root", root=first)
    rank = {lv: i for i, lv in enumerate(LEVELS)}
    for c, (row, rec) in parsed.items():
        p = rec["parent_code"]
        if c not in in_cycle and p in level and rec.get("level") and level.get(p) and rank[rec["level"]] <= rank[str(level[p])]:
            check.err(row, "level", rec["level"], "level_order", parent=p, parent_level=level[p])
    for c, r in existing.items():  # a file row raising a parent's level above one of its children in the database
        p = r["parent_code"]
        if c not in parsed and p in parsed and p not in in_cycle and parsed[p][1].get("level") and \
                rank[str(r["level"])] <= rank[parsed[p][1]["level"]]:
            check.err(parsed[p][0], "level", parsed[p][1]["level"], "level_child", child=c, child_level=r["level"])
    return parent


def _plan_regions(parsed: dict[str, tuple[int, dict[str, Any]]],
                  existing: dict[str, dict[str, Any]], res: RefResult) -> None:
    for c, (_row, rec) in parsed.items():
        old = existing.get(c)
        if old is None:
            res.inserted.append(c)
            continue
        changes = {}
        for f in _REGION_FIELDS:
            new = rec.get(f)
            if f in ("name_en", "customers") and new is None:
                continue  # a column left out or empty keeps the stored value
            if new != old[f]:
                changes[f] = (old[f], new)
        if changes:
            res.updated[c] = changes
        else:
            res.unchanged += 1


def _write_regions(conn: Connection, parsed: dict[str, tuple[int, dict[str, Any]]],
                   existing: dict[str, dict[str, Any]], parent: dict[str, str | None], res: RefResult) -> None:
    ids = {c: r["id"] for c, r in existing.items()}
    paths = {c: r["path"] for c, r in existing.items()}
    pending = list(res.inserted)
    while pending:  # in file order, parents first: a new region's parent is stored or inserted before it
        ready = []
        for c in pending:
            p = parent[c]
            if p is not None and p not in ids:
                continue
            ready.append(c)
            rec = parsed[c][1]
            ids[c] = new_id(conn.execute(insert(Region).values(
                code=c, name_zh=rec["name_zh"], name_en=rec["name_en"] or rec["name_zh"], level=rec["level"],
                kind=rec["kind"], parent_id=ids[p] if p is not None else None, path="",
                area_class=rec["area_class"], customers=rec.get("customers") or 0)))
        if not ready:  # the tree check rules this out; never loop forever on a broken invariant
            raise RuntimeError(f"regions without a stored parent: {pending[:5]}")
        pending = [c for c in pending if c not in ready]
    for c, changes in res.updated.items():
        values = {f: n for f, (_o, n) in changes.items() if f != "parent_code"}
        if "parent_code" in changes:
            p = changes["parent_code"][1]
            values["parent_id"] = ids[p] if p is not None else None
        conn.execute(update(Region).where(Region.id == ids[c]).values(**values))
    # materialised paths, top-down over the whole merged tree; only the rows whose path moved are written
    new_paths: dict[str, str] = {}

    def path_of(c: str) -> str:
        if c not in new_paths:
            p = parent[c]
            new_paths[c] = (path_of(p) if p is not None else "/") + f"{ids[c]}/"
        return new_paths[c]

    for c in ids:
        if path_of(c) != paths.get(c):
            conn.execute(update(Region).where(Region.id == ids[c]).values(path=new_paths[c]))


# --- teams and staff ------------------------------------------------------------------------------------------------


def _codes(conn: Connection, model: Any) -> dict[str, int]:
    return {str(c): int(i) for i, c in conn.execute(select(model.id, model.code))}


def _parse_teams(check: _Checker, rows: list[tuple[int, dict[str, str | None]]], regions: dict[str, int]
                 ) -> dict[str, tuple[int, dict[str, Any]]]:
    parsed: dict[str, tuple[int, dict[str, Any]]] = {}
    seen: dict[str, int] = {}
    for row, vals in rows:
        n0 = len(check.errors)
        code = check.text(row, vals, "code")
        rec = {"name": check.text(row, vals, "name"), "region_code": check.text(row, vals, "region_code"),
               "role": check.label(row, vals, "role", _ROLES_N, "bad_role") if vals.get("role") else None}
        if rec["region_code"] is not None and rec["region_code"] not in regions:
            check.err(row, "region_code", rec["region_code"], "unknown_region")
        _keep(check, parsed, seen, row, code, rec, n0)
    return parsed


def _parse_staff(check: _Checker, rows: list[tuple[int, dict[str, str | None]]], regions: dict[str, int],
                 teams: dict[str, int]) -> dict[str, tuple[int, dict[str, Any]]]:
    parsed: dict[str, tuple[int, dict[str, Any]]] = {}
    seen: dict[str, int] = {}
    for row, vals in rows:
        n0 = len(check.errors)
        code = check.text(row, vals, "code")
        rec: dict[str, Any] = {"name": check.text(row, vals, "name"),
                               "role": check.label(row, vals, "role", _ROLES_N, "bad_role"),
                               "team_code": check.text(row, vals, "team_code"),
                               "region_code": check.text(row, vals, "region_code")}
        rec["active"] = check.label(row, vals, "active", _BOOLS_N, "bad_bool") if vals.get("active") else True
        if rec["region_code"] is not None and rec["region_code"] not in regions:
            check.err(row, "region_code", rec["region_code"], "unknown_region")
        if rec["team_code"] is not None and rec["team_code"] not in teams:
            check.err(row, "team_code", rec["team_code"], "unknown_team")
        _keep(check, parsed, seen, row, code, rec, n0)
    return parsed


def _plan_simple(parsed: dict[str, tuple[int, dict[str, Any]]], existing: dict[str, dict[str, Any]],
                 fields: tuple[str, ...], res: RefResult, keep_if_none: tuple[str, ...] = ()) -> None:
    for c, (_row, rec) in parsed.items():
        old = existing.get(c)
        if old is None:
            res.inserted.append(c)
            continue
        changes = {f: (old[f], rec[f]) for f in fields
                   if rec[f] != old[f] and not (f in keep_if_none and rec[f] is None)}
        if changes:
            res.updated[c] = changes
        else:
            res.unchanged += 1


def _existing_teams(conn: Connection) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(Team.id, Team.code, Team.name, Team.role, Region.code.label("region_code"))
                        .join(Region, Region.id == Team.region_id))
    return {r.code: dict(r._mapping) for r in rows}


def _existing_staff(conn: Connection) -> dict[str, dict[str, Any]]:
    rows = conn.execute(select(Staff.id, Staff.code, Staff.name, Staff.role, Staff.active,
                               Region.code.label("region_code"), Team.code.label("team_code"))
                        .join(Region, Region.id == Staff.region_id).outerjoin(Team, Team.id == Staff.team_id))
    out = {r.code: dict(r._mapping) for r in rows}
    for r in out.values():
        r["active"] = bool(r["active"])
    return out


# --- entry points ---------------------------------------------------------------------------------------------------


def import_reference(engine: Engine, kind: str, path: str | Path, *, user: str | None = None,
                     name: str | None = None, sheet: str | None = None, dry_run: bool = False) -> RefResult:
    """Check ``path`` against the database and, when nothing is wrong and not ``dry_run``, write it in one
    transaction (audited as ``reference_import``). :class:`FileError` for a file that cannot be read at all."""
    file, cols, rows = read_rows(kind, path, name=name, sheet=sheet)
    return apply_rows(engine, kind, file, cols, rows, user=user, dry_run=dry_run)


def apply_rows(engine: Engine, kind: str, file: str, cols: dict[str, str],
               rows: list[tuple[int, dict[str, str | None]]], *, user: str | None = None,
               dry_run: bool = False) -> RefResult:
    """:func:`import_reference` for rows already read (``file`` and ``cols``, field -> header, name them in errors),
    e.g. one region added or renamed on the admin page."""
    res = RefResult(kind, file)
    check = _Checker(kind, file, cols)
    with engine.begin() as conn:
        if kind == "regions":
            existing = _existing_regions(conn)
            parsed = _parse_regions(check, rows)
            # the tree is checked once every row is well formed (a broken row would make its children orphans)
            parent = _check_tree(check, parsed, existing) if not check.errors else {}
            _plan_regions(parsed, existing, res)
        elif kind == "teams":
            regions = _codes(conn, Region)
            existing = _existing_teams(conn)
            parsed = _parse_teams(check, rows, regions)
            _plan_simple(parsed, existing, ("name", "role", "region_code"), res, keep_if_none=("role",))
            for c in res.inserted:  # a new team needs its kind of work; an update may leave the column out
                if parsed[c][1]["role"] is None:
                    check.err(parsed[c][0], "role", "", "required")
        else:
            regions, teams = _codes(conn, Region), _codes(conn, Team)
            existing = _existing_staff(conn)
            parsed = _parse_staff(check, rows, regions, teams)
            _plan_simple(parsed, existing, ("name", "role", "team_code", "region_code", "active"), res)
        res.errors = sorted(check.errors, key=lambda e: (e.row, e.column))
        if res.errors:
            res.inserted, res.updated, res.unchanged = [], {}, 0
            return res
        if dry_run or not (res.inserted or res.updated):
            return res
        if kind == "regions":
            _write_regions(conn, parsed, existing, parent, res)
        elif kind == "teams":
            _write_teams(conn, parsed, res, regions)
        else:
            _write_staff(conn, parsed, res, regions, teams)
        audit(conn, user, "reference_import", kind, file[:128],
              {"inserted": len(res.inserted), "updated": len(res.updated), "unchanged": res.unchanged})
        res.written = True
    return res


def _write_teams(conn: Connection, parsed: dict[str, tuple[int, dict[str, Any]]], res: RefResult,
                 regions: dict[str, int]) -> None:
    ids = _codes(conn, Team)
    for c in res.inserted:
        rec = parsed[c][1]
        conn.execute(insert(Team).values(code=c, name=rec["name"], role=rec["role"],
                                         region_id=regions[rec["region_code"]]))
    for c, changes in res.updated.items():
        values = {f: n for f, (_o, n) in changes.items() if f != "region_code"}
        if "region_code" in changes:
            values["region_id"] = regions[changes["region_code"][1]]
        conn.execute(update(Team).where(Team.id == ids[c]).values(**values))


def _write_staff(conn: Connection, parsed: dict[str, tuple[int, dict[str, Any]]], res: RefResult,
                 regions: dict[str, int], teams: dict[str, int]) -> None:
    ids = _codes(conn, Staff)
    for c in res.inserted:
        rec = parsed[c][1]
        conn.execute(insert(Staff).values(
            code=c, name=rec["name"], role=rec["role"], region_id=regions[rec["region_code"]],
            team_id=teams[rec["team_code"]] if rec["team_code"] else None, active=rec["active"]))
    for c, changes in res.updated.items():
        values: dict[str, Any] = {f: n for f, (_o, n) in changes.items() if f not in ("region_code", "team_code")}
        if "region_code" in changes:
            values["region_id"] = regions[changes["region_code"][1]]
        if "team_code" in changes:
            tc = changes["team_code"][1]
            values["team_id"] = teams[tc] if tc else None
        conn.execute(update(Staff).where(Staff.id == ids[c]).values(**values))


_EXPORT_ORDER = {
    "regions": ("code", "name_zh", "name_en", "parent_code", "level", "kind", "area_class", "customers"),
    "teams": ("code", "name", "region_code", "role"),
    "staff": ("code", "name", "role", "team_code", "region_code", "active"),
}


def reference_frame(engine: Engine, kind: str) -> pd.DataFrame:
    """The stored rows of ``kind`` in the file's columns (regions parents before children), by code."""
    if kind not in COLUMNS:
        raise FileError("kind_unknown", kind=kind, kinds=", ".join(KINDS))
    with engine.connect() as conn:
        rows = {"regions": _existing_regions, "teams": _existing_teams, "staff": _existing_staff}[kind](conn)
    df = pd.DataFrame(list(rows.values()), columns=["id", "path", *_EXPORT_ORDER[kind]])
    if kind == "regions":
        df = df.assign(_depth=df["path"].str.count("/")).sort_values(["_depth", "code"], kind="stable")
    else:
        df = df.sort_values("code", kind="stable")
    return df[list(_EXPORT_ORDER[kind])].reset_index(drop=True)


def export_reference(engine: Engine, kind: str, out: str | Path, user: str | None = None) -> dict[str, Any]:
    """Write ``kind`` as CSV (UTF-8 with BOM; the first accepted header of each column), which
    :func:`import_reference` reads back unchanged. Owner-only file; audited as ``export``."""
    df = reference_frame(engine, kind)
    out = Path(out)
    private_dir(out.parent)
    headers = [COLUMNS[kind][f][0][0] for f in _EXPORT_ORDER[kind]]
    with open_private(out, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(headers)
        for rec in df.itertuples(index=False):
            w.writerow([_out(v) for v in rec])
    info = {"kind": kind, "rows": len(df), "file": str(out),
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    with engine.begin() as conn:
        audit(conn, user, "export", kind, out.name[:128], info)
    return info


def _out(v: object) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(escape_cell(str(v)))


def scoped_frames(engine: Engine, scope_path: str) -> dict[str, pd.DataFrame]:
    """For the admin page: the regions of the subtree ``scope_path`` with their counts (children, teams, staff,
    active staff), and the teams and staff whose region lies in it, in the file's columns."""
    from sqlalchemy import func

    with engine.connect() as conn:
        regions = pd.DataFrame(list(_existing_regions(conn).values()),
                               columns=["id", "path", *_EXPORT_ORDER["regions"]])
        children = dict(conn.execute(select(Region.parent_id, func.count()).group_by(Region.parent_id)).all())
        teams_n = dict(conn.execute(select(Team.region_id, func.count()).group_by(Team.region_id)).all())
        staff_n = dict(conn.execute(select(Staff.region_id, func.count()).group_by(Staff.region_id)).all())
        teams = pd.DataFrame(list(_existing_teams(conn).values()),
                             columns=["id", "code", "name", "role", "region_code"])
        staff = pd.DataFrame(list(_existing_staff(conn).values()),
                             columns=["id", "code", "name", "role", "team_code", "region_code", "active"])
    regions = regions[regions["path"].str.startswith(scope_path)]
    regions = regions.assign(depth=regions["path"].str.count("/") - 2,
                             children=regions["id"].map(children).fillna(0).astype(int),
                             teams=regions["id"].map(teams_n).fillna(0).astype(int),
                             staff=regions["id"].map(staff_n).fillna(0).astype(int))
    regions = regions.sort_values(  # depth first: every region right below its parent (ids padded to compare)
        "path", key=lambda p: p.map(lambda x: "/".join(f"{int(i):012d}" for i in x.strip("/").split("/"))))
    codes = set(regions["code"])
    return {"regions": regions.reset_index(drop=True),
            "teams": teams[teams["region_code"].isin(codes)].sort_values("code").reset_index(drop=True),
            "staff": staff[staff["region_code"].isin(codes)].sort_values("code").reset_index(drop=True)}
