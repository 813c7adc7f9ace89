"""用户与权限 (admins): the accounts inside the administrator's scope; create, change role / region scope,
deactivate / reactivate, reset a password (a random one, shown once). Every change goes through ``data.users``,
which checks the acting identity again and writes an audit event; names are shown as plain table cells."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.db import engine, site_zone, url
from dashboard.filters import frozen, scope_regions
from dashboard.i18n import lang, t
from dashboard.safe import md_escape
from dashboard.scope import identity
from data.access import can
from data.users import (
    PASSWORD_MIN,
    ROLES,
    PasswordPolicyError,
    PermissionDenied,
    admin_create_user,
    admin_reset_password,
    admin_update_user,
    list_users,
)

RESET_KEY = "users_admin_reset"  # (username, password) shown once after a reset


def _regions() -> tuple[list[int], dict[int, str]]:
    ident = identity()
    tree = scope_regions(url(), ident.scope_path)
    col = "name_zh" if lang() == "zh-CN" else "name_en"
    ids = [int(i) for i in tree["id"]]
    return ids, dict(zip(ids, tree[col].astype(str), strict=False))


def _table(users: list[dict[str, object]]) -> None:
    df = pd.DataFrame(users)
    if df.empty:
        st.info(t("users.none"))
        return
    col = "name_zh" if lang() == "zh-CN" else "name_en"
    shown = pd.DataFrame({
        t("users.col.username"): df["username"], t("users.col.display_name"): df["display_name"],
        t("users.col.role"): df["role"].map(lambda r: t(f"role.{r}")), t("users.col.region"): df[col],
        t("users.col.active"): df["active"].map(lambda a: t("yes") if a else t("no")),
        t("users.col.locked"): df["locked_until"].map(lambda v: "" if v is None or pd.isna(v) else t("yes")),
        t("users.col.last_login"): pd.to_datetime(df["last_login_at"], utc=True).dt.tz_convert(site_zone())
        .dt.strftime("%Y-%m-%d %H:%M").fillna(""),
    })
    st.dataframe(shown, hide_index=True, width="stretch", key="users_table")  # plain text cells, no markdown


def _create(region_ids: list[int], names: dict[int, str]) -> None:
    ident = identity()
    with st.form("user_create", enter_to_submit=False, clear_on_submit=True):
        st.subheader(t("users.create"))
        username = st.text_input(t("users.col.username"), key="uc_username", max_chars=64, help=t("users.username_help"))
        display = st.text_input(t("users.col.display_name"), key="uc_display", max_chars=64)
        role = st.selectbox(t("users.col.role"), ROLES, key="uc_role", format_func=frozen(ROLES, lambda r: t(f"role.{r}")))
        region = st.selectbox(t("users.col.region"), region_ids, key="uc_region",
                              format_func=frozen(region_ids, lambda i: names.get(i, str(i))))
        password = st.text_input(t("users.initial_password"), type="password", key="uc_password", max_chars=256,
                                 help=t("password.policy", n=PASSWORD_MIN))
        go = st.form_submit_button(t("users.create_submit"), type="primary")
    if not go:
        return
    try:
        admin_create_user(engine(), ident, username.strip(), password, str(role), int(region or region_ids[0]),
                          display_name=display.strip() or None)
    except PasswordPolicyError as exc:
        st.warning(t(f"password.policy.{exc.code}", n=PASSWORD_MIN))
        return
    except ValueError as exc:
        st.warning(t(f"users.error.{exc}") if str(exc) in ("username", "exists", "role") else t("state.error"))
        return
    except PermissionDenied:
        st.error(t("state.no_permission"))
        return
    st.success(t("users.created", username=md_escape(username.strip())))


def _edit(users: list[dict[str, object]], region_ids: list[int], names: dict[int, str]) -> None:
    ident = identity()
    st.subheader(t("users.edit"))
    by_id = {int(u["id"]): u for u in users}  # type: ignore[call-overload]
    ids = list(by_id)
    if not ids:
        return
    uid = st.selectbox(t("users.pick"), ids, key="ue_user",
                       format_func=frozen(ids, lambda i: f"{by_id[i]['username']} · {t('role.' + str(by_id[i]['role']))}"))
    if uid is None:
        return
    u = by_id[int(uid)]
    with st.form("user_edit", enter_to_submit=False):
        role = st.selectbox(t("users.col.role"), ROLES, index=ROLES.index(str(u["role"])), key="ue_role",
                            format_func=frozen(ROLES, lambda r: t(f"role.{r}")))
        rid = int(u["region_id"])  # type: ignore[call-overload]
        region = st.selectbox(t("users.col.region"), region_ids, key="ue_region",
                              index=region_ids.index(rid) if rid in region_ids else 0,
                              format_func=frozen(region_ids, lambda i: names.get(i, str(i))))
        active = st.checkbox(t("users.col.active"), value=bool(u["active"]), key="ue_active")
        save = st.form_submit_button(t("users.save"))
    if save:
        try:
            admin_update_user(engine(), ident, int(uid), role=str(role), region_id=int(region or rid),
                              active=bool(active))
        except PermissionDenied:
            st.error(t("users.error.self_or_scope"))
            return
        st.success(t("users.saved"))
        st.rerun()
    if st.button(t("users.reset"), key="ue_reset", icon=":material/lock_reset:"):
        try:
            pw = admin_reset_password(engine(), ident, int(uid))
        except PermissionDenied:
            st.error(t("state.no_permission"))
            return
        st.session_state[RESET_KEY] = (str(u["username"]), pw)
    shown = st.session_state.pop(RESET_KEY, None)
    if shown:
        st.warning(t("users.reset_done", username=md_escape(shown[0])))
        st.code(shown[1], language=None)  # shown once; never logged


def render() -> None:
    ident = identity()
    st.title(t("users.title"))
    if not can(ident, "manage_users"):
        st.error(t("state.no_permission"))
        return
    st.caption(t("users.caption"))
    try:
        users = list_users(engine(), ident)
        region_ids, names = _regions()
    except PermissionDenied:
        st.error(t("state.no_permission"))
        return
    _table(users)
    _edit(users, region_ids, names)
    st.divider()
    _create(region_ids, names)
