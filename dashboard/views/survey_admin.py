"""问卷管理 (admins): the questionnaire versions in use, Cronbach's alpha per dimension, response rates, and what
rotating items across invitees costs (answers per item and interval width)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import streamlit as st

from dashboard.db import url
from dashboard.i18n import lang, t
from dashboard.scope import identity, scope_of
from data.access import can
from data.engine import get_engine
from data.i18n import fmt_number, fmt_percent
from data.models import UTC, SurveyDefinition
from data.reference import service_types
from data.repositories import Scope
from surveys.definitions import DefinitionError, registry
from surveys.invitations import demo_mode
from surveys.quality import ALL, dimension_alpha, rotation_cost
from surveys.rates import response_rates
from surveys.settings import DEFAULT_PUBLIC_URL, PUBLIC_URL_ENV

MIN_N = 30  # alpha from fewer complete responses is shown as "too few"
RATE_DAYS = 90


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def _alpha(db_url: str, survey_key: str, scope_path: str) -> pd.DataFrame:
    return dimension_alpha(get_engine(db_url), survey_key, Scope(scope_path))


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def _rates(db_url: str, scope_path: str, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    return response_rates(get_engine(db_url), Scope(scope_path), start, end, by=("channel", "service_type"))


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def _rotation_cost(db_url: str, survey_key: str, service_type: str | None, scope_path: str, start: dt.datetime,
                   end: dt.datetime) -> tuple[pd.DataFrame, int]:
    return rotation_cost(get_engine(db_url), registry().get(survey_key), service_type, Scope(scope_path), start, end)


@st.cache_data(ttl=60, max_entries=8, show_spinner=False)
def _published(db_url: str) -> dict[tuple[str, int], tuple[str, bool]]:
    from sqlalchemy import select

    with get_engine(db_url).connect() as conn:
        rows = conn.execute(select(SurveyDefinition.key, SurveyDefinition.version, SurveyDefinition.checksum,
                                   SurveyDefinition.active)).all()
    return {(r.key, r.version): (r.checksum, bool(r.active)) for r in rows}


@st.cache_data(ttl=60, max_entries=8, show_spinner=False)
def _demo_mode(db_url: str) -> bool:
    return demo_mode(get_engine(db_url))


def _public_url() -> None:
    """Where survey links point (GRIDCX_PUBLIC_URL); without it a real site cannot issue invitations."""
    import os

    st.subheader(t("survey_admin.links"))
    value = (os.environ.get(PUBLIC_URL_ENV) or "").strip()
    if value:
        st.markdown(t("survey_admin.public_url", env=PUBLIC_URL_ENV) + f" `{value.rstrip('/')}/survey?t=…`")
    elif _demo_mode(url()):
        st.info(t("survey_admin.public_url_demo", env=PUBLIC_URL_ENV, url=DEFAULT_PUBLIC_URL))
    else:
        st.warning(t("survey_admin.public_url_missing", env=PUBLIC_URL_ENV, url=DEFAULT_PUBLIC_URL))


def _definitions() -> None:
    st.subheader(t("survey_admin.definitions"))
    reg = registry()
    published = _published(url())
    rows = []
    for (key, version), d in sorted(reg.definitions.items()):
        pub = published.get((key, version))
        rows.append({
            t("survey_admin.col.key"): key, t("survey_admin.col.version"): version,
            t("survey_admin.col.title"): d.title.get(lang()), t("survey_admin.col.kind"): t(f"survey_admin.kind.{d.kind}"),
            t("survey_admin.col.service_types"): ", ".join(d.service_types) or "—",
            t("survey_admin.col.items"): len(d.items),
            t("survey_admin.col.checksum"): d.checksum()[:12],
            t("survey_admin.col.status"): t("survey_admin.status.active") if pub and pub[1]
            else (t("survey_admin.status.published") if pub else t("survey_admin.status.not_published")),
        })
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _fmt(x: float) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else fmt_number(x, lang(), 2)


def _reliability(scope_path: str) -> None:
    st.subheader(t("survey_admin.alpha"))
    st.caption(t("survey_admin.alpha_help", n=MIN_N))
    reg = registry()
    keys = [d.key for d in reg.latest()]
    key = st.selectbox(t("survey_admin.questionnaire"), keys, index=keys.index("servqual_annual")
                       if "servqual_annual" in keys else 0, key="survey_admin_key",
                       format_func=lambda k: reg.get(k).title.get(lang()))
    df = _alpha(url(), key, scope_path)
    if df.empty:
        st.info(t("state.empty"))
        return
    out = pd.DataFrame({
        t("survey_admin.col.dimension"): [t("survey.dim.all") if d == ALL else t(f"survey.dim.{d}")
                                          for d in df["dimension"]],
        t("survey_admin.col.k"): df["k"],
        t("survey_admin.col.n"): df["n"],
        t("survey_admin.col.alpha"): [_fmt(a) if n >= MIN_N else t("home.too_few") for a, n in zip(df["alpha"], df["n"], strict=True)],
        t("survey_admin.col.ci"): [f"{_fmt(lo)} – {_fmt(hi)}" if n >= MIN_N else "—"
                                   for lo, hi, n in zip(df["ci_low"], df["ci_high"], df["n"], strict=True)],
    })
    st.dataframe(out, hide_index=True, width="stretch")


def _response_rates(scope_path: str) -> None:
    st.subheader(t("survey_admin.rates", days=RATE_DAYS))
    end = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    df = _rates(url(), scope_path, end - dt.timedelta(days=RATE_DAYS), end)
    if df.empty:
        st.info(t("state.empty"))
        return
    st.dataframe(pd.DataFrame({
        t("survey_admin.col.channel"): df["channel"],
        t("survey_admin.col.service_type"): df["service_type"].fillna("—"),
        t("survey_admin.col.delivered"): df["delivered"],
        t("survey_admin.col.responded"): df["responded"],
        t("survey_admin.col.rate"): [fmt_percent(r, lang()) for r in df["rate"]],
    }), hide_index=True, width="stretch")


def _rotation(scope_path: str) -> None:
    """Each customer sees at most five questions: the items rotated across invitees get fewer answers."""
    st.subheader(t("survey_admin.rotation"))
    st.caption(t("survey_admin.rotation_help"))
    reg = registry()
    defs = [d for d in reg.latest() if d.kind != "annual"]
    key = st.selectbox(t("survey_admin.questionnaire"), [d.key for d in defs], key="survey_admin_rot_key",
                       format_func=lambda k: reg.get(k).title.get(lang()))
    d = reg.get(key)
    service_type = None
    if d.service_types:
        st_df = service_types()
        names = dict(zip(st_df["code"], st_df["name_en" if lang() == "en" else "name_zh"], strict=True))
        service_type = st.selectbox(t("survey_admin.col.service_type"), list(d.service_types),
                                    key="survey_admin_rot_st", format_func=lambda c: names.get(c, c))
    end = dt.datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    df, responses = _rotation_cost(url(), key, service_type, scope_path, end - dt.timedelta(days=RATE_DAYS), end)
    st.caption(t("survey_admin.rotation_basis", n=fmt_number(responses, lang(), 0), days=RATE_DAYS,
                 plans=len(d.plans(service_type))))
    st.dataframe(pd.DataFrame({
        t("survey_admin.col.question"): [d.item(k).text.get(lang()) for k in df["item"]],
        t("survey_admin.col.measures"): [t(f"survey_admin.role.{r}") if isinstance(r, str)
                                         else t(f"survey.dim.{m}") for r, m in zip(df["role"], df["dimension"], strict=True)],
        t("survey_admin.col.share"): [fmt_percent(x, lang()) for x in df["share"]],
        t("survey_admin.col.expected_n"): [fmt_number(x, lang(), 0) for x in df["expected_n"]],
        t("survey_admin.col.width"): [f"×{fmt_number(x, lang(), 2)}" for x in df["width_factor"]],
        t("survey_admin.col.asked"): df["asked"],
        t("survey_admin.col.answer_rate"): ["—" if math.isnan(x) else fmt_percent(x, lang()) for x in df["answer_rate"]],
    }), hide_index=True, width="stretch")


def render() -> None:
    ident = identity()
    st.title(t("nav.survey_admin"))
    if not can(ident, "manage_surveys"):
        st.warning(t("state.no_permission"))
        return
    _public_url()
    try:
        _definitions()
    except DefinitionError as exc:
        st.error(t("survey.definitions_broken") + "\n\n" + str(exc))
        return
    scope_path = scope_of(ident).path
    _reliability(scope_path)
    _response_rates(scope_path)
    _rotation(scope_path)
