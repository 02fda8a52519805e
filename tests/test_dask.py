"""gradhess on a real Dask cluster: distributed.LocalCluster, two worker processes, loopback."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import gradhess
import gradhess.dask as gd
import gradhess.xgboost as gx
from gradhess import _engines

K = 3
PARAMS = {"max_depth": 3, "eta": 0.3, "tree_method": "hist", "nthread": 1}
UNEVEN = (700, 250, 50)  # deliberately uneven partitions


@pytest.fixture(scope="module")
def client():
    # the scheduler's HTTP server starts whatever dashboard_address says (None: port 8787);
    # a free port keeps two test processes, each with its own cluster, from contending for it
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address="127.0.0.1:0", host="127.0.0.1")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()
    assert cluster.status.name == "closed"  # clean shutdown


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = sum(UNEVEN)
    # features with few distinct values: every worker's histogram bins are then exact, so the
    # distributed quantile sketch equals the single-machine one and so do the trees
    X = np.round(rng.normal(size=(n, 5)), 1)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.3)
    w = rng.uniform(0.5, 2.0, n)
    soft = 0.7 * np.eye(K)[y] + 0.3 * rng.dirichlet(np.ones(K), size=n)
    return X, y, w, soft


def dask_of(a):
    """Three uneven partitions (70%, 25%, 5% of the rows)."""
    n = len(a)
    rows = (int(0.7 * n), int(0.25 * n))
    rows = rows + (n - sum(rows),)
    return da.from_array(a, chunks=(rows,) + tuple((s,) for s in a.shape[1:]))


@pytest.mark.parametrize("name", list(gradhess.OBJECTIVES))
def test_matches_single_process(client, data, name):
    X, y, w, _ = data
    obj = gradhess.get(name)
    labels = y if obj.is_multiclass else (y == 1).astype(float)
    booster = gd.train(client, obj, dask_of(X), dask_of(labels), sample_weight=dask_of(w), params=PARAMS,
                       num_boost_round=15)
    single = gx.train(obj, X, labels, sample_weight=w, params=PARAMS, num_boost_round=15)
    p = gd.predict_proba(client, booster, dask_of(X))
    assert isinstance(p, da.Array)
    np.testing.assert_allclose(p.compute(), gx.predict_proba(single, X), atol=1e-4)
    # the intercept was computed once from all labels: the single-machine one
    c, _ = gd.intercept(obj, dask_of(labels), dask_of(w))
    single_c = obj.init_raw(labels, w)
    # (focal's is a root found to float64 precision: the class sums' order of summation
    # moves it by about their rounding)
    np.testing.assert_allclose(c, single_c, rtol=1e-12)


def test_soft_labels_and_smoothing(client, data):
    X, _, w, soft = data
    obj = gradhess.get("cross_entropy", label_smoothing=0.1)
    booster = gd.train(client, obj, dask_of(X), dask_of(soft), sample_weight=dask_of(w), params=PARAMS,
                       num_boost_round=10)
    single = gx.train(obj, X, soft, sample_weight=w, params=PARAMS, num_boost_round=10)
    np.testing.assert_allclose(gd.predict_proba(client, booster, dask_of(X)).compute(),
                               gx.predict_proba(single, X), atol=1e-4)


def test_metric_is_the_global_weighted_mean(client, data):
    """With uneven partitions the mean of per-worker means differs; the metric does not."""
    X, y, w, _ = data
    y_eval = y.copy()
    y_eval[-50:] = (y_eval[-50:] + 1) % K  # the small last partition is mislabelled: high loss there
    obj = gradhess.get("brier")
    booster = gd.train(client, obj, dask_of(X), dask_of(y), params=PARAMS, num_boost_round=8,
                       eval_set=[(dask_of(X), dask_of(y_eval), dask_of(w))])
    reported = booster.gradhess_history["valid_0"]["brier"][-1]
    raw = gd.predict_raw(client, booster, dask_of(X)).compute()
    exact = _engines.mean_loss(obj, y_eval, raw, w)
    # XGBoost records evaluation results printed with 6 decimals
    assert reported == pytest.approx(exact, abs=5e-7)
    # what averaging each partition's mean would give instead: measurably different
    bounds = np.cumsum((0,) + UNEVEN)
    per_part = [_engines.mean_loss(obj, y_eval[a:b], raw[a:b], w[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    assert abs(np.mean(per_part) - exact) > 0.1 * exact


def test_early_stopping(client, data):
    X, y, w, _ = data
    booster = gd.train(client, "cross_entropy", dask_of(X[:800]), dask_of(y[:800]), params=PARAMS,
                       num_boost_round=300, eval_set=[(dask_of(X[800:]), dask_of(y[800:]))],
                       early_stopping_rounds=5)
    assert int(booster.attr("best_iteration")) < 299


def test_class_indices_beside_a_label_matrix(client, data):
    """Training labels as class indices and an eval set's as a probability matrix (or the
    other way round) train, as on one machine; an eval matrix of other K is named."""
    X, y, w, soft = data
    obj = gradhess.get("cross_entropy")
    for train_y, eval_y in ((y, soft), (soft, y)):
        booster = gd.train(client, obj, dask_of(X), dask_of(train_y), params=PARAMS,
                           num_boost_round=4, eval_set=[(dask_of(X), dask_of(eval_y))])
        raw = gd.predict_raw(client, booster, dask_of(X)).compute()
        reported = booster.gradhess_history["valid_0"]["cross_entropy"][-1]
        assert reported == pytest.approx(_engines.mean_loss(obj, eval_y, raw, None), abs=5e-7)
        single = gx.train(obj, X, train_y, params=PARAMS, num_boost_round=4)
        np.testing.assert_allclose(raw, gx.predict_raw(single, X), atol=1e-5)
    with pytest.raises(ValueError, match=r"^eval_set\[0\] the label matrix has K = 2 columns but "
                                         r"n_classes = 3"):
        gd.train(client, obj, dask_of(X), dask_of(y), eval_set=[(dask_of(X), dask_of(soft[:, :2]))])
    clf = gd.DaskBoostingClassifier(n_estimators=2, max_depth=2)
    with pytest.warns(UserWarning, match="column-vector y") as record:
        clf.fit(dask_of(X), dask_of(y[:, None]), eval_set=[(dask_of(X), dask_of(soft))])
    assert list(clf.classes_) == [0, 1, 2]
    assert record[0].filename == __file__  # the caller's line
    # an eval set of zero total weight is evaluated, as on one machine (no intercept needed)
    gd.train(client, obj, dask_of(X), dask_of(y), params=PARAMS, num_boost_round=2,
             eval_set=[(dask_of(X), dask_of(y), dask_of(np.zeros(len(y))))])


def test_float32_label_matrix_to_float32_tolerance(client, data):
    X, y, w, soft = data
    single = soft.astype(np.float32)
    single[:, 0] += np.float32(3e-5)  # rows sum to 1 + 3e-5: within float32's 1e-4
    booster = gd.train(client, "cross_entropy", dask_of(X), dask_of(single), params=PARAMS,
                       num_boost_round=2, eval_set=[(dask_of(X), dask_of(single))])
    assert booster.num_boosted_rounds() == 2
    with pytest.raises(ValueError, match=r"rows must sum to 1 \(tolerance 1e-06\)"):
        gd.train(client, "cross_entropy", dask_of(X), dask_of(single.astype(np.float64)))


def test_dask_classifier(client, data):
    X, y, w, soft = data
    labels = np.array(["low", "mid", "high"])[y]
    clf = gd.DaskBoostingClassifier("brier", n_estimators=15, max_depth=3, n_jobs=1)
    clf.fit(dask_of(X), dask_of(labels), sample_weight=dask_of(w))
    assert sorted(clf.classes_) == ["high", "low", "mid"]
    proba = clf.predict_proba(dask_of(X))
    assert isinstance(proba, da.Array) and proba.shape == (len(y), K)
    single = gradhess.BoostingClassifier("brier", n_estimators=15, max_depth=3, n_jobs=1)
    single.fit(X, labels, sample_weight=w)
    np.testing.assert_allclose(proba.compute(), single.predict_proba(X), atol=1e-4)
    assert clf.score(dask_of(X), dask_of(labels)) == pytest.approx(single.score(X, labels))
    # a probability matrix, and a dask DataFrame of features
    import dask.dataframe as dd
    import pandas as pd

    frame = dd.from_pandas(pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]), npartitions=3)
    soft_clf = gd.DaskBoostingClassifier(n_estimators=5, max_depth=2).fit(frame, dask_of(soft))
    np.testing.assert_allclose(soft_clf.predict_proba(frame).compute().sum(axis=1), 1.0, rtol=1e-6)


def test_refusals(client, data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="engine='lightgbm' is not supported on Dask.*use engine='xgboost'"):
        gd.DaskBoostingClassifier(engine="lightgbm").fit(dask_of(X), dask_of(y))
    with pytest.raises(ValueError, match=r"one weight per row \(n,\); got shape \(1000, 3\)"):
        gd.train(client, "brier", dask_of(X), dask_of(y), sample_weight=dask_of(np.ones((1000, K))))
    with pytest.raises(ValueError, match=r"class indices in \[0, 5\] for K = 3"):
        gd.train(client, "brier", dask_of(X), dask_of(np.where(np.arange(1000) == 3, 5, y)), n_classes=3)
    with pytest.raises(ValueError, match="must be a dask array"):
        gd.train(client, "brier", X, y)
    # caught on the client, named, instead of deep in dask or xgboost.dask
    with pytest.raises(ValueError, match=r"^y holds 1 class indices that are not whole numbers"):
        gd.train(client, "brier", dask_of(X), dask_of(np.where(np.arange(1000) == 3, 1.5, y)))
    with pytest.raises(ValueError, match=r"y contains NaN or inf"):
        gd.train(client, "brier", dask_of(X), dask_of(np.where(np.arange(1000) == 3, np.nan, y)))
    with pytest.raises(ValueError, match=r"^X has 1000 rows but its y has 990$"):
        gd.train(client, "brier", dask_of(X), dask_of(y[:990]))
    with pytest.raises(ValueError, match=r"^eval_set\[0\] X has 1000 rows but its sample_weight has 10$"):
        gd.train(client, "brier", dask_of(X), dask_of(y), eval_set=[(dask_of(X), dask_of(y), dask_of(np.ones(10)))])
    with pytest.raises(ValueError, match=r"brier is a softmax objective and needs K >= 2 classes; got K = 1"):
        gd.train(client, "brier", dask_of(X), dask_of(np.zeros(1000, int)))
    clf = gd.DaskBoostingClassifier(n_estimators=2)
    with pytest.raises(ValueError, match=r"y has 1 class; a classifier needs at least 2"):
        clf.fit(dask_of(X), dask_of(np.zeros(1000)))
    with pytest.raises(ValueError, match=r"y has labels not seen in fit: \[5\]"):
        clf.fit(dask_of(X), dask_of(y), eval_set=[(dask_of(X), dask_of(np.where(np.arange(1000) == 0, 5, y)))])
    # a binary objective's two-column label matrix is checked as on one machine
    with pytest.raises(ValueError, match=r"^y rows must sum to 1 \(tolerance 1e-06\); the largest deviation is 0.4$"):
        gd.DaskBoostingClassifier("binary_brier", n_estimators=2).fit(
            dask_of(X), dask_of(np.tile([0.3, 0.3], (1000, 1))))
    with pytest.raises(ValueError, match=r"^eval_set\[0\] y must hold probabilities in \[0, 1\]"):
        gd.DaskBoostingClassifier("binary_brier", n_estimators=2).fit(
            dask_of(X), dask_of(np.eye(2)[y % 2]), eval_set=[(dask_of(X), dask_of(np.tile([1.5, -0.5], (1000, 1))))])
    # predictions from other features than the model's are refused, as on one machine
    clf.fit(dask_of(X), dask_of(y))
    for predict in (clf.predict_proba, lambda Z: gd.predict_proba(client, clf.booster_, Z)):
        with pytest.raises(ValueError, match=r"^X has 3 features but the booster was trained on 5$"):
            predict(dask_of(X[:, :3]))


def test_rows_of_unknown_count(client, data):
    """Dask arrays cut by a boolean mask have chunks of unknown size: accepted as such."""
    X, y, w, _ = data
    Xd, yd = dask_of(X), dask_of(y)
    keep = Xd[:, 4] > -1.0
    assert np.isnan(Xd[keep].shape[0])
    clf = gd.DaskBoostingClassifier("brier", n_estimators=5, max_depth=2, n_jobs=1).fit(Xd[keep], yd[keep])
    rows = X[:, 4] > -1.0
    single = gradhess.BoostingClassifier("brier", n_estimators=5, max_depth=2, n_jobs=1).fit(X[rows], y[rows])
    np.testing.assert_allclose(clf.predict_proba(dask_of(X)).compute(), single.predict_proba(X), atol=1e-4)


def test_histogram_trees_train_on_quantile_matrices(client, data, monkeypatch):
    """With histogram trees the workers hold XGBoost's quantised matrices (the evaluation
    set's cut by the training set's bins, ``max_bin`` passed on); other tree methods get
    plain ones."""
    import xgboost.dask as xd

    X, y, w, _ = data
    built = []

    class Spy:  # gradhess.dask's view of xgboost.dask, recording which matrices it builds
        def __getattr__(self, name):
            real = getattr(xd, name)
            if name not in ("DaskQuantileDMatrix", "DaskDMatrix"):
                return real

            def build(*args, **kwargs):
                built.append((name, kwargs.get("max_bin"), kwargs.get("ref")))
                return real(*args, **kwargs)
            return build

    modules = gd._modules()
    monkeypatch.setattr(gd, "_modules", lambda: (modules[0], Spy()))
    for extra, kind in (({"max_bin": 16}, "DaskQuantileDMatrix"), ({"tree_method": "approx"}, "DaskDMatrix")):
        built.clear()
        booster = gd.train(client, "cross_entropy", dask_of(X), dask_of(y), params={**PARAMS, **extra},
                           num_boost_round=3, eval_set=[(dask_of(X), dask_of(y))])
        assert [b[0] for b in built] == [kind, kind]
        if kind == "DaskQuantileDMatrix":
            assert built[0][1] == built[1][1] == 16 and built[1][2] is not None
        assert np.isfinite(gd.predict_proba(client, booster, dask_of(X)).compute()).all()


def test_user_objective(client, data):
    """An objective class of one's own (tests/user_objectives.py, which the workers cannot
    import) trains on the cluster once its module travels by value, as docs/extending.md
    says, and agrees with one process."""
    import cloudpickle

    import user_objectives

    X, y, w, _ = data
    obj = user_objectives.PowerScore(power=4.5)
    cloudpickle.register_pickle_by_value(user_objectives)
    try:
        booster = gd.train(client, obj, dask_of(X), dask_of(y), sample_weight=dask_of(w),
                           params=PARAMS, num_boost_round=10)
    finally:
        cloudpickle.unregister_pickle_by_value(user_objectives)
    single = gx.train(obj, X, y, sample_weight=w, params=PARAMS, num_boost_round=10)
    np.testing.assert_allclose(gx.predict_proba(booster, X), gx.predict_proba(single, X), atol=1e-4)
