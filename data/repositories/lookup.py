"""Region look-ups for command lines and composition roots: the scope of a region code, the top of the tree."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from data.models import Region
from data.repositories.core import Scope


class UnknownRegion(LookupError):
    """No region has this code."""


def scope_for(engine: Engine, code: str | None = None) -> Scope:
    """The scope (region subtree) of the region with ``code``; without a code, the whole tree (the shortest path).
    Raises :class:`UnknownRegion` for an unknown code or an empty region table."""
    with engine.connect() as conn:
        if code is None:
            path = conn.execute(select(Region.path).order_by(func.length(Region.path), Region.path).limit(1)).scalar()
        else:
            path = conn.execute(select(Region.path).where(Region.code == code)).scalar()
    if path is None:
        raise UnknownRegion(f"no region with code {code!r}" if code else "the region table is empty")
    return Scope(str(path))
