"""Per-row numerical kernels, kept apart from the objective classes.

:mod:`gradhess.kernels.reference` holds the NumPy kernels: the readable
definition of every objective and the oracle for any faster implementation.
:mod:`gradhess.kernels.compiled` holds the fused numba kernels that the
objectives run when numba is installed, built from the private modules
``_numerics``, ``_blocks``, ``_diagonals``, ``_cores`` and ``_drivers``.
"""

from . import compiled, reference

__all__ = ["compiled", "reference"]
