"""Central differences: the independent check of every gradient in the book."""

import numpy as np

from ._validation import as_float_array


def numerical_gradient(f, x, eps=1e-6):
    r"""The gradient of a scalar function ``f`` at ``x`` by central differences.

    .. math:: \frac{\partial f}{\partial x_i} \approx
              \frac{f(x + h_i e_i) - f(x - h_i e_i)}{(x_i + h_i) - (x_i - h_i)},
              \qquad h_i = \varepsilon \max(1, |x_i|)

    The step grows with :math:`|x_i|` (a fixed step is lost in rounding at large :math:`x_i`),
    and the quotient divides by the step actually taken, :math:`(x_i + h_i) - (x_i - h_i)`,
    not by :math:`2 h_i`, which rounding may have changed.

    Parameters
    ----------
    f : callable
        Takes an array shaped like ``x`` and returns a real scalar.
    x : array_like
        The point, any shape; computed in float64 whatever its dtype (float32 steps are too
        coarse for a useful check).
    eps : float, optional
        The relative step :math:`\varepsilon`, at least float64's machine epsilon
        (:math:`2.2 \times 10^{-16}`; a smaller step is lost in rounding). The truncation error
        is :math:`O(\varepsilon^2)` and the rounding error :math:`O(u / \varepsilon)`; ``1e-6``
        balances them for float64 functions of moderate curvature (about 10 correct digits).

    Returns
    -------
    ndarray of float64
        Same shape as ``x``. ``x`` itself is not modified. Where ``f`` returns NaN or inf on
        either side of a step, that entry is NaN or inf.

    Raises
    ------
    TypeError
        ``f`` is not callable, or ``x`` is not numeric.
    ValueError
        ``eps`` is not a finite number of at least 2.2e-16, ``x_i +- h`` is not finite (an
        infinite ``x_i``, or one within ``h`` of the largest float), or ``f`` does not return a
        real scalar.

    Examples
    --------
    >>> from xentlib import cross_entropy, numerical_gradient
    >>> g = numerical_gradient(lambda z: cross_entropy(z, 2), [-2.85, 0.86, 0.28])
    >>> g.round(5)
    array([ 0.01545,  0.63116, -0.64661])
    """
    if not callable(f):
        raise TypeError(f"numerical_gradient: f must be callable, got {f!r}")
    real = isinstance(eps, (int, float, np.integer, np.floating)) and not isinstance(eps, bool)
    smallest = np.finfo(np.float64).eps
    if not real or not np.isfinite(eps) or not eps >= smallest:
        raise ValueError(
            f"numerical_gradient: eps must be a finite number of at least {smallest:.3g} "
            f"(float64's machine epsilon; a smaller relative step is lost in rounding), "
            f"got {eps!r}"
        )
    x = np.array(as_float_array(x, "x", "numerical_gradient"), dtype=np.float64)  # a copy
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        original = float(x[i])  # Python floats: no warning where x +- h is not finite
        step = eps * max(1.0, abs(original))
        above, below = original + step, original - step
        if not np.isfinite(above - below):  # x_i infinite, or x_i + h beyond the largest float
            raise ValueError(
                f"numerical_gradient: x{list(i)} = {original!r} leaves no finite step "
                f"(x + h = {above!r}, x - h = {below!r}); central differences need finite "
                f"x +- h"
            )
        x[i] = above
        f_plus = _scalar(f(x))
        x[i] = below
        f_minus = _scalar(f(x))
        x[i] = original
        grad[i] = (f_plus - f_minus) / (above - below)  # the step actually taken
    return grad


def _scalar(value):
    arr = np.asarray(value)
    if arr.shape != () or not np.isdtype(arr.dtype, ("bool", "integral", "real floating")):
        raise ValueError(
            f"numerical_gradient: f must return a real scalar, got {type(value).__name__} "
            f"of shape {arr.shape}"
        )
    return float(arr)
