"""The Brier score (quadratic score) on softmax and sigmoid links."""

from __future__ import annotations

from ..kernels import compiled, reference
from ._base import BinaryObjective, Kernels, SoftmaxObjective, register


@register
class Brier(SoftmaxObjective):
    r"""Multiclass Brier score on a softmax link, with per-row or per-cell weights.

    With :math:`p_i = \mathrm{softmax}(z_i)`, :math:`r_{ij} = 2 w_{ij}
    (p_{ij} - y_{ij})` (the derivative of the score in :math:`p`) and
    :math:`\bar r_i = \sum_j p_{ij} r_{ij}`:

    .. math::

        L_i = \sum_j w_{ij} (p_{ij} - y_{ij})^2, \qquad
        g_{il} = \frac{\partial L_i}{\partial z_{il}} = p_{il} (r_{il} - \bar r_i).

    Hessian diagonal, by strategy (see :mod:`gradhess.hessians`), with
    :math:`c_i = 2 \sum_j w_{ij} p_{ij}^2`:

    * ``"gauss_newton"`` (default): the diagonal of :math:`J^\top 2\,\mathrm{diag}(w) J`,

      .. math:: G_{ll} = 2 w_{il} p_{il}^2 (1 - 2 p_{il}) + p_{il}^2 c_i \;\ge 0 .

      Also the expected Hessian under :math:`y \sim p` (Fisher scoring), and
      equal to the exact Hessian wherever predictions are calibrated.
    * ``"exact"``: :math:`G_{ll} + (1 - 2 p_{il})\, g_{il}`.  Negative on a
      large share of inputs (measured in ``docs/derivations.md``), which stops
      a boosting engine from learning; hence not the default.
    * ``"majorizer"``: :math:`G_{ll} + \sum_{m \ne l} p_{il} p_{im}
      |c_i - 2 w_{il} p_{il} - 2 w_{im} p_{im}|`, the row sums of :math:`|G|`.
    * ``"clip"``: ``"exact"`` floored at :math:`10^{-6} \bar w_i`.
    * ``"constant"``: the weights :math:`w_{il}` (first-order boosting).

    The default is Gauss-Newton because it is never negative, it is the
    curvature that Fisher scoring uses, and it converges to the exact
    Hessian as the model fits; ``"clip"`` keeps the negative-curvature cells
    at a tiny floor, which makes their Newton steps huge.  The study in
    ``docs/hessian_study.md`` bears this out: Gauss-Newton gives the best
    held-out scores in all six task x engine settings, ``"exact"`` diverges.

    Parameters
    ----------
    hessian : {"exact", "gauss_newton", "majorizer", "clip", "constant"}, default "gauss_newton"
    hessian_scale : float > 0, default 1.0

    Examples
    --------
    >>> import numpy as np, gradhess
    >>> obj = gradhess.get("brier")
    >>> obj.loss(np.array([0]), np.zeros((1, 2))).tolist()
    [0.5]
    >>> g, h = obj.gradient_hessian(np.array([0]), np.zeros((1, 2)))
    >>> g.tolist(), h.tolist()
    ([[-0.5, 0.5]], [[0.25, 0.25]])
    """

    name = "brier"
    default_hessian = "gauss_newton"
    kernels = Kernels(reference.brier_loss, reference.brier_gradient_hessian, reference.brier_init_raw,
                      compiled.brier)


@register
class BinaryBrier(BinaryObjective):
    r"""Binary Brier score on a sigmoid link, labels in [0, 1].

    With :math:`p_i = \sigma(z_i)` and :math:`v_i = p_i (1 - p_i)`:

    .. math::

        L_i = w_i (p_i - y_i)^2, \qquad
        g_i = 2 w_i (p_i - y_i)\, v_i, \qquad
        H_i = 2 w_i v_i^2 + (1 - 2 p_i)\, g_i .

    This is the usual binary Brier score (scikit-learn's
    ``brier_score_loss``); the multiclass ``Brier`` with K = 2 counts both
    classes and equals twice this.

    Hessian, by strategy: ``"gauss_newton"`` (default) and ``"majorizer"``
    (equal for a 1x1 matrix): :math:`2 w v^2 \ge 0`; ``"exact"``: :math:`H_i`,
    negative whenever the prediction is on the wrong side of the label and
    confident enough; ``"clip"``: :math:`\max(H_i, 10^{-6} w_i)`; ``"constant"``:
    :math:`w_i`.  The default
    is Gauss-Newton for the reasons given in :class:`Brier`.

    Parameters
    ----------
    hessian : {"exact", "gauss_newton", "majorizer", "clip", "constant"}, default "gauss_newton"
    hessian_scale : float > 0, default 1.0

    Examples
    --------
    >>> import numpy as np, gradhess
    >>> obj = gradhess.get("binary_brier")
    >>> g, h = obj.gradient_hessian(np.array([1.0]), np.array([0.0]))
    >>> g.tolist(), h.tolist()
    ([-0.25], [0.125])
    """

    name = "binary_brier"
    default_hessian = "gauss_newton"
    kernels = Kernels(reference.binary_brier_loss, reference.binary_brier_gradient_hessian, reference.binary_init_raw,
                      compiled.binary_brier)
