"""``gradhess demo``: knowledge distillation on scikit-learn's handwritten digits.

A strong teacher (an RBF support-vector machine) is fit on the labelled half of
the digits.  It labels the training images plus a transfer set (the same
images shifted by one pixel) with its class probabilities.  Boosted students
learn those probability vectors with gradhess objectives; baselines learn with
the engine's built-in objective, once on the original hard labels only and once
on the teacher's argmax over the transfer set.  Everything is scored on the
held-out half against the true labels, and against the teacher.

Targets are shaped with :func:`gradhess.soft_labels`: the raw teacher
probabilities (temperature 1) and the same sharpened with temperature 1/3.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np

from . import _engines as e
from ._io import atomic_path, write_bytes
from .labels import soft_labels

ENGINE_NAMES = ("xgboost", "lightgbm", "catboost")
#: Engines the demo runs unless told otherwise.  CatBoost calls a Python objective once per
#: object (about 80 s per student here against 4 s for the others, see docs/engines.md), which
#: would break the demo's two-minute budget: it runs when asked for with --engines.
DEFAULT_ENGINES = ("xgboost", "lightgbm")


def installed_engines(candidates=DEFAULT_ENGINES) -> list[str]:
    return [name for name in candidates if importlib.util.find_spec(name) is not None]


# ------------------------------------------------------------------- data
def shift_images(X: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift 8x8 digit images by (dy, dx) pixels, filling with zeros."""
    imgs = X.reshape(-1, 8, 8)
    out = np.zeros_like(imgs)
    ys = slice(max(dy, 0), 8 + min(dy, 0))
    yd = slice(max(-dy, 0), 8 + min(-dy, 0))
    xs = slice(max(dx, 0), 8 + min(dx, 0))
    xd = slice(max(-dx, 0), 8 + min(-dx, 0))
    out[:, ys, xs] = imgs[:, yd, xd]
    return out.reshape(len(X), 64)


def load(seed: int = 0, shifts=((0, 1), (0, -1), (1, 0), (-1, 0))):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y,
                                                        random_state=seed)
    X_transfer = np.vstack([X_train] + [shift_images(X_train, dy, dx) for dy, dx in shifts])
    return X_train, y_train, X_test, y_test, X_transfer


# ---------------------------------------------------------------- metrics
def expected_calibration_error(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE of the top-class confidence, equal-width bins: sum_b (n_b / n) |acc_b - conf_b|."""
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - conf[mask].mean())
    return float(ece)


def reliability_curve(proba, y, bins: int = 10):
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    xs, ys = [], []
    for b in range(bins):
        mask = which == b
        if mask.sum() >= 5:
            xs.append(conf[mask].mean())
            ys.append(correct[mask].mean())
    return np.array(xs), np.array(ys)


def scores(proba: np.ndarray, y: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    """Held-out metrics against the true labels and against the teacher."""
    p = np.clip(proba, 1e-15, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    n = len(y)
    onehot = np.eye(p.shape[1])[y]
    t = np.clip(teacher, 1e-15, 1.0)
    return {
        "log_loss": float(-np.log(p[np.arange(n), y]).mean()),
        "brier": float(((p - onehot) ** 2).sum(axis=1).mean()),
        "accuracy": float((p.argmax(axis=1) == y).mean()),
        "ece": expected_calibration_error(p, y),
        "teacher_agreement": float((p.argmax(axis=1) == teacher.argmax(axis=1)).mean()),
        "kl_to_teacher": max(0.0, float((teacher * (np.log(t) - np.log(p))).sum(axis=1).mean())),
    }


# ----------------------------------------------------------------- models
def engine_settings(engine: str, seed: int) -> dict:
    if engine == "xgboost":
        return {"max_depth": 4, "eta": 0.1, "tree_method": "hist", "seed": seed, "nthread": 2}
    if engine == "lightgbm":
        return {"num_leaves": 15, "learning_rate": 0.1, "seed": seed, "num_threads": 2,
                "verbose": -1, "min_data_in_leaf": 10}
    return {"depth": 4, "learning_rate": 0.2, "random_seed": seed, "thread_count": 2}


def builtin_fit_predict(engine: str, X, y, X_test, rounds: int, seed: int):
    """The engine's own multiclass objective (the baselines)."""
    params = engine_settings(engine, seed)
    k = 10
    if engine == "xgboost":
        import xgboost as xgb

        booster = xgb.train({**params, "objective": "multi:softprob", "num_class": k},
                            xgb.DMatrix(X, label=y), rounds)
        return booster.predict(xgb.DMatrix(X_test))
    if engine == "lightgbm":
        import lightgbm as lgb

        booster = lgb.train({**params, "objective": "multiclass", "num_class": k},
                            lgb.Dataset(X, label=y), rounds)
        return booster.predict(X_test)
    import catboost as cb

    model = cb.CatBoost({**params, "loss_function": "MultiClass", "iterations": rounds,
                         "allow_writing_files": False})
    model.fit(X, y, verbose=False)
    return model.predict(X_test, prediction_type="Probability")


def student_fit_predict(engine: str, objective: str, X, targets, X_test, rounds: int, seed: int):
    adapter = __import__(f"gradhess.{engine}", fromlist=["train"])
    model = adapter.train(objective, X, targets, params=engine_settings(engine, seed),
                          num_boost_round=rounds)
    return adapter.predict_proba(model, X_test)


# ----------------------------------------------------------------- output
def markdown_table(rows: list[dict]) -> str:
    head = ("| engine | model | targets | log loss | Brier | accuracy | ECE | agrees with teacher "
            "| KL to teacher | fit time |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['engine']} | {r['model']} | {r['targets']} | {r['log_loss']:.4f} | {r['brier']:.4f} "
            f"| {100 * r['accuracy']:.1f}% | {r['ece']:.4f} | {100 * r['teacher_agreement']:.1f}% "
            f"| {r['kl_to_teacher']:.4f} | {r['fit_seconds']:.1f} s |"
        )
    return "\n".join(lines)


def reliability_png(curves: dict[str, tuple], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for label, (xs, ys) in curves.items():
        ax.plot(xs, ys, marker="o", label=label)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("Reliability on the held-out digits")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


# -------------------------------------------------------------------- run
def run(out: str | os.PathLike = "gradhess-demo", engines=None, quick: bool = False, seed: int = 0,
        log=print) -> dict:
    """Run the distillation demo; write report.md, metrics.json and reliability.png to ``out``."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    engines = list(engines) if engines else installed_engines()
    if not engines and importlib.util.find_spec("catboost") is not None:
        engines = ["catboost"]
    for name in engines:
        if name not in ENGINE_NAMES:
            raise ValueError(f"unknown engine {name!r}; choose from {', '.join(ENGINE_NAMES)}")
        e.require(name, name)
    if not engines:
        raise ImportError('no boosting engine is installed; install one with: pip install "gradhess[demo]"')
    rounds = 40 if quick else 300
    shifts = ((0, 1), (1, 0)) if quick else ((0, 1), (0, -1), (1, 0), (-1, 0))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    X_train, y_train, X_test, y_test, X_transfer = load(seed, shifts)
    t0 = time.perf_counter()
    # An RBF SVM with probabilities calibrated by cross-validated Platt scaling
    teacher = CalibratedClassifierCV(SVC(kernel="rbf", C=10.0, gamma="scale"), ensemble=False)
    teacher.fit(X_train, y_train)
    teacher_time = time.perf_counter() - t0
    teacher_test = teacher.predict_proba(X_test)
    teacher_transfer = teacher.predict_proba(X_transfer)
    log(f"digits: {len(y_train)} labelled training images, {len(X_transfer)} in the transfer set, "
        f"{len(y_test)} held out; teacher: RBF SVM; engines: {', '.join(engines)}")
    if "catboost" not in engines and importlib.util.find_spec("catboost") is not None:
        log("(CatBoost is installed but slow with Python objectives: add it with --engines)")

    rows = [{"engine": "-", "model": "teacher (RBF SVM)", "targets": "hard labels",
             "fit_seconds": teacher_time, **scores(teacher_test, y_test, teacher_test)}]
    curves = {"teacher": reliability_curve(teacher_test, y_test)}
    targets = {
        "teacher probabilities, T=1": soft_labels(teacher_transfer),
        "teacher probabilities, T=1/3": soft_labels(teacher_transfer, temperature=1 / 3),
    }
    for engine in engines:
        runs = [
            ("built-in objective", "hard labels only",
             lambda: builtin_fit_predict(engine, X_train, y_train, X_test, rounds, seed)),
            ("built-in objective", "teacher argmax, transfer set",
             lambda: builtin_fit_predict(engine, X_transfer, teacher_transfer.argmax(axis=1), X_test,
                                         rounds, seed)),
        ]
        for objective in ("cross_entropy", "brier"):
            for name, soft in targets.items():
                runs.append((f"gradhess {objective}", name,
                             lambda o=objective, s=soft: student_fit_predict(engine, o, X_transfer, s,
                                                                             X_test, rounds, seed)))
        for model, target_name, fit in runs:
            t = time.perf_counter()
            proba = fit()
            elapsed = time.perf_counter() - t
            row = {"engine": engine, "model": model, "targets": target_name, "fit_seconds": elapsed,
                   **scores(proba, y_test, teacher_test)}
            rows.append(row)
            log(f"  {engine:8s} {model:25s} {target_name:30s} log loss {row['log_loss']:.4f}  "
                f"accuracy {100 * row['accuracy']:.1f}%  ({elapsed:.1f} s)")
            if engine == engines[0] and (target_name.endswith("T=1/3") and "cross_entropy" in model
                                         or model.startswith("built-in")):
                curves[f"{engine}: {model}, {target_name}"] = reliability_curve(proba, y_test)

    table = markdown_table(rows)
    report = {
        "data": {"train": int(len(y_train)), "transfer": int(len(X_transfer)), "test": int(len(y_test)),
                 "classes": 10},
        "rounds": rounds,
        "engines": engines,
        "rows": rows,
    }
    md = (f"# gradhess demo: distilling an RBF SVM into boosted trees\n\n"
          f"Digits: {len(y_train)} labelled training images, a transfer set of {len(X_transfer)} "
          f"(the training images and copies shifted by one pixel), {len(y_test)} held out. "
          f"{rounds} boosting rounds per model. Scores on the held-out half, against the true "
          f"labels; agreement and KL against the teacher.\n\n{table}\n\n"
          f"![reliability diagram](reliability.png)\n")
    write_bytes(out / "metrics.json", json.dumps(report, indent=2).encode())
    write_bytes(out / "report.md", md.encode())
    reliability_png(curves, out / "reliability.png")
    log("")
    log(table)
    log(f"\nwritten: {out / 'report.md'}, {out / 'metrics.json'}, {out / 'reliability.png'}")
    return report
