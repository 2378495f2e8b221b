"""The fast route of cross-entropy with integer labels: the training step, machinery and all.

Contract: :func:`cross_entropy` takes a 2-D float32 or float64 batch ``z`` (any layout), valid
integer ``labels`` and the factor ``scale`` of the gradient's rows (``1/N`` for a mean), and
returns the per-sample losses and the gradient ``scale * (q - e_y)``, in ``z``'s dtype. It
computes the rows it can prove safe and hands every other row to the algebra
(``_algebra.cross_entropy_rows``), which gives the same values to within an ulp or two.

How it saves time without losing a digit:

- **No shift.** The max-shift ``z - m`` is there only to keep ``exp`` from overflowing; it costs
  a pass and a rounding error. Here ``exp(z)`` is taken directly, its argument exact, and a row is
  kept only if that was provably harmless: its sum ``s`` of exponentials is at most
  ``finfo.max`` (nothing overflowed; NaN fails too) and either at least 1 (then an exponential
  lost to underflow belongs to a probability that underflows as well) or positive with no
  exponential below the normal range (none lost any precision). With ``k`` the argmax,
  ``e_k = exp(z_k)`` and ``u`` the sum of the others, ``t = u / e_k`` is the ``t`` of
  ``_algebra.shifted`` and the same algebra applies. ``e_k`` and every per-row number are
  computed in float64 from ``z``, so the largest term of ``s`` carries no error of float32's
  ``exp`` (up to 2.5 ulp in numpy's) into every probability of the row.
- **Cache blocks.** Rows are processed in blocks of about ``BLOCK_SIZE`` logits, four passes each
  (argmax, exp, row sums, the scaling by ``scale / s``), all in cache. The exponentials are
  written straight into the gradient, the one allocation the size of ``z``.
- **Chunks.** The per-row bookkeeping (the entries at the argmax and the label, the loss, the
  safety check) is done for chunks of up to ``CHUNK_ROWS`` rows (several blocks) at once, which
  keeps the number of numpy calls per row small and the memory of those numbers bounded.
- **Threads.** A batch of ``PARALLEL_MIN_SIZE`` logits or more is shared, chunk by chunk, among
  ``threads()`` threads: numpy releases the GIL inside each pass, and no row's result depends on
  which thread computes it.
- **Small calls.** Each numpy call costs about a microsecond whatever its size, so for a few
  logits the number of calls is the time. A batch of at most ``SMALL_SIZE`` logits is one pass of
  two dozen whole-array calls in float64 (:func:`_small_batch`), and a single row of at most
  ``ONE_ROW_CLASSES`` logits is computed on Python floats (:func:`_one_row`). The small batch
  hands the rows outside its window to the algebra, as the blocks do; the single row, if it has
  a NaN or infinite logit (or its sum or spread overflows), becomes a small batch of one row.
"""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._algebra import at_the_max, cross_entropy_rows, rounded, shifted

# A float32 block and its gradient fill a 2 MiB L2 cache; blocks of 1/4 to 4 times this size were
# measured: smaller ones pay more per-block overhead (a dozen numpy calls), larger ones spill.
BLOCK_SIZE = 1 << 18  # pragma: no mutate (tuning: any value gives the same results)
# Rows per chunk of per-row bookkeeping, at most: its dozen float64 numbers per row then take
# ~1 MB whatever N is (with two classes, batch-wide ones took 14 times the gradient).
CHUNK_ROWS = 1 << 13  # pragma: no mutate (tuning: any value gives the same results)
# Handing work to a thread and taking turns at the GIL cost more than they save below this many
# logits: two threads took 1.8 times the time of one at 2**16 float32 logits, 0.8 times at 2**18.
PARALLEL_MIN_SIZE = 1 << 18  # pragma: no mutate (tuning: any value gives the same results)
# The one pass of a small batch took 0.4 to 0.6 times the time of the blocks at (64, 10) and at
# 2**12 logits, and about as long at 2**14; its float64 copy of a float32 z costs 2 z of memory.
SMALL_SIZE = 1 << 12
# One row of 3 logits took about 4 µs on Python floats, 60 µs as a small batch of one row.
ONE_ROW_CLASSES = 16


def usable_cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads():
    """How many threads the fast route may use: ``XENTLIB_NUM_THREADS``, else every usable CPU.

    Read and checked at every call, whatever the batch size (:func:`thread_setting`); a count
    above the number of usable CPUs is capped there (more threads than CPUs only take turns).
    """
    count = thread_setting()
    return usable_cpus() if count is None else min(count, usable_cpus())


def thread_setting():
    """``XENTLIB_NUM_THREADS`` as a positive int, or None when it is unset or blank."""
    setting = os.environ.get("XENTLIB_NUM_THREADS", "")
    if not setting.strip():
        return None
    try:
        count = int(setting)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"XENTLIB_NUM_THREADS must be a positive integer, got {setting!r}")
    return count


def cross_entropy(z, labels, want_loss, want_grad, scale):
    """``(loss, grad)`` of a batch ``z`` (or of one row: ``z`` 1-D, ``labels`` 0-d), ``grad``
    already multiplied by ``scale`` (see above)."""
    thread_setting()  # a bad XENTLIB_NUM_THREADS is refused whatever the batch
    if z.ndim == 1:
        result = _one_row(z, int(labels), want_grad) if len(z) <= ONE_ROW_CLASSES else None
        if result is None:
            loss, grad = cross_entropy(z[None], labels.reshape(1), want_loss, want_grad, scale)
            result = loss if loss is None else loss[0], grad if grad is None else grad[0]
        return result
    if 0 < z.size <= SMALL_SIZE:
        with np.errstate(all="ignore"):  # a row that overflows or is NaN goes to the algebra
            return _small_batch(z, labels, want_loss, want_grad, scale)
    with np.errstate(under="ignore"):  # a probability below the smallest float is one
        return _blocks(z, labels, want_loss, want_grad, scale, threads())


def _blocks(z, labels, want_loss, want_grad, scale, workers):
    """The blocks and chunks of a 2-D batch, on up to ``workers`` threads."""
    n, c = z.shape
    loss = np.empty(n, dtype=z.dtype) if want_loss else None
    grad = np.empty((n, c), dtype=z.dtype) if want_grad else None
    workers = workers if z.size >= PARALLEL_MIN_SIZE else 1
    block = max(1, min(BLOCK_SIZE // c, CHUNK_ROWS))
    # With threads, at least four chunks per thread, so that a thread slow to start leaves its
    # share to the others.
    chunk = max(block, min(CHUNK_ROWS, -(-n // (4 * workers))))
    unsafe = []  # row indices, appended to by each chunk (list.append is atomic)

    def run(starts):
        scratch = None if want_grad else np.empty((min(block, n), c), dtype=z.dtype)
        for start in starts:
            rows = slice(start, min(start + chunk, n))
            _chunk(z, labels, loss, grad, scratch, scale, block, rows, unsafe)

    with np.errstate(all="ignore"):  # unsafe rows may overflow or be NaN: recomputed below
        share(run, range(0, n, chunk), workers)
    if unsafe:
        rows = np.sort(np.concatenate(unsafe))  # chunks finish in any order: rows in order
        loss_u, grad_u = cross_entropy_rows(*shifted(z[rows]), labels[rows], None, want_grad)
        if want_loss:
            loss[rows] = rounded(loss_u, z.dtype)
        if want_grad:
            grad[rows] = rounded(grad_u * scale, z.dtype)
    return loss, grad


def _chunk(z, labels, loss, grad, scratch, scale, block, rows, unsafe):
    """Rows ``rows`` of :func:`cross_entropy`: the blocks' four passes, then the per-row work."""
    # Rows are read through flat indices: a chunk of a non-contiguous z is copied, a chunk at a
    # time (a Fortran-ordered batch costs no copy of the whole).
    z_c, y = np.ascontiguousarray(z[rows]), np.asarray(labels[rows], dtype=np.intp)
    n, c = z_c.shape
    k, e_k, u = np.empty(n, dtype=np.intp), np.empty(n), np.empty(n)
    for start in range(0, n, block):
        part = slice(start, start + block)
        out = grad[rows][part] if grad is not None else scratch[: len(k[part])]
        _exp_block(z_c[part], out, k[part], e_k[part], u[part], scale if grad is not None else None)
    s = e_k + u
    info = np.finfo(z.dtype)
    safe = (s >= 1) & (s <= info.max)  # False for inf and NaN
    # A row with s < 1 is safe too if no exponential fell below the normal range, where it
    # would lose relative precision.
    small = np.flatnonzero((s > 0) & (s < 1))
    if small.size:
        safe[small] = z_c[small].min(axis=1) > np.log(info.smallest_normal)
    if not safe.all():
        unsafe.append(np.flatnonzero(~safe) + rows.start)
    # Flat positions of each row's argmax and label: 1-D take/put are ~3x faster than z[r, k].
    row_start = np.arange(0, n * c, c)
    at_k, at_y = row_start + k, row_start + y
    flat_z = z_c.ravel()
    z_y = np.asarray(flat_z.take(at_y), dtype=np.float64)
    t = u / e_k
    if loss is not None:
        z_k = np.asarray(flat_z.take(at_k), dtype=np.float64)
        loss[rows] = np.log1p(t) - (z_y - z_k)  # logsumexp(z) - z_y, both terms >= 0
    if grad is not None:
        flat_grad = grad[rows].ravel()
        y_is_k = at_y == at_k
        flat_grad[at_k] = scale * at_the_max(y_is_k, t)  # y_k is 1 or 0: True or False
        elsewhere = ~y_is_k  # q_y <= 1/2 there: q_y - 1 is harmless
        flat_grad[at_y[elsewhere]] = scale * (np.exp(z_y[elsewhere]) / s[elsewhere] - 1)


def _small_batch(z, labels, want_loss, want_grad, scale):
    """The blocks' and chunks' work for a small batch in one pass, in float64; a row without
    ``1 <= s`` and a finite ``s`` is handed to the algebra, as the blocks hand theirs."""
    n, c = z.shape
    e = np.array(z, dtype=np.float64)  # a copy, exponentiated in place; float32 rounded at the end
    flat_e = e.ravel()
    at_y = np.arange(0, n * c, c)
    at_k = e.argmax(axis=1)
    at_k += at_y
    at_y += np.asarray(labels, dtype=np.intp)
    z_k, z_y = flat_e[at_k], flat_e[at_y]
    np.exp(e, out=e)
    e_k = flat_e[at_k]
    flat_e[at_k] = 0
    u = np.add.reduce(e, axis=1)
    s = u + e_k
    unsafe = None  # the rows outside the window, found only when a row is (the rare case)
    largest = np.finfo(np.float64).max
    if not (np.minimum.reduce(s) >= 1 and np.maximum.reduce(s) <= largest):
        unsafe = np.flatnonzero(~((s >= 1) & (s <= largest)))  # NaN is outside too
        loss_u, grad_u = cross_entropy_rows(*shifted(z[unsafe]), labels[unsafe], None, want_grad)
    u /= e_k  # t
    loss = None
    if want_loss:
        z_y -= z_k
        loss = np.log1p(u)
        loss -= z_y  # logsumexp(z) - z_y, both terms >= 0
        if unsafe is not None:
            loss[unsafe] = loss_u
        loss = np.asarray(loss, dtype=z.dtype)  # the caller's np.errstate: all ignored
    if not want_grad:
        return loss, None
    e *= (scale / s)[:, None]
    flat_e[at_y] -= scale  # scale (q_y - 1) where y is not k (q_y <= 1/2: no cancellation)
    flat_e[at_k] = scale * at_the_max(at_y == at_k, u)  # y_k is 1 or 0: True or False
    if unsafe is not None:
        e[unsafe] = grad_u * scale
    return loss, np.asarray(e, dtype=z.dtype)


def _one_row(z, label, want_grad):
    """Loss and gradient of one short row on Python floats (float64, as the algebra computes
    it: TwoSum for ``z - m``, ``fsum`` for ``t``); None unless every logit is finite."""
    row = z.tolist()
    m = max(row)
    if not (math.isfinite(sum(row)) and m - min(row) < math.inf):  # NaN, +-inf, a huge spread
        return None
    k = row.index(m)
    d, e = [], []
    for x in row:
        hi = x - m
        a_part = hi + m
        lo = (x - a_part) + ((a_part - hi) - m)  # x - m == hi + lo exactly
        d.append(hi)
        e.append(math.exp(hi) * (1 + lo))
    e[k] = 0.0
    t = math.fsum(e)
    loss = math.log1p(t) - d[label]
    if loss > float(np.finfo(z.dtype).max):  # float32's inf, without float32(loss)'s warning
        loss = rounded(loss, z.dtype)[()]
    loss = z.dtype.type(loss)
    if not want_grad:
        return loss, None
    grad = [x / (1 + t) for x in e]
    if label != k:
        grad[label] -= 1  # q_y <= 1/2: no cancellation
    grad[k] = at_the_max(float(label == k), t)
    return loss, np.array(grad, dtype=z.dtype)


def _exp_block(z, out, k, e_k, u, scale):
    """One block: ``k`` (row argmax), ``e_k = exp(z_k)`` in float64 and ``u`` (the sum of the
    other exponentials) filled in place, with ``out = exp(z)``, then, when ``scale`` is given,
    ``out *= scale / s`` with ``s = e_k + u``. The caller fixes the argmax's and label's entries.
    """
    n, c = z.shape
    np.argmax(z, axis=1, out=k)
    at_k = np.arange(0, n * c, c) + k
    e_k[:] = np.exp(np.asarray(z.ravel().take(at_k), dtype=np.float64))
    flat = out.ravel()
    np.exp(z, out=out)
    flat[at_k] = 0
    row_sums(out, out=u)
    if scale is not None:  # each e_j times scale / s, multiplied in float64, rounded once
        np.multiply(out, (scale / (e_k + u))[:, None], out=out)


def row_sums(e, out=None):
    """Row sums of a 2-D array of exponentials, in float64, accurate to about 1 ulp.

    A BLAS matrix-vector product with a vector of ones is the fastest row sum, but it
    accumulates in the input's dtype along long runs: 3 ulp off at 1000 classes, an error every
    probability of the row inherits. float32 is summed in float64 (``einsum`` casts as it goes);
    long float64 rows use numpy's pairwise summation (1-2 ulp), short ones ``einsum`` (faster
    there, and as accurate).
    """
    if e.dtype.itemsize < 8 or e.shape[1] <= 128:
        return np.einsum("ij->i", e, dtype=np.float64, out=out)
    return np.add.reduce(e, axis=1, out=out)


# --- the threads ----------------------------------------------------------------------------

_pool, _pool_size = None, 0
_pool_lock = threading.Lock()


def _forget_pool():
    """After ``fork`` the child has none of the parent's threads: start a new pool there."""
    global _pool, _pool_size
    _pool, _pool_size = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def share(run, starts, workers):
    """``run(starts)`` in this thread and ``workers - 1`` others, all drawing on one iterator.

    Each thread takes the next start as soon as it is free, so a thread that is slow to wake
    leaves its share to the others instead of making them wait; a task that no thread has
    picked up by the end is cancelled. The threads come from a pool kept between calls (starting
    and joining a thread took ~115 µs here, a task handed to a waiting one ~55 µs) and run under
    this thread's numpy error state (``np.errstate`` is per thread). Where no thread can be
    started (at interpreter shutdown, in an ``atexit`` handler) this thread does all the work.
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
    futures = []
    with _pool_lock:  # submitted under the lock: no other call can replace the pool meanwhile
        try:
            if _pool_size < workers - 1:
                if _pool is not None:
                    _pool.shutdown(wait=False)  # its queued work still runs
                _pool, _pool_size = ThreadPoolExecutor(workers - 1, "xentlib"), workers - 1
            futures = [_pool.submit(run_with_state) for _ in range(workers - 1)]
        except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
            pass
    run(claimed())
    for future in futures:
        if not future.cancel():
            future.result()
