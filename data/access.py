"""The role × region-scope matrix, written down as data and enforced in the data layer.

This table is the one place that says who may do what. Every consumer asks it through :func:`can` (or
:func:`require`, which raises): page registration (``dashboard.app.PAGES`` names an operation per page, a page whose
operation the role lacks does not exist in its session), each page's own check (``dashboard.page.start``), the
drill-down buttons, row tables, customer archive and row exports (``dashboard.drill``), and the download callables,
which check the identity they captured again when the file is built. Every repository read takes a
:class:`data.repositories.Scope` built from the user's region path and applies it in SQL; operations with side
effects call :func:`require` with the acting identity. A test keeps this table, ``PAGES`` and SECURITY.md in step,
and flips the table to show the pages follow it.
"""

from __future__ import annotations

from dataclasses import dataclass

from data.users import Identity, PermissionDenied

ROLES = ("admin", "manager", "hr", "customer")

# Which region subtree each role sees. "own": the subtree of the user's ``app_user.region_id`` (a county manager
# sees the county and its stations; a province account sees everything). A customer has no scope: only the one
# invitation their token names.
SCOPE: dict[str, str] = {"admin": "own", "manager": "own", "hr": "own", "customer": "token"}

# Operations -> roles allowed. Enforced by ``require`` in the functions that perform them.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "read_dashboard": ("admin", "manager", "hr"),
    "analyse_service": ("admin", "manager"),  # the analysis pages: regions, channels, quality, satisfaction, risk
    "drill_down": ("admin", "manager"),
    "export_rows": ("admin", "manager"),
    "work_follow_ups": ("admin", "manager"),
    "hr_reports": ("admin", "hr"),
    "quality_review": ("admin", "hr", "manager"),
    "import": ("admin",),
    "export_site": ("admin",),
    "manage_surveys": ("admin",),
    "manage_users": ("admin",),
    "reference": ("admin",),  # regions, teams, staff and the site's time zone (whole tree: a top-of-tree account)
    "backup_restore": ("admin",),  # the command line: whoever runs it on the server (OS access)
    "submit_survey": ("customer",),  # with a valid, unused, unexpired token: nothing else
}


@dataclass(frozen=True)
class Row:
    role: str
    scope: str
    operations: tuple[str, ...]


def matrix() -> list[Row]:
    return [Row(r, SCOPE[r], tuple(op for op, roles in OPERATIONS.items() if r in roles)) for r in ROLES]


def allowed(role: str, operation: str) -> bool:
    return role in OPERATIONS.get(operation, ())


def can(ident: object, operation: str) -> bool:
    """Whether ``ident`` may perform ``operation``: False for anything that is not an :class:`Identity` (nobody
    signed in, a forged dict in session state); an unknown operation is a programming error (KeyError), never a
    silent "no"."""
    if operation not in OPERATIONS:
        raise KeyError(operation)
    return isinstance(ident, Identity) and allowed(ident.role, operation)


def require(ident: object, operation: str) -> Identity:
    """The identity when it may perform ``operation``; :class:`PermissionDenied` otherwise (also for anything that
    is not an :class:`Identity`, e.g. a forged dict in session state)."""
    if not can(ident, operation) or not isinstance(ident, Identity):
        raise PermissionDenied(f"{operation} not allowed")
    return ident
