"""A CatBoost objective that does no work: the floor of CatBoost's per-object call path.

Kept in its own module because CatBoost's numba step reads the method's source.
"""

import numpy as np
from catboost import MultiTargetCustomObjective


class NoWorkObjective(MultiTargetCustomObjective):
    """Returns fixed derivatives; compiled by CatBoost's numba step like gradhess's objective."""

    def calc_ders_multi(self, approxes, targets, weight):
        k = approxes.shape[0]
        g = np.empty(k)
        hess = np.zeros((k, k))
        for j in range(k):
            g[j] = targets[j] - 0.5
            hess[j, j] = -0.25
        return g, hess
