"""Cross-entropy (the log score) on softmax and sigmoid links."""

from __future__ import annotations

from ..kernels import compiled, reference
from ._base import LABEL_SMOOTHING, BinaryObjective, Kernels, SoftmaxObjective, register


@register
class SoftmaxCrossEntropy(SoftmaxObjective):
    r"""Softmax cross-entropy with hard or soft labels and per-row or per-cell weights.

    With :math:`p_i = \mathrm{softmax}(z_i)` and
    :math:`s_i = \sum_j w_{ij} y_{ij}`:

    .. math::

        L_i = -\sum_j w_{ij}\, y_{ij} \log p_{ij}, \qquad
        \frac{\partial L_i}{\partial z_{il}} = s_i\, p_{il} - w_{il}\, y_{il}.

    With row weights and labels that sum to 1 the gradient is
    :math:`w_i (p_{il} - y_{il})`.  ``label_smoothing`` :math:`\alpha` replaces
    the labels by :math:`(1 - \alpha) y + \alpha / K` before anything else.

    Hessian diagonal, by strategy (see :mod:`gradhess.hessians`):

    * ``"exact"`` (default): :math:`s_i\, p_{il} (1 - p_{il})`, the diagonal of
      :math:`s_i (\mathrm{diag}(p) - p p^\top)`.  The loss is convex in the
      margins, so it is never negative; LightGBM's built-in ``multiclass``
      uses it times :math:`K / (K - 1)`.  It is the default because it is
      already safe and it is the true curvature, so it takes the full Newton
      step where the majorizer takes half.
    * ``"gauss_newton"``: :math:`D = \mathrm{diag}(w / p)` gives
      :math:`w_{il} p_{il} (1 - 2 p_{il}) + p_{il}^2 \sum_j w_{ij} p_{ij}`; with
      row weights this equals ``"exact"``.
    * ``"majorizer"``: row sums of :math:`|G|`; with row weights
      :math:`2 w_i p_{il} (1 - p_{il})`, XGBoost's ``multi:softprob`` Hessian.
    * ``"clip"``: ``"exact"`` floored at :math:`10^{-6} \bar w_i`.
    * ``"constant"``: the weights :math:`w_{il}` (first-order boosting).

    Parameters
    ----------
    label_smoothing : float in [0, 1), default 0.0
    hessian : {"exact", "gauss_newton", "majorizer", "clip", "constant"}, default "exact"
    hessian_scale : float > 0, default 1.0
        Multiplies the Hessian (LightGBM's built-in: ``K / (K - 1)`` with ``"exact"``).

    Examples
    --------
    >>> import numpy as np, gradhess
    >>> obj = gradhess.get("cross_entropy")
    >>> g, h = obj.gradient_hessian(np.array([0, 2]), np.zeros((2, 3)))
    >>> g.round(4).tolist()
    [[-0.6667, 0.3333, 0.3333], [0.3333, 0.3333, -0.6667]]
    >>> h.round(4).tolist()
    [[0.2222, 0.2222, 0.2222], [0.2222, 0.2222, 0.2222]]
    """

    name = "cross_entropy"
    default_hessian = "exact"
    params = (LABEL_SMOOTHING,)
    kernels = Kernels(reference.cross_entropy_loss, reference.cross_entropy_gradient_hessian, reference.cross_entropy_init_raw,
                      compiled.cross_entropy)


@register
class BinaryCrossEntropy(BinaryObjective):
    r"""Binary cross-entropy (log loss) on a sigmoid link, hard or soft labels in [0, 1].

    With :math:`p_i = \sigma(z_i)`:

    .. math::

        L_i = -w_i \left[y_i \log p_i + (1 - y_i) \log(1 - p_i)\right], \qquad
        \frac{\partial L_i}{\partial z_i} = w_i (p_i - y_i), \qquad
        \frac{\partial^2 L_i}{\partial z_i^2} = w_i\, p_i (1 - p_i).

    The loss is computed as :math:`w [y\, \mathrm{softplus}(-z) + (1 - y)\,
    \mathrm{softplus}(z)]`, finite for every finite margin.  ``label_smoothing``
    :math:`\alpha` replaces the labels by :math:`(1 - \alpha) y + \alpha / 2`.

    Hessian: the exact value is already the Gauss-Newton (Fisher) value and,
    the matrix being 1x1, the majorizer too; ``"exact"`` (default),
    ``"gauss_newton"`` and ``"majorizer"`` all return :math:`w p (1 - p)` and
    ``"clip"`` floors it at :math:`10^{-6} w` and ``"constant"`` returns :math:`w`
    (first-order boosting).  This is XGBoost's
    ``binary:logistic`` and LightGBM's ``binary``/``cross_entropy`` Hessian.

    Parameters
    ----------
    label_smoothing : float in [0, 1), default 0.0
    hessian : {"exact", "gauss_newton", "majorizer", "clip", "constant"}, default "exact"
    hessian_scale : float > 0, default 1.0

    Examples
    --------
    >>> import numpy as np, gradhess
    >>> obj = gradhess.get("binary_cross_entropy")
    >>> g, h = obj.gradient_hessian(np.array([1.0, 0.25]), np.array([0.0, 0.0]))
    >>> g.tolist(), h.tolist()
    ([-0.5, 0.25], [0.25, 0.25])
    """

    name = "binary_cross_entropy"
    default_hessian = "exact"
    params = (LABEL_SMOOTHING,)
    kernels = Kernels(reference.binary_cross_entropy_loss, reference.binary_cross_entropy_gradient_hessian, reference.binary_init_raw,
                      compiled.binary_cross_entropy)

