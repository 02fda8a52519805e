"""NumPy reference kernels.

These are the plain, readable implementations of every objective: the fallback
path and the oracle that faster kernels are compared against.  They follow one
contract:

* inputs are already validated and converted to float64 by the objective class:
  ``y`` is an ``(n, K)`` probability matrix (``(n,)`` for binary objectives),
  ``z`` the raw margins of the same shape, ``w`` the weights broadcastable to
  ``z`` (``(n, 1)`` row weights or ``(n, K)`` cell weights; ``(n,)`` for binary);
* they compute in float64 and return new float64 arrays; casting to the
  caller's dtype and writing into out arrays is the objective's job;
* they never validate and never import an engine.

The softmax objectives share two building blocks, :func:`softmax_gauss_newton_diag`
and :func:`softmax_majorizer_diag`; see :mod:`gradhess.hessians` for the math.
"""

from __future__ import annotations

import numpy as np

# Rows are processed in chunks of this many matrix elements where a kernel
# needs an (n, K, K) temporary (the majorizer), to bound memory.
_CHUNK_ELEMENTS = 1 << 22


# --------------------------------------------------------------------------
# Links
# --------------------------------------------------------------------------
def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stabilised by subtracting the row maximum."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax: ``s - log(sum(exp(s)))`` with ``s = z - max(z)``."""
    s = z - z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function without overflow: uses ``exp(-|z|)`` only."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_variance(z: np.ndarray) -> np.ndarray:
    """``p (1 - p)`` for ``p = sigmoid(z)``, as ``e / (1 + e)**2`` with ``e = exp(-|z|)``.

    Computing ``p * (1 - p)`` directly loses every digit of ``1 - p`` once
    ``p`` rounds to 1 (``z > 37`` in float64); this form keeps full relative
    precision for all ``z``.
    """
    e = np.exp(-np.abs(z))
    return e / (1.0 + e) ** 2


def softplus(z: np.ndarray) -> np.ndarray:
    """``log(1 + exp(z))`` without overflow (``-log_sigmoid(-z)``)."""
    return np.logaddexp(0.0, z)


# --------------------------------------------------------------------------
# Shared Hessian building blocks for softmax objectives
# --------------------------------------------------------------------------
def softmax_gauss_newton_diag(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Diagonal of ``G = J^T diag(d) J`` with ``J`` the softmax Jacobian.

    ``u = d * p`` (broadcastable to ``p``).  With ``c = sum_j u_j p_j``::

        G_ll = u_l p_l (1 - 2 p_l) + p_l^2 c
             = u_l p_l (1 - p_l)^2 + p_l^2 (c - u_l p_l)

    The second form is a sum of non-negative terms (``c - u_l p_l`` is the sum
    over the other classes); it is evaluated with ``c - u_l p_l`` floored at 0,
    so rounding cannot make the result negative when one class dominates.
    """
    up = u * p
    c = up.sum(axis=1, keepdims=True)
    return up * (1.0 - p) ** 2 + p * p * np.maximum(c - up, 0.0)


def softmax_majorizer_diag(p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Row sums of ``|G|`` for ``G = J^T diag(d) J``, ``u = d * p``.

    ``G_lm = [l == m] u_l p_l + p_l p_m (c - u_l - u_m)``, so::

        D_l = G_ll + sum_{m != l} p_l p_m |c - u_l - u_m|

    When ``u`` is constant within a row (cross-entropy with row weights) the
    sum has the closed form ``D_l = 2 u p_l (1 - p_l)``; otherwise it is
    evaluated in O(K^2) per row, in chunks of rows.
    """
    diag = softmax_gauss_newton_diag(p, u)
    if u.shape[1] == 1:
        # c = u, |c - 2u| = u, and sum_{m != l} p_m = 1 - p_l.
        return diag + u * p * (1.0 - p)
    n, k = p.shape
    u = np.broadcast_to(u, p.shape)
    c = (u * p).sum(axis=1, keepdims=True)
    off = np.empty_like(p)
    step = max(1, _CHUNK_ELEMENTS // (k * k))
    for start in range(0, n, step):
        sl = slice(start, start + step)
        pc, uc, cc = p[sl], u[sl], c[sl]
        a = np.abs(cc[:, :, None] - uc[:, :, None] - uc[:, None, :])
        a[:, np.arange(k), np.arange(k)] = 0.0  # the m == l term is G_ll itself
        off[sl] = pc * np.einsum("ilm,im->il", a, pc)
    return diag + off


# --------------------------------------------------------------------------
# Softmax cross-entropy
# --------------------------------------------------------------------------
def cross_entropy_loss(y, z, w):
    """``L_i = -sum_j w_ij y_ij log softmax(z_i)_j`` with ``0 log 0 = 0``."""
    wy = w * y
    terms = np.where(wy != 0.0, wy * log_softmax(z), 0.0)
    return -terms.sum(axis=1)


def cross_entropy_gradient_hessian(y, z, w, hessian):
    """Gradient ``s p - w y`` with ``s = sum_j w_j y_j``; Hessian diagonal by strategy.

    ``exact``: ``s p (1 - p)``.  ``gauss_newton``/``majorizer``: from
    ``G = J^T diag(w / p) J`` (the expected Hessian of the log score), i.e.
    ``u = w``.
    """
    p = softmax(z)
    wy = w * y
    s = wy.sum(axis=1, keepdims=True)
    g = s * p - wy
    if hessian == "exact":
        h = s * p * (1.0 - p)
    elif hessian == "gauss_newton":
        h = softmax_gauss_newton_diag(p, w)
    else:
        h = softmax_majorizer_diag(p, w)
    return g, h


# --------------------------------------------------------------------------
# Multiclass Brier score
# --------------------------------------------------------------------------
def brier_loss(y, z, w):
    """``L_i = sum_j w_ij (softmax(z_i)_j - y_ij)^2``."""
    p = softmax(z)
    return (w * (p - y) ** 2).sum(axis=1)


def brier_gradient_hessian(y, z, w, hessian):
    """Gradient ``p_l (r_l - sum_j p_j r_j)`` with ``r = 2 w (p - y)``.

    ``gauss_newton``/``majorizer``: from ``G = J^T diag(2 w) J``, ``u = 2 w p``.
    ``exact``: ``G_ll + (1 - 2 p_l) g_l``.
    """
    p = softmax(z)
    r = 2.0 * w * (p - y)
    g = p * (r - (p * r).sum(axis=1, keepdims=True))
    u = 2.0 * w * p
    if hessian == "exact":
        h = softmax_gauss_newton_diag(p, u) + (1.0 - 2.0 * p) * g
    elif hessian == "gauss_newton":
        h = softmax_gauss_newton_diag(p, u)
    else:
        h = softmax_majorizer_diag(p, u)
    return g, h


# --------------------------------------------------------------------------
# Binary objectives on a sigmoid link (1x1 Hessian: majorizer == Gauss-Newton)
# --------------------------------------------------------------------------
def binary_cross_entropy_loss(y, z, w):
    """``L_i = -w_i [y_i log p_i + (1 - y_i) log(1 - p_i)]``, ``p = sigmoid(z)``."""
    return w * (y * softplus(-z) + (1.0 - y) * softplus(z))


def binary_cross_entropy_gradient_hessian(y, z, w, hessian):
    """Gradient ``w (p - y)``; every strategy's Hessian is ``w p (1 - p)``."""
    g = w * (sigmoid(z) - y)
    h = w * sigmoid_variance(z)
    return g, h


def binary_brier_loss(y, z, w):
    """``L_i = w_i (p_i - y_i)^2``, ``p = sigmoid(z)``."""
    return w * (sigmoid(z) - y) ** 2


def binary_brier_gradient_hessian(y, z, w, hessian):
    """Gradient ``2 w (p - y) v`` with ``v = p (1 - p)``.

    ``gauss_newton``/``majorizer``: ``2 w v^2``.  ``exact``: ``2 w v^2 + 2 w (p - y) v (1 - 2 p)``.
    """
    p = sigmoid(z)
    v = sigmoid_variance(z)
    g = 2.0 * w * (p - y) * v
    h = 2.0 * w * v * v
    if hessian == "exact":
        h = h + g * (1.0 - 2.0 * p)
    return g, h


# --------------------------------------------------------------------------
# Intercepts: the constant margin that minimises the weighted loss
# --------------------------------------------------------------------------
#: Probabilities are floored here before taking logs, so that a class that
#: never occurs (whose optimal margin is -inf) gets a finite intercept.
INIT_PROBA_FLOOR = 1e-12


def _log_floor(p):
    return np.log(np.maximum(p, INIT_PROBA_FLOOR))


def cross_entropy_init_raw(y, w):
    """``log(A_j / sum_k A_k)`` with ``A_j = sum_i w_ij y_ij``."""
    a = (np.broadcast_to(w, y.shape) * y).sum(axis=0)
    return _log_floor(a / a.sum())


def brier_init_raw(y, w):
    """Minimise ``sum_j W_j p_j^2 - 2 B_j p_j`` over the probability simplex.

    ``W_j = sum_i w_ij``, ``B_j = sum_i w_ij y_ij``.  KKT: ``p_j = max(0, (B_j -
    lam) / W_j)`` with ``lam`` such that the ``p_j`` sum to 1; the function is
    piecewise linear in ``lam`` with breakpoints at ``B_j``, solved exactly by
    walking the breakpoints in decreasing order.  Classes with ``W_j = 0`` are
    free: they take up any slack left when ``lam = 0``.  With row weights this
    is ``p = weighted mean of y``.
    """
    wfull = np.broadcast_to(w, y.shape)
    big_w = wfull.sum(axis=0)
    big_b = (wfull * y).sum(axis=0)
    weighted = big_w > 0
    bw, ww = big_b[weighted], big_w[weighted]
    order = np.argsort(-bw)
    b_sorted, w_sorted = bw[order], ww[order]
    lam = None
    num = den = 0.0
    for k in range(len(b_sorted)):
        num += b_sorted[k] / w_sorted[k]
        den += 1.0 / w_sorted[k]
        cand = (num - 1.0) / den
        nxt = b_sorted[k + 1] if k + 1 < len(b_sorted) else -np.inf
        if cand >= nxt:
            lam = cand
            break
    p = np.zeros_like(big_w)
    free = ~weighted
    if free.any() and (lam is None or lam < 0.0):
        lam = 0.0
    pw = np.maximum(0.0, (bw - lam) / ww)
    p[weighted] = pw
    if free.any():
        p[free] = max(0.0, 1.0 - pw.sum()) / free.sum()
    return _log_floor(p)


def binary_init_raw(y, w):
    """``logit`` of the weighted mean label (both binary scores are proper)."""
    m = float((w * y).sum() / w.sum())
    m = min(max(m, INIT_PROBA_FLOOR), 1.0 - INIT_PROBA_FLOOR)
    return float(np.log(m) - np.log1p(-m))
