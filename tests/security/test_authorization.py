"""Authorization: the role matrix (data) against the registered pages, customers reach only the survey page, HR
cannot import, and a manager's scope holds through URL parameters, tampered session state, every filter, drill-down,
the customer archive and exports. The tiny world: county A1 (/1/2/4/, station 7) holds 10 of the 40 work orders."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dashboard.app import PAGES, page_roles
from data import access
from data.engine import get_engine
from data.io import import_file
from data.models import AuditEvent, Customer, Ticket
from data.repositories import (
    Filters,
    Scope,
    answer_facts,
    contact_facts,
    follow_up_facts,
    headline,
    regions,
    response_facts,
    ticket_facts,
    tickets,
)
from data.repositories.drill import customer_history, customers, follow_up_queue, staff_in_scope
from data.users import Identity, PermissionDenied, authenticate
from tests.app.helpers import APP, login, open_page, texts
from tests.factories import PASSWORD

pytestmark = pytest.mark.security

A1 = Scope("/1/2/4/")
FOREIGN_REGIONS = (1, 2, 3, 5, 6, 9, 12, 13, 999)  # province, cities, other counties/stations, lookalike /1/12/
ALL_TIME = (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC))


def _metric(at, label: str) -> str:  # type: ignore[no-untyped-def]
    return next(m.value for m in at.metric if m.label == label)


def _login_with(params: dict[str, str], username: str = "mgr_a1"):  # type: ignore[no-untyped-def]
    return login(username, params=params)


def _drill(at, spec):  # type: ignore[no-untyped-def]
    """Put a (forged) drill spec into the session as the current page's drill."""
    from dataclasses import replace

    owner = at.session_state["_drill_current_page"] if "_drill_current_page" in at.session_state else ""
    at.session_state["drill_spec"] = replace(spec, page=str(owner)) if hasattr(spec, "page") else spec


# --- the matrix as data -----------------------------------------------------------------------------------------------


def test_role_matrix_matches_the_registered_pages() -> None:
    ops = {"imports": "import", "users": "manage_users", "survey_admin": "manage_surveys", "hr": "hr_reports",
           "followups": "work_follow_ups", "reviews": "quality_review", "home": "read_dashboard"}
    for key, (_m, _t, _i, operation, _s) in PAGES.items():
        assert operation in access.OPERATIONS, key  # every page names an operation of the matrix
        roles = page_roles(key)
        assert roles and set(roles) <= set(access.OPERATIONS["read_dashboard"]), key
        assert "customer" not in roles, key
        if key in ops:
            assert operation == ops[key], key
    assert access.OPERATIONS["import"] == ("admin",) and access.OPERATIONS["submit_survey"] == ("customer",)
    matrix = {r.role: r for r in access.matrix()}
    assert matrix["customer"].operations == ("submit_survey",) and matrix["customer"].scope == "token"
    assert "import" not in matrix["hr"].operations and "manage_users" not in matrix["manager"].operations
    security_md = (Path(__file__).resolve().parents[2] / "SECURITY.md").read_text(encoding="utf-8")
    for op in access.OPERATIONS:
        assert f"`{op}`" in security_md, f"SECURITY.md does not list {op}"


@pytest.mark.parametrize("ident", [None, {"role": "admin"}, "admin",
                                   Identity(9, "x", "x", "hr", 1, "/1/", "zh-CN")])
def test_require_refuses_anything_but_a_permitted_identity(ident: object) -> None:
    with pytest.raises(PermissionDenied):
        access.require(ident, "import")


# --- customers: the survey page and nothing else ------------------------------------------------------------------


@pytest.mark.parametrize("page", sorted(PAGES))
def test_anonymous_visitor_gets_only_the_login_page(tiny_app_db: str, page: str) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    open_page(at, page)
    assert at.text_input(key="login_username"), page
    assert not at.metric and not at.dataframe and not at.get("file_uploader")


# --- HR cannot import -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["hr", "manager", "mgr_a1"])
def test_import_refused_in_the_data_layer_for_non_admins(tiny_app_db: str, tmp_path: Path, username: str) -> None:
    engine = get_engine(tiny_app_db)
    path = tmp_path / "t.csv"
    path.write_text("external_no,created_at,region_code,channel,service_type\nX-1,2026-10-01 08:00,A1S,hotline,repair\n",
                    encoding="utf-8")
    ident = authenticate(engine, username, PASSWORD)
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(Ticket)).scalar_one()
    with pytest.raises(PermissionDenied):
        import_file(engine, "tickets", path, actor=ident)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == before
        refused = conn.execute(select(AuditEvent).where(AuditEvent.action == "import_refused")).all()
    assert [r.username for r in refused] == [username]
    admin = authenticate(engine, "admin", PASSWORD)
    res = import_file(engine, "tickets", path, actor=admin)
    assert res.error is None and res.imported == 1, res.summary()  # an admin may


# --- URL parameters ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["B1", "B1S", "A", "P", "A12", "A12S", "A2", "A1' OR '1'='1", "../P", "%2F1%2F"])
def test_region_url_parameter_outside_scope_is_ignored(tiny_app_db: str, region: str) -> None:
    at = _login_with({"region": region, "period": "this_year"})
    assert _metric(at, "工单量") == "10"
    assert any("region" in w.value for w in at.warning)
    assert at.query_params.get("region") in (None, [], "")


def test_region_url_parameter_inside_scope_narrows(tiny_app_db: str) -> None:
    at = _login_with({"region": "A1S", "period": "this_year"}, "mgr_a")
    assert _metric(at, "工单量") == "10"  # city A's manager narrowed to hall A1


@pytest.mark.parametrize("param, value", [("ch", "hotline,'; DROP TABLE ticket;--"), ("svc", "repair,<script>"),
                                          ("seg", "residential,1=1"), ("area", "urban,remote%00"),
                                          ("period", "all_time"), ("from", "1970-01-01' --"),
                                          ("cmp", "../../etc/passwd")])
def test_bad_filter_url_parameters_are_dropped_not_run(tiny_app_db: str, param: str, value: str) -> None:
    at = _login_with({param: value, "period": "this_year"} if param != "period" else {param: value})
    assert not at.exception
    with get_engine(tiny_app_db).connect() as conn:
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 40  # nothing dropped
    assert any(param in w.value for w in at.warning)


# --- tampered session state -------------------------------------------------------------------------------------------


def test_session_pointing_at_another_user_id_is_signed_out(tiny_app_db: str) -> None:
    at = login("mgr_a1")
    admin_id = authenticate(get_engine(tiny_app_db), "admin", PASSWORD).user_id
    at.session_state["identity_user_id"] = admin_id  # the stamp is still mgr_a1's
    at.run()
    assert at.text_input(key="login_username") and not at.metric


@pytest.mark.parametrize("value", ["1", True, 1.0, None, -1, 10**12])
def test_malformed_user_id_in_session_state_signs_out(tiny_app_db: str, value: object) -> None:
    at = login("mgr_a1")
    at.session_state["identity_user_id"] = value
    at.run()
    assert not at.exception and at.text_input(key="login_username") and not at.metric


def test_forged_stamp_signs_out(tiny_app_db: str) -> None:
    at = login("mgr_a1")
    at.session_state["identity_stamp"] = "0" * 16
    at.run()
    assert at.text_input(key="login_username") and not at.metric


def test_forged_identity_object_cannot_widen_the_scope(tiny_app_db: str) -> None:
    at = login("mgr_a1")
    at.selectbox(key="f_period").set_value("this_year").run()
    at.session_state["identity"] = Identity(1, "admin", "x", "admin", 1, "/1/", "zh-CN")
    at.run()
    assert _metric(at, "工单量") == "10"
    open_page(at, "imports")
    assert not at.get("file_uploader")


@pytest.mark.parametrize("code", ["B1", "P", "A12"])
def test_forged_region_filter_in_session_state_falls_back_to_the_scope(tiny_app_db: str, code: str) -> None:
    at = login("mgr_a1")
    at.selectbox(key="f_period").set_value("this_year").run()
    at.session_state["_filters_pending_region"] = code  # what a page's drill-into-region writes
    at.run()
    assert _metric(at, "工单量") == "10"


def test_forged_drill_spec_shows_only_rows_in_scope(tiny_app_db: str) -> None:
    from dashboard.drill import DrillSpec

    with get_engine(tiny_app_db).connect() as conn:
        all_ids = tuple(conn.execute(select(Ticket.id)).scalars())
    at = login("mgr_a1", lang="en")
    at.selectbox(key="f_period").set_value("this_year").run()
    _drill(at, DrillSpec(kind="ticket", title="all", ids=all_ids))
    at.run()
    assert not at.exception
    shown = [df.value for df in at.dataframe]
    numbers = {str(v) for df in shown for c in df.columns if c == "Work order" for v in df[c]}
    assert numbers and all(n.startswith("T7-") for n in numbers), numbers


def test_forged_archive_customer_from_another_county_is_refused(tiny_app_db: str) -> None:
    from dashboard.drill import DrillSpec

    with get_engine(tiny_app_db).connect() as conn:
        foreign = conn.execute(select(Customer.id).where(Customer.region_id == 9)).scalar_one()
    at = login("mgr_a1")
    at.selectbox(key="f_period").set_value("this_year").run()
    _drill(at, DrillSpec(kind="ticket", title="x"))
    at.session_state["archive_customer"] = foreign
    at.run()
    assert not at.exception
    shown = texts(at).replace("\\*", "*")  # the archive escapes the asterisks of masked values
    assert "13800000000" not in shown and "138****0000" not in shown
    assert at.warning  # no permission


# --- the data layer, every reader, every filter ------------------------------------------------------------------


READERS = {
    "tickets": lambda e, s, f: tickets(e, s, f),
    "ticket_facts": ticket_facts, "contact_facts": contact_facts, "response_facts": response_facts,
    "answer_facts": answer_facts, "follow_up_facts": follow_up_facts,
}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("region", FOREIGN_REGIONS)
def test_no_reader_returns_rows_outside_the_scope(tiny_app_db: str, reader: str, region: int) -> None:
    engine = get_engine(tiny_app_db)
    f = Filters(start=ALL_TIME[0], end=ALL_TIME[1], region_id=region)
    df = READERS[reader](engine, A1, f)
    if region in (1, 2):  # an ancestor of the scope: narrowing by AND leaves exactly the scope, never more
        whole = READERS[reader](engine, A1, Filters(start=ALL_TIME[0], end=ALL_TIME[1]))
        assert len(df) == len(whole) and ("region_id" not in df or set(df["region_id"]) <= {4, 7}), (reader, region)
    else:
        assert len(df) == 0, (reader, region)


@pytest.mark.parametrize("filters", [
    dict(area_classes=("rural", "remote")), dict(channels=("' OR 1=1 --",)), dict(service_types=("repair' --",)),
    dict(segments=("residential') OR ('1'='1",)), dict(area_classes=("%",)), dict(channels=("*",)),
])
def test_filters_never_widen_and_sql_looking_values_are_plain_values(tiny_app_db: str,
                                                                      filters: dict[str, tuple[str, ...]]) -> None:
    engine = get_engine(tiny_app_db)
    f = Filters(start=ALL_TIME[0], end=ALL_TIME[1], **filters)
    rows = ticket_facts(engine, A1, f)
    assert len(rows) == 0
    listed = tickets(engine, A1, f)
    assert len(listed) <= 10 and (listed.empty or set(listed["region_id"]) <= {7})  # never wider than the scope
    assert headline(engine, A1, f)["tickets"] <= 10
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 40


def test_scope_paths_cannot_be_forged_with_wildcards() -> None:
    for bad in ("/1/%", "/1/_/", "%", "/", "/1/2/4", "1/2/", "/1/2/4/ OR 1=1", "/1//"):
        with pytest.raises(ValueError):
            Scope(bad)


def test_customer_archive_and_lookups_stay_in_scope(tiny_app_db: str) -> None:
    engine = get_engine(tiny_app_db)
    with engine.connect() as conn:
        ids = list(conn.execute(select(Customer.id, Customer.region_id)).all())
    own = [i for i, r in ids if r == 7]
    assert list(customers(engine, A1, [i for i, _ in ids])["id"]) == own
    for cid, region in ids:
        hist = customer_history(engine, A1, cid)
        assert hist["customer"].empty == (region != 7)
    assert set(regions(engine, A1)["path"]) == {"/1/2/4/", "/1/2/4/7/"}
    assert follow_up_queue(engine, A1).empty or set(follow_up_queue(engine, A1)["region_id"]) <= {4, 7}
    assert staff_in_scope(engine, A1).empty or set(staff_in_scope(engine, A1)["region_id"]) <= {4, 7}


def test_drill_export_holds_only_rows_in_scope(tiny_app_db: str) -> None:
    """The export is built from the same scoped rows as the table: a spec naming every row exports only A1's."""
    import streamlit as st

    from dashboard import datasets
    from dashboard.drill import DrillSpec, rows_for
    from dashboard.export import to_csv
    from dashboard.filters import FilterState
    from metrics.periods import Period

    st.cache_data.clear()
    p = Period(dt.date(2026, 1, 1), dt.date(2027, 1, 1))
    state = FilterState("this_year", p, "none", 4, "A1", True)
    with get_engine(tiny_app_db).connect() as conn:
        all_ids = tuple(conn.execute(select(Ticket.id)).scalars())
    rows, _ = rows_for(DrillSpec(kind="ticket", title="t", ids=all_ids), state, tiny_app_db, "/1/2/4/")
    assert len(rows) == 10 and set(rows["region_id"]) == {7}
    data = to_csv(rows[["external_no"]], {"title": "x"}).decode("utf-8-sig")
    assert "T9-" not in data and "T8-" not in data and "T13-" not in data
    assert datasets is not None
