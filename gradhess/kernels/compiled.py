r"""Fused compiled kernels (numba): every objective and Hessian strategy in one pass.

The NumPy kernels in :mod:`gradhess.kernels.reference` are the definition and
the oracle; this module computes the same numbers (tests compare them to
1e-12 in float64) without temporaries, in parallel over rows, reading margins
and writing gradients and Hessians in whatever dtype (float32 or float64) and
memory order the caller's arrays have, so an engine adapter can hand over its
own buffers.  Batches are split over threads (:func:`run`); the kernels
release the GIL.

Structure: one *core* per objective computes the gradient and the raw
Hessian of a single row from the row's probabilities ``p``, complements
``q = 1 - p`` and log-probabilities ``lp`` (all in float64), calling the
shared building blocks below (``gauss_newton_diag``, ``majorizer_diag``,
``sum_others``); the row drivers (softmax link, sigmoid link) are generated
once (:func:`softmax_rows`, :func:`binary_rows`, :func:`one_row`) and
instantiated per core by a one-line function, so the loop over rows, the label forms (class indices or
probability rows, label smoothing), the weight forms (none, per row, per
cell), the clip floor, the ``"constant"`` strategy and ``hessian_scale`` are
written once for all objectives.

The exponentials of a row are computed once by a polynomial ``exp``
(:func:`exp_nonpositive`, relative error below 5e-16 on the arguments a
softmax produces) that the compiler vectorises, and reused for ``p``, ``q``
and ``lp``.

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

    @njit(inline="always", fastmath=True, **_JIT)
    def _exp_row(z, m, e):
        for j in range(z.shape[0]):
            e[j] = exp_nonpositive(z[j] - m)

    @njit(inline="always", **_JIT)
    def softmax_parts_row(z, p, q, lp):
        """``p``, ``q = 1 - p``, ``lp = log p`` of one row (see
        ``reference.softmax_parts``); returns the argmax."""
        k = z.shape[0]
        a = 0
        m = z[0]
        for j in range(1, k):
            if z[j] > m:
                m = z[j]
                a = j
        _exp_row(z, m, p)
        rest = 0.0
        for j in range(k):
            if j != a:
                rest += p[j]
        p[a] = 1.0
        t = 1.0 + rest
        inv = 1.0 / t
        log_t = math.log1p(rest)
        for j in range(k):
            lp[j] = z[j] - m - log_t
            p[j] *= inv
            q[j] = 1.0 - p[j]
        q[a] = rest * inv
        lp[a] = -log_t
        return a

    # ------------------------------------------------------------------ building blocks
    @njit(inline="always", **_JIT)
    def sum_others(x, a, out):
        """``out_l = sum_{m != l} x_m``, an explicit sum for the argmax ``a``."""
        total = 0.0
        other = 0.0
        for j in range(x.shape[0]):
            total += x[j]
            if j != a:
                other += x[j]
        for j in range(x.shape[0]):
            out[j] = max(total - x[j], 0.0)
        out[a] = max(other, 0.0)

    @njit(inline="always", **_JIT)
    def gauss_newton_diag(p, u, uq2, a, h, work):
        """``h_l = u_l q_l^2 p_l + p_l^2 sum_{m != l} u_m p_m`` (``G = J^T diag(u / p) J``)."""
        k = p.shape[0]
        for j in range(k):
            work[j] = u[j] * p[j]
        sum_others(work[:k], a, h)
        for j in range(k):
            h[j] = uq2[j] * p[j] + p[j] * p[j] * h[j]

    @njit(inline="always", **_JIT)
    def majorizer_diag(p, q, u, uq2, a, uniform, h, work):
        """Row sums of ``|G|``: ``G_ll + sum_{m != l} p_l p_m |c - u_l - u_m|``."""
        k = p.shape[0]
        gauss_newton_diag(p, u, uq2, a, h, work)
        if uniform:
            for j in range(k):
                h[j] += u[j] * p[j] * q[j]
            return
        c = 0.0
        ca = 0.0
        for j in range(k):
            c += u[j] * p[j]
            if j != a:
                ca += u[j] * p[j]
        ca -= u[a] * q[a]
        for l in range(k):  # noqa: E741
            off = 0.0
            for m in range(k):
                if m == l:
                    continue
                if l == a:
                    d = ca - u[m]
                elif m == a:
                    d = ca - u[l]
                else:
                    d = c - u[l] - u[m]
                off += p[m] * abs(d)
            h[l] += p[l] * off

    # ------------------------------------------------------------------ objective cores
    # core(p, q, lp, a, y, w, uniform, params, strategy, g, h, work): strategy is 0 (exact),
    # 1 (gauss_newton) or 2 (majorizer); work is a (6, K + 1) scratch matrix.
    @njit(inline="always", **_JIT)
    def cross_entropy_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, work):
        k = p.shape[0]
        s = 0.0
        for j in range(k):
            s += w[j] * y[j]
        for j in range(k):
            g[j] = s * p[j] - w[j] * y[j]
        if strategy == 0:
            for j in range(k):
                h[j] = s * p[j] * q[j]
            return
        uq2 = work[1, :k]
        for j in range(k):
            uq2[j] = w[j] * q[j] * q[j]
        if strategy == 1:
            gauss_newton_diag(p, w, uq2, a, h, work[0])
        else:
            majorizer_diag(p, q, w, uq2, a, uniform, h, work[0])

    @njit(inline="always", **_JIT)
    def brier_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, work):
        k = p.shape[0]
        rbar = 0.0
        for j in range(k):
            rbar += p[j] * 2.0 * w[j] * (p[j] - y[j])
        u = work[1, :k]
        uq2 = work[2, :k]
        for j in range(k):
            g[j] = p[j] * (2.0 * w[j] * (p[j] - y[j]) - rbar)
            u[j] = 2.0 * w[j] * p[j]
            uq2[j] = u[j] * q[j] * q[j]
        if strategy == 2:
            majorizer_diag(p, q, u, uq2, a, False, h, work[0])
            return
        gauss_newton_diag(p, u, uq2, a, h, work[0])
        if strategy == 0:
            for j in range(k):
                h[j] += (q[j] - p[j]) * g[j]

    _FOCAL_TINY = 1e-300

    @njit(inline="always", **_JIT)
    def focal_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, work):
        k = p.shape[0]
        gamma = params[0]
        u = work[1, :k]      # w v
        uq2 = work[2, :k]    # w v q^2
        wt = work[3, :k]     # w y t
        total = 0.0
        for j in range(k):
            pj, qj = p[j], q[j]
            phi = lp[j] / qj if qj > 0.0 else -1.0
            qg = qj ** gamma
            t = qg * (gamma * pj * phi - 1.0)
            bracket = gamma * pj * (2.0 + (1.0 - gamma) * pj * phi)
            v = qg + (bracket * qj ** (gamma - 1.0) if qj >= _FOCAL_TINY else 0.0)
            u[j] = w[j] * v
            uq2[j] = w[j] * (bracket * qj ** (gamma + 1.0) + qg * qj * qj)
            wt[j] = w[j] * y[j] * t
            total += wt[j]
        for j in range(k):
            g[j] = wt[j] - p[j] * total
        if strategy == 0:
            wyv = work[4, :k]
            for j in range(k):
                wyv[j] = y[j] * u[j]
            sum_others(wyv, a, h)
            for j in range(k):
                h[j] = y[j] * uq2[j] + p[j] * p[j] * h[j] + (q[j] - p[j]) * g[j]
        elif strategy == 1:
            gauss_newton_diag(p, u, uq2, a, h, work[0])
        else:
            majorizer_diag(p, q, u, uq2, a, False, h, work[0])

    @njit(inline="always", **_JIT)
    def ranked_probability_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, work):
        k = p.shape[0]
        scale = 2.0 * w[0] / (k - 1)
        cp = work[1]   # P_k, k < K - 1
        up = work[2]   # U_k = sum_{j > k} p_j
        pp = work[3]   # sum_{k < l} P_k^2            (l = 0..K-1)
        uu = work[4]   # sum_{k >= l, k < K-1} U_k^2  (l = 0..K-1)
        r = work[5]
        acc = 0.0
        yacc = 0.0
        for j in range(k - 1):
            acc += p[j]
            yacc += y[j]
            cp[j] = acc
            r[j] = acc - yacc  # d_j, turned into suffix sums below
        acc = 0.0
        for j in range(k - 1, 0, -1):
            acc += p[j]
            up[j - 1] = acc
        r[k - 1] = 0.0
        for j in range(k - 2, -1, -1):
            r[j] += r[j + 1]
        rbar = 0.0
        for j in range(k):
            r[j] *= scale
            rbar += p[j] * r[j]
        for j in range(k):
            g[j] = p[j] * (r[j] - rbar)
        pp[0] = 0.0
        for j in range(1, k):
            pp[j] = pp[j - 1] + cp[j - 1] * cp[j - 1]
        uu[k - 1] = 0.0
        for j in range(k - 2, -1, -1):
            uu[j] = uu[j + 1] + up[j] * up[j]
        if strategy != 2:
            for j in range(k):
                h[j] = scale * p[j] * p[j] * (pp[j] + uu[j])
            if strategy == 0:
                for j in range(k):
                    h[j] += (q[j] - p[j]) * g[j]
            return
        # majorizer: G_lm = scale p_l p_m (pp[lo] - (pu[hi] - pu[lo]) + uu[hi]),
        # pu[l] = sum_{k < l} P_k U_k; r is free again and holds pu.
        pu = r
        pu[0] = 0.0
        for j in range(1, k):
            pu[j] = pu[j - 1] + cp[j - 1] * up[j - 1]
        for l in range(k):  # noqa: E741
            acc = 0.0
            for m in range(k):
                lo = min(l, m)
                hi = max(l, m)
                acc += p[m] * abs(pp[lo] - (pu[hi] - pu[lo]) + uu[hi])
            h[l] = scale * p[l] * acc

    @njit(inline="always", **_JIT)
    def spherical_core(p, q, lp, a, y, w, uniform, params, strategy, g, h, work):
        k = p.shape[0]
        wr = w[0]
        n2 = 0.0
        s = 0.0
        for j in range(k):
            n2 += p[j] * p[j]
            s += y[j] * p[j]
        nn = math.sqrt(n2)
        for j in range(k):
            g[j] = wr * p[j] * (s * p[j] / n2 - y[j]) / nn
        if strategy == 0:
            for j in range(k):
                b = wr * (2.0 * y[j] * p[j] + s - 3.0 * s * p[j] * p[j] / n2) / (n2 * nn)
                h[j] = p[j] * p[j] * b + g[j]
            return
        sq = work[1, :k]
        for j in range(k):
            sq[j] = p[j] * p[j]
        sum_others(sq, a, h)
        factor = 2.0 if strategy == 2 else 1.0
        for j in range(k):
            h[j] = factor * wr * p[j] * p[j] * h[j] / (n2 * nn)

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
        return bracket * qj ** (gamma + 1.0) + qj ** gamma * qj * qj

    @njit(inline="always", **_JIT)
    def binary_focal_core(z, y, w, params, strategy):
        gamma = params[0]
        a, b, la, lb = _sigmoid_parts(z)
        ag, bg = a ** gamma, b ** gamma
        g = w * (y * bg * (gamma * a * la - b) + (1.0 - y) * ag * (a - gamma * b * lb))
        if strategy == 0:
            h = w * (y * a * bg * (gamma * la * (b - gamma * a) + (2.0 * gamma + 1.0) * b)
                     + (1.0 - y) * b * ag * (gamma * lb * (a - gamma * b) + (2.0 * gamma + 1.0) * a))
        else:
            h = w * (a * _focal_vq2(a, b, la, gamma) + b * _focal_vq2(b, a, lb, gamma))
        return g, h

    # ------------------------------------------------------------------ drivers
    @njit(inline="always", **_JIT)
    def softmax_rows(core, z, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out,
                     start, stop):
        """Rows ``start:stop`` of a softmax batch (see :func:`run`); returns the number of
        rows with a non-finite margin (their outputs are not written)."""
        k = z.shape[1]
        hard = yidx.shape[0] > 0
        kw = w.shape[1] if w.shape[0] > 0 else 0
        uniform = kw <= 1
        base = 0 if strategy >= 3 else strategy
        bad = 0
        zr = np.empty(k)
        p = np.empty(k)
        q = np.empty(k)
        lp = np.empty(k)
        yr = np.empty(k)
        wr = np.empty(k)
        g = np.empty(k)
        h = np.empty(k)
        work = np.empty((6, k + 1))
        for i in range(start, stop):
            finite = True
            for j in range(k):
                zr[j] = z[i, j]
                if not (zr[j] - zr[j] == 0.0):
                    finite = False
            if not finite:
                bad += 1
                continue
            a = softmax_parts_row(zr, p, q, lp)
            if hard:
                for j in range(k):
                    yr[j] = alpha / k
                yr[yidx[i]] += 1.0 - alpha
            else:
                for j in range(k):
                    yr[j] = (1.0 - alpha) * y[i, j] + alpha / k
            wbar = 1.0
            if kw == 0:
                for j in range(k):
                    wr[j] = 1.0
            elif kw == 1:
                wbar = w[i, 0]
                for j in range(k):
                    wr[j] = wbar
            else:
                wbar = 0.0
                for j in range(k):
                    wr[j] = w[i, j]
                    wbar += wr[j]
                wbar /= k
            core(p, q, lp, a, yr, wr, uniform, params, base, g, h, work)
            for j in range(k):
                hj = h[j]
                if strategy == 3 and hj < floor * wbar:
                    hj = floor * wbar
                elif strategy == 4:
                    hj = wr[j]
                g_out[i, j] = g[j]
                h_out[i, j] = hj * scale
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
        """One row with a scalar weight, for engines that call the objective per object."""
        k = z.shape[0]
        p = np.empty(k)
        q = np.empty(k)
        lp = np.empty(k)
        wr = np.full(k, w)
        work = np.empty((6, k + 1))
        a = softmax_parts_row(z, p, q, lp)
        core(p, q, lp, a, y, wr, True, params, 0 if strategy >= 3 else strategy, g, h, work)
        for j in range(k):
            if strategy == 3 and h[j] < floor * w:
                h[j] = floor * w
            elif strategy == 4:
                h[j] = w
            h[j] *= scale

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
    global _POOL
    kernel = BATCH_KERNELS[name]
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
