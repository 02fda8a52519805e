"""Would float32 arithmetic inside the kernels keep their float32 accuracy?

    python docs/scripts/float32_arithmetic.py [--rows N]

The compiled kernels read float32 margins and write float32 outputs but compute in
float64 (four lanes of AVX2 instead of eight).  This computes cross-entropy's gradient
and exact Hessian, the simplest softmax objective, in float32 arithmetic (NumPy, float32
throughout, the row maximum's 1 - p summed from the other classes rather than
subtracted) and measures it as ``tests/test_compiled.py`` measures the kernels: the
largest ``|a - e| / (|e| + 1e-3 w)`` against the float64 reference kernels, where that
test allows 1e-5.  The compiled kernel is measured alongside.  A second table runs the
NumPy reference kernels themselves on float32 inputs (the formulas as written, without
such care) for every softmax objective and strategy whose reference kernel stays in
float32.
"""

from __future__ import annotations

import argparse

import numpy as np

import gradhess
from gradhess import checking, hessians

FLOOR = 1e-3


def float32_softmax_cross_entropy(y, z, w):
    """Gradient and exact Hessian of weighted cross-entropy in float32 arithmetic."""
    f = np.float32
    n, k = z.shape
    rows = np.arange(n)
    Y = np.eye(k, dtype=f)[y] if y.ndim == 1 else y.astype(f)
    W = w.astype(f)[:, None]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    s = e.sum(axis=1, keepdims=True, dtype=f)
    p = e / s
    q = (s - e) / s  # 1 - p: no cancellation except at the row maximum ...
    top = z.argmax(axis=1)
    rest = e.copy()
    rest[rows, top] = 0
    q[rows, top] = rest.sum(axis=1, dtype=f) / s[:, 0]  # ... whose is summed from the others
    g = W * (p - Y)
    if y.ndim == 1:  # the label's entry, -(1 - p), from q
        g[rows, y] = -(W[:, 0] * q[rows, y])
    return g, W * p * q


def _problem(labels: str, k: int, n: int, seed: int):
    """float32 margins (moderate and +-1e3), labels, row weights, and their scale."""
    rng = np.random.default_rng([seed, k, labels == "soft"])
    z = checking.random_margins(rng, n, k).astype(np.float32)
    y = checking.random_labels(rng, n, k, labels)
    y = y.astype(np.float32) if labels == "soft" else y
    w = checking.random_weights(rng, n, k, "row").astype(np.float32)
    return y, z, w, checking.row_weight(w, np.empty(n))


def _reference(obj):
    ref = type(obj)(**obj.get_params())
    ref.backend = "numpy"
    return ref


def _errors(row: dict, name: str, g, h, gr, hr, scale) -> None:
    row[f"{name}_gradient"] = checking.relative_error(g, gr, scale, FLOOR)
    row[f"{name}_hessian"] = checking.relative_error(h, hr, scale, FLOOR)


def measure(rows: int, seed: int = 0) -> list[dict]:
    """Cross-entropy (exact Hessian) in careful float32 arithmetic and compiled."""
    obj = gradhess.get("cross_entropy", hessian="exact")
    ref = _reference(obj)
    out = []
    for labels in ("hard", "soft"):
        for k in (2, 10, 100):
            n = max(rows // k, 100)
            y, z, w, scale = _problem(labels, k, n, seed)
            gr, hr = ref.gradient_hessian(y, z.astype(np.float64), w.astype(np.float64))
            row = {"labels": labels, "k": k, "n": n}
            _errors(row, "float32", *float32_softmax_cross_entropy(y, z, w), gr, hr, scale)
            _errors(row, "compiled", *obj.gradient_hessian(y, z, w), gr, hr, scale)
            out.append(row)
    return out


def measure_reference_formulas(rows: int, k: int = 10, seed: int = 0) -> list[dict]:
    """The NumPy reference kernels on float32 inputs, for each softmax objective and
    non-constant strategy whose gradient and Hessian come out float32 (computed in it)."""
    out = []
    n = max(rows // k, 100)
    for name, cls in gradhess.OBJECTIVES.items():
        if not cls.is_multiclass:
            continue
        for strategy in hessians.STRATEGIES:
            if strategy == "constant":
                continue
            obj = gradhess.get(name, hessian=strategy)
            row = {"objective": name, "hessian": strategy}
            for labels in ("hard", "soft"):
                y, z, w, scale = _problem(labels, k, n, seed)
                gr, hr = _reference(obj).gradient_hessian(y, z.astype(np.float64),
                                                          w.astype(np.float64))
                dense = np.eye(k, dtype=np.float32)[y] if y.ndim == 1 else y
                with np.errstate(all="ignore"):
                    alpha = obj.label_smoothing
                    smoothed = (1 - alpha) * dense + alpha / k if alpha else dense
                    params = [getattr(obj, p.name) for p in obj._declared() if p.kernel]
                    g, h = obj.kernels.gradient_hessian(
                        smoothed.astype(np.float32), z, w[:, None],
                        hessians.kernel_strategy(obj.hessian), *map(np.float32, params))
                    h = hessians.finalize(h, obj.hessian, obj.hessian_scale, w[:, None], w[:, None])
                if g.dtype != np.float32 or h.dtype != np.float32:
                    break
                _errors(row, labels, g, h, gr, hr, scale)
            else:
                out.append(row)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="cells per case (n x K)")
    args = parser.parse_args(argv)
    print("| labels | K | n | float32 arithmetic: gradient | Hessian | compiled (float64 inside): "
          "gradient | Hessian |")
    print("|---|---|---|---|---|---|---|")
    for r in measure(args.rows):
        print(f"| {r['labels']} | {r['k']} | {r['n']:,} | {r['float32_gradient']:.1e} | "
              f"{r['float32_hessian']:.1e} | {r['compiled_gradient']:.1e} | {r['compiled_hessian']:.1e} |")
    print("\nLargest |a - e| / (|e| + 1e-3 w) against the float64 reference kernels "
          "(tests/test_compiled.py allows 1e-5).\n")
    print("| objective | hessian | hard labels: gradient | Hessian | soft labels: gradient | "
          "Hessian |")
    print("|---|---|---|---|---|---|")
    for r in measure_reference_formulas(args.rows):
        print(f"| {r['objective']} | {r['hessian']} | {r['hard_gradient']:.1e} | "
              f"{r['hard_hessian']:.1e} | {r['soft_gradient']:.1e} | {r['soft_hessian']:.1e} |")
    print("\nThe reference kernels on float32 inputs, K = 10 (objectives whose reference "
          "kernel leaves float32 are not listed).")


if __name__ == "__main__":
    main()
