"""Shared problem generation for the registry-driven tests."""

from __future__ import annotations

import functools
import os
import zlib
from pathlib import Path

import numpy as np
import pytest

import gradhess
from gradhess import checking

# Subprocesses (the CLI, fresh interpreters, Dask workers) run the gradhess these tests
# import, not another installed copy of it, and so share its compiled-kernel cache: numba
# caches next to the source, so a second copy compiles every kernel again.
_ROOT = str(Path(gradhess.__file__).resolve().parents[1])
if os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] != _ROOT:
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)

SOFTMAX = [n for n, c in gradhess.OBJECTIVES.items() if c.is_multiclass]
BINARY = [n for n, c in gradhess.OBJECTIVES.items() if not c.is_multiclass]
ALL = list(gradhess.OBJECTIVES)
DTYPES = [np.float32, np.float64]
KS = [2, 3, 10, 200]


def rows_for(k):
    """Fewer rows for large K keeps (n, K, K) oracle tensors small."""
    return 64 if k is None or k <= 10 else 24


@functools.lru_cache(maxsize=None)
def problem(name, labels, weights, k, dtype_name, seed=0):
    """A random problem ``(y, z, w)`` in the given dtype, deterministic per key.

    ``z`` mixes moderate and extreme (+-1e3) margins; ``labels`` is "hard" or
    "soft" (with exact zeros and one-hot rows); ``weights`` is None, "row" or "cell".
    """
    key = f"{name}|{labels}|{weights}|{k}|{dtype_name}|{seed}".encode()
    rng = np.random.default_rng(zlib.crc32(key))
    n = rows_for(k)
    dtype = np.dtype(dtype_name)
    z = checking.random_margins(rng, n, k).astype(dtype)
    y = checking.random_labels(rng, n, k, labels)
    if labels == "soft":
        y = y.astype(dtype)
    w = checking.random_weights(rng, n, k, weights)
    if w is not None:
        w = w.astype(dtype)
    for a in (y, z, w):
        if a is not None:
            a.flags.writeable = False  # inputs must never be written to
    return y, z, w


def row_scale(w, n):
    return checking.row_weight(w, np.empty(n))


def dense_labels(y, k):
    """Class indices -> one-hot rows (for the oracle); matrices pass through."""
    y = np.asarray(y)
    if k is not None and y.ndim == 1:
        return np.eye(k)[y]
    return y


def registry_cases():
    """(name, labels, weights, K, dtype name) for every objective: softmax objectives x K in
    KS x hard/soft x row/cell weights, binary objectives x hard/soft x no/row weights;
    float32 and float64."""
    for name in SOFTMAX:
        for k in KS:
            for labels in ("hard", "soft"):
                for weights in ("row", "cell") if gradhess.OBJECTIVES[name].cell_weights else ("row",):
                    for dtype in DTYPES:
                        yield name, labels, weights, k, np.dtype(dtype).name
    for name in BINARY:
        for labels in ("hard", "soft"):
            for weights in (None, "row"):
                for dtype in DTYPES:
                    yield name, labels, weights, None, np.dtype(dtype).name


def case_id(c):
    name, labels, weights, k, dtype = c
    return f"{name}-{labels}-{weights}-K{k}-{dtype}"


# ---------------------------------------------------------------- distributed runs
def pytest_configure(config):
    """With ``-n`` (pytest-xdist; its default "load" distribution, which this replaces), the
    tests of one objective run on one worker ("loadgroup", each test marked with its
    objective below): every objective has kernels of its own, so each worker then compiles
    the kernels of its objectives only.  Spread over both workers, both compiled the same
    kernels at the same time (numba's cache is filled by whichever finishes first), which
    cost about a third more processor time on a cold cache."""
    if getattr(config.option, "dist", "no") == "load":
        config.option.dist = "loadgroup"
    # a worker parses the command line again (-n: "load"): it is told by the controller
    if getattr(config, "workerinput", {}).get("gradhess_loadgroup"):
        config.option.loadgroup = True


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["gradhess_loadgroup"] = node.config.getvalue("dist") == "loadgroup"


def _objective_of(item):
    """The registered objective a parametrised test is about (the first parameter naming one,
    as a name or as the first field of a case tuple), or None."""
    for value in getattr(getattr(item, "callspec", None), "params", {}).values():
        for candidate in (value, value[0] if isinstance(value, tuple) and value else None):
            if isinstance(candidate, str) and candidate in gradhess.OBJECTIVES:
                return candidate
    return None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker reads the groups
def pytest_collection_modifyitems(config, items):
    if not getattr(config.option, "loadgroup", False):  # a worker of a distributed run only
        return
    for item in items:
        name = _objective_of(item)
        if name is not None:
            item.add_marker(pytest.mark.xdist_group(name))
