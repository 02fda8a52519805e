"""XGBoost adapter: layout, sign, call signature, intercept and prediction.

* :func:`objective` and :func:`metric` give callables for ``xgboost.train(obj=...,
  custom_metric=...)``; they read labels and weights from the DMatrix.
* :func:`dmatrix` builds a DMatrix that carries what the objective needs: the
  validated labels and weights, attached to the DMatrix object, which the
  callables read as they are (float64, not rounded to XGBoost's float32 fields,
  and not copied out of XGBoost every round).  XGBoost's own fields hold the
  same labels, class indices (``num_class``) or the soft-label matrix
  (``num_target``), and one weight per row (the row means of per-cell weights,
  which XGBoost's sketch uses).  Its slices (``DMatrix.slice``, as ``xgboost.cv``
  makes its folds) carry their rows of them.  On a DMatrix built otherwise
  (``xgboost.dask``) the callables read XGBoost's fields.  The data sets :func:`train` builds for
  itself are ``QuantileDMatrix`` objects for histogram trees (the default
  ``tree_method``; only the histogram index, no copy of the features, as
  XGBoost's own scikit-learn estimators do), leave XGBoost's label field empty
  (nothing reads it unless a built-in metric is asked for) and hold the given
  labels and weights without copying them when they are already float64 /
  int64 and contiguous.
* :func:`train` sets what XGBoost gets wrong by default for a custom objective:
  the intercept (a vector ``base_score`` from the objective's ``init_raw``, not
  0.5), ``num_class``/``num_target``, no default metric; the model remembers
  its objective (booster attribute ``gradhess``), so :func:`predict_proba`
  returns probabilities.  (With ``num_class`` and a callable objective,
  ``Booster.predict`` returns class indices; :func:`predict_proba` asks for
  margins and applies the objective's link.)

XGBoost copies whatever gradient it is given into its own float32 buffers; the
callables return float32 arrays in C order, the layout of XGBoost's
predictions, reusing the same buffers every round.  XGBoost allocates its copy
(8 bytes a cell) anew every round: on glibc the objective callable raises the
allocator's mmap and trim thresholds above that size, so that the block is
reused instead of mapped and page-faulted in every round (see
:mod:`gradhess._heap`; ``GRADHESS_REUSE_HEAP=0`` turns this off).
"""

from __future__ import annotations

import functools
import json

import numpy as np

from . import _engines as e
from . import _heap
from .objectives import Objective, Targets


def _xgb():
    return e.require("xgboost", "xgboost")


class XGBoostObjective(e.EngineObjective):
    """The ``obj=`` callable for ``xgboost.train``: ``(predt, dtrain) -> (grad, hess)``.

    ``reuse_heap``: on the first round (and whenever the margins' size changes), let
    glibc keep the block XGBoost allocates for its copy of the gradient every round
    (:func:`gradhess._heap.reuse_freed_blocks`, process-wide).
    """

    reuse_heap = True
    _heap_cells = 0  # the margins' size the allocator was last set for

    def __init__(self, objective: Objective | str, reuse_heap: bool = True):
        super().__init__(objective)
        self.reuse_heap = reuse_heap

    def __call__(self, predt: np.ndarray, dtrain):
        if self.reuse_heap and predt.size != self._heap_cells:
            # XGBoost's gradient pairs: two float32 a cell
            self._heap_cells = predt.size
            _heap.reuse_freed_blocks(8 * predt.size)
        if self.objective.is_multiclass and predt.ndim == 1:
            raise ValueError(
                f"{self.objective.name} is a softmax objective but XGBoost produced one margin per "
                f"row: set num_class (class indices) or num_target (label matrix) to K"
            )
        if not self.objective.is_multiclass and predt.ndim == 2:
            predt = predt[:, 0] if predt.shape[1] == 1 else predt
        return self.gradient_hessian(dtrain, predt)

    def __getstate__(self):
        state = super().__getstate__()
        state["_heap_cells"] = 0  # another process: its allocator is not set yet
        return state


class XGBoostMetric(e.EngineMetric):
    """The ``custom_metric=`` callable: the weighted mean loss, named after the objective.

    The loss and weight sums are combined with XGBoost's collective allreduce, so under
    distributed training (``xgboost.dask``) the value is the global weighted mean over
    all workers' rows, not a mean of per-worker means; in one process the allreduce is
    the identity.
    """

    def __call__(self, predt: np.ndarray, dmat):
        from xgboost import collective

        if not self.objective.is_multiclass and predt.ndim == 2:
            predt = predt[:, 0]
        sums = np.array(self.loss_sums(dmat, predt), dtype=np.float64)
        total, weight = collective.allreduce(sums, collective.Op.SUM)
        return self.objective.name, float(total / weight) if weight > 0 else float("nan")


def objective(objective: Objective | str, *, reuse_heap: bool = True) -> XGBoostObjective:
    """The gradhess objective as XGBoost's ``obj=`` callable.

    Use it with ``xgboost.train`` as any custom objective, on a DMatrix from
    :func:`dmatrix` (which sets the label layout) and with ``num_class`` (or
    ``num_target`` for soft labels) and ``base_score`` set to the intercept:

    >>> import json, numpy as np, xgboost as xgb, gradhess, gradhess.xgboost as gx
    >>> X, y = np.random.default_rng(0).normal(size=(60, 3)), np.arange(60) % 3
    >>> obj = gradhess.get("cross_entropy")
    >>> params = {"num_class": 3, "base_score": json.dumps(obj.init_raw(y).tolist()),
    ...           "disable_default_eval_metric": 1, "max_depth": 2}
    >>> booster = xgb.train(params, gx.dmatrix(X, y, obj), 5, obj=gx.objective(obj),
    ...                     custom_metric=gx.metric(obj))
    >>> margins = booster.predict(xgb.DMatrix(X), output_margin=True)
    >>> obj.predict_proba(margins).shape
    (60, 3)

    ``reuse_heap=False`` leaves glibc's allocator settings alone (see the module
    docstring); XGBoost then page-faults in its copy of the gradient every round.
    """
    return XGBoostObjective(objective, reuse_heap=reuse_heap)


def metric(objective: Objective | str) -> XGBoostMetric:
    """The matching ``custom_metric=`` callable (weighted mean loss; lower is better)."""
    return XGBoostMetric(objective)


def dmatrix(X, y, objective: Objective | str, sample_weight=None, *, n_classes=None,
            base_margin=None, **kwargs):
    """A DMatrix for a gradhess objective.

    Class indices become the label (train with ``num_class=K``); an ``(n, K)``
    probability matrix becomes XGBoost's label matrix (train with
    ``num_target=K``).  The validated labels and weights (``(n,)`` or ``(n, K)``
    per cell) are attached to the DMatrix, where the gradhess callables read
    them: ``set_label``/``set_weight`` on it afterwards are not seen by them.  Its
    slices (``xgboost.cv``'s folds) carry their rows of them.  Extra keyword arguments go
    to ``xgboost.DMatrix``.
    """
    obj = e.resolve(objective)
    return _dmatrix(X, obj.prepare(y, sample_weight, n_classes=n_classes, copy=True), base_margin=base_margin,
                    **kwargs)


def _dmatrix(X, t: Targets, *, engine_label: bool = True, quantised: bool = False,
             **kwargs):
    """:func:`dmatrix` from validated targets (shared with the DMatrix, not copied).

    ``engine_label=False`` leaves XGBoost's own label field empty: a custom objective with
    a given ``base_score`` and no built-in metric never reads it (for soft labels it is a
    float32 copy of the whole ``(n, K)`` matrix).  ``quantised=True`` builds a
    ``QuantileDMatrix`` (keyword arguments ``ref``, ``max_bin``) instead."""
    xgb = _xgb()
    # With cell weights the DMatrix still gets one weight per row (their mean): XGBoost uses
    # it to place histogram bins (weighted quantile sketch); the gradients use the cells.
    make = xgb.QuantileDMatrix if quantised else _dmatrix_class()
    dm = make(X, label=t.y if engine_label else None, weight=t.row_weight(), **kwargs)
    setattr(dm, e.TARGETS_ATTR, t)
    return dm


@functools.cache
def _dmatrix_class():
    """``xgboost.DMatrix`` whose slices (``DMatrix.slice``, how ``xgboost.cv`` cuts its
    folds) carry their rows of the attached targets, so that a fold trains on its rows'
    soft labels and per-cell weights (XGBoost's own fields of a slice hold the labels as
    float32 and only the row means of cell weights).  Made on first use (XGBoost is
    optional); the module attribute ``GradhessDMatrix`` names it."""

    class GradhessDMatrix(_xgb().DMatrix):
        def slice(self, rindex, allow_groups: bool = False):
            part = super().slice(rindex, allow_groups=allow_groups)
            t = getattr(self, e.TARGETS_ATTR, None)
            if t is not None:
                setattr(part, e.TARGETS_ATTR, t.rows(np.asarray(rindex, dtype=np.int64)))
            return part

    GradhessDMatrix.__module__ = __name__
    GradhessDMatrix.__qualname__ = "GradhessDMatrix"
    return GradhessDMatrix


def __getattr__(name):
    if name == "GradhessDMatrix":
        return _dmatrix_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _engine_params(obj: Objective, t: Targets, params: dict | None, intercept) -> dict:
    params = dict(params or {})
    if "objective" in params:
        raise ValueError(
            f"params['objective'] = {params['objective']!r}: the objective is {obj.name}; "
            f"remove it from params"
        )
    e.refuse_class_balancing(params, ("scale_pos_weight",))
    e.check_n_classes(t.n_classes, params, "num_class", "num_target")
    if t.n_classes is not None:
        params.pop("num_class", None)
        params.pop("num_target", None)
        params["num_target" if t.soft else "num_class"] = t.n_classes
    params.setdefault("disable_default_eval_metric", 1)
    if "base_score" not in params:
        base = np.atleast_1d(intercept).astype(float)
        params["base_score"] = json.dumps(base.tolist()) if base.size > 1 else float(base[0])
    return params


def _quantile_kwargs(params: dict) -> dict | None:
    """The keyword arguments of a ``QuantileDMatrix`` for training with ``params``
    (``max_bin`` where given), or None where the trees are not histogram trees (as
    XGBoost's own scikit-learn estimators decide).  It holds only the histogram index, no
    copy of the features."""
    if (params.get("tree_method", "hist") in ("hist", "auto")
            and params.get("booster", "gbtree") in ("gbtree", "dart")
            and not str(params.get("device", "cpu")).startswith("sycl")):
        return {"max_bin": params["max_bin"]} if "max_bin" in params else {}
    return None


def _builtin_metric(params: dict) -> bool:
    """Whether XGBoost evaluates a metric of its own (which reads its label field)."""
    default_off = str(params["disable_default_eval_metric"]).lower() not in ("0", "false")
    return "eval_metric" in params or not default_off


def _check_builtin_metric(obj: Objective, params: dict, soft: bool, binary: bool) -> None:
    """XGBoost's built-in metrics are right for class indices only: they read one class
    index per row (a label matrix makes them wrong, or fail), and for a custom binary
    objective XGBoost computes them on raw margins (``logloss`` comes out negative)."""
    if not _builtin_metric(params) or not (soft or binary):
        return
    which = (f"eval_metric={params['eval_metric']!r}" if "eval_metric" in params
             else "the default metric (disable_default_eval_metric=0)")
    why = ("they read one class index per row, not a label matrix" if soft else
           "XGBoost computes them on the raw margins of a custom binary objective")
    raise ValueError(
        f"params: {which}: XGBoost's built-in metrics would be wrong here ({why}); remove it "
        f"(the objective's loss, {obj.name}, is evaluated on every eval_set)"
    )


def train(objective: Objective | str, X, y, *, sample_weight=None, params: dict | None = None,
          num_boost_round: int = 100, eval_set=None, early_stopping_rounds: int | None = None,
          verbose_eval=False, evals_result: dict | None = None, callbacks=None, n_classes=None):
    """Train an XGBoost booster on a gradhess objective.

    Parameters
    ----------
    objective : registry name or objective instance
    X, y : features and labels: ``(n,)`` class indices, an ``(n, K)`` probability
        matrix (soft labels), or ``(n,)`` values in [0, 1] for binary objectives
    sample_weight : ``(n,)`` per row or ``(n, K)`` per cell (softmax objectives);
        labels and weights already float64 (class indices int64) and contiguous are
        read in place while training runs, not copied
    params : XGBoost parameters; ``num_class``/``num_target``, ``base_score`` and
        ``disable_default_eval_metric`` are set here unless given (given class
        counts must match the labels); a built-in ``eval_metric`` is accepted
        with class indices and a softmax objective only (XGBoost's metrics read
        class indices, and take raw margins for a custom binary objective)
    eval_set : list of ``(X, y)`` or ``(X, y, sample_weight)``, evaluated with
        :func:`metric`; the last one drives ``early_stopping_rounds``

    Returns the ``xgboost.Booster``; its ``base_score`` holds the intercept and
    its ``gradhess`` attribute the objective, for :func:`predict_proba`.
    """
    xgb = _xgb()
    obj = e.resolve(objective)
    e.check_rounds(num_boost_round, early_stopping_rounds)
    t = obj.prepare(y, sample_weight, n_classes=n_classes)  # held while training only
    e.check_engine_weights(t)
    intercept = obj.init_raw(t)
    engine_params = _engine_params(obj, t, params, intercept)
    eval_list = e.as_eval_list(eval_set)
    if early_stopping_rounds and not eval_list:
        # (XGBoost would stop on the training loss that verbose_eval adds, or raise its own)
        raise ValueError("early_stopping_rounds needs an eval_set")
    e.check_features(X, t.n_rows, eval_list)
    e.check_no_inf(X, "X", "XGBoost")
    for i, (Xv, _, _) in enumerate(eval_list):
        e.check_no_inf(Xv, f"eval_set[{i}] X", "XGBoost")
    engine_label = _builtin_metric(engine_params)
    _check_builtin_metric(obj, engine_params, t.soft, t.n_classes is None)
    quantile = _quantile_kwargs(engine_params)
    quantised = quantile is not None
    dtrain = _dmatrix(X, t, engine_label=engine_label, quantised=quantised, **(quantile or {}))
    evals = [(dtrain, "train")] if verbose_eval else []
    for i, (Xv, yv, wv) in enumerate(eval_list):
        with e.naming_eval_set(i):
            tv = obj.prepare(yv, wv, n_classes=t.n_classes)
            e.check_engine_weights(tv)
        evals.append((_dmatrix(Xv, tv, engine_label=engine_label, quantised=quantised,
                               **({"ref": dtrain, **quantile} if quantised else {})),
                      f"valid_{i}"))
    try:
        booster = xgb.train(
            engine_params, dtrain, num_boost_round=num_boost_round, evals=evals,
            obj=XGBoostObjective(obj), custom_metric=XGBoostMetric(obj),
            early_stopping_rounds=early_stopping_rounds, verbose_eval=verbose_eval,
            evals_result=evals_result, callbacks=callbacks,
        )
    finally:
        _heap.release_free_memory()
    booster.set_attr(**{e.METADATA_KEY: json.dumps(e.metadata(obj, t.n_classes, intercept))})
    return booster



def predict_raw(booster, X, *, iteration_range=None) -> np.ndarray:
    """Raw margins (intercept included), using the best iteration after early stopping."""
    xgb = _xgb()
    if not isinstance(X, xgb.DMatrix):
        e.check_no_inf(X, "X", "XGBoost")
    data = X if isinstance(X, xgb.DMatrix) else xgb.DMatrix(X)
    e.check_columns(data.num_col(), booster.num_features())
    if iteration_range is None:
        best = booster.attr("best_iteration")
        iteration_range = (0, int(best) + 1) if best is not None else (0, 0)
    return booster.predict(data, output_margin=True, iteration_range=iteration_range)


def predict_proba(booster, X, *, iteration_range=None) -> np.ndarray:
    """Probabilities from a booster trained by :func:`train`: ``(n, K)``, or ``(n,)`` for binary."""
    obj, k = e.from_metadata(booster.attr(e.METADATA_KEY), "the booster")
    return e.proba_from_raw(obj, predict_raw(booster, X, iteration_range=iteration_range), k)
