"""How much float32 arithmetic could save (docs/performance.md): softmax cross-entropy,
hard labels, gradient and exact Hessian, by one minimal blocked class-major kernel (blocks
of 128 rows; no weights, label smoothing, offset or non-finite check) compiled with float64
and with float32 scratch and arithmetic (a float32 polynomial exp), side by side with
gradhess's own kernel on the same float32 margins and with the bench's copy floor (a
compiled copy of the same bytes, ``gradhess.bench``; medians of alternating repeats).
Errors are relative to the float64 reference (floor 1e-3).  numba's threads for the
minimal kernels: NUMBA_NUM_THREADS; gradhess's: GRADHESS_NUM_THREADS.

Usage: NUMBA_NUM_THREADS=2 python docs/scripts/float32_speed.py N K REPS
"""
import sys
import time

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from gradhess.bench import _copy_floor
from gradhess.kernels import compiled as C

B = 128
F32 = np.float32
_LOG2E32 = F32(1.4426950408889634)
_LN2_HI32 = F32(0.693145751953125)
_LN2_LO32 = F32(1.428606765330187e-06)
_SHIFT32 = F32(12582912.0)  # 1.5 * 2**23
_SHIFT32_BITS = 0x4B400000
ONE32, HALF32 = F32(1.0), F32(0.5)
C3, C4, C5, C6 = F32(1 / 6), F32(1 / 24), F32(1 / 120), F32(1 / 720)
MIN32 = F32(-87.0)


def _bitcast(source, target):
    """An intrinsic reinterpreting a ``source`` value's bits as ``target`` (same width)."""

    @intrinsic
    def cast(typingctx, x):
        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), codegen

    return cast


_bits_to_f32 = _bitcast(types.int32, types.float32)
_f32_to_bits = _bitcast(types.float32, types.int32)


@njit(inline="always", error_model="numpy")
def exp32(x):
    """float32 exp for x <= 0 (to about 2 ulp; 0 below -87)"""
    x = max(x, MIN32)
    t = x * _LOG2E32 + _SHIFT32
    kf = t - _SHIFT32
    r = x - kf * _LN2_HI32 - kf * _LN2_LO32
    r2 = r * r
    poly = (ONE32 + r) + r2 * (HALF32 + r * C3) + (r2 * r2) * (C4 + r * C5 + r2 * C6)
    k = _f32_to_bits(t) - _SHIFT32_BITS
    return poly * _bits_to_f32(np.int32((k + 127) << 23))


def make(dtype, expf):
    zero = dtype(0.0)
    one = dtype(1.0)

    @njit(error_model="numpy", fastmath={"nnan", "ninf", "nsz", "arcp", "contract", "afn"},
          parallel=True)
    def kernel(z, y, g, h):
        n, k = z.shape
        nblocks = (n + B - 1) // B
        for bi in prange(nblocks):
            s = np.empty((k, B), dtype)
            e = np.empty((k, B), dtype)
            m = np.empty(B, dtype)
            a = np.empty(B, np.int64)
            rest = np.empty(B, dtype)
            inv = np.empty(B, dtype)
            b0 = bi * B
            nb = min(B, n - b0)
            for r in range(nb):
                m[r] = dtype(-np.inf)
                a[r] = 0
            for r in range(nb):
                for j in range(k):
                    s[j, r] = dtype(z[b0 + r, j])
            for j in range(k):
                for r in range(nb):
                    v = s[j, r]
                    a[r] = j if v > m[r] else a[r]
                    m[r] = v if v > m[r] else m[r]
            for j in range(k):
                for r in range(nb):
                    e[j, r] = expf(s[j, r] - m[r])
            for r in range(nb):
                rest[r] = zero
            for j in range(k):
                for r in range(nb):
                    rest[r] += e[j, r] if j != a[r] else zero
            for r in range(nb):
                inv[r] = one / (one + rest[r])
            # p into s, q into e
            for j in range(k):
                for r in range(nb):
                    p = e[j, r] * inv[r]
                    s[j, r] = p
                    e[j, r] = one - p
            for r in range(nb):
                s[a[r], r] = inv[r]
                e[a[r], r] = rest[r] * inv[r]
            for r in range(nb):
                lab = y[b0 + r]
                # the label's gradient -(1 - p) without cancellation; h = p q
                for j in range(k):
                    gj = s[j, r] if j != lab else -e[j, r]
                    g[b0 + r, j] = np.float32(gj)
                    h[b0 + r, j] = np.float32(s[j, r] * e[j, r])

    return kernel


k64 = make(np.float64, C.exp_nonpositive)

k32 = make(np.float32, exp32)


def main():
    n, k, reps = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    z = (3 * rng.normal(size=(n, k))).astype(np.float32)
    y = rng.integers(0, k, n)
    g64, h64 = np.empty_like(z), np.empty_like(z)
    g32, h32 = np.empty_like(z), np.empty_like(z)
    gg, hh = np.empty_like(z), np.empty_like(z)
    import gradhess
    obj = gradhess.get("cross_entropy", hessian="exact")
    k64(z, y, g64, h64)
    k32(z, y, g32, h32)
    off = np.zeros(k)
    ye, we, params = np.empty((0, k)), np.empty((0, 1)), np.array([2.0])

    def ours():
        C.run(C.cross_entropy.rows, z, off, ye, y, we, 0.0, 0, 1.0, 1e-6, params, gg, hh,
              n_threads=2)

    ours()
    ref_g, ref_h = obj.gradient_hessian(y, z.astype(np.float64))
    for name, (a, b) in {"f64 block": (g64, h64), "f32 block": (g32, h32), "gradhess": (gg, hh)}.items():
        eg = np.max(np.abs(a - ref_g) / (np.abs(ref_g) + 1e-3))
        eh = np.max(np.abs(b - ref_h) / (np.abs(ref_h) + 1e-3))
        print(f"{name}: max rel error g {eg:.1e} h {eh:.1e}")
    floor_rows, _ = _copy_floor()
    gf, hf = np.empty_like(z), np.empty_like(z)
    fns = {"f64 block": lambda: k64(z, y, g64, h64), "f32 block": lambda: k32(z, y, g32, h32),
           "gradhess": ours, "floor": lambda: C.run_kernel(floor_rows, z, y, gf, hf, n_threads=2)}
    times = {key: [] for key in fns}
    keys = list(fns)
    for rep in range(reps):
        for key in (keys if rep % 2 else keys[::-1]):
            t = time.perf_counter()
            fns[key]()
            times[key].append(time.perf_counter() - t)
    med = {key: np.median(v) for key, v in times.items()}
    for key in keys:
        print(f"{key}: {med[key] * 1e3:.2f} ms ({med[key] / med['f64 block']:.2f}x the f64 block, "
              f"{med[key] / med['floor']:.2f}x the floor)")


if __name__ == "__main__":
    main()
