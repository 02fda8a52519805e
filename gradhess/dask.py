"""Scale out: gradhess objectives on Dask clusters, through ``xgboost.dask``.

Each worker calls the objective on its own partitions (the callables of
:mod:`gradhess.xgboost` are pickled to the workers); the evaluation metric adds
the loss and weight sums of all workers with XGBoost's collective allreduce, so
it is the global weighted mean; the intercept is computed once, on the client,
from sufficient statistics of all labels (one pass over the data), and equals
the single-machine one.

LightGBM on Dask is refused: ``lightgbm.dask`` builds each worker's Dataset
from its partitions internally, with one label per row, so there is no sound
place to keep a soft-label matrix or per-cell weights aligned with the rows on
every worker.  Use XGBoost, whose label matrix travels with the partitions.
CatBoost has no distributed Python objective.
"""

from __future__ import annotations

import json

import numpy as np

from . import _engines as e
from . import _validation as v
from . import xgboost as gx
from .objectives import Objective, Targets


def _modules():
    e.require("dask", "dask")
    e.require("distributed", "dask")
    xd = e.require("xgboost.dask", "dask")
    import dask.array as da

    return da, xd


def _as_dask_array(da, a, name):
    if a is None:
        return None
    if hasattr(a, "to_dask_array"):  # dask DataFrame / Series
        a = a.to_dask_array(lengths=True)
    if not hasattr(a, "chunks"):
        raise ValueError(f"{name} must be a dask array or dask DataFrame/Series; got {type(a).__name__}")
    return a


def _known_rows(a) -> None:
    """Give a dask array cut by a boolean mask (chunks of unknown size) its chunk sizes, in
    place (``compute_chunk_sizes``: one pass over what it is computed from), which the
    partition alignment and the reductions here need."""
    if a is not None and any(np.isnan(c) for c in a.chunks[0]):
        a.compute_chunk_sizes()


def _check_rows(X, y, w, where: str) -> None:
    """Features, labels and weights with the same number of rows (where dask knows it)."""
    if X.ndim != 2:
        raise ValueError(f"{where}X must be a 2-D (n_samples, n_features) array; got shape {X.shape}")
    for name, a in (("y", y), ("sample_weight", w)):
        if a is not None and not np.isnan(a.shape[0]) and not np.isnan(X.shape[0]) \
                and a.shape[0] != X.shape[0]:
            raise ValueError(f"{where}X has {X.shape[0]} rows but its {name} has {a.shape[0]}")


def _check_probability_rows(y, name: str = "y") -> None:
    """An ``(n, K)`` label matrix holds probability rows (one pass over it)."""
    import dask

    lo, hi, dev = dask.compute(y.min(), y.max(), abs(y.sum(axis=1) - 1.0).max())
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or inf")
    _check_probability_range(lo, hi, dev, y.dtype, name)


def _check_probability_range(lo, hi, dev, dtype, name: str = "y") -> None:
    """Probability labels' reduced extremes ``lo``, ``hi`` and largest deviation of a row
    sum from 1 (``dev``; 0 for binary labels) as the single-machine checks name them."""
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must hold probabilities in [0, 1]; got values in [{lo}, {hi}]")
    tol = v.SUM_TOLERANCE.get(np.dtype(dtype), 1e-6)
    if dev > tol:
        raise ValueError(f"{name} rows must sum to 1 (tolerance {tol:g}); the largest deviation is "
                         f"{dev:.3g}")


def _prepared_labels(da, objective: Objective, y, n_classes):
    """Labels as a float dask array for XGBoost ((n,) or (n, K)), and K."""
    if not objective.is_multiclass:
        if y.ndim != 1:
            raise ValueError(f"y must be a 1-D array of labels in [0, 1] for {objective.name}; "
                             f"got shape {y.shape}")
        return y.astype(np.float64), None
    if y.ndim == 2:
        k = y.shape[1]
        if n_classes is not None and n_classes != k:
            raise ValueError(f"the label matrix has K = {k} columns but n_classes = {n_classes}")
        return y.astype(np.float64), k
    if y.ndim != 1:
        raise ValueError(f"y must be (n,) class indices or an (n, K) probability matrix; got shape {y.shape}")
    return y, n_classes


def intercept(objective: Objective, y, sample_weight=None, n_classes=None):
    """The objective's ``init_raw`` over dask arrays, in one pass over the data.

    Every registered objective's optimal constant depends on the labels only
    through the per-class sums ``B_j = sum_i w_ij y_ij`` and ``W_j = sum_i w_ij`` (label
    smoothing is applied to the sums, :meth:`Objective.init_raw_from_sums`);
    they are reduced on the cluster (with the label checks: class range, rows
    summing to 1, probabilities in [0, 1]) and handed to the objective's kernel.
    Returns ``(intercept, K)``.
    """
    b, total, k = _checked_sums(objective, y, sample_weight, n_classes)
    if not total > 0:
        raise ValueError("cannot compute an intercept: the total weight is zero")
    if objective.is_multiclass:
        return objective.init_raw_from_sums(np.asarray(b, dtype=np.float64), np.full(k, total)), k
    return objective.init_raw_from_sums(float(b), float(total)), None


def _checked_sums(objective: Objective, y, sample_weight, n_classes):
    """:func:`intercept`'s label and weight checks and its sums ``B`` (per class) and the
    total weight, in one pass; returns ``(B, total, K)``."""
    import dask

    da, _ = _modules()
    y = _as_dask_array(da, y, "y")
    w = _as_dask_array(da, sample_weight, "sample_weight")
    if w is not None and w.ndim != 1:
        raise ValueError(f"on Dask, sample_weight must be one weight per row (n,); got shape {w.shape}")
    label_dtype = y.dtype  # a float32 matrix's rows are checked to float32's tolerance
    y, k = _prepared_labels(da, objective, y, n_classes)
    checks = {}
    if objective.is_multiclass and y.ndim == 1:
        if k is None:
            top = float(y.max().compute())
            if not np.isfinite(top):
                raise ValueError(f"y contains NaN or inf (its largest class index is {top})")
            k = int(top) + 1
        if k < 2:
            raise ValueError(f"{objective.name} is a softmax objective and needs K >= 2 classes; "
                             f"got K = {k}")
        checks["min"], checks["max"] = y.min(), y.max()
        if y.dtype.kind == "f":  # class indices must be whole numbers (checked here, not on a worker)
            checks["fractional"] = (y != da.floor(y)).sum()
        kk = k
        # (indices out of range are caught by the range check computed in the same pass)
        dense = y.map_blocks(lambda b: np.eye(kk)[np.clip(b.astype(np.int64), 0, kk - 1)], new_axis=1,
                             chunks=(y.chunks[0], (kk,)), dtype=np.float64)
    else:
        dense = y
        checks["min"], checks["max"] = y.min(), y.max()
        if y.ndim == 2:
            checks["sum_dev"] = abs(y.sum(axis=1) - 1.0).max()
    ww = da.ones(y.shape[0], chunks=y.chunks[0]) if w is None else w.astype(np.float64)
    if dense.ndim == 2:
        b = (dense * ww[:, None]).sum(axis=0)
    else:
        b = (dense * ww).sum()
    total, b, checks, wmin = dask.compute(ww.sum(), b, checks, ww.min())
    if not np.isfinite(checks["min"]) or not np.isfinite(checks["max"]) or not np.isfinite(total):
        raise ValueError("y or sample_weight contains NaN or inf")
    if wmin < 0:
        raise ValueError(f"sample_weight must be non-negative; got {wmin}")
    if objective.is_multiclass and y.ndim == 1:
        if checks["min"] < 0 or checks["max"] >= k:
            raise ValueError(f"y has class indices in [{checks['min']}, {checks['max']}] for K = {k} classes")
        if checks.get("fractional", 0):
            raise ValueError(f"y holds {checks['fractional']} class indices that are not whole numbers "
                             f"(class indices are 0..K-1; soft labels are an (n, K) matrix)")
    else:
        _check_probability_range(checks["min"], checks["max"], checks.get("sum_dev", 0.0),
                                 label_dtype)
    return b, total, k


def train(client, objective: Objective | str, X, y, *, sample_weight=None, params: dict | None = None,
          num_boost_round: int = 100, eval_set=None, early_stopping_rounds: int | None = None,
          n_classes=None, verbose_eval=False):
    """Train with ``xgboost.dask.train`` on a gradhess objective; returns the ``xgboost.Booster``.

    ``X``, ``y``, ``sample_weight`` (one weight per row) are dask arrays or dask
    DataFrames/Series; ``y`` is class indices, an ``(n, K)`` probability matrix,
    or binary labels in [0, 1].  ``eval_set`` entries likewise; the metric is
    the global weighted mean loss.  Arrays cut by a boolean mask (chunks of unknown size)
    get their chunk sizes computed first (dask's ``compute_chunk_sizes``, in place).  The
    booster remembers its objective for :func:`predict_proba` and
    :func:`gradhess.xgboost.predict_proba`.
    """
    da, xd = _modules()
    e.check_rounds(num_boost_round, early_stopping_rounds)
    obj = e.resolve(objective)
    # every set as dask arrays, once (a dask DataFrame's conversion computes its lengths)
    sets = []
    for i, (Xp, yp, wp) in enumerate([(X, y, sample_weight)] + e.as_eval_list(eval_set)):
        parts = _as_dask_array(da, Xp, "X"), _as_dask_array(da, yp, "y"), _as_dask_array(da, wp, "sample_weight")
        for a in parts:
            _known_rows(a)
        _check_rows(*parts, "" if i == 0 else f"eval_set[{i - 1}] ")
        sets.append(parts)
    c, k = intercept(obj, sets[0][1], sets[0][2], n_classes)
    for i, (_, yv, wv) in enumerate(sets[1:]):
        with e.naming_eval_set(i):  # checked here, not on a worker (an assertion there)
            _checked_sums(obj, yv, wv, k)
    # a label matrix anywhere makes every set's labels matrices (class indices one-hot)
    soft = k is not None and any(yp.ndim == 2 for _, yp, _ in sets)
    # the objective's labels as XGBoost carries them: class indices (num_class) or the
    # label matrix (num_target); label smoothing happens in the objective, on each worker
    layout = Targets(np.zeros((1, k)) if soft else np.zeros(1, dtype=np.int64), None, k)
    engine_params = gx._engine_params(obj, layout, params, c)
    gx._check_builtin_metric(obj, engine_params, soft, k is None)

    # histogram trees: the workers keep the histogram index only (as gradhess.xgboost.train)
    quantile = gx._quantile_kwargs(engine_params)

    def dmatrix(Xa, ya, wa, **kwargs):
        # labels and weights partitioned like the features: XGBoost pairs them partition by partition
        ya = ya.rechunk({0: Xa.chunks[0]})
        if wa is not None:
            wa = wa.rechunk({0: Xa.chunks[0]})
        if soft and ya.ndim == 1:
            ya = ya.map_blocks(lambda b: np.eye(k)[b.astype(np.int64)], new_axis=1,
                               chunks=(ya.chunks[0], (k,)), dtype=np.float64)
        label = ya.astype(np.float64) if soft else ya
        if quantile is None:
            return xd.DaskDMatrix(client, Xa, label=label, weight=wa)
        return xd.DaskQuantileDMatrix(client, Xa, label=label, weight=wa, **quantile, **kwargs)

    dtrain = dmatrix(*sets[0])
    ref = {"ref": dtrain} if quantile is not None else {}
    evals = [(dmatrix(*parts, **ref), f"valid_{i}") for i, parts in enumerate(sets[1:])]
    # the workers' allocator is left alone (reuse_heap=False): a long-lived worker holding on
    # to freed memory shows up as unmanaged memory, which Dask's memory management acts on
    output = xd.train(client, engine_params, dtrain, num_boost_round=num_boost_round, evals=evals,
                      obj=gx.XGBoostObjective(obj, reuse_heap=False), custom_metric=gx.XGBoostMetric(obj),
                      early_stopping_rounds=early_stopping_rounds, verbose_eval=verbose_eval)
    booster = output["booster"]
    booster.set_attr(**{e.METADATA_KEY: json.dumps(e.metadata(obj, k, c))})
    booster.gradhess_history = output["history"]
    return booster


def predict_raw(client, booster, X):
    """Raw margins as a dask array (best iteration after early stopping)."""
    da, xd = _modules()
    e.check_columns(_as_dask_array(da, X, "X"), booster.num_features())
    best = booster.attr("best_iteration")
    iteration_range = (0, int(best) + 1) if best is not None else (0, 0)
    return xd.predict(client, booster, X, output_margin=True, iteration_range=iteration_range)


def predict_proba(client, booster, X):
    """Probabilities as a dask array: ``(n, K)``, or ``(n,)`` for binary objectives."""
    obj, k = e.from_metadata(booster.attr(e.METADATA_KEY), "the booster")
    raw = predict_raw(client, booster, X)
    if k is None:
        return raw.map_blocks(lambda b: obj.predict_proba(np.asarray(b, np.float64).reshape(-1)),
                              dtype=np.float64)
    return raw.map_blocks(lambda b: obj.predict_proba(np.asarray(b, np.float64)), dtype=np.float64)


def _classifier_base():
    from .sklearn import BoostingClassifier

    return BoostingClassifier


class DaskBoostingClassifier(_classifier_base()):
    """:class:`gradhess.BoostingClassifier` on a Dask cluster (``xgboost.dask`` underneath).

    The same parameters and methods; ``fit`` takes dask arrays or dask
    DataFrames/Series (class labels of any type, or an ``(n, K)`` probability
    matrix; one weight per row) and uses the current ``distributed`` client;
    ``predict_proba`` and ``predict`` return dask arrays.  ``engine`` must be
    ``"xgboost"`` (see the module docstring for why LightGBM is refused).
    """

    def _client(self):
        from distributed import default_client

        try:
            return default_client()
        except ValueError:
            raise ValueError("no Dask client: create one first, e.g. distributed.Client(cluster)") from None

    def _check_engine(self):
        if self.engine != "xgboost":
            raise ValueError(
                f"engine={self.engine!r} is not supported on Dask: LightGBM's Dask interface keeps one "
                f"label per row on each worker, with no sound way to align a label matrix, and CatBoost "
                f"has no distributed Python objective; use engine='xgboost'")

    def fit(self, X, y, sample_weight=None, eval_set=None):
        """Fit on dask collections; see :meth:`gradhess.BoostingClassifier.fit`."""
        return super().fit(X, y, sample_weight, eval_set)

    def _fit(self, X, y, sample_weight, eval_set):
        from .sklearn import _engine_params, _rounds

        da, _ = _modules()
        self._check_engine()
        client = self._client()
        obj = self._objective_to_fit()
        X = _as_dask_array(da, X, "X")
        y = _as_dask_array(da, y, "y")
        _check_rows(X, y, None, "")
        labels = self._encode_dask(da, y, fitting=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y has {len(self.classes_)} class; a classifier needs at least 2")
        evals = []
        for i, (Xv, yv, wv) in enumerate(e.as_eval_list(eval_set)):
            with e.naming_eval_set(i):
                evals.append((_as_dask_array(da, Xv, "X"),
                              self._encode_dask(da, _as_dask_array(da, yv, "y"), False), wv))
        if self.early_stopping_rounds and not evals:
            raise ValueError("early_stopping_rounds needs an eval_set in fit()")
        if not obj.is_multiclass:
            if len(self.classes_) != 2:
                raise ValueError(f"Only binary classification is supported by {obj.name}, a "
                                 f"binary objective, but y has {len(self.classes_)} classes")
            for i, yy in enumerate([labels] + [yv for _, yv, _ in evals]):
                if yy.ndim == 2:  # its second column is the label: the rows must be probabilities
                    if yy.shape[1] != 2:
                        raise ValueError(f"{obj.name} is a binary objective: a label matrix needs 2 "
                                         f"columns; got {yy.shape[1]}")
                    _check_probability_rows(yy, "y" if i == 0 else f"eval_set[{i - 1}] y")
            labels = labels[:, 1] if labels.ndim == 2 else labels.astype(np.float64)
            evals = [(Xv, yv[:, 1] if yv.ndim == 2 else yv.astype(np.float64), wv) for Xv, yv, wv in evals]
        params = _engine_params("xgboost", self.n_estimators, self.learning_rate, self.max_depth,
                                self.random_state, self.n_jobs, self.engine_params)
        rounds = _rounds("xgboost", self.n_estimators, params)
        self.booster_ = train(client, obj, X, labels, sample_weight=sample_weight, params=params,
                              num_boost_round=rounds, eval_set=evals or None,
                              early_stopping_rounds=self.early_stopping_rounds,
                              n_classes=len(self.classes_) if obj.is_multiclass else None)
        self.objective_ = obj
        self.engine_ = self.engine
        self.n_features_in_ = X.shape[1]
        return self

    def _encode_dask(self, da, y, fitting):
        if y.ndim == 2 and y.shape[1] == 1:
            from .sklearn import _raveled

            y = _raveled(y, stacklevel=5)  # the caller of DaskBoostingClassifier.fit
        if y.ndim == 2:
            if fitting:
                self.classes_ = np.arange(y.shape[1])
            return y
        if fitting:
            self.classes_ = np.unique(da.unique(y).compute())
            if self.classes_.dtype.kind == "f" and np.isnan(self.classes_).any():
                raise ValueError("y contains NaN: every row needs a class label")
        classes = self.classes_
        if not fitting:  # here, not inside xgboost.dask, which reports a worker's error as an assertion
            unseen = np.setdiff1d(da.unique(y).compute(), classes)
            if unseen.size:
                raise ValueError(f"y has labels not seen in fit: {unseen[:5]}")

        def encode(block):
            idx = np.clip(np.searchsorted(classes, block), 0, len(classes) - 1)
            if (classes[idx] != block).any():
                raise ValueError(f"y has labels not seen in fit: {np.unique(block[classes[idx] != block])[:5]}")
            return idx

        return y.map_blocks(encode, dtype=np.int64)

    def predict_proba(self, X):
        """Class probabilities as a dask array ``(n, K)``."""
        from sklearn.utils.validation import check_is_fitted

        da, _ = _modules()
        check_is_fitted(self, "booster_")
        proba = predict_proba(self._client(), self.booster_, _as_dask_array(da, X, "X"))
        if proba.ndim == 1:
            proba = proba.map_blocks(lambda p: np.column_stack([1.0 - p, p]), new_axis=1,
                                     chunks=(proba.chunks[0], (2,)), dtype=np.float64)
        return proba

    def predict(self, X):
        """The most probable class of each row, as a dask array."""
        classes = self.classes_
        return self.predict_proba(X).map_blocks(lambda p: classes[np.argmax(p, axis=1)], drop_axis=1,
                                                dtype=classes.dtype)

    def score(self, X, y, sample_weight=None):
        """Accuracy (computed)."""
        da, _ = _modules()
        y = _as_dask_array(da, y, "y")
        if y.ndim == 2:
            y = y.argmax(axis=1).map_blocks(lambda i: self.classes_[i], dtype=self.classes_.dtype)
        correct = (self.predict(X) == y).astype(np.float64)
        if sample_weight is None:
            return float(correct.mean().compute())
        w = _as_dask_array(da, sample_weight, "sample_weight")
        return float(((correct * w).sum() / w.sum()).compute())
