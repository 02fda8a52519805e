"""glibc's thresholds raised so that XGBoost's per-round copy of the gradient is reused."""

from __future__ import annotations

import resource

import numpy as np
import pytest

import gradhess
import gradhess.xgboost as gx
from gradhess import _heap

glibc = pytest.mark.skipif(not _heap._glibc(), reason="glibc only")


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@glibc
def test_freed_blocks_are_reused(monkeypatch):
    monkeypatch.delenv("GRADHESS_REUSE_HEAP", raising=False)
    nbytes = 48 << 20  # above glibc's largest default mmap threshold (32 MiB)
    assert _heap.reuse_freed_blocks(nbytes)
    assert _heap.mmap_threshold >= 2 * nbytes
    _heap.release_free_memory()  # no free block of that size left: the first one faults in
    faults = []
    for _ in range(3):
        before = minor_faults()
        block = np.ones(nbytes // 8)
        faults.append(minor_faults() - before)
        del block
    # mapped afresh, the block would fault in every time (at least once per 2 MiB huge
    # page, 24 here; 12,288 with 4 KiB pages); kept in the heap, only the first time
    assert faults[0] >= 20
    assert faults[1] < 20 and faults[2] < 20, faults
    _heap.release_free_memory()


@glibc
def test_thresholds_only_raised_and_bounded(monkeypatch):
    monkeypatch.delenv("GRADHESS_REUSE_HEAP", raising=False)
    assert _heap.reuse_freed_blocks(40 << 20)
    current = _heap.mmap_threshold
    assert _heap.reuse_freed_blocks(1 << 20)  # smaller: already covered, nothing lowered
    assert _heap.mmap_threshold == current
    assert not _heap.reuse_freed_blocks(600 << 20)  # beyond what mallopt takes
    assert _heap.mmap_threshold == current


def test_disabled_by_environment(monkeypatch):
    monkeypatch.setenv("GRADHESS_REUSE_HEAP", "0")
    monkeypatch.setattr(_heap, "mmap_threshold", 0)
    assert not _heap.enabled()
    assert not _heap.reuse_freed_blocks(64 << 20)
    assert _heap.mmap_threshold == 0


@glibc
@pytest.mark.parametrize("reuse_heap", [True, False])
def test_xgboost_objective_sets_the_heap_on_its_first_round(monkeypatch, reuse_heap):
    xgb = pytest.importorskip("xgboost")
    monkeypatch.delenv("GRADHESS_REUSE_HEAP", raising=False)
    monkeypatch.setattr(_heap, "mmap_threshold", 0)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
    obj = gradhess.get("cross_entropy")
    fobj = gx.objective(obj, reuse_heap=reuse_heap)
    params = {"num_class": 3, "disable_default_eval_metric": 1, "max_depth": 2}
    xgb.train(params, gx.dmatrix(X, y, obj), 2, obj=fobj)
    assert (_heap.mmap_threshold > 0) == reuse_heap
    assert fobj._heap_cells == (300 * 3 if reuse_heap else 0)
