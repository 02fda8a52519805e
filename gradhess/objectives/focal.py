"""Focal loss (Lin et al., 2017) on softmax and sigmoid links, with soft labels."""

from __future__ import annotations

from ..kernels import compiled, reference
from ._base import GAMMA, BinaryObjective, Kernels, SoftmaxObjective, register


@register
class Focal(SoftmaxObjective):
    r"""Multiclass focal loss with focusing parameter ``gamma``, hard or soft labels.

    With :math:`p = \mathrm{softmax}(z)`, :math:`q = 1 - p` and, per class,
    :math:`f(p) = -(1 - p)^\gamma \log p`:

    .. math::

        L_i = \sum_j w_{ij} y_{ij} f(p_{ij}), \qquad
        g_{il} = w_{il} y_{il} t_{il} - p_{il} \sum_j w_{ij} y_{ij} t_{ij},

    with :math:`t = p f'(p) = q^\gamma (\gamma p \log(p) / q - 1)`.  ``gamma = 0`` is
    cross-entropy (every strategy included).  Writing :math:`v = p^2 f''(p) =
    \gamma p q^{\gamma-1} (2 + (1 - \gamma) p \log(p)/q) + q^\gamma \ge 0`:

    * ``"exact"``: :math:`w_l y_l v_l q_l^2 + p_l^2 \sum_{m \ne l} w_m y_m v_m +
      (1 - 2 p_l) g_l`.  Negative for confident wrong predictions whenever
      :math:`\gamma > 0` (measured in ``docs/derivations.md``).
    * ``"gauss_newton"``: the diagonal of :math:`J^\top D J`, :math:`D =
      \mathrm{diag}(w v / p)` the score's curvature at :math:`y = p`
      (:math:`u = w v` in :func:`gradhess.kernels.reference.softmax_gauss_newton_diag`).
      Focal loss is not a proper score, so this is not its expected Hessian;
      it is positive semi-definite because :math:`v \ge 0` for every
      :math:`\gamma \ge 0`.
    * ``"majorizer"``: row sums of :math:`|G|`, O(K^2) per row.
    * ``"clip"``: ``"exact"`` floored at :math:`10^{-6} \bar w_i`;
      ``"constant"``: the weights.

    The default, ``"gauss_newton"``, was chosen from the study in
    ``docs/hessian_study.md``: within 6% of the best held-out score in every
    task x engine setting, where ``"clip"`` is slightly better on four and
    fails on one.  The intercept minimises the loss of a constant
    prediction: the root of its Lagrange condition, found to float64 precision
    (it is not the log prior unless ``gamma = 0``; ``docs/derivations.md``).

    Parameters
    ----------
    gamma : float >= 0, default 2.0
    hessian : {"exact", "gauss_newton", "majorizer", "clip", "constant"}, default "gauss_newton"
    hessian_scale : float > 0, default 1.0

    Examples
    --------
    >>> import numpy as np, gradhess
    >>> obj = gradhess.get("focal", gamma=0.0)
    >>> g, h = obj.gradient_hessian(np.array([0]), np.zeros((1, 2)))
    >>> g.tolist(), h.tolist()
    ([[-0.5, 0.5]], [[0.25, 0.25]])
    """

    name = "focal"
    default_hessian = "gauss_newton"
    params = (GAMMA,)
    is_proper = False
    kernels = Kernels(reference.focal_loss, reference.focal_gradient_hessian, reference.focal_init_raw,
                      compiled.focal)


@register
class BinaryFocal(BinaryObjective):
    r"""Binary focal loss on a sigmoid link, labels in [0, 1], focusing parameter ``gamma``.

    With :math:`a = \sigma(z)`, :math:`b = 1 - a`:

    .. math::

        L &= -w \left[y\, b^\gamma \log a + (1 - y)\, a^\gamma \log b\right], \\
        g &= w \left[y\, b^\gamma (\gamma a \log a - b) + (1 - y)\, a^\gamma (a - \gamma b \log b)\right], \\
        H &= w \left[y\, a b^\gamma \left(\gamma \log a\, (b - \gamma a) + (2\gamma + 1) b\right)
             + (1 - y)\, b a^\gamma \left(\gamma \log b\, (a - \gamma b) + (2\gamma + 1) a\right)\right].

    Hessian, by strategy: ``"exact"`` is :math:`H`, negative for confident wrong predictions when
    :math:`\gamma > 0`; ``"gauss_newton"`` and ``"majorizer"`` (equal for a
    1x1 matrix): :math:`w [a\, b^2 v(a) + b\, a^2 v(b)] \ge 0` with :math:`v` as
    in :class:`Focal`; ``"clip"``, ``"constant"`` as everywhere.  ``gamma = 0``
    is binary cross-entropy.

    Parameters
    ----------
    gamma : float >= 0, default 2.0
    hessian : {"exact", "gauss_newton", "majorizer", "clip", "constant"}, default "gauss_newton"
    hessian_scale : float > 0, default 1.0

    Examples
    --------
    >>> import numpy as np, gradhess
    >>> obj = gradhess.get("binary_focal", gamma=0.0)
    >>> g, h = obj.gradient_hessian(np.array([1.0]), np.array([0.0]))
    >>> g.tolist(), h.tolist()
    ([-0.5], [0.25])
    """

    name = "binary_focal"
    default_hessian = "gauss_newton"
    params = (GAMMA,)
    is_proper = False
    kernels = Kernels(reference.binary_focal_loss, reference.binary_focal_gradient_hessian, reference.binary_focal_init_raw,
                      compiled.binary_focal)
