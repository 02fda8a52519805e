"""Shaping soft targets: temperature, blending with hard labels, label smoothing."""

from __future__ import annotations

import numpy as np

from . import _validation as v


def soft_labels(proba, temperature: float = 1.0, hard_labels=None, alpha: float = 0.0,
                smoothing: float = 0.0) -> np.ndarray:
    r"""Turn predicted probabilities (a teacher's, annotators' votes) into training targets.

    Applied in this order, each step keeping every row a probability vector:

    1. temperature :math:`T > 0`: :math:`q_j \propto p_j^{1/T}`; ``T < 1`` sharpens
       (an under-confident teacher), ``T > 1`` softens; zeros stay zero;
    2. ``alpha`` in [0, 1] with ``hard_labels`` (class indices):
       :math:`(1 - \alpha)\, q + \alpha\, e_{y}`;
    3. ``smoothing`` in [0, 1): :math:`(1 - s)\, q + s / K`.

    Parameters
    ----------
    proba : (n, K) array of probability rows
    temperature : float > 0, default 1.0
    hard_labels : (n,) class indices, needed when ``alpha > 0``
    alpha : float in [0, 1], default 0.0
    smoothing : float in [0, 1), default 0.0

    Returns
    -------
    (n, K) float64 array of probability rows.

    Examples
    --------
    >>> import numpy as np
    >>> from gradhess import soft_labels
    >>> soft_labels(np.array([[0.6, 0.3, 0.1]]), temperature=0.5).round(3).tolist()
    [[0.783, 0.196, 0.022]]
    >>> soft_labels(np.array([[0.6, 0.3, 0.1]]), hard_labels=[1], alpha=0.5).round(3).tolist()
    [[0.3, 0.65, 0.05]]
    """
    p = v.as_numeric("proba", proba)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"proba must be an (n_samples, n_classes) matrix with K >= 2; got shape {p.shape}")
    v.check_probabilities("proba", p, rows_sum_to_one=True)
    p = p.astype(np.float64)
    t = v.check_number("temperature", temperature, "(0, inf)", low=0.0, low_open=True)
    a = v.check_number("alpha", alpha, "[0, 1]", low=0.0, high=np.nextafter(1.0, 2.0))
    s = v.check_number("smoothing", smoothing, "[0, 1)", low=0.0, high=1.0)
    n, k = p.shape
    if t != 1.0:
        with np.errstate(divide="ignore"):
            logp = np.log(p) / t
        logp -= logp.max(axis=1, keepdims=True)
        q = np.exp(logp)
        q /= q.sum(axis=1, keepdims=True)
    else:
        q = p / p.sum(axis=1, keepdims=True)
    if hard_labels is not None or a > 0:
        if hard_labels is None:
            raise ValueError(f"alpha = {a} blends with hard labels: pass hard_labels")
        y = v.as_numeric("hard_labels", hard_labels)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"hard_labels must have shape ({n},); got shape {y.shape}")
        idx = v.check_class_labels(y, k, name="hard_labels")
        q = (1.0 - a) * q
        q[np.arange(n), idx] += a
    if s:
        q = (1.0 - s) * q + s / k
    return q
