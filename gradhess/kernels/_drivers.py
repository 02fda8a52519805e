"""The drivers, written once and instantiated per core by the one-line functions of
:mod:`gradhess.kernels.compiled`: the loop over rows, the label forms (class indices or
probability rows, label smoothing), the weight forms (none, per row, per cell), the clip
floor, the ``"constant"`` strategy and ``hessian_scale``, for every objective.

:func:`softmax_rows` (gradient and Hessian of a batch's rows), :func:`softmax_loss_rows`
(their losses), :func:`binary_rows` (sigmoid objectives) and :func:`one_row` (one softmax
row, for engines that call the objective per object).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..hessians import CLIP, CONSTANT, EXACT
from ._blocks import BLOCK_ROWS, block_scratch, load_block, softmax_parts, stream_rows
from ._cores import GRADIENT_ONLY
from ._diagonals import VEC_ROWS, WORK_SLOTS
from ._numerics import JIT, exp_block, exp_nonpositive, streaming_fence


@njit(inline="always", **JIT)
def core_strategy(strategy):
    """The Hessian a core computes for a strategy: ``CLIP`` floors the exact one afterwards,
    ``CONSTANT`` needs none."""
    if strategy == CLIP:
        return EXACT
    if strategy == CONSTANT:
        return GRADIENT_ONLY
    return strategy


@njit(inline="always", **JIT)
def softmax_rows(core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out,
                 h_out, stream, start, stop):
    """Rows ``start:stop`` of a softmax batch (see ``compiled.run``), in blocks of
    :data:`BLOCK_ROWS` rows held class-major; returns the number of rows with a
    non-finite margin (the outputs are then not to be used).  ``offset`` (K,) is added
    to every row's margins as they are read (an intercept the engine does not hold;
    zeros for none).  ``stream``: write the outputs (both C- or both F-contiguous) with
    non-temporal stores."""
    k = z.shape[1]
    bsz = BLOCK_ROWS
    uniform = w.shape[0] == 0 or w.shape[1] == 1
    base = core_strategy(strategy)
    blk = np.zeros((6, k, bsz))
    g, h = blk[4], blk[5]
    scratch = block_scratch(blk, yidx, w, alpha)
    s_flat, e_flat, s, e, p, q, yb, wb, wbar, m, rest, inv, check, a, ylab = scratch
    work = np.zeros((WORK_SLOTS, k, bsz))
    vec = np.zeros((VEC_ROWS, bsz))
    lo = np.empty(bsz)  # the clip floor of each row
    bad = 0
    for b0 in range(start, stop, bsz):
        nb = min(stop, b0 + bsz) - b0
        bad += load_block(z, offset, y, yidx, w, alpha, b0, nb, scratch)
        core(p, q, s, rest, a, yb, wb, uniform, params, base, g, h, nb, work, vec)
        if strategy == CLIP:
            for r in range(nb):
                lo[r] = floor * wbar[r]
            # streamed, the floor goes in as h is written (a pass of its own cost more)
            if not stream:
                for j in range(k):
                    for r in range(nb):
                        h[j, r] = max(h[j, r], lo[r])
        elif strategy == CONSTANT:
            for j in range(k):
                for r in range(nb):
                    h[j, r] = wb[j, r]
        if stream:
            # one output at a time: two interleaved a cell at a time would flush the
            # write-combining buffers with partial cache lines
            stream_rows(g_out, g, lo, False, b0, nb, 1.0)
            stream_rows(h_out, h, lo, strategy == CLIP, b0, nb, scale)
        elif g_out.strides[0] < g_out.strides[1] and h_out.strides[0] < h_out.strides[1]:
            for j in range(k):
                gj = g_out[b0:b0 + nb, j]
                hj = h_out[b0:b0 + nb, j]
                for r in range(nb):
                    gj[r] = g[j, r]
                    hj[r] = h[j, r] * scale
        else:
            gv, hv = g_out[b0:b0 + nb], h_out[b0:b0 + nb]
            for r in range(nb):
                for j in range(k):
                    gv[r, j] = g[j, r]
                    hv[r, j] = h[j, r] * scale
    if stream:
        streaming_fence()
    return bad


@njit(inline="always", **JIT)
def softmax_loss_rows(core, z, offset, y, yidx, w, alpha, params, out, start, stop):
    """Per-row losses of rows ``start:stop`` into ``out`` (n,), blocks as in
    :func:`softmax_rows`; returns the number of rows with a non-finite margin."""
    k = z.shape[1]
    bsz = BLOCK_ROWS
    blk = np.zeros((5, k, bsz))
    lp = blk[4]
    scratch = block_scratch(blk, yidx, w, alpha)
    s_flat, e_flat, s, e, p, q, yb, wb, wbar, m, rest, inv, check, a, ylab = scratch
    vec = np.zeros((3, bsz))
    loss = vec[0]
    bad = 0
    for b0 in range(start, stop, bsz):
        nb = min(stop, b0 + bsz) - b0
        bad += load_block(z, offset, y, yidx, w, alpha, b0, nb, scratch)
        core(p, q, s, rest, yb, wb, wbar, params, loss, nb, lp, vec)
        ov = out[b0:b0 + nb]
        for r in range(nb):
            ov[r] = loss[r]
    return bad


@njit(inline="always", **JIT)
def binary_rows(core, z, offset, y, w, alpha, strategy, scale, floor, param, g_out, h_out,
                stream, start, stop):
    """Rows ``start:stop`` of a sigmoid batch; like :func:`softmax_rows` with (n,) arrays:
    blocks of rows, the exponentials of a block in one vectorised pass, ``offset`` (a
    number) added to the margins as they are read.  ``stream`` is not used: a row's two
    outputs are one cell each, and the block's scratch is small enough that plain stores
    do not evict it (non-temporal ones measured slower, docs/performance.md)."""
    weighted = w.shape[0] > 0
    base = core_strategy(strategy)
    bad = 0
    bsz = BLOCK_ROWS
    zb = np.zeros(bsz)
    xb = np.zeros(bsz)
    eb = np.zeros(bsz)
    wb = np.ones(bsz)
    for b0 in range(start, stop, bsz):
        nb = min(stop, b0 + bsz) - b0
        zv, yv, gv, hv = z[b0:b0 + nb], y[b0:b0 + nb], g_out[b0:b0 + nb], h_out[b0:b0 + nb]
        for r in range(nb):
            zi = np.float64(zv[r]) + offset
            finite = zi * 0.0 == 0.0
            bad += not finite
            zb[r] = zi if finite else 0.0
            xb[r] = -abs(zb[r])
        exp_block(xb, eb)
        if weighted:
            wv = w[b0:b0 + nb]
            for r in range(nb):
                wb[r] = wv[r]
        for r in range(nb):
            wi = wb[r]
            yi = (1.0 - alpha) * yv[r] + alpha / 2.0
            g, h = core(zb[r], eb[r], yi, wi, param, base)
            if strategy == CLIP:
                h = max(h, floor * wi)
            elif strategy == CONSTANT:
                h = wi
            gv[r] = g
            hv[r] = h * scale
    return bad


@njit(inline="always", **JIT)
def one_row(core, z, y, w, alpha, strategy, scale, floor, params, g, h):
    """One row with a scalar weight, for engines that call the objective per object:
    the block core on a block of one row, the labels smoothed by ``alpha``."""
    k = z.shape[0]
    blk = np.zeros((8, k, 1))
    s, e, p, q, yb, wb, gb, hb = (blk[0], blk[1], blk[2], blk[3], blk[4], blk[5], blk[6],
                                  blk[7])
    work = np.zeros((WORK_SLOTS, k, 1))
    vec = np.zeros((VEC_ROWS + 2, 1))
    rest, inv = vec[VEC_ROWS], vec[VEC_ROWS + 1]
    a = np.zeros(1, np.int64)
    m = z[0]
    for j in range(k):
        if z[j] > m:
            m = z[j]
            a[0] = j
    for j in range(k):
        s[j, 0] = z[j] - m
        e[j, 0] = exp_nonpositive(s[j, 0])
        yb[j, 0] = (1.0 - alpha) * y[j] + alpha / k
        wb[j, 0] = w
    softmax_parts(e, a, p, q, rest, inv, 1)
    core(p, q, s, rest, a, yb, wb, True, params, core_strategy(strategy), gb, hb, 1, work, vec)
    for j in range(k):
        g[j] = gb[j, 0]
        hj = hb[j, 0]
        if strategy == CLIP and hj < floor * w:
            hj = floor * w
        elif strategy == CONSTANT:
            hj = w
        h[j] = hj * scale
