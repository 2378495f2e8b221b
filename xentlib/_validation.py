"""Input checks shared by every public function.

Every check runs before any arithmetic and raises an error that names the function and the
argument, shows the offending value and states the rule.
"""

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

REDUCTIONS = ("mean", "sum", "none")


def show(value, limit=60):
    """A short, one-line rendering of ``value`` for error messages."""
    text = np.array2string(np.asarray(value), threshold=8, edgeitems=2, separator=", ")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_float_array(x, name, func):
    """``x`` as a float array: floats keep their dtype, integers and bools become float64."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged nested lists, for instance
        raise TypeError(f"{func}: {name} must be an array of numbers, got {x!r} ({exc})") from None
    if np.isdtype(arr.dtype, "real floating"):
        return arr
    if np.isdtype(arr.dtype, ("bool", "integral")):
        return np.asarray(arr, dtype=np.float64)
    raise TypeError(
        f"{func}: {name} must be real numbers (int or float), got dtype {arr.dtype} "
        f"with value {show(arr)}"
    )


def as_labels(labels, num_classes, func, name="target"):
    """``labels`` as an integer array whose entries lie in ``0 .. num_classes - 1``."""
    arr = np.asarray(labels)
    if arr.size == 0 and np.isdtype(arr.dtype, "real floating"):  # numpy reads [] as float64
        arr = np.asarray(arr, dtype=np.intp)
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


def check_axis(axis, arr, name, func):
    """``axis`` normalised to a non-negative index into ``arr``'s dimensions."""
    if arr.ndim == 0:
        raise ValueError(
            f"{func}: {name} must have at least 1 dimension, got the scalar {show(arr)}"
        )
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{func}: axis must be an int, got {axis!r}")
    try:
        index = normalize_axis_index(int(axis), arr.ndim)
    except np.exceptions.AxisError:
        raise ValueError(
            f"{func}: axis {axis} is out of range for {name} with {arr.ndim} dimension(s) "
            f"(valid: {-arr.ndim}..{arr.ndim - 1})"
        ) from None
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

    The sum is allowed to miss 1 by ``sqrt(eps)`` of the dtype (1.5e-8 for float64, 3.5e-4 for
    float32), enough for soft labels written with a few decimals, too little for unnormalised rows.
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
