"""Survey results imported from a questionnaire tool, with NO work orders at all (issue 15, item 5): the satisfaction
page shows the drivers, the dimension scores and CSAT by segment, the survey admin page shows Cronbach's alpha, and
``python -m metrics`` prints dimension scores (``report --by dimension``) and the drivers table (``drivers``).

Every number is checked against a value computed here from the published formulas on the imported data itself
(Johnson 2000 relative weights through the SVD of the standardised predictors; LMG as the average R² increment over
all orderings of OLS fits; Cronbach 1951 alpha from item and total variances; Wilson 1927 score interval), never
against our own functions.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from data.engine import get_engine
from data.i18n import translate
from tests.app.dashboard_helpers import chart_titled, data_of, goto, metric
from tests.app.helpers import login
from tests.factories import SURVEY_ONLY_DIMENSIONS, build_survey_only_world

pytestmark = pytest.mark.slow  # 200 imported responses and a page with bootstrap intervals
DIMS = sorted(SURVEY_ONLY_DIMENSIONS)
Z = stats.norm.ppf(0.975)


@pytest.fixture
def survey_only(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    wide = build_survey_only_world(get_engine(sqlite_url), tmp_path)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    return wide


# --- references from the published formulas ---------------------------------------------------------------------


def _scores(wide: pd.DataFrame) -> pd.DataFrame:
    """Each respondent's dimension score: the mean of that dimension's items."""
    return pd.DataFrame({d: wide[list(ks)].mean(axis=1) for d, ks in SURVEY_ONLY_DIMENSIONS.items()})[DIMS]


def johnson_weights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Johnson (2000): X = P Δ Q' (standardised), Z = P Q' its closest orthonormal counterpart; Λ = Q Δ Q' / √(n−1)
    regresses X on Z (scaled to unit variance), β regresses y on Z; ε_j = Σ_k λ_jk² β_k²."""
    n = len(y)
    xs = (x - x.mean(0)) / x.std(0, ddof=1)
    ys = (y - y.mean()) / y.std(ddof=1)
    p, d, qt = np.linalg.svd(xs, full_matrices=False)
    lam = qt.T @ np.diag(d) @ qt / math.sqrt(n - 1)
    beta = (p @ qt).T @ ys / math.sqrt(n - 1)
    return (lam ** 2) @ (beta ** 2)


def ols_r2(x: np.ndarray, y: np.ndarray) -> float:
    if x.shape[1] == 0:
        return 0.0
    a = np.column_stack([np.ones(len(y)), x])
    resid = y - a @ np.linalg.lstsq(a, y, rcond=None)[0]
    return 1.0 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum())


def lmg_weights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Lindeman, Merenda & Gold (1980): the R² increment of each predictor averaged over all orderings."""
    p = x.shape[1]
    phi = np.zeros(p)
    orders = list(itertools.permutations(range(p)))
    for order in orders:
        before = 0.0
        for i, j in enumerate(order):
            after = ols_r2(x[:, list(order[:i + 1])], y)
            phi[j] += after - before
            before = after
    return phi / len(orders)


def cronbach(items: pd.DataFrame) -> float:
    """Cronbach (1951): α = k/(k−1) · (1 − Σ var(item) / var(total))."""
    k = items.shape[1]
    return k / (k - 1) * (1 - items.var(ddof=1).sum() / items.sum(axis=1).var(ddof=1))


def wilson(x: int, n: int) -> tuple[float, float]:
    """Wilson (1927) score interval."""
    p = x / n
    centre = (p + Z ** 2 / (2 * n)) / (1 + Z ** 2 / n)
    half = Z / (1 + Z ** 2 / n) * math.sqrt(p * (1 - p) / n + Z ** 2 / (4 * n * n))
    return centre - half, centre + half


# --- the pages ---------------------------------------------------------------------------------------------------


def test_satisfaction_page_without_work_orders(survey_only: pd.DataFrame) -> None:
    wide = survey_only
    at = goto(login("manager"), "satisfaction")
    assert not at.error
    top = int((wide["csat"] >= 4).sum())
    assert metric(at, "客户满意度(满意率)") == f"{100 * top / 200:.1f}%"

    # CSAT by segment: the imported responses have no work order, so no segment: one labelled group, all counted
    seg = data_of(chart_titled(at, "客户满意度(满意率)"))
    seg = [r for r in seg if "segment_label" in r]
    assert [r["segment_label"] for r in seg] == ["未记录客户类别（无关联工单）"]
    assert (seg[0]["n"], seg[0]["successes"]) == (200, top)
    assert (seg[0]["ci_low"], seg[0]["ci_high"]) == pytest.approx(wilson(top, 200), abs=1e-12)

    # dimension scores: every SERVQUAL dimension, the mean over its item answers
    dims = {r["dimension"]: r for r in data_of(chart_titled(at, "各维度得分")) if "dimension" in r}
    assert sorted(dims) == DIMS
    for d, ks in SURVEY_ONLY_DIMENSIONS.items():
        assert dims[d]["value"] == pytest.approx(wide[list(ks)].to_numpy().mean(), abs=1e-12)
        assert dims[d]["n"] == 200 * len(ks)

    # drivers: Johnson's relative weights with bootstrap whiskers around them
    x, y = _scores(wide).to_numpy(), wide["csat"].to_numpy(float)
    ref = johnson_weights(x, y)
    assert ref.sum() == pytest.approx(ols_r2(x, y), abs=1e-10)
    bars = {r["driver"]: r for r in data_of(chart_titled(at, "Johnson相对权重"))}
    assert sorted(bars) == DIMS
    for j, d in enumerate(DIMS):
        assert bars[d]["raw"] == pytest.approx(ref[j], abs=1e-10)
        assert bars[d]["rescaled"] == pytest.approx(ref[j] / ref.sum(), abs=1e-10)
        assert bars[d]["ci_low"] < bars[d]["rescaled"] < bars[d]["ci_high"]
    assert max(bars, key=lambda d: bars[d]["rescaled"]) == "reliability"  # the planted strongest driver

    # the other method the page offers
    at.segmented_control(key="sat_driver_method").set_value("shapley").run()
    assert not at.exception
    lmg = lmg_weights(x, y)
    bars = {r["driver"]: r for r in data_of(chart_titled(at, "Shapley/LMG"))}
    for j, d in enumerate(DIMS):
        assert bars[d]["raw"] == pytest.approx(lmg[j], abs=1e-10)


def test_survey_admin_alpha_without_work_orders(survey_only: pd.DataFrame) -> None:
    at = goto(login("admin"), "survey_admin")
    assert not at.exception
    table = next(df.value for df in at.dataframe if "α" in " ".join(map(str, df.value.columns)))
    alpha_col = next(c for c in table.columns if "α" in str(c))
    shown = dict(zip(table.iloc[:, 0], table[alpha_col], strict=True))
    for d, ks in SURVEY_ONLY_DIMENSIONS.items():
        assert shown[translate(f"survey.dim.{d}", "zh-CN")] == f"{cronbach(survey_only[list(ks)]):.2f}"


def test_survey_only_alpha_matches_the_formula(survey_only: pd.DataFrame, sqlite_url: str) -> None:
    from surveys.quality import dimension_alpha

    df = dimension_alpha(get_engine(sqlite_url), "servqual_annual", None).set_index("dimension")
    for d, ks in SURVEY_ONLY_DIMENSIONS.items():
        assert df.loc[d, "n"] == 200
        assert df.loc[d, "alpha"] == pytest.approx(cronbach(survey_only[list(ks)]), abs=1e-12)


# --- the command line --------------------------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict]:  # type: ignore[type-arg]
    from metrics.__main__ import main

    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_dimension_scores_and_drivers(survey_only: pd.DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    wide = survey_only
    scores = _scores(wide)
    rows = _run(capsys, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--by", "dimension")
    assert [r["dimension"] for r in rows] == DIMS
    for r in rows:
        s = scores[r["dimension"]]
        hits = int((s >= 6).sum())  # top-2 box of the 1-7 agreement scale
        half = stats.t.ppf(0.975, 199) * s.std(ddof=1) / math.sqrt(200)
        assert (r["group"], r["n"], r["top_box_from"]) == ({}, 200, 6.0)
        assert r["mean"] == pytest.approx(s.mean(), abs=1e-12)
        assert (r["mean_low"], r["mean_high"]) == pytest.approx((s.mean() - half, s.mean() + half), abs=1e-10)
        assert r["top_box"] == pytest.approx(hits / 200, abs=1e-12)
        assert (r["top_box_low"], r["top_box_high"]) == pytest.approx(wilson(hits, 200), abs=1e-12)

    # crossed with the response's own region (stations roll up to the cities below the province)
    rows = _run(capsys, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--by", "dimension,region")
    city = wide["region_code"].map({"A1S": "A", "A2S": "A", "B1S": "B", "A12S": "A12"})
    got = {(r["dimension"], r["group"]["region"]): r for r in rows}
    assert len(got) == 15
    for (d, c), r in got.items():
        s = scores.loc[city == c, d]
        hits = int((s >= 6).sum())
        assert (r["n"], r["mean"]) == (len(s), pytest.approx(s.mean(), abs=1e-12))
        assert (r["top_box_low"], r["top_box_high"]) == pytest.approx(wilson(hits, len(s)), abs=1e-12)

    # segment: none recorded without a work order; the responses still count, as one null group
    rows = _run(capsys, "report", "--from", "2026-10-01", "--to", "2026-10-31", "--by", "segment,dimension")
    assert {(r["group"]["segment"], r["n"]) for r in rows} == {(None, 200)}

    x, y = scores.to_numpy(), wide["csat"].to_numpy(float)
    for method, ref in (("relative_weights", johnson_weights(x, y)), ("shapley", lmg_weights(x, y))):
        rows = _run(capsys, "drivers", "--from", "2026-10-01", "--to", "2026-10-31", "--method", method,
                    "--boot", "200")
        got = {r["driver"]: r for r in rows}
        assert [r["driver"] for r in rows] == [DIMS[j] for j in np.argsort(-ref, kind="stable")]
        for j, d in enumerate(DIMS):
            assert got[d]["raw"] == pytest.approx(ref[j], abs=1e-10)
            assert got[d]["weight"] == pytest.approx(ref[j] / ref.sum(), abs=1e-10)
            assert got[d]["ci_low"] < got[d]["weight"] < got[d]["ci_high"]
            assert (got[d]["n"], got[d]["n_boot"]) == (200, 200)
            assert got[d]["performance"] == pytest.approx(scores[d].mean(), abs=1e-12)
        assert got[DIMS[0]]["r2"] == pytest.approx(ols_r2(x, y), abs=1e-10)


def test_cli_refuses_dimension_with_other_kpis(survey_only: pd.DataFrame, capsys: pytest.CaptureFixture[str]) -> None:
    from metrics.__main__ import main

    assert main(["report", "--from", "2026-10-01", "--to", "2026-10-31", "--by", "dimension", "--kpi", "csat"]) == 2
    assert "--by dimension" in capsys.readouterr().err
