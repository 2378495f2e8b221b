"""Every input check of xentlib, in one module.

Each public function hands its arguments to one function here before any arithmetic. A check that
fails raises an error that names the function and the argument, shows the offending value and
states the rule; numpy's own errors never reach the caller.
"""

import math
from typing import NamedTuple

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


def as_labels(labels, num_classes, func, name="target", ignore_index=None):
    """``labels`` as an integer array whose entries lie in ``0 .. num_classes - 1``, except
    those equal to ``ignore_index`` (an int or None), which may be anything."""
    arr = _as_array(labels, name, func)
    if arr.size == 0 and np.isdtype(arr.dtype, "real floating"):  # numpy reads [] as float64
        arr = arr.astype(np.intp)
    if not np.isdtype(arr.dtype, "integral"):
        raise TypeError(
            f"{func}: {name} holds class labels, which must be integers (0-based), "
            f"got dtype {arr.dtype} with value {show(arr)}"
        )
    flat = arr.ravel()
    if ignore_index is not None:
        flat = flat[flat != ignore_index]
    if flat.size:
        low, high = np.minimum.reduce(flat), np.maximum.reduce(flat)
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            ignored = "" if ignore_index is None else f"; ignore_index is {ignore_index}"
            raise ValueError(
                f"{func}: label {bad} in {name} is out of range for {num_classes} classes "
                f"(labels are 0-based: 0..{num_classes - 1}{ignored})"
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


def check_axes(axis, arr, name, func):
    """``axis`` (an int, a tuple of ints, or None for all) as a sorted tuple of indices."""
    if axis is None:
        if arr.ndim == 0:
            check_axis(0, arr, name, func)  # refuses the scalar
        axis = tuple(range(arr.ndim))
    if not isinstance(axis, tuple):
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(
                f"{func}: axis must be an int, got {axis!r} (or a tuple of ints, or None)"
            )
        return (check_axis(axis, arr, name, func),)
    if not axis:
        raise ValueError(f"{func}: axis=() names no axis; give an int, a tuple of ints or None")
    indices = []
    for a in axis:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{func}: each axis in a tuple must be an int, got {a!r} in {axis!r}")
        if arr.ndim == 0 or not -arr.ndim <= a < arr.ndim:
            check_axis(a, arr, name, func)  # the message for an axis out of range
        indices.append(normalize_axis_index(int(a), arr.ndim))
    if len(set(indices)) != len(indices):
        raise ValueError(f"{func}: axis {axis!r} names an axis twice ({arr.ndim}-d {name})")
    indices = tuple(sorted(indices))
    if math.prod(arr.shape[i] for i in indices) == 0:
        raise ValueError(
            f"{func}: {name} must have at least one entry along axis {axis!r}, "
            f"got shape {arr.shape}"
        )
    return indices


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
    """``(z, axes)`` for the softmax family: ``z`` a float array, ``axes`` a sorted tuple of
    valid indices (``axis`` an int, a tuple of ints, or None for every axis)."""
    z = as_float_array(z, "z", func)
    return z, check_axes(axis, z, "z", func)


def logit_vector(z, func):
    """A non-empty 1-D float vector of logits (``softmax_jacobian``)."""
    z = as_float_array(z, "z", func)
    if z.ndim != 1 or z.size == 0:
        raise ValueError(
            f"{func}: z must be a non-empty 1-D vector of logits, got shape {z.shape}: {show(z)}"
        )
    return z


class Options(NamedTuple):
    """The options of cross-entropy, checked: ``weight`` (float array of shape ``(C,)``, or
    None), ``ignored`` (boolean mask of the samples whose label is ``ignore_index``, or None)
    and ``smoothing`` (a float in [0, 1])."""

    weight: np.ndarray | None
    ignored: np.ndarray | None
    smoothing: float


def cross_entropy_args(
    z, target, reduction, func, weight=None, ignore_index=None, label_smoothing=0.0
):
    """Validate ``(z, target, reduction)`` and the options of the multi-class losses.

    Returns ``(z, labels, probs, options)`` with ``z`` a float array of shape ``(C,)`` or
    ``(N, C)`` and exactly one of ``labels`` (integers, shape ``z.shape[:-1]``) or ``probs``
    (``z``'s shape, in its own floating dtype, checked in that precision) set. ``options`` is
    None for the plain loss (no weight, no ignore_index, no smoothing), else :class:`Options`;
    the labels of ignored samples are then replaced by 0, a valid index.
    """
    labels = _plain_labels(z, target, reduction, weight, ignore_index, label_smoothing)
    if labels is not None:
        return z, labels, None, None
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
    weight = class_weight(weight, num_classes, func)
    ignore_index = check_ignore_index(ignore_index, func)
    smoothing = check_smoothing(label_smoothing, func)
    if target is None:
        raise TypeError(
            f"{func}: target must be 0-based integer labels of shape {z.shape[:-1]} or "
            f"probabilities of shape {z.shape} (the shape of z), got None"
        )
    target = _as_array(target, "target", func)
    if target.shape == z.shape[:-1]:
        labels, probs = as_labels(target, num_classes, func, ignore_index=ignore_index), None
    elif target.shape == z.shape:
        if ignore_index is not None:
            raise ValueError(
                f"{func}: ignore_index={ignore_index} applies to integer labels only, and "
                f"target holds probabilities (shape {target.shape}, the shape of z); to leave "
                f"a sample out, give it weight 0 or drop its row"
            )
        labels, probs = None, as_float_array(target, "target", func)
        check_probabilities(probs, func)
    else:
        raise ValueError(
            f"{func}: target must be 0-based integer labels of shape {z.shape[:-1]} or "
            f"probabilities of shape {z.shape} (the shape of z), got shape {target.shape}"
        )
    if weight is None and ignore_index is None and smoothing == 0:
        return z, labels, probs, None
    ignored = None
    if ignore_index is not None:
        ignored = labels == ignore_index
        labels = np.where(ignored, 0, labels)
    return z, labels, probs, Options(weight, ignored, smoothing)


_PLAIN_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _plain_labels(z, target, reduction, weight, ignore_index, label_smoothing):
    """The labels of the commonest call, accepted at a glance, else None.

    A float32 or float64 array of logits, of shape ``(C,)`` with an int label or ``(N, C)``
    with an integer array of ``N`` labels in range, and no option: the checks below would pass
    it unchanged, and for a small batch they would take longer than the arithmetic. Anything
    else (None here) goes through them, and any fault gets their error.
    """
    if not (
        type(z) is np.ndarray
        and z.dtype in _PLAIN_DTYPES
        and z.size
        and type(reduction) is str
        and reduction in REDUCTIONS
        and weight is None
        and ignore_index is None
        and type(label_smoothing) in (int, float)
        and label_smoothing == 0
    ):
        return None
    num_classes = z.shape[-1]
    if z.ndim == 1:
        if type(target) is int and 0 <= target < num_classes:
            return np.asarray(target)
        return None
    if (
        z.ndim == 2
        and type(target) is np.ndarray
        and target.dtype.kind in "iu"
        and target.dtype.isnative
        and target.shape == z.shape[:1]
        # 0 <= label < C in one pass: read as unsigned, a negative label of b bits is at least
        # 2**(b - 1), which C does not exceed here
        and num_classes <= 1 << (8 * target.itemsize - 1)
        and np.maximum.reduce(target.view(target.dtype.str.replace("i", "u"))) < num_classes
    ):
        return target
    return None


def class_weight(weight, num_classes, func):
    """One finite, non-negative weight per class, or None."""
    if weight is None:
        return None
    weight = as_float_array(weight, "weight", func)
    if weight.shape != (num_classes,):
        raise ValueError(
            f"{func}: weight must hold one weight per class, shape ({num_classes},), "
            f"got shape {weight.shape}: {show(weight)}"
        )
    check_finite_nonnegative(weight, "class weights", "weight ", func)
    return weight


def check_finite_nonnegative(value, what, where, func):
    """Every entry of the weights ``value`` is finite and at least 0 (NaN fails too)."""
    bad = ~(np.isfinite(value) & (value >= 0))
    if bad.any():
        raise ValueError(
            f"{func}: {what} must be finite and non-negative, got "
            f"{float(value[bad].flat[0])!r} in {where}{show(value)}"
        )


def check_ignore_index(ignore_index, func):
    if ignore_index is None:
        return None
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(
            f"{func}: ignore_index must be an int (a label to leave out) or None, "
            f"got {ignore_index!r}"
        )
    return int(ignore_index)


def check_smoothing(label_smoothing, func):
    """The label smoothing ``ε`` as a float in [0, 1]."""
    if isinstance(label_smoothing, bool) or not isinstance(
        label_smoothing, (int, float, np.integer, np.floating)
    ):
        raise TypeError(
            f"{func}: label_smoothing must be a real number in [0, 1], got {label_smoothing!r}"
        )
    if not 0 <= label_smoothing <= 1:  # NaN fails too
        raise ValueError(
            f"{func}: label_smoothing must lie in [0, 1] (the share of the target spread "
            f"evenly over the classes), got {float(label_smoothing)!r}"
        )
    return float(label_smoothing)


def check_mean_denominator(reduction, denominator, options, func):
    """A weighted mean over labels divides by the samples' total weight: it must not be 0."""
    if reduction != "mean" or denominator != 0:
        return
    if options.ignored is not None and options.ignored.all():
        why = "every sample's label is ignore_index"
    else:
        why = "every sample that is not ignored has a class of weight 0"
    raise ValueError(
        f"{func}: reduction='mean' divides by the total weight of the samples that are not "
        f"ignored, which is 0 here ({why}); use reduction='sum' for a loss of 0"
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


def binary_weights(weight, pos_weight, z, func):
    """``(weight, pos_weight)`` of the binary losses, each finite, non-negative and broadcast
    to ``z``'s shape (``pos_weight`` typically one per class, the last axis); 1.0 if None."""
    out = []
    for name, value in (("weight", weight), ("pos_weight", pos_weight)):
        if value is None:
            out.append(1.0)
            continue
        value = as_float_array(value, name, func)
        try:
            broadcast = np.broadcast_shapes(value.shape, z.shape) == z.shape
        except ValueError:
            broadcast = False
        if not broadcast:
            along = " (one per class: the last axis)" if name == "pos_weight" else ""
            raise ValueError(
                f"{func}: {name} must broadcast against z's shape {z.shape}{along}, "
                f"got shape {value.shape}: {show(value)}"
            )
        check_finite_nonnegative(value, name, "", func)
        out.append(value)
    return tuple(out)
