"""CatBoost adapter: layout, sign, call signature, intercept and prediction.

CatBoost's custom objectives return derivatives of the quantity being
*maximised*: the adapters hand over ``-gradient`` and ``-Hessian``.

* Softmax objectives: a ``MultiTargetCustomObjective`` whose
  ``calc_ders_multi(approxes, targets, weight)`` is called once per object with
  that object's K margins and its label row (class indices and soft labels
  alike travel as an ``(n, K)`` label matrix, which keeps them aligned with the
  rows); it returns the negated gradient and a diagonal K x K matrix holding the
  negated Hessian strategy.  The method body only calls the objective's compiled row
  kernel (``objective.kernels.compiled.row``) with the strategy and scale as constants,
  so CatBoost's own numba step compiles it when numba is installed; an objective without
  one (on the NumPy path) is called per object instead.
* Binary objectives: ``calc_ders_range`` on whole ranges of objects, computed
  by the objective's vectorised NumPy path.
* The intercept: CatBoost rejects a Pool ``baseline`` with a user-defined
  multi-target objective, so the objective and the metric add the intercept
  to the margins they are given (``intercept=``); :func:`train` then sets it
  as the model's bias (``set_scale_and_bias``), so raw predictions include
  it.  The objective is recorded in the model's metadata (saved with the
  model) for :func:`predict_proba`.

CatBoost carries one weight per object: per-cell weights raise an error.
"""

from __future__ import annotations

import json

import numpy as np

from . import _engines as e
from . import hessians
from .objectives import Objective, Targets


def _cb():
    return e.require("catboost", "catboost")


def _make_softmax_objective(objective: Objective, intercept):
    """A ``MultiTargetCustomObjective`` instance for a softmax objective."""
    cb = _cb()
    from .kernels import compiled

    kernels = objective.kernels.compiled if compiled.AVAILABLE else None
    kernel = None if kernels is None else kernels.row
    offset = np.zeros(0) if intercept is None else np.asarray(intercept, np.float64).copy()
    shift = offset.size > 0

    def __reduce__(self):
        return (_native, (objective, None if intercept is None else offset.tolist()))

    if kernel is None:  # no compiled row kernel (an objective on the NumPy path): per object
        def calc_ders_multi(self, approxes, targets, weight):
            z = np.asarray(approxes, dtype=np.float64)[None, :] + (offset if shift else 0.0)
            y = np.asarray(targets, dtype=np.float64)[None, :]
            t = Targets(y / y.sum(), np.array([float(weight)]), y.shape[1])  # the Pool's: checked
            g, h = objective.gradient_hessian(t, z)
            return -g[0], np.diag(-h[0])

        body = {"calc_ders_multi": calc_ders_multi, "no_jit": True}
    else:
        alpha = float(objective.label_smoothing)
        strategy = hessians.CODES[objective.hessian]
        params = objective._kernel_params()
        scale = float(objective.hessian_scale)
        floor = float(hessians.CLIP_FLOOR)

        # CatBoost compiles this method with numba.njit when it can: the body must
        # not use ``self``; the kernel and the constants are closure variables.
        def calc_ders_multi(self, approxes, targets, weight):
            k = approxes.shape[0]
            z = approxes + offset if shift else approxes
            g = np.empty(k)
            h = np.empty(k)
            kernel(z, targets, weight, alpha, strategy, scale, floor, params, g, h)
            hess = np.zeros((k, k))
            for j in range(k):
                hess[j, j] = -h[j]
            return -g, hess

        body = {"calc_ders_multi": calc_ders_multi}
    cls = type("GradhessCatBoostObjective", (cb.MultiTargetCustomObjective,), {
        **body, "__reduce__": __reduce__, "__doc__": f"CatBoost objective for {objective!r}"})
    return cls()


class BinaryCatBoostObjective:
    """``calc_ders_range`` for a binary gradhess objective (vectorised, not compiled)."""

    no_jit = True  # uses self: nothing for CatBoost's numba step to compile

    def __init__(self, objective: Objective | str, intercept=None):
        self.objective = e.resolve(objective)
        self.intercept = 0.0 if intercept is None else float(np.asarray(intercept).ravel()[0])

    def calc_ders_range(self, approxes, targets, weights):
        z = np.asarray(approxes, dtype=np.float64) + self.intercept
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        # the Pool's labels, checked when it was built
        t = Targets(np.asarray(targets, dtype=np.float64), w, None)
        g, h = self.objective.gradient_hessian(t, z)
        return np.stack([-g, -h], axis=1)


def _native(obj: Objective, intercept=None):
    if obj.is_multiclass:
        return _make_softmax_objective(obj, intercept)
    return BinaryCatBoostObjective(obj, intercept)


def objective(objective: Objective | str, *, intercept=None):
    """The gradhess objective as a CatBoost ``loss_function`` object.

    Softmax objectives need the labels as an ``(n, K)`` matrix in the Pool
    (:func:`pool` builds it); binary ones take labels in [0, 1].  The
    objective differentiates at ``margins + intercept``: pass the objective's
    ``init_raw`` and set it as the model's bias after training (as
    :func:`train` does).
    """
    return _native(e.resolve(objective), intercept)


class CatBoostMetric:
    """``eval_metric`` object: the weighted mean loss (lower is better)."""

    no_jit = True

    def __init__(self, objective: Objective | str, intercept=None):
        self.objective = e.resolve(objective)
        self.intercept = 0.0 if intercept is None else np.asarray(intercept, np.float64)

    def is_max_optimal(self):
        return False

    def evaluate(self, approxes, target, weight):
        raw = np.asarray(approxes, dtype=np.float64)
        if self.objective.is_multiclass:
            # CatBoost passes margins and labels one array per dimension: (K, n)
            raw = raw.T
            y = np.ascontiguousarray(np.asarray(target, dtype=np.float64).T)
            y /= y.sum(axis=1, keepdims=True)  # labels travel as float32
        else:
            raw = raw[0]
            y = np.asarray(target, dtype=np.float64)
        w = None if weight is None else np.asarray(weight, dtype=np.float64)
        # the Pool's labels, checked when it was built (as float32: rows renormalised above)
        t = Targets(y, w, y.shape[1] if self.objective.is_multiclass else None)
        loss = self.objective.loss(t, raw + self.intercept)
        return float(loss.sum()), float(w.sum() if w is not None else len(loss))

    def get_final_error(self, error, weight):
        return error / weight if weight else float("nan")


def _make_metric(objective: Objective, intercept=None):
    return metric(objective, intercept=intercept)


def metric(objective: Objective | str, *, intercept=None):
    """The matching ``eval_metric`` object for CatBoost (margins + ``intercept``)."""
    obj = e.resolve(objective)
    if not obj.is_multiclass:
        return CatBoostMetric(obj, intercept)

    def __reduce__(self):
        c = None if intercept is None else np.asarray(intercept, np.float64).tolist()
        return (_make_metric, (obj, c))

    cls = type("GradhessCatBoostMetric", (CatBoostMetric, _cb().MultiTargetCustomMetric),
               {"__reduce__": __reduce__})
    return cls(obj, intercept)


def pool(X, y, objective: Objective | str, sample_weight=None, *, n_classes=None, **kwargs):
    """A ``catboost.Pool`` for a gradhess objective (``y``: labels, or :class:`Targets`).

    Softmax labels (class indices or probability rows) become an ``(n, K)``
    label matrix (label smoothing is the objective's, applied where it reads them);
    binary labels stay ``(n,)``.
    Per-cell weights raise an error: CatBoost carries one weight per object.
    """
    cb = _cb()
    obj = e.resolve(objective)
    t = obj.prepare(y, sample_weight, n_classes=n_classes)  # CatBoost copies them
    e.check_engine_weights(t)
    if t.cell_weights:
        raise ValueError(
            "CatBoost carries one weight per object: per-cell weights of shape "
            f"{t.sample_weight.shape} cannot be used; use gradhess.xgboost or gradhess.lightgbm"
        )
    label = np.asarray(t.dense(), dtype=np.float32)
    return cb.Pool(X, label=label, weight=t.sample_weight, **kwargs)


def _check_targets_vary(pool) -> None:
    """CatBoost refuses training labels whose column (a class's label, or the one binary
    label) is the same in every row, deep inside (``All train targets are equal``); say
    which, at the boundary."""
    label = np.asarray(pool.get_label(), dtype=np.float64)
    label = label.reshape(len(label), -1)
    same = np.flatnonzero(label.min(axis=0) == label.max(axis=0))
    if same.size:
        j = int(same[0])
        if label.shape[1] == 1:
            what = f"the label is {label[0, j]:g} in every row"
        else:
            what = (f"class {j}'s label is {label[0, j]:g} in every row"
                    + (" (a class no row has); drop it from the labels"
                       if label[0, j] == label.min() else ""))
        raise ValueError(
            f"CatBoost refuses training labels that are the same for every row: {what}; "
            f"gradhess.xgboost and gradhess.lightgbm train on such labels"
        )


def train(objective: Objective | str, X, y, *, sample_weight=None, params: dict | None = None,
          num_boost_round: int = 100, eval_set=None, early_stopping_rounds: int | None = None,
          verbose=False, callbacks=None, n_classes=None):
    """Train a CatBoost model on a gradhess objective.

    Same arguments as :func:`gradhess.xgboost.train` (``params`` are CatBoost
    parameters; ``loss_function``, ``eval_metric`` and ``iterations`` are set
    here).  Returns the ``catboost.CatBoost`` model; its bias holds the
    intercept and its metadata the objective.
    """
    cb = _cb()
    obj = e.resolve(objective)
    e.check_rounds(num_boost_round, early_stopping_rounds)
    t = obj.prepare(y, sample_weight, n_classes=n_classes)  # CatBoost copies them
    e.check_engine_weights(t)
    c = obj.init_raw(t)
    params = dict(params or {})
    for key in ("loss_function", "objective"):
        if key in params:
            raise ValueError(f"params[{key!r}] = {params[key]!r}: the objective is {obj.name}; "
                             f"remove it from params")
    e.check_n_classes(t.n_classes, params, "classes_count")
    params.pop("classes_count", None)
    if early_stopping_rounds and not eval_set:
        raise ValueError("early_stopping_rounds needs an eval_set")
    params.update(loss_function=_native(obj, c), eval_metric=metric(obj, intercept=c),
                  iterations=num_boost_round, boost_from_average=False)
    # CatBoost cuts the model back to its best eval iteration whenever an eval set is given;
    # like the other adapters, keep every round unless early stopping was asked for.
    params.setdefault("use_best_model", bool(early_stopping_rounds))
    params.setdefault("allow_writing_files", False)
    eval_list = e.as_eval_list(eval_set)
    e.check_features(X, t.n_rows, eval_list)
    for i, (Xi, _, _) in enumerate([(X, None, None)] + eval_list):
        e.check_no_inf(Xi, "X" if i == 0 else f"eval_set[{i - 1}] X", "CatBoost")
    train_pool = pool(X, t, obj)
    _check_targets_vary(train_pool)
    evals = []
    for i, (Xv, yv, wv) in enumerate(eval_list):
        with e.naming_eval_set(i):
            evals.append(pool(Xv, yv, obj, wv, n_classes=t.n_classes))
    model = cb.CatBoost(params)
    model.fit(train_pool, eval_set=evals or None, early_stopping_rounds=early_stopping_rounds,
              verbose=verbose, callbacks=callbacks)
    model.set_scale_and_bias(1.0, np.atleast_1d(c).astype(float).tolist())
    model.get_metadata()[e.METADATA_KEY] = json.dumps(e.metadata(obj, t.n_classes, c))
    return model



def predict_raw(model, X) -> np.ndarray:
    """Raw margins (the intercept, stored as the model's bias, included)."""
    e.check_columns(X, len(model.feature_names_ or ()), "the model")
    return np.asarray(model.predict(X, prediction_type="RawFormulaVal"))


def predict_proba(model, X) -> np.ndarray:
    """Probabilities from a model trained by :func:`train`: ``(n, K)``, or ``(n,)`` for binary."""
    meta = model.get_metadata()
    obj, k = e.from_metadata(meta[e.METADATA_KEY] if e.METADATA_KEY in meta else None, "the model")
    return e.proba_from_raw(obj, predict_raw(model, X), k)
