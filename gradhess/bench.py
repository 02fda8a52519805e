"""``gradhess bench``: engine-level measurements, side by side in one run.

    gradhess bench [--quick] [--parts catboost soft] [--out DIR]

1. CatBoost: training time with a gradhess objective (per-object calls, compiled by
   CatBoost's numba step) over training time with the built-in ``MultiClass``, and
   over a compiled objective that does no work (the floor of CatBoost's per-object
   call path, ``gradhess/_catboost_floor.py``).
2. Soft labels against the row-replication workaround (each row copied K times with
   weight y_ij and hard label j, built-in objective): rows, time, the label/weight
   bytes handed to the engine, and model quality (held-out cross-entropy to the true
   class probabilities, which the synthetic task knows).

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


def soft_vs_replication(engine, n, k, rounds, repeats):
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

    def fit_soft():
        models["soft"] = ad.train(obj, Xtr, soft, params=params, num_boost_round=rounds)

    def fit_rep():
        models["rep"] = ad.train(obj, Xr, yr, sample_weight=wr, params=params, num_boost_round=rounds)

    t_soft, t_rep = [], []
    for _ in range(repeats):
        t_soft.append(median_time(fit_soft, 1)[0])
        t_rep.append(median_time(fit_rep, 1)[0])

    def xent(model):
        q = ad.predict_proba(model, Xte)
        return float(-(ptest * np.log(np.clip(q, 1e-300, None))).sum(1).mean())

    entropy = float(-(ptest * np.log(ptest)).sum(1).mean())
    a, b = float(np.median(t_soft)), float(np.median(t_rep))
    return {"engine": engine, "n": n, "k": k, "rounds": rounds, "rows_soft": n, "rows_replicated": int(len(yr)),
            "soft_s": a, "replicated_s": b, "time_ratio": b / a,
            "bytes_soft": int(Xtr.nbytes + soft.nbytes), "bytes_replicated": int(Xr.nbytes + yr.nbytes + wr.nbytes),
            "kl_soft": xent(models["soft"]) - entropy, "kl_replicated": xent(models["rep"]) - entropy}


def markdown(results: dict) -> str:
    lines = [f"Machine: {results['machine']}", ""]
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
                  "label + feature bytes | held-out KL to the truth (soft / replicated) |",
                  "|---|---|---|---|---|"]
        for r in results["soft"]:
            lines.append(
                f"| {r['engine']}, n={r['n']}, K={r['k']}, {r['rounds']} rounds | {r['rows_soft']:,} / "
                f"{r['rows_replicated']:,} | {r['soft_s']:.2f} s / {r['replicated_s']:.2f} s "
                f"({r['time_ratio']:.1f}x) | {r['bytes_soft'] / 2**20:.0f} MiB / "
                f"{r['bytes_replicated'] / 2**20:.0f} MiB ({r['bytes_replicated'] / r['bytes_soft']:.1f}x) "
                f"| {r['kl_soft']:.4f} / {r['kl_replicated']:.4f} |")
    return "\n".join(lines)


def run(*, quick: bool = False, parts=("catboost", "soft"), out=None, log=print) -> dict:
    """Run the measurements; print Markdown; with ``out``, write bench.md and bench.json there."""
    from . import _engines as e

    n_cb, n_soft, rounds, repeats = (2000, 5000, 20, 1) if quick else (20000, 100000, 50, 3)
    results = {"machine": f"{platform.machine()}, {platform.python_implementation()} "
                          f"{platform.python_version()}, {os.cpu_count()} CPUs",
               "quick": quick, "repeats": repeats}
    if "catboost" in parts:
        e.require("catboost", "catboost")
        results["catboost"] = [catboost_ratio(n_cb, k, rounds, repeats) for k in (3, 10)]
    if "soft" in parts:
        results["soft"] = [soft_vs_replication(engine, n_soft, 10, rounds, repeats)
                           for engine in ("xgboost", "lightgbm")]
    text = markdown(results)
    log(text)
    if out is not None:
        from ._io import write_bytes

        out = Path(out)
        write_bytes(out / "bench.json", json.dumps(results, indent=2).encode())
        write_bytes(out / "bench.md", (text + "\n").encode())
    return results
