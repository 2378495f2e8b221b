"""Every softmax-family function and loss within 4 ulp of the exact answer, float32 and float64.

The exact answers are computed here, with mpmath at 50 digits, by ``benchmarks/reference.py``;
the cases are the small version of the adversarial suite of ``benchmarks/accuracy.py`` (random
logits at scales 1, 10, 100; confident rows with gaps up to 10**4; ties; offsets up to 1e30;
±finfo.max; subnormals; -inf masks; 2000 classes; sigmoid inputs up to ±finfo.max with hard and
soft labels). ``make bench`` runs the full suite, with 10**5 classes, and compares the libraries.

The error is ``|computed - exact| / ulp(exact)`` in the output dtype, with ``ulp`` the gap
between the floats around the exact value (the subnormal spacing near 0): see
``benchmarks/reference.py``. 4 ulp is the goal of the chapter "The last digit".
"""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import xentlib

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
MAX_ULP = 4.0


def _load(name):
    """A module of ``benchmarks/`` (a folder of scripts, not a package), loaded by path."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


reference = _load("reference")
accuracy = _load("accuracy")

DTYPES = [np.float32, np.float64]


@pytest.fixture(scope="module", params=DTYPES, ids=["float32", "float64"])
def suite(request):
    return request.param, accuracy.build_suite(request.param)


def _worst(func, cases, dtype, exact_name, *, labelled):
    """The largest ulp error of ``func`` over the cases, with the case where it happens."""
    worst = (0.0, "")
    for case in cases:
        name, z, labels, exact = case
        args = (z.copy(), labels) if labelled else (z.copy(),)
        err = reference.ulp_error(np.asarray(func(*args)), exact[exact_name], dtype)
        worst = max(worst, (float(err.max(initial=0.0)), name))
    return worst


SOFTMAX_FAMILY = {
    "log_softmax": (xentlib.log_softmax, False),
    "softmax": (xentlib.softmax, False),
    "logsumexp": (xentlib.logsumexp, False),
    "cross_entropy": (lambda z, y: xentlib.cross_entropy(z, y, reduction="none"), True),
    "cross_entropy_grad": (lambda z, y: xentlib.cross_entropy_grad(z, y, reduction="sum"), True),
}


@pytest.mark.parametrize("name", list(SOFTMAX_FAMILY))
def test_softmax_family_within_4_ulp(suite, name):
    dtype, (softmax_cases, _) = suite
    func, labelled = SOFTMAX_FAMILY[name]
    err, case = _worst(func, softmax_cases, dtype, name, labelled=labelled)
    assert err <= MAX_ULP, f"{name}, {np.dtype(dtype).name}: {err:.2f} ulp on '{case}'"


def test_cross_entropy_with_grad_is_the_two_functions(suite):
    dtype, (softmax_cases, _) = suite
    for _, z, labels, exact in softmax_cases:
        loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction="sum")
        assert reference.ulp_error(grad, exact["cross_entropy_grad"], dtype).max() <= MAX_ULP
        assert loss.dtype == dtype and grad.dtype == dtype


def test_one_hot_probability_targets_are_as_accurate_as_labels(suite):
    # The probability-target route must not cancel p_k - 1 either: at z = [0, 40] against the
    # target [0, 1] the gradient is -4.2484e-18, not 0.
    dtype, (softmax_cases, _) = suite
    for name, z, labels, exact in softmax_cases:
        target = xentlib.one_hot(labels, z.shape[-1]).astype(dtype)
        loss, grad = xentlib.cross_entropy_with_grad(z, target, reduction="none")
        for func_name, out in (("cross_entropy", loss), ("cross_entropy_grad", grad)):
            err = reference.ulp_error(out, exact[func_name], dtype).max()
            assert err <= MAX_ULP, f"{func_name}, {np.dtype(dtype).name}: {err:.2f} ulp on '{name}'"


def test_sigmoid_within_4_ulp(suite):
    dtype, (_, sigmoid_cases) = suite
    for _, x, _, exact in sigmoid_cases:
        err = reference.ulp_error(xentlib.sigmoid(x), exact["sigmoid"], dtype)
        assert err.max() <= MAX_ULP, f"{err.max():.2f} ulp at x = {x[err.argmax()]}"


@pytest.mark.parametrize("labels", ["hard labels", "soft labels"])
def test_bce_with_logits_within_4_ulp(suite, labels):
    dtype, (_, sigmoid_cases) = suite
    ((_, x, y, exact),) = [case for case in sigmoid_cases if case[0] == labels]
    loss = xentlib.binary_cross_entropy_with_logits(x, y, reduction="none")
    err = reference.ulp_error(loss, exact["binary_cross_entropy_with_logits"], dtype)
    assert err.max() <= MAX_ULP, (
        f"{err.max():.2f} ulp at x = {x[err.argmax()]}, y = {y[err.argmax()]}"
    )


def test_no_nan_or_inf_where_the_exact_value_is_finite(suite):
    dtype, (softmax_cases, _) = suite
    for name, z, labels, exact in softmax_cases:
        for func_name, (func, labelled) in SOFTMAX_FAMILY.items():
            out = np.asarray(func(z, labels) if labelled else func(z))
            with np.errstate(over="ignore"):  # exact values beyond the format round to inf
                finite = np.isfinite(exact[func_name][0].astype(dtype))
            assert np.isfinite(out[finite]).all(), f"{func_name} on '{name}'"


def test_the_ulp_metric():
    # 1 + 2**-52 is one float64 ulp above 1; 2**-1074 is one subnormal ulp above 0.
    one = (np.array([1.0]), np.array([0.0]))
    assert reference.ulp_error(np.array([1 + 2**-52]), one, np.float64)[0] == 1.0
    assert reference.ulp_error(np.array([1 + 2**-23]), one, np.float32)[0] == 1.0
    zero = (np.array([0.0]), np.array([0.0]))
    assert reference.ulp_error(np.array([2.0**-1074]), zero, np.float64)[0] == 1.0
    assert reference.ulp_error(np.array([np.nan]), one, np.float64)[0] == np.inf
    minus_inf = (np.array([-np.inf]), np.array([0.0]))
    assert reference.ulp_error(np.array([-np.inf]), minus_inf, np.float64)[0] == 0.0


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("label_dtype", [np.int8, np.uint8, np.int64, np.uint64])
def test_fast_route_agrees_with_the_general_route(monkeypatch, dtype, label_dtype):
    # Many small blocks, rows inside and outside the no-shift window, a transposed (non-contiguous)
    # input, and every integer label type: the blocked fast route must match `shifted`'s algebra.
    from xentlib import _core

    monkeypatch.setattr(_core, "BLOCK_SIZE", 64)
    rng = np.random.default_rng(3)
    z = (rng.standard_normal((7, 50)) * 20).T.astype(dtype)  # shape (50, 7), not C-contiguous
    z[::5] -= 100.0  # maxima below 0: the shifted route
    z[1, 3] = -np.inf
    labels = rng.integers(0, 7, 50).astype(label_dtype)
    labels[1] = 0
    loss, grad = _core.ce_hard_labels(z, labels, True, True, 0.5)
    loss_ref, grad_ref = _core.ce_shifted(z, labels.astype(np.intp), None, 0.5)
    rtol = 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(loss, loss_ref, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad, grad_ref, rtol=rtol, atol=np.finfo(dtype).tiny)
    assert grad.dtype == dtype and loss.dtype == dtype
