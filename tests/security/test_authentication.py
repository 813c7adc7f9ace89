"""Authentication end to end through AppTest: lockout, idle timeout, expired and ended sessions, password change and
its policy, the administrators' user management (audited), no default passwords outside demo mode."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from data.engine import get_engine
from data.models import AuditEvent, User
from data.users import (
    LoginError,
    PasswordPolicyError,
    PermissionDenied,
    admin_create_user,
    admin_reset_password,
    admin_update_user,
    authenticate,
    change_password,
    check_password_policy,
    identity_for,
    identity_for_email,
    list_users,
)
from tests.app.helpers import login, new_app, open_page, page_titles, texts
from tests.factories import PASSWORD

pytestmark = pytest.mark.security
ROOT = Path(__file__).resolve().parents[2]
NEUTRAL = "用户名或密码不正确，或账号暂时被锁定。"


def _audit(url: str, action: str) -> list[AuditEvent]:
    with get_engine(url).connect() as conn:
        return list(conn.execute(select(AuditEvent).where(AuditEvent.action == action)).all())


def test_lockout_after_five_failures_through_the_login_page(tiny_app_db: str) -> None:
    for _ in range(5):
        at = login("mgr_a1", "wrong-password-1")
        assert [e.value for e in at.error] == [NEUTRAL]
    # Locked: the right password fails with the same neutral message, and nothing is shown.
    at = login("mgr_a1")
    assert [e.value for e in at.error] == [NEUTRAL] and not at.metric
    reasons = [r.detail["reason"] for r in _audit(tiny_app_db, "login_failed")]
    assert reasons.count("password") == 5 and reasons[-1] == "locked"
    with get_engine(tiny_app_db).connect() as conn:
        assert conn.execute(select(User.locked_until).where(User.username == "mgr_a1")).scalar() is not None


def test_idle_session_expires_and_asks_to_sign_in_again(tiny_app_db: str) -> None:
    at = login("manager")
    assert at.metric
    at.session_state["last_activity"] = time.time() - 31 * 60
    at.run()
    assert at.text_input(key="login_username") and not at.metric
    assert "会话已超时，请重新登录。" in texts(at)


def test_activity_keeps_the_session_alive(tiny_app_db: str) -> None:
    at = login("manager")
    at.session_state["last_activity"] = time.time() - 29 * 60
    at.run()
    assert at.metric and "login_username" not in [w.key for w in at.text_input]


@pytest.mark.parametrize("forged", [time.time() + 3600, "yesterday", None], ids=["future", "text", "none"])
def test_forged_activity_time_ends_the_session(tiny_app_db: str, forged: object) -> None:
    at = login("manager")
    at.session_state["last_activity"] = forged
    at.run()
    assert at.text_input(key="login_username") and not at.metric


def test_deactivated_user_is_signed_out_on_the_next_run(tiny_app_db: str) -> None:
    at = login("mgr_a1")
    assert at.metric
    admin = authenticate(get_engine(tiny_app_db), "admin", PASSWORD)
    admin_update_user(get_engine(tiny_app_db), admin, at.session_state["identity_user_id"], active=False)
    at.run()
    assert at.text_input(key="login_username") and not at.metric


def test_password_change_through_the_sidebar_form(tiny_app_db: str) -> None:
    other_session = login("hr")
    at = login("hr")
    new = "Better-secret-2026"
    at.text_input(key="pw_current").input("not-my-password")
    at.text_input(key="pw_new").input(new)
    at.text_input(key="pw_again").input(new)
    next(b for b in at.button if b.proto.form_id == "password_change").click().run()
    assert at.error  # wrong current password
    at.text_input(key="pw_current").input(PASSWORD)
    at.text_input(key="pw_new").input("short1")
    at.text_input(key="pw_again").input("short1")
    next(b for b in at.button if b.proto.form_id == "password_change").click().run()
    assert at.warning and not at.success  # policy
    at.text_input(key="pw_current").input(PASSWORD)
    at.text_input(key="pw_new").input(new)
    at.text_input(key="pw_again").input(new)
    next(b for b in at.button if b.proto.form_id == "password_change").click().run()
    assert at.success and at.metric  # this session continues
    assert len(_audit(tiny_app_db, "password_changed")) == 1
    # The other session of the same user ends; the old password no longer works, the new one does.
    other_session.run()
    assert other_session.text_input(key="login_username") and not other_session.metric
    assert [e.value for e in login("hr").error] == [NEUTRAL]
    assert login("hr", new).metric


@pytest.mark.parametrize("password, code", [
    ("short-1", "too_short"), ("abcdefghijkl", "too_simple"), ("1234567890", "too_simple"),
    ("password123", "common"), ("hr-hr-hr-2026", "contains_username"), (" Leading-space1", "whitespace"),
    ("a1" * 200, "too_long"), ("aaaaaaaaaaa1", "common"),
])
def test_password_policy_refuses(password: str, code: str) -> None:
    with pytest.raises(PasswordPolicyError) as err:
        check_password_policy(password, "hr")
    assert err.value.code == code


def test_change_password_needs_the_current_one_and_counts_failures(tiny_app_db: str) -> None:
    engine = get_engine(tiny_app_db)
    ident = authenticate(engine, "mgr_a", PASSWORD)
    for _ in range(5):
        with pytest.raises(LoginError):
            change_password(engine, ident, "guess-1234", "Another-secret-99")
    # Guessing through the password form locks the account like the login form does.
    with pytest.raises(LoginError):
        authenticate(engine, "mgr_a", PASSWORD)


def test_admin_user_management_is_audited_and_scoped(tiny_app_db: str) -> None:
    engine = get_engine(tiny_app_db)
    admin = authenticate(engine, "admin", PASSWORD)
    uid = admin_create_user(engine, admin, "mgr_b1", "County-B1-secret", "manager", 6, display_name="乙一经理")
    admin_update_user(engine, admin, uid, role="hr")
    admin_update_user(engine, admin, uid, region_id=3)
    admin_update_user(engine, admin, uid, active=False)
    assert identity_for(engine, uid) is None
    admin_update_user(engine, admin, uid, active=True)
    pw = admin_reset_password(engine, admin, uid)
    assert authenticate(engine, "mgr_b1", pw).scope_path == "/1/3/"
    actions = [a.action for a in sorted(
        _audit(tiny_app_db, "user_created") + _audit(tiny_app_db, "role_changed") + _audit(tiny_app_db, "scope_changed")
        + _audit(tiny_app_db, "user_deactivated") + _audit(tiny_app_db, "user_activated")
        + _audit(tiny_app_db, "password_reset"), key=lambda a: a.id) if a.username == "admin"]
    assert actions == ["user_created", "role_changed", "scope_changed", "user_deactivated", "user_activated",
                       "password_reset"]
    # No audit event ever holds a password or a hash.
    with engine.connect() as conn:
        details = " ".join(str(d) for d in conn.execute(select(AuditEvent.detail)).scalars())
    assert pw not in details and "argon2" not in details and PASSWORD not in details
    # An administrator cannot lock themself out, nor give a scope outside their own.
    with pytest.raises(PermissionDenied):
        admin_update_user(engine, admin, admin.user_id, role="hr")
    with pytest.raises(PermissionDenied):
        admin_update_user(engine, admin, admin.user_id, active=False)


@pytest.mark.parametrize("username", ["hr", "manager", "mgr_a1"])
def test_user_management_refuses_non_admins_in_the_data_layer(tiny_app_db: str, username: str) -> None:
    engine = get_engine(tiny_app_db)
    ident = authenticate(engine, username, PASSWORD)
    with pytest.raises(PermissionDenied):
        admin_create_user(engine, ident, "sneaky", "Sneaky-secret-1", "admin", 1)
    with pytest.raises(PermissionDenied):
        admin_update_user(engine, ident, ident.user_id, role="admin")
    with pytest.raises(PermissionDenied):
        admin_reset_password(engine, ident, 1)
    with pytest.raises(PermissionDenied):
        list_users(engine, ident)
    with engine.connect() as conn:
        assert conn.execute(select(User.role).where(User.id == ident.user_id)).scalar() == username.split("_")[0] \
            if username != "mgr_a1" else True


def test_users_page_for_admin_and_absent_for_others(tiny_app_db: str) -> None:
    at = open_page(login("admin", lang="en"), "users")
    assert page_titles(at) == ["Users and roles"]
    names = list(at.dataframe[0].value["Username"])
    assert names == sorted(["admin", "hr", "manager", "mgr_a", "mgr_a1"])
    for user in ("hr", "mgr_a1"):
        other = open_page(login(user, lang="en"), "users")
        assert "Users and roles" not in page_titles(other)


def test_admin_creates_a_user_on_the_page_and_resets_a_password(tiny_app_db: str) -> None:
    at = open_page(login("admin", lang="en"), "users")
    at.text_input(key="uc_username").input("new_mgr")
    at.text_input(key="uc_display").input("**新**经理 [x](http://evil)")
    at.selectbox(key="uc_role").set_value("manager")
    at.selectbox(key="uc_region").set_value(5)
    at.text_input(key="uc_password").input("Fresh-start-2026")
    next(b for b in at.button if b.proto.form_id == "user_create").click().run()
    assert not at.exception and at.success, [w.value for w in at.warning]
    ident = authenticate(get_engine(tiny_app_db), "new_mgr", "Fresh-start-2026")
    assert ident.scope_path == "/1/2/5/" and ident.role == "manager"
    at.run()  # the list is read before the form on each run
    at.selectbox(key="ue_user").set_value(ident.user_id).run()
    at.button(key="ue_reset").click().run()
    assert at.code, "the new password is shown once"
    new_pw = at.code[0].value
    assert authenticate(get_engine(tiny_app_db), "new_mgr", new_pw).user_id == ident.user_id
    at.run()
    assert not at.code  # not shown again


def test_oidc_email_maps_only_to_an_existing_active_user(tiny_app_db: str) -> None:
    engine = get_engine(tiny_app_db)
    admin = authenticate(engine, "admin", PASSWORD)
    uid = admin_create_user(engine, admin, "li.si@grid.example.cn", "Oidc-unused-pw-1", "manager", 4)
    assert identity_for_email(engine, "Li.Si@Grid.Example.CN").user_id == uid
    assert identity_for_email(engine, "nobody@grid.example.cn") is None
    assert identity_for_email(engine, "admin") is None  # not an e-mail: never matches a local username
    admin_update_user(engine, admin, uid, active=False)
    assert identity_for_email(engine, "li.si@grid.example.cn") is None


def test_no_default_passwords_outside_demo_mode(tmp_path: Path) -> None:
    """`python -m data init` creates no account; only the demo (clearly marked) creates accounts; no code path
    outside demo/ and tests calls create_user or holds a literal password."""
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    env = {"DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "data", "init"], cwd=ROOT, env=env, check=True, capture_output=True)
    with get_engine(url).connect() as conn:
        assert conn.execute(select(func.count()).select_from(User)).scalar_one() == 0
    callers = []
    for path in ROOT.glob("**/*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith((".venv/", "tests/", "data/migrations/")) or "/." in rel:
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"\bcreate_user\(", text) and rel not in ("data/users.py", "demo/run.py", "data/__main__.py"):
            callers.append(rel)
        if re.search(r"password\s*=\s*['\"][^'\"]{3,}['\"]", text, re.I):
            callers.append(rel + " (literal password)")
    assert callers == []
    demo = (ROOT / "demo" / "world.py").read_text(encoding="utf-8")
    assert "DEMO-ONLY" in demo


def test_login_page_shows_nothing_but_the_form(tiny_app_db: str) -> None:
    at = new_app()
    assert not at.metric and not at.dataframe and at.text_input(key="login_username")


def test_first_administrator_from_the_command_line_needs_a_policy_password(tiny_app_db: str) -> None:
    def run(password: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"DATABASE_URL": tiny_app_db, "PATH": "/usr/bin:/bin", "GRIDCX_NEW_PASSWORD": password}
        return subprocess.run([sys.executable, "-m", "data", "user-add", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)

    assert run("admin", "root2", "--role", "admin", "--region", "P").returncode == 2  # policy
    assert run("Good-secret-2026", "root2", "--role", "admin", "--region", "NOPE").returncode == 2
    assert run("Good-secret-2026", "root2", "--role", "admin", "--region", "P").returncode == 0
    assert authenticate(get_engine(tiny_app_db), "root2", "Good-secret-2026").role == "admin"
    assert run("Good-secret-2026", "root2", "--role", "admin", "--region", "P").returncode == 2  # exists
