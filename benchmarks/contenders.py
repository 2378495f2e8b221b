"""The implementations compared with xentlib, each as a dict of the same eight functions.

Every function takes numpy arrays in the dtype under test and returns numpy arrays:

- ``log_softmax(z)``, ``softmax(z)``, ``logsumexp(z)``: along the last axis of an (N, C) array;
- ``cross_entropy(z, labels)``: per-sample losses (``reduction="none"``);
- ``cross_entropy_grad(z, labels)``: the summed gradient ``softmax(z) - Y``;
- ``cross_entropy_with_grad(z, labels)``: ``(mean loss, gradient of the mean)``, the training step
  that the speed table times;
- ``sigmoid(x)``, ``binary_cross_entropy_with_logits(x, y)`` (elementwise).

``cross_entropy_with_grad`` also takes a single row (a 1-D ``z`` and one integer label).

"naive numpy" is the textbook form; "max-shift numpy" is the standard stable form that PyTorch,
JAX and scipy implement (subtract the row maximum, then ``log(sum(exp))``). PyTorch and JAX are
optional: ``available()`` lists what is installed. The thread settings ("xentlib, 1 thread",
"torch, 1 thread") are made by ``make`` in the process that times them (speed.py): xentlib reads
``XENTLIB_NUM_THREADS`` from that process's environment.
"""

import os

import numpy as np
import scipy
import scipy.special as sp

import xentlib


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
        if z.ndim == 1:
            loss = -np.log(p[labels])
            p[labels] -= 1
            return loss, p
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
        if z.ndim == 1:
            g = e / s
            g[labels] -= 1
            return np.log(s[0]) - d[labels], g
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
        if z.ndim == 1:
            g = sp.softmax(z)
            g[labels] -= 1
            return -sp.log_softmax(z)[labels], g
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
        a = np.asarray(a)  # a single label stays 0-d (np.ascontiguousarray would make it 1-d)
        return torch.from_numpy(a if a.ndim == 0 else np.ascontiguousarray(a))

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


def _optional(module):
    try:
        return __import__(module)
    except ImportError:
        return None


# The contenders of the speed table, in order; "1 thread" variants are made in their own process.
SPEED_CONTENDERS = [
    "xentlib",
    "xentlib, 1 thread",
    "naive numpy",
    "max-shift numpy",
    "scipy",
    "torch",
    "torch, 1 thread",
    "fresh copy",
]


def installed(name):
    """Whether contender ``name`` can run here (PyTorch and JAX are optional)."""
    library = name.split(",")[0]
    return library not in ("torch", "jax") or _optional(library) is not None


def make(name):
    """The implementation of contender ``name``, with its thread setting applied to this process.

    "xentlib, 1 thread" expects ``XENTLIB_NUM_THREADS=1`` in this process's environment (the
    speed driver sets it); "torch, 1 thread" sets PyTorch's intra-op threads to 1; "fresh copy"
    is ``z.copy()``, the least work any function that returns the gradient must do.
    """
    if name in ("xentlib", "xentlib, 1 thread"):
        want = "1" if name.endswith("1 thread") else None
        if os.environ.get("XENTLIB_NUM_THREADS") != want:
            raise RuntimeError(f"{name}: XENTLIB_NUM_THREADS should be {want or 'unset'}")
        return _xentlib()
    if name == "naive numpy":
        return _naive()
    if name == "max-shift numpy":
        return _max_shift()
    if name == "scipy":
        return _scipy()
    if name in ("torch", "torch, 1 thread"):
        torch = _optional("torch")
        if name.endswith("1 thread"):
            torch.set_num_threads(1)
        return _torch(torch)
    if name == "jax":
        return _jax(_optional("jax"))
    if name == "fresh copy":
        return {"cross_entropy_with_grad": lambda z, labels: z.copy()}
    raise ValueError(f"unknown contender {name!r}")


def available():
    """``{name: implementation}`` for xentlib, the numpy forms, scipy and what else is installed,
    in this process (for the accuracy table: thread settings change timings, not results)."""
    names = ["xentlib", "naive numpy", "max-shift numpy", "scipy", "torch", "jax"]
    impls = {}
    for name in names:
        if name == "xentlib":
            impls[name] = _xentlib()
        elif installed(name):
            impls[name] = make(name)
    return impls


def xentlib_threads():
    """What xentlib's thread count is, as the environment says (it is read at each call)."""
    setting = os.environ.get("XENTLIB_NUM_THREADS")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if setting is None:
        return f"XENTLIB_NUM_THREADS unset: one thread per usable CPU, {cpus}"
    return f"XENTLIB_NUM_THREADS={setting}, {cpus} usable CPUs"


def versions():
    """One line naming every library version and the thread settings that matter."""
    parts = [
        f"numpy {np.__version__}",
        f"scipy {scipy.__version__}",
        f"xentlib {xentlib.__version__} ({xentlib_threads()})",
    ]
    torch = _optional("torch")
    if torch is None:
        parts.append("torch: not installed")
    else:
        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} threads by default)")
    jax = _optional("jax")
    parts.append("jax: not installed" if jax is None else f"jax {jax.__version__}")
    return ", ".join(parts)
