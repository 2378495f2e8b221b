"""The algebra of the softmax family and of cross-entropy, as the chapters derive it.

Every softmax-family result and every multi-class loss in xentlib is built from the same four
pieces of a row of logits, computed once by :func:`shifted`; cross-entropy's loss and gradient
come from those pieces in :func:`cross_entropy_rows`. The fast route for integer labels
(``_fast``) computes the same quantities for the rows it can prove safe and hands every other row
to these two functions.
"""

import numpy as np


def working_dtype(dtype):
    """The precision the algebra computes in: float64, or the input's if it is wider.

    float16 and float32 input is computed in float64 and rounded once at the end, so that the
    result is within about half an ulp plus float64's own error, not numpy's float32 ``exp``
    and ``log1p`` error of about 2 ulp.
    """
    return np.promote_types(dtype, np.float64)


def rounded(x, dtype):
    """``x`` rounded once to ``dtype``; beyond its range that is +-inf or 0, as it should be."""
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(x, dtype=dtype)


def difference_and_error(a, b):
    """``a - b`` rounded, and its rounding error: ``a - b == hi + lo`` exactly (Knuth's TwoSum).

    Where the difference is infinite or NaN the error is set to 0.
    """
    hi = a - b
    a_part = hi + b
    b_part = a_part - hi
    lo = (a - a_part) + (b_part - b)
    lo[~np.isfinite(lo)] = 0
    return hi, lo


def at(a, k):
    """``a[..., k]`` row by row: the entry at index ``k`` (shape ``a.shape[:-1] + (1,)``) of
    each row of the C-contiguous ``a``, as a view-free gather on the flat array."""
    return a.ravel()[_flat(a, k)]


def put(a, k, values):
    """``a[..., k] = values`` row by row (the counterpart of :func:`at`)."""
    a.ravel()[_flat(a, k)] = values


def _flat(a, k):
    return np.arange(0, a.size, a.shape[-1]).reshape(k.shape) + k


def shifted(z, axis=-1):
    """The pieces ``(m, k, d, e, t)`` of ``z`` along ``axis``, in ``working_dtype(z.dtype)``.

    ``axis`` is moved last: every piece has the class axis last (length 1 for ``m``, ``k``, ``t``).

    - ``m``: the row maximum and ``k`` the index of its first occurrence;
    - ``d = z - m``, all <= 0 and exactly 0 at ``k``;
    - ``e = exp(d)``, exactly 1 at ``k``;
    - ``t``: the sum of ``e`` *without* the term at ``k``.

    ``t`` is kept apart from ``s = 1 + t`` because for a confident row ``t`` is tiny and
    rounding ``1 + t`` throws its digits away: ``log1p(t)`` and ``t / (1 + t)`` keep them.

    ``e`` is not simply ``exp(d)``: an absolute error ``delta`` in the rounded ``d`` is a
    relative error ``delta`` in ``exp(d)``, hundreds of ulp at ``d = -700``. Computed wider
    (float32 in float64), ``z - m`` is exact wherever its exponential matters; in the input's
    own precision the rounding error ``lo`` of ``z - m`` is kept and ``exp(d + lo)`` is taken as
    ``exp(d) (1 + lo)``.

    A row whose every logit is ``-inf`` gives ``m = -inf`` and ``t = 0`` (the callers make its
    results NaN); a single ``+inf`` gets ``t = 0`` and all the mass; two ``+inf`` or a NaN give a
    NaN ``t``.
    """
    w = np.ascontiguousarray(np.moveaxis(z, axis, -1), dtype=working_dtype(z.dtype))
    k = np.argmax(w, axis=-1, keepdims=True)
    m = at(w, k)
    # Overflow, NaN and underflow here are the answer (a +-inf logit, a NaN row, a probability
    # below the smallest float), not an accident: never the caller's np.errstate's business.
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        shift = np.where(m == -np.inf, 0, m)
        if w.dtype == z.dtype:  # computed in the input's precision: keep the error of z - m
            d, lo = difference_and_error(w, shift)
        else:  # computed wider: z - m is exact wherever exp(z - m) matters
            d, lo = w - shift, None
        put(d, k, 0)
        e = np.exp(d)
        if lo is not None:
            e += e * lo
        put(e, k, 0)
        t = e.sum(axis=-1, keepdims=True)
        put(e, k, 1)
    return m, k, d, e, t


def at_the_max(y_k, t, rest=None):
    """``q_k - y_k`` at the largest logit, where ``q_k = 1 / (1 + t)``, without cancellation.

    When the prediction is confident and right, ``q_k`` and ``y_k`` are both close to 1 and
    their difference loses every digit; written ``((1 - y_k) - y_k t) / (1 + t)`` it keeps them
    (``-t / (1 + t)`` for a hard target). ``rest`` is the target's mass at the other classes,
    given when the target holds it more exactly than ``1 - y_k`` (a smoothed label's
    ``ε (1 - 1/C)``) or when the target's mass ``A`` is not 1: the result is then ``A q_k - y_k``.
    """
    if rest is None:
        rest = 1 - y_k
    return (rest - y_k * t) / (1 + t)


def options_target(labels, probs, num_classes, weight, smoothing, dtype):
    """The target of cross-entropy's options as rows ``a``: ``a_c = w_c ((1 - ε) y_c + ε / C)``.

    ``y`` is the one-hot row of a label or a probability row; ``weight`` (``w``) is None or one
    weight per class, ``smoothing`` is ``ε``. The rows are not normalised: row ``n`` sums to
    ``A_n = sum_c a_c``, and the loss ``-sum_c a_c log q_c`` has the gradient ``A_n q - a``.
    Computed in ``dtype``, the working precision (``1 - ε`` and ``ε / C`` included).
    """
    if labels is not None:
        y = np.zeros((*labels.shape, num_classes), dtype=dtype)
        put(y, labels[..., None], 1)
    else:
        y = np.asarray(probs, dtype=dtype)
    smoothing = dtype.type(smoothing)
    a = (1 - smoothing) * y + smoothing / num_classes  # y itself when smoothing is 0
    return a if weight is None else a * weight


def cross_entropy_rows(m, k, d, e, t, labels=None, probs=None, want_grad=True, normalised=True):
    """Per-sample cross-entropy and its gradient ``q - y``, from the pieces of ``shifted(z)``.

    The target is either integer ``labels`` (shape ``z.shape[:-1]``) or probability rows
    ``probs`` (``z``'s shape). Returns ``(loss, grad)``, ``grad`` None unless ``want_grad``.
    With ``normalised=False``, ``probs`` are the rows ``a`` of :func:`options_target`, each of
    mass ``A``, and the gradient is ``A q - a``.
    """
    log1p_t = np.log1p(t)  # log(sum_j e^(z_j - m)), every digit kept when t is tiny
    if labels is not None:
        y = labels[..., None]
        loss = log1p_t - at(d, y)  # logsumexp(z) - z_y: both terms >= 0
        y_k = (y == k).astype(t.dtype)  # the target's mass at the largest logit
    else:
        with np.errstate(invalid="ignore"):  # 0 * inf at a masked class without target mass
            terms = np.where(probs != 0, probs * (log1p_t - d), 0)
        loss = terms.sum(axis=-1, keepdims=True)
        y_k = at(probs, k)
    no_distribution = m == -np.inf  # every logit -inf
    loss = np.where(no_distribution, np.nan, loss)[..., 0]
    if not want_grad:
        return loss, None
    grad = e / (1 + t)  # q = softmax(z)
    rest = None
    if labels is not None:
        put(grad, y, at(grad, y) - 1)
    elif normalised:
        grad -= probs
    else:  # A q - a, with A = rest + a_k and rest the target's mass off the argmax
        others = probs.copy()
        put(others, k, 0)
        rest = others.sum(axis=-1, keepdims=True)
        grad = (rest + y_k) * grad - probs
    put(grad, k, at_the_max(y_k, t, rest))  # q_k - y_k, which would cancel
    if no_distribution.any():
        grad[np.broadcast_to(no_distribution, grad.shape)] = np.nan
    return loss, grad
