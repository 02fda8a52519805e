"""What the engine adapters share: objective resolution, label handling, metrics, metadata.

Nothing here imports an engine.  An adapter (``gradhess.xgboost``,
``gradhess.lightgbm``, ``gradhess.catboost``) only handles layout, sign, call
signature, intercept and prediction; everything about labels, weights and
losses comes from here and from the objective.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import weakref
from typing import Any

import numpy as np

from . import _validation as v
from .objectives import OBJECTIVES, Objective, Targets, get
from .objectives._base import load

#: Key under which adapters store gradhess metadata on a trained model.
METADATA_KEY = "gradhess"


def require(module: str, extra: str):
    """Import an engine, or raise an ImportError that says which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is not installed; install it with: pip install \"gradhess[{extra}]\""
        ) from exc


def resolve(objective) -> Objective:
    """A registry name or an objective instance -> an objective instance."""
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, str):
        return get(objective)
    raise TypeError(
        f"objective must be a registry name ({', '.join(OBJECTIVES)}), package.module:ClassName "
        f"or a gradhess objective instance; got {type(objective).__name__}"
    )


class EngineObjective:
    """Base of the engine callables: an objective plus, per training data set, its
    :class:`Targets` and float32 gradient and Hessian buffers in the engine's memory order
    (``order``), made on that data set's first round and reused every round after.

    The state belongs to the data set (held while it lives), not to the callable, so one
    callable may serve several trainings at once, in threads, as a parameter dict is
    shared (one training per data set at a time).  Labels and weights come from the data
    set, validated once (:func:`targets_of`); only the margins are checked each round.
    (Changing a data set's labels in place between rounds is therefore not seen.)

    ``offset``: an intercept the engine's scores do not include, added to them (see
    :meth:`Objective.gradient_hessian`).
    """

    order = "C"
    offset = None

    def __init__(self, objective: Objective | str, offset=None):
        self.objective = resolve(objective)
        self.offset = offset
        self._trainings = weakref.WeakKeyDictionary()

    def training_state(self, data, raw: np.ndarray) -> tuple[Targets, np.ndarray, np.ndarray]:
        """``(targets, gradient buffer, Hessian buffer)`` of data set ``data`` for margins
        like ``raw``, made on first use."""
        try:
            state = self._trainings.get(data)
        except TypeError:  # a data set that cannot be weakly referenced: state per call
            state = None
        if state is None or state[1].shape != raw.shape:
            state = (targets_of(self.objective, data, raw.shape),
                     np.empty(raw.shape, np.float32, order=self.order),
                     np.empty(raw.shape, np.float32, order=self.order))
            try:
                self._trainings[data] = state
            except TypeError:
                pass
        return state

    def gradient_hessian(self, data, raw: np.ndarray):
        """Gradient and Hessian for margins ``raw`` on engine data set ``data``."""
        obj = self.objective
        if raw.ndim != (2 if obj.is_multiclass else 1):
            v.check_raw(raw, multiclass=obj.is_multiclass)  # raises, naming the shape
        t, g, h = self.training_state(data, raw)
        return obj.gradient_hessian(t, raw, offset=self.offset, gradient_out=g, hessian_out=h)

    def __deepcopy__(self, memo):
        # lightgbm.train deep-copies its params, callable objective included: share this
        # instance (its state is per data set) instead of duplicating it.
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_trainings"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._trainings = weakref.WeakKeyDictionary()

    def __repr__(self):
        return f"{type(self).__name__}({self.objective!r})"


#: Attribute under which an adapter's data set (``gradhess.xgboost.dmatrix``,
#: ``gradhess.lightgbm.dataset``) carries its validated :class:`Targets`.
TARGETS_ATTR = "gradhess_targets"


def targets_of(objective: Objective, data, shape: tuple) -> Targets:
    """The :class:`Targets` of an engine data set, for margins of ``shape``: those attached
    by the adapter that built it (validated then, shared rather than copied out of the
    engine), else the engine's own ``get_label``/``get_weight``, validated here.  A
    LightGBM subset (``Dataset.subset``, as ``lightgbm.cv`` makes its folds) takes its
    rows of the targets attached to the Dataset it was cut from."""
    t = getattr(data, TARGETS_ATTR, None)
    if t is not None:
        return t
    rows = getattr(data, "used_indices", None)
    parent = getattr(getattr(data, "reference", None), TARGETS_ATTR, None)
    if rows is not None and parent is not None:
        return parent.rows(np.asarray(rows, dtype=np.int64))
    w = data.get_weight()
    return objective.prepare(data.get_label(), w if w is not None and w.size else None,
                             n_classes=shape[1] if len(shape) == 2 else None)


class EngineMetric:
    """Base of the engine metric callables: the weighted mean loss of an objective on an
    engine data set, its labels and weights taken (:func:`targets_of`) the first time that
    data set is evaluated only (held while the data set lives), so that every round
    computes only the loss.  (As for :class:`EngineObjective`, labels changed on a data set
    after its first evaluation are therefore not seen.)"""

    def __init__(self, objective: Objective | str, offset=None):
        self.objective = resolve(objective)
        self.offset = offset
        self._prepared = weakref.WeakKeyDictionary()

    def loss_sums(self, data, raw: np.ndarray) -> tuple[float, float]:
        """``(sum_i L_i, sum_i wbar_i)`` on data set ``data`` (see :func:`loss_sums`)."""
        try:
            t = self._prepared.get(data)
        except TypeError:  # a data set that cannot be weakly referenced: no cache
            t = None
        if t is None or t.n_rows != np.shape(raw)[0]:
            raw = v.check_raw(raw, multiclass=self.objective.is_multiclass, finite=False)
            t = targets_of(self.objective, data, raw.shape)
            try:
                self._prepared[data] = t
            except TypeError:
                pass
        return (float(self.objective.loss(t, raw, offset=self.offset).sum()),
                t.row_weight_total())

    def __deepcopy__(self, memo):
        return self

    def __getstate__(self):
        return {"objective": self.objective, "offset": self.offset}

    def __setstate__(self, state):
        self.__init__(state["objective"], state.get("offset"))

    def __repr__(self):
        return f"{type(self).__name__}({self.objective!r})"


def refuse_class_balancing(params: dict, keys: tuple[str, ...]) -> None:
    """Engine parameters that reweight classes inside the engines' built-in objectives only
    (``scale_pos_weight``, LightGBM's ``is_unbalance``): with a custom objective the engine
    ignores them, so a given value that would change anything is refused."""
    for key in keys:
        value = params.get(key)
        if value is None or value is False or str(value).lower() == "false" or (
                key == "scale_pos_weight" and float(value) == 1.0):
            continue
        raise ValueError(
            f"params[{key!r}] = {value!r}: the engine applies it in its built-in objectives only "
            f"and would ignore it here; weight the rows instead (sample_weight, e.g. a class's "
            f"weight for each row of that class)"
        )


@contextlib.contextmanager
def naming_eval_set(i: int):
    """A ``ValueError`` raised while eval set ``i``'s labels and weights are checked names
    the eval set (the checks call them ``y`` and ``sample_weight``)."""
    try:
        yield
    except ValueError as exc:
        raise ValueError(f"eval_set[{i}] {exc}") from None


def check_n_classes(n_classes: int | None, params: dict, *keys: str) -> None:
    """Engine parameters that set the class count must agree with the labels."""
    for key in keys:
        if key in params and params[key] is not None:
            given = int(params[key])
            expected = n_classes if n_classes is not None else 1
            if given != expected and not (n_classes is None and given in (0, 1)):
                raise ValueError(
                    f"engine parameter {key}={given} differs from the labels' class count "
                    f"K = {n_classes if n_classes is not None else 'binary'}"
                )


def loss_sums(objective: Objective, y, raw, sample_weight=None) -> tuple[float, float]:
    """``(sum_i L_i, sum_i wbar_i)`` (``wbar`` = row mean weight): what a weighted mean
    over several data partitions adds up."""
    loss = objective.loss(y, raw, sample_weight)
    return float(loss.sum()), row_weight_total(sample_weight, loss.shape[0])


def row_weight_total(sample_weight, n: int) -> float:
    """``sum_i wbar_i`` over ``n`` rows (``wbar`` = row mean weight; ``n`` without weights)."""
    if sample_weight is None:
        return float(n)
    w = np.asarray(sample_weight, dtype=np.float64)
    return float(w.sum() if w.ndim == 1 else w.mean(axis=1).sum())


def mean_loss(objective: Objective, y, raw, sample_weight=None) -> float:
    """The weighted mean loss: ``sum_i L_i / sum_i wbar_i`` (``wbar`` = row mean weight)."""
    total, weight = loss_sums(objective, y, raw, sample_weight)
    return total / weight if weight > 0 else float("nan")


def metadata(objective: Objective, n_classes: int | None, intercept) -> dict[str, Any]:
    """What a trained model must remember to turn margins into probabilities."""
    cls = type(objective)
    return {
        "objective": objective.name,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "params": objective.get_params(),
        "n_classes": n_classes,
        "intercept": np.atleast_1d(np.asarray(intercept, dtype=np.float64)).tolist(),
    }


def from_metadata(meta: str | dict | None, what: str, hint: str = "") -> tuple[Objective, int | None]:
    """The objective and K stored by :func:`metadata`; a clear error when there is none
    (``hint``: what else the caller accepts)."""
    if meta is None:
        raise ValueError(
            f"{what} was not trained with gradhess (it carries no gradhess metadata); "
            f"{hint}train it with gradhess, or use the engine's own predict for built-in objectives"
        )
    if isinstance(meta, str):
        meta = json.loads(meta)
    cls = OBJECTIVES.get(meta["objective"])
    path = meta.get("class")
    if path and (cls is None or f"{cls.__module__}:{cls.__qualname__}" != path):
        # an objective class of the user's own (or a subclass): import it back
        try:
            cls = load(path)
        except ValueError as exc:
            raise ValueError(f"{what} was trained with objective class {path}, which cannot be "
                             f"imported here: {exc}") from None
    if cls is None:
        raise ValueError(f"{what} was trained with objective {meta['objective']!r}, which is not "
                         f"registered here")
    return cls(**meta["params"]), meta["n_classes"]


def proba_from_raw(objective: Objective, raw: np.ndarray, n_classes: int | None) -> np.ndarray:
    """Probabilities from an engine's raw margins, checking their shape against K."""
    raw = np.asarray(raw)
    if n_classes is None:
        if raw.ndim == 2 and raw.shape[1] == 1:
            raw = raw[:, 0]
        if raw.ndim != 1:
            raise ValueError(f"expected one margin per row for {objective.name}; got shape {raw.shape}")
    elif raw.ndim != 2 or raw.shape[1] != n_classes:
        raise ValueError(f"expected margins of shape (n, {n_classes}); got shape {raw.shape}")
    return objective.predict_proba(raw.astype(np.float64, copy=False))


def _shape(X) -> tuple:
    shape = getattr(X, "shape", None)
    return tuple(shape) if shape is not None else np.shape(X)


def check_features(X, n_rows: int, eval_list) -> None:
    """Training features must have a row per label; eval sets as many columns as training."""
    shape = _shape(X)
    if len(shape) != 2:
        raise ValueError(f"X must be a 2-D (n_samples, n_features) array; got shape {shape}")
    if shape[0] != n_rows:
        raise ValueError(f"X has {shape[0]} rows but y has {n_rows}")
    for i, (Xv, yv, _) in enumerate(eval_list):
        sv = _shape(Xv)
        if len(sv) != 2 or sv[1] != shape[1]:
            raise ValueError(f"eval_set[{i}] X has shape {sv} but the training X has {shape[1]} features")
        nv = np.shape(yv)[0] if np.ndim(yv) else 0
        if sv[0] != nv:
            raise ValueError(f"eval_set[{i}] X has {sv[0]} rows but its y has {nv}")


def check_columns(X, n_features: int, what: str = "the booster") -> None:
    """Predictions from as many feature columns as the model was trained on (engines that
    predict from fewer or more without a word: XGBoost, CatBoost).  ``X`` with a 2-D
    ``shape``, or its column count; ``n_features`` 0 when the model does not say."""
    columns = X if isinstance(X, (int, np.integer)) else (
        X.shape[1] if len(getattr(X, "shape", ())) == 2 else None)
    if n_features and columns is not None and columns != n_features:
        raise ValueError(f"X has {columns} features but {what} was trained on {n_features}")


#: The largest feature magnitude an engine that holds features as float32 takes.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: The largest weight the engines' float32 gradients and Hessians hold, summed over a
#: million rows, without overflowing.
MAX_WEIGHT = 1e30


def check_rounds(num_boost_round, early_stopping_rounds) -> None:
    """One rule for every engine: a positive whole number of rounds, and early stopping off
    (None) or after a positive whole number of rounds."""
    for name, value, optional in (("num_boost_round", num_boost_round, False),
                                  ("early_stopping_rounds", early_stopping_rounds, True)):
        if value is None and optional:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive whole number"
                             + (" or None" if optional else "") + f"; got {value!r}")


def check_engine_weights(t: Targets, name: str = "sample_weight") -> None:
    """Weights whose gradients and Hessians the engines' float32 would overflow (the model
    would silently fit the intercept only) are refused, naming the first."""
    w = t.sample_weight
    if w is not None and w.size and w.max() > MAX_WEIGHT:
        row = int(np.argwhere(w > MAX_WEIGHT)[0][0])
        raise ValueError(f"{name} has a weight of {float(w.reshape(len(w), -1)[row].max()):g} at "
                         f"row {row}: weights above {MAX_WEIGHT:g} overflow the engines' float32 "
                         f"gradients; rescale them (only their ratios matter)")


def check_no_inf(X, name: str, engine: str) -> None:
    """A clear error for infinite feature values, and for values beyond float32's range,
    which ``engine`` holds its features in (NumPy arrays, pandas DataFrames, SciPy sparse
    matrices), for an engine that fails on them deep inside or trains on them silently."""
    data = getattr(X, "data", None) if hasattr(X, "tocsr") else X
    if hasattr(data, "columns") and hasattr(data, "select_dtypes"):  # pandas
        data = data.select_dtypes("number").to_numpy()
    if not isinstance(data, np.ndarray) or data.dtype.kind != "f":
        return
    step = max(1, (1 << 22) // max(1, data[0].size if data.ndim > 1 and len(data) else 1))
    for start in range(0, len(data), step):
        with np.errstate(invalid="ignore"):
            bad = np.abs(data[start:start + step]) > FLOAT32_MAX
        if bad.any():
            where = np.argwhere(bad)[0] + np.array([start] + [0] * (bad.ndim - 1))
            at = (f"row {where[0]}, column {where[1]}" if bad.ndim == 2 and data is X
                  else f"entry {tuple(int(i) for i in where)}")
            value = float(data[tuple(where)])
            if np.isinf(value):
                raise ValueError(
                    f"{name} has an infinite value at {at}: {engine} does not accept infinite "
                    f"features (replace them, with NaN for a missing value)")
            raise ValueError(
                f"{name} has the value {value:g} at {at}, beyond float32's range, in which "
                f"{engine} holds features: rescale the feature")


def as_eval_list(eval_set) -> list[tuple]:
    """``eval_set``: a list of ``(X, y)`` or ``(X, y, sample_weight)`` tuples."""
    if eval_set is None:
        return []
    if isinstance(eval_set, tuple):
        eval_set = [eval_set]
    out = []
    for i, item in enumerate(eval_set):
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise ValueError(
                f"eval_set[{i}] must be a tuple (X, y) or (X, y, sample_weight); got "
                f"{type(item).__name__}"
            )
        out.append(item if len(item) == 3 else (item[0], item[1], None))
    return out
