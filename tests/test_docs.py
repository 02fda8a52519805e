"""The docs carry the math, and what they quote is what the code measures."""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path

import pytest

import gradhess
from gradhess import hessians

ROOT = Path(__file__).resolve().parents[1]
DERIVATIONS = (ROOT / "docs" / "derivations.md").read_text()
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", list(gradhess.OBJECTIVES))
def test_every_objective_is_documented(name):
    cls = gradhess.OBJECTIVES[name]
    assert f"`{name}`" in DERIVATIONS, f"docs/derivations.md has no section for {name}"
    assert f"`{name}`" in README and cls.__name__ in README
    doc = inspect.getdoc(cls)
    # the docstring states the loss, the gradient and the Hessian per strategy
    assert "math::" in doc and "Hessian" in doc
    for strategy in cls.hessian_strategies:
        assert f'"{strategy}"' in doc, f"{cls.__name__} docstring does not mention {strategy}"
    assert f'default "{cls.default_hessian}"' in doc or f'``"{cls.default_hessian}"`` (default)' in doc


@pytest.mark.parametrize("strategy", hessians.STRATEGIES)
def test_every_strategy_is_documented(strategy):
    assert f"**{strategy}**" in DERIVATIONS
    assert f"``\"{strategy}\"``" in hessians.__doc__
    assert f"`{strategy}`" in README


def test_public_names_have_docstrings():
    for name in gradhess.__all__:
        obj = getattr(gradhess, name)
        if name.startswith("__") or isinstance(obj, (dict, str)):
            continue
        assert inspect.getdoc(obj), f"gradhess.{name} has no docstring"


@pytest.mark.slow
def test_negative_hessian_table_is_measured():
    """The table in docs/derivations.md is exactly what the script prints."""
    path = ROOT / "docs" / "scripts" / "negative_hessian.py"
    spec = importlib.util.spec_from_file_location("negative_hessian", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    quoted = re.search(r"<!-- negative-hessian-table:start -->\n(.*?)\n<!-- negative-hessian-table:end -->",
                       DERIVATIONS, re.S).group(1)
    assert quoted == module.table()


@pytest.mark.slow
def test_float32_arithmetic_study_shows_what_performance_md_says():
    """docs/performance.md: float32 arithmetic keeps Hessians within the kernels' float32
    tolerance (1e-5) but not soft-label gradients, where p - y cancels."""
    path = ROOT / "docs" / "scripts" / "float32_arithmetic.py"
    spec = importlib.util.spec_from_file_location("float32_arithmetic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = {(r["labels"], r["k"]): r for r in module.measure(100_000)}
    assert len(rows) == 6
    for (labels, k), r in rows.items():
        assert r["compiled_gradient"] <= 1e-5 and r["compiled_hessian"] <= 1e-5
        assert r["float32_hessian"] <= 1e-5
        if labels == "hard":
            assert r["float32_gradient"] <= 1e-5
    assert rows[("soft", 2)]["float32_gradient"] > 1e-5
    formulas = {(r["objective"], r["hessian"]): r for r in module.measure_reference_formulas(20_000)}
    assert formulas[("brier", "exact")]["hard_hessian"] > 1e-5
    assert formulas[("brier", "gauss_newton")]["hard_hessian"] <= 1e-5
    assert "docs/scripts/float32_arithmetic.py" in (ROOT / "docs" / "performance.md").read_text()
