"""Derivative checks by finite differences, shared by the tests and ``gradhess check``.

Everything here uses only an objective's public methods (``loss``,
``gradient_hessian``, ``predict_proba``), so it verifies any class with that
method set, not only the registered ones:

* the gradient against 4th-order central differences of ``loss``, one class
  column at a time;
* ``"exact"`` against central differences of the gradient;
* ``"gauss_newton"`` and ``"majorizer"`` against the Hessian matrix of
  ``z' -> loss(y=predict_proba(z), z')`` at ``z' = z``, obtained by central
  differences of its gradient, minus the link term ``sum_j rho_j d^2 p_j``
  (:func:`_link_curvature`, from the finite-difference gradient of the same
  function): what is left is the Gauss-Newton matrix ``J^T D J`` with ``D``
  the score's curvature at ``y = p``.  For a proper score the link term
  vanishes.  Label smoothing would move the labels ``p`` to
  ``(1 - alpha) p + alpha / K``, so this is differenced without it: the
  target is then the prediction itself.  Its diagonal and its absolute row
  sums are what the two strategies return;
* ``"clip"`` against ``max(exact, CLIP_FLOOR * row weight)``; ``"constant"``
  against the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import hessians

#: Finite-difference step on the margins.
FD_STEP = 1e-3
#: A check passes when the error (see :func:`relative_error`) is at most this.
FD_TOLERANCE = 1e-5
#: Absolute floor of :func:`relative_error` for finite differences, as a
#: fraction of the row's weight: central differences of a loss of size ``|L|``
#: carry an absolute error near ``eps |L| / h``, which no relative test can beat
#: on entries that are close to zero.
FD_ROW_FLOOR = 1e-3


def relative_error(actual, expected, row_scale, tau: float) -> float:
    """``max |a - e| / (|e| + tau * row_scale)`` over all entries.

    ``row_scale`` is the natural size of a row's values (its mean weight); the
    floor ``tau * row_scale`` keeps entries that are zero up to rounding from
    dividing by zero.  ``tiny`` of the dtype is added for rows of weight zero.  A NaN or
    infinite entry on either side makes the error infinite (a failure, never skipped);
    arrays of different shapes raise ``ValueError``.
    """
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:  # never compare by broadcasting
        raise ValueError(f"actual has shape {a.shape}, expected {e.shape}")
    scale = np.asarray(row_scale, dtype=np.float64)
    if a.ndim == 2 and scale.ndim == 1:
        scale = scale[:, None]
    if a.size == 0:
        return 0.0
    denom = np.abs(e) + tau * scale + np.finfo(np.asarray(actual).dtype).tiny
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.abs(a - e) / denom
    return float(r.max()) if np.isfinite(r).all() else float("inf")


def central_difference(f: Callable[[np.ndarray], np.ndarray], z: np.ndarray, column: int | None,
                       h: float = FD_STEP) -> np.ndarray:
    """4th-order central difference of ``f`` w.r.t. ``z[:, column]`` (or ``z`` if 1-D).

    ``(f(z - 2h) - 8 f(z - h) + 8 f(z + h) - f(z + 2h)) / (12 h)``, all rows at once
    (rows are independent).
    """
    def shifted(step):
        zz = z.copy()
        if column is None:
            zz += step
        else:
            zz[:, column] += step
        return np.asarray(f(zz), dtype=np.float64)

    return (shifted(-2 * h) - 8 * shifted(-h) + 8 * shifted(h) - shifted(2 * h)) / (12 * h)


def _columns(z: np.ndarray):
    return [None] if z.ndim == 1 else range(z.shape[1])


def fd_gradient(obj, y, z, w) -> np.ndarray:
    """Central differences of ``obj.loss`` (one column at a time)."""
    if z.ndim == 1:
        return central_difference(lambda zz: obj.loss(y, zz, w), z, None)
    return np.stack([central_difference(lambda zz: obj.loss(y, zz, w), z, c)
                     for c in _columns(z)], axis=1)


def fd_hessian_matrix(obj, y, z, w) -> np.ndarray:
    """Central differences of ``obj``'s gradient: ``(n, K, K)``, or ``(n,)`` for binary."""
    def grad(zz):
        return obj.gradient_hessian(y, zz, w)[0]

    if z.ndim == 1:
        return central_difference(grad, z, None)
    cols = [central_difference(grad, z, c) for c in _columns(z)]
    return np.stack(cols, axis=2)  # [i, l, m] = d g_l / d z_m


def _diag(m: np.ndarray) -> np.ndarray:
    return m if m.ndim == 1 else np.diagonal(m, axis1=1, axis2=2).copy()


def _abs_row_sums(m: np.ndarray) -> np.ndarray:
    return np.abs(m) if m.ndim == 1 else np.abs(m).sum(axis=2)


def expected_hessian(obj, strategy: str, y, z, w, gradient_obj=None) -> np.ndarray:
    """What ``obj`` (configured with ``strategy``) should return, by finite differences.

    See the module docstring.  Gradients are differenced from ``gradient_obj``
    (default ``obj``): the gradient does not depend on the strategy, so a
    caller can pass an instance whose Hessian is cheap to compute.
    """
    scale = float(getattr(obj, "hessian_scale", 1.0))
    gobj = obj if gradient_obj is None else gradient_obj
    if strategy in ("exact", "clip"):
        h = _diag(fd_hessian_matrix(gobj, y, z, w))
        if strategy == "clip":
            floor = getattr(obj, "clip_floor", hessians.CLIP_FLOOR)
            rw = row_weight(w, z)
            h = np.maximum(h, floor * (rw if h.ndim == 1 else rw[:, None]))
    elif strategy in ("gauss_newton", "majorizer"):
        p = np.asarray(obj.predict_proba(z), dtype=np.float64)
        gobj = _without_smoothing(gobj)
        gn = fd_hessian_matrix(gobj, p, z, w) - _link_curvature(fd_gradient(gobj, p, z, w), p)
        # The Gauss-Newton matrix is symmetric; average out finite-difference noise.
        if gn.ndim == 3:
            gn = 0.5 * (gn + gn.transpose(0, 2, 1))
        h = _diag(gn) if strategy == "gauss_newton" else _abs_row_sums(gn)
    elif strategy == "constant":
        rw = np.ones(z.shape) if w is None else np.broadcast_to(
            np.asarray(w, np.float64).reshape(z.shape[0], *([-1] * (z.ndim - 1))), z.shape)
        h = np.array(rw)
    else:
        raise ValueError(f"no finite-difference check for hessian strategy {strategy!r}")
    return h * scale


def _without_smoothing(obj):
    """``obj`` with its label smoothing at 0 (``obj`` itself when it has none)."""
    if not getattr(obj, "label_smoothing", 0.0):
        return obj
    return type(obj)(**{**obj.get_params(deep=False), "label_smoothing": 0.0})


def _link_curvature(g0: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``sum_j rho_j d^2 p_j / dz^2`` for the ``rho`` with ``J^T rho = g0`` (the link term).

    For a score whose Hessian in probability space is affine in ``y`` (all registered
    ones), the Hessian of ``L(y = p0, z)`` at ``z0`` is
    ``J^T D J + sum_j rho_j d^2 p_j``, with ``rho`` the score's gradient in
    probability space at ``y = p0`` and ``g0 = J^T rho`` the gradient of
    ``L(y = p0, .)``.  The second term depends on ``rho`` only through ``g0``:
    ``[l == m] g0_l - p_m g0_l - p_l g0_m`` for a softmax (``g0 (1 - 2 p)`` for a
    sigmoid), so subtracting it leaves the Gauss-Newton matrix ``J^T D J``.  For
    a proper score with row weights ``g0 = 0`` and nothing is subtracted.
    """
    if g0.ndim == 1:
        return g0 * (1.0 - 2.0 * p)
    k = p.shape[1]
    return (np.eye(k)[None] * g0[:, :, None] - g0[:, :, None] * p[:, None, :]
            - p[:, :, None] * g0[:, None, :])


def row_weight(w, z) -> np.ndarray:
    """Each row's mean weight (ones without weights): the scale of its derivatives."""
    n = z.shape[0]
    if w is None:
        return np.ones(n)
    w = np.asarray(w, dtype=np.float64)
    return w if w.ndim == 1 else w.mean(axis=1)


def random_margins(rng: np.random.Generator, n: int, k: int | None) -> np.ndarray:
    """Margins mixing moderate rows and extreme rows (near +-1e3, some near ties)."""
    shape = (n,) if k is None else (n, k)
    z = rng.normal(size=shape) * 3.0
    q = n // 4
    z[q:2 * q] *= 10.0
    sign = rng.choice([-1.0, 1.0], size=z[3 * q:].shape)
    z[3 * q:] = sign * 1e3 + rng.normal(size=z[3 * q:].shape) * 2.0
    return z


def random_labels(rng: np.random.Generator, n: int, k: int | None, kind: str) -> np.ndarray:
    """``hard``: class indices (or {0, 1}); ``soft``: probability rows with exact zeros."""
    if k is None:
        if kind == "hard":
            return rng.integers(0, 2, size=n).astype(np.float64)
        y = rng.uniform(size=n)
        y[rng.uniform(size=n) < 0.2] = 0.0
        y[rng.uniform(size=n) < 0.2] = 1.0
        return y
    if kind == "hard":
        return rng.integers(0, k, size=n)
    y = rng.dirichlet(np.full(k, 0.5), size=n)
    y[rng.uniform(size=(n, k)) < 0.3] = 0.0
    y[np.arange(n), rng.integers(0, k, size=n)] += 1e-3  # no all-zero rows
    y[: n // 8] = np.eye(k)[rng.integers(0, k, size=n // 8)]  # some one-hot rows
    return y / y.sum(axis=1, keepdims=True)


def random_weights(rng: np.random.Generator, n: int, k: int | None, kind: str | None):
    """``None``, ``"row"`` (n,) or ``"cell"`` (n, K) weights, a few of them zero."""
    if kind is None:
        return None
    shape = (n,) if kind == "row" or k is None else (n, k)
    w = rng.uniform(0.5, 2.0, size=shape)
    w[rng.uniform(size=shape) < 0.05] = 0.0
    return w


@dataclass
class CheckResult:
    """One row of the ``gradhess check`` table."""

    objective: str
    strategy: str
    gradient_error: float
    hessian_error: float
    negative_fraction: float
    promises_nonnegative: bool
    #: What could not be checked: "loss not finite" (the finite differences have no
    #: reference), "gradient not finite", "hessian not finite".
    nonfinite: tuple[str, ...] = ()
    #: Where the first negative Hessian of a strategy that promises none was, and where the
    #: first non-finite value was ("row 3, class 1 of K = 10 (labels ...)"), or "".
    first_negative: str = ""
    first_nonfinite: str = ""

    @property
    def passed(self) -> bool:
        ok = self.gradient_error <= FD_TOLERANCE and self.hessian_error <= FD_TOLERANCE
        if self.promises_nonnegative and self.negative_fraction > 0:
            ok = False
        return ok


def check_objective(name: str, factory: Callable[[str], object], strategies, *, is_multiclass: bool,
                    n_rows: int = 200, classes=(3, 10), seed: int = 0) -> list[CheckResult]:
    """Check ``factory(strategy)`` for each strategy on random float64 inputs.

    Hard and soft labels, row weights, margins up to +-1e3, every K in
    ``classes`` (one binary problem when ``is_multiclass`` is false).  Errors are
    the maxima over all problems.
    """
    rng = np.random.default_rng(seed)
    problems = []
    for k in (classes if is_multiclass else [None]):
        for kind in ("hard", "soft"):
            z = random_margins(rng, n_rows, k)
            y = random_labels(rng, n_rows, k, kind)
            w = random_weights(rng, n_rows, k, "row")
            problems.append((y, z, w))
    results = []
    gradient_obj = factory(strategies[0])
    for strategy in strategies:
        obj = factory(strategy)
        g_err = h_err = 0.0
        negative = total = 0
        nonfinite = set()
        first_negative = first_nonfinite = ""
        for y, z, w in problems:
            scale = row_weight(w, z)
            g, h = obj.gradient_hessian(y, z, w)
            with np.errstate(all="ignore"):
                fd = fd_gradient(obj, y, z, w)
                expected = expected_hessian(obj, strategy, y, z, w, gradient_obj)
            for what, x in (("loss", fd), ("gradient", g), ("hessian", h)):
                bad = ~np.isfinite(np.asarray(x, dtype=np.float64))
                if bad.any():
                    nonfinite.add(what)
                    first_nonfinite = first_nonfinite or f"{what} at {_where(bad, y)}"
            if strategy in hessians.NONNEGATIVE and not first_negative:
                below = np.asarray(h) < 0
                if below.any():
                    first_negative = _where(below, y)
            g_err = max(g_err, relative_error(g, fd, scale, FD_ROW_FLOOR))
            h_err = max(h_err, relative_error(h, expected, scale, FD_ROW_FLOOR))
            negative += int((np.asarray(h) < 0).sum())
            total += np.asarray(h).size
        results.append(CheckResult(name, strategy, g_err, h_err, negative / max(total, 1),
                                   strategy in hessians.NONNEGATIVE,
                                   tuple(f"{what} not finite" for what in ("loss", "gradient", "hessian")
                                         if what in nonfinite), first_negative, first_nonfinite))
    return results


def _where(mask: np.ndarray, y) -> str:
    """The first true cell of ``mask`` (rows, and classes for a 2-D mask), and its labels."""
    cell = np.argwhere(mask)[0]
    where = f"row {cell[0]}" + (f", class {cell[1]} of K = {mask.shape[1]}" if mask.ndim == 2 else "")
    return f"{where} (labels {np.asarray(y)[cell[0]]})"


def _verdict(r: CheckResult) -> str:
    if r.passed:
        return "ok"
    why = list(r.nonfinite)
    if r.first_nonfinite:
        why.append(f"first: {r.first_nonfinite}")
    if r.promises_nonnegative and r.negative_fraction > 0:
        why.append(f"negative hessian, first at {r.first_negative}")
    return f"FAIL ({'; '.join(why)})" if why else "FAIL"


def format_table(results: list[CheckResult]) -> str:
    """A Markdown table of check results."""
    lines = [
        "| objective | hessian | gradient rel. error | hessian rel. error | negative hessian | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.objective} | {r.strategy} | {r.gradient_error:.2e} | {r.hessian_error:.2e} "
            f"| {100 * r.negative_fraction:.1f}% | {_verdict(r)} |"
        )
    return "\n".join(lines)
