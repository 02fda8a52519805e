"""Every objective x strategy x labels x weights x K x dtype against JAX autodiff.

The oracle (tests/jax_oracle.py) writes each loss in jax.numpy from its
definition and differentiates it; it never calls gradhess.  float64 results
must agree to 1e-8, float32 results (computed from the same float32 inputs)
to 1e-6, relative, with an absolute floor of 1e-6 times the row's weight for
entries that are zero up to rounding.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import jax_oracle  # noqa: E402  (JAX is a test dependency: fail loudly if it is missing)
import gradhess
from gradhess import checking, hessians

from conftest import ALL, SOFTMAX, dense_labels, problem, row_scale, case_id, registry_cases

RTOL = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-6}
ROW_FLOOR = 1e-6


CASES = list(registry_cases())


@functools.lru_cache(maxsize=None)
def oracle_for(case, params=()):
    name, labels, weights, k, dtype = case
    y, z, w = problem(name, labels, weights, k, dtype)
    yd = dense_labels(y, k)
    # the oracle's own clip floor, 1e-6 as documented (README, derivations), not the library's
    return {s: jax_oracle.strategy_hessian(name, s, yd, z, w, dict(params))
            for s in hessians.STRATEGIES}, jax_oracle.oracle(name, yd, z, w, dict(params))


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("strategy", hessians.STRATEGIES)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_against_jax(case, strategy, backend):
    name, labels, weights, k, dtype = case
    y, z, w = problem(name, labels, weights, k, dtype)
    obj = gradhess.get(name, hessian=strategy)
    obj.backend = backend
    loss = obj.loss(y, z, w)
    g, h = obj.gradient_hessian(y, z, w)
    assert loss.dtype == g.dtype == h.dtype == z.dtype
    hess_by_strategy, (o_loss, o_grad, _, _) = oracle_for(case)
    rtol = RTOL[z.dtype]
    scale = row_scale(w, z.shape[0])
    assert checking.relative_error(loss, o_loss, scale, ROW_FLOOR) <= rtol
    assert checking.relative_error(g, o_grad, scale, ROW_FLOOR) <= rtol
    assert checking.relative_error(h, hess_by_strategy[strategy], scale, ROW_FLOOR) <= rtol


# Every declared parameter away from its default, at each value of its grid (the registry's
# ``instances``): the focusing parameter at 0, 0.5, 1 and 3 (at its default of 2 other
# expressions take the values of (1 - gamma) and (2 gamma + 1), so a slip between them
# passes; gamma = 1 zeroes (1 - gamma), gamma = 0.5 makes (1 - p)^gamma steep as p nears 1),
# label smoothing at 0.3.
PARAM_CASES = [(c, p.name, value) for c in CASES if c[3] in (None, 3, 10)
               for p in gradhess.OBJECTIVES[c[0]].params for value in p.grid]


@pytest.mark.parametrize("case,param,value", PARAM_CASES,
                         ids=[f"{p}={v}-{case_id(c)}" for c, p, v in PARAM_CASES])
@pytest.mark.parametrize("strategy", hessians.STRATEGIES)
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_parameters_against_jax(case, param, value, strategy, backend):
    name, labels, weights, k, dtype = case
    y, z, w = problem(name, labels, weights, k, dtype)
    obj = gradhess.get(name, hessian=strategy, **{param: value})
    obj.backend = backend
    g, h = obj.gradient_hessian(y, z, w)
    hess_by_strategy, (o_loss, o_grad, _, _) = oracle_for(case, ((param, value),))
    rtol = RTOL[z.dtype]
    scale = row_scale(w, z.shape[0])
    assert checking.relative_error(obj.loss(y, z, w), o_loss, scale, ROW_FLOOR) <= rtol
    assert checking.relative_error(g, o_grad, scale, ROW_FLOOR) <= rtol
    assert checking.relative_error(h, hess_by_strategy[strategy], scale, ROW_FLOOR) <= rtol


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("strategy", hessians.STRATEGIES)
def test_hessian_scale_multiplies(name, strategy):
    k = 3 if gradhess.OBJECTIVES[name].is_multiclass else None
    case = (name, "soft", "row", k, "float64")
    y, z, w = problem(*case)
    _, h = gradhess.get(name, hessian=strategy, hessian_scale=2.5).gradient_hessian(y, z, w)
    expected = 2.5 * oracle_for(case)[0][strategy]
    assert checking.relative_error(h, expected, row_scale(w, z.shape[0]), ROW_FLOOR) <= 1e-8


@pytest.mark.parametrize("name,weights", [(n, w) for n in SOFTMAX for w in ("row", "cell")
                                          if w == "row" or gradhess.OBJECTIVES[n].cell_weights])
@pytest.mark.parametrize("k", [3, 10])
def test_majorizer_bounds_gauss_newton(name, weights, k):
    """diag(M) - G is positive semi-definite, G the oracle's Gauss-Newton matrix."""
    case = (name, "soft", weights, k, "float64")
    y, z, w = problem(*case)
    _, h = gradhess.get(name, hessian="majorizer").gradient_hessian(y, z, w)
    gn = oracle_for(case)[1][3]
    diff = np.einsum("il,lm->ilm", h, np.eye(k)) - gn
    eig = np.linalg.eigvalsh(diff)
    scale = row_scale(w, z.shape[0])[:, None]
    assert (eig >= -1e-12 * scale).all(), eig.min()


@pytest.mark.parametrize("case", [c for c in CASES if c[3] in (None, 3, 10) and c[4] == "float64"],
                         ids=case_id)
def test_gauss_newton_is_psd(case):
    """The premise of the Gauss-Newton and majorizer strategies: the oracle's Gauss-Newton
    matrix is PSD, so its diagonal, which gradhess returns (test_against_jax), and the
    majorizer are nonnegative; gradhess's own are checked nonnegative here too."""
    name, labels, weights, k, dtype = case
    gn = oracle_for(case)[1][3]
    if gn.ndim == 1:
        assert (gn >= 0).all()
    else:
        assert (np.linalg.eigvalsh(gn) >= -1e-12).all()
    y, z, w = problem(*case)
    for strategy in ("gauss_newton", "majorizer"):
        _, h = gradhess.get(name, hessian=strategy).gradient_hessian(y, z, w)
        assert (h >= 0).all(), (strategy, h.min())
