"""Exact answers for xentlib's functions, and the error of a computed one in ulp.

The one measuring tape of the project: the tests, the benchmarks and the chapters all measure
xentlib with these references and this :func:`ulp_error`. It needs mpmath, an optional extra
(``pip install 'xentlib[reference]'``), imported when a reference is first computed; ``import
xentlib`` never imports this module.

The references are computed with mpmath at ``DIGITS`` = 50 significant digits, from the exact
binary values of the inputs, in forms where no step cancels (the algebra of xentlib, carried out
with 30 more digits than float64 has), with ``k`` the argmax of a row of logits ``z``:

- ``d_j = z_j - z_k`` and ``t = sum_{j != k} exp(d_j)``, a sum of positive terms;
- ``log_softmax_j = d_j - log1p(t)`` (two non-positive terms), ``softmax_j = exp(d_j) / (1 + t)``,
  the loss ``log1p(t) - d_y`` (two non-negative terms), and at the label ``q_k - 1 = -t / (1 + t)``;
- a difference that does cancel because the problem is ill-conditioned (``logsumexp = z_k +
  log1p(t)`` near 0, ``q - y`` with ``q`` close to a probability target ``y``, ``sigmoid(x) - y``)
  is recomputed with more digits until at least 20 digits of the result survive.

Each reference is an :class:`Exact` pair ``(hi, lo)`` of float64 arrays with ``hi + lo`` equal to
the exact value to about 100 bits, which lets :func:`ulp_error` measure errors far below one
float64 ulp without touching mpmath again.

The ulp of an exact real ``x`` in a binary floating-point format with ``p`` significand bits is ::

    ulp(x) = 2 ** (max(floor(log2 |x|), emin) - p + 1),

the gap between the two floats around ``x`` (Muller's definition; Goldberg 1991). Below the
smallest normal number, including at ``x = 0``, it is the subnormal spacing ``2 ** (emin - p + 1)``,
so a result that should be 0 and comes out as the smallest subnormal is 1 ulp off, not
infinitely far. An exact infinity (``log_softmax`` of a masked ``-inf`` logit) counts 0 ulp when
matched exactly and ``inf`` otherwise, and so does an exact value beyond the format's range
(whose correctly rounded result is ``±inf``); a NaN or inf where the exact value is finite counts
``inf``. A correctly rounded result is within 0.5 ulp.
"""

from typing import NamedTuple

import numpy as np

DIGITS = 50
# Ill-conditioned differences are recomputed with more digits, up to this many.
MAX_DIGITS = 2000
# Digits that must survive a cancellation for the reference to be trusted.
KEPT_DIGITS = 20

__all__ = [
    "DIGITS",
    "Exact",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "cross_entropy_grad",
    "cross_entropy_grad_condition",
    "cross_entropy_options",
    "from_mpmath",
    "log_softmax",
    "logsumexp",
    "logsumexp_condition",
    "sigmoid",
    "sigmoid_family",
    "sigmoid_grad",
    "softmax",
    "softmax_batch",
    "softmax_jacobian",
    "softmax_row",
    "suite",
    "ulp",
    "ulp_error",
]


def _mpmath():
    try:
        import mpmath
    except ImportError as err:
        raise ImportError(
            "xentlib.reference needs mpmath: pip install 'xentlib[reference]'"
        ) from err
    return mpmath


class Exact(NamedTuple):
    """An exact real array as two float64 arrays: the value is ``hi + lo`` to about 100 bits.

    ``hi`` is the exact value rounded to float64 (``±inf`` for an exact infinity), ``lo`` the
    remainder, rounded to float64 (0 where ``hi`` is infinite).
    """

    hi: np.ndarray
    lo: np.ndarray


def from_mpmath(values):
    """The :class:`Exact` pair of mpmath numbers (or floats, exact as they are).

    Parameters
    ----------
    values : mpf, float, or (nested) sequence or object array of them

    Returns
    -------
    Exact
        ``hi`` and ``lo`` with the shape of ``values``.

    Examples
    --------
    >>> import mpmath
    >>> from xentlib.reference import from_mpmath
    >>> with mpmath.workdps(50):
    ...     third = from_mpmath(mpmath.mpf(1) / 3)
    >>> float(third.hi), float(third.lo)
    (0.3333333333333333, 1.850371707708594e-17)
    """
    mp = _mpmath()
    objects = np.array(values, dtype=object)
    # mpf values keep their own precision (mp.mpf(v) would round them to the working one)
    flat = [v if isinstance(v, mp.mpf) else mp.mpf(v) for v in objects.ravel()]
    hi = np.array([float(v) for v in flat], dtype=np.float64)
    with mp.workprec(max(mp.mp.prec, 128)):
        lo = np.array(
            [
                0.0 if not mp.isfinite(v) else float(v - mp.mpf(h))
                for v, h in zip(flat, hi, strict=True)
            ],
            dtype=np.float64,
        )
    return Exact(hi.reshape(objects.shape), lo.reshape(objects.shape))


def _as_exact(exact):
    if isinstance(exact, Exact):
        return exact
    if (
        isinstance(exact, tuple)
        and len(exact) == 2
        and all(isinstance(p, np.ndarray) for p in exact)
    ):
        return Exact(np.asarray(exact[0], np.float64), np.asarray(exact[1], np.float64))
    return from_mpmath(exact)


def ulp(exact, dtype):
    """The ulp, in ``dtype``, of exact values: the gap between the floats around each.

    Parameters
    ----------
    exact : Exact, (hi, lo) pair of float64 arrays, mpf, float, or sequence of them
    dtype : a floating dtype (float16, float32, float64)

    Returns
    -------
    ndarray of float64
        ``2 ** (max(floor(log2 |x|), emin) - p + 1)`` for each exact ``x`` (see the module
        docstring); the subnormal spacing at and near 0.

    Examples
    --------
    >>> import mpmath
    >>> import numpy as np
    >>> from xentlib.reference import ulp
    >>> float(ulp(1.0, np.float64)) == 2.0**-52, float(ulp(1.0, np.float32)) == 2.0**-23
    (True, True)
    >>> float(ulp(0.0, np.float32)) == 2.0**-149  # the subnormal spacing
    True
    >>> with mpmath.workdps(50):
    ...     below_one = 1 - mpmath.mpf(10) ** -30
    >>> float(ulp(below_one, np.float64)) == 2.0**-53  # the floats just below 1 are closer
    True
    """
    hi, lo = _as_exact(exact)
    info = np.finfo(dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction, exponent = np.frexp(np.abs(hi))  # |hi| = fraction * 2**exponent, 1/2 <= f < 1
    # hi is a power of two and the exact value lies just inside it: one binade lower.
    below = (fraction == 0.5) & (lo != 0) & (np.sign(lo) == -np.sign(hi))
    exponent = np.where(hi == 0, info.minexp, np.maximum(exponent - 1 - below, info.minexp))
    return np.ldexp(1.0, exponent - info.nmant)


def ulp_error(computed, exact, dtype):
    """``|computed - exact| / ulp(exact)`` elementwise: the error in units in the last place.

    Parameters
    ----------
    computed : array_like
        Computed values (converted to float64, exactly for float16, float32 and float64).
    exact : Exact, (hi, lo) pair of float64 arrays, mpf, float, or sequence of them
        The exact values, as returned by this module's references.
    dtype : a floating dtype
        The format whose ulp is the unit: the dtype of the computed result.

    Returns
    -------
    float64 or ndarray of float64
        0.5 or less: correctly rounded. ``inf`` for a NaN or an infinity where the exact value is
        finite in ``dtype``; 0 for an exact infinity (or a value beyond ``dtype``'s range)
        matched by the right infinity.

    Examples
    --------
    >>> import mpmath
    >>> import numpy as np
    >>> from xentlib import reference
    >>> float(reference.ulp_error(1 + 2**-52, 1.0, np.float64))
    1.0
    >>> with mpmath.workdps(50):
    ...     tenth = mpmath.mpf(1) / 10
    >>> float(reference.ulp_error(0.1, tenth, np.float64))  # correctly rounded
    0.4
    >>> float(reference.ulp_error(np.float32(2.0**-149), 0.0, np.float32))
    1.0
    >>> exact = reference.softmax([-2.85, 0.86, 0.28])
    >>> rounded = exact.hi.astype(np.float32)  # correctly rounded to float32
    >>> bool((reference.ulp_error(rounded, exact, np.float32) <= 0.5).all())
    True
    """
    hi, lo = _as_exact(exact)
    c = np.asarray(computed, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs((c - hi) - lo) / ulp(Exact(hi, lo), dtype)
        rounded = hi.astype(dtype)  # beyond the format's range: the exact value rounds to +-inf
    exact_inf = np.isinf(rounded)
    hi = np.where(exact_inf, rounded, hi)
    err = np.where(exact_inf, np.where(c == hi, 0.0, np.inf), err)
    err = np.where(np.isnan(err), np.inf, err)
    return err[()] if err.ndim == 0 else err


# --- the softmax family ---------------------------------------------------------------------


def _lost_digits(mp, result, scale):
    """Decimal digits lost when terms of magnitude ``scale`` cancel to ``result``."""
    if scale == 0:
        return 0.0
    if result == 0:
        return np.inf
    return max(0.0, float(mp.log10(abs(scale) / abs(result))))


def _with_enough_digits(compute):
    """``compute(mp)`` (which returns ``(values, lost_digits)``) at ``DIGITS``, and again with
    more digits while a cancellation leaves fewer than ``KEPT_DIGITS``."""
    mp = _mpmath()
    digits = DIGITS
    while True:
        with mp.workdps(digits):
            values, lost = compute(mp)
            if lost <= digits - KEPT_DIGITS or digits >= MAX_DIGITS:
                return values
        digits = min(
            MAX_DIGITS, max(2 * digits, int(lost) + DIGITS) if np.isfinite(lost) else 2 * digits
        )


def _row(mp, z, label, probs):
    """The exact results of one row (mpf lists) and the digits lost to cancellation."""
    zs = [mp.mpf(float(v)) for v in z]
    k = int(np.argmax(z))
    m = zs[k]
    if m == -mp.inf:
        raise ValueError("an all -inf row has no reference (every result is NaN)")
    if m == mp.inf or any(mp.isnan(v) for v in zs):
        raise ValueError("rows with +inf or NaN are limits or undefined, not in the suite")
    d = [v - m for v in zs]
    e = [mp.exp(v) for v in d]
    t = mp.fsum(e[j] for j in range(len(e)) if j != k)
    total = 1 + t
    log1p_t = mp.log1p(t)
    lse = m + log1p_t
    softmax_values = [v / total for v in e]
    out = {
        "log_softmax": [v - log1p_t for v in d],
        "softmax": softmax_values,
        "logsumexp": [lse],
    }
    lost = _lost_digits(mp, lse, max(abs(m), log1p_t))
    if label is not None:
        out["cross_entropy"] = [log1p_t - d[label]]
        grad = list(softmax_values)
        # q_y - 1 cancels only at the argmax (elsewhere q_y <= 1/2): there it is -t / (1 + t)
        grad[label] = -t / total if label == k else grad[label] - 1
        out["cross_entropy_grad"] = grad
    if probs is not None:
        ys = [mp.mpf(float(v)) for v in probs]
        out["cross_entropy"] = [
            mp.fsum(y * (log1p_t - dj) for y, dj in zip(ys, d, strict=True) if y != 0)
        ]
        grad = []
        for j, (q, y) in enumerate(zip(softmax_values, ys, strict=True)):
            if j == k:  # q may be near 1: q - y = (1 - y) - (1 - q), with 1 - q = t / (1 + t)
                one_minus_q = t / total
                g, scale = (1 - y) - one_minus_q, max(abs(1 - y), one_minus_q)
            else:
                g, scale = q - y, max(q, abs(y))
            grad.append(g)
            lost = max(lost, _lost_digits(mp, g, scale))
        out["cross_entropy_grad"] = grad
    return out, lost


def softmax_row(z, label=None, probs=None):
    """Exact softmax-family results of one row of logits ``z`` (a 1-D float array).

    Parameters
    ----------
    z : 1-D array of floats
        Finite logits, or ``-inf`` (masked classes) with at least one finite one.
    label : int, optional
        A 0-based class label.
    probs : 1-D array of floats, optional
        A probability target (instead of ``label``).

    Returns
    -------
    dict of Exact
        ``log_softmax``, ``softmax`` (rows), ``logsumexp`` (a 1-element array), and, with a label
        or a probability target, ``cross_entropy`` (1 element) and ``cross_entropy_grad`` (a row:
        ``softmax(z) - y``, the gradient of the loss).
    """
    values = _with_enough_digits(lambda mp: _row(mp, z, label, probs))
    return {name: from_mpmath(v) for name, v in values.items()}


def softmax_batch(z, labels=None, probs=None):
    """:func:`softmax_row` over the rows of a 2-D array, stacked like xentlib's outputs.

    ``logsumexp`` and ``cross_entropy`` have one value per row (``reduction='none'``), the others
    the shape of ``z``.
    """
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
        hi = np.stack([r[name].hi for r in rows])
        lo = np.stack([r[name].lo for r in rows])
        if name in ("logsumexp", "cross_entropy"):
            hi, lo = hi[:, 0], lo[:, 0]
        out[name] = Exact(hi, lo)
    return out


def _along_last_axis(name, z, target=None):
    """The exact ``name`` of logits of any shape (along the last axis) and their target."""
    z = np.asarray(z)
    if z.ndim == 0:
        raise ValueError("logits must have a class axis (at least one dimension)")
    rows = z.reshape(-1, z.shape[-1])
    labels = probs = None
    if target is not None:
        target = np.asarray(target)
        if target.shape == z.shape and np.issubdtype(target.dtype, np.floating):
            probs = target.reshape(rows.shape)
        else:
            labels = np.broadcast_to(target, z.shape[:-1]).reshape(-1)
    exact = softmax_batch(rows, labels, probs)[name]
    shape = z.shape[:-1] if name in ("logsumexp", "cross_entropy") else z.shape
    return Exact(exact.hi.reshape(shape), exact.lo.reshape(shape))


def softmax(z):
    """Exact ``softmax(z)`` along the last axis.

    Examples
    --------
    >>> from xentlib import reference
    >>> reference.softmax([-2.85, 0.86, 0.28]).hi
    array([0.01544932, 0.63116335, 0.35338733])
    """
    return _along_last_axis("softmax", z)


def log_softmax(z):
    """Exact ``log_softmax(z)`` along the last axis (``-inf`` for a masked logit)."""
    return _along_last_axis("log_softmax", z)


def logsumexp(z):
    """Exact ``logsumexp(z)`` along the last axis, to 20 digits or more even where it is near 0.

    Examples
    --------
    >>> import numpy as np
    >>> from xentlib import reference
    >>> z = np.float32([-np.log(2), -np.log(2)])  # float32's ln 2 is 1.9e-9 above the real one
    >>> float(reference.logsumexp(z).hi)
    -1.904654299957768e-09
    """
    return _along_last_axis("logsumexp", z)


def cross_entropy(z, target):
    """Exact per-sample cross-entropy (``reduction='none'``) of logits against a target.

    Parameters
    ----------
    z : array_like
        Logits, classes along the last axis.
    target : int or array_like
        0-based labels (an integer array of shape ``z.shape[:-1]``, or one label for every row),
        or probability targets (a float array of ``z``'s shape).
    """
    return _along_last_axis("cross_entropy", z, target)


def cross_entropy_grad(z, target):
    """Exact gradient of the summed cross-entropy: ``softmax(z) - y``, shaped like ``z``.

    ``target`` is as in :func:`cross_entropy`. At a probability target close to ``softmax(z)``
    the difference is ill-conditioned (see :func:`cross_entropy_grad_condition`); the reference
    is still exact to 20 digits.

    Examples
    --------
    >>> from xentlib import reference
    >>> reference.cross_entropy_grad([-2.85, 0.86, 0.28], 2).hi
    array([ 0.01544932,  0.63116335, -0.64661267])
    >>> float(reference.cross_entropy_grad([0.0, 40.0], 1).hi[1])  # 1 - q_1 without cancelling
    -4.248354255291589e-18
    """
    return _along_last_axis("cross_entropy_grad", z, target)


def _options_row(mp, z, label, probs, weight, smoothing):
    """Loss, gradient and the gradient's condition numbers of one row under the options."""
    c = len(z)
    zs = [mp.mpf(float(v)) for v in z]
    k = int(np.argmax(z))
    d = [v - zs[k] for v in zs]
    e = [mp.exp(v) for v in d]
    t = mp.fsum(e[j] for j in range(c) if j != k)
    log1p_t = mp.log1p(t)
    y = [mp.mpf(1 if j == label else 0) for j in range(c)] if probs is None else probs
    y = [mp.mpf(float(v)) for v in y]
    eps = mp.mpf(float(smoothing))
    w = [mp.mpf(1)] * c if weight is None else [mp.mpf(float(v)) for v in weight]
    a = [w[j] * ((1 - eps) * y[j] + eps / c) for j in range(c)]  # exact targets
    mass = mp.fsum(a)
    loss = mp.fsum(a[j] * (log1p_t - d[j]) for j in range(c) if a[j] != 0)
    grad, kappa, lost = [], [], 0.0
    for j in range(c):
        q = e[j] / (1 + t)
        if j == k:  # A q_k - a_k = (rest - a_k t) / (1 + t): the 1 - q_k is not formed
            rest = mp.fsum(a[i] for i in range(c) if i != k)
            g, scale = (rest - a[k] * t) / (1 + t), max(rest, a[k] * t) / (1 + t)
        else:
            g, scale = mass * q - a[j], max(mass * q, a[j])
        grad.append(g)
        lost = max(lost, _lost_digits(mp, g, scale))
        # a relative change δ in every target entry moves g_j by up to κ_j δ relative
        spread = (mass - a[j]) * q + a[j] * (1 - q)
        kappa.append(0.0 if spread == 0 else (np.inf if g == 0 else float(spread / abs(g))))
    return {"cross_entropy": [loss], "cross_entropy_grad": grad, "condition": kappa}, lost


def cross_entropy_options(z, target, weight=None, label_smoothing=0.0):
    """Exact cross-entropy, per sample, and its gradient (of the sum) under class weights and
    label smoothing, with the gradient's condition numbers in the target.

    The target of row ``n`` is ``a_c = w_c ((1 - ε) y_c + ε / C)`` (``y`` the one-hot row of a
    label, or a probability row), the loss ``sum_c a_c (log1p(t) - d_c)``, the gradient
    ``A q - a`` with ``A = sum_c a_c``, at the argmax ``(sum_{c != k} a_c - a_k t) / (1 + t)``.

    Parameters
    ----------
    z : 2-D array of floats
        Finite logits (``-inf`` for masked classes, at least one finite per row).
    target : 1-D int array or 2-D float array
        0-based labels, or probability rows of ``z``'s shape.
    weight : 1-D array of floats, optional
        One weight per class.
    label_smoothing : float, optional

    Returns
    -------
    dict
        ``cross_entropy`` (Exact, one per row), ``cross_entropy_grad`` (Exact, ``z``'s shape)
        and ``condition`` (float64, ``z``'s shape): ``κ_j = ((A - a_j) q_j + a_j (1 - q_j)) /
        |A q_j - a_j|``, the relative change of the gradient's entry per relative change of
        the target's entries (1 at a hard label's confident, correct argmax).

    Examples
    --------
    >>> from xentlib import reference
    >>> exact = reference.cross_entropy_options([[-2.85, 0.86, 0.28]], [2], label_smoothing=0.1)
    >>> round(float(exact["cross_entropy"].hi[0]), 6)
    1.125191
    """
    z = np.asarray(z)
    target = np.asarray(target)
    labelled = target.ndim == z.ndim - 1
    rows = []
    for n, row in enumerate(z):
        label, probs = (int(target[n]), None) if labelled else (None, target[n])
        rows.append(
            _with_enough_digits(
                lambda mp, row=row, label=label, probs=probs: _options_row(
                    mp, row, label, probs, weight, label_smoothing
                )
            )
        )
    loss = from_mpmath([r["cross_entropy"][0] for r in rows])
    grad = from_mpmath([r["cross_entropy_grad"] for r in rows])
    condition = np.array([r["condition"] for r in rows], dtype=np.float64)
    return {"cross_entropy": loss, "cross_entropy_grad": grad, "condition": condition}


def softmax_jacobian(z):
    """Exact Jacobian of the softmax of one row: ``J[i, j] = q_i (δ_ij - q_j)``.

    The diagonal's ``1 - q_i`` is ``sum_{j != i} e_j / sum_j e_j``, which does not cancel.

    Examples
    --------
    >>> from xentlib import reference
    >>> reference.softmax_jacobian([0.0, 0.0]).hi
    array([[ 0.25, -0.25],
           [-0.25,  0.25]])
    """
    z = np.asarray(z)
    if z.ndim != 1:
        raise ValueError(f"softmax_jacobian references one row of logits, got shape {z.shape}")

    def compute(mp):
        zs = [mp.mpf(float(v)) for v in z]
        m = max(zs)
        e = [mp.exp(v - m) for v in zs]
        total = mp.fsum(e)
        q = [v / total for v in e]
        others = [mp.fsum(e[j] for j in range(len(e)) if j != i) / total for i in range(len(e))]
        jac = [
            [q[i] * others[i] if i == j else -q[i] * q[j] for j in range(len(e))]
            for i in range(len(e))
        ]
        return jac, 0.0

    return from_mpmath(_with_enough_digits(compute))


# --- the sigmoid family ---------------------------------------------------------------------


def _elementwise(func, *arrays):
    """``func(mp, *floats) -> (mpf, lost_digits)`` over broadcast arrays, as an Exact."""
    arrays = np.broadcast_arrays(*(np.asarray(a) for a in arrays))
    shape = arrays[0].shape
    flat = [a.ravel() for a in arrays]

    def compute(mp):
        values, lost = [], 0.0
        for args in zip(*flat, strict=True):
            value, lost_here = func(mp, *(mp.mpf(float(a)) for a in args))
            values.append(value)
            lost = max(lost, lost_here)
        return values, lost

    exact = from_mpmath(_with_enough_digits(compute))
    return Exact(exact.hi.reshape(shape), exact.lo.reshape(shape))


def _sigmoid(mp, x):
    return 1 / (1 + mp.exp(-x)), 0.0


def _sigmoid_grad(mp, x):
    e = mp.exp(-abs(x))  # e / (1 + e)**2: sigma (1 - sigma) would cancel for large |x|
    return e / (1 + e) ** 2, 0.0


def _bce_with_logits(mp, x, y):
    # two non-negative terms (for targets in [0, 1])
    if x >= 0:
        return (1 - y) * x + mp.log1p(mp.exp(-x)), 0.0
    return -y * x + mp.log1p(mp.exp(x)), 0.0


def _bce_grad(mp, x, y):
    if x <= 0:  # sigma(x) <= 1/2
        s = 1 / (1 + mp.exp(-x))
        g, scale = s - y, max(s, abs(y))
    else:  # sigma(x) - y = (1 - y) - sigma(-x)
        s_minus = 1 / (1 + mp.exp(x))
        g, scale = (1 - y) - s_minus, max(abs(1 - y), s_minus)
    return g, _lost_digits(mp, g, scale)


def _bce(mp, q, y):
    terms = []
    if y != 0:
        terms.append(y * mp.log(q) if q > 0 else -mp.inf)
    if y != 1:
        terms.append((1 - y) * mp.log1p(-q) if q < 1 else -mp.inf)
    return -mp.fsum(terms), 0.0


def sigmoid(x):
    """Exact ``sigmoid(x) = 1 / (1 + exp(-x))``, elementwise.

    Examples
    --------
    >>> from xentlib import reference
    >>> float(reference.sigmoid(0.86).hi)
    0.7026606543447315
    """
    return _elementwise(_sigmoid, x)


def sigmoid_grad(x):
    """Exact ``sigmoid'(x) = e / (1 + e)**2`` with ``e = exp(-|x|)``, elementwise."""
    return _elementwise(_sigmoid_grad, x)


def binary_cross_entropy_with_logits(x, y):
    """Exact ``-y log sigmoid(x) - (1 - y) log sigmoid(-x)`` (``reduction='none'``).

    Computed as ``(1 - y) x + log1p(exp(-x))`` for ``x >= 0`` and ``-y x + log1p(exp(x))``
    below, two non-negative terms for targets in [0, 1].
    """
    return _elementwise(_bce_with_logits, x, y)


def binary_cross_entropy_grad(x, y):
    """Exact gradient of the summed binary cross-entropy with logits: ``sigmoid(x) - y``.

    Ill-conditioned where ``sigmoid(x)`` is close to a soft target ``y``; still exact to 20 digits.
    """
    return _elementwise(_bce_grad, x, y)


def binary_cross_entropy(q, y):
    """Exact ``-(y log q + (1 - y) log(1 - q))`` of probabilities (``reduction='none'``).

    ``0 log 0 = 0``; ``inf`` where ``q`` is 0 or 1 against the other label.
    """
    return _elementwise(_bce, q, y)


def sigmoid_family(x, y):
    """Exact ``sigmoid(x)`` and ``binary_cross_entropy_with_logits(x, y)``, as a dict of Exact."""
    return {
        "sigmoid": sigmoid(x),
        "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits(x, y),
    }


# --- the accuracy suite ----------------------------------------------------------------------


def _softmax_cases(dtype, rng, small):
    """``(name, z, labels)`` triples of (N, C) logits in ``dtype`` with 0-based labels."""
    info = np.finfo(dtype)
    n, c = (8, 16) if small else (32, 100)
    cases = []
    for scale in (1, 10, 100):
        z = rng.standard_normal((n, c)) * scale
        cases.append((f"random, scale {scale}", z))
    gaps = [5, 10, 17, 20, 30, 37, 50, 100, 1e3, 1e4]
    confident = []
    for g in gaps:
        for width in (2, 4, 10):
            row = -g + rng.uniform(-1e-3, 1e-3, width) * min(g, 1)
            row[0] = rng.uniform(-1, 1)
            confident.append(row)
    width = max(len(r) for r in confident)
    cases.append(
        (
            "confident, gaps to 1e4",
            np.array([np.pad(r, (0, width - len(r)), constant_values=-np.inf) for r in confident]),
        )
    )
    ties = np.array([[1.5, 1.5, 1.5, 1.5], [0.0, 0.0, -1.0, -2.0], [-3.0, 7.0, 7.0, 6.0]])
    cases.append(("ties", ties))
    offsets = [o for o in (1e3, -1e3, 1e10, -1e10, 1e30, -1e30) if abs(o) < float(info.max) / 2]
    cases.append(("offsets to 1e30", np.array([o + rng.standard_normal(c) * 10 for o in offsets])))
    big = float(info.max)
    cases.append(
        (
            "±finfo.max",
            np.array(
                [[big, big, 0.0], [big, 0.0, -big], [-big, -big, -big], [big, big * 0.5, 1.0]]
            ),
        )
    )
    tiny = float(info.smallest_subnormal)
    under = 0.9 * np.log(float(info.smallest_normal))  # probabilities in the subnormal range
    cases.append(
        (
            "subnormals",
            np.array(
                [
                    [tiny, 0.0, -tiny, 2 * tiny],
                    [float(info.smallest_normal), tiny, 0.0, 1.0],
                    [0.0, under, under * 1.05, under * 1.1],
                    [0.0, 1.0, under, 1.2 * under],
                ]
            ),
        )
    )
    masked = rng.standard_normal((n, c)) * 10
    masked[:, 1:][rng.random((n, c - 1)) < 0.5] = -np.inf  # column 0 stays finite
    cases.append(("-inf masks", masked))
    many = 2_000 if small else 100_000
    cases.append((f"{many} classes", rng.standard_normal((1, many)) * 10))
    out = []
    for name, z in cases:
        z = np.asarray(z).astype(dtype)
        k = np.argmax(z, axis=-1)
        other = rng.integers(0, z.shape[1], z.shape[0])
        other = np.where(np.isfinite(z[np.arange(z.shape[0]), other]), other, k)
        labels = np.where(np.arange(z.shape[0]) % 2 == 0, k, other)  # half confident-correct
        out.append((name, z, labels))
    return out


def _sigmoid_cases(dtype, rng, small):
    info = np.finfo(dtype)
    n = 200 if small else 2000
    x = np.concatenate(
        [
            rng.standard_normal(n) * 3,
            rng.standard_normal(n) * 40,
            np.array([-1e4, -1e3, -100.0, -20.0, 0.0, 20.0, 40.0, 100.0, 1e3, 1e4]),
            np.array([float(info.max), -float(info.max), float(info.smallest_subnormal), 1e-30]),
        ]
    ).astype(dtype)
    hard = (rng.random(x.shape) < 0.5).astype(dtype)
    soft = rng.random(x.shape).astype(dtype)
    return [("hard labels", x, hard), ("soft labels", x, soft)]


def suite(dtype, small=False, seed=0):
    """The accuracy suite and its exact answers: ``(softmax_cases, sigmoid_cases)``.

    Fixed by ``seed``, the same on every run, for float16, float32 or float64:

    - random logits at scales 1, 10 and 100;
    - confident rows ``[0, -g, -g, ...]`` (plus small noise) with gaps ``g`` up to 10**4, the label
      at the argmax: the case where the max-shift form loses every digit;
    - ties (equal maxima), offsets up to 1e30 in both signs (those within the format's range),
      ``±finfo.max``, subnormal logits and rows whose probabilities underflow into the
      subnormals, ``-inf`` masks, and one row of 10**5 classes (2000 when ``small``);
    - for the sigmoid family: values from -10**4 to 10**4 and the extremes above, with hard (0/1)
      and soft (uniform) labels.

    Half the labels are the argmax (confident and correct), the others random.

    Returns
    -------
    softmax_cases : list of ``(name, z, labels, exact)``
        ``z`` an (N, C) array in ``dtype``, ``labels`` 0-based, ``exact`` a dict from
        :func:`softmax_batch` (``log_softmax``, ``softmax``, ``logsumexp``, ``cross_entropy``,
        ``cross_entropy_grad``).
    sigmoid_cases : list of ``(name, x, y, exact)``
        ``name`` is ``'hard labels'`` or ``'soft labels'``; ``exact`` a dict with ``sigmoid``,
        ``sigmoid_grad``, ``binary_cross_entropy_with_logits`` and ``binary_cross_entropy_grad``.
    """
    rng = np.random.default_rng(seed)
    softmax_cases = [
        (name, z, labels, softmax_batch(z, labels))
        for name, z, labels in _softmax_cases(dtype, rng, small)
    ]
    sigmoid_cases = [
        (
            name,
            x,
            y,
            {
                **sigmoid_family(x, y),
                "sigmoid_grad": sigmoid_grad(x),
                "binary_cross_entropy_grad": binary_cross_entropy_grad(x, y),
            },
        )
        for name, x, y in _sigmoid_cases(dtype, rng, small)
    ]
    return softmax_cases, sigmoid_cases


# --- condition numbers ----------------------------------------------------------------------


def logsumexp_condition(z):
    """Relative condition number of ``logsumexp`` along the last axis.

    ``κ = sum_j |z_j| q_j / |logsumexp(z)|`` with ``q = softmax(z)``: a relative change δ in
    every ``z_j`` moves the result by up to ``κ δ`` relative. Near ``logsumexp(z) = 0`` (for
    instance ``[-ln 2, -ln 2]``) κ is large, and a backward-stable float64 result may be off by
    about ``κ`` ulp.

    Examples
    --------
    >>> import numpy as np
    >>> from xentlib import reference
    >>> float(reference.logsumexp_condition([0.0, 0.0]))
    0.0
    >>> float(reference.logsumexp_condition([-1.0, -1.0]))  # -1 + ln 2: |z| q sums to 1
    3.258891353270929
    >>> bool(reference.logsumexp_condition(np.float32([-np.log(2), -np.log(2)])) > 1e8)
    True
    """
    z = np.asarray(z)
    lse = logsumexp(z)
    q = softmax(z)
    mp = _mpmath()
    rows = z.reshape(-1, z.shape[-1])
    lse_values = (lse.hi + lse.lo).reshape(-1)  # |lse| to double precision is enough for κ
    q_values = (q.hi + q.lo).reshape(rows.shape)
    kappa = []
    with mp.workdps(DIGITS):
        for row, row_q, value in zip(rows, q_values, lse_values, strict=True):
            weight = mp.fsum(
                abs(mp.mpf(float(v))) * mp.mpf(float(p))
                for v, p in zip(row, row_q, strict=True)
                if p != 0
            )
            if weight == 0:  # every weighted logit is 0: the result does not move
                kappa.append(0.0)
            else:
                kappa.append(np.inf if value == 0 else float(weight / abs(mp.mpf(value))))
    return np.array(kappa).reshape(z.shape[:-1])[()]


def cross_entropy_grad_condition(z, probs):
    """Relative condition number of ``softmax(z) - y`` in the probability target ``y``.

    ``κ_j = |y_j| / |q_j - y_j|`` (0 where ``y_j = 0``): a relative change δ in ``y_j`` moves the
    gradient's entry by ``κ_j δ`` relative, so where ``q ≈ y`` even an exactly rounded ``y``
    leaves about ``κ_j`` ulp of doubt in ``q_j - y_j``.

    Examples
    --------
    >>> from xentlib import reference
    >>> reference.cross_entropy_grad_condition([0.0, 0.0], [0.25, 0.75])
    array([1., 3.])
    """
    y = np.asarray(probs, dtype=np.float64)
    grad = cross_entropy_grad(z, np.asarray(probs))
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.abs(y) / np.abs(grad.hi)
    return np.where(y == 0, 0.0, kappa)
