"""Reload-proof sessions (data/sessions.py) on SQLite and PostgreSQL: only the token's hash is stored, idle and
absolute expiry, revoked on logout, on a password change or reset and on deactivation."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from data import sessions
from data.engine import get_engine
from data.models import UTC, AuditEvent, AuthSession
from data.users import admin_reset_password, admin_update_user, authenticate, change_password
from tests.factories import PASSWORD, build_tiny_world

pytestmark = pytest.mark.security
T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str):  # type: ignore[no-untyped-def]
    eng = get_engine(db_url)
    build_tiny_world(eng)
    return eng


def test_only_the_hash_of_a_long_random_token_is_stored(engine) -> None:  # type: ignore[no-untyped-def]
    ident = authenticate(engine, "manager", PASSWORD)
    token = sessions.issue(engine, ident, T0)
    other = sessions.issue(engine, ident, T0)
    assert token != other and len(token) >= 43  # 256 bits, url-safe base64
    with engine.connect() as conn:
        rows = conn.execute(select(AuthSession)).mappings().all()
    assert len(rows) == 2
    stored = " ".join(str(v) for r in rows for v in r.values())
    assert token not in stored and other not in stored
    assert {r["token_hash"] for r in rows} == {sessions.hash_token(token), sessions.hash_token(other)}
    back = sessions.resolve(engine, token, T0 + dt.timedelta(minutes=1))
    assert back is not None and back.username == "manager" and back.role == "manager"
    # the hash itself is not a token, nor is anything malformed
    assert sessions.resolve(engine, sessions.hash_token(token), T0) is None
    for bad in (None, "", "x" * 43, token + "A", token[:-1], "' OR 1=1 --", 42):
        assert sessions.resolve(engine, bad, T0) is None


def test_idle_expiry_and_use_moves_the_deadline(engine) -> None:  # type: ignore[no-untyped-def]
    ident = authenticate(engine, "manager", PASSWORD)
    token = sessions.issue(engine, ident, T0)
    t = T0
    for _ in range(3):  # used every 25 minutes: stays valid past the 30-minute idle limit
        t += dt.timedelta(minutes=25)
        assert sessions.resolve(engine, token, t) is not None
    assert sessions.resolve(engine, token, t + sessions.IDLE + dt.timedelta(seconds=1)) is None
    assert sessions.resolve(engine, token, t + dt.timedelta(minutes=1)) is None  # revoked, stays dead


def test_absolute_expiry_even_when_in_use(engine) -> None:  # type: ignore[no-untyped-def]
    ident = authenticate(engine, "manager", PASSWORD)
    token = sessions.issue(engine, ident, T0)
    t = T0
    while t + dt.timedelta(minutes=20) < T0 + sessions.ABSOLUTE:
        t += dt.timedelta(minutes=20)
        assert sessions.resolve(engine, token, t) is not None
    assert sessions.resolve(engine, token, T0 + sessions.ABSOLUTE) is None


def test_logout_revokes_only_that_session(engine) -> None:  # type: ignore[no-untyped-def]
    ident = authenticate(engine, "manager", PASSWORD)
    token = sessions.issue(engine, ident, T0)
    other = sessions.issue(engine, ident, T0)
    assert sessions.revoke(engine, token, T0, username="manager")
    assert sessions.resolve(engine, token, T0) is None
    assert sessions.resolve(engine, other, T0) is not None
    assert not sessions.revoke(engine, token, T0)  # already ended
    with engine.connect() as conn:
        assert conn.execute(select(AuditEvent.action).where(AuditEvent.action == "logout")).scalars().all() == [
            "logout"]


def test_password_change_reset_and_deactivation_end_sessions(engine) -> None:  # type: ignore[no-untyped-def]
    ident = authenticate(engine, "manager", PASSWORD)
    token = sessions.issue(engine, ident, T0)
    change_password(engine, ident, PASSWORD, "Brand-new-pass-456")
    assert sessions.resolve(engine, token, T0) is None
    with engine.connect() as conn:
        assert conn.execute(select(AuthSession.revoked_at)).scalar_one() is not None
    fresh = authenticate(engine, "manager", "Brand-new-pass-456")
    token = sessions.issue(engine, fresh, T0)
    assert sessions.resolve(engine, token, T0) is not None
    admin = authenticate(engine, "admin", PASSWORD)
    admin_reset_password(engine, admin, fresh.user_id)
    assert sessions.resolve(engine, token, T0) is None
    mgr = authenticate(engine, "mgr_a1", PASSWORD)
    token = sessions.issue(engine, mgr, T0)
    admin_update_user(engine, admin, mgr.user_id, active=False)
    assert sessions.resolve(engine, token, T0) is None
    # revoke_user ends every open session of one user and nobody else's
    a, b = sessions.issue(engine, admin, T0), sessions.issue(engine, admin, T0)
    hr = sessions.issue(engine, authenticate(engine, "hr", PASSWORD), T0)
    assert sessions.revoke_user(engine, admin.user_id, T0) == 2
    assert sessions.resolve(engine, a, T0) is None and sessions.resolve(engine, b, T0) is None
    assert sessions.resolve(engine, hr, T0) is not None
