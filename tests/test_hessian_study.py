"""docs/scripts/hessian_study.py --quick: one row per objective x strategy x engine, finite numbers."""

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the study's script, end to end

pytest.importorskip("xgboost")
pytest.importorskip("lightgbm")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

import gradhess

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "docs" / "scripts" / "hessian_study.py"
OBJECTIVES = ("brier", "focal", "ranked_probability", "spherical")
ENGINES = ("xgboost", "lightgbm")
METRICS = ("kl", "log_loss", "brier", "accuracy", "ece")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("hessian_study")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
                          check=False, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return out, json.loads((out / "hessian_study.json").read_text())


def test_one_row_per_combination(quick_run):
    _, report = quick_run
    tasks = list(report["tasks"])
    assert tasks == ["synthetic_k3", "digits"]
    keys = [(r["task"], r["objective"], r["strategy"], r["engine"]) for r in report["rows"]]
    expected = [(t, o, s, e) for t in tasks for o in OBJECTIVES
                for s in gradhess.hessians.STRATEGIES for e in ENGINES]
    assert keys == expected


def test_curves_and_scores_are_finite(quick_run):
    _, report = quick_run
    rounds = report["rounds"]
    for r in report["rows"]:
        where = (r["task"], r["objective"], r["strategy"], r["engine"])
        curve = r["train_loss"]
        assert len(curve) == rounds + 1, where
        if r["status"] == "diverged":
            # only the exact Hessian may break training; nothing else is excused
            assert r["strategy"] == "exact", where
            continue
        assert r["error"] is None, where
        assert all(v is not None and math.isfinite(v) for v in curve), where
        for key in METRICS:
            assert r[key] is not None and math.isfinite(r[key]), (where, key)
        assert 0.0 <= r["accuracy"] <= 1.0 and r["kl"] >= 0.0 and r["log_loss"] > 0.0, where
    # the positive strategies make progress on every task and engine
    for r in report["rows"]:
        if r["strategy"] in ("gauss_newton", "majorizer", "constant"):
            assert r["train_loss"][-1] < r["train_loss"][0], r
    # round 0 is the intercept's loss: the same for every strategy and engine of an objective
    for task in report["tasks"]:
        for o in OBJECTIVES:
            starts = {r["train_loss"][0] for r in report["rows"]
                      if r["task"] == task and r["objective"] == o}
            assert len(starts) == 1, (task, o, starts)


def test_markdown_has_the_tables_and_plots(quick_run):
    out, report = quick_run
    md = (out / "hessian_study.md").read_text()
    for task in report["tasks"]:
        assert f"## {task}" in md
    strategies = "|".join(gradhess.hessians.STRATEGIES)
    row = re.compile(rf"^\| ({'|'.join(OBJECTIVES)}) \| ({strategies}) \| (xgboost|lightgbm) \|",
                     re.MULTILINE)
    rows = row.findall(md)
    assert len(rows) == len(report["rows"]) and len(set(rows)) == len(rows) // len(report["tasks"])
    for o in OBJECTIVES:
        assert f"* **{o}**:" in md  # a conclusion per objective
        for task in report["tasks"]:
            png = out / "hessian_study" / f"{o}_{task}.png"
            assert f"(hessian_study/{o}_{task}.png)" in md
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "python docs/scripts/hessian_study.py --quick" in md
