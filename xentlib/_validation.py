"""Every input check of xentlib, in one module.

Each public function hands its arguments to one function here before any arithmetic. A check that
fails raises an error that names the function and the argument, shows the offending value and
states the rule; numpy's own errors never reach the caller.
"""

import math

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

REDUCTIONS = ("mean", "sum", "none")


def show(value, limit=60):
    """A short, one-line rendering of ``value`` for error messages."""
    try:
        if value is None or isinstance(value, str):
            raise TypeError
        text = np.array2string(np.asarray(value), threshold=8, edgeitems=2, separator=", ")
    except (TypeError, ValueError):  # None, a string, a ragged nested list
        text = repr(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_array(x, name, func):
    """``np.asarray(x)``, refusing what numpy would take apart or reject in its own words."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{func}: {name} is a masked array, whose mask xentlib would not see; pass a plain "
            f"array (for logits, fill the masked entries with -inf: z.filled(-np.inf)), "
            f"got {show(x)}"
        )
    if x is None:
        raise TypeError(f"{func}: {name} must be an array of numbers, got None")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError, OverflowError) as exc:  # ragged nested lists, for instance
        raise TypeError(
            f"{func}: {name} must be an array of numbers, with rows of one length, "
            f"got {show(x)} ({exc})"
        ) from None
    if not arr.dtype.isnative:  # big-endian data on a little-endian machine: native results
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def as_float_array(x, name, func):
    """``x`` as a float array: floats keep their dtype, integers and bools become float64."""
    arr = _as_array(x, name, func)
    if np.isdtype(arr.dtype, "real floating"):
        return arr
    if np.isdtype(arr.dtype, ("bool", "integral")):
        return arr.astype(np.float64)
    raise TypeError(
        f"{func}: {name} must be real numbers (int or float), got dtype {arr.dtype} "
        f"with value {show(arr)}"
    )


def as_labels(labels, num_classes, func, name="target"):
    """``labels`` as an integer array whose entries lie in ``0 .. num_classes - 1``."""
    arr = _as_array(labels, name, func)
    if arr.size == 0 and np.isdtype(arr.dtype, "real floating"):  # numpy reads [] as float64
        arr = arr.astype(np.intp)
    if not np.isdtype(arr.dtype, "integral"):
        raise TypeError(
            f"{func}: {name} holds class labels, which must be integers (0-based), "
            f"got dtype {arr.dtype} with value {show(arr)}"
        )
    if arr.size:
        flat = arr.reshape(-1)
        low, high = np.minimum.reduce(flat), np.maximum.reduce(flat)
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(
                f"{func}: label {bad} in {name} is out of range for {num_classes} classes "
                f"(labels are 0-based: 0..{num_classes - 1})"
            )
    return arr


def check_num_classes(num_classes, func):
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"{func}: num_classes must be an int, got {num_classes!r}")
    if num_classes < 1:
        raise ValueError(f"{func}: num_classes must be at least 1, got {num_classes}")
    return int(num_classes)


def check_result_size(shape, func, name):
    """An output of ``shape`` (float64) must be one numpy can index: its bytes fit in an intp."""
    if math.prod(shape) > np.iinfo(np.intp).max // 8:
        raise ValueError(
            f"{func}: {name} gives an output of shape {shape}, "
            f"{math.prod(shape)} entries: more than an array can hold"
        )


def check_keepdims(keepdims, func):
    if not isinstance(keepdims, (bool, np.bool_)):
        raise TypeError(f"{func}: keepdims must be True or False, got {keepdims!r}")
    return bool(keepdims)


def check_axis(axis, arr, name, func):
    """``axis`` normalised to a non-negative index into ``arr``'s dimensions."""
    if arr.ndim == 0:
        raise ValueError(
            f"{func}: {name} must have at least 1 dimension, got the scalar {show(arr)}"
        )
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{func}: axis must be an int, got {axis!r}")
    if not -arr.ndim <= axis < arr.ndim:
        raise ValueError(
            f"{func}: axis {axis} is out of range for {name} with {arr.ndim} dimension(s) "
            f"(valid: {-arr.ndim}..{arr.ndim - 1})"
        )
    index = normalize_axis_index(int(axis), arr.ndim)
    if arr.shape[index] == 0:
        raise ValueError(
            f"{func}: {name} must have at least one entry along axis {axis}, got shape {arr.shape}"
        )
    return index


def check_reduction(reduction, func):
    if not isinstance(reduction, str) or reduction not in REDUCTIONS:
        raise ValueError(
            f"{func}: reduction must be one of 'mean', 'sum', 'none', got {reduction!r}"
        )


def check_mean_not_empty(reduction, size, func):
    """A mean needs at least one sample."""
    if reduction == "mean" and size == 0:
        raise ValueError(f"{func}: reduction='mean' of an empty batch (N = 0) is undefined")


def check_unit_interval(arr, name, func):
    """Every entry of ``arr`` lies in [0, 1] (NaN passes: it propagates, as documented)."""
    outside = (arr < 0) | (arr > 1)
    if np.any(outside):
        bad = arr[outside].flat[0]
        raise ValueError(f"{func}: {name} must lie in [0, 1], got {float(bad)!r} in {show(arr)}")


def check_same_shape(a, b, name_a, name_b, func):
    if a.shape != b.shape:
        raise ValueError(
            f"{func}: {name_b} must have the same shape as {name_a}, "
            f"got {name_a} {a.shape} and {name_b} {b.shape}"
        )


def check_probabilities(target, func, name="target"):
    """Rows of ``target`` (last axis) are probability vectors: non-negative and summing to 1.

    Checked in the target's own precision: the sum may miss 1 by ``sqrt(eps)`` of its dtype
    (1.5e-8 for float64, 3.5e-4 for float32), enough for soft labels written with a few
    decimals (or rounded to float32), too little for unnormalised rows.
    """
    if np.any(target < 0):
        bad = target[target < 0].flat[0]
        raise ValueError(
            f"{func}: probability {name} must be non-negative, got {float(bad)!r} in {show(target)}"
        )
    sums = target.sum(axis=-1)
    tol = np.sqrt(np.finfo(target.dtype).eps)
    off = np.abs(sums - 1) > tol
    if np.any(off):
        bad = sums[off].flat[0]
        raise ValueError(
            f"{func}: each row of probability {name} must sum to 1 (within {tol:.1e}), "
            f"got a row summing to {float(bad)!r} in {show(target)}"
        )


# --- the arguments of each family of public functions ---------------------------------------


def logits_along(z, axis, func):
    """``(z, axis)`` for the softmax family: ``z`` a float array, ``axis`` a valid index."""
    z = as_float_array(z, "z", func)
    return z, check_axis(axis, z, "z", func)


def logit_vector(z, func):
    """A non-empty 1-D float vector of logits (``softmax_jacobian``)."""
    z = as_float_array(z, "z", func)
    if z.ndim != 1 or z.size == 0:
        raise ValueError(
            f"{func}: z must be a non-empty 1-D vector of logits, got shape {z.shape}: {show(z)}"
        )
    return z


def cross_entropy_args(z, target, reduction, func):
    """Validate ``(z, target, reduction)`` for the multi-class losses.

    Returns ``(z, labels, probs)`` with ``z`` a float array of shape ``(C,)`` or ``(N, C)`` and
    exactly one of ``labels`` (integers, shape ``z.shape[:-1]``) or ``probs`` (``z``'s shape,
    in its own floating dtype, checked in that precision) set.
    """
    check_reduction(reduction, func)
    z = as_float_array(z, "z", func)
    if z.ndim not in (1, 2):
        raise ValueError(
            f"{func}: logits z must have shape (C,) or (N, C), got {z.ndim}-d shape {z.shape}: "
            f"{show(z)}"
        )
    num_classes = z.shape[-1]
    if num_classes == 0:
        raise ValueError(f"{func}: logits z must have at least one class, got shape {z.shape}")
    check_mean_not_empty(reduction, len(z), func)  # len(z) is N, or C >= 1 for one sample
    if target is None:
        raise TypeError(
            f"{func}: target must be 0-based integer labels of shape {z.shape[:-1]} or "
            f"probabilities of shape {z.shape} (the shape of z), got None"
        )
    target = _as_array(target, "target", func)
    if target.shape == z.shape[:-1]:
        return z, as_labels(target, num_classes, func), None
    if target.shape == z.shape:
        probs = as_float_array(target, "target", func)
        check_probabilities(probs, func)
        return z, None, probs
    raise ValueError(
        f"{func}: target must be 0-based integer labels of shape {z.shape[:-1]} or "
        f"probabilities of shape {z.shape} (the shape of z), got shape {target.shape}"
    )


def binary_args(a, y, reduction, name_a, func):
    """Validate ``(a, y, reduction)`` for the binary losses: same shapes, ``y`` in [0, 1].

    ``y`` keeps its own floating dtype (the computation promotes it), so that it is never
    rounded, or overflows, before it is checked.
    """
    check_reduction(reduction, func)
    a = as_float_array(a, name_a, func)
    y = as_float_array(y, "y", func)
    check_same_shape(a, y, name_a, "y", func)
    check_unit_interval(y, "targets y", func)
    check_mean_not_empty(reduction, a.size, func)
    return a, y
