"""Scores for ordered classes and the spherical score, on a softmax link."""

from __future__ import annotations

from ..kernels import compiled, reference
from ._base import Kernels, SoftmaxObjective, register


@register
class RankedProbability(SoftmaxObjective):
    r"""Ranked probability score (Epstein, 1969) for ordered classes ``0 < 1 < ... < K-1``.

    With cumulative probabilities :math:`P_k = \sum_{j \le k} p_j`, cumulative
    labels :math:`Y_k` (class indices are ordinal labels; soft labels are
    distributions over the ordered classes) and one weight per row:

    .. math::

        L_i = \frac{w_i}{K - 1} \sum_{k=0}^{K-2} (P_{ik} - Y_{ik})^2, \qquad
        r_l = \frac{2 w_i}{K - 1} \sum_{k \ge l} (P_k - Y_k), \qquad
        g_l = p_l (r_l - \textstyle\sum_j p_j r_j).

    The score's Hessian in :math:`p`, :math:`B = \frac{2w}{K-1} C^\top C`
    (:math:`C` the cumulative sums), does not depend on the labels, so the
    Gauss-Newton matrix is :math:`G = J^\top B J` with
    :math:`G_{lm} = \frac{2w}{K-1} p_l p_m \sum_k ([l \le k] - P_k)([m \le k] - P_k)`.

    * ``"gauss_newton"``: :math:`G_{ll} = \frac{2w}{K-1} p_l^2 (\sum_{k<l} P_k^2 +
      \sum_{k \ge l} (1 - P_k)^2) \ge 0`.
    * ``"exact"``: :math:`G_{ll} + (1 - 2 p_l) g_l`, negative on a large share of
      inputs (``docs/derivations.md``).
    * ``"majorizer"``: row sums of :math:`|G|` (O(K^2) per row, from prefix sums).
    * ``"clip"``, ``"constant"``: as everywhere.

    The default, ``"gauss_newton"``, gave the best held-out scores in five of
    six task x engine settings of ``docs/hessian_study.md``; ``"exact"``
    diverges.  Per-cell weights are not defined (the score's terms are
    thresholds, not classes).  Proper: the intercept is the log of the weighted mean label.

    Parameters
    ----------
    hessian : {"exact", "gauss_newton", "majorizer", "clip", "constant"}, default "gauss_newton"
    hessian_scale : float > 0, default 1.0

    Examples
    --------
    >>> import numpy as np, gradhess
    >>> obj = gradhess.get("ranked_probability")
    >>> obj.loss(np.array([0]), np.zeros((1, 3))).round(4).tolist()
    [0.2778]
    """

    name = "ranked_probability"
    default_hessian = "gauss_newton"
    cell_weights = False
    kernels = Kernels(reference.ranked_probability_loss, reference.ranked_probability_gradient_hessian, reference.mean_label_init_raw,
                      compiled.ranked_probability)


@register
class Spherical(SoftmaxObjective):
    r"""Spherical score as a loss, hard or soft labels, one weight per row.

    With :math:`p = \mathrm{softmax}(z)`, :math:`N = \lVert p \rVert` and
    :math:`s = y \cdot p`:

    .. math::

        L_i = w_i \left(1 - \frac{y_i \cdot p_i}{\lVert p_i \rVert}\right), \qquad
        r = -w \left(\frac{y}{N} - \frac{s\, p}{N^3}\right), \qquad
        g_l = p_l r_l

    (:math:`r` is the score's gradient in :math:`p`, and :math:`p \cdot r = 0`).
    Its Hessian in :math:`p` is
    :math:`B = w [(y p^\top + p y^\top + s I) / N^3 - 3 s\, p p^\top / N^5]`.

    * ``"gauss_newton"``: at :math:`y = p`, :math:`D = w (I / N - p p^\top / N^3)`
      (with :math:`D p = 0`), so :math:`G_{ll} = w p_l^2 (N^2 - p_l^2) / N^3 \ge 0`.
    * ``"exact"``: :math:`p_l^2 B_{ll} + g_l`; negative on a large share of inputs.
    * ``"majorizer"``: :math:`2 G_{ll}` (the off-diagonal part of each row of
      :math:`|G|` sums to :math:`G_{ll}`).
    * ``"clip"``, ``"constant"``: as everywhere.

    Proper (strictly), one weight per row; the intercept is the log of the
    weighted mean label.  The default, ``"gauss_newton"``, gave the best
    held-out scores in all six task x engine settings of
    ``docs/hessian_study.md``.

    Parameters
    ----------
    hessian : {"exact", "gauss_newton", "majorizer", "clip", "constant"}, default "gauss_newton"
    hessian_scale : float > 0, default 1.0

    Examples
    --------
    >>> import numpy as np, gradhess
    >>> obj = gradhess.get("spherical")
    >>> obj.loss(np.array([0]), np.zeros((1, 2))).round(4).tolist()
    [0.2929]
    """

    name = "spherical"
    default_hessian = "gauss_newton"
    cell_weights = False
    kernels = Kernels(reference.spherical_loss, reference.spherical_gradient_hessian, reference.mean_label_init_raw,
                      compiled.spherical)
