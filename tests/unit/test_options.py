"""The loss options: class weights, ignored labels, label smoothing, pos_weight, and several axes.

Every expected value is an independent closed form built from xentlib.reference's exact
per-class quantities (mpmath), from central differences, or from scipy; none comes from the code
under test. The laws: the options reduce to the plain loss when they are neutral (``weight`` all
ones, ``ε = 0``, ``pos_weight = 1``), an ignored sample contributes exactly nothing, and each
gradient is the derivative of its loss (``eq-losses-general-grad``, ``eq-losses-pos-weight-grad``).
"""

import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from strategies import logits_and_binary_targets, logits_and_labels, logits_and_probabilities

from xentlib import (
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_grad,
    cross_entropy_with_grad,
    log_softmax,
    logsumexp,
    numerical_gradient,
    reference,
    softmax,
)

REDUCTIONS = ["mean", "sum", "none"]
SEED_Z = np.array([-2.85, 0.86, 0.28])


def _batch(seed=0, n=6, c=4):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, c)) * 3
    labels = rng.integers(0, c, n)
    weight = rng.uniform(0.5, 3.0, c)
    return z, labels, weight


def _exact(exact):
    return exact.hi + exact.lo


def _per_class_losses(z):
    """-log softmax(z), exact (mpmath) and rounded to float64."""
    return -_exact(reference.log_softmax(z))


# --- neutral options change nothing ---------------------------------------------------------


@given(logits_and_labels())
def test_unit_weights_change_nothing(case):
    z, labels = case
    ones = np.ones(z.shape[-1])
    for reduction in REDUCTIONS:
        plain_loss, plain_grad = cross_entropy_with_grad(z, labels, reduction)
        loss, grad = cross_entropy_with_grad(z, labels, reduction, weight=ones)
        # the plain batch takes the fast route, the weighted one the algebra: a few ulp apart
        np.testing.assert_allclose(loss, plain_loss, rtol=1e-14, atol=1e-300)
        np.testing.assert_allclose(grad, plain_grad, rtol=1e-14, atol=1e-300)


@given(logits_and_probabilities())
def test_unit_weights_change_nothing_for_probability_targets(case):
    z, probs = case
    ones = np.ones(z.shape[-1])
    for reduction in REDUCTIONS:
        plain_loss, plain_grad = cross_entropy_with_grad(z, probs, reduction)
        loss, grad = cross_entropy_with_grad(z, probs, reduction, weight=ones)
        np.testing.assert_allclose(loss, plain_loss, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(grad, plain_grad, rtol=1e-13, atol=1e-15)


@given(logits_and_labels())
def test_zero_smoothing_changes_nothing(case):
    z, labels = case
    for reduction in REDUCTIONS:
        plain_loss, plain_grad = cross_entropy_with_grad(z, labels, reduction)
        loss, grad = cross_entropy_with_grad(z, labels, reduction, label_smoothing=0.0)
        np.testing.assert_array_equal(loss, plain_loss)
        np.testing.assert_array_equal(grad, plain_grad)


@given(logits_and_binary_targets())
def test_pos_weight_one_and_unit_weights_change_nothing_in_bce(case):
    z, y = case
    for reduction in REDUCTIONS:
        plain = binary_cross_entropy_with_logits(z, y, reduction)
        plain_grad = binary_cross_entropy_grad(z, y, reduction)
        ones = np.ones(z.shape[-1:]) if z.ndim else 1.0
        for options in ({"pos_weight": ones}, {"weight": np.ones(z.shape)}):
            np.testing.assert_array_equal(
                binary_cross_entropy_with_logits(z, y, reduction, **options), plain
            )
            np.testing.assert_array_equal(
                binary_cross_entropy_grad(z, y, reduction, **options), plain_grad
            )


# --- class weights ----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_labels_closed_form(reduction):
    # eq-losses-weighted: sample n counts w[y_n] times; 'mean' divides by sum_n w[y_n]
    z, labels, weight = _batch()
    per_sample = _exact(reference.cross_entropy(z, labels)) * weight[labels]
    expected = {
        "none": per_sample,
        "sum": per_sample.sum(),
        "mean": per_sample.sum() / weight[labels].sum(),
    }[reduction]
    np.testing.assert_allclose(
        cross_entropy(z, labels, reduction, weight=weight), expected, rtol=4e-16 * 8
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_mean_gradient_rows(reduction):
    # row n is w[y_n] (q_n - y_n) / sum_m w[y_m] for 'mean' (PyTorch's rule), w[y_n] (q_n - y_n)
    # otherwise
    z, labels, weight = _batch(1)
    q_minus_y = _exact(reference.cross_entropy_grad(z, labels))
    rows = weight[labels][:, None] * q_minus_y
    if reduction == "mean":
        rows = rows / weight[labels].sum()
    np.testing.assert_allclose(
        cross_entropy_grad(z, labels, reduction, weight=weight), rows, rtol=1e-15, atol=1e-17
    )


def test_weighted_probability_targets_divide_by_n():
    z, _, weight = _batch(2)
    probs = np.random.default_rng(3).dirichlet(np.ones(4), len(z))
    per_sample = (weight * probs * _per_class_losses(z)).sum(axis=1)
    np.testing.assert_allclose(
        cross_entropy(z, probs, "none", weight=weight), per_sample, rtol=1e-15
    )
    np.testing.assert_allclose(
        cross_entropy(z, probs, weight=weight), per_sample.sum() / len(z), rtol=1e-15
    )
    grad = cross_entropy_grad(z, probs, "sum", weight=weight)
    a = weight * probs
    expected = a.sum(axis=1, keepdims=True) * _exact(reference.softmax(z)) - a
    np.testing.assert_allclose(grad, expected, rtol=1e-13, atol=1e-16)


def test_one_sample_weighted_mean_is_the_unweighted_loss():
    # the mean of one sample of weight w divides w * loss by w
    loss = cross_entropy(SEED_Z, 2, weight=[1.0, 1.0, 5.0])
    np.testing.assert_allclose(loss, _exact(reference.cross_entropy(SEED_Z, 2)), rtol=1e-15)
    summed = cross_entropy(SEED_Z, 2, "sum", weight=[1.0, 1.0, 5.0])
    np.testing.assert_allclose(summed, 5 * _exact(reference.cross_entropy(SEED_Z, 2)), rtol=1e-15)


def test_zero_weight_class_contributes_nothing():
    z, labels, weight = _batch(4)
    weight[labels[0]] = 0.0
    per_sample = cross_entropy(z, labels, "none", weight=weight)
    grad = cross_entropy_grad(z, labels, "none", weight=weight)
    assert np.all(per_sample[labels == labels[0]] == 0)
    assert np.all(grad[labels == labels[0]] == 0)


# --- ignore_index ---------------------------------------------------------------------------


@given(logits_and_labels(), st.integers(-3, 8))
def test_ignored_samples_contribute_nothing(case, ignored):
    z, labels = case
    z, labels = np.atleast_2d(z), np.atleast_1d(labels)
    kept = labels != ignored
    for reduction in ("sum", "none"):
        loss, grad = cross_entropy_with_grad(z, labels, reduction, ignore_index=ignored)
        assert np.all(grad[~kept] == 0)  # exactly 0
        if reduction == "none":
            assert np.all(loss[~kept] == 0)
            np.testing.assert_allclose(loss[kept], cross_entropy(z[kept], labels[kept], "none"))
        elif kept.any():
            np.testing.assert_allclose(loss, cross_entropy(z[kept], labels[kept], "sum"))
    if kept.any():
        loss, grad = cross_entropy_with_grad(z, labels, "mean", ignore_index=ignored)
        # the mean over the kept samples: their count is the denominator
        plain_loss, plain_grad = cross_entropy_with_grad(z[kept], labels[kept])
        np.testing.assert_allclose(loss, plain_loss, rtol=1e-14)
        np.testing.assert_allclose(grad[kept], plain_grad, rtol=1e-14, atol=1e-300)


def test_ignored_rows_are_zero_whatever_their_logits():
    z = np.array([[0.0, 1.0, 2.0], [np.nan, 1.0, 0.0], [-np.inf, -np.inf, -np.inf]])
    labels = np.array([1, -100, -100])
    loss, grad = cross_entropy_with_grad(z, labels, "none", ignore_index=-100)
    assert loss[1] == 0 and loss[2] == 0
    assert np.all(grad[1:] == 0)
    np.testing.assert_allclose(loss[0], _exact(reference.cross_entropy(z[0], 1)), rtol=1e-15)


def test_ignore_index_with_weight_and_smoothing_denominator():
    z, labels, weight = _batch(5)
    labels[:2] = -1
    kept = labels != -1
    eps = 0.2
    smoothed = cross_entropy(z[kept], labels[kept], "sum", weight=weight, label_smoothing=eps)
    expected = smoothed / weight[labels[kept]].sum()
    loss = cross_entropy(z, labels, weight=weight, ignore_index=-1, label_smoothing=eps)
    np.testing.assert_allclose(loss, expected, rtol=1e-15)


# --- label smoothing ------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.1, 0.5, 1.0])
def test_smoothed_labels_closed_form(eps):
    # eq-losses-smoothed: (1 - ε) l_y + (ε / C) sum_c l_c, with l_c = -log q_c
    z, labels, _ = _batch(6)
    c = z.shape[1]
    per_class = _per_class_losses(z)
    expected = (1 - eps) * per_class[np.arange(len(z)), labels] + eps / c * per_class.sum(axis=1)
    np.testing.assert_allclose(
        cross_entropy(z, labels, "none", label_smoothing=eps), expected, rtol=1e-15
    )
    target = (1 - eps) * np.eye(c)[labels] + eps / c
    grad = cross_entropy_grad(z, labels, "sum", label_smoothing=eps)
    np.testing.assert_allclose(grad, _exact(reference.softmax(z)) - target, rtol=1e-13, atol=1e-16)


def test_smoothing_probability_targets_is_smoothing_the_target():
    z, _, _ = _batch(7)
    probs = np.random.default_rng(8).dirichlet(np.ones(4), len(z))
    eps = 0.3
    smoothed = (1 - eps) * probs + eps / 4
    expected = (smoothed * _per_class_losses(z)).sum(axis=1)
    np.testing.assert_allclose(
        cross_entropy(z, probs, "none", label_smoothing=eps), expected, rtol=1e-15
    )


def test_smoothing_with_weights_weighs_each_class_as_pytorch_does():
    # the smoothed part of sample n weighs class c by w_c, not by w[y_n]:
    # l_n = (1 - ε) w[y_n] l_{y_n} + (ε / C) sum_c w_c l_c
    z, labels, weight = _batch(9)
    eps, c = 0.25, z.shape[1]
    per_class = _per_class_losses(z)
    expected = (1 - eps) * weight[labels] * per_class[np.arange(len(z)), labels]
    expected += eps / c * (weight * per_class).sum(axis=1)
    loss = cross_entropy(z, labels, "none", weight=weight, label_smoothing=eps)
    np.testing.assert_allclose(loss, expected, rtol=1e-15)


def test_smoothing_keeps_the_confident_gradient():
    # At z = [0, 40, 0], label 1, ε = 0.1: the target at the argmax is 1 - ε + ε/3, and
    # q_1 - y_1 = (2ε/3 - y_1 t) / (1 + t) with t = 2 e^-40, not 1 - y_1 rounded.
    import mpmath

    z = np.array([0.0, 40.0, 0.0])
    eps = 0.1
    with mpmath.workdps(50):
        e = mpmath.mpf(eps)
        t = 2 * mpmath.exp(-40)
        y1 = 1 - e + e / 3
        exact = float(((1 - y1) - y1 * t) / (1 + t))
    grad = cross_entropy_grad(z, 1, label_smoothing=eps)
    assert float(reference.ulp_error(grad[1], exact, np.float64)) <= 4
    # and with weights alone, the plain -w t / (1 + t)
    with mpmath.workdps(50):
        exact_w = float(-3 * (2 * mpmath.exp(-40)) / (1 + 2 * mpmath.exp(-40)))
    grad_w = cross_entropy_grad(z, 1, "sum", weight=[1.0, 3.0, 1.0])
    assert float(reference.ulp_error(grad_w[1], exact_w, np.float64)) <= 4


def test_full_smoothing_is_the_uniform_target():
    z, labels, _ = _batch(10)
    np.testing.assert_allclose(
        cross_entropy_grad(z, labels, "sum", label_smoothing=1.0),
        _exact(reference.softmax(z)) - 0.25,
        rtol=1e-13,
        atol=1e-16,
    )


# --- every option: the gradient is the derivative of the loss -------------------------------


OPTION_SETS = [
    {"weight": np.array([0.5, 2.0, 1.0, 3.0])},
    {"ignore_index": 2},
    {"label_smoothing": 0.15},
    {"weight": np.array([0.5, 2.0, 1.0, 3.0]), "ignore_index": 2, "label_smoothing": 0.15},
]


@pytest.mark.parametrize("options", OPTION_SETS, ids=["weight", "ignore", "smoothing", "all"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_gradient_matches_central_differences(options, reduction):
    z, labels, _ = _batch(11)
    grad = cross_entropy_grad(z, labels, reduction, **options)
    numeric = numerical_gradient(lambda v: cross_entropy(v, labels, reduction, **options), z)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_bce_gradient_matches_central_differences(reduction):
    rng = np.random.default_rng(12)
    x, y = rng.standard_normal((5, 3)) * 3, rng.random((5, 3))
    options = {"weight": rng.uniform(0, 2, (5, 3)), "pos_weight": np.array([0.5, 2.0, 7.0])}
    grad = binary_cross_entropy_grad(x, y, reduction, **options)
    numeric = numerical_gradient(
        lambda v: binary_cross_entropy_with_logits(v, y, reduction, **options), x
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


# --- pos_weight and weight of the binary loss -----------------------------------------------


def test_pos_weight_closed_form():
    # eq-losses-pos-weight: p y softplus(-z) + (1 - y) softplus(z), softplus exact from the
    # reference (its loss at y = 1 and y = 0)
    rng = np.random.default_rng(13)
    x = np.concatenate([rng.standard_normal(20) * 5, [-800.0, -40.0, 40.0, 800.0]])
    y = np.concatenate([rng.random(20), [1.0, 1.0, 0.0, 0.0]])
    p = 4.0
    softplus_minus = _exact(reference.binary_cross_entropy_with_logits(x, np.ones_like(x)))
    softplus = _exact(reference.binary_cross_entropy_with_logits(x, np.zeros_like(x)))
    expected = p * y * softplus_minus + (1 - y) * softplus
    loss = binary_cross_entropy_with_logits(x, y, "none", pos_weight=p)
    np.testing.assert_allclose(loss, expected, rtol=1e-14)
    sigma = _exact(reference.sigmoid(x))
    expected_grad = (1 + (p - 1) * y) * sigma - p * y
    grad = binary_cross_entropy_grad(x, y, "none", pos_weight=p)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)


def test_pos_weight_along_the_class_axis_and_weight_broadcast():
    rng = np.random.default_rng(14)
    x, y = rng.standard_normal((4, 3)), (rng.random((4, 3)) < 0.5).astype(float)
    p, w = np.array([1.0, 2.0, 5.0]), np.array([[1.0], [0.0], [2.0], [0.5]])
    loss = binary_cross_entropy_with_logits(x, y, "none", weight=w, pos_weight=p)
    for j in range(3):
        column = binary_cross_entropy_with_logits(x[:, j], y[:, j], "none", pos_weight=p[j])
        np.testing.assert_allclose(loss[:, j], w[:, 0] * column, rtol=1e-15)
    mean = binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=p)
    np.testing.assert_allclose(mean, loss.sum() / x.size, rtol=1e-15)  # 'mean' divides by size


def test_pos_weight_keeps_the_confident_gradient():
    # z = 40, y = 1, p = 3: the gradient is -3 sigma(-40) = -3 e^-40 / (1 + e^-40), not 0
    grad = binary_cross_entropy_grad(40.0, 1.0, pos_weight=3.0)
    exact = -3 * _exact(reference.sigmoid(-40.0))
    assert float(reference.ulp_error(grad, exact, np.float64)) <= 4


# --- one sample, narrow targets and long double logits under the options ----------------------


@pytest.mark.parametrize(
    "target, options",
    [
        (2, {"weight": [1.0, 1.0, 5.0]}),
        (2, {"label_smoothing": 0.1}),
        (2, {"ignore_index": 0}),
        ([0.2, 0.3, 0.5], {"weight": [1.0, 2.0, 5.0], "label_smoothing": 0.1}),
    ],
    ids=["weight", "smoothing", "ignore", "probabilities"],
)
def test_one_sample_with_options_and_no_reduction_is_a_scalar(target, options):
    # z of shape (C,) is one sample: with reduction='none' its loss has shape (), as without
    # options, and is its exact loss under the options. Fails if the options' route hands back
    # the loss of its one row with shape (1,).
    weight = options.get("weight")
    smoothing = options.get("label_smoothing", 0.0)
    exact = reference.cross_entropy_options(
        SEED_Z[None], np.asarray(target)[None], weight, smoothing
    )["cross_entropy"]
    loss = cross_entropy(SEED_Z, target, "none", **options)
    with_grad, grad = cross_entropy_with_grad(SEED_Z, target, "none", **options)
    assert np.shape(loss) == np.shape(with_grad) == ()
    assert grad.shape == (3,)
    assert (reference.ulp_error(loss, exact, np.float64) <= 4).all()
    assert (reference.ulp_error(with_grad, exact, np.float64) <= 4).all()


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_smoothing_a_narrow_probability_target_is_done_in_float64(dtype):
    # float64 logits and a float16 or float32 target: the smoothed target (1 - ε) y + ε / C of
    # those numbers is formed in float64, so the loss is within 4 ulp of mpmath's and each
    # gradient entry within 4 (1 + κ) ulp, κ its condition number in the target. Fails if the
    # smoothing is computed in the target's own precision (1e8 ulp and more off).
    z = np.array([[-2.85, 0.86, 0.28], [1.0, 2.0, 3.0]])
    target = np.array([[0.4, 0.3, 0.3], [0.1, 0.2, 0.7]], dtype=dtype)
    exact = reference.cross_entropy_options(z, target, label_smoothing=0.1)
    loss = cross_entropy(z, target, "none", label_smoothing=0.1)
    grad = cross_entropy_grad(z, target, "sum", label_smoothing=0.1)
    assert loss.dtype == grad.dtype == np.float64
    assert (reference.ulp_error(loss, exact["cross_entropy"], np.float64) <= 4).all()
    grad_error = reference.ulp_error(grad, exact["cross_entropy_grad"], np.float64)
    assert (grad_error <= 4 * (1 + exact["condition"])).all()


@pytest.mark.skipif(
    np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 on this platform"
)
@pytest.mark.parametrize(
    "options",
    [{}, {"ignore_index": 1}, {"label_smoothing": 0.1}],
    ids=["weight", "weight, ignore", "weight, smoothing"],
)
def test_weighted_long_double_is_computed_in_its_own_precision(options):
    # Long double logits with class weights: long double out, with long double's digits, within
    # 4 of its spacing of mpmath's exact (hi, lo) pair (the logits are float64 numbers, so the
    # reference sees them exactly); an ignored sample's loss and row are exactly 0. Fails if the
    # options' route collects its losses or gradient rows in float64 (hundreds of spacings off),
    # or builds the smoothed target (1 - ε) e_y + ε / C in float64 (thousands).
    z64, labels, weight = _batch(17, c=5)
    kept = labels != options.get("ignore_index", -1)
    loss, grad = cross_entropy_with_grad(
        z64.astype(np.longdouble), labels, "none", weight=weight, **options
    )
    assert loss.dtype == grad.dtype == np.longdouble
    assert np.all(loss[~kept] == 0) and np.all(grad[~kept] == 0)
    smoothing = options.get("label_smoothing", 0.0)
    exact = reference.cross_entropy_options(z64[kept], labels[kept], weight, smoothing)
    # the gradient entry to 4 (1 + κ) spacings, κ its condition number in the target
    for got, part, kappa in [
        (loss, exact["cross_entropy"], 0.0),
        (grad, exact["cross_entropy_grad"], exact["condition"]),
    ]:
        hi, lo = (np.asarray(p, dtype=np.longdouble) for p in part)
        bound = 4 * (1 + kappa) * np.spacing(np.abs(hi + lo))
        assert (np.abs((got[kept] - hi) - lo) <= bound).all()


# --- float32 in, float32 out ----------------------------------------------------------------


@pytest.mark.parametrize("options", OPTION_SETS, ids=["weight", "ignore", "smoothing", "all"])
def test_float32_in_float32_out(options):
    z, labels, _ = _batch(15)
    z = z.astype(np.float32)
    loss, grad = cross_entropy_with_grad(z, labels, **options)
    assert loss.dtype == np.float32 and grad.dtype == np.float32
    assert cross_entropy(z, labels, "none", **options).dtype == np.float32
    x = z.ravel()
    bce = binary_cross_entropy_with_logits(x, np.ones_like(x), pos_weight=2.0, weight=0.5)
    assert bce.dtype == np.float32
    assert binary_cross_entropy_grad(x, np.ones_like(x), pos_weight=2.0).dtype == np.float32


# --- several axes ---------------------------------------------------------------------------

AXES = [None, (0, 2), (2, 0), (1,), (0, 1, 2), -1]


@pytest.mark.parametrize("axis", AXES, ids=str)
@given(hnp.arrays(np.float64, (2, 3, 4), elements=st.floats(-50, 50)))
def test_several_axes_as_scipy(axis, z):
    for keepdims in (False, True):
        np.testing.assert_allclose(
            logsumexp(z, axis=axis, keepdims=keepdims),
            sp.logsumexp(z, axis=axis, keepdims=keepdims),
            rtol=1e-14,
        )
    np.testing.assert_allclose(softmax(z, axis=axis), sp.softmax(z, axis=axis), atol=1e-15)
    np.testing.assert_allclose(
        log_softmax(z, axis=axis), sp.log_softmax(z, axis=axis), rtol=1e-13, atol=1e-13
    )


def test_softmax_over_several_axes_sums_to_one_over_them():
    z = np.random.default_rng(16).standard_normal((3, 4, 5)) * 10
    sums = softmax(z, axis=(0, 2)).sum(axis=(0, 2))
    np.testing.assert_allclose(sums, 1.0, rtol=1e-15)
    assert float(softmax(z, axis=None).sum()) == pytest.approx(1.0, rel=1e-15)
