"""Every objective x strategy x labels x weights x K x dtype against finite differences.

4th-order central differences (gradhess.checking) of ``loss`` give the
gradient and of the gradient give the Hessian matrix, one class column at a
time, computed in float64 on the same (possibly float32) inputs.  The
Gauss-Newton and majorizer strategies are checked against the Hessian matrix
of ``loss(y=predict_proba(z), .)`` less its link term (see gradhess.checking):
the Gauss-Newton matrix, for proper and improper scores alike.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import gradhess
from gradhess import checking, hessians

from conftest import problem, row_scale, case_id, registry_cases


CASES = list(registry_cases())


def as64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


HESSIAN_CASES = [(c, s) for c in CASES for s in hessians.STRATEGIES]


@functools.lru_cache(maxsize=None)
def fd_reference(case, strategy, params=()):
    name, labels, weights, k, dtype = case
    y, z, w = problem(name, labels, weights, k, dtype)
    z64, w64 = as64(z), as64(w)
    y64 = y if np.asarray(y).dtype.kind in "iu" else as64(y)
    cheap = gradhess.get(name, **dict(params))  # the default strategy is O(K) per row
    if strategy == "gradient":
        return checking.fd_gradient(cheap, y64, z64, w64)
    obj = gradhess.get(name, hessian=strategy, **dict(params))
    return checking.expected_hessian(obj, strategy, y64, z64, w64, gradient_obj=cheap)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradient(case):
    name, labels, weights, k, dtype = case
    y, z, w = problem(name, labels, weights, k, dtype)
    g, _ = gradhess.get(name).gradient_hessian(y, z, w)
    err = checking.relative_error(g, fd_reference(case, "gradient"), row_scale(w, z.shape[0]),
                                  checking.FD_ROW_FLOOR)
    assert err <= checking.FD_TOLERANCE


@pytest.mark.parametrize("case,strategy", HESSIAN_CASES,
                         ids=[f"{s}-{case_id(c)}" for c, s in HESSIAN_CASES])
def test_hessian(case, strategy):
    name, labels, weights, k, dtype = case
    y, z, w = problem(name, labels, weights, k, dtype)
    _, h = gradhess.get(name, hessian=strategy).gradient_hessian(y, z, w)
    err = checking.relative_error(h, fd_reference(case, strategy), row_scale(w, z.shape[0]),
                                  checking.FD_ROW_FLOOR)
    assert err <= checking.FD_TOLERANCE


# Every declared parameter away from its default (see test_oracle.PARAM_CASES).
PARAM_CASES = [(c, p.name, value) for c in CASES if c[3] in (None, 3, 10)
               for p in gradhess.OBJECTIVES[c[0]].params for value in p.grid]


@pytest.mark.parametrize("case,param,value", PARAM_CASES,
                         ids=[f"{p}={v}-{case_id(c)}" for c, p, v in PARAM_CASES])
def test_parameters(case, param, value):
    name, labels, weights, k, dtype = case
    y, z, w = problem(name, labels, weights, k, dtype)
    params = ((param, value),)
    scale = row_scale(w, z.shape[0])
    g, _ = gradhess.get(name, **dict(params)).gradient_hessian(y, z, w)
    err = checking.relative_error(g, fd_reference(case, "gradient", params), scale,
                                  checking.FD_ROW_FLOOR)
    assert err <= checking.FD_TOLERANCE
    for strategy in hessians.STRATEGIES:
        _, h = gradhess.get(name, hessian=strategy, **dict(params)).gradient_hessian(y, z, w)
        err = checking.relative_error(h, fd_reference(case, strategy, params), scale,
                                      checking.FD_ROW_FLOOR)
        assert err <= checking.FD_TOLERANCE, strategy
