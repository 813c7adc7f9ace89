"""The KPI registry: every KPI GridCX shows is declared here once, with its definition, unit, target and source.

A KPI's ``kind`` tells how it is estimated and compared (proportion: Wilson / Newcombe; mean: t / Welch; percentile:
inverted-CDF with an order-statistic interval; nps: adjusted Wald; rate: exact Poisson). ``frame`` names the table
whose rows the KPI function reads (columns as in ``data/models.py``). Targets and at-risk margins are site-
configurable defaults; where a standard fixes the number (the time-limit commitments) ``source`` says which.

Status rule (:func:`status_of`): n < min_n or no value -> "insufficient"; otherwise, for higher-is-better,
value >= target -> "met", value >= target − margin -> "at_risk", else "missed" (mirrored for lower-is-better).
A KPI whose defining attribute a filter fixes (``defined_by``: online share under a filter that keeps only online,
or only other, channels is 100 % or 0 % by definition) is "not_applicable" (:func:`defined_away`), never judged.

Missing is not zero: ``requires`` declares the input fields a KPI reads. A group whose rows in scope all lack them
(a contact log without answered times, tickets imported without arrival times, a survey without the item) is
"no_data": no value, no status (:func:`no_data`, :func:`carried`). Each KPI result carries the counts behind that
verdict, summable like every ``n_*`` count: ``n_scope`` (rows in the KPI's scope), ``n_input`` (of those, rows that
carry the required input) and, for proportions, ``n_measured`` (rows of the denominator that carry it: a partial
absence keeps the KPI's definition, and the tile says how many rows were actually measured).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

__all__ = [
    "Unit",
    "Direction",
    "Kind",
    "Status",
    "KPI",
    "MetricResult",
    "REGISTRY",
    "get",
    "keys",
    "status_of",
    "status",
    "defined_away",
    "carried",
    "no_data",
    "FLAG_FIELDS",
    "ONLINE_CHANNELS",
    "TICKET_BREAKDOWNS",
    "CONTACT_BREAKDOWNS",
    "SURVEY_BREAKDOWNS",
]

Unit = Literal["share", "minutes", "hours", "seconds", "score", "index", "count", "per_mille", "days"]
Direction = Literal["higher", "lower"]
Kind = Literal["proportion", "mean", "percentile", "nps", "rate"]
Status = Literal["met", "at_risk", "missed", "insufficient", "not_applicable", "no_data"]

UNITS: tuple[str, ...] = ("share", "minutes", "hours", "seconds", "score", "index", "count", "per_mille", "days")
STATUSES: tuple[str, ...] = ("met", "at_risk", "missed", "insufficient", "not_applicable", "no_data")
ONLINE_CHANNELS: tuple[str, ...] = ("app", "wechat", "alipay", "web")
#: Flags stored NOT NULL DEFAULT FALSE: a log without the field gives False, so only True carries information.
FLAG_FIELDS: frozenset[str] = frozenset({"abandoned", "outage", "delivered", "reusable", "proactive"})
#: The counts behind "no data" (see the module docstring), appended to every result.
INPUT_COUNTS: tuple[str, ...] = ("n_scope", "n_input")

# "period" is the caller's time bucket column (day, week or month), added before compute().
TICKET_BREAKDOWNS = ("region_id", "area_class", "channel", "service_type", "segment", "staff_id", "team_id", "period")
CONTACT_BREAKDOWNS = ("region_id", "area_class", "channel", "category", "staff_id", "period")
SURVEY_BREAKDOWNS = ("region_id", "area_class", "channel", "service_type", "survey_key", "staff_id", "period")

KPIS_MD = "KPIS.md"

# The inputs of the service-log KPIs (see KPI.requires): an arrival time, unless the order is still open (then it is
# censored, not missing); a resolution, unless the order is not closed; the call's outcome (answered, or abandoned).
_ARRIVED = (("arrived_at", "!resolved_at"),)
_RESOLVED = (("resolved_at", "!closed_at"),)
_OUTCOME = (("answered_at", "abandoned"),)


@dataclass(frozen=True)
class KPI:
    """One KPI's declaration. ``params`` are the default keyword arguments of its computation."""

    key: str
    label_zh: str
    label_en: str
    description_zh: str
    description_en: str
    formula: str
    unit: Unit
    direction: Direction
    target: float
    at_risk_margin: float
    min_n: int
    source: str
    breakdowns: tuple[str, ...]
    kind: Kind
    frame: str
    display_scale: float = 1.0  # multiply for display: 100 for shares (%) and NPS
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # attribute -> the values that make a row count as a success: a filter on that attribute that keeps only such
    # values, or none of them, decides the KPI by definition (see defined_away)
    defined_by: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    # the input fields a row must carry to be measured: every entry is a tuple of alternatives, one of which the
    # row must carry. "col" is carried when set (a flag of FLAG_FIELDS: when true); "!col" while col is unset (the
    # input is not due yet, e.g. "!resolved_at": an open order has no arrival time yet, it is censored, not missing)
    requires: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"{self.key}: unknown unit {self.unit!r}")
        if self.direction not in ("higher", "lower"):
            raise ValueError(f"{self.key}: unknown direction {self.direction!r}")
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "defined_by", MappingProxyType(dict(self.defined_by)))
        if not all(isinstance(g, tuple) and g and all(isinstance(f, str) and f.lstrip("!") for f in g)
                   for g in self.requires):
            raise ValueError(f"{self.key}: requires must be a tuple of non-empty tuples of field names")


@dataclass(frozen=True)
class MetricResult:
    """A KPI value with its sample size, interval, target and status; ``extra`` holds KPI-specific figures
    (open-work counts, distributions, exclusions, the method used)."""

    kpi: str
    value: float
    n: int
    ci_low: float
    ci_high: float
    target: float
    status: Status
    unit: Unit
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def status_of(
    value: Any, n: Any, target: Any, direction: Direction, margin: float, min_n: int,
    *, scope: Any = None, carried_n: Any = None,
) -> np.ndarray:
    """Vectorised status: "insufficient" | "met" | "at_risk" | "missed" | "no_data" (see module docstring).

    "insufficient" also covers a missing value or a missing target (nothing to judge against). With the input
    counts ``scope`` (rows in scope) and ``carried_n`` (rows carrying the required input), a group with rows in
    scope none of which carries the input is "no_data" (:func:`no_data`).
    """
    v = np.asarray(value, float)
    nn = np.asarray(n, float)
    t = np.asarray(target, float)
    v, nn, t = np.broadcast_arrays(v, nn, t)
    if direction == "higher":
        met = v >= t
        risk = v >= t - margin
    elif direction == "lower":
        met = v <= t
        risk = v <= t + margin
    else:
        raise ValueError(f"unknown direction {direction!r}")
    out = np.where(met, "met", np.where(risk, "at_risk", "missed")).astype(object)
    bad = ~np.isfinite(v) | ~np.isfinite(nn) | (nn < min_n) | ~np.isfinite(t)
    out[bad] = "insufficient"
    if scope is not None and carried_n is not None:
        out[np.broadcast_to(no_data(scope, carried_n), out.shape)] = "no_data"
    return out


def no_data(scope: Any, carried_n: Any) -> np.ndarray:
    """Where a group has rows in scope (``scope`` > 0) but none carries the KPI's required input."""
    s = np.nan_to_num(np.asarray(scope, float))
    c = np.nan_to_num(np.asarray(carried_n, float))
    return (s > 0) & (c <= 0)


def carried(kpi: KPI | str, n: int, is_set: Callable[[str], np.ndarray | None]) -> np.ndarray:
    """Per row: does it carry every input the KPI ``requires``? ``is_set(col)`` gives the rows where ``col`` is
    set (for a flag of :data:`FLAG_FIELDS`: true), or None when the frame has no such column (never set)."""
    k = get(kpi) if isinstance(kpi, str) else kpi
    out = np.ones(n, bool)
    for group in k.requires:
        any_ = np.zeros(n, bool)
        for f in group:
            col = f.lstrip("!")
            s = is_set(col)
            s = np.zeros(n, bool) if s is None else np.asarray(s, bool)
            any_ |= ~s if f.startswith("!") else s
        out &= any_
    return out


def status(kpi: KPI | str, value: float, n: int, target: float | None = None) -> Status:
    """Scalar status of one value for a registered KPI (target defaults to the KPI's)."""
    k = get(kpi) if isinstance(kpi, str) else kpi
    tgt = k.target if target is None else target
    return str(status_of(value, n, tgt, k.direction, k.at_risk_margin, k.min_n).ravel()[0])  # type: ignore[return-value]


def defined_away(kpi: KPI | str, filters: Mapping[str, Any]) -> bool:
    """True when ``filters`` (attribute -> the values kept; empty or missing = all) fix the KPI's defining attribute:
    every kept value is a success value, or none is (online share under a hotline-only filter is 0 % by definition,
    under an app-only filter 100 %). Such a KPI is "not applicable" to the view, not met or missed."""
    k = get(kpi) if isinstance(kpi, str) else kpi
    for attr, successes in k.defined_by.items():
        kept = {str(v) for v in (filters.get(attr) or ())}
        if kept and (kept <= set(successes) or not kept & set(successes)):
            return True
    return False


def _kpi(**kw: Any) -> KPI:
    return KPI(**kw)


_TIMES = {
    # key: (zh, en, start, end, unit, default mean target, p50, p90, default service types, source)
    "first_response_time": ("首次响应时长", "First response time", "created_at", "first_response_at", "minutes",
                            60.0, 30.0, 120.0, None,
                            "KPIS.md §2: first_response_at − created_at; automated acknowledgements do not count"),
    "arrival_time": ("抢修到达时长", "Repair arrival time", "created_at", "arrived_at", "minutes", 45.0, 45.0, 90.0,
                     ("repair",), "KPIS.md §2 / 十项承诺(2023): report received -> crew on site, urban average 45 min"),
    "restoration_time": ("故障修复时长", "Restoration time", "arrived_at", "resolved_at", "hours", 3.0, 3.0, 6.0,
                         ("repair",), "KPIS.md §2 / 十项承诺(2023): crew on site -> power restored, urban average 3 h"),
    "resolution_time": ("办结时长", "Resolution time", "created_at", "resolved_at", "hours", 24.0, 24.0, 72.0, None,
                        "KPIS.md §2: resolved_at − created_at; open work right-censored and reported as open age"),
}
_TIME_REQUIRES = {"first_response_time": (("first_response_at", "!resolved_at"),), "arrival_time": _ARRIVED,
                  "restoration_time": _ARRIVED, "resolution_time": _RESOLVED}
# The source system's own verdict (``sla_met``, imported) decides where the clock cannot be computed
# (metrics.kpis.sla_attainment / hotline_service_level): a row carrying only that verdict is measured, not missing.
_SOURCE_FLAG = "sla_met"
_SLA_REQUIRES = {iv: tuple((*g, _SOURCE_FLAG) for g in req)
                 for iv, req in {"arrival": _ARRIVED, "restoration": _ARRIVED, "resolution": _RESOLVED}.items()}


def _build() -> dict[str, KPI]:
    reg: dict[str, KPI] = {}

    def add(k: KPI) -> None:
        if k.key in reg:
            raise ValueError(f"duplicate KPI key {k.key}")
        reg[k.key] = k

    for key, (zh, en, start, end, unit, tgt, t50, t90, stypes, src) in _TIMES.items():
        uz = "分钟" if unit == "minutes" else "小时"
        base = {"start": start, "end": end, "service_types": stypes}
        add(_kpi(
            key=key, label_zh=f"平均{zh}", label_en=f"{en} (mean)",
            description_zh=f"已完成工单的{zh}平均值({uz}); 未完成工单不计入, 单独报告其已开时长。",
            description_en=f"Mean {en.lower()} of completed orders ({unit}); open orders are right-censored and "
                           "reported as open age, never dropped silently.",
            formula=f"mean({end} − {start})", unit=unit, direction="lower", target=tgt,
            at_risk_margin=0.1 * tgt, min_n=10, source=src, breakdowns=TICKET_BREAKDOWNS, kind="mean",
            frame="ticket", params={**base, "stat": "mean"}, requires=_TIME_REQUIRES[key]))
        for q, qt in ((0.5, t50), (0.9, t90)):
            p = int(q * 100)
            add(_kpi(
                key=f"{key}_p{p}", label_zh=f"{zh}P{p}", label_en=f"{en} P{p}",
                description_zh=f"{p}%的已完成工单在此时长内完成(经验分布分位数, 取观测值)。",
                description_en=f"{p} % of completed orders within this time (empirical-CDF percentile, an observed "
                               "value, numpy method='inverted_cdf').",
                formula=f"Q_{q}({end} − {start}), inverted CDF", unit=unit, direction="lower", target=qt,
                at_risk_margin=0.1 * qt, min_n=20, source="KPIS.md §2 percentiles; " + src,
                breakdowns=TICKET_BREAKDOWNS, kind="percentile", frame="ticket",
                params={**base, "stat": q}, requires=_TIME_REQUIRES[key]))

    for key, zh, en, interval, src in (
        ("sla_arrival", "到达现场时限达标率", "SLA attainment: arrival", "arrival",
         "KPIS.md §1-2: share of repair orders on site within the policy limit (45/90/120 min by area class)"),
        ("sla_restoration", "修复时限达标率", "SLA attainment: restoration", "restoration",
         "KPIS.md §1-2: share of repairs restored within the policy limit after arrival (3 h / 4 h)"),
        ("sla_resolution", "办结时限达标率", "SLA attainment: resolution", "resolution",
         "KPIS.md §1-2: share of orders resolved within the policy limit (working days for connections, meter)"),
    ):
        add(_kpi(
            key=key, label_zh=zh, label_en=en,
            description_zh="在适用时限(政策包 × 区域类别 × 客户类别 × 业务类型)内完成的工单占比; 免责原因单独计数; "
                           "已超时的未完成工单计为未达标, 未超时的未完成工单单独报告。",
            description_en="Share of orders within the applicable limit (policy x area class x segment x service). "
                           "Exception reasons are counted apart, open orders already past the limit count as "
                           "breaches, open orders not yet due are reported as censored. For 'average' commitments "
                           "the mean-vs-limit verdict is reported beside the share.",
            formula="within / (completed + overdue open − exceptions)", unit="share", direction="higher",
            target=0.95, at_risk_margin=0.02, min_n=20, source=src, breakdowns=TICKET_BREAKDOWNS,
            kind="proportion", frame="ticket", display_scale=100.0, params={"interval": interval},
            requires=_SLA_REQUIRES[interval]))

    add(_kpi(
        key="fcr_system", label_zh="一次解决率(系统)", label_en="System FCR (repeat contacts)",
        description_zh="同一客户在N天内(默认7天, 可设1-30天)未就同一业务类别再次来电/来访(全渠道)的接触占比; "
                       "不含窗口最后N天内的接触和大面积停电相关接触。",
        description_en="Share of contacts after which the same customer made no new contact of the same business "
                       "category within N days (default 7, 1-30) across all channels. Excludes contacts in the "
                       "last N days of the window (not yet judgeable) and mass-outage contacts; N is shown.",
        formula="contacts without a repeat within N days / judgeable contacts", unit="share", direction="higher",
        target=0.80, at_risk_margin=0.03, min_n=30, source="KPIS.md §2 first-contact resolution, system",
        breakdowns=CONTACT_BREAKDOWNS, kind="proportion", frame="contact", display_scale=100.0,
        params={"days": 7}, requires=(("customer_id",),)))
    add(_kpi(
        key="hotline_service_level", label_zh="95598热线服务水平", label_en="Hotline service level",
        description_zh="T秒内(默认30秒)接通的来电占呼入量的比例; 放弃来电计为未接通, 5秒内放弃的不计入呼入量。",
        description_en="Share of offered calls answered within T seconds (default 30 s); abandoned calls count as "
                       "failures; abandons under 5 s are excluded from the offered calls.",
        formula="answered within T / (offered − abandoned < 5 s)", unit="share", direction="higher", target=0.90,
        at_risk_margin=0.03, min_n=30, source="KPIS.md §2 hotline service level; 南方电网 30秒人工接通率",
        breakdowns=CONTACT_BREAKDOWNS, kind="proportion", frame="contact", display_scale=100.0,
        params={"threshold_seconds": 30.0, "short_abandon_seconds": 5.0, "channels": ("hotline",)},
        requires=tuple((*g, _SOURCE_FLAG) for g in _OUTCOME)))
    add(_kpi(
        key="asa", label_zh="平均应答速度", label_en="Average speed of answer",
        description_zh="已接通来电的平均排队等待时间(秒), 与放弃率一并阅读。",
        description_en="Mean queue wait of answered calls (seconds); read together with the abandonment rate.",
        formula="Σ(answered_at − queued_at) / answered calls", unit="seconds", direction="lower", target=20.0,
        at_risk_margin=5.0, min_n=30, source="KPIS.md §2 average speed of answer", breakdowns=CONTACT_BREAKDOWNS,
        kind="mean", frame="contact", params={"channels": ("hotline",)}, requires=_OUTCOME))
    add(_kpi(
        key="abandonment_rate", label_zh="呼损率(放弃率)", label_en="Abandonment rate",
        description_zh="排队5秒以上后放弃的来电占呼入量的比例。",
        description_en="Calls abandoned after 5 s in queue / offered calls (abandons under 5 s excluded).",
        formula="abandoned (≥ 5 s) / offered", unit="share", direction="lower", target=0.05, at_risk_margin=0.01,
        min_n=30, source="KPIS.md §2 abandonment rate", breakdowns=CONTACT_BREAKDOWNS, kind="proportion",
        frame="contact", display_scale=100.0, params={"short_abandon_seconds": 5.0, "channels": ("hotline",)},
        requires=_OUTCOME))
    add(_kpi(
        key="hall_waiting_time", label_zh="营业厅平均等候时长", label_en="Service-hall waiting time",
        description_zh="营业厅从取号到叫号的平均等候时长(分钟); 未叫号离开的单独计数。",
        description_en="Mean minutes from queue ticket taken to called, in service halls; walk-outs are counted "
                       "apart. Peak hours and weekdays matter: break down by hour or weekday.",
        formula="mean(answered_at − queued_at)", unit="minutes", direction="lower", target=15.0,
        at_risk_margin=2.0, min_n=20, source="KPIS.md §1-2; 南方电网: 营业厅平均等候时间不超过15分钟",
        breakdowns=CONTACT_BREAKDOWNS + ("hour", "weekday"), kind="mean", frame="contact",
        params={"channels": ("hall",)}, requires=_OUTCOME))
    add(_kpi(
        key="online_share", label_zh="线上办电率", label_en="Online share",
        description_zh="通过网上国网/微信/支付宝/网站发起的工单占比。",
        description_en="Share of orders started on app, WeChat, Alipay or web (the digital-transformation KPI).",
        formula="orders on online channels / all orders", unit="share", direction="higher", target=0.60,
        at_risk_margin=0.05, min_n=30, source="KPIS.md §2 online share",
        breakdowns=tuple(b for b in TICKET_BREAKDOWNS if b != "channel"), kind="proportion", frame="ticket",
        display_scale=100.0, params={"online_channels": ONLINE_CHANNELS}, defined_by={"channel": ONLINE_CHANNELS},
        requires=(("channel",),)))
    add(_kpi(
        key="complaints_per_1000", label_zh="千户投诉率", label_en="Complaints per 1,000 customers",
        description_zh="投诉工单数 / 范围内客户数 × 1000(需各区域客户数)。",
        description_en="Complaint orders / customers in scope x 1000 (needs customer counts per region); exact "
                       "Poisson interval.",
        formula="complaints / customers × 1000", unit="per_mille", direction="lower", target=1.0,
        at_risk_margin=0.2, min_n=1000, source="KPIS.md §2 千户投诉率",
        breakdowns=("region_id", "area_class", "period"), kind="rate", frame="ticket",
        params={"complaint_types": ("complaint",)}, requires=(("service_type",),)))
    add(_kpi(
        key="reopen_rate", label_zh="重复开单率", label_en="Reopen rate",
        description_zh="已办结工单中被重新打开的比例。",
        description_en="Resolved orders that were reopened / resolved orders.",
        formula="resolved with reopen_count > 0 / resolved", unit="share", direction="lower", target=0.05,
        at_risk_margin=0.01, min_n=30, source="KPIS.md §2 reopen rate", breakdowns=TICKET_BREAKDOWNS,
        kind="proportion", frame="ticket", display_scale=100.0, requires=_RESOLVED))
    add(_kpi(
        key="followup_closure", label_zh="回访闭环率", label_en="Follow-up closure",
        description_zh="到期的回访工单中在期限内关闭的比例; 尚未到期的不计入。",
        description_en="Follow-ups closed within their due time / follow-ups due; not-yet-due follow-ups are not "
                       "counted, overdue open ones count as failures.",
        formula="closed_at ≤ due_at / due_at ≤ as_of", unit="share", direction="higher", target=0.95,
        at_risk_margin=0.02, min_n=10, source="KPIS.md §2 follow-up (回访) closure",
        breakdowns=("region_id", "reason", "severity", "owner_staff_id", "period"), kind="proportion",
        frame="follow_up", display_scale=100.0, requires=(("due_at",),)))

    add(_kpi(
        key="fcr_survey", label_zh="一次解决率(调查)", label_en="Survey FCR (customer says)",
        description_zh="受访客户回答“首次联系即解决”的比例; 与系统口径分开, 不混合。",
        description_en="Share of respondents answering yes to 'was your issue resolved at the first contact?'. "
                       "A separate KPI, never blended with the system one.",
        formula="fcr = yes / answered", unit="share", direction="higher", target=0.80, at_risk_margin=0.03,
        min_n=30, source="KPIS.md §3 / §2 first-contact resolution, survey", breakdowns=SURVEY_BREAKDOWNS,
        kind="proportion", frame="response", display_scale=100.0, requires=(("fcr",),)))
    add(_kpi(
        key="csat", label_zh="客户满意度(满意率)", label_en="CSAT (top-2-box)",
        description_zh="总体满意度1-5分中选4或5分的比例; 旁边显示均值和分布。",
        description_en="Share of 4-5 on the 1-5 overall item (top-2-box), Wilson interval; the mean and the full "
                       "distribution are shown beside it.",
        formula="count(csat ≥ 4) / count(csat in 1..5)", unit="share", direction="higher", target=0.90,
        at_risk_margin=0.02, min_n=30, source="KPIS.md §3 CSAT", breakdowns=SURVEY_BREAKDOWNS,
        kind="proportion", frame="response", display_scale=100.0, requires=(("csat",),)))
    add(_kpi(
        key="csat_mean", label_zh="满意度均分", label_en="CSAT mean",
        description_zh="总体满意度(1-5分)平均分。",
        description_en="Mean of the 1-5 overall satisfaction item (t interval).",
        formula="mean(csat)", unit="score", direction="higher", target=4.5, at_risk_margin=0.1, min_n=30,
        source="KPIS.md §3 CSAT (mean beside the top-2-box)", breakdowns=SURVEY_BREAKDOWNS, kind="mean",
        frame="response", requires=(("csat",),)))
    add(_kpi(
        key="nps", label_zh="净推荐值", label_en="Net promoter score",
        description_zh="0-10分推荐意愿: 推荐者(9-10)比例减贬损者(0-6)比例; 以-1..1存储, 显示时×100。",
        description_en="0-10 likelihood to recommend: share of promoters (9-10) minus share of detractors (0-6); "
                       "stored in [-1, 1], shown x 100; adjusted-Wald interval. Only from a 0-10 item.",
        formula="P/n − D/n; Var = [p + d − (p − d)²]/n", unit="index", direction="higher", target=0.30,
        at_risk_margin=0.05, min_n=30, source="KPIS.md §3 NPS; §4 NPS interval", breakdowns=SURVEY_BREAKDOWNS,
        kind="nps", frame="response", display_scale=100.0, requires=(("nps",),)))
    add(_kpi(
        key="ces_mean", label_zh="办事便捷度均分", label_en="Ease of service (CES)",
        description_zh="CES 2.0 办事便捷度: “公司让我处理问题很容易”1-7分同意程度平均分(越高越便捷, 即越省力)。",
        description_en="CES 2.0: mean 1-7 agreement with 'the company made it easy to handle my issue' (higher is "
                       "easier).",
        formula="mean(ces)", unit="score", direction="higher", target=5.5, at_risk_margin=0.2, min_n=30,
        source="KPIS.md §3 CES 2.0", breakdowns=SURVEY_BREAKDOWNS, kind="mean", frame="response",
        requires=(("ces",),)))
    add(_kpi(
        key="ces_share", label_zh="办事便捷客户占比", label_en="Found it easy (CES 5-7)",
        description_zh="办事便捷度(CES)选5-7分(同意“处理问题很容易”)的比例。",
        description_en="Share of 5-7 on the CES 2.0 item.",
        formula="count(ces ≥ 5) / count(ces in 1..7)", unit="share", direction="higher", target=0.80,
        at_risk_margin=0.03, min_n=30, source="KPIS.md §3 CES 2.0", breakdowns=SURVEY_BREAKDOWNS,
        kind="proportion", frame="response", display_scale=100.0, requires=(("ces",),)))
    add(_kpi(
        key="response_rate", label_zh="调查回复率", label_en="Survey response rate",
        description_zh="回复数 / 已送达的邀请数(可重复使用的二维码邀请不计入)。",
        description_en="Responses / invitations delivered (reusable kiosk QR invitations have no denominator and "
                       "are excluded).",
        formula="invitations used / invitations delivered", unit="share", direction="higher", target=0.20,
        at_risk_margin=0.03, min_n=30, source="KPIS.md §3 response rate",
        breakdowns=("region_id", "area_class", "survey_channel", "channel", "service_type", "survey_key", "period"),
        kind="proportion", frame="invitation",
        display_scale=100.0, requires=(("delivered", "used_at"),)))
    add(_kpi(
        key="dimension_score", label_zh="维度得分", label_en="Dimension score",
        description_zh="各问卷维度(响应性、可靠性、进度透明、账单清晰、员工保证、便利/关怀)题目的平均分。",
        description_en="Mean item score per questionnaire dimension (responsiveness, reliability, transparency of "
                       "progress, bill clarity, staff assurance, convenience/empathy).",
        formula="mean(value_num) per dimension", unit="score", direction="higher", target=4.0,
        at_risk_margin=0.1, min_n=30, source="KPIS.md §3 dimension scores; SERVQUAL",
        breakdowns=("dimension",) + SURVEY_BREAKDOWNS, kind="mean", frame="answer", requires=(("value_num",),)))
    return reg


REGISTRY: Mapping[str, KPI] = MappingProxyType(_build())


def get(key: str) -> KPI:
    """The registered KPI ``key``; KeyError with the known keys otherwise."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise KeyError(f"unknown KPI {key!r}; known: {', '.join(sorted(REGISTRY))}") from None


def keys() -> tuple[str, ...]:
    return tuple(REGISTRY)
