"""Real-world proof: two public service logs imported through mapping files under tests/mappings, no code for them.

The expected numbers come from the datasets' README (counts checked when the files were copied), not from our
own output: CFPB ``Submitted via`` Referral 627 + Postal mail 267 + Fax 102 = 996 rows have no GridCX channel;
Austin has 104 rows without ``created_date`` (the ``16-,,,`` junk row among them) and one ``TO BE DELETED``
status; its open cases (Open 1,242 + Duplicate (open) 54, minus the 2 open rows without a creation time) stay open.
"""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import text

from data.engine import get_engine
from data.io import import_file
from tests.data.import_helpers import DATASETS, MAPPINGS, audit_rows, snapshot
from tests.factories import build_tiny_world

CFPB = DATASETS / "cfpb_complaints_sample.csv"
AUSTIN = DATASETS / "austin_311_animal_services_requests.csv"


@pytest.fixture
def world(db_url: str):  # type: ignore[no-untyped-def]
    if not CFPB.exists() or not AUSTIN.exists():
        pytest.skip("../shared/datasets is absent")
    engine = get_engine(db_url)
    build_tiny_world(engine)
    return engine


def test_cfpb_complaints(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = import_file(world, "tickets", CFPB, MAPPINGS / "cfpb_complaints.json", user="tester",
                      rejects_path=tmp_path / "rejects.csv")
    assert res.error is None
    assert res.header_row == 3  # two `unzip` banner lines above the header
    assert (res.imported, res.rejected, res.updated, res.unchanged) == (5627, 996, 0, 0)
    assert res.exit_code == 1
    rej = res.rejects
    assert set(rej["column"]) == {"Submitted via"}
    assert rej["value"].value_counts().to_dict() == {"Referral": 627, "Postal mail": 267, "Fax": 102}
    # The reason names the rule and the allowed values: the mapping's labels, then the channel codes.
    allowed = "Email, alipay, app, hall, hotline, rural_point, web, wechat"
    assert set(rej["reason_en"]) == {f"unknown channel (not a code or synonym); allowed: {allowed}"}
    assert set(rej["reason_zh"]) == {f"渠道的取值无法识别（不在代码表或同义词中）；允许的取值：{allowed}"}
    on_disk = pd.read_csv(tmp_path / "rejects.csv", encoding="utf-8-sig", dtype=str)
    assert len(on_disk) == 996 and list(on_disk.columns) == ["row", "column", "value", "level", "reason_zh",
                                                             "reason_en"]
    with world.connect() as conn:
        channels = dict(conn.execute(text("SELECT channel, count(*) FROM ticket WHERE service_type = 'complaint' "
                                          "GROUP BY channel")).all())
        assert channels == {"web": 5143 + 2, "hotline": 482}
        # Date received 2019-09-24 in New York is 04:00 UTC.
        created = conn.execute(text("SELECT created_at FROM ticket WHERE external_no = '3384392'")).scalar_one()
        assert str(created).startswith("2019-09-24 04:00:00")
        # States became regions below the test province; complaints without a state sit on the province.
        fl = conn.execute(text("SELECT r.path, r.level FROM region r WHERE r.code = 'FL'")).one()
        assert fl.path.startswith("/1/") and fl.level == "city"
        assert conn.execute(text("SELECT count(*) FROM ticket WHERE region_id = 1")).scalar_one() > 0
    assert audit_rows(world, "import")[-1]["detail"]["rejected"] == 996
    # A second run changes nothing.
    before = snapshot(world)
    again = import_file(world, "tickets", CFPB, MAPPINGS / "cfpb_complaints.json",
                        rejects_path=tmp_path / "again.csv")
    assert (again.imported, again.updated, again.unchanged, again.rejected) == (0, 0, 5627, 996)
    assert snapshot(world) == before


def test_austin_311(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    res = import_file(world, "tickets", AUSTIN, MAPPINGS / "austin_311.json", rejects_path=tmp_path / "r.csv")
    assert res.error is None
    assert (res.imported, res.rejected) == (9895, 105)
    rej = res.rejects
    created = rej[rej["column"] == "created_date"]
    assert len(created) == 104 and set(created["reason_en"]) == {"creation time is required"}
    assert set(created["reason_zh"]) == {"受理时间为必填项，不能为空"}
    assert rej.loc[rej["column"] == "status", "value"].tolist() == ["TO BE DELETED"]
    junk = rej[rej["row"] == 2]  # the `16-,,,` line right below the header
    assert set(junk["column"]) == {"created_date", "source"}
    with world.connect() as conn:
        status = dict(conn.execute(text("SELECT status, count(*) FROM ticket WHERE service_type = 'inquiry' "
                                        "GROUP BY status")).all())
        assert status["open"] == 1240 + 54  # open cases imported as open, not dropped
        assert sum(status.values()) == 9895
        assert conn.execute(text("SELECT count(*) FROM ticket WHERE service_type = 'inquiry' AND status = 'open' "
                                 "AND resolved_at IS NULL")).scalar_one() == 1240 - 4 + 54  # 4 'Open' carry a date
        # UTC strings stay UTC.
        row = conn.execute(text("SELECT created_at, closed_at FROM ticket WHERE external_no = '14-00097246'")).one()
        assert str(row.created_at).startswith("2014-05-21 12:13:57")
        assert str(row.closed_at).startswith("2014-05-21 14:18:20")
        counties = {r[0] for r in conn.execute(text("SELECT code FROM region WHERE parent_id = 1 AND level = 'city'"
                                                    " AND code IN ('TRAVIS', 'WILLIAMSON', 'BURNET')"))}
        assert counties == {"TRAVIS", "WILLIAMSON", "BURNET"}
