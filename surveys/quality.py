"""Questionnaire quality for admins: Cronbach's alpha per dimension (metrics.reliability) from stored answers.

A dimension needs at least two items for alpha; the short post-service questionnaires ask one item per dimension,
so for them the useful figure is the row ``__all__`` (all dimension items taken as one service-quality scale).
The annual SERVQUAL questionnaire has 4-5 items per dimension.

A questionnaire that rotates its dimension items across invitees asks each customer only some of them: the items not
asked are missing by design, so its alpha comes from pairwise covariances (every pair of items is asked together of
some invitees, :func:`metrics.reliability.cronbach_alpha_pairwise`), not from complete rows, which it has none of.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Engine, func, select

from data.models import Answer, Region, Response, SurveyDefinition, Ticket
from data.repositories import Scope
from metrics.reliability import cronbach_alpha, cronbach_alpha_pairwise
from surveys.definitions import Definition, definition_for, registry

ALL = "__all__"
COLUMNS = ["dimension", "items", "k", "n", "n_dropped", "alpha", "ci_low", "ci_high"]
PLAN_COLUMNS = ["item", "role", "dimension", "scale", "share", "expected_n", "width_factor", "asked", "answered",
                "answer_rate"]


@dataclass(frozen=True)
class Scales:
    """A questionnaire version's dimensions (dimension -> item keys) and where they come from: its definition (file
    or published copy), or, for a questionnaire GridCX has no definition of (an imported one), the dimensions its
    stored answer rows carry."""

    key: str
    version: int
    dimensions: dict[str, list[str]]
    rotated: bool = False
    source: str = "definition"  # definition | answers

    def few_items(self) -> dict[str, list[str]]:
        """Dimensions with fewer than two items (Cronbach's alpha needs two or more)."""
        return {d: ks for d, ks in self.dimensions.items() if len(ks) < 2}


def scales(engine: Engine, survey_key: str, version: int | None = None) -> Scales:
    """The dimensions of ``survey_key`` (latest version when ``version`` is None). Raises ValueError naming the key
    when there is neither a definition nor a stored response."""
    files = sorted(v for k, v in registry().definitions if k == survey_key)
    with engine.connect() as conn:
        published = sorted(conn.execute(select(SurveyDefinition.version)
                                        .where(SurveyDefinition.key == survey_key)).scalars())
        stored = sorted(conn.execute(select(Response.survey_version).where(Response.survey_key == survey_key)
                                     .distinct()).scalars())
    if version is None:
        known = files or published or stored
        if not known:
            raise ValueError(f"no questionnaire {survey_key!r}: no definition file, no published definition and no "
                             "stored response with that survey key")
        version = max(known)
    definition: Definition | None = definition_for(engine, survey_key, version)
    if definition is not None:
        return Scales(survey_key, version, definition.dimensions(),
                      definition.rotation is not None and bool(definition.rotation.dimension_items))
    stmt = (select(Answer.item_key, Answer.dimension).join(Response, Response.id == Answer.response_id)
            .where(Response.survey_key == survey_key, Response.survey_version == version,
                   Answer.dimension.is_not(None)).distinct().order_by(Answer.dimension, Answer.item_key))
    with engine.connect() as conn:
        pairs = conn.execute(stmt).all()
    if not pairs and version not in stored:
        raise ValueError(f"no questionnaire {survey_key!r} v{version}: no definition and no stored response")
    dims: dict[str, list[str]] = {}
    for item, dim in pairs:
        if dim is not None:  # always: the query keeps only answers with a dimension
            dims.setdefault(dim, []).append(item)
    return Scales(survey_key, version, dims, source="answers")


def item_matrix(engine: Engine, definition: Definition | Scales, scope: Scope | None,
                start: dt.datetime | None = None, end: dt.datetime | None = None) -> pd.DataFrame:
    """Respondents x dimension items (NaN where unanswered) for one questionnaire version, within scope."""
    dimensions = definition.dimensions() if isinstance(definition, Definition) else definition.dimensions
    keys = [k for ks in dimensions.values() for k in ks]
    stmt = (select(Answer.response_id, Answer.item_key, Answer.value_num)
            .join(Response, Response.id == Answer.response_id)
            .join(Region, Region.id == Response.region_id)
            .where(Response.survey_key == definition.key, Response.survey_version == definition.version,
                   Answer.item_key.in_(keys)))
    if scope is not None:
        stmt = stmt.where(Region.path.startswith(scope.path, autoescape=True))
    if start is not None:
        stmt = stmt.where(Response.submitted_at >= start)
    if end is not None:
        stmt = stmt.where(Response.submitted_at < end)
    with engine.connect() as conn:
        long = pd.DataFrame(conn.execute(stmt).all(), columns=["response_id", "item_key", "value_num"])
    if long.empty:
        return pd.DataFrame(columns=keys, dtype=float)
    wide = long.pivot_table(index="response_id", columns="item_key", values="value_num", aggfunc="first")
    return wide.reindex(columns=keys)


def dimension_alpha(engine: Engine, survey_key: str, scope: Scope | None, version: int | None = None,
                    start: dt.datetime | None = None, end: dt.datetime | None = None,
                    level: float = 0.95) -> pd.DataFrame:
    """One row per dimension with two or more items, plus ``__all__``: alpha, Feldt interval, n used, n dropped.

    Works for any questionnaire: one with a definition, and an imported one (dimensions from its answer rows,
    :func:`scales`); dimensions with fewer than two items are left out (:meth:`Scales.few_items` says which)."""
    sc = scales(engine, survey_key, version)
    wide = item_matrix(engine, sc, scope, start, end)
    dims = sc.dimensions
    rotated = sc.rotated
    rows = []
    for dim, keys in [*dims.items(), (ALL, [k for ks in dims.values() for k in ks])]:
        if len(keys) < 2:
            continue
        if not len(wide):
            res = None
        elif rotated:
            res = cronbach_alpha_pairwise(wide[keys], level=level)
        else:
            res = cronbach_alpha(wide[keys], level=level)
        nan = math.nan
        rows.append({"dimension": dim, "items": ", ".join(keys), "k": len(keys),
                     "n": res.n if res else 0, "n_dropped": res.n_dropped if res else 0,
                     "alpha": res.alpha if res else nan, "ci_low": res.ci_low if res else nan,
                     "ci_high": res.ci_high if res else nan})
    return pd.DataFrame(rows, columns=COLUMNS)


def rotation_cost(engine: Engine, definition: Definition, service_type: str | None, scope: Scope | None,
                  start: dt.datetime, end: dt.datetime) -> tuple[pd.DataFrame, int]:
    """What rotating items across invitees costs, per item, at the response volume of ``start``..``end``.

    Returns (table, responses): ``responses`` counts the responses to this questionnaire (any version) for the
    service type in the window; per item ``share`` of invitees asked it, ``expected_n`` = responses x share (the answers
    it gets at that volume), ``width_factor`` = 1/sqrt(share) (how much wider its confidence intervals are than if
    everyone were asked; an interval's half-width goes as 1/sqrt(n)), and for this version the observed ``asked``
    (answer rows: stored for a rotated submission whether answered or left blank), ``answered`` (with a value) and
    ``answer_rate`` = answered / asked: item non-response among the invitees asked, never among those not asked
    (missing by design). The comment has no answer rows (it lives on the response).
    """
    def scoped(stmt):  # type: ignore[no-untyped-def]
        stmt = (stmt.join(Region, Region.id == Response.region_id).outerjoin(Ticket, Ticket.id == Response.ticket_id)
                .where(Response.survey_key == definition.key, Response.submitted_at >= start,
                       Response.submitted_at < end))
        stmt = stmt.where(Ticket.service_type == service_type) if service_type else stmt
        return stmt.where(Region.path.startswith(scope.path, autoescape=True)) if scope is not None else stmt

    with engine.connect() as conn:
        responses = int(conn.execute(scoped(select(func.count(Response.id)).select_from(Response))).scalar_one())
        observed = {r.item_key: (int(r.asked), int(r.answered)) for r in conn.execute(scoped(
            select(Answer.item_key, func.count(Answer.id).label("asked"), func.count(Answer.value_num).label("answered"))
            .select_from(Answer).join(Response, Response.id == Answer.response_id)
            .where(Response.survey_version == definition.version)).group_by(Answer.item_key))}
    rows = []
    for item in definition.items_for(service_type, None):
        share = definition.asked_share(service_type, None)[item.key]
        asked, answered = observed.get(item.key, (0, 0))
        rows.append({"item": item.key, "role": item.role, "dimension": item.dimension, "scale": item.scale,
                     "share": share, "expected_n": responses * share, "width_factor": 1.0 / math.sqrt(share),
                     "asked": asked, "answered": answered,
                     "answer_rate": answered / asked if asked else math.nan})
    return pd.DataFrame(rows, columns=PLAN_COLUMNS), responses
