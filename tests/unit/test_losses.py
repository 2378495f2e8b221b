"""Unit tests and properties of xentlib.losses: the laws of chapters 3, 4 and 5.

Expected values come from the course brief (mpmath), from closed forms, or from another route
through the mathematics (softmax minus the one-hot target); see test_oracles.py for mpmath.
"""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from strategies import (
    logits_and_binary_targets,
    logits_and_labels,
    logits_and_probabilities,
    reals,
)

from xentlib import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_grad,
    cross_entropy_with_grad,
    log_softmax,
    numerical_gradient,
    one_hot,
    reference,
    sigmoid,
    softmax,
)

SEED_Z = [-2.85, 0.86, 0.28]
SEED_LABEL = 2  # the seed's "class 3", counted from 1
# From the course brief, computed with mpmath at 40 digits:
SEED_P = [0.015449315676073601, 0.63116335360470873, 0.35338733071921767]
SEED_LOSS = 1.0401905694301082557
SEED_GRAD = [0.01545, 0.63116, -0.64661]  # the brief's 5-place figures
EPS64 = np.finfo(np.float64).eps
INF = math.inf


# --- one_hot ----------------------------------------------------------------------------------


def test_one_hot_values():
    assert_array_equal(one_hot(2, 3), [0.0, 0.0, 1.0])
    assert_array_equal(one_hot([0, 2], 3), [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert_array_equal(one_hot(np.array([[1], [0]]), 2), [[[0.0, 1.0]], [[1.0, 0.0]]])
    assert_array_equal(one_hot(0, 1), [1.0])
    assert one_hot(np.int8(1), np.int64(2)).dtype == np.float64


def test_one_hot_empty():
    assert one_hot(np.array([], dtype=int), 4).shape == (0, 4)
    assert one_hot([], 4).shape == (0, 4)


# --- cross_entropy (eq-ce) ----------------------------------------------------------------------


def test_cross_entropy_seed_example():
    assert_allclose(cross_entropy(SEED_Z, SEED_LABEL), SEED_LOSS, rtol=4 * EPS64)
    assert f"{cross_entropy(SEED_Z, SEED_LABEL):.4f}" == "1.0402"
    # -log q_2 with q from the brief's mpmath softmax
    assert_allclose(cross_entropy(SEED_Z, SEED_LABEL), -math.log(SEED_P[2]), rtol=4 * EPS64)


def test_cross_entropy_each_label_is_minus_log_probability():
    for label in range(3):
        expected = -math.log(SEED_P[label])
        assert_allclose(cross_entropy(SEED_Z, label), expected, rtol=4 * EPS64)
        assert_allclose(cross_entropy(SEED_Z, np.int32(label)), expected, rtol=4 * EPS64)


def test_cross_entropy_uniform_logits_give_log_c():
    assert_allclose(cross_entropy(np.zeros(10), 3), math.log(10), rtol=EPS64)
    assert_allclose(cross_entropy(np.full((2, 4), 1e300), [0, 3]), math.log(4), rtol=EPS64)


def test_cross_entropy_reductions():
    z = np.array([SEED_Z, [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    labels = [2, 0, 1]
    per_sample = np.array([SEED_LOSS, 2 + math.log1p(math.exp(-1) + math.exp(-2)), math.log(3)])
    none = cross_entropy(z, labels, reduction="none")
    assert none.shape == (3,)
    assert_allclose(none, per_sample, rtol=4 * EPS64)
    assert_allclose(cross_entropy(z, labels, reduction="sum"), per_sample.sum(), rtol=4 * EPS64)
    assert_allclose(cross_entropy(z, labels, reduction="mean"), per_sample.mean(), rtol=4 * EPS64)
    assert_allclose(cross_entropy(z, labels), per_sample.mean(), rtol=4 * EPS64)
    assert np.ndim(cross_entropy(z, labels)) == 0
    assert np.ndim(cross_entropy(z, labels, reduction="sum")) == 0


def test_cross_entropy_single_sample_reductions_agree():
    for reduction in ("mean", "sum", "none"):
        loss = cross_entropy(SEED_Z, SEED_LABEL, reduction=reduction)
        assert np.ndim(loss) == 0
        assert_allclose(loss, SEED_LOSS, rtol=4 * EPS64)


def test_cross_entropy_empty_batch_sum_and_none():
    z = np.zeros((0, 3))
    assert cross_entropy(z, np.array([], dtype=int), reduction="sum") == 0.0
    assert cross_entropy(z, [], reduction="none").shape == (0,)
    assert cross_entropy_grad(z, [], reduction="sum").shape == (0, 3)


def test_cross_entropy_extreme_logits():
    # logsumexp([1000, -1000]) - z_y: 2000 + log1p(e^-2000) = 2000 for the wrong label
    assert cross_entropy([1000.0, -1000.0], 1) == 2000.0
    assert cross_entropy([1000.0, -1000.0], 0) == 0.0
    assert cross_entropy([1e300, -1e300], 1) == 2e300
    # confident and correct: the loss is log1p(e^-40) = e^-40 (1 - e^-40 / 2), not 0
    assert_allclose(cross_entropy([40.0, 0.0], 0), math.exp(-40.0), rtol=2 * EPS64)


def test_cross_entropy_masked_logits():
    z = [0.0, -INF, 0.0]
    assert_allclose(cross_entropy(z, 0), math.log(2), rtol=EPS64)
    assert cross_entropy(z, 1) == INF
    assert_allclose(cross_entropy(z, [0.5, 0.0, 0.5]), math.log(2), rtol=EPS64)
    assert_array_equal(cross_entropy_grad(z, 0), [-0.5, 0.0, 0.5])
    assert_array_equal(cross_entropy_grad(z, [0.5, 0.0, 0.5]), [0.0, 0.0, 0.0])


def test_cross_entropy_nan_and_all_masked_rows_are_nan():
    z = np.array([[math.nan, 1.0], [-INF, -INF], [0.0, 0.0]])
    losses = cross_entropy(z, [1, 0, 0], reduction="none")
    assert np.isnan(losses[:2]).all()
    assert_allclose(losses[2], math.log(2), rtol=EPS64)
    grad = cross_entropy_grad(z, [1, 0, 0], reduction="none")
    assert np.isnan(grad[:2]).all()
    assert_array_equal(grad[2], [-0.5, 0.5])
    assert np.isnan(cross_entropy(z, [1, 0, 0]))
    soft = cross_entropy(z, [[0.5, 0.5], [0.5, 0.5], [1.0, 0.0]], reduction="none")
    assert np.isnan(soft[:2]).all()


def test_cross_entropy_plus_inf_logit():
    assert cross_entropy([INF, 1.0], 0) == 0.0
    assert cross_entropy([INF, 1.0], 1) == INF
    assert_array_equal(cross_entropy_grad([INF, 1.0], 0), [0.0, 0.0])


def test_cross_entropy_soft_target_values():
    # H(y, q) = -sum y log q with the mpmath probabilities of the brief
    y = np.array([0.1, 0.2, 0.7])
    expected = -float(np.dot(y, np.log(SEED_P)))
    assert_allclose(cross_entropy(SEED_Z, y), expected, rtol=8 * EPS64)


def test_cross_entropy_integer_one_hot_target_is_probabilities():
    assert_allclose(cross_entropy(SEED_Z, [0, 0, 1]), SEED_LOSS, rtol=4 * EPS64)
    assert_allclose(cross_entropy_grad(SEED_Z, [0, 0, 1]), cross_entropy_grad(SEED_Z, 2))


def test_cross_entropy_zero_probability_ignores_its_class():
    # a zero-weight class contributes 0, even where its log-probability is -inf
    assert cross_entropy([0.0, -INF], [1.0, 0.0]) == 0.0


@given(logits_and_labels())
def test_cross_entropy_is_minus_log_softmax_at_the_label(case):
    z, labels = case
    expected = -np.take_along_axis(log_softmax(z), labels[..., None], axis=-1)[..., 0]
    assert_allclose(cross_entropy(z, labels, reduction="none"), expected, rtol=1e-12, atol=1e-14)


@given(logits_and_labels())
def test_labels_and_one_hot_targets_agree(case):
    z, labels = case
    y = one_hot(labels, z.shape[-1])
    for reduction in ("mean", "sum", "none"):
        assert_allclose(
            cross_entropy(z, y, reduction), cross_entropy(z, labels, reduction), rtol=1e-12
        )
        assert_allclose(
            cross_entropy_grad(z, y, reduction),
            cross_entropy_grad(z, labels, reduction),
            rtol=1e-12,
            atol=1e-15,
        )


@given(logits_and_labels())
def test_cross_entropy_is_non_negative(case):
    z, labels = case
    assert (cross_entropy(z, labels, reduction="none") >= 0).all()


@given(logits_and_probabilities())
def test_soft_target_loss_is_expected_minus_log_probability(case):
    z, probs = case
    expected = -(probs * log_softmax(z)).sum(axis=-1)
    assert_allclose(cross_entropy(z, probs, reduction="none"), expected, rtol=1e-11, atol=1e-13)


@given(logits_and_labels(), reals(1e3))
def test_cross_entropy_shift_invariance(case, c):
    z, labels = case
    assert_allclose(
        cross_entropy(z + c, labels, reduction="none"),
        cross_entropy(z, labels, reduction="none"),
        rtol=1e-8,
        atol=1e-9,
    )


# --- cross_entropy_grad (eq-ce-grad, eq-ce-grad-batch) ------------------------------------------


def test_cross_entropy_grad_seed_example():
    grad = cross_entropy_grad(SEED_Z, SEED_LABEL)
    assert_array_equal(grad.round(5), SEED_GRAD)
    expected = np.array(SEED_P) - [0.0, 0.0, 1.0]
    assert_allclose(grad, expected, rtol=4 * EPS64)


def test_cross_entropy_grad_keeps_digits_of_confident_correct_prediction():
    # p_0 - 1 = -e^-40 / (1 + e^-40): the subtraction 1/(1 + e^-40) - 1 would give -4.4e-16 * k
    grad = cross_entropy_grad([40.0, 0.0], 0)
    tail = math.exp(-40.0) / (1 + math.exp(-40.0))
    assert_allclose(grad, [-tail, tail], rtol=2 * EPS64)


def test_cross_entropy_grad_tied_maximum_at_the_label():
    # the label is a tied maximum but not argmax's first index
    assert_array_equal(cross_entropy_grad([3.0, 3.0], 1), [0.5, -0.5])
    assert_array_equal(cross_entropy_grad([3.0, 3.0], 0), [-0.5, 0.5])


def test_cross_entropy_grad_reductions():
    z = np.array([SEED_Z, [0.0, 0.0, 0.0]])
    rows = np.array([np.array(SEED_P) - [0, 0, 1], [-2 / 3, 1 / 3, 1 / 3]])
    assert_allclose(cross_entropy_grad(z, [2, 0], "none"), rows, rtol=4 * EPS64)
    assert_allclose(cross_entropy_grad(z, [2, 0], "sum"), rows, rtol=4 * EPS64)
    assert_allclose(cross_entropy_grad(z, [2, 0], "mean"), rows / 2, rtol=4 * EPS64)
    assert_allclose(cross_entropy_grad(z, [2, 0]), rows / 2, rtol=4 * EPS64)
    # one sample (C,): "mean" divides by N = 1
    assert_allclose(cross_entropy_grad(SEED_Z, 2, "mean"), rows[0], rtol=4 * EPS64)


@given(logits_and_labels())
def test_grad_is_softmax_minus_one_hot(case):
    z, labels = case
    expected = softmax(z) - one_hot(labels, z.shape[-1])
    assert_allclose(cross_entropy_grad(z, labels, "sum"), expected, rtol=1e-12, atol=2 * EPS64)


@given(logits_and_labels())
def test_grad_rows_sum_to_zero(case):
    z, labels = case
    assert_allclose(cross_entropy_grad(z, labels, "none").sum(axis=-1), 0.0, atol=8 * EPS64)


@given(logits_and_probabilities())
def test_soft_target_grad_is_softmax_minus_target(case):
    z, probs = case
    expected = softmax(z) - probs
    assert_allclose(cross_entropy_grad(z, probs, "sum"), expected, rtol=1e-12, atol=4 * EPS64)


@given(logits_and_labels(bound=20.0), st.sampled_from(["mean", "sum"]))
def test_cross_entropy_grad_matches_central_differences(case, reduction):
    z, labels = case
    numeric = numerical_gradient(lambda v: cross_entropy(v, labels, reduction), z)
    assert_allclose(cross_entropy_grad(z, labels, reduction), numeric, rtol=1e-5, atol=1e-8)


@given(logits_and_probabilities(bound=20.0))
def test_soft_target_grad_matches_central_differences(case):
    z, probs = case
    numeric = numerical_gradient(lambda v: cross_entropy(v, probs), z)
    assert_allclose(cross_entropy_grad(z, probs), numeric, rtol=1e-5, atol=1e-8)


@given(logits_and_labels(), st.sampled_from(["mean", "sum", "none"]))
def test_with_grad_equals_the_pair(case, reduction):
    z, labels = case
    loss, grad = cross_entropy_with_grad(z, labels, reduction)
    assert_array_equal(loss, cross_entropy(z, labels, reduction))
    assert_array_equal(grad, cross_entropy_grad(z, labels, reduction))


def test_with_grad_seed_example():
    loss, grad = cross_entropy_with_grad(SEED_Z, SEED_LABEL)
    assert_allclose(loss, SEED_LOSS, rtol=4 * EPS64)
    assert_array_equal(grad.round(5), SEED_GRAD)
    loss, grad = cross_entropy_with_grad([SEED_Z, SEED_Z], [2, 2])
    assert_allclose(loss, SEED_LOSS, rtol=4 * EPS64)
    assert_allclose(grad * 2, [np.array(SEED_P) - [0, 0, 1]] * 2, rtol=4 * EPS64)


# --- binary cross-entropy (eq-bce, eq-bce-logits, eq-bce-grad) ----------------------------------


def test_bce_values():
    # -(log 0.9 + log 0.8) / 2
    expected = -(math.log(0.9) + math.log(0.8)) / 2
    assert_allclose(binary_cross_entropy([0.9, 0.2], [1.0, 0.0]), expected, rtol=2 * EPS64)
    assert_allclose(binary_cross_entropy(0.5, 0.3), math.log(2), rtol=2 * EPS64)
    soft = -(0.3 * math.log(0.2) + 0.7 * math.log(0.8))
    assert_allclose(binary_cross_entropy(0.2, 0.3), soft, rtol=2 * EPS64)


def test_bce_exact_at_the_ends():
    assert_array_equal(binary_cross_entropy([0.0, 1.0], [0.0, 1.0], "none"), [0.0, 0.0])
    assert_array_equal(binary_cross_entropy([0.0, 1.0], [1.0, 0.0], "none"), [INF, INF])
    assert binary_cross_entropy(1, 1) == 0.0
    assert binary_cross_entropy(0.0, 0.5) == INF


def test_bce_reductions():
    q, y = np.array([0.9, 0.2, 0.5]), np.array([1.0, 0.0, 1.0])
    per_entry = -np.array([math.log(0.9), math.log(0.8), math.log(0.5)])
    assert_allclose(binary_cross_entropy(q, y, "none"), per_entry, rtol=2 * EPS64)
    assert_allclose(binary_cross_entropy(q, y, "sum"), per_entry.sum(), rtol=2 * EPS64)
    assert_allclose(binary_cross_entropy(q, y, "mean"), per_entry.mean(), rtol=2 * EPS64)
    q2 = q.reshape(1, 3)
    assert binary_cross_entropy(q2, y.reshape(1, 3), "none").shape == (1, 3)
    assert_allclose(binary_cross_entropy(q2, y.reshape(1, 3)), per_entry.mean(), rtol=2 * EPS64)


def test_nan_targets_propagate():
    # NaN passes the range checks (every comparison with NaN is False) and must not vanish.
    assert np.isnan(cross_entropy(SEED_Z, [math.nan, 0.0, 1.0]))
    assert np.isnan(cross_entropy_grad(SEED_Z, [math.nan, 0.0, 1.0])[0])
    assert np.isnan(binary_cross_entropy(0.5, math.nan))
    assert np.isnan(binary_cross_entropy_with_logits(0.5, math.nan))
    assert np.isnan(binary_cross_entropy_grad(0.5, math.nan))


def test_bce_exact_zero_is_positive_zero():
    losses = binary_cross_entropy([0.0, 1.0], [0.0, 1.0], "none")
    assert not np.signbit(losses).any()


def test_bce_nan_propagates():
    assert np.isnan(binary_cross_entropy([math.nan, 0.5], [1.0, 1.0], "none")[0])
    assert np.isnan(binary_cross_entropy_with_logits(math.nan, 1.0))
    assert np.isnan(binary_cross_entropy_with_logits(math.nan, 0.0))
    assert np.isnan(binary_cross_entropy_grad(math.nan, 1.0))


def test_bce_with_logits_values():
    # softplus(-z) for y = 1: log(1 + e^-z)
    assert_allclose(binary_cross_entropy_with_logits(0.0, 1.0), math.log(2), rtol=EPS64)
    assert_allclose(
        binary_cross_entropy_with_logits(math.log(9), 1.0), math.log(1 + 1 / 9), rtol=8 * EPS64
    )
    assert_allclose(
        binary_cross_entropy_with_logits(math.log(9), 0.0), math.log(10), rtol=2 * EPS64
    )
    assert_allclose(
        binary_cross_entropy_with_logits(-math.log(4), 0.0), math.log(1.25), rtol=4 * EPS64
    )


@pytest.mark.parametrize(
    ("z", "y", "expected"),
    [
        (-1000.0, 1.0, 1000.0),
        (1000.0, 0.0, 1000.0),
        (1000.0, 1.0, 0.0),
        (-1000.0, 0.0, 0.0),
        (1e300, 0.5, 0.5e300),
        (-1e300, 0.5, 0.5e300),
        (-1e300, 1.0, 1e300),
        (INF, 1.0, 0.0),
        (-INF, 0.0, 0.0),
        (INF, 0.0, INF),
        (-INF, 1.0, INF),
        (INF, 0.5, INF),
    ],
)
def test_bce_with_logits_extremes(z, y, expected):
    assert binary_cross_entropy_with_logits(z, y) == expected


def test_bce_with_logits_confident_correct_keeps_digits():
    # log(1 + e^-40) = e^-40 to double precision
    assert_allclose(binary_cross_entropy_with_logits(40.0, 1.0), math.exp(-40), rtol=2 * EPS64)
    assert_allclose(binary_cross_entropy_with_logits(-40.0, 0.0), math.exp(-40), rtol=2 * EPS64)


@given(logits_and_binary_targets(bound=15.0))
def test_bce_with_logits_equals_bce_of_sigmoid(case):
    z, y = case
    expected = binary_cross_entropy(sigmoid(z), y, "none")
    got = binary_cross_entropy_with_logits(z, y, "none")
    # 1 - sigma(z) keeps only about 16 + log10(1 - sigma(z)) digits (7 at z = 15): compare loosely
    assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


@given(reals(100.0), st.floats(0.0, 1.0))
def test_bce_equals_two_class_cross_entropy(z, y):
    # BCE(sigma(z), y) = CE([z, 0], [y, 1 - y]) since softmax([z, 0])_0 = sigma(z)
    two_class = cross_entropy([z, 0.0], [y, 1.0 - y])
    assert_allclose(binary_cross_entropy_with_logits(z, y), two_class, rtol=1e-12, atol=1e-14)
    grad = cross_entropy_grad([z, 0.0], [y, 1.0 - y])
    assert_allclose(binary_cross_entropy_grad(z, y), grad[0], rtol=1e-12, atol=1e-15)


@given(reals(700.0))
def test_bce_hard_labels_equal_two_class_cross_entropy_with_labels(z):
    # y = 1 is label 0 of logits [z, 0]; y = 0 is label 1
    assert_allclose(
        binary_cross_entropy_with_logits(z, 1.0), cross_entropy([z, 0.0], 0), rtol=4 * EPS64
    )
    assert_allclose(
        binary_cross_entropy_with_logits(z, 0.0), cross_entropy([z, 0.0], 1), rtol=4 * EPS64
    )


@given(logits_and_binary_targets(bound=1e3))
def test_bce_with_logits_is_finite_and_non_negative(case):
    z, y = case
    out = binary_cross_entropy_with_logits(z, y, "none")
    assert np.isfinite(out).all()
    assert (out >= 0).all()


@given(logits_and_binary_targets(bound=1e3))
def test_bce_grad_is_sigmoid_minus_target(case):
    z, y = case
    got = binary_cross_entropy_grad(z, y, "none")
    assert_allclose(got, sigmoid(z) - y, rtol=1e-12, atol=2 * EPS64)
    assert np.shape(got) == np.shape(z)


def test_bce_grad_keeps_digits_of_confident_correct_prediction():
    tail = math.exp(-40) / (1 + math.exp(-40))
    assert_allclose(binary_cross_entropy_grad(40.0, 1.0), -tail, rtol=2 * EPS64)
    assert_allclose(binary_cross_entropy_grad(-40.0, 0.0), tail, rtol=2 * EPS64)
    assert_allclose(binary_cross_entropy_grad(40.0, 0.0), 1 - tail, rtol=2 * EPS64)


def test_bce_grad_reductions():
    z, y = np.array([0.0, 2.0]), np.array([1.0, 1.0])
    rows = np.array([-0.5, -1 / (1 + math.exp(2))])
    assert_allclose(binary_cross_entropy_grad(z, y, "none"), rows, rtol=4 * EPS64)
    assert_allclose(binary_cross_entropy_grad(z, y, "sum"), rows, rtol=4 * EPS64)
    assert_allclose(binary_cross_entropy_grad(z, y, "mean"), rows / 2, rtol=4 * EPS64)
    assert_allclose(binary_cross_entropy_grad(z, y), rows / 2, rtol=4 * EPS64)
    z2 = np.zeros((2, 3))
    assert_allclose(binary_cross_entropy_grad(z2, np.ones((2, 3))), np.full((2, 3), -0.5 / 6))


@given(logits_and_binary_targets(bound=20.0), st.sampled_from(["mean", "sum"]))
def test_bce_grad_matches_central_differences(case, reduction):
    z, y = case
    numeric = numerical_gradient(lambda v: binary_cross_entropy_with_logits(v, y, reduction), z)
    got = binary_cross_entropy_grad(z, y, reduction)
    assert_allclose(got, numeric, rtol=1e-5, atol=1e-8)


def test_bce_empty_sum_and_none():
    assert binary_cross_entropy([], [], "sum") == 0.0
    assert binary_cross_entropy_with_logits(np.zeros((0, 2)), np.zeros((0, 2)), "none").shape == (
        0,
        2,
    )
    assert binary_cross_entropy_grad([], [], "sum").shape == (0,)


# --- dtypes and inputs left intact ------------------------------------------------------------

LOSSES = [cross_entropy, cross_entropy_grad]
BINARY = [binary_cross_entropy_with_logits, binary_cross_entropy_grad]


@pytest.mark.parametrize("func", LOSSES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_float32_in_float32_out(func, reduction):
    z = np.array([SEED_Z, SEED_Z], dtype=np.float32)
    assert np.asarray(func(z, [2, 1], reduction)).dtype == np.float32
    soft = np.array([[0.2, 0.3, 0.5]] * 2)  # float64 targets follow z's dtype
    assert np.asarray(func(z, soft, reduction)).dtype == np.float32


def test_cross_entropy_float32_values():
    z = np.array(SEED_Z, dtype=np.float32)
    assert_allclose(cross_entropy(z, 2), SEED_LOSS, rtol=1e-6)
    loss, grad = cross_entropy_with_grad(z, 2)
    assert loss.dtype == grad.dtype == np.float32


@pytest.mark.parametrize("func", LOSSES)
def test_cross_entropy_integer_logits_become_float64(func):
    assert np.asarray(func([1, 2, 3], 0)).dtype == np.float64
    assert np.asarray(func(np.array([[1, 2]], dtype=np.int16), [1])).dtype == np.float64


@pytest.mark.parametrize("func", [*BINARY, binary_cross_entropy])
def test_bce_dtypes(func):
    q32 = np.array([0.25, 0.5], dtype=np.float32)
    assert np.asarray(func(q32, [1.0, 0.0], "none")).dtype == np.float32
    assert np.asarray(func(q32, [1.0, 0.0])).dtype == np.float32
    assert np.asarray(func([0, 1], [1, 0], "none")).dtype == np.float64


def test_inputs_not_modified():
    z = np.array([SEED_Z, [0.0, -INF, 1.0]])
    labels = np.array([2, 0])
    probs = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    copies = [a.copy() for a in (z, labels, probs)]
    for func in (cross_entropy, cross_entropy_grad, cross_entropy_with_grad):
        for target in (labels, probs):
            for reduction in ("mean", "sum", "none"):
                func(z, target, reduction)
    for original, copy in zip((z, labels, probs), copies, strict=True):
        assert_array_equal(original, copy)
    q, y = np.array([0.2, 0.9]), np.array([0.0, 1.0])
    for func in (binary_cross_entropy, *BINARY):
        for reduction in ("mean", "sum", "none"):
            func(q, y, reduction)
    assert_array_equal(q, [0.2, 0.9])
    assert_array_equal(y, [0.0, 1.0])
    one_hot(labels, 3)
    assert_array_equal(labels, [2, 0])


@given(hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(0.0, 1.0)))
def test_bce_against_itself_is_the_entropy(q):
    # H(q, q) = -q log q - (1 - q) log(1 - q), with 0 log 0 = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nan_to_num(q * np.log(q)) - np.nan_to_num((1 - q) * np.log1p(-q))
    assert_allclose(binary_cross_entropy(q, q, "none"), entropy, rtol=1e-12, atol=1e-300)


def test_losses_at_the_ends_of_the_float_range():
    z = [1.7e308, -1.7e308]
    assert cross_entropy(z, 0) == 0.0
    assert cross_entropy(z, 1) == INF  # the true loss, 3.4e308, overflows
    assert_array_equal(cross_entropy_grad(z, 1), [1.0, -1.0])
    assert binary_cross_entropy_with_logits(1.7e308, 0.0) == 1.7e308


@pytest.mark.parametrize("big", [1e4, 3e38])
def test_float32_losses_at_extremes(big):
    z = np.array([big, -big], dtype=np.float32)
    assert cross_entropy(z, 0) == 0.0
    assert cross_entropy(z, 0).dtype == np.float32
    # The exact loss is 2 * big: 20000 exactly, or beyond float32's range (rounds to inf).
    assert cross_entropy(z, 1) == (2 * big if 2 * big < float(np.finfo(np.float32).max) else np.inf)
    assert_array_equal(cross_entropy_grad(z, 0), [0.0, 0.0])
    assert binary_cross_entropy_with_logits(np.float32(-big), 1.0) == np.float32(big)
    assert binary_cross_entropy_grad(np.float32(big), 1.0) == 0.0


@pytest.mark.parametrize("num_classes", [3, 300])
def test_large_batch_rows_equal_small_batch_rows(num_classes):
    # A batch of 100 000 rows is processed in cache-sized blocks; every row must come out as it
    # does in a batch of 7, whatever block it falls in.
    rng = np.random.default_rng(0)
    small = rng.normal(scale=5.0, size=(7, num_classes))
    small[0, 0] = 800.0  # a row off the fast route (max above exp's safe window)
    labels = rng.integers(0, num_classes, size=7)
    repeats = -(-100_000 // 7) if num_classes == 3 else 200
    big, big_labels = np.tile(small, (repeats, 1)), np.tile(labels, repeats)
    loss, grad = cross_entropy_with_grad(small, labels, "none")
    big_loss, big_grad = cross_entropy_with_grad(big, big_labels, "none")
    assert_allclose(big_loss, np.tile(loss, repeats), rtol=4 * EPS64, atol=0)
    assert_allclose(big_grad, np.tile(grad, (repeats, 1)), rtol=4 * EPS64, atol=4 * EPS64)
    only_loss = cross_entropy(big, big_labels, "none")
    assert_allclose(only_loss, np.tile(loss, repeats), rtol=4 * EPS64, atol=0)
    assert_allclose(cross_entropy(big, big_labels), loss.mean(), rtol=1e-12)


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 on this platform"
)
def test_bce_of_long_double_targets_keeps_their_digits():
    # Soft targets 1/3, 1/10, 1/7 in long double carry 11 bits that float64 has not: the loss of
    # long double probabilities must use them, and come out within 4 of long double's spacing
    # of mpmath's exact loss for those very numbers. Fails if y is rounded to float64 (or any
    # narrower dtype) on the way: 80 to 1300 spacings off.
    import mpmath

    q = np.array([0.25, 0.5, 0.9], dtype=np.longdouble)  # float64 numbers
    y = 1 / np.array([3, 10, 7], dtype=np.longdouble)
    y_hi = y.astype(np.float64)
    y_lo = (y - y_hi).astype(np.float64)  # y == y_hi + y_lo exactly
    assert (y_lo != 0).all()
    with mpmath.workdps(50):
        exact = []
        for qi, hi, lo in zip(q.astype(np.float64), y_hi, y_lo, strict=True):
            qm, ym = mpmath.mpf(float(qi)), mpmath.mpf(float(hi)) + mpmath.mpf(float(lo))
            exact.append(-(ym * mpmath.log(qm) + (1 - ym) * mpmath.log1p(-qm)))
        hi, lo = (np.asarray(part, dtype=np.longdouble) for part in reference.from_mpmath(exact))
    got = binary_cross_entropy(q, y, "none")
    assert got.dtype == np.longdouble
    assert (np.abs((got - hi) - lo) <= 4 * np.spacing(np.abs(hi + lo))).all()
