"""What every manager page does first (identity, filters, the line saying what is shown, the frames and pack for the
filter state with the empty and error states) and small shared helpers: charts whose marks open the rows behind
them, the policy-pack choice, region names."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import datasets, filters
from dashboard.db import url
from dashboard.filters import FilterState
from dashboard.i18n import lang, t
from dashboard.scope import identity
from data.access import can
from data.reference import DEFAULT_PACK, PACKS
from data.users import Identity
from metrics.overview import Frames, OverviewPack

# the chart types st.altair_chart draws (every builder in dashboard.charts returns one of them)
AltairChart = alt.Chart | alt.ConcatChart | alt.FacetChart | alt.HConcatChart | alt.LayerChart | alt.RepeatChart | \
    alt.VConcatChart


@dataclass(frozen=True)
class Ctx:
    ident: Identity
    state: FilterState
    db: str
    scope_path: str


def start(title_key: str, operation: str = "analyse_service") -> Ctx:
    """Title, permission check (``operation`` in the role matrix, data.access) and the one line saying what is shown;
    stops the page when it cannot be shown."""
    ident = identity()
    st.session_state["_drill_current_page"] = title_key  # dashboard.drill.PAGE_OWNER: drills stay on their page
    st.title(t(title_key))
    if not can(ident, operation):
        st.warning(t("state.no_permission"))
        st.stop()
    state = filters.current()
    filters.caption(state)
    return Ctx(ident, state, url(), ident.scope_path)


def frames_and_pack(ctx: Ctx, policy_pack: str = DEFAULT_PACK,
                    rows: str = "tickets") -> tuple[Frames, OverviewPack] | None:
    """The fact frames and the overview pack for the page's filter state (time limits judged by ``policy_pack``).

    None when the page has nothing to show, after showing why: the error state when reading fails, the empty state
    when the ``rows`` frame the page is about (``tickets``, ``responses``, ...) is empty. A page about responses
    works without a single work order (survey results imported from a questionnaire tool). The page returns on None.
    """
    try:
        fr = datasets.frames(ctx.db, ctx.scope_path, ctx.state.key(), policy_pack)
        pk = None if empty(fr.get(rows)) else datasets.state_pack(ctx.state, ctx.db, ctx.scope_path, policy_pack)
    except Exception:  # noqa: BLE001 - a clear state, never a traceback
        failed()
        return None
    if pk is None:
        st.info(t("state.empty"))
        return None
    return fr, pk


def chart(ch: AltairChart, key: str, on_pick: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Draw an Altair chart; with ``on_pick`` a click on a mark (the ``pick`` selection) calls it once."""
    if on_pick is None:
        st.altair_chart(ch, key=key, width="stretch")
        return
    event = st.altair_chart(ch, key=key, on_select="rerun", selection_mode="pick", width="stretch")
    picked = None
    try:
        picked = event.selection.get("pick") if event is not None else None  # type: ignore[union-attr]
    except AttributeError:
        picked = None
    marker = f"_{key}_handled"
    if picked:
        sig = repr(picked)
        if st.session_state.get(marker) != sig:
            st.session_state[marker] = sig
            on_pick(picked[0])
    else:
        st.session_state.pop(marker, None)


def policy_pack(key: str = "policy_pack") -> str:
    """The SLA policy pack the page judges time limits by (site default first)."""
    return st.selectbox(t("filters.pack"), PACKS, index=PACKS.index(DEFAULT_PACK), key=key,
                        format_func=filters.frozen(PACKS, lambda p: t(f"pack.{p}"))) or DEFAULT_PACK


def region_names(ctx: Ctx) -> dict[int, str]:
    tree = filters.scope_regions(ctx.db, ctx.scope_path)
    col = "name_zh" if lang() == "zh-CN" else "name_en"
    return dict(zip(tree["id"].astype(int), tree[col].astype(str), strict=False))


def empty(df: pd.DataFrame | None) -> bool:
    return df is None or len(df) == 0


def too_few(n: int, min_n: int) -> bool:
    if n < min_n:
        st.info(t("state.too_few", n=n, min_n=min_n))
        return True
    return False


def failed() -> None:
    """The error state: logged for the administrator, a clear message (never a traceback) for the user."""
    import logging

    logging.getLogger("gridcx.dashboard").exception("page failed")
    st.error(t("state.error"))
