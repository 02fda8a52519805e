"""Letting glibc reuse the large block XGBoost allocates for a custom gradient every round.

With a custom objective, XGBoost copies the returned gradient and Hessian into a newly
allocated array of gradient pairs every round (8 bytes a cell: 80 MB at n = 1e6, K = 10)
and frees it once the round's trees are grown.  glibc serves allocations that large
with a fresh ``mmap`` (above its mmap threshold, at most 32 MiB by default) and unmaps
them when freed, so each round pays a page fault for every 4 KiB page of the new block:
about 20,000 faults and 25-30 ms a round at that size, 7% of the round, a cost XGBoost's
built-in objectives do not have (they keep their gradient buffer).

:func:`reuse_freed_blocks` raises glibc's mmap threshold above the size of that block
and its trim threshold above twice that, so that the block comes from the heap and,
once freed, stays there for the next round.  Both settings are process-wide and are
only ever raised; the peak memory is unchanged (the block is allocated every round
either way), but up to the trim threshold of freed memory may stay with the process
between allocations; :func:`release_free_memory` hands it back.  Set the environment
variable ``GRADHESS_REUSE_HEAP=0`` to leave glibc's settings alone.  Elsewhere than
glibc (macOS, Windows, musl) nothing is changed.
"""

from __future__ import annotations

import ctypes
import os
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# glibc's own largest (dynamic) mmap threshold on 64-bit systems; mallopt takes an int
_GLIBC_DYNAMIC_MAX = 32 << 20
_LARGEST = (2**31 - 1) // 2

_libc = None
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


def enabled() -> bool:
    """Whether :func:`reuse_freed_blocks` may change glibc's settings here."""
    return os.environ.get("GRADHESS_REUSE_HEAP", "1") != "0" and bool(_glibc())


def reuse_freed_blocks(nbytes: int) -> bool:
    """Make glibc serve blocks of ``nbytes`` from its heap and keep them there once freed:
    the mmap threshold becomes ``2 * nbytes`` (at least 32 MiB) and the trim threshold
    twice the mmap threshold, unless they are that high already.  Returns whether blocks
    of that size are now reused (False without glibc, when disabled, or above 512 MiB)."""
    global mmap_threshold
    wanted = max(2 * int(nbytes), _GLIBC_DYNAMIC_MAX)
    if wanted > _LARGEST or not enabled():
        return False
    if wanted <= mmap_threshold:
        return True
    lib = _glibc()
    if lib.mallopt(_M_TRIM_THRESHOLD, 2 * wanted) and lib.mallopt(_M_MMAP_THRESHOLD, wanted):
        mmap_threshold = wanted
        return True
    return False


def release_free_memory() -> None:
    """Hand the heap's free memory back to the operating system (``malloc_trim``), if
    :func:`reuse_freed_blocks` changed anything."""
    if mmap_threshold and _glibc():
        _glibc().malloc_trim(0)
