"""A GBK file whose first bytes happen to be valid UTF-8 (某 is C4 B3 in GBK, "ĳ" in UTF-8) is GBK, not a file that
mixes encodings: it was refused with "mixed encodings at line 1"."""

from __future__ import annotations

from pathlib import Path

from data.engine import get_engine
from data.io import import_file
from tests.factories import build_tiny_world


def test_a_gbk_file_opening_with_utf8_looking_bytes_imports(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    build_tiny_world(engine)
    path = tmp_path / "export.csv"
    path.write_bytes(("某县供电公司工单导出\n"
                      "工单编号,受理时间,业务类型,受理渠道,供电单位\n"
                      "GD-1,2026-10-05 08:00:00,故障报修,95598,甲一营业厅\n").encode("gbk"))
    res = import_file(engine, "tickets", path, "sgcc_95598_tickets")
    assert res.error is None, res.error
    assert (res.encoding, res.header_row, res.imported) == ("gb18030", 2, 1)


def test_utf8_lines_then_gbk_lines_are_still_refused(sqlite_url: str, tmp_path: Path) -> None:
    engine = get_engine(sqlite_url)
    path = tmp_path / "mixed.csv"
    path.write_bytes("工单编号,受理时间\n".encode() + "GD-1,甲一营业厅\n".encode("gbk"))
    res = import_file(engine, "tickets", path, "sgcc_95598_tickets")
    assert res.error is not None and (res.error.code, res.error.params["line"]) == ("mixed_encoding", 2)
