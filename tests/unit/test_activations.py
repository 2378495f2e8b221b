"""Unit tests and properties of xentlib.activations: the laws of chapters 1, 2 and 5.

Expected values come from closed forms (sigma(ln 3) = 3/4, softmax of equal logits = 1/C) or
from mpmath (see test_oracles.py); none is produced by the code under test.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from strategies import matrices, reals, vectors

from xentlib import (
    log_softmax,
    logsumexp,
    numerical_gradient,
    reference,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_jacobian,
)

SEED_Z = [-2.85, 0.86, 0.28]
# softmax of the seed's scores, from the course brief: mpmath at 40 digits, rounded to float64.
SEED_P = [0.015449315676073601, 0.63116335360470873, 0.35338733071921767]
EPS64 = np.finfo(np.float64).eps
INF = math.inf


# --- sigmoid (eq-sigmoid) ---------------------------------------------------------------------


def test_sigmoid_of_zero_is_exactly_one_half():
    assert sigmoid(0.0) == 0.5
    assert sigmoid(-0.0) == 0.5


def test_sigmoid_closed_forms():
    # sigma(ln 3) = 1 / (1 + 1/3) = 3/4 and sigma(-ln 3) = 1/4.
    assert_allclose(sigmoid([math.log(3), -math.log(3)]), [0.75, 0.25], rtol=2 * EPS64)


@pytest.mark.parametrize("x", [-1e300, -1000.0, -746.0, -710.0, 710.0, 1000.0, 1e300])
def test_sigmoid_finite_at_extremes_without_warning(x):
    s = sigmoid(x)  # filterwarnings=error turns an overflow warning into a failure
    assert np.isfinite(s)
    # e^-710 is subnormal, e^-746 is below the smallest subnormal; 1 - e^-710 rounds to 1.
    expected = 1.0 if x > 0 else (math.exp(x) if x > -745 else 0.0)
    assert s == expected


def test_sigmoid_tail_keeps_digits():
    # sigma(-700) = e^-700 / (1 + e^-700) = e^-700 to double precision.
    assert_allclose(sigmoid(-700.0), math.exp(-700.0), rtol=4 * EPS64)
    assert_allclose(sigmoid(-40.0), math.exp(-40.0) / (1 + math.exp(-40.0)), rtol=4 * EPS64)


def test_sigmoid_infinities_are_the_limits():
    assert_array_equal(sigmoid([-INF, INF]), [0.0, 1.0])


def test_sigmoid_nan_propagates():
    assert np.isnan(sigmoid(math.nan))
    out = sigmoid([math.nan, 0.0])
    assert np.isnan(out[0]) and out[1] == 0.5


@given(reals(800.0))
def test_sigmoid_symmetry(x):
    # sigma(-x) = 1 - sigma(x)
    assert_allclose(sigmoid(-x), 1 - sigmoid(x), rtol=0, atol=EPS64)


@given(reals(800.0))
def test_sigmoid_in_unit_interval_and_monotone(x):
    s = sigmoid(x)
    assert 0.0 <= s <= 1.0
    assert sigmoid(x + 1.0) >= s


@given(reals(30.0))
def test_sigmoid_derivative_matches_central_differences(x):
    numeric = numerical_gradient(lambda v: float(sigmoid(v[0])), [x], eps=1e-5)
    # rounding error of the difference quotient: about 1e-16 / 1e-5 in absolute terms
    assert_allclose(sigmoid_grad(x), numeric[0], rtol=1e-6, atol=1e-10)


@given(reals(30.0))
def test_sigmoid_grad_equals_seed_form(x):
    # The seed's e^-x / (1 + e^-x)^2 is safe for |x| <= 30; sigma (1 - sigma) cancels for
    # large x, so it is only compared in absolute terms.
    seed = math.exp(-x) / (1 + math.exp(-x)) ** 2
    s = sigmoid(x)
    assert_allclose(sigmoid_grad(x), seed, rtol=1e-13)
    assert_allclose(sigmoid_grad(x), s * (1 - s), rtol=0, atol=2 * EPS64)


def test_sigmoid_grad_values():
    assert sigmoid_grad(0.0) == 0.25
    # e^-40 / (1 + e^-40)^2 equals e^-40 to double precision; sigma(1 - sigma) gives 0 here.
    assert_allclose(sigmoid_grad([40.0, -40.0]), math.exp(-40.0), rtol=4 * EPS64)
    assert_array_equal(sigmoid_grad([-1e300, 1e300, -INF, INF]), 0.0)


def test_sigmoid_grad_symmetric():
    x = np.linspace(-20, 20, 81)
    assert_array_equal(sigmoid_grad(x), sigmoid_grad(-x))


# --- dtypes, shapes, inputs left intact -------------------------------------------------------

ELEMENTWISE = [sigmoid, sigmoid_grad]
ALONG_AXIS = [softmax, log_softmax]


@pytest.mark.parametrize("func", ELEMENTWISE + ALONG_AXIS + [logsumexp, softmax_jacobian])
def test_float32_stays_float32(func):
    z = np.array([-2.85, 0.86, 0.28], dtype=np.float32)
    assert np.asarray(func(z)).dtype == np.float32


@pytest.mark.parametrize("func", ELEMENTWISE + ALONG_AXIS + [logsumexp, softmax_jacobian])
@pytest.mark.parametrize("z", [[1, 2, 3], np.array([1, 2, 3], dtype=np.int32), [True, False]])
def test_integers_and_lists_become_float64(func, z):
    assert np.asarray(func(z)).dtype == np.float64


@pytest.mark.parametrize("func", ELEMENTWISE + ALONG_AXIS + [logsumexp, softmax_jacobian])
def test_input_not_modified(func):
    z = np.array([-2.85, 0.86, -INF, 0.28])
    before = z.copy()
    func(z)
    assert_array_equal(z, before)


@pytest.mark.parametrize("func", ELEMENTWISE)
def test_elementwise_keeps_shape(func):
    x = np.zeros((2, 3, 4))
    assert func(x).shape == (2, 3, 4)
    assert np.ndim(func(1.0)) == 0


# --- softmax (eq-softmax) ---------------------------------------------------------------------


def test_softmax_seed_example():
    assert_allclose(softmax(SEED_Z), SEED_P, rtol=4 * EPS64)


def test_softmax_equal_logits_are_uniform():
    assert_array_equal(softmax(np.full(4, 7.0)), 0.25)
    assert_array_equal(softmax([[0.0, 0.0], [1e300, 1e300]]), 0.5)


def test_softmax_large_logits_do_not_overflow():
    assert_allclose(softmax([1000.0, 1000.0 + math.log(3)]), [0.25, 0.75], rtol=1e-12)
    assert_array_equal(softmax([1e300, -1e300]), [1.0, 0.0])
    assert_array_equal(softmax([-1000.0, 1000.0]), [0.0, 1.0])


def test_softmax_masked_logits_get_exactly_zero():
    p = softmax([[0.0, -INF, 0.0], [-INF, 5.0, -INF]])
    assert_array_equal(p, [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])


def test_softmax_all_masked_row_is_nan_only_in_that_row():
    p = softmax([[-INF, -INF], [0.0, 0.0]])
    assert np.isnan(p[0]).all()
    assert_array_equal(p[1], 0.5)


def test_softmax_nan_spreads_to_its_row_only():
    p = softmax([[math.nan, 1.0], [0.0, 0.0]])
    assert np.isnan(p[0]).all()
    assert_array_equal(p[1], 0.5)


def test_softmax_single_plus_inf_takes_all_mass():
    assert_array_equal(softmax([INF, 1.0, -INF]), [1.0, 0.0, 0.0])


def test_softmax_single_class_is_one():
    assert_array_equal(softmax([[-1e300], [3.0]]), [[1.0], [1.0]])


def test_softmax_axis():
    z = np.array([[1.0, 2.0], [3.0, 5.0]])
    assert_allclose(softmax(z, axis=0), softmax(z.T).T, rtol=1e-15)
    assert_allclose(softmax(z, axis=-2), softmax(z.T).T, rtol=1e-15)
    assert_allclose(softmax(z, axis=1), softmax(z), rtol=0)
    assert_allclose(softmax(z, axis=np.int64(0)), softmax(z.T).T, rtol=1e-15)


@given(matrices())
def test_softmax_rows_sum_to_one_and_lie_in_unit_interval(z):
    p = softmax(z)
    assert p.shape == z.shape
    assert ((p >= 0) & (p <= 1)).all()
    assert_allclose(p.sum(axis=-1), 1.0, rtol=0, atol=8 * EPS64)


@given(vectors(), reals(1e3))
def test_softmax_shift_invariance(z, c):
    # eq-softmax-shift: softmax(z + c) = softmax(z)
    assert_allclose(softmax(z + c), softmax(z), rtol=1e-9, atol=1e-300)


@given(reals(700.0))
def test_two_class_softmax_is_the_sigmoid(x):
    # softmax([x, 0])_0 = e^x / (e^x + 1) = sigma(x)
    p = softmax([x, 0.0])
    assert_allclose(p[0], sigmoid(x), rtol=4 * EPS64)
    assert_allclose(p[1], sigmoid(-x), rtol=4 * EPS64)


@given(vectors(bound=1e3, min_size=2))
def test_softmax_preserves_order(z):
    p = softmax(z)
    i, j = np.argsort(z)[[0, -1]]
    assert p[i] <= p[j]
    assert p[np.argmax(z)] == p.max()


# --- log_softmax (eq-log-softmax) and logsumexp (eq-logsumexp) ---------------------------------


def test_log_softmax_seed_example():
    assert_allclose(log_softmax(SEED_Z), np.log(SEED_P), rtol=4 * EPS64)


def test_log_softmax_where_softmax_underflows():
    # log softmax([1000, 1]) = [-log1p(e^-999), -999 - log1p(e^-999)] = [-0.0, -999.0] exactly.
    assert_array_equal(log_softmax([1000.0, 1.0]), [0.0, -999.0])
    assert_array_equal(log_softmax([1e300, -1e300]), [0.0, -2e300])


def test_log_softmax_keeps_tiny_digits_of_the_top_class():
    # log softmax([0, -40])_0 = -log1p(e^-40) = -e^-40 (1 - e^-40/2 ...) = -e^-40 to 1 ulp.
    assert_allclose(log_softmax([0.0, -40.0])[0], -math.exp(-40.0), rtol=2 * EPS64)


def test_log_softmax_masked_and_empty_rows():
    out = log_softmax([[0.0, -INF], [-INF, -INF]])
    assert_array_equal(out[0], [0.0, -INF])
    assert np.isnan(out[1]).all()


@given(matrices(bound=30.0))
def test_log_softmax_is_log_of_softmax(z):
    # With |z| <= 30 no probability underflows, so log(softmax) is accurate.
    assert_allclose(log_softmax(z), np.log(softmax(z)), rtol=1e-12, atol=1e-13)


@given(vectors(), reals(1e3))
def test_log_softmax_shift_invariance(z, c):
    assert_allclose(log_softmax(z + c), log_softmax(z), rtol=1e-9, atol=1e-9)


@given(matrices(bound=1e3))
def test_log_softmax_is_z_minus_logsumexp(z):
    assert_allclose(log_softmax(z), z - logsumexp(z, keepdims=True), rtol=1e-12, atol=1e-12)
    assert (log_softmax(z) <= 0).all()


def test_logsumexp_values():
    assert logsumexp([0.0]) == 0.0
    assert_allclose(logsumexp([0.0, 0.0]), math.log(2), rtol=EPS64)
    assert_allclose(logsumexp([1000.0, 1000.0]), 1000 + math.log(2), rtol=EPS64)
    assert_allclose(logsumexp([-1000.0, -1000.0]), -1000 + math.log(2), rtol=EPS64)
    assert logsumexp([1e300, 1e300]) == 1e300
    assert logsumexp([-1e300, 0.0]) == 0.0


def test_logsumexp_masked_rows():
    assert logsumexp([0.0, -INF]) == 0.0
    assert logsumexp([-INF, -INF]) == -INF
    assert logsumexp([INF, 1.0]) == INF


def test_logsumexp_nan_propagates():
    assert np.isnan(logsumexp([math.nan, 1.0]))


def test_logsumexp_axis_and_keepdims():
    z = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert_allclose(logsumexp(z), [math.log(3), 1 + math.log(3)], rtol=EPS64)
    assert_allclose(logsumexp(z, axis=0), np.full(3, math.log(math.e + 1)), rtol=2 * EPS64)
    assert logsumexp(z, keepdims=True).shape == (2, 1)
    assert logsumexp(z, axis=0, keepdims=True).shape == (1, 3)
    assert logsumexp(z).shape == (2,)
    assert np.ndim(logsumexp([1.0, 2.0])) == 0


@given(vectors(bound=1e3), st.integers(0, 7), st.floats(0.0, 1e3))
def test_logsumexp_monotone(z, index, increase):
    bigger = z.copy()
    bigger[index % z.size] += increase
    assert logsumexp(bigger) >= logsumexp(z)


@given(vectors(bound=1e3))
def test_logsumexp_bounds(z):
    # max z <= logsumexp(z) <= max z + log C
    lse = logsumexp(z)
    top = z.max()
    assert top <= lse <= top + math.log(z.size) + 4 * EPS64 * max(1.0, abs(top))


@given(vectors(), reals(1e3))
def test_logsumexp_shift(z, c):
    assert_allclose(logsumexp(z + c), logsumexp(z) + c, rtol=1e-12, atol=1e-9)


# --- softmax_jacobian (eq-softmax-jacobian) ---------------------------------------------------


def test_softmax_jacobian_seed_example():
    q = np.array(SEED_P)
    expected = np.diag(q) - np.outer(q, q)
    assert_allclose(softmax_jacobian(SEED_Z), expected, rtol=8 * EPS64)


def test_softmax_jacobian_of_two_classes_is_sigmoid_grad():
    # For z = [x, 0], dq_0/dz_0 = sigma'(x) and dq_0/dz_1 = -sigma'(x).
    x = 1.5
    s = 1 / (1 + math.exp(-x))
    expected = s * (1 - s) * np.array([[1.0, -1.0], [-1.0, 1.0]])
    assert_allclose(softmax_jacobian([x, 0.0]), expected, rtol=1e-14)


def test_softmax_jacobian_single_class_is_zero():
    assert_array_equal(softmax_jacobian([3.0]), [[0.0]])


def test_softmax_jacobian_masked_class_has_zero_row_and_column():
    jac = softmax_jacobian([0.0, -INF, 0.0])
    assert_array_equal(jac[1], 0.0)
    assert_array_equal(jac[:, 1], 0.0)
    assert_array_equal(jac[[0, 2]][:, [0, 2]], [[0.25, -0.25], [-0.25, 0.25]])


def test_softmax_jacobian_nan():
    assert np.isnan(softmax_jacobian([math.nan, 0.0])).all()


@given(vectors(bound=20.0))
def test_softmax_jacobian_matches_numerical_jacobian(z):
    numeric = np.array([numerical_gradient(lambda v, i=i: softmax(v)[i], z) for i in range(z.size)])
    assert_allclose(softmax_jacobian(z), numeric, rtol=1e-6, atol=1e-8)


@given(vectors(bound=50.0))
def test_softmax_jacobian_symmetric_rows_sum_to_zero(z):
    jac = softmax_jacobian(z)
    assert jac.shape == (z.size, z.size)
    assert_array_equal(jac, jac.T)
    assert_allclose(jac.sum(axis=1), 0.0, atol=4 * EPS64)
    assert (np.diag(jac) >= 0).all()


@given(hnp.arrays(np.float64, st.integers(1, 6), elements=reals(20.0)))
def test_softmax_jacobian_diagonal_is_seed_form(z):
    # The seed's diagonal term dq_k/dz_k = -q_k (q_k - 1) cancels when q_k is near 1: absolute.
    q = softmax(z)
    assert_allclose(np.diag(softmax_jacobian(z)), -q * (q - 1), rtol=0, atol=2 * EPS64)


@given(reals(700.0))
def test_softmax_jacobian_two_classes_keeps_digits(x):
    # The 2-class diagonal is sigma'(x) to the last digits, even where q_0 is within 1e-300 of 1.
    jac = softmax_jacobian([x, 0.0])
    expected = sigmoid_grad(x)
    assert_allclose(np.diag(jac), [expected, expected], rtol=8 * EPS64, atol=1e-300)
    assert_allclose(jac[0, 1], -expected, rtol=8 * EPS64, atol=1e-300)


def test_logsumexp_keeps_other_length_one_axes():
    assert logsumexp(np.zeros((1, 3))).shape == (1,)
    assert logsumexp(np.zeros((3, 1)), axis=0).shape == (1,)
    assert logsumexp(np.zeros((1, 1, 2)), axis=-1).shape == (1, 1)


def test_softmax_jacobian_all_masked_is_nan():
    assert np.isnan(softmax_jacobian([-INF, -INF])).all()


def test_no_overflow_warning_when_logits_span_the_whole_range():
    # z - max(z) = -3.4e308 overflows to -inf: the right limit, and no warning may escape
    z = [1.7e308, -1.7e308]
    assert_array_equal(softmax(z), [1.0, 0.0])
    assert_array_equal(log_softmax(z), [0.0, -INF])
    assert logsumexp(z) == 1.7e308
    assert_array_equal(softmax_jacobian(z), [[0.0, -0.0], [-0.0, 0.0]])


def test_nan_in_sigmoid_grad_and_log_softmax():
    assert np.isnan(sigmoid_grad(math.nan))
    out = log_softmax([[math.nan, 0.0], [0.0, 0.0]])
    assert np.isnan(out[0]).all()
    assert_allclose(out[1], -math.log(2), rtol=EPS64)


@pytest.mark.parametrize("big", [1e4, 3e38])
def test_float32_extremes_do_not_overflow(big):
    x = np.array([-big, 0.0, big], dtype=np.float32)
    assert_array_equal(sigmoid(x), np.array([0.0, 0.5, 1.0], dtype=np.float32))
    assert_array_equal(sigmoid_grad(x), np.array([0.0, 0.25, 0.0], dtype=np.float32))
    p = softmax(x)
    assert p.dtype == np.float32
    assert_array_equal(p, [0.0, 0.0, 1.0])
    assert logsumexp(x) == np.float32(big)


# --- underflow is the answer, whatever the caller's np.errstate -------------------------------


@pytest.mark.parametrize(
    "z",
    [[0.0, 0.0, -745.0], [0.0, 0.0, -740.0], [[0.0, 0.0, -708.0], [1.0, 0.0, -744.0]]],
    ids=["to zero", "to a subnormal", "rows"],
)
def test_softmax_underflowing_probability_raises_nothing_under_errstate_raise(z):
    # e^(z - m) / (1 + t) lands below the normal range (a subnormal, or 0 for e^-745 / 2): the
    # right answer, so the caller's errstate(all='raise') must not raise, and the result is still
    # within 1 ulp of mpmath's. ([0, -800] never gets there: e^-800 is already 0, and 0 / 1 is
    # exact.) Fails if the division runs under the caller's error state.
    with np.errstate(all="raise"):
        p = softmax(z)
    assert (reference.ulp_error(p, reference.softmax(z), np.float64) <= 1).all()


@pytest.mark.parametrize(
    "z",
    [[0.0, 0.0, -400.0, -400.0], [0.0, 0.0, -5700.0, -5700.0]],
    ids=["below float64", "below long double"],
)
def test_softmax_jacobian_underflowing_products_raise_nothing_under_errstate_raise(z):
    # q_2 q_3 is e^-800 / 4, below float64's range, or e^-11400 / 4, below even x86's long
    # double, in which the Jacobian is computed: 0, not a fault. Under the caller's
    # errstate(all='raise') nothing may raise, and every entry is within 4 ulp of mpmath's.
    # Fails if the products run under the caller's error state.
    with np.errstate(all="raise"):
        jac = softmax_jacobian(z)
    assert (reference.ulp_error(jac, reference.softmax_jacobian(z), np.float64) <= 4).all()
