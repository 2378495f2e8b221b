"""xentlib: the numerically careful functions of the xent course.

Activations: :func:`sigmoid`, :func:`sigmoid_grad`, :func:`softmax`, :func:`log_softmax`,
:func:`logsumexp`, :func:`softmax_jacobian`. Losses and their gradients: :func:`one_hot`,
:func:`cross_entropy`, :func:`cross_entropy_grad`, :func:`cross_entropy_with_grad`,
:func:`binary_cross_entropy`, :func:`binary_cross_entropy_with_logits`,
:func:`binary_cross_entropy_grad`. Checking: :func:`numerical_gradient`.

Class labels are 0-based, as in numpy and PyTorch. Cross-entropy with integer labels shares a
large batch among one thread per CPU; ``XENTLIB_NUM_THREADS`` sets the number (1: no threads).
Exact references for checking any of these against mpmath: :mod:`xentlib.reference`.

Where things live: ``_validation`` (the input checks; ``gradcheck``
checks its step, ``_fast`` ``XENTLIB_NUM_THREADS``), ``_algebra`` (the mathematics the
chapters derive), ``_fast`` (the fast route of cross-entropy with integer labels: cache blocks,
threads and small calls), ``activations``, ``losses`` and ``gradcheck`` (the public functions).
"""

from .activations import log_softmax, logsumexp, sigmoid, sigmoid_grad, softmax, softmax_jacobian
from .gradcheck import numerical_gradient
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    cross_entropy,
    cross_entropy_grad,
    cross_entropy_with_grad,
    one_hot,
)

__version__ = "0.2.0"

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "cross_entropy_grad",
    "cross_entropy_with_grad",
    "log_softmax",
    "logsumexp",
    "numerical_gradient",
    "one_hot",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "softmax_jacobian",
]
