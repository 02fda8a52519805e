"""Letting glibc reuse the large block XGBoost allocates for a custom gradient every round.

With a custom objective, XGBoost copies the returned gradient and Hessian into a newly
allocated array of gradient pairs every round (8 bytes a cell: 80 MB at n = 1e6, K = 10)
and frees it once the round's trees are grown.  glibc serves allocations that large
with a fresh ``mmap`` (above its mmap threshold, at most 32 MiB by default) and unmaps
them when freed, so each round pays a page fault for every 4 KiB page of the new block:
about 20,000 faults and 25-31 ms a round at that size, 7-8% of the round, a cost
XGBoost's built-in objectives do not have (they keep their gradient buffer).

:func:`reuse_freed_blocks` raises glibc's mmap threshold above the size of that block
and its trim threshold above twice that, so that the block comes from the heap and,
once freed, stays there for the next round.  Both settings are process-wide and are
only ever raised.  The peak memory is unchanged (the block is allocated every round
either way), but freed memory is handed back to the operating system less eagerly:
blocks up to the mmap threshold now come from the heap, and free memory at its top
is kept up to the trim threshold (free chunks below others stay, as for any heap
allocation); :func:`release_free_memory` hands it back.

Only allocations made by the main thread are served by the heap at these sizes: glibc's
per-thread arenas map anything above 64 MiB directly, so XGBoost trained from another
thread keeps its page faults for blocks that large.  Nothing is changed when the
environment variable ``GRADHESS_REUSE_HEAP`` is ``0`` (or ``false``, ``no``, ``off``),
when glibc's own thresholds are set through the environment (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_``, or ``GLIBC_TUNABLES`` naming either), or with an allocator
other than glibc (macOS, Windows, musl), or a glibc that refuses a threshold that high.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's own largest (dynamic) mmap threshold on 64-bit systems; mallopt takes an int
_GLIBC_DYNAMIC_MAX = 32 << 20
_LARGEST = (2**31 - 1) // 2
_OFF = ("0", "false", "no", "off")

_libc = None
_lock = threading.Lock()
#: The mmap threshold set so far (0: none).
mmap_threshold = 0


def _glibc():
    global _libc
    if _libc is None:
        _libc = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                lib = ctypes.CDLL(None)
                lib.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                lib.malloc_trim.argtypes = [ctypes.c_size_t]
                _libc = lib
            except (OSError, AttributeError):
                pass
    return _libc


def _set_by_user() -> bool:
    """Whether glibc's thresholds were set through the environment (left as they are)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return ("MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ
            or "mmap_threshold" in tunables or "trim_threshold" in tunables)


def enabled() -> bool:
    """Whether :func:`reuse_freed_blocks` may change glibc's settings here."""
    return (os.environ.get("GRADHESS_REUSE_HEAP", "1").strip().lower() not in _OFF
            and not _set_by_user() and bool(_glibc()))


def reuse_freed_blocks(nbytes: int) -> bool:
    """Make glibc serve blocks of ``nbytes`` from its heap and keep them there once freed:
    the mmap threshold becomes ``2 * nbytes`` (at least 32 MiB) and the trim threshold
    twice the mmap threshold, unless they are that high already.  Returns whether blocks
    of that size are now reused (False when not :func:`enabled`, above 512 MiB, or if
    glibc refuses the mmap threshold, in which case nothing was changed)."""
    global mmap_threshold
    wanted = max(2 * int(nbytes), _GLIBC_DYNAMIC_MAX)
    if wanted > _LARGEST or not enabled():
        return False
    with _lock:
        if wanted <= mmap_threshold:
            return True
        lib = _glibc()
        # the mmap threshold first: a glibc that caps it (older releases, at 32 MiB) refuses
        # it without changing anything, and the trim threshold is then left alone too
        if not lib.mallopt(_M_MMAP_THRESHOLD, wanted):
            return False
        lib.mallopt(_M_TRIM_THRESHOLD, 2 * wanted)
        mmap_threshold = wanted
        return True


def release_free_memory() -> None:
    """Hand the heap's free memory back to the operating system (``malloc_trim``), if
    :func:`reuse_freed_blocks` changed anything."""
    if mmap_threshold and _glibc():
        _glibc().malloc_trim(0)
