"""One-time survey tokens: 192 random bits, URL-safe; only the SHA-256 of a token is ever stored.

A token carries no data (no ticket id, no survey key, no expiry): whatever it grants is looked up by its hash, so
a tampered token is simply an unknown one, and guessing means guessing 192 bits.
"""

from __future__ import annotations

import hashlib
import re
import secrets

from surveys.settings import public_url

TOKEN_BYTES = 24  # 192 bits (at least 128 required)
# token_urlsafe(24) gives 32 characters; accept a sane range so a future length change keeps old links working.
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{22,86}")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def well_formed(token: object) -> bool:
    """Cheap check before any database lookup: the right alphabet and length, nothing else."""
    return isinstance(token, str) and _TOKEN_RE.fullmatch(token) is not None


def survey_link(token: str, base: str | None = None) -> str:
    return f"{(base or public_url()).rstrip('/')}/survey?t={token}"
