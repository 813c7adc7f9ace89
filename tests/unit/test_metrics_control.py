"""Control charts against R qcc / Montgomery reference values and Laney's formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from metrics.control import laney_p_chart, p_chart, xmr_chart

# qcc::viscosity, phase I (trial == TRUE) batches 1-15 (Montgomery, aircraft primer paint viscosity).
VISCOSITY_TRIAL = [33.75, 33.05, 34.00, 33.81, 33.46, 34.02, 33.68, 33.27, 33.49, 33.20, 33.62, 33.00, 33.54,
                   33.12, 33.84]
# qcc::orangejuice, trial samples 1-30: nonconforming cans out of 50 (Montgomery, Example 7.1).
ORANGEJUICE_D = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7,
                 13, 9, 6]


def test_xmr_reference_qcc_viscosity() -> None:
    c = xmr_chart(VISCOSITY_TRIAL)
    assert c.center == pytest.approx(33.52333, abs=5e-6)
    assert c.lcl[0] == pytest.approx(32.24484, abs=5e-6)
    assert c.ucl[0] == pytest.approx(34.80183, abs=5e-6)
    assert not c.beyond.any()
    assert c.mr_ucl == pytest.approx(3.267 * c.mr_bar)


def test_xmr_flags_and_edges() -> None:
    v = [10.0] * 5 + [10.5, 9.5] * 5 + [30.0]
    c = xmr_chart(v)
    assert c.beyond[-1] and c.beyond.sum() == 1
    shift = xmr_chart([1.0, 2.0, 1.0, 2.0, 1.0, 2.0] + [5.0, 5.2, 5.1, 5.3, 5.2, 5.1, 5.2, 5.3])
    assert shift.run[-8:].all() and not shift.run[:2].any()
    empty = xmr_chart([])
    assert math.isnan(empty.center) and empty.values.size == 0
    one = xmr_chart([4.0, None])
    assert one.center == 4.0 and math.isnan(one.ucl[0])


def test_p_chart_reference_qcc_orangejuice() -> None:
    c = p_chart(ORANGEJUICE_D, [50] * 30)
    assert c.center == pytest.approx(0.2313333, abs=5e-8)
    assert c.lcl[0] == pytest.approx(0.05242755, abs=5e-9)
    assert c.ucl[0] == pytest.approx(0.4102391, abs=5e-8)
    assert list(np.flatnonzero(c.beyond) + 1) == [15, 23]  # Montgomery: samples 15 and 23 out of control


def test_p_chart_variable_n_and_lcl_floor() -> None:
    c = p_chart([1, 0, 30], [10, 0, 100])
    assert math.isnan(c.values[1]) and not c.beyond[1]
    pbar = 31 / 110
    assert c.ucl[0] == pytest.approx(pbar + 3 * math.sqrt(pbar * (1 - pbar) / 10))
    assert c.lcl[0] == 0.0  # clipped


def test_laney_hand_computed() -> None:
    x = np.array([480, 530, 455, 610, 500, 470, 520])
    n = np.array([5000, 5200, 4900, 5100, 5000, 4800, 5300])
    c = laney_p_chart(x, n)
    pbar = x.sum() / n.sum()
    sig = np.sqrt(pbar * (1 - pbar) / n)
    z = (x / n - pbar) / sig
    sigma_z = np.mean(np.abs(np.diff(z))) / 1.128
    assert c.sigma_z == pytest.approx(sigma_z, abs=1e-12)
    np.testing.assert_allclose(c.ucl, pbar + 3 * sig * sigma_z, atol=1e-14)
    np.testing.assert_allclose(c.lcl, pbar - 3 * sig * sigma_z, atol=1e-14)
    plain = p_chart(x, n)
    assert plain.beyond.sum() > c.beyond.sum()  # over-dispersion: the p-chart over-flags
