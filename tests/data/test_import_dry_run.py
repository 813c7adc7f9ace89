"""The dry run (``import_file(..., dry_run=True)``, ``python -m data import --dry-run``): the whole file through the
same reading, validation and reference resolution, the same counts as the real import, and not one table changed
(the audit trail included), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from data.engine import get_engine
from data.io import import_file, load_mapping
from data.io.mapping import parse
from tests.data.import_helpers import snapshot
from tests.factories import build_tiny_world

# A foreign export: a banner, Chinese headers, new regions (created below A by the mapping), a row resolved before it
# was created, an unknown channel, a zero handling time copied from the creation time, a swapped-looking future date.
EXPORT = (
    "某县供电公司工单导出\n"
    "单号,受理时间,完成时间,单位,渠道,类型,重复次数\n"
    "W1,2026-10-05 08:00:00,2026-10-05 09:00:00,甲一营业厅,95598,故障报修,0\n"
    "W2,2026-10-06 08:00:00,2026-10-06 08:00:00,新城供电所,95598,电费咨询,1\n"
    "W3,2026-10-07 10:00:00,2026-10-07 09:00:00,新城供电所,95598,故障报修,0\n"
    "W4,2026-10-08 10:00:00,,老街营业厅,信鸽,故障报修,0\n"
    "W5,2026-10-09 10:00:00,,老街营业厅,网上国网,故障报修,5000\n"
    "T7-0,2026-10-01 10:00:00,2026-10-01 12:00:00,甲一营业厅,95598,故障报修,0\n"
)
MAPPING = {
    "kind": "tickets",
    "columns": {"单号": "external_no", "受理时间": "created_at", "完成时间": "resolved_at", "单位": "region",
                "渠道": "channel", "类型": "service_type", "重复次数": "reopen_count"},
    "regions": {"unknown": "create", "parent": "A1"},
}
KEYS = ("imported", "updated", "unchanged", "rejected", "warnings", "regions_created", "rows", "date_range",
        "by_reason", "checks")


def _summary(res: object) -> dict[str, object]:
    s = res.summary("en")  # type: ignore[attr-defined]
    return {k: s.get(k) for k in KEYS}


def test_a_dry_run_reports_what_the_import_does_and_changes_nothing(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    path = tmp_path / "export.csv"
    path.write_bytes(EXPORT.encode("utf-8-sig"))
    m = parse(MAPPING, path="county")
    before = snapshot(engine, skip=())
    dry = import_file(engine, "tickets", path, m, user="admin", dry_run=True, rejects_path=tmp_path / "dry.csv")
    assert dry.error is None, dry.error
    assert snapshot(engine, skip=()) == before  # every table, the audit trail and the region tree included
    real = import_file(engine, "tickets", path, m, user="admin", rejects_path=tmp_path / "real.csv")
    assert _summary(dry) == _summary(real)
    assert dry.summary()["dry_run"] is True and "dry_run" not in real.summary()
    assert (real.imported, real.updated, real.unchanged, real.rejected, real.rows) == (2, 1, 0, 3, 6)
    assert real.regions_created == 1  # 老街营业厅's rows are all rejected: it is not created
    assert real.date_range == ("2026-10-01", "2026-10-06")  # of the rows taken in
    reasons = {(r["code"], r["column"]): r["rows"] for r in real.by_reason}
    assert reasons == {("order", "完成时间"): 1, ("unknown_value", "渠道"): 1, ("out_of_range", "重复次数"): 1}
    checks = {c["code"]: c for c in real.checks}
    assert checks["zero_duration"]["column"] == "完成时间" and checks["zero_duration"]["rows"] == 1
    assert checks["out_of_scale"]["max"] == 5000 and checks["out_of_scale"]["hi"] == 1000
    assert checks["regions_created"]["examples"] == "新城供电所"
    assert (tmp_path / "dry.csv").read_bytes() == (tmp_path / "real.csv").read_bytes()

    # Again: a dry run of the same file now reports every row unchanged, as the real re-import does.
    before = snapshot(engine, skip=())
    again_dry = import_file(engine, "tickets", path, m, user="admin", dry_run=True)
    assert snapshot(engine, skip=()) == before
    again = import_file(engine, "tickets", path, m, user="admin")
    assert (again_dry.imported, again_dry.updated, again_dry.unchanged) == (0, 0, 3)
    assert _summary(again_dry) == _summary(again)


def test_a_dry_run_with_a_file_error_writes_no_audit_event(db_url: str, tmp_path: Path) -> None:
    engine = get_engine(db_url)
    build_tiny_world(engine)
    path = tmp_path / "empty.csv"
    path.write_text("单号,受理时间\n", encoding="utf-8")
    before = snapshot(engine, skip=())
    res = import_file(engine, "tickets", path, load_mapping("gridcx_tickets"), dry_run=True)
    assert res.error is not None and res.exit_code == 2
    assert snapshot(engine, skip=()) == before
