"""The objective cores: one short function per objective computes the gradient and the raw
Hessian of a block of rows (softmax objectives) or of one cell (binary objectives), and a
loss core the per-row loss of a block; the drivers (:mod:`._drivers`) do the rest.

A softmax core is ``core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb,
work, vec)`` on class-major ``(K, B)`` blocks (:mod:`._blocks`): the probabilities ``p``,
their complements ``q = 1 - p``, the shifted margins ``zs = z - max z`` and ``rest``, the
sum of ``exp(zs)`` over the classes other than the argmax ``a``, so that ``log p = zs -
log1p(rest)`` for the cores that need it; the labels ``y`` and weights ``w`` (``uniform``:
the same weight in every class of a row); the objective's parameters; ``strategy`` one of
``EXACT``, ``GAUSS_NEWTON``, ``MAJORIZER`` or :data:`GRADIENT_ONLY` (the ``"constant"``
strategy, whose Hessian the driver writes; ``h`` is then left as it was); ``work`` and
``vec`` scratch as :mod:`._diagonals` describes.  Each is written from the definitions in
:mod:`gradhess.kernels.reference` (tests compare them to 1e-12).  The softmax and loss
cores are called once a block (``JIT_PER_BLOCK``), but for the ranked probability
score's; the binary ones, once a cell, are inlined into their driver's loop.
"""

from __future__ import annotations

import math

from numba import njit

from ..hessians import EXACT, GAUSS_NEWTON, MAJORIZER
from ._diagonals import (SUM_ALL, SUM_OTHERS, gauss_newton_from_sums, gauss_newton_sums,
                         majorizer_diag)
from ._numerics import JIT, JIT_PER_BLOCK, log1p_nonnegative, power

#: The strategy code a core takes for "the gradient only" (no Hessian).
GRADIENT_ONLY = -1

@njit(**JIT_PER_BLOCK)
def cross_entropy_core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
    k = p.shape[0]
    s = vec[0]
    for r in range(nb):
        s[r] = 0.0
    for j in range(k):
        for r in range(nb):
            s[r] += w[j, r] * y[j, r]
    for j in range(k):
        for r in range(nb):
            g[j, r] = s[r] * p[j, r] - w[j, r] * y[j, r]
    if strategy == GRADIENT_ONLY:
        return
    if strategy == EXACT:
        for j in range(k):
            for r in range(nb):
                h[j, r] = s[r] * p[j, r] * q[j, r]
        return
    if uniform:
        # u_l = w for every class: G_ll = w p_l (q_l^2 + p_l q_l) = w p_l q_l, and the
        # majorizer adds sum_{m != l} p_l p_m |w - 2 w| = w p_l q_l
        f = 1.0 if strategy == GAUSS_NEWTON else 2.0
        for j in range(k):
            for r in range(nb):
                h[j, r] = f * w[j, r] * p[j, r] * q[j, r]
        return
    uq2 = work[0]
    for j in range(k):
        for r in range(nb):
            uq2[j, r] = w[j, r] * q[j, r] * q[j, r]
    gauss_newton_sums(p, w, a, nb, vec)
    if strategy == GAUSS_NEWTON:
        gauss_newton_from_sums(p, w, uq2, a, h, nb, vec)
    else:
        majorizer_diag(p, q, w, uq2, a, h, nb, vec)


@njit(**JIT_PER_BLOCK)
def brier_core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
    k = p.shape[0]
    rbar = vec[0]
    u = work[0]
    uq2 = work[1]
    total = vec[SUM_ALL]
    other = vec[SUM_OTHERS]
    for r in range(nb):
        rbar[r] = 0.0
        total[r] = 0.0
        other[r] = 0.0
    for j in range(k):
        for r in range(nb):
            rbar[r] += p[j, r] * 2.0 * w[j, r] * (p[j, r] - y[j, r])
    if strategy == GRADIENT_ONLY:
        for j in range(k):
            for r in range(nb):
                g[j, r] = p[j, r] * (2.0 * w[j, r] * (p[j, r] - y[j, r]) - rbar[r])
        return
    for j in range(k):
        for r in range(nb):
            g[j, r] = p[j, r] * (2.0 * w[j, r] * (p[j, r] - y[j, r]) - rbar[r])
            uj = 2.0 * w[j, r] * p[j, r]
            u[j, r] = uj
            uq2[j, r] = uj * q[j, r] * q[j, r]
            # the sums of gauss_newton_sums, in this pass
            up = uj * p[j, r]
            total[r] += up
            other[r] += up if j != a[r] else 0.0
    if strategy == MAJORIZER:
        majorizer_diag(p, q, u, uq2, a, h, nb, vec)
        return
    gauss_newton_from_sums(p, u, uq2, a, h, nb, vec)
    if strategy == EXACT:
        for j in range(k):
            for r in range(nb):
                h[j, r] += (q[j, r] - p[j, r]) * g[j, r]


_FOCAL_TINY = 1e-300


@njit(inline="always", **JIT)
def focal_terms(p, q, zs, log_t, y, w, gamma, u, uq2, wt, total, nb):
    """The per-cell focal terms (see ``reference.focal_terms``), with ``log p = zs -
    log_t``; called with a literal ``gamma`` for the usual values, so that ``power``
    folds and the loop vectorises."""
    for j in range(p.shape[0]):
        for r in range(nb):
            pj, qj = p[j, r], q[j, r]
            lpj = zs[j, r] - log_t[r]
            phi = lpj / qj if qj > 0.0 else -1.0
            qg = power(qj, gamma)
            t = qg * (gamma * pj * phi - 1.0)
            bracket = gamma * pj * (2.0 + (1.0 - gamma) * pj * phi)
            v = qg + (bracket * (qg / qj) if qj >= _FOCAL_TINY else 0.0)
            u[j, r] = w[j, r] * v
            uq2[j, r] = w[j, r] * (bracket * qg * qj + qg * qj * qj)
            wt[j, r] = w[j, r] * y[j, r] * t
            total[r] += wt[j, r]


@njit(**JIT_PER_BLOCK)
def focal_core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
    k = p.shape[0]
    gamma = params[0]
    u = work[0]    # w v
    uq2 = work[1]  # w v q^2
    wt = work[2]   # w y t
    total = vec[0]
    log_t = vec[1]
    for r in range(nb):
        total[r] = 0.0
        log_t[r] = log1p_nonnegative(rest[r])  # log p = zs - log(1 + rest)
    if gamma == 2.0:
        focal_terms(p, q, zs, log_t, y, w, 2.0, u, uq2, wt, total, nb)
    elif gamma == 1.0:
        focal_terms(p, q, zs, log_t, y, w, 1.0, u, uq2, wt, total, nb)
    else:
        focal_terms(p, q, zs, log_t, y, w, gamma, u, uq2, wt, total, nb)
    if strategy == GRADIENT_ONLY:
        for j in range(k):
            for r in range(nb):
                g[j, r] = wt[j, r] - p[j, r] * total[r]
        return
    # with g, the sums over the classes of x = y u (exact) or x = u p (gauss_newton_sums,
    # for the Gauss-Newton and majorizer diagonals), and of those but the argmax
    c = vec[SUM_ALL]
    other = vec[SUM_OTHERS]
    for r in range(nb):
        c[r] = 0.0
        other[r] = 0.0
    for j in range(k):
        for r in range(nb):
            g[j, r] = wt[j, r] - p[j, r] * total[r]
            x = y[j, r] * u[j, r] if strategy == EXACT else u[j, r] * p[j, r]
            c[r] += x
            other[r] += x if j != a[r] else 0.0
    if strategy == EXACT:
        # h_l = y_l w v_l q_l^2 + p_l^2 sum_{m != l} y_m w v_m + (q_l - p_l) g_l, the sum
        # over the others as above (gauss_newton_from_sums)
        for j in range(k):
            for r in range(nb):
                o = (max(other[r], 0.0) if j == a[r]
                     else max(c[r] - y[j, r] * u[j, r], 0.0))
                h[j, r] = (y[j, r] * uq2[j, r] + p[j, r] * p[j, r] * o
                           + (q[j, r] - p[j, r]) * g[j, r])
    elif strategy == GAUSS_NEWTON:
        gauss_newton_from_sums(p, u, uq2, a, h, nb, vec)
    else:
        majorizer_diag(p, q, u, uq2, a, h, nb, vec)


# inlined into its driver, unlike the other cores: as a plain call it measured slower
# (docs/performance.md)
@njit(inline="always", **JIT)
def ranked_probability_core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb, work,
                            vec):
    k = p.shape[0]
    scale = 2.0 / (k - 1)
    cp = work[0]   # P_j, j < K - 1
    up = work[1]   # U_j = sum_{i > j} p_i
    pp = work[2]   # sum_{j < l} P_j^2            (l = 0..K-1)
    uu = work[3]   # sum_{j >= l, j < K-1} U_j^2  (l = 0..K-1)
    rr = work[4]   # r_l
    yacc = vec[0]
    rbar = vec[1]
    for r in range(nb):
        yacc[r] = 0.0
    for j in range(k - 1):
        for r in range(nb):
            cp[j, r] = (cp[j - 1, r] if j > 0 else 0.0) + p[j, r]
            yacc[r] += y[j, r]
            rr[j, r] = cp[j, r] - yacc[r]  # d_j, turned into suffix sums below
    for r in range(nb):
        up[k - 2, r] = p[k - 1, r]
        rr[k - 1, r] = 0.0
    for j in range(k - 3, -1, -1):
        for r in range(nb):
            up[j, r] = up[j + 1, r] + p[j + 1, r]
    for j in range(k - 2, -1, -1):
        for r in range(nb):
            rr[j, r] += rr[j + 1, r]
    for r in range(nb):
        rbar[r] = 0.0
    for j in range(k):
        for r in range(nb):
            rr[j, r] *= scale * w[j, r]
            rbar[r] += p[j, r] * rr[j, r]
    for j in range(k):
        for r in range(nb):
            g[j, r] = p[j, r] * (rr[j, r] - rbar[r])
    if strategy == GRADIENT_ONLY:
        return
    for r in range(nb):
        pp[0, r] = 0.0
        uu[k - 1, r] = 0.0
    for j in range(1, k):
        for r in range(nb):
            pp[j, r] = pp[j - 1, r] + cp[j - 1, r] * cp[j - 1, r]
    for j in range(k - 2, -1, -1):
        for r in range(nb):
            uu[j, r] = uu[j + 1, r] + up[j, r] * up[j, r]
    if strategy != MAJORIZER:
        for j in range(k):
            for r in range(nb):
                h[j, r] = scale * w[j, r] * p[j, r] * p[j, r] * (pp[j, r] + uu[j, r])
        if strategy == EXACT:
            for j in range(k):
                for r in range(nb):
                    h[j, r] += (q[j, r] - p[j, r]) * g[j, r]
        return
    # majorizer: G_lm = scale w p_l p_m (pp[lo] - (pu[hi] - pu[lo]) + uu[hi]),
    # pu[l] = sum_{j < l} P_j U_j; rr is free again and holds pu.
    pu = rr
    for r in range(nb):
        pu[0, r] = 0.0
    for j in range(1, k):
        for r in range(nb):
            pu[j, r] = pu[j - 1, r] + cp[j - 1, r] * up[j - 1, r]
    # the bracket is symmetric in (l, m): each pair once, m >= l, added to both rows
    for l in range(k):  # noqa: E741
        for r in range(nb):
            h[l, r] = 0.0
    for l in range(k):  # noqa: E741
        for r in range(nb):
            h[l, r] += p[l, r] * abs(pp[l, r] + uu[l, r])
        for m in range(l + 1, k):
            for r in range(nb):
                d = abs(pp[l, r] - (pu[m, r] - pu[l, r]) + uu[m, r])
                h[l, r] += p[m, r] * d
                h[m, r] += p[l, r] * d
        for r in range(nb):
            h[l, r] *= scale * w[l, r] * p[l, r]


@njit(**JIT_PER_BLOCK)
def spherical_core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
    k = p.shape[0]
    n2 = vec[0]
    s = vec[1]
    nn = vec[2]
    for r in range(nb):
        n2[r] = 0.0
        s[r] = 0.0
    for j in range(k):
        for r in range(nb):
            n2[r] += p[j, r] * p[j, r]
            s[r] += y[j, r] * p[j, r]
    inv2 = vec[3]
    inv3 = vec[4]
    for r in range(nb):
        nn[r] = math.sqrt(n2[r])
        inv2[r] = 1.0 / n2[r]
        inv3[r] = 1.0 / (n2[r] * nn[r])
        nn[r] = 1.0 / nn[r]
    for j in range(k):
        for r in range(nb):
            g[j, r] = w[j, r] * p[j, r] * (s[r] * p[j, r] * inv2[r] - y[j, r]) * nn[r]
    if strategy == GRADIENT_ONLY:
        return
    if strategy == EXACT:
        for j in range(k):
            for r in range(nb):
                b = w[j, r] * (2.0 * y[j, r] * p[j, r] + s[r]
                               - 3.0 * s[r] * p[j, r] * p[j, r] * inv2[r]) * inv3[r]
                h[j, r] = p[j, r] * p[j, r] * b + g[j, r]
        return
    # sum_{m != l} p_m^2: n2 - p_l^2, the argmax's summed explicitly
    other = vec[SUM_OTHERS]
    for r in range(nb):
        other[r] = 0.0
    for j in range(k):
        for r in range(nb):
            other[r] += p[j, r] * p[j, r] if j != a[r] else 0.0
    factor = 2.0 if strategy == MAJORIZER else 1.0
    for j in range(k):
        for r in range(nb):
            sq = p[j, r] * p[j, r]
            o = max(other[r], 0.0) if j == a[r] else max(n2[r] - sq, 0.0)
            h[j, r] = factor * w[j, r] * p[j, r] * p[j, r] * o * inv3[r]


# ------------------------------------------------------------------ binary cores
# core(z, e, y, w, param, strategy) -> (g, h) for one cell, with e = exp(-|z|)
# computed beforehand by the driver's vectorised pass, param the objective's
# parameter (gamma for focal) and strategy as for the softmax cores (a core may skip
# its Hessian for GRADIENT_ONLY).
@njit(inline="always", **JIT)
def _sigmoid(z, e):
    """``(a, b)``: ``a = sigmoid(z)`` and ``b = 1 - a`` from ``e = exp(-|z|)``, stable."""
    d = 1.0 / (1.0 + e)
    ed = e * d
    return (d, ed) if z >= 0 else (ed, d)


@njit(inline="always", **JIT)
def _log_sigmoid(z, e):
    """``(log a, log b)`` from ``e = exp(-|z|)``, stable."""
    sp = log1p_nonnegative(e)
    return -(sp + max(-z, 0.0)), -(sp + max(z, 0.0))


@njit(inline="always", **JIT)
def binary_cross_entropy_core(z, e, y, w, param, strategy):
    a, b = _sigmoid(z, e)
    return w * (a - y), w * a * b


@njit(inline="always", **JIT)
def binary_brier_core(z, e, y, w, param, strategy):
    a, b = _sigmoid(z, e)
    v = a * b
    g = 2.0 * w * (a - y) * v
    h = 2.0 * w * v * v
    if strategy == EXACT:
        h += g * (1.0 - 2.0 * a)
    return g, h


@njit(inline="always", **JIT)
def _focal_vq2(pj, qj, lpj, gamma):
    phi = lpj / qj if qj > 0.0 else -1.0
    bracket = gamma * pj * (2.0 + (1.0 - gamma) * pj * phi)
    qg = power(qj, gamma)
    return bracket * qg * qj + qg * qj * qj


@njit(inline="always", **JIT)
def binary_focal_core(z, e, y, w, gamma, strategy):
    a, b = _sigmoid(z, e)
    la, lb = _log_sigmoid(z, e)
    ag, bg = power(a, gamma), power(b, gamma)
    g = w * (y * bg * (gamma * a * la - b) + (1.0 - y) * ag * (a - gamma * b * lb))
    if strategy == GRADIENT_ONLY:
        return g, 0.0
    if strategy == EXACT:
        h = w * (y * a * bg * (gamma * la * (b - gamma * a) + (2.0 * gamma + 1.0) * b)
                 + (1.0 - y) * b * ag * (gamma * lb * (a - gamma * b) + (2.0 * gamma + 1.0) * a))
    else:
        h = w * (a * _focal_vq2(a, b, la, gamma) + b * _focal_vq2(b, a, lb, gamma))
    return g, h


# ------------------------------------------------------------------ losses
# loss_core(p, q, zs, rest, y, w, wbar, params, loss, nb, lp, vec): the per-row loss of a
# block into ``loss`` (B,), written from the definitions in ``reference``; ``lp`` is a
# (K, B) scratch block, ``vec`` (3, B) with row 0 the output.
@njit(inline="always", **JIT)
def log_probabilities(zs, rest, lp, nb, vec):
    """``lp = log p = zs - log(1 + rest)`` of a block (``rest``: see the cores)."""
    log_t = vec[1]
    for r in range(nb):
        log_t[r] = log1p_nonnegative(rest[r])
    for j in range(zs.shape[0]):
        for r in range(nb):
            lp[j, r] = zs[j, r] - log_t[r]


@njit(**JIT_PER_BLOCK)
def cross_entropy_loss_core(p, q, zs, rest, y, w, wbar, params, loss, nb, lp, vec):
    log_probabilities(zs, rest, lp, nb, vec)
    for r in range(nb):
        loss[r] = 0.0
    for j in range(p.shape[0]):
        for r in range(nb):
            wy = w[j, r] * y[j, r]
            loss[r] -= wy * lp[j, r] if wy != 0.0 else 0.0


@njit(**JIT_PER_BLOCK)
def brier_loss_core(p, q, zs, rest, y, w, wbar, params, loss, nb, lp, vec):
    for r in range(nb):
        loss[r] = 0.0
    for j in range(p.shape[0]):
        for r in range(nb):
            d = p[j, r] - y[j, r]
            loss[r] += w[j, r] * d * d


@njit(inline="always", **JIT)
def focal_loss_terms(q, lp, y, w, gamma, loss, nb):
    for r in range(nb):
        loss[r] = 0.0
    for j in range(q.shape[0]):
        for r in range(nb):
            wy = w[j, r] * y[j, r]
            loss[r] -= wy * power(q[j, r], gamma) * lp[j, r] if wy != 0.0 else 0.0


@njit(**JIT_PER_BLOCK)
def focal_loss_core(p, q, zs, rest, y, w, wbar, params, loss, nb, lp, vec):
    log_probabilities(zs, rest, lp, nb, vec)
    gamma = params[0]
    if gamma == 2.0:  # a literal: power() folds and the loop vectorises
        focal_loss_terms(q, lp, y, w, 2.0, loss, nb)
    else:
        focal_loss_terms(q, lp, y, w, gamma, loss, nb)


@njit(**JIT_PER_BLOCK)
def ranked_probability_loss_core(p, q, zs, rest, y, w, wbar, params, loss, nb, lp, vec):
    cp = vec[1]
    cy = vec[2]
    for r in range(nb):
        loss[r] = 0.0
        cp[r] = 0.0
        cy[r] = 0.0
    k = p.shape[0]
    for j in range(k - 1):
        for r in range(nb):
            cp[r] += p[j, r]
            cy[r] += y[j, r]
            d = cp[r] - cy[r]
            loss[r] += d * d
    for r in range(nb):
        loss[r] *= wbar[r] / (k - 1)


@njit(**JIT_PER_BLOCK)
def spherical_loss_core(p, q, zs, rest, y, w, wbar, params, loss, nb, lp, vec):
    n2 = vec[1]
    for r in range(nb):
        loss[r] = 0.0
        n2[r] = 0.0
    for j in range(p.shape[0]):
        for r in range(nb):
            n2[r] += p[j, r] * p[j, r]
            loss[r] += y[j, r] * p[j, r]
    for r in range(nb):
        loss[r] = wbar[r] * (1.0 - loss[r] / math.sqrt(n2[r]))
