"""The numerical core: where every softmax-family result and every loss is actually computed.

The public functions in ``activations`` and ``losses`` validate their input and call these.
Accuracy and speed work belongs here, and only here.
"""

import numpy as np


def shifted(z, axis):
    """The pieces every softmax-family function is built from, computed once.

    Returns ``(m, d, e, t)`` along ``axis`` (kept as a length-1 axis for ``m`` and ``t``):

    - ``m``: the row maximum (first occurrence), ``k`` its index;
    - ``d = z - m``, all <= 0 and exactly 0 at ``k``;
    - ``e = exp(d)``, exactly 1 at ``k``;
    - ``t``: the sum of ``e`` *without* the term at ``k``.

    Why ``t`` and not ``s = sum(e) = 1 + t``: for a confident row ``t`` is tiny, and rounding
    ``1 + t`` throws away its digits; ``log(s)`` and ``1/s - 1`` then have no correct digit at
    all. Keeping ``t`` apart lets ``logsumexp = m + log1p(t)`` and ``p_k - 1 = -t / (1 + t)``
    be accurate to the last bit (Blanchard, Higham & Higham, 2021).

    Rows that are all ``-inf`` give ``m = -inf`` and ``t = 0``; the callers turn their
    probabilities into NaN. A single ``+inf`` gets all the mass (the limit); NaN spreads to
    its whole row.
    """
    k = np.argmax(z, axis=axis, keepdims=True)
    m = np.take_along_axis(z, k, axis=axis)
    with np.errstate(invalid="ignore", over="ignore"):
        d = z - np.where(m == -np.inf, 0, m)
        np.put_along_axis(d, k, 0, axis=axis)
        e = np.exp(d)
        np.put_along_axis(e, k, 0, axis=axis)
        t = e.sum(axis=axis, keepdims=True)
        np.put_along_axis(e, k, 1, axis=axis)
    return m, d, e, t


def mask_empty_rows(out, m):
    """NaN for rows whose every logit is ``-inf``: they hold no probability distribution."""
    empty = m == -np.inf
    if np.any(empty):
        out[np.broadcast_to(empty, out.shape)] = np.nan
    return out


def ce_parts(z, labels, probs, want_loss, want_grad):
    """Per-sample losses and the un-normalised gradient ``softmax(z) - Y``, sharing one pass.

    With ``d = z - max``, ``t`` the sum of the non-maximal ``exp(d)`` and ``k`` the argmax:

    - the loss is ``log1p(t) - d_y``: two non-negative terms, so no cancellation;
    - the gradient is ``e / (1 + t) - Y``, except that at the label, when it is the argmax,
      ``p_k - 1`` is written ``-t / (1 + t)``: the subtraction would cancel every digit of a
      confident, correct prediction.
    """
    m, d, e, t = shifted(z, -1)
    log1p_t = np.log1p(t)
    loss = grad = None
    if want_loss:
        if labels is not None:
            d_y = np.take_along_axis(d, labels[..., None], axis=-1)
            loss = (log1p_t - d_y)[..., 0]
        else:
            with np.errstate(invalid="ignore"):  # 0 * inf for masked classes with no mass
                loss = np.where(probs > 0, probs * (log1p_t - d), 0).sum(axis=-1)
        loss = np.where(m[..., 0] == -np.inf, np.nan, loss)
    if want_grad:
        grad = e / (1 + t)
        if labels is not None:
            rows = labels[..., None]
            p_y = np.take_along_axis(grad, rows, axis=-1)
            at_max = np.take_along_axis(d, rows, axis=-1) == 0
            np.put_along_axis(grad, rows, np.where(at_max, -t / (1 + t), p_y - 1), axis=-1)
        else:
            grad -= probs
        grad = mask_empty_rows(grad, m)
    return loss, grad
