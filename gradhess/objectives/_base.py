"""The method set every gradhess objective shares, and the one path behind it.

Labels and weights are validated once, by :meth:`Objective.prepare`, into a
:class:`Targets` (class indices stay indices).  Every computation then takes the
same compact arguments to one of two backends with one signature: the fused
compiled kernels (:mod:`gradhess.kernels.compiled`) or the NumPy reference
kernels (:mod:`gradhess.kernels.reference`, the definition and the oracle).
``loss``, ``gradient_hessian``, ``predict_proba`` and ``init_raw`` are thin
shells over that path; each takes raw labels or a :class:`Targets`.

An objective declares itself once: its ``name``, its hyperparameters
(:class:`Param`, from which ``__init__``, ``get_params``, validation, the kernels'
parameter vector and the tests' parameter grids are derived), its default Hessian
strategy and its :class:`Kernels`.  :func:`register` adds it to the registry.
Nothing here knows of boosting engines.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import numpy as np

from .. import _validation as v
from .. import hessians
from ..kernels import compiled, reference

_log = logging.getLogger("gradhess")

#: Inputs of fewer cells (rows x classes) than this are computed by the NumPy kernels
#: when :attr:`Objective.backend` is ``"auto"``: they take 0.2-0.6 ms a call there, where
#: compiling a kernel on its first use on a machine takes 10-30 s (``docs/performance.md``,
#: "First use").
SMALL_CELLS = 1 << 12

BACKENDS = ("auto", "numba", "numpy")


# --------------------------------------------------------------------------- params
@dataclass(frozen=True)
class Param:
    """A declared hyperparameter: a real number in an interval.

    ``kernel``: passed to the kernels (in declaration order) as their parameter
    vector.  ``grid``: the values the registry-driven tests try besides the default.
    """

    name: str
    default: float
    interval: str
    low: float
    high: float = math.inf
    low_open: bool = False
    kernel: bool = False
    grid: tuple = ()
    doc: str = ""

    def check(self, value) -> float:
        return v.check_number(self.name, value, self.interval, low=self.low, high=self.high,
                              low_open=self.low_open)


#: ``label_smoothing`` alpha: labels become ``(1 - alpha) y + alpha / K`` (K = 2 for a binary
#: objective) before anything else, in the kernels, the intercepts and every engine alike.
LABEL_SMOOTHING = Param("label_smoothing", 0.0, "[0, 1)", 0.0, 1.0, grid=(0.3,),
                        doc="labels become (1 - alpha) y + alpha / K")
#: Focal losses' focusing parameter ``gamma`` (0 gives cross-entropy).
GAMMA = Param("gamma", 2.0, "[0, inf)", 0.0, kernel=True, grid=(0.0, 0.5, 1.0, 3.0),
              doc="focusing parameter; 0 gives cross-entropy")


# ------------------------------------------------------------------------- targets
class Targets:
    """Labels and weights validated by :meth:`Objective.prepare`, in the compact form the
    kernels and the engines read.

    ``y``: ``(n,)`` int64 class indices or an ``(n, K)`` float32 or float64 probability
    matrix (softmax objectives); ``(n,)`` float64 values in [0, 1] (binary ones).
    ``sample_weight``: None, ``(n,)`` per row or ``(n, K)`` per cell.  ``n_classes``: K,
    or None for a binary objective.  Arrays are shared, not copied: they must not change
    while in use.
    """

    __slots__ = ("y", "sample_weight", "n_classes", "_kernel_arrays")

    def __init__(self, y: np.ndarray, sample_weight: np.ndarray | None, n_classes: int | None):
        self.y, self.sample_weight, self.n_classes = y, sample_weight, n_classes
        self._kernel_arrays = None

    @property
    def n_rows(self) -> int:
        return self.y.shape[0]

    @property
    def soft(self) -> bool:
        return self.y.ndim == 2

    @property
    def cell_weights(self) -> bool:
        return self.sample_weight is not None and self.sample_weight.ndim == 2

    def dense(self) -> np.ndarray:
        """Labels as an ``(n, K)`` probability matrix (binary: unchanged)."""
        if self.n_classes is None or self.soft:
            return self.y
        return np.eye(self.n_classes)[self.y]

    def rows(self, index: np.ndarray) -> "Targets":
        """The targets of rows ``index`` (a data set's slice or subset)."""
        w = self.sample_weight
        return Targets(self.y[index], None if w is None else w[index], self.n_classes)

    def row_weight(self) -> np.ndarray | None:
        """One weight per row (the mean over cells for cell weights)."""
        if self.sample_weight is None or self.sample_weight.ndim == 1:
            return self.sample_weight
        return self.sample_weight.mean(axis=1)

    def row_weight_total(self) -> float:
        """``sum_i wbar_i`` (``n`` without weights): what a weighted mean divides by."""
        w = self.row_weight()
        return float(self.n_rows if w is None else w.sum())

    def kernel_arrays(self):
        """The kernels' label and weight arguments, made once: softmax ``(y_matrix, y_index,
        w)`` with a float64 matrix (empty for class indices), int64 indices (empty for a
        matrix) and ``(n, 1)`` or ``(n, K)`` weights (``(0, 1)`` for none); binary ``(y,
        w)`` with ``(0,)`` weights for none."""
        if self._kernel_arrays is None:
            y, w = self.y, self.sample_weight
            if self.n_classes is None:
                self._kernel_arrays = (y, np.empty(0) if w is None else w)
            else:
                hard = y.ndim == 1
                ym = np.empty((0, self.n_classes)) if hard else y.astype(np.float64, copy=False)
                w2 = np.empty((0, 1)) if w is None else (w[:, None] if w.ndim == 1 else w)
                self._kernel_arrays = (ym, y if hard else np.empty(0, np.int64), w2)
        return self._kernel_arrays

    def __repr__(self) -> str:
        w = None if self.sample_weight is None else self.sample_weight.shape
        return f"Targets(y={self.y.dtype}{self.y.shape}, sample_weight={w}, n_classes={self.n_classes})"


def _contiguous(a):
    return a if a is None or a.flags.c_contiguous or a.flags.f_contiguous else np.ascontiguousarray(a)


# ------------------------------------------------------------------------- kernels
@dataclass(frozen=True)
class Kernels:
    """An objective's kernels: the NumPy reference (float64 dense in, float64 out, no
    validation; see :mod:`gradhess.kernels.reference`) and, optionally, the compiled ones
    (:class:`gradhess.kernels.compiled.Compiled`)."""

    loss: Callable[..., np.ndarray]
    gradient_hessian: Callable[..., tuple[np.ndarray, np.ndarray]]
    init_raw: Callable[..., Any]
    compiled: Any = None


# --------------------------------------------------------------------------- outputs
def _out(out, name: str, raw: np.ndarray) -> np.ndarray:
    """``out`` checked (``raw``'s shape, float32 or float64, writable), or a new array like
    ``raw``."""
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


def _outputs(gradient_out, hessian_out, raw: np.ndarray):
    """The checked outputs (new arrays where not given) and the margins to read: where an
    output may overlap the margins, a copy of them, since the compiled kernels write a
    block of rows before they read the next."""
    if (isinstance(gradient_out, np.ndarray) and isinstance(hessian_out, np.ndarray)
            and np.may_share_memory(gradient_out, hessian_out)
            and np.shares_memory(gradient_out, hessian_out)):
        raise ValueError("gradient_out and hessian_out share memory: give two separate arrays")
    g = _out(gradient_out, "gradient_out", raw)
    h = _out(hessian_out, "hessian_out", raw)
    if np.may_share_memory(g, raw) or np.may_share_memory(h, raw):
        raw = raw.copy(order="K")
    return g, h, raw


def n_threads_default() -> int:
    """Threads a batch is split over when ``n_threads`` is None: ``GRADHESS_NUM_THREADS``, or
    the CPU count."""
    env = os.environ.get("GRADHESS_NUM_THREADS")
    if env:
        return max(1, int(env))
    return os.cpu_count() or 1


def _check_n_threads(n_threads) -> int:
    if n_threads is None:
        return n_threads_default()
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer or None; got {n_threads!r}")
    return int(n_threads)


# ------------------------------------------------------------------------ registry
#: Every objective, by registry name.  Tests, the CLI, the docs and the benchmarks iterate
#: over it.
OBJECTIVES: dict[str, type["Objective"]] = {}


def register(cls: type["Objective"]) -> type["Objective"]:
    """Add an objective class to :data:`OBJECTIVES` under its ``name`` (a class decorator).

    A name taken by another class raises ``ValueError``; the same class (by module and
    qualified name, as when a module is imported again) replaces its entry."""
    if not (isinstance(cls, type) and issubclass(cls, Objective)) or not cls.name:
        raise ValueError(f"register takes an Objective subclass with a name; got {cls!r}")
    old = OBJECTIVES.get(cls.name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"objective name {cls.name!r} is registered already, by "
                         f"{old.__module__}:{old.__qualname__}")
    OBJECTIVES[cls.name] = cls
    return cls


def get(name: str, **params) -> "Objective":
    """Create the objective registered as ``name``, or the class ``package.module:ClassName``
    (an objective of one's own; the current directory is importable), with keyword
    ``params``.

    >>> get("brier", hessian="majorizer")
    Brier(hessian='majorizer', hessian_scale=1.0)
    """
    return objective_class(name)(**params)


def objective_class(name: str) -> type["Objective"]:
    """The class :func:`get` creates for ``name``."""
    if isinstance(name, str) and name in OBJECTIVES:
        return OBJECTIVES[name]
    if not isinstance(name, str) or ":" not in name:
        raise ValueError(f"unknown objective {name!r}; registered: "
                         f"{', '.join(sorted(OBJECTIVES))} (or give package.module:ClassName)")
    cls = load(name)
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise ValueError(f"{name} is not a gradhess objective class (a subclass of "
                         f"gradhess.Objective, e.g. gradhess.SoftmaxScore); got {cls!r}")
    return cls


def load(target: str):
    """``package.module:Name`` -> the object (the current directory is importable)."""
    import importlib
    import sys

    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected package.module:ClassName or a registered objective; "
                         f"got {target!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r}: {exc}") from None
    obj = module
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj


def instances(cls: type["Objective"]):
    """One instance of ``cls`` per value of each parameter's ``grid`` (the others at their
    defaults), after the default instance: what the registry-driven tests try."""
    yield cls()
    for p in cls._declared():
        for value in p.grid:
            yield cls(**{p.name: value})


# ----------------------------------------------------------------------- objective
class Objective:
    """Base class: a loss on raw margins with its gradient and Hessian strategies.

    A subclass declares ``name``, ``default_hessian``, ``params`` (its own
    :class:`Param` tuple; ``hessian`` and ``hessian_scale`` are every objective's) and
    ``kernels``; the link (softmax or sigmoid) comes from :class:`SoftmaxObjective` or
    :class:`BinaryObjective`.  Hyperparameters are keyword-only.
    """

    #: Registry name.
    name: ClassVar[str] = ""
    #: True for softmax objectives (margins ``(n, K)``), False for sigmoid ones (``(n,)``).
    is_multiclass: ClassVar[bool]
    #: The strategy used when ``hessian`` is not given.
    default_hessian: ClassVar[str]
    #: The strategies this objective accepts.
    hessian_strategies: ClassVar[tuple[str, ...]] = hessians.STRATEGIES
    #: This class's own hyperparameters.
    params: ClassVar[tuple[Param, ...]] = ()
    #: Whether the expected score under ``y ~ p`` is minimised at ``p`` (with one weight per
    #: row): then the Gauss-Newton matrix is also the expected Hessian (see
    #: :func:`gradhess.checking.expected_hessian`).  Focal loss is not.
    is_proper: ClassVar[bool] = True
    #: Whether ``(n, K)`` per-cell weights are defined for this loss (softmax objectives).
    cell_weights: ClassVar[bool] = True
    #: The kernels.
    kernels: ClassVar[Kernels]
    #: ``"auto"`` (compiled kernels, but the NumPy ones for inputs under
    #: :data:`SMALL_CELLS` cells or without numba), ``"numba"`` or ``"numpy"``; settable
    #: on a class or an instance.
    backend: str = "auto"
    #: Label smoothing alpha (0 for objectives that do not declare it).
    label_smoothing: float = 0.0

    def __init__(self, **params):
        names = self._param_names()
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ValueError(
                f"{self.name or type(self).__name__} takes no parameter "
                f"{', '.join(map(repr, unknown))}; its parameters: {', '.join(names)}")
        hessian = params.get("hessian")
        self.hessian = hessians.check_strategy(
            self.default_hessian if hessian is None else hessian, self.hessian_strategies)
        self.hessian_scale = hessians.check_scale(params.get("hessian_scale", 1.0))
        for p in self._declared():
            setattr(self, p.name, p.check(params.get(p.name, p.default)))

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # the signature that get(), help() and scikit-learn read: keyword-only parameters
        kw = inspect.Parameter.KEYWORD_ONLY
        cls.__signature__ = inspect.Signature(
            [inspect.Parameter(p.name, kw, default=p.default) for p in cls._declared()]
            + [inspect.Parameter("hessian", kw, default=None),
               inspect.Parameter("hessian_scale", kw, default=1.0)])

    # ------------------------------------------------------------------ params
    @classmethod
    def _declared(cls) -> tuple[Param, ...]:
        """Every declared :class:`Param` of the class and its bases, bases' first; a subclass's
        declaration of a name replaces its base's."""
        declared: dict[str, Param] = {}
        for klass in reversed(cls.__mro__):
            for p in klass.__dict__.get("params", ()):
                declared[p.name] = p
        return tuple(declared.values())

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p.name for p in cls._declared()] + ["hessian", "hessian_scale"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments, as resolved (``hessian`` is never ``None`` here).

        ``deep`` is accepted for scikit-learn, which clones and tunes objectives
        passed to an estimator as it does nested estimators.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "Objective":
        """Set constructor arguments, validated as in ``__init__``; returns ``self``."""
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

    def _kernel_params(self) -> np.ndarray:
        """The kernels' parameter vector (declared ``kernel`` parameters; one 0 for none)."""
        values = [getattr(self, p.name) for p in self._declared() if p.kernel]
        return np.array(values or (0.0,), dtype=np.float64)

    # ------------------------------------------------------------- validation
    def prepare(self, y, sample_weight=None, *, n_classes: int | None = None,
                copy: bool = False) -> Targets:
        """Validate labels and weights once; pass the result wherever labels go.

        For a softmax objective ``y`` is ``(n,)`` class indices (K = ``n_classes``,
        default ``max(y) + 1``) or an ``(n, K)`` probability matrix (a given ``n_classes``
        must agree with it); for a binary objective ``(n,)`` values in [0, 1].  Weights
        are ``(n,)`` per row or ``(n, K)`` per cell.  Labels and weights already in the
        held dtypes (int64 indices, float32 or float64 label matrices, float64 binary
        labels and weights) and contiguous are kept as they are (they must not change while
        in use) unless ``copy``.
        """
        return self._prepare(y, sample_weight, n_classes, None, copy)

    def _prepare(self, y, sample_weight, n_classes, n_rows, copy, against="y") -> Targets:
        """:meth:`prepare`; ``n_rows`` (from margins) names them as ``raw`` in the messages."""
        if isinstance(y, Targets):
            return self._check_targets(y, sample_weight, n_classes, n_rows)
        arr = _contiguous(v.as_numeric("y", y))
        w = None if sample_weight is None else _contiguous(v.as_numeric("sample_weight",
                                                                         sample_weight))
        if n_rows is not None:
            against = "raw"
        if not self.is_multiclass:
            if n_classes not in (None, 1, 2):
                raise ValueError(f"{self.name} is a binary objective but n_classes = {n_classes} "
                                 f"was requested")
            n = n_rows if n_rows is not None else (arr.shape[0] if arr.ndim else 0)
            yb = v.check_binary_labels(arr, n, copy=copy)
            return Targets(yb, v.check_sample_weight(w, n, None, copy=copy, against=against),
                           None)
        if arr.ndim == 2:
            n, k = arr.shape if n_rows is None else (n_rows, n_classes)
            if n_rows is None and n_classes is not None and n_classes != k:
                raise ValueError(f"n_classes={n_classes} but y has {k} columns (shape {arr.shape})")
            y_out = v.check_softmax_labels(arr, n, k, compact=True)
            if copy and y_out is arr:
                y_out = y_out.copy()
        elif arr.ndim == 1:
            n = arr.shape[0] if n_rows is None else n_rows
            if arr.shape[0] != n:
                raise ValueError(f"y has {arr.shape[0]} rows but raw has {n} (shape {(n, n_classes)})")
            if n == 0:
                raise ValueError("y is empty")
            v.check_finite("y", arr)
            if n_classes is None:
                k = v.class_count(arr)
                if k > 2 * n + 2:
                    raise ValueError(f"y holds class indices up to {k - 1} for {n} rows: pass the "
                                     f"class count as n_classes, or encode the labels as 0..K-1")
            else:
                k = v.check_count("n_classes", n_classes)
            y_out = v.check_class_labels(arr, k, copy=copy)
            if n_classes is None:
                absent = np.setdiff1d(np.arange(k), y_out)
                if absent.size:
                    warnings.warn(f"class indices {absent[:10].tolist()} do not occur in y, so "
                                  f"K = {k} includes empty classes; labels must be 0..K-1 (pass "
                                  f"n_classes=K to silence this)", UserWarning, stacklevel=4)
        else:
            raise ValueError(
                f"y must be (n_samples,) class indices or an (n_samples, n_classes) probability "
                f"matrix; got shape {arr.shape}"
            )
        if k < 2:
            raise ValueError(f"{self.name} is a softmax objective and needs K >= 2 classes; "
                             f"got K = {k}")
        weight = v.check_sample_weight(w, n, k, copy=copy, against=against)
        if weight is not None and weight.shape[1] == 1:
            weight = weight[:, 0]
        elif weight is not None and not self.cell_weights:
            raise ValueError(f"{self.name} takes one weight per row; got sample_weight of shape "
                             f"{weight.shape} (per-cell weights are not defined for it)")
        return Targets(y_out, weight, k)

    def _check_targets(self, t: Targets, sample_weight, n_classes, n_rows) -> Targets:
        """Targets given where labels go: they are this kind of objective's, for these
        margins, and come without a separate ``sample_weight``."""
        if sample_weight is not None:
            raise ValueError("sample_weight was given with prepared Targets, which hold theirs")
        if (t.n_classes is None) == self.is_multiclass:
            raise ValueError(f"the Targets were prepared for a "
                             f"{'binary' if t.n_classes is None else 'softmax'} objective; "
                             f"{self.name} is not one")
        if n_rows is not None and (t.n_rows, t.n_classes) != (n_rows, n_classes):
            shape = (t.n_rows,) if t.n_classes is None else (t.n_rows, t.n_classes)
            got = (n_rows,) if n_classes is None else (n_rows, n_classes)
            raise ValueError(f"raw has shape {got} but the Targets are for shape {shape}")
        if n_rows is None and n_classes is not None and t.n_classes != n_classes:
            raise ValueError(f"n_classes={n_classes} but the Targets hold K = {t.n_classes}")
        if t.cell_weights and not self.cell_weights:
            raise ValueError(f"{self.name} takes one weight per row; the Targets hold per-cell "
                             f"weights of shape {t.sample_weight.shape}")
        return t

    def _margins(self, raw, labels) -> np.ndarray:
        """Margins as float32 or float64 of the right number of dimensions; finiteness is
        checked here for raw labels (with the labels) and by the kernels for Targets."""
        if not isinstance(labels, Targets) or not isinstance(raw, np.ndarray) \
                or raw.dtype not in (np.float32, np.float64) \
                or raw.ndim != (2 if self.is_multiclass else 1):
            return v.check_raw(raw, multiclass=self.is_multiclass,
                               finite=not isinstance(labels, Targets))
        return raw

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

    # ---------------------------------------------------------------- backends
    def _compiled(self, raw: np.ndarray):
        """The compiled kernels to run on ``raw``, or None for the NumPy ones."""
        backend = self.backend
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}; "
                             f"got {backend!r}")
        kernels = self.kernels.compiled if compiled.AVAILABLE else None
        if backend == "numpy" or kernels is None:
            if backend == "numba":
                raise ValueError(f"backend='numba': {self.name} has no compiled kernels here"
                                 + ("" if compiled.AVAILABLE else " (numba is not installed)"))
            return None
        if backend == "auto" and raw.size < SMALL_CELLS:
            return None
        return kernels

    def _run(self, t: Targets, raw: np.ndarray, offset, outputs, n_threads) -> None:
        """The one compute path: gradient and Hessian (``outputs = (g, h)``) or, with
        ``outputs = (loss,)``, the per-row loss, by the compiled or the NumPy backend with
        the same arguments.  Raises, naming the first row, on non-finite margins."""
        kernels = self._compiled(raw)
        gradient = len(outputs) == 2
        kernel = None if kernels is None else (kernels.rows if gradient else kernels.loss)
        k = raw.shape[1] if self.is_multiclass else None
        if k:
            off = np.zeros(k) if offset is None else offset
        else:
            off = 0.0 if offset is None else float(offset)
        args = (raw, off, *t.kernel_arrays(), self.label_smoothing)
        if gradient:
            args += (hessians.CODES[self.hessian], self.hessian_scale, hessians.CLIP_FLOOR)
        args += (self._kernel_params(), *outputs)
        if kernel is None:
            params = tuple(getattr(self, p.name) for p in self._declared() if p.kernel)
            bad = reference.run(self.kernels, self.is_multiclass, params, *args)
        else:
            what = f"{self.name} {'gradient' if gradient else 'loss'}"
            bad = (compiled.run if gradient else compiled.run_loss)(
                kernel, *args, n_threads=n_threads, what=what)
        if bad:
            v.check_finite("raw", raw)  # raises, naming the first bad row
            with np.errstate(over="ignore"):
                v.check_finite("raw + offset", raw + off)  # an offset that overflows them

    # ------------------------------------------------------------- the method set
    def loss(self, y, raw, sample_weight=None, *, offset=None,
             n_threads: int | None = None) -> np.ndarray:
        """Per-row loss, shape ``(n,)``, in the dtype of ``raw``.

        ``y``: labels, or :class:`Targets` from :meth:`prepare` (then only the margins are
        checked, and non-finite ones are found by the kernel).  ``offset``: added to every
        row's margins first, ``(K,)`` for a softmax objective (a number for a binary one):
        an intercept the engine's scores do not include.
        """
        raw = self._margins(raw, y)
        t = self._prepare(y, sample_weight, raw.shape[1] if raw.ndim == 2 else None,
                          raw.shape[0], False)
        offset = self._check_offset(offset, raw)
        out = np.empty(raw.shape[0])
        self._run(t, raw, offset, (out,), _check_n_threads(n_threads))
        return out.astype(raw.dtype, copy=False)

    def gradient_hessian(
        self,
        y,
        raw,
        sample_weight=None,
        *,
        offset=None,
        gradient_out: np.ndarray | None = None,
        hessian_out: np.ndarray | None = None,
        n_threads: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and Hessian diagonal (by ``self.hessian``) w.r.t. the margins.

        ``y`` and ``offset`` as in :meth:`loss`.  Both results have the shape and dtype of
        ``raw``; ``gradient_out`` / ``hessian_out`` (same shape, float32 or float64, any
        memory order) are filled in place and returned when given.  They must not share
        memory with each other; one that overlaps ``raw`` is allowed (the margins are then
        read from a copy).  ``n_threads``: threads the rows are split over (default
        ``GRADHESS_NUM_THREADS`` or the CPU count).
        """
        raw = self._margins(raw, y)
        t = self._prepare(y, sample_weight, raw.shape[1] if raw.ndim == 2 else None,
                          raw.shape[0], False)
        offset = self._check_offset(offset, raw)
        g, h, raw = _outputs(gradient_out, hessian_out, raw)
        self._run(t, raw, offset, (g, h), _check_n_threads(n_threads))
        return g, h

    def predict_proba(self, raw) -> np.ndarray:
        raise NotImplementedError

    def init_raw(self, y, sample_weight=None, *, n_classes: int | None = None):
        """The constant margins that minimise the weighted loss: ``(K,)`` float64 for a
        softmax objective, a float for a binary one.

        ``y``: labels or :class:`Targets`; for class indices K comes from ``n_classes``
        (default ``max(y) + 1``).  A class that carries no label mass would need a margin of
        ``-inf``; its probability is floored at ``INIT_PROBA_FLOOR`` (1e-12) instead.
        """
        t = self._prepare(y, sample_weight, n_classes, None, False)
        a, big_w = self.label_sums(t)
        if not (np.sum(big_w) > 0):
            raise ValueError(f"cannot compute an intercept: the total weight of the {t.n_rows} "
                             f"rows is zero")
        return self.init_raw_from_sums(a, big_w)

    def label_sums(self, t: Targets):
        """``A_j = sum_i w_ij y_ij`` and ``W_j = sum_i w_ij`` (``(K,)``; floats for a binary
        objective), before label smoothing: all an intercept depends on."""
        if self.is_multiclass:
            return class_sums(t.y, t.sample_weight, t.n_classes)
        w = t.sample_weight
        if w is None:
            return float(t.y.sum()), float(t.n_rows)
        return float(w @ t.y), float(w.sum())

    def init_raw_from_sums(self, a, big_w):
        """:meth:`init_raw` from :meth:`label_sums` (summed over any partition of the rows,
        as on Dask): label smoothing applied to the sums, then the objective's minimiser."""
        total = float(np.sum(big_w)) if self.is_multiclass else float(big_w)
        if not (total > 0):
            raise ValueError("cannot compute an intercept: the total weight of the rows is zero")
        alpha = self.label_smoothing
        if alpha:
            k = np.shape(a)[0] if self.is_multiclass else 2
            a = (1.0 - alpha) * np.asarray(a, dtype=np.float64) + alpha / k * np.asarray(big_w)
            a = a if self.is_multiclass else float(a)
        params = tuple(getattr(self, p.name) for p in self._declared() if p.kernel)
        return self.kernels.init_raw(a, big_w, *params)


def class_sums(labels: np.ndarray, w: np.ndarray | None, k: int):
    """The sums the intercepts need, ``A_j = sum_i w_ij y_ij`` and ``W_j = sum_i w_ij``
    (float64 ``(K,)``), without an ``(n, K)`` temporary: ``labels`` are int64 class
    indices or an ``(n, K)`` probability matrix, ``w`` is None, ``(n,)`` or ``(n, K)``."""
    n = labels.shape[0]
    cells = w is not None and w.ndim == 2
    row = w if w is not None and not cells else None
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

    def predict_proba(self, raw) -> np.ndarray:
        """Class probabilities ``softmax(raw)``, shape ``(n, K)``, rows summing to 1."""
        raw = v.check_raw(raw, multiclass=True)
        return reference.softmax(raw.astype(np.float64)).astype(raw.dtype, copy=False)


class BinaryObjective(Objective):
    """Objectives on a sigmoid link: one margin per row, ``(n,)``.

    Labels are ``(n,)`` values in [0, 1] (hard {0, 1} or soft); weights are
    ``(n,)`` per row.
    """

    is_multiclass = False

    def predict_proba(self, raw) -> np.ndarray:
        """Probabilities of the positive class ``sigmoid(raw)``, shape ``(n,)``."""
        raw = v.check_raw(raw, multiclass=False)
        return reference.sigmoid(raw.astype(np.float64)).astype(raw.dtype, copy=False)
