"""The role matrix is enforced in one place (``data.access.can``) that every page and export consults: HR, which has
no ``drill_down`` / ``export_rows``, gets no drill-down buttons, no row tables, no customer fields and no row exports
on any page it can open, even with a drill or a customer archive forged into its session; and flipping the table
for a role changes what the pages register and draw (they follow the table, not a copy of it).
The tiny world (tests/factories.py): hr and manager sit at the province; customers 张三 / 13800000000."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from dashboard.app import PAGES, page_roles
from data import access
from data.engine import get_engine
from data.i18n import translate
from data.models import Customer
from tests.app.helpers import login, open_page, texts

pytestmark = pytest.mark.security

CUSTOMER_COLUMNS = tuple(translate(f"col.{k}", "zh-CN") for k in ("account_no", "customer", "phone"))
ROW_EXPORTS = ("drill_csv", "drill_xlsx")


def _drill_buttons(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [b.key for b in at.button if str(b.key or "").startswith("drill_tile_")]


def _download_keys(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(d.key) for d in at.get("download_button")]


def _no_rows_of_customers(at, where: str) -> None:  # type: ignore[no-untyped-def]
    assert not _drill_buttons(at), where
    assert not set(ROW_EXPORTS) & set(_download_keys(at)), where
    for df in at.dataframe:
        assert not set(CUSTOMER_COLUMNS) & set(map(str, df.value.columns)), (where, list(df.value.columns))
    body = texts(at) + "".join(df.value.astype(str).to_string() for df in at.dataframe)
    assert "138****0000" not in body and "张*" not in body and "13800000000" not in body, where
    assert not any(s.key == "drill_archive_pick" for s in at.selectbox), where


def test_manager_keeps_drill_down_and_row_exports(tiny_app_db: str) -> None:
    """The control: the same page gives a manager the 明细 buttons, the rows (customer fields masked) and exports."""
    at = login("manager")
    assert "drill_tile_sla_arrival" in _drill_buttons(at)
    at.button(key="drill_tile_sla_arrival").click().run()
    assert set(CUSTOMER_COLUMNS) <= set(at.dataframe[0].value.columns)
    assert set(ROW_EXPORTS) <= set(_download_keys(at))


def test_hr_overview_has_no_drill_down_rows_customers_or_exports(tiny_app_db: str) -> None:
    at = login("hr")
    assert at.title[0].value == "首页概览" and at.metric  # the overview with its KPI tiles
    _no_rows_of_customers(at, "home")
    assert not _download_keys(at)


def test_hr_with_a_forged_drill_and_archive_sees_nothing(tiny_app_db: str) -> None:
    from dashboard.drill import DrillSpec

    with get_engine(tiny_app_db).connect() as conn:
        customer = conn.execute(select(Customer.id).where(Customer.region_id == 7)).scalar_one()
    at = login("hr")
    owner = at.session_state["_drill_current_page"]
    at.session_state["drill_spec"] = DrillSpec(kind="ticket", title="forged", kpi="sla_arrival", page=owner)
    at.session_state["archive_customer"] = customer
    at.run()
    assert not at.exception
    _no_rows_of_customers(at, "forged")
    assert not any(s.value == "客户档案" for s in at.subheader)
    assert "drill_spec" not in at.session_state and "archive_customer" not in at.session_state  # dropped


@pytest.mark.parametrize("page", sorted(k for k in PAGES if "hr" in page_roles(k)))
def test_no_page_hr_can_open_shows_customer_rows(tiny_app_db: str, page: str) -> None:
    at = open_page(login("hr"), page)
    _no_rows_of_customers(at, page)


def test_the_pages_follow_the_table(tiny_app_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Flip the matrix: HR given drill_down gets the 明细 buttons and the rows, but no exports without export_rows;
    a manager without drill_down loses them; HR given the analysis pages gets them registered."""
    monkeypatch.setitem(access.OPERATIONS, "drill_down", ("admin", "manager", "hr"))
    at = login("hr")
    assert "drill_tile_sla_arrival" in _drill_buttons(at)
    at.button(key="drill_tile_sla_arrival").click().run()
    assert len(at.dataframe[0].value) == 40
    assert not set(ROW_EXPORTS) & set(_download_keys(at))  # export_rows is still not HR's

    monkeypatch.setitem(access.OPERATIONS, "export_rows", ("admin", "manager", "hr"))
    at.run()
    assert set(ROW_EXPORTS) <= set(_download_keys(at))

    monkeypatch.setitem(access.OPERATIONS, "drill_down", ("admin",))
    at = login("manager")
    assert not _drill_buttons(at)

    regions_title = translate("nav.regions", "zh-CN")
    assert regions_title not in [t.value for t in open_page(login("hr"), "regions").title]
    monkeypatch.setitem(access.OPERATIONS, "analyse_service", ("admin", "manager", "hr"))
    assert regions_title in [t.value for t in open_page(login("hr"), "regions").title]


def test_can_refuses_what_is_not_an_identity_and_unknown_operations() -> None:
    from data.users import Identity

    hr = Identity(3, "hr", "人资", "hr", 1, "/1/", "zh-CN")
    assert access.can(hr, "read_dashboard") and access.can(hr, "hr_reports")
    assert not access.can(hr, "drill_down") and not access.can(hr, "export_rows")
    assert not access.can({"role": "admin"}, "drill_down") and not access.can(None, "read_dashboard")
    with pytest.raises(KeyError):
        access.can(hr, "drill_dwon")  # a typo is an error, never a silent "no"
