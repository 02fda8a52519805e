"""Every bad input raises a ValueError that names the argument, what was received and
the first offending row."""

from __future__ import annotations

import numpy as np
import pytest

import gradhess
from conftest import ALL, BINARY, SOFTMAX

Z = np.zeros((4, 3))
Y = np.array([0, 1, 2, 1])
ZB = np.zeros(4)
YB = np.array([0.0, 1.0, 0.5, 1.0])


def methods(obj, y, raw, w=None):
    """Each public method that takes (y, raw, sample_weight), on both backends, and on
    Targets prepared from the labels (whose margins the kernels check)."""
    calls = []
    for backend in ("numba", "numpy"):
        o = type(obj)(**obj.get_params())
        o.backend = backend
        calls += [lambda o=o: o.loss(y, raw, w), lambda o=o: o.gradient_hessian(y, raw, w)]
    return calls


def raises_everywhere(obj, y, raw, w, match):
    for call in methods(obj, y, raw, w):
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("name", SOFTMAX)
class TestSoftmaxInput:
    def test_probabilities_outside_unit_interval(self, name):
        y = np.full((4, 3), 1 / 3)
        y[2] = [1.2, -0.2, 0.0]
        raises_everywhere(gradhess.get(name), y, Z, None,
                          r"y must hold probabilities in \[0, 1\]; got \[ 1\.2 -0\.2  0\. *\] at row 2")

    def test_rows_not_summing_to_one(self, name):
        y = np.full((4, 3), 1 / 3)
        y[3] = [0.5, 0.2, 0.2]
        raises_everywhere(gradhess.get(name), y, Z, None,
                          r"y rows must sum to 1 \(tolerance 1e-06\); row 3 sums to 0\.9")

    def test_float32_rows_use_float32_tolerance(self, name):
        y = np.full((4, 3), 1 / 3, dtype=np.float32)
        y[1, 0] += 5e-5  # inside 1e-4
        gradhess.get(name).loss(y, Z)
        y[1, 0] += 2e-4
        raises_everywhere(gradhess.get(name), y, Z, None, r"tolerance 0\.0001\); row 1")

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_nonfinite_labels(self, name, bad):
        y = np.full((4, 3), 1 / 3)
        y[1, 2] = bad
        raises_everywhere(gradhess.get(name), y, Z, None, r"y contains NaN or inf \(first at row 1")
        yi = Y.astype(float)
        yi[3] = bad
        raises_everywhere(gradhess.get(name), yi, Z, None, r"y contains NaN or inf \(first at row 3")

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_nonfinite_margins(self, name, bad):
        z = Z.copy()
        z[2, 1] = bad
        raises_everywhere(gradhess.get(name), Y, z, None, r"raw contains NaN or inf \(first at row 2")
        with pytest.raises(ValueError, match=r"raw contains NaN or inf \(first at row 2"):
            gradhess.get(name).predict_proba(z)

    @pytest.mark.parametrize("bad", [np.nan, np.inf])
    def test_nonfinite_weights(self, name, bad):
        w = np.ones(4)
        w[3] = bad
        raises_everywhere(gradhess.get(name), Y, Z, w, r"sample_weight contains NaN or inf \(first at row 3")
        with pytest.raises(ValueError, match=r"sample_weight contains NaN or inf \(first at row 3"):
            gradhess.get(name).init_raw(Y, w)

    def test_negative_weights(self, name):
        w = np.ones((4, 3))
        w[1, 1] = -0.5
        raises_everywhere(gradhess.get(name), Y, Z, w,
                          r"sample_weight must be non-negative; got \[ 1\.  -0\.5  1\. \] at row 1")
        with pytest.raises(ValueError, match=r"sample_weight must be non-negative.*row 2"):
            gradhess.get(name).init_raw(Y, np.array([1.0, 1.0, -1.0, 1.0]))

    @pytest.mark.parametrize("bad,row", [(3, 2), (-1, 2)])
    def test_class_index_out_of_range(self, name, bad, row):
        y = Y.copy()
        y[row] = bad
        raises_everywhere(gradhess.get(name), y, Z, None,
                          rf"y has a class index outside \[0, 2\] for K = 3 classes: {bad} at row {row}")

    def test_fractional_class_index(self, name):
        raises_everywhere(gradhess.get(name), np.array([0.0, 1.5, 2.0, 1.0]), Z, None,
                          r"must be integers; got 1\.5 at row 1")

    def test_float_class_indices_accepted(self, name):
        obj = gradhess.get(name)
        np.testing.assert_array_equal(obj.loss(Y.astype(float), Z), obj.loss(Y, Z))

    def test_label_rows_mismatch(self, name):
        raises_everywhere(gradhess.get(name), Y[:3], Z, None, r"y has 3 rows but raw has 4")

    def test_label_classes_mismatch(self, name):
        y = np.full((4, 4), 0.25)
        raises_everywhere(gradhess.get(name), y, Z, None,
                          r"y has shape \(4, 4\) but raw has shape \(4, 3\).*mismatched class count")

    def test_label_ndim(self, name):
        raises_everywhere(gradhess.get(name), np.zeros((4, 3, 1)), Z, None, r"y must be .*got shape \(4, 3, 1\)")

    def test_weight_shape_mismatch(self, name):
        raises_everywhere(gradhess.get(name), Y, Z, np.ones(5), r"sample_weight has 5 rows but raw has 4")
        raises_everywhere(gradhess.get(name), Y, Z, np.ones((4, 2)),
                          r"sample_weight has shape \(4, 2\) but raw has shape \(4, 3\)")

    def test_k_equals_one(self, name):
        raises_everywhere(gradhess.get(name), np.zeros(4, dtype=int), np.zeros((4, 1)), None,
                          r"raw has shape \(4, 1\): K = 1, but a softmax objective needs K >= 2")
        with pytest.raises(ValueError, match=r"needs K >= 2 classes; got K = 1"):
            gradhess.get(name).init_raw(np.zeros(4, dtype=int))

    def test_raw_ndim(self, name):
        raises_everywhere(gradhess.get(name), Y, np.zeros(4), None,
                          r"raw must be a 2-D array .*got shape \(4,\)")

    def test_non_numeric(self, name):
        raises_everywhere(gradhess.get(name), np.array(["a", "b", "c", "d"]), Z, None,
                          r"y must be a real numeric array; got dtype <U1")

    def test_init_raw_zero_weight(self, name):
        with pytest.raises(ValueError, match=r"total weight of the 4 rows is zero"):
            gradhess.get(name).init_raw(Y, np.zeros(4))

    def test_init_raw_n_classes_mismatch(self, name):
        with pytest.raises(ValueError, match=r"n_classes=4 but y has 3 columns"):
            gradhess.get(name).init_raw(np.full((2, 3), 1 / 3), n_classes=4)

    def test_out_arrays(self, name):
        obj = gradhess.get(name)
        with pytest.raises(ValueError, match=r"gradient_out must be a float32 or float64 array of raw's "
                                             r"shape \(4, 3\); got \(4, 3\) int64"):
            obj.gradient_hessian(Y, Z, gradient_out=np.empty((4, 3), np.int64))
        with pytest.raises(ValueError, match=r"hessian_out must be .*got \(3, 4\) float64"):
            obj.gradient_hessian(Y, Z, hessian_out=np.empty((3, 4)))
        # float32 out arrays for float64 margins, in column-major order: what LightGBM reads
        g32 = np.empty((4, 3), np.float32, order="F")
        h32 = np.empty((4, 3), np.float32, order="F")
        g, h = obj.gradient_hessian(Y, np.asfortranarray(Z), gradient_out=g32, hessian_out=h32)
        assert g is g32 and h is h32
        np.testing.assert_allclose(g32, obj.gradient_hessian(Y, Z)[0], rtol=1e-7)
        ro = np.empty((4, 3))
        ro.flags.writeable = False
        with pytest.raises(ValueError, match=r"gradient_out is read-only"):
            obj.gradient_hessian(Y, Z, gradient_out=ro)
        # one array for both outputs would hold the Hessian only: refused on both paths
        ref = type(obj)(**obj.get_params())
        ref.backend = "numpy"
        for o in (obj, ref):
            buf = np.empty((4, 3))
            with pytest.raises(ValueError, match=r"^gradient_out and hessian_out share memory"):
                o.gradient_hessian(Y, Z, gradient_out=buf, hessian_out=buf)
            both = np.empty((4, 6))
            with pytest.raises(ValueError, match=r"^gradient_out and hessian_out share memory"):
                o.gradient_hessian(Y, Z, gradient_out=both[:, :3], hessian_out=both[:, 2:5])
            o.gradient_hessian(Y, Z, gradient_out=both[:, :3], hessian_out=both[:, 3:])  # apart


@pytest.mark.parametrize("name", BINARY)
class TestBinaryInput:
    def test_labels_outside_unit_interval(self, name):
        y = YB.copy()
        y[1] = 2.0
        raises_everywhere(gradhess.get(name), y, ZB, None,
                          r"y must hold probabilities in \[0, 1\]; got 2\.0 at row 1")

    def test_nonfinite(self, name):
        y = YB.copy()
        y[0] = np.nan
        raises_everywhere(gradhess.get(name), y, ZB, None, r"y contains NaN or inf \(first at row 0: nan\)")
        z = ZB.copy()
        z[3] = -np.inf
        raises_everywhere(gradhess.get(name), YB, z, None, r"raw contains NaN or inf \(first at row 3: -inf\)")
        obj = gradhess.get(name)
        with pytest.raises(ValueError, match=r"raw contains NaN or inf \(first at row 3: -inf\)"):
            obj.loss(obj.prepare(YB), z)

    def test_weights(self, name):
        raises_everywhere(gradhess.get(name), YB, ZB, np.array([1.0, -1.0, 1.0, 1.0]),
                          r"sample_weight must be non-negative; got -1\.0 at row 1")
        raises_everywhere(gradhess.get(name), YB, ZB, np.ones((4, 2)),
                          r"sample_weight must have shape \(n_samples,\); got shape \(4, 2\)")

    def test_shapes(self, name):
        raises_everywhere(gradhess.get(name), YB, np.zeros((4, 1)), None,
                          r"raw must be a 1-D array .*binary objective; got shape \(4, 1\)")
        raises_everywhere(gradhess.get(name), YB[:2], ZB, None, r"y has 2 rows but raw has 4")
        raises_everywhere(gradhess.get(name), np.zeros((4, 2)), ZB, None,
                          r"y must be a 1-D array .*got shape \(4, 2\)")

    def test_bool_labels(self, name):
        obj = gradhess.get(name)
        np.testing.assert_array_equal(obj.loss(np.array([True, False, True, True]), ZB),
                                      obj.loss(np.array([1.0, 0.0, 1.0, 1.0]), ZB))


@pytest.mark.parametrize("name", ALL)
class TestHyperparameters:
    @pytest.mark.parametrize("bad", ["newton", "", None.__class__, 3])
    def test_hessian(self, name, bad):
        with pytest.raises(ValueError, match=r"hessian must be one of 'exact', 'gauss_newton', "
                                             r"'majorizer', 'clip', 'constant'; got"):
            gradhess.get(name, hessian=bad)

    @pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf, "2", True])
    def test_hessian_scale(self, name, bad):
        with pytest.raises(ValueError, match=r"hessian_scale must be a number in \(0, inf\); got"):
            gradhess.get(name, hessian_scale=bad)

    def test_unknown_parameter(self, name):
        with pytest.raises(ValueError, match=rf"^{name} takes no parameter 'temperature'; its "
                                            r"parameters: .*hessian"):
            gradhess.get(name, temperature=2.0)
        if name == "brier":  # another objective's parameter is named as unknown too
            with pytest.raises(ValueError, match=r"^brier takes no parameter 'gamma'; its "
                                                r"parameters: hessian, hessian_scale$"):
                gradhess.get("brier", gamma=2.0)


@pytest.mark.parametrize("name", ["focal", "binary_focal"])
@pytest.mark.parametrize("bad", [-0.1, np.nan, np.inf, "2", True])
def test_gamma(name, bad):
    with pytest.raises(ValueError, match=r"gamma must be a number in \[0, inf\); got"):
        gradhess.get(name, gamma=bad)


@pytest.mark.parametrize("name", ["ranked_probability", "spherical"])
def test_cell_weights_refused_where_undefined(name):
    obj = gradhess.get(name)
    z = np.zeros((4, 3))
    y = np.array([0, 1, 2, 0])
    with pytest.raises(ValueError, match=rf"{name} takes one weight per row; got sample_weight "
                                         r"of shape \(4, 3\)"):
        obj.gradient_hessian(y, z, np.ones((4, 3)))
    with pytest.raises(ValueError, match="takes one weight per row"):
        obj.init_raw(y, np.ones((4, 3)))


@pytest.mark.parametrize("name", ["cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, np.nan, "0.1", True])
def test_label_smoothing(name, bad):
    with pytest.raises(ValueError, match=r"label_smoothing must be (in|a number in) \[0, 1\); got"):
        gradhess.get(name, label_smoothing=bad)


@pytest.mark.parametrize("labels, match", [
    (np.array([0, 10**9]), r"y holds class indices up to 1000000000 for 2 rows: pass the class count"),
    (np.array([0, 2**62]), r"y holds class indices up to 4611686018427387904: class indices are 0..K-1"),
    (np.array([0.0, 1e20]), r"y holds class indices up to 1e\+20: class indices are 0..K-1"),
    (np.array([0, -3]), r"y holds class indices up to 0 for|class index outside"),
])
def test_init_raw_refuses_class_counts_that_are_no_class_counts(labels, match):
    """A huge largest class index would make K huge (an (K,) intercept, bincount's array):
    refused, naming it, before anything is allocated."""
    with pytest.raises(ValueError, match=match):
        gradhess.get("cross_entropy").init_raw(labels)


@pytest.mark.parametrize("bad", [2.5, "3", True])
def test_n_classes_must_be_a_whole_number(bad):
    with pytest.raises(ValueError, match=r"n_classes must be a whole number; got"):
        gradhess.get("cross_entropy").init_raw(np.array([0, 1]), n_classes=bad)
