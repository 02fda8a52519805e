"""``gradhess demo``, ``fit`` and ``predict`` driven as subprocesses, end to end."""

from __future__ import annotations

import json
import re
import os
import pty
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(*args, cwd=None, timeout=600, env=None):
    return subprocess.run([sys.executable, "-m", "gradhess", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=timeout, env=env)


def one_line_error(res, *fragments):
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    X, y = make_classification(n_samples=600, n_features=5, n_informative=4, n_redundant=0, n_classes=3,
                               random_state=0)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    df["animal"] = np.array(["cat", "dog", "eel"])[y]
    df["w"] = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    soft = 0.8 * np.eye(3)[y] + 0.2 / 3
    for j in range(3):
        df[f"p{j}"] = soft[:, j]
    hard = df.drop(columns=["p0", "p1", "p2"])
    hard.iloc[:450].to_csv(d / "train.csv", index=False)
    hard.iloc[450:].to_csv(d / "valid.csv", index=False)
    hard.iloc[:450].to_parquet(d / "train.parquet")
    df.drop(columns=["animal"]).iloc[:450].to_parquet(d / "soft.parquet")
    df.drop(columns=["animal"]).iloc[:450].to_csv(d / "soft.csv", index=False)
    bad = df.drop(columns=["animal"]).iloc[:450].copy()
    bad.loc[7, "p0"] = 0.5  # row 7 sums to more than 1
    bad.to_csv(d / "bad_soft.csv", index=False)
    text = hard.iloc[:450].copy()
    text["colour"] = "red"
    text.to_csv(d / "text_feature.csv", index=False)
    (d / "garbage.parquet").write_bytes(b"this is not parquet")
    return d, y


@pytest.mark.slow
def test_demo_quick(tmp_path):
    out = tmp_path / "report"
    res = run("demo", "--quick", "--out", out, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "reliability.png").read_bytes()[:8] == PNG_SIGNATURE
    metrics = json.loads((out / "metrics.json").read_text())
    rows = metrics["rows"]
    students = [r for r in rows if r["model"].startswith("gradhess")]
    baselines = [r for r in rows if r["model"].startswith("built-in")]
    assert len(students) == 4 * len(metrics["engines"]) and len(baselines) == 2 * len(metrics["engines"])
    for r in rows:
        assert set(r) >= {"log_loss", "brier", "accuracy", "ece", "teacher_agreement", "kl_to_teacher",
                          "fit_seconds"}
        assert 0.5 < r["accuracy"] <= 1.0 and r["log_loss"] > 0
    report = (out / "report.md").read_text()
    assert "| engine | model | targets | log loss" in report and "reliability.png" in report
    assert "teacher probabilities, T=1/3" in res.stdout


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm", "catboost"])
def test_fit_predict_hard_labels_csv(tables, tmp_path, engine):
    d, y = tables
    model = tmp_path / "model"
    res = run("fit", d / "train.csv", "--objective", "brier", "--engine", engine, "--label", "animal",
              "--weight", "w", "--valid", d / "valid.csv", "--rounds", 30, "--early-stopping", 5,
              "--out", model)
    assert res.returncode == 0, res.stderr
    assert res.stderr.strip() == ""  # no progress bar when stderr is not a terminal
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["classes"] == ["cat", "dog", "eel"] and meta["engine"] == engine
    assert meta["objective"] == "brier" and meta["features"] == [f"f{i}" for i in range(5)]
    assert len(meta["intercept"]) == 3 and engine in meta["versions"]
    res = run("predict", model, d / "valid.csv", "--out", tmp_path / "proba.csv")
    assert res.returncode == 0, res.stderr
    proba = pd.read_csv(tmp_path / "proba.csv")
    assert list(proba.columns) == ["proba_cat", "proba_dog", "proba_eel"] and len(proba) == 150
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    accuracy = (proba.to_numpy().argmax(axis=1) == y[450:]).mean()
    assert accuracy > 0.6


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_fit_predict_soft_labels(tables, tmp_path, fmt):
    d, y = tables
    model = tmp_path / "model"
    res = run("fit", d / f"soft.{fmt}", "--objective", "cross_entropy", "--engine", "xgboost",
              "--proba-columns", "p0,p1,p2", "--weight", "w", "--hessian", "majorizer", "--rounds", 20,
              "--out", model)
    assert res.returncode == 0, res.stderr
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["params"]["hessian"] == "majorizer" and meta["proba_columns"] == ["p0", "p1", "p2"]
    res = run("predict", model, d / "train.parquet", "--out", tmp_path / "proba.parquet")
    assert res.returncode == 0, res.stderr
    proba = pd.read_parquet(tmp_path / "proba.parquet")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-9)
    assert (proba.to_numpy().argmax(axis=1) == y[:450]).mean() > 0.7


def test_progress_bar_on_a_terminal(tables, tmp_path):
    d, _ = tables
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "gradhess", "fit", str(d / "train.csv"), "--objective",
                             "brier", "--engine", "lightgbm", "--label", "animal", "--rounds", "7",
                             "--out", str(tmp_path / "m")], stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0
    assert "7/7" in text and "brier=" in text


# ------------------------------------------------------------- bad input
def test_missing_columns(tables, tmp_path):
    d, _ = tables
    out = tmp_path / "never"
    one_line_error(run("fit", d / "train.csv", "--objective", "brier", "--engine", "xgboost", "--label",
                       "species", "--out", out), "gradhess fit:",
                   f"{d / 'train.csv'}: label column(s) not found: species")
    one_line_error(run("fit", d / "soft.csv", "--objective", "brier", "--engine", "xgboost",
                       "--proba-columns", "p0,p1,p9", "--out", out), "probability column(s) not found: p9")
    one_line_error(run("fit", d / "train.csv", "--objective", "brier", "--engine", "xgboost", "--label",
                       "animal", "--weight", "weight", "--out", out), "weight column(s) not found: weight")
    assert not out.exists()
    run("fit", d / "train.csv", "--objective", "brier", "--engine", "xgboost", "--label", "animal",
        "--rounds", 2, "--out", tmp_path / "m")
    umask = os.umask(0)
    os.umask(umask)
    for name in ("model.json", "metadata.json"):  # as a plain write would create them
        assert os.stat(tmp_path / "m" / name).st_mode & 0o777 == 0o666 & ~umask, name
    pd.read_csv(d / "valid.csv").drop(columns=["f3"]).to_csv(tmp_path / "no_f3.csv", index=False)
    one_line_error(run("predict", tmp_path / "m", tmp_path / "no_f3.csv", "--out", tmp_path / "p.csv"),
                   "gradhess predict:", f"{tmp_path / 'no_f3.csv'}: feature column(s) not found: f3")
    assert not (tmp_path / "p.csv").exists()
    one_line_error(run("fit", d / "train.csv", "--objective", "brier", "--engine", "xgboost", "--label",
                       "animal", "--valid", tmp_path / "no_f3.csv", "--out", out),
                   f"{tmp_path / 'no_f3.csv'} (--valid): feature column(s) not found: f3")


def test_non_numeric_features(tables, tmp_path):
    d, _ = tables
    one_line_error(run("fit", d / "text_feature.csv", "--objective", "brier", "--engine", "lightgbm",
                       "--label", "animal", "--out", tmp_path / "m"),
                   "non-numeric feature column(s): colour")
    assert not (tmp_path / "m").exists()


def test_probability_columns_must_sum_to_one(tables, tmp_path):
    d, _ = tables
    one_line_error(run("fit", d / "bad_soft.csv", "--objective", "cross_entropy", "--engine", "xgboost",
                       "--proba-columns", "p0,p1,p2", "--out", tmp_path / "m"),
                   "probability columns p0,p1,p2 rows must sum to 1 (tolerance 1e-06); row 7 sums to")
    assert not (tmp_path / "m").exists()
    # float32 columns are checked to float32's tolerance (1e-4), through training too
    soft = pd.read_parquet(d / "soft.parquet")
    rounded = soft[["p0", "p1", "p2"]].round(5)
    rounded["p0"] += 2e-5  # rows now sum to 1 + 2e-5
    soft[["p0", "p1", "p2"]] = rounded.astype(np.float32)
    soft.to_parquet(tmp_path / "f32.parquet")
    res = run("fit", tmp_path / "f32.parquet", "--objective", "cross_entropy", "--engine", "xgboost",
              "--proba-columns", "p0,p1,p2", "--rounds", 2, "--out", tmp_path / "m32")
    assert res.returncode == 0, res.stderr


def test_bad_label_weight_and_empty_tables(tables, tmp_path):
    """Missing labels, bad weights and empty tables are named as the table has them (the
    command reports these InputErrors in one line, exit code 2)."""
    from gradhess import files

    d, _ = tables
    hard = pd.read_csv(d / "train.csv")
    soft = pd.read_csv(d / "soft.csv")
    cases = []
    for column, value, kwargs, msg in (
            ("animal", np.nan, {"label": "animal"}, "label column 'animal' has a missing value at row 4"),
            ("w", np.nan, {"label": "animal", "weight": "w"},
             "weight column 'w' must hold finite weights >= 0; got nan at row 4"),
            ("w", -1.0, {"label": "animal", "weight": "w"},
             "weight column 'w' must hold finite weights >= 0; got -1.0 at row 4")):
        df = hard.copy()
        df.loc[4, column] = value
        cases.append((df, kwargs, msg))
    numeric = hard.copy()
    numeric["animal"] = numeric["animal"].map({"cat": 0.0, "dog": 1.0, "eel": 2.0})
    numeric.loc[4, "animal"] = np.nan
    cases.append((numeric, {"label": "animal"}, "label column 'animal' has a missing value at row 4"))
    cases.append((hard.iloc[:0], {"label": "animal"}, ".csv has no rows (columns: f0, f1"))
    bad = soft.copy()
    bad.loc[2, "p1"] = np.nan
    cases.append((bad, {"proba_columns": ["p0", "p1", "p2"]},
                  "probability columns p0,p1,p2 contains NaN or inf (first at row 2"))
    for i, (df, kwargs, msg) in enumerate(cases):
        path = tmp_path / f"case{i}.csv"
        df.to_csv(path, index=False)
        with pytest.raises(files.InputError, match=re.escape(msg)):
            files.fit(path, objective="brier", engine="xgboost", out=tmp_path / "m", rounds=1, **kwargs)
    assert not (tmp_path / "m").exists()


def test_unknown_objective_engine_and_unreadable_files(tables, tmp_path):
    d, _ = tables
    one_line_error(run("fit", d / "train.csv", "--objective", "hinge", "--engine", "xgboost", "--label",
                       "animal", "--out", tmp_path / "m"), "unknown objective 'hinge'", "package.module:ClassName")
    one_line_error(run("fit", d / "train.csv", "--objective", "brier", "--engine", "sklearn", "--label",
                       "animal", "--out", tmp_path / "m"), "invalid choice: 'sklearn'")
    one_line_error(run("fit", d / "garbage.parquet", "--objective", "brier", "--engine", "xgboost",
                       "--label", "animal", "--out", tmp_path / "m"), "cannot read", "garbage.parquet")
    one_line_error(run("fit", d / "nothing.csv", "--objective", "brier", "--engine", "xgboost",
                       "--label", "animal", "--out", tmp_path / "m"), "cannot read", "no such file")
    one_line_error(run("predict", tmp_path, d / "valid.csv", "--out", tmp_path / "p.csv"),
                   "is not a gradhess model directory")
    (tmp_path / "header.csv").write_text("animal,f0,f1\n")
    one_line_error(run("fit", tmp_path / "header.csv", "--objective", "brier", "--engine", "xgboost",
                       "--label", "animal", "--out", tmp_path / "m"), "header.csv has no rows",
                   "animal, f0, f1")
    assert not (tmp_path / "m").exists() and not (tmp_path / "p.csv").exists()


def test_engine_not_installed(tables, tmp_path):
    """An engine that cannot be imported (hidden from this one process) names the extra."""
    d, _ = tables
    code = ("import sys; sys.modules['lightgbm'] = None; from gradhess.cli import main; "
            f"sys.exit(main(['fit', {str(d / 'train.csv')!r}, '--objective', 'brier', '--engine', "
            f"'lightgbm', '--label', 'animal', '--out', {str(tmp_path / 'm')!r}]))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    one_line_error(res, 'lightgbm is not installed; install it with: pip install "gradhess[lightgbm]"')


def test_help_lists_every_command():
    res = run("--help")
    for command in ("demo", "fit", "predict", "check", "bench"):
        assert command in res.stdout
        sub = run(command, "--help")
        assert sub.returncode == 0 and "usage: gradhess " + command in sub.stdout


def test_bench_times_xgboost_gradient_after_the_first_round():
    """XGBoost's monitor times only while the verbosity is 3, one call a round: the
    bench's reference gradient time is a booster's second round alone (the first also
    faults in the gradient buffer)."""
    import xgboost as xgb

    from gradhess import bench

    rng = np.random.default_rng(0)
    d = xgb.DMatrix(rng.normal(size=(3000, 4)).astype(np.float32), label=rng.integers(0, 3, 3000))

    params = {"objective": "multi:softprob", "num_class": 3, "nthread": 2, "max_depth": 2}
    boosters = [xgb.Booster(params, [d])]
    for i in range(2):  # not timed
        boosters[0].update(d, i)

    def timed():
        booster = boosters.pop()
        for i in range(2, 5):
            booster.update(d, i)
        del booster  # its monitor prints now

    seconds, calls = bench._monitor_total(bench._xgboost_monitor(timed), "GetGradient")
    assert calls == 3 and seconds > 0
    assert bench.xgboost_gradient_seconds(d, 3) > 0
    # a self-timed contender's median is of what it returns, the others' of wall time
    t = bench._median_alternating({"own": bench._self_timed(lambda: 123.0),
                                   "wall": lambda: 123.0}, 3)
    assert t["own"] == 123.0 and t["wall"] < 1.0
    with pytest.raises(RuntimeError, match="did not report its NoSuchTimer"):
        bench._monitor_total("GetGradient: 0.1s, 3 calls", "NoSuchTimer")


@pytest.mark.slow
def test_bench_soft_labels_at_a_given_size(tmp_path):
    res = run("bench", "--parts", "soft", "--soft-rows", "3000", "--soft-rounds", "3", "--out", tmp_path,
              timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads((tmp_path / "bench.json").read_text())
    assert [(r["engine"], r["n"], r["rounds"], r["rows_soft"]) for r in results["soft"]] == [
        ("xgboost", 3000, 3, 3000), ("lightgbm", 3000, 3, 3000)]
    assert "n=3000, K=10, 3 rounds" in (tmp_path / "bench.md").read_text()
    for r in results["soft"]:
        # the objective's seconds were added up as it trained (both engines)
        assert 0 < r["objective_s"] < r["soft_s"]
        assert r["time_ratio_objective_free"] == pytest.approx(
            r["replicated_s"] / (r["soft_s"] - r["objective_s"]))
    bad = run("bench", "--parts", "soft", "--soft-rows", "0")
    assert bad.returncode != 0 and "--soft-rows" in bad.stderr


@pytest.mark.slow
def test_bench_quick(tmp_path):
    res = run("bench", "--quick", "--out", tmp_path, timeout=900)
    assert res.returncode == 0, res.stderr[-2000:]
    results = json.loads((tmp_path / "bench.json").read_text())
    assert [r["k"] for r in results["catboost"]] == [3, 10]
    for r in results["catboost"]:
        assert r["gradhess_over_builtin"] == pytest.approx(r["gradhess_s"] / r["builtin_s"])
        assert r["gradhess_s"] > 0 and r["builtin_s"] > 0 and r["no_work_s"] > 0
    for r in results["soft"]:
        assert r["rows_replicated"] > 5 * r["rows_soft"]
        assert abs(r["kl_soft"] - r["kl_replicated"]) < 0.1
        assert r["train_memory_soft"] >= 0 and r["train_memory_replicated"] >= 0  # Linux: sampled
    import gradhess
    from gradhess import hessians

    for state in ("cold", "warm"):
        assert results["compile"][state]["import_s"] > 0 and results["compile"][state]["first_call_s"] > 0
    kernels = results["kernels"]
    assert len(kernels) == len(gradhess.OBJECTIVES) * len(hessians.STRATEGIES)
    for r in kernels:
        assert r["compiled_ms"] > 0 and r["numpy_ms"] > 0 and r["floor_ms"] > 0
        assert r["compiled_lightgbm_layout_ms"] > 0
        assert r["xgboost_builtin_ms"] > 0
        assert r["compiled_over_xgboost_builtin"] == pytest.approx(
            r["compiled_ms"] / r["xgboost_builtin_ms"])
        assert r["numpy_over_compiled"] == pytest.approx(r["numpy_ms"] / r["compiled_ms"])
        # the compiled path allocates nothing of the size of the data
        assert r["compiled_peak_bytes"] < r["numpy_peak_bytes"]
    engines = {(r["engine"], r["contender"]) for r in results["engines"]}
    assert ("xgboost", "built-in multi:softprob") in engines and ("lightgbm", "built-in multiclass") in engines
    assert len(engines) == 6
    reused, not_reused = results["xgboost_round"]
    assert not not_reused["heap_reuse"]
    for r in (reused, not_reused):
        for key in ("round_builtin_ms", "gradient_builtin_ms", "predict_ms", "objective_ms",
                    "trees_custom_ms"):
            assert r[key] > 0, key
        assert r["faults_per_round"] >= 0
        assert r["gradient_builtin_ms"] < r["round_builtin_ms"]
        assert r["round_custom_ms"] == pytest.approx(r["predict_ms"] + r["objective_ms"] + r["boost_ms"])
        assert r["intake_ms"] == pytest.approx(r["boost_ms"] - r["trees_custom_ms"])
    metric = {(r["engine"], r["eval"]): r for r in results["metric"]}
    assert set(metric) == {(e, v) for e in ("xgboost", "lightgbm") for v in ("no eval set", "eval set")}
    for r in metric.values():
        assert r["gradhess_s"] > 0 and r["builtin_s"] > 0
        assert r["over_builtin"] == pytest.approx(r["gradhess_s"] / r["builtin_s"])
    text = (tmp_path / "bench.md").read_text()
    assert "training with an evaluation set" in text
    assert "| CatBoost |" in text and "compiled / floor" in text and "over built-in" in text
    assert "LightGBM layout" in text
    assert "memory training adds" in text and "Compile cost" in text
    assert "gradient intake" in text and "page faults a round" in text


def test_rounds_must_be_positive(tables, tmp_path):
    d, _ = tables
    for engine in ("xgboost", "catboost"):
        one_line_error(run("fit", d / "train.csv", "--objective", "brier", "--engine", engine, "--label",
                           "animal", "--rounds", 0, "--out", tmp_path / "m"),
                       "argument --rounds: expected a positive integer; got 0")
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------ model folders and interrupts
def test_fit_replaces_the_model_folder_as_a_whole(tables, tmp_path):
    """Metadata that cannot be stored (a datetime label) fails before anything is written:
    no lone model file in a new folder, and an existing model stays as it was; a refit
    with another engine leaves no file of the first; --out problems are found before
    training."""
    d, _ = tables
    df = pd.read_csv(d / "train.csv")
    df["when"] = pd.to_datetime("2020-01-01") + pd.to_timedelta(df.index % 3, unit="D")
    df.drop(columns=["animal"]).to_parquet(tmp_path / "dates.parquet")
    fresh = tmp_path / "fresh"
    res = run("fit", tmp_path / "dates.parquet", "--objective", "brier", "--engine", "xgboost",
              "--label", "when", "--rounds", "2", "--out", fresh)
    one_line_error(res, "cannot store the model's metadata")
    assert not fresh.exists() and not list(tmp_path.glob(".fresh*"))
    model = tmp_path / "model"
    assert run("fit", d / "train.csv", "--objective", "brier", "--engine", "xgboost", "--label",
               "animal", "--rounds", "2", "--out", model).returncode == 0
    before = {p.name: p.read_bytes() for p in model.iterdir()}
    res = run("fit", tmp_path / "dates.parquet", "--objective", "brier", "--engine", "lightgbm",
              "--label", "when", "--rounds", "2", "--out", model)
    one_line_error(res, "cannot store the model's metadata")
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before
    assert run("fit", d / "train.csv", "--objective", "brier", "--engine", "lightgbm", "--label",
               "animal", "--rounds", "2", "--out", model).returncode == 0
    assert sorted(p.name for p in model.iterdir()) == ["metadata.json", "model.txt"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # --out problems, before any training
    (tmp_path / "a_file").write_text("x")
    other = tmp_path / "someone_elses"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    (other / "metadata.json").mkdir()
    for out, fragment in ((tmp_path / "a_file", "exists and is not a folder"),
                          (other, "refusing to replace it")):
        one_line_error(run("fit", d / "train.csv", "--objective", "brier", "--engine", "xgboost",
                           "--label", "animal", "--out", out), fragment)
    assert (other / "notes.txt").read_text() == "keep me"
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        one_line_error(run("fit", d / "train.csv", "--objective", "brier", "--engine", "xgboost",
                           "--label", "animal", "--out", locked / "m"), "cannot write in")


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm", "catboost"])
def test_interrupted_fit_says_so_and_writes_nothing(tmp_path, engine):
    """Ctrl-C during training: one line saying so, exit code 130, no model folder."""
    import signal
    import time

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 10))
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(10)]).assign(y=rng.integers(0, 4, 20_000))
    df.to_csv(tmp_path / "big.csv", index=False)
    out = tmp_path / "model"
    proc = subprocess.Popen([sys.executable, "-m", "gradhess", "fit", str(tmp_path / "big.csv"),
                             "--objective", "cross_entropy", "--engine", engine, "--label", "y",
                             "--rounds", "100000", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(8)  # imports, reading, the first rounds
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    lines = [line for line in stderr.splitlines() if line.strip() and "compiling" not in line]
    assert lines == [f"gradhess fit: interrupted; nothing was written"], stderr
    assert not out.exists()


def test_a_folder_as_data_and_metadata_without_its_keys(tables, tmp_path):
    d, _ = tables
    one_line_error(run("fit", tmp_path, "--objective", "brier", "--engine", "xgboost", "--label",
                       "animal", "--out", tmp_path / "m"), "it is a folder, not a data file")
    model = tmp_path / "model"
    assert run("fit", d / "train.csv", "--objective", "brier", "--engine", "xgboost", "--label",
               "animal", "--rounds", "2", "--out", model).returncode == 0
    meta = json.loads((model / "metadata.json").read_text())
    del meta["features"]
    (model / "metadata.json").write_text(json.dumps(meta))
    one_line_error(run("predict", model, d / "valid.csv", "--out", tmp_path / "p.csv"),
                   "has no 'features'")
