"""Measure how often the exact Hessian diagonal of the Brier scores is negative.

    python docs/scripts/negative_hessian.py

prints the Markdown table quoted in docs/derivations.md (a test checks that
the two agree).  Margins are N(0, s^2) per cell; labels are either
independent of the margins (uniform class, or a Dirichlet(1) probability row)
or drawn from the model's own probabilities (a calibrated model).
"""

from __future__ import annotations

import numpy as np

import gradhess

N_ROWS = 100_000
SEED = 0


def fractions(seed: int = SEED, n: int = N_ROWS) -> list[tuple]:
    rng = np.random.default_rng(seed)
    rows = []
    exact = gradhess.Brier(hessian="exact")
    for k in (2, 3, 10, 100):
        for scale in (1.0, 3.0):
            z = rng.normal(size=(n, k)) * scale
            p = exact.predict_proba(z)
            cum = p.cumsum(axis=1)
            drawn = (rng.uniform(size=(n, 1)) > cum).sum(axis=1).clip(max=k - 1)
            labels = {
                "uniform class": rng.integers(0, k, size=n),
                "Dirichlet(1) rows": rng.dirichlet(np.ones(k), size=n),
                "class drawn from p": drawn,
            }
            for kind, y in labels.items():
                _, h = exact.gradient_hessian(y, z)
                rows.append((f"brier, K={k}", scale, kind, float((h < 0).mean()),
                             float((h < 0).any(axis=1).mean())))
    binary = gradhess.BinaryBrier(hessian="exact")
    for scale in (1.0, 3.0):
        z = rng.normal(size=n) * scale
        p = binary.predict_proba(z)
        labels = {
            "uniform class": rng.integers(0, 2, size=n).astype(float),
            "Dirichlet(1) rows": rng.uniform(size=n),
            "class drawn from p": (rng.uniform(size=n) < p).astype(float),
        }
        for kind, y in labels.items():
            _, h = binary.gradient_hessian(y, z)
            rows.append(("binary_brier", scale, kind, float((h < 0).mean()), float((h < 0).mean())))
    return rows


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
