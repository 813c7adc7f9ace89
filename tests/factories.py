"""A tiny hand-made world for tests that need exact, known rows (the demo world is for realism)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
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


# --- a survey-only world: results imported from a questionnaire tool, no work orders at all -------------------------

SURVEY_ONLY_KEY = "servqual_annual"  # the shipped SERVQUAL questionnaire: 22 items on 1-7, five dimensions
SURVEY_ONLY_DIMENSIONS: dict[str, tuple[str, ...]] = {
    "tangibles": ("tan1", "tan2", "tan3", "tan4"),
    "reliability": ("rel1", "rel2", "rel3", "rel4", "rel5"),
    "responsiveness": ("res1", "res2", "res3", "res4"),
    "assurance": ("ass1", "ass2", "ass3", "ass4"),
    "empathy": ("emp1", "emp2", "emp3", "emp4", "emp5"),
}
#: how strongly each dimension's latent factor moves the overall score (so the drivers differ clearly)
_DRIVER_WEIGHT = {"tangibles": 0.1, "reliability": 0.9, "responsiveness": 0.6, "assurance": 0.3, "empathy": 0.2}
SURVEY_ONLY_STATIONS = ("A1S", "A2S", "B1S", "A12S")
SURVEY_ONLY_CHANNELS = ("sms", "web")


def survey_only_file(path: Path, n: int = 200, seed: int = 15) -> pd.DataFrame:
    """Write a questionnaire tool's results in the canonical responses format (no work order numbers; each row
    names its region and survey channel; the 22 SERVQUAL items travel in the ``answers`` column) and return the
    same data wide (external_no, region_code, channel, csat, one column per item)."""
    import json

    import numpy as np

    rng = np.random.default_rng(seed)
    g = rng.normal(size=n)
    rows = []
    for i in range(n):
        latent = {d: 0.6 * g[i] + 0.8 * rng.normal() for d in SURVEY_ONLY_DIMENSIONS}
        items = {k: int(np.clip(np.rint(4.6 + 1.3 * (latent[d] + 0.6 * rng.normal())), 1, 7))
                 for d, ks in SURVEY_ONLY_DIMENSIONS.items() for k in ks}
        score = sum(w * latent[d] for d, w in _DRIVER_WEIGHT.items()) + 0.7 * rng.normal()
        csat = int(np.clip(np.rint(3.7 + 0.8 * score), 1, 5))
        day = dt.datetime(2026, 10, 2) + dt.timedelta(days=int(i % 28), hours=9 + i % 8, minutes=i % 60)
        rows.append({"external_no": f"WJX-{i + 1:04d}", "submitted_at": day.strftime("%Y-%m-%d %H:%M:%S"),
                     "region_code": SURVEY_ONLY_STATIONS[i % len(SURVEY_ONLY_STATIONS)],
                     "channel": SURVEY_ONLY_CHANNELS[i % 3 == 0], "csat": csat, **items})
    wide = pd.DataFrame(rows)
    out = wide[["external_no", "submitted_at", "region_code", "channel"]].copy()
    out["ticket_no"] = ""
    out["survey_key"] = SURVEY_ONLY_KEY
    out["survey_version"] = 1
    out["csat"] = wide["csat"]
    dim_of = {k: d for d, ks in SURVEY_ONLY_DIMENSIONS.items() for k in ks}
    out["answers"] = [json.dumps([{"item_key": k, "dimension": dim_of[k], "value_num": float(r[k]),
                                   "value_text": None} for k in dim_of], ensure_ascii=False)
                      for r in rows]
    out.to_csv(path, index=False, encoding="utf-8")
    return wide


def build_survey_only_world(engine: Engine, tmp_dir: Path, n: int = 200) -> pd.DataFrame:
    """The tiny world's regions and users, no work orders, no responses of its own; then ``n`` survey results
    imported through the real import path (``data.io.import_file``) and the questionnaires published
    (``surveys.definitions.sync_definitions``, as app start-up does). Returns the imported data wide."""
    from data.io import import_file
    from surveys.definitions import sync_definitions

    build_tiny_world(engine)
    with engine.begin() as conn:
        for table in ("follow_up", "answer", "response", "ticket"):
            conn.execute(text(f"DELETE FROM {table}"))
    sync_definitions(engine)
    wide = survey_only_file(tmp_dir / "wjx_export.csv", n)
    res = import_file(engine, "responses", tmp_dir / "wjx_export.csv")
    assert (res.imported, res.rejected) == (n, 0), (res.error, res.rejects)
    return wide
