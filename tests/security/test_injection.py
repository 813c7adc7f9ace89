"""Injection: markdown / HTML / script payloads in comments, names and imported fields are shown as plain text;
spreadsheet formulas are neutralised in every export; SQL-looking input stays data; survey tokens cannot be guessed
or reused; malformed and oversized uploads are refused cleanly; export names cannot leave their folder."""

from __future__ import annotations

import datetime as dt
import io
import secrets
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import func, select, update
from streamlit.testing.v1 import AppTest

from data.engine import get_engine
from data.io import export_table, import_file
from data.models import UTC, Customer, Invitation, Region, Response, Ticket, User
from data.safety import safe_cell, safe_filename, safe_frame
from data.users import LoginError, authenticate
from surveys.intake import open_link, submit
from surveys.tokens import hash_token, new_token
from tests.app.helpers import APP, login, open_page
from tests.factories import PASSWORD
from tests.surveys.helpers import HAPPY, build_survey_world, new_invitation

pytestmark = pytest.mark.security

LINK = "[点我领奖](http://evil.example/x)"
IMG = "![x](http://evil.example/p.png)"
HTML = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(document.cookie)</script>"
DIRECTIVE = ":red[伪造警告] $\\frac{1}{0}$"
FORMULA = '=HYPERLINK("http://evil.example","点击")'
PAYLOADS = (LINK, IMG, HTML, SCRIPT, DIRECTIVE)
RAW_MARKERS = ("](http://evil", "<img src=x", "<script>", ":red[伪造警告", "onerror=")
FORMULAS = ("=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1", " =1", FORMULA)


def _markdown_texts(at: AppTest) -> list[str]:
    """Every element whose text Streamlit renders as Markdown."""
    out: list[str] = []
    for kind in ("markdown", "caption", "title", "header", "subheader", "info", "warning", "error", "success"):
        out += [str(e.value) for e in getattr(at, kind)]
    out += [m.label for m in at.metric]
    return out


def _unescaped(at: AppTest) -> list[str]:
    return [s for s in _markdown_texts(at) if any(m in s for m in RAW_MARKERS)]


@pytest.fixture
def payload_db(tiny_app_db: str) -> str:
    """The tiny world with payloads in every free-text field that reaches a page."""
    engine = get_engine(tiny_app_db)
    with engine.begin() as conn:
        conn.execute(update(Customer).values(name=LINK, address=HTML + "路1号", phone="13912345678",
                                             account_no=FORMULA + Customer.id))
        conn.execute(update(Region).where(Region.id == 7).values(name_zh="甲一" + LINK, name_en="Hall " + LINK))
        conn.execute(update(Response).values(comment=" ".join(PAYLOADS) + " 电话13912345678 " + FORMULA))
        conn.execute(update(User).where(User.username == "mgr_a").values(display_name=LINK + DIRECTIVE))
        first = conn.execute(select(Customer.id).where(Customer.region_id == 7)).scalar_one()
        conn.execute(update(Response).where(Response.region_id == 7).values(
            ticket_id=select(Ticket.id).where(Ticket.external_no == "T7-0").scalar_subquery()))
    assert first
    return tiny_app_db


# --- pages: payloads never render as markdown / HTML -----------------------------------------------------------------


def test_user_display_name_and_region_name_are_escaped_in_the_sidebar(payload_db: str) -> None:
    at = login("mgr_a")
    assert not _unescaped(at), _unescaped(at)


@pytest.mark.parametrize("page", ["home", "regions", "channels", "quality", "satisfaction", "followups"])
def test_manager_pages_render_payloads_as_plain_text(payload_db: str, page: str) -> None:
    at = login("manager")
    at.selectbox(key="f_period").set_value("this_year").run()
    open_page(at, page)
    assert not _unescaped(at), _unescaped(at)


def test_drill_down_and_archive_show_payloads_masked_and_plain(payload_db: str) -> None:
    from dashboard.drill import DrillSpec

    at = login("manager", lang="en")
    at.selectbox(key="f_period").set_value("this_year").run()
    with get_engine(payload_db).connect() as conn:
        cid = conn.execute(select(Customer.id).where(Customer.region_id == 7)).scalar_one()
    from dataclasses import replace

    owner = at.session_state["_drill_current_page"] if "_drill_current_page" in at.session_state else ""
    at.session_state["drill_spec"] = replace(DrillSpec(kind="response", title="r"), page=str(owner))
    at.session_state["archive_customer"] = cid
    at.run()
    assert not at.exception
    assert not _unescaped(at), _unescaped(at)
    cells = " ".join(str(v) for df in at.dataframe for v in df.value.astype(str).to_numpy().ravel())
    assert "13912345678" not in cells and "139****5678" in cells  # phone inside the comment masked
    from dashboard.safe import md_escape
    from data.masking import mask_name

    archive = " ".join(_markdown_texts(at))
    assert "Customer (masked)" in archive and LINK not in archive and "13912345678" not in archive
    assert md_escape(mask_name(LINK)) in archive  # masked (first character only), its asterisks escaped


def _survey(token: str, lang: str = "zh-CN") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["t"] = token
    at.session_state["lang"] = lang
    at.run()
    at.switch_page("dashboard/views/survey.py").run()
    assert not at.exception, at.exception
    return at


def test_survey_page_escapes_imported_address_and_hall_name(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = get_engine(sqlite_url)
    now = dt.datetime.now(UTC)
    build_survey_world(engine, now=now)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    with engine.begin() as conn:
        conn.execute(update(Customer).values(address=LINK + HTML))
        conn.execute(update(Region).where(Region.id == 7).values(name_zh=LINK, name_en=SCRIPT))
    token, _ = new_invitation(engine, ticket_id=1, customer_id=1, now=now)
    assert not _unescaped(_survey(token))
    kiosk, _ = new_invitation(engine, now=now, reusable=True, channel="kiosk")
    for lang in ("zh-CN", "en"):
        at = _survey(kiosk, lang)
        assert not _unescaped(at), _unescaped(at)


# --- survey tokens ----------------------------------------------------------------------------------------------------


@pytest.fixture
def survey_engine(sqlite_url: str):  # type: ignore[no-untyped-def]
    engine = get_engine(sqlite_url)
    build_survey_world(engine, now=dt.datetime.now(UTC))
    return engine


def test_guessed_tokens_find_nothing(survey_engine) -> None:  # type: ignore[no-untyped-def]
    new_invitation(survey_engine, ticket_id=1, now=dt.datetime.now(UTC))
    states = {open_link(survey_engine, new_token()).state for _ in range(200)}
    assert states == {"unknown"}


@pytest.mark.parametrize("token", ["", "x", "' OR '1'='1", "A" * 500, "../../etc/passwd", "%00" * 20,
                                   "<script>alert(1)</script>", "令牌令牌令牌令牌令牌令牌令牌令牌令牌令牌令牌令牌", None, 12345])
def test_malformed_tokens_are_refused_before_the_database(survey_engine, token: object) -> None:  # type: ignore[no-untyped-def]
    assert open_link(survey_engine, token).state == "malformed"
    assert submit(survey_engine, token, HAPPY).status == "malformed"


def test_token_hash_and_near_miss_tokens_are_not_accepted(survey_engine) -> None:  # type: ignore[no-untyped-def]
    token, _ = new_invitation(survey_engine, ticket_id=1, now=dt.datetime.now(UTC))
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert open_link(survey_engine, flipped).state == "unknown"
    assert open_link(survey_engine, hash_token(token)[:43]).state == "unknown"  # the stored hash is not a key
    assert open_link(survey_engine, token.upper() if token.upper() != token else token.lower()).state == "unknown"


def test_token_reuse_and_expiry(survey_engine) -> None:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(UTC)
    token, _ = new_invitation(survey_engine, ticket_id=1, now=now)
    assert submit(survey_engine, token, HAPPY).status == "ok"
    assert submit(survey_engine, token, HAPPY).status == "used"
    old, _ = new_invitation(survey_engine, ticket_id=2, now=now - dt.timedelta(days=30))
    assert submit(survey_engine, old, HAPPY).status == "expired"
    with survey_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Response).where(Response.invitation_id.is_not(None))
                            ).scalar_one() == 1


def test_token_of_another_survey_cannot_submit_this_form(survey_engine) -> None:  # type: ignore[no-untyped-def]
    token, _ = new_invitation(survey_engine, ticket_id=1, now=dt.datetime.now(UTC))
    assert submit(survey_engine, token, HAPPY, survey_key="billing").status == "wrong_survey"


def test_extra_and_out_of_range_answers_are_refused(survey_engine) -> None:  # type: ignore[no-untyped-def]
    token, _ = new_invitation(survey_engine, ticket_id=1, now=dt.datetime.now(UTC))
    for bad in ({**HAPPY, "region_id": 1}, {**HAPPY, "csat": 99}, {**HAPPY, "nps": "10; DROP TABLE response"},
                {**HAPPY, "csat": True}):
        res = submit(survey_engine, token, bad)
        assert res.status == "invalid", bad
    assert submit(survey_engine, token, HAPPY).status == "ok"  # the token survived the refused attempts


def test_comment_payload_is_stored_verbatim_but_bounded(survey_engine) -> None:  # type: ignore[no-untyped-def]
    token, _ = new_invitation(survey_engine, ticket_id=1, now=dt.datetime.now(UTC))
    comment = SCRIPT + "\x00\x07" + "长" * 5000
    res = submit(survey_engine, token, {**HAPPY, "comment": comment})
    assert res.status == "ok"
    with survey_engine.connect() as conn:
        stored = conn.execute(select(Response.comment).where(Response.id == res.response_id)).scalar_one()
    assert stored.startswith(SCRIPT) and "\x00" not in stored and len(stored) <= 1000


# --- SQL-looking input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["admin' --", "admin' OR '1'='1", "' UNION SELECT * FROM app_user --",
                                      "admin\x00", "ADMIN", "%"])
def test_sql_looking_usernames_fail_neutrally(tiny_app_db: str, username: str) -> None:
    with pytest.raises(LoginError):
        authenticate(get_engine(tiny_app_db), username, PASSWORD)


# --- spreadsheet formula injection ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", FORMULAS)
def test_shared_helper_neutralises_formulas(value: str) -> None:
    assert safe_cell(value) == "'" + value
    assert safe_cell("普通文本") == "普通文本" and safe_cell(12) == 12 and safe_cell("a=b") == "a=b"


def _xlsx_cells(data: bytes) -> list[openpyxl.cell.cell.Cell]:
    wb = openpyxl.load_workbook(io.BytesIO(data))
    return [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]


def test_dashboard_exports_neutralise_formulas() -> None:
    from dashboard.export import to_csv, to_excel

    df = pd.DataFrame({"comment": list(FORMULAS), FORMULA: range(len(FORMULAS))})
    header = {"=title": FORMULA}
    import csv

    text = to_csv(df, header).decode("utf-8-sig")
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    cells = _xlsx_cells(to_excel(df, header))
    assert all(c.data_type != "f" for c in cells)
    assert all(not str(c.value).startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells if isinstance(c.value, str))


def test_site_export_neutralises_formulas_csv_and_xlsx(tiny_app_db: str, tmp_path: Path) -> None:
    engine = get_engine(tiny_app_db)
    with engine.begin() as conn:
        conn.execute(update(Response).values(comment=FORMULA))
    export_table(engine, "responses", tmp_path / "r.csv")
    raw = (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in raw and ',"=HYPERLINK' not in raw and ",=HYPERLINK" not in raw
    export_table(engine, "responses", tmp_path / "r.xlsx")
    cells = _xlsx_cells((tmp_path / "r.xlsx").read_bytes())
    assert all(c.data_type != "f" for c in cells)


def test_shared_frame_helper_covers_headers_and_cells() -> None:
    out = safe_frame(pd.DataFrame({"=x": ["@a", "ok"], "n": [1, 2]}))
    assert list(out.columns) == ["'=x", "n"] and list(out["'=x"]) == ["'@a", "ok"] and list(out["n"]) == [1, 2]


# --- uploads ----------------------------------------------------------------------------------------------------------


def _admin(url: str):  # type: ignore[no-untyped-def]
    return authenticate(get_engine(url), "admin", PASSWORD)


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


MALFORMED = {
    "binary.csv": secrets.token_bytes(64 * 1024),
    "empty.csv": b"",
    "nul.csv": b"external_no,created_at\x00\x00\x00\n" + b"\x00" * 1000,
    "fake.xlsx": b"PK\x03\x04" + secrets.token_bytes(4096),
    "not_a_workbook.xlsx": _zip_bytes({"hello.txt": b"hi"}),
    "huge_field.csv": b"external_no,created_at,region_code\n" + b"A" * (8 * 1024 * 1024) + b",2026-10-01,A1S\n",
    "bomb.xlsx": _zip_bytes({"xl/worksheets/sheet1.xml": b"<a>" + b" " * (20 * 1024 * 1024) + b"</a>"}),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_and_oversized_uploads_are_refused_cleanly(tiny_app_db: str, tmp_path: Path, name: str) -> None:
    engine = get_engine(tiny_app_db)
    path = tmp_path / name
    path.write_bytes(MALFORMED[name])
    res = import_file(engine, "tickets", path, actor=_admin(tiny_app_db))
    assert res.imported == 0 and (res.error is not None or res.rejected >= 0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 40


def test_upload_name_with_path_tricks_stays_in_the_temporary_folder(tiny_app_db: str, tmp_path: Path) -> None:
    target = Path("/tmp/gridcx_pwned_by_upload.csv")
    target.unlink(missing_ok=True)
    at = open_page(login("admin"), "imports")
    at.selectbox(key="imp_kind").set_value("tickets")
    at.file_uploader(key="imp_file").set_value(("../../../../tmp/gridcx_pwned_by_upload.csv",
                                                b"external_no,created_at\nX,2026-10-01\n", "text/csv"))
    next(b for b in at.button if b.proto.form_id == "import_form").click().run()
    assert not at.exception
    assert not target.exists()


def test_upload_size_limit_is_configured() -> None:
    import tomllib

    cfg = tomllib.loads((Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml").read_text())
    assert 0 < cfg["server"]["maxUploadSize"] <= 200
    assert cfg["client"]["showErrorDetails"] in ("none", False)


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd.csv"), ("..\\..\\boot.ini", "boot.csv"), ("/abs/path/报表.xlsx", "报表.csv"),
    ("..", "export.csv"), ("a\x00b\r\n.csv", "ab.csv"), ("=cmd|' /C calc'!A0", "C_calc_A0.csv"),
    ("CON", "CON.csv"), ("x" * 300, "x" * 100 + ".csv"),
])
def test_export_file_names_cannot_leave_their_folder(name: str, expected: str) -> None:
    got = safe_filename(name, suffix=".csv")
    assert got == expected and "/" not in got and "\\" not in got and ".." not in got


def test_invitation_rows_outside_the_token_are_never_reachable(survey_engine) -> None:  # type: ignore[no-untyped-def]
    """A customer's token opens its own invitation only: the page context carries no name, phone or account."""
    token, _ = new_invitation(survey_engine, ticket_id=1, customer_id=1, now=dt.datetime.now(UTC))
    ctx = open_link(survey_engine, token).context
    assert ctx is not None
    fields = " ".join(str(v) for v in vars(ctx).values())
    with survey_engine.connect() as conn:
        c = conn.execute(select(Customer).where(Customer.id == 1)).mappings().first()
        n_inv = conn.execute(select(func.count()).select_from(Invitation)).scalar_one()
    assert c["phone"] not in fields and c["account_no"] not in fields and str(c["name"]) not in fields
    assert n_inv == 1


# --- region names (which imports can create) are escaped wherever markdown renders them -----------------------------


@pytest.mark.parametrize("username, page", [("manager", "regions"), ("manager", "channels"), ("hr", "hr")])
def test_imported_region_names_are_escaped_on_every_page(tiny_app_db: str, username: str, page: str) -> None:
    with get_engine(tiny_app_db).begin() as conn:
        conn.execute(update(Region).values(name_zh=Region.name_zh + LINK, name_en=Region.name_en + LINK))
    at = login(username)
    at.selectbox(key="f_period").set_value("this_year").run()
    open_page(at, page)
    assert not _unescaped(at), _unescaped(at)
