"""Repositories: parameterised queries that return DataFrames, always within the caller's region scope.

Every function that serves a person takes a :class:`Scope` and applies it in SQL (a join on ``region.path`` with a
bound prefix), so no filter a caller passes can widen what a user may see. Filters are bound parameters.
Modules: ``core`` (Scope, Filters, SQL helpers, headline, paged work orders, regions), ``facts`` (compact fact
frames for the metrics layer), ``staff`` (scorecard inputs per staff member, aggregated in SQL).
"""

from data.repositories.core import (
    Filters,
    Scope,
    data_window,
    epoch_seconds,
    headline,
    minutes_between,
    region_names,
    region_path,
    regions,
    scoped,
    ticket_filters,
    tickets,
)
from data.repositories.facts import (
    answer_facts,
    contact_facts,
    follow_up_facts,
    invitation_facts,
    item_scales,
    response_facts,
    ticket_facts,
)
from data.repositories.staff import (
    staff_reviews,
    staff_roster,
    staff_survey_cells,
    staff_survey_rows,
    staff_ticket_cells,
)

__all__ = [
    "Filters", "Scope", "data_window", "epoch_seconds", "headline", "minutes_between", "region_names",
    "region_path", "regions", "scoped", "ticket_filters", "tickets", "answer_facts", "contact_facts",
    "follow_up_facts", "invitation_facts", "item_scales", "response_facts", "ticket_facts",
    "staff_reviews", "staff_roster", "staff_survey_cells", "staff_survey_rows", "staff_ticket_cells",
]
