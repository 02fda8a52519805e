"""glibc's thresholds raised so that XGBoost's per-round copy of the gradient is reused.

The allocator's settings are process-wide and cannot be put back, so each check runs in
a fresh interpreter and counts the page faults of its own thread.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from gradhess import _heap

glibc = pytest.mark.skipif(not _heap._glibc(), reason="glibc only")


def in_subprocess(code: str, **env) -> dict:
    environ = {k: v for k, v in os.environ.items()
               if k not in ("GRADHESS_REUSE_HEAP", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env={**environ, **env},
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


FAULTS = """
import json, resource, numpy as np
from gradhess import _heap

def faults(nbytes, times=3):
    out = []
    for _ in range(times):
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        block = np.ones(nbytes // 8)
        out.append(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - before)
        del block
    return out

nbytes = 48 << 20  # above glibc's largest default mmap threshold (32 MiB)
before = faults(nbytes)
reused = _heap.reuse_freed_blocks(nbytes)
after = faults(nbytes)
print(json.dumps({"before": before, "reused": reused, "after": after,
                  "threshold": _heap.mmap_threshold}))
"""


@glibc
def test_freed_blocks_are_reused():
    r = in_subprocess(FAULTS)
    # mapped afresh, the block faults in every time (at least once per 2 MiB huge page,
    # 24 here; 12,288 with 4 KiB pages); kept in the heap, only the first time
    assert r["reused"] and r["threshold"] >= 2 * (48 << 20)
    assert min(r["before"]) >= 20, r
    assert r["after"][0] >= 20 and max(r["after"][1:]) < 20, r


@pytest.mark.parametrize("env", [{"GRADHESS_REUSE_HEAP": "0"}, {"GRADHESS_REUSE_HEAP": "off"},
                                 {"MALLOC_MMAP_THRESHOLD_": "1048576"}])
def test_left_alone_when_disabled_or_set_by_the_user(env):
    r = in_subprocess(FAULTS, **env)
    assert not r["reused"] and r["threshold"] == 0
    if _heap._glibc():
        assert min(r["after"]) >= 20, r


@glibc
def test_thresholds_only_raised_and_bounded():
    r = in_subprocess("""
        import json
        from gradhess import _heap
        out = [_heap.reuse_freed_blocks(40 << 20), _heap.mmap_threshold]
        out += [_heap.reuse_freed_blocks(1 << 20), _heap.mmap_threshold]  # smaller: kept
        out += [_heap.reuse_freed_blocks(600 << 20), _heap.mmap_threshold]  # beyond an int
        print(json.dumps(out))
    """)
    assert r == [True, 80 << 20, True, 80 << 20, False, 80 << 20]


@glibc
@pytest.mark.parametrize("reuse_heap", [True, False])
def test_xgboost_objective_sets_the_heap_on_its_first_round(reuse_heap):
    pytest.importorskip("xgboost")
    r = in_subprocess(f"""
        import json, numpy as np, xgboost as xgb, gradhess, gradhess.xgboost as gx
        from gradhess import _heap
        rng = np.random.default_rng(0)
        X, y = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
        obj = gradhess.get("cross_entropy")
        fobj = gx.objective(obj, reuse_heap={reuse_heap})
        params = {{"num_class": 3, "disable_default_eval_metric": 1, "max_depth": 2}}
        xgb.train(params, gx.dmatrix(X, y, obj), 2, obj=fobj)
        print(json.dumps([_heap.mmap_threshold, fobj._heap_cells]))
    """)
    assert r == ([32 << 20, 900] if reuse_heap else [0, 0])
