"""The app's engine, cached once per process per URL."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from data.engine import database_url, get_engine


@st.cache_resource(max_entries=4)
def _engine(url: str) -> Engine:
    return get_engine(url)


def engine() -> Engine:
    return _engine(database_url())


def url() -> str:
    return database_url()


def site_zone() -> str:
    """The site's reporting time zone (``site.timezone``; data.settings caches it per process)."""
    from data.settings import site_zone as _zone

    return _zone(engine())
