"""The compiled kernels of two source trees, side by side in one run.

Each tree runs in fresh subprocesses (``PYTHONPATH=DIR``), the two trees alternating,
each process timing one ``gradient_hessian`` call per objective and Hessian strategy
(and one ``loss`` call per softmax objective) in turn, ``--repeats`` times, and
reporting the median per case.  The table gives after/before: the median over the
pairs of processes of the ratio of their medians, and the spread (lowest and highest
pair).  Cases, n = ``--n`` rows:

* ``xgb``: XGBoost's layout: float32 C-order margins, class-index labels, float32
  outputs (K = ``--k`` for softmax objectives; binary ones take column 0);
* ``lgb``: LightGBM's layout: float64 F-order margins into float32 F-order outputs;
* ``loss``: the softmax losses on XGBoost's layout;
* ``k50``: the majorizers whose pair sums grow with K², at K = 50 on ``--n-k50``
  rows (cross-entropy's with per-cell weights: without them its majorizer is a closed
  form).

The machine may be shared: alternate, compare within a run, read the spread.  The
first call of a kernel compiles it (10-20 s a signature, cached on disk next to each
tree's source): run ``--warm`` once per tree state first.

Usage::

    git worktree add /tmp/before <commit>
    python benchmarks/compare_kernels.py --before /tmp/before --after . --warm
    python benchmarks/compare_kernels.py --before /tmp/before --after . --processes 6
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LAYOUTS = ("xgb", "lgb", "loss", "k50")
K50_CASES = (("brier", "majorizer"), ("focal", "majorizer"), ("ranked_probability", "majorizer"),
             ("cross_entropy", "majorizer"))


def _cases(layouts, objectives):
    """``(layout, objective, strategy)`` for the chosen layouts, in a fixed order."""
    import gradhess

    out = []
    for layout in layouts:
        if layout == "k50":
            out += [("k50", name, s) for name, s in K50_CASES
                    if not objectives or name in objectives]
            continue
        for name, cls in gradhess.OBJECTIVES.items():
            if objectives and name not in objectives:
                continue
            if layout == "loss":
                if cls.is_multiclass:
                    out.append(("loss", name, "-"))
                continue
            for strategy in cls.hessian_strategies:
                out.append((layout, name, strategy))
    return out


def _child(args) -> None:
    """Time every case in this process (the tree on PYTHONPATH); one JSON line out."""
    import numpy as np

    import gradhess

    n, k = args.n, args.k
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, k)).astype(np.float32)
    y = rng.integers(0, k, n)
    zb = np.ascontiguousarray(z[:, 0])
    yb = (y % 2).astype(np.float64)
    data = {
        ("xgb", True): (z, y, np.empty_like(z), np.empty_like(z)),
        ("xgb", False): (zb, yb, np.empty_like(zb), np.empty_like(zb)),
        ("lgb", True): (np.asfortranarray(z, np.float64), y,
                        np.empty(z.shape, np.float32, order="F"),
                        np.empty(z.shape, np.float32, order="F")),
        ("lgb", False): (zb.astype(np.float64), yb, np.empty_like(zb), np.empty_like(zb)),
    }
    data["loss", True] = data["xgb", True][:2] + (None, None)
    n50 = args.n_k50
    z50 = rng.normal(size=(n50, 50)).astype(np.float32)
    y50 = rng.integers(0, 50, n50)
    w50 = rng.uniform(0.5, 2.0, (n50, 50))
    data["k50", True] = (z50, y50, np.empty_like(z50), np.empty_like(z50))

    calls = {}
    for layout, name, strategy in _cases(args.layouts, args.objectives):
        cls = gradhess.OBJECTIVES[name]
        zz, yy, gg, hh = data[layout, cls.is_multiclass]
        obj = cls() if strategy == "-" else cls(hessian=strategy)
        kk = zz.shape[1] if zz.ndim == 2 else None
        w = w50 if layout == "k50" and cls.cell_weights else None
        threads = args.threads
        if hasattr(obj, "gradient_hessian_prepared"):  # the API before the Targets redesign
            obj.use_compiled = True
            prepared = obj.prepare(yy, zz.shape) if w is None else obj.prepare(yy, zz.shape, w)

            def call(obj=obj, prepared=prepared, zz=zz, gg=gg, hh=hh):
                obj.gradient_hessian_prepared(prepared, zz, gg, hh)
        else:
            obj.backend = "numba"
            prepared = obj.prepare(yy, w, n_classes=kk)
            if layout == "loss":
                def call(obj=obj, prepared=prepared, zz=zz):
                    obj.loss(prepared, zz, n_threads=threads)
            else:
                def call(obj=obj, prepared=prepared, zz=zz, gg=gg, hh=hh):
                    obj.gradient_hessian(prepared, zz, gradient_out=gg, hessian_out=hh,
                                         n_threads=threads)
        calls[f"{layout}:{name}:{strategy}"] = call
    times = {key: [] for key in calls}
    for key, call in calls.items():  # compiles (or loads from the cache), faults pages in
        t0 = time.perf_counter()
        call()
        if args.warm:
            print(f"  {key}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    if not args.warm:
        for _ in range(args.repeats):  # the cases in turn: drift reaches all of them alike
            for key, call in calls.items():
                t0 = time.perf_counter()
                call()
                times[key].append(time.perf_counter() - t0)
    print(json.dumps({key: statistics.median(t) if t else None for key, t in times.items()}))


def _run_child(tree, argv) -> dict:
    env = dict(os.environ, PYTHONPATH=os.path.abspath(tree))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", *argv],
                         env=env, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="source tree of the 'before' kernels")
    parser.add_argument("--after", help="source tree of the 'after' kernels")
    parser.add_argument("--n", type=lambda s: int(float(s)), default=1_000_000)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--n-k50", type=lambda s: int(float(s)), default=200_000)
    parser.add_argument("--processes", type=int, default=6, help="processes per tree")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per case and process")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    parser.add_argument("--objectives", nargs="*", default=[], help="default: all")
    parser.add_argument("--warm", action="store_true",
                        help="only compile (or load) every case's kernel, once per tree")
    parser.add_argument("--json", help="write every process's medians here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args)
    child_argv = [f"--n={args.n}", f"--k={args.k}", f"--n-k50={args.n_k50}",
                  f"--repeats={args.repeats}", f"--threads={args.threads}",
                  "--layouts", *args.layouts]
    if args.objectives:
        child_argv += ["--objectives", *args.objectives]
    trees = {"before": args.before, "after": args.after}
    if args.warm:
        for label, tree in trees.items():
            print(f"warming {label} ({tree}) ...", file=sys.stderr, flush=True)
            _run_child(tree, child_argv + ["--warm"])
        return
    runs = {"before": [], "after": []}
    for i in range(args.processes):
        order = ("before", "after") if i % 2 == 0 else ("after", "before")
        for label in order:
            runs[label].append(_run_child(trees[label], child_argv))
        print(f"process pair {i + 1}/{args.processes} done", file=sys.stderr, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "runs": runs}, f, indent=1)
    print(f"after/before, n = {args.n:,} (K = {args.k}; k50: K = 50, n = {args.n_k50:,}), "
          f"{args.threads} threads, {args.processes} alternating processes per tree, "
          f"medians of {args.repeats} calls in each\n")
    print("| case | before ms | after ms | after/before (median) | spread (pairs) |")
    print("|---|---|---|---|---|")
    for key in runs["before"][0]:
        b = [r[key] for r in runs["before"]]
        a = [r[key] for r in runs["after"]]
        ratios = sorted(x / y for x, y in zip(a, b))
        print(f"| {key} | {1e3 * statistics.median(b):.1f} | {1e3 * statistics.median(a):.1f} "
              f"| {statistics.median(ratios):.3f} | {ratios[0]:.2f}-{ratios[-1]:.2f} |")


if __name__ == "__main__":
    main()
