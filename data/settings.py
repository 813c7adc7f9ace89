"""Site settings stored in the ``site_setting`` table, with the one everyone needs: the site's reporting time zone.

``site.timezone`` (an IANA zone, default ``Asia/Shanghai``) decides where every local day, week, month and period
starts: the dashboard's period filter and time buckets, the overview's daily trend, exports and reports. Times stay
stored in UTC; only the boundaries move. :func:`site_zone` is the one reader: cached per process and database for
:data:`CACHE_SECONDS` and dropped at once by :func:`set_setting` in the process that changes it (other processes see
the change within that time; their page caches within their own TTL).
"""

from __future__ import annotations

import threading
import time
import zoneinfo
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from data.models import SiteSetting
from data.users import audit

TIMEZONE_KEY = "site.timezone"
DEFAULT_TIMEZONE = "Asia/Shanghai"
CACHE_SECONDS = 30.0
#: the settings an administrator may change, with their defaults
SETTINGS: dict[str, str] = {TIMEZONE_KEY: DEFAULT_TIMEZONE}

_CACHE: dict[str, tuple[float, str]] = {}
_LOCK = threading.Lock()


class SettingError(ValueError):
    """A setting that does not exist or a value it does not accept; ``code`` picks ``settings.error.<code>``."""

    def __init__(self, code: str, key: str, value: str = "") -> None:
        self.code, self.key, self.value = code, key, value
        super().__init__(f"{key}: {value!r} refused ({code})")


def check_value(key: str, value: str) -> str:
    """The value normalised, or :class:`SettingError` (unknown key, unknown time zone)."""
    if key not in SETTINGS:
        raise SettingError("unknown_key", key, value)
    value = value.strip()
    if key == TIMEZONE_KEY:
        if not value or value.startswith(("/", ".")) or ".." in value:
            raise SettingError("bad_timezone", key, value)
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SettingError("bad_timezone", key, value) from None
    return value


def timezones() -> list[str]:
    """The IANA zones this machine knows (sorted), for a picker."""
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))


def get_setting(engine: Engine, key: str) -> str:
    """The stored value of ``key``, or its default."""
    with engine.connect() as conn:
        value = conn.execute(select(SiteSetting.value).where(SiteSetting.key == key)).scalar_one_or_none()
    return SETTINGS.get(key, "") if value is None else str(value)


def set_setting(engine: Engine, key: str, value: str, user: str | None = None) -> tuple[str, str]:
    """Store ``key`` = ``value`` (checked) in one transaction with an audit event ``setting_change``; returns
    (old, new). Setting a key to its default removes the row."""
    value = check_value(key, value)
    old = get_setting(engine, key)
    with engine.begin() as conn:
        exists = conn.execute(select(SiteSetting.key).where(SiteSetting.key == key)).first() is not None
        if value == SETTINGS[key]:
            conn.execute(delete(SiteSetting).where(SiteSetting.key == key))
        elif exists:
            conn.execute(update(SiteSetting).where(SiteSetting.key == key).values(value=value))
        else:
            conn.execute(insert(SiteSetting).values(key=key, value=value))
        if old != value:
            audit(conn, user, "setting_change", "site_setting", key, {"old": old, "new": value})
    invalidate()
    return old, value


def invalidate() -> None:
    """Forget the cached settings of this process (after a change, or in tests)."""
    with _LOCK:
        _CACHE.clear()


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def site_zone(engine: Engine | None = None) -> str:
    """The site's reporting time zone (``site.timezone``; ``Asia/Shanghai`` when unset). ``engine``: the site's
    database (default: ``DATABASE_URL``). A database that cannot be read (not initialised yet) gives the default,
    not cached."""
    if engine is None:
        from data.engine import get_engine

        engine = get_engine()
    url = _url(engine)
    now = time.monotonic()
    with _LOCK:
        hit = _CACHE.get(url)
    if hit is not None and now - hit[0] < CACHE_SECONDS:
        return hit[1]
    try:
        value = get_setting(engine, TIMEZONE_KEY)
        check_value(TIMEZONE_KEY, value)
    except SettingError:
        value = DEFAULT_TIMEZONE  # a hand-edited row the machine does not know: never break every page
    except SQLAlchemyError:
        return DEFAULT_TIMEZONE
    with _LOCK:
        _CACHE[url] = (now, value)
    return value


def all_settings(engine: Engine) -> dict[str, Any]:
    """Every administrator setting with its current value."""
    return {k: get_setting(engine, k) for k in SETTINGS}
