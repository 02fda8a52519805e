"""The method set every gradhess objective shares.

An objective is a thin class around its kernels (see :mod:`gradhess.kernels`):
it validates inputs once, converts them to float64, calls the kernel, applies
the Hessian strategy (:mod:`gradhess.hessians`) and hands results back in the
caller's dtype, in the caller's out arrays when given.  It knows nothing of
boosting engines.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, ClassVar

import numpy as np

from .. import _validation as v
from .. import hessians
from ..kernels import compiled, reference


_NO_INDEX = np.empty(0, np.int64)
_NO_WEIGHT_2D = np.empty((0, 1))
_NO_WEIGHT_1D = np.empty(0)


def _kernel_targets(prepared, k: int):
    """Prepared softmax targets as the compiled kernels take them: a label matrix (empty
    for class indices), class indices (empty for a matrix), weights (empty for none)."""
    y = prepared.y
    hard = y.ndim == 1
    w = prepared.sample_weight
    return (np.empty((0, k)) if hard else y, y if hard else _NO_INDEX,
            _NO_WEIGHT_2D if w is None else w)


def _kernel_offset(offset, k: int) -> np.ndarray:
    """A softmax kernel's ``offset`` argument: the given ``(K,)`` float64 or zeros."""
    return np.zeros(k) if offset is None else offset


def _out(out, name: str, raw: np.ndarray) -> np.ndarray:
    """``out`` checked like :func:`_emit` does, or a new array like ``raw``."""
    if out is None:
        return np.empty(raw.shape, raw.dtype)
    if not isinstance(out, np.ndarray):
        raise ValueError(f"{name} must be a numpy array; got {type(out).__name__}")
    if out.shape != raw.shape or out.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"{name} must be a float32 or float64 array of raw's shape {raw.shape}; "
            f"got {out.shape} {out.dtype}"
        )
    if not out.flags.writeable:
        raise ValueError(f"{name} is read-only")
    return out


def _check_apart(gradient_out, hessian_out) -> None:
    """The two output arrays must not share memory (one would overwrite the other)."""
    if (isinstance(gradient_out, np.ndarray) and isinstance(hessian_out, np.ndarray)
            and np.may_share_memory(gradient_out, hessian_out)
            and np.shares_memory(gradient_out, hessian_out)):
        raise ValueError("gradient_out and hessian_out share memory: give two separate arrays")


def _outputs(gradient_out, hessian_out, raw: np.ndarray):
    """The compiled path's checked outputs (new arrays where not given) and the margins to
    read: where an output may overlap the margins, a copy of them, since the kernels write
    a block of rows before they read the next (an output one row ahead of the margins
    would overwrite margins not read yet)."""
    _check_apart(gradient_out, hessian_out)
    g = _out(gradient_out, "gradient_out", raw)
    h = _out(hessian_out, "hessian_out", raw)
    if np.may_share_memory(g, raw) or np.may_share_memory(h, raw):
        raw = raw.copy(order="K")
    return g, h, raw


def _emit(result: np.ndarray, out: np.ndarray | None, name: str, like: np.ndarray) -> np.ndarray:
    """Cast a float64 kernel result to ``like``'s dtype, or write it into ``out`` (checked by
    :func:`_out`: ``like``'s shape, float32 or float64, any memory order)."""
    if out is None:
        return result.astype(like.dtype, copy=False)
    out = _out(out, name, like)
    out[...] = result
    return out


class Prepared:
    """Validated labels and weights (from :meth:`Objective.prepare`): ``y`` class indices
    (int64), a probability matrix or binary labels; ``sample_weight`` None, ``(n, 1)``,
    ``(n, K)`` or ``(n,)`` (binary); ``shape`` the margins' shape."""

    __slots__ = ("y", "sample_weight", "shape")

    def __init__(self, y, sample_weight, shape):
        self.y, self.sample_weight, self.shape = y, sample_weight, shape


class Objective:
    """Base class: a loss on raw margins with its gradient and Hessian strategies.

    Subclasses set the class attributes below and their kernels; the link
    (softmax or sigmoid) comes from :class:`SoftmaxObjective` or
    :class:`BinaryObjective`.
    """

    #: Registry name.
    name: ClassVar[str] = ""
    #: True for softmax objectives (margins ``(n, K)``), False for sigmoid ones (``(n,)``).
    is_multiclass: ClassVar[bool]
    #: The strategy used when ``hessian`` is not given.
    default_hessian: ClassVar[str]
    #: The strategies this objective accepts.
    hessian_strategies: ClassVar[tuple[str, ...]] = hessians.STRATEGIES

    #: Whether the expected score under ``y ~ p`` is minimised at ``p`` (with one weight per
    #: row): then the Gauss-Newton matrix is also the expected Hessian (see
    #: :func:`gradhess.checking.expected_hessian`).  Focal loss is not.
    is_proper: ClassVar[bool] = True
    #: Whether ``(n, K)`` per-cell weights are defined for this loss (softmax objectives).
    cell_weights: ClassVar[bool] = True
    #: Name of the fused kernel in :mod:`gradhess.kernels.compiled` (None: NumPy kernels only).
    compiled_kernel: ClassVar[str | None] = None
    #: Set to False (on a class or an instance) to force the NumPy reference kernels.
    use_compiled: bool = True

    # Kernels (float64 in, float64 out, no validation), set by each subclass.
    _loss_kernel: ClassVar[Callable[..., np.ndarray]]
    _gradient_hessian_kernel: ClassVar[Callable[..., tuple[np.ndarray, np.ndarray]]]
    _init_raw_kernel: ClassVar[Callable[..., Any]]

    def __init__(self, *, hessian: str | None = None, hessian_scale: float = 1.0):
        self.hessian = hessians.check_strategy(
            self.default_hessian if hessian is None else hessian, self.hessian_strategies
        )
        self.hessian_scale = hessians.check_scale(hessian_scale)

    # ------------------------------------------------------------------ params
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, as resolved (``hessian`` is never ``None`` here).

        ``deep`` is accepted for scikit-learn, which clones and tunes objectives
        passed to an estimator as it does nested estimators.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "Objective":
        """Set constructor arguments, validated as in ``__init__``; returns ``self``."""
        unknown = set(params) - set(self._param_names())
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter(s) {', '.join(sorted(unknown))}; "
                             f"valid: {', '.join(self._param_names())}")
        fresh = type(self)(**{**self.get_params(), **params})
        self.__dict__.update(fresh.__dict__)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={val!r}" for k, val in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_params() == other.get_params()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.get_params().items()))))

    # ------------------------------------------------------------- interface
    def _prepare(self, y, raw, sample_weight):
        """Validate; return ``(y, z, w, raw)``: float64 labels, margins, weights, checked raw."""
        raise NotImplementedError

    def kernel_args(self) -> tuple:
        """Extra arguments of this objective's kernels after the strategy (e.g. ``gamma``)."""
        return ()

    def _transform_labels(self, y: np.ndarray) -> np.ndarray:
        """Hook for label transforms such as smoothing; identity by default."""
        return y

    def _transform_sums(self, a, big_w):
        """:meth:`_transform_labels` on the label sums ``a = sum_i w_i y_i`` (weight sums
        ``big_w``), for an affine transform; identity by default.  The intercepts use it:
        a class that overrides one must override the other."""
        return a

    def _row_weight(self, w: np.ndarray) -> np.ndarray:
        """Mean weight of each row, broadcastable against the Hessian."""
        raise NotImplementedError

    def loss(self, y, raw, sample_weight=None) -> np.ndarray:
        """Per-row loss, shape ``(n,)``, in the dtype of ``raw``: the fused compiled kernel
        where there is one (softmax objectives), else the NumPy definition."""
        if self.compiled_loss:
            raw = v.check_raw(raw, multiclass=self.is_multiclass)
            return self.loss_prepared(self.prepare(y, raw.shape, sample_weight), raw, checked=True)
        y64, z, w, raw = self._prepare(y, raw, sample_weight)
        return self._loss_kernel(y64, z, w, *self.kernel_args()).astype(raw.dtype, copy=False)

    @property
    def compiled_loss(self) -> bool:
        """Whether :meth:`loss` runs a compiled kernel (softmax objectives; a binary loss is
        one cell a row, cheap enough in NumPy)."""
        return self.compiled_path and self.compiled_kernel in compiled.LOSS_KERNELS

    def loss_prepared(self, prepared: "Prepared", raw, *, checked: bool = False,
                      offset=None) -> np.ndarray:
        """:meth:`loss` on targets from :meth:`prepare` (an engine's evaluation set, whose
        labels are validated once): only the margins are checked.  ``offset`` (see
        :meth:`gradient_hessian_prepared`) is added to the margins first."""
        raw = self._prepared_raw(prepared, raw, checked)
        dtype = raw.dtype
        offset = self._check_offset(offset, raw)
        if offset is not None and not self.compiled_loss:
            raw, offset = raw + offset, None
        if not self.compiled_loss:  # the NumPy definition, on the validated targets as they are
            if not checked:
                v.check_finite("raw", raw)  # the compiled losses count bad rows instead
            y = prepared.y
            if self.is_multiclass and y.ndim == 1:
                y = np.eye(raw.shape[1])[y]
            w = prepared.sample_weight
            if w is None:
                w = np.ones((raw.shape[0], 1) if self.is_multiclass else raw.shape[0])
            loss = self._loss_kernel(self._transform_labels(y.astype(np.float64, copy=False)),
                                     raw.astype(np.float64), w, *self.kernel_args())
            return loss.astype(dtype, copy=False)
        out = np.empty(raw.shape[0])
        ym, yi, w = _kernel_targets(prepared, raw.shape[1])
        params = np.array(self.kernel_args() or (0.0,), dtype=np.float64)
        bad = compiled.run_loss(self.compiled_kernel, raw, _kernel_offset(offset, raw.shape[1]),
                                ym, yi, w, float(getattr(self, "label_smoothing", 0.0)), params, out)
        if bad:
            v.check_finite("raw", raw)  # raises, naming the first bad row
        return out.astype(dtype, copy=False)

    def _check_offset(self, offset, raw: np.ndarray):
        """``offset`` as float64: ``(K,)`` for a softmax objective, a number for a binary one
        (None stays None)."""
        if offset is None:
            return None
        off = np.asarray(offset, dtype=np.float64)
        expected = (raw.shape[1],) if self.is_multiclass else ()
        if off.shape != expected:
            raise ValueError(f"offset must have shape {expected} for margins of shape {raw.shape}; "
                             f"got shape {off.shape}")
        if not np.isfinite(off).all():
            raise ValueError(f"offset must be finite; got {off}")
        return off

    def _prepared_raw(self, prepared: "Prepared", raw, checked: bool) -> np.ndarray:
        raw = np.asarray(raw)
        if not checked:
            if raw.shape != prepared.shape:
                raise ValueError(f"raw has shape {raw.shape} but the prepared targets are for "
                                 f"shape {prepared.shape}")
            if raw.dtype not in (np.float32, np.float64):
                raw = v.check_raw(raw, multiclass=self.is_multiclass)
        return raw

    def gradient_hessian(
        self,
        y,
        raw,
        sample_weight=None,
        *,
        gradient_out: np.ndarray | None = None,
        hessian_out: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian diagonal (by ``self.hessian``) w.r.t. the margins.

        Both have the shape and dtype of ``raw``; when ``gradient_out`` /
        ``hessian_out`` are given (same shape, float32 or float64, any memory
        order; keyword-only, so that an array meant for them is never taken for
        ``sample_weight``) they are filled in place and returned.  They must not share
        memory with each other; one that overlaps ``raw`` is allowed (the margins are then
        read from a copy).
        """
        if self.compiled_path:
            raw = v.check_raw(raw, multiclass=self.is_multiclass)
            return self.gradient_hessian_prepared(self.prepare(y, raw.shape, sample_weight), raw,
                                                  gradient_out, hessian_out, checked=True)
        _check_apart(gradient_out, hessian_out)
        y64, z, w, raw = self._prepare(y, raw, sample_weight)
        g, h = self._gradient_hessian_kernel(y64, z, w, hessians.kernel_strategy(self.hessian),
                                             *self.kernel_args())
        h = hessians.finalize(h, self.hessian, self.hessian_scale, self._row_weight(w), w)
        return _emit(g, gradient_out, "gradient_out", raw), _emit(h, hessian_out, "hessian_out", raw)

    # -------------------------------------------------------- compiled path
    @property
    def compiled_path(self) -> bool:
        """Whether :meth:`gradient_hessian` runs the fused compiled kernel."""
        return bool(self.use_compiled and self.compiled_kernel
                    and self.compiled_kernel in compiled.BATCH_KERNELS)

    def prepare(self, y, shape: tuple, sample_weight=None) -> "Prepared":
        """Validate labels and weights once for margins of ``shape``, in the compact form
        the compiled kernels read (class indices stay indices); pass the result to
        :meth:`gradient_hessian_prepared` every boosting round.  Labels and weights already
        in the kernels' dtypes (int64 class indices, float64 label matrices, binary labels
        and weights) are kept as they are, not copied: they must not change while in use."""
        if self.is_multiclass:
            n, k = shape
            labels = v.check_softmax_labels(y, n, k, compact=True)
            if labels.ndim == 2 and labels.dtype != np.float64:
                labels = labels.astype(np.float64)  # one kernel signature for soft labels
            w = self._check_weight(sample_weight, n, k, copy=False)
        else:
            (n,) = shape
            k = None
            labels = v.check_binary_labels(y, n, copy=False)
            w = v.check_sample_weight(sample_weight, n, None, copy=False)
        return Prepared(labels, w, tuple(shape))

    def gradient_hessian_prepared(self, prepared: "Prepared", raw, gradient_out=None,
                                  hessian_out=None, *, checked: bool = False, offset=None):
        """:meth:`gradient_hessian` on targets from :meth:`prepare`: only the margins are
        checked (shape; non-finite values are detected inside the kernel).

        ``offset``: added to every row's margins first, ``(K,)`` for a softmax objective (a
        number for a binary one): an intercept the engine's scores do not include.  The
        softmax kernels add it as they read the margins; elsewhere ``raw + offset`` is
        formed (a temporary)."""
        raw = self._prepared_raw(prepared, raw, checked)
        offset = self._check_offset(offset, raw)
        if offset is not None and not (self.compiled_path and self.is_multiclass):
            gradient_out = _out(gradient_out, "gradient_out", raw)
            hessian_out = _out(hessian_out, "hessian_out", raw)
            raw, offset = raw + offset, None
        if not self.compiled_path:
            w = prepared.sample_weight
            y = prepared.y
            return Objective.gradient_hessian(self, y, raw, None if w is None else
                                              (w[:, 0] if w.ndim == 2 and w.shape[1] == 1 else w),
                                              gradient_out=gradient_out, hessian_out=hessian_out)
        g, h, raw = _outputs(gradient_out, hessian_out, raw)
        alpha = float(getattr(self, "label_smoothing", 0.0))
        params = np.array(self.kernel_args() or (0.0,), dtype=np.float64)
        code = compiled.STRATEGY_CODES[self.hessian]
        floor = hessians.CLIP_FLOOR
        if self.is_multiclass:
            ym, yi, w = _kernel_targets(prepared, raw.shape[1])
            bad = compiled.run(self.compiled_kernel, raw, _kernel_offset(offset, raw.shape[1]), ym,
                               yi, w, alpha, code, self.hessian_scale, floor, params, g, h)
        else:
            w = prepared.sample_weight
            w = _NO_WEIGHT_1D if w is None else w
            bad = compiled.run(self.compiled_kernel, raw, prepared.y, w, alpha, code,
                               self.hessian_scale, floor, params, g, h)
        if bad:
            v.check_finite("raw", raw)  # raises, naming the first bad row
        return g, h


def class_sums(labels: np.ndarray, w: np.ndarray | None, k: int):
    """The sums the intercepts need, ``A_j = sum_i w_ij y_ij`` and ``W_j = sum_i w_ij``
    (float64 ``(K,)``), without an ``(n, K)`` temporary: ``labels`` are int64 class
    indices or an ``(n, K)`` probability matrix, ``w`` is None, ``(n, 1)`` or ``(n, K)``."""
    n = labels.shape[0]
    cells = w is not None and w.shape[1] > 1
    row = None if w is None or cells else w[:, 0]
    if labels.ndim == 1:
        if cells:
            a = np.bincount(labels, weights=w[np.arange(n), labels], minlength=k)
        else:
            a = np.bincount(labels, weights=row, minlength=k).astype(np.float64)
    elif cells:
        a = np.einsum("ij,ij->j", w, labels, dtype=np.float64)
    elif row is None:
        a = labels.sum(axis=0, dtype=np.float64)
    else:
        a = np.einsum("i,ij->j", row, labels, dtype=np.float64)
    if cells:
        return a, w.sum(axis=0)
    return a, np.full(k, float(n) if row is None else float(row.sum()))


class SoftmaxObjective(Objective):
    """Objectives on a softmax link: margins ``(n, K)``, K >= 2.

    Labels are ``(n,)`` integer class indices or an ``(n, K)`` matrix of
    probability rows; weights are ``(n,)`` per row or ``(n, K)`` per cell.
    """

    is_multiclass = True

    def _prepare(self, y, raw, sample_weight):
        raw = v.check_raw(raw, multiclass=True)
        n, k = raw.shape
        y64 = self._transform_labels(v.check_softmax_labels(y, n, k))
        w = self._check_weight(sample_weight, n, k)
        if w is None:
            w = np.ones((n, 1))
        return y64, raw.astype(np.float64), w, raw

    def _check_weight(self, sample_weight, n, k, copy=True):
        w = v.check_sample_weight(sample_weight, n, k, copy=copy)
        if w is not None and w.shape[1] > 1 and not self.cell_weights:
            raise ValueError(f"{self.name} takes one weight per row; got sample_weight of shape "
                             f"{np.shape(sample_weight)} (per-cell weights are not defined for it)")
        return w

    def _row_weight(self, w):
        return w.mean(axis=1, keepdims=True)

    def predict_proba(self, raw) -> np.ndarray:
        """Class probabilities ``softmax(raw)``, shape ``(n, K)``, rows summing to 1."""
        raw = v.check_raw(raw, multiclass=True)
        return reference.softmax(raw.astype(np.float64)).astype(raw.dtype, copy=False)

    def init_raw(self, y, sample_weight=None, *, n_classes: int | None = None) -> np.ndarray:
        """The constant margins ``(K,)`` (float64) that minimise the weighted loss.

        ``K`` comes from the label matrix, or from ``n_classes`` (default:
        ``max(y) + 1``) for class indices.  A class that carries no label mass
        would need a margin of ``-inf``; its probability is floored at
        ``gradhess.kernels.reference.INIT_PROBA_FLOOR`` (1e-12) instead.
        """
        arr = np.asarray(y)
        if arr.ndim == 2:
            k = arr.shape[1]
            if n_classes is not None and n_classes != k:
                raise ValueError(f"n_classes={n_classes} but y has {k} columns (shape {arr.shape})")
        elif arr.ndim == 1:
            if n_classes is None:
                if arr.size == 0:
                    raise ValueError("y is empty: cannot compute an intercept from 0 rows")
                numeric = v.as_numeric("y", arr)
                v.check_finite("y", numeric)
                n_classes = int(numeric.max()) + 1
            k = n_classes
        else:
            raise ValueError(
                f"y must be (n_samples,) class indices or an (n_samples, n_classes) "
                f"probability matrix; got shape {arr.shape}"
            )
        if k < 2:
            raise ValueError(f"a softmax objective needs K >= 2 classes; got K = {k}")
        n = arr.shape[0]
        labels = v.check_softmax_labels(arr, n, k, compact=True)
        a, big_w = class_sums(labels, self._check_weight(sample_weight, n, k, copy=False), k)
        if not (big_w.sum() > 0):
            raise ValueError(
                f"cannot compute an intercept: the total weight of the {n} rows is zero"
            )
        return self._init_raw_kernel(self._transform_sums(a, big_w), big_w, *self.kernel_args())


class BinaryObjective(Objective):
    """Objectives on a sigmoid link: one margin per row, ``(n,)``.

    Labels are ``(n,)`` values in [0, 1] (hard {0, 1} or soft); weights are
    ``(n,)`` per row.
    """

    is_multiclass = False

    def _prepare(self, y, raw, sample_weight):
        raw = v.check_raw(raw, multiclass=False)
        (n,) = raw.shape
        y64 = self._transform_labels(v.check_binary_labels(y, n))
        w = v.check_sample_weight(sample_weight, n, None)
        if w is None:
            w = np.ones(n)
        return y64, raw.astype(np.float64), w, raw

    def _row_weight(self, w):
        return w

    def predict_proba(self, raw) -> np.ndarray:
        """Probabilities of the positive class ``sigmoid(raw)``, shape ``(n,)``."""
        raw = v.check_raw(raw, multiclass=False)
        return reference.sigmoid(raw.astype(np.float64)).astype(raw.dtype, copy=False)

    def init_raw(self, y, sample_weight=None) -> float:
        """The constant margin (a float) that minimises the weighted loss: the logit of the
        weighted mean label, its probability clipped to ``[1e-12, 1 - 1e-12]``."""
        arr = np.asarray(y)
        n = arr.shape[0] if arr.ndim else 0
        y64 = v.check_binary_labels(arr, n)
        w = v.check_sample_weight(sample_weight, n, None)
        b, big_w = (float(y64.sum()), float(n)) if w is None else (float(w @ y64), float(w.sum()))
        if not (big_w > 0):
            raise ValueError(
                f"cannot compute an intercept: the total weight of the {n} rows is zero"
            )
        return self._init_raw_kernel(self._transform_sums(b, big_w), big_w, *self.kernel_args())


class LabelSmoothing:
    """Mixin: ``label_smoothing`` alpha in [0, 1) replaces the labels by
    ``(1 - alpha) y + alpha / K`` (K = 2 for binary objectives) before anything else."""

    def __init__(self, *, label_smoothing: float = 0.0, hessian: str | None = None,
                 hessian_scale: float = 1.0):
        self.label_smoothing = v.check_number("label_smoothing", label_smoothing, "[0, 1)",
                                              low=0.0, high=1.0)
        super().__init__(hessian=hessian, hessian_scale=hessian_scale)

    def _transform_labels(self, y: np.ndarray) -> np.ndarray:
        if self.label_smoothing:
            k = y.shape[1] if y.ndim == 2 else 2
            return (1.0 - self.label_smoothing) * y + self.label_smoothing / k
        return y

    def _transform_sums(self, a, big_w):
        if self.label_smoothing:
            k = np.shape(a)[0] if np.ndim(a) else 2
            return (1.0 - self.label_smoothing) * a + self.label_smoothing / k * big_w
        return a


class Focusing:
    """Mixin: the focusing parameter ``gamma`` >= 0 of focal losses (0 gives cross-entropy)."""

    is_proper = False

    def __init__(self, *, gamma: float = 2.0, hessian: str | None = None,
                 hessian_scale: float = 1.0):
        self.gamma = v.check_number("gamma", gamma, "[0, inf)", low=0.0)
        super().__init__(hessian=hessian, hessian_scale=hessian_scale)

    def kernel_args(self) -> tuple:
        return (self.gamma,)
