"""The fused compiled kernels against the NumPy reference kernels, across the registry.

The compiled path is what ``gradient_hessian`` runs (asserted here); the NumPy kernels
are the readable definition and the oracle.  float64 results must agree to 1e-12,
float32 results to 1e-5, relative, with an absolute floor of 1e-3 of the row's weight
(entries that cancel to near zero carry rounding of the size of their terms).
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import gradhess
from gradhess import checking, hessians
from gradhess.kernels import compiled

from conftest import case_id, problem, registry_cases, row_scale

RTOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
FLOOR = 1e-3
# K = 3 adds nothing over K = 2 and K = 10 here (the oracle tests cover it): keeps the
# compile-heavy suite short.
CASES = [c for c in registry_cases() if c[3] != 3]


def reference(obj):
    ref = type(obj)(**obj.get_params())
    ref.backend = "numpy"
    return ref


def fast(name, **params):
    """The registered objective on the compiled backend, whatever the input's size."""
    obj = gradhess.get(name, **params)
    obj.backend = "numba"
    return obj


def test_compiled_kernels_are_available_and_used(monkeypatch):
    """Every registered objective has compiled kernels (a loss kernel and a one-row kernel
    for softmax objectives), and ``"auto"`` runs them from SMALL_CELLS cells on, the NumPy
    ones below (counted by replacing the NumPy backend)."""
    from gradhess.kernels import reference as numpy_backend
    from gradhess.objectives import _base

    assert compiled.AVAILABLE
    calls = []
    original = numpy_backend.run
    monkeypatch.setattr(numpy_backend, "run", lambda *a: calls.append(1) or original(*a))
    for name, cls in gradhess.OBJECTIVES.items():
        kernels = cls.kernels.compiled
        assert kernels.rows is not None, name
        assert (kernels.loss is not None) == (kernels.row is not None) == cls.is_multiclass
        obj = cls()
        k = 4 if cls.is_multiclass else None
        cells = k or 1
        for n, numpy_calls in ((_base.SMALL_CELLS // cells + 1, 0),
                               (_base.SMALL_CELLS // cells - 1, 2)):
            calls.clear()
            y = np.arange(n) % k if k else (np.arange(n) % 2).astype(float)
            z = np.zeros((n, k) if k else n)
            obj.gradient_hessian(y, z)
            obj.loss(y, z)
            # binary losses have no compiled kernel
            assert len(calls) == max(numpy_calls, 0 if k else 1), (name, n)


@pytest.mark.parametrize("name", ["brier", "binary_focal"])
def test_read_only_and_writable_inputs_share_one_compiled_signature(name):
    # numba types read-only arrays apart from writable ones: without the read-only views
    # at the kernel boundary each mix of the two compiles the kernel again (seconds each)
    obj = fast(name)
    k = 4 if obj.is_multiclass else None
    y, z, w = (a.copy() for a in problem(name, "soft", "row", k, "float64"))
    kernel = obj.kernels.compiled.rows
    loss = obj.kernels.compiled.loss
    g, h = obj.gradient_hessian(y, z, w)
    obj.loss(y, z, w)
    seen = set(kernel.signatures), loss and set(loss.signatures)
    for a in (y, z, w):
        a.flags.writeable = False
    g2, h2 = obj.gradient_hessian(y, z, w)
    obj.loss(y, z, w)
    assert (set(kernel.signatures), loss and set(loss.signatures)) == seen
    np.testing.assert_array_equal(g2, g)
    np.testing.assert_array_equal(h2, h)
    view = compiled.read_only(z)
    assert view is z  # read-only already: passed as it is
    z = z.copy()
    view = compiled.read_only(z)
    assert np.shares_memory(view, z) and not view.flags.writeable and z.flags.writeable


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("strategy", hessians.STRATEGIES)
def test_compiled_matches_reference(case, strategy):
    name, labels, weights, k, dtype = case
    y, z, w = problem(name, labels, weights, k, dtype)
    obj = fast(name, hessian=strategy)
    g, h = obj.gradient_hessian(y, z, w)
    gr, hr = reference(obj).gradient_hessian(y, z, w)
    assert g.dtype == h.dtype == z.dtype
    scale = row_scale(w, z.shape[0])
    assert checking.relative_error(g, gr, scale, FLOOR) <= RTOL[z.dtype]
    assert checking.relative_error(h, hr, scale, FLOOR) <= RTOL[z.dtype]


@pytest.mark.parametrize("name", list(gradhess.OBJECTIVES))
@pytest.mark.parametrize("strategy", hessians.STRATEGIES)
def test_compiled_matches_reference_across_blocks(name, strategy):
    """Several blocks of rows, the extreme rows spread over them (each registry case fits in
    one block): what a kernel keeps per block starts afresh in the next.  Also the cases the
    registry leaves out: softmax objectives without weights, float32 0/1 labels."""
    n = 2 * compiled.BLOCK_ROWS + 37
    cls = gradhess.OBJECTIVES[name]
    k = 10 if cls.is_multiclass else None
    rng = np.random.default_rng(zlib.crc32(f"{name}-{strategy}".encode()))
    obj = fast(name, hessian=strategy)
    ref = reference(obj)
    for labels in ("hard", "soft"):
        for weights in (None, "row") + (("cell",) if cls.cell_weights else ()):
            for dtype in (np.float64, np.float32):
                order = rng.permutation(n)
                z = checking.random_margins(rng, n, k)[order].astype(dtype)
                y = checking.random_labels(rng, n, k, labels)[order]
                if y.dtype.kind == "f":
                    y = y.astype(dtype)
                w = checking.random_weights(rng, n, k, weights)
                g, h = obj.gradient_hessian(y, z, w)
                gr, hr = ref.gradient_hessian(y, z, w)
                scale = row_scale(w, n)
                where = (labels, weights, np.dtype(dtype).name)
                assert checking.relative_error(g, gr, scale, FLOOR) <= RTOL[z.dtype], where
                assert checking.relative_error(h, hr, scale, FLOOR) <= RTOL[z.dtype], where


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_compiled_loss_matches_reference(case):
    name, labels, weights, k, dtype = case
    y, z, w = problem(name, labels, weights, k, dtype)
    obj = fast(name)
    loss = obj.loss(y, z, w)
    assert loss.dtype == z.dtype and loss.shape == (z.shape[0],)
    scale = row_scale(w, z.shape[0])
    assert checking.relative_error(loss, reference(obj).loss(y, z, w), scale, FLOOR) <= RTOL[z.dtype]
    prepared = obj.prepare(y, w, n_classes=k)
    np.testing.assert_array_equal(obj.loss(prepared, z), loss)


@pytest.mark.parametrize("name", ["focal", "spherical", "cross_entropy"])
def test_compiled_loss_parameters_layouts_and_bad_margins(name):
    """Focusing parameters and label smoothing reach the loss kernel; column-major margins;
    class-index labels over several blocks; a non-finite margin in a later block is
    reported by row."""
    n, k = 3 * compiled.BLOCK_ROWS + 7, 5
    y, z, w = problem(name, "soft", "row", k, "float64")
    variants = {"focal": [{"gamma": g} for g in (0.0, 0.5, 2.0, 3.0)],
                "cross_entropy": [{"label_smoothing": 0.3}], "spherical": [{}]}[name]
    for params in variants:
        obj = fast(name, **params)
        expected = reference(obj).loss(y, z, w)
        for zz in (z, np.asfortranarray(z)):
            got = obj.loss(y, zz, w)
            assert checking.relative_error(got, expected, row_scale(w, len(y)), FLOOR) <= 1e-12
    # class-index labels over several blocks: each block's labelled cells set and reset
    rng = np.random.default_rng(4)
    yy = rng.integers(0, k, n)
    zz = checking.random_margins(rng, n, k).astype(np.float32)
    obj = fast(name, **({"label_smoothing": 0.3} if name == "cross_entropy" else {}))
    expected = reference(obj).loss(yy, zz)
    assert checking.relative_error(obj.loss(yy, zz), expected, np.ones(n), FLOOR) <= 1e-5
    obj = fast(name)
    yy = np.arange(n) % k
    zz = np.zeros((n, k), np.float32)
    zz[n - 3, 1] = np.inf
    with pytest.raises(ValueError, match=rf"raw contains NaN or inf \(first at row {n - 3}"):
        obj.loss(yy, zz)


@pytest.mark.parametrize("name", ["focal", "binary_focal"])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 3.0])
def test_compiled_focal_gammas(name, gamma):
    k = 5 if gradhess.OBJECTIVES[name].is_multiclass else None
    y, z, w = problem(name, "soft", "row", k, "float64")
    for strategy in hessians.STRATEGIES:
        obj = fast(name, gamma=gamma, hessian=strategy)
        g, h = obj.gradient_hessian(y, z, w)
        gr, hr = reference(obj).gradient_hessian(y, z, w)
        scale = row_scale(w, z.shape[0])
        assert checking.relative_error(g, gr, scale, FLOOR) <= 1e-12
        assert checking.relative_error(h, hr, scale, FLOOR) <= 1e-12


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("out_dtype", [np.float32, np.float64])
def test_out_arrays_any_layout_and_smoothing(order, out_dtype):
    y, z, w = problem("cross_entropy", "hard", "cell", 10, "float64")
    obj = fast("cross_entropy", label_smoothing=0.1, hessian="majorizer")
    g = np.empty(z.shape, out_dtype, order=order)
    h = np.empty(z.shape, out_dtype, order=order)
    g2, h2 = obj.gradient_hessian(y, z, w, gradient_out=g, hessian_out=h)
    assert g2 is g and h2 is h
    gr, hr = reference(obj).gradient_hessian(y, z, w)
    tol = RTOL[np.dtype(out_dtype)]
    scale = row_scale(w, z.shape[0])
    assert checking.relative_error(g, gr, scale, FLOOR) <= tol
    assert checking.relative_error(h, hr, scale, FLOOR) <= tol


@pytest.mark.parametrize("name", ["cross_entropy", "binary_brier"])
def test_outputs_overlapping_the_margins(name):
    """An output array over the margins, one row ahead, would have the kernel's stores of
    one block overwrite margins of the next before they are read: the margins are read
    from a copy then, and the results are those of separate arrays."""
    obj = fast(name)
    k = 10 if obj.is_multiclass else None
    n = 3 * compiled.BLOCK_ROWS + 5
    rng = np.random.default_rng(0)
    y = rng.integers(0, k, n) if k else rng.uniform(size=n)
    big = rng.normal(size=(n + 1, k) if k else n + 1)
    g0, h0 = obj.gradient_hessian(y, big[:-1].copy())
    for out in ("gradient_out", "hessian_out"):
        data = big.copy()
        g, h = obj.gradient_hessian(y, data[:-1], **{out: data[1:]})
        np.testing.assert_array_equal(g, g0)
        np.testing.assert_array_equal(h, h0)
    data = big[:-1].copy()
    g, h = obj.gradient_hessian(y, data, gradient_out=data)  # the margins themselves
    np.testing.assert_array_equal(g, g0)
    np.testing.assert_array_equal(h, h0)


@pytest.mark.parametrize("z_dtype, out_orders", [(np.float64, "FF"), (np.float32, "CF")])
def test_column_major_margins(z_dtype, out_orders):
    """Column-major margins (LightGBM hands its scores over so, float64) are read a class at
    a time, and column-major outputs written so; several blocks of rows, mixed output orders
    (row-major outputs from row-major margins: the tests above)."""
    rng = np.random.default_rng(5)
    n, k = 3 * compiled.BLOCK_ROWS + 7, 6
    z = np.asfortranarray(checking.random_margins(rng, n, k).astype(z_dtype))
    y = rng.integers(0, k, n)
    obj = fast("cross_entropy", hessian="exact")
    g = np.empty(z.shape, np.float32, order=out_orders[0])
    h = np.empty(z.shape, np.float32, order=out_orders[1])
    obj.gradient_hessian(y, z, gradient_out=g, hessian_out=h)
    gr, hr = reference(obj).gradient_hessian(y, z)
    assert checking.relative_error(g, gr, np.ones(n), FLOOR) <= RTOL[np.dtype(np.float32)]
    assert checking.relative_error(h, hr, np.ones(n), FLOOR) <= RTOL[np.dtype(np.float32)]


@pytest.mark.parametrize("hessian", ["exact", "clip"])
@pytest.mark.parametrize("z_order, out_order", [("C", "C"), ("F", "F")])
def test_streaming_stores_write_the_same_values(monkeypatch, z_order, out_order, hessian):
    """Outputs above :data:`compiled.STREAM_BYTES` are written with non-temporal stores,
    one output a contiguous run at a time: lowered to 0 here, so that small arrays take that
    path, the values must be bit-identical to the plain stores', in both layouts, on two
    threads (each range starting mid-block), with several blocks per thread and a
    ``hessian_scale``; the clip floor, applied as the streamed Hessian is written and in a
    pass of its own otherwise, with row weights and cells where it binds."""
    rng = np.random.default_rng(7)
    n, k = 2 * compiled._MIN_ROWS_PER_THREAD + 2 * compiled.BLOCK_ROWS + 5, 5
    z = np.asarray(checking.random_margins(rng, n, k), order=z_order)
    y = rng.integers(0, k, n)
    w = rng.uniform(0.5, 2.0, n) if hessian == "clip" else None
    obj = fast("cross_entropy", hessian=hessian, hessian_scale=1.5)
    monkeypatch.setenv("GRADHESS_NUM_THREADS", "2")
    outs = {}
    for limit in (0, 1 << 62):
        monkeypatch.setattr(compiled, "STREAM_BYTES", limit)
        g = np.full(z.shape, np.nan, np.float32, order=out_order)
        h = np.full(z.shape, np.nan, np.float32, order=out_order)
        assert compiled.streaming(g, h) == (limit == 0 and compiled.STREAMING_STORES)
        obj.gradient_hessian(y, z, w, gradient_out=g, hessian_out=h)
        outs[limit] = g, h
    np.testing.assert_array_equal(outs[0][0], outs[1 << 62][0])
    np.testing.assert_array_equal(outs[0][1], outs[1 << 62][1])
    gr, hr = reference(obj).gradient_hessian(y, z, w)
    rw = np.ones(n) if w is None else w
    assert checking.relative_error(outs[0][0], gr, rw, FLOOR) <= RTOL[np.dtype(np.float32)]
    assert checking.relative_error(outs[0][1], hr, rw, FLOOR) <= RTOL[np.dtype(np.float32)]
    if hessian == "clip":
        floored = ((hessians.CLIP_FLOOR * w) * 1.5).astype(np.float32)[:, None]
        assert np.sum(outs[0][1] == floored) > 100


def test_streaming_only_for_large_outputs_of_one_layout(monkeypatch):
    monkeypatch.setattr(compiled, "STREAM_BYTES", 1000)
    small = np.empty((10, 10), np.float32)
    assert not compiled.streaming(small, small)
    c, f = np.empty((100, 10), np.float32), np.empty((100, 10), np.float32, order="F")
    assert compiled.streaming(c, c) == compiled.STREAMING_STORES
    assert compiled.streaming(f, f) == compiled.STREAMING_STORES
    # mixed layouts, or a strided view: written a row at a time, never streamed
    assert not compiled.streaming(c, f)
    assert not compiled.streaming(np.empty((100, 20), np.float32)[:, ::2], c)
    # binary outputs (their kernels keep plain stores), and misaligned arrays
    flat = np.empty(1000, np.float32)
    assert not compiled.streaming(flat, flat)
    raw = np.zeros(100 * 10 * 4 + 1, np.uint8)
    misaligned = raw[1:].view(np.float32).reshape(100, 10)
    assert not misaligned.flags.aligned
    assert not compiled.streaming(misaligned, c)


MAJORIZER_PAIRS = ["brier", "focal", "ranked_probability", "cross_entropy"]


@pytest.mark.parametrize("name", MAJORIZER_PAIRS)
def test_majorizer_pair_sums(name):
    """The majorizers' sums over pairs of classes (each pair once, added to both rows, the
    argmax swapped into class 0 for it): K around 10 and not a multiple of 5 (the
    registry's K are 2, 3, 10 and 200), several blocks of rows with a partial last one, the
    argmax in every class; the batch kernels (Brier's and focal's ``u`` computed, cross-
    entropy's its cell weights) and the one-row kernels, against the reference to 1e-12."""
    rng = np.random.default_rng(11)
    cls = gradhess.OBJECTIVES[name]
    n = 2 * compiled.BLOCK_ROWS + 17
    for k in (7, 9, 10, 11, 17):
        z = checking.random_margins(rng, n, k)
        z[:k, :] = 0.0
        z[np.arange(k), np.arange(k)] = 5.0  # row i's argmax is class i
        y = checking.random_labels(rng, n, k, "soft")
        w = checking.random_weights(rng, n, k, "cell" if cls.cell_weights else "row")
        obj = fast(name, hessian="majorizer")
        g, h = obj.gradient_hessian(y, z, w)
        gr, hr = reference(obj).gradient_hessian(y, z, w)
        scale = row_scale(w, n)
        assert checking.relative_error(g, gr, scale, FLOOR) <= 1e-12, k
        assert checking.relative_error(h, hr, scale, FLOOR) <= 1e-12, k
        # the one-row kernel (CatBoost's), row weights
        row = cls.kernels.compiled.row
        params = obj._kernel_params()
        w_row = rng.uniform(0.5, 2.0, n)
        _, hr_rows = reference(obj).gradient_hessian(y, z, w_row)
        g1, h1 = np.empty(k), np.empty(k)
        for i in range(0, n, 7):
            row(z[i], y[i], w_row[i], 0.0, hessians.MAJORIZER, 1.0,
                hessians.CLIP_FLOOR, params, g1, h1)
            assert checking.relative_error(h1[None], hr_rows[i:i + 1], w_row[i:i + 1],
                                           FLOOR) <= 1e-12, (k, i)


def test_prepared_targets_reused_and_threads_agree(monkeypatch):
    rng = np.random.default_rng(0)
    n, k = 50_000, 4
    z = rng.normal(size=(n, k))
    y = rng.integers(0, k, n)
    obj = fast("brier", hessian="exact")
    prepared = obj.prepare(y, n_classes=k)
    g1, h1 = obj.gradient_hessian(prepared, z)
    monkeypatch.setenv("GRADHESS_NUM_THREADS", "1")
    g2, h2 = obj.gradient_hessian(prepared, z)
    g3, h3 = obj.gradient_hessian(prepared, z, n_threads=3)
    np.testing.assert_array_equal(g1, g3)
    np.testing.assert_array_equal(h1, h3)
    with pytest.raises(ValueError, match=r"n_threads must be a positive integer or None; got 0"):
        obj.gradient_hessian(prepared, z, n_threads=0)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(h1, h2)
    gr, hr = reference(obj).gradient_hessian(y, z)
    assert checking.relative_error(h1, hr, np.ones(n), FLOOR) <= 1e-12


def test_non_finite_margins_are_reported():
    obj = fast("cross_entropy")
    prepared = obj.prepare(np.array([0, 1, 2]), n_classes=3)
    z = np.zeros((3, 3))
    z[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"raw contains NaN or inf \(first at row 1"):
        obj.gradient_hessian(prepared, z)
    with pytest.raises(ValueError, match=r"raw has shape \(2, 3\) but the Targets are for "
                                         r"shape \(3, 3\)"):
        obj.gradient_hessian(prepared, z[:2])


@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_margins_found_in_any_block(name, value):
    """Rows are checked a block of rows at a time: a bad row far into a later block."""
    obj = fast(name)
    n = 3 * compiled.BLOCK_ROWS + 7
    shape = (n, 4) if obj.is_multiclass else (n,)
    y = np.arange(n) % 4 if obj.is_multiclass else (np.arange(n) % 2).astype(float)
    prepared = obj.prepare(y)
    z = np.zeros(shape, np.float32)
    z[n - 3] = value
    with pytest.raises(ValueError, match=rf"raw contains NaN or inf \(first at row {n - 3}"):
        obj.gradient_hessian(prepared, z)


def test_vectorisable_exp_and_log1p_are_accurate():
    """The kernels' own exp (x <= 0) and log1p (x >= 0), against NumPy's, over their range,
    subnormal results and tiny arguments included; ``exp_block`` (the exponentials of a
    block, compiled with fast-math flags) is as accurate (not bit for bit the same: it
    may fuse multiply-adds)."""
    from numba import njit

    exp_, log1p_ = compiled.exp_nonpositive, compiled.log1p_nonnegative

    @njit
    def both(x, e, lg):
        for i in range(x.shape[0]):
            e[i] = exp_(-x[i])
            lg[i] = log1p_(x[i])

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0, 800, 200_000), 10.0 ** rng.uniform(-320, 3, 200_000),
                        [0.0, 5e-324, 1e-300, 1e-17, 0.5, 1.0, np.sqrt(2) - 1, 745.1, 745.2, 746.0]])
    e, lg = np.empty_like(x), np.empty_like(x)
    both(x, e, lg)
    # the kernels' pass over a block, compiled with fast-math flags (contractions to
    # fused multiply-adds), is as accurate
    e_block = np.empty_like(x)
    compiled.exp_block(-x, e_block)
    want_e, want_lg = np.exp(-x), np.log1p(x)
    normal = want_e >= np.finfo(np.float64).tiny
    for got in (e, e_block):
        assert np.max(np.abs(got[normal] / want_e[normal] - 1)) < 1e-15
        assert np.max(np.abs(got[~normal] - want_e[~normal])) <= 1e-322  # subnormal: absolute
    nz = want_lg > 0
    assert np.max(np.abs(lg[nz] / want_lg[nz] - 1)) < 1e-15
    assert lg[x == 0].tolist() == [0.0]


def test_kernel_caches_are_keyed_on_every_kernel_module():
    """numba keys a cached function on its own file's source alone: the one-liners of
    ``compiled`` are built from cores, blocks and drivers in the other kernel modules (their
    code compiled into the one-liners' cached code), so every
    kernel function's cache is keyed on all of them (an edit of ``_cores.py`` compiles
    ``brier_rows`` again instead of loading the stale one)."""
    import hashlib
    from pathlib import Path

    from gradhess.kernels import _blocks, _cores, _diagonals, _drivers, _numerics

    modules = [_numerics, _blocks, _diagonals, _cores, _drivers, compiled]
    digest = hashlib.sha256(repr((hessians.EXACT, hessians.GAUSS_NEWTON, hessians.MAJORIZER,
                                  hessians.CLIP, hessians.CONSTANT)).encode())
    for module in modules:
        digest.update(Path(module.__file__).read_bytes())
    kernels = [fn for module in modules for fn in vars(module).values()
               if getattr(getattr(fn, "py_func", None), "__module__", None) == module.__name__]
    assert compiled.brier_rows in kernels and _cores.brier_core in kernels
    for fn in kernels:
        own, combined = fn._cache._cache_file._source_stamp
        assert combined == digest.hexdigest() and not isinstance(own, tuple), fn


def test_lightgbm_calls_the_objective_instance_it_was_given():
    """lightgbm.train deep-copies params; the callable is shared, so its buffers are reused."""
    import lightgbm as lgb

    import gradhess.lightgbm as gl

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = rng.integers(0, 3, 300)
    obj = gradhess.get("brier")
    callable_obj = gl.objective(obj)
    ds = gl.dataset(X, y, obj)
    lgb.train({"objective": callable_obj, "num_class": 3, "verbose": -1, "metric": "None"}, ds, 3)
    assert list(callable_obj._trainings) == [ds]  # the state LightGBM's rounds used
    _, g, h = callable_obj._trainings[ds]
    assert g.shape == (300, 3) and g.flags.f_contiguous and g.dtype == np.float32


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm", "catboost"])
@pytest.mark.parametrize("labels", ["soft", "hard"])
def test_labels_are_validated_once_per_training(engine, labels, monkeypatch):
    """The label checks themselves run once per data set and training: for the training
    set (intercept, data set, objective and metric callables) and for each eval set."""
    import importlib

    from gradhess import _validation

    adapter = importlib.import_module(f"gradhess.{engine}")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 4))
    y = rng.dirichlet(np.ones(3), size=400) if labels == "soft" else rng.integers(0, 3, 400)
    check = "check_probabilities" if labels == "soft" else "check_class_labels"
    calls = []
    original = getattr(_validation, check)
    monkeypatch.setattr(_validation, check, lambda *a, **kw: calls.append(1) or original(*a, **kw))
    adapter.train("cross_entropy", X, y, num_boost_round=6)
    assert len(calls) == 1
    calls.clear()
    adapter.train("cross_entropy", X[:300], y[:300], num_boost_round=6,
                  eval_set=[(X[300:], y[300:])])
    assert len(calls) == 2


@pytest.mark.parametrize("engine", ["xgboost", "lightgbm"])
def test_metrics_validate_labels_once_and_name_bad_margins(engine, monkeypatch):
    """A binary objective's metric (NumPy loss) checks its evaluation labels once too; a
    metric handed margins of the wrong shape says so."""
    import importlib

    from gradhess import _validation

    adapter = importlib.import_module(f"gradhess.{engine}")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(400, 4))
    yb = (X[:, 0] > 0).astype(float)
    calls = []
    original = _validation.check_binary_labels

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_validation, "check_binary_labels", counting)
    counts = []
    for rounds in (2, 8):
        calls.clear()
        adapter.train("binary_cross_entropy", X[:300], yb[:300], num_boost_round=rounds,
                      eval_set=[(X[300:], yb[300:])])
        counts.append(len(calls))
    assert counts[0] == counts[1] > 0  # not once a round
    metric = adapter.metric("cross_entropy")
    ds = (adapter.dmatrix if engine == "xgboost" else adapter.dataset)(X, np.arange(400) % 3,
                                                                       "cross_entropy")
    with pytest.raises(ValueError, match=r"raw must be a 2-D array of margins .* got shape \(400,\)"):
        metric(np.zeros(400), ds)


@pytest.mark.parametrize("name", list(gradhess.OBJECTIVES))
@pytest.mark.parametrize("labels", ["hard", "soft"])
def test_offset_is_the_margins_plus_offset(name, labels):
    """``offset`` (an intercept the engine's scores do not include) gives exactly what the
    margins plus it give: the softmax kernels add it as they read the margins (float64,
    either memory order), elsewhere it is added first; gradient, Hessian and loss."""
    obj = fast(name)
    k = 4 if obj.is_multiclass else None
    y, z64, w = problem(name, labels, "row", k, "float64")
    rng = np.random.default_rng(3)
    offset = rng.normal(size=k) * 3 if k else 1.7
    for z in (z64, z64.astype(np.float32), np.asfortranarray(z64)):
        prepared = obj.prepare(y, w, n_classes=k)
        g, h = obj.gradient_hessian(prepared, z, offset=offset)
        shifted = z.astype(np.float64) + offset
        g_ref, h_ref = obj.gradient_hessian(y, shifted, w)
        assert g.dtype == h.dtype == z.dtype
        np.testing.assert_array_equal(g, g_ref.astype(z.dtype))
        np.testing.assert_array_equal(h, h_ref.astype(z.dtype))
        np.testing.assert_array_equal(obj.loss(prepared, z, offset=offset),
                                      obj.loss(y, shifted, w).astype(z.dtype))
    prepared = obj.prepare(y, w, n_classes=k)
    for bad in ((np.zeros(k + 1) if k else np.zeros(2)), (np.full(k, np.nan) if k else np.nan)):
        with pytest.raises(ValueError, match="offset"):
            obj.gradient_hessian(prepared, z64, offset=bad)
    # an offset that takes finite margins out of range is refused on both backends
    big = np.full(k, 1e308) if k else 1e308
    for backend in ("numba", "numpy"):
        obj.backend = backend
        with pytest.raises(ValueError, match=r"raw \+ offset contains NaN or inf"):
            obj.gradient_hessian(prepared, np.full(z64.shape, 1e308), offset=big)
