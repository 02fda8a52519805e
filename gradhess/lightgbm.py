"""LightGBM adapter: layout, sign, call signature, intercept and prediction.

* :func:`objective` and :func:`metric` give callables for ``lightgbm.train``
  (``params["objective"]`` and ``feval=``).  LightGBM hands a multiclass
  objective its scores as an ``(n, K)`` column-major float64 array and reads
  the gradient back class-major as float32: the callables return ``(n, K)``
  float32 arrays in column-major order, which LightGBM flattens without a copy,
  and reuse them every round.
* :func:`dataset` builds a Dataset that carries what the objective needs.
  LightGBM's labels are one value per row, so a soft-label matrix and per-cell
  weights are attached to the Dataset object (the label field holds the
  argmax, for LightGBM's own bookkeeping); ``init_score`` holds the intercept.
  Passed to ``lightgbm.train`` or ``lightgbm.cv`` by hand, it checks that the
  params' ``num_class`` is the labels' class count.
* :func:`train` sets what LightGBM gets wrong by default for a custom
  objective: the intercept (the objective's ``init_raw`` instead of 0, added to
  the scores by the callables -- an ``offset`` -- for softmax objectives and
  held as ``init_score`` for binary ones, then folded into the first trees so
  that the booster's raw scores include it), ``num_class``, no default metric
  (``metric="None"``).
  :func:`predict_proba` returns probabilities.

A subset of a Dataset from :func:`dataset` (``Dataset.subset``, as
``lightgbm.cv`` makes its folds) reads its rows of the attached matrices.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from . import _engines as e
from .objectives import Objective, Targets


def _lgb():
    return e.require("lightgbm", "lightgbm")


class LightGBMObjective(e.EngineObjective):
    """``params["objective"]`` callable: ``(preds, train_data) -> (grad, hess)``.

    Returns column-major float32 arrays, which LightGBM flattens class-major
    and passes on without a copy."""

    order = "F"

    def __call__(self, preds: np.ndarray, train_data):
        if self.objective.is_multiclass and preds.ndim == 1:
            raise ValueError(
                f"{self.objective.name} is a softmax objective but LightGBM produced one score "
                f"per row: set num_class to K"
            )
        return self.gradient_hessian(train_data, preds)


class LightGBMMetric(e.EngineMetric):
    """``feval=`` callable: ``(name, weighted mean loss, is_higher_better=False)``."""

    def __call__(self, preds: np.ndarray, eval_data):
        total, weight = self.loss_sums(eval_data, preds)
        return self.objective.name, total / weight if weight > 0 else float("nan"), False


def objective(objective: Objective | str) -> LightGBMObjective:
    """The gradhess objective as LightGBM's ``params["objective"]`` callable.

    >>> import numpy as np, lightgbm as lgb, gradhess, gradhess.lightgbm as gl
    >>> X, y = np.random.default_rng(0).normal(size=(60, 3)), np.arange(60) % 3
    >>> obj = gradhess.get("cross_entropy")
    >>> params = {"objective": gl.objective(obj), "num_class": 3, "metric": "None",
    ...           "verbose": -1, "min_data_in_leaf": 5}
    >>> booster = lgb.train(params, gl.dataset(X, y, obj), 5, feval=gl.metric(obj))
    >>> scores = booster.predict(X, raw_score=True) + obj.init_raw(y)  # init_score is not in the model
    >>> obj.predict_proba(scores).shape
    (60, 3)
    """
    return LightGBMObjective(objective)


def metric(objective: Objective | str) -> LightGBMMetric:
    """The matching ``feval=`` callable (weighted mean loss; lower is better)."""
    return LightGBMMetric(objective)


def dataset(X, y, objective: Objective | str, sample_weight=None, *, init_score=True,
            n_classes=None, intercept=None, **kwargs):
    """A ``lightgbm.Dataset`` for a gradhess objective.

    Labels (class indices, an ``(n, K)`` probability matrix, or binary labels
    in [0, 1]) and weights (``(n,)`` or ``(n, K)``) are validated and attached
    to the Dataset.  With ``init_score=True`` the objective's intercept (or the
    given ``intercept``) becomes the Dataset's ``init_score``; pass an array to
    set your own, or ``False`` for none.  Extra keyword arguments go to
    ``lightgbm.Dataset`` (``reference=`` for validation sets, ...).
    """
    obj = e.resolve(objective)
    return _dataset(X, obj, obj.prepare(y, sample_weight, n_classes=n_classes, copy=True), init_score, intercept,
                    **kwargs)


#: LightGBM's names for the objective and the class count parameters.
_OBJECTIVE_KEYS = ("objective", "objective_type", "app", "application", "loss")
_NUM_CLASS_KEYS = ("num_class", "num_classes")


@functools.cache
def _dataset_class():
    """``lightgbm.Dataset`` with the class count checked where LightGBM takes its training
    parameters (``Dataset._update_params``, which ``lightgbm.train`` and ``lightgbm.cv``
    call first): a softmax objective's Dataset carries an ``(n, K)`` ``init_score``, on
    which LightGBM, without ``num_class``, fails with "Number of class for initial score
    error".  Made on first use (LightGBM is optional); ``GradhessDataset`` below names it
    for pickle."""

    class GradhessDataset(_lgb().Dataset):
        def _update_params(self, params):
            t = getattr(self, e.TARGETS_ATTR, None)
            # training parameters carry the objective; a validation set's construction
            # passes its reference's Dataset parameters, which do not
            if t is not None and params and any(key in params for key in _OBJECTIVE_KEYS):
                _check_num_class(t, params)
            return super()._update_params(params)

    GradhessDataset.__module__ = __name__
    GradhessDataset.__qualname__ = "GradhessDataset"
    return GradhessDataset


def __getattr__(name):
    if name == "GradhessDataset":
        return _dataset_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _check_num_class(t: Targets, params: dict) -> None:
    """``params`` passed to ``lightgbm.train``/``cv`` with a Dataset of targets ``t``: the
    class count given must be the labels'."""
    e.check_n_classes(t.n_classes, params, *_NUM_CLASS_KEYS)
    if t.n_classes is not None and not any(params.get(key) is not None for key in _NUM_CLASS_KEYS):
        raise ValueError(
            f"the Dataset holds labels of K = {t.n_classes} classes but params has no "
            f"num_class: set params['num_class'] = {t.n_classes} (or use "
            f"gradhess.lightgbm.train, which sets it)"
        )


def _dataset(X, obj: Objective, t: Targets, init_score=True, intercept=None, **kwargs):
    """:func:`dataset` from validated targets (shared with the Dataset, not copied)."""
    label = t.y.argmax(axis=1) if t.soft else t.y
    weight = None if t.cell_weights else t.sample_weight
    if init_score is True:
        c = obj.init_raw(t) if intercept is None else intercept
        init_score = np.tile(np.atleast_1d(np.asarray(c, np.float64)), (t.n_rows, 1))
        if t.n_classes is None:
            init_score = init_score[:, 0]
    elif init_score is False:
        init_score = None
    ds = _dataset_class()(X, label=np.asarray(label, dtype=np.float64), weight=weight,
                          init_score=init_score, **kwargs)
    setattr(ds, e.TARGETS_ATTR, t)
    return ds


def _engine_params(obj: Objective, t: Targets, params: dict | None, offset=None) -> dict:
    params = dict(params or {})
    for key in _OBJECTIVE_KEYS:
        if key in params:
            raise ValueError(
                f"params[{key!r}] = {params[key]!r}: the objective is {obj.name}; remove it from params"
            )
    for key in ("metric", "metrics", "metric_types"):
        if key in params and not _no_metric(params[key]):
            raise ValueError(
                f"params[{key!r}] = {params[key]!r}: with a custom objective LightGBM computes its "
                f"built-in metrics on raw scores, without the link function or the intercept, "
                f"so they would be wrong; remove it (the objective's loss, {obj.name}, is "
                f"evaluated on every eval_set)"
            )
    e.refuse_class_balancing(params, ("scale_pos_weight", "is_unbalance", "unbalance",
                                      "unbalanced_sets"))
    e.check_n_classes(t.n_classes, params, *_NUM_CLASS_KEYS)
    params.pop("num_classes", None)
    params["num_class"] = t.n_classes if t.n_classes is not None else 1
    params["objective"] = LightGBMObjective(obj, offset)
    params.setdefault("metric", "None")
    params.setdefault("verbose", -1)
    # Keep features that min_data_in_leaf makes unsplittable: with none left,
    # LightGBM aborts on a custom objective (it does not on a built-in one).
    # Unsplittable features change no tree.
    params.setdefault("feature_pre_filter", False)
    return params


def _no_metric(value) -> bool:
    """Whether a LightGBM ``metric`` parameter names no built-in metric."""
    if value is None:
        return True
    names = value.split(",") if isinstance(value, str) else list(value)
    return all(str(v).strip().lower() in ("", "none", "null", "na", "custom") for v in names)


def _fold_intercept(booster, intercept, n_classes: int | None) -> None:
    """Add the intercept to every leaf of the first iteration's trees (one per class).

    A linear tree's leaf (``linear_tree=True``) predicts its constant term plus its linear
    model, and its output value only where a feature of that model is missing; the
    constant terms are not settable through the API, so they are moved in the model's
    text and the booster reloaded from it (in place)."""
    c = np.atleast_1d(np.asarray(intercept, dtype=np.float64))
    info = booster.dump_model(num_iteration=1)["tree_info"]
    k = n_classes or 1
    if len(info) < k:
        raise ValueError("the booster has no trees: train for at least one round")
    for j in range(k):
        tree = info[j]
        for leaf in range(tree["num_leaves"]):
            booster.set_leaf_output(j, leaf, booster.get_leaf_output(j, leaf) + float(c[j]))
    if any("'leaf_const'" in str(info[j]["tree_structure"]) for j in range(k)):  # linear leaves
        booster.model_from_string(_shift_linear_constants(booster.model_to_string(), c))


def _shift_linear_constants(model: str, c: np.ndarray) -> str:
    """The model text with ``c[j]`` added to the constant terms of tree ``j`` (``j < len(c)``,
    the first iteration's trees) where that tree is linear.  The header's ``tree_sizes``
    (each tree's length in the text, which this changes) is dropped: without it LightGBM
    reads the trees one after another."""
    lines = model.split("\n")
    tree = -1
    for i, line in enumerate(lines):
        if line.startswith("tree_sizes=") and tree < 0:
            lines[i] = None
        elif line.startswith("Tree="):
            tree = int(line[5:])
        elif line.startswith("leaf_const=") and 0 <= tree < len(c):
            values = [float(v) + float(c[tree]) for v in line[11:].split()]
            lines[i] = "leaf_const=" + " ".join(repr(v) for v in values)
    return "\n".join(line for line in lines if line is not None)


#: LightGBM's names for the early-stopping patience in params.
_EARLY_STOPPING_KEYS = ("early_stopping_round", "early_stopping_rounds", "early_stopping",
                        "n_iter_no_change")


class _EarlyStoppingOnLast:
    """LightGBM's early-stopping callback shown the results of one validation set only
    (on its own it stops when any set stops improving).  The stop it raises is raised again
    with every set's results of the best iteration, from which LightGBM sets the booster's
    ``best_score``."""

    def __init__(self, lgb, rounds: int, min_delta: float, dataset_name: str):
        self.callback = lgb.early_stopping(rounds, verbose=False, min_delta=min_delta)
        self.stop = lgb.callback.EarlyStopException
        self.dataset_name = dataset_name
        self.order = self.callback.order
        self.before_iteration = self.callback.before_iteration
        self.results = {}

    def __call__(self, env):
        self.results[env.iteration] = env.evaluation_result_list
        results = [r for r in env.evaluation_result_list or () if r[0] == self.dataset_name]
        # a dataclass in recent LightGBM releases, a namedtuple in earlier ones
        replace = getattr(env, "_replace", None) or functools.partial(dataclasses.replace, env)
        try:
            self.callback(replace(evaluation_result_list=results))
        except self.stop as stop:
            every_set = self.results.get(stop.best_iteration) or stop.best_score
            raise self.stop(stop.best_iteration, every_set) from None


def train(objective: Objective | str, X, y, *, sample_weight=None, params: dict | None = None,
          num_boost_round: int = 100, eval_set=None, early_stopping_rounds: int | None = None,
          callbacks=None, evals_result: dict | None = None, n_classes=None):
    """Train a LightGBM booster on a gradhess objective.

    Same arguments as :func:`gradhess.xgboost.train`, except that ``params`` may name no
    built-in ``metric`` (LightGBM computes them on raw scores for a custom objective).
    Early stopping follows the last eval set, as XGBoost's does (LightGBM's own callback
    stops when *any* eval set stops improving).  During
    training the intercept is added to LightGBM's scores by the objective and metric
    callables (softmax objectives; binary ones use LightGBM's ``init_score``, one number a
    row), not held as an ``(n, K)`` ``init_score``; it is then added to the first
    iteration's trees, so ``booster.predict(X, raw_score=True)`` includes it.
    Returns the ``lightgbm.Booster`` with a ``gradhess`` attribute for
    :func:`predict_proba` (a Python attribute: after saving and loading the
    model, pass ``objective=`` to :func:`predict_proba`).
    """
    lgb = _lgb()
    obj = e.resolve(objective)
    e.check_rounds(num_boost_round, early_stopping_rounds)
    t = obj.prepare(y, sample_weight, n_classes=n_classes)  # held while training only
    e.check_engine_weights(t)
    c = obj.init_raw(t)
    # softmax objectives: the callables add the intercept to LightGBM's scores, instead of an
    # (n, K) init_score (of which LightGBM keeps two float64 copies)
    offset = c if t.n_classes is not None else None
    engine_params = _engine_params(obj, t, params, offset)
    eval_list = e.as_eval_list(eval_set)
    e.check_features(X, t.n_rows, eval_list)
    dtrain = _dataset(X, obj, t, init_score=offset is None, intercept=c)
    valid_sets, valid_names = [], []
    for i, (Xv, yv, wv) in enumerate(eval_list):
        with e.naming_eval_set(i):
            tv = obj.prepare(yv, wv, n_classes=t.n_classes)
            e.check_engine_weights(tv)
        valid_sets.append(_dataset(Xv, obj, tv, init_score=offset is None, intercept=c,
                                   reference=dtrain))
        valid_names.append(f"valid_{i}")
    callbacks = list(callbacks or [])
    # early stopping asked for in params too (LightGBM would add its own callback, which
    # stops when any set stops improving): taken out and handled as the argument
    for key in _EARLY_STOPPING_KEYS:
        value = engine_params.pop(key, None)
        if value is None or int(value) <= 0:  # LightGBM's "off"
            continue
        if early_stopping_rounds and int(value) != int(early_stopping_rounds):
            raise ValueError(f"params[{key!r}] = {value!r} and early_stopping_rounds = "
                             f"{early_stopping_rounds!r} differ: give one")
        early_stopping_rounds = int(value)
    if early_stopping_rounds:
        if not valid_sets:
            raise ValueError("early_stopping_rounds needs an eval_set")
        callbacks.append(_EarlyStoppingOnLast(
            lgb, early_stopping_rounds, float(engine_params.get("early_stopping_min_delta", 0.0)),
            valid_names[-1]))
    if evals_result is not None:
        callbacks.append(lgb.record_evaluation(evals_result))
    booster = lgb.train(engine_params, dtrain, num_boost_round=num_boost_round,
                        valid_sets=valid_sets, valid_names=valid_names,
                        feval=LightGBMMetric(obj, offset), callbacks=callbacks)
    _fold_intercept(booster, c, t.n_classes)
    booster.gradhess = e.metadata(obj, t.n_classes, c)
    return booster


def predict_raw(booster, X, *, num_iteration=None) -> np.ndarray:
    """Raw scores (intercept included for boosters from :func:`train`)."""
    e.check_columns(X, booster.num_feature())
    return booster.predict(X, raw_score=True, num_iteration=num_iteration)


def predict_proba(booster, X, *, objective: Objective | str | None = None,
                  num_iteration=None) -> np.ndarray:
    """Probabilities from a booster trained by :func:`train`: ``(n, K)``, or ``(n,)`` for binary.

    For a booster loaded from a file (which loses the Python attribute), pass
    the ``objective`` it was trained with.
    """
    if objective is not None:
        obj = e.resolve(objective)
        raw = predict_raw(booster, X, num_iteration=num_iteration)
        k = raw.shape[1] if obj.is_multiclass and np.ndim(raw) == 2 else None
        if obj.is_multiclass and k is None:
            raise ValueError(f"{obj.name} is a softmax objective but the booster has one output")
        return e.proba_from_raw(obj, raw, k)
    obj, k = e.from_metadata(
        getattr(booster, e.METADATA_KEY, None), "the booster",
        "a booster loaded from a file loses it (a Python attribute): pass objective= the one it "
        "was trained with; or ")
    return e.proba_from_raw(obj, predict_raw(booster, X, num_iteration=num_iteration), k)
