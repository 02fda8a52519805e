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
probabilities ``p`` and complements ``q = 1 - p`` (in float64; the shifted
margins ``z - max z`` too, for the cores that need ``log p``), calling the
shared building blocks (``gauss_newton_sums``, ``gauss_newton_diag``,
``majorizer_diag``).  The drivers are written once
(:func:`softmax_rows`, :func:`binary_rows`, :func:`one_row` for engines that
call the objective per object) and instantiated per core by a one-line
function, so the loop over rows, the label forms (class indices or
probability rows, label smoothing), the weight forms (none, per row, per
cell), the clip floor, the ``"constant"`` strategy and ``hessian_scale`` are
written once for all objectives.  Adding an objective takes one core, one
line per driver and one entry in :data:`BATCH_KERNELS` (and
:data:`ROW_KERNELS`); a softmax objective's loss, for ``Objective.loss`` and
the engine metrics, is one more short core on the same blocks
(:func:`softmax_loss_rows`, :data:`LOSS_KERNELS`; without one the NumPy
definition is used).

The exponentials of a block are computed once, in one contiguous pass, by a
polynomial ``exp`` (:func:`exp_nonpositive`, relative error below 5e-16 on
the arguments a softmax produces) that the compiler vectorises, and reused
for ``p`` and ``q``.  Non-finite margins are found by one vectorised pass per
block (``z * 0`` summed over a row is NaN exactly when the row has one).  Blocks
are addressed through views of the caller's arrays (indices from 0 need no
negative-index wraparound, which would turn loads into gathers; a column-major
array is read and written a class at a time, contiguously), and the kernels
use numba's NumPy error model (a division carries no ``ZeroDivisionError``
check, which would keep its loop scalar).  Softmax outputs larger than
:data:`STREAM_BYTES` are written with non-temporal stores on x86-64
(:func:`streaming`), one output a contiguous run at a time, so that writing them
neither reads their cache lines first nor evicts the block's scratch arrays.
The majorizers' pair sums over the K^2 pairs of classes run in tiles of classes
(:func:`pair_sums`) from :data:`PAIR_TILES_FROM` classes on, adding to the block's
Hessian in place.

Compiled functions are cached on disk (numba ``cache=True``), so only the
first import on a machine pays the compile time (reported by
``gradhess bench``).  Without numba, :data:`AVAILABLE` is False and the
objectives use the NumPy kernels.
"""

from __future__ import annotations

import logging
import math
import platform
import threading
from typing import Any, NamedTuple

import numpy as np

from ..hessians import CLIP, CONSTANT, EXACT, GAUSS_NEWTON, MAJORIZER

try:  # pragma: no cover - exercised by whichever environment runs the tests

    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

_log = logging.getLogger("gradhess")

if AVAILABLE:
    # error_model="numpy": a division by zero gives inf or nan instead of raising, so that
    # loops with divisions vectorise (the kernels guard their divisions themselves)
    _JIT = dict(cache=True, nogil=True, error_model="numpy")

    @intrinsic
    def _bits_to_float(typingctx, x):
        """Reinterpret an int64 as the float64 with the same bits (for ``2**k``)."""
        sig = types.float64(types.int64)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(types.float64))

        return sig, codegen

    @intrinsic
    def _float_to_bits(typingctx, x):
        """Reinterpret a float64 as the int64 with the same bits."""
        sig = types.int64(types.float64)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(types.int64))

        return sig, codegen

    def _flat_pointer(context, builder, arrty, arr, index, indexty):
        """The address of ``arr[index]`` (1-D), with no negative-index wraparound."""
        ary = context.make_array(arrty)(context, builder, arr)
        i = context.cast(builder, index, indexty, types.intp)
        return cgutils.get_item_pointer(context, builder, arrty, ary, [i], wraparound=False)

    @intrinsic
    def _load(typingctx, arr, index):
        """``arr[index]`` for a 1-D array and an index known to be in range: no
        negative-index wraparound (which would keep a loop of computed indices scalar)."""
        sig = arr.dtype(arr, index)

        def codegen(context, builder, signature, args):
            return builder.load(_flat_pointer(context, builder, signature.args[0], args[0],
                                              args[1], signature.args[1]))

        return sig, codegen

    @intrinsic
    def _store(typingctx, arr, index, value):
        """``arr[index] = value`` for a 1-D array, like :func:`_load`."""
        sig = types.void(arr, index, arr.dtype)

        def codegen(context, builder, signature, args):
            builder.store(args[2], _flat_pointer(context, builder, signature.args[0], args[0],
                                                 args[1], signature.args[1]))
            return context.get_dummy_value()

        return sig, codegen

    #: Whether the kernels write large outputs with non-temporal (streaming) stores: x86-64
    #: only, where ``sfence`` orders them; elsewhere plain stores.
    STREAMING_STORES = platform.machine().lower() in ("x86_64", "amd64")

    @intrinsic
    def _store_streaming(typingctx, arr, index, value):
        """``arr[index] = value`` (``index`` a tuple of integers) by a non-temporal store on
        x86-64: the cache line is written without being read first and without evicting
        what the caches hold.  Such stores are weakly ordered: :func:`_streaming_fence`
        must follow them."""
        sig = types.void(arr, index, types.float64)

        def codegen(context, builder, signature, args):
            arrty, idxty = signature.args[0], signature.args[1]
            ary = context.make_array(arrty)(context, builder, args[0])
            raw = cgutils.unpack_tuple(builder, args[1], len(idxty))
            indices = [context.cast(builder, v, t, types.intp) for v, t in zip(raw, idxty)]
            ptr = cgutils.get_item_pointer(context, builder, arrty, ary, indices,
                                           wraparound=False)
            store = builder.store(context.cast(builder, args[2], types.float64, arrty.dtype), ptr)
            if STREAMING_STORES:
                store.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))
            return context.get_dummy_value()

        return sig, codegen

    @intrinsic
    def _streaming_fence(typingctx):
        """``sfence`` on x86-64 (orders the non-temporal stores before it); nothing elsewhere."""
        sig = types.void()

        def codegen(context, builder, signature, args):
            if STREAMING_STORES:
                fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                    "llvm.x86.sse.sfence")
                builder.call(fn, [])
            return context.get_dummy_value()

        return sig, codegen

    _LOG2E = 1.4426950408889634
    _LN2_HI = 6.93147180369123816490e-01
    _LN2_LO = 1.90821492927058770002e-10
    _SHIFTER = 6755399441055744.0  # 1.5 * 2**52
    _SHIFTER_BITS = 0x4338000000000000

    @njit(inline="always", **_JIT)
    def exp_nonpositive(x):
        """``exp(x)`` for ``x <= 0``: Cody-Waite reduction, degree-12 Taylor polynomial
        (Estrin's scheme), scaling by ``2**k`` in two halves (so subnormal results are
        right).  No calls and no conversions between floats and integers (AVX2 has no
        vector instruction for them), so a loop of it vectorises; 0 below -745.2.  Not
        to be compiled with the ``reassoc`` fast-math flag (see :data:`_EXP_FASTMATH`)."""
        x = max(x, -746.0)
        # k = round(x / log 2) in the low bits of t (adding 1.5 * 2**52 rounds to an
        # integer): no float-to-int conversion, which AVX2 has no vector instruction for
        t = x * _LOG2E + _SHIFTER
        kf = t - _SHIFTER
        r = x - kf * _LN2_HI - kf * _LN2_LO
        # the Taylor polynomial of degree 12 in Estrin's form: a short dependency chain
        r2 = r * r
        r4 = r2 * r2
        poly = ((1.0 + r) + r2 * (0.5 + r * (1.0 / 6))
                + r4 * ((1.0 / 24 + r * (1.0 / 120)) + r2 * (1.0 / 720 + r * (1.0 / 5040)))
                + (r4 * r4) * ((1.0 / 40320 + r * (1.0 / 362880))
                               + r2 * (1.0 / 3628800 + r * (1.0 / 39916800))
                               + r4 * (1.0 / 479001600)))
        k = _float_to_bits(t) - _SHIFTER_BITS
        k1 = k >> 1
        out = poly * _bits_to_float((k1 + 1023) << 52) * _bits_to_float((k - k1 + 1023) << 52)
        return out if x > -745.2 else 0.0

    _SQRT2 = 1.4142135623730951

    @njit(inline="always", **_JIT)
    def log1p_nonnegative(x):
        """``log(1 + x)`` for ``x >= 0`` (finite): ``u = 1 + x = m 2**e`` split from its bits,
        ``log m = 2 atanh((m - 1) / (m + 1))`` by its series to the term ``s**11 / 23``
        (Estrin's scheme), and Goldberg's correction ``log(u) x / (u - 1)`` for the rounding
        of ``u``.  Relative error below 1e-15; no calls, so a loop of it vectorises."""
        u = 1.0 + x
        bits = _float_to_bits(u)
        ex = (bits >> 52) - 1023
        m = _bits_to_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
        big = m > _SQRT2
        m = m * 0.5 if big else m
        ex = ex + 1 if big else ex
        f = (m - 1.0) / (m + 1.0)
        s = f * f
        s2 = s * s
        s4 = s2 * s2
        poly = ((1.0 + s * (1.0 / 3)) + s2 * (1.0 / 5 + s * (1.0 / 7))
                + s4 * ((1.0 / 9 + s * (1.0 / 11)) + s2 * (1.0 / 13 + s * (1.0 / 15)))
                + (s4 * s4) * ((1.0 / 17 + s * (1.0 / 19)) + s2 * (1.0 / 21 + s * (1.0 / 23))))
        kf = _bits_to_float(_SHIFTER_BITS + ex) - _SHIFTER  # float(ex), no conversion
        log_u = kf * _LN2_HI + (kf * _LN2_LO + 2.0 * f * poly)
        return log_u * (x / (u - 1.0)) if u != 1.0 else x

    # ------------------------------------------------------------------ building blocks
    # Every softmax quantity of a block of rows is a (K, B) array, class-major: the
    # inner loops run over the B rows of a class, long enough to vectorise.  ``nb`` is
    # the number of rows in use.  ``vec`` is (8, B) scratch, ``work`` (WORK_SLOTS, K', B) with
    # K' >= K + 1 and, in the batch driver, K' >= pair_classes(K): slots 8-12 are the tiled
    # pair sums' flat arrays (:func:`pair_arrays`).  The batch driver keeps ``h`` in slot
    # SLOT_H, and the cores whose majorizer sums pairs of ``u`` keep ``u`` in slot SLOT_V,
    # so that the pair sums add to ``h`` and read ``u`` in place.
    WORK_SLOTS = 13
    SLOT_P, SLOT_D, SLOT_V, SLOT_H, SLOT_A = 8, 9, 10, 11, 12
    # Sums over the other classes, sum_{m != l} x_m (``reference.sum_others``): the sum
    # over all classes minus x_l (clamped at 0), but for the argmax, whose sum is taken
    # explicitly (no cancellation when p_argmax is near 1).  The cores form the two sums
    # in a pass they make anyway and use them in the pass that writes h.
    @njit(inline="always", **_JIT)
    def gauss_newton_sums(p, u, a, nb, vec):
        """``c = sum_m u_m p_m`` into ``vec[6]`` and the same sum without the argmax into
        ``vec[7]`` (class by class, in class order).
        Cores that compute ``u`` class by class add to these sums in that pass instead."""
        k = p.shape[0]
        total = vec[6]
        other = vec[7]
        for r in range(nb):
            total[r] = 0.0
            other[r] = 0.0
        for j in range(k):
            for r in range(nb):
                up = u[j, r] * p[j, r]
                total[r] += up
                other[r] += up if j != a[r] else 0.0

    @njit(inline="always", **_JIT)
    def gauss_newton_from_sums(p, u, uq2, a, h, nb, vec):
        """``h_l = u_l q_l^2 p_l + p_l^2 sum_{m != l} u_m p_m`` (``G = J^T diag(u / p) J``)
        from the sums of :func:`gauss_newton_sums` (the argmax's sum over the others summed
        explicitly, the others' as ``c - u_l p_l``)."""
        k = p.shape[0]
        total = vec[6]
        other = vec[7]
        for j in range(k):
            for r in range(nb):
                up = u[j, r] * p[j, r]
                o = max(other[r], 0.0) if j == a[r] else max(total[r] - up, 0.0)
                h[j, r] = uq2[j, r] * p[j, r] + p[j, r] * p[j, r] * o

    @njit(inline="always", **_JIT)
    def gauss_newton_diag(p, u, uq2, a, h, nb, work, vec):
        """The Gauss-Newton diagonal (:func:`gauss_newton_from_sums`) with its sums."""
        gauss_newton_sums(p, u, a, nb, vec)
        gauss_newton_from_sums(p, u, uq2, a, h, nb, vec)

    @njit(inline="always", **_JIT)
    def swap_first(a, p, u, h, nb):
        """Swap class ``a[r]`` and class 0 of every row ``r`` in ``p``, ``u`` and ``h``
        (its own inverse)."""
        for r in range(nb):
            ar = a[r]
            p[0, r], p[ar, r] = p[ar, r], p[0, r]
            u[0, r], u[ar, r] = u[ar, r], u[0, r]
            h[0, r], h[ar, r] = h[ar, r], h[0, r]

    # ------------------------------------------------------------------ pair sums in tiles
    # The majorizers' K^2 sums ``H_l = sum_{m != l} P_l P_m |D_min(l,m) - V_max(l,m)|``.
    # A loop over the block's rows per pair of classes loads and stores both classes'
    # sums again for every pair; here the classes go in tiles of PAIR_TILE, and one loop
    # over the rows does all the pairs of two tiles with the tiles' values in registers
    # (the tiles written out, so that they need no indexable locals; between two tiles one
    # class of the first at a time, the second's values and sums carried along, which
    # keeps the live values near AVX2's 16 vector registers).  The arrays are
    # flat, a class every BLOCK_ROWS cells, padded to whole tiles with zeros (a zero ``P``
    # adds nothing).  That stride is a constant, so the compiler sees that the rows a tile
    # writes are apart and vectorises the row loop; loads and stores go through
    # ``_load``/``_store`` (no negative-index wraparound, which would make them gathers).
    # One tile's own sums go to ``A``, a separate array, so that the writes of a loop fall
    # in two arrays at fixed distances.  The one-row kernels (blocks of one row) keep the
    # loop per pair.
    #: Classes per tile of the pair sums, and the class count from which they are used.
    #: Measured on two threads against the loop per pair (docs/performance.md; before the
    #: loop order between two tiles changed, which took 3-4% more off at K = 10): 0.91-1.01x
    #: the time at K = 10, 0.67-0.75x at K = 50, 0.38-0.57x at K = 200; at K = 8 (padded
    #: to 10) 0.97-1.09x, so smaller K keep the loop per pair.
    PAIR_TILE = 5  # pair_tile and pair_tile_diag are written out for exactly five classes
    PAIR_TILES_FROM = 10

    @njit(inline="always", **_JIT)
    def pair_tile_diag(P, D, V, A, l, S, nb):
        """The pairs within tile ``l:l + 5``, into ``A`` (the tile's sums, overwritten)."""
        o0, o1, o2, o3, o4 = l * S, (l + 1) * S, (l + 2) * S, (l + 3) * S, (l + 4) * S
        for r in range(nb):
            p0, p1, p2 = _load(P, o0 + r), _load(P, o1 + r), _load(P, o2 + r)
            p3, p4 = _load(P, o3 + r), _load(P, o4 + r)
            d0, d1, d2, d3 = _load(D, o0 + r), _load(D, o1 + r), _load(D, o2 + r), _load(D, o3 + r)
            v1, v2, v3, v4 = _load(V, o1 + r), _load(V, o2 + r), _load(V, o3 + r), _load(V, o4 + r)
            t01, t02 = p0 * p1 * abs(d0 - v1), p0 * p2 * abs(d0 - v2)
            t03, t04 = p0 * p3 * abs(d0 - v3), p0 * p4 * abs(d0 - v4)
            t12, t13, t14 = p1 * p2 * abs(d1 - v2), p1 * p3 * abs(d1 - v3), p1 * p4 * abs(d1 - v4)
            t23, t24, t34 = p2 * p3 * abs(d2 - v3), p2 * p4 * abs(d2 - v4), p3 * p4 * abs(d3 - v4)
            _store(A, r, (t01 + t02) + (t03 + t04))
            _store(A, S + r, (t01 + t12) + (t13 + t14))
            _store(A, 2 * S + r, (t02 + t12) + (t23 + t24))
            _store(A, 3 * S + r, (t03 + t13) + (t23 + t34))
            _store(A, 4 * S + r, (t04 + t14) + (t24 + t34))

    @njit(inline="always", **_JIT)
    def pair_tile(P, D, V, H, A, l, m, S, nb):
        """The pairs between tile ``l`` and a later tile ``m``: added to ``A`` (tile ``l``)
        and to rows ``m:m + 5`` of ``H``.  One class of tile ``l`` at a time, the later
        tile's sums carried along, so that few values are live at once (AVX2 has 16 vector
        registers)."""
        for r in range(nb):
            q0, q1, q2 = _load(P, m * S + r), _load(P, (m + 1) * S + r), _load(P, (m + 2) * S + r)
            q3, q4 = _load(P, (m + 3) * S + r), _load(P, (m + 4) * S + r)
            v0, v1, v2 = _load(V, m * S + r), _load(V, (m + 1) * S + r), _load(V, (m + 2) * S + r)
            v3, v4 = _load(V, (m + 3) * S + r), _load(V, (m + 4) * S + r)
            c0 = c1 = c2 = c3 = c4 = 0.0
            for i in range(PAIR_TILE):
                o = (l + i) * S + r
                d, p = _load(D, o), _load(P, o)
                a0, a1, a2, a3, a4 = abs(d - v0), abs(d - v1), abs(d - v2), abs(d - v3), abs(d - v4)
                _store(A, i * S + r, _load(A, i * S + r)
                       + p * (q0 * a0 + q1 * a1 + q2 * a2 + q3 * a3 + q4 * a4))
                c0 += p * a0
                c1 += p * a1
                c2 += p * a2
                c3 += p * a3
                c4 += p * a4
            o = m * S + r
            _store(H, o, _load(H, o) + q0 * c0)
            o += S
            _store(H, o, _load(H, o) + q1 * c1)
            o += S
            _store(H, o, _load(H, o) + q2 * c2)
            o += S
            _store(H, o, _load(H, o) + q3 * c3)
            o += S
            _store(H, o, _load(H, o) + q4 * c4)

    @njit(fastmath={"contract"}, **_JIT)
    def pair_sums(P, D, V, H, A, kt, nb):
        """``H_l += sum_{m != l} P_l P_m |D_min(l,m) - V_max(l,m)|`` over ``kt`` classes (a
        multiple of PAIR_TILE) and ``nb`` rows, flat arrays with a class every BLOCK_ROWS
        cells; products and sums may fuse into multiply-adds (the one fast-math flag).
        Compiled once for all drivers, like its two callers (inlined into each driver, the
        tiles took a driver's cold compile from about 8.5 to 11-13 s)."""
        S = BLOCK_ROWS
        for l in range(0, kt, PAIR_TILE):  # noqa: E741
            pair_tile_diag(P, D, V, A, l, S, nb)
            for m in range(l + PAIR_TILE, kt, PAIR_TILE):
                pair_tile(P, D, V, H, A, l, m, S, nb)
            for i in range(PAIR_TILE):
                for r in range(nb):
                    o = (l + i) * S + r
                    _store(H, o, _load(H, o) + _load(A, i * S + r))

    @njit(inline="always", **_JIT)
    def pair_classes(k):
        """``k`` rounded up to whole tiles of the pair sums."""
        return (k + PAIR_TILE - 1) // PAIR_TILE * PAIR_TILE

    @njit(inline="always", **_JIT)
    def use_pair_tiles(k, work):
        """Whether a block's pair sums go in tiles: enough classes, blocks of BLOCK_ROWS."""
        return k >= PAIR_TILES_FROM and work.shape[2] == BLOCK_ROWS

    @njit(inline="always", **_JIT)
    def pair_arrays(work):
        """The tiled pair sums' flat arrays ``P, D, V, H, A``: slots SLOT_P to SLOT_A of
        ``work``, a class every ``work.shape[2]`` cells."""
        n = work.shape[1] * work.shape[2]
        return (work[SLOT_P].reshape(n), work[SLOT_D].reshape(n), work[SLOT_V].reshape(n),
                work[SLOT_H].reshape(n), work[SLOT_A].reshape(n))

    @njit(inline="always", **_JIT)
    def copy_into(x, flat, nb):
        """Copy the block ``x`` (K, B) into the flat pair array ``flat``."""
        S = BLOCK_ROWS
        for j in range(x.shape[0]):
            for r in range(nb):
                _store(flat, j * S + r, x[j, r])

    @njit(inline="always", **_JIT)
    def check_h_slot(h, H):
        """The tiled pair sums add to ``h`` where it lives: in the batch driver's slot."""
        if h.ctypes.data != H.ctypes.data:
            raise ValueError("the tiled pair sums need h in work[SLOT_H]")

    @njit(inline="always", **_JIT)
    def swap_flat(a, X, nb):
        """Swap class ``a[r]`` and class 0 of every row ``r`` of the flat pair array ``X``
        (its own inverse)."""
        S = BLOCK_ROWS
        for r in range(nb):
            o = a[r] * S + r
            X[r], X[o] = X[o], X[r]

    @njit(**_JIT)
    def majorizer_pair_tiles(p, u, c, ca, a, h, work, nb):
        """:func:`majorizer_diag`'s pair sums by :func:`pair_sums`, added to ``h`` in place
        (the batch driver's, in slot SLOT_H), with the argmax swapped into class 0, whose
        pairs take ``D_0 = ca``, all others ``D_l = c - u_l``, against ``V_m = u_m``.
        ``u`` is read in place where it lives in slot SLOT_V (Brier, focal), copied
        otherwise (cross-entropy's cell weights); ``p`` is copied.  Compiled once for all
        drivers."""
        k = p.shape[0]
        S = BLOCK_ROWS
        P, D, V, H, A = pair_arrays(work)
        check_h_slot(h, H)
        copy_into(p, P, nb)
        u_in_place = u.ctypes.data == V.ctypes.data
        if not u_in_place:
            copy_into(u, V, nb)
        swap_flat(a, P, nb)
        swap_flat(a, V, nb)
        swap_flat(a, H, nb)
        for r in range(nb):
            D[r] = ca[r]
        for j in range(1, k):
            for r in range(nb):
                _store(D, j * S + r, c[r] - _load(V, j * S + r))
        pair_sums(P, D, V, H, A, pair_classes(k), nb)
        # swap back what is the caller's
        if u_in_place:
            swap_flat(a, V, nb)
        swap_flat(a, H, nb)

    @njit(inline="always", **_JIT)
    def majorizer_diag(p, q, u, uq2, a, h, nb, work, vec):
        """Row sums of ``|G|``: ``G_ll + sum_{m != l} p_l p_m |c - u_l - u_m|``, from the
        sums of :func:`gauss_newton_sums` (formed by the caller)."""
        k = p.shape[0]
        gauss_newton_from_sums(p, u, uq2, a, h, nb, vec)
        # c = sum_m u_m p_m is in vec[6] and the same sum without the argmax in vec[7];
        # ca = c - u_a, computed without the cancellation
        c = vec[6]
        ca = vec[7]
        for r in range(nb):
            ca[r] -= u[a[r], r] * q[a[r], r]
        if use_pair_tiles(k, work):
            majorizer_pair_tiles(p, u, c, ca, a, h, work, nb)
            return
        # |G| is symmetric: each pair once, added to both rows.  The argmax is swapped into
        # class 0 of its row for the pair loops (and back after), so that its pairs take
        # ca and all others c with no per-row branch in the K^2 loop
        swap_first(a, p, u, h, nb)
        for m in range(1, k):
            for r in range(nb):
                t = p[0, r] * p[m, r] * abs(ca[r] - u[m, r])
                h[0, r] += t
                h[m, r] += t
        for l in range(1, k):  # noqa: E741
            for m in range(l + 1, k):
                for r in range(nb):
                    t = p[l, r] * p[m, r] * abs(c[r] - u[l, r] - u[m, r])
                    h[l, r] += t
                    h[m, r] += t
        swap_first(a, p, u, h, nb)

    # ------------------------------------------------------------------ objective cores
    # core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb, work, vec) on
    # (K, B) blocks: zs = z - max(z) and rest = the sum of exp(zs) over the classes other
    # than the argmax a, so that log p = zs - log1p(rest) for the cores that need it;
    # strategy is 0 (exact), 1 (gauss_newton), 2 (majorizer) or -1 (the gradient only:
    # the "constant" strategy, whose Hessian the driver writes; h is then left as it was).
    @njit(inline="always", **_JIT)
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
        if strategy < 0:
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
        uq2 = work[1, :k]
        for j in range(k):
            for r in range(nb):
                uq2[j, r] = w[j, r] * q[j, r] * q[j, r]
        gauss_newton_sums(p, w, a, nb, vec)
        if strategy == GAUSS_NEWTON:
            gauss_newton_from_sums(p, w, uq2, a, h, nb, vec)
        else:
            majorizer_diag(p, q, w, uq2, a, h, nb, work, vec)

    @njit(inline="always", **_JIT)
    def brier_core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
        k = p.shape[0]
        rbar = vec[0]
        u = work[SLOT_V, :k]
        uq2 = work[2, :k]
        total = vec[6]
        other = vec[7]
        for r in range(nb):
            rbar[r] = 0.0
            total[r] = 0.0
            other[r] = 0.0
        for j in range(k):
            for r in range(nb):
                rbar[r] += p[j, r] * 2.0 * w[j, r] * (p[j, r] - y[j, r])
        if strategy < 0:
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
            majorizer_diag(p, q, u, uq2, a, h, nb, work, vec)
            return
        gauss_newton_from_sums(p, u, uq2, a, h, nb, vec)
        if strategy == EXACT:
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

    @njit(inline="always", **_JIT)
    def focal_core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb, work, vec):
        k = p.shape[0]
        gamma = params[0]
        u = work[SLOT_V, :k]  # w v
        uq2 = work[2, :k]    # w v q^2
        wt = work[3, :k]     # w y t
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
        if strategy < 0:
            for j in range(k):
                for r in range(nb):
                    g[j, r] = wt[j, r] - p[j, r] * total[r]
            return
        # with g, the sums over the classes of x = y u (exact) or x = u p (gauss_newton_sums,
        # for the Gauss-Newton and majorizer diagonals), and of those but the argmax
        c = vec[6]
        other = vec[7]
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
            majorizer_diag(p, q, u, uq2, a, h, nb, work, vec)

    @njit(**_JIT)
    def ranked_probability_pair_tiles(p, pp, pu, uu, w, h, work, nb, scale):
        """The ranked probability score's majorizer by :func:`pair_sums`: the bracket for
        ``l < m`` is ``D_l - V_m``, ``D_l = pp_l + pu_l``, ``V_m = pu_m - uu_m``; ``h`` is the
        batch driver's, in slot SLOT_H.  Compiled once for all drivers."""
        k = p.shape[0]
        S = BLOCK_ROWS
        P, D, V, H, A = pair_arrays(work)
        check_h_slot(h, H)
        copy_into(p, P, nb)
        for j in range(k):
            for r in range(nb):
                _store(D, j * S + r, pp[j, r] + pu[j, r])
                _store(V, j * S + r, pu[j, r] - uu[j, r])
        for j in range(pair_classes(k)):
            for r in range(nb):
                _store(H, j * S + r, 0.0)
        pair_sums(P, D, V, H, A, pair_classes(k), nb)
        # h is H, read and written through the same flat index (through h[j, r], side by
        # side 1.04-1.07x the time of the whole kernel at K = 10)
        for j in range(k):
            for r in range(nb):
                o = j * S + r
                _store(H, o, scale * w[j, r] * (p[j, r] * p[j, r] * abs(pp[j, r] + uu[j, r])
                                                 + _load(H, o)))

    @njit(inline="always", **_JIT)
    def ranked_probability_core(p, q, zs, rest, a, y, w, uniform, params, strategy, g, h, nb, work,
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
        if strategy < 0:
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
        if use_pair_tiles(k, work):
            ranked_probability_pair_tiles(p, pp, pu, uu, w, h, work, nb, scale)
            return
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

    @njit(inline="always", **_JIT)
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
        if strategy < 0:
            return
        if strategy == EXACT:
            for j in range(k):
                for r in range(nb):
                    b = w[j, r] * (2.0 * y[j, r] * p[j, r] + s[r]
                                   - 3.0 * s[r] * p[j, r] * p[j, r] * inv2[r]) * inv3[r]
                    h[j, r] = p[j, r] * p[j, r] * b + g[j, r]
            return
        # sum_{m != l} p_m^2: n2 - p_l^2, the argmax's summed explicitly
        other = vec[7]
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
    # its Hessian for -1).
    @njit(inline="always", **_JIT)
    def _sigmoid(z, e):
        """``(a, b)``: ``a = sigmoid(z)`` and ``b = 1 - a`` from ``e = exp(-|z|)``, stable."""
        d = 1.0 / (1.0 + e)
        ed = e * d
        return (d, ed) if z >= 0 else (ed, d)

    @njit(inline="always", **_JIT)
    def _log_sigmoid(z, e):
        """``(log a, log b)`` from ``e = exp(-|z|)``, stable."""
        sp = log1p_nonnegative(e)
        return -(sp + max(-z, 0.0)), -(sp + max(z, 0.0))

    @njit(inline="always", **_JIT)
    def binary_cross_entropy_core(z, e, y, w, param, strategy):
        a, b = _sigmoid(z, e)
        return w * (a - y), w * a * b

    @njit(inline="always", **_JIT)
    def binary_brier_core(z, e, y, w, param, strategy):
        a, b = _sigmoid(z, e)
        v = a * b
        g = 2.0 * w * (a - y) * v
        h = 2.0 * w * v * v
        if strategy == EXACT:
            h += g * (1.0 - 2.0 * a)
        return g, h

    @njit(inline="always", **_JIT)
    def _focal_vq2(pj, qj, lpj, gamma):
        phi = lpj / qj if qj > 0.0 else -1.0
        bracket = gamma * pj * (2.0 + (1.0 - gamma) * pj * phi)
        qg = power(qj, gamma)
        return bracket * qg * qj + qg * qj * qj

    @njit(inline="always", **_JIT)
    def binary_focal_core(z, e, y, w, gamma, strategy):
        a, b = _sigmoid(z, e)
        la, lb = _log_sigmoid(z, e)
        ag, bg = power(a, gamma), power(b, gamma)
        g = w * (y * bg * (gamma * a * la - b) + (1.0 - y) * ag * (a - gamma * b * lb))
        if strategy < 0:
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
    @njit(inline="always", **_JIT)
    def log_probabilities(zs, rest, lp, nb, vec):
        """``lp = log p = zs - log(1 + rest)`` of a block (``rest``: see the cores)."""
        log_t = vec[1]
        for r in range(nb):
            log_t[r] = log1p_nonnegative(rest[r])
        for j in range(zs.shape[0]):
            for r in range(nb):
                lp[j, r] = zs[j, r] - log_t[r]

    @njit(inline="always", **_JIT)
    def cross_entropy_loss_core(p, q, zs, rest, y, w, wbar, params, loss, nb, lp, vec):
        log_probabilities(zs, rest, lp, nb, vec)
        for r in range(nb):
            loss[r] = 0.0
        for j in range(p.shape[0]):
            for r in range(nb):
                wy = w[j, r] * y[j, r]
                loss[r] -= wy * lp[j, r] if wy != 0.0 else 0.0

    @njit(inline="always", **_JIT)
    def brier_loss_core(p, q, zs, rest, y, w, wbar, params, loss, nb, lp, vec):
        for r in range(nb):
            loss[r] = 0.0
        for j in range(p.shape[0]):
            for r in range(nb):
                d = p[j, r] - y[j, r]
                loss[r] += w[j, r] * d * d

    @njit(inline="always", **_JIT)
    def focal_loss_terms(q, lp, y, w, gamma, loss, nb):
        for r in range(nb):
            loss[r] = 0.0
        for j in range(q.shape[0]):
            for r in range(nb):
                wy = w[j, r] * y[j, r]
                loss[r] -= wy * power(q[j, r], gamma) * lp[j, r] if wy != 0.0 else 0.0

    @njit(inline="always", **_JIT)
    def focal_loss_core(p, q, zs, rest, y, w, wbar, params, loss, nb, lp, vec):
        log_probabilities(zs, rest, lp, nb, vec)
        gamma = params[0]
        if gamma == 2.0:  # a literal: power() folds and the loop vectorises
            focal_loss_terms(q, lp, y, w, 2.0, loss, nb)
        else:
            focal_loss_terms(q, lp, y, w, gamma, loss, nb)

    @njit(inline="always", **_JIT)
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

    @njit(inline="always", **_JIT)
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

    # ------------------------------------------------------------------ drivers
    @njit(inline="always", **_JIT)
    def core_strategy(strategy):
        """The Hessian a core computes for a strategy code: ``"clip"`` floors the exact
        one afterwards, ``"constant"`` (4) needs none (-1: the gradient only)."""
        if strategy == CLIP:
            return EXACT
        if strategy == CONSTANT:
            return -1
        return strategy

    #: Rows per block.
    BLOCK_ROWS = 128

    #: The fast-math flags of :func:`exp_block`: all of them but ``reassoc``, which would let
    #: the compiler fold ``(x / log 2 + 1.5 * 2**52) - 1.5 * 2**52`` in
    #: :func:`exp_nonpositive` to ``x / log 2``.
    _EXP_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}

    @njit(fastmath=_EXP_FASTMATH, **_JIT)
    def exp_block(x, e):
        """``e = exp(x)`` for ``x <= 0`` (flat, contiguous): one loop the compiler vectorises."""
        for i in range(x.shape[0]):
            e[i] = exp_nonpositive(x[i])

    @njit(inline="always", **_JIT)
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

    @njit(inline="always", **_JIT)
    def stream_rows(out, x, b0, nb, factor):
        """Rows ``b0:b0 + nb`` of ``out`` from the class-major block ``x`` (times ``factor``)
        by non-temporal stores, in ``out``'s memory order: one contiguous run for a row-major
        ``out``, one per class for a column-major one."""
        k = x.shape[0]
        if out.strides[0] < out.strides[1]:
            for j in range(k):
                for r in range(nb):
                    _store_streaming(out, (b0 + r, j), x[j, r] * factor)
        else:
            for r in range(nb):
                for j in range(k):
                    _store_streaming(out, (b0 + r, j), x[j, r] * factor)

    @njit(**_JIT)
    def stream_rows_floored(out, x, lo, b0, nb, factor):
        """:func:`stream_rows` with each cell first floored at its row's ``lo[r]`` (the
        ``"clip"`` Hessian), as numba's ``max`` computes it.  Compiled once for all drivers
        (inlined, the floor in the stores made a driver's cold compile about 35% longer)."""
        k = x.shape[0]
        if out.strides[0] < out.strides[1]:
            for j in range(k):
                for r in range(nb):
                    _store_streaming(out, (b0 + r, j), max(x[j, r], lo[r]) * factor)
        else:
            for r in range(nb):
                for j in range(k):
                    _store_streaming(out, (b0 + r, j), max(x[j, r], lo[r]) * factor)

    @njit(inline="always", **_JIT)
    def any_nonzero(x):
        """Whether a (short) array has an entry other than 0."""
        for v in x:
            if v != 0.0:
                return True
        return False

    @njit(inline="always", **_JIT)
    def block_scratch(k):
        """The scratch arrays of :func:`softmax_block` (as :func:`softmax_rows` allocates
        them) for blocks of BLOCK_ROWS rows: flat
        ``s`` and ``e``, six ``(K, B)`` blocks, and ``m``, ``wbar``, ``rest``, ``inv``,
        ``check`` and the argmax ``a`` per row."""
        bsz = BLOCK_ROWS
        s_flat = np.zeros(k * bsz)
        e_flat = np.zeros(k * bsz)
        blk = np.zeros((6, k, bsz))
        return (s_flat, e_flat, blk, np.empty(bsz), np.empty(bsz), np.empty(bsz), np.empty(bsz),
                np.empty(bsz), np.zeros(bsz, np.int64))

    @njit(inline="always", **_JIT)
    def softmax_block(z, offset, shifted, y, yidx, w, alpha, b0, nb, s, s_flat, e_flat, e, p, q,
                      yb, wb, wbar, m, rest, inv, check, a):
        """Rows ``b0:b0 + nb`` into the class-major block: the shifted margins ``s = z - max
        z`` (rows with a non-finite margin zeroed), ``e = exp(s)``, ``p``, ``q``, the argmax
        ``a``, the labels ``yb`` (smoothed by ``alpha``), the weights ``wb`` and their row
        means ``wbar``; returns the number of rows with a non-finite margin.  Used by
        :func:`softmax_loss_rows`; :func:`softmax_rows` keeps these lines written out:
        calling this function from it (inlined) measured 2-11% slower there, side by side
        (n = 1e6, K = 10, two threads), and 0.99-1.02x with the lines written out.  They
        differ in one respect: :func:`softmax_rows` fills the blocks that stay the same from
        block to block (unit weights, the hard labels' floor) once per thread and sets and
        resets only the labelled cells, where this function fills them per block (it holds
        no state between blocks)."""
        k = z.shape[1]
        hard = yidx.shape[0] > 0
        kw = w.shape[1] if w.shape[0] > 0 else 0
        # views of the block: indices from 0 need no wraparound, so loops vectorise;
        # a column-major array is read a class (a contiguous column slice) at a time
        if z.strides[0] < z.strides[1]:
            for j in range(k):
                zj = z[b0:b0 + nb, j]
                oj = offset[j]
                for r in range(nb):
                    s[j, r] = zj[r] + oj
        elif shifted:
            zv = z[b0:b0 + nb]
            for r in range(nb):
                for j in range(k):
                    s[j, r] = zv[r, j] + offset[j]
        else:  # no offset (XGBoost's path): the transposing read as it was; with the add it
            # measured 0.98-1.12x the time in the row-major case (the add is free column-major)
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
        if hard:
            yiv = yidx[b0:b0 + nb]
            for j in range(k):
                for r in range(nb):
                    yb[j, r] = alpha / k
            for r in range(nb):
                yb[yiv[r], r] += 1.0 - alpha
        else:
            yv = y[b0:b0 + nb]
            for r in range(nb):
                for j in range(k):
                    yb[j, r] = (1.0 - alpha) * yv[r, j] + alpha / k
        if kw == 0:
            for j in range(k):
                for r in range(nb):
                    wb[j, r] = 1.0
            for r in range(nb):
                wbar[r] = 1.0
        elif kw == 1:
            wv = w[b0:b0 + nb]
            for r in range(nb):
                wbar[r] = wv[r, 0]
            for j in range(k):
                for r in range(nb):
                    wb[j, r] = wbar[r]
        else:
            wv = w[b0:b0 + nb]
            for r in range(nb):
                acc = 0.0
                for j in range(k):
                    wb[j, r] = wv[r, j]
                    acc += wb[j, r]
                wbar[r] = acc / k
        return nbad

    @njit(inline="always", **_JIT)
    def softmax_rows(core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out,
                     h_out, stream, start, stop):
        """Rows ``start:stop`` of a softmax batch (see :func:`run`), in blocks of
        :data:`BLOCK_ROWS` rows held class-major; returns the number of rows with a
        non-finite margin (the outputs are then not to be used).  ``offset`` (K,) is added
        to every row's margins as they are read (an intercept the engine does not hold;
        zeros for none).  ``stream``: write the outputs (both C- or both F-contiguous) with
        non-temporal stores."""
        k = z.shape[1]
        bsz = BLOCK_ROWS
        hard = yidx.shape[0] > 0
        kw = w.shape[1] if w.shape[0] > 0 else 0
        uniform = kw <= 1
        shifted = any_nonzero(offset)
        base = core_strategy(strategy)
        bad = 0
        s_flat = np.zeros(k * bsz)
        e_flat = np.zeros(k * bsz)
        s = s_flat.reshape((k, bsz))
        e = e_flat.reshape((k, bsz))
        blk = np.zeros((5, k, bsz))
        p, q, yb, wb, g = blk[0], blk[1], blk[2], blk[3], blk[4]
        # h in its slot of the pair sums, which then add to it in place
        work = np.zeros((WORK_SLOTS, max(k + 1, pair_classes(k)), bsz))
        h = work[SLOT_H, :k]
        vec = np.zeros((8, bsz))
        m = np.empty(bsz)
        wbar = np.empty(bsz)
        rest = np.empty(bsz)
        inv = np.empty(bsz)
        check = np.empty(bsz)
        lo = np.empty(bsz)
        a = np.zeros(bsz, np.int64)
        # constant across blocks: the unlabelled cells of class-index labels, unit weights
        yprev = np.zeros(bsz, np.int64)
        nb_prev = 0
        if hard:
            yb[:] = alpha / k
        if kw == 0:
            wb[:] = 1.0
            wbar[:] = 1.0
        for b0 in range(start, stop, bsz):
            nb = min(stop, b0 + bsz) - b0
            # views of the block: indices from 0 need no wraparound, so loops vectorise;
            # a column-major array is read a class (a contiguous column slice) at a time
            if z.strides[0] < z.strides[1]:
                for j in range(k):
                    zj = z[b0:b0 + nb, j]
                    oj = offset[j]
                    for r in range(nb):
                        s[j, r] = zj[r] + oj
            elif shifted:
                zv = z[b0:b0 + nb]
                for r in range(nb):
                    for j in range(k):
                        s[j, r] = zv[r, j] + offset[j]
            else:  # see softmax_block
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
                bad += nbad
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
            if hard:
                # yb holds alpha / K but in the labelled cells (filled before the first block, no
                # core writes it): undo the previous block's labelled cells, set this block's
                yiv = yidx[b0:b0 + nb]
                for r in range(nb_prev):
                    yb[yprev[r], r] = alpha / k
                for r in range(nb):
                    yb[yiv[r], r] += 1.0 - alpha
                    yprev[r] = yiv[r]
                nb_prev = nb
            else:
                yv = y[b0:b0 + nb]
                for r in range(nb):
                    for j in range(k):
                        yb[j, r] = (1.0 - alpha) * yv[r, j] + alpha / k
            if kw == 0:
                pass  # wb and wbar hold 1.0, filled before the first block
            elif kw == 1:
                wv = w[b0:b0 + nb]
                for r in range(nb):
                    wbar[r] = wv[r, 0]
                for j in range(k):
                    for r in range(nb):
                        wb[j, r] = wbar[r]
            else:
                wv = w[b0:b0 + nb]
                for r in range(nb):
                    acc = 0.0
                    for j in range(k):
                        wb[j, r] = wv[r, j]
                        acc += wb[j, r]
                    wbar[r] = acc / k
            core(p, q, s, rest, a, yb, wb, uniform, params, base, g, h, nb, work, vec)
            # the clip floor goes in as h is streamed out (a pass of its own over the block
            # cost more, docs/performance.md), in a pass where the outputs are not streamed
            if strategy == CLIP:
                for r in range(nb):
                    lo[r] = floor * wbar[r]
                if not stream:
                    for j in range(k):
                        for r in range(nb):
                            h[j, r] = max(h[j, r], lo[r])
            elif strategy == CONSTANT:
                for j in range(k):
                    for r in range(nb):
                        h[j, r] = wb[j, r]
            if stream:
                # one output at a time: two streams interleaved a cell at a time would
                # flush the write-combining buffers with partial cache lines
                stream_rows(g_out, g, b0, nb, 1.0)
                if strategy == CLIP:
                    stream_rows_floored(h_out, h, lo, b0, nb, scale)
                else:
                    stream_rows(h_out, h, b0, nb, scale)
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
            _streaming_fence()
        return bad

    @njit(inline="always", **_JIT)
    def softmax_loss_rows(core, z, offset, y, yidx, w, alpha, params, out, start, stop):
        """Per-row losses of rows ``start:stop`` into ``out`` (n,), blocks as in
        :func:`softmax_rows`; returns the number of rows with a non-finite margin."""
        k = z.shape[1]
        bsz = BLOCK_ROWS
        bad = 0
        s_flat, e_flat, blk, m, wbar, rest, inv, check, a = block_scratch(k)
        s = s_flat.reshape((k, bsz))
        e = e_flat.reshape((k, bsz))
        p, q, yb, wb, lp = blk[0], blk[1], blk[2], blk[3], blk[4]
        vec = np.zeros((3, bsz))
        loss = vec[0]
        shifted = any_nonzero(offset)
        for b0 in range(start, stop, bsz):
            nb = min(stop, b0 + bsz) - b0
            bad += softmax_block(z, offset, shifted, y, yidx, w, alpha, b0, nb, s, s_flat, e_flat,
                                 e, p, q, yb, wb, wbar, m, rest, inv, check, a)
            core(p, q, s, rest, yb, wb, wbar, params, loss, nb, lp, vec)
            ov = out[b0:b0 + nb]
            for r in range(nb):
                ov[r] = loss[r]
        return bad

    @njit(inline="always", **_JIT)
    def binary_rows(core, z, offset, y, w, alpha, strategy, scale, floor, param, g_out, h_out,
                    stream, start, stop):
        """Rows ``start:stop`` of a sigmoid batch; like :func:`softmax_rows` with (n,) arrays:
        blocks of rows, the exponentials of a block in one vectorised pass, ``offset`` (a
        number) added to the margins as they are read.  ``stream`` is
        not used: non-temporal stores measured slower here (a row's two outputs are one
        cell each, and the block's scratch is small enough that plain stores do not evict
        it)."""
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
            # views of the block: indices from 0 need no wraparound, so loops vectorise
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

    @njit(inline="always", **_JIT)
    def one_row(core, z, y, w, alpha, strategy, scale, floor, params, g, h):
        """One row with a scalar weight, for engines that call the objective per object:
        the block core on a block of one row, the labels smoothed by ``alpha``."""
        k = z.shape[0]
        blk = np.zeros((8, k, 1))
        s, e, p, q, yb, wb, gb, hb = (blk[0], blk[1], blk[2], blk[3], blk[4], blk[5], blk[6],
                                      blk[7])
        work = np.zeros((WORK_SLOTS, k + 1, 1))
        vec = np.zeros((10, 1))
        rest, inv = vec[8], vec[9]
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
        core(p, q, s, rest, a, yb, wb, True, params, core_strategy(strategy), gb, hb, 1, work,
             vec)
        for j in range(k):
            g[j] = gb[j, 0]
            hj = hb[j, 0]
            if strategy == CLIP and hj < floor * w:
                hj = floor * w
            elif strategy == CONSTANT:
                hj = w
            h[j] = hj * scale

    # One line per objective and driver: top-level functions, so numba's disk cache finds
    # them (a function made by a factory is not found there), gathered per objective in a
    # ``Compiled`` that the objective class declares.
    @njit(**_JIT)
    def cross_entropy_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(cross_entropy_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**_JIT)
    def brier_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(brier_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**_JIT)
    def focal_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(focal_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**_JIT)
    def ranked_probability_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(ranked_probability_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**_JIT)
    def spherical_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(spherical_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**_JIT)
    def binary_cross_entropy_rows(z, offset, y, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return binary_rows(binary_cross_entropy_core, z, offset, y, w, alpha, strategy, scale, floor, params[0], g_out, h_out, stream, start, stop)

    @njit(**_JIT)
    def binary_brier_rows(z, offset, y, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return binary_rows(binary_brier_core, z, offset, y, w, alpha, strategy, scale, floor, params[0], g_out, h_out, stream, start, stop)

    @njit(**_JIT)
    def binary_focal_rows(z, offset, y, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        # a literal gamma for the usual values: power() folds and the row loop vectorises
        if params[0] == 2.0:
            return binary_rows(binary_focal_core, z, offset, y, w, alpha, strategy, scale, floor, 2.0, g_out, h_out, stream, start, stop)
        if params[0] == 1.0:
            return binary_rows(binary_focal_core, z, offset, y, w, alpha, strategy, scale, floor, 1.0, g_out, h_out, stream, start, stop)
        return binary_rows(binary_focal_core, z, offset, y, w, alpha, strategy, scale, floor, params[0], g_out, h_out, stream, start, stop)

    @njit(**_JIT)
    def cross_entropy_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(cross_entropy_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**_JIT)
    def brier_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(brier_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**_JIT)
    def focal_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(focal_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**_JIT)
    def ranked_probability_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(ranked_probability_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**_JIT)
    def spherical_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(spherical_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**_JIT)
    def cross_entropy_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(cross_entropy_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)

    @njit(**_JIT)
    def brier_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(brier_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)

    @njit(**_JIT)
    def focal_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(focal_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)

    @njit(**_JIT)
    def ranked_probability_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(ranked_probability_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)

    @njit(**_JIT)
    def spherical_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(spherical_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)


class Compiled(NamedTuple):
    """One objective's compiled kernels: ``rows`` (gradient and Hessian of a batch), ``loss``
    (per-row losses of a batch; None where the NumPy loss is used: binary objectives, one
    cell a row) and ``row`` (one softmax row, for engines that call the objective per
    object; None for binary objectives)."""

    rows: Any
    loss: Any = None
    row: Any = None


if AVAILABLE:
    cross_entropy = Compiled(cross_entropy_rows, cross_entropy_loss_rows, cross_entropy_row)
    brier = Compiled(brier_rows, brier_loss_rows, brier_row)
    focal = Compiled(focal_rows, focal_loss_rows, focal_row)
    ranked_probability = Compiled(ranked_probability_rows, ranked_probability_loss_rows,
                                  ranked_probability_row)
    spherical = Compiled(spherical_rows, spherical_loss_rows, spherical_row)
    binary_cross_entropy = Compiled(binary_cross_entropy_rows)
    binary_brier = Compiled(binary_brier_rows)
    binary_focal = Compiled(binary_focal_rows)
else:  # pragma: no cover
    cross_entropy = brier = focal = ranked_probability = spherical = None
    binary_cross_entropy = binary_brier = binary_focal = None

#: Rows below which one thread does the whole batch.
_MIN_ROWS_PER_THREAD = 20_000
_POOL = None
_POOL_LOCK = threading.Lock()
#: Seconds a first call may take before the compile notice is logged.
_NOTICE_AFTER = 1.0
_SEEN: set = set()


#: Output bytes (gradient and Hessian together) from which the softmax kernels write with
#: non-temporal stores: about the size of a last-level cache, above which the consumer would
#: not find the outputs in cache anyway.  What they gain there (measured, docs/performance.md)
#: is mostly that the block's scratch arrays are not evicted by the outputs.
STREAM_BYTES = 32 << 20


def streaming(g: np.ndarray, h: np.ndarray) -> bool:
    """Whether a kernel writes ``g`` and ``h`` with non-temporal stores: large softmax
    outputs, aligned, both C- or both F-contiguous (each output is then written a
    contiguous run at a time).  The binary kernels take the flag but keep plain stores."""
    if (not AVAILABLE or not STREAMING_STORES or g.ndim != 2
            or g.nbytes + h.nbytes < STREAM_BYTES):
        return False
    flags_g, flags_h = g.flags, h.flags
    return flags_g.aligned and flags_h.aligned and (
        (flags_g.c_contiguous and flags_h.c_contiguous)
        or (flags_g.f_contiguous and flags_h.f_contiguous))


def read_only(a):
    """``a`` itself if it is not a writable array, else a read-only view of it (no copy).

    numba compiles a kernel anew for each combination of read-only and writable arrays
    it is called with (the same dtypes and layouts otherwise): the kernels take all their
    inputs read-only, so that one signature serves a caller's arrays either way."""
    if isinstance(a, np.ndarray) and a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def _pool(parts: int):
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < parts:
            from concurrent.futures import ThreadPoolExecutor

            _POOL = ThreadPoolExecutor(max_workers=parts, thread_name_prefix="gradhess")
        return _POOL


def _signature(kernel, args) -> tuple:
    """What numba compiles a kernel for: the types of its array arguments."""
    return (kernel,) + tuple((a.dtype.char, a.ndim, a.flags.c_contiguous, a.flags.f_contiguous)
                             if isinstance(a, np.ndarray) else type(a) for a in args)


def run(kernel, *args, n_threads: int = 1, what: str = "") -> int:
    """Run the gradient and Hessian kernel ``kernel`` (the ``rows`` of a :class:`Compiled`)
    on all rows: ``args`` are its arguments up to its outputs ``g, h``; the inputs are
    passed read-only (:func:`read_only`), ``stream``, ``start`` and ``stop`` are added here.
    Rows are split in contiguous ranges over up to ``n_threads`` threads (the kernels
    release the GIL).  Returns the number of rows with non-finite margins.

    The first call of a kernel for a signature may compile it (seconds; cached on disk
    after, see ``docs/performance.md``): when it takes longer than a second, a one-line
    notice names the kernel (logger ``gradhess``, level WARNING)."""
    g, h = args[-2:]
    return run_kernel(kernel, *map(read_only, args[:-2]), g, h, streaming(g, h),
                      n_threads=n_threads, what=what)


def run_loss(kernel, *args, n_threads: int = 1, what: str = "") -> int:
    """:func:`run` for a loss kernel (the ``loss`` of a :class:`Compiled`): ``args`` are its
    arguments up to its output, the per-row losses."""
    return run_kernel(kernel, *map(read_only, args[:-1]), args[-1], n_threads=n_threads,
                      what=what)


def run_kernel(kernel, *args, n_threads: int = 1, what: str = "") -> int:
    """Any compiled ``kernel(*args, start, stop)`` over ``args[0]``'s rows, split over up to
    ``n_threads`` threads (as :func:`run`, with the arguments as given)."""
    n = args[0].shape[0]
    key = _signature(kernel, args)
    if key not in _SEEN:
        return _first_call(kernel, args, n, what, key)
    parts = min(n_threads, max(1, n // _MIN_ROWS_PER_THREAD))
    if parts == 1:
        return int(kernel(*args, 0, n))
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    futures = [_pool(parts).submit(kernel, *args, int(bounds[i]), int(bounds[i + 1]))
               for i in range(parts)]
    return int(sum(f.result() for f in futures))


def _first_call(kernel, args, n, what, key) -> int:
    """A kernel's first call for a signature in this process, on one thread: where it has
    to compile, a notice once it has taken a second (loading it from the disk cache takes
    well under that)."""
    from concurrent.futures import TimeoutError as Pending

    future = _pool(1).submit(kernel, *args, 0, n)
    try:
        bad = future.result(timeout=_NOTICE_AFTER)
    except Pending:
        _log.warning("gradhess: compiling the %s kernel (first use on this machine, or a new "
                     "input type; cached on disk after) ...", what or kernel.__name__)
        bad = future.result()
    _SEEN.add(key)
    return int(bad)
