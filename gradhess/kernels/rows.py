"""Per-row kernels for softmax objectives with one weight per row, compiled with numba.

An engine that calls its objective once per object (CatBoost) needs the
gradient and Hessian diagonal of a single row, without NumPy's per-call
overhead.  These kernels compute exactly what :mod:`gradhess.kernels.reference`
computes for one row (tests compare them), in float64, writing into ``g`` and
``h``.  ``strategy`` is an integer code (:data:`STRATEGY_CODES`).  An objective
names its kernel in its ``row_kernel`` attribute.

When numba is not installed they run as plain Python (correct, slow).
"""

from __future__ import annotations

import math

import numpy as np

try:  # pragma: no cover - exercised by whichever environment runs the tests
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

    def njit(*args, **kwargs):
        if args and callable(args[0]):
            return args[0]
        return lambda f: f


#: Hessian strategy name -> the code the row kernels take.
STRATEGY_CODES = {"exact": 0, "gauss_newton": 1, "majorizer": 2, "clip": 3}


@njit(cache=True)
def softmax_row(z, p):
    """``p = softmax(z)`` for one row, stabilised by the row maximum."""
    m = z[0]
    for j in range(1, z.shape[0]):
        if z[j] > m:
            m = z[j]
    total = 0.0
    for j in range(z.shape[0]):
        p[j] = math.exp(z[j] - m)
        total += p[j]
    for j in range(z.shape[0]):
        p[j] /= total


@njit(cache=True)
def gauss_newton_row(p, u, h):
    """``G_ll = u_l p_l (1 - p_l)^2 + p_l^2 max(c - u_l p_l, 0)``, ``c = sum_j u_j p_j``."""
    c = 0.0
    for j in range(p.shape[0]):
        c += u[j] * p[j]
    for j in range(p.shape[0]):
        up = u[j] * p[j]
        h[j] = up * (1.0 - p[j]) ** 2 + p[j] * p[j] * max(c - up, 0.0)


@njit(cache=True)
def majorizer_row(p, u, h):
    """``G_ll + sum_{m != l} p_l p_m |c - u_l - u_m|`` (row sums of ``|G|``)."""
    k = p.shape[0]
    gauss_newton_row(p, u, h)
    c = 0.0
    for j in range(k):
        c += u[j] * p[j]
    for l in range(k):  # noqa: E741
        off = 0.0
        for m in range(k):
            if m != l:
                off += p[m] * abs(c - u[l] - u[m])
        h[l] += p[l] * off


@njit(cache=True)
def finish_row(h, strategy, scale, w, floor):
    """Clip floor (``strategy == 3``) and ``hessian_scale``."""
    for j in range(h.shape[0]):
        if strategy == 3 and h[j] < floor * w:
            h[j] = floor * w
        h[j] *= scale


@njit(cache=True)
def cross_entropy_row(z, y, w, strategy, scale, floor, g, h):
    """Softmax cross-entropy: ``g = s p - w y`` with ``s = w sum(y)``; Hessian by strategy."""
    k = z.shape[0]
    p = np.empty(k)
    softmax_row(z, p)
    s = 0.0
    for j in range(k):
        s += w * y[j]
    for j in range(k):
        g[j] = s * p[j] - w * y[j]
    if strategy == 0 or strategy == 3:
        for j in range(k):
            h[j] = s * p[j] * (1.0 - p[j])
    else:
        u = np.full(k, w)
        if strategy == 1:
            gauss_newton_row(p, u, h)
        else:
            majorizer_row(p, u, h)
    finish_row(h, strategy, scale, w, floor)


@njit(cache=True)
def brier_row(z, y, w, strategy, scale, floor, g, h):
    """Multiclass Brier: ``g = p (r - sum_j p_j r_j)``, ``r = 2 w (p - y)``; Hessian by strategy."""
    k = z.shape[0]
    p = np.empty(k)
    softmax_row(z, p)
    rbar = 0.0
    for j in range(k):
        rbar += p[j] * 2.0 * w * (p[j] - y[j])
    u = np.empty(k)
    for j in range(k):
        g[j] = p[j] * (2.0 * w * (p[j] - y[j]) - rbar)
        u[j] = 2.0 * w * p[j]
    if strategy == 2:
        majorizer_row(p, u, h)
    else:
        gauss_newton_row(p, u, h)
        if strategy == 0 or strategy == 3:
            for j in range(k):
                h[j] += (1.0 - 2.0 * p[j]) * g[j]
    finish_row(h, strategy, scale, w, floor)
