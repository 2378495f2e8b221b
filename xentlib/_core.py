"""The numerical core: where every softmax-family result and every loss is actually computed.

The public functions in ``activations`` and ``losses`` validate their input and call these.
Accuracy and speed work belongs here, and only here. Two routes, one algebra:

- ``shifted`` is the general route (any axis, any row): subtract the row maximum, exponentiate,
  sum the *other* terms. It is exact to a few ulp for every finite input (chapter "The last
  digit").
- ``ce_hard_labels`` is the fast route for the training step, cross-entropy of a batch of logits
  against integer labels: no shift at all for rows where it is provably unnecessary, blocks of
  rows that fit in cache, no full-size temporaries, and the blocks shared among threads. Rows it
  cannot prove safe go through ``shifted``.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Rows of a block of the fast route: about this many logits. A float32 block and its gradient
# fill the L2 cache (2 MiB per core on the benchmark machine); blocks of 1/4 to 4 times this
# size were measured, in float32 and float64: smaller ones pay more per-block overhead (a dozen
# numpy calls), larger ones spill out of the cache.
BLOCK_SIZE = 1 << 18

# Batches of at least this many logits are shared among threads. Handing work to a thread and
# taking turns at the GIL cost more than they save below it: two threads took 1.8 times the time
# of one at 2**16 float32 logits (1024 x 64), 1.5 times at 2**17, 0.8 times at 2**18.
PARALLEL_MIN_SIZE = 1 << 18


def threads():
    """How many threads the fast route uses: ``XENTLIB_NUM_THREADS``, else every usable CPU.

    The same default as PyTorch's and OpenBLAS's; set ``XENTLIB_NUM_THREADS=1`` where processes
    already fill the machine (one per core, say).
    """
    setting = os.environ.get("XENTLIB_NUM_THREADS", "")
    if setting.strip():
        try:
            count = int(setting)
        except ValueError:
            count = 0
        if count < 1:
            raise ValueError(f"XENTLIB_NUM_THREADS must be a positive integer, got {setting!r}")
        return count
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


_pool, _pool_size = None, 0
_pool_lock = threading.Lock()


def _forget_pool():
    """After ``fork`` the child has none of the parent's threads: start a new pool there."""
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _share(run, starts, workers):
    """``run(starts)`` in this thread and ``workers - 1`` others, all drawing on one iterator.

    Each thread takes the next block start as soon as it is free, so a thread that is slow to
    wake, or is descheduled, leaves its share to the others instead of making them wait; a
    task that no thread has picked up by the end is cancelled. The threads come from a pool
    kept between calls (here starting and joining a thread took ~115 µs, a task handed to a
    waiting one ~55 µs) and run under this thread's numpy error state (``np.errstate`` is per
    thread).
    """
    starts = list(starts)
    workers = min(workers, len(starts))
    if workers <= 1:
        run(starts)
        return
    queue, lock = iter(starts), threading.Lock()

    def claimed():  # this thread's next starts: each start goes to exactly one thread
        while True:
            with lock:
                start = next(queue, None)
            if start is None:
                return
            yield start

    state = np.geterr()

    def run_with_state():
        with np.errstate(**state):
            run(claimed())

    global _pool, _pool_size
    with _pool_lock:  # submitted under the lock: no other call can replace the pool meanwhile
        if _pool_size < workers - 1:
            if _pool is not None:
                _pool.shutdown(wait=False)  # its queued work still runs
            _pool, _pool_size = ThreadPoolExecutor(workers - 1, "xentlib"), workers - 1
        futures = [_pool.submit(run_with_state) for _ in range(workers - 1)]
    run(claimed())
    for future in futures:
        if not future.cancel():
            future.result()


def working_dtype(dtype):
    """The precision the general route computes in: float64, or the input's if it is wider.

    numpy's float32 ``exp`` and ``log1p`` are accurate to about 2 ulp; computed in float64 and
    rounded once, a float32 result is within about 1 ulp.
    """
    return np.promote_types(dtype, np.float64)


def _difference_and_error(a, b):
    """``a - b`` rounded, and its rounding error: ``a - b == hi + lo`` exactly (Knuth's TwoSum).

    Where the difference is infinite or NaN the error is set to 0.
    """
    hi = a - b
    a_part = hi + b
    b_part = a_part - hi
    lo = (a - a_part) + (b_part - b)
    lo[~np.isfinite(lo)] = 0
    return hi, lo


def shifted(z, axis):
    """The pieces every softmax-family function is built from, computed once.

    Returns ``(m, d, e, t)`` along ``axis`` (kept as a length-1 axis for ``m`` and ``t``), in
    ``z``'s dtype:

    - ``m``: the row maximum (first occurrence), ``k`` its index;
    - ``d = z - m``, all <= 0 and exactly 0 at ``k``;
    - ``e = exp(z - m)``, exactly 1 at ``k``;
    - ``t``: the sum of ``e`` *without* the term at ``k``.

    Why ``t`` and not ``s = sum(e) = 1 + t``: for a confident row ``t`` is tiny, and rounding
    ``1 + t`` throws away its digits; ``log(s)`` and ``1/s - 1`` then have no correct digit at
    all. Keeping ``t`` apart lets ``logsumexp = m + log1p(t)`` and ``p_k - 1 = -t / (1 + t)``
    be accurate to the last bit (Blanchard, Higham & Higham, 2021).

    Why ``e`` is not simply ``exp(d)``: ``d`` is rounded, and an absolute error ``delta`` in
    ``d`` is a relative error ``delta`` in ``exp(d)``; for ``d = -700`` in float64 that is
    hundreds of ulp (488 in the benchmarks' suite). float32 input is therefore computed in
    float64, where ``z - m`` is exact for every ``d`` whose exponential matters; float64 input
    keeps the rounding error ``lo`` of ``z - m`` (``_difference_and_error``) and uses
    ``exp(d + lo) = exp(d) (1 + lo)``.

    Rows that are all ``-inf`` give ``m = -inf`` and ``t = 0``; the callers turn their
    probabilities into NaN. A single ``+inf`` gets all the mass (the limit); NaN spreads to
    its whole row.
    """
    w = z.astype(working_dtype(z.dtype), copy=False)
    k = np.argmax(w, axis=axis, keepdims=True)
    m = np.take_along_axis(w, k, axis=axis)
    # Overflow, NaN and underflow here are the answer (a +-inf logit, a NaN row, a probability
    # below the smallest float), not an accident: never the caller's np.errstate's business.
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        shift = np.where(m == -np.inf, 0, m)
        if w.dtype == z.dtype:  # float64 in: keep the rounding error of z - m
            d, lo = _difference_and_error(w, shift)
        else:  # float32 in, float64 working: z - m is exact wherever exp(z - m) matters
            d, lo = w - shift, None
        np.put_along_axis(d, k, 0, axis=axis)
        e = np.exp(d)
        if lo is not None:
            e += e * lo
        np.put_along_axis(e, k, 0, axis=axis)
        t = e.sum(axis=axis, keepdims=True)
        np.put_along_axis(e, k, 1, axis=axis)
        # Rounded once to the input's dtype; a d beyond float32's range becomes -inf, as it should.
        return tuple(piece.astype(z.dtype, copy=False) for piece in (m, d, e, t))


def mask_empty_rows(out, m):
    """NaN for rows whose every logit is ``-inf``: they hold no probability distribution."""
    empty = m == -np.inf
    if np.any(empty):
        out[np.broadcast_to(empty, out.shape)] = np.nan
    return out


def ce_parts(z, labels, probs, want_loss, want_grad, grad_scale=1.0):
    """Per-sample losses and the gradient ``grad_scale * (softmax(z) - Y)``, sharing one pass.

    With ``d = z - max``, ``t`` the sum of the non-maximal ``exp(d)`` and ``k`` the argmax:

    - the loss is ``log1p(t) - d_y``: two non-negative terms, so no cancellation;
    - the gradient is ``e / (1 + t) - Y``, except that at the label, when it is the argmax,
      ``p_k - 1`` is written ``-t / (1 + t)``: the subtraction would cancel every digit of a
      confident, correct prediction.

    ``grad_scale`` is ``1/N`` for a mean over the batch: applied to each row's factor, it costs
    no extra pass and no extra rounding. Integer labels take the fast route, ``ce_hard_labels``,
    which computes the same quantities and falls back on this algebra for the rows it cannot
    prove safe.
    """
    if labels is not None:
        return ce_hard_labels(z, labels, want_loss, want_grad, grad_scale)
    return ce_shifted(z, labels, probs, grad_scale)


def ce_shifted(z, labels, probs, grad_scale=1.0):
    """``(loss, grad)`` of ``ce_parts`` by the general route, from ``shifted``."""
    with np.errstate(under="ignore"):  # a probability below the smallest float is one
        return _ce_shifted(z, labels, probs, grad_scale)


def _ce_shifted(z, labels, probs, grad_scale):
    m, d, e, t = shifted(z, -1)
    log1p_t = np.log1p(t)
    if labels is not None:
        d_y = np.take_along_axis(d, labels[..., None], axis=-1)
        loss = (log1p_t - d_y)[..., 0]
    else:
        with np.errstate(invalid="ignore"):  # 0 * inf for masked classes with no mass
            loss = np.where(probs != 0, probs * (log1p_t - d), 0).sum(axis=-1)  # NaN spreads
    loss = np.where(m[..., 0] == -np.inf, np.nan, loss)
    grad = e / (1 + t)
    if labels is not None:
        rows = labels[..., None]
        p_y = np.take_along_axis(grad, rows, axis=-1)
        at_max = np.take_along_axis(d, rows, axis=-1) == 0
        np.put_along_axis(grad, rows, np.where(at_max, -t / (1 + t), p_y - 1), axis=-1)
    else:
        # At the row maximum k, p_k - Y_k is written ((1 - Y_k) - Y_k t) / (1 + t): with a one-hot
        # (or nearly one-hot) target there, the plain subtraction would cancel every digit of a
        # confident, correct prediction, as p_y - 1 would for labels.
        k = np.argmax(d, axis=-1, keepdims=True)  # d is 0 exactly at the (first) maximum
        y_k = np.take_along_axis(probs, k, axis=-1)
        with np.errstate(invalid="ignore"):
            g_k = ((1 - y_k) - y_k * t) / (1 + t)
        grad -= probs
        np.put_along_axis(grad, k, g_k, axis=-1)
    if grad_scale != 1:
        grad *= grad_scale
    return loss, mask_empty_rows(grad, m)


def ce_hard_labels(z, labels, want_loss, want_grad, grad_scale=1.0):
    """``ce_parts`` for integer labels: the training step, made fast without losing a digit.

    The max-shift ``z - m`` is there only to keep ``exp`` from overflowing, and it costs a pass
    and a rounding error. Here ``exp(z)`` is taken directly, its argument exact, and a row is
    kept only if that was provably harmless: its sum ``s`` of exponentials is finite (nothing
    overflowed; NaN fails too) and at least 1 (then an exponential lost to underflow belongs to
    a probability that underflows as well). Other rows are recomputed by the general route,
    ``ce_shifted``.

    With ``k`` the argmax, ``e_k = exp(z_k)`` and ``u`` the sum of the other exponentials,
    ``t = u / e_k`` is the same ``t`` as in ``shifted``, so the same algebra applies:

    - the loss is ``log1p(u / e_k) - (z_y - z_k)``, two non-negative terms;
    - the gradient is ``e_j / s`` with ``s = e_k + u``, except at the label: ``-u / s`` when it
      is the argmax (``p_k - 1`` would cancel every digit of a confident, correct prediction),
      else ``e_y / s - 1`` (``p_y <= 1/2``: harmless).

    ``e_k``, ``e_y`` and everything else per row are computed in float64 from ``z``: the largest
    term of ``s`` is then exact to the last bit, not off by ``exp``'s own error (up to 2.5 ulp
    in numpy's float32 ``exp``), which every probability of the row would inherit.

    The rows are processed in blocks that fit in the L2 cache (``BLOCK_SIZE``), four passes
    each (``_exp_block``), and the exponentials are written straight into the gradient, the one
    allocation the size of ``z``; everything else is a few numbers per row, computed for the
    whole batch at the end. On a large batch the blocks are shared among ``threads()`` threads:
    numpy releases the GIL inside each pass, and no row's result depends on which thread
    computes it.
    """
    one_row = z.ndim == 1
    z2, labels2 = (z[None, :], labels[None]) if one_row else (z, labels)
    z2 = np.ascontiguousarray(z2)  # the blocks are read through flat indices
    n, c = z2.shape
    k, e_k, u = np.empty(n, dtype=np.intp), np.empty(n), np.empty(n)
    # The exponentials go into the gradient; without one, into a block-sized scratch array.
    grad = np.empty_like(z2) if want_grad else None
    scale = grad_scale if want_grad else None
    workers = threads() if z2.size >= PARALLEL_MIN_SIZE else 1
    rows = max(1, min(BLOCK_SIZE // c, -(-n // workers)))

    def run(starts):
        scratch = None if want_grad else np.empty((min(rows, n), c), dtype=z.dtype)
        for start in starts:
            block = slice(start, start + rows)
            out = grad[block] if want_grad else scratch[: len(k[block])]
            _exp_block(z2[block], out, k[block], e_k[block], u[block], scale)

    info = np.finfo(z.dtype)
    with np.errstate(all="ignore"):  # unsafe rows may overflow or be NaN: recomputed below
        _share(run, range(0, n, rows), workers)
        # Flat positions of each row's argmax and label: 1-D take/put are ~3x faster than
        # z[rows, k]. (intp: uint64 labels + an int64 range would give float indices.)
        row_start = np.arange(0, n * c, c)
        at_k = row_start + k
        at_y = row_start + labels2.astype(np.intp, copy=False)
        flat_z = z2.reshape(-1)
        s = e_k + u
        safe = (s >= 1) & (s <= info.max)  # False for inf and NaN
        redo = ~safe
        if want_grad:  # e_j / (s / grad_scale) also needs s / grad_scale to be a finite float
            redo |= s > info.max * grad_scale
        z_y = flat_z.take(at_y).astype(np.float64)
        loss = None
        if want_loss:
            z_k = flat_z.take(at_k).astype(np.float64)
            loss = (np.log1p(u / e_k) - (z_y - z_k)).astype(z.dtype)
        if want_grad:
            flat_grad = grad.reshape(-1)
            flat_grad[at_k] = grad_scale * (e_k / s)
            # The label's p_y - 1: at the argmax it is -t / (1 + t) = -u / s, which keeps its
            # digits; elsewhere p_y <= 1/2 and the subtraction is harmless.
            flat_grad[at_y] = grad_scale * np.where(at_y == at_k, -u / s, np.exp(z_y) / s - 1)
    if redo.any():
        # Recomputed by the general route. The loss of a row that is safe but for grad_scale
        # keeps its fast-route value, so that cross_entropy and cross_entropy_with_grad agree.
        unsafe = np.flatnonzero(redo)
        loss_u, grad_u = ce_shifted(z2[unsafe], labels2[unsafe].astype(np.intp), None, grad_scale)
        if want_loss:
            loss[unsafe] = np.where(safe[unsafe], loss[unsafe], loss_u)
        if want_grad:
            grad[unsafe] = grad_u
    if one_row:
        loss = None if loss is None else loss[0]
        grad = None if grad is None else grad[0]
    return loss, grad


def _exp_block(z, out, k, e_k, u, grad_scale):
    """One block of ``ce_hard_labels``: fills ``k`` (row argmax), ``e_k = exp(z_k)`` in float64
    and ``u`` (the sum of the other exponentials) in place, with ``out = exp(z)``; then, when a
    gradient is wanted, ``out /= s / grad_scale`` with ``s = e_k + u`` (``e_j / s`` times
    ``grad_scale``, one rounding each).

    Four passes over the block (``argmax``, ``exp``, the row sums, the division), all in
    cache; the caller fixes the argmax's and the label's entries. Runs under the caller's
    ``np.errstate``: overflow and NaN are caught by its check.
    """
    n, c = z.shape
    np.argmax(z, axis=1, out=k)
    at_k = np.arange(0, n * c, c) + k
    e_k[:] = np.exp(z.reshape(-1).take(at_k).astype(np.float64))
    flat = out.reshape(-1)
    np.exp(z, out=out)
    flat[at_k] = 0
    row_sums(out, out=u)
    if grad_scale is not None:
        out /= ((e_k + u) / grad_scale).astype(out.dtype)[:, None]


def row_sums(e, out=None):
    """Row sums of a 2-D array of exponentials, in float64, accurate to about 1 ulp.

    A BLAS matrix-vector product with a vector of ones is the fastest row sum, but it
    accumulates in the input's dtype along long runs: 3 ulp off at 1000 classes, an error every
    probability of the row inherits. float32 is summed in float64 (``einsum`` casts as it goes,
    then its sequential accumulation is ~1e-9 float32 ulp off); long float64 rows use numpy's
    pairwise summation (1-2 ulp), short ones ``einsum`` (faster there, and as accurate).
    """
    if e.dtype.itemsize < 8 or e.shape[1] <= 128:
        return np.einsum("ij->i", e, dtype=np.float64, out=out)
    return np.add.reduce(e, axis=1, out=out)
