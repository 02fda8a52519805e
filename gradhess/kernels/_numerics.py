"""Scalar numerics of the compiled kernels: bit casts, non-temporal stores, an ``exp`` and a
``log1p`` that vectorise, and small integer powers.

Imported by :mod:`gradhess.kernels.compiled` only where numba is installed.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

#: Options of every kernel function: cached on disk, the GIL released, and numba's NumPy
#: error model (a division by zero gives inf or nan instead of raising, so that loops with
#: divisions vectorise; the kernels guard their divisions themselves).
JIT = dict(cache=True, nogil=True, error_model="numpy")
#: Options of the functions the drivers call once a block with arrays (a block's loading,
#: the cores, the streamed stores): plain calls without numba's reference counting (they
#: allocate nothing), since each array handed to a function, inlined or not, costs an
#: atomic increment and decrement a call.
JIT_PER_BLOCK = dict(JIT, _nrt=False)


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


#: Whether the kernels write large outputs with non-temporal (streaming) stores: x86-64
#: only, where ``sfence`` orders them; elsewhere plain stores.
STREAMING_STORES = platform.machine().lower() in ("x86_64", "amd64")


@intrinsic
def store_streaming(typingctx, arr, index, value):
    """``arr[index] = value`` (``index`` a tuple of integers) by a non-temporal store on
    x86-64: the cache line is written without being read first and without evicting
    what the caches hold.  Such stores are weakly ordered: :func:`streaming_fence`
    must follow them."""
    sig = types.void(arr, index, types.float64)

    def codegen(context, builder, signature, args):
        arrty, idxty = signature.args[0], signature.args[1]
        ary = context.make_array(arrty)(context, builder, args[0])
        raw = cgutils.unpack_tuple(builder, args[1], len(idxty))
        indices = [context.cast(builder, v, t, types.intp) for v, t in zip(raw, idxty)]
        ptr = cgutils.get_item_pointer(context, builder, arrty, ary, indices, wraparound=False)
        store = builder.store(context.cast(builder, args[2], types.float64, arrty.dtype), ptr)
        if STREAMING_STORES:
            store.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def streaming_fence(typingctx):
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


@njit(inline="always", **JIT)
def exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0``: Cody-Waite reduction, degree-12 Taylor polynomial
    (Estrin's scheme), scaling by ``2**k`` in two halves (so subnormal results are
    right).  No calls and no conversions between floats and integers (AVX2 has no
    vector instruction for them), so a loop of it vectorises; 0 below -745.2.  Not
    to be compiled with the ``reassoc`` fast-math flag (see :data:`_EXP_FASTMATH`)."""
    x = max(x, -746.0)
    # k = round(x / log 2) in the low bits of t: adding 1.5 * 2**52 rounds to an integer
    t = x * _LOG2E + _SHIFTER
    kf = t - _SHIFTER
    r = x - kf * _LN2_HI - kf * _LN2_LO
    # Estrin's form: a short dependency chain
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


@njit(inline="always", **JIT)
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


#: The fast-math flags of :func:`exp_block`: all of them but ``reassoc``, which would let
#: the compiler fold ``(x / log 2 + 1.5 * 2**52) - 1.5 * 2**52`` in
#: :func:`exp_nonpositive` to ``x / log 2``.
_EXP_FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}


@njit(fastmath=_EXP_FASTMATH, **JIT)
def exp_block(x, e):
    """``e = exp(x)`` for ``x <= 0`` (flat, contiguous): one loop the compiler vectorises."""
    for i in range(x.shape[0]):
        e[i] = exp_nonpositive(x[i])


@njit(inline="always", **JIT)
def power(x, gamma):
    """``x ** gamma``, by multiplication for the usual integer focusing parameters (called
    with a literal ``gamma``, it folds, and a loop of it vectorises)."""
    if gamma == 2.0:
        return x * x
    if gamma == 1.0:
        return x
    if gamma == 0.0:
        return 1.0
    if gamma == 3.0:
        return x * x * x
    return x ** gamma
