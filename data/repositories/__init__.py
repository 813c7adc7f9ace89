"""Repositories: parameterised queries that return DataFrames, always within the caller's region scope.

Every function that serves a person takes a :class:`Scope` and applies it in SQL (a join on ``region.path`` with a
bound prefix), so no filter a caller passes can widen what a user may see. Filters are bound parameters.
Modules: ``core`` (Scope, Filters, SQL helpers, headline, paged work orders, regions), ``facts`` (compact fact
frames for the metrics layer).
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
    response_facts,
    ticket_facts,
)

__all__ = [
    "Filters", "Scope", "data_window", "epoch_seconds", "headline", "minutes_between", "region_names",
    "region_path", "regions", "scoped", "ticket_filters", "tickets", "answer_facts", "contact_facts",
    "follow_up_facts", "response_facts", "ticket_facts",
]
