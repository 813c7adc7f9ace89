"""Browser sessions that survive a reload: an opaque random token in a cookie, only its SHA-256 in the database.

A browser reload (or a link opened in a new tab) starts a new Streamlit session with an empty session state, so the
app keeps "who is signed in" here: :func:`issue` at login returns a random 256-bit token (the cookie value, never
stored), :func:`resolve` turns a token back into the user's current :class:`~data.users.Identity`, :func:`revoke` ends
one session (logout) and :func:`revoke_user` every session of a user (password change, deactivation).

A session ends by itself after ``IDLE`` without use or ``ABSOLUTE`` after login, whichever comes first, and as soon as
the user's password changes (the password stamp it was issued under no longer matches) or the account is deactivated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from sqlalchemy import Engine, delete, insert, or_, select, update

from data.models import UTC, AuditEvent, AuthSession
from data.users import Identity, identity_for

TOKEN_BYTES = 32  # 256 bits from the OS's CSPRNG
IDLE = dt.timedelta(minutes=30)
ABSOLUTE = dt.timedelta(hours=12)
TOUCH_EVERY = dt.timedelta(seconds=60)  # write last_seen_at at most once a minute per session
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed(token: object) -> bool:
    """The shape of a token :func:`issue` hands out; anything else is never looked up."""
    return isinstance(token, str) and _TOKEN_RE.fullmatch(token) is not None


def _now(now: dt.datetime | None) -> dt.datetime:
    return now.astimezone(UTC) if now is not None else dt.datetime.now(UTC)


def issue(engine: Engine, ident: Identity, now: dt.datetime | None = None) -> str:
    """Start a session for a user who has just proved who they are; returns the token for the cookie."""
    now = _now(now)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    with engine.begin() as conn:
        # Revoked and expired rows (anyone's) are of no use any more: keep the table small.
        conn.execute(delete(AuthSession).where(or_(
            AuthSession.revoked_at.is_not(None), AuthSession.expires_at <= now,
            AuthSession.last_seen_at <= now - IDLE)))
        conn.execute(insert(AuthSession).values(
            token_hash=hash_token(token), user_id=ident.user_id, stamp=ident.stamp, created_at=now,
            last_seen_at=now, expires_at=now + ABSOLUTE, revoked_at=None))
    return token


def resolve(engine: Engine, token: object, now: dt.datetime | None = None) -> Identity | None:
    """The signed-in user behind ``token``, re-read from the database; None when the token is unknown, malformed,
    revoked, idle for longer than ``IDLE``, older than ``ABSOLUTE``, issued before a password change, or its user
    is gone or deactivated. A valid use moves the idle deadline on."""
    if not well_formed(token):
        return None
    assert isinstance(token, str)
    now = _now(now)
    with engine.connect() as conn:
        row = conn.execute(select(AuthSession.id, AuthSession.user_id, AuthSession.stamp, AuthSession.last_seen_at,
                                  AuthSession.expires_at, AuthSession.revoked_at)
                           .where(AuthSession.token_hash == hash_token(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    if now >= row.expires_at or now - row.last_seen_at > IDLE or row.last_seen_at > now + dt.timedelta(minutes=5):
        _revoke_ids(engine, [row.id], now)
        return None
    ident = identity_for(engine, row.user_id, row.stamp)
    if ident is None:  # password changed or reset since, or the account is gone or deactivated
        _revoke_ids(engine, [row.id], now)
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(update(AuthSession).where(AuthSession.id == row.id, AuthSession.revoked_at.is_(None))
                         .values(last_seen_at=now))
    return ident


def _revoke_ids(engine: Engine, ids: list[int], now: dt.datetime) -> None:
    with engine.begin() as conn:
        conn.execute(update(AuthSession).where(AuthSession.id.in_(ids), AuthSession.revoked_at.is_(None))
                     .values(revoked_at=now))


def revoke(engine: Engine, token: object, now: dt.datetime | None = None, username: str | None = None) -> bool:
    """End the session behind ``token`` (logout); True when there was one to end. Audited as ``logout``."""
    if not well_formed(token):
        return False
    assert isinstance(token, str)
    now = _now(now)
    with engine.begin() as conn:
        res = conn.execute(update(AuthSession).where(AuthSession.token_hash == hash_token(token),
                                                     AuthSession.revoked_at.is_(None)).values(revoked_at=now))
        if res.rowcount:
            conn.execute(insert(AuditEvent).values(at=now, username=username, action="logout",
                                                              object_type="session", object_id=None, detail=None))
    return bool(res.rowcount)


def revoke_user(engine: Engine, user_id: int, now: dt.datetime | None = None) -> int:
    """End every open session of a user (after a password change or reset); returns how many were open."""
    now = _now(now)
    with engine.begin() as conn:
        res = conn.execute(update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
                           .values(revoked_at=now))
    return int(res.rowcount or 0)
