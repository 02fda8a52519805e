r"""Objectives written as a score of the probabilities: the extension path.

A user (or a new built-in) defines a loss by the score :math:`S(y, p)` on the
probabilities, its gradient :math:`r = \nabla_p S` and the diagonal :math:`d`
of its curvature in :math:`p` at :math:`y = p`; the link's chain rule and every
Hessian strategy are derived here, once (``docs/extending.md``):

* gradient: softmax :math:`g_l = p_l (r_l - \sum_j p_j r_j)`; sigmoid
  :math:`g = r\, p (1 - p)`;
* ``"gauss_newton"``: the diagonal of :math:`J^\top \mathrm{diag}(d) J`
  (:func:`gradhess.kernels.reference.softmax_gauss_newton_diag` with
  :math:`u = d p`); sigmoid :math:`d\, (p (1 - p))^2`;
* ``"majorizer"``: the row sums of :math:`|J^\top \mathrm{diag}(d) J|`; for a
  sigmoid link the Gauss-Newton value;
* ``"exact"`` and ``"clip"``, when the class also gives ``score_hessian``
  (:math:`\nabla_p^2 S`): :math:`(J^\top B J)_{ll} + (1 - 2 p_l) g_l`;
* ``"constant"``: the weights.

These classes run on the NumPy path (the compiled kernels are the built-in
objectives' own) and get everything an objective gets: ``gradhess check``,
every engine adapter, the estimator, Dask and the CLI.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .. import hessians
from ..kernels import reference
from ._base import BinaryObjective, Kernels, SoftmaxObjective


def _strategies(cls) -> tuple[str, ...]:
    exact = ("exact", "clip") if "score_hessian" in dir(cls) else ()
    return tuple(s for s in hessians.STRATEGIES if s in ("gauss_newton", "majorizer", "constant")
                 or s in exact)


class _Score:
    """What both links share: the kernels are this instance's methods."""

    default_hessian: ClassVar[str] = "gauss_newton"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.hessian_strategies = _strategies(cls)

    @property
    def kernels(self) -> Kernels:  # type: ignore[override]
        return Kernels(self._loss_kernel, self._gradient_hessian_kernel, self._init_kernel)

    def _loss_kernel(self, y, z, w, *params):
        return self.score(y, self._proba(z), w)

    def _init_kernel(self, a, big_w, *params):
        if not self.is_proper:
            raise ValueError(f"{type(self).__name__} is not a proper score (is_proper = False): "
                             f"define init_raw_from_sums(a, big_w) to give its intercept")
        if self.is_multiclass:
            return reference.mean_label_init_raw(a, big_w)
        return reference.binary_init_raw(a, big_w)


class SoftmaxScore(_Score, SoftmaxObjective):
    """Base of a softmax objective given as a score of the probabilities.

    Define, on float64 NumPy arrays (``y`` an ``(n, K)`` probability matrix, ``p`` the
    softmax of the margins, ``w`` the weights, ``(n, 1)`` or ``(n, K)``; rows independent):

    * ``score(y, p, w)``: the weighted loss of each row, ``(n,)``;
    * ``score_gradient(y, p, w)``: :math:`\\partial S / \\partial p`, ``(n, K)``;
    * ``score_curvature(p, w)``: the diagonal of the score's curvature in ``p`` at
      ``y = p``, ``(n, K)``, never negative (for a proper score, its expected Hessian);
    * optionally ``score_hessian(y, p, w)``: :math:`\\nabla_p^2 S`, ``(n, K, K)``, which
      adds the ``"exact"`` and ``"clip"`` strategies.

    Set ``name`` (and :func:`gradhess.register` the class to have it in the registry),
    ``params`` for hyperparameters, ``is_proper`` (default True: the intercept is the log
    of the weighted mean label; a score that is not proper defines
    ``init_raw_from_sums``) and ``cell_weights``.
    """

    @staticmethod
    def _proba(z):
        return reference.softmax(z)

    def _gradient_hessian_kernel(self, y, z, w, strategy, *params):
        p, q, _, a = reference.softmax_parts(z)
        r = self.score_gradient(y, p, w)
        g = p * (r - (p * r).sum(axis=1, keepdims=True))
        if strategy == "exact":
            b = self.score_hessian(y, p, w)
            jac = p[:, :, None] * np.eye(p.shape[1]) - p[:, :, None] * p[:, None, :]
            return g, np.einsum("ilm,imn,inl->il", jac, b, jac) + (q - p) * g
        u = self.score_curvature(p, w) * p
        build = (reference.softmax_gauss_newton_diag if strategy == "gauss_newton"
                 else reference.softmax_majorizer_diag)
        return g, build(p, q, u, a)


class BinaryScore(_Score, BinaryObjective):
    """Base of a binary objective given as a score of the probability ``p = sigmoid(z)``.

    As :class:`SoftmaxScore`, on ``(n,)`` arrays: ``score(y, p, w)``,
    ``score_gradient(y, p, w)`` (:math:`\\partial S / \\partial p`), ``score_curvature(p,
    w)`` (at ``y = p``, never negative) and optionally ``score_hessian(y, p, w)``
    (:math:`\\partial^2 S / \\partial p^2`).
    """

    @staticmethod
    def _proba(z):
        return reference.sigmoid(z)

    def _gradient_hessian_kernel(self, y, z, w, strategy, *params):
        p = reference.sigmoid(z)
        var = reference.sigmoid_variance(z)
        r = self.score_gradient(y, p, w)
        g = r * var
        if strategy == "exact":
            return g, self.score_hessian(y, p, w) * var * var + g * (1.0 - 2.0 * p)
        return g, self.score_curvature(p, w) * var * var
