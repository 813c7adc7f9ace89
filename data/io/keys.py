"""Reserved keys for survey responses that have no ``external_no`` of their own.

A response submitted through the web survey (or a kiosk QR code) has no external number. The canonical export
gives it a key derived from the row::

    gridcx:response:<id>:<submitted_at in UTC, YYYYMMDDTHHMMSS.ffffffZ>

e.g. ``gridcx:response:41:20261020T020000.000000Z``. The key is not stored in the exporting database (the export
stays read-only); it is recomputed from the row's id and submission instant, both of which never change and both
of which a site move (``export --all`` / ``import --all``) keeps. On import:

* a file key equal to a stored ``external_no`` matches that row (as for any key);
* otherwise a reserved key matches the response with that id *and* that submission instant (to the microsecond)
  whose ``external_no`` is empty: the row it was exported from. The submission instant keeps another database's
  response that happens to have the same id from matching;
* a key that matches nothing is inserted as a new response with the key stored as its ``external_no``, so the
  target exports the same key again (and a later import of either site's export recognises the row);
* when a matched keyless response is updated by the file, the key is stored in its ``external_no`` too (its
  submission instant may be what changed).

Keys starting with ``gridcx:`` are reserved: a responses file row whose key starts so but does not have the form
above is rejected (``reserved_key``).
"""

from __future__ import annotations

import re

import pandas as pd

PREFIX = "gridcx:"
RESPONSE_PREFIX = "gridcx:response:"
_TIME_FMT = "%Y%m%dT%H%M%S.%fZ"
_RESPONSE_RE = r"^gridcx:response:([1-9][0-9]{0,17}):(\d{8}T\d{6}\.\d{6}Z)$"


def response_keys(ids: pd.Series, submitted: pd.Series) -> pd.Series:
    """The reserved key of each response (``ids`` and raw ``submitted_at`` values as the database returns them,
    naive UTC)."""
    at = pd.to_datetime(submitted, format="ISO8601", utc=True).dt.strftime(_TIME_FMT)
    return RESPONSE_PREFIX + ids.astype("int64").astype(str) + ":" + at.astype(str)


def reserved(s: pd.Series) -> pd.Series:
    """True where a key starts with the reserved prefix (any letter case)."""
    return s.notna() & s.astype("str").str.lower().str.startswith(PREFIX, na=False)


def parse_response_keys(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(id as Int64, submission instant as naive UTC datetime64[us], malformed) for each key; id and instant are
    missing for keys that are not reserved response keys, ``malformed`` is True for reserved keys of another form."""
    rid = pd.Series(pd.NA, index=s.index, dtype="Int64")
    at = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us]")
    res = reserved(s)
    if not res.any():
        return rid, at, res
    parts = s[res].astype("str").str.extract(_RESPONSE_RE)
    got_at = pd.to_datetime(parts[1], format=_TIME_FMT, errors="coerce", utc=True)
    ok = parts[0].notna() & got_at.notna()
    rid.loc[ok[ok].index] = pd.to_numeric(parts[0][ok]).astype("int64")
    at.loc[ok[ok].index] = got_at[ok].dt.tz_localize(None).astype("datetime64[us]")
    malformed = res.copy()
    malformed.loc[ok[ok].index] = False
    return rid, at, malformed


def is_response_key(value: str) -> bool:
    return re.fullmatch(_RESPONSE_RE, value) is not None
