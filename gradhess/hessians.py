r"""Hessian strategies: what a gradhess objective hands to a boosting engine as "the Hessian".

Boosting engines take one second-order value per (row, class) cell and fit each
leaf with the Newton step :math:`-\sum g / (\sum h + \lambda)`.  That value must
be positive for the step to point downhill, yet the exact diagonal of the
Hessian of several proper scores (the Brier score on a softmax, for one) is
negative on a large share of inputs.  Every objective therefore accepts
``hessian=`` with one of the strategies below, and ``hessian_scale=`` (a
positive float, default 1.0) that multiplies the result.

Notation, per row: margins :math:`z \in \mathbb{R}^K`, probabilities
:math:`p = \mathrm{softmax}(z)` with Jacobian :math:`J = \mathrm{diag}(p) - p p^\top`
(symmetric), and the loss written as a score of the probabilities,
:math:`L(z) = S(y, p(z))`.  Then

.. math::

    \nabla_z L = J\, r, \qquad r = \nabla_p S, \qquad
    \nabla_z^2 L = J^\top (\nabla_p^2 S) J + \sum_j r_j \nabla_z^2 p_j .

``"exact"``
    The true diagonal :math:`(\nabla_z^2 L)_{ll}`.  Can be negative.

``"gauss_newton"``
    The diagonal of :math:`G = J^\top D J` with
    :math:`D = \mathbb{E}_{y \sim p}[\nabla_p^2 S(y, p)]`, the expected curvature
    of the score in probability space.  For the Brier score
    :math:`D = 2\,\mathrm{diag}(w)` does not depend on ``y``; for the log score
    :math:`D = \mathrm{diag}(w / p)`.  :math:`G` is positive semi-definite,
    so its diagonal is never negative.  For a proper score with row weights the
    dropped term has expectation zero under :math:`y \sim p`, so :math:`G` is
    also the expected (Fisher) Hessian, and it equals the exact Hessian
    wherever the prediction is calibrated.  Writing :math:`u = D p`
    (elementwise, :math:`D` diagonal) and :math:`c = \sum_j u_j p_j`:

    .. math:: G_{lm} = [l = m]\, u_l p_l + p_l p_m (c - u_l - u_m),
              \qquad G_{ll} = u_l p_l (1 - 2 p_l) + p_l^2 c .

``"majorizer"``
    The row sums of :math:`|G|`, :math:`M_l = \sum_m |G_{lm}|`.  Then
    :math:`\mathrm{diag}(M) - G` is diagonally dominant with a non-negative
    diagonal, hence positive semi-definite (Gershgorin), so the diagonal
    quadratic model bounds the Gauss-Newton model from above and each Newton
    step is a majorize-minimize step on it.  For cross-entropy with row weights
    :math:`M_l = 2 w p_l (1 - p_l)`: XGBoost's built-in ``multi:softprob``
    Hessian.  For a binary objective :math:`G` is 1x1 and the majorizer equals
    the Gauss-Newton value.

``"clip"``
    The exact diagonal floored at ``CLIP_FLOOR`` times the row's mean weight:
    :math:`\max(H_{ll}, 10^{-6}\,\bar w_i)`.  The floor scales with the weight
    so that weights still scale every result linearly, and a row of weight
    zero still contributes nothing.

``"constant"``
    The weight of each cell, ignoring the curvature: :math:`h_{il} = w_{il}`
    (1 without weights).  Each leaf then moves by the weighted mean negative
    gradient times the learning rate: first-order gradient boosting, the
    baseline the other strategies are measured against.  ``hessian_scale``
    sets the step size.

The derivations, step by step, are in ``docs/derivations.md``; the per-row
building blocks are ``softmax_gauss_newton_diag`` and
``softmax_majorizer_diag`` in :mod:`gradhess.kernels.reference`.
"""

from __future__ import annotations

import numpy as np

from ._validation import check_number

#: Every strategy name, in the order tables list them.
STRATEGIES = ("exact", "gauss_newton", "majorizer", "clip", "constant")

#: The integer code of each strategy, as the compiled kernels take it.
EXACT, GAUSS_NEWTON, MAJORIZER, CLIP, CONSTANT = range(5)
CODES = dict(zip(STRATEGIES, range(5)))

#: Strategies whose result is never negative, whatever the inputs.
NONNEGATIVE = frozenset({"gauss_newton", "majorizer", "clip", "constant"})

#: ``"clip"`` floors the exact diagonal at this value times the row's mean weight.
CLIP_FLOOR = 1e-6


def check_strategy(hessian, allowed=STRATEGIES) -> str:
    """Validate a ``hessian=`` argument and return it."""
    if not isinstance(hessian, str) or hessian not in allowed:
        raise ValueError(
            f"hessian must be one of {', '.join(repr(s) for s in allowed)}; got {hessian!r}"
        )
    return hessian


def check_scale(hessian_scale) -> float:
    """Validate a ``hessian_scale=`` argument (a finite float > 0) and return it as float."""
    return check_number("hessian_scale", hessian_scale, "(0, inf)", low=0.0, low_open=True)


def kernel_strategy(strategy: str) -> str:
    """The strategy a kernel must compute before :func:`finalize` (``clip`` needs ``exact``;
    for ``constant`` the kernel's cheapest Hessian, ``exact``, is computed and replaced)."""
    return "exact" if strategy in ("clip", "constant") else strategy


def finalize(h: np.ndarray, strategy: str, scale: float, row_weight: np.ndarray,
             weight: np.ndarray) -> np.ndarray:
    """Apply the clip floor (``"clip"``), the weights (``"constant"``) and ``hessian_scale``.

    ``row_weight`` is the mean weight of each row and ``weight`` the weights as the kernel
    saw them, both shaped to broadcast against ``h``.
    """
    if strategy == "clip":
        h = np.maximum(h, CLIP_FLOOR * row_weight)
    elif strategy == "constant":
        h = np.array(np.broadcast_to(weight, h.shape), dtype=np.float64)
    if scale != 1.0:
        h = h * scale
    return h
