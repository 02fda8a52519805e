"""Objectives and their registry.

Adding an objective takes one kernel (in :mod:`gradhess.kernels.reference`),
one class (here, in the module of its family) and one line in ``OBJECTIVES``.
"""

from __future__ import annotations

import inspect

from ._base import BinaryObjective, Objective, SoftmaxObjective
from .brier import BinaryBrier, Brier
from .cross_entropy import BinaryCrossEntropy, SoftmaxCrossEntropy
from .focal import BinaryFocal, Focal
from .ordinal import RankedProbability, Spherical

#: Every objective, by registry name.  Tests, the CLI and the docs iterate over it.
OBJECTIVES: dict[str, type[Objective]] = {
    "cross_entropy": SoftmaxCrossEntropy,
    "brier": Brier,
    "binary_cross_entropy": BinaryCrossEntropy,
    "binary_brier": BinaryBrier,
    "focal": Focal,
    "binary_focal": BinaryFocal,
    "ranked_probability": RankedProbability,
    "spherical": Spherical,
}


def get(name: str, **params) -> Objective:
    """Create the objective registered as ``name`` with keyword ``params``.

    >>> get("brier", hessian="majorizer")
    Brier(hessian='majorizer', hessian_scale=1.0)
    """
    try:
        cls = OBJECTIVES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown objective {name!r}; registered: {', '.join(sorted(OBJECTIVES))}"
        ) from None
    signature = inspect.signature(cls).parameters
    accepted = set(signature)
    unknown = sorted(set(params) - accepted)
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in signature.values()):
        raise TypeError(f"{name} takes no parameter {', '.join(map(repr, unknown))}; its parameters: "
                        f"{', '.join(sorted(accepted))}")
    return cls(**params)


__all__ = [
    "OBJECTIVES",
    "BinaryBrier",
    "BinaryCrossEntropy",
    "BinaryFocal",
    "BinaryObjective",
    "Brier",
    "Focal",
    "Objective",
    "RankedProbability",
    "SoftmaxCrossEntropy",
    "SoftmaxObjective",
    "Spherical",
    "get",
]
