"""The implementations compared with xentlib, each as a dict of the same eight functions.

Every function takes numpy arrays in the dtype under test and returns numpy arrays:

- ``log_softmax(z)``, ``softmax(z)``, ``logsumexp(z)``: along the last axis of an (N, C) array;
- ``cross_entropy(z, labels)``: per-sample losses (``reduction="none"``);
- ``cross_entropy_grad(z, labels)``: the summed gradient ``softmax(z) - Y``;
- ``cross_entropy_with_grad(z, labels)``: ``(mean loss, gradient of the mean)``, the training step
  that the speed table times;
- ``sigmoid(x)``, ``binary_cross_entropy_with_logits(x, y)`` (elementwise).

"naive numpy" is the textbook form; "max-shift numpy" is the standard stable form that PyTorch,
JAX and scipy implement (subtract the row maximum, then ``log(sum(exp))``). PyTorch and JAX are
optional: ``available()`` lists what is installed.
"""

import contextlib
import os

import numpy as np
import scipy
import scipy.special as sp

import xentlib
from xentlib import _core


def _onehot_minus(p, labels):
    p[np.arange(p.shape[0]), labels] -= 1
    return p


def _naive():
    def softmax(z):
        e = np.exp(z)
        return e / e.sum(axis=-1, keepdims=True)

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    def cross_entropy(z, labels):
        return -np.log(softmax(z)[np.arange(z.shape[0]), labels])

    def with_grad(z, labels):
        p = softmax(z)
        loss = -np.log(p[np.arange(z.shape[0]), labels]).mean()
        return loss, _onehot_minus(p, labels) / z.shape[0]

    def bce(x, y):
        q = sigmoid(x)
        return -(y * np.log(q) + (1 - y) * np.log(1 - q))

    return {
        "log_softmax": lambda z: np.log(softmax(z)),
        "softmax": softmax,
        "logsumexp": lambda z: np.log(np.exp(z).sum(axis=-1)),
        "cross_entropy": cross_entropy,
        "cross_entropy_grad": lambda z, labels: _onehot_minus(softmax(z), labels),
        "cross_entropy_with_grad": with_grad,
        "sigmoid": sigmoid,
        "binary_cross_entropy_with_logits": bce,
    }


def _max_shift():
    def parts(z):
        m = z.max(axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        d = z - m
        e = np.exp(d)
        s = e.sum(axis=-1, keepdims=True)
        return m, d, e, s

    def log_softmax(z):
        _, d, _, s = parts(z)
        return d - np.log(s)

    def softmax(z):
        _, _, e, s = parts(z)
        return e / s

    def logsumexp(z):
        m, _, _, s = parts(z)
        return (m + np.log(s))[..., 0]

    def cross_entropy(z, labels):
        return -log_softmax(z)[np.arange(z.shape[0]), labels]

    def with_grad(z, labels):
        _, d, e, s = parts(z)
        rows = np.arange(z.shape[0])
        loss = (np.log(s)[:, 0] - d[rows, labels]).mean()
        return loss, _onehot_minus(e / s, labels) / z.shape[0]

    def sigmoid(x):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1, e) / (1 + e)

    def bce(x, y):  # the form of TensorFlow's and PyTorch's documentation
        return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))

    return {
        "log_softmax": log_softmax,
        "softmax": softmax,
        "logsumexp": logsumexp,
        "cross_entropy": cross_entropy,
        "cross_entropy_grad": lambda z, labels: _onehot_minus(softmax(z), labels),
        "cross_entropy_with_grad": with_grad,
        "sigmoid": sigmoid,
        "binary_cross_entropy_with_logits": bce,
    }


def _scipy():
    def with_grad(z, labels):
        rows = np.arange(z.shape[0])
        loss = -sp.log_softmax(z, axis=-1)[rows, labels].mean()
        return loss, _onehot_minus(sp.softmax(z, axis=-1), labels) / z.shape[0]

    return {
        "log_softmax": lambda z: sp.log_softmax(z, axis=-1),
        "softmax": lambda z: sp.softmax(z, axis=-1),
        "logsumexp": lambda z: sp.logsumexp(z, axis=-1),
        "cross_entropy": lambda z, labels: (
            -sp.log_softmax(z, axis=-1)[np.arange(z.shape[0]), labels]
        ),
        "cross_entropy_grad": lambda z, labels: _onehot_minus(sp.softmax(z, axis=-1), labels),
        "cross_entropy_with_grad": with_grad,
        "sigmoid": sp.expit,
        "binary_cross_entropy_with_logits": lambda x, y: (
            -(y * sp.log_expit(x) + (1 - y) * sp.log_expit(-x))
        ),
    }


def _xentlib():
    return {
        "log_softmax": xentlib.log_softmax,
        "softmax": xentlib.softmax,
        "logsumexp": xentlib.logsumexp,
        "cross_entropy": lambda z, labels: xentlib.cross_entropy(z, labels, reduction="none"),
        "cross_entropy_grad": lambda z, labels: xentlib.cross_entropy_grad(
            z, labels, reduction="sum"
        ),
        "cross_entropy_with_grad": xentlib.cross_entropy_with_grad,
        "sigmoid": xentlib.sigmoid,
        "binary_cross_entropy_with_logits": lambda x, y: xentlib.binary_cross_entropy_with_logits(
            x, y, reduction="none"
        ),
    }


def _torch(torch):
    import torch.nn.functional as F

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    def grad_of(z, labels, reduction):
        zt = t(z).requires_grad_(True)
        loss = F.cross_entropy(zt, t(labels), reduction=reduction)
        loss.backward()
        return loss, zt.grad

    def with_grad(z, labels):
        loss, grad = grad_of(z, labels, "mean")
        return loss.detach().numpy(), grad.numpy()

    return {
        "log_softmax": lambda z: F.log_softmax(t(z), dim=-1).numpy(),
        "softmax": lambda z: F.softmax(t(z), dim=-1).numpy(),
        "logsumexp": lambda z: torch.logsumexp(t(z), dim=-1).numpy(),
        "cross_entropy": lambda z, labels: F.cross_entropy(
            t(z), t(labels), reduction="none"
        ).numpy(),
        "cross_entropy_grad": lambda z, labels: grad_of(z, labels, "sum")[1].numpy(),
        "cross_entropy_with_grad": with_grad,
        "sigmoid": lambda x: torch.sigmoid(t(x)).numpy(),
        "binary_cross_entropy_with_logits": lambda x, y: F.binary_cross_entropy_with_logits(
            t(x), t(y), reduction="none"
        ).numpy(),
    }


def _each_call_within(context, impl):
    """``impl`` with every call made inside ``context()``."""

    def wrapped(func):
        def call(*args):
            with context():
                return func(*args)

        return call

    return {name: wrapped(func) for name, func in impl.items()}


@contextlib.contextmanager
def _torch_one_thread(torch):
    """PyTorch with one intra-op thread: on a busy machine its default threads can wait on each
    other (the other cores are taken), so both settings are shown."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _xentlib_one_thread():
    """xentlib with ``XENTLIB_NUM_THREADS=1``: what its threads add, shown beside it."""
    saved = os.environ.get("XENTLIB_NUM_THREADS")
    os.environ["XENTLIB_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["XENTLIB_NUM_THREADS"]
        else:
            os.environ["XENTLIB_NUM_THREADS"] = saved


def _jax(jax):
    jax.config.update("jax_enable_x64", True)  # otherwise float64 inputs are computed in float32
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    def ce(z, labels):
        return -jnp.take_along_axis(jax.nn.log_softmax(z, axis=-1), labels[:, None], axis=-1)[:, 0]

    ce_grad = jax.jit(jax.grad(lambda z, labels: ce(z, labels).sum()))
    with_grad = jax.jit(jax.value_and_grad(lambda z, labels: ce(z, labels).mean()))
    ce_jit = jax.jit(ce)

    def np_out(f):
        return lambda *a: np.asarray(f(*a))

    return {
        "log_softmax": np_out(jax.jit(lambda z: jax.nn.log_softmax(z, axis=-1))),
        "softmax": np_out(jax.jit(lambda z: jax.nn.softmax(z, axis=-1))),
        "logsumexp": np_out(jax.jit(lambda z: logsumexp(z, axis=-1))),
        "cross_entropy": np_out(ce_jit),
        "cross_entropy_grad": np_out(ce_grad),
        "cross_entropy_with_grad": lambda z, labels: tuple(
            np.asarray(a) for a in with_grad(z, labels)
        ),
        "sigmoid": np_out(jax.jit(jax.nn.sigmoid)),
        "binary_cross_entropy_with_logits": np_out(
            jax.jit(lambda x, y: -(y * jax.nn.log_sigmoid(x) + (1 - y) * jax.nn.log_sigmoid(-x)))
        ),
    }


def available():
    """``{name: implementation}`` for xentlib, the numpy forms, scipy and what else is installed."""
    impls = {
        "xentlib": _xentlib(),
        "xentlib, 1 thread": _each_call_within(_xentlib_one_thread, _xentlib()),
        "naive numpy": _naive(),
        "max-shift numpy": _max_shift(),
        "scipy": _scipy(),
    }
    try:
        import torch
    except ImportError:
        pass
    else:
        impls["torch"] = _torch(torch)
        impls["torch, 1 thread"] = _each_call_within(
            lambda: _torch_one_thread(torch), impls["torch"]
        )
    try:
        import jax
    except ImportError:
        pass
    else:
        impls["jax"] = _jax(jax)
    return impls


def versions():
    """One line naming every library version and the thread settings that matter."""
    parts = [
        f"numpy {np.__version__}",
        f"scipy {scipy.__version__}",
        f"xentlib {xentlib.__version__} ({_core.threads()} threads)",
    ]
    try:
        import torch
    except ImportError:
        parts.append("torch: not installed")
    else:
        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
    try:
        import jax
    except ImportError:
        parts.append("jax: not installed")
    else:
        parts.append(f"jax {jax.__version__}")
    return ", ".join(parts)
