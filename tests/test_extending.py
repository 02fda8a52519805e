"""Objectives of a user's own (tests/user_objectives.py, outside the package), as
docs/extending.md defines them: proven against JAX and finite differences like the
built-in ones, and trained by every engine, the estimator and the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import jax_oracle
import gradhess
from gradhess import checking

from user_objectives import BinaryPowerScore, PowerScore

HERE = Path(__file__).parent
CLASSES = {"power_score": PowerScore, "binary_power_score": BinaryPowerScore}
RTOL = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-6}


def _cases():
    for name, cls in CLASSES.items():
        for k in ([2, 3, 10] if cls.is_multiclass else [None]):
            for labels in ("hard", "soft"):
                for dtype in ("float64", "float32"):
                    yield name, k, labels, dtype


def _problem(name, k, labels, dtype, seed=0):
    rng = np.random.default_rng([seed, len(name), k or 0, len(labels), len(dtype)])
    n = 64
    z = checking.random_margins(rng, n, k)
    if dtype == "float32":
        # the power score's p ** power underflows float32's range beyond margins of about
        # 30 (float64: 150); the built-in objectives are written to avoid that, a score of
        # one's own need not be
        z = np.clip(z, -20, 20)
    return (checking.random_labels(rng, n, k, labels), z.astype(dtype),
            checking.random_weights(rng, n, k, "row"))


@pytest.mark.parametrize("case", list(_cases()), ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("power", [3.0, 4.5])
def test_user_objective_against_jax_and_finite_differences(case, power):
    name, k, labels, dtype = case
    y, z, w = _problem(*case)
    yd = np.eye(k)[y] if k and y.ndim == 1 else y
    params = {"power": power}
    _, o_grad, _, _ = jax_oracle.oracle(name, yd, z, w, params)
    scale = checking.row_weight(w, z)
    rtol = RTOL[z.dtype]
    cls = CLASSES[name]
    assert cls.hessian_strategies == gradhess.hessians.STRATEGIES  # score_hessian given
    for strategy in cls.hessian_strategies:
        obj = cls(power=power, hessian=strategy)
        g, h = obj.gradient_hessian(y, z, w)
        assert g.dtype == h.dtype == z.dtype
        expected = jax_oracle.strategy_hessian(name, strategy, yd, z, w, params)
        assert checking.relative_error(g, o_grad, scale, 1e-6) <= rtol
        assert checking.relative_error(h, expected, scale, 1e-6) <= rtol, strategy
        if dtype == "float64":  # finite differences of its own loss
            z64 = z.astype(np.float64)
            fd = checking.expected_hessian(obj, strategy, y, z64, w)
            assert checking.relative_error(h, fd, scale, checking.FD_ROW_FLOOR) \
                <= checking.FD_TOLERANCE, strategy
    fd = checking.fd_gradient(cls(power=power), y, z.astype(np.float64), w)
    assert checking.relative_error(g, fd, scale, checking.FD_ROW_FLOOR) <= checking.FD_TOLERANCE


def test_power_two_of_the_score_is_brier():
    """The power score's derivatives at power 2 are the Brier score's (a check of the
    extension path's chain rule against a built-in objective); its parameter refuses 2, so
    the class is cloned with its lower bound moved."""
    class PowerTwo(PowerScore):
        params = (gradhess.Param("power", 2.0, "[2, inf)", 2.0),)

    rng = np.random.default_rng(1)
    z = checking.random_margins(rng, 40, 5)
    y = checking.random_labels(rng, 40, 5, "soft")
    for strategy in ("exact", "gauss_newton", "majorizer"):
        g, h = PowerTwo(hessian=strategy).gradient_hessian(y, z)
        gb, hb = gradhess.Brier(hessian=strategy).gradient_hessian(y, z)
        np.testing.assert_allclose(g, gb, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(h, hb, rtol=1e-9, atol=1e-12)


def test_without_score_hessian_only_the_strategies_it_defines():
    class NoExact(PowerScore):
        score_hessian = None

    del NoExact.score_hessian
    assert "score_hessian" in dir(NoExact)  # inherited from PowerScore
    bare = type("Bare", (gradhess.SoftmaxScore,), {
        "score": PowerScore.score, "score_gradient": PowerScore.score_gradient,
        "score_curvature": PowerScore.score_curvature, "params": PowerScore.params})
    assert bare.hessian_strategies == ("gauss_newton", "majorizer", "constant")
    with pytest.raises(ValueError, match=r"hessian must be one of 'gauss_newton', 'majorizer', "
                                         r"'constant'; got 'exact'"):
        bare(hessian="exact")


def test_register_adds_the_class_to_the_registry():
    assert "power_score" not in gradhess.OBJECTIVES
    try:
        assert gradhess.register(PowerScore) is PowerScore
        assert gradhess.get("power_score", power=4.0) == PowerScore(power=4.0)
        gradhess.register(PowerScore)  # the same class again: no error
        clash = type("PowerScore", (PowerScore,), {"__module__": "elsewhere"})
        with pytest.raises(ValueError, match=r"'power_score' is registered already, by "
                                             r"user_objectives:PowerScore"):
            gradhess.register(clash)
    finally:
        gradhess.OBJECTIVES.pop("power_score", None)
    assert gradhess.get("user_objectives:PowerScore", power=4.0) == PowerScore(power=4.0)
    with pytest.raises(ValueError, match=r"unknown objective 'power_score'; registered: .*"
                                         r"\(or give package.module:ClassName\)"):
        gradhess.get("power_score")
    with pytest.raises(ValueError, match=r"user_objectives:np is not a gradhess objective class"):
        gradhess.get("user_objectives:np")


def _cli(*args, cwd=HERE):
    return subprocess.run([sys.executable, "-m", "gradhess", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_gradhess_check_proves_a_user_objective():
    res = _cli("check", "user_objectives:PowerScore", "user_objectives:BinaryPowerScore",
               "--rows", "60")
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("| ok |") == 10


def test_gradhess_check_names_a_negative_hessian(tmp_path):
    """A user objective whose Gauss-Newton curvature is negative somewhere is refused, the
    row and class named."""
    (tmp_path / "wrong.py").write_text(
        "import numpy as np\n"
        "from user_objectives import PowerScore\n\n"
        "class Wrong(PowerScore):\n"
        "    def score_curvature(self, p, w):\n"
        "        return super().score_curvature(p, w) * np.where(p > 0.6, -1.0, 1.0)\n")
    res = subprocess.run([sys.executable, "-m", "gradhess", "check", "wrong:Wrong", "--rows", "60"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "PYTHONPATH": f"{HERE}:{HERE.parent}"})
    assert res.returncode == 1, res.stdout + res.stderr
    assert "negative hessian, first at row" in res.stdout and ", class " in res.stdout


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm", "catboost"])
def test_engines_train_a_user_objective(engine):
    import importlib

    adapter = importlib.import_module(f"gradhess.{engine}")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    soft = np.exp(X[:, :3] + rng.normal(size=(300, 3)))
    soft /= soft.sum(axis=1, keepdims=True)
    obj = PowerScore(power=4.5)
    model = adapter.train(obj, X[:200], soft[:200], num_boost_round=15,
                          eval_set=[(X[200:], soft[200:])],
                          params={"catboost": {"depth": 3, "thread_count": 1},
                                  "lightgbm": {"num_leaves": 7, "verbose": -1},
                                  "xgboost": {"max_depth": 3}}[engine])
    p = adapter.predict_proba(model, X[200:])
    np.testing.assert_allclose(p, obj.predict_proba(adapter.predict_raw(model, X[200:])),
                               atol=1e-12)
    # it learned: the held-out score beats the intercept's
    c = obj.init_raw(soft[:200])
    np.testing.assert_allclose(c, np.log(soft[:200].mean(axis=0)), rtol=1e-12)
    start = obj.loss(soft[200:], np.tile(c, (100, 1))).mean()
    assert obj.score(soft[200:], p, np.ones((100, 1))).mean() < start
    yb = (soft[:, 0] > 0.4).astype(float)
    binary = adapter.train(BinaryPowerScore(), X, yb, num_boost_round=5)
    assert adapter.predict_proba(binary, X[:3]).shape == (3,)


def test_estimator_and_cli_take_a_user_objective(tmp_path):
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    for objective in (PowerScore(power=4.5), "user_objectives:PowerScore"):
        clf = gradhess.BoostingClassifier(objective, n_estimators=10, max_depth=2).fit(X, y)
        assert clf.score(X, y) > 0.9
        assert isinstance(clf.objective_, PowerScore)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=list("abcd")).assign(species=y)
    frame.to_csv(tmp_path / "iris.csv", index=False)
    env = {**__import__("os").environ, "PYTHONPATH": f"{HERE}:{HERE.parent}"}
    res = subprocess.run([sys.executable, "-m", "gradhess", "fit", str(tmp_path / "iris.csv"),
                          "--objective", "user_objectives:PowerScore", "--engine", "lightgbm",
                          "--label", "species", "--rounds", "10", "--out", str(tmp_path / "m")],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr
    res = subprocess.run([sys.executable, "-m", "gradhess", "predict", str(tmp_path / "m"),
                          str(tmp_path / "iris.csv"), "--out", str(tmp_path / "p.csv")],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr
    assert pd.read_csv(tmp_path / "p.csv").shape == (150, 3)
