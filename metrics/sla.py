"""Joining the applicable SLA policy row onto each work order (pure: the policy frame is passed in by the caller).

The policy frame has the columns of ``data.reference.sla_policies(pack)`` / the ``sla_policy`` table: ``service_type``,
``area_class``, ``segment``, ``interval``, ``clock``, ``limit_value``, ``limit_unit``, ``semantics`` and optionally
``pack``, ``valid_from``, ``valid_to``. ``*`` in ``area_class`` or ``segment`` means any. When several rows apply to
an order, the most specific wins (a named area class and a named segment beat ``*``); a row with ``valid_from`` /
``valid_to`` applies only to orders created in [valid_from, valid_to).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["join_sla_limits", "sla_columns", "LIMIT_FIELDS"]

LIMIT_FIELDS = ("limit_value", "limit_unit", "clock", "semantics")


def sla_columns(interval: str) -> dict[str, str]:
    """The column names :func:`join_sla_limits` writes for ``interval`` with ``suffix=True``, keyed by the
    :func:`metrics.kpis.sla_attainment` parameter they feed (``limit_col``, ``unit_col``, ``clock_col``,
    ``semantics_col``)."""
    return {"limit_col": f"limit_value_{interval}", "unit_col": f"limit_unit_{interval}",
            "clock_col": f"clock_{interval}", "semantics_col": f"semantics_{interval}"}


def join_sla_limits(
    frame: pd.DataFrame,
    policies: pd.DataFrame,
    intervals: str | Sequence[str],
    *,
    pack: str | None = None,
    suffix: bool | None = None,
) -> pd.DataFrame:
    """A copy of ``frame`` (work orders with ``service_type``, ``area_class``, ``segment``, ``created_at``) with the
    applicable limit of each ``interval`` joined per row.

    With one interval and ``suffix`` False (the default for one interval) the columns are ``limit_value``,
    ``limit_unit``, ``clock``, ``semantics`` (what :func:`metrics.kpis.sla_attainment` reads by default); with
    several intervals (or ``suffix=True``) they are suffixed ``_<interval>`` (see :func:`sla_columns`). Orders no
    policy row applies to get NaN / None (``sla_attainment`` counts them in ``n_no_limit``). Vectorised: one merge
    on service type per interval, then the most specific matching row per order.
    """
    return _join_coded(frame, policies, intervals, pack=pack, suffix=suffix)[0]


def _join_coded(
    frame: pd.DataFrame,
    policies: pd.DataFrame,
    intervals: str | Sequence[str],
    *,
    pack: str | None = None,
    suffix: bool | None = None,
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, pd.Index]]]:
    """:func:`join_sla_limits` plus, when it matched distinct triples, the group codes of the text limit columns
    (codes in sorted value order, a missing value last: what ``pd.factorize(sort=True, use_na_sentinel=False)``
    gives for the full column), so callers need not factorise them again."""
    codes_out: dict[str, tuple[np.ndarray, pd.Index]] = {}
    ivs = [intervals] if isinstance(intervals, str) else list(intervals)
    if suffix is None:
        suffix = len(ivs) > 1
    for col in ("service_type", "area_class", "segment"):
        if col not in frame.columns:
            raise ValueError(f"frame lacks column {col!r}")
    pol = policies
    if pack is not None and "pack" in pol.columns:
        pol = pol.loc[pol["pack"] == pack]
    if "pack" in pol.columns and pol["pack"].nunique() > 1:
        raise ValueError("policies hold several packs; pass pack= or one pack's rows")
    out = frame.copy()
    extra = [c for c in ("valid_from", "valid_to") if c in pol.columns]
    timed = "created_at" in frame.columns and bool(extra) and bool(pol[extra].notna().to_numpy().any())
    if len(frame) and not timed:
        # the applicable row depends on (service type, area class, segment) only: match each distinct triple once
        codes = [pd.factorize(frame[c], use_na_sentinel=False)[0] for c in ("service_type", "area_class", "segment")]
        dims = [int(cd.max()) + 1 for cd in codes]
        _, first, inverse = np.unique(np.ravel_multi_index(codes, dims), return_index=True, return_inverse=True)
        value_s, fields_s = _match_distinct(frame.iloc[first], pol, ivs)
        for iv in ivs:
            names = {f: (f"{f}_{iv}" if suffix else f) for f in LIMIT_FIELDS}
            out[names["limit_value"]] = value_s[iv][inverse]
            for f in LIMIT_FIELDS[1:]:
                small = pd.Series(fields_s[iv][f])  # the dtype the full column would be given (same values)
                out[names[f]] = small.array.take(inverse)
                sc, su = pd.factorize(small, sort=True, use_na_sentinel=False)
                idx = pd.Index(su)
                if idx.dtype != small.dtype:
                    idx = idx.astype(small.dtype)
                codes_out[names[f]] = (np.asarray(sc, dtype=np.int64)[inverse], idx)
        return out, codes_out
    created = pd.to_datetime(frame["created_at"], utc=True).to_numpy() if "created_at" in frame.columns else None
    value_s, fields_s = _match(frame, pol, ivs, created)
    for iv in ivs:
        names = {f: (f"{f}_{iv}" if suffix else f) for f in LIMIT_FIELDS}
        out[names["limit_value"]] = value_s[iv]
        for f in LIMIT_FIELDS[1:]:
            out[names[f]] = fields_s[iv][f]
    return out, codes_out


def _match(frame: pd.DataFrame, pol: pd.DataFrame, ivs: Sequence[str], created: np.ndarray | None
           ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """Per interval: the limit value and the other limit fields of the most specific applicable policy row."""
    values: dict[str, np.ndarray] = {}
    all_fields: dict[str, dict[str, np.ndarray]] = {}
    pos = pd.DataFrame({
        "__pos": np.arange(len(frame)),
        "service_type": frame["service_type"].to_numpy(),
        "area_class": frame["area_class"].to_numpy(),
        "segment": frame["segment"].to_numpy(),
    })
    for iv in ivs:
        p = pol.loc[pol["interval"] == iv]
        value = np.full(len(frame), np.nan)
        fields: dict[str, np.ndarray] = {f: np.full(len(frame), None, dtype=object) for f in LIMIT_FIELDS[1:]}
        if len(p) and len(frame):
            cols = ["service_type", "area_class", "segment", *LIMIT_FIELDS]
            extra = [c for c in ("valid_from", "valid_to") if c in p.columns]
            m = pos.merge(p[cols + extra], on="service_type", how="inner", suffixes=("", "_p"))
            ok = ((m["area_class_p"] == "*") | (m["area_class_p"] == m["area_class"])) & (
                (m["segment_p"] == "*") | (m["segment_p"] == m["segment"]))
            if created is not None and extra:
                t = pd.Series(created[m["__pos"].to_numpy()], index=m.index)
                if "valid_from" in m.columns:
                    vf = pd.to_datetime(m["valid_from"], utc=True)
                    ok &= vf.isna() | (t >= vf)
                if "valid_to" in m.columns:
                    vt = pd.to_datetime(m["valid_to"], utc=True)
                    ok &= vt.isna() | (t < vt)
            m = m.loc[ok]
            spec = (m["area_class_p"] != "*").astype(int) + (m["segment_p"] != "*").astype(int)
            m = m.assign(__spec=spec).sort_values(["__pos", "__spec"], ascending=[True, False], kind="mergesort")
            m = m.drop_duplicates("__pos", keep="first")
            at = m["__pos"].to_numpy()
            value[at] = m["limit_value"].astype(float).to_numpy()
            for f in LIMIT_FIELDS[1:]:
                fields[f][at] = m[f].to_numpy()
        values[iv] = value
        all_fields[iv] = fields
    return values, all_fields


def _match_distinct(frame: pd.DataFrame, pol: pd.DataFrame, ivs: Sequence[str]
                    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """:func:`_match` without validity dates for a few distinct (service type, area class, segment) rows: the same
    choice (most specific applicable row, the first in policy order among equals) by a loop over the distinct
    rows x policy rows (tens x tens), which is cheaper than a merge for so few."""
    values: dict[str, np.ndarray] = {}
    all_fields: dict[str, dict[str, np.ndarray]] = {}
    svc = frame["service_type"].to_numpy(dtype=object)
    area = frame["area_class"].to_numpy(dtype=object)
    seg = frame["segment"].to_numpy(dtype=object)
    for iv in ivs:
        p = pol.loc[pol["interval"] == iv]
        value = np.full(len(frame), np.nan)
        fields: dict[str, np.ndarray] = {f: np.full(len(frame), None, dtype=object) for f in LIMIT_FIELDS[1:]}
        if len(p) and len(frame):
            p_svc, p_area, p_seg = (p[c].to_numpy(dtype=object) for c in ("service_type", "area_class", "segment"))
            p_val = p["limit_value"].astype(float).to_numpy()
            p_f = {f: p[f].to_numpy() for f in LIMIT_FIELDS[1:]}
            for i in range(len(frame)):
                best, best_spec = -1, -1
                for j in range(len(p)):
                    if not _same_key(svc[i], p_svc[j]):
                        continue
                    if not (p_area[j] == "*" or _equal(p_area[j], area[i])):
                        continue
                    if not (p_seg[j] == "*" or _equal(p_seg[j], seg[i])):
                        continue
                    spec = int(p_area[j] != "*") + int(p_seg[j] != "*")
                    if spec > best_spec:
                        best, best_spec = j, spec
                if best >= 0:
                    value[i] = p_val[best]
                    for f in LIMIT_FIELDS[1:]:
                        fields[f][i] = p_f[f][best]
        values[iv] = value
        all_fields[iv] = fields
    return values, all_fields


def _equal(a: object, b: object) -> bool:
    """Element-wise ``==`` as on Series (a missing value equals nothing)."""
    return not (pd.isna(a) or pd.isna(b)) and bool(a == b)


def _same_key(a: object, b: object) -> bool:
    """Merge-key equality (missing keys match each other, as ``merge`` does)."""
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    return bool(a == b)
