"""What each importable kind has: its fields, their types, and the table they land in.

A *field* is GridCX's name for a value (``created_at``, ``region``, ``csat`` ...). A mapping file (``data/mappings/``)
says which source column feeds which field; this module says what a field must look like. References (region,
customer, staff, team, ticket, outage event) are given by their business key (code, account number, external
number) in files and resolved to ids during the import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

KINDS = ("tickets", "contacts", "responses", "invitations")


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # str | text | datetime | int | float | bool | enum | ref | answers
    column: str | None = None  # target column (None for refs resolved through ``ref``; ``__name``: not stored,
    # used to derive stored fields)
    required: bool = False
    max_len: int | None = None
    enum: str | None = None  # reference kind (channel | service_type | segment) or a key of enums.json
    lo: float | None = None
    hi: float | None = None
    ref: str | None = None  # region | customer | staff | team | ticket | outage_event
    default: object = None  # value inserted for new rows when the field is not mapped


@dataclass(frozen=True)
class KindSpec:
    kind: str
    table: str
    fields: tuple[Field, ...]
    # (earlier, later) timestamp pairs: later < earlier is rejected with reason "order" (never fixed).
    order: tuple[tuple[str, str], ...] = ()
    # At least one of these must be present (responses: something was answered).
    any_of: tuple[str, ...] = ()
    by_name: dict[str, Field] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        self.by_name.update({f.name: f for f in self.fields})


# Reference fields: the business key in the file -> the id column in the target table.
REFS = {
    # ref: (referenced table, key column, id column in the target table)
    "region": ("region", "code", "region_id"),
    "customer": ("customer", "account_no", "customer_id"),
    "staff": ("staff", "code", "staff_id"),
    "team": ("team", "code", "team_id"),
    "ticket": ("ticket", "external_no", "ticket_id"),
    "outage_event": ("outage_event", "code", "outage_event_id"),
    # invitations: the response the invitation was answered with (linked back as response.invitation_id)
    "response": ("response", "external_no", "response_id"),
}

TICKETS = KindSpec(
    "tickets",
    "ticket",
    (
        Field("external_no", "str", "external_no", required=True, max_len=64),
        Field("created_at", "datetime", "created_at", required=True),
        Field("first_response_at", "datetime", "first_response_at"),
        Field("arrived_at", "datetime", "arrived_at"),
        Field("resolved_at", "datetime", "resolved_at"),
        Field("closed_at", "datetime", "closed_at"),
        Field("status", "enum", "status", required=True, enum="ticket_status"),
        Field("region", "ref", ref="region", required=True, max_len=64),
        Field("channel", "enum", "channel", required=True, enum="channel"),
        Field("service_type", "enum", "service_type", required=True, enum="service_type"),
        Field("customer", "ref", ref="customer", max_len=32),
        Field("staff", "ref", ref="staff", max_len=32),
        Field("team", "ref", ref="team", max_len=32),
        Field("outage_event", "ref", ref="outage_event", max_len=32),
        Field("exception_reason", "str", "exception_reason", max_len=32),
        Field("reopen_count", "int", "reopen_count", lo=0, hi=1000, default=0),
        Field("progress_updates", "int", "progress_updates", lo=0, hi=10000, default=0),
        Field("substantiated", "bool", "substantiated"),
        # The source's own category label (e.g. an outage cause) where the mapping has no code for it.
        Field("category_text", "str", "category_text", max_len=64),
        # The source system's own verdict "within the time limit" (e.g. CFPB 'Timely response?').
        Field("sla_met", "bool", "sla_met"),
    ),
    order=(
        ("created_at", "first_response_at"),
        ("created_at", "arrived_at"),
        ("created_at", "resolved_at"),
        ("created_at", "closed_at"),
        ("resolved_at", "closed_at"),
    ),
)

CONTACTS = KindSpec(
    "contacts",
    "contact",
    (
        Field("external_no", "str", "external_no", required=True, max_len=64),
        Field("queued_at", "datetime", "queued_at", required=True),
        Field("answered_at", "datetime", "answered_at"),
        Field("ended_at", "datetime", "ended_at"),
        Field("handle_seconds", "float", "handle_seconds", lo=0, hi=7 * 86400),
        Field("abandoned", "bool", "abandoned", default=False),
        Field("region", "ref", ref="region", required=True, max_len=64),
        Field("channel", "enum", "channel", required=True, enum="channel"),
        Field("category", "enum", "category", required=True, enum="service_type"),
        Field("customer", "ref", ref="customer", max_len=32),
        Field("ticket", "ref", ref="ticket", max_len=64),
        Field("staff", "ref", ref="staff", max_len=32),
        Field("outage_event", "ref", ref="outage_event", max_len=32),
        Field("category_text", "str", "category_text", max_len=64),
        # The source's own verdict "answered within the service level".
        Field("sla_met", "bool", "sla_met"),
        # Not stored: the wait until answered (answered_at = queued_at + wait where the file has no answer time),
        # and an answered flag (abandoned = not answered where the file has no abandoned column).
        Field("wait_seconds", "float", "__wait_seconds", lo=0, hi=7 * 86400),
        Field("answered", "bool", "__answered"),
    ),
    order=(("queued_at", "answered_at"), ("queued_at", "ended_at"), ("answered_at", "ended_at")),
)

RESPONSES = KindSpec(
    "responses",
    "response",
    (
        Field("external_no", "str", "external_no", required=True, max_len=64),
        Field("submitted_at", "datetime", "submitted_at", required=True),
        Field("ticket", "ref", ref="ticket", max_len=64),
        # Optional in the file: a response linked to a known work order takes the work order's region.
        Field("region", "ref", ref="region", max_len=64),
        Field("channel", "enum", "channel", required=True, enum="survey_channel"),
        Field("survey_key", "str", "survey_key", required=True, max_len=64),
        Field("survey_version", "int", "survey_version", required=True, lo=1, hi=100000, default=1),
        Field("csat", "int", "csat", lo=1, hi=5),
        Field("nps", "int", "nps", lo=0, hi=10),
        Field("ces", "int", "ces", lo=1, hi=7),
        Field("fcr", "bool", "fcr"),
        Field("comment", "text", "comment", max_len=4000),
        Field("language", "str", "language", max_len=8, default="zh-CN"),
        # The respondent's customer segment as the survey tool recorded it (residential, 居民, 工商业 ...: the segment
        # codes and synonyms of data/refdata/segments.csv). The linked work order's customer segment wins; this one
        # groups responses without a linked customer (survey-only imports).
        Field("segment", "enum", "segment", max_len=16, enum="segment"),
        # The per-question answer rows (table ``answer``) as a JSON list of {"item_key", "dimension", "value_num",
        # "value_text"}; when the file carries the column, a response's answers are replaced by the file's.
        Field("answers", "answers"),
    ),
    any_of=("csat", "nps", "ces", "fcr", "comment", "answers"),
)

# Survey invitations from a questionnaire tool's distribution list (one row per invitee, answered or not), so that the
# response rate (responses / invitations delivered) and the response delay work for imported surveys. The
# invitation's region comes from the work order when the file has none; ``response`` names the response (by its
# number in a responses import) that answered it; an invitation without an expiry gets INVITATION_DAYS.
INVITATION_DAYS = 7
INVITATIONS = KindSpec(
    "invitations",
    "invitation",
    (
        Field("external_no", "str", "external_no", required=True, max_len=64),
        Field("invited_at", "datetime", "created_at", required=True),
        Field("expires_at", "datetime", "expires_at"),
        Field("reminded_at", "datetime", "reminded_at"),
        Field("ticket", "ref", ref="ticket", max_len=64),
        Field("region", "ref", ref="region", max_len=64),
        Field("customer", "ref", ref="customer", max_len=32),
        Field("channel", "enum", "channel", required=True, enum="survey_channel"),
        Field("survey_key", "str", "survey_key", required=True, max_len=64),
        Field("survey_version", "int", "survey_version", required=True, lo=1, hi=100000, default=1),
        Field("delivered", "bool", "delivered", default=True),
        Field("response", "ref", ref="response", max_len=64),
    ),
    order=(("invited_at", "expires_at"), ("invited_at", "reminded_at")),
)

SPECS = {s.kind: s for s in (TICKETS, CONTACTS, RESPONSES, INVITATIONS)}


def spec(kind: str) -> KindSpec:
    if kind not in SPECS:
        raise KeyError(kind)
    return SPECS[kind]
