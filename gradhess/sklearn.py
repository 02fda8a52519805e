"""``BoostingClassifier``: a scikit-learn estimator for any gradhess objective on any engine."""

from __future__ import annotations

import copy
import warnings

import numpy as np

from . import _engines as e
from ._validation import check_probabilities
from .objectives import Objective

ENGINES = ("xgboost", "lightgbm", "catboost")


def _adapter(engine: str):
    if engine == "xgboost":
        from . import xgboost as adapter
    elif engine == "lightgbm":
        from . import lightgbm as adapter
    elif engine == "catboost":
        from . import catboost as adapter
    else:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    return adapter


#: The engines' other names for the parameters the estimator sets (an ``engine_params``
#: entry under any of them replaces the estimator's).
_ALIASES = {
    "xgboost": {"eta": ("learning_rate",), "seed": ("random_state",), "nthread": ("n_jobs",)},
    "lightgbm": {
        "learning_rate": ("shrinkage_rate", "eta"),
        "num_leaves": ("num_leaf", "max_leaves", "max_leaf", "max_leaf_nodes"),
        "seed": ("random_seed", "random_state"),
        "num_threads": ("num_thread", "nthread", "nthreads", "n_jobs"),
    },
    "catboost": {"learning_rate": ("eta",), "depth": ("max_depth",),
                 "random_seed": ("random_state",)},
}
#: The engines' names for the number of boosting rounds, in ``engine_params``.
_ROUNDS = {
    # XGBoost's own training takes the count as an argument; these are its scikit-learn
    # estimator's name, xgboost.train's argument and its command line's parameter
    "xgboost": ("n_estimators", "num_boost_round", "num_round"),
    "lightgbm": ("num_iterations", "num_iteration", "n_iter", "num_tree", "num_trees", "num_round",
                 "num_rounds", "nrounds", "num_boost_round", "n_estimators", "max_iter"),
    "catboost": ("iterations", "num_boost_round", "n_estimators", "num_trees"),
}


def _engine_params(engine, n_estimators, learning_rate, max_depth, random_state, n_jobs, extra):
    """The estimator's common hyperparameters in each engine's own names, ``extra``
    (``engine_params``) over them: an entry under one of the engine's other names for a
    parameter replaces the estimator's.  A ``numpy.random.RandomState`` as
    ``random_state`` gives the engine a seed drawn from it (the engines take integers)."""
    if isinstance(random_state, np.random.RandomState):
        random_state = int(random_state.randint(np.iinfo(np.int32).max))
    elif random_state is not None and not isinstance(random_state, (int, np.integer)):
        raise ValueError(f"random_state must be None, an int or a numpy RandomState; "
                         f"got {type(random_state).__name__}")
    if engine == "xgboost":
        params = {"eta": learning_rate, "max_depth": max_depth, "tree_method": "hist"}
        if random_state is not None:
            params["seed"] = random_state
        if n_jobs is not None:
            params["nthread"] = n_jobs
    elif engine == "lightgbm":
        params = {"learning_rate": learning_rate, "max_depth": max_depth,
                  "num_leaves": min(31, 2 ** max_depth) if max_depth and max_depth > 0 else 31}
        if random_state is not None:
            params["seed"] = random_state
        if n_jobs is not None:
            params["num_threads"] = n_jobs
    else:
        params = {"learning_rate": learning_rate, "depth": max_depth}
        if random_state is not None:
            params["random_seed"] = random_state
        if n_jobs is not None:
            params["thread_count"] = n_jobs
    extra = dict(extra or {})
    for key, aliases in _ALIASES[engine].items():
        if any(a in extra for a in aliases):
            params.pop(key, None)
    params.update(extra)
    return params


def _raveled(y, stacklevel: int):
    """A column-vector ``y`` (numpy or dask, ``(n, 1)``) as ``(n,)``, with scikit-learn's
    warning; ``stacklevel`` counts from the caller of this function."""
    warnings.warn("A column-vector y was passed when a 1d array was expected; it was raveled "
                  "to shape (n_samples,)", DataConversionWarning, stacklevel=stacklevel + 1)
    return y[:, 0]


def _rounds(engine, n_estimators, params: dict) -> int:
    """The number of boosting rounds: ``n_estimators``, or the engine's own parameter for it
    in ``engine_params`` (taken out of ``params``)."""
    given = [k for k in _ROUNDS[engine] if k in params]
    if len(given) > 1:
        raise ValueError(f"engine_params gives the number of rounds twice: {', '.join(given)}")
    rounds = params.pop(given[0]) if given else n_estimators
    if rounds is None or int(rounds) < 1:
        name = f"engine_params[{given[0]!r}]" if given else "n_estimators"
        raise ValueError(f"{name} must be >= 1; got {rounds!r}")
    return int(rounds)


e.require("sklearn", "sklearn")  # a clear ImportError when scikit-learn is missing

from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402
from sklearn.exceptions import DataConversionWarning  # noqa: E402
from sklearn.utils.multiclass import check_classification_targets  # noqa: E402
from sklearn.utils.validation import check_is_fitted, validate_data  # noqa: E402


class BoostingClassifier(ClassifierMixin, BaseEstimator):
    """Gradient-boosted classifier trained on a gradhess objective.

    Parameters
    ----------
    objective : str or Objective, default "cross_entropy"
        A registry name (``gradhess.OBJECTIVES``) or an objective instance.
    engine : {"xgboost", "lightgbm", "catboost"}, default "xgboost"
    n_estimators : int, default 100
        Boosting rounds.
    learning_rate : float, default 0.1
    max_depth : int, default 6
        Tree depth (LightGBM also gets ``num_leaves = min(31, 2**max_depth)``).
    early_stopping_rounds : int or None, default None
        Stop when the objective's loss on the last ``eval_set`` has not improved
        for this many rounds (needs ``eval_set`` in :meth:`fit`).
    random_state : int, numpy RandomState or None, default None
        The engine's seed; a ``RandomState`` gives a seed drawn from it at each fit.
    n_jobs : int or None, default None
        Threads for the engine (its default when None).
    engine_params : dict or None, default None
        Passed through to the engine; overrides the parameters above, under the
        engine's own names or its other names for them (LightGBM's ``eta`` for
        ``learning_rate``, CatBoost's ``max_depth`` for ``depth``, ...); the
        engine's name for the number of rounds (LightGBM ``num_iterations``,
        CatBoost ``iterations`` and their other names; for XGBoost ``n_estimators``,
        ``num_boost_round`` or ``num_round``) overrides ``n_estimators``.

    Attributes
    ----------
    classes_ : ndarray
        Class labels (``arange(K)`` when fitted on a probability matrix).
    booster_ : the engine's trained model
    engine_ : str
        The engine ``booster_`` belongs to (``engine`` at fit time).
    objective_ : Objective
    n_features_in_ : int

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from gradhess import BoostingClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = BoostingClassifier("brier", n_estimators=20, max_depth=3).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    def __init__(self, objective="cross_entropy", engine="xgboost", n_estimators=100,
                 learning_rate=0.1, max_depth=6, early_stopping_rounds=None, random_state=None,
                 n_jobs=None, engine_params=None):
        self.objective = objective
        self.engine = engine
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.engine_params = engine_params

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # every engine treats NaN as a missing value
        try:
            binary = not e.resolve(self.objective).is_multiclass
        except (TypeError, ValueError):  # an unknown objective: fit names it
            binary = False
        if binary:
            tags.classifier_tags.multi_class = False
        return tags

    # ------------------------------------------------------------------ labels
    def _encode(self, y, fitting: bool):
        """Class labels -> indices (keeping ``classes_``), or a checked probability matrix."""
        arr = np.asarray(y)
        if arr.ndim == 2 and arr.shape[1] > 1:
            if arr.dtype.kind not in "biuf":
                raise ValueError(f"a 2-D y is read as an (n_samples, n_classes) probability "
                                 f"matrix; got one of dtype {arr.dtype} and shape {arr.shape}")
            if fitting:
                self.classes_ = np.arange(arr.shape[1])
            elif arr.shape[1] != len(self.classes_):
                raise ValueError(f"y has {arr.shape[1]} columns but the model has "
                                 f"{len(self.classes_)} classes")
            # float32 matrices stay float32: their rows are checked to float32's tolerance
            return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float64)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = _raveled(arr, stacklevel=4)  # fit's caller
        try:
            check_classification_targets(arr)
            if fitting:
                self.classes_, idx = np.unique(arr, return_inverse=True)
                return idx
        except TypeError:  # labels that do not compare: None among strings, say
            kinds = sorted({type(v).__name__ for v in arr.ravel().tolist()})
            raise ValueError(f"y mixes labels of types {', '.join(kinds)} that cannot be "
                             f"ordered; use labels of one type (and no None)") from None
        idx = np.searchsorted(self.classes_, arr)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        unknown = self.classes_[idx] != arr
        if unknown.any():
            raise ValueError(f"y has labels not seen in fit: {np.unique(arr[unknown])[:5]}")
        return idx

    def _labels_for(self, obj: Objective, encoded):
        """Engine labels for ``obj``: binary objectives take P(second class)."""
        if obj.is_multiclass:
            return encoded
        if len(self.classes_) != 2:
            raise ValueError(f"Only binary classification is supported by {obj.name}, a binary "
                             f"objective, but y has {len(self.classes_)} classes")
        if encoded.ndim == 2:  # a probability matrix: checked as a whole, then P(second class)
            check_probabilities("y", encoded, rows_sum_to_one=True)
            return encoded[:, 1]
        return encoded.astype(np.float64)

    # --------------------------------------------------------------------- fit
    #: What :meth:`fit` sets; a fit that raises leaves them as they were.
    _FITTED = ("classes_", "booster_", "objective_", "engine_", "n_features_in_",
               "feature_names_in_")

    def fit(self, X, y, sample_weight=None, eval_set=None):
        """Fit on class labels of any type, or on an ``(n, K)`` probability matrix.

        ``sample_weight``: ``(n,)`` or ``(n, K)`` (XGBoost and LightGBM).
        ``eval_set``: a list of ``(X, y)`` or ``(X, y, sample_weight)``, for
        early stopping on the objective's loss.  A fit that raises leaves the
        estimator as it was (fitted or not).
        """
        before = {a: self.__dict__[a] for a in self._FITTED if a in self.__dict__}
        try:
            return self._fit(X, y, sample_weight, eval_set)
        except BaseException:
            for a in self._FITTED:
                self.__dict__.pop(a, None)
            self.__dict__.update(before)
            raise

    def _objective_to_fit(self) -> Objective:
        """The objective to fit, ``objective_``: a copy of an instance given as ``objective``,
        which must not change with a later ``set_params(objective__...)``."""
        obj = e.resolve(self.objective)
        return copy.deepcopy(obj) if obj is self.objective else obj

    def _fit(self, X, y, sample_weight, eval_set):
        adapter = _adapter(self.engine)
        obj = self._objective_to_fit()
        X, y = validate_data(self, X, y, multi_output=True, ensure_all_finite="allow-nan",
                             y_numeric=False)
        params = _engine_params(self.engine, self.n_estimators, self.learning_rate,
                                self.max_depth, self.random_state, self.n_jobs, self.engine_params)
        rounds = _rounds(self.engine, self.n_estimators, params)
        encoded = self._encode(y, fitting=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has {len(self.classes_)} class; a classifier needs at least 2")
        labels = self._labels_for(obj, encoded)
        evals = []
        for i, (Xv, yv, wv) in enumerate(e.as_eval_list(eval_set)):
            with e.naming_eval_set(i):
                Xv = validate_data(self, Xv, reset=False, ensure_all_finite="allow-nan")
                evals.append((Xv, self._labels_for(obj, self._encode(yv, fitting=False)), wv))
        if self.early_stopping_rounds and not evals:
            raise ValueError("early_stopping_rounds needs an eval_set in fit()")
        n_classes = len(self.classes_) if obj.is_multiclass else None
        kwargs = dict(sample_weight=sample_weight, params=params,
                      num_boost_round=rounds, eval_set=evals or None,
                      early_stopping_rounds=self.early_stopping_rounds, n_classes=n_classes)
        self.booster_ = adapter.train(obj, X, labels, **kwargs)
        self.objective_ = obj
        self.engine_ = self.engine
        return self

    # ----------------------------------------------------------------- predict
    def predict_proba(self, X):
        """Class probabilities, ``(n, K)`` in the order of ``classes_``."""
        check_is_fitted(self, "booster_")
        X = validate_data(self, X, reset=False, ensure_all_finite="allow-nan")
        adapter = _adapter(self.engine_)  # the engine it was fit with
        if self.engine_ == "lightgbm":
            # a LightGBM booster's gradhess metadata is a Python attribute, which
            # copy.deepcopy of the booster drops (it rebuilds it from the model text)
            proba = adapter.predict_proba(self.booster_, X, objective=self.objective_)
        else:
            proba = adapter.predict_proba(self.booster_, X)
        if proba.ndim == 1:
            proba = np.column_stack([1.0 - proba, proba])
        return proba

    def predict(self, X):
        """The most probable class of each row."""
        check_is_fitted(self, "booster_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def score(self, X, y, sample_weight=None):
        """Accuracy; for a probability matrix ``y``, against its most probable class."""
        arr = np.asarray(y)
        if arr.ndim == 2 and arr.shape[1] > 1:
            y = self.classes_[np.argmax(arr, axis=1)]
        return super().score(X, y, sample_weight=sample_weight)
