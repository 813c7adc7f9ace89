"""Local accounts: argon2 password hashes, neutral login failures, throttling and lockout, audit events."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, and_, case, func, insert, null, select, update

from data.engine import new_id
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


# Password policy: long enough, not only one kind of character, not the username, not a well-known password (nor a
# well-known word dressed up with digits, symbols or leetspeak), not a keyboard walk or a simple sequence.
PASSWORD_MIN = 10
PASSWORD_MAX = 256
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{2,64}")
_REFDATA = Path(__file__).resolve().parent / "refdata"
# Leetspeak read back: only a character standing next to a letter counts as a letter (the 0 of "p@ssw0rd", not of
# "2024"); "1" and "|" are tried as i and as l.
_LEET = {"@": "a", "4": "a", "0": "o", "3": "e", "$": "s", "5": "s", "7": "t", "+": "t", "8": "b", "!": "i", "1": "i",
         "|": "i"}
_SHIFTED = dict(zip("~!@#$%^&*()_+{}|:\"<>?", "`1234567890-=[]\\;',./", strict=True))
_KEY_ROWS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./")
_KEY_OFFSETS = (0.0, 1.5, 1.75, 2.25)  # a staggered keyboard: q sits between 1 and 2, a between q and w, z between a and s
_KEY_POS = {ch: (row, col + _KEY_OFFSETS[row]) for row, keys in enumerate(_KEY_ROWS) for col, ch in enumerate(keys)}
_WALK_SHARE = 0.8  # a password whose characters lie this much in walks of 3+ keys is refused
_YEAR_RE = re.compile(r"(19|20)\d\d")
_LEET_RUN = re.compile("(?:[^\\W\\d_]|[" + re.escape("".join(_LEET)) + "])+")


@functools.cache
def common_passwords() -> frozenset[str]:
    """The well-known passwords, lower case: Django's list of 19,640 from breach corpora
    (``data/refdata/common-passwords.txt.gz``, see its NOTICE) and GridCX's own additions (Chinese-leak favourites,
    this trade's words: ``common-passwords-extra.txt``)."""
    with gzip.open(_REFDATA / "common-passwords.txt.gz", "rt", encoding="utf-8") as fh:
        words = {w.strip().casefold() for w in fh}
    extra = (_REFDATA / "common-passwords-extra.txt").read_text(encoding="utf-8").splitlines()
    words.update(w.strip().casefold() for w in extra if not w.startswith("#"))
    words.discard("")
    return frozenset(words)


def _keys_adjacent(a: str, b: str) -> bool:
    """The same key or neighbouring keys."""
    if a == b:
        return True
    pa, pb = _KEY_POS.get(a), _KEY_POS.get(b)
    if pa is None or pb is None:
        return False
    rows, dx = abs(pa[0] - pb[0]), abs(pa[1] - pb[1])
    return (rows == 0 and dx == 1) or (rows == 1 and dx < 1)


def _step(a: str, b: str) -> int | None:
    """The step from ``a`` to ``b`` in 0-9 / a-z (0 for a repeat), None when they are no neighbours there."""
    if a == b:
        return 0
    if a.isascii() and b.isascii() and a.isalnum() and b.isalnum() and a.isdigit() == b.isdigit() \
            and abs(ord(b) - ord(a)) == 1:
        return ord(b) - ord(a)
    return None


def _walk_share(text: str) -> float:
    """How much of ``text`` (lower case, unshifted) lies in runs of 3+ characters that are keyboard walks (any
    direction, ``1qaz``, ``1q2w``) or steady sequences or repeats (``abcd``, ``4321``, ``aaaa``); a run is of one
    kind, so random text rarely scores high."""
    covered = [False] * len(text)

    def mark(start: int, end: int) -> None:
        if end - start >= 3:
            covered[start:end] = [True] * (end - start)

    start = 0  # keyboard walks
    for i in range(1, len(text) + 1):
        if i == len(text) or not _keys_adjacent(text[i - 1], text[i]):
            mark(start, i)
            start = i
    start, step = 0, None  # sequences: the same step all along
    for i in range(1, len(text) + 1):
        this = _step(text[i - 1], text[i]) if i < len(text) else None
        if this is not None and (step is None or this == step):
            step = this
            continue
        mark(start, i)
        start, step = (i - 1, this) if this is not None else (i, None)
    return sum(covered) / len(text) if text else 0.0


def _deleet(text: str, one: str) -> str:
    """Leetspeak read back inside words: a run of letters and leet characters holding at least one letter
    (``p@$$w0rd`` → ``password``; the digits of ``2024`` stay digits)."""
    def word(m: re.Match[str]) -> str:
        part = m.group(0)
        letters = [i for i, c in enumerate(part) if c.isalpha()]
        if not letters:
            return part
        end = letters[-1] + 1  # leet after the last letter is read as written: the 1 of "p@ssw0rd1"
        return "".join((one if c in "1|" else _LEET[c]) if c in _LEET else c for c in part[:end]) + part[end:]

    return _LEET_RUN.sub(word, text)


def _is_common(password: str) -> bool:
    """A listed password, or one listed word (repeated or not) with only decoration around it: digits or symbols
    of up to two characters, a year, a walk or sequence, a listed number (``Password1!``, ``P@ssw0rd2024``,
    ``woaini1314``, ``5201314abc``). Several different words make a passphrase, which passes."""
    common = common_passwords()
    low = password.casefold()
    for text in dict.fromkeys((low, _deleet(low, "i"), _deleet(low, "l"))):
        if text in common:
            return True
        runs = re.findall(r"[a-z]+|[0-9]+|[^a-z0-9]+", text)
        words, listed_decoration = set(), False
        for part in runs:
            if part.isalpha() and part.isascii():
                if len(part) < 3 or part not in common:
                    break  # a letter run that is no listed word: real content
                words.add(part)
            elif len(part) <= 2 or _YEAR_RE.fullmatch(part) or _walk_share(part) == 1.0:
                continue
            elif part in common:
                listed_decoration = True
            else:
                break  # a longer run of digits or symbols that is neither a pattern nor listed
        else:
            if len(words) == 1 or (not words and listed_decoration):
                return True
    return False


def check_password_policy(password: str, username: str = "") -> None:
    """Raise :class:`PasswordPolicyError` unless the password is 10–256 characters, mixes at least two of
    letters / digits / other characters, differs from the username, is not a well-known password (nor a listed word
    dressed up with digits, symbols, a year or leetspeak) and is not a keyboard walk or simple sequence."""
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
    if len(set(low)) <= 3 or _is_common(password):
        raise PasswordPolicyError("common")
    if _walk_share("".join(_SHIFTED.get(c, c) for c in low)) >= _WALK_SHARE:
        raise PasswordPolicyError("keyboard")


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
            insert(User).values(
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
        return new_id(row)


def authenticate(engine: Engine, username: str, password: str, now: dt.datetime | None = None) -> Identity:
    """Check a password; raises :class:`LoginError` with the same message whatever was wrong.

    Three steps, none of which parallel attempts can race (security issue 18):

    1. The attempt is counted *before* its password is checked, in one atomic ``UPDATE … SET failed_logins =
       failed_logins + 1 … RETURNING`` (a row lock on PostgreSQL, the database write lock on SQLite). No count is
       lost, and every attempt sees every other one that started before it. An expired lock starts a fresh count.
    2. Exactly one argon2 verification, outside any transaction, on every path: unknown or inactive user (a dummy
       hash), locked account, wrong or right password (the account's hash). All answers take the same time.
    3. The decision, again one guarded ``UPDATE``: a right password signs in only while the account is unlocked and
       at most ``MAX_FAILED`` attempts are counted including its own, i.e. fewer than ``MAX_FAILED`` others failed
       or are still being checked; a wrong one locks the account for ``LOCK_MINUTES`` once ``MAX_FAILED`` are
       counted. A sign-in forgives the attempts counted before its own, not those that came after it.

    ``failed_logins`` is thus the number of attempts since the last sign-in that did not sign in. Failures are
    audited with their reason; an unknown name is audited only as a fingerprint (it may be a password typed into
    the username field).
    """
    now = now or dt.datetime.now(UTC)
    expired = and_(User.locked_until.is_not(None), User.locked_until <= now)
    with engine.begin() as conn:
        user = conn.execute(
            update(User)
            .where(User.username == username)
            .values(failed_logins=case((expired, 1), else_=User.failed_logins + 1),
                    locked_until=case((expired, null()), else_=User.locked_until))
            .returning(User.id, User.username, User.display_name, User.password_hash, User.role, User.region_id,
                       User.language, User.active, User.failed_logins, User.locked_until)
        ).mappings().first()
    ok = _verify(user["password_hash"] if user is not None else _DUMMY_HASH, password)
    failure: str | None = None
    with engine.begin() as conn:
        if user is None:
            failure = "unknown_or_inactive"
            audit(conn, unknown_name(username), "login_failed", "user", None, {"reason": failure})
        else:
            uid = user["id"]
            if not user["active"]:
                failure = "unknown_or_inactive"
            elif user["locked_until"] is not None and user["locked_until"] > now:
                failure = "locked"
            elif not ok:
                failure = "password"
            else:
                counted = int(user["failed_logins"])
                signed_in = conn.execute(
                    update(User)
                    .where(User.id == uid, User.locked_until.is_(None), User.failed_logins <= MAX_FAILED)
                    .values(failed_logins=case((User.failed_logins > counted, User.failed_logins - counted), else_=0),
                            last_login_at=now)
                ).rowcount == 1
                if not signed_in:
                    failure = "locked"  # failures counted meanwhile, by parallel attempts, reached the threshold
            if failure is None:
                path = conn.execute(select(Region.path).where(Region.id == user["region_id"])).scalar_one()
                audit(conn, user["username"], "login", "user", str(uid), None)
            else:
                detail: dict[str, Any] = {"reason": failure}
                if failure in ("password", "locked"):
                    detail["locked"] = conn.execute(
                        update(User)
                        .where(User.id == uid, User.locked_until.is_(None), User.failed_logins >= MAX_FAILED)
                        .values(locked_until=now + dt.timedelta(minutes=LOCK_MINUTES))
                    ).rowcount == 1
                audit(conn, user["username"], "login_failed", "user", str(uid), detail)
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


# A per-process key: an unknown login name is audited as an HMAC fingerprint, never verbatim (it may be a password
# typed into the username field). Repeated tries of one name share a fingerprint while the server runs; the key is
# never stored, so the audit log cannot be searched with a password list.
_UNKNOWN_NAME_KEY = secrets.token_bytes(32)


def unknown_name(name: str) -> str:
    """The audit form of a login name that matches no account: ``?`` and 10 hex digits (``?`` is no username
    character, so it never looks like a real account)."""
    return "?" + hmac.new(_UNKNOWN_NAME_KEY, name.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:10]


def _verify(hash_: str, password: str) -> bool:
    try:
        return _HASHER.verify(hash_, password)
    except (VerificationError, InvalidHashError):
        return False


def audit(conn: Any, username: str | None, action: str, object_type: str | None, object_id: str | None,
          detail: dict[str, Any] | None) -> None:
    """Append one audit event inside the caller's transaction."""
    conn.execute(
        insert(AuditEvent).values(
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
        row = conn.execute(insert(User).values(
            username=username, display_name=(display_name or username)[:64], password_hash=hash_password(password),
            role=role, region_id=region_id, language=language, active=True, failed_logins=0,
            created_at=dt.datetime.now(UTC)))
        uid = new_id(row)
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
