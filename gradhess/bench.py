"""``gradhess bench``: measurements side by side in one run.

    gradhess bench [--quick] [--parts kernels engines catboost soft metric] [--out DIR]
                   [--soft-rows N] [--soft-rounds R]

1. Kernels (``kernels``): the time of one gradient/Hessian evaluation, n rows, K = 10,
   float32 margins as the engines hand them over, for every objective and strategy:
   the compiled kernel, the NumPy reference kernels, a streaming copy of the same
   bytes (read margins and labels, write gradient and Hessian: the floor), and
   XGBoost's own gradient computation for ``multi:softprob`` (its ``GetGradient``
   timer in a booster's second round, a contender of every row); with the Python-side
   peak memory of each call (tracemalloc).  And the
   compile cost: import and first call in a fresh interpreter, with an empty and
   with a warm numba cache.
2. Engines (``engines``): end-to-end training with a gradhess objective against the
   engine's built-in one on the same data: XGBoost ``multi:softprob`` and LightGBM
   ``multiclass``, alternating repeats, medians.  And one XGBoost round taken apart
   (:func:`xgboost_round_parts`): the prediction copy, the objective and the gradient
   intake that a custom objective costs, against the built-in gradient.
3. CatBoost (``catboost``): training time with a gradhess objective (per-object
   calls, compiled by CatBoost's numba step) over training time with the built-in
   ``MultiClass``, and over a compiled objective that does no work (the floor of
   CatBoost's per-object call path, ``gradhess/_catboost_floor.py``).
4. Soft labels (``soft``) against the row-replication workaround (each row copied K
   times with weight y_ij and hard label j, the same objective): rows, time, the
   feature/label/weight bytes handed to the engine, the resident memory the training
   adds (data set and boosting, sampled while it runs), and model quality (held-out
   cross-entropy to the true class probabilities, which the synthetic task knows).
   The objective's own seconds on the soft side are added up as it trains, which gives
   the time ratio an objective taking no time at all would reach: the engine's share.

5. Training with an evaluation set (``metric``): gradhess ``cross_entropy`` with its
   metric against the built-in objective with its multiclass log loss, with and without
   an evaluation set as large as the training set.

Timings alternate between the contenders and report medians.  Prints Markdown
tables and, with ``--out``, writes ``bench.md`` and ``bench.json``.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from .objectives.cross_entropy import SoftmaxCrossEntropy


def _median_alternating(fns: dict, repeats: int) -> dict:
    """Median seconds per contender, calling the contenders in turn ``repeats`` times.
    A contender marked by :func:`_self_timed` returns its own seconds (a part of what it
    runs); the others are timed whole."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            if getattr(fn, "self_timed", False):
                times[name].append(float(fn()))
                continue
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: float(np.median(t)) for name, t in times.items()}


def _self_timed(fn):
    """Mark ``fn`` as returning its own time for :func:`_median_alternating`."""
    fn.self_timed = True
    return fn


def _peak_bytes(fn) -> int:
    """Peak Python-side allocation (numpy arrays included) while ``fn`` runs."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return int(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def _copy_floor():
    """Compiled kernels that only stream the bytes an objective must touch: read the
    margins and labels, write the gradient and Hessian; ``(n, K)`` and ``(n,)`` margins."""
    from numba import njit

    @njit(nogil=True)
    def copy_rows(z, yi, g, h, start, stop):
        for i in range(start, stop):
            for j in range(z.shape[1]):
                g[i, j] = z[i, j]
                h[i, j] = z[i, j]
            g[i, yi[i]] -= 1.0
        return 0

    @njit(nogil=True)
    def copy_cells(z, y, g, h, start, stop):
        for i in range(start, stop):
            g[i] = z[i] - y[i]
            h[i] = z[i]
        return 0

    return copy_rows, copy_cells


def _xgboost_monitor(fn) -> str:
    """Run ``fn`` at XGBoost verbosity 3 and return what XGBoost printed: the timers of
    its monitors, which print when their objects go away (``fn`` must drop them).
    XGBoost prints them through Python's ``sys.stdout`` (its log callback), native code
    writes to file descriptors 1 and 2: both go to one file, so that it works where
    ``sys.stdout`` is not descriptor 1 (a notebook, a test runner's capture)."""
    import contextlib
    import gc
    import sys
    import tempfile

    import xgboost as xgb

    fd, path = tempfile.mkstemp()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = (os.dup(1), os.dup(2))
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    # a second descriptor of the same open file: writes share its offset
    sink = os.fdopen(os.dup(fd), "w", buffering=1, errors="replace")
    try:
        # verbosity as a training parameter would stay set globally: scope it
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                xgb.config_context(verbosity=3):
            fn()
            gc.collect()
    finally:
        sink.close()
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        os.close(fd)
    text = Path(path).read_text(errors="replace")
    os.unlink(path)
    return text


def _monitor_total(text: str, timer: str) -> tuple[float, int]:
    """Total seconds and calls of one XGBoost monitor timer in :func:`_xgboost_monitor`'s
    text."""
    import re

    found = re.search(rf"{timer}: ([0-9.eE+-]+)s, (\d+) calls", text)
    if not found:
        raise RuntimeError(f"XGBoost did not report its {timer} timer")
    return float(found.group(1)), int(found.group(2))


def _monitor_seconds(text: str, timer: str) -> float:
    """Seconds per call of one XGBoost monitor timer in :func:`_xgboost_monitor`'s text."""
    seconds, calls = _monitor_total(text, timer)
    return seconds / calls


def xgboost_gradient_seconds(d, k) -> float:
    """Seconds XGBoost spends in its own ``multi:softprob`` gradient on DMatrix ``d``
    (K = ``k``) in one round once warm: the ``GetGradient`` timer of its learner monitor
    (which times only while the verbosity is 3, and prints then) in the second round of
    a new booster.  The first round is left out because it also faults in the gradient
    buffer the booster allocates (at n = 1e6, K = 10, about 116 against 68 ms on the
    AVX2 machine of docs/performance.md), which the later rounds reuse, as the
    objectives' kernels reuse their output buffers."""
    import xgboost as xgb

    boosters = [xgb.Booster({"objective": "multi:softprob", "num_class": k, "nthread": 2,
                             "max_depth": 2, "tree_method": "hist"}, [d])]
    boosters[0].update(d, 0)

    def second_round():
        booster = boosters.pop()
        booster.update(d, 1)
        del booster  # its monitor prints now

    seconds, calls = _monitor_total(_xgboost_monitor(second_round), "GetGradient")
    if calls != 1:
        raise RuntimeError(f"XGBoost timed {calls} gradient calls in one round")
    return seconds


def xgboost_round_parts(n, k, rounds) -> dict:
    """Where an XGBoost round goes, built-in ``multi:softprob`` against gradhess
    ``cross_entropy`` (majorizer: the same Hessian, so the same trees), the two boosters
    stepped by hand in turn on the same data and parameters as :func:`engine_overhead`.

    Built-in: the whole round and its ``GetGradient`` timer.  gradhess: the three steps
    of ``Booster.update`` with a custom objective -- the prediction copy
    (``predict(output_margin=True, training=True)``), the objective callable, and
    ``Booster.boost``, which copies the returned arrays into XGBoost's gradient pairs
    and grows the trees (its ``BoostOneIter`` timer); ``boost`` minus ``BoostOneIter``
    is the gradient intake.  The first round (which also builds XGBoost's histogram
    index) runs before the measured ones.  ``zero_cost_ratio`` is the round ratio an
    objective taking no time would reach: the built-in round with its gradient
    replaced by the prediction copy and the intake.  ``faults_per_round``: the minor page
    faults of the custom round (XGBoost's copy of the gradient, allocated every round,
    faults in page by page unless the allocator reuses it: ``heap_reuse``, see
    :mod:`gradhess._heap`).
    """
    import resource

    import xgboost as xgb

    import gradhess
    import gradhess.xgboost as gx
    from . import _heap

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 20)).astype(np.float32)
    y = rng.integers(0, k, n)
    params = {"max_depth": 6, "eta": 0.1, "tree_method": "hist", "nthread": 2, "max_bin": 256}
    obj = gradhess.get("cross_entropy", hessian="majorizer")
    t = obj.prepare(y)
    d = xgb.DMatrix(X, label=y, nthread=2)
    dm = gx.dmatrix(X, y, obj, nthread=2)
    fobj = gx.objective(obj)
    boosters = {
        "built_in": xgb.Booster({**params, "objective": "multi:softprob", "num_class": k}, [d]),
        "custom": xgb.Booster(gx._engine_params(obj, t, params, obj.init_raw(t)), [dm]),
    }
    boosters["built_in"].update(d, 0)
    boosters["custom"].update(dm, 0, fobj)
    times = {"round_builtin": [], "predict": [], "objective": [], "boost": []}
    faults = []

    def minor_faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    def measured_rounds():
        built_in, custom = boosters.pop("built_in"), boosters.pop("custom")
        for i in range(1, rounds):
            t0 = time.perf_counter()
            built_in.update(d, i)
            t1 = time.perf_counter()
            f1 = minor_faults()
            margins = custom.predict(dm, output_margin=True, training=True)
            t2 = time.perf_counter()
            grad, hess = fobj(margins, dm)
            t3 = time.perf_counter()
            custom.boost(dm, i, grad=grad, hess=hess)
            t4 = time.perf_counter()
            faults.append(minor_faults() - f1)
            del margins, grad, hess
            for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                times[key].append(dt)
        del built_in, custom  # their monitors print now

    text = _xgboost_monitor(measured_rounds)
    ms = {f"{key}_ms": 1e3 * float(np.median(v)) for key, v in times.items()}
    ms["gradient_builtin_ms"] = 1e3 * _monitor_seconds(text, "GetGradient")
    ms["trees_custom_ms"] = 1e3 * _monitor_seconds(text, "BoostOneIter")
    ms["intake_ms"] = ms["boost_ms"] - ms["trees_custom_ms"]
    ms["round_custom_ms"] = ms["predict_ms"] + ms["objective_ms"] + ms["boost_ms"]
    base = ms["round_builtin_ms"]
    return {"n": n, "k": k, "rounds": rounds - 1, **ms,
            "heap_reuse": _heap.mmap_threshold >= 16 * n * k,
            "faults_per_round": float(np.median(faults)),
            "round_ratio": ms["round_custom_ms"] / base,
            "zero_cost_ratio": (base - ms["gradient_builtin_ms"] + ms["predict_ms"]
                                + ms["intake_ms"]) / base}


def xgboost_round_parts_without_heap_reuse(n, k, rounds) -> dict:
    """:func:`xgboost_round_parts` in a fresh interpreter with ``GRADHESS_REUSE_HEAP=0``
    (the allocator's settings, once changed, stay for the life of a process)."""
    code = ("import json; from gradhess.bench import xgboost_round_parts; "
            f"print(json.dumps(xgboost_round_parts({int(n)}, {int(k)}, {int(rounds)})))")
    return _json_from_fresh_interpreter(code, GRADHESS_REUSE_HEAP="0")


def _json_from_fresh_interpreter(code: str, **env) -> dict:
    """Run ``code`` in a fresh Python with ``env`` added to the environment; the JSON
    object its last line of output prints."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


_FIRST_CALL = """
import json, time
t0 = time.perf_counter()
import numpy as np
import gradhess
t1 = time.perf_counter()
z = np.zeros((1000, 10), np.float32)
gradhess.get("cross_entropy").gradient_hessian(np.arange(1000) % 10, z)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_call_s": t2 - t1}))
"""


def compile_costs() -> dict:
    """Import time and first-call time of ``cross_entropy`` on float32 margins, each in a
    fresh interpreter: cold (an empty numba cache, so the kernel is compiled) and warm
    (the cache the cold run wrote)."""
    import tempfile

    with tempfile.TemporaryDirectory() as cache:
        return {state: _json_from_fresh_interpreter(_FIRST_CALL, NUMBA_CACHE_DIR=cache)
                for state in ("cold", "warm")}


def kernel_costs(n, k, repeats) -> list[dict]:
    """One gradient/Hessian evaluation per objective and strategy: compiled, NumPy, floor;
    XGBoost's own gradient on the same rows (:func:`xgboost_gradient_seconds`)."""
    import xgboost as xgb

    import gradhess
    from gradhess import hessians
    from gradhess.kernels import compiled

    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, k)).astype(np.float32)
    zb = np.ascontiguousarray(z[:, 0])
    y = rng.integers(0, k, n)
    yb = (y % 2).astype(np.float64)
    g = np.empty_like(z)
    h = np.empty_like(z)
    gb, hb = np.empty_like(zb), np.empty_like(zb)
    # LightGBM's layout: float64 scores, column-major for softmax objectives; the adapter's
    # column-major float32 buffers
    z_lgb, zb_lgb = np.asfortranarray(z, np.float64), zb.astype(np.float64)
    g_lgb, h_lgb = np.empty(z.shape, np.float32, order="F"), np.empty(z.shape, np.float32, order="F")
    floor_rows, floor_cells = _copy_floor()
    d_xgb = xgb.DMatrix(rng.normal(size=(n, 8)).astype(np.float32), label=y, nthread=2)
    # XGBoost's gradient is one more contender of every row, timed in turn with the
    # others: on a shared machine timings taken minutes apart differ by more than the
    # ratios' margins
    xgboost = _self_timed(lambda: xgboost_gradient_seconds(d_xgb, k))
    rows = []
    for name, cls in gradhess.OBJECTIVES.items():
        for strategy in hessians.STRATEGIES:
            obj = cls(hessian=strategy)
            ref = cls(hessian=strategy)
            ref.backend = "numpy"
            if cls.is_multiclass:
                zz, yy, gg, hh, floor_kernel = z, y, g, h, floor_rows
                zl, gl, hl = z_lgb, g_lgb, h_lgb
            else:
                zz, yy, gg, hh, floor_kernel = zb, yb, gb, hb, floor_cells
                zl, gl, hl = zb_lgb, gb, hb
            prepared = obj.prepare(yy, n_classes=zz.shape[1] if zz.ndim == 2 else None)

            def fused():
                obj.gradient_hessian(prepared, zz, gradient_out=gg, hessian_out=hh)

            def fused_lgb():
                obj.gradient_hessian(prepared, zl, gradient_out=gl, hessian_out=hl)

            def numpy():
                ref.gradient_hessian(yy, zz, None, gradient_out=gg, hessian_out=hh)

            def floor(floor_kernel=floor_kernel, zz=zz, yy=yy, gg=gg, hh=hh):
                compiled.run_kernel(floor_kernel, zz, yy, gg, hh, n_threads=os.cpu_count() or 1)

            fused()
            fused_lgb()
            floor()
            t = _median_alternating({"compiled": fused, "compiled_lgb": fused_lgb,
                                     "numpy": numpy, "floor": floor, "xgboost": xgboost},
                                    repeats)
            xgb_s = t["xgboost"]
            rows.append({"objective": name, "strategy": strategy, "n": n,
                         "k": k if cls.is_multiclass else None,
                         "compiled_ms": 1e3 * t["compiled"],
                         "compiled_lightgbm_layout_ms": 1e3 * t["compiled_lgb"],
                         "numpy_ms": 1e3 * t["numpy"],
                         "floor_ms": 1e3 * t["floor"], "xgboost_builtin_ms": 1e3 * xgb_s,
                         "numpy_over_compiled": t["numpy"] / t["compiled"],
                         "compiled_over_floor": t["compiled"] / t["floor"],
                         "compiled_over_xgboost_builtin": t["compiled"] / xgb_s,
                         "compiled_peak_bytes": _peak_bytes(fused),
                         "numpy_peak_bytes": _peak_bytes(numpy)})
    return rows


def engine_overhead(engine, n, k, rounds, repeats) -> list[dict]:
    """End-to-end training time, gradhess objective over the built-in one: the same data set
    objects (built once, outside the timing), the same tree parameters, the engines' own
    ``train`` functions; only the objective differs."""
    import lightgbm as lgb
    import xgboost as xgb

    import gradhess
    import gradhess.lightgbm as gl
    import gradhess.xgboost as gx

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 20)).astype(np.float32)
    y = rng.integers(0, k, n)
    contenders = {}
    if engine == "xgboost":
        params = {"max_depth": 6, "eta": 0.1, "tree_method": "hist", "nthread": 2, "max_bin": 256}
        d = xgb.DMatrix(X, label=y, nthread=2)
        contenders["built-in multi:softprob"] = lambda: xgb.train(
            {**params, "objective": "multi:softprob", "num_class": k}, d, rounds)
        for name, strategy in (("cross_entropy", "majorizer"), ("brier", "gauss_newton")):
            obj = gradhess.get(name, hessian=strategy)
            t = obj.prepare(y)
            p = gx._engine_params(obj, t, params, obj.init_raw(t))
            dm = gx.dmatrix(X, y, obj, nthread=2)
            contenders[f"gradhess {name} ({strategy})"] = (
                lambda p=p, dm=dm, obj=obj: xgb.train(p, dm, rounds, obj=gx.objective(obj)))
    else:
        params = {"num_leaves": 31, "learning_rate": 0.1, "num_threads": 2, "verbose": -1,
                  "max_bin": 255, "feature_pre_filter": False}
        ds = lgb.Dataset(X, label=y, params=params, free_raw_data=False).construct()
        contenders["built-in multiclass"] = lambda: lgb.train(
            {**params, "objective": "multiclass", "num_class": k}, ds, rounds)
        for name, strategy, scale in (("cross_entropy", "exact", k / (k - 1)),
                                      ("brier", "gauss_newton", 1.0)):
            obj = gradhess.get(name, hessian=strategy, hessian_scale=scale)
            t = obj.prepare(y)
            # as gradhess.lightgbm.train runs it: the callable adds the intercept
            p = gl._engine_params(obj, t, params, obj.init_raw(t))
            dso = gl.dataset(X, y, obj, init_score=False, params=params,
                             free_raw_data=False).construct()
            contenders[f"gradhess {name} ({strategy})"] = (
                lambda p=p, dso=dso: lgb.train(p, dso, rounds))
    for fn in contenders.values():  # warm up: compiled kernels, histogram bins
        fn()
    t = _median_alternating(contenders, repeats)
    base = next(iter(t.values()))
    return [{"engine": engine, "n": n, "k": k, "rounds": rounds, "contender": name,
             "seconds": seconds, "over_builtin": seconds / base} for name, seconds in t.items()]


def eval_set_overhead(engine, n, k, rounds, repeats) -> list[dict]:
    """Training with and without an evaluation set of ``n`` rows (the metric every round),
    gradhess ``cross_entropy`` against the built-in objective with its multiclass log loss,
    each through the engine's own ``train`` on data sets built once."""
    import lightgbm as lgb
    import xgboost as xgb

    import gradhess
    import gradhess.lightgbm as gl
    import gradhess.xgboost as gx

    rng = np.random.default_rng(0)
    X = rng.normal(size=(2 * n, 20)).astype(np.float32)
    y = rng.integers(0, k, 2 * n)
    Xt, yt, Xv, yv = X[:n], y[:n], X[n:], y[n:]
    obj = gradhess.get("cross_entropy", hessian="majorizer" if engine == "xgboost" else "exact",
                       hessian_scale=1.0 if engine == "xgboost" else k / (k - 1))
    t = obj.prepare(yt)
    contenders = {}
    if engine == "xgboost":
        params = {"max_depth": 6, "eta": 0.1, "tree_method": "hist", "nthread": 2}
        builtin = {**params, "objective": "multi:softprob", "num_class": k, "eval_metric": "mlogloss"}
        dt, dv = xgb.DMatrix(Xt, label=yt), xgb.DMatrix(Xv, label=yv)
        ours = gx._engine_params(obj, t, params, obj.init_raw(t))
        gt, gv = gx.dmatrix(Xt, yt, obj), gx.dmatrix(Xv, yv, obj)
        for evals, label in (([], "no eval set"), (True, "eval set")):
            contenders[("built-in", label)] = (
                lambda ev=evals: xgb.train(builtin, dt, rounds, evals=[(dv, "v")] if ev else [],
                                           verbose_eval=False))
            contenders[("gradhess", label)] = (
                lambda ev=evals: xgb.train(ours, gt, rounds, evals=[(gv, "v")] if ev else [],
                                           obj=gx.objective(obj), custom_metric=gx.metric(obj),
                                           verbose_eval=False))
    else:
        params = {"num_leaves": 31, "learning_rate": 0.1, "num_threads": 2, "verbose": -1}
        builtin = {**params, "objective": "multiclass", "num_class": k, "metric": "multi_logloss"}
        dt = lgb.Dataset(Xt, label=yt, free_raw_data=False)
        dv = lgb.Dataset(Xv, label=yv, reference=dt, free_raw_data=False)
        c = obj.init_raw(t)
        ours = gl._engine_params(obj, t, params, c)  # as train runs it: no init_score
        gt = gl.dataset(Xt, yt, obj, init_score=False, free_raw_data=False)
        gv = gl.dataset(Xv, yv, obj, init_score=False, reference=gt, free_raw_data=False)
        for evals, label in (([], "no eval set"), (True, "eval set")):
            contenders[("built-in", label)] = (
                lambda ev=evals: lgb.train(builtin, dt, rounds, valid_sets=[dv] if ev else []))
            contenders[("gradhess", label)] = (
                lambda ev=evals: lgb.train(ours, gt, rounds, valid_sets=[gv] if ev else [],
                                           feval=gl.LightGBMMetric(obj, c)))
    for fn in contenders.values():  # warm up: compiled kernels, histogram bins
        fn()
    times = _median_alternating(contenders, repeats)
    rows = []
    for label in ("no eval set", "eval set"):
        a, b = times[("gradhess", label)], times[("built-in", label)]
        rows.append({"engine": engine, "n": n, "k": k, "rounds": rounds, "eval": label,
                     "gradhess_s": a, "builtin_s": b, "over_builtin": a / b})
    return rows


def synthetic(n, k, seed=0, n_features=20):
    """Features, true class probabilities, and soft labels drawn as noisy versions of them."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    W = rng.normal(size=(n_features, k)) / np.sqrt(n_features) * 3
    logits = X @ W + 0.5 * np.sin(X[:, :k] * 2)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = rng.gamma(p * 20 + 1e-3)  # Dirichlet(20 p) rows: noisy distributions around p
    soft = g / g.sum(1, keepdims=True)
    return X, p, soft


def _resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release_free_heap() -> None:
    """Hand memory the C allocator keeps from earlier frees back to the system (glibc's
    ``malloc_trim``), so that what a measured call allocates shows in the resident size
    instead of being served from pages an earlier call left behind."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_added_resident(fn) -> int | None:
    """Peak resident memory ``fn`` adds over what the process held when it started
    (after the allocator's free pages are handed back), sampled every 2 ms from
    ``/proc/self/statm`` (None where that does not exist)."""
    import gc
    import threading

    if not os.path.exists("/proc/self/statm"):
        return None
    gc.collect()
    _release_free_heap()
    start = _resident_bytes()
    peak = [start]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _resident_bytes())
            done.wait(0.002)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return max(peak[0], _resident_bytes()) - start


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), times


def catboost_ratio(n, k, rounds, repeats):
    import catboost as cb

    import gradhess
    import gradhess.catboost as gc

    X, p, _ = synthetic(n, k)
    y = np.array([np.random.default_rng(1).choice(k, p=row) for row in p])
    params = {"depth": 6, "learning_rate": 0.1, "thread_count": 2, "random_seed": 0}
    obj = gradhess.get("cross_entropy")
    init = obj.init_raw(y)

    def ours():
        gc.train(obj, X, y, params=params, num_boost_round=rounds)

    def builtin():
        m = cb.CatBoost({**params, "loss_function": "MultiClass", "iterations": rounds,
                         "boost_from_average": False, "allow_writing_files": False})
        m.fit(cb.Pool(X, label=y, baseline=np.tile(init, (n, 1))), verbose=False)

    from ._catboost_floor import NoWorkObjective

    def floor():
        m = cb.CatBoost({**params, "loss_function": NoWorkObjective(), "eval_metric": gc.metric(obj),
                         "iterations": rounds, "allow_writing_files": False})
        m.fit(gc.pool(X, y, obj), verbose=False)

    ours()  # compile once (numba), outside the timing
    t_ours, t_builtin, t_floor = [], [], []
    for _ in range(repeats):  # alternate
        t_ours.append(median_time(ours, 1)[0])
        t_builtin.append(median_time(builtin, 1)[0])
        t_floor.append(median_time(floor, 1)[0])
    a, b, f = (float(np.median(t)) for t in (t_ours, t_builtin, t_floor))
    return {"n": n, "k": k, "rounds": rounds, "gradhess_s": a, "builtin_s": b, "no_work_s": f,
            "gradhess_over_builtin": a / b, "gradhess_over_no_work": a / f}


class TimedCrossEntropy(SoftmaxCrossEntropy):
    """``cross_entropy`` whose ``seconds`` adds up the time of its gradient and Hessian
    evaluations (the objective's own share of a training).  At module level: a booster
    records its objective's class, and prediction imports it."""

    seconds = 0.0

    def gradient_hessian(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return super().gradient_hessian(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def soft_vs_replication(engine, n, k, rounds, repeats):
    """Soft labels against row replication (part 4 of the module docstring).
    ``objective_s``: the median over the repeats of the objective's own seconds in a
    soft-label training;
    ``time_ratio_objective_free``: the replicated training's time over the soft one's
    without them, the ratio an objective taking no time would reach."""
    import gradhess
    import gradhess.lightgbm as gl
    import gradhess.xgboost as gx

    ad = {"xgboost": gx, "lightgbm": gl}[engine]
    X, p, soft = synthetic(2 * n, k)
    Xtr, Xte, ptest = X[:n], X[n:], p[n:]
    soft = soft[:n]
    params = ({"max_depth": 6, "eta": 0.1, "tree_method": "hist", "nthread": 2} if engine == "xgboost"
              else {"num_leaves": 31, "learning_rate": 0.1, "num_threads": 2, "verbose": -1})
    Xr = np.repeat(Xtr, k, axis=0)
    yr = np.tile(np.arange(k), n)
    wr = soft.ravel()
    keep = wr > 0
    Xr, yr, wr = Xr[keep], yr[keep], wr[keep]
    obj = gradhess.get("cross_entropy")
    models = {}

    soft_objective = []

    def fit_soft():
        timed = TimedCrossEntropy()
        models["soft"] = ad.train(timed, Xtr, soft, params=params, num_boost_round=rounds)
        soft_objective.append(timed.seconds)

    def fit_rep():
        models["rep"] = ad.train(obj, Xr, yr, sample_weight=wr, params=params, num_boost_round=rounds)

    fit_soft()  # compiles the kernels for this label form, outside the timing
    soft_objective.clear()
    t_soft, t_rep = [], []
    for _ in range(repeats):
        t_soft.append(median_time(fit_soft, 1)[0])
        t_rep.append(median_time(fit_rep, 1)[0])
    # the objective's seconds in the training of median time (repeats is odd or 1 here)
    objective_s = soft_objective[int(np.argsort(t_soft)[len(t_soft) // 2])]
    models.clear()
    mem_soft = peak_added_resident(fit_soft)
    mem_rep = peak_added_resident(fit_rep)

    def xent(model):
        q = ad.predict_proba(model, Xte)
        return float(-(ptest * np.log(np.clip(q, 1e-300, None))).sum(1).mean())

    entropy = float(-(ptest * np.log(ptest)).sum(1).mean())
    a, b = float(np.median(t_soft)), float(np.median(t_rep))
    return {"engine": engine, "n": n, "k": k, "rounds": rounds, "rows_soft": n, "rows_replicated": int(len(yr)),
            "soft_s": a, "replicated_s": b, "time_ratio": b / a, "objective_s": objective_s,
            "time_ratio_objective_free": b / (a - objective_s),
            "bytes_soft": int(Xtr.nbytes + soft.nbytes), "bytes_replicated": int(Xr.nbytes + yr.nbytes + wr.nbytes),
            "train_memory_soft": mem_soft, "train_memory_replicated": mem_rep,
            "kl_soft": xent(models["soft"]) - entropy, "kl_replicated": xent(models["rep"]) - entropy}


def markdown(results: dict) -> str:
    lines = [f"Machine: {results['machine']}", ""]
    if results.get("kernels"):
        r0 = results["kernels"][0]
        xgb_ms = [r["xgboost_builtin_ms"] for r in results["kernels"]]
        lines += [f"One gradient + Hessian evaluation, n = {r0['n']:,} rows (K = {r0['k']} for softmax "
                  f"objectives), float32 margins; XGBoost's own multi:softprob gradient on the "
                  f"same rows in a booster's second round (the first also faults in its "
                  f"gradient buffer), timed in turn with the other contenders of each row: "
                  f"{min(xgb_ms):.1f}-{max(xgb_ms):.1f} ms.  Floor: a streaming copy of "
                  f"the same bytes ((n, K) margins for softmax objectives, (n,) for binary ones).  "
                  f"LightGBM layout: float64 margins, column-major, into column-major float32 "
                  f"outputs, as the LightGBM adapter runs it.",
                  "",
                  "| objective | hessian | compiled | compiled, LightGBM layout | NumPy | floor "
                  "| NumPy / compiled | compiled / floor | XGBoost built-in "
                  "| compiled / XGBoost built-in | peak memory compiled / NumPy |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results["kernels"]:
            lines.append(f"| {r['objective']} | {r['strategy']} | {r['compiled_ms']:.1f} ms "
                         f"| {r['compiled_lightgbm_layout_ms']:.1f} ms "
                         f"| {r['numpy_ms']:.1f} ms | {r['floor_ms']:.2f} ms "
                         f"| {r['numpy_over_compiled']:.1f}x "
                         f"| {r['compiled_over_floor']:.1f}x | {r['xgboost_builtin_ms']:.1f} ms "
                         f"| {r['compiled_over_xgboost_builtin']:.2f}x "
                         f"| {r['compiled_peak_bytes'] / 2**20:.1f} / {r['numpy_peak_bytes'] / 2**20:.0f} MiB |")
        lines.append("")
    if results.get("compile"):
        c, w = results["compile"]["cold"], results["compile"]["warm"]
        lines += [f"Compile cost (`cross_entropy`, float32 margins, a fresh interpreter each): "
                  f"cold, empty cache: import {c['import_s']:.2f} s + first call "
                  f"{c['first_call_s']:.2f} s; warm, cached: import {w['import_s']:.2f} s + "
                  f"first call {w['first_call_s']:.2f} s.", ""]
    if results.get("engines"):
        lines += ["| engine | contender | train time | over built-in |", "|---|---|---|---|"]
        for r in results["engines"]:
            lines.append(f"| {r['engine']}, n={r['n']:,}, K={r['k']}, {r['rounds']} rounds | {r['contender']} "
                         f"| {r['seconds']:.2f} s | {r['over_builtin']:.3f}x |")
        lines.append("")
    if results.get("xgboost_round"):
        r = results["xgboost_round"][0]
        lines += [f"One XGBoost round, n={r['n']:,}, K={r['k']}, median of {r['rounds']}: built-in "
                  f"multi:softprob against gradhess cross_entropy (majorizer: the same trees), "
                  f"the custom-objective round taken apart; with the allocator reusing XGBoost's "
                  f"per-round copy of the gradient (the default), and without "
                  f"(`GRADHESS_REUSE_HEAP=0`, a fresh interpreter).", "",
                  "| heap reuse | built-in round | of which its gradient | gradhess round "
                  "| prediction copy | objective | gradient intake | trees | page faults a round "
                  "| round ratio | ratio at zero objective time |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in results["xgboost_round"]:
            lines.append(f"| {'yes' if r['heap_reuse'] else 'no'} | {r['round_builtin_ms']:.0f} ms "
                         f"| {r['gradient_builtin_ms']:.1f} ms "
                         f"| {r['round_custom_ms']:.0f} ms | {r['predict_ms']:.1f} ms "
                         f"| {r['objective_ms']:.1f} ms | {r['intake_ms']:.1f} ms "
                         f"| {r['trees_custom_ms']:.0f} ms | {r['faults_per_round']:.0f} "
                         f"| {r['round_ratio']:.3f}x | {r['zero_cost_ratio']:.3f}x |")
        lines.append("")
    if results.get("catboost"):
        lines += ["| CatBoost | gradhess cross_entropy | built-in MultiClass | objective doing no work "
                  "| gradhess / built-in | gradhess / no work |", "|---|---|---|---|---|---|"]
        for r in results["catboost"]:
            lines.append(f"| n={r['n']}, K={r['k']}, {r['rounds']} rounds | {r['gradhess_s']:.2f} s "
                         f"| {r['builtin_s']:.2f} s | {r['no_work_s']:.2f} s "
                         f"| {r['gradhess_over_builtin']:.1f}x | {r['gradhess_over_no_work']:.2f}x |")
        lines.append("")
    if results.get("soft"):
        lines += ["| soft labels vs row replication | rows (soft / replicated) | train time | "
                  "objective's share of the soft time (ratio without it) | "
                  "feature + label + weight bytes | memory training adds | "
                  "held-out KL to the truth (soft / replicated) |",
                  "|---|---|---|---|---|---|---|"]
        for r in results["soft"]:
            ms, mr = r.get("train_memory_soft"), r.get("train_memory_replicated")
            if ms is None or mr is None:
                mem = "not measured"
            else:
                mem = f"{ms / 2**20:.0f} MiB / {mr / 2**20:.0f} MiB"
                mem += f" ({mr / ms:.1f}x)" if ms >= 2**20 else ""
            lines.append(
                f"| {r['engine']}, n={r['n']}, K={r['k']}, {r['rounds']} rounds | {r['rows_soft']:,} / "
                f"{r['rows_replicated']:,} | {r['soft_s']:.2f} s / {r['replicated_s']:.2f} s "
                f"({r['time_ratio']:.1f}x) | {r['objective_s']:.2f} s "
                f"({r['time_ratio_objective_free']:.1f}x) | {r['bytes_soft'] / 2**20:.0f} MiB / "
                f"{r['bytes_replicated'] / 2**20:.0f} MiB ({r['bytes_replicated'] / r['bytes_soft']:.1f}x) "
                f"| {mem} | {r['kl_soft']:.4f} / {r['kl_replicated']:.4f} |")
    if results.get("metric"):
        lines += ["", "| training with an evaluation set (as many rows) | gradhess cross_entropy "
                  "| built-in | gradhess / built-in |", "|---|---|---|---|"]
        for r in results["metric"]:
            lines.append(f"| {r['engine']}, n={r['n']:,}, K={r['k']}, {r['rounds']} rounds, "
                         f"{r['eval']} | {r['gradhess_s']:.2f} s | {r['builtin_s']:.2f} s "
                         f"| {r['over_builtin']:.3f}x |")
    return "\n".join(lines)


#: Every part, in the order they run.
PARTS = ("kernels", "engines", "catboost", "soft", "metric")


def _cpu_model() -> str:
    """The processor's model name (``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(*, quick: bool = False, parts=PARTS, out=None, log=print, soft_rows: int | None = None,
        soft_rounds: int | None = None) -> dict:
    """Run the measurements; print Markdown; with ``out``, write bench.md and bench.json there.

    ``soft_rows``, ``soft_rounds``: the size of the soft-label comparison (its ratios grow
    with the rows, as the engines' fixed cost per tree node weighs less)."""
    import resource

    from . import _engines as e

    n_cb, n_soft, rounds, repeats = (2000, 5000, 20, 1) if quick else (20000, 100000, 50, 3)
    results = {"machine": f"{platform.machine()}, {_cpu_model()}, "
                          f"{platform.python_implementation()} {platform.python_version()}, "
                          f"{os.cpu_count()} CPUs",
               "quick": quick, "repeats": repeats}
    if "kernels" in parts:
        results["compile"] = compile_costs()
        results["kernels"] = kernel_costs(50_000 if quick else 1_000_000, 10, 3 if quick else 5)
    if "engines" in parts:
        n_e, r_e, rep_e = (30_000, 5, 1) if quick else (1_000_000, 20, 3)
        results["engines"] = [row for engine in ("xgboost", "lightgbm")
                              for row in engine_overhead(engine, n_e, 10, r_e, rep_e)]
        r_x = 5 if quick else 11
        results["xgboost_round"] = [xgboost_round_parts(n_e, 10, r_x),
                                    xgboost_round_parts_without_heap_reuse(n_e, 10, r_x)]
    if "catboost" in parts:
        e.require("catboost", "catboost")
        results["catboost"] = [catboost_ratio(n_cb, k, rounds, repeats) for k in (3, 10)]
    if "soft" in parts:
        results["soft"] = [soft_vs_replication(engine, soft_rows or n_soft, 10, soft_rounds or rounds,
                                               repeats)
                           for engine in ("xgboost", "lightgbm")]
    if "metric" in parts:
        n_m, r_m = (5000, 5) if quick else (200_000, 20)
        results["metric"] = [row for engine in ("xgboost", "lightgbm")
                             for row in eval_set_overhead(engine, n_m, 10, r_m, repeats)]
    results["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = markdown(results) + f"\n\nPeak resident memory of the run: {results['peak_rss_mib']:.0f} MiB\n"
    log(text)
    if out is not None:
        from ._io import write_bytes

        out = Path(out)
        write_bytes(out / "bench.json", json.dumps(results, indent=2).encode())
        write_bytes(out / "bench.md", (text + "\n").encode())
    return results
