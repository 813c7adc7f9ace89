"""Quality reviews (服务质检): recording a supervisor's review against the rubric, and a deterministic set of demo
reviews for the demo world (which has none).

The demo reviews: every month each active staff member has up to two of their work orders graded by one of eight
reviewers of their city; 15 % of the graded orders get a second reviewer, so agreement can be measured. Each person
has a small stable quality effect, each reviewer a bias (``qa03`` is harsh by design, ``qa06`` lenient), plus noise;
about 0.3 % of reviews record a conduct violation. Nothing depends on the demo's planted staff effects.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, func, insert, select

from data.engine import new_id
from data.models import UTC, QualityReview, Region, Staff, Ticket
from data.repositories import Scope
from data.settings import site_zone
from data.users import audit
from reports.scheme import Rubric, load_rubric

DEMO_REVIEWERS = tuple(f"qa{i:02d}" for i in range(1, 9))
DEMO_BIAS = {"qa03": -0.9, "qa06": 0.45}  # points on the 0-4 item scale
PER_MONTH = 2
SECOND_SHARE = 0.15
VIOLATION_RATE = 0.003


class ReviewError(ValueError):
    pass


def submit_review(engine: Engine, scope: Scope, username: str, staff_id: int, points: dict[str, float], *,
                  violation: bool = False, comment: str | None = None, ticket_no: str | None = None,
                  rubric: Rubric | None = None, now: dt.datetime | None = None) -> int:
    """Validate and store one review by ``username`` of a staff member within ``scope``; returns its id.

    The work order (by its number) must belong to that staff member. Written with an audit event in one transaction.
    """
    rubric = rubric or load_rubric()
    try:
        score = rubric.score(points)
    except ValueError as exc:
        raise ReviewError(str(exc)) from None
    with engine.begin() as conn:
        row = conn.execute(
            select(Staff.id, Staff.region_id).join(Region, Region.id == Staff.region_id)
            .where(Staff.id == staff_id, Region.path.startswith(scope.path, autoescape=True))
        ).first()
        if row is None:
            raise ReviewError("staff member not found in your scope")
        ticket_id = None
        if ticket_no:
            ticket_id = conn.execute(select(Ticket.id).where(Ticket.external_no == ticket_no.strip(),
                                                             Ticket.staff_id == staff_id)).scalar()
            if ticket_id is None:
                raise ReviewError("work order not found for this staff member")
        rid = new_id(conn.execute(insert(QualityReview).values(
            staff_id=staff_id, ticket_id=ticket_id, contact_id=None, region_id=row.region_id, reviewer=username,
            reviewed_at=now or dt.datetime.now(UTC), rubric_key=rubric.key, rubric_version=rubric.version,
            scores={k: float(v) for k, v in points.items()}, score=score, violation=bool(violation),
            comment=(comment or None), source="form")))
        audit(conn, username, "quality_review", "staff", str(staff_id),
              {"review_id": int(rid), "score": round(score, 4), "violation": bool(violation),
               "ticket_id": ticket_id})
    return int(rid)


def demo_reviews(engine: Engine, seed: int = 7, replace: bool = False, rubric: Rubric | None = None) -> int:
    """Generate and store the demo reviews (deterministic for a seed and database). Returns how many were written;
    0 when demo reviews exist already (unless ``replace``)."""
    rubric = rubric or load_rubric()
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(QualityReview)
                            .where(QualityReview.source == "demo")).scalar_one()
    if have and not replace:
        return 0
    frame = demo_review_frame(engine, seed, rubric)
    with engine.begin() as conn:
        if have:
            conn.execute(delete(QualityReview).where(QualityReview.source == "demo"))
        records = frame.to_dict("records")
        for i in range(0, len(records), 5000):
            conn.execute(insert(QualityReview), records[i:i + 5000])
        audit(conn, None, "demo_reviews", "quality_review", None, {"rows": len(records), "seed": seed})
    return len(frame)


def demo_review_frame(engine: Engine, seed: int, rubric: Rubric) -> pd.DataFrame:
    """The demo reviews as rows ready to insert (vectorised; one numpy Generator)."""
    rng = np.random.default_rng(seed + 7007)
    t = Ticket.__table__
    s = Staff.__table__
    stmt = (select(t.c.id, t.c.staff_id, t.c.created_at, s.c.region_id, s.c.active)
            .select_from(t.join(s, s.c.id == t.c.staff_id)).order_by(t.c.id))
    with engine.connect() as conn:
        res = conn.execute(stmt)
        df = pd.DataFrame.from_records(res.fetchall(), columns=list(res.keys()))
        paths = dict(conn.execute(select(Region.id, Region.path)).all())
    if df.empty:
        return pd.DataFrame()
    df = df[df["active"].astype(bool)].reset_index(drop=True)
    created = pd.to_datetime(df["created_at"], utc=True)
    month = created.dt.tz_convert(site_zone(engine)).dt.strftime("%Y-%m")
    df["key"] = rng.random(len(df))
    df["month"] = month
    pick = df.groupby(["staff_id", "month"])["key"].rank(method="first") <= PER_MONTH
    items = df[pick].reset_index(drop=True)
    n = len(items)
    staff_ids = np.sort(items["staff_id"].unique())
    quality = dict(zip(staff_ids, rng.normal(0.0, 0.35, len(staff_ids)), strict=True))
    # reviewers: a city's pool of eight, first reviewer by rotation, a second one for 15 %
    city = items["region_id"].map(lambda r: paths.get(int(r), "/")).str.split("/").str[2].fillna("0")
    first = rng.integers(0, len(DEMO_REVIEWERS), n)
    second = (first + rng.integers(1, len(DEMO_REVIEWERS), n)) % len(DEMO_REVIEWERS)
    double = rng.random(n) < SECOND_SHARE
    rows = pd.concat([items.assign(rv=first, city=city), items[double].assign(rv=second[double],
                                                                               city=city[double])],
                     ignore_index=True)
    m = len(rows)
    names = np.array(DEMO_REVIEWERS, dtype=object)[rows["rv"].to_numpy()]
    reviewer = np.where(rows["city"].to_numpy() == "0", names, names + "_" + rows["city"].astype(str).to_numpy())
    bias = np.array([DEMO_BIAS.get(str(x), 0.0) for x in names])
    q = rows["staff_id"].map(quality).to_numpy(float)
    item_keys = [i.key for i in rubric.items]
    maxp = np.array([i.max_points for i in rubric.items], float)
    # the item's own quality is shared by its reviewers; each reviewer adds bias and noise
    item_q = rng.normal(0.0, 0.45, len(items))
    iq = item_q[_item_index(rows, items)]
    raw = 3.25 + q[:, None] + iq[:, None] + bias[:, None] + rng.normal(0.0, 0.45, (m, len(item_keys)))
    pts = np.clip(np.round(raw), 0, maxp[None, :])
    w = np.array([i.weight for i in rubric.items], float)
    score = (pts / maxp[None, :] * w[None, :]).sum(axis=1) / w.sum()
    violation = rng.random(m) < VIOLATION_RATE
    reviewed = pd.to_datetime(rows["created_at"], utc=True) + pd.to_timedelta(rng.uniform(1, 5, m), unit="D")
    cap = pd.Timestamp("2026-11-25T15:00:00Z")
    reviewed = reviewed.where(reviewed < cap, cap)
    scores = [dict(zip(item_keys, map(float, r), strict=True)) for r in pts]
    comment = np.full(m, None, dtype=object)
    comment[violation] = "演示：质检认定违反“十个不准”"
    return pd.DataFrame({
        "staff_id": rows["staff_id"].astype(int).to_numpy(), "ticket_id": rows["id"].astype(int).to_numpy(),
        "contact_id": None, "region_id": rows["region_id"].astype(int).to_numpy(), "reviewer": reviewer,
        "reviewed_at": list(reviewed.dt.floor("us").dt.to_pydatetime()), "rubric_key": rubric.key,
        "rubric_version": rubric.version, "scores": scores, "score": score, "violation": violation,
        "comment": comment, "source": "demo",
    })


def _item_index(rows: pd.DataFrame, items: pd.DataFrame) -> np.ndarray:
    """The position in ``items`` of each review row's work order."""
    pos = pd.Series(np.arange(len(items)), index=items["id"].to_numpy())
    return pos.reindex(rows["id"].to_numpy()).to_numpy(dtype=np.int64)
