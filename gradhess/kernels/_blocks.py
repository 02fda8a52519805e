"""A block of rows in and out: the caller's margins, labels and weights read into
class-major ``(K, B)`` blocks with the block's softmax (:func:`load_block`, for the
gradient and the loss drivers alike), and large outputs written back by non-temporal
stores (:func:`stream_rows`).

Every softmax quantity of a block is a ``(K, B)`` array, class-major, so that the inner
loops run over the ``B`` rows of a class, long enough to vectorise; ``nb`` is the number of
rows in use.  Blocks are addressed through views of the caller's arrays: indices from 0
need no negative-index wraparound, which would turn loads into gathers.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._numerics import JIT, JIT_PER_BLOCK, exp_block, store_streaming

#: Rows per block.
BLOCK_ROWS = 128


@njit(inline="always", **JIT)
def any_nonzero(x):
    """Whether a (short) array has an entry other than 0."""
    for v in x:
        if v != 0.0:
            return True
    return False


@njit(inline="always", **JIT)
def softmax_parts(e, a, p, q, rest, inv, nb):
    """``p`` and ``q = 1 - p`` of a block from ``e = exp(z - max z)``; ``rest`` gets the
    sum of ``e`` over the classes other than the argmax ``a``, from which ``q`` of the
    argmax is taken (see ``reference.softmax_parts``)."""
    k = e.shape[0]
    for r in range(nb):
        rest[r] = 0.0
    for j in range(k):
        for r in range(nb):
            rest[r] += e[j, r] if j != a[r] else 0.0
    for r in range(nb):
        inv[r] = 1.0 / (1.0 + rest[r])
    for j in range(k):
        for r in range(nb):
            p[j, r] = e[j, r] * inv[r]
            q[j, r] = 1.0 - p[j, r]
    for r in range(nb):
        p[a[r], r] = inv[r]
        q[a[r], r] = rest[r] * inv[r]


@njit(inline="always", **JIT)
def block_scratch(blk, yidx, w, alpha):
    """One thread's arrays for :func:`load_block`, as a tuple ``(s_flat, e_flat, s, e, p, q,
    yb, wb, wbar, m, rest, inv, check, a, ylab)``: ``p, q, yb, wb`` are ``blk[0:4]`` (the
    caller's ``(n, K, BLOCK_ROWS)`` blocks; the caller's own follow).  What stays the same
    from block to block is filled here, once: the unlabelled cells of class-index labels
    (``alpha / K``) and unit weights."""
    k = blk.shape[1]
    bsz = BLOCK_ROWS
    s_flat = np.zeros(k * bsz)
    e_flat = np.zeros(k * bsz)
    yb, wb = blk[2], blk[3]
    wbar = np.empty(bsz)
    if yidx.shape[0] > 0:
        yb[:] = alpha / k
    if w.shape[0] == 0:
        wb[:] = 1.0
        wbar[:] = 1.0
    return (s_flat, e_flat, s_flat.reshape((k, bsz)), e_flat.reshape((k, bsz)), blk[0], blk[1],
            yb, wb, wbar, np.empty(bsz), np.empty(bsz), np.empty(bsz), np.empty(bsz),
            np.zeros(bsz, np.int64), np.zeros(bsz, np.int64))


@njit(**JIT_PER_BLOCK)
def load_block(z, offset, y, yidx, w, alpha, b0, nb, scratch):
    """Rows ``b0:b0 + nb`` into the class-major block of ``scratch`` (:func:`block_scratch`):
    the shifted margins ``s = z + offset - max`` (rows with a non-finite margin zeroed),
    ``e = exp(s)``, ``p``, ``q``, the argmax ``a``, the labels ``yb`` (smoothed by
    ``alpha``), the weights ``wb`` and their row means ``wbar``; returns the number of rows
    with a non-finite margin.  One function for the gradient and the loss drivers, compiled
    once for both."""
    s_flat, e_flat, s, e, p, q, yb, wb, wbar, m, rest, inv, check, a, ylab = scratch
    k = z.shape[1]
    kw = w.shape[1] if w.shape[0] > 0 else 0
    # a column-major array is read a class (a contiguous column slice) at a time
    if z.strides[0] < z.strides[1]:
        for j in range(k):
            zj = z[b0:b0 + nb, j]
            oj = offset[j]
            for r in range(nb):
                s[j, r] = zj[r] + oj
    elif any_nonzero(offset):
        zv = z[b0:b0 + nb]
        for r in range(nb):
            for j in range(k):
                s[j, r] = zv[r, j] + offset[j]
    else:  # no offset (XGBoost's path): the add would cost the transposing read time
        zv = z[b0:b0 + nb]
        for r in range(nb):
            for j in range(k):
                s[j, r] = zv[r, j]
    # the row maxima and argmax, and check[r]: 0 for a finite row, NaN otherwise (inf * 0
    # is NaN), in one pass; the stores unconditional (blends), so that the loop vectorises
    for r in range(nb):
        m[r] = s[0, r]
        a[r] = 0
        check[r] = s[0, r] * 0.0
    for j in range(1, k):
        for r in range(nb):
            sj = s[j, r]
            check[r] += sj * 0.0
            big = sj > m[r]
            m[r] = sj if big else m[r]
            a[r] = j if big else a[r]
    nbad = 0
    for r in range(nb):
        nbad += check[r] != 0.0
    if nbad:
        for r in range(nb):
            if check[r] != 0.0:
                m[r] = 0.0
                a[r] = 0
                for j in range(k):
                    s[j, r] = 0.0
    for j in range(k):
        for r in range(nb):
            s[j, r] -= m[r]
    exp_block(s_flat, e_flat)
    softmax_parts(e, a, p, q, rest, inv, nb)
    if yidx.shape[0] > 0:
        # yb holds alpha / K but in the labelled cells (no core writes it): reset the
        # previous block's (ylab; rows past a short block's end are reset twice, harmlessly)
        yiv = yidx[b0:b0 + nb]
        for r in range(ylab.shape[0]):
            yb[ylab[r], r] = alpha / k
        for r in range(nb):
            yb[yiv[r], r] += 1.0 - alpha
            ylab[r] = yiv[r]
    else:
        yv = y[b0:b0 + nb]
        for r in range(nb):
            for j in range(k):
                yb[j, r] = (1.0 - alpha) * yv[r, j] + alpha / k
    if kw == 1:
        wv = w[b0:b0 + nb]
        for r in range(nb):
            wbar[r] = wv[r, 0]
        for j in range(k):
            for r in range(nb):
                wb[j, r] = wbar[r]
    elif kw > 1:
        wv = w[b0:b0 + nb]
        for r in range(nb):
            acc = 0.0
            for j in range(k):
                wb[j, r] = wv[r, j]
                acc += wb[j, r]
            wbar[r] = acc / k
    return nbad


@njit(**JIT_PER_BLOCK)
def stream_rows(out, x, lo, floored, b0, nb, factor):
    """Rows ``b0:b0 + nb`` of ``out`` from the class-major block ``x``, times ``factor`` and,
    if ``floored``, each cell first floored at its row's ``lo[r]`` (the ``"clip"`` Hessian),
    by non-temporal stores in ``out``'s memory order: one contiguous run for a row-major
    ``out``, one per class for a column-major one.  Compiled once for all drivers (each
    inlined copy of the floored stores adds to a driver's compile time)."""
    k = x.shape[0]
    if out.strides[0] < out.strides[1]:
        if floored:
            for j in range(k):
                for r in range(nb):
                    store_streaming(out, (b0 + r, j), max(x[j, r], lo[r]) * factor)
        else:
            for j in range(k):
                for r in range(nb):
                    store_streaming(out, (b0 + r, j), x[j, r] * factor)
    elif floored:
        for r in range(nb):
            for j in range(k):
                store_streaming(out, (b0 + r, j), max(x[j, r], lo[r]) * factor)
    else:
        for r in range(nb):
            for j in range(k):
                store_streaming(out, (b0 + r, j), x[j, r] * factor)
