"""Which Hessian strategy should each objective use by default?  A reproducible study.

    python docs/scripts/hessian_study.py

trains one model per objective x Hessian strategy x engine x task, and writes
``docs/hessian_study.json`` (every number, per-round training-loss curves
included), ``docs/hessian_study.md`` (the tables, the plots and the
conclusions) and the plots under ``docs/hessian_study/``.

The objectives are the four whose exact Hessian diagonal can be negative
(brier, focal, ranked_probability, spherical), each with every strategy of
:data:`gradhess.hessians.STRATEGIES`; ``"constant"`` (Hessian = weight) is the
first-order baseline.  The tasks:

* ``synthetic_k3``, ``synthetic_k10``: X ~ N(0, I_10); the true class
  probabilities are the softmax of a fixed random two-layer tanh network of X;
  one hard label per row drawn from them.  100,000 training rows, 20,000
  held out, scored against the labels and by KL(p_true || p_hat).
* ``digits``: the distillation task of ``gradhess demo`` (:mod:`gradhess.demo`):
  scikit-learn's digits, an RBF-SVM teacher, students trained on the teacher's
  probabilities over the transfer set, scored on the held-out half against the
  true labels and by KL(teacher || p_hat).

Every model uses the same engine settings (:data:`XGBOOST_PARAMS`,
:data:`LIGHTGBM_PARAMS`, :data:`ROUNDS` rounds), one engine thread per model,
so that the numbers do not depend on ``--jobs`` (how many models train at
once, one process each).

``--quick`` runs a small version (2,000 rows, K = 3, 5 rounds, a smaller
transfer set) in seconds; ``--out DIR`` writes somewhere other than ``docs/``.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

OBJECTIVES = ("brier", "focal", "ranked_probability", "spherical")
ENGINES = ("xgboost", "lightgbm")
SEED = 0
ROUNDS = 100
#: Identical for every objective, strategy and task.  One thread per model: the study runs
#: ``--jobs`` models at once instead, and the results do not depend on the thread count.
XGBOOST_PARAMS = {"max_depth": 4, "eta": 0.1, "tree_method": "hist", "nthread": 1, "seed": SEED}
LIGHTGBM_PARAMS = {"num_leaves": 15, "learning_rate": 0.1, "num_threads": 1, "seed": SEED,
                   "deterministic": True, "verbose": -1}
ENGINE_PARAMS = {"xgboost": XGBOOST_PARAMS, "lightgbm": LIGHTGBM_PARAMS}

# The synthetic tasks' generator: logits = tanh(X W1 + b1) W2
N_FEATURES = 10
HIDDEN = 32
LOGIT_SCALE = 3.0
#: Two held-out results within this relative distance count as a tie in the conclusions.
TIE = 0.005


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # "synthetic" or "digits"
    n_classes: int
    n_train: int = 0
    n_test: int = 0
    shifts: tuple = ()

    @property
    def reference(self) -> str:
        """What the held-out KL divergence is measured against."""
        return "truth" if self.kind == "synthetic" else "teacher"


@dataclass
class Config:
    quick: bool
    rounds: int
    tasks: list = field(default_factory=list)


def config(quick: bool) -> Config:
    if quick:
        return Config(True, 5, [Task("synthetic_k3", "synthetic", 3, 2_000, 1_000),
                                Task("digits", "digits", 10, shifts=((0, 1),))])
    demo_shifts = ((0, 1), (0, -1), (1, 0), (-1, 0))  # gradhess.demo.load's default
    return Config(False, ROUNDS, [Task("synthetic_k3", "synthetic", 3, 100_000, 20_000),
                                  Task("synthetic_k10", "synthetic", 10, 100_000, 20_000),
                                  Task("digits", "digits", 10, shifts=demo_shifts)])


# ------------------------------------------------------------------ data
def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def synthetic(task: Task, seed: int = SEED) -> dict:
    """Features, true probabilities and labels drawn from them; the same for every model."""
    rng = np.random.default_rng([seed, task.n_classes])
    w1 = rng.normal(size=(N_FEATURES, HIDDEN)) * 1.5 / math.sqrt(N_FEATURES)
    b1 = rng.normal(size=HIDDEN) * 0.5
    w2 = rng.normal(size=(HIDDEN, task.n_classes)) * LOGIT_SCALE / math.sqrt(HIDDEN)
    n = task.n_train + task.n_test
    X = rng.normal(size=(n, N_FEATURES))
    p = softmax(np.tanh(X @ w1 + b1) @ w2)
    y = (rng.uniform(size=(n, 1)) > p.cumsum(axis=1)).sum(axis=1).clip(max=task.n_classes - 1)
    tr, te = slice(0, task.n_train), slice(task.n_train, n)
    return {"X": X[tr], "y": y[tr], "X_test": X[te], "y_test": y[te], "reference": p[te],
            "description": f"{task.n_train:,} training rows (hard labels), {task.n_test:,} held out, "
                           f"{N_FEATURES} features, K = {task.n_classes}"}


def digits(task: Task, seed: int = SEED) -> dict:
    """The distillation data of ``gradhess demo``: teacher probabilities over the transfer set."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    from gradhess import demo, soft_labels

    X_train, y_train, X_test, y_test, X_transfer = demo.load(seed, task.shifts)
    # The teacher of gradhess.demo.run: an RBF SVM with Platt-scaled probabilities
    teacher = CalibratedClassifierCV(SVC(kernel="rbf", C=10.0, gamma="scale"), ensemble=False)
    teacher.fit(X_train, y_train)
    return {"X": X_transfer, "y": soft_labels(teacher.predict_proba(X_transfer)),
            "X_test": X_test, "y_test": y_test, "reference": teacher.predict_proba(X_test),
            "description": f"{len(X_transfer):,} transfer-set rows (teacher probabilities as soft "
                           f"labels), {len(y_test):,} held out (true labels), 64 features, K = 10"}


_DATA: dict = {}


def task_data(task: Task) -> dict:
    if task not in _DATA:
        _DATA[task] = synthetic(task) if task.kind == "synthetic" else digits(task)
    return _DATA[task]


# ---------------------------------------------------------------- models
def _finite_or_none(x):
    x = float(x)
    return x if math.isfinite(x) else None


def _json_safe(obj):
    """Non-finite floats as ``null`` (JSON has no NaN or infinity)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, float):
        return _finite_or_none(obj)
    return obj


def fit_one(task: Task, objective: str, strategy: str, engine: str, rounds: int) -> dict:
    """Train one model; return its per-round training loss and held-out scores."""
    import gradhess
    from gradhess.demo import scores

    data = task_data(task)
    adapter = importlib.import_module(f"gradhess.{engine}")
    obj = gradhess.get(objective, hessian=strategy)
    X, y = data["X"], data["y"]
    row = {"task": task.name, "objective": objective, "strategy": strategy, "engine": engine}
    # The loss of the intercept alone: round 0 of the curve
    start = np.tile(obj.init_raw(y, n_classes=task.n_classes), (len(X), 1))
    curve = [float(obj.loss(y, start).mean())]
    recorded: dict = {}
    error = None
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            # The training rows as the eval set: the engine records the mean loss every round
            booster = adapter.train(obj, X, y, params=ENGINE_PARAMS[engine], num_boost_round=rounds,
                                    eval_set=[(X, y)], evals_result=recorded)
            proba = adapter.predict_proba(booster, data["X_test"])
        except Exception as exc:  # noqa: BLE001 - an engine refusing, or a kernel rejecting non-finite margins
            error = f"{type(exc).__name__}: {exc}".splitlines()[0]
    row["fit_seconds"] = time.perf_counter() - t0
    row["warnings"] = sorted({str(w.message).splitlines()[0] for w in caught})
    curve += [float(v) for v in recorded.get("valid_0", {}).get(objective, [])]
    row["train_loss"] = [_finite_or_none(v) for v in curve]
    row["error"] = error
    keys = ("log_loss", "brier", "accuracy", "ece", "kl")
    if error is None and np.isfinite(proba).all():
        s = scores(proba, data["y_test"], data["reference"])
        s["kl"] = s.pop("kl_to_teacher")
        row.update({k: _finite_or_none(s[k]) for k in keys})
    else:
        row.update({k: None for k in keys})
        if error is None:
            row["error"] = "non-finite held-out probabilities"
    row["status"] = status(row["train_loss"], rounds, row["error"])
    return row


def status(curve: list, rounds: int, error) -> str:
    """``ok``; ``diverged`` (an error, a non-finite loss, or a final loss above the
    intercept's); ``non-monotone`` (the loss rose in some round but ended below the start)."""
    if error is not None or None in curve or len(curve) != rounds + 1:
        return "diverged"
    if curve[-1] > curve[0]:
        return "diverged"
    if any(b > a + 1e-12 * abs(a) for a, b in itertools.pairwise(curve)):
        return "non-monotone"
    return "ok"


def _worker_init():
    # the engines are given one thread each; the objective kernels use one too
    os.environ["GRADHESS_NUM_THREADS"] = "1"


def run_all(cfg: Config, jobs: int, log=print) -> list[dict]:
    import gradhess

    jobs_list = [(task, o, s, e, cfg.rounds) for task in cfg.tasks for o in OBJECTIVES
                 for s in gradhess.hessians.STRATEGIES for e in ENGINES]
    rows = []

    def report(row):
        rows.append(row)
        tl = row["train_loss"][-1]
        log(f"[{len(rows):3d}/{len(jobs_list)}] {row['task']:14s} {row['objective']:19s} "
            f"{row['strategy']:13s} {row['engine']:9s} train loss {_fmt(tl, 5)}  "
            f"KL {_fmt(row['kl'], 5)}  log loss {_fmt(row['log_loss'], 4)}  {row['status']}"
            f"  ({row['fit_seconds']:.1f} s)", flush=True)

    if jobs <= 1:
        _worker_init()
        for args in jobs_list:
            report(fit_one(*args))
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init) as pool:
            futures = [pool.submit(fit_one, *args) for args in jobs_list]
            for f in futures:
                report(f.result())
    order = {(t.name, o, s, e): i for i, (t, o, s, e, _) in enumerate(jobs_list)}
    rows.sort(key=lambda r: order[(r["task"], r["objective"], r["strategy"], r["engine"])])
    return rows


def reference_rows(cfg: Config) -> list[dict]:
    """Held-out scores of the reference itself (the truth, or the teacher): the floor."""
    from gradhess.demo import scores

    out = []
    for task in cfg.tasks:
        data = task_data(task)
        s = scores(data["reference"], data["y_test"], data["reference"])
        out.append({"task": task.name, "model": task.reference, "log_loss": s["log_loss"],
                    "brier": s["brier"], "accuracy": s["accuracy"], "ece": s["ece"]})
    return out


# ----------------------------------------------------------- conclusions
def primary(task: Task) -> tuple[str, str]:
    """The held-out score the conclusions rank strategies by: KL to the truth where it is
    known; on the distillation task, log loss against the true labels."""
    return ("kl", "KL(p_true || p_hat)") if task.kind == "synthetic" else ("log_loss", "log loss")


def _value(row, key):
    v = row[key]
    return math.inf if v is None else v


def analyse(cfg: Config, rows: list[dict]) -> dict:
    """Per objective and setting (task x engine): each strategy's held-out score, its excess
    over the setting's best, and which strategies are best (ties within TIE).

    The recommended default is the strategy with the smallest mean relative excess over the
    settings: a default has to be good everywhere, so one bad failure weighs more than a
    few narrow wins."""
    import gradhess

    strategies = gradhess.hessians.STRATEGIES
    out = {}
    for objective in OBJECTIVES:
        settings = []
        for task in cfg.tasks:
            key, _ = primary(task)
            for engine in ENGINES:
                sel = {r["strategy"]: r for r in rows if r["task"] == task.name
                       and r["objective"] == objective and r["engine"] == engine}
                vals = {s: _value(sel[s], key) for s in strategies}
                best = min(vals.values())
                tied = [s for s in strategies if vals[s] <= best * (1 + TIE) + 1e-15]
                ranked = sorted(strategies, key=lambda s: vals[s])
                train = {s: (sel[s]["train_loss"][-1] if sel[s]["train_loss"][-1] is not None
                             else math.inf) for s in strategies}
                settings.append({"task": task.name, "engine": engine, "metric": key,
                                 "values": vals, "best": tied, "ranking": ranked,
                                 "excess": {s: vals[s] / best - 1 for s in strategies},
                                 "best_train": min(strategies, key=lambda s: train[s]),
                                 "status": {s: sel[s]["status"] for s in strategies}})
        wins = {s: sum(s in st["best"] for st in settings) for s in strategies}
        mean_rank = {s: float(np.mean([st["ranking"].index(s) + 1 for st in settings]))
                     for s in strategies}
        excess = {s: float(np.mean([st["excess"][s] for st in settings])) for s in strategies}
        worst = {s: float(max(st["excess"][s] for st in settings)) for s in strategies}
        choice = min(strategies, key=lambda s: (excess[s], -wins[s]))
        out[objective] = {"settings": settings, "wins": wins, "mean_rank": mean_rank,
                          "mean_relative_excess": excess, "worst_relative_excess": worst,
                          "recommended": choice, "current_default": gradhess.get(objective).hessian}
    return out


def _pct(x: float) -> str:
    return "∞" if not math.isfinite(x) else f"{100 * x:+.1f}%"


def conclusion_text(objective: str, a: dict, cfg: Config) -> str:
    import gradhess

    strategies = gradhess.hessians.STRATEGIES
    n = len(a["settings"])
    choice = a["recommended"]
    ranking = sorted(strategies, key=lambda s: (a["mean_relative_excess"][s], -a["wins"][s]))
    lines = [
        "Held-out score above each setting's best, mean (worst) over the settings: "
        + ", ".join(f"`{s}` {_pct(a['mean_relative_excess'][s])} ({_pct(a['worst_relative_excess'][s])})"
                    for s in ranking) + ".",
        "Best or tied-best: " + ", ".join(f"`{s}` {a['wins'][s]}/{n}" for s in ranking
                                          if a["wins"][s]) + ".",
    ]
    exceptions = []
    for st in a["settings"]:
        if choice not in st["best"]:
            best = st["best"][0]
            names = ", ".join(f"`{b}`" for b in st["best"])
            exceptions.append(f"{st['task']}/{st['engine']}: {names} better ({st['metric']} "
                              f"{st['values'][best]:.4f} vs {st['values'][choice]:.4f}, "
                              f"`{choice}` {_pct(st['excess'][choice])})")
        elif len(st["best"]) > 1:
            others = [s for s in st["best"] if s != choice]
            exceptions.append(f"{st['task']}/{st['engine']}: tied with "
                              + ", ".join(f"`{s}`" for s in others))
    if exceptions:
        lines.append("Ties and exceptions for `" + choice + "`: " + "; ".join(exceptions) + ".")
    exact = [f"{st['task']}/{st['engine']} {st['status']['exact']}" for st in a["settings"]
             if st["status"]["exact"] != "ok"]
    if exact:
        lines.append("`exact`: " + ", ".join(exact) + ".")
    else:
        lines.append("`exact` trained without diverging or a rising loss everywhere.")
    others = [f"`{s}` {st['task']}/{st['engine']} {st['status'][s]}" for st in a["settings"]
              for s in strategies if s != "exact" and st["status"][s] != "ok"]
    if others:
        lines.append("Other strategies: " + ", ".join(others) + ".")
    lowest = {}
    for st in a["settings"]:
        lowest[st["best_train"]] = lowest.get(st["best_train"], 0) + 1
    lines.append("Lowest final training loss: " + ", ".join(
        f"`{s}` in {c}/{n}" for s, c in sorted(lowest.items(), key=lambda kv: -kv[1])) + ".")
    current = a["current_default"]
    verdict = "the current default" if current == choice else f"the current default is `{current}`"
    lines.append(f"**Default: `{choice}`** ({verdict}).")
    return " ".join(lines)


# ----------------------------------------------------------------- output
def _fmt(v, digits=4) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def results_table(task: Task, rows: list[dict], refs: list[dict]) -> str:
    kl_name = f"KL to {task.reference}"
    head = (f"| objective | strategy | engine | {kl_name} | log loss | Brier | accuracy | ECE "
            f"| train loss, round 0 → final | status |")
    lines = [head, "|" + "---|" * 10]
    key, _ = primary(task)
    for r in rows:
        if r["task"] != task.name:
            continue
        peers = [q[key] for q in rows if q["task"] == task.name and q["objective"] == r["objective"]
                 and q["engine"] == r["engine"] and q[key] is not None]
        best = r[key] is not None and r[key] <= min(peers) * (1 + TIE) + 1e-15
        cells = {k: _fmt(r[k]) for k in ("kl", "log_loss", "brier", "ece")}
        cells[key] = f"**{cells[key]}**" if best else cells[key]
        acc = "n/a" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}%"
        tl = r["train_loss"]
        lines.append(f"| {r['objective']} | {r['strategy']} | {r['engine']} | {cells['kl']} "
                     f"| {cells['log_loss']} | {cells['brier']} | {acc} | {cells['ece']} "
                     f"| {_fmt(tl[0])} → {_fmt(tl[-1])} | {r['status']} |")
    for ref in refs:
        if ref["task"] == task.name:
            lines.append(f"| *{ref['model']} itself* | | | 0 | {ref['log_loss']:.4f} "
                         f"| {ref['brier']:.4f} | {100 * ref['accuracy']:.2f}% | {ref['ece']:.4f} | | |")
    return "\n".join(lines)


def plot(task: Task, objective: str, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import gradhess

    fig, axes = plt.subplots(1, len(ENGINES), figsize=(9, 3.6), dpi=80, sharey=True)
    all_vals = []
    for ax, engine in zip(np.atleast_1d(axes), ENGINES):
        for strategy in gradhess.hessians.STRATEGIES:
            r = next(q for q in rows if q["task"] == task.name and q["objective"] == objective
                     and q["engine"] == engine and q["strategy"] == strategy)
            curve = np.array([np.nan if v is None else v for v in r["train_loss"]])
            all_vals.append(curve)
            label = strategy
            if r["status"] != "ok":
                label += f" ({r['status']}, final {_fmt(r['train_loss'][-1], 3)})"
            ax.plot(np.arange(len(curve)), curve, label=label, linewidth=1.4,
                    linestyle="--" if strategy == "constant" else "-")
        ax.set_title(engine)
        ax.set_xlabel("boosting round")
        ax.grid(alpha=0.3)
    vals = np.concatenate(all_vals)
    vals = vals[np.isfinite(vals)]
    start = all_vals[0][0]
    if vals.size and np.isfinite(start):
        lo = vals.min()
        hi = max(start, lo) + 0.05 * (max(start, lo) - lo + 1e-12)
        np.atleast_1d(axes)[0].set_ylim(lo - 0.05 * (hi - lo), hi)
    np.atleast_1d(axes)[0].set_ylabel(f"training {objective} loss")
    for ax in np.atleast_1d(axes):  # one legend per panel: the labels carry each run's status
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"{objective} on {task.name}: mean training loss per round", fontsize=10)
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def versions() -> dict:
    import lightgbm
    import matplotlib
    import sklearn
    import xgboost

    import gradhess

    out = {"python": platform.python_version(), "numpy": np.__version__,
           "xgboost": xgboost.__version__, "lightgbm": lightgbm.__version__,
           "scikit-learn": sklearn.__version__, "matplotlib": matplotlib.__version__,
           "gradhess": gradhess.__version__}
    try:
        import numba

        out["numba"] = numba.__version__
    except ImportError:
        out["numba"] = None
    return out


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count()}


def git_revision() -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "gradhess"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + (" (gradhess/ with uncommitted changes)" if dirty else "")


def markdown(cfg: Config, report: dict) -> str:
    rows, refs, analysis = report["rows"], report["reference"], report["analysis"]
    v, m = report["versions"], report["machine"]
    cmd = "python docs/scripts/hessian_study.py" + (" --quick" if cfg.quick else "")
    out = ["# Hessian strategies: a study", ""]
    if cfg.quick:
        out += ["*Quick mode: a smoke run on tiny data; the numbers mean nothing.*", ""]
    out += [
        "The exact Hessian diagonal of the Brier, focal, ranked probability and spherical "
        "objectives is negative on part of the inputs (see [derivations](derivations.md)), so each "
        "objective offers the strategies of `gradhess.hessians` (`exact`, `gauss_newton`, "
        "`majorizer`, `clip`, and `constant`, the first-order baseline with Hessian = weight). "
        "This page trains every objective with every strategy on both engines and compares the "
        "training loss per round and the held-out scores, to choose each objective's default.",
        "",
        "## What was run", "",
        f"Reproduce everything (data, models, this page, the JSON and the plots) with `{cmd}` "
        f"from the repository root ({report['runtime_seconds'] / 60:.1f} minutes here, "
        f"{report['jobs']} models at a time).", "",
        "Tasks:", "",
    ]
    for task in cfg.tasks:
        desc = report["tasks"][task.name]
        if task.kind == "synthetic":
            out.append(f"* `{task.name}`: X ~ N(0, I_{N_FEATURES}), true probabilities "
                       f"softmax(tanh(X W1 + b1) W2) with fixed random W1, b1 (×1.5/√{N_FEATURES}, "
                       f"×0.5) and W2 (×{LOGIT_SCALE:g}/√{HIDDEN}, {HIDDEN} hidden units), labels "
                       f"drawn from them: {desc}. Held-out KL is KL(p_true ‖ p_hat). The classes "
                       f"have no order; the ranked probability score is still strictly proper.")
        else:
            out.append(f"* `{task.name}`: the distillation task of `gradhess demo` (an RBF-SVM "
                       f"teacher, students on its probabilities, temperature 1): {desc}. Held-out "
                       f"KL is KL(teacher ‖ p_hat), labelled *KL to teacher*; log loss, Brier "
                       f"score, accuracy and ECE are against the true labels.")
    out += [
        "",
        f"Every model: {cfg.rounds} boosting rounds, no early stopping, the objective's intercept, "
        f"XGBoost `{json.dumps(XGBOOST_PARAMS)}`, LightGBM `{json.dumps(LIGHTGBM_PARAMS)}` (other "
        "settings at the engines' defaults, e.g. XGBoost's `lambda=1`, `min_child_weight=1`, "
        "LightGBM's `min_sum_hessian_in_leaf=1e-3`, `min_data_in_leaf=20`, `lambda_l2=0`). "
        "`lambda`, `min_child_weight` and `min_sum_hessian_in_leaf` act on sums of Hessians, so "
        "their effect depends on each strategy's Hessian scale; they are left at the defaults a "
        "user gets. The training loss is the objective's own mean loss on the training rows, "
        "recorded by the engine after every round (round 0: the intercept alone; XGBoost reports "
        "it to 6 significant digits). Status: `diverged` = an error, a non-finite loss "
        "or a final training loss above the intercept's; `non-monotone` = the training loss rose "
        "in some round.", "",
        f"Machine: {m['cpu']} ({m['cpu_count']} CPUs), {m['platform']}. Versions: "
        + ", ".join(f"{k} {val}" for k, val in v.items() if val is not None)
        + (f"; gradhess revision {report['git']}." if report.get("git") else "."), "",
        "## Conclusions", "",
        "Strategies are compared per setting (task × engine) by the held-out "
        + ", ".join(f"{primary(t)[1]} on `{t.name}`" for t in cfg.tasks)
        + f"; results within {100 * TIE:g}% of the setting's best count as tied. The default "
        "chosen for an objective is the strategy whose score is, on average over the settings, "
        "the least above each setting's best: a default has to hold up everywhere, so one "
        "failure weighs more than a few narrow wins.", "",
    ]
    for objective in OBJECTIVES:
        out.append(f"* **{objective}**: {conclusion_text(objective, analysis[objective], cfg)}")
    out += [""]
    for task in cfg.tasks:
        _, label = primary(task)
        out += [f"## {task.name}", "",
                f"Held-out scores; bold: the best {label} of each objective × engine (and ties).", "",
                results_table(task, rows, refs), ""]
        for objective in OBJECTIVES:
            out.append(f"![{objective} on {task.name}](hessian_study/{objective}_{task.name}.png)")
        out.append("")
    out += ["All numbers, per-round curves included, are in "
            "[hessian_study.json](hessian_study.json).", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny data, few rounds (a smoke run)")
    parser.add_argument("--out", default=str(ROOT / "docs"),
                        help="directory for hessian_study.json, hessian_study.md and the plots")
    parser.add_argument("--jobs", type=int, default=2, help="models trained at once (default 2)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    cfg = config(args.quick)
    out = Path(args.out)
    plots = out / "hessian_study"
    plots.mkdir(parents=True, exist_ok=True)

    revision = git_revision()  # the code the models are trained with
    t0 = time.perf_counter()
    rows = run_all(cfg, args.jobs)
    refs = reference_rows(cfg)
    runtime = time.perf_counter() - t0
    report = {
        "command": "python docs/scripts/hessian_study.py" + (" --quick" if cfg.quick else ""),
        "quick": cfg.quick, "rounds": cfg.rounds, "jobs": args.jobs, "seed": SEED,
        "runtime_seconds": runtime, "machine": machine(), "versions": versions(),
        "git": revision,
        "engine_params": ENGINE_PARAMS,
        "tasks": {t.name: task_data(t)["description"] for t in cfg.tasks},
        "task_settings": {t.name: {k: v for k, v in asdict(t).items() if k != "name"}
                          for t in cfg.tasks},
        "reference": refs,
        "rows": rows,
    }
    report["analysis"] = analyse(cfg, rows)
    for task in cfg.tasks:
        for objective in OBJECTIVES:
            plot(task, objective, rows, plots / f"{objective}_{task.name}.png")
    (out / "hessian_study.json").write_text(json.dumps(_json_safe(report), indent=1, allow_nan=False) + "\n")
    (out / "hessian_study.md").write_text(markdown(cfg, report))
    print(f"\n{len(rows)} models in {runtime / 60:.1f} min; written: {out / 'hessian_study.md'}, "
          f"{out / 'hessian_study.json'}, {plots}/")
    for objective in OBJECTIVES:
        print(f"{objective}: {conclusion_text(objective, report['analysis'][objective], cfg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
