"""The fast route of cross-entropy with integer labels: the training step, machinery and all.

Contract: :func:`cross_entropy` takes a 2-D float32 or float64 batch ``z`` (any layout), valid
integer ``labels`` and the factor ``scale`` of the gradient's rows (``1/N`` for a mean), and
returns the per-sample losses and the gradient ``scale * (q - e_y)``, in ``z``'s dtype. It
computes the rows it can prove safe and hands every other row to the algebra
(``_algebra.cross_entropy_rows``), which gives the same values to within an ulp or two.

How it saves time without losing a digit:

- **No shift, and the label instead of the argmax.** The max-shift ``z - m`` is there only to
  keep ``exp`` from overflowing; it costs a pass (two along short rows, where numpy's reductions
  pay for each row) and a rounding error. Here ``exp(z)`` is taken directly, its argument exact,
  and each row is written in terms of its label: ``e_y = exp(z_y)``, ``u`` the sum of the other
  exponentials, ``s = e_y + u`` and ``t = u / e_y``. Then the loss is ``log1p(t)`` (every digit
  kept when the prediction is confident and right), the label's entry ``q_y - 1 = -u / s`` (no
  cancellation, whichever class is largest) and ``q_j = e_j / s`` elsewhere. A row is kept only
  if this was provably harmless (:func:`_block`: its window); every other row goes to the
  algebra.
- **Per-row numbers in float64.** ``e_y``, ``u``, ``s``, ``t`` and the loss are float64. In
  float32 the largest exponential ``e_k`` (when ``k`` is not the label) is also taken in float64,
  for ``s`` and for ``q_k``: numpy's float32 ``exp`` is up to 2.4 ulp off, and in ``s`` that error
  would go into every probability of the row.
- **Cache blocks.** Rows are processed in blocks of about ``BLOCK_SIZE`` logits, all in cache,
  and of at most ``BLOCK_ROWS`` rows, or fewer where the rows are short: the per-row numbers of a
  block then take no more memory than the gradient. The exponentials are written straight into
  the gradient, the one allocation the size of ``z``. With few classes the rows are summed a
  column at a time (:func:`row_sums`).
- **Threads.** A batch of ``PARALLEL_MIN_SIZE`` logits or more is shared, block by block, among
  ``threads()`` threads: numpy releases the GIL inside each pass, and no row's result depends on
  which thread computes it. Below that size the threads take turns at the GIL more than they
  work.
- **Small calls.** Each numpy call costs about a microsecond whatever its size, so for a few
  logits the number of calls is the time. A batch of at most ``SMALL_SIZE`` logits is one block,
  computed in float64 (:func:`_small_batch`: float32 is then within half an ulp or so), and a
  single row of at most ``ONE_ROW_CLASSES`` logits is computed on Python floats
  (:func:`_one_row`). The single row, if it has a NaN or infinite logit (or its sum or spread
  overflows), becomes a small batch of one row.
"""

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._algebra import at_the_max, cross_entropy_rows, rounded, shifted

_MAX, _T_MAX = np.finfo(np.float64).max, 2.0**1000
# The logit whose exponential is the smallest normal number, by the exponentials' itemsize.
_FLOOR = {size: np.log(np.finfo(f"f{size}").smallest_normal, dtype="f8") for size in (4, 8)}

# A float32 block and its gradient fill a 2 MiB L2 cache; blocks of 1/4 to 4 times this size were
# measured: smaller ones pay more per-block overhead (two or three dozen numpy calls), larger
# ones spill.
BLOCK_SIZE = 1 << 18  # pragma: no mutate (tuning: any value gives the same results)
# Rows per block, at most: the block's float64 numbers per row then take ~0.4 MB whatever N is
# (with two classes, batch-wide ones took 14 times the gradient).
BLOCK_ROWS = 1 << 13  # pragma: no mutate (tuning: any value gives the same results)
BUFFER_SIZE = 1 << 10  # pragma: no mutate (tuning: see _blocks)
# Handing work to a thread and taking turns at the GIL cost more than they save below this many
# logits: two threads took 2.2 times the time of one at 4096 x 10 (float32), 0.8 at 16384 x 10,
# 0.65 at 4096 x 1000 (float64: 1.8, 1.0 and 0.4).
PARALLEL_MIN_SIZE = 1 << 18  # pragma: no mutate (tuning: any value gives the same results)
# A small float32 batch as one float64 block took 0.7 times the time of the float32 blocks at
# (64, 10) and twice at 4096 x 10 (float64's exp is about 4 times float32's); its float64 copy
# costs 2 z of memory.
SMALL_SIZE = 1 << 12
# Rows of at most this many bytes are summed a column at a time (row_sums): at 8192 rows this
# took 0.3 to 0.9 times einsum's time with 4 to 12 float32 classes (0.4 to 0.7 with 4 to 6
# float64 ones), 1.4 times with 16 float32 classes, and 1.4 with 8 float64 ones.
SHORT_ROW_BYTES = 48  # pragma: no mutate (tuning: either way gives the same sums)
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
    with np.errstate(all="ignore"):  # a row that overflows or is NaN goes to the algebra
        if 0 < z.size <= SMALL_SIZE:
            return _small_batch(z, labels, want_loss, want_grad, scale)
        return _blocks(z, labels, want_loss, want_grad, scale, threads())


def _blocks(z, labels, want_loss, want_grad, scale, workers):
    """A 2-D batch in blocks of rows, on up to ``workers`` threads."""
    n, c = z.shape
    loss = np.empty(n, dtype=z.dtype) if want_loss else None
    grad = np.empty((n, c), dtype=z.dtype) if want_grad else None
    # How the rows are cut into blocks and shared is tuning: every partition gives the same bits
    # (tests/unit/test_fast_route.py, with blocks of 4 rows and 1 to 7 threads).
    workers = workers if z.size >= PARALLEL_MIN_SIZE else 1  # pragma: no mutate
    # A block's per-row numbers take up to 48 bytes a row at once: with few classes that is more
    # than the row's gradient, so the blocks' rows are also bounded by the gradient's size, to
    # at most as much again (two blocks at (4096, 10) in float32: 1.1 times one's time).
    within = n * c * z.itemsize // (48 * workers)  # pragma: no mutate (rows; memory: tested)
    most = max(1, min(BLOCK_SIZE // c, BLOCK_ROWS, within))  # pragma: no mutate (rows a block)
    # With threads, at least two blocks per thread: one slow to start leaves its share.
    blocks = max(-(-n // most), 2 * workers if workers > 1 else 1)  # pragma: no mutate
    block = max(1, -(-n // blocks))  # pragma: no mutate (blocks of equal size, give or take 1)
    unsafe = []  # row indices, appended to by each block (list.append is atomic)

    def run(starts):
        scratch = None if want_grad else np.empty((min(block, n), c), dtype=z.dtype)
        # numpy buffers each operand it casts (float32 exponentials times float64 factors, their
        # float64 row sums) by 8192 elements, up to 0.3 MB a call: 1024 took as long here. The
        # setting is this thread's, and the np.errstate block around this call restores it.
        np.setbufsize(BUFFER_SIZE)
        for start in starts:
            rows = slice(start, min(start + block, n))
            z_b = np.ascontiguousarray(z[rows])  # a block of a non-contiguous z, copied
            out = grad[rows] if want_grad else scratch[: len(z_b)]
            y = np.asarray(labels[rows], dtype=np.intp)
            loss_b = loss[rows] if want_loss else None
            bad = _block(z_b, y, out, loss_b, scale if want_grad else None, z_b)
            if bad is not None:
                unsafe.append(bad + start)

    share(run, range(0, n, block), workers)
    if unsafe:
        _hand_over(z, labels, np.sort(np.concatenate(unsafe)), loss, grad, scale)
    return loss, grad


def _small_batch(z, labels, want_loss, want_grad, scale):
    """A small batch as one block, computed in float64 (float32 rounded once at the end)."""
    if z.dtype == np.float64:
        work = np.ascontiguousarray(z)
        out = np.empty_like(work)
    else:  # a float64 copy, exponentiated in place: float32's exp would cost 2 ulp
        work = out = np.array(z, dtype=np.float64)
    y = np.asarray(labels, dtype=np.intp)
    loss = np.empty(len(work)) if want_loss else None
    bad = _block(work, y, out, loss, scale if want_grad else None, z)
    if bad is not None:
        _hand_over(z, labels, bad, loss, out if want_grad else None, scale)
    loss = np.asarray(loss, dtype=z.dtype) if want_loss else None  # errors ignored: rounded once
    return loss, np.asarray(out, dtype=z.dtype) if want_grad else None


def _block(z, y, out, loss, scale, logits):
    """One block: into ``loss`` (None, or an array of the block's rows), the loss of each row of
    ``z`` with labels ``y``, rounded once; and, when ``scale`` is given, ``out = scale * (q -
    e_y)`` (``out`` receives ``exp(z)`` in any case; it may be ``z`` itself). Returns None, or
    the rows outside the window, found from ``logits``, the block's logits as given.

    ``e_y = exp(z_y)`` is taken in float64 and ``u``, the sum of the other exponentials, in
    float64 too; ``s = e_y + u``, ``t = u / e_y``. Then the loss is ``log1p(t)`` (every digit
    kept when the prediction is confident and right), ``q_y - 1 = -u / s`` (no cancellation
    either way), and ``q_j = e_j / s`` elsewhere. In float32 the largest exponential ``e_k``, if
    not ``e_y``, is taken in float64 for ``u`` and for ``q_k`` (see the module's docstring).
    """
    n, c = z.shape
    flat_z, flat = z.ravel(), out.ravel()
    at_y = np.arange(0, n * c, c)
    at_y += y
    e_y = np.asarray(flat_z.take(at_y), dtype=np.float64)
    np.exp(e_y, out=e_y)
    at_k = None
    if out.dtype.itemsize < 8:  # float32: the largest term apart
        at_k = np.argmax(z, axis=1)
        at_k += at_y
        at_k -= y
        e_k = np.asarray(flat_z.take(at_k), dtype=np.float64)
        np.exp(e_k, out=e_k)
        e_k[at_k == at_y] = 0  # the label's term is e_y
    np.exp(z, out=out)
    if at_k is not None:
        flat[at_k] = 0
    flat[at_y] = 0
    u = row_sums(out)
    if at_k is not None:
        u += e_k
    t = u / e_y
    s = e_y
    s += u
    bad = None
    # The window: nothing overflowed (s finite; NaN fails every comparison), t <= 2^1000 (so
    # e_y >= s 2^-1000 lost no digits to underflow), and s >= 1, or else no exponential below
    # the normal range (where it would lose relative precision; with s >= 1 such an
    # exponential's probability underflows as well). The whole block is tested first.
    floor = _FLOOR[out.dtype.itemsize]
    if not (
        (np.minimum.reduce(s) >= 1 or np.minimum.reduce(logits, axis=None) > floor)
        and np.maximum.reduce(s) <= _MAX
        and np.maximum.reduce(t) <= _T_MAX
    ):
        safe = (s <= _MAX) & (t <= _T_MAX)
        below = np.flatnonzero(safe & (s < 1))
        if below.size:
            safe[below] = logits[below].min(axis=1) > floor
        bad = np.flatnonzero(~safe)
        bad = bad if bad.size else None  # every row is in the window after all
    if loss is not None:
        np.log1p(t, out=loss)
    del t  # its memory, before the gradient's pass
    if scale is not None:
        r = np.divide(scale, s, out=s)
        np.multiply(out, r[:, None], out=out)  # e_j / s times scale, in float64, rounded once
        if at_k is not None:
            flat[at_k] = np.multiply(e_k, r, out=e_k)  # then overwritten where k is y
        u *= r
        flat[at_y] = np.negative(u, out=u)  # scale (q_y - 1) = -scale u / s
    return bad


def _hand_over(z, labels, rows, loss, grad, scale):
    """Rows ``rows`` of ``z``, outside the window, computed by the algebra into ``loss`` and
    ``grad`` (either may be None), each rounded once to its dtype."""
    loss_u, grad_u = cross_entropy_rows(*shifted(z[rows]), labels[rows], None, grad is not None)
    if loss is not None:
        loss[rows] = rounded(loss_u, loss.dtype)
    if grad is not None:
        grad[rows] = rounded(grad_u * scale, grad.dtype)


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


def row_sums(e):
    """Row sums of a 2-D array of exponentials, in float64, accurate to about 1 ulp.

    A BLAS matrix-vector product with a vector of ones is the fastest row sum, but it
    accumulates in the input's dtype along long runs: 3 ulp off at 1000 classes, an error every
    probability of the row inherits. float32 is summed in float64. Rows of at most
    ``SHORT_ROW_BYTES`` are summed column by column, a pass per class (numpy's reductions pay for
    each row, and ``einsum`` buffers 64 KB to cast float32: 0.4 times the gradient at 4096 x 10);
    other short rows by ``einsum``, long float64 rows by numpy's pairwise summation (1-2 ulp).
    In float32 the column-by-column sums and ``einsum``'s are the same, bit for bit; in float64
    ``einsum`` adds in another order, as accurately.
    """
    if e.shape[1] * e.itemsize <= SHORT_ROW_BYTES:  # pragma: no mutate (tuning)
        sums = np.array(e[:, 0], dtype=np.float64)
        for j in range(1, e.shape[1]):
            sums += e[:, j]
        return sums
    if e.dtype.itemsize < 8 or e.shape[1] <= 128:
        return np.einsum("ij->i", e, dtype=np.float64)
    return np.add.reduce(e, axis=1)


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
