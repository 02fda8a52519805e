"""gradhess: proper scoring rules as gradient-boosting objectives.

Analytic gradients and Hessians on raw margins, with explicit Hessian
strategies (:mod:`gradhess.hessians`), for hard and soft labels and per-row or
per-cell weights.

>>> import gradhess
>>> sorted(gradhess.OBJECTIVES)
['binary_brier', 'binary_cross_entropy', 'binary_focal', 'brier', 'cross_entropy', 'focal', 'ranked_probability', 'spherical']
"""

from . import hessians
from .labels import soft_labels
from .objectives import (
    OBJECTIVES,
    BinaryBrier,
    BinaryCrossEntropy,
    BinaryFocal,
    BinaryObjective,
    Brier,
    Focal,
    Objective,
    RankedProbability,
    SoftmaxCrossEntropy,
    SoftmaxObjective,
    Spherical,
    get,
)

__version__ = "0.1.0"


def __getattr__(name):
    # The estimator needs scikit-learn, an optional dependency: import it on first use.
    if name == "BoostingClassifier":
        from .sklearn import BoostingClassifier

        return BoostingClassifier
    raise AttributeError(f"module 'gradhess' has no attribute {name!r}")

__all__ = [
    "OBJECTIVES",
    "BoostingClassifier",
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
    "hessians",
    "soft_labels",
    "__version__",
]
