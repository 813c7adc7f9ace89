"""Replacing a demo world also clears rows other features attached to it (quality reviews, proactive follow-ups)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from data.engine import get_engine
from data.models import QualityReview, Ticket
from demo.run import run_demo

pytestmark = pytest.mark.world  # builds demo worlds inline (tests/conftest.py: lane markers)


def test_a_new_seed_replaces_a_world_that_has_quality_reviews(sqlite_url: str) -> None:
    from reports.reviews import demo_reviews

    engine = get_engine(sqlite_url)
    run_demo(engine, "S", 1)
    demo_reviews(engine, seed=1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(QualityReview)).scalar_one() > 0
    out = run_demo(engine, "S", 2)
    assert out["status"] == "replaced"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(QualityReview)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == out["counts"]["ticket"]
