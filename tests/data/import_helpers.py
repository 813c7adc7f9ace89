"""Helpers for the import tests: a database snapshot to prove "nothing changed", file builders."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import Engine, text

from data.models import Base

ROOT = Path(__file__).resolve().parents[2]
DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
MAPPINGS = ROOT / "tests" / "mappings"

TICKET_HEADER = ("external_no,created_at,first_response_at,arrived_at,resolved_at,closed_at,status,region_code,"
                 "channel,service_type,customer_no,staff_code,team_code,outage_code,exception_reason,reopen_count,"
                 "progress_updates,substantiated")


def ticket_row(no: str, created: str = "2026-10-05 09:00:00", resolved: str = "2026-10-05 11:00:00",
               region: str = "A1S", channel: str = "hotline", service: str = "repair", status: str = "",
               **kw: str) -> str:
    vals = {"external_no": no, "created_at": created, "first_response_at": kw.get("first_response_at", ""),
            "arrived_at": kw.get("arrived_at", ""), "resolved_at": resolved, "closed_at": kw.get("closed_at", ""),
            "status": status, "region_code": region, "channel": channel, "service_type": service,
            "customer_no": kw.get("customer_no", ""), "staff_code": kw.get("staff_code", ""), "team_code": "",
            "outage_code": "", "exception_reason": kw.get("exception_reason", ""),
            "reopen_count": kw.get("reopen_count", ""), "progress_updates": "", "substantiated":
            kw.get("substantiated", "")}
    return ",".join(_q(v) for v in vals.values())


def _q(v: str) -> str:
    return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n\r') else v


def ticket_csv(*rows: str) -> str:
    return TICKET_HEADER + "\n" + "\n".join(rows) + "\n"


def snapshot(engine: Engine, skip: tuple[str, ...] = ("audit_event",)) -> dict[str, str]:
    """A digest of every table's rows (in primary-key order)."""
    out: dict[str, str] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            pk = ", ".join(c.name for c in table.primary_key.columns)
            rows = conn.execute(text(f"SELECT * FROM {table.name} ORDER BY {pk}")).all()
            out[table.name] = hashlib.sha256(repr(rows).encode()).hexdigest()
    return out


def audit_rows(engine: Engine, action: str | None = None) -> list[dict]:  # type: ignore[type-arg]
    from sqlalchemy import select

    from data.models import AuditEvent

    with engine.connect() as conn:
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        return [dict(r._mapping) for r in conn.execute(stmt)]
