"""The sigmoid and the softmax family: stable forms of the book's activation functions."""

import math

import numpy as np

from . import _validation as v
from ._algebra import at_the_max, rounded, shifted, working_dtype


def _no_distribution(out, m):
    """NaN for rows whose every logit is ``-inf``: they hold no probability distribution."""
    empty = m == -np.inf
    if empty.any():
        out[np.broadcast_to(empty, out.shape)] = np.nan
    return out


def _merged(z, axes):
    """``z`` with ``axes`` moved last and merged into one: the class axis of ``shifted``."""
    moved = np.moveaxis(z, axes, range(-len(axes), 0))
    kept = moved.shape[: z.ndim - len(axes)]
    return moved.reshape(*kept, math.prod(moved.shape[len(kept) :]))


def _unmerged(out, axes, shape):
    """The inverse of :func:`_merged` for a result whose last axis is the merged one (or 1)."""
    sizes = [shape[a] for a in axes] if out.shape[-1] != 1 else [1] * len(axes)
    return np.moveaxis(out.reshape(*out.shape[:-1], *sizes), range(-len(axes), 0), axes)


def sigmoid(x):
    r"""The logistic sigmoid :math:`\sigma(x) = 1 / (1 + e^{-x})`, label ``eq-sigmoid``.

    Parameters
    ----------
    x : array_like
        Real numbers, any shape. Integers are computed in float64; float32 stays float32.

    Returns
    -------
    ndarray or scalar
        :math:`\sigma(x)`, same shape and floating dtype as ``x``, in [0, 1].

    See Also
    --------
    sigmoid_grad : its derivative.
    binary_cross_entropy_with_logits : the loss that consumes it.

    Notes
    -----
    The textbook form overflows ``exp(-x)`` for ``x < -709`` (float64) and warns. Here the
    exponential only ever sees :math:`-|x|`:

    .. math:: \sigma(x) = \frac{1}{1 + e^{-|x|}} \ (x \ge 0), \qquad
              \sigma(x) = \frac{e^{-|x|}}{1 + e^{-|x|}} \ (x < 0),

    so it cannot overflow, ``sigmoid(0.0) == 0.5`` exactly, and the symmetry
    :math:`\sigma(-x) = 1 - \sigma(x)` holds. NaN propagates.

    Examples
    --------
    >>> from xentlib import sigmoid
    >>> float(sigmoid(0.0))
    0.5
    >>> sigmoid([-1000.0, 0.86, 1000.0])
    array([0.        , 0.70266065, 1.        ])
    """
    x = v.as_float_array(x, "x", "sigmoid")
    w = np.asarray(x, dtype=working_dtype(x.dtype))
    with np.errstate(under="ignore"):  # e^-|x| below the smallest float: the answer, not a fault
        e = np.exp(-np.abs(w))
        return rounded(np.where(w >= 0, 1, e) / (1 + e), x.dtype)[()]


def sigmoid_grad(x):
    r"""The derivative :math:`\sigma'(x) = \sigma(x)\,(1 - \sigma(x))`, label ``eq-sigmoid-grad``.

    Parameters
    ----------
    x : array_like
        Real numbers, any shape.

    Returns
    -------
    ndarray or scalar
        :math:`\sigma'(x)`, same shape and floating dtype as ``x``, in [0, 0.25]; 0 at
        :math:`\pm\infty`, NaN where ``x`` is NaN.

    See Also
    --------
    sigmoid

    Notes
    -----
    The tutorial writes it as :math:`e^{-x}/(1 + e^{-x})^2`, which overflows for large negative
    ``x``; :math:`\sigma(x)(1 - \sigma(x))` loses every digit for large positive ``x``, where
    :math:`1 - \sigma(x)` cancels. The form used here has neither problem:

    .. math:: \sigma'(x) = \sigma(x)\,\sigma(-x) = \frac{e^{-|x|}}{(1 + e^{-|x|})^2}.

    Examples
    --------
    >>> from xentlib import sigmoid_grad
    >>> float(sigmoid_grad(0.0))
    0.25
    >>> float(sigmoid_grad(40.0))  # sigma(40) * (1 - sigma(40)) would give 0.0
    4.248354255291589e-18
    """
    x = v.as_float_array(x, "x", "sigmoid_grad")
    w = np.asarray(x, dtype=working_dtype(x.dtype))
    with np.errstate(under="ignore"):  # as in sigmoid
        e = np.exp(-np.abs(w))
        return rounded(e / ((1 + e) * (1 + e)), x.dtype)[()]


def logsumexp(z, axis=-1, keepdims=False):
    r"""The log-sum-exp :math:`\log \sum_j e^{z_j}` along ``axis``, label ``eq-logsumexp``.

    Parameters
    ----------
    z : array_like
        Logits, at least 1-D. Entries may be ``-inf`` (masked).
    axis : int, tuple of ints or None, optional
        The axis to reduce (default: the last); a tuple reduces over several axes, None over
        all of them, as in :func:`scipy.special.logsumexp`.
    keepdims : bool, optional
        Keep the reduced axes with length 1.

    Returns
    -------
    ndarray or scalar
        Same floating dtype as ``z``. ``-inf`` for a row whose every logit is ``-inf``;
        ``+inf`` for a row holding a single ``+inf``; NaN for a row holding a NaN.

    Raises
    ------
    ValueError
        ``z`` is a scalar, ``axis`` is out of range, or ``z`` is empty along ``axis``.
    TypeError
        ``z`` is not real numbers, or ``axis`` is not an int, a tuple of ints or None.

    See Also
    --------
    log_softmax, softmax
    scipy.special.logsumexp : the same quantity, with weights.

    Notes
    -----
    With :math:`m = \max_j z_j` at index :math:`k` and :math:`t = \sum_{j \ne k} e^{z_j - m}`,

    .. math:: \operatorname{logsumexp}(z) = m + \log(1 + t) = m + \operatorname{log1p}(t).

    No exponential exceeds 1, so nothing overflows, and ``log1p`` keeps the digits of a tiny
    :math:`t` that :math:`\log(1 + t)` would lose.

    Examples
    --------
    >>> from xentlib import logsumexp
    >>> round(float(logsumexp([-2.85, 0.86, 0.28])), 6)
    1.320191
    >>> float(logsumexp([1000.0, 1000.0]))  # log(exp(1000) + exp(1000)) overflows on the way
    1000.6931471805599
    >>> round(float(logsumexp([[-2.85, 0.86], [0.28, 0.0]], axis=None)), 6)  # over every axis
    1.556909
    """
    z, axes = v.logits_along(z, axis, "logsumexp")
    keepdims = v.check_keepdims(keepdims, "logsumexp")
    m, _, _, _, t = shifted(_merged(z, axes))
    # A row with a +inf logit: +inf, whatever else it holds (m + log1p(t) would be inf + NaN
    # when two logits are +inf).
    out = rounded(np.where(m == np.inf, np.inf, m + np.log1p(t)), z.dtype)
    return _unmerged(out, axes, z.shape) if keepdims else out[..., 0][()]


def log_softmax(z, axis=-1):
    r"""The log-probabilities :math:`\log \operatorname{softmax}(z)`, label ``eq-log-softmax``.

    Parameters
    ----------
    z : array_like
        Logits, at least 1-D. Entries may be ``-inf`` (masked): they get ``-inf``.
    axis : int, tuple of ints or None, optional
        The class axis (default: the last); a tuple normalises over several axes together,
        None over all of them, as in :func:`scipy.special.softmax`.

    Returns
    -------
    ndarray
        Same shape and floating dtype as ``z``, all <= 0. NaN for a whole row that holds a NaN
        or whose every logit is ``-inf``.

    Raises
    ------
    ValueError
        ``z`` is a scalar, ``axis`` is out of range, or ``z`` is empty along ``axis``.
    TypeError
        ``z`` is not real numbers, or ``axis`` is not an int, a tuple of ints or None.

    See Also
    --------
    softmax, logsumexp

    Notes
    -----
    :math:`\log q_i = z_i - \operatorname{logsumexp}(z) = (z_i - m) - \operatorname{log1p}(t)`,
    a sum of two non-positive numbers, so there is no cancellation; at the largest logit it is
    :math:`-\operatorname{log1p}(t)`, correct to the last digit even when it is
    :math:`-10^{-9}`. ``log(softmax(z))`` gives ``-inf`` where the probability underflows;
    this does not.

    Examples
    --------
    >>> import numpy as np
    >>> from xentlib import log_softmax, softmax
    >>> log_softmax([-2.85, 0.86, 0.28]).round(4)
    array([-4.1702, -0.4602, -1.0402])
    >>> with np.errstate(divide="ignore"):
    ...     np.log(softmax([1000.0, 1.0]))
    array([  0., -inf])
    >>> log_softmax([1000.0, 1.0])
    array([   0., -999.])
    """
    z, axes = v.logits_along(z, axis, "log_softmax")
    m, _, d, _, t = shifted(_merged(z, axes))
    return _unmerged(rounded(_no_distribution(d - np.log1p(t), m), z.dtype), axes, z.shape)


def softmax(z, axis=-1):
    r"""The softmax :math:`q_i = e^{z_i} / \sum_j e^{z_j}` along ``axis``, label ``eq-softmax``.

    Parameters
    ----------
    z : array_like
        Logits (the tutorial's "scores"), at least 1-D. ``-inf`` entries get probability exactly 0.
    axis : int, tuple of ints or None, optional
        The class axis (default: the last); a tuple normalises over several axes together,
        None over all of them, as in :func:`scipy.special.softmax`.

    Returns
    -------
    ndarray
        Probabilities, same shape and floating dtype as ``z``, each row summing to 1. NaN for a
        whole row that holds a NaN or whose every logit is ``-inf``; a single ``+inf`` takes all
        the mass.

    Raises
    ------
    ValueError
        ``z`` is a scalar, ``axis`` is out of range, or ``z`` is empty along ``axis``.
    TypeError
        ``z`` is not real numbers, or ``axis`` is not an int, a tuple of ints or None.

    See Also
    --------
    log_softmax, logsumexp, softmax_jacobian

    Notes
    -----
    Softmax is shift invariant, :math:`\operatorname{softmax}(z - c) = \operatorname{softmax}(z)`,
    so it is computed as :math:`e^{z_i - m} / (1 + t)` with :math:`m = \max_j z_j` and
    :math:`t` the sum of the other terms: no exponential exceeds 1 and the largest one is
    exactly 1.

    Examples
    --------
    >>> from xentlib import softmax
    >>> softmax([-2.85, 0.86, 0.28])
    array([0.01544932, 0.63116335, 0.35338733])
    >>> softmax([1000.0, 1.0, -float("inf")])
    array([1., 0., 0.])
    """
    z, axes = v.logits_along(z, axis, "softmax")
    m, _, _, e, t = shifted(_merged(z, axes))
    with np.errstate(under="ignore"):  # a probability below the smallest float is 0
        return _unmerged(rounded(_no_distribution(e / (1 + t), m), z.dtype), axes, z.shape)


def softmax_jacobian(z):
    r"""The Jacobian :math:`\partial q_i / \partial z_j = \operatorname{diag}(q) - q q^\top`.

    Label ``eq-softmax-jacobian``.

    Parameters
    ----------
    z : array_like
        A 1-D vector of logits.

    Returns
    -------
    ndarray
        The symmetric ``(C, C)`` matrix :math:`J_{ij} = q_i(\delta_{ij} - q_j)`.

    Raises
    ------
    ValueError
        ``z`` is not 1-D.
    TypeError
        ``z`` is not real numbers.

    See Also
    --------
    softmax, cross_entropy_grad

    Notes
    -----
    The diagonal is the tutorial's :math:`-q_k(q_k - 1)`; the off-diagonal terms
    :math:`-q_i q_j` are the ones the tutorial never derives. Each row sums to 0, because the
    probabilities always sum to 1. At the largest logit, :math:`1 - q_k` is computed as
    :math:`t / (1 + t)` (see :func:`softmax`), so the diagonal of a confident prediction keeps
    its digits instead of cancelling in :math:`q_k - q_k^2`. A NaN logit, or every logit
    ``-inf``, gives a matrix of NaN.

    Examples
    --------
    >>> from xentlib import softmax_jacobian
    >>> softmax_jacobian([-2.85, 0.86, 0.28]).round(4)
    array([[ 0.0152, -0.0098, -0.0055],
           [-0.0098,  0.2328, -0.223 ],
           [-0.0055, -0.223 ,  0.2285]])
    """
    z = v.logit_vector(z, "softmax_jacobian")
    # Computed in extended precision where the platform has it (x86's 80-bit long double):
    # each entry is a product of two probabilities, and their errors add up.
    wide = np.promote_types(working_dtype(z.dtype), np.longdouble)
    m, k, _, e, t = shifted(z.astype(wide))
    with np.errstate(under="ignore"):  # a product below the smallest float is 0
        q = _no_distribution(e / (1 + t), m)
        # The diagonal q_i (1 - q_i): at the largest logit 1 - q_k = -(q_k - 1) is written
        # without cancellation (at_the_max); elsewhere q_i <= 1/2 and 1 - q_i is harmless.
        rest = 1 - q
        rest[k] = -at_the_max(1, t)
        jac = -np.outer(q, q)
        np.fill_diagonal(jac, q * rest)
        return rounded(jac, z.dtype)
