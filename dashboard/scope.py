"""The logged-in user's identity, scope and permissions (``may``: the role matrix in ``data.access``), and names of
regions, cached briefly (small, hashable arguments only)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from dashboard.db import url
from dashboard.i18n import lang
from data.access import can
from data.repositories import Scope, region_names
from data.users import Identity


@st.cache_data(ttl=600, max_entries=512, show_spinner=False)
def _names(db_url: str, region_id: int) -> tuple[str, str] | None:
    from data.engine import get_engine

    return region_names(get_engine(db_url), region_id)


def region_name(engine: Engine, region_id: int) -> str:
    names = _names(url(), region_id)
    if names is None:
        return "—"
    return names[0] if lang() == "zh-CN" else names[1]


def identity() -> Identity:
    ident = st.session_state.get("identity")
    if not isinstance(ident, Identity):
        st.error("no permission")
        st.stop()
    return ident


def scope_of(ident: Identity) -> Scope:
    return Scope(ident.scope_path)


def may(operation: str) -> bool:
    """Whether the signed-in user may perform ``operation`` (``data.access.can`` on the session's identity, which the
    app shell re-reads from the database on every run). Pages, tiles, drill-downs and exports ask this, never a role
    name."""
    return can(st.session_state.get("identity"), operation)
