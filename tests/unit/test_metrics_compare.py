"""compare(): differences, intervals and adjusted significance against statsmodels and scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from metrics.compare import COMPARE_COLUMNS, compare
from metrics.kpis import compute


def survey(top2: dict[int, tuple[int, int]]) -> pd.DataFrame:
    """Responses per region with the given (satisfied, total) counts."""
    rows = []
    for region, (x, n) in top2.items():
        rows += [(region, 5)] * x + [(region, 2)] * (n - x)
    return pd.DataFrame(rows, columns=["region_id", "csat"])


def test_compare_proportions_newcombe_and_holm() -> None:
    cur = compute("csat", survey({1: (90, 100), 2: (40, 60), 3: (70, 80)}), by=["region_id"])
    prev = compute("csat", survey({1: (70, 100), 2: (45, 60), 3: (68, 80)}), by=["region_id"])
    out = compare(cur, prev)
    assert list(out.columns[:1]) == ["region_id"] and set(COMPARE_COLUMNS) <= set(out.columns)
    r1 = out.set_index("region_id").loc[1]
    lo, hi = confint_proportions_2indep(90, 100, 70, 100, method="newcomb")
    assert r1["diff"] == pytest.approx(0.2)
    assert (r1["diff_low"], r1["diff_high"]) == pytest.approx((lo, hi), abs=1e-10)
    ps = [proportions_ztest([a, b], [n, n])[1] for a, b, n in ((90, 70, 100), (40, 45, 60), (70, 68, 80))]
    np.testing.assert_allclose(out["pvalue"], ps, atol=1e-12)
    np.testing.assert_allclose(out["pvalue_adj"], multipletests(ps, method="holm")[1], atol=1e-12)
    assert list(out["significant"]) == [True, False, False]
    bh = compare(cur, prev, adjust="bh")
    np.testing.assert_allclose(bh["pvalue_adj"], multipletests(ps, method="fdr_bh")[1], atol=1e-12)


def test_compare_means_welch() -> None:
    rng = np.random.default_rng(1)
    a = pd.DataFrame({"csat": rng.integers(3, 6, 80)})
    b = pd.DataFrame({"csat": rng.integers(1, 6, 60)})
    out = compare(compute("csat_mean", a), compute("csat_mean", b)).iloc[0]
    ref = stats.ttest_ind(a.csat.astype(float), b.csat.astype(float), equal_var=False)
    ci = ref.confidence_interval()
    assert out["pvalue"] == pytest.approx(ref.pvalue, abs=1e-12)
    assert (out["diff_low"], out["diff_high"]) == pytest.approx((ci.low, ci.high), abs=1e-10)
    assert out["method"] == "welch"


def test_compare_nps_and_unmatched_groups() -> None:
    cur = pd.DataFrame({"region_id": [1] * 100 + [2] * 3, "nps": [10] * 50 + [8] * 30 + [3] * 20 + [9] * 3})
    prev = pd.DataFrame({"region_id": [1] * 100 + [3] * 5, "nps": [10] * 40 + [8] * 30 + [3] * 30 + [9] * 5})
    out = compare(compute("nps", cur, by=["region_id"]), compute("nps", prev, by=["region_id"]))
    r = out.set_index("region_id")
    var = (0.5 + 0.2 - 0.09) / 100 + (0.4 + 0.3 - 0.01) / 100
    assert r.loc[1, "diff"] == pytest.approx(0.2)
    assert r.loc[1, "diff_low"] == pytest.approx(0.2 - stats.norm.ppf(0.975) * math.sqrt(var), abs=1e-12)
    assert math.isnan(r.loc[2, "diff"]) and not r.loc[2, "significant"] and len(out) == 3


def test_compare_rates_and_percentiles() -> None:
    t1 = pd.DataFrame({"service_type": ["complaint"] * 30 + ["repair"] * 5})
    t2 = pd.DataFrame({"service_type": ["complaint"] * 10 + ["repair"] * 5})
    out = compare(compute("complaints_per_1000", t1, customers=10000),
                  compute("complaints_per_1000", t2, customers=10000)).iloc[0]
    assert out["diff"] == pytest.approx(2.0)
    z = 2.0 / (math.sqrt(40 / 20000 * (2 / 10000)) * 1000)  # pooled rate 40 / 20000
    assert out["pvalue"] == pytest.approx(2 * stats.norm.sf(z), abs=1e-12)
    c = pd.Timestamp("2024-03-01", tz="UTC")
    tk = pd.DataFrame({"created_at": [c] * 3, "resolved_at": [c + pd.Timedelta(hours=h) for h in (1, 2, 3)]})
    pc = compare(compute("resolution_time_p90", tk), compute("resolution_time_p90", tk)).iloc[0]
    assert pc["diff"] == 0.0 and math.isnan(pc["pvalue"]) and not pc["significant"]


def test_compare_rejects_mismatched_inputs() -> None:
    cur = compute("csat", survey({1: (9, 10)}), by=["region_id"])
    with pytest.raises(ValueError):
        compare(cur, compute("csat", survey({1: (9, 10)})))
    with pytest.raises(ValueError):
        compare(cur.drop(columns="successes"), cur)
