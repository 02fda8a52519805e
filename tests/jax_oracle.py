"""An independent oracle: each loss written in jax.numpy from its definition.

Nothing here imports gradhess.  Gradients come from ``jax.grad``, the exact
Hessian diagonal from ``jax.hessian``, and the Gauss-Newton matrix from
``jax.jacobian`` of the link and ``jax.hessian`` of the score in probability
space: ``G = J^T D J`` with ``D`` the score's curvature at ``y = p``.
"""

from __future__ import annotations

import inspect
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

def _smooth(y, k, params):
    a = params.get("label_smoothing", 0.0)
    return (1.0 - a) * y + a / k


def _identity(y, k, params):
    return y


def _log_score(y, q, w):
    return -jnp.sum(jnp.where(y * w != 0, w * y * jnp.log(q), 0.0))


def _binary_log_score(y, q, w):
    return -w * (jnp.where(y != 0, y * jnp.log(q), 0.0) + jnp.where(y != 1, (1 - y) * jnp.log1p(-q), 0.0))


def _focal_score(y, q, w, gamma, comp=None):
    """``comp``: ``1 - q`` where the caller has it more accurately than ``1 - q`` rounds."""
    comp = 1 - q if comp is None else comp
    return -jnp.sum(jnp.where(y * w != 0, w * y * comp ** gamma * jnp.log(q), 0.0))


def _binary_focal_score(y, q, w, gamma):
    return -w * (jnp.where(y != 0, y * (1 - q) ** gamma * jnp.log(q), 0.0)
                 + jnp.where(y != 1, (1 - y) * q ** gamma * jnp.log1p(-q), 0.0))


def _rps_score(y, q, w, gamma):
    d = (jnp.cumsum(q) - jnp.cumsum(y))[:-1]
    return w[0] * jnp.sum(d ** 2) / (q.shape[0] - 1)


def _spherical_score(y, q, w, gamma):
    return w[0] * (1.0 - jnp.dot(y, q) / jnp.sqrt(jnp.sum(q ** 2)))


def _log_complement(z):
    """``log(1 - softmax(z)_j)`` for every j: ``log1p(-p_j)`` where ``p_j < 1/2``, else
    ``logsumexp`` over the other classes minus ``logsumexp`` over all (the standard
    ``log1mexp`` split; the double ``where`` keeps the unused branch's derivatives finite)."""
    k = z.shape[0]
    lp = jax.nn.log_softmax(z)
    small = lp < -jnp.log(2.0)
    safe_lp = jnp.where(small, lp, -1.0)
    others = 1.0 - jnp.eye(k)
    lse_others = jax.vmap(lambda b: jax.nn.logsumexp(z, b=b))(others)
    return jnp.where(small, jnp.log1p(-jnp.exp(safe_lp)), lse_others - jax.nn.logsumexp(z))


def _focal_row(z, y, w, gamma):
    lp = jax.nn.log_softmax(z)
    return -jnp.sum(w * y * jnp.exp(gamma * _log_complement(z)) * lp)


def _binary_focal_row(z, y, w, gamma):
    la, lb = jax.nn.log_sigmoid(z), jax.nn.log_sigmoid(-z)
    return -w * (y * jnp.exp(gamma * lb) * la + (1 - y) * jnp.exp(gamma * la) * lb)


# name -> (link, score S(y, q, w, gamma) of one row in probability space, label transform)
SCORES = {
    "cross_entropy": ("softmax", lambda y, q, w, gamma: _log_score(y, q, w), _smooth),
    "brier": ("softmax", lambda y, q, w, gamma: jnp.sum(w * (q - y) ** 2), _identity),
    "binary_cross_entropy": ("sigmoid", lambda y, q, w, gamma: _binary_log_score(y, q, w), _smooth),
    "binary_brier": ("sigmoid", lambda y, q, w, gamma: w * (q - y) ** 2, _identity),
    "focal": ("softmax", _focal_score, _identity),
    "binary_focal": ("sigmoid", _binary_focal_score, _identity),
    "ranked_probability": ("softmax", _rps_score, _identity),
    "spherical": ("softmax", _spherical_score, _identity),
    # tests/user_objectives.py (g: its power)
    "power_score": ("softmax", lambda y, q, w, g: jnp.sum(w * ((g - 1) * q ** g - g * y * q ** (g - 1) + y)), _identity),
    "binary_power_score": ("sigmoid", lambda y, q, w, g: w * ((g - 1) * (q ** g + (1 - q) ** g) - g * (y * q ** (g - 1) + (1 - y) * (1 - q) ** (g - 1)) + 1), _identity),
}

# name -> the loss of one row as a function of its margins (and gamma), written stably
ROW_LOSSES = {
    "cross_entropy": lambda z, y, w, gamma: -jnp.sum(w * y * jax.nn.log_softmax(z)),
    "brier": lambda z, y, w, gamma: jnp.sum(w * (jax.nn.softmax(z) - y) ** 2),
    "binary_cross_entropy": lambda z, y, w, gamma: -w * (y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z)),
    "binary_brier": lambda z, y, w, gamma: w * (jax.nn.sigmoid(z) - y) ** 2,
    "focal": _focal_row,
    "binary_focal": _binary_focal_row,
    "ranked_probability": lambda z, y, w, gamma: _rps_score(y, jax.nn.softmax(z), w, gamma),
    "spherical": lambda z, y, w, gamma: _spherical_score(y, jax.nn.softmax(z), w, gamma),
}

#: Default parameters of parametrised losses (the objectives' defaults); a loss's one shape
#: parameter (``gamma`` or ``power``) reaches its score as its fourth argument.
DEFAULTS = {"focal": {"gamma": 2.0}, "binary_focal": {"gamma": 2.0},
            "power_score": {"power": 3.0}, "binary_power_score": {"power": 3.0}}


def _shape_arg(name):
    """The keyword under which a score takes its shape parameter."""
    return list(inspect.signature(SCORES[name][1]).parameters)[3]


@partial(jax.jit, static_argnums=(0, 4))
def _softmax_oracle(name, z, y, w, gamma):
    score = partial(SCORES[name][1], **{_shape_arg(name): gamma})
    loss_fn = partial(ROW_LOSSES[name], gamma=gamma) if name in ROW_LOSSES else (
        lambda z, y, w: score(y, jax.nn.softmax(z), w))

    def row(z, y, w):
        loss = loss_fn(z, y, w)
        grad = jax.grad(loss_fn)(z, y, w)
        hess = jnp.diag(jax.hessian(loss_fn)(z, y, w))
        p = jax.nn.softmax(z)
        jac = jax.jacobian(jax.nn.softmax)(z)
        # The score's curvature at q = p, differentiated in the step dq from p: 1 - q is then
        # (1 - p) - dq with 1 - p from the log-complement, exact where p rounds to 1 (the
        # focal score's (1 - q)^gamma has a curvature that 1 - q = 0 makes 0 * inf for
        # gamma < 2).
        c = jnp.exp(_log_complement(z))
        if name == "focal":
            d = jax.hessian(lambda dq: score(jax.lax.stop_gradient(p), p + dq, w,
                                             comp=c - dq))(jnp.zeros_like(p))
        else:
            d = jax.hessian(lambda q: score(jax.lax.stop_gradient(p), q, w))(p)
        # A probability that underflowed to 0 contributes 0 (its Jacobian row is 0), and so
        # does one whose complement underflowed to 0 (its Jacobian entries are the other
        # classes' probabilities, 0 then); mask both so that an infinite curvature does not
        # turn that 0 into NaN.
        pos = (p > 0) & (c > 0)
        d = jnp.where(pos[:, None] & pos[None, :], d, 0.0)
        gn = jac.T @ d @ jac
        return loss, grad, hess, gn

    return jax.vmap(row)(z, y, w)


@partial(jax.jit, static_argnums=(0, 4))
def _sigmoid_oracle(name, z, y, w, gamma):
    score = partial(SCORES[name][1], **{_shape_arg(name): gamma})
    loss_fn = partial(ROW_LOSSES[name], gamma=gamma) if name in ROW_LOSSES else (
        lambda z, y, w: score(y, jax.nn.sigmoid(z), w))

    def row(z, y, w):
        loss = loss_fn(z, y, w)
        grad = jax.grad(loss_fn)(z, y, w)
        hess = jax.hessian(loss_fn)(z, y, w)
        p = jax.nn.sigmoid(z)
        jac = jax.grad(jax.nn.sigmoid)(z)
        d = jax.hessian(lambda q: score(jax.lax.stop_gradient(p), q, w))(p)
        d = jnp.where((p > 0) & (p < 1), d, 0.0)
        gn = jac * d * jac
        return loss, grad, hess, gn

    return jax.vmap(row)(z, y, w)


def oracle(name, y, z, w, params=None):
    """Loss, gradient, exact Hessian diagonal and Gauss-Newton matrix, in float64.

    ``y``: (n, K) probability rows or (n,) binary labels; ``w``: (n,), (n, K) or None.
    Returns numpy arrays: loss (n,), grad, hess_diag, gn (n, K, K) — or (n,) for binary.
    """
    params = {**DEFAULTS.get(name, {}), **(params or {})}
    gamma = float(params.get("gamma", params.get("power", 0.0)))
    link, _, transform = SCORES[name]
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = z.shape[0]
    if link == "softmax":
        k = z.shape[1]
        w = np.ones((n, k)) if w is None else np.broadcast_to(
            np.asarray(w, np.float64).reshape(n, -1), (n, k)
        )
        y = transform(y, k, params)
        out = _softmax_oracle(name, jnp.asarray(z), jnp.asarray(y), jnp.asarray(w), gamma)
    else:
        w = np.ones(n) if w is None else np.asarray(w, np.float64)
        y = transform(y, 2, params)
        out = _sigmoid_oracle(name, jnp.asarray(z), jnp.asarray(y), jnp.asarray(w), gamma)
    return tuple(np.asarray(a) for a in out)


def strategy_hessian(name, strategy, y, z, w, params=None, clip_floor=1e-6):
    """The Hessian a strategy should return, from the oracle."""
    _, _, hess, gn = oracle(name, y, z, w, params)
    z = np.asarray(z)
    if gn.ndim == 1:  # binary: 1x1 matrices
        gn_diag = maj = gn
        wbar = np.ones(z.shape[0]) if w is None else np.asarray(w, np.float64)
    else:
        gn_diag = np.diagonal(gn, axis1=1, axis2=2)
        maj = np.abs(gn).sum(axis=2)
        wbar = (np.ones((z.shape[0], 1)) if w is None
                else np.asarray(w, np.float64).reshape(z.shape[0], -1).mean(axis=1, keepdims=True))
    return {
        "exact": hess,
        "gauss_newton": gn_diag,
        "majorizer": maj,
        "clip": np.maximum(hess, clip_floor * wbar),
        "constant": np.broadcast_to(1.0 if w is None else
                                    np.asarray(w, np.float64).reshape(z.shape[0], *([-1] * (z.ndim - 1))),
                                    z.shape),
    }[strategy]
