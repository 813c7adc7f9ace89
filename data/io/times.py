"""Reading times from source columns: formats, a separate time-of-day column, the date order a column proves, and
the time zone of the mapping, the column or the row.

A column's *date order* (numeric dates with the year last, ``13/04/2024``) is decided from the whole column
(:class:`DateStats`, merged over an import's chunks, then :func:`plan`): a value with a part above 12 proves the
order for every row; otherwise the mapping's ``date_order`` applies; otherwise the ambiguous rows are rejected.
Spreadsheet dates mixed into such a column whose day and month disagree with the text ones (a spreadsheet that
read ``05/03/2024`` month first while ``13/03/2024`` stayed text) are read in the column's order, and reported.

Everything here is pure pandas: text in, naive UTC ``datetime64[us]`` and masks out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import pandas as pd

from data.io.mapping import ZONE_ABBREVIATIONS

# Groups: first part, second part, year, the rest (a time of day). RE2-compatible (no back-references, no \\s), so
# Arrow runs it; the cheap prefilters below keep the extraction off columns that have no such values.
YEAR_LAST = r"^[ \t]*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})(?:$|[ \tT]+(.*)$)"
_YEAR_LAST_HINT = r"^[ \t]*\d{1,2}[-/.]\d{1,2}[-/.]\d"
YEAR_FIRST = r"^[ \t]*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})"
_ZONE_HINT = r"(?:[A-Za-z]|[+-]\d\d:?\d\d)[ \t]*$"
_ZONE_WORDS = "|".join(sorted((k for k in ZONE_ABBREVIATIONS if k != "Z"), key=len, reverse=True))
# A zone after a time of day: "… 12:13:57 UTC", "…T08:00:00Z", "… 8:30 PM EST", "…08:00+08:00".
ZONE_SUFFIX = (r"^(.*\d:\d\d(?::\d\d(?:\.\d+)?)?(?:[ \t]*[AaPp][Mm])?)[ \t]*"
               r"(Z|(?:" + _ZONE_WORDS + r")|[+-]\d{2}:?\d{2})$")
_TIME = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?\s*([AaPp][Mm])?\s*$")
_SHEET_TIME = re.compile(r"^\s*1899-12-(?:30|31)[ T](.*)$|^\s*1900-01-0[01][ T](.*)$")


# --- zones -----------------------------------------------------------------------------------------------------


def fixed_offset(zone: str) -> int | None:
    """Minutes east of UTC for a US abbreviation or an offset text (``+08:00``), else None (an IANA name)."""
    z = zone.strip()
    if z.upper() in ZONE_ABBREVIATIONS:
        z = ZONE_ABBREVIATIONS[z.upper()]
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", z)
    if not m:
        return None
    sign = -1 if m.group(1) == "-" else 1
    return sign * (int(m.group(2)) * 60 + int(m.group(3)))


def localize(naive: pd.Series, zones: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Naive local times -> naive UTC, each row in its own zone (IANA name, US abbreviation or offset). Returns
    (values, mask of times that do not exist or are ambiguous at a daylight-saving change)."""
    out = pd.Series(pd.NaT, index=naive.index, dtype="datetime64[us]")
    dst = pd.Series(False, index=naive.index)
    for zone in zones.dropna().unique():
        sel = (zones == zone) & naive.notna()
        if not sel.any():
            continue
        part = naive[sel]
        off = fixed_offset(str(zone))
        if off is not None:
            out.loc[sel] = (part - pd.Timedelta(minutes=off)).astype("datetime64[us]")
            continue
        local = part.dt.tz_localize(str(zone), ambiguous="NaT", nonexistent="NaT")
        out.loc[sel] = local.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[us]")
        dst.loc[sel] = local.isna().to_numpy()
    return out, dst


# --- date order ------------------------------------------------------------------------------------------------


@dataclass
class DateStats:
    """What a column's values say about its date order (mergeable over chunks)."""

    n_text: int = 0  # numeric dates with the year last
    n_day_first: int = 0  # ... whose first part is above 12
    n_month_first: int = 0  # ... whose second part is above 12
    n_unproven: int = 0  # ... that fit both orders (parts <= 12)
    day_first: tuple[int, str] | None = None  # the first (row, value) proving day first
    month_first: tuple[int, str] | None = None
    ambiguous: tuple[int, str] | None = None
    n_sheet: int = 0  # year-first dates (what a spreadsheet cell or an ISO text reads as)
    sheet_max_day: int = 0

    def merge(self, o: DateStats) -> DateStats:
        return DateStats(
            self.n_text + o.n_text, self.n_day_first + o.n_day_first, self.n_month_first + o.n_month_first,
            self.n_unproven + o.n_unproven, self.day_first or o.day_first, self.month_first or o.month_first,
            self.ambiguous or o.ambiguous, self.n_sheet + o.n_sheet, max(self.sheet_max_day, o.sheet_max_day))


def date_stats(s: pd.Series, rows: pd.Series) -> DateStats:
    """The date-order evidence of one column's text values (``rows``: the file row of each)."""
    st = DateStats()
    s = s.dropna()
    if not len(s):
        return st
    hint = s.str.contains(_YEAR_LAST_HINT, regex=True).fillna(False).astype(bool)
    if not hint.any():
        return st  # no year-last dates: nothing to decide (and no spreadsheet mix to look at)
    yl = s[hint].str.extract(YEAR_LAST).reindex(s.index)
    has = yl[0].notna()
    if has.any():
        a = pd.to_numeric(yl[0][has]).astype(int)
        b = pd.to_numeric(yl[1][has]).astype(int)
        st.n_text = int(has.sum())
        df_, mf_ = (a > 12) & (b <= 12), (b > 12) & (a <= 12)
        st.n_day_first, st.n_month_first = int(df_.sum()), int(mf_.sum())
        st.n_unproven = int(((a <= 12) & (b <= 12)).sum())
        amb = (a <= 12) & (b <= 12) & (a != b)

        def first(mask: pd.Series) -> tuple[int, str] | None:
            if not mask.any():
                return None
            i = mask[mask].index[0]
            return int(rows[i]), str(s[i]).strip()

        st.day_first, st.month_first, st.ambiguous = first(df_), first(mf_), first(amb)
    yf = s[~has].str.extract(YEAR_FIRST)
    days = pd.to_numeric(yf[2], errors="coerce").dropna()
    if len(days):
        st.n_sheet, st.sheet_max_day = len(days), int(days.max())
    return st


@dataclass(frozen=True)
class DatePlan:
    order: str | None  # day_first | month_first | None (ambiguous, none stated)
    how: str  # none (no year-last dates) | proven | stated | ambiguous
    evidence: tuple[int, str] | None = None  # the row and value that prove the order
    conflicts: int = 0  # values that prove the other order
    swap_sheet: bool = False  # year-first (spreadsheet) dates are read with day and month exchanged


def plan(st: DateStats, stated: str | None) -> DatePlan:
    if st.n_text == 0:
        return DatePlan(None, "none")
    d, m = st.n_day_first, st.n_month_first
    if d or m:
        order = "day_first" if d >= m else "month_first"
        evidence = st.day_first if order == "day_first" else st.month_first
        # The spreadsheet signature: every text date is one a spreadsheet could not read in its own (the other)
        # order, and every spreadsheet date could be such a misread (day <= 12).
        swap = st.n_sheet > 0 and st.n_unproven == 0 and min(d, m) == 0 and st.sheet_max_day <= 12
        return DatePlan(order, "proven", evidence, min(d, m), swap)
    if stated:
        return DatePlan(stated, "stated", st.ambiguous)
    return DatePlan(None, "ambiguous", st.ambiguous)


def stated_order(date_order: str | None, formats: tuple[str, ...]) -> str | None:
    """The mapping's date order, or the one its formats imply (``%d/%m/%Y`` day first, ``%m/%d/%Y`` month first)."""
    if date_order:
        return date_order
    for f in formats:
        if re.search(r"%d[-/.]%m[-/.]%[Yy]", f):
            return "day_first"
        if re.search(r"%m[-/.]%d[-/.]%[Yy]", f):
            return "month_first"
    return None


# --- time of day -----------------------------------------------------------------------------------------------


def time_of_day(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A time-of-day column -> (timedelta since midnight, mask of unreadable values). Reads ``8:30``,
    ``08:30:15``, ``8:30 PM``, a spreadsheet time (``08:30:00`` or ``1899-12-30 08:30:00``) and a day fraction
    (``0.354166``)."""
    out = pd.Series(pd.NaT, index=s.index, dtype="timedelta64[us]")
    bad = pd.Series(False, index=s.index)
    uniq = s.dropna().unique()
    table: dict[str, float | None] = {str(u): _seconds_of_day(str(u)) for u in uniq}
    secs = s.map(table)
    ok = secs.notna()
    out.loc[ok] = pd.to_timedelta(secs[ok].astype(float), unit="s").astype("timedelta64[us]")
    bad.loc[s.notna() & ~ok] = True
    return out, bad


def _seconds_of_day(v: str) -> float | None:
    m = _SHEET_TIME.match(v)
    if m:
        v = m.group(1) or m.group(2)
    m = _TIME.match(v)
    if m:
        h, mi, sec = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        frac = float("0." + m.group(4)) if m.group(4) else 0.0
        if m.group(5):
            if not 1 <= h <= 12:
                return None
            h = h % 12 + (12 if m.group(5).lower() == "pm" else 0)
        if h > 23 or mi > 59 or sec > 59:
            return None
        return h * 3600 + mi * 60 + sec + frac
    try:
        x = float(v)
    except ValueError:
        return None
    if 0 <= x < 1:
        return round(x * 86400, 3)
    return None


# --- parsing ---------------------------------------------------------------------------------------------------


@dataclass
class Parsed:
    values: pd.Series  # naive UTC datetime64[us]
    problems: dict[str, pd.Series]  # reason code -> mask (errors)
    swap_warn: pd.Series  # suspected day/month swap (a date in the future whose swapped reading is not)
    naive_default: bool  # some naive value was read in the assumed default zone
    year_last: int  # rows read through the date-order plan
    sheet_swapped: int  # spreadsheet dates read with day and month exchanged


def parse_column(s: pd.Series, formats: tuple[str, ...], zones: pd.Series, now: dt.datetime, date_plan: DatePlan,
                 time_part: pd.Series | None = None, default_zone: pd.Series | None = None) -> Parsed:
    """Parse one source's text to naive UTC.

    ``zones`` is each row's zone for naive values (the column's, the row's or the mapping's); ``default_zone``
    marks rows whose zone is only the assumed default. Year-last numeric dates follow ``date_plan``; other values
    try ``formats`` in order ("ISO8601", "excel" for serial day numbers, or strftime patterns). A value ending in
    ``Z``/``UTC``/``GMT``, a US abbreviation or an offset keeps it. With ``time_part`` the values are dates and the
    time of day comes from that column.
    """
    idx = s.index
    if s.dtype != "str":
        s = s.astype("str")
    problems: dict[str, pd.Series] = {}
    zone = zones.copy()
    body = s
    if time_part is None:
        zhint = s.str.contains(_ZONE_HINT, regex=True).fillna(False).astype(bool)
        suf = (s[zhint].str.extract(ZONE_SUFFIX) if zhint.any() else pd.DataFrame({0: [], 1: []}, dtype=object)
               ).reindex(idx)
        has_tz = suf[0].notna()
        if has_tz.any():
            body = s.where(~has_tz, suf[0])
            zone = zone.astype(object).where(~has_tz, suf[1].map(lambda z: "+00:00" if z == "Z" else z))
    else:
        has_tz = pd.Series(False, index=idx)
        # A spreadsheet date cell reads as "2024-03-05 00:00:00": the date column's own midnight is dropped.
        body = s.str.replace(r"[ T]00:00(?::00(?:\.0+)?)?$", "", regex=True)
    naive = pd.Series(pd.NaT, index=idx, dtype="datetime64[us]")
    # Year-last numeric dates: the column's date order.
    hint = body.str.contains(_YEAR_LAST_HINT, regex=True).fillna(False).astype(bool)
    yl = (body[hint].str.extract(YEAR_LAST) if hint.any() else pd.DataFrame({i: [] for i in range(4)}, dtype=object)
          ).reindex(idx)
    is_yl = yl[0].notna()
    n_yl = 0
    if is_yl.any():
        a = pd.to_numeric(yl[0], errors="coerce")
        b = pd.to_numeric(yl[1], errors="coerce")
        year = pd.to_numeric(yl[2], errors="coerce")
        year = year.where(year >= 100, year + 2000)
        if date_plan.order == "month_first":
            month, day = a, b
        else:
            month, day = b, a
        ambiguous = is_yl & (a <= 12) & (b <= 12) & (a != b) & (date_plan.order is None)
        conflict = is_yl & (month > 12) & (day <= 12) & (date_plan.how == "proven")
        if ambiguous.any():
            problems["date_order_ambiguous"] = ambiguous
        if conflict.any():
            problems["date_order_conflict"] = conflict
        use = is_yl & ~ambiguous & ~conflict
        rest = yl[3].where(use)
        tod, tbad = time_of_day(rest.where(rest.str.strip() != ""))
        got = _from_parts(year[use], month[use], day[use])
        naive.loc[use] = (got + tod[use].fillna(pd.Timedelta(0))).where(~tbad[use])
        n_yl = int(use.sum())
    # Everything else: the formats in order.
    other = body.notna() & ~is_yl
    if other.any():
        base = body[other]
        part = pd.Series(pd.NaT, index=base.index, dtype="datetime64[us]")
        for fmt in formats:
            rem = part.isna()
            if not rem.any():
                break
            part.loc[rem] = _parse(base[rem], fmt)
        naive.loc[other] = part
    # Spreadsheet dates a spreadsheet read in the other order than the column's text dates.
    n_sheet = 0
    if date_plan.swap_sheet:
        year_first = body.str.contains(r"^[ \t]*\d{4}[-/.年]\d{1,2}[-/.月]\d", regex=True)
        sw = other & year_first.fillna(False).astype(bool) & naive.notna()
        if sw.any():
            d_ = naive[sw]
            fixed = _from_parts(d_.dt.year, d_.dt.day, d_.dt.month) + (d_ - d_.dt.normalize())
            naive.loc[sw] = fixed
            n_sheet = int(sw.sum())
    if time_part is not None:
        tod, tbad = time_of_day(time_part)
        has_date = naive.notna()
        missing = has_date & time_part.isna()
        bad_t = has_date & tbad
        if missing.any():
            problems["time_missing"] = missing
        if bad_t.any():
            problems["bad_time"] = bad_t
        naive = (naive.dt.normalize() + tod).where(~missing & ~bad_t)
    out, dst = localize(naive, zone)
    flagged = pd.Series(False, index=idx)
    for mask in problems.values():
        flagged |= mask
    unparsed = s.notna() & naive.isna() & ~flagged
    if unparsed.any():
        problems["bad_datetime"] = unparsed
    if dst.any():
        problems["dst_gap"] = dst
    years = out.dt.year
    implausible = out.notna() & ((years < 1970) | (years > 2100))
    if implausible.any():
        problems["implausible_date"] = implausible
    out = out.where(~implausible)
    limit = pd.Timestamp(now.replace(tzinfo=None)) + pd.Timedelta(days=1)
    future = out > limit
    warn = pd.Series(False, index=idx)
    if future.any():
        sw = swapped(body[future])
        warn.loc[future] = (sw.notna() & (sw <= limit)).to_numpy()
    naive_default = bool(default_zone is not None and (default_zone & ~has_tz & naive.notna()).any())
    return Parsed(out, problems, warn, naive_default, n_yl, n_sheet)


def _from_parts(year: pd.Series, month: pd.Series, day: pd.Series) -> pd.Series:
    parts = pd.DataFrame({"year": year, "month": month, "day": day})
    if not len(parts):
        return pd.Series(pd.NaT, index=year.index, dtype="datetime64[us]")
    return pd.to_datetime(parts, errors="coerce").astype("datetime64[us]")


def _parse(s: pd.Series, fmt: str) -> pd.Series:
    if fmt == "excel":
        num = pd.to_numeric(s, errors="coerce")
        num = num.where((num > 1) & (num < 2958465))
        got = pd.to_datetime(num, unit="D", origin="1899-12-30", errors="coerce")
    else:
        got = pd.to_datetime(s, format=fmt, errors="coerce")
        if getattr(got.dtype, "tz", None) is not None:
            got = got.dt.tz_convert("UTC").dt.tz_localize(None)
    return got.astype("datetime64[us]")


def swapped(s: pd.Series) -> pd.Series:
    """The value read with day and month exchanged (naive), where that is a different valid date; else NaT."""
    m = s.astype("str").str.extract(r"^\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})")
    m2 = s.astype("str").str.extract(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})")
    y = m[0].fillna(m2[2])
    a = m[1].fillna(m2[0])
    b = m[2].fillna(m2[1])
    a_n, b_n = pd.to_numeric(a, errors="coerce"), pd.to_numeric(b, errors="coerce")
    ok = a_n.notna() & b_n.notna() & (a_n <= 12) & (b_n <= 12) & (a_n != b_n)
    parts = pd.DataFrame({"year": pd.to_numeric(y, errors="coerce"), "month": b_n, "day": a_n}).where(ok)
    if not ok.any():
        return pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    res = pd.to_datetime(parts[ok], errors="coerce").astype("datetime64[us]")
    return res.reindex(s.index)
