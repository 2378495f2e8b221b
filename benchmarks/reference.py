"""Exact answers, and the error of a computed one in units in the last place (ulp).

The references are computed with mpmath at 50 significant digits, in forms where no step
cancels (the same algebra as xentlib, carried out with 30 more digits than float64 has):

- ``d_j = z_j - m`` is formed in mpmath, so it is correct to 50 digits relative to ``d_j``;
- ``t = sum_{j != k} exp(d_j)``, a sum of positive terms;
- ``log_softmax_j = d_j - log1p(t)`` (two non-positive terms), ``softmax_j = exp(d_j) / (1 + t)``,
  ``logsumexp = m + log1p(t)``, the loss ``log1p(t) - d_y`` (two non-negative terms), and the
  gradient at the label ``-t / (1 + t)`` when the label is the argmax.

Each reference is returned as a pair ``(hi, lo)`` of float64 arrays with ``hi + lo`` equal to the
exact value to about 100 bits, which lets ``ulp_error`` measure errors far below one float64 ulp
without touching mpmath again.

The ulp of an exact real ``x`` in a binary floating-point format with ``p`` significand bits is

    ulp(x) = 2 ** (max(floor(log2 |x|), emin) - p + 1),

the gap between the two floats around ``x`` (Goldberg 1991, Muller's definition). Below the
smallest normal number, including at ``x = 0``, it is the subnormal spacing ``2 ** (emin - p + 1)``,
so a result that should be 0 and comes out as the smallest subnormal is 1 ulp off, not
infinitely far. Exact infinities (``log_softmax`` of a masked ``-inf`` logit) count 0 ulp when
matched exactly and ``inf`` otherwise, and so do exact values beyond the format's range (whose
correctly rounded result is ``±inf``); a NaN or inf where the exact value is finite counts ``inf``.
"""

import mpmath
import numpy as np

DIGITS = 50


def _hi_lo(values):
    """``(hi, lo)`` float64 arrays for a list of mpf values."""
    hi = np.array([float(v) for v in values], dtype=np.float64)
    lo = np.array(
        [
            0.0 if not mpmath.isfinite(v) else float(v - mpmath.mpf(h))
            for v, h in zip(values, hi, strict=True)
        ],
        dtype=np.float64,
    )
    return hi, lo


def softmax_row(z, label=None, probs=None):
    """Exact softmax-family values of one row of logits ``z`` (a 1-D float array).

    Returns a dict of ``(hi, lo)`` pairs: ``log_softmax``, ``softmax`` (rows), ``logsumexp``
    (a 1-element array), and, when a label or a probability target is given, ``cross_entropy``
    (1 element) and ``cross_entropy_grad`` (a row).
    """
    with mpmath.workdps(DIGITS):
        zs = [mpmath.mpf(float(v)) for v in z]
        k = int(np.argmax(z))
        m = zs[k]
        if m == -mpmath.inf:
            raise ValueError("an all -inf row has no reference (every result is NaN)")
        if m == mpmath.inf:
            raise ValueError("rows with +inf are limits, not in the accuracy suite")
        d = [v - m for v in zs]
        e = [mpmath.exp(v) for v in d]
        t = mpmath.fsum(e[j] for j in range(len(e)) if j != k)
        log1p_t = mpmath.log1p(t)
        out = {
            "log_softmax": [v - log1p_t for v in d],
            "softmax": [v / (1 + t) for v in e],
            "logsumexp": [m + log1p_t],
        }
        if label is not None:
            out["cross_entropy"] = [log1p_t - d[label]]
            grad = list(out["softmax"])
            grad[label] = -t / (1 + t) if label == k else grad[label] - 1
            out["cross_entropy_grad"] = grad
        if probs is not None:
            ps = [mpmath.mpf(float(v)) for v in probs]
            out["cross_entropy"] = [
                mpmath.fsum(p * (log1p_t - dj) for p, dj in zip(ps, d, strict=True) if p > 0)
            ]
            out["cross_entropy_grad"] = [q - p for q, p in zip(out["softmax"], ps, strict=True)]
        return {name: _hi_lo(vals) for name, vals in out.items()}


def softmax_batch(z, labels=None, probs=None):
    """``softmax_row`` over the rows of a 2-D array, stacked like the functions' outputs."""
    rows = [
        softmax_row(
            row,
            None if labels is None else int(labels[i]),
            None if probs is None else probs[i],
        )
        for i, row in enumerate(z)
    ]
    out = {}
    for name in rows[0]:
        hi = np.stack([r[name][0] for r in rows])
        lo = np.stack([r[name][1] for r in rows])
        if name in ("logsumexp", "cross_entropy"):
            hi, lo = hi[:, 0], lo[:, 0]
        out[name] = (hi, lo)
    return out


def sigmoid_family(x, y):
    """Exact ``sigmoid(x)`` and ``binary_cross_entropy_with_logits(x, y)`` (elementwise).

    The loss uses the form with two non-negative terms: ``(1 - y) x + log1p(exp(-x))`` for
    ``x >= 0`` and ``-y x + log1p(exp(x))`` for ``x < 0``.
    """
    sig, bce = [], []
    with mpmath.workdps(DIGITS):
        for xv, yv in zip(np.ravel(x), np.ravel(y), strict=True):
            a, b = mpmath.mpf(float(xv)), mpmath.mpf(float(yv))
            sig.append(1 / (1 + mpmath.exp(-a)))
            if a >= 0:
                bce.append((1 - b) * a + mpmath.log1p(mpmath.exp(-a)))
            else:
                bce.append(-b * a + mpmath.log1p(mpmath.exp(a)))
    shape = np.shape(x)
    return {
        name: tuple(part.reshape(shape) for part in _hi_lo(vals))
        for name, vals in (("sigmoid", sig), ("binary_cross_entropy_with_logits", bce))
    }


def ulp(hi, dtype):
    """The ulp, in ``dtype``, of the exact values whose leading float64 part is ``hi``."""
    info = np.finfo(dtype)
    with np.errstate(divide="ignore"):
        _, exponent = np.frexp(np.abs(hi))  # |hi| = f * 2**exponent with 0.5 <= f < 1
    exponent = np.where(hi == 0, info.minexp, np.maximum(exponent - 1, info.minexp))
    return np.ldexp(1.0, exponent - info.nmant)


def ulp_error(computed, exact, dtype):
    """``|computed - exact| / ulp(exact)`` elementwise, as float64 (see the module docstring)."""
    hi, lo = exact
    c = np.asarray(computed, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs((c - hi) - lo) / ulp(hi, dtype)
    with np.errstate(over="ignore"):
        rounded = hi.astype(dtype)  # beyond the format's range: the exact value rounds to +-inf
    exact_inf = np.isinf(rounded)
    hi = np.where(exact_inf, rounded, hi)
    err = np.where(exact_inf, np.where(c == hi, 0.0, np.inf), err)
    return np.where(np.isnan(err), np.inf, err)
