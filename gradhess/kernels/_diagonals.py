"""The Hessian diagonals that several softmax cores share: Gauss-Newton and majorizer.

A core with weights ``u`` per cell (``G = J^T diag(u / p) J``) forms two row sums,
:func:`gauss_newton_sums`, and takes its Gauss-Newton diagonal from them
(:func:`gauss_newton_from_sums`) or its majorizer (:func:`majorizer_diag`), which adds the
absolute off-diagonal entries pair by pair.  Sums over the other classes,
``sum_{m != l} x_m`` (``reference.sum_others``), are the sum over all classes minus
``x_l`` (clamped at 0), but for the argmax, whose sum is taken explicitly: no
cancellation when ``p_argmax`` is near 1.

Scratch of a block (``B`` rows): ``vec`` is ``(VEC_ROWS, B)``, rows 0 to 4 a core's own
and :data:`SUM_ALL`, :data:`SUM_OTHERS` the two sums; ``work`` is ``(WORK_SLOTS, K, B)``,
a core's own ``(K, B)`` blocks.
"""

from __future__ import annotations

from numba import njit

from ._numerics import JIT

#: Rows of ``vec``: a core's five, then the two sums of :func:`gauss_newton_sums`.
VEC_ROWS = 7
SUM_ALL, SUM_OTHERS = 5, 6
#: ``(K, B)`` blocks of ``work``, the most a core takes (the ranked probability score).
WORK_SLOTS = 5


@njit(inline="always", **JIT)
def gauss_newton_sums(p, u, a, nb, vec):
    """``c = sum_m u_m p_m`` into ``vec[SUM_ALL]`` and the same sum without the argmax into
    ``vec[SUM_OTHERS]``.  Cores that compute ``u`` class by class add to these sums in that
    pass instead."""
    k = p.shape[0]
    total = vec[SUM_ALL]
    other = vec[SUM_OTHERS]
    for r in range(nb):
        total[r] = 0.0
        other[r] = 0.0
    for j in range(k):
        for r in range(nb):
            up = u[j, r] * p[j, r]
            total[r] += up
            other[r] += up if j != a[r] else 0.0


@njit(inline="always", **JIT)
def gauss_newton_from_sums(p, u, uq2, a, h, nb, vec):
    """``h_l = u_l q_l^2 p_l + p_l^2 sum_{m != l} u_m p_m`` (``G = J^T diag(u / p) J``)
    from the sums of :func:`gauss_newton_sums` (the argmax's sum over the others summed
    explicitly, the others' as ``c - u_l p_l``)."""
    k = p.shape[0]
    total = vec[SUM_ALL]
    other = vec[SUM_OTHERS]
    for j in range(k):
        for r in range(nb):
            up = u[j, r] * p[j, r]
            o = max(other[r], 0.0) if j == a[r] else max(total[r] - up, 0.0)
            h[j, r] = uq2[j, r] * p[j, r] + p[j, r] * p[j, r] * o


@njit(inline="always", **JIT)
def swap_first(a, p, u, h, nb):
    """Swap class ``a[r]`` and class 0 of every row ``r`` in ``p``, ``u`` and ``h`` (its own
    inverse)."""
    for r in range(nb):
        ar = a[r]
        p[0, r], p[ar, r] = p[ar, r], p[0, r]
        u[0, r], u[ar, r] = u[ar, r], u[0, r]
        h[0, r], h[ar, r] = h[ar, r], h[0, r]


@njit(inline="always", **JIT)
def majorizer_diag(p, q, u, uq2, a, h, nb, vec):
    """Row sums of ``|G|``: ``G_ll + sum_{m != l} p_l p_m |c - u_l - u_m|``, from the sums of
    :func:`gauss_newton_sums` (formed by the caller)."""
    k = p.shape[0]
    gauss_newton_from_sums(p, u, uq2, a, h, nb, vec)
    # ca = c - u_a, from the sum without the argmax: no cancellation
    c = vec[SUM_ALL]
    ca = vec[SUM_OTHERS]
    for r in range(nb):
        ca[r] -= u[a[r], r] * q[a[r], r]
    # |G| is symmetric: each pair once, added to both rows.  The argmax is swapped into
    # class 0 (and back after), so that the K^2 loop needs no per-row branch for it
    swap_first(a, p, u, h, nb)
    for m in range(1, k):
        for r in range(nb):
            t = p[0, r] * p[m, r] * abs(ca[r] - u[m, r])
            h[0, r] += t
            h[m, r] += t
    for l in range(1, k):  # noqa: E741
        for m in range(l + 1, k):
            for r in range(nb):
                t = p[l, r] * p[m, r] * abs(c[r] - u[l, r] - u[m, r])
                h[l, r] += t
                h[m, r] += t
    swap_first(a, p, u, h, nb)
