"""Local accounts: argon2 password hashes, neutral login failures, throttling and lockout, audit events."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, select, update

from data.models import UTC, AuditEvent, Region, User

ROLES = ("admin", "manager", "hr")
MAX_FAILED = 5
LOCK_MINUTES = 15

_HASHER = PasswordHasher()
# A hash to verify against when the user does not exist, so both failures cost the same time.
_DUMMY_HASH = _HASHER.hash("gridcx-dummy-password")


@dataclass(frozen=True)
class Identity:
    """Who is logged in: the role and the region subtree they may see (``scope_path`` prefix)."""

    user_id: int
    username: str
    display_name: str
    role: str
    region_id: int
    scope_path: str
    language: str


class LoginError(Exception):
    """A neutral login failure; ``reason`` is for the audit log only, never shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__("invalid credentials")
        self.reason = reason


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def create_user(
    engine: Engine,
    username: str,
    password: str,
    role: str,
    region_id: int,
    display_name: str | None = None,
    language: str = "zh-CN",
) -> int:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    with engine.begin() as conn:
        row = conn.execute(
            User.__table__.insert().values(
                username=username,
                display_name=display_name or username,
                password_hash=hash_password(password),
                role=role,
                region_id=region_id,
                language=language,
                active=True,
                failed_logins=0,
                created_at=dt.datetime.now(UTC),
            )
        )
        audit(conn, None, "user_created", "user", username, {"role": role, "region_id": region_id})
        return int(row.inserted_primary_key[0])


def authenticate(engine: Engine, username: str, password: str, now: dt.datetime | None = None) -> Identity:
    """Check a password; raises :class:`LoginError` with the same message whatever was wrong.

    Failed attempts are counted and audited in their own committed transaction; after ``MAX_FAILED`` failures the
    account is locked for ``LOCK_MINUTES``.
    """
    now = now or dt.datetime.now(UTC)
    failure: str | None = None
    with engine.begin() as conn:
        user = conn.execute(select(User).where(User.username == username)).mappings().first()
        if user is None or not user["active"]:
            _verify(_DUMMY_HASH, password)
            failure = "unknown_or_inactive"
            audit(conn, username[:64], "login_failed", "user", None, {"reason": failure})
        elif user["locked_until"] is not None and user["locked_until"] > now:
            failure = "locked"
            audit(conn, username, "login_failed", "user", str(user["id"]), {"reason": failure})
        elif not _verify(user["password_hash"], password):
            failure = "password"
            failed = user["failed_logins"] + 1
            locked = now + dt.timedelta(minutes=LOCK_MINUTES) if failed >= MAX_FAILED else None
            conn.execute(
                update(User)
                .where(User.id == user["id"])
                .values(failed_logins=0 if locked else failed, locked_until=locked)
            )
            audit(conn, username, "login_failed", "user", str(user["id"]), {"reason": failure, "locked": bool(locked)})
        else:
            conn.execute(
                update(User).where(User.id == user["id"]).values(failed_logins=0, locked_until=None, last_login_at=now)
            )
            path = conn.execute(select(Region.path).where(Region.id == user["region_id"])).scalar_one()
            audit(conn, username, "login", "user", str(user["id"]), None)
    if failure is not None:
        raise LoginError(failure)
    assert user is not None
    return Identity(
        user_id=user["id"],
        username=user["username"],
        display_name=user["display_name"],
        role=user["role"],
        region_id=user["region_id"],
        scope_path=path,
        language=user["language"],
    )


def _verify(hash_: str, password: str) -> bool:
    try:
        return _HASHER.verify(hash_, password)
    except (VerificationError, InvalidHashError):
        return False


def audit(conn: Any, username: str | None, action: str, object_type: str | None, object_id: str | None,
          detail: dict[str, Any] | None) -> None:
    """Append one audit event inside the caller's transaction."""
    conn.execute(
        AuditEvent.__table__.insert().values(
            at=dt.datetime.now(UTC), username=username, action=action, object_type=object_type,
            object_id=object_id, detail=detail,
        )
    )


def identity_for(engine: Engine, user_id: int) -> Identity | None:
    """Re-read a logged-in user's role and scope from the database (None if gone or deactivated).

    The app calls this on every run, so a role change or deactivation takes effect at once and a tampered
    session state cannot widen a scope.
    """
    with engine.connect() as conn:
        row = conn.execute(
            select(User.id, User.username, User.display_name, User.role, User.region_id, Region.path,
                   User.language, User.active)
            .join(Region, Region.id == User.region_id)
            .where(User.id == user_id)
        ).first()
    if row is None or not row.active:
        return None
    return Identity(row.id, row.username, row.display_name, row.role, row.region_id, row.path, row.language)
