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
from .objectives import *  # noqa: F403  (the registry, the base classes, every objective)
from .objectives import __all__ as _objectives

__version__ = "0.1.0"


def __getattr__(name):
    # The estimator needs scikit-learn, an optional dependency: import it on first use.
    if name == "BoostingClassifier":
        from .sklearn import BoostingClassifier

        return BoostingClassifier
    raise AttributeError(f"module 'gradhess' has no attribute {name!r}")

__all__ = sorted(["BoostingClassifier", "hessians", "soft_labels", "__version__", *_objectives])
