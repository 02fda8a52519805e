"""The comparison and the problem generators every derivative test relies on.

A too-lenient ``relative_error`` or generators that stopped producing extreme margins,
exact-zero labels, one-hot rows or zero weights would weaken every oracle,
finite-difference and compiled-kernel test at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradhess import checking

from conftest import KS, problem, registry_cases


def test_relative_error_by_hand():
    actual = np.array([[1.0, 2.0], [0.0, -3.0]])
    expected = np.array([[1.5, 2.0], [1e-9, -1.0]])
    scale = np.array([1.0, 4.0])
    tau = 1e-3
    # entry by entry: |a - e| / (|e| + tau * row scale)
    by_hand = max(0.5 / (1.5 + 1e-3), 0.0, 1e-9 / (1e-9 + 4e-3), 2.0 / (1.0 + 4e-3))
    assert checking.relative_error(actual, expected, scale, tau) == pytest.approx(by_hand, rel=1e-15)
    assert checking.relative_error(expected, expected, scale, tau) == 0.0
    # one entry off by 1e-9 relative is seen as such, not rounded away
    nudged = expected.copy()
    nudged[0, 0] *= 1 + 1e-9
    assert checking.relative_error(nudged, expected, scale, tau) == pytest.approx(1e-9, rel=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_relative_error_non_finite_is_infinite(bad):
    a = np.ones((3, 2))
    a[1, 1] = bad
    assert checking.relative_error(a, np.ones((3, 2)), np.ones(3), 1e-6) == np.inf
    assert checking.relative_error(np.ones((3, 2)), a, np.ones(3), 1e-6) == np.inf


def test_relative_error_refuses_broadcasting():
    with pytest.raises(ValueError, match=r"actual has shape \(3,\), expected \(3, 1\)"):
        checking.relative_error(np.ones(3), np.ones((3, 1)), np.ones(3), 1e-6)


def test_registry_problems_hold_the_extremes():
    """Across the registry cases: margins near +-1e3 and moderate ones, soft labels with
    exact zeros, one-hot rows and fractional rows, weights with zeros; every K listed."""
    cases = list(registry_cases())
    weighted = []
    assert {c[3] for c in cases if c[3] is not None} == set(KS)
    for case in cases:
        name, labels, weights, k, dtype = case
        y, z, w = problem(*case)
        assert z.dtype == np.dtype(dtype)
        assert (z > 990).any() and (z < -990).any() and (np.abs(z) < 10).any(), case
        if labels == "soft":
            assert (y == 0).any() and ((y > 0) & (y < 1)).any(), case
            if k is not None:
                assert (y.max(axis=1) == 1).any(), case  # one-hot rows
                np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
        elif k is not None:
            assert y.dtype.kind == "i" and set(np.unique(y)) <= set(range(k))
        if w is not None:
            assert (w >= 0).all()
            weighted.append(bool((w == 0).any()))
    assert np.mean(weighted) > 0.75  # zero weights in most weighted cases
