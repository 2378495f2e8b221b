"""Every input check: the error names the function and the argument, shows the value, states
the rule.

Each case lists fragments that must all appear, literally, in the message.
"""

import math

import numpy as np
import pytest

from xentlib import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_grad,
    cross_entropy_with_grad,
    log_softmax,
    logsumexp,
    numerical_gradient,
    one_hot,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_jacobian,
)
from xentlib._validation import check_axis, check_result_size, show

SEED_Z = [-2.85, 0.86, 0.28]
CE_FUNCS = [cross_entropy, cross_entropy_grad, cross_entropy_with_grad]
BCE_FUNCS = [binary_cross_entropy, binary_cross_entropy_with_logits, binary_cross_entropy_grad]
AXIS_FUNCS = [softmax, log_softmax, logsumexp]
ALL_ARRAY_FUNCS = [sigmoid, sigmoid_grad, *AXIS_FUNCS, softmax_jacobian]


def check(exc_type, call, *fragments):
    with pytest.raises(exc_type) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# --- labels -----------------------------------------------------------------------------------


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_label_too_large(func):
    # The seed's 1-based "class 3" is the classic mistake.
    check(
        ValueError,
        lambda: func(SEED_Z, 3),
        f"{func.__name__}: ",
        "label 3 in target",
        "out of range for 3 classes",
        "labels are 0-based: 0..2",
    )


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_label_negative(func):
    check(
        ValueError,
        lambda: func([SEED_Z, SEED_Z], [0, -1]),
        f"{func.__name__}: label -1 in target is out of range for 3 classes",
        "(labels are 0-based: 0..2)",
    )


def test_label_out_of_range_reports_the_worst_label_in_a_batch():
    check(ValueError, lambda: cross_entropy([SEED_Z] * 3, [0, 7, 2]), "label 7 in target")
    check(ValueError, lambda: cross_entropy([SEED_Z] * 2, [-4, 9]), "label -4 in target")


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("label", "shown"), [(2.0, "float64"), (True, "bool")])
def test_label_not_integer(func, label, shown):
    check(
        TypeError,
        lambda: func(SEED_Z, label),
        f"{func.__name__}: target holds class labels, which must be integers (0-based)",
        f"got dtype {shown}",
        "with value",
    )


def test_label_batch_not_integer_shows_value():
    check(
        TypeError,
        lambda: cross_entropy([SEED_Z, SEED_Z], [1.5, 2.0]),
        "got dtype float64 with value [1.5, 2. ]",
    )


def test_one_hot_labels():
    check(
        ValueError,
        lambda: one_hot([0, 3], 3),
        "one_hot: label 3 in labels is out of range for 3 classes (labels are 0-based: 0..2)",
    )
    check(
        TypeError,
        lambda: one_hot([0.0, 1.0], 3),
        "one_hot: labels holds class labels, which must be integers (0-based), got dtype float64",
    )


@pytest.mark.parametrize(("num_classes", "fragment"), [(True, "True"), (2.0, "2.0"), ("3", "'3'")])
def test_one_hot_num_classes_type(num_classes, fragment):
    check(
        TypeError,
        lambda: one_hot([0], num_classes),
        f"one_hot: num_classes must be an int, got {fragment}",
    )


@pytest.mark.parametrize("num_classes", [0, -2])
def test_one_hot_num_classes_value(num_classes):
    check(
        ValueError,
        lambda: one_hot([0], num_classes),
        f"one_hot: num_classes must be at least 1, got {num_classes}",
    )


# --- logits and target shapes -----------------------------------------------------------------


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_logits_scalar(func):
    check(
        ValueError,
        lambda: func(2.5, 0),
        f"{func.__name__}: logits z must have shape (C,) or (N, C), got 0-d shape ()",
        "2.5",
    )


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_logits_three_dimensional(func):
    check(
        ValueError,
        lambda: func(np.full((1, 2, 3), 4.5), 0),
        f"{func.__name__}: logits z must have shape (C,) or (N, C), got 3-d shape (1, 2, 3)",
        "4.5",
    )


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_logits_without_classes(func):
    check(
        ValueError,
        lambda: func(np.zeros((2, 0)), [0, 0]),
        f"{func.__name__}: logits z must have at least one class, got shape (2, 0)",
    )


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("z", "target", "shapes"),
    [
        ([SEED_Z, SEED_Z], [0, 1, 2], "of shape (2,) or probabilities of shape (2, 3)"),
        (SEED_Z, [2], "of shape () or probabilities of shape (3,)"),
        ([SEED_Z], [[0.0, 1.0]], "of shape (1,) or probabilities of shape (1, 3)"),
    ],
)
def test_target_shape(func, z, target, shapes):
    got = np.asarray(target).shape
    check(
        ValueError,
        lambda: func(z, target),
        f"{func.__name__}: target must be 0-based integer labels {shapes}",
        "(the shape of z)",
        f"got shape {got}",
    )


# --- probability targets ----------------------------------------------------------------------


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_probability_target_negative(func):
    check(
        ValueError,
        lambda: func(SEED_Z, [-0.25, 0.25, 1.0]),
        f"{func.__name__}: probability target must be non-negative",
        "got -0.25 in [-0.25, 0.25, 1. ]",
    )


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_probability_target_not_summing_to_one(func):
    check(
        ValueError,
        lambda: func([SEED_Z, SEED_Z], [[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]]),
        f"{func.__name__}: each row of probability target must sum to 1 (within 1.5e-08)",
        "got a row summing to 1.5 in",
    )


def test_probability_tolerance_follows_the_targets_dtype():
    # A target is checked in its own precision, whatever the logits' dtype: a sum off by 1e-4 is
    # rounding in a float32 target, an error in a float64 one.
    z32 = np.array(SEED_Z, dtype=np.float32)
    check(ValueError, lambda: cross_entropy(z32, np.float32([0.2] * 3)), "(within 3.5e-04)")
    target = [0.2, 0.3, 0.5001]
    assert np.isfinite(cross_entropy(z32, np.float32(target)))
    assert np.isfinite(cross_entropy(SEED_Z, np.float32(target)))
    check(ValueError, lambda: cross_entropy(z32, target), "summing to 1.0001")
    check(ValueError, lambda: cross_entropy(SEED_Z, target), "summing to 1.0001")


def test_probability_tolerance_is_sqrt_eps():
    # 1e-9 off is accepted, 1e-7 off is not (sqrt(eps) = 1.49e-8)
    assert np.isfinite(cross_entropy(SEED_Z, [0.5, 0.5 + 1e-9, 0.0]))
    assert np.isfinite(cross_entropy(SEED_Z, [0.5, 0.5 - 1e-9, 0.0]))
    check(ValueError, lambda: cross_entropy(SEED_Z, [0.5, 0.5 + 1e-7, 0.0]), "summing to")
    check(ValueError, lambda: cross_entropy(SEED_Z, [0.5, 0.5 - 1e-7, 0.0]), "summing to")


def test_probability_target_non_numeric():
    check(
        TypeError,
        lambda: cross_entropy(SEED_Z, ["a", "b", "c"]),
        "cross_entropy: target must be real numbers (int or float), got dtype <U1",
        "'a'",
    )


# --- binary cross-entropy ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1.5, -0.5])
def test_bce_q_outside_unit_interval(bad):
    check(
        ValueError,
        lambda: binary_cross_entropy([0.5, bad], [1.0, 0.0]),
        f"binary_cross_entropy: probabilities q must lie in [0, 1], got {bad} in [",
    )


@pytest.mark.parametrize("func", BCE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad", [2.0, -1.0])
def test_bce_y_outside_unit_interval(func, bad):
    check(
        ValueError,
        lambda: func([0.5, 0.5], [bad, 1.0]),
        f"{func.__name__}: targets y must lie in [0, 1], got {bad} in [",
    )


@pytest.mark.parametrize("func", BCE_FUNCS, ids=lambda f: f.__name__)
def test_bce_shape_mismatch(func):
    first = "q" if func is binary_cross_entropy else "z"
    check(
        ValueError,
        lambda: func([0.5, 0.5], [1.0, 0.0, 1.0]),
        f"{func.__name__}: y must have the same shape as {first}, got {first} (2,) and y (3,)",
    )


# --- reduction --------------------------------------------------------------------------------


@pytest.mark.parametrize("func", CE_FUNCS + BCE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("reduction", ["avg", "Mean", None, 1])
def test_unknown_reduction(func, reduction):
    args = (SEED_Z, 2) if func in CE_FUNCS else ([0.5], [1.0])
    check(
        ValueError,
        lambda: func(*args, reduction=reduction),
        f"{func.__name__}: reduction must be one of 'mean', 'sum', 'none', got {reduction!r}",
    )


def test_reduction_array_is_rejected():
    check(ValueError, lambda: cross_entropy(SEED_Z, 2, np.array(["mean"])), "reduction must be")


def test_reduction_checked_before_the_data():
    check(ValueError, lambda: cross_entropy(2.0, 5, "avg"), "reduction must be one of")
    check(ValueError, lambda: binary_cross_entropy(7.0, 7.0, "avg"), "reduction must be one of")


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("target", [np.array([], dtype=int), np.zeros((0, 3))])
def test_mean_of_empty_batch(func, target):
    check(
        ValueError,
        lambda: func(np.zeros((0, 3)), target),
        f"{func.__name__}: reduction='mean' of an empty batch (N = 0) is undefined",
    )


@pytest.mark.parametrize("func", BCE_FUNCS, ids=lambda f: f.__name__)
def test_bce_mean_of_empty_batch(func):
    check(
        ValueError,
        lambda: func([], []),
        f"{func.__name__}: reduction='mean' of an empty batch (N = 0) is undefined",
    )


# --- non-numeric and ragged input -------------------------------------------------------------


@pytest.mark.parametrize("func", ALL_ARRAY_FUNCS, ids=lambda f: f.__name__)
def test_strings_are_rejected(func):
    name = "x" if func in (sigmoid, sigmoid_grad) else "z"
    check(
        TypeError,
        lambda: func(["1.0", "2.0"]),
        f"{func.__name__}: {name} must be real numbers (int or float), got dtype <U3",
        "'1.0'",
    )


@pytest.mark.parametrize("func", ALL_ARRAY_FUNCS, ids=lambda f: f.__name__)
def test_complex_is_rejected(func):
    check(TypeError, lambda: func([1 + 2j, 0]), "must be real numbers", "complex128", "1.+2.j")


@pytest.mark.parametrize("func", ALL_ARRAY_FUNCS, ids=lambda f: f.__name__)
def test_ragged_is_rejected(func):
    check(TypeError, lambda: func([[1.0, 2.0], [3.0]]), "must be an array of numbers", "[3.0]")


def test_object_array_is_rejected():
    check(TypeError, lambda: softmax(np.array([1.0, None])), "got dtype object")


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_non_numeric_logits(func):
    check(TypeError, lambda: func(["a", "b"], 0), f"{func.__name__}: z must be real numbers")


@pytest.mark.parametrize("func", BCE_FUNCS, ids=lambda f: f.__name__)
def test_non_numeric_binary_inputs(func):
    first = "q" if func is binary_cross_entropy else "z"
    check(TypeError, lambda: func(["a"], [1.0]), f"{func.__name__}: {first} must be real")
    check(TypeError, lambda: func([0.5], ["a"]), f"{func.__name__}: y must be real numbers")


def test_long_values_are_abbreviated():
    message = check(TypeError, lambda: softmax(np.array(["a"] * 1000)), "dtype <U1")
    assert len(message) < 200
    assert "..." in message


# --- axis and dimensions ----------------------------------------------------------------------


@pytest.mark.parametrize("func", AXIS_FUNCS, ids=lambda f: f.__name__)
def test_scalar_logits(func):
    check(
        ValueError,
        lambda: func(3.5),
        f"{func.__name__}: z must have at least 1 dimension, got the scalar 3.5",
    )


@pytest.mark.parametrize("func", AXIS_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("axis", [2, -3])
def test_axis_out_of_range(func, axis):
    check(
        ValueError,
        lambda: func(np.zeros((2, 3)), axis=axis),
        f"{func.__name__}: axis {axis} is out of range for z with 2 dimension(s) (valid: -2..1)",
    )


@pytest.mark.parametrize("func", AXIS_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("axis", "shown"), [(1.0, "1.0"), (True, "True"), ("0", "'0'")])
def test_axis_not_an_int(func, axis, shown):
    check(
        TypeError,
        lambda: func(np.zeros((2, 3)), axis=axis),
        f"{func.__name__}: axis must be an int, got {shown}",
    )


@pytest.mark.parametrize("func", AXIS_FUNCS, ids=lambda f: f.__name__)
def test_empty_axis(func):
    check(
        ValueError,
        lambda: func(np.zeros((2, 0))),
        f"{func.__name__}: z must have at least one entry along axis -1, got shape (2, 0)",
    )
    check(ValueError, lambda: func([]), "at least one entry along axis -1, got shape (0,)")


def test_empty_batch_along_other_axis_is_fine():
    assert softmax(np.zeros((0, 3))).shape == (0, 3)
    assert logsumexp(np.zeros((0, 3))).shape == (0,)


@pytest.mark.parametrize("z", [5.0, np.zeros((2, 2)), np.zeros((1, 2, 1))])
def test_softmax_jacobian_needs_one_vector(z):
    shape = np.shape(z)
    check(
        ValueError,
        lambda: softmax_jacobian(z),
        f"softmax_jacobian: z must be a non-empty 1-D vector of logits, got shape {shape}",
    )


# --- numerical_gradient -----------------------------------------------------------------------


def test_numerical_gradient_f_not_callable():
    check(
        TypeError,
        lambda: numerical_gradient(3, [1.0]),
        "numerical_gradient: f must be callable, got 3",
    )


@pytest.mark.parametrize("eps", [0, 0.0, -1e-6, math.inf, math.nan, "1e-6", True, 1j, None])
def test_numerical_gradient_bad_eps(eps):
    check(
        ValueError,
        lambda: numerical_gradient(lambda v: 0.0, [1.0], eps=eps),
        "numerical_gradient: eps must be a finite number of at least 2.22e-16",
        f"got {eps!r}",
    )


@pytest.mark.parametrize(
    ("result", "shown"),
    [(np.zeros(2), "ndarray of shape (2,)"), ("a", "str of shape ()"), (1j, "complex of shape ()")],
)
def test_numerical_gradient_f_must_return_a_real_scalar(result, shown):
    check(
        ValueError,
        lambda: numerical_gradient(lambda v: result, [1.0]),
        f"numerical_gradient: f must return a real scalar, got {shown}",
    )


def test_numerical_gradient_x_non_numeric():
    check(
        TypeError,
        lambda: numerical_gradient(lambda v: 0.0, ["a"]),
        "numerical_gradient: x must be real",
    )


# --- how values are shown ---------------------------------------------------------------------


def test_show_prints_small_arrays_in_full_on_one_line():
    assert show(np.arange(8.0)) == "[0., 1., 2., 3., 4., 5., 6., 7.]"
    assert show(np.eye(2)) == "[[1., 0.], [0., 1.]]"
    assert show(2.5) == "2.5"


def test_show_summarises_more_than_eight_entries_with_two_at_each_end():
    assert show(np.arange(9.0)) == "[0., 1., ..., 7., 8.]"


def test_show_cuts_at_sixty_characters():
    assert show("a" * 58) == "'" + "a" * 58 + "'"  # 60 characters: kept
    assert show("a" * 59) == "'" + "a" * 56 + "..."  # 61: cut to 57 and an ellipsis


def test_probability_message_shows_the_first_negative_entry_and_the_target():
    check(
        ValueError,
        lambda: cross_entropy(SEED_Z, [0.0, -0.5, 1.5]),
        "got -0.5 in [ 0. , -0.5, 1.5]",  # whitespace runs collapse to one space
    )
    check(
        ValueError,
        lambda: cross_entropy([SEED_Z, SEED_Z], [[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]]),
        "in [[0.2, 0.3, 0.5], [0.5, 0.5, 0.5]]",
    )


def test_probability_sum_exactly_at_the_tolerance_is_accepted():
    tol = math.sqrt(np.finfo(np.float64).eps)  # 2**-26, exactly
    assert tol == 2.0**-26
    assert np.isfinite(cross_entropy(SEED_Z, [0.5, 0.5 + tol, 0.0]))  # sums to 1 + 2**-26
    check(ValueError, lambda: cross_entropy(SEED_Z, [0.5, 0.5 + 2 * tol, 0.0]), "summing to")


def test_unit_interval_message_shows_the_first_bad_entry():
    check(
        ValueError,
        lambda: binary_cross_entropy([0.5, 0.5, 0.5], [1.0, 1.25, -3.0]),
        "targets y must lie in [0, 1], got 1.25 in [ 1. , 1.25, -3. ]",
    )


def test_jacobian_message_shows_the_value():
    check(ValueError, lambda: softmax_jacobian(np.full((1, 2), 7.5)), "(1, 2): [[7.5, 7.5]]")


# --- the loss options ---------------------------------------------------------------------------


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("weight", "fragments"),
    [
        ([1.0, 2.0], ["weight must hold one weight per class, shape (3,)", "got shape (2,)"]),
        ([[1.0, 1.0, 1.0]], ["shape (3,)", "got shape (1, 3)"]),
        ([1.0, -0.5, 1.0], ["finite and non-negative, got -0.5"]),
        ([1.0, np.nan, 1.0], ["finite and non-negative, got nan"]),
        ([1.0, np.inf, 1.0], ["finite and non-negative, got inf"]),
    ],
)
def test_bad_class_weight(func, weight, fragments):
    check(ValueError, lambda: func(SEED_Z, 2, weight=weight), f"{func.__name__}: ", *fragments)


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("eps", [-0.1, 1.5, float("nan")])
def test_smoothing_outside_unit_interval(func, eps):
    check(
        ValueError,
        lambda: func(SEED_Z, 2, label_smoothing=eps),
        f"{func.__name__}: label_smoothing must lie in [0, 1]",
        f"got {eps!r}",
    )


@pytest.mark.parametrize("eps", [True, "0.1", None])
def test_smoothing_not_a_number(eps):
    check(
        TypeError,
        lambda: cross_entropy(SEED_Z, 2, label_smoothing=eps),
        "cross_entropy: label_smoothing must be a real number in [0, 1]",
        f"got {eps!r}",
    )


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_ignore_index_with_probability_targets(func):
    check(
        ValueError,
        lambda: func(SEED_Z, [0.0, 0.0, 1.0], ignore_index=2),
        f"{func.__name__}: ignore_index=2 applies to integer labels only",
        "target holds probabilities",
    )


@pytest.mark.parametrize("ignore_index", [1.0, True, "x"])
def test_ignore_index_not_an_int(ignore_index):
    check(
        TypeError,
        lambda: cross_entropy(SEED_Z, 2, ignore_index=ignore_index),
        "cross_entropy: ignore_index must be an int",
        f"got {ignore_index!r}",
    )


def test_labels_out_of_range_beside_ignore_index():
    # -100 is ignored; -1 is still an error, and the message says what is ignored
    check(
        ValueError,
        lambda: cross_entropy(np.zeros((3, 3)), [0, -100, -1], ignore_index=-100),
        "label -1 in target is out of range for 3 classes",
        "ignore_index is -100",
    )


def test_negative_label_is_an_error_without_ignore_index():
    # PyTorch ignores -100 by default; xentlib ignores nothing unless asked
    check(ValueError, lambda: cross_entropy(np.zeros((2, 3)), [0, -100]), "label -100")


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_mean_of_a_batch_with_every_sample_ignored(func):
    check(
        ValueError,
        lambda: func(np.zeros((2, 3)), [-100, -100], ignore_index=-100),
        f"{func.__name__}: reduction='mean' divides by the total weight",
        "which is 0 here (every sample's label is ignore_index)",
        "reduction='sum'",
    )
    # the sum is fine: 0
    assert float(cross_entropy(np.zeros((2, 3)), [-100, -100], "sum", ignore_index=-100)) == 0


def test_mean_of_a_batch_of_total_weight_zero():
    check(
        ValueError,
        lambda: cross_entropy(np.zeros((2, 3)), [1, 1], weight=[1.0, 0.0, 1.0]),
        "cross_entropy: reduction='mean' divides by the total weight",
        "every sample that is not ignored has a class of weight 0",
    )


@pytest.mark.parametrize("func", [binary_cross_entropy_with_logits, binary_cross_entropy_grad])
@pytest.mark.parametrize(
    ("options", "fragments"),
    [
        ({"weight": [1.0, -1.0]}, ["weight must be finite and non-negative, got -1.0"]),
        ({"pos_weight": [np.nan, 1.0]}, ["pos_weight must be finite and non-negative, got nan"]),
        (
            {"pos_weight": [1.0, 2.0, 3.0]},
            ["pos_weight must broadcast against z's shape (2, 2)", "the last axis", "(3,)"],
        ),
        ({"weight": np.ones((3, 2, 2))}, ["weight must broadcast against z's shape (2, 2)"]),
    ],
)
def test_bad_binary_weights(func, options, fragments):
    z = np.zeros((2, 2))
    check(ValueError, lambda: func(z, z, **options), f"{func.__name__}: ", *fragments)


@pytest.mark.parametrize("func", AXIS_FUNCS, ids=lambda f: f.__name__)
def test_axis_tuples(func):
    z = np.zeros((2, 3, 4))
    check(
        ValueError,
        lambda: func(z, axis=(0, -3)),
        f"{func.__name__}: axis (0, -3) names an axis twice",
    )
    check(ValueError, lambda: func(z, axis=()), f"{func.__name__}: axis=() names no axis")
    check(TypeError, lambda: func(z, axis=(0, 1.5)), "each axis in a tuple must be an int, got 1.5")
    check(
        ValueError, lambda: func(z, axis=(0, 3)), "axis 3 is out of range for z with 3 dimension(s)"
    )
    check(
        ValueError,
        lambda: func(np.zeros((2, 0, 3)), axis=(1, 2)),
        "z must have at least one entry along axis (1, 2), got shape (2, 0, 3)",
    )
    check(ValueError, lambda: func(np.float64(1.0), axis=None), "at least 1 dimension")


# --- messages in full: the function, the argument, the value ----------------------------------


def test_show_renders_none_and_strings_by_their_repr():
    # A string is shown as Python writes it: numpy would drop its trailing NUL ("'a'"), so a
    # show() that handed strings to numpy fails here. None reads "None" either way.
    assert show("a\x00") == "'a\\x00'"
    assert show(None) == "None"


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        (None, "one_hot: labels must be an array of numbers, got None"),
        (np.ma.masked_array([0, 1], mask=[0, 1]), "one_hot: labels is a masked array, whose mask"),
        (
            [[0], [1, 2]],
            "one_hot: labels must be an array of numbers, with rows of one length, "
            "got [[0], [1, 2]]",
        ),
    ],
    ids=["None", "masked", "ragged"],
)
def test_one_hot_labels_that_are_not_an_array(labels, fragment):
    # one_hot hands its raw labels to the label check: the message starts with the function and
    # the argument; fails if either is lost (e.g. "None: labels ..." or "one_hot: None ...").
    check(TypeError, lambda: one_hot(labels, 3), fragment)


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        (None, "cross_entropy: target must be 0-based integer labels of shape (2,)"),
        (np.ma.masked_array([0, 1], mask=[0, 1]), "cross_entropy: target is a masked array"),
        ([[0], [1, 2]], "cross_entropy: target must be an array of numbers, with rows of one"),
    ],
    ids=["None", "masked", "ragged"],
)
def test_cross_entropy_target_that_is_not_an_array(target, fragment):
    # The same faults in cross_entropy's target: the message names cross_entropy and target;
    # fails if the message names another function or argument.
    check(TypeError, lambda: cross_entropy(np.zeros((2, 3)), target), fragment)


def test_result_size_limit_is_the_largest_float64_array_an_intp_can_index():
    # 2**63 - 1 bytes, 8 per float64: 2**60 - 1 entries are accepted, 2**60 are refused. Fails
    # on >= for >, on // 9 for // 8, and on / 8 (2**63 - 1 divided as a float rounds to 2**60).
    assert check_result_size((2**60 - 1,), "one_hot", "num_classes=1152921504606846975") is None
    check(
        ValueError,
        lambda: check_result_size((2**30, 2**30), "one_hot", "num_classes=1073741824"),
        "one_hot: num_classes=1073741824 gives an output of shape (1073741824, 1073741824), "
        "1152921504606846976 entries: more than an array can hold",
    )


@pytest.mark.parametrize(("axis", "shown"), [(True, "True"), (1.0, "1.0")])
def test_check_axis_refuses_an_axis_that_is_not_an_int(axis, shown):
    # The public functions vet axis before check_axis sees it, so it is tested alone: True is a
    # bool, not an axis (fails if it is taken as axis 1), and the message names the function
    # and shows the axis (fails on a bare TypeError).
    check(
        TypeError,
        lambda: check_axis(axis, np.zeros((2, 3)), "z", "softmax"),
        f"softmax: axis must be an int, got {shown}",
    )


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_class_weight_message_shows_the_weights(func):
    # The message shows the whole weight vector after the first bad entry; fails if it does not.
    check(
        ValueError,
        lambda: func(SEED_Z, 2, weight=[1.0, -0.5, 1.0]),
        f"{func.__name__}: class weights must be finite and non-negative, "
        "got -0.5 in weight [ 1. , -0.5, 1. ]",
    )


@pytest.mark.parametrize(
    ("target", "ignore_index"), [([1, 1], None), ([1, -100, 1], -100)], ids=["plain", "ignored"]
)
def test_mean_of_total_weight_zero_says_why(target, ignore_index):
    # Every sample left (one ignored in the second case) has a class of weight 0: the message
    # gives that reason, in full, in its parentheses; fails on any other wording.
    check(
        ValueError,
        lambda: cross_entropy(
            np.zeros((len(target), 3)), target, weight=[1.0, 0.0, 1.0], ignore_index=ignore_index
        ),
        "cross_entropy: reduction='mean' divides by the total weight of the samples that are not "
        "ignored, which is 0 here (every sample that is not ignored has a class of weight 0); "
        "use reduction='sum' for a loss of 0",
    )


@pytest.mark.parametrize(
    "func", [binary_cross_entropy_with_logits, binary_cross_entropy_grad], ids=lambda f: f.__name__
)
@pytest.mark.parametrize(
    ("exc_type", "options", "message"),
    [
        (
            TypeError,
            {"weight": ["a"]},
            "weight must be real numbers (int or float), got dtype <U1 with value ['a']",
        ),
        (
            TypeError,
            {"pos_weight": ["a"]},
            "pos_weight must be real numbers (int or float), got dtype <U1 with value ['a']",
        ),
        (
            ValueError,
            {"weight": np.ones((3, 1))},
            "weight must broadcast against z's shape (2, 2), got shape (3, 1): [[1.], [1.], [1.]]",
        ),
        (
            ValueError,
            {"pos_weight": [1.0, 2.0, 3.0]},
            "pos_weight must broadcast against z's shape (2, 2) (one per class: the last axis), "
            "got shape (3,): [1., 2., 3.]",
        ),
        (
            ValueError,
            {"weight": [1.0, -1.0]},
            "weight must be finite and non-negative, got -1.0 in [ 1., -1.]",
        ),
        (
            ValueError,
            {"pos_weight": [[1.0], [-1.0]]},
            "pos_weight must be finite and non-negative, got -1.0 in [[ 1.], [-1.]]",
        ),
    ],
    ids=[
        "weight-str",
        "pos_weight-str",
        "weight-shape",
        "pos_weight-shape",
        "weight-neg",
        "pos_weight-neg",
    ],
)
def test_binary_weight_messages_in_full(func, exc_type, options, message):
    # Each message names the function and the argument, shows the value right after the rule
    # (no prefix before it), and only pos_weight's shape message adds the per-class hint; fails
    # if a name, the value or that hint is lost, altered or misplaced.
    z = np.zeros((2, 2))
    check(exc_type, lambda: func(z, z, **options), f"{func.__name__}: {message}")


@pytest.mark.parametrize("func", CE_FUNCS, ids=lambda f: f.__name__)
def test_class_weight_that_is_not_numbers_or_of_the_wrong_length(func):
    # The weight is named as the argument it is, in the function's own message, and a weight of
    # the wrong length is shown. Fails if the name, the function or the value drops out.
    z = np.zeros((2, 3))
    check(
        TypeError, lambda: func(z, [0, 1], weight=["a", "b", "c"]), f"{func.__name__}: weight must"
    )
    check(
        ValueError,
        lambda: func(z, [0, 1], weight=[1.0, 2.0]),
        f"{func.__name__}: weight must hold one weight per class, shape (3,), "
        "got shape (2,): [1., 2.]",
    )


@pytest.mark.parametrize("func", [softmax, log_softmax, logsumexp], ids=lambda f: f.__name__)
def test_axes_out_of_range_are_refused_by_name(func):
    # A scalar with axis=None, an axis out of range in a tuple, including -ndim - 1 (one past
    # the negative end): each refused with the function's name and the array's dimensions.
    # Fails if the scalar is let through, the range is off by one, or the name is lost.
    check(ValueError, lambda: func(np.float64(1.0), axis=None), f"{func.__name__}: ")
    z = np.zeros((2, 3))
    for axes in [(0, 2), (-3,), (0, -3)]:
        message = check(ValueError, lambda axes=axes: func(z, axis=axes), f"{func.__name__}: ")
        assert "axis" in message and "2" in message
    assert func(z, axis=(-2,)).shape == ((3,) if func is logsumexp else (2, 3))


@pytest.mark.parametrize(
    "shape, labels_shape", [((3,), "()"), ((2, 3), "(2,)")], ids=["one sample", "a batch"]
)
def test_a_none_target_is_told_both_shapes_it_could_have(shape, labels_shape):
    # The message gives the shape of labels (z's shape without its last axis) and of
    # probabilities (z's shape), and says what it got. Fails if the labels' shape is written
    # from the wrong end of z's shape ((3,) for one sample instead of ()).
    with pytest.raises(TypeError) as raised:
        cross_entropy(np.zeros(shape), None)
    assert str(raised.value) == (
        f"cross_entropy: target must be 0-based integer labels of shape {labels_shape} or "
        f"probabilities of shape {shape} (the shape of z), got None"
    )


def test_one_sample_with_the_label_c_is_refused():
    # One sample's int label is checked at a glance: 0 <= label < C. Fails if the label C is let
    # through (it would index past the row).
    with pytest.raises(ValueError) as raised:
        cross_entropy(np.array([1.0, 2.0, 3.0]), 3)
    assert str(raised.value) == (
        "cross_entropy: label 3 in target is out of range for 3 classes (labels are 0-based: 0..2)"
    )


@pytest.mark.parametrize(
    "z, labels, message",
    [
        (
            np.zeros((3, 4)),
            np.array([0, 4, 1]),
            "label 4 in target is out of range for 4 classes (labels are 0-based: 0..3)",
        ),
        (
            np.zeros((2, 256)),
            np.array([0, -1], dtype=np.int8),
            "label -1 in target is out of range for 256 classes (labels are 0-based: 0..255)",
        ),
        (
            np.zeros((3, 4)),
            np.array([0, 1, 2, 3]),
            "target must be 0-based integer labels of shape (3,) or probabilities of shape "
            "(3, 4) (the shape of z), got shape (4,)",
        ),
    ],
    ids=["label C", "int8 -1 with 256 classes", "one label too many"],
)
def test_the_quick_acceptance_of_labels_lets_no_bad_batch_through(z, labels, message):
    # A batch's integer labels are accepted at a glance when 0 <= label < C, read as unsigned
    # in one pass (a negative label of b bits is then at least 2^(b-1), so C may not exceed
    # that), and their shape is (N,). Fails if the label C passes, if 256 classes are allowed
    # for int8 (-1 read as 255 would be a class), or if the shape is not compared.
    with pytest.raises(ValueError) as raised:
        cross_entropy(z, labels)
    assert str(raised.value) == f"cross_entropy: {message}"
