"""Per-row numerical kernels, kept apart from the objective classes.

:mod:`gradhess.kernels.reference` holds the NumPy kernels: the readable
definition of every objective and the oracle for any faster implementation.
"""

from . import reference

__all__ = ["reference"]
