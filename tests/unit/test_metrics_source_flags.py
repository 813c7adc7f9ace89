"""KPIs with an imported source verdict (sla_met): the computed clock wins where both times exist, the source's
verdict decides only where the clock cannot be computed. Expected counts are worked out by hand per row."""

from __future__ import annotations

import pandas as pd

from metrics.kpis import hotline_service_level, sla_attainment

T0 = pd.Timestamp("2024-04-05 08:00")


def test_sla_attainment_uses_the_flag_only_without_a_clock() -> None:
    m = pd.Timedelta(minutes=1)
    frame = pd.DataFrame({
        "created_at": [T0, T0, T0, T0, T0],
        # 30 min (within 60), 90 min (late, although the source says yes), no end (source yes), no end (source
        # no), no end and no flag (open, not yet due at as_of + 10 min)
        "resolved_at": [T0 + 30 * m, T0 + 90 * m, pd.NaT, pd.NaT, pd.NaT],
        "sla_met": [None, True, True, False, None],
        "limit_value": [60.0] * 5,
    })
    out = sla_attainment(frame, interval="resolution", as_of=T0 + 10 * m)
    r = out.iloc[0]
    assert (int(r["n"]), int(r["successes"]), int(r["n_source_flag"]), int(r["n_open_pending"])) == (4, 2, 2, 1)
    assert r["value"] == 0.5
    # Without the column the same frame counts only the two computed orders.
    r = sla_attainment(frame.drop(columns="sla_met"), interval="resolution", as_of=T0 + 10 * m).iloc[0]
    assert (int(r["n"]), int(r["successes"]), int(r["n_open_pending"])) == (2, 1, 3)


def test_hotline_service_level_uses_the_flag_only_without_an_answer_time() -> None:
    s = pd.Timedelta(seconds=1)
    frame = pd.DataFrame({
        "channel": ["hotline"] * 5,
        "queued_at": [T0] * 5,
        # 20 s (within 30), 50 s (late; the source's yes is ignored), no answer time (source yes), no answer time
        # (source no), abandoned after 60 s (a failure whatever the flag says)
        "answered_at": [T0 + 20 * s, T0 + 50 * s, pd.NaT, pd.NaT, pd.NaT],
        "ended_at": [T0 + 200 * s, T0 + 200 * s, T0 + 200 * s, T0 + 200 * s, T0 + 60 * s],
        "abandoned": [False, False, False, False, True],
        "sla_met": [None, True, True, False, True],
    })
    r = hotline_service_level(frame).iloc[0]
    assert (int(r["n"]), int(r["successes"]), int(r["n_source_flag"])) == (5, 2, 2)
    r = hotline_service_level(frame.drop(columns="sla_met")).iloc[0]
    assert (int(r["n"]), int(r["successes"])) == (5, 1)
