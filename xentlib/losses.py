"""Cross-entropy losses and their gradients.

Every loss has the same shape: validate (``_validation``), compute per-sample losses and
gradients in a stable form (``_algebra``, or the fast route ``_fast`` for integer labels),
reduce (``_reduce``, the one place where a mean divides by N).
"""

import math

import numpy as np

from . import _fast
from . import _validation as v
from ._algebra import cross_entropy_rows, options_target, rounded, shifted, working_dtype


def one_hot(labels, num_classes):
    r"""Integer class labels as one-hot rows: ``one_hot(y, C)[..., j] = 1`` where ``j == y``.

    Parameters
    ----------
    labels : array_like of int
        0-based class labels, any shape.
    num_classes : int
        :math:`C`, the number of classes; every label must lie in ``0 .. C - 1``.

    Returns
    -------
    ndarray of float64
        Shape ``labels.shape + (C,)``.

    Raises
    ------
    ValueError
        A label outside ``0 .. C - 1``, or ``num_classes < 1``.
    TypeError
        Non-integer labels or ``num_classes``.

    Examples
    --------
    >>> from xentlib import one_hot
    >>> one_hot(2, 3)  # the tutorial's "class 3", counted from 1
    array([0., 0., 1.])
    >>> one_hot([0, 2], 3)
    array([[1., 0., 0.],
           [0., 0., 1.]])
    """
    num_classes = v.check_num_classes(num_classes, "one_hot")
    labels = v.as_labels(labels, num_classes, "one_hot", name="labels")
    shape = (*labels.shape, num_classes)
    v.check_result_size(shape, "one_hot", f"num_classes={num_classes}")
    out = np.zeros(shape)
    np.put_along_axis(out, labels[..., None].astype(np.intp), 1.0, axis=-1)
    return out


def _reduce(losses, reduction, denominator=None):
    """Apply ``reduction`` to per-sample ``losses``; ``grad``'s scale is :func:`_grad_scale`.

    A mean is the sum divided once, in the losses' dtype (as ``.mean()`` rounds it), by
    ``denominator`` (:func:`_denominator`; N when None); where that sum overflows although every
    loss is finite, the losses are divided first.
    """
    if reduction == "none" or (denominator is None and np.ndim(losses) == 0):
        return losses[()]  # (the mean and sum of one sample are its loss)
    with np.errstate(over="ignore"):
        total = np.add.reduce(losses, axis=None)
    if reduction == "sum":
        return total[()]
    denominator = losses.size if denominator is None else denominator
    if math.isinf(total) and np.isfinite(losses).all():
        return np.add.reduce(losses / denominator, axis=None)[()]
    return (total / denominator)[()]


def _grad_scale(z, reduction, denominator=None):
    """The factor of the gradient's rows: ``1/N`` (or ``1/denominator``) for the mean over a
    batch, else 1."""
    if reduction == "mean" and denominator is not None:
        return 1 / denominator
    return 1 / len(z) if reduction == "mean" and z.ndim == 2 else 1.0


def _denominator(z, labels, options, reduction, func):
    """What ``'mean'`` divides by when options are given (None without them: N).

    With labels, the samples that are not ignored, each counted ``w[y_n]`` times with class
    weights (``eq-losses-weighted``, PyTorch's rule); with probability targets N (1 for one
    sample), whatever the weights.
    """
    if options is None:
        return None
    if labels is None:
        return len(z) if z.ndim == 2 else 1
    kept = np.ones(labels.shape, bool) if options.ignored is None else ~options.ignored
    if options.weight is None:
        denominator = int(np.count_nonzero(kept))
    else:
        weights = options.weight.astype(np.float64)[labels[kept]]
        denominator = float(np.add.reduce(weights, axis=None))
    v.check_mean_denominator(reduction, denominator, options, func)
    return denominator


def _cross_entropy(z, labels, probs, options, want_loss, want_grad, scale):
    """Per-sample losses and the gradient ``scale * (q - y)``, by the fast route or the algebra.

    The fast route takes float32 and float64 logits with integer labels and no options; every
    other case (probability targets, float16, long double, any option) is the algebra alone.
    """
    if labels is not None and options is None and z.dtype in (np.float32, np.float64):
        return _fast.cross_entropy(z, labels, want_loss, want_grad, scale)
    _fast.thread_setting()  # a bad XENTLIB_NUM_THREADS is refused whatever the call
    with np.errstate(under="ignore"):  # a probability below the smallest float is one
        if options is not None:
            loss, grad = _with_options(z, labels, probs, options, want_grad)
        else:
            if probs is not None:
                probs = np.ascontiguousarray(probs, dtype=working_dtype(z.dtype))
            loss, grad = cross_entropy_rows(*shifted(z), labels, probs, want_grad)
        if grad is not None and scale != 1:
            grad *= scale
    return rounded(loss, z.dtype), None if grad is None else rounded(grad, z.dtype)


def _with_options(z, labels, probs, options, want_grad):
    """Per-sample losses and gradients ``A q - a`` for the target ``a`` of the options
    (``options_target``), in the working precision; an ignored sample's are exactly 0."""
    num_classes = z.shape[-1]
    rows = np.atleast_2d(z)  # (N, C), or (1, C) for one sample
    kept = slice(None) if options.ignored is None else ~options.ignored.ravel()
    target = options_target(
        None if labels is None else labels.ravel()[kept],
        None if probs is None else np.atleast_2d(probs)[kept],
        num_classes,
        options.weight,
        options.smoothing,
        working_dtype(z.dtype if probs is None else np.promote_types(z.dtype, probs.dtype)),
    )
    pieces = shifted(rows[kept])
    loss_kept, grad_kept = cross_entropy_rows(*pieces, None, target, want_grad, normalised=False)
    loss = np.zeros(len(rows), dtype=loss_kept.dtype)
    loss[kept] = loss_kept
    grad = None
    if want_grad:
        grad = np.zeros(rows.shape, dtype=grad_kept.dtype)
        grad[kept] = grad_kept
        grad = grad.reshape(z.shape)
    return loss.reshape(z.shape[:-1]), grad


def cross_entropy(
    z, target, reduction="mean", *, weight=None, ignore_index=None, label_smoothing=0.0
):
    r"""Multi-class cross-entropy of logits ``z`` against ``target``, label ``eq-ce``.

    .. math:: L = -\sum_i y_i \log \operatorname{softmax}(z)_i
                = \operatorname{logsumexp}(z) - z_y \ \text{(one-hot target)}.

    Parameters
    ----------
    z : array_like
        Logits, shape ``(C,)`` for one sample or ``(N, C)`` for a batch.
    target : array_like
        Either 0-based integer class labels, shape ``()`` or ``(N,)``; or probability targets
        (one-hot or soft labels) of ``z``'s shape, each row non-negative and summing to 1.
    reduction : {'mean', 'sum', 'none'}, optional
        How per-sample losses combine over the batch. ``'none'`` returns shape ``(N,)``.
    weight : array_like, optional
        One finite, non-negative weight :math:`w_c` per class, shape ``(C,)``. With labels,
        sample :math:`n` counts :math:`w_{y_n}` times and ``'mean'`` divides by
        :math:`\sum_n w_{y_n}` (over the samples not ignored), as PyTorch does; with
        probability targets the loss is :math:`-\sum_c w_c y_c \log q_c` and ``'mean'``
        divides by :math:`N`. Label ``eq-losses-weighted``.
    ignore_index : int, optional
        Samples whose label equals it contribute nothing to the loss, the gradient or the
        denominator of ``'mean'``; their gradient rows are exactly 0. Labels only. Unlike
        PyTorch (whose default is -100), no label is ignored unless this is given.
    label_smoothing : float, optional
        :math:`\varepsilon \in [0, 1]`: the target becomes
        :math:`(1 - \varepsilon)\,y + \varepsilon / C` (label ``eq-losses-smoothed-target``), for
        labels and probability targets, weighted as above (PyTorch's rule: the smoothed part
        of sample :math:`n` weighs each class :math:`c` by :math:`w_c`).

    Returns
    -------
    scalar or ndarray
        In ``z``'s floating dtype. NaN for a sample with a NaN logit, a NaN probability target
        or every logit ``-inf`` (and then for the ``'mean'`` and ``'sum'`` of the batch);
        0 for an ignored sample, whatever its logits.

    Raises
    ------
    ValueError
        Labels out of range (they are 0-based), probability rows that are negative or do not
        sum to 1, shape mismatches, ``z`` not 1-D or 2-D, an unknown ``reduction``,
        ``'mean'`` over an empty batch, a ``weight`` of the wrong length or with a negative,
        infinite or NaN entry, ``label_smoothing`` outside [0, 1], ``ignore_index`` with
        probability targets, or ``'mean'`` over a batch whose total weight is 0 (every sample
        ignored, say: PyTorch returns NaN there).
    TypeError
        Non-integer labels, non-numeric input, a non-integer ``ignore_index``.

    See Also
    --------
    cross_entropy_grad, cross_entropy_with_grad, log_softmax

    Notes
    -----
    Computed as :math:`\operatorname{log1p}(t) - (z_y - m)`, where :math:`m` is the largest
    logit and :math:`t` the sum of the other :math:`e^{z_j - m}`: both terms are
    non-negative, so no digit cancels, and a confident correct prediction gets its tiny loss
    right to the last digit.

    With any option the target is the row :math:`a_c = w_c((1 - \varepsilon) y_c +
    \varepsilon/C)` (:math:`w = 1` without weights) and the loss
    :math:`\sum_c a_c (\operatorname{log1p}(t) - (z_c - m))`, again a sum of non-negative
    terms. Those calls take the general route (the algebra of the chapters), not the fast
    route of plain integer labels.

    Examples
    --------
    The tutorial's scores, with the correct class "3" counted from 1, i.e. label 2:

    >>> from xentlib import cross_entropy
    >>> loss = cross_entropy([-2.85, 0.86, 0.28], 2)
    >>> print(f"{loss:.4f}")
    1.0402
    >>> cross_entropy([[-2.85, 0.86, 0.28], [1.0, 2.0, 3.0]], [2, 2], reduction="none").round(4)
    array([1.0402, 0.4076])

    Label smoothing with :math:`\varepsilon = 0.1` spreads a tenth of the target over the three
    classes; a class weight of 2 doubles a sample's loss (and the mean divides by 2 too);
    an ignored sample counts for nothing:

    >>> print(f"{cross_entropy([-2.85, 0.86, 0.28], 2, label_smoothing=0.1):.4f}")
    1.1252
    >>> z = [[-2.85, 0.86, 0.28], [1.0, 2.0, 3.0]]
    >>> cross_entropy(z, [2, 0], reduction="none", weight=[1.0, 1.0, 2.0]).round(4)
    array([2.0804, 2.4076])
    >>> print(f"{cross_entropy(z, [2, 0], ignore_index=0):.4f}")
    1.0402
    """
    z, labels, probs, options = v.cross_entropy_args(
        z, target, reduction, "cross_entropy", weight, ignore_index, label_smoothing
    )
    denominator = _denominator(z, labels, options, reduction, "cross_entropy")
    loss, _ = _cross_entropy(z, labels, probs, options, want_loss=True, want_grad=False, scale=1.0)
    return _reduce(loss, reduction, denominator)


def cross_entropy_grad(
    z, target, reduction="mean", *, weight=None, ignore_index=None, label_smoothing=0.0
):
    r"""The gradient :math:`\partial L / \partial z = q - y` of the cross-entropy (``eq-ce-grad``).

    Parameters
    ----------
    z, target, reduction, weight, ignore_index, label_smoothing
        As for :func:`cross_entropy`.

    Returns
    -------
    ndarray
        Same shape and dtype as ``z``. For a batch with ``reduction='mean'`` the rows are
        divided by :math:`N`, i.e. :math:`(Q - Y)/N` (:math:`Q` the rows' softmax, :math:`Y` the
        targets as rows, one-hot for labels); with ``'sum'`` or ``'none'`` they are :math:`Q - Y`
        (for ``'none'``, row :math:`n` is the gradient of sample :math:`n`'s loss).
        A row with a NaN logit, or every logit ``-inf``, is all NaN. With options, row
        :math:`n` is :math:`A_n q_n - a_n` for the target :math:`a_n` of :func:`cross_entropy`'s
        Notes and its mass :math:`A_n = \sum_c a_{nc}`, divided for ``'mean'`` by the same
        denominator as the loss (:math:`\sum_n w_{y_n}`, say); an ignored sample's row is 0.

    See Also
    --------
    cross_entropy, cross_entropy_with_grad, softmax_jacobian

    Notes
    -----
    By the chain rule through the softmax Jacobian,
    :math:`\partial L/\partial z_j = \sum_i (-y_i / q_i)\, q_i(\delta_{ij} - q_j) = q_j - y_j`.
    At the label of a confident, correct prediction :math:`q_y - 1` cancels catastrophically;
    there it is computed as :math:`-t/(1+t)` (with options, :math:`(r - a_k t)/(1 + t)`, where
    :math:`r` is the target's mass away from the largest logit).

    Examples
    --------
    >>> from xentlib import cross_entropy_grad
    >>> cross_entropy_grad([-2.85, 0.86, 0.28], 2).round(5)
    array([ 0.01545,  0.63116, -0.64661])
    >>> cross_entropy_grad([-2.85, 0.86, 0.28], 2, label_smoothing=0.1).round(5)
    array([-0.01788,  0.59783, -0.57995])
    """
    func = "cross_entropy_grad"
    z, labels, probs, options = v.cross_entropy_args(
        z, target, reduction, func, weight, ignore_index, label_smoothing
    )
    scale = _grad_scale(z, reduction, _denominator(z, labels, options, reduction, func))
    _, grad = _cross_entropy(
        z, labels, probs, options, want_loss=False, want_grad=True, scale=scale
    )
    return grad


def cross_entropy_with_grad(
    z, target, reduction="mean", *, weight=None, ignore_index=None, label_smoothing=0.0
):
    """``(cross_entropy, cross_entropy_grad)`` computed together, sharing the softmax.

    Parameters
    ----------
    z, target, reduction, weight, ignore_index, label_smoothing
        As for :func:`cross_entropy`.

    Returns
    -------
    loss : scalar or ndarray
        As :func:`cross_entropy` returns it.
    grad : ndarray
        As :func:`cross_entropy_grad` returns it.

    Examples
    --------
    >>> from xentlib import cross_entropy_with_grad
    >>> loss, grad = cross_entropy_with_grad([-2.85, 0.86, 0.28], 2)
    >>> print(f"{loss:.4f}", grad.round(4))
    1.0402 [ 0.0154  0.6312 -0.6466]
    """
    func = "cross_entropy_with_grad"
    z, labels, probs, options = v.cross_entropy_args(
        z, target, reduction, func, weight, ignore_index, label_smoothing
    )
    denominator = _denominator(z, labels, options, reduction, func)
    scale = _grad_scale(z, reduction, denominator)
    loss, grad = _cross_entropy(
        z, labels, probs, options, want_loss=True, want_grad=True, scale=scale
    )
    return _reduce(loss, reduction, denominator), grad


def binary_cross_entropy(q, y, reduction="mean"):
    r"""Binary cross-entropy of probabilities ``q`` against targets ``y``, label ``eq-bce``.

    .. math:: H(y, q) = -\bigl(y \log q + (1 - y) \log(1 - q)\bigr)

    Parameters
    ----------
    q : array_like
        Predicted probabilities :math:`\hat y` in [0, 1], any shape.
    y : array_like
        Targets in [0, 1] (hard 0/1 labels or soft labels), same shape as ``q``.
    reduction : {'mean', 'sum', 'none'}, optional
        ``'mean'`` is the tutorial's :math:`L(W) = \frac1N \sum_n H(p_n, q_n)` over all entries.

    Returns
    -------
    scalar or ndarray
        In ``q``'s floating dtype. Exactly 0 where ``q`` equals a hard ``y``
        (:math:`0 \log 0 = 0`); ``inf`` where ``q`` is 0 or 1 against the other label; NaN
        where ``q`` or ``y`` is NaN (NaN passes the [0, 1] checks and propagates).

    Raises
    ------
    ValueError
        ``q`` and ``y`` differ in shape, ``y`` or ``q`` outside [0, 1], an unknown ``reduction``, or
        ``'mean'`` of an empty input.
    TypeError
        Non-numeric input.

    See Also
    --------
    binary_cross_entropy_with_logits : the stable form to use when you have logits.

    Notes
    -----
    Probabilities have already lost the information a logit carries: :math:`1 - \hat y`
    rounds to 0 for :math:`\hat y > 1 - 2^{-53}`. Train on logits.

    Examples
    --------
    >>> from xentlib import binary_cross_entropy
    >>> print(f"{binary_cross_entropy([0.9, 0.2], [1.0, 0.0]):.4f}")
    0.1643
    >>> float(binary_cross_entropy(1.0, 1.0))
    0.0
    """
    q, y = v.binary_args(q, y, reduction, "q", "binary_cross_entropy")
    v.check_unit_interval(q, "probabilities q", "binary_cross_entropy")
    dtype, y = q.dtype, y.astype(q.dtype)  # y in [0, 1]: the cast cannot overflow
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        # A term whose weight is exactly 0 is 0 (0 log 0 = 0); a NaN weight spreads.
        pos = np.where(y == 0, 0, -y * np.log(q))
        neg = np.where(y == 1, 0, -(1 - y) * np.log1p(-q))
        return _reduce(np.asarray(pos + neg, dtype=dtype), reduction)


def _widened(w, *arrays):
    """``arrays`` (the binary target ``y``, ``pos_weight``) in the precision of ``w``, or their
    own if it is wider: ``1 - y`` and ``p y`` rounded in float32 lost every digit of the
    gradient near z = 0 with y near 1/2."""
    return [np.asarray(a, dtype=np.promote_types(w.dtype, np.result_type(a))) for a in arrays]


def binary_cross_entropy_with_logits(z, y, reduction="mean", *, weight=None, pos_weight=None):
    r"""Binary cross-entropy of :math:`\sigma(z)` against ``y``, from logits (``eq-bce-logits``).

    Parameters
    ----------
    z : array_like
        Logits, any shape; :math:`\hat y = \sigma(z)`.
    y : array_like
        Targets in [0, 1], same shape as ``z``.
    reduction : {'mean', 'sum', 'none'}, optional
        ``'mean'`` divides by the number of entries, with or without weights (as PyTorch does).
    weight : array_like, optional
        Finite, non-negative factors broadcast against the loss (``z``'s shape): entry
        :math:`i` counts :math:`w_i` times.
    pos_weight : array_like, optional
        :math:`p`, finite and non-negative, broadcast against ``z``'s shape, typically one per
        class (the last axis) in a multi-label problem: the positive term weighs :math:`p`
        times, :math:`H = -\bigl(p\,y \log \sigma(z) + (1 - y) \log(1 - \sigma(z))\bigr)`,
        label ``eq-losses-pos-weight``.

    Returns
    -------
    scalar or ndarray
        In ``z``'s floating dtype; finite for every finite ``z``; at :math:`z = \pm\infty` the
        limit (0 when the label agrees, ``inf`` otherwise); NaN where ``z`` or ``y`` is NaN.

    Raises
    ------
    ValueError
        ``z`` and ``y`` differ in shape, ``y`` outside [0, 1], an unknown ``reduction``,
        ``'mean'`` of an empty input, or a ``weight`` or ``pos_weight`` that is negative,
        infinite, NaN or does not broadcast to ``z``'s shape.
    TypeError
        Non-numeric input.

    See Also
    --------
    binary_cross_entropy, binary_cross_entropy_grad, sigmoid

    Notes
    -----
    Since :math:`-\log\sigma(z) = \log(1 + e^{-z})`,

    .. math:: H = \begin{cases} (1 - y)\,z + c\,\operatorname{log1p}(e^{-|z|}) & z \ge 0 \\
                               -p\,y\,z + c\,\operatorname{log1p}(e^{-|z|}) & z < 0 \end{cases}

    with :math:`c = 1 + (p - 1)\,y` (:math:`p = c = 1` without ``pos_weight``). Both terms are
    non-negative, so nothing cancels, even for soft labels; the exponential never exceeds 1,
    so nothing overflows.

    Examples
    --------
    >>> from xentlib import binary_cross_entropy_with_logits
    >>> print(f"{binary_cross_entropy_with_logits([2.1972, -1.3863], [1.0, 0.0]):.4f}")
    0.1643
    >>> float(binary_cross_entropy_with_logits(-1000.0, 1.0))  # log(sigmoid(-1000)) is -inf
    1000.0
    >>> loss = binary_cross_entropy_with_logits([2.1972, -1.3863], [1.0, 0.0], pos_weight=3.0)
    >>> print(f"{loss:.4f}")  # the positive's term counts three times
    0.2696
    """
    func = "binary_cross_entropy_with_logits"
    z, y = v.binary_args(z, y, reduction, "z", func)
    weight, p = v.binary_weights(weight, pos_weight, z, func)  # 1.0 when not given
    dtype = z.dtype
    w = np.asarray(z, dtype=working_dtype(dtype))
    y, p = _widened(w, y, p)
    # A zero coefficient contributes exactly 0, even at z = +-inf (the limit), where the product
    # would be 0 * inf = NaN.
    coefficient = np.where(w >= 0, 1 - y, -p * y)
    with np.errstate(invalid="ignore", under="ignore"):  # 0 * inf; e^-|z| below the smallest float
        linear = np.where(coefficient == 0, 0, coefficient * w)
        losses = linear + (1 + (p - 1) * y) * np.log1p(np.exp(-np.abs(w)))
    return _reduce(rounded(weight * losses, dtype), reduction)


def binary_cross_entropy_grad(z, y, reduction="mean", *, weight=None, pos_weight=None):
    r"""The gradient :math:`\partial H / \partial z = \sigma(z) - y`, label ``eq-bce-grad``.

    Parameters
    ----------
    z, y, reduction, weight, pos_weight
        As for :func:`binary_cross_entropy_with_logits`.

    Returns
    -------
    ndarray or scalar
        Same shape and dtype as ``z``; divided by the number of entries for ``'mean'``. NaN
        where ``z`` or ``y`` is NaN. With the options it is
        :math:`w\,\bigl(c\,\sigma(z) - p\,y\bigr)`, :math:`c = 1 + (p - 1)\,y`
        (``eq-losses-pos-weight-grad``).

    Examples
    --------
    >>> from xentlib import binary_cross_entropy_grad
    >>> binary_cross_entropy_grad([0.0, 2.0], [1.0, 1.0], reduction="none").round(4)
    array([-0.5   , -0.1192])
    >>> binary_cross_entropy_grad([0.0, 2.0], [1.0, 1.0], "none", pos_weight=3.0).round(4)
    array([-1.5   , -0.3576])
    """
    func = "binary_cross_entropy_grad"
    z, y = v.binary_args(z, y, reduction, "z", func)
    weight, p = v.binary_weights(weight, pos_weight, z, func)  # 1.0 when not given
    w = np.asarray(z, dtype=working_dtype(z.dtype))
    y, p = _widened(w, y, p)
    c = 1 + (p - 1) * y  # the factor of sigma(z); c - p y = 1 - y
    with np.errstate(under="ignore"):  # e^-|z| below the smallest float: the answer
        e = np.exp(-np.abs(w))
        smaller = e / (1 + e)  # sigma(-|z|), at most 1/2
        # For z > 0, c sigma(z) - p y is written (1 - y) - c sigma(-z): with y = 1 the plain
        # subtraction would cancel every digit of a confident, correct prediction. At z = 0
        # the other form, c / 2 - p y, is exact where y is near 1/2 (1 - y would round).
        grad = weight * np.where(w > 0, (1 - y) - c * smaller, c * smaller - p * y)
        if reduction == "mean":
            grad = grad / z.size
        return rounded(grad, z.dtype)[()]
