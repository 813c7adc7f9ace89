"""The closed loop (回访): when a response opens a follow-up, who owns it, when it is due, how it escalates and closes.

Rules (any that fires opens ONE follow-up per response; the most severe reason becomes its reason, all fired reasons
are listed in its notes):

=================  ==========================================  ========
reason             fires when                                  severity
=================  ==========================================  ========
complaint_topic    the comment names a complaint topic          high
unresolved         survey-FCR answered "no"                     high
low_csat           overall satisfaction 1 / 2                   high / medium
detractor          NPS 0-3 / 4-6                                medium / low
=================  ==========================================  ========

Owner: the lead of the ticket's team (else the lead of the handling staff's team). Due: the response time plus
``due_hours[severity]`` (settings.toml). Escalation: one level for each ``escalation_hours`` threshold passed after
the due time; the manager page shows the level (1 team lead's manager, 2 county, 3 city).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select, update

from data.models import UTC, FollowUp, Region, Response
from data.repositories import Scope
from surveys.settings import Settings, settings

STATUSES = ("open", "in_progress", "escalated", "closed")
OUTCOMES = ("resolved", "unresolved", "unreachable")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("in_progress", "escalated", "closed"),
    "in_progress": ("escalated", "closed"),
    "escalated": ("in_progress", "escalated", "closed"),
    "closed": (),
}
_SEVERITY_RANK = {"high": 3, "medium": 2, "low": 1}
_REASON_ORDER = ("complaint_topic", "unresolved", "low_csat", "detractor")


class FollowUpError(ValueError):
    pass


@dataclass(frozen=True)
class Decision:
    reason: str
    severity: str
    reasons: tuple[str, ...]

    def notes(self) -> str:
        return "rules: " + ", ".join(self.reasons)


def _keyword_patterns(keywords: tuple[str, ...]) -> tuple[tuple[str, ...], re.Pattern[str] | None]:
    cjk = tuple(k for k in keywords if not k.isascii())
    latin = [re.escape(k.lower()) for k in keywords if k.isascii()]
    pattern = re.compile(r"(?<![a-z0-9])(?:" + "|".join(latin) + r")", re.IGNORECASE) if latin else None
    return cjk, pattern


def complaint_topic(comment: str | None, cfg: Settings | None = None) -> bool:
    """True when the comment names a complaint topic (Chinese keywords by substring; Latin ones at a word start)."""
    if not comment:
        return False
    cjk, latin = _keyword_patterns((cfg or settings()).follow_up.complaint_keywords)
    text = comment.strip()
    return any(k in text for k in cjk) or bool(latin and latin.search(text))


def decide(csat: int | None, nps: int | None, fcr: bool | None, comment: str | None,
           cfg: Settings | None = None) -> Decision | None:
    """Which follow-up, if any, a response calls for."""
    fired: list[tuple[str, str]] = []
    if complaint_topic(comment, cfg):
        fired.append(("complaint_topic", "high"))
    if fcr is False:
        fired.append(("unresolved", "high"))
    if csat is not None and csat <= 2:
        fired.append(("low_csat", "high" if csat <= 1 else "medium"))
    if nps is not None and nps <= 6:
        fired.append(("detractor", "medium" if nps <= 3 else "low"))
    if not fired:
        return None
    best = max(fired, key=lambda rs: (_SEVERITY_RANK[rs[1]], -_REASON_ORDER.index(rs[0])))
    return Decision(best[0], best[1], tuple(r for r, _ in fired))


def due_at(severity: str, at: dt.datetime, cfg: Settings | None = None) -> dt.datetime:
    return at + dt.timedelta(hours=(cfg or settings()).follow_up.due_hours[severity])  # type: ignore[index]


def escalation_level(due: dt.datetime, now: dt.datetime, cfg: Settings | None = None) -> int:
    """0 before the due time; then one level per threshold passed (hours past due)."""
    if now < due:
        return 0
    hours = (now - due).total_seconds() / 3600.0
    return sum(1 for h in (cfg or settings()).follow_up.escalation_hours if hours >= h)


def escalate_overdue(engine: Engine, now: dt.datetime | None = None, cfg: Settings | None = None) -> int:
    """Raise the escalation level of every unclosed follow-up past its due time; returns how many changed."""
    now = now or dt.datetime.now(UTC)
    changed = 0
    with engine.begin() as conn:
        rows = conn.execute(select(FollowUp.id, FollowUp.due_at, FollowUp.escalation_level)
                            .where(FollowUp.status != "closed", FollowUp.due_at <= now)).all()
        for row in rows:
            level = escalation_level(row.due_at, now, cfg)
            if level > row.escalation_level:
                conn.execute(update(FollowUp).where(FollowUp.id == row.id, FollowUp.status != "closed")
                             .values(escalation_level=level, status="escalated"))
                changed += 1
    return changed


def transition(engine: Engine, follow_up_id: int, status: str, *, notes: str | None = None) -> None:
    """Move a follow-up to ``in_progress`` or ``escalated`` (closing goes through :func:`close`)."""
    if status == "closed":
        raise FollowUpError("use close() with an outcome")
    with engine.begin() as conn:
        current = conn.execute(select(FollowUp.status).where(FollowUp.id == follow_up_id)).scalar_one_or_none()
        if current is None:
            raise FollowUpError(f"no follow-up {follow_up_id}")
        if status not in TRANSITIONS[current]:
            raise FollowUpError(f"cannot go from {current} to {status}")
        values: dict[str, Any] = {"status": status}
        if notes:
            values["notes"] = notes
        conn.execute(update(FollowUp).where(FollowUp.id == follow_up_id).values(**values))


def assign(engine: Engine, scope: Scope, follow_up_id: int, staff_id: int) -> None:
    """Give an unclosed follow-up inside ``scope`` to a staff member inside the same scope."""
    from data.models import Staff

    with engine.begin() as conn:
        row = conn.execute(select(FollowUp.status).join(Region, Region.id == FollowUp.region_id)
                           .where(FollowUp.id == follow_up_id,
                                  Region.path.startswith(scope.path, autoescape=True))).first()
        if row is None:
            raise FollowUpError(f"no follow-up {follow_up_id} in scope")
        if row.status == "closed":
            raise FollowUpError("already closed")
        ok = conn.execute(select(Staff.id).join(Region, Region.id == Staff.region_id)
                          .where(Staff.id == staff_id, Region.path.startswith(scope.path, autoescape=True))).first()
        if ok is None:
            raise FollowUpError(f"no staff {staff_id} in scope")
        conn.execute(update(FollowUp).where(FollowUp.id == follow_up_id).values(owner_staff_id=staff_id))


def close(engine: Engine, follow_up_id: int, outcome: str, *, recovered: bool | None,
          recovery_score: int | None = None, notes: str | None = None, now: dt.datetime | None = None) -> None:
    """Close with an outcome; ``recovered`` says whether the customer was won back, ``recovery_score`` is the
    CSAT (1-5) asked at the follow-up call."""
    if outcome not in OUTCOMES:
        raise FollowUpError(f"outcome must be one of {', '.join(OUTCOMES)}")
    if recovery_score is not None and not (isinstance(recovery_score, int) and 1 <= recovery_score <= 5):
        raise FollowUpError("recovery_score must be 1-5")
    if outcome == "unreachable" and (recovered or recovery_score is not None):
        raise FollowUpError("an unreachable customer cannot be recovered or scored")
    with engine.begin() as conn:
        current = conn.execute(select(FollowUp.status).where(FollowUp.id == follow_up_id)).scalar_one_or_none()
        if current is None:
            raise FollowUpError(f"no follow-up {follow_up_id}")
        if current == "closed":
            raise FollowUpError("already closed")
        values: dict[str, Any] = dict(status="closed", outcome=outcome, recovered=recovered,
                                      recovery_score=recovery_score, closed_at=now or dt.datetime.now(UTC))
        if notes:
            values["notes"] = notes
        conn.execute(update(FollowUp).where(FollowUp.id == follow_up_id).values(**values))


def recovery_summary(engine: Engine, scope: Scope, start: dt.datetime, end: dt.datetime) -> dict[str, float | int]:
    """Closed-loop figures for follow-ups opened in [start, end) within scope.

    ``recovery_rate`` = recovered / closed-and-reached (unreachable excluded); ``recovery_score`` = mean CSAT at the
    follow-up call; ``uplift`` = mean (recovery score − the response's CSAT) where both exist, in points of the 1–5
    scale, over ``uplift_n`` follow-ups; ``on_time`` = closed by the due time / closed.
    """
    stmt = (select(FollowUp.status, FollowUp.outcome, FollowUp.recovered, FollowUp.recovery_score,
                   FollowUp.due_at, FollowUp.closed_at, Response.csat)
            .select_from(FollowUp).outerjoin(Response, Response.id == FollowUp.response_id)
            .join(Region, Region.id == FollowUp.region_id)
            .where(Region.path.startswith(scope.path, autoescape=True),
                   FollowUp.created_at >= start, FollowUp.created_at < end))
    with engine.connect() as conn:
        df = pd.DataFrame(conn.execute(stmt).mappings().all(),
                          columns=["status", "outcome", "recovered", "recovery_score", "due_at", "closed_at", "csat"])
    closed = df[df["status"] == "closed"]
    reached = closed[closed["outcome"] != "unreachable"]
    scored = closed.dropna(subset=["recovery_score"])
    both = scored.dropna(subset=["csat"])
    on_time = (pd.to_datetime(closed["closed_at"], utc=True) <= pd.to_datetime(closed["due_at"], utc=True))
    nan = float("nan")
    return {
        "opened": int(len(df)),
        "closed": int(len(closed)),
        "open": int((df["status"] != "closed").sum()),
        "recovery_rate": float(reached["recovered"].astype(bool).mean()) if len(reached) else nan,
        "recovery_score": float(scored["recovery_score"].mean()) if len(scored) else nan,
        "uplift": float((both["recovery_score"] - both["csat"]).mean()) if len(both) else nan,
        "uplift_n": int(len(both)),
        "on_time": float(on_time.mean()) if len(closed) else nan,
    }


def queue(engine: Engine, scope: Scope, statuses: tuple[str, ...] = ("open", "in_progress", "escalated"),
          limit: int = 500) -> pd.DataFrame:
    """Unclosed follow-ups within scope, most urgent first (for the manager page to come)."""
    stmt = (select(FollowUp.id, FollowUp.reason, FollowUp.severity, FollowUp.status, FollowUp.escalation_level,
                   FollowUp.owner_staff_id, FollowUp.ticket_id, FollowUp.region_id, FollowUp.created_at,
                   FollowUp.due_at)
            .join(Region, Region.id == FollowUp.region_id)
            .where(Region.path.startswith(scope.path, autoescape=True), FollowUp.status.in_(statuses))
            .order_by(FollowUp.escalation_level.desc(), FollowUp.due_at).limit(limit))
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(stmt).mappings().all())


def count_by_status(engine: Engine, scope: Scope) -> dict[str, int]:
    stmt = (select(FollowUp.status, func.count()).join(Region, Region.id == FollowUp.region_id)
            .where(Region.path.startswith(scope.path, autoescape=True)).group_by(FollowUp.status))
    with engine.connect() as conn:
        return {str(s): int(n) for s, n in conn.execute(stmt)}
