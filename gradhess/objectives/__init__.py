"""Objectives and their registry.

An objective is one class that declares its name, hyperparameters and kernels
(see :mod:`gradhess.objectives._base`) and is added to :data:`OBJECTIVES` by
:func:`register`.  Every module of this package is imported here, so a new
built-in objective is one module (plus its oracle line in the tests and its
docs); an objective of a user's own is one class (``docs/extending.md``).
"""

from __future__ import annotations

import importlib
import pkgutil

from ._base import (
    GAMMA,
    LABEL_SMOOTHING,
    OBJECTIVES,
    BinaryObjective,
    Kernels,
    Objective,
    Param,
    SoftmaxObjective,
    Targets,
    get,
    instances,
    register,
)
from ._scored import BinaryScore, SoftmaxScore

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

#: The registered objective classes, by class name (``gradhess.Brier``, ...).
CLASSES = {cls.__name__: cls for cls in OBJECTIVES.values()}
globals().update(CLASSES)

__all__ = sorted([
    "OBJECTIVES",
    "GAMMA",
    "LABEL_SMOOTHING",
    "BinaryObjective",
    "BinaryScore",
    "Kernels",
    "Objective",
    "Param",
    "SoftmaxObjective",
    "SoftmaxScore",
    "Targets",
    "get",
    "instances",
    "register",
    *CLASSES,
])
