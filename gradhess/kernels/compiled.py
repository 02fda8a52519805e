r"""Fused compiled kernels (numba): every objective and Hessian strategy in one pass.

The NumPy kernels in :mod:`gradhess.kernels.reference` are the definition and
the oracle; this module computes the same numbers (tests compare them to
1e-12 in float64) without temporaries, in parallel over rows, reading margins
and writing gradients and Hessians in whatever dtype (float32 or float64) and
memory order the caller's arrays have, so an engine adapter can hand over its
own buffers.  Batches are split over threads (:func:`run`); the kernels
release the GIL.

Structure: one *core* per objective computes the gradient and the raw
Hessian of a block of rows, held class-major as ``(K, B)`` arrays so that
every inner loop runs over rows and vectorises, from the block's
probabilities ``p``, complements ``q = 1 - p`` and log-probabilities ``lp``
(all in float64), calling the shared building blocks (``sum_others``,
``gauss_newton_diag``, ``majorizer_diag``).  The drivers are written once
(:func:`softmax_rows`, :func:`binary_rows`, :func:`one_row` for engines that
call the objective per object) and instantiated per core by a one-line
function, so the loop over rows, the label forms (class indices or
probability rows, label smoothing), the weight forms (none, per row, per
cell), the clip floor, the ``"constant"`` strategy and ``hessian_scale`` are
written once for all objectives.  Adding an objective takes one core, one
line per driver and one entry in :data:`BATCH_KERNELS` (and
:data:`ROW_KERNELS`).

The exponentials of a block are computed once, in one contiguous pass, by a
polynomial ``exp`` (:func:`exp_nonpositive`, relative error below 5e-16 on
the arguments a softmax produces) that the compiler vectorises, and reused
for ``p``, ``q`` and ``lp``.

Compiled functions are cached on disk (numba ``cache=True``), so only the
first import on a machine pays the compile time (reported by
``gradhess bench``).  Without numba, :data:`AVAILABLE` is False and the
objectives use the NumPy kernels.
"""

from __future__ import annotations

import math

import numpy as np

try:  # pragma: no cover - exercised by whichever environment runs the tests

    from numba import njit, types
    from numba.extending import intrinsic

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

#: Hessian strategy name -> the integer code the kernels take.
STRATEGY_CODES = {"exact": 0, "gauss_newton": 1, "majorizer": 2, "clip": 3, "constant": 4}

if AVAILABLE:
    _JIT = dict(cache=True, nogil=True)

    @intrinsic
    def _bits_to_float(typingctx, x):
        """Reinterpret an int64 as the float64 with the same bits (for ``2**k``)."""
        sig = types.float64(types.int64)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(types.float64))

        return sig, codegen

    _LOG2E = 1.4426950408889634
    _LN2_HI = 6.93147180369123816490e-01
    _LN2_LO = 1.90821492927058770002e-10

    @njit(inline="always", fastmath=True, **_JIT)
    def exp_nonpositive(x):
        """``exp(x)`` for ``x <= 0``: Cody-Waite reduction, degree-12 Taylor polynomial,
        scaling by ``2**k`` in two halves (so subnormal results are right).  No calls,
        so a loop of it vectorises; 0 below -745.2."""
        x = max(x, -746.0)
        kf = math.floor(x * _LOG2E + 0.5)
        r = x - kf * _LN2_HI - kf * _LN2_LO
        poly = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6 + r * (1.0 / 24 + r * (
            1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (
                1.0 / 362880 + r * (1.0 / 3628800 + r * (1.0 / 39916800 + r * (
                    1.0 / 479001600))))))))))))
        k = np.int64(kf)
        k1 = k >> 1
        out = poly * _bits_to_float((k1 + 1023) << 52) * _bits_to_float((k - k1 + 1023) << 52)
        return out if x > -745.2 else 0.0

    # ------------------------------------------------------------------ building blocks
    # Every softmax quantity of a block of rows is a (K, B) array, class-major: the
    # inner loops run over the B rows of a class, long enough to vectorise.  ``nb`` is
    # the number of rows in use.  ``vec`` is (8, B) scratch, ``work`` (8, K + 1, B).
    @njit(inline="always", **_JIT)
    def sum_others(x, a, out, nb, vec):
        """``out[l, r] = sum_{m != l} x[m, r]``, an explicit sum for the argmax ``a[r]``."""
        k = x.shape[0]
        total = vec[6]
        other = vec[7]
        for r in range(nb):
            total[r] = 0.0
            other[r] = 0.0
        for j in range(k):
            for r in range(nb):
                total[r] += x[j, r]
                if j != a[r]:
                    other[r] += x[j, r]
        for j in range(k):
            for r in range(nb):
                out[j, r] = max(total[r] - x[j, r], 0.0)
        for r in range(nb):
            out[a[r], r] = max(other[r], 0.0)

    @njit(inline="always", **_JIT)
    def gauss_newton_diag(p, u, uq2, a, h, nb, work, vec):
        """``h_l = u_l q_l^2 p_l + p_l^2 sum_{m != l} u_m p_m`` (``G = J^T diag(u / p) J``)."""
        k = p.shape[0]
        up = work[7, :k]
        for j in range(k):
            for r in range(nb):
                up[j, r] = u[j, r] * p[j, r]
        sum_others(up, a, h, nb, vec)
        for j in range(k):
            for r in range(nb):
                h[j, r] = uq2[j, r] * p[j, r] + p[j, r] * p[j, r] * h[j, r]

    @njit(inline="always", **_JIT)
    def majorizer_diag(p, q, u, uq2, a, uniform, h, nb, work, vec):
        """Row sums of ``|G|``: ``G_ll + sum_{m != l} p_l p_m |c - u_l - u_m|``."""
        k = p.shape[0]
        gauss_newton_diag(p, u, uq2, a, h, nb, work, vec)
        if uniform:
            for j in range(k):
                for r in range(nb):
                    h[j, r] += u[j, r] * p[j, r] * q[j, r]
            return
        c = vec[4]
        ca = vec[5]
        for r in range(nb):
            c[r] = 0.0
            ca[r] = 0.0
        for j in range(k):
            for r in range(nb):
                c[r] += u[j, r] * p[j, r]
                if j != a[r]:
                    ca[r] += u[j, r] * p[j, r]
        for r in range(nb):
            ca[r] -= u[a[r], r] * q[a[r], r]
        for l in range(k):  # noqa: E741
            for m in range(k):
                if m == l:
                    continue
                for r in range(nb):
                    if l == a[r]:
                        d = ca[r] - u[m, r]
                    elif m == a[r]:
                        d = ca[r] - u[l, r]
                    else:
                        d = c[r] - u[l, r] - u[m, r]
                    h[l, r] += p[l, r] * p[m, r] * abs(d)

    # ------------------------------------------------------------------ objective cores
    # core(p, q, lp, a, y, w, uniform, params, strategy, g, h, nb, work, vec) on (K, B)
    # blocks; strategy is 0 (exact), 1 (gauss_newton) or 2 (majorizer).
    @njit(inline="always", **_JIT)
    def cross_entropy_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
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
        if strategy == 0:
            for j in range(k):
                for r in range(nb):
                    h[j, r] = s[r] * p[j, r] * q[j, r]
            return
        uq2 = work[1, :k]
        for j in range(k):
            for r in range(nb):
                uq2[j, r] = w[j, r] * q[j, r] * q[j, r]
        if strategy == 1:
            gauss_newton_diag(p, w, uq2, a, h, nb, work, vec)
        else:
            majorizer_diag(p, q, w, uq2, a, uniform, h, nb, work, vec)

    @njit(inline="always", **_JIT)
    def brier_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
        k = p.shape[0]
        rbar = vec[0]
        u = work[1, :k]
        uq2 = work[2, :k]
        for r in range(nb):
            rbar[r] = 0.0
        for j in range(k):
            for r in range(nb):
                rbar[r] += p[j, r] * 2.0 * w[j, r] * (p[j, r] - y[j, r])
        for j in range(k):
            for r in range(nb):
                g[j, r] = p[j, r] * (2.0 * w[j, r] * (p[j, r] - y[j, r]) - rbar[r])
                u[j, r] = 2.0 * w[j, r] * p[j, r]
                uq2[j, r] = u[j, r] * q[j, r] * q[j, r]
        if strategy == 2:
            majorizer_diag(p, q, u, uq2, a, False, h, nb, work, vec)
            return
        gauss_newton_diag(p, u, uq2, a, h, nb, work, vec)
        if strategy == 0:
            for j in range(k):
                for r in range(nb):
                    h[j, r] += (q[j, r] - p[j, r]) * g[j, r]

    _FOCAL_TINY = 1e-300

    @njit(inline="always", **_JIT)
    def power(x, gamma):
        """``x ** gamma``, by multiplication for the usual integer focusing parameters."""
        if gamma == 2.0:
            return x * x
        if gamma == 1.0:
            return x
        if gamma == 0.0:
            return 1.0
        if gamma == 3.0:
            return x * x * x
        return x ** gamma

    @njit(inline="always", **_JIT)
    def focal_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
        k = p.shape[0]
        gamma = params[0]
        u = work[1, :k]      # w v
        uq2 = work[2, :k]    # w v q^2
        wt = work[3, :k]     # w y t
        total = vec[0]
        for r in range(nb):
            total[r] = 0.0
        for j in range(k):
            for r in range(nb):
                pj, qj = p[j, r], q[j, r]
                phi = lp[j, r] / qj if qj > 0.0 else -1.0
                qg = power(qj, gamma)
                t = qg * (gamma * pj * phi - 1.0)
                bracket = gamma * pj * (2.0 + (1.0 - gamma) * pj * phi)
                v = qg + (bracket * (qg / qj) if qj >= _FOCAL_TINY else 0.0)
                u[j, r] = w[j, r] * v
                uq2[j, r] = w[j, r] * (bracket * qg * qj + qg * qj * qj)
                wt[j, r] = w[j, r] * y[j, r] * t
                total[r] += wt[j, r]
        for j in range(k):
            for r in range(nb):
                g[j, r] = wt[j, r] - p[j, r] * total[r]
        if strategy == 0:
            wyv = work[4, :k]
            for j in range(k):
                for r in range(nb):
                    wyv[j, r] = y[j, r] * u[j, r]
            sum_others(wyv, a, h, nb, vec)
            for j in range(k):
                for r in range(nb):
                    h[j, r] = (y[j, r] * uq2[j, r] + p[j, r] * p[j, r] * h[j, r]
                               + (q[j, r] - p[j, r]) * g[j, r])
        elif strategy == 1:
            gauss_newton_diag(p, u, uq2, a, h, nb, work, vec)
        else:
            majorizer_diag(p, q, u, uq2, a, False, h, nb, work, vec)

    @njit(inline="always", **_JIT)
    def ranked_probability_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, nb, work,
                                vec):
        k = p.shape[0]
        scale = 2.0 / (k - 1)
        cp = work[1]   # P_j, j < K - 1
        up = work[2]   # U_j = sum_{i > j} p_i
        pp = work[3]   # sum_{j < l} P_j^2            (l = 0..K-1)
        uu = work[4]   # sum_{j >= l, j < K-1} U_j^2  (l = 0..K-1)
        rr = work[5]   # r_l
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
        for r in range(nb):
            pp[0, r] = 0.0
            uu[k - 1, r] = 0.0
        for j in range(1, k):
            for r in range(nb):
                pp[j, r] = pp[j - 1, r] + cp[j - 1, r] * cp[j - 1, r]
        for j in range(k - 2, -1, -1):
            for r in range(nb):
                uu[j, r] = uu[j + 1, r] + up[j, r] * up[j, r]
        if strategy != 2:
            for j in range(k):
                for r in range(nb):
                    h[j, r] = scale * w[j, r] * p[j, r] * p[j, r] * (pp[j, r] + uu[j, r])
            if strategy == 0:
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
        for l in range(k):  # noqa: E741
            for r in range(nb):
                h[l, r] = 0.0
            for m in range(k):
                lo = min(l, m)
                hi = max(l, m)
                for r in range(nb):
                    h[l, r] += p[m, r] * abs(pp[lo, r] - (pu[hi, r] - pu[lo, r]) + uu[hi, r])
            for r in range(nb):
                h[l, r] *= scale * w[l, r] * p[l, r]

    @njit(inline="always", **_JIT)
    def spherical_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
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
        if strategy == 0:
            for j in range(k):
                for r in range(nb):
                    b = w[j, r] * (2.0 * y[j, r] * p[j, r] + s[r]
                                   - 3.0 * s[r] * p[j, r] * p[j, r] * inv2[r]) * inv3[r]
                    h[j, r] = p[j, r] * p[j, r] * b + g[j, r]
            return
        sq = work[1, :k]
        for j in range(k):
            for r in range(nb):
                sq[j, r] = p[j, r] * p[j, r]
        sum_others(sq, a, h, nb, vec)
        factor = 2.0 if strategy == 2 else 1.0
        for j in range(k):
            for r in range(nb):
                h[j, r] = factor * w[j, r] * p[j, r] * p[j, r] * h[j, r] * inv3[r]

    # ------------------------------------------------------------------ binary cores
    @njit(inline="always", **_JIT)
    def _sigmoid_parts(z):
        """``(a, b, log a, log b)`` for ``a = sigmoid(z)``, ``b = 1 - a``, all stable."""
        e = math.exp(-abs(z))
        if z >= 0:
            a, b = 1.0 / (1.0 + e), e / (1.0 + e)
        else:
            a, b = e / (1.0 + e), 1.0 / (1.0 + e)
        sp = math.log1p(e)
        la = -(sp + max(-z, 0.0))
        lb = -(sp + max(z, 0.0))
        return a, b, la, lb

    @njit(inline="always", **_JIT)
    def binary_cross_entropy_core(z, y, w, params, strategy):
        a, b, la, lb = _sigmoid_parts(z)
        return w * (a - y), w * a * b

    @njit(inline="always", **_JIT)
    def binary_brier_core(z, y, w, params, strategy):
        a, b, la, lb = _sigmoid_parts(z)
        v = a * b
        g = 2.0 * w * (a - y) * v
        h = 2.0 * w * v * v
        if strategy == 0:
            h += g * (1.0 - 2.0 * a)
        return g, h

    @njit(inline="always", **_JIT)
    def _focal_vq2(pj, qj, lpj, gamma):
        phi = lpj / qj if qj > 0.0 else -1.0
        bracket = gamma * pj * (2.0 + (1.0 - gamma) * pj * phi)
        qg = power(qj, gamma)
        return bracket * qg * qj + qg * qj * qj

    @njit(inline="always", **_JIT)
    def binary_focal_core(z, y, w, params, strategy):
        gamma = params[0]
        a, b, la, lb = _sigmoid_parts(z)
        ag, bg = power(a, gamma), power(b, gamma)
        g = w * (y * bg * (gamma * a * la - b) + (1.0 - y) * ag * (a - gamma * b * lb))
        if strategy == 0:
            h = w * (y * a * bg * (gamma * la * (b - gamma * a) + (2.0 * gamma + 1.0) * b)
                     + (1.0 - y) * b * ag * (gamma * lb * (a - gamma * b) + (2.0 * gamma + 1.0) * a))
        else:
            h = w * (a * _focal_vq2(a, b, la, gamma) + b * _focal_vq2(b, a, lb, gamma))
        return g, h

    # ------------------------------------------------------------------ drivers
    #: Rows per block.
    BLOCK_ROWS = 128

    @njit(fastmath=True, **_JIT)
    def exp_block(x, e):
        """``e = exp(x)`` for ``x <= 0`` (flat, contiguous): one loop the compiler vectorises."""
        for i in range(x.shape[0]):
            e[i] = exp_nonpositive(x[i])

    @njit(inline="always", **_JIT)
    def softmax_parts(s, e, a, p, q, lp, nb, vec):
        """``p``, ``q = 1 - p``, ``lp = log p`` of a block from ``s = z - max`` and
        ``e = exp(s)`` (see ``reference.softmax_parts``)."""
        k = s.shape[0]
        rest = vec[0]
        inv = vec[1]
        log_t = vec[2]
        for r in range(nb):
            rest[r] = 0.0
        for j in range(k):
            for r in range(nb):
                if j != a[r]:
                    rest[r] += e[j, r]
        for r in range(nb):
            inv[r] = 1.0 / (1.0 + rest[r])
            log_t[r] = math.log1p(rest[r])
        for j in range(k):
            for r in range(nb):
                p[j, r] = e[j, r] * inv[r]
                q[j, r] = 1.0 - p[j, r]
                lp[j, r] = s[j, r] - log_t[r]
        for r in range(nb):
            p[a[r], r] = inv[r]
            q[a[r], r] = rest[r] * inv[r]
            lp[a[r], r] = -log_t[r]

    @njit(inline="always", **_JIT)
    def softmax_rows(core, z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out,
                     start, stop):
        """Rows ``start:stop`` of a softmax batch (see :func:`run`), in blocks of
        :data:`BLOCK_ROWS` rows held class-major; returns the number of rows with a
        non-finite margin (their outputs are not written)."""
        k = z.shape[1]
        bsz = BLOCK_ROWS
        hard = yidx.shape[0] > 0
        kw = w.shape[1] if w.shape[0] > 0 else 0
        uniform = kw <= 1
        base = 0 if strategy >= 3 else strategy
        bad = 0
        s_flat = np.zeros(k * bsz)
        e_flat = np.zeros(k * bsz)
        s = s_flat.reshape((k, bsz))
        e = e_flat.reshape((k, bsz))
        blk = np.zeros((7, k, bsz))
        p, q, lp, yb, wb, g, h = blk[0], blk[1], blk[2], blk[3], blk[4], blk[5], blk[6]
        work = np.zeros((8, k + 1, bsz))
        vec = np.zeros((8, bsz))
        m = np.empty(bsz)
        wbar = np.empty(bsz)
        a = np.zeros(bsz, np.int64)
        finite = np.empty(bsz, np.bool_)
        for b0 in range(start, stop, bsz):
            nb = min(stop, b0 + bsz) - b0
            for r in range(nb):
                i = b0 + r
                ok = True
                for j in range(k):
                    zj = np.float64(z[i, j])
                    s[j, r] = zj
                    if not (zj - zj == 0.0):
                        ok = False
                finite[r] = ok
                if not ok:
                    bad += 1
                    for j in range(k):
                        s[j, r] = 0.0
            for r in range(nb):
                m[r] = s[0, r]
                a[r] = 0
            for j in range(1, k):
                for r in range(nb):
                    if s[j, r] > m[r]:
                        m[r] = s[j, r]
                        a[r] = j
            for j in range(k):
                for r in range(nb):
                    s[j, r] -= m[r]
            exp_block(s_flat, e_flat)
            softmax_parts(s, e, a, p, q, lp, nb, vec)
            if hard:
                for j in range(k):
                    for r in range(nb):
                        yb[j, r] = alpha / k
                for r in range(nb):
                    yb[yidx[b0 + r], r] += 1.0 - alpha
            else:
                for r in range(nb):
                    for j in range(k):
                        yb[j, r] = (1.0 - alpha) * y[b0 + r, j] + alpha / k
            if kw == 0:
                for j in range(k):
                    for r in range(nb):
                        wb[j, r] = 1.0
                for r in range(nb):
                    wbar[r] = 1.0
            elif kw == 1:
                for r in range(nb):
                    wbar[r] = w[b0 + r, 0]
                for j in range(k):
                    for r in range(nb):
                        wb[j, r] = wbar[r]
            else:
                for r in range(nb):
                    acc = 0.0
                    for j in range(k):
                        wb[j, r] = w[b0 + r, j]
                        acc += wb[j, r]
                    wbar[r] = acc / k
            core(p, q, lp, a, yb, wb, uniform, params, base, g, h, nb, work, vec)
            if strategy == 3:
                for j in range(k):
                    for r in range(nb):
                        h[j, r] = max(h[j, r], floor * wbar[r])
            elif strategy == 4:
                for j in range(k):
                    for r in range(nb):
                        h[j, r] = wb[j, r]
            for r in range(nb):
                if finite[r]:
                    i = b0 + r
                    for j in range(k):
                        g_out[i, j] = g[j, r]
                        h_out[i, j] = h[j, r] * scale
        return bad

    @njit(inline="always", **_JIT)
    def binary_rows(core, z, y, w, alpha, strategy, scale, floor, params, g_out, h_out,
                    start, stop):
        """Rows ``start:stop`` of a sigmoid batch; like :func:`softmax_rows` with (n,) arrays."""
        weighted = w.shape[0] > 0
        base = 0 if strategy >= 3 else strategy
        bad = 0
        for i in range(start, stop):
            zi = np.float64(z[i])
            if not (zi - zi == 0.0):
                bad += 1
                continue
            wi = np.float64(w[i]) if weighted else 1.0
            yi = (1.0 - alpha) * y[i] + alpha / 2.0
            g, h = core(zi, yi, wi, params, base)
            if strategy == 3 and h < floor * wi:
                h = floor * wi
            elif strategy == 4:
                h = wi
            g_out[i] = g
            h_out[i] = h * scale
        return bad

    @njit(inline="always", **_JIT)
    def one_row(core, z, y, w, strategy, scale, floor, params, g, h):
        """One row with a scalar weight, for engines that call the objective per object:
        the block core on a block of one row."""
        k = z.shape[0]
        blk = np.zeros((9, k, 1))
        s, e, p, q, lp, yb, wb, gb, hb = (blk[0], blk[1], blk[2], blk[3], blk[4], blk[5],
                                          blk[6], blk[7], blk[8])
        work = np.zeros((8, k + 1, 1))
        vec = np.zeros((8, 1))
        a = np.zeros(1, np.int64)
        m = z[0]
        for j in range(k):
            if z[j] > m:
                m = z[j]
                a[0] = j
        for j in range(k):
            s[j, 0] = z[j] - m
            e[j, 0] = exp_nonpositive(s[j, 0])
            yb[j, 0] = y[j]
            wb[j, 0] = w
        softmax_parts(s, e, a, p, q, lp, 1, vec)
        core(p, q, lp, a, yb, wb, True, params, 0 if strategy >= 3 else strategy, gb, hb, 1,
             work, vec)
        for j in range(k):
            g[j] = gb[j, 0]
            hj = hb[j, 0]
            if strategy == 3 and hj < floor * w:
                hj = floor * w
            elif strategy == 4:
                hj = w
            h[j] = hj * scale

    # One line per objective and driver: top-level functions, so numba's disk cache finds them.
    @njit(**_JIT)
    def cross_entropy_rows(z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop):
        return softmax_rows(cross_entropy_core, z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop)

    @njit(**_JIT)
    def brier_rows(z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop):
        return softmax_rows(brier_core, z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop)

    @njit(**_JIT)
    def focal_rows(z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop):
        return softmax_rows(focal_core, z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop)

    @njit(**_JIT)
    def ranked_probability_rows(z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop):
        return softmax_rows(ranked_probability_core, z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop)

    @njit(**_JIT)
    def spherical_rows(z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop):
        return softmax_rows(spherical_core, z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop)

    @njit(**_JIT)
    def binary_cross_entropy_rows(z, y, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop):
        return binary_rows(binary_cross_entropy_core, z, y, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop)

    @njit(**_JIT)
    def binary_brier_rows(z, y, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop):
        return binary_rows(binary_brier_core, z, y, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop)

    @njit(**_JIT)
    def binary_focal_rows(z, y, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop):
        return binary_rows(binary_focal_core, z, y, w, alpha, strategy, scale, floor, params, g_out, h_out, start, stop)

    @njit(**_JIT)
    def cross_entropy_row(z, y, w, strategy, scale, floor, params, g, h):
        one_row(cross_entropy_core, z, y, w, strategy, scale, floor, params, g, h)

    @njit(**_JIT)
    def brier_row(z, y, w, strategy, scale, floor, params, g, h):
        one_row(brier_core, z, y, w, strategy, scale, floor, params, g, h)

    @njit(**_JIT)
    def focal_row(z, y, w, strategy, scale, floor, params, g, h):
        one_row(focal_core, z, y, w, strategy, scale, floor, params, g, h)

    @njit(**_JIT)
    def ranked_probability_row(z, y, w, strategy, scale, floor, params, g, h):
        one_row(ranked_probability_core, z, y, w, strategy, scale, floor, params, g, h)

    @njit(**_JIT)
    def spherical_row(z, y, w, strategy, scale, floor, params, g, h):
        one_row(spherical_core, z, y, w, strategy, scale, floor, params, g, h)

    #: Objective kernel name -> batch kernel over a row range.
    BATCH_KERNELS = {
        "cross_entropy": cross_entropy_rows,
        "brier": brier_rows,
        "focal": focal_rows,
        "ranked_probability": ranked_probability_rows,
        "spherical": spherical_rows,
        "binary_cross_entropy": binary_cross_entropy_rows,
        "binary_brier": binary_brier_rows,
        "binary_focal": binary_focal_rows,
    }
    #: Softmax kernel name -> one-row kernel ``(z, y, w, strategy, scale, floor, params, g, h)``.
    ROW_KERNELS = {
        "cross_entropy": cross_entropy_row,
        "brier": brier_row,
        "focal": focal_row,
        "ranked_probability": ranked_probability_row,
        "spherical": spherical_row,
    }
else:  # pragma: no cover
    BATCH_KERNELS: dict = {}
    ROW_KERNELS: dict = {}

#: Rows below which one thread does the whole batch.
_MIN_ROWS_PER_THREAD = 20_000
_POOL = None


def threads() -> int:
    """Threads a batch is split over: ``GRADHESS_NUM_THREADS`` or the CPU count."""
    import os

    env = os.environ.get("GRADHESS_NUM_THREADS")
    if env:
        return max(1, int(env))
    return os.cpu_count() or 1


def run(name: str, *args) -> int:
    """Run batch kernel ``name`` on all rows, split in contiguous ranges over :func:`threads`
    threads (the kernels release the GIL).  ``args`` are the kernel's arguments without
    ``start, stop``; returns the number of rows with non-finite margins."""
    return run_kernel(BATCH_KERNELS[name], *args)


def run_kernel(kernel, *args) -> int:
    """:func:`run` for any compiled ``kernel(*args, start, stop)`` over ``args[0]``'s rows."""
    global _POOL
    n = args[0].shape[0]
    parts = min(threads(), max(1, n // _MIN_ROWS_PER_THREAD))
    if parts == 1:
        return int(kernel(*args, 0, n))
    if _POOL is None or _POOL._max_workers < parts:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=parts, thread_name_prefix="gradhess")
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    futures = [_POOL.submit(kernel, *args, int(bounds[i]), int(bounds[i + 1]))
               for i in range(parts)]
    return int(sum(f.result() for f in futures))
