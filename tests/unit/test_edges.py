"""The edges an audit of xentlib 0.1 found wrong, one test each: every one of them failed there.

Exact values come from mpmath (``xentlib.reference``) or closed forms, never from xentlib.
"""

import math
import platform

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import xentlib
from xentlib import reference

LN2 = math.log(2)


# 1. A row with two +inf logits: logsumexp is +inf (0.1 gave NaN: inf - inf in the shift).
@pytest.mark.parametrize("row", [[np.inf, np.inf], [np.inf, np.inf, 1.0], [np.inf, 2.0]])
def test_logsumexp_of_infinite_logits_is_inf(row):
    assert xentlib.logsumexp(row) == np.inf
    assert xentlib.logsumexp(np.float32(row)) == np.inf


# 2. float32 logsumexp near 0 was 8.6e6 ulp off (m and log1p(t) rounded to float32 before
# their sum cancels); float32 and float16 are now computed in float64 and rounded once.
@pytest.mark.parametrize(
    "row", [[-LN2, -LN2], [-14.656211, -2.185245, -np.inf, -0.11740191], [0.0, -30.0]]
)
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_narrow_logsumexp_near_zero_is_within_one_ulp(row, dtype):
    z = np.asarray(row, dtype=dtype)
    assert reference.ulp_error(xentlib.logsumexp(z), reference.logsumexp(z), dtype) <= 1


@pytest.mark.parametrize("func", ["sigmoid", "sigmoid_grad"])
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_narrow_sigmoid_is_within_one_ulp(func, dtype):
    x = np.linspace(-60, 60, 2001).astype(dtype)
    x = x[np.isfinite(x)]
    err = reference.ulp_error(getattr(xentlib, func)(x), getattr(reference, func)(x), dtype)
    assert err.max() <= 1, float(err.max())


# 3. q - y where the prediction is close to a soft target: 3000 ulp off in float32 (0.1
# subtracted in float32); in float64 bounded relative to the condition number.
def test_float32_gradient_near_a_soft_target_is_within_one_ulp():
    z, y = np.float32([0, 1e-4]), np.float32([0.5, 0.5])
    err = reference.ulp_error(
        xentlib.cross_entropy_grad(z, y), reference.cross_entropy_grad(z, y), np.float32
    )
    assert err.max() <= 1


def test_float32_bce_gradient_near_a_soft_target_is_within_one_ulp():
    z = np.float32([1e-3, -2e-3, 0.5])
    y = np.float32([0.50025, 0.4995, 0.6224593])
    exact = reference.binary_cross_entropy_grad(z, y)
    got = xentlib.binary_cross_entropy_grad(z, y, reduction="none")
    assert reference.ulp_error(got, exact, np.float32).max() <= 1


def test_float32_bce_with_logits_on_soft_targets_is_computed_wider():
    # Soft targets make (1 - y) z and the softplus terms add: computed in float64 and rounded
    # once, within 1.5 ulp of mpmath. Fails if float32 input is computed in float32 (numpy's
    # float32 exp and log1p put it several ulp off).
    rng = np.random.default_rng(3)
    z = (rng.standard_normal(400) * 8).astype(np.float32)
    y = rng.random(400).astype(np.float32)
    got = xentlib.binary_cross_entropy_with_logits(z, y, "none")
    exact = reference.binary_cross_entropy_with_logits(z, y)
    assert got.dtype == np.float32
    assert reference.ulp_error(got, exact, np.float32).max() <= 1.5


def test_bce_gradient_at_zero_is_exact_for_a_target_next_to_one_half():
    # At z = 0 the gradient is 1/2 - y, exact for y = 1/2 - 2**-54 (the float below 1/2): the
    # form (1 - y) - sigma(-z) rounds 1 - y = 1/2 + 2**-54 to 1/2 and returns 0. Fails if z = 0
    # takes that form.
    y = 0.5 - 2.0**-54
    assert xentlib.binary_cross_entropy_grad(0.0, y, "none") == 2.0**-54
    assert xentlib.binary_cross_entropy_grad(-0.0, y, "none") == 2.0**-54


def test_float32_bce_gradient_near_zero_with_a_target_near_one_half_keeps_its_digits():
    # sigma(z) - y at z ~ 0 and y = 1/2 - 2**-25: the exact gradient is ~3e-8, and 1 - y, p y
    # rounded in float32 left 0 (or 2.5e-9 for 3.2e-8), some 8e6 ulp off. Fails unless the
    # target is taken into the working precision before the subtraction.
    z = np.float32([0.0, 1e-8, 1e-6])
    y = np.full(3, np.float32(0.5 - 2**-25))
    got = xentlib.binary_cross_entropy_grad(z, y, "none")
    assert got.dtype == np.float32
    assert (
        reference.ulp_error(got, reference.binary_cross_entropy_grad(z, y), np.float32).max() <= 1
    )
    # with pos_weight p = 3: c sigma(z) - p y, c = 1 + (p - 1) y (exact at 50 digits)
    with mpmath.workdps(50):
        exact = [
            float(
                (1 + 2 * mpmath.mpf(float(y_i))) / (1 + mpmath.exp(-mpmath.mpf(float(z_i))))
                - 3 * mpmath.mpf(float(y_i))
            )
            for z_i, y_i in zip(z, y, strict=True)
        ]
    got = xentlib.binary_cross_entropy_grad(z, y, "none", pos_weight=np.float32(3.0))
    assert reference.ulp_error(got, np.array(exact), np.float32).max() <= 1


Y_SOFT = np.array([0.0, 0.25, 1.0, 0.5, 1.0])  # binary targets, soft and hard


# 4. numerical_gradient at large |x| divided by a step it never took (1.907 for the identity at
# 1e10, 0 at 1e11 and 1e300); eps=5e-324 was accepted.
@pytest.mark.parametrize("x", [1e10, 1e11, 1e300, -3e15, 0.5])
def test_numerical_gradient_of_the_identity_is_one_at_any_scale(x):
    g = xentlib.numerical_gradient(lambda v: float(v[0]), np.array([x]))
    assert g[0] == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("eps", [5e-324, 1e-17])
def test_numerical_gradient_refuses_a_step_that_vanishes(eps):
    with pytest.raises(ValueError, match="numerical_gradient: eps"):
        xentlib.numerical_gradient(lambda v: float(v.sum()), np.array([1.0]), eps=eps)


def test_numerical_gradient_takes_the_smallest_allowed_step():
    # eps = float64's machine epsilon is the boundary, and allowed: x +- eps are distinct floats
    # (1 + eps and 1 - eps, 2 ulp of 1 apart below 1). Fails if the boundary is refused.
    eps = float(np.finfo(np.float64).eps)
    g = xentlib.numerical_gradient(lambda v: float(v[0]), np.array([1.0]), eps=eps)
    assert g[0] == 1.0


@pytest.mark.parametrize("x", [np.inf, -np.inf, np.finfo(np.float64).max])
def test_numerical_gradient_refuses_an_entry_without_a_finite_step(x):
    # At +-inf, and at the largest float (x + h overflows), no central difference exists: the
    # largest float once returned 0 for the gradient of the identity. The message names the
    # entry by its index. Fails if such an entry is differenced anyway.
    values = np.array([0.5, x])
    with pytest.raises(ValueError, match=r"numerical_gradient: x\[1\] = .* leaves no finite step"):
        xentlib.numerical_gradient(lambda v: float(v[0]), values)


# 5. long double logits with labels: numpy's own TypeError (C <= 128), or float64 accuracy
# (1e3-1e4 ulp of long double). Now computed in long double.
@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 on this platform"
)
@pytest.mark.parametrize("num_classes", [3, 300])
def test_long_double_is_computed_in_its_own_precision(num_classes):
    # Logits that are float64 numbers, so that the reference's exact (hi, lo) pairs (about 100
    # bits) hold the exact answer; errors measured in long double's own spacing.
    rng = np.random.default_rng(0)
    z64 = rng.standard_normal((4, num_classes)) * 5
    labels = rng.integers(0, num_classes, 4)
    loss, grad = xentlib.cross_entropy_with_grad(z64.astype(np.longdouble), labels, "none")
    assert loss.dtype == grad.dtype == np.longdouble
    for got, exact in [
        (loss, reference.cross_entropy(z64, labels)),
        (grad, reference.cross_entropy_grad(z64, labels)),
    ]:
        hi, lo = (np.asarray(part, dtype=np.longdouble) for part in exact)
        error = np.abs((got - hi) - lo)
        assert (error <= 4 * np.spacing(np.abs(hi + lo))).all()


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 on this platform"
)
@pytest.mark.parametrize(
    "func, exact",
    [
        (xentlib.sigmoid, reference.sigmoid),
        (xentlib.sigmoid_grad, reference.sigmoid_grad),
        (
            lambda z: xentlib.binary_cross_entropy_with_logits(z, Y_SOFT, "none"),
            lambda z: reference.binary_cross_entropy_with_logits(z, Y_SOFT),
        ),
        (
            lambda z: xentlib.binary_cross_entropy_grad(z, Y_SOFT, "none"),
            lambda z: reference.binary_cross_entropy_grad(z, Y_SOFT),
        ),
    ],
    ids=["sigmoid", "sigmoid_grad", "bce_with_logits", "bce_grad"],
)
def test_the_sigmoid_family_computes_long_double_in_long_double(func, exact):
    # Long double in, long double out, and long double's digits: within 4 of its own spacing
    # of the exact (hi, lo) pair, where float64 arithmetic would be some 2**11 spacings off.
    # Fails if the working precision drops to float64.
    z64 = np.array([-30.0, -2.5, 0.3, 4.0, 30.0])
    got = func(z64.astype(np.longdouble))
    assert got.dtype == np.longdouble
    hi, lo = (np.asarray(part, dtype=np.longdouble) for part in exact(z64))
    assert (np.abs((got - hi) - lo) <= 4 * np.spacing(np.abs(hi + lo))).all()


# 6. A masked array's mask was silently dropped.
@pytest.mark.parametrize("func", ["softmax", "log_softmax", "logsumexp", "sigmoid"])
def test_a_masked_array_is_refused_by_name(func):
    z = np.ma.masked_array([1.0, 2.0, 1000.0], mask=[0, 0, 1])
    with pytest.raises(TypeError, match=f"{func}: .* masked array"):
        getattr(xentlib, func)(z)


def test_a_masked_target_is_refused_by_name():
    target = np.ma.masked_array([0, 1], mask=[0, 1])
    with pytest.raises(TypeError, match="cross_entropy: target is a masked array"):
        xentlib.cross_entropy(np.zeros((2, 3)), target)


# 7. Raw numpy errors, or silent acceptance, instead of ours.
@pytest.mark.parametrize(
    ("call", "error", "fragment"),
    [
        (lambda: xentlib.cross_entropy(np.zeros((2, 3)), [[0], [1, 2]]), TypeError, "target"),
        (lambda: xentlib.cross_entropy(np.zeros((2, 2)), [[1, 0], [1]]), TypeError, "target"),
        (lambda: xentlib.softmax_jacobian([]), ValueError, "non-empty 1-D"),
        (lambda: xentlib.softmax([1.0, 2.0], axis=2**70), ValueError, "axis"),
        (lambda: xentlib.logsumexp([1.0, 2.0], keepdims=np.array([1, 0])), TypeError, "keepdims"),
        (lambda: xentlib.logsumexp([1.0, 2.0], keepdims="no"), TypeError, "keepdims"),
        (lambda: xentlib.one_hot([0], 2**63 - 1), ValueError, "num_classes"),
        (lambda: xentlib.cross_entropy([1.0, 2.0], None), TypeError, "got None"),
    ],
    ids=[
        "ragged labels",
        "ragged targets",
        "empty jacobian",
        "huge axis",
        "array keepdims",
        "string keepdims",
        "huge one_hot",
        "None target",
    ],
)
def test_bad_arguments_get_our_errors(call, error, fragment):
    with pytest.raises(error, match=fragment) as raised:
        call()
    assert raised.value.args[0].split(":")[0] in {
        "cross_entropy",
        "softmax_jacobian",
        "softmax",
        "logsumexp",
        "one_hot",
    }


# 8. A float32 probability target with float64 logits was refused (its row sums to 1 + 3e-8 in
# float64); it is checked in its own precision.
def test_a_float32_target_with_float64_logits_is_accepted():
    target = np.float32([0.4, 0.3, 0.3])
    loss = xentlib.cross_entropy(np.zeros(3), target)
    exact = reference.cross_entropy(np.zeros(3), target)
    assert reference.ulp_error(loss, exact, np.float64) <= 2


# 9. A mean whose exact value is finite overflowed to inf, with a RuntimeWarning.
def test_a_finite_mean_does_not_overflow():
    got = xentlib.binary_cross_entropy_with_logits([-1.7e308, -1.7e308], [1.0, 1.0])
    assert got == 1.7e308
    assert xentlib.cross_entropy([[1.7e308, -1.7e308]] * 2, [1, 1]) == np.inf  # exact: 3.4e308


# 10. Harmless underflow raised under the caller's errstate(all='raise'); an out-of-range
# float64 target warned about its cast to float32 before being refused.
@pytest.mark.parametrize(
    "call",
    [
        lambda: xentlib.softmax_jacobian([0.0, -400.0, -400.0]),
        lambda: xentlib.binary_cross_entropy([1e-310, 0.5], [0.5, 0.5]),
        lambda: xentlib.binary_cross_entropy([0.5, 0.5], [1e-320, 0.5]),
        lambda: xentlib.binary_cross_entropy_grad(np.full(3, -740.0), np.zeros(3)),
    ],
)
def test_harmless_underflow_raises_nothing(call):
    expected = call()
    with np.errstate(all="raise"):
        got = call()
    assert_array_equal(got, expected)


def test_an_out_of_range_target_is_refused_without_a_cast_warning():
    # (With warnings as errors, as the test suite runs, a cast warning would fail first.)
    with pytest.raises(ValueError, match="probability target must sum to 1"):
        xentlib.cross_entropy(np.float32([0.0, 0.0]), np.float64([1e300, 0.0]))
    with pytest.raises(ValueError, match=r"targets y must lie in \[0, 1\]"):
        xentlib.binary_cross_entropy_with_logits(np.float32([0.0]), np.float64([1e300]))


# 11. Big-endian input gave a big-endian gradient on the labels route only.
@pytest.mark.parametrize("dtype", [">f8", ">f4", "<f8"])
def test_results_are_native_whatever_the_input_byte_order(dtype):
    z = np.array([[-2.85, 0.86, 0.28]] * 2, dtype=dtype)
    for result in [
        *xentlib.cross_entropy_with_grad(z, [2, 2], reduction="none"),
        xentlib.softmax(z),
        xentlib.cross_entropy_grad(z, np.eye(3, dtype=dtype)[[2, 2]]),
    ]:
        assert result.dtype.isnative
        assert result.dtype == np.dtype(dtype).newbyteorder("=")


# 12. softmax_jacobian was up to 7.3 ulp off in float64 (4.2 in float32).
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="80-bit long double")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_jacobian_within_four_ulp(dtype):
    rng = np.random.default_rng(1)
    worst = 0.0
    for scale in (1, 5, 30):
        for _ in range(20):
            z = (rng.standard_normal(6) * scale).astype(dtype)
            err = reference.ulp_error(
                xentlib.softmax_jacobian(z), reference.softmax_jacobian(z), dtype
            )
            worst = max(worst, float(err.max()))
    assert worst <= 4, worst
