"""Input checks, done once at the boundary of every public method.

Each check raises ``ValueError`` naming the argument, what was received and,
where rows are concerned, the first offending row.  Kernels never validate.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: Tolerance on ``|sum_j y_ij - 1|`` for soft-label rows, by label dtype.
SUM_TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-6}


def _first_row(mask: np.ndarray) -> int:
    """Index of the first row where ``mask`` (1-D or 2-D) is true."""
    if mask.ndim > 1:
        mask = mask.any(axis=tuple(range(1, mask.ndim)))
    return int(np.flatnonzero(mask)[0])


def as_numeric(name: str, a) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == bool:
        return arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.number)) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must be a real numeric array; got dtype {arr.dtype}")
    return arr


def check_finite(name: str, arr: np.ndarray) -> None:
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            row = _first_row(bad)
            raise ValueError(
                f"{name} contains NaN or inf (first at row {row}: {_row_repr(arr, row)})"
            )


def _row_repr(arr: np.ndarray, row: int) -> str:
    value = arr[row]
    if np.ndim(value) == 0:
        return repr(value.item())
    text = np.array2string(np.asarray(value), threshold=8, precision=6)
    return text


def check_raw(raw, *, multiclass: bool, finite: bool = True) -> np.ndarray:
    """Margins: ``(n, K)`` with K >= 2 (softmax) or ``(n,)`` (binary); finite (unless
    ``finite=False``: then the kernels find non-finite margins as they read them).

    Returns a float32 or float64 array (other dtypes become float64).
    """
    arr = as_numeric("raw", raw)
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if multiclass:
        if arr.ndim != 2:
            raise ValueError(
                f"raw must be a 2-D array of margins with shape (n_samples, n_classes); "
                f"got shape {arr.shape}"
            )
        if arr.shape[1] < 2:
            raise ValueError(
                f"raw has shape {arr.shape}: K = {arr.shape[1]}, but a softmax objective "
                f"needs K >= 2 classes (use a binary objective for one margin per row)"
            )
    elif arr.ndim != 1:
        raise ValueError(
            f"raw must be a 1-D array of margins with shape (n_samples,) for a binary "
            f"objective; got shape {arr.shape}"
        )
    if finite:
        check_finite("raw", arr)
    return arr


def class_count(y: np.ndarray) -> int:
    """K for finite class indices ``y`` (1-D, not empty): ``max(y) + 1``, with a clear error
    where that is no class count (a negative or a huge largest index)."""
    top = y.max()
    if not (0 <= top < 2**62):
        raise ValueError(f"y holds class indices up to {top.item()!r}: class indices are 0..K-1")
    return int(top) + 1


def check_count(name: str, value) -> int:
    """A class count: a whole number (not a bool), returned as int."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, float, np.floating)) \
            or not float(value).is_integer():
        raise ValueError(f"{name} must be a whole number; got {value!r}")
    return int(value)


def check_class_labels(y: np.ndarray, n_classes: int, *, copy: bool = True,
                       name: str = "y") -> np.ndarray:
    """Integer class indices in ``[0, n_classes)``; returns int64 (with ``copy=False``,
    int64 indices as they are).  ``name``: the argument, for the messages."""
    if y.dtype.kind == "f":
        check_finite(name, y)
        frac = y != np.round(y)
        if frac.any():
            row = _first_row(frac)
            raise ValueError(
                f"{name} holds class indices (1-D), which must be integers; got {y[row].item()!r} "
                f"at row {row} (pass an (n_samples, n_classes) matrix for soft labels)"
            )
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        row = _first_row(bad)
        raise ValueError(
            f"{name} has a class index outside [0, {n_classes - 1}] for K = {n_classes} classes: "
            f"{y[row].item()!r} at row {row}"
        )
    return y.astype(np.int64, copy=copy)


def check_probabilities(name: str, y: np.ndarray, *, rows_sum_to_one: bool) -> None:
    """Values in [0, 1], finite, and (for a matrix) rows that sum to 1."""
    check_finite(name, y)
    bad = (y < 0) | (y > 1)
    if bad.any():
        row = _first_row(bad)
        raise ValueError(
            f"{name} must hold probabilities in [0, 1]; got {_row_repr(y, row)} at row {row}"
        )
    if rows_sum_to_one and y.shape[0]:
        tol = SUM_TOLERANCE.get(y.dtype, 1e-6)
        sums = y.sum(axis=1, dtype=np.float64)
        off = np.abs(sums - 1.0) > tol
        if off.any():
            row = _first_row(off)
            raise ValueError(
                f"{name} rows must sum to 1 (tolerance {tol:g}); row {row} sums to "
                f"{sums[row]:.10g}"
            )


def check_softmax_labels(y, n: int, k: int, *, compact: bool = False) -> np.ndarray:
    """Labels for a softmax objective: ``(n,)`` class indices or ``(n, K)`` probabilities.

    Returns an ``(n, K)`` float64 probability matrix; with ``compact``, int64 class
    indices for 1-D labels and the (float32 or float64) matrix itself for soft labels
    (given arrays of those dtypes are returned as they are, not copied).
    """
    arr = as_numeric("y", y)
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise ValueError(f"y has {arr.shape[0]} rows but raw has {n} (shape {(n, k)})")
        idx = check_class_labels(arr, k, copy=not compact)
        if compact:
            return idx
        onehot = np.zeros((n, k), dtype=np.float64)
        onehot[np.arange(n), idx] = 1.0
        return onehot
    if arr.ndim == 2:
        if arr.shape != (n, k):
            raise ValueError(
                f"y has shape {arr.shape} but raw has shape {(n, k)}: soft labels need one "
                f"probability per row and class (mismatched "
                f"{'class count' if arr.shape[0] == n else 'row count'})"
            )
        check_probabilities("y", arr, rows_sum_to_one=True)
        if compact and arr.dtype in (np.float32, np.float64):
            return arr
        return arr.astype(np.float64)
    raise ValueError(
        f"y must be (n_samples,) class indices or an (n_samples, n_classes) probability "
        f"matrix; got shape {arr.shape}"
    )


def check_binary_labels(y, n: int, *, copy: bool = True) -> np.ndarray:
    """Labels for a binary objective: ``(n,)`` values in [0, 1]; returns float64 (with
    ``copy=False``, float64 labels as they are)."""
    arr = as_numeric("y", y)
    if arr.ndim != 1:
        raise ValueError(
            f"y must be a 1-D array of labels in [0, 1] with shape (n_samples,) for a "
            f"binary objective; got shape {arr.shape}"
        )
    if arr.shape[0] != n:
        raise ValueError(f"y has {arr.shape[0]} rows but raw has {n}")
    check_probabilities("y", arr, rows_sum_to_one=False)
    return arr.astype(np.float64, copy=copy)


def check_sample_weight(sample_weight, n: int, k: int | None, *,
                        copy: bool = True, against: str = "raw") -> np.ndarray | None:
    """Weights: ``(n,)`` per row, or ``(n, K)`` per cell (softmax only); finite, >= 0.

    Returns float64, ``(n, 1)`` or ``(n, K)`` for softmax objectives, ``(n,)``
    for binary ones; ``None`` when no weights were given.  With ``copy=False``, float64
    weights are returned as they are (a view), not copied.  ``against``: the argument
    that ``n`` and ``K`` come from, for the messages.
    """
    if sample_weight is None:
        return None
    arr = as_numeric("sample_weight", sample_weight)
    if arr.ndim == 1:
        if arr.shape[0] != n:
            raise ValueError(f"sample_weight has {arr.shape[0]} rows but {against} has {n}")
    elif arr.ndim == 2 and k is not None:
        if arr.shape != (n, k):
            have = f"shape {(n, k)}" if against == "raw" else f"{n} rows and K = {k} classes"
            raise ValueError(
                f"sample_weight has shape {arr.shape} but {against} has {have}: cell "
                f"weights need one weight per row and class"
            )
    else:
        expected = "(n_samples,) or (n_samples, n_classes)" if k is not None else "(n_samples,)"
        raise ValueError(f"sample_weight must have shape {expected}; got shape {arr.shape}")
    check_finite("sample_weight", arr)
    neg = arr < 0
    if neg.any():
        row = _first_row(neg)
        raise ValueError(
            f"sample_weight must be non-negative; got {_row_repr(arr, row)} at row {row}"
        )
    arr = arr.astype(np.float64, copy=copy)
    if k is not None and arr.ndim == 1:
        arr = arr[:, None]
    return arr


def check_number(name: str, value, interval: str, *, low: float, high: float = math.inf,
                 low_open: bool = False) -> float:
    """A hyperparameter: a real number (not a bool) in ``[low, high)`` (``(low, high)``
    when ``low_open``); ``interval`` is how the message writes the range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{name} must be a number in {interval}; got {value!r} of type {type(value).__name__}"
        )
    x = float(value)
    inside = (x > low if low_open else x >= low) and x < high
    if not (math.isfinite(x) and inside):
        raise ValueError(f"{name} must be a number in {interval}; got {x!r}")
    return x
