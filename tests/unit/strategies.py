"""Hypothesis strategies for logits, labels and probability targets."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_CLASSES = 8
MAX_BATCH = 5


def reals(bound=50.0):
    """Finite float64 values in [-bound, bound] (no NaN, no inf)."""
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False)


def vectors(bound=50.0, min_size=1, max_size=MAX_CLASSES):
    """1-D float64 arrays of finite values."""
    return hnp.arrays(np.float64, st.integers(min_size, max_size), elements=reals(bound))


def matrices(bound=50.0, min_classes=1):
    """``(N, C)`` float64 arrays of finite logits."""
    shapes = st.tuples(st.integers(1, MAX_BATCH), st.integers(min_classes, MAX_CLASSES))
    return hnp.arrays(np.float64, shapes, elements=reals(bound))


def logits(bound=50.0, min_classes=1):
    """Logits of shape ``(C,)`` or ``(N, C)``."""
    return st.one_of(vectors(bound, min_size=min_classes), matrices(bound, min_classes))


@st.composite
def logits_and_labels(draw, bound=50.0):
    """``(z, labels)``: logits ``(C,)`` with a scalar label or ``(N, C)`` with ``N`` labels."""
    z = draw(logits(bound))
    num_classes = z.shape[-1]
    labels = draw(hnp.arrays(np.int64, z.shape[:-1], elements=st.integers(0, num_classes - 1)))
    return z, labels


@st.composite
def logits_and_probabilities(draw, bound=50.0):
    """``(z, probs)``: logits and soft targets of the same shape, each row summing to 1."""
    z = draw(logits(bound))
    weights = draw(hnp.arrays(np.float64, z.shape, elements=st.floats(0.0, 1.0)))
    weights[..., 0] += 1e-3  # no all-zero row
    return z, weights / weights.sum(axis=-1, keepdims=True)


@st.composite
def logits_and_binary_targets(draw, bound=50.0):
    """``(z, y)``: logits of any small shape and targets in [0, 1] of the same shape."""
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=5))
    z = draw(hnp.arrays(np.float64, shape, elements=reals(bound)))
    y = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    return z, y
