"""Objectives of a user's own, outside the package: what docs/extending.md shows.

The power score (Tsallis 1988; Gneiting and Raftery 2007, eq. 22), strictly proper for
``power > 1`` and the Brier score, less a constant, at ``power = 2``:
``S(y, p) = sum_j (power - 1) p_j^power - power y_j p_j^(power - 1) + y_j``.
"""

from __future__ import annotations

import numpy as np

import gradhess

POWER = gradhess.Param("power", 3.0, "[3, inf)", 3.0, grid=(4.5,),
                       doc="the exponent; 2 would be the Brier score")


class PowerScore(gradhess.SoftmaxScore):
    """The power score on a softmax link, one weight per row."""

    name = "power_score"
    params = (POWER,)
    cell_weights = False

    def score(self, y, p, w):
        a = self.power
        return (w * ((a - 1) * p ** a - a * y * p ** (a - 1) + y)).sum(axis=1)

    def score_gradient(self, y, p, w):
        a = self.power
        return w * a * (a - 1) * p ** (a - 2) * (p - y)

    def score_curvature(self, p, w):
        a = self.power
        return w * a * (a - 1) * p ** (a - 2) * np.ones_like(p)

    def score_hessian(self, y, p, w):
        a = self.power
        label_term = 0.0 if a == 2 else (a - 2) * y * p ** (a - 3)  # (0 * inf at a = 2)
        d = w * a * (a - 1) * ((a - 1) * p ** (a - 2) - label_term)
        return d[:, :, None] * np.eye(p.shape[1])


class BinaryPowerScore(gradhess.BinaryScore):
    """The power score of a binary outcome (both classes counted), on a sigmoid link."""

    name = "binary_power_score"
    params = (POWER,)

    def score(self, y, p, w):
        a = self.power
        q = 1 - p
        return w * ((a - 1) * (p ** a + q ** a) - a * (y * p ** (a - 1) + (1 - y) * q ** (a - 1)) + 1)

    def score_gradient(self, y, p, w):
        a = self.power
        q = 1 - p
        return w * a * (a - 1) * (p ** (a - 2) * (p - y) - q ** (a - 2) * (q - (1 - y)))

    def score_curvature(self, p, w):
        a = self.power
        return w * a * (a - 1) * (p ** (a - 2) + (1 - p) ** (a - 2))

    def score_hessian(self, y, p, w):
        a = self.power
        q = 1 - p
        return w * a * (a - 1) * ((a - 1) * (p ** (a - 2) + q ** (a - 2))
                                  - (a - 2) * (y * p ** (a - 3) + (1 - y) * q ** (a - 3)))
