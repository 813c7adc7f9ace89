"""Global filters: one sidebar block kept across pages (session state) and mirrored in the URL.

The sidebar holds the period (presets 本月/上月/本季/本年/近30天 or custom dates), the comparison mode, the region
subtree (only regions inside the user's scope are offered), area class, channel, service type and segment.
The state is one frozen :class:`FilterState`; pages read it with :func:`current` and pass :meth:`FilterState.key`
(small and hashable) into their cached readers together with the database URL and the scope path.

URL sharing: the filters are written to ``st.query_params`` as language-independent codes
(``?period=this_month&cmp=previous&region=370800&area=urban,rural``) and read back on a session's first run.
A value that is not allowed (a region outside the user's scope, an unknown code) is ignored and reported; the data
layer enforces the scope again on every read.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from dashboard.db import site_zone, url
from dashboard.i18n import lang, t
from dashboard.safe import md_escape
from data.engine import get_engine
from data.reference import AREA_CLASSES, channels, segments, service_types
from data.repositories import Filters, Scope, data_window, regions
from data.users import Identity
from metrics.dashboard_support import comparison_for
from metrics.periods import COMPARISONS, PRESETS, Period, preset

PERIOD_CHOICES = (*PRESETS, "custom")
DEFAULT_PERIOD = "this_month"
DEFAULT_COMPARISON = "previous"
STATE_KEY = "filter_state"
SEEDED_KEY = "_filters_seeded"
NOTICE_KEY = "_filters_notice"
DATE_NOTES_KEY = "_filters_date_notes"
PENDING_REGION = "_filters_pending_region"
# widget key -> URL parameter
_PARAMS = {
    "f_period": "period", "f_from": "from", "f_to": "to", "f_cmp": "cmp", "f_region": "region",
    "f_area": "area", "f_channel": "ch", "f_service": "svc", "f_segment": "seg",
}
_MULTI = ("f_area", "f_channel", "f_service", "f_segment")


@dataclass(frozen=True)
class FilterState:
    """The global filters as chosen; ``region_id`` is always a region inside the user's scope."""

    period_name: str
    period: Period
    comparison_mode: str
    region_id: int
    region_code: str
    region_is_scope_root: bool
    area_classes: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    service_types: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()

    @property
    def comparison_period(self) -> Period | None:
        return comparison_for(self.period_name, self.period, self.comparison_mode)

    def key(self, period: Period | None = None) -> tuple[object, ...]:
        """A small hashable key for cached readers: (start, end, region, area, channel, service, segment)."""
        p = period or self.period
        return (p.start.isoformat(), p.end.isoformat(), None if self.region_is_scope_root else self.region_id,
                self.area_classes, self.channels, self.service_types, self.segments)

    def comparison_key(self) -> tuple[object, ...] | None:
        cp = self.comparison_period
        return None if cp is None else self.key(cp)

    def describe(self) -> dict[str, str]:
        """The active narrowing filters as label -> values (for export headers and captions)."""
        out: dict[str, str] = {}
        for label, codes, fmt in (
            ("filters.area", self.area_classes, area_label),
            ("filters.channel", self.channels, channel_label),
            ("filters.service", self.service_types, service_label),
            ("filters.segment", self.segments, segment_label),
        ):
            if codes:
                out[t(label)] = "、".join(fmt(c) for c in codes)
        return out


def filters_from_key(key: tuple[object, ...], tz: str | None = None) -> Filters:
    """Rebuild the data layer's :class:`Filters` from :meth:`FilterState.key` (inside cached functions); the local
    dates are days of ``tz`` (default: the site's zone)."""
    start, end, region_id, areas, chans, svcs, segs = key
    s, e = Period(dt.date.fromisoformat(str(start)), dt.date.fromisoformat(str(end))).utc_bounds(tz or site_zone())
    return Filters(start=s, end=e, region_id=region_id, area_classes=tuple(areas),  # type: ignore[arg-type]
                   channels=tuple(chans), service_types=tuple(svcs), segments=tuple(segs))  # type: ignore[arg-type]


def frozen(options: Any, fn: Callable[[Any], str]) -> Callable[[Any], str]:
    """A widget ``format_func`` with the labels computed now, in this session's language (AppTest and reruns may call
    format functions outside the script run, where the session's language is not known)."""
    table = {o: fn(o) for o in options}
    return lambda o: table.get(o, str(o))


# --- labels ---------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _ref_names(kind: str) -> Mapping[str, tuple[str, str]]:
    """code -> (zh name, en name) of a reference list (read-only; the lists are shipped files)."""
    df = {"channel": channels, "service": service_types, "segment": segments}[kind]()
    return MappingProxyType({str(r.code): (str(r.name_zh), str(r.name_en)) for r in df.itertuples()})


def _label(kind: str, code: str) -> str:
    names = _ref_names(kind).get(code)
    if names is None:
        return code
    return names[0] if lang() == "zh-CN" else names[1]


def channel_label(code: str) -> str:
    return _label("channel", code)


def service_label(code: str) -> str:
    return _label("service", code)


def segment_label(code: str) -> str:
    return _label("segment", code)


def area_label(code: str) -> str:
    return t(f"area.{code}")


# --- cached reads ---------------------------------------------------------------------------------------------------


@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def scope_regions(db_url: str, scope_path: str) -> pd.DataFrame:
    """The region tree inside the scope (id, code, names, level, parent, path, area class, customers)."""
    return regions(get_engine(db_url), Scope(scope_path))


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def anchor_day(db_url: str) -> dt.date:
    """The newest day with data (today on a live site; the demo world's last day in demo mode)."""
    window = data_window(get_engine(db_url))
    zone = ZoneInfo(site_zone())
    if window is None:
        return dt.datetime.now(zone).date()
    return window[1].astimezone(zone).date()


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def first_day(db_url: str) -> dt.date | None:
    """The oldest day with data (None for an empty database)."""
    window = data_window(get_engine(db_url))
    return None if window is None else window[0].astimezone(ZoneInfo(site_zone())).date()


def date_bounds(db_url: str) -> tuple[dt.date, dt.date]:
    """The days a custom period may span: the oldest to the newest day with data (ten years back when empty)."""
    hi = anchor_day(db_url)
    lo = first_day(db_url)
    if lo is None or lo > hi:
        lo = hi - dt.timedelta(days=3653)
    return lo, hi


# --- URL ------------------------------------------------------------------------------------------------------------


def _clamp_url_dates(dates: dict[str, dt.date], lo: dt.date, hi: dt.date) -> list[tuple[str, str]]:
    """Bring a shared link's custom dates into the data's range (in place); the notes say what was changed.

    A link made earlier, or on another site, may name days after the newest data (the date inputs then refuse the
    value on every rerun) or before the oldest; an end before the start is swapped."""
    notes: list[tuple[str, str]] = []
    for key, which in (("f_from", "from"), ("f_to", "to")):
        d = dates.get(key)
        if d is None:
            continue
        if d > hi:
            dates[key] = hi
            notes.append((f"filters.url_{which}_after", hi.isoformat()))
        elif d < lo:
            dates[key] = lo
            notes.append((f"filters.url_{which}_before", lo.isoformat()))
    start, last = dates.get("f_from"), dates.get("f_to")
    if start is not None and last is not None and start > last:
        dates["f_from"], dates["f_to"] = last, start
        notes.append(("filters.url_swapped", ""))
    return notes


def _seed_from_url(tree: pd.DataFrame, today: dt.date, first: dt.date | None = None) -> None:
    """On a session's first filtered run, take allowed values from the URL; drop and report the rest."""
    if st.session_state.get(SEEDED_KEY):
        return
    st.session_state[SEEDED_KEY] = True
    qp = st.query_params
    ignored: list[str] = []
    allowed: dict[str, set[str]] = {
        "f_period": set(PERIOD_CHOICES), "f_cmp": set(COMPARISONS), "f_region": set(tree["code"].astype(str)),
        "f_area": set(AREA_CLASSES), "f_channel": set(_ref_names("channel")),
        "f_service": set(_ref_names("service")), "f_segment": set(_ref_names("segment")),
    }
    dates: dict[str, dt.date] = {}
    for key, param in _PARAMS.items():
        raw = qp.get(param)
        if raw is None or raw == "":
            continue
        if key in ("f_from", "f_to"):
            try:
                dates[key] = dt.date.fromisoformat(raw)
            except ValueError:
                ignored.append(param)
            continue
        if key in _MULTI:
            values = [v for v in raw.split(",") if v]
            good = [v for v in values if v in allowed[key]]
            if len(good) != len(values):
                ignored.append(param)
            st.session_state[key] = good
            continue
        if raw in allowed[key]:
            st.session_state[key] = raw
        else:
            ignored.append(param)
    notes = _clamp_url_dates(dates, first or today - dt.timedelta(days=3653), today)
    st.session_state.update(dates)
    if ignored:
        st.session_state[NOTICE_KEY] = ignored
    if notes:
        st.session_state[DATE_NOTES_KEY] = notes


URL_KEYS = ("period", "from", "to", "cmp", "region", "area", "ch", "svc", "seg")


def _write_url(state: FilterState) -> None:
    """Write the filters into the URL, leaving every other parameter (a survey link's ``t``) as it is."""
    current = {k: st.query_params.get(k) for k in st.query_params}
    params: dict[str, str] = {k: v for k, v in current.items() if k not in URL_KEYS and v is not None}
    if state.period_name != DEFAULT_PERIOD:
        params["period"] = state.period_name
    if state.period_name == "custom":
        params["from"] = state.period.start.isoformat()
        params["to"] = state.period.last_day.isoformat()
    if state.comparison_mode != DEFAULT_COMPARISON:
        params["cmp"] = state.comparison_mode
    if not state.region_is_scope_root:
        params["region"] = state.region_code
    for key, values in (("area", state.area_classes), ("ch", state.channels), ("svc", state.service_types),
                        ("seg", state.segments)):
        if values:
            params[key] = ",".join(values)
    if current != params:
        st.query_params.from_dict(params)


# --- the sidebar ------------------------------------------------------------------------------------------------------


def _indent(level: str) -> str:
    return {"province": "", "city": "　", "county": "　　", "station": "　　　"}.get(level, "")


def sidebar(ident: Identity) -> FilterState | None:
    """Render the global filters in the sidebar and keep the state in the session; None when the scope is empty."""
    db = url()
    tree = scope_regions(db, ident.scope_path)
    if tree.empty:
        return None
    lo, today = date_bounds(db)
    _seed_from_url(tree, today, lo)
    for key in ("f_from", "f_to"):  # the data may have changed since the dates were chosen: keep them in range
        value = st.session_state.get(key)
        if isinstance(value, dt.date) and not lo <= value <= today:
            st.session_state[key] = min(max(value, lo), today)
    zh = lang() == "zh-CN"
    by_code = tree.set_index(tree["code"].astype(str))
    codes = list(by_code.index)
    root_code = str(tree.loc[tree["path"] == ident.scope_path, "code"].iloc[0]) if (
        tree["path"] == ident.scope_path).any() else codes[0]
    pending = st.session_state.pop(PENDING_REGION, None)
    if pending in codes:
        st.session_state["f_region"] = pending
    if st.session_state.get("f_region") not in codes:
        st.session_state["f_region"] = root_code

    with st.sidebar:
        st.subheader(t("filters.title"))
        name = st.selectbox(t("filters.period"), PERIOD_CHOICES, key="f_period",
                            index=PERIOD_CHOICES.index(DEFAULT_PERIOD), format_func=frozen(PERIOD_CHOICES, lambda p: t(f"period.{p}")))
        if name == "custom":
            default = preset("last_30_days", today)
            c1, c2 = st.columns(2)
            start = c1.date_input(t("filters.from"), value=st.session_state.get("f_from", max(default.start, lo)),
                                  key="f_from", min_value=lo, max_value=today)
            last = c2.date_input(t("filters.to"), value=st.session_state.get("f_to", default.last_day),
                                 key="f_to", min_value=lo, max_value=today)
            if not isinstance(start, dt.date) or not isinstance(last, dt.date) or last < start:
                st.warning(t("filters.bad_range"))
                period = default
            else:
                period = Period(start, last + dt.timedelta(days=1))
        else:
            period = preset(name or DEFAULT_PERIOD, today)
        mode = st.selectbox(t("filters.comparison"), COMPARISONS, key="f_cmp",
                            index=COMPARISONS.index(DEFAULT_COMPARISON), format_func=frozen(COMPARISONS, lambda m: t(f"comparison.{m}")))

        def region_fmt(code: str) -> str:
            row = by_code.loc[code]
            return _indent(str(row["level"])) + str(row["name_zh"] if zh else row["name_en"])

        region_code = st.selectbox(t("filters.region"), codes, key="f_region", format_func=frozen(codes, region_fmt))
        areas = st.multiselect(t("filters.area"), AREA_CLASSES, key="f_area", format_func=frozen(AREA_CLASSES, area_label),
                               select_all=False, placeholder=t("filters.all"))
        chans = st.multiselect(t("filters.channel"), list(_ref_names("channel")), key="f_channel",
                               format_func=frozen(_ref_names("channel"), channel_label), select_all=False, placeholder=t("filters.all"))
        svcs = st.multiselect(t("filters.service"), list(_ref_names("service")), key="f_service",
                              format_func=frozen(_ref_names("service"), service_label), select_all=False, placeholder=t("filters.all"))
        segs = st.multiselect(t("filters.segment"), list(_ref_names("segment")), key="f_segment",
                              format_func=frozen(_ref_names("segment"), segment_label), select_all=False, placeholder=t("filters.all"))
        ignored = st.session_state.pop(NOTICE_KEY, None)
        if ignored:
            st.warning(t("filters.url_ignored", params=", ".join(ignored)))
        for note, day in st.session_state.pop(DATE_NOTES_KEY, None) or ():
            st.warning(t(note, date=day))
            st.toast(t(note, date=day), icon=":material/event:")  # seen with the sidebar collapsed too
    row = by_code.loc[region_code or root_code]
    state = FilterState(
        period_name=name or DEFAULT_PERIOD, period=period, comparison_mode=mode or DEFAULT_COMPARISON,
        region_id=int(row["id"]), region_code=str(region_code or root_code),
        region_is_scope_root=str(row["path"]) == ident.scope_path,
        area_classes=tuple(areas), channels=tuple(chans), service_types=tuple(svcs), segments=tuple(segs),
    )
    st.session_state[STATE_KEY] = state
    _write_url(state)
    return state


def current() -> FilterState:
    """The filters the sidebar set on this run (pages call this; the app shell renders the sidebar first)."""
    state = st.session_state.get(STATE_KEY)
    if not isinstance(state, FilterState):
        st.info(t("state.empty"))
        st.stop()
    return state


def set_region(region_id: int) -> None:
    """Drill into a region (inside the scope) from a page and rerun: the sidebar takes it before drawing."""
    tree = scope_regions(url(), st.session_state["identity"].scope_path)
    hit = tree.loc[tree["id"] == region_id, "code"]
    if len(hit):
        st.session_state[PENDING_REGION] = str(hit.iloc[0])
        st.rerun()


# --- the line at the top of every page ------------------------------------------------------------------------------


def period_label(name: str, p: Period) -> str:
    """"2026年10月", "2026年第4季度（截至11月25日）", "2026年", or the date range."""
    zh = lang() == "zh-CN"
    last = p.last_day
    month = f"{p.start.year}年{p.start.month}月" if zh else p.start.strftime("%B %Y")
    quarter = (f"{p.start.year}年第{(p.start.month - 1) // 3 + 1}季度" if zh
               else f"Q{(p.start.month - 1) // 3 + 1} {p.start.year}")
    year = f"{p.start.year}年" if zh else str(p.start.year)
    label = {"last_month": month, "this_month": month, "this_quarter": quarter, "this_year": year}.get(name)
    if label is None:
        return t("period.range", start=p.start.isoformat(), end=last.isoformat())
    if name == "last_month":
        return label
    return label + t("period.until", date=last.isoformat())


def comparison_label(state: FilterState) -> str:
    mode = state.comparison_mode
    if mode == "none":
        return t("comparison.label.none")
    key = f"comparison.label.{mode}.{state.period_name}"
    if state.period_name != "custom" and mode == "previous" and state.period_name != "last_30_days":
        return t(key)
    cp = state.comparison_period
    assert cp is not None
    return t(f"comparison.label.{mode}") + t("comparison.label.range", start=cp.start.isoformat(),
                                              end=cp.last_day.isoformat())


def headline_line(state: FilterState, escape: Callable[[str], str] = str) -> str:
    """"济宁供电公司 · 2026年10月 · 对比：上月" (plus the narrowing filters, if any).

    ``escape`` is applied to the region name, the one part that comes from data (imports can create regions).
    """
    tree = scope_regions(url(), st.session_state["identity"].scope_path)
    row = tree.loc[tree["id"] == state.region_id].iloc[0]
    region = escape(str(row["name_zh"] if lang() == "zh-CN" else row["name_en"]))
    parts = [region, period_label(state.period_name, state.period), t("comparison.prefix") + comparison_label(state)]
    sep = "：" if lang() == "zh-CN" else ": "
    parts += [f"{k}{sep}{v}" for k, v in state.describe().items()]
    return " · ".join(parts)


def caption(state: FilterState) -> None:
    st.markdown(f"**{headline_line(state, escape=md_escape)}**")


# Warm the metrics stack (pandas/scipy/KPI functions) and the manager views while the login page is on screen, not
# after the user signs in (the first signed-in run registers every page and would import them then).
import dashboard.datasets  # noqa: E402, F401, I001
import dashboard.views.overview  # noqa: E402, F401, I001
import dashboard.views.satisfaction  # noqa: E402, F401, I001
