"""The adapters prove themselves: each reproduces its engine's built-in objective.

Real engines, no mocks.  Parity: with hard labels and the engine's Hessian
convention, training through gradhess gives the built-in objective's
probabilities within 1e-5 on the same data and parameters.
"""

from __future__ import annotations

import json
import pickle

import catboost as cb
import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification

import gradhess
import gradhess.catboost as gc
import gradhess.lightgbm as gl
import gradhess.xgboost as gx
from gradhess import _engines

K = 4
ADAPTERS = {"xgboost": gx, "lightgbm": gl, "catboost": gc}
PARAMS = {
    "xgboost": {"max_depth": 3, "eta": 0.3, "tree_method": "hist", "seed": 0, "nthread": 1},
    "lightgbm": {"num_leaves": 8, "learning_rate": 0.3, "seed": 0, "num_threads": 1,
                 "deterministic": True, "verbose": -1},
    "catboost": {"depth": 3, "learning_rate": 0.3, "random_seed": 0, "thread_count": 1,
                 "bootstrap_type": "No", "random_strength": 0},
}
ROUNDS = 20


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=1200, n_features=8, n_informative=5, n_classes=K,
                               random_state=0)
    w = np.random.default_rng(1).uniform(0.5, 2.0, size=len(y))
    return X, y, w


def log_loss(p, y):
    return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-300, None)).mean())


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("weighted", [False, True])
def test_xgboost_softprob_parity(data, weighted):
    """multi:softprob == cross_entropy with the majorizer 2p(1-p) (verified on XGBoost 2.x-3.x;
    a release that changes its built-in Hessian fails here)."""
    X, y, w = data
    w = w if weighted else None
    obj = gradhess.get("cross_entropy", hessian="majorizer")
    booster = gx.train(obj, X, y, sample_weight=w, params=PARAMS["xgboost"], num_boost_round=ROUNDS)
    init = obj.init_raw(y, w)
    builtin = xgb.train({**PARAMS["xgboost"], "objective": "multi:softprob", "num_class": K,
                         "base_score": json.dumps(init.tolist())},
                        xgb.DMatrix(X, label=y, weight=w), ROUNDS)
    np.testing.assert_allclose(gx.predict_proba(booster, X), builtin.predict(xgb.DMatrix(X)), atol=1e-5)


def test_xgboost_binary_logistic_parity(data):
    X, y, w = data
    yb = (y == 0).astype(float)
    obj = gradhess.get("binary_cross_entropy")
    booster = gx.train(obj, X, yb, sample_weight=w, params=PARAMS["xgboost"], num_boost_round=ROUNDS)
    p0 = 1 / (1 + np.exp(-obj.init_raw(yb, w)))
    builtin = xgb.train({**PARAMS["xgboost"], "objective": "binary:logistic", "base_score": p0},
                        xgb.DMatrix(X, label=yb, weight=w), ROUNDS)
    np.testing.assert_allclose(gx.predict_proba(booster, X), builtin.predict(xgb.DMatrix(X)), atol=1e-5)


@pytest.mark.parametrize("weighted", [False, True])
def test_lightgbm_multiclass_parity(data, weighted):
    """LightGBM multiclass == cross_entropy, exact Hessian times K / (K - 1)."""
    X, y, w = data
    w = w if weighted else None
    obj = gradhess.get("cross_entropy", hessian="exact", hessian_scale=K / (K - 1))
    booster = gl.train(obj, X, y, sample_weight=w, params=PARAMS["lightgbm"], num_boost_round=ROUNDS)
    builtin = lgb.train({**PARAMS["lightgbm"], "objective": "multiclass", "num_class": K},
                        lgb.Dataset(X, label=y, weight=w), ROUNDS)
    np.testing.assert_allclose(gl.predict_proba(booster, X), builtin.predict(X), atol=1e-5)


def test_lightgbm_cross_entropy_parity_soft_labels(data):
    """LightGBM cross_entropy (labels in [0, 1]) == binary_cross_entropy with soft labels."""
    X, y, w = data
    rng = np.random.default_rng(2)
    soft = np.clip(1 / (1 + np.exp(-X[:, 0] - X[:, 1])) + rng.normal(size=len(y)) * 0.1, 0, 1)
    soft[:50] = 0.0
    soft[50:100] = 1.0
    obj = gradhess.get("binary_cross_entropy")
    booster = gl.train(obj, X, soft, sample_weight=w, params=PARAMS["lightgbm"], num_boost_round=ROUNDS)
    builtin = lgb.train({**PARAMS["lightgbm"], "objective": "cross_entropy"},
                        lgb.Dataset(X, label=soft, weight=w), ROUNDS)
    np.testing.assert_allclose(gl.predict_proba(booster, X), builtin.predict(X), atol=1e-5)


def test_catboost_logloss_parity(data):
    X, y, w = data
    yb = (y == 0).astype(float)
    obj = gradhess.get("binary_cross_entropy")
    model = gc.train(obj, X, yb, sample_weight=w, params=PARAMS["catboost"], num_boost_round=ROUNDS)
    c = obj.init_raw(yb, w)
    builtin = cb.CatBoost({**PARAMS["catboost"], "loss_function": "Logloss", "iterations": ROUNDS,
                           "boost_from_average": False, "allow_writing_files": False})
    builtin.fit(cb.Pool(X, label=yb, weight=w, baseline=np.full(len(yb), c)), verbose=False)
    builtin.set_scale_and_bias(1.0, c)
    np.testing.assert_allclose(gc.predict_proba(model, X),
                               builtin.predict(X, prediction_type="Probability")[:, 1], atol=1e-5)


def test_catboost_multiclass_is_as_close_as_a_diagonal_hessian_allows(data):
    """CatBoost's MultiClass solves each leaf with the full K x K Hessian; gradhess hands over a
    diagonal (the strategy), so the two part after the first tree.  Measured here (1200 rows,
    K = 4, 20 rounds, learning rate 0.3): max |dp| ~ 0.3.  What must hold: the first round, where
    both start from the same intercept, and the resulting model quality."""
    X, y, _ = data
    obj = gradhess.get("cross_entropy", hessian="exact")
    init = obj.init_raw(y)

    def builtin(rounds):
        m = cb.CatBoost({**PARAMS["catboost"], "loss_function": "MultiClass", "iterations": rounds,
                         "boost_from_average": False, "allow_writing_files": False})
        m.fit(cb.Pool(X, label=y, baseline=np.tile(init, (len(y), 1))), verbose=False)
        m.set_scale_and_bias(1.0, init.tolist())
        return m.predict(X, prediction_type="Probability")

    ours = gc.predict_proba(gc.train(obj, X, y, params=PARAMS["catboost"], num_boost_round=ROUNDS), X)
    theirs = builtin(ROUNDS)
    diff = np.abs(ours - theirs).max()
    assert 1e-3 < diff < 0.6  # they do differ: the leaf solves differ
    assert log_loss(ours, y) <= 1.05 * log_loss(theirs, y)
    # identical intercepts: with a vanishing learning rate both predict the prior
    # (CatBoost refuses learning rates below about 1e-5)
    p0 = gc.predict_proba(gc.train(obj, X, y, params={**PARAMS["catboost"], "learning_rate": 1e-5},
                                   num_boost_round=1), X)
    np.testing.assert_allclose(p0, np.tile(np.exp(init) / np.exp(init).sum(), (len(y), 1)), atol=1e-4)


@pytest.mark.parametrize("name", ["cross_entropy", "brier"])
@pytest.mark.parametrize("strategy", gradhess.hessians.STRATEGIES)
def test_catboost_objective_is_compiled_by_catboost(name, strategy):
    """CatBoost's own numba step (the function it runs on every custom objective) compiles the
    per-object method, and the compiled method returns the negated reference derivatives."""
    from catboost import _catboost

    obj = gradhess.get(name, hessian=strategy)
    rng = np.random.default_rng(0)
    c = rng.normal(size=K)
    native = gc.objective(obj, intercept=c)
    _catboost._try_jit_methods(native, _catboost.custom_objective_methods_to_optimize)
    for _ in range(5):
        z = rng.normal(size=K) * 3
        y = rng.dirichlet(np.ones(K)).astype(np.float32)
        w = float(rng.uniform(0.5, 2))
        der1, der2 = native.calc_ders_multi(z, y, w)
        g, h = obj.gradient_hessian(y[None].astype(np.float64), (z + c)[None], np.array([w]))
        np.testing.assert_allclose(-der1, g[0], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(-np.diagonal(der2), h[0], rtol=1e-12, atol=1e-15)
        assert np.count_nonzero(der2 - np.diag(np.diagonal(der2))) == 0
    assert native.calc_ders_multi.use_optimized is True  # numba compiled it: no fallback


# ------------------------------------------------------------ soft labels
@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_one_hot_soft_labels_equal_hard_labels(data, engine):
    X, y, _ = data
    ad = ADAPTERS[engine]
    hard = ad.predict_proba(ad.train("brier", X, y, params=PARAMS[engine], num_boost_round=5), X)
    soft = ad.predict_proba(ad.train("brier", X, np.eye(K)[y], params=PARAMS[engine], num_boost_round=5), X)
    np.testing.assert_allclose(soft, hard, atol=1e-6)


@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_soft_labels_match_row_replication(data, engine):
    """Soft labels (n rows) == each row copied K times with weight y_ij and label j (n K rows):
    the same loss, so for cross-entropy the same gradients summed over copies, and a model of
    the same quality (not identical: histogram bins and leaf sizes see different row counts)."""
    X, y, _ = data
    rng = np.random.default_rng(3)
    soft = 0.6 * np.eye(K)[y] + 0.4 * rng.dirichlet(np.ones(K), size=len(y))
    ad = ADAPTERS[engine]
    m_soft = ad.train("cross_entropy", X, soft, params=PARAMS[engine], num_boost_round=ROUNDS)
    Xr = np.repeat(X, K, axis=0)
    yr = np.tile(np.arange(K), len(y))
    wr = soft.ravel()
    m_rep = ad.train("cross_entropy", Xr, yr, sample_weight=wr, params=PARAMS[engine],
                     num_boost_round=ROUNDS)
    obj = gradhess.get("cross_entropy")
    loss_soft = obj.loss(soft, np.log(ad.predict_proba(m_soft, X))).mean()
    loss_rep = obj.loss(soft, np.log(ad.predict_proba(m_rep, X))).mean()
    assert abs(loss_soft - loss_rep) < 0.02 * loss_rep


# ------------------------------------------------------------- intercepts
@pytest.mark.parametrize("engine", list(ADAPTERS))
@pytest.mark.parametrize("name", list(gradhess.OBJECTIVES))
def test_models_start_from_the_intercept(data, engine, name):
    """With a vanishing learning rate every model predicts the objective's optimal constant."""
    X, y, w = data
    obj = gradhess.get(name)
    labels = y if obj.is_multiclass else (y == 1).astype(float)
    params = dict(PARAMS[engine])
    # LightGBM refuses 0 and CatBoost anything below about 1e-5: the trees then move the
    # probabilities by at most ~ learning rate x leaf value
    lr = 1e-5 if engine == "catboost" else 1e-7
    params["eta" if engine == "xgboost" else "learning_rate"] = lr
    model = ADAPTERS[engine].train(obj, X, labels, sample_weight=w, params=params, num_boost_round=2)
    c = obj.init_raw(labels, w)
    expected = obj.predict_proba(np.broadcast_to(c, (len(y),) + np.shape(c)).copy())
    np.testing.assert_allclose(ADAPTERS[engine].predict_proba(model, X), expected, atol=10 * lr)


@pytest.mark.parametrize("name", ["cross_entropy", "binary_brier"])
def test_lightgbm_linear_trees_keep_the_intercept(data, name):
    """Linear trees' leaves predict their constant term plus a linear model (their output
    value only where a feature of that model is missing): the intercept goes into both, so
    the model predicts what it was trained on, with and without missing features."""
    X, y, w = data
    obj = gradhess.get(name)
    labels = y if obj.is_multiclass else (y == 1).astype(float)
    params = {**PARAMS["lightgbm"], "linear_tree": True}
    for lr in (1e-7, 0.1):
        ev = {}
        model = gl.train(obj, X, labels, sample_weight=w, params={**params, "learning_rate": lr},
                         num_boost_round=5, eval_set=[(X, labels, w)], evals_result=ev)
        np.testing.assert_allclose(_engines.mean_loss(obj, labels, gl.predict_raw(model, X), w),
                                   ev["valid_0"][name][-1], rtol=1e-9)
    c = obj.init_raw(labels, w)
    model = gl.train(obj, X, labels, sample_weight=w, params={**params, "learning_rate": 1e-7},
                     num_boost_round=2)
    missing = X.copy()
    missing[:, :] = np.nan
    for features in (X, missing):
        raw = gl.predict_raw(model, features)
        np.testing.assert_allclose(raw, np.broadcast_to(c, raw.shape), atol=1e-6)


# --------------------------------------------------------------- metrics
@pytest.mark.parametrize("engine", ["xgboost", "lightgbm"])
def test_eval_metric_and_early_stopping(data, engine):
    X, y, w = data
    ad = ADAPTERS[engine]
    result = {}
    model = ad.train("cross_entropy", X[:800], y[:800], params=PARAMS[engine], num_boost_round=200,
                     eval_set=[(X[800:], y[800:], w[800:])], early_stopping_rounds=5,
                     evals_result=result)
    history = result["valid_0"]["cross_entropy"]
    assert len(history) < 200  # stopped early
    best = int(np.argmin(history))
    obj = gradhess.get("cross_entropy")
    p = ad.predict_proba(model, X[800:])  # uses the best iteration
    expected = (obj.loss(y[800:], np.log(p), w[800:])).sum() / w[800:].sum()
    assert history[best] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm", "catboost"])
def test_early_stopping_follows_the_last_eval_set(data, engine):
    """Stopping as if the last eval set were the only one (LightGBM's own callback stops
    when any set stalls): here a first set of shuffled labels stalls at once."""
    X, y, w = data
    ad = ADAPTERS[engine]
    noisy = np.random.default_rng(0).permutation(y[800:])

    def best(eval_set):
        model = ad.train("cross_entropy", X[:800], y[:800], params=PARAMS[engine],
                         num_boost_round=100, eval_set=eval_set, early_stopping_rounds=3)
        return model.get_best_iteration() if engine == "catboost" else model.best_iteration

    last_only = best([(X[800:], y[800:])])
    assert best([(X[800:], noisy), (X[800:], y[800:])]) == last_only
    assert best([(X[800:], noisy)]) < last_only  # the first set alone stops sooner
    if engine == "lightgbm":
        # the booster's best_score has every set's loss; LightGBM's own name for the patience
        # in params is handled as the argument (LightGBM would stop on any set)
        model = gl.train("cross_entropy", X[:800], y[:800], params=PARAMS[engine],
                         num_boost_round=100, eval_set=[(X[800:], noisy), (X[800:], y[800:])],
                         early_stopping_rounds=3)
        assert set(model.best_score) == {"valid_0", "valid_1"}
        model = gl.train("cross_entropy", X[:800], y[:800],
                         params={**PARAMS[engine], "early_stopping_round": 3}, num_boost_round=100,
                         eval_set=[(X[800:], noisy), (X[800:], y[800:])])
        assert model.best_iteration == last_only
        with pytest.raises(ValueError, match=r"params\['n_iter_no_change'\] = 4 and "
                                             r"early_stopping_rounds = 3 differ"):
            gl.train("cross_entropy", X[:800], y[:800], params={**PARAMS[engine], "n_iter_no_change": 4},
                     eval_set=[(X[800:], y[800:])], early_stopping_rounds=3)


def test_catboost_eval_metric(data):
    X, y, w = data
    model = gc.train("cross_entropy", X[:800], y[:800], params=PARAMS["catboost"], num_boost_round=30,
                     eval_set=[(X[800:], y[800:], w[800:])], early_stopping_rounds=3)
    best = model.get_best_score()["validation"]
    value = next(iter(best.values()))
    obj = gradhess.get("cross_entropy")
    p = gc.predict_proba(model, X[800:])
    expected = obj.loss(y[800:], np.log(p), w[800:]).sum() / w[800:].sum()
    assert value == pytest.approx(expected, rel=1e-5)


# ----------------------------------------------------------- cell weights
@pytest.mark.parametrize("engine", ["xgboost", "lightgbm"])
def test_cell_weights(data, engine):
    """Cell weights constant within a row equal row weights; other cell weights change the model."""
    X, y, w = data
    ad = ADAPTERS[engine]
    row = ad.predict_proba(ad.train("brier", X, y, sample_weight=w, params=PARAMS[engine],
                                    num_boost_round=5), X)
    cell = ad.predict_proba(ad.train("brier", X, y, sample_weight=np.repeat(w[:, None], K, axis=1),
                                     params=PARAMS[engine], num_boost_round=5), X)
    np.testing.assert_allclose(cell, row, atol=1e-6)
    skew = np.ones((len(y), K))
    skew[:, 0] = 10.0  # errors on class 0 cost 10x
    other = ad.predict_proba(ad.train("brier", X, y, sample_weight=skew, params=PARAMS[engine],
                                      num_boost_round=5), X)
    assert np.abs(other - row).max() > 1e-3


def test_catboost_refuses_cell_weights(data):
    X, y, w = data
    with pytest.raises(ValueError, match=r"CatBoost carries one weight per object: per-cell weights "
                                         r"of shape \(1200, 4\)"):
        gc.train("brier", X, y, sample_weight=np.ones((len(y), K)))


# ---------------------------------------------------------------- layouts
def test_lightgbm_gradients_are_zero_copy(data):
    """LightGBM flattens (n, K) class-major and casts to float32: F-order float32 passes through."""
    X, y, _ = data
    ds = gl.dataset(X, y, "cross_entropy")
    fobj = gl.objective("cross_entropy")
    preds = np.asfortranarray(np.zeros((len(y), K)))
    g, h = fobj(preds, ds)
    g2, _ = fobj(preds, ds)
    assert g.dtype == np.float32 and g.flags.f_contiguous and g2 is g  # buffers reused
    assert np.shares_memory(g.ravel(order="F"), g)


def test_xgboost_gradients_are_float32_and_reused(data):
    X, y, _ = data
    dm = gx.dmatrix(X, y, "cross_entropy")
    fobj = gx.objective("cross_entropy")
    preds = np.zeros((len(y), K), dtype=np.float32)
    g, h = fobj(preds, dm)
    assert g.dtype == np.float32 and g.flags.c_contiguous and fobj(preds, dm)[0] is g


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm"])
def test_callables_read_the_attached_targets(data, engine):
    """The labels and cell weights validated when the data set was built are what the
    callables use, shared rather than copied (or rounded to float32) out of the engine;
    a data set built without gradhess falls back to the engine's own fields."""
    X, y, w = data
    soft = 0.8 * np.eye(K)[y] + 0.2 / K
    cells = np.outer(w, np.linspace(0.5, 2.0, K))
    obj = gradhess.get("brier")
    ds = (gx.dmatrix if engine == "xgboost" else gl.dataset)(X, soft, obj, cells)
    targets = getattr(ds, _engines.TARGETS_ATTR)
    fobj = ADAPTERS[engine].objective(obj)
    preds = np.linspace(-2.0, 2.0, len(y) * K).reshape(len(y), K)
    preds = preds.astype(np.float32) if engine == "xgboost" else np.asfortranarray(preds)
    g, h = fobj(preds, ds)
    prepared = fobj.training_state(ds, preds)[0]
    assert np.shares_memory(prepared.y, targets.y)
    assert np.shares_memory(prepared.sample_weight, targets.sample_weight)
    g_ref, h_ref = obj.gradient_hessian(soft, preds.astype(np.float64), cells)
    np.testing.assert_allclose(g, g_ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(h, h_ref, rtol=1e-6, atol=1e-7)
    hard = (gx.dmatrix if engine == "xgboost" else gl.dataset)(X, y, obj)  # class indices
    fobj_hard = ADAPTERS[engine].objective(obj)
    fobj_hard(preds, hard)
    assert np.shares_memory(fobj_hard.training_state(hard, preds)[0].y,
                           getattr(hard, _engines.TARGETS_ATTR).y)
    if engine == "xgboost":  # a plain DMatrix: XGBoost's float32 label matrix, row weights
        plain = xgb.DMatrix(X, label=soft, weight=w)
        g2, h2 = gx.objective(obj)(preds, plain)
        g_ref, h_ref = obj.gradient_hessian(soft, preds.astype(np.float64), w)
        np.testing.assert_allclose(g2, g_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(h2, h_ref, rtol=1e-5, atol=1e-6)


def test_targets_without_copy_keep_arrays_of_the_held_dtype():
    """``prepare`` (what ``train`` uses) keeps contiguous labels and weights
    already in the held dtype; other dtypes and strided arrays are converted; ``copy=True``
    copies."""
    rng = np.random.default_rng(0)
    ce, binary = gradhess.get("cross_entropy"), gradhess.get("binary_cross_entropy")
    soft = rng.dirichlet(np.ones(K), size=50)
    idx = rng.integers(0, K, 50)
    w, cells = rng.uniform(0.5, 2, 50), rng.uniform(0.5, 2, (50, K))
    t = ce.prepare(soft, cells)
    assert t.y is soft and t.sample_weight is cells
    t = ce.prepare(idx, w)
    assert t.y is idx and np.shares_memory(t.sample_weight, w)
    yb = rng.uniform(size=50)
    t = binary.prepare(yb, w)
    assert t.y is yb and t.sample_weight is w
    fortran = np.asfortranarray(soft)
    assert ce.prepare(fortran).y is fortran
    # float32 label matrices are held as they are (checked to float32's tolerance wherever read)
    single = soft.astype(np.float32)
    assert ce.prepare(single).y is single
    copied = ce.prepare(single, copy=True).y
    assert copied.dtype == np.float32 and not np.shares_memory(copied, single)
    for given in (np.repeat(soft, 2, axis=0)[::2], idx.astype(np.int32)):
        t = ce.prepare(given)
        assert not np.shares_memory(t.y, given)
        assert t.y.dtype == (np.float64 if given.ndim == 2 else np.int64)
        assert t.y.flags.c_contiguous
        np.testing.assert_array_equal(t.y, given)
    strided = np.repeat(w, 2)[::2]
    t = ce.prepare(idx, strided)
    assert not np.shares_memory(t.sample_weight, strided) and t.sample_weight.flags.c_contiguous
    for a, b in ((soft, cells), (idx, w)):
        t = ce.prepare(a, b, copy=True)
        assert not np.shares_memory(t.y, a) and not np.shares_memory(t.sample_weight, b)


def _record_calls(monkeypatch, module, name):
    """Calls of ``module.name`` go through as before; the list collects what they return."""
    built = []
    real = getattr(module, name)

    def record(*args, **kwargs):
        built.append(real(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(module, name, record)
    return built


@pytest.mark.parametrize("label", ["soft", "hard"])
def test_xgboost_train_holds_the_labels_once(data, label, monkeypatch):
    """``train`` neither copies labels and weights already in the held dtype nor fills
    XGBoost's own label field (a float32 copy; no built-in metric reads it), and trains
    histogram trees on a QuantileDMatrix: the model is the one trained on a DMatrix with
    labels.  A built-in metric gets the labels; other tree methods a DMatrix; ``max_bin``
    reaches the QuantileDMatrix."""
    X, y, w = data
    labels = 0.8 * np.eye(K)[y] + 0.2 / K if label == "soft" else y.astype(np.int64)
    built = _record_calls(monkeypatch, gx, "_dmatrix")
    obj = gradhess.get("cross_entropy")
    booster = gx.train(obj, X, labels, sample_weight=w, params=PARAMS["xgboost"], num_boost_round=5,
                       eval_set=[(X[:100], labels[:100])])
    dtrain = built[0]
    t = getattr(dtrain, _engines.TARGETS_ATTR)
    assert t.y is labels and np.shares_memory(t.sample_weight, w)
    assert dtrain.get_label().size == 0 and dtrain.get_weight().size == len(y)
    assert built[1].get_label().size == 0
    # histogram trees: XGBoost's QuantileDMatrix (no copy of the features), the same model
    assert all(isinstance(d, xgb.QuantileDMatrix) for d in built)
    params = {**PARAMS["xgboost"], "disable_default_eval_metric": 1,
              "base_score": json.dumps(obj.init_raw(labels, w, n_classes=K).tolist()),
              "num_target" if label == "soft" else "num_class": K}
    full = gx.dmatrix(X, labels, obj, w)
    assert full.get_label().size == labels.size
    reference = xgb.train(params, full, 5, obj=gx.objective(obj))
    plain = xgb.DMatrix(X)
    np.testing.assert_array_equal(booster.predict(plain, output_margin=True),
                                  reference.predict(plain, output_margin=True))
    built.clear()
    log = {}
    metric_params = {**PARAMS["xgboost"], "eval_metric": "mlogloss"}
    if label == "soft":  # XGBoost's metrics read class indices: refused, not computed wrong
        with pytest.raises(ValueError, match=r"eval_metric='mlogloss'.*one class index per row"):
            gx.train(obj, X, labels, params=metric_params, num_boost_round=2)
    else:
        booster = gx.train(obj, X, labels, params=metric_params, num_boost_round=2,
                           eval_set=[(X[:100], labels[:100])], evals_result=log)
        assert built[0].get_label().size == labels.size
        p = gx.predict_proba(booster, X[:100])
        assert log["valid_0"]["mlogloss"][-1] == pytest.approx(
            -np.log(p[np.arange(100), labels[:100]]).mean(), rel=1e-5)
    for extra, quantised in (({"tree_method": "exact"}, False), ({"max_bin": 16}, True)):
        built.clear()
        booster = gx.train(obj, X, labels, params={**PARAMS["xgboost"], **extra}, num_boost_round=2,
                           eval_set=[(X[:100], labels[:100])])
        assert [isinstance(d, xgb.QuantileDMatrix) for d in built] == [quantised] * 2
        assert np.isfinite(gx.predict_proba(booster, X[:10])).all()


@pytest.mark.parametrize("name", ["cross_entropy", "focal", "binary_cross_entropy"])
def test_lightgbm_train_shares_the_labels_and_adds_the_intercept(data, name, monkeypatch):
    """``train`` shares the labels and weights with its Datasets; for softmax objectives the
    callables add the intercept to LightGBM's scores instead of an ``(n, K)`` init_score
    (binary objectives keep theirs): the same model and the same metric values as training
    on Datasets that carry the intercept as init_score."""
    X, y, w = data
    obj = gradhess.get(name)
    labels = 0.8 * np.eye(K)[y] + 0.2 / K if obj.is_multiclass else (y == 1).astype(float)
    built = _record_calls(monkeypatch, gl, "_dataset")
    params = PARAMS["lightgbm"]
    log = {}
    booster = gl.train(obj, X, labels, sample_weight=w, params=params, num_boost_round=8,
                       eval_set=[(X[:300], labels[:300], w[:300])], evals_result=log)
    assert len(built) == 2
    for ds in built:
        t = getattr(ds, _engines.TARGETS_ATTR)
        assert np.shares_memory(t.y, labels) and np.shares_memory(t.sample_weight, w)
        assert (ds.get_init_score() is None) == obj.is_multiclass
    monkeypatch.undo()
    # the same training with the intercept as init_score on both Datasets
    c = obj.init_raw(labels, w)
    dtrain = gl.dataset(X, labels, obj, w, intercept=c)
    dvalid = gl.dataset(X[:300], labels[:300], obj, w[:300], intercept=c, reference=dtrain)
    log_ref = {}
    reference = lgb.train({**gl._engine_params(obj, getattr(dtrain, _engines.TARGETS_ATTR), params)},
                          dtrain, 8, valid_sets=[dvalid], valid_names=["valid_0"],
                          feval=gl.metric(obj), callbacks=[lgb.record_evaluation(log_ref)])
    gl._fold_intercept(reference, c, K if obj.is_multiclass else None)
    np.testing.assert_allclose(booster.predict(X, raw_score=True), reference.predict(X, raw_score=True),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(log["valid_0"][name], log_ref["valid_0"][name], rtol=1e-12)


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_class_count_mismatch(data, engine):
    X, y, _ = data
    key = {"xgboost": "num_class", "lightgbm": "num_class", "catboost": "classes_count"}[engine]
    with pytest.raises(ValueError, match=rf"engine parameter {key}=3 differs from the labels' class count K = 4"):
        ADAPTERS[engine].train("cross_entropy", X, y, params={key: 3}, num_boost_round=1)
    with pytest.raises(ValueError, match=r"n_classes=5 but y has 4 columns"):
        ADAPTERS[engine].train("cross_entropy", X, np.eye(K)[y], n_classes=5, num_boost_round=1)


def test_lightgbm_by_hand_without_num_class(data):
    """lightgbm.train/cv on a gradhess Dataset of K classes without num_class: named here,
    not LightGBM's "Number of class for initial score error" on the (n, K) init_score."""
    X, y, _ = data
    msg = r"the Dataset holds labels of K = 4 classes but params has no num_class: set params\['num_class'\] = 4"
    params = {"objective": gl.objective("brier"), "verbose": -1}
    with pytest.raises(ValueError, match=msg):
        lgb.train(params, gl.dataset(X, y, "brier"), 1)
    with pytest.raises(ValueError, match=msg):
        lgb.cv(params, gl.dataset(X, np.eye(K)[y], "brier"), 1, nfold=2)
    with pytest.raises(ValueError, match=r"engine parameter num_class=3 differs from the labels' class count K = 4"):
        lgb.train({**params, "num_class": 3}, gl.dataset(X, y, "brier"), 1)
    # with num_class, a validation set built on the training set's reference, and binary
    # labels (no num_class needed) train as before
    dtrain = gl.dataset(X, y, "brier")
    booster = lgb.train({**params, "num_class": K}, dtrain, 2, feval=gl.metric("brier"),
                        valid_sets=[gl.dataset(X[:100], y[:100], "brier", reference=dtrain)])
    assert booster.num_model_per_iteration() == K
    yb = (y % 2).astype(np.float64)
    booster = lgb.train({"objective": gl.objective("binary_brier"), "verbose": -1},
                        gl.dataset(X, yb, "binary_brier"), 2)
    assert booster.num_model_per_iteration() == 1
    # the Dataset class is found by name, as pickle needs
    assert type(pickle.loads(pickle.dumps(gl.dataset(X, y, "brier")))) is gl.GradhessDataset


@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_weights_that_do_not_match_the_labels(data, engine):
    """The message names the arguments the caller passed (y, not the objective's raw)."""
    X, y, _ = data
    with pytest.raises(ValueError, match=r"^sample_weight has 5 rows but y has 1200$"):
        ADAPTERS[engine].train("brier", X, y, sample_weight=np.ones(5), num_boost_round=1)
    with pytest.raises(ValueError, match=r"^sample_weight has 5 rows but y has 1200$"):
        ADAPTERS[engine].train("binary_brier", X, (y == 1).astype(float), sample_weight=np.ones(5),
                               num_boost_round=1)
    if engine != "catboost":
        with pytest.raises(ValueError, match=r"sample_weight has shape \(1200, 2\) but y has 1200 rows "
                                             r"and K = 4 classes"):
            ADAPTERS[engine].train("brier", X, y, sample_weight=np.ones((1200, 2)), num_boost_round=1)


def test_catboost_refuses_labels_the_same_in_every_row(data):
    """CatBoost fails deep inside on a label column that never varies; the adapter says
    which, at the boundary (XGBoost and LightGBM train on such labels)."""
    X, y, _ = data
    for args, kwargs, msg in (
            (("cross_entropy", X, np.zeros(len(y), int)), {"n_classes": 3},
             r"class 0's label is 1 in every row; gradhess.xgboost"),
            (("brier", X, y), {"n_classes": K + 1}, rf"class {K}'s label is 0 in every row \(a class no "
                                                     r"row has\); drop it"),
            (("binary_brier", X, np.ones(len(y))), {}, r"the label is 1 in every row")):
        with pytest.raises(ValueError, match="CatBoost refuses training labels that are the same for "
                                             "every row: " + msg):
            gc.train(*args, params=PARAMS["catboost"], num_boost_round=1, **kwargs)
        gx.train(*args, params=PARAMS["xgboost"], num_boost_round=1, **kwargs)


@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_label_matrix_for_a_binary_objective(data, engine):
    X, y, _ = data
    with pytest.raises(ValueError, match=r"y must be a 1-D array of labels in \[0, 1\].*got shape \(1200, 4\)"):
        ADAPTERS[engine].train("binary_brier", X, np.eye(K)[y], num_boost_round=1)


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm"])
def test_class_balancing_parameters_are_refused(data, engine):
    """``scale_pos_weight`` (and LightGBM's ``is_unbalance``) act inside the engines'
    built-in objectives only: ignored with a custom one, so refused unless they change
    nothing."""
    X, y, _ = data
    binary = (y == 1).astype(float)
    given = [{"scale_pos_weight": 3.0}] + ([{"is_unbalance": True}, {"unbalance": "true"}]
                                           if engine == "lightgbm" else [])
    for extra in given:
        key = next(iter(extra))
        with pytest.raises(ValueError, match=rf"^params\['{key}'\] = .*would ignore it here; "
                                             r"weight the rows instead"):
            ADAPTERS[engine].train("binary_cross_entropy", X, binary,
                                   params={**PARAMS[engine], **extra}, num_boost_round=1)
    for harmless in ({"scale_pos_weight": 1}, {"is_unbalance": False}):
        if engine == "xgboost" and "is_unbalance" in harmless:
            continue
        ADAPTERS[engine].train("binary_cross_entropy", X, binary,
                               params={**PARAMS[engine], **harmless}, num_boost_round=1)


@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_objective_in_engine_params(data, engine):
    X, y, _ = data
    key = "loss_function" if engine == "catboost" else "objective"
    with pytest.raises(ValueError, match=rf"params\['{key}'\].*the objective is brier"):
        ADAPTERS[engine].train("brier", X, y, params={key: "multiclass"}, num_boost_round=1)


def test_builtin_metrics_that_would_be_wrong_are_refused(data):
    """Built-in metrics are refused where the engine would compute them wrong: XGBoost's on
    a label matrix (they read class indices) or a binary objective (raw margins), any of
    LightGBM's (raw scores, without the link or the intercept)."""
    X, y, _ = data
    soft = 0.8 * np.eye(K)[y] + 0.2 / K
    binary = (y == 1).astype(float)
    for labels, obj, params in ((soft, "cross_entropy", {"eval_metric": "mlogloss"}),
                                (binary, "binary_cross_entropy", {"eval_metric": "logloss"}),
                                (binary, "binary_brier", {"disable_default_eval_metric": 0})):
        with pytest.raises(ValueError, match=r"XGBoost's built-in metrics would be wrong here"):
            gx.train(obj, X, labels, params={**PARAMS["xgboost"], **params}, num_boost_round=1)
    for labels, obj, params in ((y, "cross_entropy", {"metric": "multi_logloss"}),
                                (binary, "binary_brier", {"metrics": ["auc", "binary_logloss"]})):
        with pytest.raises(ValueError, match=r"LightGBM computes its built-in metrics on raw scores"):
            gl.train(obj, X, labels, params={**PARAMS["lightgbm"], **params}, num_boost_round=1)
    for none in ("None", "", ["none"], "custom"):
        gl.train("brier", X, y, params={**PARAMS["lightgbm"], "metric": none}, num_boost_round=1)


def test_xgboost_refuses_infinite_features_and_short_rows(data):
    X, y, _ = data
    bad = X.copy()
    bad[7, 2] = np.inf
    with pytest.raises(ValueError, match=r"X has an infinite value at row 7, column 2: XGBoost"):
        gx.train("brier", bad, y, params=PARAMS["xgboost"], num_boost_round=1)
    with pytest.raises(ValueError, match=r"eval_set\[0\] X has an infinite value"):
        gx.train("brier", X, y, params=PARAMS["xgboost"], num_boost_round=1, eval_set=[(bad, y)])
    booster = gx.train("brier", X, y, params=PARAMS["xgboost"], num_boost_round=1)
    with pytest.raises(ValueError, match=r"X has 5 features but the booster was trained on 8"):
        gx.predict_proba(booster, X[:, :5])
    with pytest.raises(ValueError, match=r"X has an infinite value at row 7, column 2: XGBoost"):
        gx.predict_proba(booster, bad)


@pytest.mark.parametrize("cell_weights", [False, True])
def test_lightgbm_cv_folds_read_their_rows_of_the_targets(data, cell_weights):
    """``lightgbm.cv`` cuts its folds with ``Dataset.subset``: each fold reads its rows of
    the soft labels and weights attached to the full Dataset, so a fold's model is the
    one trained on the fold's rows with the same bins."""
    X, y, _ = data
    rng = np.random.default_rng(3)
    soft = rng.dirichlet(np.ones(K), len(y))
    w = rng.uniform(0.5, 2.0, (len(y), K)) if cell_weights else None
    obj = gradhess.get("cross_entropy")
    params = {**PARAMS["lightgbm"], "objective": gl.objective(obj), "num_class": K, "metric": "None"}
    full = gl.dataset(X, soft, obj, w, free_raw_data=False)
    folds = [(np.arange(400, 1200), np.arange(400)), (np.arange(400), np.arange(400, 1200))]
    res = lgb.cv(params, full, 4, folds=folds, feval=gl.metric(obj), return_cvbooster=True)
    tr = folds[0][0]
    fold = gl.dataset(X[tr], soft[tr], obj, None if w is None else w[tr], reference=full,
                      intercept=obj.init_raw(soft, w), free_raw_data=False)
    alone = lgb.train(params, fold, 4)
    np.testing.assert_array_equal(res["cvbooster"].boosters[0].predict(X, raw_score=True),
                                  alone.predict(X, raw_score=True))


@pytest.mark.parametrize("cell_weights", [False, True])
def test_xgboost_cv_folds_read_their_rows_of_the_targets(data, cell_weights):
    """``xgboost.cv`` cuts its folds with ``DMatrix.slice``: each fold reads its rows of the
    soft labels and (cell) weights attached to the full DMatrix, not XGBoost's float32
    labels and row-mean weights, so its losses are those of a training on the fold's rows."""
    X, y, _ = data
    rng = np.random.default_rng(3)
    soft = rng.dirichlet(np.ones(K), len(y))
    w = rng.uniform(0.5, 2.0, (len(y), K)) if cell_weights else None
    obj = gradhess.get("cross_entropy")
    params = {**PARAMS["xgboost"], "num_target": K, "disable_default_eval_metric": 1,
              "base_score": json.dumps(obj.init_raw(soft, w).tolist())}
    full = gx.dmatrix(X, soft, obj, w)
    folds = [(np.arange(400, 1200), np.arange(400)), (np.arange(400), np.arange(400, 1200))]
    res = xgb.cv(params, full, 4, folds=folds, obj=gx.objective(obj), custom_metric=gx.metric(obj),
                 as_pandas=False)
    part = full.slice(folds[0][0])
    assert isinstance(full, gx.GradhessDMatrix)
    np.testing.assert_array_equal(_engines.targets_of(obj, part, (400, K)).y, soft[folds[0][0]])
    losses = {"train": [], "test": []}
    for tr, te in folds:
        def fold(rows):
            return gx.dmatrix(X[rows], soft[rows], obj, None if w is None else w[rows])
        booster = xgb.train(params, fold(tr), 4, obj=gx.objective(obj))
        for name, rows in (("train", tr), ("test", te)):
            losses[name].append(gx.metric(obj)(booster.predict(fold(rows), output_margin=True),
                                               fold(rows))[1])
    for name in ("train", "test"):  # xgboost.cv reads the metric back from "%f" (6 decimals)
        np.testing.assert_allclose(res[f"{name}-cross_entropy-mean"][-1], np.mean(losses[name]),
                                   rtol=0, atol=5e-7)


def test_predict_proba_on_a_model_not_trained_with_gradhess(data):
    X, y, _ = data
    msg = r"was not trained with gradhess \(it carries no gradhess metadata\)"
    booster = xgb.train({"objective": "multi:softprob", "num_class": K}, xgb.DMatrix(X, label=y), 2)
    with pytest.raises(ValueError, match=msg):
        gx.predict_proba(booster, X)
    booster = lgb.train({"objective": "multiclass", "num_class": K, "verbose": -1}, lgb.Dataset(X, label=y), 2)
    with pytest.raises(ValueError, match=msg):
        gl.predict_proba(booster, X)
    model = cb.CatBoost({"loss_function": "MultiClass", "iterations": 2, "allow_writing_files": False})
    model.fit(X, y, verbose=False)
    with pytest.raises(ValueError, match=msg):
        gc.predict_proba(model, X)


def test_missing_engine_names_the_extra():
    with pytest.raises(ImportError, match=r'no_such_engine is not installed; install it with: '
                                          r'pip install "gradhess\[no_such_engine\]"'):
        _engines.require("no_such_engine", "no_such_engine")


def test_unknown_objective_type():
    with pytest.raises(TypeError, match="objective must be a registry name"):
        gx.objective(42)


# -------------------------------------------------------- model round trips
def test_models_survive_save_and_load(data, tmp_path):
    X, y, _ = data
    b = gx.train("brier", X, y, params=PARAMS["xgboost"], num_boost_round=3)
    b.save_model(tmp_path / "m.json")
    loaded = xgb.Booster(model_file=tmp_path / "m.json")
    np.testing.assert_allclose(gx.predict_proba(loaded, X), gx.predict_proba(b, X), atol=1e-7)
    lb = gl.train("brier", X, y, params=PARAMS["lightgbm"], num_boost_round=3)
    lb.save_model(tmp_path / "m.txt")
    lloaded = lgb.Booster(model_file=tmp_path / "m.txt")
    np.testing.assert_allclose(gl.predict_proba(lloaded, X, objective="brier"), gl.predict_proba(lb, X), atol=1e-7)
    with pytest.raises(ValueError, match=r"a booster loaded from a file loses it .*pass objective="):
        gl.predict_proba(lloaded, X)
    m = gc.train("brier", X, y, params=PARAMS["catboost"], num_boost_round=3)
    m.save_model(str(tmp_path / "m.cbm"))
    cloaded = cb.CatBoost()
    cloaded.load_model(str(tmp_path / "m.cbm"))
    np.testing.assert_allclose(gc.predict_proba(cloaded, X), gc.predict_proba(m, X), atol=1e-7)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_allclose(gc.predict_proba(m2, X), gc.predict_proba(m, X), atol=1e-7)


# ------------------------------------------------- review regressions
class TemperedCrossEntropy(gradhess.SoftmaxCrossEntropy):
    """An objective class of the user's own, not in the registry."""

    name = "tempered_cross_entropy"


def test_catboost_metric_smooths_once(data):
    X, y, w = data
    obj = gradhess.get("cross_entropy", label_smoothing=0.3)
    c = obj.init_raw(y, w)
    raw = np.random.default_rng(0).normal(size=(len(y), K))
    p = gc.pool(X, y, obj, w)
    metric = gc.metric(obj, intercept=c)
    labels = np.asarray(p.get_label(), dtype=np.float64)
    total, weight = metric.evaluate(raw.T, labels.T, w)
    assert total / weight == pytest.approx(_engines.mean_loss(obj, y, raw + c, w), rel=1e-6)


def test_catboost_keeps_every_round_without_early_stopping(data):
    X, y, _ = data
    model = gc.train("cross_entropy", X[:800], y[:800], params=PARAMS["catboost"], num_boost_round=15,
                     eval_set=[(X[800:], y[800:])])
    assert model.tree_count_ == 15


@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_early_stopping_needs_an_eval_set(data, engine):
    """Refused by every adapter alike (XGBoost would otherwise stop on the training loss
    that ``verbose_eval`` adds to its evaluations)."""
    X, y, _ = data
    for verbose in ((False, True) if engine == "xgboost" else (None,)):
        extra = {} if verbose is None else {"verbose_eval": verbose}
        with pytest.raises(ValueError, match="^early_stopping_rounds needs an eval_set$"):
            ADAPTERS[engine].train("cross_entropy", X, y, params=PARAMS[engine], num_boost_round=2,
                                   early_stopping_rounds=2, **extra)


@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_unregistered_objective_class_round_trips(data, engine):
    X, y, _ = data
    obj = TemperedCrossEntropy(label_smoothing=0.05)
    ad = ADAPTERS[engine]
    model = ad.train(obj, X, y, params=PARAMS[engine], num_boost_round=3)
    p = ad.predict_proba(model, X)
    expected = obj.predict_proba(ad.predict_raw(model, X))
    np.testing.assert_allclose(p, expected, atol=1e-12)


@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_feature_shapes_are_checked(data, engine):
    X, y, _ = data
    ad = ADAPTERS[engine]
    with pytest.raises(ValueError, match=r"X has 1199 rows but y has 1200"):
        ad.train("brier", X[1:], y, num_boost_round=1)
    with pytest.raises(ValueError, match=r"eval_set\[0\] X has shape \(10, 7\) but the training X has 8 features"):
        ad.train("brier", X, y, num_boost_round=1, eval_set=[(X[:10, :7], y[:10])])
    # an eval set's labels and weights are named as the eval set's, not the training set's
    bad = y[:10].copy()
    bad[3] = K
    with pytest.raises(ValueError, match=rf"^eval_set\[1\] y has a class index outside \[0, {K - 1}\]"):
        ad.train("brier", X, y, num_boost_round=1, eval_set=[(X[:10], y[:10]), (X[:10], bad)])
    with pytest.raises(ValueError, match=r"^eval_set\[0\] sample_weight "):
        ad.train("brier", X, y, num_boost_round=1, eval_set=[(X[:10], y[:10], -np.ones(10))])
    # predictions from other columns than the model's are refused (XGBoost would predict
    # from fewer, CatBoost from more, without a word)
    model = ad.train("brier", X, y, params=PARAMS[engine], num_boost_round=1)
    for other in (X[:, :5], np.c_[X, X[:, :1]]):
        with pytest.raises(ValueError, match=rf"{other.shape[1]}"):
            ad.predict_proba(model, other)


def test_inferred_class_count():
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.arange(30) % 3 + 1  # 1-based labels
    with pytest.warns(UserWarning, match=r"class indices \[0\] do not occur in y, so K = 4"):
        gx.train("brier", X, y, num_boost_round=1)
    with pytest.raises(ValueError, match=r"y holds class indices up to 1000000000 for 30 rows"):
        gx.train("brier", X, np.where(np.arange(30) == 0, 10**9, y), num_boost_round=1)


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm"])
def test_one_callable_shared_by_concurrent_trainings(engine):
    """One objective callable (and one metric) passed to two trainings running at once in
    threads, as a parameter dict is shared: each training's models are bit for bit those it
    trains alone (the callable's state belongs to each training's data set)."""
    import threading

    rng = np.random.default_rng(4)
    sets = []
    for _ in range(2):
        X = rng.normal(size=(3000, 5))
        sets.append((X, np.argmax(X[:, :K] + rng.normal(size=(3000, K)), axis=1)))
    obj = gradhess.get("brier")
    fobj, feval = ADAPTERS[engine].objective(obj), ADAPTERS[engine].metric(obj)

    def train(X, y):
        c = obj.init_raw(y)
        if engine == "xgboost":
            params = {"num_class": K, "base_score": json.dumps(c.tolist()), "nthread": 1,
                      "disable_default_eval_metric": 1, "max_depth": 3}
            ds = gx.dmatrix(X, y, obj)
            booster = xgb.train(params, ds, 20, obj=fobj, custom_metric=feval, evals=[(ds, "t")],
                                verbose_eval=False)
            return booster.predict(xgb.DMatrix(X), output_margin=True)
        params = {"objective": fobj, "num_class": K, "verbose": -1, "metric": "None",
                  "num_threads": 1, "num_leaves": 7}
        ds = gl.dataset(X, y, obj, intercept=c)
        booster = lgb.train(params, ds, 20, valid_sets=[ds], feval=feval)
        return booster.predict(X, raw_score=True)

    alone = [train(*s) for s in sets]
    together = [None, None]

    def run(i):
        together[i] = train(*sets[i])

    for _ in range(3):
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for a, b in zip(alone, together):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("engine", list(ADAPTERS))
def test_rounds_weights_and_features_one_rule_for_every_engine(data, engine):
    """Round counts that are not positive whole numbers, weights whose float32 gradients
    would overflow (LightGBM trained an intercept-only model on them) and features beyond
    float32's range (XGBoost failed inside, CatBoost trained on them silently): refused
    alike, before training."""
    X, y, w = data
    ad = ADAPTERS[engine]
    for rounds in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match=rf"^num_boost_round must be a positive whole number; "
                                             rf"got {rounds!r}$"):
            ad.train("brier", X, y, num_boost_round=rounds)
    for patience in (0, -1):
        with pytest.raises(ValueError, match=r"^early_stopping_rounds must be a positive whole "
                                             r"number or None"):
            ad.train("brier", X, y, num_boost_round=2, eval_set=[(X, y)],
                     early_stopping_rounds=patience)
    heavy = w.copy()
    heavy[5] = 1e300
    with pytest.raises(ValueError, match=r"^sample_weight has a weight of 1e\+300 at row 5"):
        ad.train("brier", X, y, sample_weight=heavy, num_boost_round=1)
    with pytest.raises(ValueError, match=r"^eval_set\[0\] sample_weight has a weight of 1e\+300"):
        ad.train("brier", X, y, num_boost_round=1, eval_set=[(X, y, heavy)])
    if engine != "lightgbm":  # (LightGBM bins float64 features)
        big = X.copy()
        big[3, 2] = 1e307
        with pytest.raises(ValueError, match=r"^X has the value 1e\+307 at row 3, column 2, beyond "
                                             r"float32's range"):
            ad.train("brier", big, y, num_boost_round=1)
