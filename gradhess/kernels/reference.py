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

from .. import hessians

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
# Shared building blocks for softmax objectives
# --------------------------------------------------------------------------
def softmax_parts(z: np.ndarray):
    """``(p, q, lp, a)``: probabilities, complements ``1 - p``, log-probabilities, argmax.

    ``q`` and ``lp`` keep full relative precision where ``p`` rounds to 1: for
    the row's argmax ``a`` they come from the sum of the *other* exponentials
    (``q_a = rest / t``, ``lp_a = -log1p(rest)``) instead of ``1 - p_a`` and
    ``log(p_a)``; every other class has ``p <= 1/2``, where ``1 - p`` is exact
    to rounding.
    """
    n = z.shape[0]
    a = z.argmax(axis=1)
    rows = np.arange(n)
    s = z - z[rows, a][:, None]
    e = np.exp(s)
    e_other = e.copy()
    e_other[rows, a] = 0.0
    rest = e_other.sum(axis=1)
    t = 1.0 + rest
    p = e / t[:, None]
    q = 1.0 - p
    q[rows, a] = rest / t
    lp = s - np.log1p(rest)[:, None]
    return p, q, lp, a


def sum_others(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``c_l = sum_{m != l} x_m`` per row; exact-sum (not ``total - x_a``) for the argmax ``a``.

    Where one class dominates, ``total - x_a`` would keep nothing of the
    other classes, so the argmax column is summed explicitly.  For any other
    class ``total - x_l`` can still lose ``c_l`` to rounding of the total (when
    ``x_l`` is far below ``total``'s last digit); every caller multiplies
    ``c_l`` by ``p_l^2`` next to a term at least of its size, so the result
    keeps its relative precision (``docs/derivations.md``, numerical forms).
    """
    rows = np.arange(x.shape[0])
    total = x.sum(axis=1, keepdims=True)
    c = np.maximum(total - x, 0.0)
    xo = x.copy()
    xo[rows, a] = 0.0
    c[rows, a] = np.maximum(xo.sum(axis=1), 0.0)
    return c


def softmax_gauss_newton_diag(p, q, u, a, uq2=None):
    """Diagonal of ``G = J^T D J`` for a diagonal ``D`` with ``u = D p``.

    ``G_ll = u_l p_l (1 - 2 p_l) + p_l^2 c`` with ``c = sum_j u_j p_j``,
    evaluated as the sum of non-negative terms ``u_l q_l^2 p_l + p_l^2 c_{-l}``
    (``c_{-l}`` = the sum over the other classes, :func:`sum_others`), so
    that no rounding makes it negative and it keeps its relative precision
    when one class dominates.  ``uq2 = u q^2`` may be passed when ``u`` alone
    would overflow (focal loss near ``p = 1``).
    """
    u = np.broadcast_to(u, p.shape)
    if uq2 is None:
        uq2 = u * q * q
    return uq2 * p + p * p * sum_others(u * p, a)


def softmax_majorizer_diag(p, q, u, a, uq2=None):
    """Row sums of ``|G|`` for ``G = J^T diag(d) J``, ``u = d * p``.

    ``G_lm = [l == m] u_l p_l + p_l p_m (c - u_l - u_m)``, so::

        M_l = G_ll + sum_{m != l} p_l p_m |c - u_l - u_m|

    When ``u`` is constant within a row (cross-entropy with row weights) the
    sum has the closed form ``M_l = 2 u p_l (1 - p_l)``; otherwise it is
    evaluated in O(K^2) per row, in chunks of rows, with ``c - u_a - u_m``
    for the argmax ``a`` written as ``c_{-a} - u_a q_a - u_m``.
    """
    diag = softmax_gauss_newton_diag(p, q, u, a, uq2)
    if u.shape[1] == 1:
        # c = u, |c - 2u| = u, and sum_{m != l} p_m = 1 - p_l.
        return diag + u * p * q
    n, k = p.shape
    rows = np.arange(n)
    up = u * p
    c = up.sum(axis=1)
    ca = sum_others(up, a)[rows, a] - u[rows, a] * q[rows, a]  # c - u_a, stably
    off = np.empty_like(p)
    step = max(1, _CHUNK_ELEMENTS // (k * k))
    for start in range(0, n, step):
        sl = slice(start, start + step)
        pc, uc, cc, ac, cac = p[sl], u[sl], c[sl], a[sl], ca[sl]
        r = np.arange(pc.shape[0])
        d = cc[:, None, None] - uc[:, :, None] - uc[:, None, :]
        d[r, ac, :] = cac[:, None] - uc
        d[r, :, ac] = cac[:, None] - uc
        d = np.abs(d)
        d[:, np.arange(k), np.arange(k)] = 0.0  # the m == l term is G_ll itself
        off[sl] = pc * np.einsum("ilm,im->il", d, pc)
    return diag + off


def abs_row_sums(gm: np.ndarray) -> np.ndarray:
    """``M_l = sum_m |G_lm|`` for a batch of matrices ``(n, K, K)``."""
    return np.abs(gm).sum(axis=2)


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
    p, q, _, a = softmax_parts(z)
    wy = w * y
    s = wy.sum(axis=1, keepdims=True)
    g = s * p - wy
    if hessian == "exact":
        h = s * p * q
    elif hessian == "gauss_newton":
        h = softmax_gauss_newton_diag(p, q, w, a)
    else:
        h = softmax_majorizer_diag(p, q, w, a)
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
    p, q, _, a = softmax_parts(z)
    r = 2.0 * w * (p - y)
    g = p * (r - (p * r).sum(axis=1, keepdims=True))
    u = 2.0 * w * p
    if hessian == "exact":
        h = softmax_gauss_newton_diag(p, q, u, a) + (q - p) * g
    elif hessian == "gauss_newton":
        h = softmax_gauss_newton_diag(p, q, u, a)
    else:
        h = softmax_majorizer_diag(p, q, u, a)
    return g, h


# --------------------------------------------------------------------------
# Multiclass focal loss
# --------------------------------------------------------------------------
#: Focal-loss curvature terms of classes with ``1 - p`` below this are dropped: they only
#: multiply probabilities of other classes that are smaller still (see ``focal_terms``).
FOCAL_TINY = 1e-300


def focal_terms(p, q, lp, gamma):
    """Per-class pieces of ``f(p) = -(1 - p)^gamma log p`` (the focal term of one class).

    Returns ``(f, t, v, vq2)`` with ``t = p f'(p)``, ``v = p^2 f''(p)`` and
    ``vq2 = v (1 - p)^2``, written with ``phi = log(p) / (1 - p)`` (-> -1 as
    p -> 1)::

        f   = -q^gamma lp
        t   = q^gamma (gamma p phi - 1)
        v   = gamma p q^(gamma-1) (2 + (1 - gamma) p phi) + q^gamma
        vq2 = gamma p q^(gamma+1) (2 + (1 - gamma) p phi) + q^(gamma+2)

    ``v`` is unbounded as ``p -> 1`` when ``gamma < 1``; it only enters
    products with the probabilities of the other classes (each at most
    ``q``), so it is set to 0 where ``q < FOCAL_TINY`` (those products are
    below 1e-300) and ``vq2`` carries the class's own term.
    """
    safe_q = np.where(q > 0.0, q, 1.0)
    phi = np.where(q > 0.0, lp / safe_q, -1.0)
    qg = q ** gamma
    f = -qg * lp
    t = qg * (gamma * p * phi - 1.0)
    bracket = gamma * p * (2.0 + (1.0 - gamma) * p * phi)
    big = q >= FOCAL_TINY
    v = np.where(big, bracket * safe_q ** (gamma - 1.0), 0.0) + qg
    vq2 = bracket * q ** (gamma + 1.0) + qg * q * q
    return f, t, v, vq2


def focal_loss(y, z, w, gamma):
    """``L_i = -sum_j w_ij y_ij (1 - p_ij)^gamma log p_ij`` with ``0 log 0 = 0``."""
    p, q, lp, _ = softmax_parts(z)
    f, _, _, _ = focal_terms(p, q, lp, gamma)
    wy = w * y
    return np.where(wy != 0.0, wy * f, 0.0).sum(axis=1)


def focal_gradient_hessian(y, z, w, hessian, gamma):
    """Gradient ``g_l = w_l y_l t_l - p_l T`` with ``T = sum_j w_j y_j t_j``.

    ``exact``: ``w_l y_l v_l q_l^2 + p_l^2 sum_{m != l} w_m y_m v_m + (1 - 2 p_l) g_l``.
    ``gauss_newton``/``majorizer``: ``D = diag(w v / p)`` (the curvature at ``y = p``),
    ``u = w v``.
    """
    p, q, lp, a = softmax_parts(z)
    _, t, v, vq2 = focal_terms(p, q, lp, gamma)
    wy = w * y
    g = wy * t - p * (wy * t).sum(axis=1, keepdims=True)
    if hessian == "exact":
        h = wy * vq2 + p * p * sum_others(wy * v, a) + (q - p) * g
    else:
        wfull = np.broadcast_to(w, p.shape)
        build = softmax_gauss_newton_diag if hessian == "gauss_newton" else softmax_majorizer_diag
        h = build(p, q, wfull * v, a, wfull * vq2)
    return g, h


# --------------------------------------------------------------------------
# Ranked probability score (ordered classes)
# --------------------------------------------------------------------------
def _cumulative(p, y):
    """``P_k`` and ``U_k = 1 - P_k`` (as upper-tail sums) for k < K - 1, and ``P_k - Y_k``."""
    cp = np.cumsum(p, axis=1)[:, :-1]
    up = np.cumsum(p[:, ::-1], axis=1)[:, ::-1][:, 1:]
    d = cp - np.cumsum(y, axis=1)[:, :-1]
    return cp, up, d


def ranked_probability_loss(y, z, w):
    """``L_i = w_i / (K - 1) sum_{k < K-1} (P_ik - Y_ik)^2``, cumulative ``P``, ``Y``."""
    p = softmax(z)
    _, _, d = _cumulative(p, y)
    return w[:, 0] * (d * d).sum(axis=1) / (p.shape[1] - 1)


def ranked_probability_gauss_newton_matrix(p, cp, up, w):
    """``G = J^T B J``, ``B = 2 w / (K - 1) C^T C`` (``C`` the cumulative-sum rows).

    ``G_lm = 2 w / (K - 1) p_l p_m A_lm`` with, for ``l <= m``,
    ``A_lm = sum_{k < l} P_k^2 - sum_{l <= k < m} P_k U_k + sum_{k >= m} U_k^2``.
    """
    n, k = p.shape
    pp = np.concatenate([np.zeros((n, 1)), np.cumsum(cp * cp, axis=1)], axis=1)  # sum_{k<l}
    uu = np.concatenate([np.cumsum((up * up)[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
    pu = np.concatenate([np.zeros((n, 1)), np.cumsum(cp * up, axis=1)], axis=1)  # sum_{k<l}
    lo = np.minimum.outer(np.arange(k), np.arange(k))
    hi = np.maximum.outer(np.arange(k), np.arange(k))
    amat = pp[:, lo] - (pu[:, hi] - pu[:, lo]) + uu[:, hi]
    return (2.0 * w / (k - 1))[:, :, None] * p[:, :, None] * p[:, None, :] * amat


def ranked_probability_gradient_hessian(y, z, w, hessian):
    """Gradient ``p_l (r_l - sum_j p_j r_j)``, ``r_l = 2 w / (K - 1) sum_{k >= l} (P_k - Y_k)``.

    ``gauss_newton``: ``2 w / (K - 1) p_l^2 A_ll`` with ``A_ll = sum_{k < l} P_k^2 +
    sum_{k >= l} U_k^2`` (the score's Hessian in p does not depend on y).
    ``exact``: that plus ``(1 - 2 p_l) g_l``.  ``majorizer``: row sums of ``|G|``.
    """
    p, q, _, a = softmax_parts(z)
    n, k = p.shape
    cp, up, d = _cumulative(p, y)
    scale = 2.0 * w / (k - 1)
    suffix = np.concatenate([np.cumsum(d[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
    r = scale * suffix
    g = p * (r - (p * r).sum(axis=1, keepdims=True))
    if hessian == "majorizer":
        h = np.empty_like(p)
        step = max(1, _CHUNK_ELEMENTS // (k * k))
        for start in range(0, n, step):
            sl = slice(start, start + step)
            h[sl] = abs_row_sums(ranked_probability_gauss_newton_matrix(p[sl], cp[sl], up[sl], w[sl]))
        return g, h
    pp = np.concatenate([np.zeros((n, 1)), np.cumsum(cp * cp, axis=1)], axis=1)[:, :k]
    uu = np.concatenate([np.cumsum((up * up)[:, ::-1], axis=1)[:, ::-1], np.zeros((n, 1))], axis=1)
    h = scale * p * p * (pp + uu)
    if hessian == "exact":
        h = h + (q - p) * g
    return g, h


# --------------------------------------------------------------------------
# Spherical score
# --------------------------------------------------------------------------
def spherical_loss(y, z, w):
    """``L_i = w_i (1 - y_i . p_i / ||p_i||)``."""
    p = softmax(z)
    norm = np.sqrt((p * p).sum(axis=1))
    return w[:, 0] * (1.0 - (y * p).sum(axis=1) / norm)


def spherical_gradient_hessian(y, z, w, hessian):
    """With ``N = ||p||``, ``s = y . p``: ``r = -w (y / N - s p / N^3)``, ``p . r = 0``, so
    ``g_l = p_l r_l = w p_l (s p_l / N^2 - y_l) / N``.

    ``exact``: ``p_l^2 (B_ll - 2 (B p)_l + p^T B p) + (1 - 2 p_l) g_l = p_l^2 B_ll + g_l``
    (``B p = -r``, ``p^T B p = 0``) with
    ``B_ll = w (2 y_l p_l / N^3 + s / N^3 - 3 s p_l^2 / N^5)``.
    ``gauss_newton``: ``D = w (I / N - p p^T / N^3)`` (the curvature at ``y = p``, with
    ``D p = 0``), ``G_ll = w p_l^2 (N^2 - p_l^2) / N^3``.  ``majorizer``: ``2 G_ll`` (the
    off-diagonal row sum of ``|G|`` equals ``G_ll``).
    """
    p, _, _, a = softmax_parts(z)
    w = w[:, 0:1]
    n2 = (p * p).sum(axis=1, keepdims=True)
    nn = np.sqrt(n2)
    s = (y * p).sum(axis=1, keepdims=True)
    g = w * p * (s * p / n2 - y) / nn
    if hessian == "exact":
        b = w * (2.0 * y * p + s - 3.0 * s * p * p / n2) / (n2 * nn)
        return g, p * p * b + g
    h = w * p * p * sum_others(p * p, a) / (n2 * nn)
    if hessian == "majorizer":
        h = 2.0 * h
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
# A constant prediction's loss depends on the labels and weights only through the
# sums ``A_j = sum_i w_ij y_ij`` and ``W_j = sum_i w_ij`` (``(K,)`` arrays; floats for
# binary objectives), which is all these kernels take.
#: Probabilities are floored here before taking logs, so that a class that
#: never occurs (whose optimal margin is -inf) gets a finite intercept.
INIT_PROBA_FLOOR = 1e-12


def _log_floor(p):
    return np.log(np.maximum(p, INIT_PROBA_FLOOR))


def cross_entropy_init_raw(a, big_w):
    """``log(A_j / sum_k A_k)`` with ``A_j = sum_i w_ij y_ij`` (``W`` is not needed)."""
    a = np.asarray(a, dtype=np.float64)
    return _log_floor(a / a.sum())


def brier_init_raw(a, big_w):
    """Minimise ``sum_j W_j p_j^2 - 2 B_j p_j`` over the probability simplex.

    ``W_j = sum_i w_ij``, ``B_j = sum_i w_ij y_ij``.  KKT: ``p_j = max(0, (B_j -
    lam) / W_j)`` with ``lam`` such that the ``p_j`` sum to 1; the function is
    piecewise linear in ``lam`` with breakpoints at ``B_j``, solved exactly by
    walking the breakpoints in decreasing order.  Classes with ``W_j = 0`` are
    free: they take up any slack left when ``lam = 0``.  With row weights this
    is ``p = weighted mean of y``.
    """
    big_b = np.asarray(a, dtype=np.float64)
    big_w = np.asarray(big_w, dtype=np.float64)
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


def binary_init_raw(b, big_w):
    """``logit`` of the weighted mean label ``B / W`` (``B = sum_i w_i y_i``, ``W = sum_i
    w_i``; both binary scores are proper)."""
    m = float(b) / float(big_w)
    m = min(max(m, INIT_PROBA_FLOOR), 1.0 - INIT_PROBA_FLOOR)
    return float(np.log(m) - np.log1p(-m))


# --------------------------------------------------------------------------
# Binary focal loss
# --------------------------------------------------------------------------
def _binary_focal_parts(z, gamma):
    """``a = p``, ``b = 1 - p``, ``log a``, ``log b`` for ``p = sigmoid(z)``, all stable."""
    a, b = sigmoid(z), sigmoid(-z)
    return a, b, -softplus(-z), -softplus(z)


def binary_focal_loss(y, z, w, gamma):
    """``L_i = -w_i [y_i (1 - p_i)^gamma log p_i + (1 - y_i) p_i^gamma log(1 - p_i)]``."""
    a, b, la, lb = _binary_focal_parts(z, gamma)
    pos = np.where(y != 0.0, y * b ** gamma * la, 0.0)
    neg = np.where(y != 1.0, (1.0 - y) * a ** gamma * lb, 0.0)
    return -w * (pos + neg)


def binary_focal_gradient_hessian(y, z, w, hessian, gamma):
    """With ``a = p``, ``b = 1 - p``::

        g = w [y b^gamma (gamma a log a - b) + (1 - y) a^gamma (a - gamma b log b)]
        H = w [y a b^gamma (gamma log a (b - gamma a) + (2 gamma + 1) b)
               + (1 - y) b a^gamma (gamma log b (a - gamma b) + (2 gamma + 1) a)]

    ``gauss_newton``/``majorizer`` (1x1): ``w [a (b^2 v(a)) + b (a^2 v(b))]`` with
    ``x^2 v(x)`` the ``vq2`` of :func:`focal_terms` at ``p = x``.
    """
    a, b, la, lb = _binary_focal_parts(z, gamma)
    ag, bg = a ** gamma, b ** gamma
    g = w * (y * bg * (gamma * a * la - b) + (1.0 - y) * ag * (a - gamma * b * lb))
    if hessian == "exact":
        h = w * (y * a * bg * (gamma * la * (b - gamma * a) + (2.0 * gamma + 1.0) * b)
                 + (1.0 - y) * b * ag * (gamma * lb * (a - gamma * b) + (2.0 * gamma + 1.0) * a))
    else:
        _, _, _, vq2_a = focal_terms(a, b, la, gamma)
        _, _, _, vq2_b = focal_terms(b, a, lb, gamma)
        h = w * (a * vq2_a + b * vq2_b)
    return g, h


def mean_label_init_raw(a, big_w):
    """``log`` of the weighted mean label row: the constant minimiser of every proper score
    whose optimum over the simplex is the mean (Brier, RPS, spherical with row weights)."""
    return cross_entropy_init_raw(a, big_w)


def _focal_slope(u, gamma):
    """``f'(p)`` of ``f(p) = -(1 - p)^gamma log p`` at ``p = sigmoid(u)``, and its
    derivative in ``u``, ``f''(p) p (1 - p)``.  The logit ``u`` keeps ``p`` and ``1 - p``
    to full relative precision at both ends."""
    p, q, lp, _ = _binary_focal_parts(u, gamma)
    qg1 = q ** (gamma - 1.0)
    slope = gamma * qg1 * lp - q * qg1 / p
    curvature = -gamma * (gamma - 1.0) * qg1 * p * lp + 2.0 * gamma * q * qg1 + q * q * qg1 / p
    return slope, curvature


def _increasing_root(fun, lo, hi, x, iterations=200):
    """Elementwise root of an increasing ``fun`` (returning value and derivative) with
    ``fun(lo) < 0 < fun(hi)``: Newton steps from ``x`` inside the bracket that each
    evaluation shrinks, a bisection instead where a step would leave the bracket or
    would not be under half the step before last (so that the bracket at least halves
    every other step, where Newton steps crawl), until the steps reach the float64
    resolution of ``x``."""
    lo, hi = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
    x = np.clip(np.array(x, dtype=np.float64), lo, hi)
    step = before = hi - lo
    for _ in range(iterations):
        value, slope = fun(x)
        lo = np.where(value < 0, x, lo)
        hi = np.where(value > 0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            newton = x - value / slope
            fast = np.abs(newton - x) <= 0.5 * np.abs(before)
        # (a step below the resolution of x leaves it where it is: converged)
        take = (((newton > lo) & (newton < hi)) | (newton == x)) & fast
        nxt = np.where(value == 0, x, np.where(take, newton, 0.5 * (lo + hi)))
        before, step = step, nxt - x
        if np.all(np.abs(step) <= 4 * np.finfo(np.float64).eps * np.abs(x)):
            return nxt
        x = nxt
    return x


#: The logits the focal intercepts are sought between (p from 1e-304 to 1 - 1e-304).
_FOCAL_LOGIT_RANGE = 700.0


def _focal_constant_log_p(a, gamma):
    """``log p`` minimising ``sum_k a_k f(p_k)`` over the simplex (``a > 0``, summing to 1;
    ``f`` as in :func:`_focal_slope`), from its Lagrange condition ``a_k f'(p_k) = lam``
    for every class: for a given ``lam < 0`` each ``p_k`` solves ``f'(p_k) = lam / a_k``
    (``f'`` increases from -inf to 0), and ``lam = -exp(s)`` is the one at which they sum
    to 1 (their sum falls as ``s`` grows).  Both are solved by :func:`_increasing_root`,
    the classes' logits warm-started from the previous ``s``."""
    r = _FOCAL_LOGIT_RANGE
    u = np.log(a)  # the log prior's logits, near the answer for small gamma
    state = {"u": u}

    def logits(s):
        target = -np.exp(s) / a

        def f(v):
            slope, curvature = _focal_slope(v, gamma)
            return slope - target, curvature

        state["u"] = _increasing_root(f, np.full(a.shape, -r), np.full(a.shape, r), state["u"])
        return state["u"], target

    def excess(s):  # 1 - sum_k p_k (increasing in s) and its derivative
        v, target = logits(float(s))
        p = sigmoid(v)
        _, curvature = _focal_slope(v, gamma)
        # d p_k / d s = p_k (1 - p_k) d v_k / d s, with d v_k / d s = target_k / curvature_k
        return 1.0 - p.sum(), -(p * (1.0 - p) * target / curvature).sum()

    s0 = np.log(-(a * _focal_slope(np.log(a), gamma)[0]).mean())
    s = _increasing_root(excess, -r, r, s0)
    v, _ = logits(float(s))
    return -softplus(-v)


def focal_init_raw(a, big_w, gamma):
    """Margins minimising ``sum_k A_k f(p_k)``, ``A_k = sum_i w_ik y_ik``: the log prior for
    ``gamma = 0``, else the minimiser over the simplex (:func:`_focal_constant_log_p`);
    classes without label mass keep the floored margin."""
    a = np.asarray(a, dtype=np.float64)
    ybar = a / a.sum()
    z0 = _log_floor(ybar)
    free = ybar > 0
    if gamma == 0.0 or free.sum() < 2:
        return z0
    z = z0.copy()
    z[free] = _focal_constant_log_p(ybar[free], gamma)
    return z - z.max() + z0.max()


def binary_focal_init_raw(b, big_w, gamma):
    """The margin minimising the weighted binary focal loss of a constant prediction,
    ``m f(a) + (1 - m) f(1 - a)`` with ``m = b / big_w``: the root of its derivative's
    factor ``m f'(a) - (1 - m) f'(1 - a)``, increasing in the margin (``f`` as in
    :func:`_focal_slope`), by :func:`_increasing_root` from ``logit(m)``."""
    m = float(b) / float(big_w)
    z0 = binary_init_raw(b, big_w)
    if gamma == 0.0 or m in (0.0, 1.0):
        return float(z0)

    def factor(u):
        s_a, c_a = _focal_slope(u, gamma)
        s_b, c_b = _focal_slope(-u, gamma)
        return m * s_a - (1.0 - m) * s_b, m * c_a + (1.0 - m) * c_b

    r = _FOCAL_LOGIT_RANGE
    return float(_increasing_root(factor, -r, r, z0))

# --------------------------------------------------------------------------
# The NumPy backend: the compiled kernels' arguments, these kernels behind them
# --------------------------------------------------------------------------
def run(kernels, multiclass: bool, params: tuple, raw, offset, *args) -> int:
    """Compute what a compiled kernel computes, from the same arguments (see
    :func:`gradhess.kernels.compiled.run`), with the NumPy kernels of ``kernels`` (a
    :class:`gradhess.objectives.Kernels`): ``args`` are the labels (softmax: a float64
    matrix, class indices, ``(n, 1)`` or ``(n, K)`` weights, the unused ones empty;
    binary: labels and ``(n,)`` weights), the label smoothing, for a gradient the strategy
    code, ``hessian_scale`` and the clip floor, the compiled kernels' parameter vector
    (``params`` holds the objective's own) and the outputs (``g, h``, or the per-row
    losses), which are filled.  Returns the number of rows with a non-finite margin
    (the outputs are then left as they were)."""
    labels, rest = (args[:3], args[3:]) if multiclass else (args[:2], args[2:])
    alpha, outputs = rest[0], rest[-2:] if len(rest) == 7 else rest[-1:]
    with np.errstate(over="ignore"):  # an overflowing offset is reported, not warned about
        z = raw.astype(np.float64) + offset
    finite = np.isfinite(z).all(axis=1) if multiclass else np.isfinite(z)
    n = z.shape[0]
    bad = n - int(finite.sum())
    if bad or n == 0:
        return bad
    if multiclass:
        ym, yi, w = labels
        k = z.shape[1]
        if ym.shape[0] == 0:
            y = np.zeros((n, k))
            y[np.arange(n), yi] = 1.0
        else:
            y = ym
        w = np.ones((n, 1)) if w.shape[0] == 0 else w
    else:
        y, w = labels
        k = 2
        w = np.ones(n) if w.shape[0] == 0 else w
    if alpha:
        y = (1.0 - alpha) * y + alpha / k
    if len(outputs) == 1:
        outputs[0][...] = kernels.loss(y, z, w, *params)
        return 0
    strategy = hessians.STRATEGIES[rest[1]]
    g, h = kernels.gradient_hessian(y, z, w, hessians.kernel_strategy(strategy), *params)
    row_weight = w.mean(axis=1, keepdims=True) if multiclass else w
    outputs[0][...] = g
    outputs[1][...] = hessians.finalize(h, strategy, rest[2], row_weight, w)
    return 0
