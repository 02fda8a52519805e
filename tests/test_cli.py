"""``gradhess check`` driven as a subprocess, as a user runs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import gradhess
from gradhess import hessians


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gradhess", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_check_every_registered_objective():
    res = run("check")
    assert res.returncode == 0, res.stdout + res.stderr
    for name in gradhess.OBJECTIVES:
        for strategy in hessians.STRATEGIES:
            rows = [line for line in res.stdout.splitlines()
                    if line.startswith(f"| {name} | {strategy} |")]
            assert len(rows) == 1 and rows[0].endswith("| ok |"), res.stdout
    n_checks = len(gradhess.OBJECTIVES) * len(hessians.STRATEGIES)
    assert f"all {n_checks} checks passed" in res.stdout


def test_check_one_objective_reports_negative_fraction():
    res = run("check", "brier", "--classes", "4", "--rows", "50")
    assert res.returncode == 0
    exact = next(line for line in res.stdout.splitlines() if line.startswith("| brier | exact |"))
    negative = float(exact.split("|")[5].strip().rstrip("%"))
    assert negative > 10  # the exact Brier diagonal is indefinite
    gn = next(line for line in res.stdout.splitlines() if line.startswith("| brier | gauss_newton |"))
    assert "| 0.0% |" in gn


USER_MODULE = textwrap.dedent('''
    import numpy as np

    class SquaredMargin:
        """L = w (z - y)^2 / 2 on a sigmoid "probability": gradient w (z - y), Hessian w."""
        is_multiclass = False
        hessian_strategies = ("exact",)

        def __init__(self, hessian="exact", bug=BUG):
            self.hessian = hessian
            self.bug = bug

        def _w(self, sample_weight, raw):
            return np.ones_like(raw) if sample_weight is None else np.asarray(sample_weight)

        def loss(self, y, raw, sample_weight=None):
            return 0.5 * self._w(sample_weight, raw) * (raw - y) ** 2

        def gradient_hessian(self, y, raw, sample_weight=None, gradient_out=None, hessian_out=None):
            w = self._w(sample_weight, raw)
            return w * (raw - y), w * (1.0 + self.bug)

        def predict_proba(self, raw):
            return 1 / (1 + np.exp(-raw))
''')


def test_check_user_class(tmp_path):
    (tmp_path / "good_objective.py").write_text(USER_MODULE.replace("BUG", "0.0"))
    (tmp_path / "bad_objective.py").write_text(USER_MODULE.replace("BUG", "0.01"))
    good = run("check", "good_objective:SquaredMargin", cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "| good_objective:SquaredMargin | exact |" in good.stdout
    bad = run("check", "bad_objective:SquaredMargin", cwd=tmp_path)
    assert bad.returncode == 1
    assert "FAIL" in bad.stdout and "1 of 1 checks FAILED" in bad.stdout


def test_check_user_class_with_values_that_are_not_finite(tmp_path):
    """A NaN gradient, or a loss that is not finite at the checked margins (so that the
    finite differences have no reference), is a failure, never skipped as no error."""
    (tmp_path / "nan_gradient.py").write_text(
        USER_MODULE.replace("BUG", "0.0").replace("return w * (raw - y),", "return w * np.nan,"))
    (tmp_path / "overflowing_loss.py").write_text(USER_MODULE.replace("BUG", "0.0").replace(
        "return 0.5 * self._w", "return 0.5 * np.exp(raw) ** 9 * 0 + 0.5 * self._w"))
    for module, why in (("nan_gradient", "gradient not finite"),
                        ("overflowing_loss", "loss not finite")):
        res = run("check", f"{module}:SquaredMargin", cwd=tmp_path)
        assert res.returncode == 1, res.stdout + res.stderr
        row = next(line for line in res.stdout.splitlines() if line.startswith(f"| {module}:"))
        assert f"FAIL ({why}" in row and "| inf |" in row, res.stdout
        assert "not finite at the checked margins" in res.stdout


def test_check_user_class_that_raises(tmp_path):
    (tmp_path / "broken_objective.py").write_text(
        USER_MODULE.replace("BUG", "0.0").replace("return 0.5 *", "raise RuntimeError('boom'); return 0.5 *"))
    res = run("check", "broken_objective:SquaredMargin", "cross_entropy", cwd=tmp_path)
    assert res.returncode == 1
    assert "broken_objective:SquaredMargin raised RuntimeError: boom" in res.stderr
    assert "| cross_entropy | exact |" in res.stdout  # the other targets are still checked


def test_check_bad_targets(tmp_path):
    res = run("check", "hinge")
    assert res.returncode == 2 and "unknown objective 'hinge'" in res.stderr
    res = run("check", "no_such_module:Thing", cwd=tmp_path)
    assert res.returncode == 2 and "cannot import 'no_such_module'" in res.stderr
    res = run("check", "gradhess:NoSuchClass")
    assert res.returncode == 2 and "has no attribute 'NoSuchClass'" in res.stderr
    for args, msg in ((("--rows", "0"), "--rows: expected a positive integer; got 0"),
                      (("--classes", "1"), "--classes: a class count must be at least 2; got 1")):
        res = run("check", "brier", *args)
        assert res.returncode == 2 and msg in res.stderr


def test_help():
    res = run("--help")
    assert res.returncode == 0 and "check" in res.stdout
    res = run("check", "--help")
    assert res.returncode == 0 and "package.module:ClassName" in res.stdout
    res = run()
    assert res.returncode == 2
