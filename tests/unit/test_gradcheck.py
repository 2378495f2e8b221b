"""Unit tests of xentlib.gradcheck.numerical_gradient, on functions with known gradients."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from strategies import reals

from xentlib import numerical_gradient


def test_quadratic_is_exact_up_to_rounding():
    # central differences are exact for quadratics: d/dx_i sum(c_i x_i^2) = 2 c_i x_i
    c = np.array([1.0, -2.0, 0.5])
    x = np.array([0.3, 1.5, -4.0])
    grad = numerical_gradient(lambda v: float(np.sum(c * v**2)), x)
    assert_allclose(grad, 2 * c * x, rtol=1e-8)


def test_cubic_truncation_error_is_eps_squared():
    # (f(x + h) - f(x - h)) / 2h = 3x^2 + h^2 for f = x^3, with the step h = eps * |x| at x = 2
    for eps in (1e-2, 1e-3):
        grad = numerical_gradient(lambda v: v[0] ** 3, [2.0], eps=eps)
        assert_allclose(grad, [12.0 + (2 * eps) ** 2], rtol=1e-10)


def test_default_step_is_1e_minus_6():
    # for f = x^3 the error is exactly eps^2; 1e-6 squared is below the rounding noise
    grad = numerical_gradient(lambda v: v[0] ** 3, [1.0])
    assert abs(grad[0] - 3.0) < 1e-8
    coarse = numerical_gradient(lambda v: v[0] ** 3, [1.0], eps=0.1)
    assert_allclose(coarse, [3.01], rtol=1e-12)


def test_shape_and_dtype():
    x = np.zeros((2, 3), dtype=np.float32)
    grad = numerical_gradient(lambda v: float(np.sum(np.arange(6).reshape(2, 3) * v)), x)
    assert grad.shape == (2, 3)
    assert grad.dtype == np.float64
    assert_allclose(grad, np.arange(6).reshape(2, 3), rtol=1e-9)


def test_scalar_point():
    grad = numerical_gradient(lambda v: float(np.sin(v)), 0.0)
    assert grad.shape == ()
    assert_allclose(grad, 1.0, rtol=1e-10)


def test_list_and_int_inputs():
    grad = numerical_gradient(lambda v: float(v @ v), [1, 2, 3])
    assert grad.dtype == np.float64
    assert_allclose(grad, [2.0, 4.0, 6.0], rtol=1e-8)


def test_x_is_not_modified_and_f_sees_float64():
    x = np.array([1.0, 2.0])
    seen = []

    def f(v):
        seen.append((v.dtype, v.copy()))
        return float(v.sum())

    numerical_gradient(f, x, eps=0.5)
    assert_array_equal(x, [1.0, 2.0])
    assert all(dtype == np.float64 for dtype, _ in seen)
    # one coordinate moved at a time, by +h then -h, h = eps * max(1, |x_i|)
    points = [v for _, v in seen]
    assert_array_equal(points, [[1.5, 2.0], [0.5, 2.0], [1.0, 3.0], [1.0, 1.0]])


def test_float32_x_is_stepped_in_float64():
    x = np.array([1.0], dtype=np.float32)
    grad = numerical_gradient(lambda v: float(v[0] ** 2), x, eps=1e-7)
    assert_allclose(grad, [2.0], rtol=1e-7)
    assert x.dtype == np.float32 and x[0] == 1.0


def test_accepts_numpy_scalar_returns():
    grad = numerical_gradient(lambda v: np.float32(v[0]) * 2, [1.0], eps=0.25)
    assert_allclose(grad, [2.0], rtol=1e-6)
    grad = numerical_gradient(lambda v: np.array(v.sum()), [1.0, 1.0])
    assert_allclose(grad, [1.0, 1.0], rtol=1e-9)


@pytest.mark.parametrize("eps", [1, np.float32(0.5), np.int64(1), 1e-3])
def test_eps_numeric_types(eps):
    grad = numerical_gradient(lambda v: float(3 * v[0]), [0.0], eps=eps)
    assert_allclose(grad, [3.0], rtol=1e-9)


@given(hnp.arrays(np.float64, st.integers(1, 5), elements=reals(3.0)))
def test_gradient_of_logsumexp_is_softmax(x):
    # the book's identity, checked with an independent implementation (math, not xentlib)
    def lse(v):
        top = max(v)
        return top + math.log(sum(math.exp(t - top) for t in v))

    p = np.exp(x - x.max())
    p /= p.sum()
    assert_allclose(numerical_gradient(lse, x), p, rtol=1e-6, atol=1e-9)


def test_empty_point():
    assert numerical_gradient(lambda v: 0.0, np.zeros(0)).shape == (0,)


@pytest.mark.parametrize("value", [True, 3, np.uint8(3), np.float16(3.0), np.int64(3)])
def test_real_scalar_returns_of_every_kind_are_accepted(value):
    assert_array_equal(numerical_gradient(lambda v: value, [1.0, 2.0]), [0.0, 0.0])


def test_nan_from_f_gives_nan():
    # f is NaN only when the first coordinate steps above 1: only that entry is NaN
    grad = numerical_gradient(lambda v: math.nan if v[0] > 1 else 0.0, [1.0, 5.0])
    assert np.isnan(grad[0])
    assert grad[1] == 0.0


def test_a_point_near_the_largest_float_still_has_its_step():
    # At x = 1e308, x + h and x - h are finite, and so is the step between them, although
    # their sum is not: the derivative of the sum of x is 1. Fails if the check of the step
    # looks at anything but (x + h) - (x - h), such as (x + h) + (x - h).
    assert_array_equal(numerical_gradient(lambda v: float(v.sum()), np.array([1e308])), [1.0])
