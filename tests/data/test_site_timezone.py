"""The site's reporting time zone (``site.timezone``): day and period boundaries follow it everywhere.

2026-03-08 is the day daylight saving starts in Chicago: 23:30 there (CDT, UTC-5) is 04:30 UTC on 03-09 and 12:30
in Shanghai on 03-09. With the site zone set to America/Chicago the work order belongs to 03-08 (its week starts
Monday 03-02); with the default zone it belongs to 03-09.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine, insert, select

from data import settings
from data.__main__ import main as data_cli
from data.engine import get_engine
from data.models import AuditEvent, SiteSetting, Ticket
from tests.factories import build_tiny_world

UTC = dt.UTC
CREATED = dt.datetime(2026, 3, 9, 4, 30, tzinfo=UTC)  # 2026-03-08 23:30 CDT
DAY_KEY = ("2026-03-08", "2026-03-09", None, (), (), (), ())
NEXT_KEY = ("2026-03-09", "2026-03-10", None, (), (), (), ())


@pytest.fixture
def chicago(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    with engine.begin() as conn:
        conn.execute(insert(Ticket).values(
            external_no="DST-1", region_id=7, channel="hotline", service_type="repair", created_at=CREATED,
            arrived_at=CREATED + dt.timedelta(minutes=30), resolved_at=CREATED + dt.timedelta(minutes=90),
            status="closed", updated_at=CREATED))
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    settings.invalidate()
    st.cache_data.clear()
    st.cache_resource.clear()
    yield engine
    settings.invalidate()
    st.cache_data.clear()
    st.cache_resource.clear()


def _buckets(url: str, by: str, key: tuple[object, ...] = DAY_KEY) -> list[tuple[str, int]]:
    from dashboard import datasets

    st.cache_data.clear()
    st.cache_resource.clear()
    out = datasets.kpi_by(url, "/1/", key, "arrival_time", (by,), buckets="created_at")
    return [(str(d.date()), int(n)) for d, n in zip(out[by], out["n"], strict=True)]


def test_default_zone_is_shanghai(chicago: Engine) -> None:
    url = chicago.url.render_as_string(hide_password=False)
    assert settings.site_zone(chicago) == "Asia/Shanghai"
    assert _buckets(url, "day", NEXT_KEY) == [("2026-03-09", 1)]  # 12:30 on 03-09 in Shanghai
    assert _buckets(url, "week", NEXT_KEY) == [("2026-03-09", 1)]


def test_chicago_day_week_period_and_export(chicago: Engine, tmp_path: Path) -> None:
    from dashboard.datasets import calendar_for
    from dashboard.filters import filters_from_key
    from data.io.exporter import export_table
    from data.repositories import Scope, ticket_facts

    url = chicago.url.render_as_string(hide_password=False)
    assert settings.set_setting(chicago, settings.TIMEZONE_KEY, "America/Chicago", user="alice") == (
        "Asia/Shanghai", "America/Chicago")
    assert settings.site_zone(chicago) == "America/Chicago"  # no stale cache in the process that changed it

    # the period filter: the local day 03-08 holds it, 03-09 does not
    f = filters_from_key(DAY_KEY)
    assert (f.start, f.end) == (dt.datetime(2026, 3, 8, 6, tzinfo=UTC), dt.datetime(2026, 3, 9, 5, tzinfo=UTC))
    assert list(ticket_facts(chicago, Scope("/1/"), f)["external_no"]) == ["DST-1"]
    assert list(ticket_facts(chicago, Scope("/1/"), filters_from_key(NEXT_KEY))["external_no"]) == []
    # daily and weekly buckets (Monday 03-02)
    assert _buckets(url, "day") == [("2026-03-08", 1)]
    assert _buckets(url, "week") == [("2026-03-02", 1)]
    assert calendar_for(dt.date(2026, 3, 1), dt.date(2026, 3, 31)).tz == "America/Chicago"

    # the export: local times with the zone's offset, and --from/--to are local days
    out = tmp_path / "t.csv"
    info = export_table(chicago, "tickets", out, "2026-03-08", "2026-03-08")
    assert info["rows"] == 1
    with open(out, encoding="utf-8-sig", newline="") as fh:
        row = next(csv.DictReader(fh))
    assert (row["external_no"], row["created_at"], row["arrived_at"]) == (
        "DST-1", "2026-03-08T23:30:00-05:00", "2026-03-09T00:00:00-05:00")
    assert export_table(chicago, "tickets", tmp_path / "n.csv", "2026-03-09", "2026-03-09")["rows"] == 0

    with chicago.connect() as conn:
        assert conn.execute(select(SiteSetting.key, SiteSetting.value)).all() == [
            ("site.timezone", "America/Chicago")]
        ev = conn.execute(select(AuditEvent.username, AuditEvent.action, AuditEvent.object_id, AuditEvent.detail)
                          .where(AuditEvent.action == "setting_change")).one()
    assert tuple(ev) == ("alice", "setting_change", "site.timezone",
                         {"old": "Asia/Shanghai", "new": "America/Chicago"})


def test_settings_command_line(chicago: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert data_cli(["settings", "set", "site.timezone", "Mars/Olympus"]) == 2
    assert capsys.readouterr().err == (
        "error: site.timezone: 'Mars/Olympus' is not a time zone this machine knows (an IANA name such as "
        "Asia/Shanghai or America/Chicago)\n")
    assert data_cli(["settings", "set", "site.colour", "red"]) == 2
    assert "unknown setting 'site.colour'" in capsys.readouterr().err
    assert data_cli(["settings", "set", "site.timezone", "America/Chicago", "--user", "ops"]) == 0
    assert capsys.readouterr().err == "site.timezone = America/Chicago (was Asia/Shanghai)\n"
    assert data_cli(["settings", "get", "site.timezone"]) == 0
    assert capsys.readouterr().out == "site.timezone = America/Chicago\n"
    assert settings.site_zone(chicago) == "America/Chicago"
    # back to the default: the row goes
    assert data_cli(["settings", "set", "site.timezone", "Asia/Shanghai"]) == 0
    with chicago.connect() as conn:
        assert conn.execute(select(SiteSetting.key)).all() == []


def test_import_without_a_zone_reads_naive_times_in_the_site_zone(chicago: Engine, tmp_path: Path) -> None:
    """A mapping that states no zone: the naive 2026-03-08 23:30 is Chicago time (CDT since 02:00 that day,
    UTC-5), not Shanghai's; a stated zone still wins; the note names the zone assumed."""
    import json

    from data.io import import_file

    settings.set_setting(chicago, settings.TIMEZONE_KEY, "America/Chicago", user="alice")
    mapping = {"kind": "tickets", "columns": {"No": "external_no", "Unit": "region", "Opened": "created_at"},
               "constants": {"channel": "hotline", "service_type": "repair"}}
    f = tmp_path / "f.csv"
    f.write_text("No,Opened,Unit\nTZ-1,2026-03-08 23:30,A1S\n", encoding="utf-8")
    mp = tmp_path / "m.json"
    mp.write_text(json.dumps(mapping), encoding="utf-8")
    res = import_file(chicago, "tickets", f, mp)
    assert (res.error, res.imported) == (None, 1)
    assert res.summary("en")["notes"] == [
        "Time columns Opened: no time zone stated, read as America/Chicago (set zone in the mapping if that is wrong)"]
    assert res.date_range == ("2026-03-08", "2026-03-08")  # the local day in the zone assumed
    stated = {**mapping, "timestamps": {"zone": "Asia/Shanghai"}}
    mp.write_text(json.dumps(stated), encoding="utf-8")
    f.write_text("No,Opened,Unit\nTZ-2,2026-03-08 23:30,A1S\n", encoding="utf-8")
    res2 = import_file(chicago, "tickets", f, mp)
    assert (res2.imported, res2.notes) == (1, [])
    with chicago.connect() as conn:
        got = conn.execute(select(Ticket.external_no, Ticket.created_at).where(Ticket.external_no.like("TZ-%"))
                           .order_by(Ticket.external_no)).all()
    assert [(n, t.replace(tzinfo=UTC) if t.tzinfo is None else t) for n, t in got] == [
        ("TZ-1", dt.datetime(2026, 3, 9, 4, 30, tzinfo=UTC)), ("TZ-2", dt.datetime(2026, 3, 8, 15, 30, tzinfo=UTC))]
