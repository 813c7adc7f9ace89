"""Local accounts: argon2 password hashes, neutral login failures, throttling and lockout, audit events."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, func, select, update

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
    # A fingerprint of the password hash at login: a password change or reset ends every other session, and a
    # session that points at another user's id (tampered state) does not match that user's stamp.
    stamp: str = ""


class LoginError(Exception):
    """A neutral login failure; ``reason`` is for the audit log only, never shown to the user."""

    def __init__(self, reason: str) -> None:
        super().__init__("invalid credentials")
        self.reason = reason


class PasswordPolicyError(ValueError):
    """A password that the policy refuses; ``code`` is a catalogue suffix (``password.policy.<code>``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class PermissionDenied(PermissionError):
    """The acting identity may not do this (checked in the data layer, not only in the menu)."""


# Password policy: long enough, not only one kind of character, not the username, not a well-known password.
PASSWORD_MIN = 10
PASSWORD_MAX = 256
_COMMON = frozenset({"password", "password1", "password123", "12345678", "123456789", "1234567890", "qwertyuiop",
                     "admin123", "admin12345", "gridcx", "gridcx123", "changeme", "iloveyou", "11111111",
                     "00000000", "88888888", "abc123456", "a123456789", "woaini1314", "qq123456789"})
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{2,64}")


def check_password_policy(password: str, username: str = "") -> None:
    """Raise :class:`PasswordPolicyError` unless the password is 10–256 characters, mixes at least two of
    letters / digits / other characters, differs from the username and is not a well-known password."""
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise PasswordPolicyError("too_short")
    if len(password) > PASSWORD_MAX:
        raise PasswordPolicyError("too_long")
    if password != password.strip():
        raise PasswordPolicyError("whitespace")
    kinds = sum([any(c.isalpha() for c in password), any(c.isdigit() for c in password),
                 any(not c.isalnum() for c in password)])
    if kinds < 2:
        raise PasswordPolicyError("too_simple")
    low = password.lower()
    if username and (low == username.lower() or username.lower() in low):
        raise PasswordPolicyError("contains_username")
    if low in _COMMON or len(set(low)) <= 3:
        raise PasswordPolicyError("common")


def generate_password(length: int = 16) -> str:
    """A random password that passes the policy (for an administrator's reset; shown once)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length - 2)) + "-" + secrets.choice(string.digits)
        try:
            check_password_policy(pw)
            return pw
        except PasswordPolicyError:
            continue


def stamp_of(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


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
        stamp=stamp_of(user["password_hash"]),
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


def identity_for(engine: Engine, user_id: int, stamp: str | None = None) -> Identity | None:
    """Re-read a logged-in user's role and scope from the database (None if gone or deactivated).

    The app calls this on every run, so a role change or deactivation takes effect at once and a tampered
    session state cannot widen a scope. With ``stamp`` (the one issued at login) a password change or reset since
    then, or a session pointing at another user's id, gives None too.
    """
    with engine.connect() as conn:
        row = conn.execute(
            select(User.id, User.username, User.display_name, User.role, User.region_id, Region.path,
                   User.language, User.active, User.password_hash)
            .join(Region, Region.id == User.region_id)
            .where(User.id == user_id)
        ).first()
    if row is None or not row.active:
        return None
    current = stamp_of(row.password_hash)
    if stamp is not None and not secrets.compare_digest(stamp, current):
        return None
    return Identity(row.id, row.username, row.display_name, row.role, row.region_id, row.path, row.language,
                    current)


def identity_for_email(engine: Engine, email: str) -> Identity | None:
    """The active user whose username is this e-mail address (case-insensitive): how an OIDC login (``st.login``)
    gets its role and scope. None when no such user exists: an identity provider never creates accounts."""
    if not isinstance(email, str) or "@" not in email or len(email) > 64:
        return None
    with engine.connect() as conn:
        uid = conn.execute(select(User.id).where(func.lower(User.username) == email.strip().lower(),
                                                 User.active.is_(True))).scalar()
    return None if uid is None else identity_for(engine, int(uid))


# --- account management (password change, administrators' user management); every change is audited ------------


def change_password(engine: Engine, ident: Identity, current: str, new: str) -> Identity:
    """The logged-in user changes their own password: the current one is required and the policy applies.
    Raises :class:`LoginError` (wrong current password, counted like a failed login) or
    :class:`PasswordPolicyError`. Returns the identity with its new stamp (other sessions end)."""
    check_password_policy(new, ident.username)
    if new == current:
        raise PasswordPolicyError("unchanged")
    authenticate(engine, ident.username, current)  # counts failures and locks like a login
    with engine.begin() as conn:
        conn.execute(update(User).where(User.id == ident.user_id).values(password_hash=hash_password(new)))
        audit(conn, ident.username, "password_changed", "user", str(ident.user_id), None)
    fresh = identity_for(engine, ident.user_id)
    if fresh is None:
        raise LoginError("unknown_or_inactive")
    return fresh


def _require_admin(actor: Identity) -> None:
    if not isinstance(actor, Identity) or actor.role != "admin":
        raise PermissionDenied("administrators only")


def _region_in_scope(conn: Any, actor: Identity, region_id: int) -> str:
    path = conn.execute(select(Region.path).where(Region.id == region_id)).scalar()
    if path is None or not str(path).startswith(actor.scope_path):
        raise PermissionDenied("region outside the administrator's scope")
    return str(path)


def _target(conn: Any, actor: Identity, user_id: int) -> Any:
    row = conn.execute(select(User.id, User.username, User.role, User.region_id, User.active, Region.path)
                       .join(Region, Region.id == User.region_id).where(User.id == user_id)).first()
    if row is None or not str(row.path).startswith(actor.scope_path):
        raise PermissionDenied("no such user in scope")
    return row


def admin_create_user(engine: Engine, actor: Identity, username: str, password: str, role: str, region_id: int,
                      display_name: str | None = None, language: str = "zh-CN") -> int:
    """An administrator creates an account (policy-checked password, role, region scope inside their own)."""
    _require_admin(actor)
    if not USERNAME_RE.fullmatch(username or ""):
        raise ValueError("username")
    if role not in ROLES:
        raise ValueError("role")
    check_password_policy(password, username)
    with engine.begin() as conn:
        _region_in_scope(conn, actor, region_id)
        if conn.execute(select(User.id).where(func.lower(User.username) == username.lower())).first():
            raise ValueError("exists")
        row = conn.execute(User.__table__.insert().values(
            username=username, display_name=(display_name or username)[:64], password_hash=hash_password(password),
            role=role, region_id=region_id, language=language, active=True, failed_logins=0,
            created_at=dt.datetime.now(UTC)))
        uid = int(row.inserted_primary_key[0])
        audit(conn, actor.username, "user_created", "user", str(uid),
              {"username": username, "role": role, "region_id": region_id})
    return uid


def admin_update_user(engine: Engine, actor: Identity, user_id: int, *, role: str | None = None,
                      region_id: int | None = None, active: bool | None = None) -> None:
    """Change a user's role, region scope or active flag (each change audited with before/after).
    An administrator cannot demote or deactivate themself (no lock-out of the last administrator by accident)."""
    _require_admin(actor)
    if role is not None and role not in ROLES:
        raise ValueError("role")
    with engine.begin() as conn:
        row = _target(conn, actor, user_id)
        if user_id == actor.user_id and ((role is not None and role != "admin") or active is False):
            raise PermissionDenied("cannot demote or deactivate yourself")
        values: dict[str, Any] = {}
        if role is not None and role != row.role:
            values["role"] = role
            audit(conn, actor.username, "role_changed", "user", str(user_id),
                  {"username": row.username, "from": row.role, "to": role})
        if region_id is not None and region_id != row.region_id:
            _region_in_scope(conn, actor, region_id)
            values["region_id"] = region_id
            audit(conn, actor.username, "scope_changed", "user", str(user_id),
                  {"username": row.username, "from": row.region_id, "to": region_id})
        if active is not None and bool(active) != bool(row.active):
            values["active"] = bool(active)
            if active:
                values.update(failed_logins=0, locked_until=None)
            audit(conn, actor.username, "user_activated" if active else "user_deactivated", "user", str(user_id),
                  {"username": row.username})
        if values:
            conn.execute(update(User).where(User.id == user_id).values(**values))


def admin_reset_password(engine: Engine, actor: Identity, user_id: int, new_password: str | None = None) -> str:
    """Set a new password (a random one by default, returned to show once); unlocks the account and ends the
    user's sessions (their stamp changes)."""
    _require_admin(actor)
    password = new_password or generate_password()
    with engine.begin() as conn:
        row = _target(conn, actor, user_id)
        check_password_policy(password, row.username)
        conn.execute(update(User).where(User.id == user_id).values(
            password_hash=hash_password(password), failed_logins=0, locked_until=None))
        audit(conn, actor.username, "password_reset", "user", str(user_id), {"username": row.username})
    return password


def list_users(engine: Engine, actor: Identity) -> list[dict[str, Any]]:
    """The accounts inside the administrator's scope (no hashes)."""
    _require_admin(actor)
    with engine.connect() as conn:
        rows = conn.execute(
            select(User.id, User.username, User.display_name, User.role, User.region_id, User.active,
                   User.locked_until, User.last_login_at, User.created_at, Region.name_zh, Region.name_en)
            .join(Region, Region.id == User.region_id)
            .where(Region.path.startswith(actor.scope_path, autoescape=True))
            .order_by(User.username)
        ).mappings().all()
    return [dict(r) for r in rows]
