"""BoostingClassifier as scikit-learn sees it, on every engine."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import gradhess
from gradhess import BoostingClassifier

ENGINES = ["xgboost", "lightgbm", "catboost"]

# Checks that cannot apply, and why.
NOT_APPLICABLE = {
    # An (n, K) sample_weight is a per-cell weight matrix (the w_ij of the losses), not a
    # malformed row-weight vector, so this check's (n, 2) weights are accepted by design.
    "check_sample_weights_shape": "(n, K) sample_weight are per-cell weights",
}
NOT_APPLICABLE_CATBOOST = {
    **NOT_APPLICABLE,
    # CatBoost's own CatBoostClassifier fails this check too (its quantization and
    # bootstrap see row counts, not weights); the cell-weight check does not apply
    # either since CatBoost refuses (n, K) weights with a ValueError.
    "check_sample_weight_equivalence_on_dense_data":
        "CatBoost is not weight/repetition equivalent (its own classifier fails too)",
}
NOT_APPLICABLE_CATBOOST.pop("check_sample_weights_shape")


@pytest.mark.parametrize("engine", ENGINES)
def test_check_estimator(engine):
    expected = NOT_APPLICABLE_CATBOOST if engine == "catboost" else NOT_APPLICABLE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(BoostingClassifier(engine=engine, n_estimators=5, max_depth=3),
                                  expected_failed_checks=expected, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert failed == []
    # and the listed ones do fail: the list is not a blanket excuse
    xfailed = {r["check_name"] for r in results if r["status"] == "xfail"}
    assert xfailed == set(expected)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("objective", ["cross_entropy", "brier"])
def test_string_labels_and_probabilities(iris, engine, objective):
    X, y = iris
    clf = BoostingClassifier(objective, engine=engine, n_estimators=30, max_depth=3,
                             random_state=0).fit(X, y)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    p = clf.predict_proba(X)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(X)) <= set(clf.classes_)
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("engine", ENGINES)
def test_binary_objective(engine):
    X, y = make_classification(n_samples=400, random_state=0)
    labels = np.where(y == 1, "yes", "no")
    clf = BoostingClassifier("binary_brier", engine=engine, n_estimators=20, max_depth=3).fit(X, labels)
    p = clf.predict_proba(X)
    assert p.shape == (400, 2) and list(clf.classes_) == ["no", "yes"]
    assert clf.score(X, labels) > 0.85
    with pytest.raises(ValueError, match="Only binary classification is supported by binary_brier, a binary objective, but y has 3 classes"):
        BoostingClassifier("binary_brier", engine=engine).fit(X, np.arange(400) % 3)
    # a two-column probability matrix is checked as a whole before P(second class) is used
    soft = np.column_stack([1 - (y == 1) * 0.8, (y == 1) * 0.8])
    with pytest.raises(ValueError, match="y rows must sum to 1"):
        BoostingClassifier("binary_brier", engine=engine).fit(X, soft * 0.5)
    bad = soft.copy()
    bad[3] = [5.0, -4.0]
    with pytest.raises(ValueError, match=r"y must hold probabilities in \[0, 1\]"):
        BoostingClassifier("binary_brier", engine=engine).fit(X, bad)


@pytest.mark.parametrize("engine", ENGINES)
def test_soft_label_matrix(iris, engine):
    X, y = iris
    idx = np.unique(y, return_inverse=True)[1]
    soft = 0.8 * np.eye(3)[idx] + 0.2 / 3
    clf = BoostingClassifier(engine=engine, n_estimators=30, max_depth=3).fit(X, soft)
    np.testing.assert_array_equal(clf.classes_, np.arange(3))
    assert clf.score(X, soft) > 0.9
    # the model learned the smoothed targets: it is never more confident than 0.8 + 0.2/3 by much
    assert clf.predict_proba(X).max() < 0.95


@pytest.mark.parametrize("engine", ENGINES)
def test_clone_pickle_pipeline_cv_grid(iris, engine):
    X, y = iris
    clf = BoostingClassifier(engine=engine, n_estimators=10, max_depth=2, random_state=0)
    assert clone(clf).get_params() == clf.get_params()
    fitted = clf.fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(again.predict_proba(X), fitted.predict_proba(X))
    # LightGBM's Booster.__deepcopy__ rebuilds it from the model text
    np.testing.assert_allclose(copy.deepcopy(fitted).predict_proba(X), fitted.predict_proba(X))
    pipe = make_pipeline(StandardScaler(), clone(clf))
    assert cross_val_score(pipe, X, y, cv=3).mean() > 0.85
    grid = GridSearchCV(clone(clf), {"max_depth": [1, 2], "objective": ["cross_entropy", "brier"]},
                        cv=3).fit(X, y)
    assert grid.best_score_ > 0.85


@pytest.mark.parametrize("engine", ENGINES)
def test_early_stopping_on_eval_set(engine):
    X, y = make_classification(n_samples=1000, n_classes=3, n_informative=4, random_state=0)
    clf = BoostingClassifier(engine=engine, n_estimators=500, learning_rate=0.3, max_depth=3,
                             early_stopping_rounds=5)
    clf.fit(X[:700], y[:700], eval_set=[(X[700:], y[700:])])
    assert clf.score(X[700:], y[700:]) > 0.6
    with pytest.raises(ValueError, match="early_stopping_rounds needs an eval_set"):
        clone(clf).fit(X, y)


def test_objective_instance_and_engine_params(iris):
    X, y = iris
    obj = gradhess.Brier(hessian="majorizer")
    clf = BoostingClassifier(obj, engine="lightgbm", n_estimators=5,
                             engine_params={"min_data_in_leaf": 5}).fit(X, y)
    assert clf.booster_.params["min_data_in_leaf"] == 5
    # objective_ is the objective as fitted: a later set_params(objective__...) leaves it
    assert clf.objective_ == obj and clf.objective_ is not obj
    clf.set_params(objective__hessian="exact")
    assert clf.objective_.hessian == "majorizer"


@pytest.mark.parametrize("engine, given", [
    ("xgboost", {"learning_rate": 1.0}),
    ("lightgbm", {"eta": 1.0, "max_leaves": 2, "n_jobs": 1}),
    ("catboost", {"max_depth": 2, "eta": 1.0, "random_state": 0}),
])
def test_engine_params_under_the_engines_other_names(iris, engine, given):
    """An ``engine_params`` entry under another of the engine's names for a parameter the
    estimator sets replaces the estimator's (not ignored, no conflict in the engine); the
    engine's own round count replaces ``n_estimators``."""
    X, y = iris
    common = dict(engine=engine, n_estimators=4, max_depth=3, random_state=0, n_jobs=1)
    # the engine gets each parameter under one name, the given one (XGBoost alone would
    # take the later of eta and learning_rate: this is what makes its case fail without
    # the alias handling)
    params = gradhess.sklearn._engine_params(engine, 4, 0.1, 3, 0, 1, given)
    assert {key: params[key] for key in given} == given
    for key, aliases in gradhess.sklearn._ALIASES[engine].items():
        assert sum(name in params for name in (key, *aliases)) <= 1, (key, params)
    clf = BoostingClassifier(**common, engine_params=given).fit(X, y)
    direct = {"xgboost": {"eta": 1.0}, "lightgbm": {"learning_rate": 1.0, "num_leaves": 2},
              "catboost": {"depth": 2, "learning_rate": 1.0}}[engine]
    ref = BoostingClassifier(**common, engine_params=direct).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), rtol=0, atol=1e-12)
    plain = BoostingClassifier(**common).fit(X, y)
    assert np.abs(clf.predict_proba(X) - plain.predict_proba(X)).max() > 1e-3
    rounds = {"xgboost": "num_boost_round", "lightgbm": "num_iterations", "catboost": "iterations"}[engine]
    more = BoostingClassifier(**common, engine_params={rounds: 7}).fit(X, y)
    seven = BoostingClassifier(**{**common, "n_estimators": 7}).fit(X, y)
    np.testing.assert_allclose(more.predict_proba(X), seven.predict_proba(X), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=rf"engine_params\['{rounds}'\] must be >= 1; got 0"):
        BoostingClassifier(**common, engine_params={rounds: 0}).fit(X, y)


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm", "catboost"])
def test_random_state_may_be_a_random_state_instance(iris, engine):
    """As in scikit-learn: an int or a RandomState (a seed drawn from it for the engine)."""
    X, y = iris
    common = dict(engine=engine, n_estimators=3, max_depth=2, n_jobs=1)
    fits = [BoostingClassifier(**common, random_state=np.random.RandomState(0)).fit(X, y)
            for _ in range(2)]
    np.testing.assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))
    with pytest.raises(ValueError, match=r"random_state must be None, an int or a numpy RandomState; got str"):
        BoostingClassifier(**common, random_state="0").fit(X, y)


def test_predictions_use_the_engine_fitted_with(iris):
    X, y = iris
    clf = BoostingClassifier(n_estimators=3).fit(X, y)
    p = clf.predict_proba(X)
    clf.set_params(engine="lightgbm")
    assert clf.engine_ == "xgboost"
    np.testing.assert_array_equal(clf.predict_proba(X), p)


def test_bad_parameters(iris):
    X, y = iris
    with pytest.raises(ValueError, match="engine must be one of xgboost, lightgbm, catboost; got 'sklearn'"):
        BoostingClassifier(engine="sklearn").fit(X, y)
    with pytest.raises(ValueError, match="unknown objective 'hinge'"):
        BoostingClassifier("hinge").fit(X, y)
    with pytest.raises(ValueError, match="n_estimators must be >= 1"):
        BoostingClassifier(n_estimators=0).fit(X, y)
    clf = BoostingClassifier(n_estimators=3).fit(X, y)
    with pytest.raises(ValueError, match=r"eval_set\[1\] y has labels not seen in fit"):
        clf.fit(X, y, eval_set=[(X, y), (X, np.full(len(y), "rose"))])
    with pytest.raises(ValueError, match=r"eval_set\[0\] X has 2 features, but BoostingClassifier "
                                         r"is expecting 4"):
        clf.fit(X, y, eval_set=[(X[:, :2], y)])
    with pytest.raises(ValueError, match=r"a 2-D y is read as an \(n_samples, n_classes\) "
                                         r"probability matrix; got one of dtype <U10"):
        clf.fit(X, np.column_stack([y, y]))


def test_column_vector_y_warns_at_the_callers_line(iris):
    X, y = iris
    with pytest.warns(DataConversionWarning, match="column-vector y") as record:
        BoostingClassifier(n_estimators=2).fit(X, y[:, None])
    assert record[0].filename == __file__


@pytest.mark.parametrize("engine", ENGINES)
def test_a_failed_fit_leaves_the_estimator_as_it_was(iris, engine):
    X, y = iris
    clf = BoostingClassifier(engine=engine, n_estimators=3, max_depth=2).fit(X, y)
    before = clf.predict_proba(X), clf.predict(X), clf.booster_
    codes = np.unique(y, return_inverse=True)[1]
    # new classes, fewer features, then a bad weight: nothing of the failed fit remains
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        clf.fit(X[:, :2], codes, sample_weight=-np.ones(len(y)))
    assert clf.booster_ is before[2] and clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.predict_proba(X), before[0])
    np.testing.assert_array_equal(clf.predict(X), before[1])
    fresh = BoostingClassifier(engine=engine, n_estimators=3)
    with pytest.raises(ValueError, match="sample_weight must be non-negative"):
        fresh.fit(X, y, sample_weight=-np.ones(len(y)))
    assert not hasattr(fresh, "classes_") and not hasattr(fresh, "n_features_in_")


@pytest.mark.parametrize("engine", ENGINES)
def test_float32_probability_matrix_to_float32_tolerance(engine):
    """float32 label rows are checked to float32's tolerance (1e-4) wherever they are read."""
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(3), 120).round(5).astype(np.float32)  # rows off by up to ~1e-5
    assert np.abs(p.sum(axis=1, dtype=np.float64) - 1).max() > 1e-6
    X = rng.normal(size=(120, 3))
    clf = BoostingClassifier(engine=engine, n_estimators=2).fit(X, p, eval_set=[(X, p)])
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"rows must sum to 1 \(tolerance 1e-06\)"):
        clone(clf).fit(X, p.astype(np.float64))


def test_binary_objective_tells_scikit_learn_it_is_binary():
    """check_estimator gives a binary objective two-class problems only (its tags)."""
    assert BoostingClassifier("binary_brier").__sklearn_tags__().classifier_tags.multi_class is False
    assert BoostingClassifier("brier").__sklearn_tags__().classifier_tags.multi_class is True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(BoostingClassifier("binary_brier", n_estimators=3, max_depth=2),
                                  on_fail=None)
    # every check passes: a binary objective takes one weight per row, so the (n, 2) weights of
    # check_sample_weights_shape are refused as that check expects
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] not in ("passed", "skipped")]
    assert failed == []


def test_objective_instance_clones_and_tunes(iris):
    X, y = iris
    clf = BoostingClassifier(gradhess.get("cross_entropy", label_smoothing=0.1), n_estimators=5, max_depth=2)
    twin = clone(clf)
    assert twin.objective == clf.objective and twin.objective is not clf.objective
    assert cross_val_score(clf, X, y, cv=3).mean() > 0.8
    grid = GridSearchCV(clf, {"objective__hessian": ["exact", "majorizer"]}, cv=3).fit(X, y)
    assert grid.best_estimator_.objective.hessian in ("exact", "majorizer")
    with pytest.raises(ValueError, match="cross_entropy takes no parameter .gamma."):
        gradhess.get("cross_entropy").set_params(gamma=2)


def test_labels_of_mixed_types_are_named(iris):
    X, y = iris
    y = y.astype(object)
    y[3] = None
    with pytest.raises(ValueError, match=r"y mixes labels of types NoneType, str"):
        BoostingClassifier(n_estimators=2).fit(X, y)
