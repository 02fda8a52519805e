"""Properties every objective must have, independent of any oracle."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import gradhess
from gradhess import checking, hessians

from conftest import ALL, BINARY, SOFTMAX, problem, row_scale


def k_for(name, k=4):
    return k if gradhess.OBJECTIVES[name].is_multiclass else None


def weight_kinds(name):
    cls = gradhess.OBJECTIVES[name]
    return ("row", "cell") if cls.is_multiclass and cls.cell_weights else ("row",)


SOFTMAX_WEIGHTS = [(n, w) for n in SOFTMAX for w in weight_kinds(n)]
PROPER = [n for n in ALL if gradhess.OBJECTIVES[n].is_proper]


ALL_STRATEGY = [(n, s) for n in ALL for s in hessians.STRATEGIES]


def close(a, b, rtol=1e-12, scale=1.0):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("name,weights", SOFTMAX_WEIGHTS)
@pytest.mark.parametrize("strategy", hessians.STRATEGIES)
def test_shift_invariance(name, strategy, weights):
    """Adding a constant to a row's margins changes nothing."""
    y, z, w = problem(name, "soft", weights, 5, "float64")
    shift = np.random.default_rng(1).normal(size=(z.shape[0], 1)) * 50
    obj = gradhess.get(name, hessian=strategy)
    g0, h0 = obj.gradient_hessian(y, z, w)
    g1, h1 = obj.gradient_hessian(y, z + shift, w)
    # |shift| ~ 50 on margins ~ 1e3 costs ~ 50 * eps relative in z - max(z)
    close(obj.loss(y, z + shift, w), obj.loss(y, z, w), rtol=1e-9, scale=1.0)
    close(g1, g0, rtol=1e-9)
    close(h1, h0, rtol=1e-9)
    close(obj.predict_proba(z + shift), obj.predict_proba(z), rtol=1e-9)


@pytest.mark.parametrize("name,strategy", ALL_STRATEGY)
def test_weights_scale_linearly(name, strategy):
    k = k_for(name)
    for weights in weight_kinds(name):
        y, z, w = problem(name, "soft", weights, k, "float64")
        obj = gradhess.get(name, hessian=strategy)
        g, h = obj.gradient_hessian(y, z, w)
        g3, h3 = obj.gradient_hessian(y, z, 3.0 * w)
        close(obj.loss(y, z, 3.0 * w), 3.0 * obj.loss(y, z, w))
        close(g3, 3.0 * g)
        close(h3, 3.0 * h)
        # unit weights == no weights
        ones = np.ones_like(w)
        close(obj.loss(y, z, ones), obj.loss(y, z))
        for a, b in zip(obj.gradient_hessian(y, z, ones), obj.gradient_hessian(y, z)):
            close(a, b)


def test_row_weights_equal_constant_cell_weights():
    for name in (n for n in SOFTMAX if gradhess.OBJECTIVES[n].cell_weights):
        for strategy in hessians.STRATEGIES:
            y, z, w = problem(name, "soft", "row", 4, "float64")
            cell = np.repeat(np.asarray(w)[:, None], 4, axis=1)
            obj = gradhess.get(name, hessian=strategy)
            for a, b in zip(obj.gradient_hessian(y, z, w), obj.gradient_hessian(y, z, cell)):
                close(a, b)


# How a K = 2 softmax objective on margins (0, d) relates to the binary one on d:
# the factor on loss/gradient/Hessian per strategy.  Cross-entropy: identical,
# except the majorizer (row sums over two coupled margins: twice).  The
# multiclass Brier counts both classes: twice the binary Brier, and its
# majorizer sums two equal entries of a matrix that is already twice as large.
K2_FACTORS = {
    ("cross_entropy", "binary_cross_entropy"): {
        "loss": 1, "exact": 1, "gauss_newton": 1, "majorizer": 2, "clip": 1},
    ("brier", "binary_brier"): {
        "loss": 2, "exact": 2, "gauss_newton": 2, "majorizer": 4},
    # Focal: one class term per label, as cross-entropy (the binary loss is the K = 2 one).
    ("focal", "binary_focal"): {
        "loss": 1, "exact": 1, "gauss_newton": 1, "majorizer": 2, "clip": 1},
    # RPS with two ordered classes is the binary Brier score on P_0 = 1 - p.
    ("ranked_probability", "binary_brier"): {
        "loss": 1, "exact": 1, "gauss_newton": 1, "majorizer": 2, "clip": 1},
}


@pytest.mark.parametrize("pair", list(K2_FACTORS), ids=lambda p: p[0])
@pytest.mark.parametrize("labels", ["hard", "soft"])
def test_k2_softmax_equals_binary(pair, labels):
    multi, binary = pair
    factors = K2_FACTORS[pair]
    y, z, w = problem(multi, labels, "row", 2, "float64")
    y = np.asarray(y)
    y2 = np.eye(2)[y] if y.ndim == 1 else y
    z2 = np.stack([np.zeros(len(z)), z[:, 1] - z[:, 0]], axis=1)
    d, yb = z2[:, 1], y2[:, 1]
    m, b = gradhess.get(multi), gradhess.get(binary)
    close(m.loss(y2, z2, w), factors["loss"] * b.loss(yb, d, w), rtol=1e-12)
    close(m.predict_proba(z2)[:, 1], b.predict_proba(d))
    for strategy, factor in factors.items():
        if strategy == "loss":
            continue
        gm, hm = gradhess.get(multi, hessian=strategy).gradient_hessian(y2, z2, w)
        gb, hb = gradhess.get(binary, hessian=strategy).gradient_hessian(yb, d, w)
        close(gm[:, 1], factors["loss"] * gb, scale=1.0)
        close(gm[:, 0], -gm[:, 1], scale=1.0)
        close(hm[:, 1], factor * hb, scale=1.0)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("strategy", sorted(hessians.NONNEGATIVE))
def test_nonnegative_strategies(name, strategy):
    """Strategies that promise >= 0 are >= 0 everywhere, and clip > 0 where w > 0."""
    for k in ([2, 3, 10, 200] if gradhess.OBJECTIVES[name].is_multiclass else [None]):
        for labels in ("hard", "soft"):
            for weights in weight_kinds(name):
                for dtype in ("float32", "float64"):
                    y, z, w = problem(name, labels, weights, k, dtype, seed=3)
                    _, h = gradhess.get(name, hessian=strategy).gradient_hessian(y, z, w)
                    assert (h >= 0).all()
                    if strategy == "clip":
                        scale = row_scale(w, z.shape[0])
                        pos = scale > 0
                        assert (h[pos] > 0).all()


@pytest.mark.parametrize("name", ["brier", "binary_brier"])
def test_exact_brier_hessian_is_indefinite(name):
    """The reason strategies exist: the exact Brier diagonal does go negative."""
    y, z, w = problem(name, "hard", "row", k_for(name), "float64")
    _, h = gradhess.get(name, hessian="exact").gradient_hessian(y, z, w)
    assert (h < 0).any()


@pytest.mark.parametrize("name", PROPER)
def test_gauss_newton_is_expected_exact_hessian(name):
    """For proper scores (row weights) the exact Hessian at y = p is Gauss-Newton."""
    y, z, w = problem(name, "soft", "row", k_for(name), "float64")
    exact = gradhess.get(name, hessian="exact")
    p = exact.predict_proba(z)
    _, h_exact = exact.gradient_hessian(p, z, w)
    _, h_gn = gradhess.get(name, hessian="gauss_newton").gradient_hessian(p, z, w)
    close(h_exact, h_gn, rtol=1e-10, scale=1.0)


def _total_loss(obj, y, c, w, n):
    raw = np.broadcast_to(np.asarray(c, dtype=np.float64), (n,) + np.shape(c)).copy()
    return obj.loss(y, raw, w).sum()


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("labels", ["hard", "soft"])
def test_init_raw_beats_every_perturbed_constant(name, labels):
    rng = np.random.default_rng(7)
    for weights in (None,) + weight_kinds(name):
        k = k_for(name)
        y, _, w = problem(name, labels, weights, k, "float64", seed=4)
        obj = gradhess.get(name)
        c = obj.init_raw(y, w)
        n = len(y)
        best = _total_loss(obj, y, c, w, n)
        dirs = [np.eye(k)[j] for j in range(k)] if k else [1.0]
        dirs += [rng.normal(size=k) if k else -1.0 for _ in range(5)]
        for d in dirs:
            for step in (1e-3, 1e-2, 1e-1, 1.0):
                for sign in (-1, 1):
                    assert best <= _total_loss(obj, y, c + sign * step * np.asarray(d), w, n), \
                        (weights, d, step, sign)


def test_init_raw_brier_cell_weights_with_inactive_class():
    """The simplex constraint binds: the optimal constant gives a class probability 0."""
    obj = gradhess.Brier()
    y = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    w = np.array([[1.0, 1.0, 100.0], [1.0, 1.0, 100.0], [1.0, 1.0, 100.0]])
    c = obj.init_raw(y, w)
    p = np.exp(c - c.max())
    p /= p.sum()
    # minimise 3 (p0^2 + p1^2 + 100 p2^2) - 2 (p0 + p1 + 100 p2) on the simplex:
    # p0 = p1 = (1 - p2) / 2 and the derivative in p2 vanishes at p2 = 1/3 + ...
    grid = np.linspace(0, 1, 200001)
    f = 3 * (2 * ((1 - grid) / 2) ** 2 + 100 * grid**2) - 2 * ((1 - grid) + 100 * grid)
    assert abs(p[2] - grid[np.argmin(f)]) < 1e-5
    # and with a heavily weighted class that is never observed: probability 0
    y2 = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    w2 = np.array([[1.0, 1.0, 50.0], [1.0, 1.0, 50.0]])
    c2 = obj.init_raw(y2, w2)
    p2 = np.exp(c2 - c2.max())
    p2 /= p2.sum()
    assert p2[2] < 1e-11 and abs(p2[0] - 0.5) < 1e-9


def test_init_raw_is_log_prior():
    """For proper scores the constant minimiser is the (weighted) mean label."""
    y = np.array([0, 0, 0, 1, 2, 2])
    for name in (n for n in SOFTMAX if gradhess.OBJECTIVES[n].is_proper):
        c = gradhess.get(name).init_raw(y)
        p = np.exp(c) / np.exp(c).sum()
        close(p, [0.5, 1 / 6, 1 / 3])
    for name in (n for n in BINARY if gradhess.OBJECTIVES[n].is_proper):
        c = gradhess.get(name).init_raw(np.array([1.0, 0.0, 0.0, 0.0]))
        close(1 / (1 + np.exp(-c)), 0.25)


@pytest.mark.parametrize("name", [n for n in ALL if "label_smoothing" in gradhess.get(n).get_params()])
def test_init_raw_with_label_smoothing_is_init_raw_on_smoothed_labels(name):
    """The intercepts apply the smoothing to the label sums; it must agree with smoothing
    the labels themselves, for every label and weight form."""
    alpha = 0.2
    obj = gradhess.get(name, label_smoothing=alpha)
    plain = gradhess.get(name)
    for labels in ("hard", "soft"):
        for weights in (None,) + weight_kinds(name):
            k = k_for(name)
            y, _, w = problem(name, labels, weights, k, "float64", seed=3)
            dense = np.eye(k)[y] if k and y.ndim == 1 else y
            smoothed = (1 - alpha) * dense + alpha / (k or 2)
            close(obj.init_raw(y, w), plain.init_raw(smoothed, w), rtol=1e-12, scale=10.0)


@pytest.mark.parametrize("labels", ["hard", "soft64", "soft32"])
@pytest.mark.parametrize("weights", [None, "row", "cell"])
def test_class_sums_match_the_dense_sums(labels, weights):
    from gradhess.objectives._base import class_sums

    rng = np.random.default_rng(11)
    n, k = 301, 7
    idx = rng.integers(0, k, n)
    dense = np.eye(k)[idx] if labels == "hard" else rng.dirichlet(np.ones(k) * 0.3, size=n)
    y = {"hard": idx, "soft64": dense, "soft32": dense.astype(np.float32)}[labels]
    if labels == "soft32":
        dense = y.astype(np.float64)
    w = {None: None, "row": rng.uniform(0, 3, n), "cell": rng.uniform(0, 3, (n, k))}[weights]
    wf = np.ones((n, k)) if w is None else np.broadcast_to(w.reshape(n, -1), (n, k))
    a, big_w = class_sums(y, w, k)
    assert a.dtype == big_w.dtype == np.float64 and a.shape == big_w.shape == (k,)
    close(a, (wf * dense).sum(axis=0))
    close(big_w, wf.sum(axis=0))


@pytest.mark.parametrize("labels", ["hard", "soft"])
def test_init_raw_allocates_no_n_by_k_float64_arrays(labels):
    """The intercept of n rows and K classes reduces the labels to class sums: for class
    indices it never builds the one-hot matrix, for a label matrix no float64 copy."""
    import tracemalloc

    rng = np.random.default_rng(0)
    n, k = 40_000, 50
    y = rng.integers(0, k, n) if labels == "hard" else rng.dirichlet(np.ones(k), size=n)
    for weights in (None, rng.uniform(0.5, 2.0, n)):
        for name in SOFTMAX:
            obj = gradhess.get(name)
            tracemalloc.start()
            obj.init_raw(y, weights, n_classes=k)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            # the validation's boolean masks are n K bytes each; one float64 copy is 8 n K
            assert peak < (n * k if labels == "hard" else 4 * n * k), (name, peak)


def test_init_raw_absent_class_is_finite():
    c = gradhess.SoftmaxCrossEntropy().init_raw(np.array([0, 1, 0]), n_classes=3)
    assert np.isfinite(c).all() and c[2] < c[0] - 20


@pytest.mark.parametrize("name", SOFTMAX)
@pytest.mark.parametrize("strategy", hessians.STRATEGIES)
def test_one_hot_soft_labels_equal_class_indices(name, strategy):
    y, z, w = problem(name, "hard", weight_kinds(name)[-1], 6, "float64")
    onehot = np.eye(6)[y]
    obj = gradhess.get(name, hessian=strategy)
    np.testing.assert_array_equal(obj.loss(y, z, w), obj.loss(onehot, z, w))
    for a, b in zip(obj.gradient_hessian(y, z, w), obj.gradient_hessian(onehot, z, w)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(obj.init_raw(y, w, n_classes=6), obj.init_raw(onehot, w))


@pytest.mark.parametrize("name,strategy", ALL_STRATEGY)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_margins_stay_finite(name, strategy, dtype):
    multi = gradhess.OBJECTIVES[name].is_multiclass
    grid = np.array([-1e3, -500.0, -30.0, 0.0, 30.0, 500.0, 1e3])
    if multi:
        # row-major, as the other tests' margins (a layout is one more compiled signature)
        z = np.ascontiguousarray(np.array(np.meshgrid(grid, grid, grid)).reshape(3, -1).T, dtype)
        labels = [np.zeros(len(z), dtype=int), np.full((len(z), 3), 1 / 3)]
    else:
        z = grid.astype(dtype)
        labels = [np.zeros(len(z)), np.ones(len(z)), np.full(len(z), 0.3)]
    obj = gradhess.get(name, hessian=strategy)
    for y in labels:
        loss = obj.loss(y, z)
        g, h = obj.gradient_hessian(y, z)
        p = obj.predict_proba(z)
        for a in (loss, g, h, p):
            assert a.dtype == dtype
            assert np.isfinite(a).all()
        assert (loss >= 0).all()


@pytest.mark.parametrize("name", ALL)
def test_dtypes_and_out_arrays(name):
    k = k_for(name)
    for dtype in (np.float32, np.float64):
        y, z, w = problem(name, "soft", "row", k, np.dtype(dtype).name)
        obj = gradhess.get(name)
        g_out, h_out = np.empty_like(z), np.empty_like(z)
        g, h = obj.gradient_hessian(y, z, w, gradient_out=g_out, hessian_out=h_out)
        assert g is g_out and h is h_out
        g2, h2 = obj.gradient_hessian(y, z, w)
        np.testing.assert_array_equal(g, g2)
        np.testing.assert_array_equal(h, h2)
        assert obj.predict_proba(z).dtype == dtype
        assert obj.loss(y, z, w).dtype == dtype
        if k and dtype == np.float64:
            # column-major float32 out arrays from column-major margins (LightGBM's layout)
            # hold the same values, rounded once
            zf = np.asfortranarray(z)
            gf = np.empty(z.shape, np.float32, order="F")
            hf = np.empty(z.shape, np.float32, order="F")
            obj.gradient_hessian(y, zf, w, gradient_out=gf, hessian_out=hf)
            np.testing.assert_array_equal(gf, g2.astype(np.float32))
            np.testing.assert_array_equal(hf, h2.astype(np.float32))
    # integer margins are computed in float64
    zi = np.zeros((3, 4), dtype=int) if k else np.zeros(3, dtype=int)
    yi = np.array([0, 1, 2]) if k else np.array([0.0, 1.0, 1.0])
    assert obj.gradient_hessian(yi, zi)[0].dtype == np.float64


def test_predict_proba():
    z = np.random.default_rng(0).normal(size=(20, 5)) * 100
    for name in SOFTMAX:
        p = gradhess.get(name).predict_proba(z)
        close(p.sum(axis=1), np.ones(20))
        assert ((p >= 0) & (p <= 1)).all()
    for name in BINARY:
        p = gradhess.get(name).predict_proba(z[:, 0])
        close(p, 1 / (1 + np.exp(-z[:, 0])))


SMOOTHING = [n for n, c in gradhess.OBJECTIVES.items() if "label_smoothing" in c._param_names()]


@pytest.mark.parametrize("name", SMOOTHING)
def test_label_smoothing_equals_smoothed_labels(name):
    k = k_for(name)
    y, z, w = problem(name, "soft", "row", k, "float64")
    smoothed = 0.8 * np.asarray(y) + 0.2 / (k or 2)
    a, b = gradhess.get(name, label_smoothing=0.2), gradhess.get(name)
    close(a.loss(y, z, w), b.loss(smoothed, z, w))
    for x1, x2 in zip(a.gradient_hessian(y, z, w), b.gradient_hessian(smoothed, z, w)):
        close(x1, x2)
    close(a.init_raw(y, w), b.init_raw(smoothed, w))


@pytest.mark.parametrize("name", ALL)
def test_registry_params_pickle(name):
    cls = gradhess.OBJECTIVES[name]
    obj = gradhess.get(name, hessian="majorizer", hessian_scale=2.0)
    assert isinstance(obj, cls) and cls.name == name
    assert obj.get_params()["hessian"] == "majorizer"
    assert gradhess.get(name).hessian == cls.default_hessian
    clone = pickle.loads(pickle.dumps(obj))
    assert clone == obj and repr(clone) == repr(obj)
    assert type(obj)(**obj.get_params()) == obj
    assert gradhess.get(name) != obj


def test_unknown_objective():
    with pytest.raises(ValueError, match=r"unknown objective 'hinge'.*cross_entropy"):
        gradhess.get("hinge")


def test_reference_kernels_are_float64_and_pure():
    """Kernels neither validate nor write into their inputs."""
    from gradhess.kernels import reference as k
    y, z, w = problem("brier", "soft", "cell", 4, "float64")
    y, z, w = (np.array(a, dtype=np.float64) for a in (y, z, w))
    for a in (y, z, w):
        a.flags.writeable = False
    for fn in (k.brier_gradient_hessian, k.cross_entropy_gradient_hessian):
        for strategy in ("exact", "gauss_newton", "majorizer"):
            g, h = fn(y, z, w, strategy)
            assert g.dtype == h.dtype == np.float64


@pytest.mark.parametrize("as_in_seed", [False, True])
def test_check_detects_the_seed_index_slip(as_in_seed):
    """The source derivation's Brier Hessian, step by step; it has p_l where p_j
    belongs inside the sum.  Written with the right index it passes the
    finite-difference check; with the seed's index it fails."""
    from gradhess.kernels import reference as k

    class SeedBrier(gradhess.Brier):
        def gradient_hessian(self, y, raw, sample_weight=None, gradient_out=None, hessian_out=None):
            g, _ = super().gradient_hessian(y, raw, sample_weight)
            p = k.softmax(np.asarray(raw, dtype=np.float64))
            yy = np.eye(raw.shape[1])[y] if np.ndim(y) == 1 else np.asarray(y)
            w = np.ones_like(p) if sample_weight is None else np.asarray(sample_weight)[:, None] * np.ones_like(p)
            a = (p - yy) * w - (p * (p - yy) * w).sum(1, keepdims=True)
            inside = (w * (p if not as_in_seed else 1.0) * (2 * p - yy)).sum(1, keepdims=True)
            if as_in_seed:
                inside = p * inside  # sum_j w_j p_l (2 p_j - y_j)
            d_sum = p * (w * (2 * p - yy) - inside)
            h = 2 * p * (1 - p) * a + 2 * p * w * p * (1 - p) - 2 * p * d_sum
            return g, h

    results = checking.check_objective("seed", lambda s: SeedBrier(hessian="exact"), ["exact"],
                                       is_multiclass=True)
    assert results[0].passed is (not as_in_seed)


# ------------------------------------------------------------ soft_labels
def test_soft_labels_temperature_blend_smoothing():
    p = np.array([[0.6, 0.3, 0.1, 0.0], [0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_allclose(gradhess.soft_labels(p), p)
    sharp = gradhess.soft_labels(p, temperature=0.5)
    np.testing.assert_allclose(sharp[0], np.array([0.36, 0.09, 0.01, 0.0]) / 0.46)
    np.testing.assert_allclose(sharp[1], p[1])  # uniform stays uniform
    assert sharp[0, 3] == 0.0  # zeros stay zero
    soft = gradhess.soft_labels(p, temperature=4.0)
    assert soft[0, 0] < p[0, 0] and soft[0, 3] == 0.0
    blend = gradhess.soft_labels(p, hard_labels=[2, 0], alpha=0.25)
    np.testing.assert_allclose(blend, 0.75 * p + 0.25 * np.eye(4)[[2, 0]])
    smooth = gradhess.soft_labels(p, smoothing=0.2)
    np.testing.assert_allclose(smooth, 0.8 * p + 0.05)
    everything = gradhess.soft_labels(p, temperature=0.5, hard_labels=[2, 0], alpha=0.25, smoothing=0.2)
    np.testing.assert_allclose(everything.sum(axis=1), 1.0)
    np.testing.assert_allclose(everything, 0.8 * (0.75 * sharp + 0.25 * np.eye(4)[[2, 0]]) + 0.05)
    # very low temperatures tend to the argmax without overflow: (0.3 / 0.6)^1000 = 9.3e-302
    cold = gradhess.soft_labels(p[:1], temperature=1e-3)
    np.testing.assert_allclose(cold, [[1.0, 0.5**1000, (1 / 6) ** 1000, 0.0]], rtol=1e-9)


@pytest.mark.parametrize("kwargs,match", [
    ({"temperature": 0.0}, r"temperature must be a number in \(0, inf\); got 0\.0"),
    ({"alpha": 1.5, "hard_labels": [0, 1]}, r"alpha must be a number in \[0, 1\]; got 1\.5"),
    ({"smoothing": 1.0}, r"smoothing must be a number in \[0, 1\); got 1\.0"),
    ({"alpha": 0.5}, r"alpha = 0\.5 blends with hard labels: pass hard_labels"),
    ({"alpha": 0.5, "hard_labels": [0, 7]},
     r"^hard_labels has a class index outside \[0, 3\] for K = 4 classes: 7 at row 1"),
    ({"alpha": 0.5, "hard_labels": [0]}, r"hard_labels must have shape \(2,\); got shape \(1,\)"),
])
def test_soft_labels_bad_input(kwargs, match):
    p = np.array([[0.6, 0.3, 0.1, 0.0], [0.25, 0.25, 0.25, 0.25]])
    with pytest.raises(ValueError, match=match):
        gradhess.soft_labels(p, **kwargs)


def test_soft_labels_bad_proba():
    with pytest.raises(ValueError, match=r"proba rows must sum to 1 \(tolerance 1e-06\); row 0 sums to 0\.9"):
        gradhess.soft_labels(np.array([[0.5, 0.4]]))
    with pytest.raises(ValueError, match=r"proba must be an \(n_samples, n_classes\) matrix"):
        gradhess.soft_labels(np.array([0.5, 0.5]))


@pytest.mark.parametrize("pair", [("focal", "cross_entropy"), ("binary_focal", "binary_cross_entropy")],
                         ids=lambda p: p[0])
@pytest.mark.parametrize("strategy", hessians.STRATEGIES)
def test_focal_gamma_zero_is_cross_entropy(pair, strategy):
    """gamma = 0 removes the focusing factor: loss, gradient, every strategy and intercept."""
    focal, ce = pair
    for labels in ("hard", "soft"):
        for weights in weight_kinds(focal):
            k = k_for(focal)
            y, z, w = problem(focal, labels, weights, k, "float64")
            f = gradhess.get(focal, gamma=0.0, hessian=strategy)
            c = gradhess.get(ce, hessian=strategy)
            close(f.loss(y, z, w), c.loss(y, z, w), rtol=1e-12)
            for a, b in zip(f.gradient_hessian(y, z, w), c.gradient_hessian(y, z, w)):
                close(a, b, rtol=1e-12)
            close(f.init_raw(y, w), c.init_raw(y, w), rtol=1e-12)


@pytest.mark.parametrize("gamma", [0.01, 0.5, 2.0, 5.0, 20.0])
def test_focal_intercept_is_stationary_when_one_class_dominates(gamma):
    """The focal intercepts solve the constant problem to float64 precision however
    unbalanced the labels (where Newton steps on a majorizer's curvature crawl), and the
    K = 2 softmax intercept is the binary one."""
    for m in (0.3, 1e-3, 3e-5, 1 - 1e-3):
        binary = gradhess.get("binary_focal", gamma=gamma)
        y = np.array([m])
        c = binary.init_raw(y)
        g, _ = binary.gradient_hessian(y, np.array([c]))
        assert abs(g[0]) <= 1e-15, (m, c, g)
        two = gradhess.get("focal", gamma=gamma).init_raw(np.array([[1 - m, m]]))
        close(two[1] - two[0], c, rtol=1e-13)
    for row in ([0.998, 0.001, 0.001], [1 - 2e-5, 1e-5, 1e-5], [0.9] + [0.1 / 49] * 49):
        focal = gradhess.get("focal", gamma=gamma)
        y = np.array([row])
        c = focal.init_raw(y)
        g, _ = focal.gradient_hessian(y, c[None, :])
        assert np.abs(g).max() <= 1e-15, (row[:3], g)
        best = focal.loss(y, c[None, :])[0]
        for j in range(len(row)):
            for step in (1e-4, 1e-2):
                for sign in (-1, 1):
                    assert best <= focal.loss(y, (c + sign * step * np.eye(len(row))[j])[None, :])[0]


def test_focal_is_not_proper_and_intercept_minimises_it():
    """With gamma > 0 the best constant is not the mean label: focal pulls it toward uniform."""
    y = np.array([0, 0, 0, 0, 0, 0, 1, 2])
    prior = gradhess.get("cross_entropy").init_raw(y)
    focal = gradhess.get("focal", gamma=2.0)
    c = focal.init_raw(y)
    p = np.exp(c - c.max()) / np.exp(c - c.max()).sum()
    assert p[0] < 0.75 - 0.05  # the mean label says 0.75
    n = len(y)
    assert _total_loss(focal, y, c, None, n) < _total_loss(focal, y, prior, None, n)


INSTANCES = [obj for cls in gradhess.OBJECTIVES.values() for obj in gradhess.instances(cls)]


@pytest.mark.parametrize("obj", INSTANCES, ids=repr)
def test_every_registry_instance_round_trips_and_its_backends_agree(obj):
    """Each objective at each value of its parameters' grids (the registry's ``instances``):
    rebuilt from its repr, its parameters and a pickle; the compiled and the NumPy backends
    agree (1e-12, float64; several blocks of rows, every strategy), on labels and on the
    Targets prepared from them, with an offset."""
    import pickle

    cls = type(obj)
    assert eval(repr(obj), vars(gradhess)) == obj
    assert cls(**obj.get_params()) == obj == pickle.loads(pickle.dumps(obj))
    k = 7 if obj.is_multiclass else None
    rng = np.random.default_rng(0)
    n = 300
    z = checking.random_margins(rng, n, k)
    y = checking.random_labels(rng, n, k, "soft")
    w = checking.random_weights(rng, n, k, "row")
    offset = rng.normal(size=k) if k else 0.3
    for strategy in cls.hessian_strategies:
        results = []
        for backend in ("numba", "numpy"):
            o = cls(**{**obj.get_params(), "hessian": strategy})
            o.backend = backend
            t = o.prepare(y, w, n_classes=k)
            results.append(o.gradient_hessian(t, z, offset=offset) + (o.loss(t, z, offset=offset),))
            g, h = o.gradient_hessian(y, z + offset, w)
            np.testing.assert_array_equal(g, results[-1][0])
        scale = checking.row_weight(w, z)
        for a, b in zip(*results):
            assert checking.relative_error(a, b, scale, 1e-3) <= 1e-12, strategy
