"""Oracles: scipy.special on random inputs, and mpmath at 50 digits at the extremes.

Every exact value is ``xentlib.reference``'s, computed from the exact binary value of the float64
inputs (``mpf(float)`` is exact) in forms that do not cancel, and every error is its
``ulp_error`` in float64. Logits that must be compared to a few ulp are multiples of 1/64, so that
``z - max(z)`` is exact in floating point and the comparison measures xentlib's error, not the
conditioning of ``exp``.
"""

import math

import mpmath
import numpy as np
import pytest
import scipy.special
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from strategies import matrices, reals

from xentlib import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_grad,
    cross_entropy_with_grad,
    log_softmax,
    logsumexp,
    reference,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_jacobian,
)

EPS64 = np.finfo(np.float64).eps
INF = math.inf
SEED_Z = [-2.85, 0.86, 0.28]
# mpmath at 50 digits is slow: fewer examples than the default profile
ORACLE = settings(max_examples=60)
# scipy and xentlib both round, in different orders: allow the sum of two few-ulp errors
SCIPY_RTOL = 16 * EPS64


def ulps(actual, exact):
    """The float64 ulp errors of ``actual`` against ``exact`` (an Exact or mpmath values)."""
    return np.atleast_1d(reference.ulp_error(actual, exact, np.float64))


def assert_ulp(actual, exact, max_ulp):
    errors = ulps(actual, exact)
    assert errors.max(initial=0.0) <= max_ulp, f"errors in ulp: {errors}"


def grid_logits(bound=50):
    """Logits that are multiples of 1/64 in [-bound, bound]: their differences are exact."""
    return st.integers(-64 * bound, 64 * bound).map(lambda k: k / 64)


def grid_vectors(bound=50, max_size=8):
    return hnp.arrays(np.float64, st.integers(1, max_size), elements=grid_logits(bound))


# --- the seed's numbers -----------------------------------------------------------------------


def test_seed_softmax_loss_and_grad_against_mpmath():
    # The seed's z - max(z) is not exact (-2.85 - 0.86), so allow the rounding of that step.
    loss = reference.cross_entropy(SEED_Z, 2)
    assert f"{float(loss.hi):.13f}" == "1.0401905694301"
    assert_ulp(softmax(SEED_Z), reference.softmax(SEED_Z), 4)
    assert_ulp(cross_entropy(SEED_Z, 2), loss, 4)
    assert_ulp(cross_entropy_grad(SEED_Z, 2), reference.cross_entropy_grad(SEED_Z, 2), 4)
    assert_array_equal(cross_entropy_grad(SEED_Z, 2).round(5), [0.01545, 0.63116, -0.64661])


def test_softmax_of_the_seed_is_within_2_ulp_of_the_briefs_figures():
    # The brief's 40-digit softmax, hard-coded in test_activations.py, is the softmax of the
    # DECIMAL scores -2.85, 0.86, 0.28; float64 holds their nearest binary values, whose
    # softmax differs in the 17th digit (about 1 ulp for q_0). xentlib's softmax of the binary
    # scores is within 2 ulp of the brief's (rounded) figures and of their exact values.
    brief = [0.015449315676073601, 0.63116335360470873, 0.35338733071921767]
    with mpmath.workdps(50):
        decimal = [mpmath.mpf("-2.85"), mpmath.mpf("0.86"), mpmath.mpf("0.28")]
        total = mpmath.fsum(mpmath.exp(v) for v in decimal)
        exact_decimal = [mpmath.exp(v) / total for v in decimal]
        loss_decimal = mpmath.log(total) - decimal[2]
    assert [float(v) for v in exact_decimal] == brief  # the brief's figures are these, rounded
    assert_ulp(softmax(SEED_Z), exact_decimal, 2)
    assert_ulp(softmax(SEED_Z), brief, 2)
    assert_ulp(cross_entropy(SEED_Z, 2), loss_decimal, 2)


# --- sigmoid ----------------------------------------------------------------------------------


@ORACLE
@given(reals(745.0))
def test_sigmoid_against_mpmath(x):
    assert_ulp(sigmoid(x), reference.sigmoid(x), 2)


@ORACLE
@given(reals(745.0))
def test_sigmoid_grad_against_mpmath(x):
    assert_ulp(sigmoid_grad(x), reference.sigmoid_grad(x), 3)


@pytest.mark.parametrize("x", [-1e300, -1000.0, -745.0, -700.0, -40.0, 40.0, 700.0, 1000.0, 1e300])
def test_sigmoid_extremes_against_mpmath(x):
    assert_ulp(sigmoid(x), reference.sigmoid(x), 2)
    assert_ulp(sigmoid_grad(x), reference.sigmoid_grad(x), 3)


@ORACLE
@given(matrices(bound=800.0))
def test_sigmoid_against_scipy_expit(x):
    # expit flushes subnormal results (sigma(-710) = 4.5e-309) to 0; sigmoid keeps them
    tiny = np.finfo(np.float64).tiny
    assert_allclose(sigmoid(x), scipy.special.expit(x), rtol=SCIPY_RTOL, atol=tiny)


# --- the softmax family against mpmath ----------------------------------------------------------


@ORACLE
@given(grid_vectors())
def test_softmax_against_mpmath(z):
    assert_ulp(softmax(z), reference.softmax(z), 4)


@ORACLE
@given(grid_vectors())
def test_log_softmax_against_mpmath(z):
    assert_ulp(log_softmax(z), reference.log_softmax(z), 4)


@ORACLE
@given(grid_vectors())
def test_logsumexp_against_mpmath(z):
    # relative accuracy of m + log1p(t) holds unless the two terms nearly cancel (|lse| << max|z|):
    # then the condition number sum |z_j| q_j / |lse| multiplies the few ulp
    tolerance = 4 * (1 + reference.logsumexp_condition(z))
    assert_ulp(logsumexp(z), reference.logsumexp(z), tolerance)


@ORACLE
@given(hnp.arrays(np.float64, st.integers(2, 6), elements=reals(1000.0)))
def test_softmax_family_on_any_floats_against_mpmath(z):
    # Arbitrary floats: z - max(z) is rounded, and exp turns its rounding error delta into a
    # relative error delta (700 ulp at d = -700); the core keeps that error term, so a few
    # ulp still hold. Probabilities below 1e-300 are compared in absolute terms (subnormals).
    exact = reference.softmax(z)
    normal = exact.hi > 1e-300
    assert ulps(softmax(z), exact)[normal].max() <= 4
    assert_ulp(log_softmax(z), reference.log_softmax(z), 4)
    label = int(np.argmin(z))  # the least likely class: the largest loss
    loss, grad = cross_entropy_with_grad(z, label)
    assert_ulp(loss, reference.cross_entropy(z, label), 4)
    checked = normal.copy()
    checked[label] = True  # q_y - 1 is near -1 even when q_y underflows
    assert ulps(grad, reference.cross_entropy_grad(z, label))[checked].max() <= 4


@pytest.mark.parametrize(
    "z",
    [
        [1000.0, 999.0, -1000.0, 998.5],
        [1000.1, 0.3, -999.7, 999.9],
        [-1000.0, -1000.5, -1001.0],
        [1e300, -1e300, 0.0],
        [1e300, 1e300],
        [-1e300, -1e300, -1e300],
        [0.0, -INF, 1.5, -INF],
        [-INF, -INF, 2.0],
        [745.0, 0.0],
        [40.0, 0.0, -40.0],
    ],
)
def test_softmax_family_extremes_against_mpmath(z):
    assert_ulp(softmax(z), reference.softmax(z), 4)
    assert_ulp(logsumexp(z), reference.logsumexp(z), 2)
    assert_ulp(log_softmax(z), reference.log_softmax(z), 4)  # -inf exactly where masked
    assert_array_equal(softmax(z)[[i for i, v in enumerate(z) if v == -INF]], 0.0)


@pytest.fixture(scope="module")
def many_classes():
    """1e5 logits on the 1/64 grid in [-50, 50] and their exact results, label 12345."""
    rng = np.random.default_rng(0)
    z = rng.integers(-3200, 3200, size=100_000) / 64
    z[12345] = 60.0  # one clear winner, as in a trained classifier
    return z, reference.softmax_row(z, label=12345)


def test_hundred_thousand_classes_against_mpmath(many_classes):
    z, exact = many_classes
    assert_ulp(logsumexp(z), exact["logsumexp"], 2)
    assert_ulp(softmax(z), exact["softmax"], 4)
    log_q = exact["log_softmax"]
    assert_ulp(log_softmax(z), log_q, 4)
    assert_ulp(cross_entropy(z, 7), reference.Exact(-log_q.hi[7], -log_q.lo[7]), 4)
    assert_ulp(cross_entropy_grad(z, 12345), exact["cross_entropy_grad"], 4)
    assert_allclose(softmax(z).sum(), 1.0, rtol=0, atol=16 * EPS64)


# --- the softmax family against scipy.special --------------------------------------------------


def assert_close_to_scipy_softmax(actual, z, axis):
    """scipy rounds d = z - max(z) and exponentiates it: a relative error up to |d| eps (the
    conditioning of exp), plus a few ulp of its own; xentlib may be better, not worse."""
    expected = scipy.special.softmax(z, axis=axis)
    d = np.abs(z - z.max(axis=axis, keepdims=True))
    tolerance = (SCIPY_RTOL + d * EPS64) * expected + 1e-300
    assert (np.abs(actual - expected) <= tolerance).all(), (actual, expected)


@ORACLE
@given(matrices(bound=1e3))
def test_softmax_against_scipy(z):
    assert_close_to_scipy_softmax(softmax(z), z, axis=-1)
    assert_close_to_scipy_softmax(softmax(z, axis=0), z, axis=0)


@ORACLE
@given(matrices(bound=1e3))
def test_log_softmax_against_scipy(z):
    # scipy's log(sum) drops the digits of a tiny sum (rounding 1 + t): absolute tolerance 2 eps
    expected = scipy.special.log_softmax(z, axis=-1)
    assert_allclose(log_softmax(z), expected, rtol=SCIPY_RTOL, atol=2 * EPS64)


@ORACLE
@given(matrices(bound=1e3))
def test_logsumexp_against_scipy(z):
    expected = scipy.special.logsumexp(z, axis=-1)
    assert_allclose(logsumexp(z), expected, rtol=SCIPY_RTOL, atol=4 * EPS64)
    expected0 = scipy.special.logsumexp(z, axis=0, keepdims=True)
    assert_allclose(logsumexp(z, axis=0, keepdims=True), expected0, rtol=SCIPY_RTOL, atol=4 * EPS64)


def test_masked_logits_against_scipy():
    z = np.array([[0.0, -INF, 1.0], [-INF, 2.0, -INF]])
    assert_array_equal(softmax(z), scipy.special.softmax(z, axis=-1))
    assert_allclose(logsumexp(z), scipy.special.logsumexp(z, axis=-1), rtol=EPS64)


# --- losses against mpmath ----------------------------------------------------------------------


@ORACLE
@given(grid_vectors(max_size=6), st.data())
def test_cross_entropy_and_grad_against_mpmath(z, data):
    label = data.draw(st.integers(0, z.size - 1))
    loss, grad = cross_entropy_with_grad(z, label)
    assert_ulp(loss, reference.cross_entropy(z, label), 4)
    assert_ulp(grad, reference.cross_entropy_grad(z, label), 4)


@pytest.mark.parametrize(
    ("z", "label"),
    [
        ([1000.0, -1000.0, 0.0], 0),
        ([1000.0, -1000.0, 0.0], 1),
        ([1e300, -1e300], 0),
        ([1e300, -1e300], 1),
        ([40.0, 0.0], 0),
        ([700.0, 0.0, 1.0], 0),
        ([0.0, -INF, 0.5], 2),
        ([-1000.0, -1000.0, -1001.0], 2),
        # near log(float max) = 709.78: exp(z) alone would overflow the sum of three
        ([709.0, 709.0, 709.0], 0),
        ([709.5, 709.0, 709.25], 1),
        ([707.5, 707.0, 0.0], 0),
        ([707.5, 707.0, 0.0], 2),
    ],
)
def test_cross_entropy_extremes_against_mpmath(z, label):
    exact_loss, exact_grad = (
        reference.cross_entropy(z, label),
        reference.cross_entropy_grad(z, label),
    )
    assert_ulp(cross_entropy(z, label), exact_loss, 2)
    assert_ulp(cross_entropy_grad(z, label), exact_grad, 4)
    # the same row inside a batch
    loss, grad = cross_entropy_with_grad([z, [0.0] * len(z)], [label, 0], "none")
    assert_ulp(loss[0], exact_loss, 2)
    assert_ulp(grad[0], exact_grad, 4)


@ORACLE
@given(grid_vectors(max_size=5))
def test_softmax_jacobian_against_mpmath(z):
    assert_ulp(softmax_jacobian(z), reference.softmax_jacobian(z), 8)


@ORACLE
@given(grid_logits(700), st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_bce_with_logits_and_grad_against_mpmath(z, y):
    # -y log sigma(z) - (1 - y) log sigma(-z)
    exact_loss = reference.binary_cross_entropy_with_logits(z, y)
    assert_ulp(binary_cross_entropy_with_logits(z, y), exact_loss, 4)
    assert_ulp(binary_cross_entropy_grad(z, y), reference.binary_cross_entropy_grad(z, y), 4)


@pytest.mark.parametrize(
    ("z", "y"),
    [(1e300, 0.5), (-1e300, 0.5), (1e300, 0.0), (-1e300, 1.0), (1000.0, 1.0), (-745.0, 0.0)],
)
def test_bce_with_logits_extremes_against_mpmath(z, y):
    exact_loss = reference.binary_cross_entropy_with_logits(z, y)
    assert_ulp(binary_cross_entropy_with_logits(z, y), exact_loss, 2)
    assert_ulp(binary_cross_entropy_grad(z, y), reference.binary_cross_entropy_grad(z, y), 4)


@ORACLE
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_bce_against_mpmath(q, y):
    exact = reference.binary_cross_entropy(q, y)
    got = binary_cross_entropy(q, y)
    if exact.hi == INF:
        assert got == INF
    else:
        # log1p(-q) needs 1 - q, exact for q >= 1/2 (Sterbenz) and within 1 ulp below
        assert_ulp(got, exact, 4 + 4 * abs(math.log(q)) if q > 0 else 4)


@ORACLE
@given(hnp.arrays(np.float64, st.integers(1, 5), elements=st.floats(-30, 30)))
def test_bce_with_logits_against_scipy(z):
    # scipy's binary cross-entropy from logits is -(y log expit(z) + (1 - y) log expit(-z))
    y = (z > 0).astype(float)
    expected = -(y * scipy.special.log_expit(z) + (1 - y) * scipy.special.log_expit(-z))
    got = binary_cross_entropy_with_logits(z, y, "none")
    assert_allclose(got, expected, rtol=SCIPY_RTOL, atol=1e-300)
