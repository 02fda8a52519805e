"""gradhess: proper scoring rules as gradient-boosting objectives.

Analytic gradients and Hessians on raw margins, with explicit Hessian
strategies (:mod:`gradhess.hessians`), for hard and soft labels and per-row or
per-cell weights.

>>> import gradhess
>>> sorted(gradhess.OBJECTIVES)
['binary_brier', 'binary_cross_entropy', 'brier', 'cross_entropy']
"""

from . import hessians
from .labels import soft_labels
from .objectives import (
    OBJECTIVES,
    BinaryBrier,
    BinaryCrossEntropy,
    BinaryObjective,
    Brier,
    Objective,
    SoftmaxCrossEntropy,
    SoftmaxObjective,
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
    "BinaryObjective",
    "Brier",
    "Objective",
    "SoftmaxCrossEntropy",
    "SoftmaxObjective",
    "get",
    "hessians",
    "soft_labels",
    "__version__",
]
