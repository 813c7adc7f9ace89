"""Shared fixtures: a real SQLite file per test, a private PostgreSQL schema per test run, the demo world.

PostgreSQL and Chromium tests skip on a machine without them, unless GRIDCX_REQUIRE_SERVICES=1 (set by .ci/run),
which turns those skips into failures.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from data.engine import dispose_all, get_engine
from data.schema import upgrade

REQUIRE_SERVICES = os.environ.get("GRIDCX_REQUIRE_SERVICES") == "1"
PG_BASE_URL = os.environ.get("GRIDCX_TEST_PG_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")
RUN_ID = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"

# Fact snapshots of the test databases (data/snapshot.py) go to a temporary folder, never under data/cache.
if "GRIDCX_CACHE_DIR" not in os.environ:
    os.environ["GRIDCX_CACHE_DIR"] = tempfile.mkdtemp(prefix="gridcx-facts-")
    atexit.register(shutil.rmtree, os.environ["GRIDCX_CACHE_DIR"], True)


def need(condition: bool, why: str) -> None:
    """Skip when a service is missing, or fail when CI says the service is mandatory."""
    if condition:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {why}")
    pytest.skip(why)


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_BASE_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:  # noqa: BLE001
        return False


_PG_OK: bool | None = None


def pg_available() -> bool:
    global _PG_OK
    if _PG_OK is None:
        _PG_OK = _pg_available()
    return _PG_OK


def new_pg_schema(label: str) -> str:
    """Create a private schema for this test run; returns a DATABASE_URL pointing at it."""
    need(pg_available(), f"PostgreSQL not reachable at {PG_BASE_URL}")
    schema = f"t{RUN_ID}_{label}"[:60].lower()
    eng = create_engine(PG_BASE_URL)
    with eng.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng.dispose()
    return f"{PG_BASE_URL}?schema={schema}"


def drop_pg_schema(url: str) -> None:
    schema = url.rsplit("schema=", 1)[1]
    dispose_all()
    eng = create_engine(PG_BASE_URL)
    with eng.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    eng.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'gridcx.db'}"
    upgrade(get_engine(url))
    yield url
    dispose_all()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    url = new_pg_schema(uuid.uuid4().hex[:8])
    upgrade(get_engine(url))
    yield url
    drop_pg_schema(url)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database at head, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'gridcx.db'}"
        upgrade(get_engine(url))
        yield url
        dispose_all()
    else:
        url = new_pg_schema(uuid.uuid4().hex[:8])
        upgrade(get_engine(url))
        yield url
        drop_pg_schema(url)


@pytest.fixture(scope="session")
def demo_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The size-S demo world (seed 7) in a SQLite file shared by the session's read-only tests."""
    from demo.run import run_demo

    path = tmp_path_factory.mktemp("demo") / "gridcx.db"
    url = f"sqlite:///{path}"
    engine = get_engine(url)
    upgrade(engine)
    run_demo(engine, "S", 7)
    yield url


@pytest.fixture(scope="session")
def demo_pg_url() -> Iterator[str]:
    """The size-S demo world (seed 7) in a private PostgreSQL schema."""
    from demo.run import run_demo

    url = new_pg_schema("demo")
    engine = get_engine(url)
    upgrade(engine)
    run_demo(engine, "S", 7)
    yield url
    drop_pg_schema(url)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium for the whole run: a sync Playwright cannot start twice in one process, so every suite
    (e2e, faults, security) shares this one."""
    path = chromium_path()
    need(path is not None, "chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "playwright is not installed")
        raise
    (Path(__file__).resolve().parents[1] / "artifacts").mkdir(exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()
