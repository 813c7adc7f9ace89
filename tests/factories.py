"""A tiny hand-made world for tests that need exact, known rows (the demo world is for realism)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, insert, text

from data.models import UTC, Customer, Region, Response, Ticket
from data.users import create_user

PASSWORD = "Test-pass-123"


@dataclass(frozen=True)
class TinyWorld:
    province: int
    city_a: int
    city_b: int
    county_a1: int
    county_a2: int
    county_b1: int
    station_a1: int
    station_b1: int


def build_tiny_world(engine: Engine) -> TinyWorld:
    """Province P -> cities A, B; A -> counties A1 (urban), A2 (rural); B -> county B1 (remote); stations below.

    Tickets: 10 per station, repairs whose arrival is 30 min (urban), 100 min (rural), 150 min (remote).
    Users: admin/hr/manager (province), mgr_a1 (county A1), mgr_b (city B), all with PASSWORD.
    """
    regions = [
        (1, "P", None, "province", "/1/", "urban", "测试省", "Test Province"),
        (2, "A", 1, "city", "/1/2/", "urban", "甲市", "City A"),
        (3, "B", 1, "city", "/1/3/", "rural", "乙市", "City B"),
        (4, "A1", 2, "county", "/1/2/4/", "urban", "甲一区", "District A1"),
        (5, "A2", 2, "county", "/1/2/5/", "rural", "甲二县", "County A2"),
        (6, "B1", 3, "county", "/1/3/6/", "remote", "乙一县", "County B1"),
        (7, "A1S", 4, "station", "/1/2/4/7/", "urban", "甲一营业厅", "Hall A1"),
        (8, "A2S", 5, "station", "/1/2/5/8/", "rural", "甲二供电所", "Station A2"),
        (9, "B1S", 6, "station", "/1/3/6/9/", "remote", "乙一供电所", "Station B1"),
        # A region whose path shares a textual prefix with /1/2/ must never leak into /1/2/ (see scope tests).
        (12, "A12", 1, "city", "/1/12/", "urban", "丙市", "City C"),
    ]
    with engine.begin() as conn:
        for rid, code, parent, level, path, area, zh, en in regions:
            conn.execute(insert(Region).values(id=rid, code=code, parent_id=parent, level=level, path=path,
                                               area_class=area, name_zh=zh, name_en=en, customers=1000))
        conn.execute(insert(Region).values(id=13, code="A12S", parent_id=12, level="station", path="/1/12/13/",
                                           area_class="urban", name_zh="丙营业厅", name_en="Hall C", customers=10))
        if conn.dialect.name == "postgresql":  # explicit ids: move the id sequence past them
            conn.execute(text("SELECT setval(pg_get_serial_sequence('region', 'id'), (SELECT max(id) FROM region))"))
        base = dt.datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
        arrival = {7: 30, 8: 100, 9: 150, 13: 40}
        n = 0
        for station, minutes in arrival.items():
            cust = conn.execute(insert(Customer).values(
                account_no=f"00000{station:05d}", name="张三", phone="13800000000", address="测试路1号",
                segment="residential", region_id=station)).inserted_primary_key[0]
            for i in range(10):
                n += 1
                created = base + dt.timedelta(days=i)
                conn.execute(insert(Ticket).values(
                    external_no=f"T{station}-{i}", customer_id=cust, region_id=station, channel="hotline",
                    service_type="repair", created_at=created,
                    arrived_at=created + dt.timedelta(minutes=minutes),
                    resolved_at=created + dt.timedelta(minutes=minutes + 60) if i < 9 else None,
                    status="closed" if i < 9 else "open", updated_at=created))
                conn.execute(insert(Response).values(
                    ticket_id=None, region_id=station, channel="sms", survey_key="repair", survey_version=1,
                    submitted_at=created + dt.timedelta(days=1), csat=5 if station == 7 else 2, language="zh-CN"))
    create_user(engine, "admin", PASSWORD, "admin", 1, "管理员")
    create_user(engine, "hr", PASSWORD, "hr", 1, "人资")
    create_user(engine, "manager", PASSWORD, "manager", 1, "省经理")
    create_user(engine, "mgr_a1", PASSWORD, "manager", 4, "甲一经理")
    create_user(engine, "mgr_a", PASSWORD, "manager", 2, "甲市经理")
    return TinyWorld(1, 2, 3, 4, 5, 6, 7, 9)
