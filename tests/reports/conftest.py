"""A private copy of the size-S demo world with the demo quality reviews, for the report tests (which write)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from data.engine import dispose_all, get_engine


@pytest.fixture(scope="session")
def demo_reviews_url(demo_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from demo.world import groundtruth_path
    from reports.reviews import demo_reviews

    src = Path(demo_sqlite_url.removeprefix("sqlite:///"))
    get_engine(demo_sqlite_url).dispose()
    with get_engine(demo_sqlite_url).connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(FULL)"))
    dst = tmp_path_factory.mktemp("demo_reviews") / "gridcx.db"
    shutil.copyfile(src, dst)
    url = f"sqlite:///{dst}"
    shutil.copyfile(groundtruth_path(get_engine(demo_sqlite_url)), groundtruth_path(get_engine(url)))
    demo_reviews(get_engine(url), seed=7)
    yield url
    dispose_all()
