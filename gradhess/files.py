"""Training from and predicting to data files: what ``gradhess fit`` and ``gradhess predict`` run.

A model directory holds the engine's own model file (``model.json`` for
XGBoost, ``model.txt`` for LightGBM, ``model.cbm`` for CatBoost) and
``metadata.json`` (objective and its parameters, engine, classes, feature
columns, intercept, versions).  Files are written atomically: a failed run
leaves no partial output.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__
from . import _engines as e
from . import _validation as v
from ._io import atomic_folder, atomic_path, check_folder_target

MODEL_FILES = {"xgboost": "model.json", "lightgbm": "model.txt", "catboost": "model.cbm"}


class InputError(ValueError):
    """Bad input to the command line: reported as one line, exit code 2."""


def _pandas():
    return e.require("pandas", "cli")


def read_table(path) -> "object":
    """A CSV or Parquet file (by extension: .parquet/.pq is Parquet, anything else CSV)."""
    pd = _pandas()
    path = Path(path)
    if path.is_dir():
        raise InputError(f"cannot read {path}: it is a folder, not a data file")
    if not path.is_file():
        raise InputError(f"cannot read {path}: no such file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path)
    except ImportError as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    except Exception as exc:  # pandas raises many types for unreadable files
        raise InputError(f"cannot read {path}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from None
    if len(df) == 0:
        raise InputError(f"{path} has no rows (columns: {', '.join(map(str, df.columns[:12]))})")
    return df


def write_table(df, path) -> None:
    """Write CSV or Parquet (by extension), atomically."""
    with atomic_path(path) as tmp:
        if Path(path).suffix.lower() in (".parquet", ".pq"):
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)


def _missing(df, columns, what):
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{what} column(s) not found: {', '.join(missing)} "
                         f"(the file has: {', '.join(map(str, df.columns[:12]))}"
                         f"{', ...' if len(df.columns) > 12 else ''})")


@contextlib.contextmanager
def naming_table(path, role: str = ""):
    """An :class:`InputError` raised while a table's columns are read names the table."""
    try:
        yield
    except InputError as exc:
        raise InputError(f"{path}{role}: {exc}") from None


def features(df, columns) -> np.ndarray:
    """The feature matrix; every feature column must be numeric (or boolean)."""
    _missing(df, columns, "feature")
    bad = [c for c in columns if df[c].dtype.kind not in "biuf"]
    if bad:
        raise InputError(f"non-numeric feature column(s): {', '.join(map(str, bad))} "
                         f"(dtype {df[bad[0]].dtype}); encode them as numbers first")
    return df[list(columns)].to_numpy(dtype=np.float64)


def targets_from(df, obj, label=None, proba_columns=None, weight=None, classes=None):
    """Labels (hard: classes and indices; soft: probability columns) and weights from a table."""
    if (label is None) == (proba_columns is None):
        raise InputError("give exactly one of --label COLUMN or --proba-columns C1,C2,...")
    w = None
    if weight is not None:
        _missing(df, [weight], "weight")
        if df[weight].dtype.kind not in "biuf":
            raise InputError(f"weight column {weight!r} is not numeric (dtype {df[weight].dtype})")
        w = df[weight].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(w) | (w < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"weight column {weight!r} must hold finite weights >= 0; got {float(w[row])!r} "
                             f"at row {row}")
    if label is not None:
        _missing(df, [label], "label")
        missing = df[label].isna().to_numpy()
        if missing.any():
            raise InputError(f"label column {label!r} has a missing value at row "
                             f"{int(np.flatnonzero(missing)[0])}")
        values = df[label].to_numpy()
        if values.dtype == object and len({type(x) for x in values}) > 1:
            raise InputError(f"label column {label!r} mixes value types "
                             f"({', '.join(sorted({type(x).__name__ for x in values}))})")
        if classes is None:
            classes = np.unique(values)
        idx = np.searchsorted(classes, values)
        idx = np.clip(idx, 0, len(classes) - 1)
        unknown = classes[idx] != values
        if unknown.any():
            raise InputError(f"label column {label!r} has values not seen in training: "
                             f"{list(np.unique(values[unknown])[:5])}")
        if obj.is_multiclass:
            y = idx
        else:
            if len(classes) != 2:
                raise InputError(f"{obj.name} is a binary objective but {label!r} has {len(classes)} "
                                 f"classes")
            y = idx.astype(np.float64)
        return y, w, list(classes)
    _missing(df, proba_columns, "probability")
    bad = [c for c in proba_columns if df[c].dtype.kind not in "biuf"]
    if bad:
        raise InputError(f"non-numeric probability column(s): {', '.join(map(str, bad))} "
                         f"(dtype {df[bad[0]].dtype})")
    # float32 columns stay float32: their rows are checked to float32's tolerance
    single = all(df[c].dtype == np.float32 for c in proba_columns)
    y = df[list(proba_columns)].to_numpy(dtype=np.float32 if single else np.float64)
    if not obj.is_multiclass and len(proba_columns) != 2:
        raise InputError(f"{obj.name} is a binary objective: give two probability columns "
                         f"(negative, positive)")
    try:
        v.check_probabilities(f"probability columns {','.join(proba_columns)}", y,
                              rows_sum_to_one=True)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return (y if obj.is_multiclass else y[:, 1]), w, list(proba_columns)


# -------------------------------------------------------------- progress
class Progress:
    """A per-round progress bar (tqdm) showing the metric; silent when not a terminal."""

    def __init__(self, total: int, metric: str, enabled: bool | None = None):
        enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar = None
        self.metric = metric
        if enabled:
            import shutil

            from tqdm import tqdm

            # a terminal that reports no size (some ptys) gets 100 x 20: tqdm hides bars
            # on terminals it believes to have 0 rows
            size = shutil.get_terminal_size((100, 20))
            self.bar = tqdm(total=total, unit="round", file=sys.stderr, ncols=size.columns or 100,
                            nrows=size.lines or 20)

    def update(self, value: float | None):
        if self.bar is not None:
            if value is not None:
                self.bar.set_postfix({self.metric: f"{value:.5f}"}, refresh=False)
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()

    def engine_callback(self, engine: str):
        if engine == "xgboost":
            import xgboost as xgb

            progress = self

            class _XGB(xgb.callback.TrainingCallback):
                def after_iteration(self, model, epoch, evals_log):
                    last = [v[-1] for d in evals_log.values() for v in d.values()]
                    progress.update(last[-1] if last else None)
                    return False

            return _XGB()
        if engine == "lightgbm":
            def _lgb(env):
                res = env.evaluation_result_list
                self.update(res[-1][2] if res else None)
            return _lgb

        class _CB:
            def after_iteration(cb_self, info):
                vals = [v[-1] for d in info.metrics.values() for v in d.values()]
                self.update(vals[-1] if vals else None)
                return True

        return _CB()


# ------------------------------------------------------------------- fit
def fit(data, *, objective: str, engine: str, out, label=None, proba_columns=None, weight=None,
        hessian=None, valid=None, rounds: int = 100, early_stopping=None, params=None,
        progress: bool | None = None) -> Path:
    from .objectives import get

    if engine not in MODEL_FILES:
        raise InputError(f"unknown engine {engine!r}; choose from {', '.join(MODEL_FILES)}")
    adapter = __import__(f"gradhess.{engine}", fromlist=["train"])
    e.require(engine, engine)
    obj = get(objective) if hessian is None else get(objective, hessian=hessian)
    try:
        out = check_folder_target(out, "--out", "metadata.json")
    except ValueError as exc:
        raise InputError(str(exc)) from None
    df = read_table(data)
    with naming_table(data):
        y, w, classes = targets_from(df, obj, label, proba_columns, weight)
    used = {label, weight, *(proba_columns or [])} - {None}
    feature_names = [c for c in df.columns if c not in used]
    if not feature_names:
        raise InputError(f"{data} has no feature columns besides the label/weight columns")
    with naming_table(data):
        X = features(df, feature_names)
    eval_set = None
    if valid is not None:
        dv = read_table(valid)
        with naming_table(valid, " (--valid)"):
            yv, wv, _ = targets_from(dv, obj, label, proba_columns, weight,
                                     classes=np.asarray(classes) if label is not None else None)
            eval_set = [(features(dv, feature_names), yv, wv)]
    elif early_stopping:
        raise InputError("--early-stopping needs --valid DATA")
    n_classes = len(classes) if obj.is_multiclass else None
    bar = Progress(rounds, obj.name, progress)
    if eval_set is None:  # a bar shown reports the training loss (evaluated for it only)
        eval_set = [(X, y, w)] if bar.bar is not None else None
        early = None
    else:
        early = early_stopping
    try:
        model = adapter.train(obj, X, y, sample_weight=w, params=params or {}, num_boost_round=rounds,
                              eval_set=eval_set, early_stopping_rounds=early, n_classes=n_classes,
                              callbacks=[bar.engine_callback(engine)])
    finally:
        bar.close()
    meta = {
        **e.metadata(obj, n_classes, obj.init_raw(y, w, n_classes=n_classes)),
        "engine": engine,
        "classes": [c.item() if hasattr(c, "item") else c for c in classes],
        "features": [str(c) for c in feature_names],
        "label": label,
        "proba_columns": proba_columns,
        "versions": {"gradhess": __version__, engine: __import__(engine).__version__},
    }
    try:  # everything serialised before anything is written
        meta_bytes = json.dumps(meta, indent=2).encode()
    except (TypeError, ValueError) as exc:
        raise InputError(f"cannot store the model's metadata ({exc}): use class labels that are "
                         f"numbers or strings") from None
    with atomic_folder(out) as tmp:  # the model folder replaced as a whole
        model.save_model(str(tmp / MODEL_FILES[engine]))
        (tmp / "metadata.json").write_bytes(meta_bytes)
    return out


def load(model_dir):
    """The engine model and metadata from a directory written by :func:`fit`."""
    model_dir = Path(model_dir)
    meta_path = model_dir / "metadata.json"
    if not meta_path.is_file():
        raise InputError(f"{model_dir} is not a gradhess model directory (no metadata.json)")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise InputError(f"cannot read {meta_path}: {exc}") from None
    missing = [key for key in ("engine", "objective", "params", "n_classes", "classes", "features")
               if not isinstance(meta, dict) or key not in meta]
    if missing:
        raise InputError(f"cannot read {meta_path}: it has no {', '.join(map(repr, missing))} "
                         f"(not written by gradhess fit, or edited)")
    engine = meta["engine"]
    e.require(engine, engine)
    path = model_dir / MODEL_FILES[engine]
    if not path.is_file():
        raise InputError(f"{model_dir} has no {MODEL_FILES[engine]}")
    if engine == "xgboost":
        import xgboost as xgb

        model = xgb.Booster(model_file=str(path))
    elif engine == "lightgbm":
        import lightgbm as lgb

        model = lgb.Booster(model_file=str(path))
    else:
        import catboost as cb

        model = cb.CatBoost()
        model.load_model(str(path))
    return model, meta


def predict(model_dir, data, out) -> Path:
    """Write class probabilities for ``data`` to ``out`` (CSV or Parquet), one column per class."""
    pd = _pandas()
    model, meta = load(model_dir)
    df = read_table(data)
    with naming_table(data):
        X = features(df, meta["features"])
    obj, k = e.from_metadata(meta, "the model")
    adapter = __import__(f"gradhess.{meta['engine']}", fromlist=["predict_raw"])
    proba = e.proba_from_raw(obj, adapter.predict_raw(model, X), k)
    if proba.ndim == 1:
        proba = np.column_stack([1.0 - proba, proba])
    names = [f"proba_{c}" for c in meta["classes"]]
    write_table(pd.DataFrame(proba, columns=names), out)
    return Path(out)
