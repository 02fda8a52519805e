"""Measure how often the exact Hessian diagonal of an objective is negative.

    python docs/scripts/negative_hessian.py

prints the Markdown table quoted in docs/derivations.md (a test checks that
the two agree).  Margins are N(0, s^2) per cell; labels are either
independent of the margins (uniform class, or a Dirichlet(1) probability row)
or drawn from the model's own probabilities (a calibrated model).  Every
objective of one link sees the same margins and labels.
"""

from __future__ import annotations

import numpy as np

import gradhess

N_ROWS = 100_000
SEED = 0

#: (table label, objective with hessian="exact"); the softmax ones get ", K=k" appended.
SOFTMAX = [
    ("brier", gradhess.Brier(hessian="exact")),
    ("focal (gamma = 2)", gradhess.Focal(gamma=2.0, hessian="exact")),
    ("focal (gamma = 0.5)", gradhess.Focal(gamma=0.5, hessian="exact")),
    ("ranked_probability", gradhess.RankedProbability(hessian="exact")),
    ("spherical", gradhess.Spherical(hessian="exact")),
]
BINARY = [
    ("binary_brier", gradhess.BinaryBrier(hessian="exact")),
    ("binary_focal (gamma = 2)", gradhess.BinaryFocal(gamma=2.0, hessian="exact")),
    ("binary_focal (gamma = 0.5)", gradhess.BinaryFocal(gamma=0.5, hessian="exact")),
]


def _shares(h: np.ndarray) -> tuple[float, float]:
    """Share of negative cells, and of rows with at least one negative cell."""
    neg = h < 0
    return float(neg.mean()), float(neg.any(axis=1).mean() if neg.ndim == 2 else neg.mean())


def fractions(seed: int = SEED, n: int = N_ROWS) -> list[tuple]:
    rng = np.random.default_rng(seed)
    rows: dict[str, list[tuple]] = {name: [] for name, _ in SOFTMAX + BINARY}
    for k in (2, 3, 10, 100):
        for scale in (1.0, 3.0):
            z = rng.normal(size=(n, k)) * scale
            p = gradhess.kernels.reference.softmax(z)
            cum = p.cumsum(axis=1)
            drawn = (rng.uniform(size=(n, 1)) > cum).sum(axis=1).clip(max=k - 1)
            labels = {
                "uniform class": rng.integers(0, k, size=n),
                "Dirichlet(1) rows": rng.dirichlet(np.ones(k), size=n),
                "class drawn from p": drawn,
            }
            for kind, y in labels.items():
                for name, obj in SOFTMAX:
                    _, h = obj.gradient_hessian(y, z)
                    rows[name].append((f"{name}, K={k}", scale, kind, *_shares(h)))
    for scale in (1.0, 3.0):
        z = rng.normal(size=n) * scale
        p = gradhess.kernels.reference.sigmoid(z)
        labels = {
            "uniform class": rng.integers(0, 2, size=n).astype(float),
            "Dirichlet(1) rows": rng.uniform(size=n),
            "class drawn from p": (rng.uniform(size=n) < p).astype(float),
        }
        for kind, y in labels.items():
            for name, obj in BINARY:
                _, h = obj.gradient_hessian(y, z)
                rows[name].append((name, scale, kind, *_shares(h)))
    return [row for name in rows for row in rows[name]]


def table(seed: int = SEED, n: int = N_ROWS) -> str:
    lines = [
        "| objective | margin scale | labels | negative cells | rows with a negative cell |",
        "|---|---|---|---|---|",
    ]
    for name, scale, kind, cells, rows in fractions(seed, n):
        lines.append(f"| {name} | {scale:g} | {kind} | {100 * cells:.1f}% | {100 * rows:.1f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
