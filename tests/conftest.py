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


# Test lanes (README "Tests"): every test gets the markers of the costly things it uses, found from its fixtures
# (closure included), its parameters and the names its code and its helpers call, so `make test-fast` selects the
# pure tests by marker, never by a list of files. A test that builds the demo world without a demo_* fixture carries
# ``pytest.mark.world`` itself.
WORLD_FIXTURES = frozenset({"demo_sqlite_url", "demo_pg_url", "demo_reviews_url", "demo_reviews_pg_url"})
POSTGRES_FIXTURES = frozenset({"pg_url", "demo_pg_url", "demo_reviews_pg_url"})
# names whose use earns a marker, wherever they are called: the test, its fixtures, the tests/ helpers they call
LANE_NAMES = {
    "db": frozenset({"get_engine", "create_engine", "sqlite3", "upgrade"}),
    "app": frozenset({"AppTest", "AppServer"}),
    "world": frozenset({"run_demo"}),
    "subprocess": frozenset({"subprocess", "Popen"}),
}
_CODE_NAMES: dict[object, frozenset[str]] = {}


def _code_names(func: object) -> frozenset[str]:
    """The global and attribute names used by ``func`` and its nested functions, and its string constants quoted
    ("'demo_sqlite_url'", for getfixturevalue), following the functions of the tests package it calls by name."""
    code = getattr(func, "__code__", None)
    if code is None:
        return frozenset()
    if code in _CODE_NAMES:
        return _CODE_NAMES[code]
    _CODE_NAMES[code] = frozenset()  # recursion guard
    names: set[str] = set()
    todo = [code]
    while todo:
        c = todo.pop()
        names.update(c.co_names)
        for const in c.co_consts:
            if isinstance(const, str):
                names.add(f"'{const}'")
            elif hasattr(const, "co_names"):
                todo.append(const)
    found = set(names)
    glob = getattr(func, "__globals__", {})
    for name in names:
        target = glob.get(name)
        if callable(target) and str(getattr(target, "__module__", "")).startswith("tests."):
            found |= _code_names(target)
    _CODE_NAMES[code] = frozenset(found)
    return _CODE_NAMES[code]


def lane_markers(item: pytest.Item) -> set[str]:
    """The lane markers a test earns: ``db`` (opens a database), ``world`` (the demo world), ``app`` (runs the
    Streamlit script), ``postgres``, ``browser``, ``subprocess`` (starts a Python process)."""
    fixtures = set(getattr(item, "fixturenames", ()))
    info = getattr(item, "_fixtureinfo", None)
    funcs = [getattr(item, "obj", None)]
    for name in fixtures:
        funcs += [d.func for d in (info.name2fixturedefs.get(name, ()) if info is not None else ())]
    names: set[str] = set()
    for func in funcs:
        names |= _code_names(func)
    # parameters: db_url / bad_db run once per database ("postgres"); some tests name the world fixture they use
    params = {v for v in getattr(getattr(item, "callspec", None), "params", {}).values() if isinstance(v, str)}
    marks = {mark for mark, signs in LANE_NAMES.items() if names & signs}
    if (fixtures | params | {n.strip("'") for n in names if n.startswith("'")}) & WORLD_FIXTURES:
        marks.add("world")
    if (fixtures | params) & POSTGRES_FIXTURES or "postgres" in params:  # inline new_pg_schema: mark the test
        marks.add("postgres")
    if "browser" in fixtures:
        marks.add("browser")
    return marks


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marks = lane_markers(item) | {m.name for m in item.iter_markers()}
        if marks & {"world", "app", "postgres", "browser"}:
            marks.add("db")  # each of these opens a database too
        for name in sorted(marks - {m.name for m in item.iter_markers()}):
            item.add_marker(name)


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
