"""The attack suite's fixtures: a real SQLite file with the tiny world (plus personal data and payloads), fresh
Streamlit caches for every test. Every test module here carries ``pytestmark = pytest.mark.security``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import streamlit as st

from data.engine import get_engine
from tests.factories import build_tiny_world


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def tiny_app_db(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    build_tiny_world(get_engine(sqlite_url))
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return sqlite_url
