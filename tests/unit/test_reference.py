"""The measuring tape itself: xentlib.reference's ulp metric and exact values on known numbers.

Every expected value here is a closed form or a power of two, never a result of xentlib.
"""

import math

import mpmath
import numpy as np
import pytest

from xentlib import reference


def test_the_ulp_metric():
    # 1 + 2**-52 is one float64 ulp above 1; 2**-1074 is one subnormal ulp above 0.
    one = reference.Exact(np.array([1.0]), np.array([0.0]))
    assert reference.ulp_error(np.array([1 + 2**-52]), one, np.float64)[0] == 1.0
    assert reference.ulp_error(np.array([1 + 2**-23]), one, np.float32)[0] == 1.0
    assert reference.ulp_error(np.array([1 + 2**-10]), one, np.float16)[0] == 1.0
    zero = reference.Exact(np.array([0.0]), np.array([0.0]))
    assert reference.ulp_error(np.array([2.0**-1074]), zero, np.float64)[0] == 1.0
    assert reference.ulp_error(np.array([2.0**-149]), zero, np.float32)[0] == 1.0
    assert reference.ulp_error(np.array([np.nan]), one, np.float64)[0] == np.inf
    assert reference.ulp_error(np.array([np.inf]), one, np.float64)[0] == np.inf
    minus_inf = reference.Exact(np.array([-np.inf]), np.array([0.0]))
    assert reference.ulp_error(np.array([-np.inf]), minus_inf, np.float64)[0] == 0.0
    assert reference.ulp_error(np.array([0.0]), minus_inf, np.float64)[0] == np.inf


def test_an_exact_value_beyond_the_format_counts_its_infinity():
    big = reference.Exact(np.array([1e39]), np.array([0.0]))  # rounds to inf in float32
    assert reference.ulp_error(np.float32(np.inf), big, np.float32) == 0.0
    assert reference.ulp_error(np.finfo(np.float32).max, big, np.float32) == np.inf


def test_just_below_a_power_of_two_the_ulp_halves():
    with mpmath.workdps(50):
        below = 1 - mpmath.mpf(2) ** -80
        above = 1 + mpmath.mpf(2) ** -80
    assert reference.ulp(below, np.float64) == 2.0**-53
    assert reference.ulp(above, np.float64) == 2.0**-52
    # 1 - 2**-53, the float below 1, is 2**-53 - 2**-80 from the exact value: 1 - 2**-27 ulp
    assert reference.ulp_error(1 - 2**-53, below, np.float64) == pytest.approx(
        1 - 2**-27, rel=1e-12
    )


def test_pairs_carry_digits_below_float64():
    with mpmath.workdps(50):
        third = reference.from_mpmath(mpmath.mpf(1) / 3)
        exact_lo = mpmath.mpf(1) / 3 - mpmath.mpf(float(third.hi))
    assert float(third.hi) == 1 / 3
    assert float(third.lo) == float(exact_lo) != 0.0
    # 1/3 rounded to float64 is 1/3 ulp off (its remainder is 1/3 of 2**-54 over 2**-54 spacing)
    assert reference.ulp_error(1 / 3, third, np.float64) == pytest.approx(1 / 3, rel=1e-12)


def test_closed_forms():
    assert reference.sigmoid(0.0).hi == 0.5
    assert reference.sigmoid_grad(0.0).hi == 0.25
    assert reference.logsumexp([0.0, 0.0]).hi == math.log(2)
    assert reference.cross_entropy([0.0, 0.0, 0.0, 0.0], 1).hi == math.log(4)
    np.testing.assert_array_equal(reference.softmax([0.0, 0.0, 0.0, 0.0]).hi, [0.25] * 4)
    np.testing.assert_array_equal(reference.log_softmax([0.0, -np.inf]).hi, [0.0, -np.inf])
    np.testing.assert_array_equal(
        reference.cross_entropy_grad([0.0, 0.0], [0.25, 0.75]).hi, [0.25, -0.25]
    )
    assert reference.binary_cross_entropy_with_logits(0.0, 1.0).hi == math.log(2)
    assert reference.binary_cross_entropy_grad(0.0, 0.25).hi == 0.25
    assert reference.binary_cross_entropy(0.5, 0.0).hi == math.log(2)
    # a confident row: q_1 - 1 = -e^-40 / (1 + e^-40), not the 0 of a float64 subtraction
    assert reference.cross_entropy_grad([0.0, 40.0], 1).hi[1] == -math.exp(-40) / (
        1 + math.exp(-40)
    )


def test_ill_conditioned_differences_get_more_digits():
    # q - y with y within 1e-60 of q: 50 digits would leave nothing of the difference
    with mpmath.workdps(100):
        q = 1 / (1 + mpmath.exp(-1))  # softmax([0, 1])[1] = sigmoid(1)
        y = float(q)
        exact = q - mpmath.mpf(y)
    got = reference.cross_entropy_grad([0.0, 1.0], [1 - y, y]).hi[1]
    assert got == float(exact) != 0.0
    assert reference.binary_cross_entropy_grad(1.0, y).hi == float(exact)


def test_condition_numbers():
    # logsumexp([-1, -1]) = ln 2 - 1; sum |z_j| q_j = 1
    assert reference.logsumexp_condition([-1.0, -1.0]) == pytest.approx(1 / (1 - math.log(2)))
    assert reference.logsumexp_condition([[0.0, 0.0]]).shape == (1,)
    np.testing.assert_allclose(
        reference.cross_entropy_grad_condition([0.0, 0.0], [0.0, 0.75]), [0.0, 3.0]
    )


def test_a_clear_message_without_mpmath(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mpmath(name, *args, **kwargs):
        if name == "mpmath":
            raise ImportError("No module named 'mpmath'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpmath)
    with pytest.raises(ImportError, match=r"pip install 'xentlib\[reference\]'"):
        reference.sigmoid(0.0)
