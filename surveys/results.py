"""IVR keypress and SMS reply files -> responses, with a rejects report (row, column, value, reason).

The generic import engine (``data/io``) was still being written when this was built and has no runner yet, so this is
a small self-contained parser; its header synonyms and key convention match ``data/mappings/ivr_keypress.json``
and ``sms_reply.json`` so the two can be merged later.

* IVR (post-call keypress): ``call_id, ticket_no, key[, time]``. The call id becomes the response's external
  number, so re-importing a file adds nothing twice ("already imported" is counted, not rejected). The whole file's
  accepted rows commit in one transaction; follow-up rules fire as for web answers.
* SMS reply: ``token, reply[, time]``. Each reply goes through the web intake path (the token is consumed exactly
  once; a second reply with the same token is rejected as already used), so it is one transaction per reply.

Files may be CSV (UTF-8, UTF-8 with BOM or GBK/GB18030) or XLSX.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from data.i18n import translate
from data.io.errors import FileError
from data.io.xlsx_guard import check_workbook
from data.models import UTC, Response, Staff, Team, Ticket
from data.private import open_private
from surveys.intake import retry_locked, store_response, submit, write_lock
from surveys.settings import Settings, settings

IVR_COLUMNS = {
    "call_id": ("call_id", "呼叫流水号", "通话流水号", "callid"),
    "ticket_no": ("ticket_no", "工单编号", "工单号", "ticket"),
    "key": ("key", "按键", "keypress", "评价按键"),
    "time": ("time", "回访时间", "通话时间", "called_at"),
}
SMS_COLUMNS = {
    "token": ("token", "令牌", "链接", "link"),
    "reply": ("reply", "回复内容", "回复", "score"),
    "time": ("time", "回复时间", "received_at"),
}
REJECT_COLUMNS = ["row", "column", "value", "reason"]
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M")


class ResultsFileError(ValueError):
    """The file as a whole cannot be read (nothing was written)."""


@dataclass
class ImportSummary:
    kind: str
    rows: int = 0
    imported: int = 0
    already: int = 0
    follow_ups: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def rejects_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rejects, columns=REJECT_COLUMNS)

    def write_rejects(self, path: Path, lang: str = "zh-CN") -> Path:
        df = self.rejects_frame()
        df["reason"] = [translate(f"survey.reject.{c}", lang) for c in df["reason"]]
        with open_private(path, "w", encoding="utf-8-sig", newline="") as fh:  # values may be links or phones
            df.to_csv(fh, index=False)
        return path


def read_table(path: Path) -> pd.DataFrame:
    """All cells as text; the file row number (header = 1) in ``__row``."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:  # measured before openpyxl pads every row out to the sheet's farthest cell
            check_workbook(path)
        except FileError as exc:
            msg = exc.message("en")
            raise ResultsFileError(msg if msg.startswith(path.name) else f"{path.name}: {msg}") from None
        try:
            df = pd.read_excel(path, dtype=str, engine="openpyxl")
        except Exception as exc:  # noqa: BLE001 - a broken workbook is a file-level error
            raise ResultsFileError(f"{path.name}: not a readable workbook ({exc.__class__.__name__})") from None
    else:
        raw = path.read_bytes()
        for enc in ("utf-8-sig", "gb18030"):
            try:
                text = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ResultsFileError(f"{path.name}: encoding is neither UTF-8 nor GBK")
        try:
            dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;|")
            sep = dialect.delimiter
        except csv.Error:
            sep = ","
        df = pd.read_csv(io.StringIO(text), dtype=str, sep=sep, keep_default_na=False, skipinitialspace=True)
    df.columns = [str(c).strip() for c in df.columns]
    df["__row"] = range(2, len(df) + 2)
    return df


def _columns(df: pd.DataFrame, synonyms: Mapping[str, tuple[str, ...]], required: tuple[str, ...],
             name: str) -> dict[str, str]:
    lower = {c.lower(): c for c in df.columns}
    found: dict[str, str] = {}
    for fname, names in synonyms.items():
        for n in names:
            if n.lower() in lower:
                found[fname] = lower[n.lower()]
                break
    missing = [f for f in required if f not in found]
    if missing:
        raise ResultsFileError(f"{name}: missing column(s) {', '.join(missing)} "
                               f"(accepted headers: {'; '.join('/'.join(synonyms[m]) for m in missing)})")
    return found


def _cell(df: pd.DataFrame, cols: dict[str, str], fname: str, i: int) -> str:
    if fname not in cols:
        return ""
    v = df.iloc[i][cols[fname]]
    return "" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip()


def parse_time(text: str, tz: str) -> dt.datetime | None:
    if not text:
        return None
    for fmt in _TIME_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
        except ValueError:
            continue
    try:
        ts = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=ZoneInfo(tz))).astimezone(UTC)


def _reject(summary: ImportSummary, row: int, column: str, value: str, reason: str) -> None:
    summary.rejects.append({"row": row, "column": column, "value": value[:200], "reason": reason})


_Lead = aliased(Staff)
_StaffTeam = aliased(Team)


def import_ivr(engine: Engine, path: Path, *, now: dt.datetime | None = None,
               cfg: Settings | None = None) -> ImportSummary:
    """Post-call IVR keypresses -> responses (channel ``ivr``, survey ``ivr_csat`` v1), one transaction per file."""
    cfg = cfg or settings()
    now = now or dt.datetime.now(UTC)
    df = read_table(path)
    cols = _columns(df, IVR_COLUMNS, ("call_id", "ticket_no", "key"), path.name)
    summary = ImportSummary("ivr", rows=len(df))
    ticket_nos = {_cell(df, cols, "ticket_no", i) for i in range(len(df))} - {""}
    call_ids = {_cell(df, cols, "call_id", i) for i in range(len(df))} - {""}
    with engine.connect() as conn:
        tickets = {r.external_no: r for r in conn.execute(
            select(Ticket.id, Ticket.external_no, Ticket.region_id, Ticket.customer_id,
                   Team.lead_staff_id.label("team_lead"), _StaffTeam.lead_staff_id.label("staff_team_lead"))
            .outerjoin(Team, Team.id == Ticket.team_id).outerjoin(_Lead, _Lead.id == Ticket.staff_id)
            .outerjoin(_StaffTeam, _StaffTeam.id == _Lead.team_id)
            .where(Ticket.external_no.in_(ticket_nos)))} if ticket_nos else {}
        known = set(conn.execute(select(Response.external_no).where(Response.external_no.in_(call_ids))).scalars()) \
            if call_ids else set()
    accepted: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i in range(len(df)):
        row = int(df.iloc[i]["__row"])
        call_id, ticket_no, key = (_cell(df, cols, f, i) for f in ("call_id", "ticket_no", "key"))
        if not call_id:
            _reject(summary, row, cols["call_id"], call_id, "missing")
            continue
        if len(call_id) > 64:
            _reject(summary, row, cols["call_id"], call_id, "too_long")
            continue
        if call_id in known:
            summary.already += 1
            continue
        if call_id in seen:
            _reject(summary, row, cols["call_id"], call_id, "duplicate_in_file")
            continue
        tk = tickets.get(ticket_no)
        if tk is None:
            _reject(summary, row, cols["ticket_no"], ticket_no, "unknown_ticket" if ticket_no else "missing")
            continue
        score = cfg.results.ivr_keys.get(key.removesuffix(".0"))
        if score is None:
            _reject(summary, row, cols["key"], key, "bad_key")
            continue
        when = now
        if "time" in cols and _cell(df, cols, "time", i):
            when = parse_time(_cell(df, cols, "time", i), cfg.timezone)  # type: ignore[assignment]
            if when is None or when > now + dt.timedelta(minutes=5):
                _reject(summary, row, cols["time"], _cell(df, cols, "time", i), "bad_time")
                continue
        seen.add(call_id)
        accepted.append(dict(now=when, invitation_id=None, ticket_id=tk.id, customer_id=tk.customer_id,
                             region_id=tk.region_id, channel="ivr", survey_key="ivr_csat", survey_version=1,
                             csat=score, external_no=call_id, owner=tk.team_lead or tk.staff_team_lead,
                             answers=[{"item_key": "csat", "dimension": None, "value_num": float(score),
                                       "value_text": None}]))

    def write() -> int:
        n = 0
        with engine.begin() as conn:
            for values in accepted:
                _, fu = store_response(conn, **values)
                n += fu is not None
        return n

    if accepted:
        with write_lock(engine):
            summary.follow_ups, _ = retry_locked(write)
    summary.imported = len(accepted)
    return summary


_LINK_TOKEN = re.compile(r"[?&]t=([A-Za-z0-9_-]+)")


def import_sms(engine: Engine, path: Path, *, now: dt.datetime | None = None,
               cfg: Settings | None = None) -> ImportSummary:
    """SMS replies (token -> score) -> responses through the intake path; one transaction per reply."""
    cfg = cfg or settings()
    now = now or dt.datetime.now(UTC)
    df = read_table(path)
    cols = _columns(df, SMS_COLUMNS, ("token", "reply"), path.name)
    summary = ImportSummary("sms", rows=len(df))
    for i in range(len(df)):
        row = int(df.iloc[i]["__row"])
        token, reply = _cell(df, cols, "token", i), _cell(df, cols, "reply", i)
        m = _LINK_TOKEN.search(token)
        if m:
            token = m.group(1)
        score = cfg.results.sms_replies.get(reply.removesuffix(".0").strip())
        if score is None:
            _reject(summary, row, cols["reply"], reply, "bad_reply")
            continue
        when = now
        if "time" in cols and _cell(df, cols, "time", i):
            when = parse_time(_cell(df, cols, "time", i), cfg.timezone)  # type: ignore[assignment]
            if when is None or when > now + dt.timedelta(minutes=5):
                _reject(summary, row, cols["time"], _cell(df, cols, "time", i), "bad_time")
                continue
        result = submit(engine, token, {"csat": score}, now=when, channel="sms")
        if result.status == "ok":
            summary.imported += 1
            summary.follow_ups += result.follow_up_id is not None
        else:
            reason = {"malformed": "bad_token", "unknown": "bad_token", "used": "token_used",
                      "expired": "token_expired"}.get(result.status, "rejected")
            _reject(summary, row, cols["token"], token[:6] + "…" if token else "", reason)
    return summary
