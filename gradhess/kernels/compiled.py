r"""Fused compiled kernels (numba): every objective and Hessian strategy in one pass.

The NumPy kernels in :mod:`gradhess.kernels.reference` are the definition and
the oracle; these compute the same numbers (tests compare them to 1e-12 in
float64) without temporaries, in parallel over rows, reading margins and
writing gradients and Hessians in whatever dtype (float32 or float64) and
memory order the caller's arrays have, so an engine adapter can hand over its
own buffers.  Batches are split over threads (:func:`run`); the kernels
release the GIL.

The kernels are built from modules by concern:

* :mod:`._numerics`: bit casts, non-temporal stores, the vectorisable
  :func:`exp_nonpositive` (relative error below 5e-16 on the arguments a
  softmax produces) and :func:`log1p_nonnegative`, :func:`exp_block`;
* :mod:`._blocks`: a block of :data:`BLOCK_ROWS` rows read into class-major
  ``(K, B)`` arrays with its softmax (written once for the gradient and the
  loss drivers) and written back, with non-temporal stores for outputs above
  :data:`STREAM_BYTES` on x86-64 (:func:`streaming`);
* :mod:`._diagonals`: the Gauss-Newton and majorizer diagonals the cores share;
* :mod:`._cores`: one short core per objective (softmax, binary, loss);
* :mod:`._drivers`: the drivers, written once for all cores.

This module instantiates each driver per core by a one-line function (top
level, so that numba's disk cache finds it), gathers them per objective in a
:class:`Compiled` that the objective class declares, and dispatches.  Adding
an objective takes one core, one line per driver and one :class:`Compiled`.
What the drivers call once a block is a plain call compiled without numba's
reference counting (``_numerics.JIT_PER_BLOCK``), and every kernel function's
disk cache is keyed on all these modules' sources (:func:`_stamp_caches`).
Design choices and their measurements: ``docs/performance.md``.

Compiled functions are cached on disk (numba ``cache=True``), so only the
first use on a machine pays the compile time (reported by ``gradhess bench``).
Without numba, :data:`AVAILABLE` is False and the objectives use the NumPy
kernels.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .. import hessians

try:  # pragma: no cover - exercised by whichever environment runs the tests
    from numba import njit

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

_log = logging.getLogger("gradhess")

if AVAILABLE:
    from . import _blocks, _cores, _diagonals, _drivers, _numerics
    from ._blocks import BLOCK_ROWS  # noqa: F401
    from ._cores import (binary_brier_core, binary_cross_entropy_core, binary_focal_core,
                         brier_core, brier_loss_core, cross_entropy_core,
                         cross_entropy_loss_core, focal_core, focal_loss_core,
                         ranked_probability_core, ranked_probability_loss_core,
                         spherical_core, spherical_loss_core)
    from ._drivers import binary_rows, one_row, softmax_loss_rows, softmax_rows
    # exp_block, exp_nonpositive, log1p_nonnegative: re-exported, for tests and studies
    from ._numerics import (JIT, STREAMING_STORES, exp_block, exp_nonpositive,  # noqa: F401
                            log1p_nonnegative)

    # One line per objective and driver: top-level functions, so numba's disk cache finds
    # them (a function made by a factory is not found there), gathered per objective in a
    # ``Compiled`` that the objective class declares.
    @njit(**JIT)
    def cross_entropy_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(cross_entropy_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**JIT)
    def brier_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(brier_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**JIT)
    def focal_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(focal_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**JIT)
    def ranked_probability_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(ranked_probability_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**JIT)
    def spherical_rows(z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return softmax_rows(spherical_core, z, offset, y, yidx, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop)

    @njit(**JIT)
    def binary_cross_entropy_rows(z, offset, y, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return binary_rows(binary_cross_entropy_core, z, offset, y, w, alpha, strategy, scale, floor, params[0], g_out, h_out, stream, start, stop)

    @njit(**JIT)
    def binary_brier_rows(z, offset, y, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        return binary_rows(binary_brier_core, z, offset, y, w, alpha, strategy, scale, floor, params[0], g_out, h_out, stream, start, stop)

    @njit(**JIT)
    def binary_focal_rows(z, offset, y, w, alpha, strategy, scale, floor, params, g_out, h_out, stream, start, stop):
        # a literal gamma for the usual values: power() folds and the row loop vectorises
        if params[0] == 2.0:
            return binary_rows(binary_focal_core, z, offset, y, w, alpha, strategy, scale, floor, 2.0, g_out, h_out, stream, start, stop)
        if params[0] == 1.0:
            return binary_rows(binary_focal_core, z, offset, y, w, alpha, strategy, scale, floor, 1.0, g_out, h_out, stream, start, stop)
        return binary_rows(binary_focal_core, z, offset, y, w, alpha, strategy, scale, floor, params[0], g_out, h_out, stream, start, stop)

    @njit(**JIT)
    def cross_entropy_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(cross_entropy_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**JIT)
    def brier_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(brier_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**JIT)
    def focal_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(focal_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**JIT)
    def ranked_probability_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(ranked_probability_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**JIT)
    def spherical_row(z, y, w, alpha, strategy, scale, floor, params, g, h):
        one_row(spherical_core, z, y, w, alpha, strategy, scale, floor, params, g, h)

    @njit(**JIT)
    def cross_entropy_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(cross_entropy_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)

    @njit(**JIT)
    def brier_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(brier_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)

    @njit(**JIT)
    def focal_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(focal_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)

    @njit(**JIT)
    def ranked_probability_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(ranked_probability_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)

    @njit(**JIT)
    def spherical_loss_rows(z, offset, y, yidx, w, alpha, params, out, start, stop):
        return softmax_loss_rows(spherical_loss_core, z, offset, y, yidx, w, alpha, params, out, start, stop)


def _stamp_caches(modules) -> None:
    """numba's disk cache keys a function on its own file's source alone, so a one-liner here
    would load stale code after an edit of the modules it calls: every kernel function's
    cache is keyed on all the kernel modules' sources (and the strategy codes they fold in)."""
    digest = hashlib.sha256(repr((hessians.EXACT, hessians.GAUSS_NEWTON, hessians.MAJORIZER,
                                  hessians.CLIP, hessians.CONSTANT)).encode())
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    stamp = digest.hexdigest()
    for module in modules:
        for fn in vars(module).values():
            if getattr(getattr(fn, "py_func", None), "__module__", None) != module.__name__:
                continue  # not a kernel function, or one imported from another module
            index = getattr(getattr(fn, "_cache", None), "_cache_file", None)
            if getattr(index, "_source_stamp", None) is not None:
                index._source_stamp = (index._source_stamp, stamp)


if AVAILABLE:
    _stamp_caches([_numerics, _blocks, _diagonals, _cores, _drivers, sys.modules[__name__]])


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

