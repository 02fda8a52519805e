"""Time to the first fit in a fresh process: numba's compile time, cold and warm.

For each objective, two fresh Python processes run one after the other with
``NUMBA_CACHE_DIR`` set to one new, empty temporary directory:

* cold: numba's disk cache is empty, so the first fit compiles the kernels;
* warm: the cache the cold run wrote is loaded instead of compiling.

Each process times its imports (numpy, sklearn.datasets, gradhess, the estimator and
the engine), then ``BoostingClassifier(objective=..., engine=..., n_estimators=20,
max_depth=2).fit(X, y)`` on iris (150 rows, 3 classes; ``y == 0`` for binary
objectives), then a second fit in the same process (everything compiled and loaded).

    python benchmarks/first_fit.py [--objectives cross_entropy brier] \
        [--engine xgboost|lightgbm] [--repeats N] [--out results.json]

The children import gradhess from the parent's PYTHONPATH, so an older copy (a git
worktree, say) is measured with ``PYTHONPATH=/path/to/worktree python benchmarks/first_fit.py``.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ENGINES = ("xgboost", "lightgbm")


def child(objective, engine):
    """One fresh process's measurements, printed as one JSON line."""
    from time import perf_counter

    imports = {}
    for module in ("numpy", "sklearn.datasets", "gradhess", "gradhess.sklearn", engine):
        t = perf_counter()
        __import__(module)
        imports[module] = perf_counter() - t
    import gradhess
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    kind = gradhess.OBJECTIVES[objective]
    if issubclass(kind if isinstance(kind, type) else type(kind), gradhess.BinaryObjective):
        y = (y == 0).astype(int)
    fits = []
    for _ in range(2):
        est = gradhess.BoostingClassifier(objective=objective, engine=engine,
                                          n_estimators=20, max_depth=2)
        t = perf_counter()
        est.fit(X, y)
        fits.append(perf_counter() - t)
    import numba

    print(json.dumps(dict(imports=imports, import_s=sum(imports.values()), first_fit_s=fits[0],
                          second_fit_s=fits[1], gradhess_file=gradhess.__file__,
                          numba=numba.__version__, cache_dir=numba.config.CACHE_DIR)))


def run_child(args, cache_dir):
    # The parent's environment, PYTHONPATH included: it picks the gradhess copy measured.
    # Without NUMBA_CACHE_DIR numba caches next to the sources (__pycache__), maybe warm already.
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    # This file runs as the child (sys.path[0] = benchmarks/, not the cwd), from the cache
    # directory so that nothing an engine writes lands in the repository.
    cmd = [sys.executable, os.path.abspath(__file__), "--child", *args]
    proc = subprocess.run(cmd, env=env, cwd=cache_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"child {args} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # Other work on the machine inflates the times (an engine's threads spin-waiting on a
    # busy core): keep the 1-minute load average that ended with the run, to judge them by.
    result["load_1min"] = os.getloadavg()[0]
    return result


def cache_files(path):
    return sorted(p.name for p in Path(path).rglob("*") if p.suffix in (".nbi", ".nbc"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--objectives", nargs="+", help="default: every name in gradhess.OBJECTIVES")
    p.add_argument("--engine", default="xgboost", choices=ENGINES)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--out", type=Path, help="write every measurement to this JSON file")
    p.add_argument("--child", nargs=2, metavar=("OBJECTIVE", "ENGINE"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        return child(*a.child)
    if a.repeats < 1:
        p.error(f"--repeats must be at least 1; got {a.repeats}")
    if a.out is not None and not a.out.parent.is_dir():
        p.error(f"--out: directory {a.out.parent} does not exist")
    # Read the registry in a child too, so this process never imports gradhess.
    known = _registry()
    objectives = a.objectives or known
    unknown = [o for o in objectives if o not in known]
    if unknown:
        p.error(f"unknown objective(s) {', '.join(unknown)}; registered: {', '.join(known)}")

    results = {o: [] for o in objectives}
    for rep in range(a.repeats):
        for o in objectives:
            with tempfile.TemporaryDirectory(prefix="numba_cache_") as cache:
                cold = run_child([o, a.engine], cache)
                cold["cache_files"] = len(cache_files(cache))
                if cold["cache_dir"] != cache:  # numba ignored NUMBA_CACHE_DIR: "cold" would be a lie
                    sys.exit(f"{o}: numba cached in {cold['cache_dir']!r}, not in {cache}")
                warm = run_child([o, a.engine], cache)
                warm["cache_files"] = len(cache_files(cache))
            results[o].append(dict(cold=cold, warm=warm))
            print(f"[{rep + 1}/{a.repeats}] {o}: cold {cold['first_fit_s']:.2f} s, warm "
                  f"{warm['first_fit_s']:.2f} s ({cold['cache_files']} cache files, load "
                  f"{cold['load_1min']:.1f})", file=sys.stderr)

    first = results[objectives[0]][0]["cold"]
    machine = dict(date=datetime.datetime.now().isoformat(timespec="seconds"), cpu_count=os.cpu_count(),
                   numba=first["numba"], python=platform.python_version(), platform=platform.platform(),
                   engine=a.engine, repeats=a.repeats, gradhess_file=first["gradhess_file"],
                   pythonpath=os.environ.get("PYTHONPATH", ""))
    # The fastest of the repeats: other work on the machine only ever adds time.
    best = lambda runs, kind, key: min(r[kind][key] for r in runs)  # noqa: E731
    print(f"\nEngine {a.engine}; {machine['cpu_count']} CPUs, numba {machine['numba']}, Python "
          f"{machine['python']}, {machine['date']}; gradhess from {machine['gradhess_file']}"
          + (f"; fastest of {a.repeats}" if a.repeats > 1 else "") + "; highest 1-min load "
          f"{max(r[k]['load_1min'] for runs in results.values() for r in runs for k in r):.1f}\n")
    print("| objective | cold first fit (s) | warm-cache first fit (s) "
          "| second fit in the same process (s) | imports (s) | kernels compiled (cache files) |")
    print("|---|---:|---:|---:|---:|---:|")
    for o, runs in results.items():
        print(f"| {o} | {best(runs, 'cold', 'first_fit_s'):.2f} | {best(runs, 'warm', 'first_fit_s'):.2f} "
              f"| {best(runs, 'cold', 'second_fit_s'):.3f} | {best(runs, 'cold', 'import_s'):.2f} "
              f"| {runs[0]['cold']['cache_files']} |")
    if a.out is not None:
        a.out.write_text(json.dumps(dict(machine=machine, results=results), indent=1) + "\n")


def _registry():
    # `python -c` puts its cwd first on sys.path: run it from an empty directory, not from
    # the repository root, whose gradhess would shadow the one on PYTHONPATH.
    code = "import json, gradhess; print(json.dumps(list(gradhess.OBJECTIVES)))"
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"could not import gradhess to list its objectives:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


if __name__ == "__main__":
    sys.exit(main())
