"""The fast route of cross-entropy with integer labels (``xentlib._fast``), threaded.

What is checked, each a property the fast route must have whatever the machine:

- no result depends on how many threads share the blocks (bit for bit, every reduction);
- it agrees with the algebra (``_algebra.cross_entropy_rows``) to 8 eps, and the loss-only path
  (its scratch block per thread) gives the same bits as the loss of ``cross_entropy_with_grad``;
- the edges of its window ``1 <= s <= finfo.max``: rows on each side take the route they should,
  and match mpmath (``xentlib.reference``) to a few ulp, whatever the reduction's factor; a
  confident row keeps the digits of its label's ``q - 1``;
- ``XENTLIB_NUM_THREADS``: a bad setting is refused by name at every call, none means every
  usable CPU, and a count above them is capped;
- the caller's ``np.errstate(all='raise')`` sees no overflow of the fast route's ``exp(z)``,
  and no underflow of any function, whichever route computes it;
- memory: the peak allocation of a call stays within twice the gradient, two classes included;
- threads at interpreter shutdown (an ``atexit`` handler) and after ``fork``.

Every batch is threaded: ``PARALLEL_MIN_SIZE`` is lowered, ``BLOCK_SIZE`` and ``BLOCK_ROWS`` shrunk
to a few rows (blocks of 4 rows, a short last one), and the usable CPUs raised to 8, so
that an odd number of rows makes unequal parts with rows of every kind in each.
"""

import math
import os
import signal
import subprocess
import sys
import tracemalloc
import warnings

import mpmath
import numpy as np
import pytest

import xentlib
from xentlib import _algebra, _fast, reference

DTYPES = [np.float32, np.float64]
REDUCTIONS = ["none", "sum", "mean"]


@pytest.fixture
def threaded(monkeypatch):
    """Every batch shared among 3 threads, in blocks of a few rows; returns ``monkeypatch``."""
    monkeypatch.setattr(_fast, "SMALL_SIZE", 0)  # every batch through the blocks
    monkeypatch.setattr(_fast, "PARALLEL_MIN_SIZE", 1)
    monkeypatch.setattr(_fast, "BLOCK_SIZE", 64)  # 4 rows of 16 logits
    monkeypatch.setattr(_fast, "BLOCK_ROWS", 4)  # 51 rows: 12 blocks of 4, a last one of 3
    monkeypatch.setattr(_fast, "usable_cpus", lambda: 8)
    monkeypatch.setenv("XENTLIB_NUM_THREADS", "3")
    return monkeypatch


def _batch(dtype, n=51, c=16):
    """Ordinary rows, and every 6th row one the fast route cannot take (NaN, all logits near
    -1e4, +inf, a logit beyond exp's overflow), so that every thread's part holds some."""
    rng = np.random.default_rng(0)
    z = (rng.standard_normal((n, c)) * 8).astype(dtype)
    z[5, 3] = -np.inf  # a masked class: exp gives 0, the row stays on the fast route
    labels = rng.integers(0, c, n)
    labels[::4] = z[::4].argmax(axis=1)  # label at the argmax: the q_k - 1 entry
    overflow = np.log(np.finfo(dtype).max) + 1
    for kind, row in enumerate(range(2, n, 6)):
        if kind % 4 == 1:
            z[row] -= 1e4
        else:
            z[row, rng.integers(c)] = {0: np.nan, 2: np.inf, 3: overflow}[kind % 4]
    return z, labels


def _worst(computed, exact, dtype):
    """The largest error in ulp of ``dtype`` (xentlib.reference's measure)."""
    return float(np.max(reference.ulp_error(computed, exact, dtype)))


def _rows_handed_over(monkeypatch):
    """The logits of the rows the fast route hands to the algebra (a copy per call of
    ``shifted``), recorded while still computing them."""
    seen, shifted = [], _algebra.shifted
    monkeypatch.setattr(_fast, "shifted", lambda z, *a: seen.append(z.copy()) or shifted(z, *a))
    return seen


def _bits(a):
    return np.asarray(a).dtype, np.asarray(a).shape, np.asarray(a).tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_result_depends_on_the_thread_count(threaded, dtype):
    # Each row is computed the same way in whichever part it falls: 1, 2, 3 or 7 threads give the
    # same bits. Fails if `share` loses blocks (drops the last part, or cuts the blocks into
    # `workers` parts of floor size), or if a worker runs without the ignoring errstate (a
    # RuntimeWarning, an error under -W error).
    z, labels = _batch(dtype)
    calls, share = [], _fast.share

    def spy(run, starts, workers):
        calls.append((workers, len(starts)))
        share(run, starts, workers)

    threaded.setattr(_fast, "share", spy)
    results = {}
    for count in ["1", "2", "3", "7"]:
        threaded.setenv("XENTLIB_NUM_THREADS", count)
        for reduction in REDUCTIONS:
            loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction)
            results[count, reduction] = _bits(loss), _bits(grad)
        assert all(w == int(count) and chunks >= 7 for w, chunks in calls[-3:])  # really shared
    for (count, reduction), result in results.items():
        assert result == results["1", reduction], (count, reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("count", ["3", "7"])
def test_threaded_fast_route_agrees_with_the_general_route(threaded, dtype, count):
    # The fast route is the algebra computed another way: the same loss and gradient (scaled by
    # 1/N, as for a mean) to 8 eps, NaN where it gives NaN. Fails if a part is lost, a row's k or
    # u is written by the wrong block, or an unsafe row is not recomputed.
    threaded.setenv("XENTLIB_NUM_THREADS", count)
    z, labels = _batch(dtype)
    loss, grad = _fast.cross_entropy(z, labels, True, True, 1 / len(z))
    loss_ref, grad_ref = _algebra.cross_entropy_rows(*_algebra.shifted(z), labels)
    loss_ref, grad_ref = loss_ref.astype(dtype), (grad_ref / len(z)).astype(dtype)
    rtol, tiny = 8 * np.finfo(dtype).eps, np.finfo(dtype).tiny
    np.testing.assert_allclose(loss, loss_ref, rtol=rtol, atol=0)
    np.testing.assert_allclose(grad, grad_ref, rtol=rtol, atol=tiny)
    assert loss.dtype == grad.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("count", ["3", "7"])
def test_loss_alone_equals_the_loss_with_the_gradient(threaded, dtype, reduction, count):
    # `cross_entropy` writes the exponentials into a scratch block per thread instead of the
    # gradient: the same bits. Fails if the scratch block is not cut to a short last block, or if
    # the loss-only path skips the recomputation of unsafe rows.
    threaded.setenv("XENTLIB_NUM_THREADS", count)
    z, labels = _batch(dtype)
    loss = xentlib.cross_entropy(z, labels, reduction)
    assert _bits(loss) == _bits(xentlib.cross_entropy_with_grad(z, labels, reduction)[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_a_sum_near_the_largest_float_stays_on_the_fast_route_whatever_the_reduction(
    dtype, reduction
):
    # Row 0's sum of exponentials s lies between finfo.max / 2 and finfo.max: safe. The factor of
    # a mean (1/2 here) is applied as scale / s, which cannot overflow, so the row stays on the fast
    # route for every reduction, and cross_entropy and cross_entropy_with_grad give the same loss.
    # Fails if the window depends on the reduction (s / scale overflows: a third kind of row), or
    # if the scaled gradient loses its digits (zeros after dividing by inf).
    top = float(np.log(np.finfo(dtype).max))
    z = np.array([[top - 0.5, top - 1.5, top - 3.0], [0.0, 0.0, 0.0]], dtype=dtype)
    labels = np.array([1, 0])
    s = sum(mpmath.exp(mpmath.mpf(float(x))) for x in z[0])
    assert np.finfo(dtype).max / 2 < s < np.finfo(dtype).max  # the case this test is about
    loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction)
    assert _bits(loss) == _bits(xentlib.cross_entropy(z, labels, reduction))
    factor = 0.5 if reduction == "mean" else 1.0
    exact = reference.cross_entropy_grad(z, labels)
    assert _worst(grad, reference.Exact(exact.hi * factor, exact.lo * factor), dtype) <= 4
    assert (
        _worst(xentlib.cross_entropy(z, labels, "none"), reference.cross_entropy(z, labels), dtype)
        <= 4
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_window_edges_take_their_route_and_stay_exact(threaded, dtype):
    # Equal logits x have softmax 1/C and loss log C, and s = C e^x. With a maximum below 0 a row
    # is on the fast route if s >= 1 (all -2, or x just above -log C), and if s < 1 (x just below)
    # while no exponential is below the normal range. A row with s < 1 and one subnormal
    # exponential, or a tiny s, goes to the algebra. Either way within 4 ulp. Fails if the window
    # is tested on the maximum (m >= 0), or admits s < 1 with a subnormal term (exp(-745) is one
    # subnormal ulp: its probability e^-45 would be all error, and in float32 s = 0).
    c = 1000
    x = dtype(-math.log(c))
    above, below = x, x
    for _ in range(8):
        above, below = np.nextafter(above, dtype(0)), np.nextafter(below, dtype(-np.inf))
    assert c * mpmath.exp(float(above)) > 1 > c * mpmath.exp(float(below))  # the test's premise
    tiny_s = np.full(c, -745.0)
    tiny_s[0] = -700.0
    one_subnormal = np.full(c, -8.0)
    one_subnormal[1] = np.log(np.finfo(dtype).smallest_normal) - 2  # e^z_1 below the normal range
    # s = 1 exactly (the other exponentials 0, masked or underflowed) and 1 < s < 2 with an
    # underflowed term: on the fast route, which needs no check of their smallest logit
    s_one_masked, s_one_deep, s_between = (
        np.full(c, -np.inf),
        np.full(c, -800.0),
        np.full(c, -800.0),
    )
    s_one_masked[0] = s_one_deep[0] = 0.0
    s_between[0] = 0.5
    fast = np.array([np.full(c, -2.0), np.full(c, -2.0), np.full(c, above), np.full(c, below)])
    fast = np.vstack([fast, [s_one_masked, s_one_deep, s_between]])
    general = np.array([tiny_s, one_subnormal], dtype=dtype)
    z = np.vstack([fast.astype(dtype), general])
    labels = np.array([0, 7, 3, 0, 0, 0, 0, 5, 1])
    seen = _rows_handed_over(threaded)
    loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
    assert len(seen) == 1 and _bits(seen[0]) == _bits(general)  # the algebra's rows
    assert _worst(loss, reference.cross_entropy(z, labels), dtype) <= 4
    assert _worst(grad, reference.cross_entropy_grad(z, labels), dtype) <= 4
    # In one block, the row with s < 1 but normal exponentials stays on the fast route beside
    # the one whose subnormal exponential sends it to the algebra: each row's own smallest logit.
    threaded.setattr(_fast, "BLOCK_SIZE", 1 << 18)
    threaded.setattr(_fast, "BLOCK_ROWS", 1 << 13)
    threaded.setenv("XENTLIB_NUM_THREADS", "1")  # all 9 rows one block (threads would cut it)
    seen.clear()
    again = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
    assert len(seen) == 1 and _bits(seen[0]) == _bits(general)
    assert [_bits(a) for a in again] == [_bits(loss), _bits(grad)]


def test_a_confident_correct_row_keeps_the_digits_of_q_minus_1(threaded):
    # z = [0, -40, ..., -40], label 0 (the argmax): q_0 - 1 = -t / (1 + t), t = (C - 1) e^-40
    # ~ 4e-17, below 1's half-ulp: computed as e_y / s - 1 it would be 0 (1 + t rounds to 1).
    # Within 2 ulp in every thread's part, as are the loss log1p(t) and the other q_j.
    c = 10
    z = np.full((51, c), -40.0)
    z[:, 0] = 0.0
    labels = np.zeros(51, dtype=int)
    loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
    assert np.all(grad[:, 0] < 0)
    assert _worst(grad, reference.cross_entropy_grad(z, labels), np.float64) <= 2
    assert _worst(loss, reference.cross_entropy(z, labels), np.float64) <= 2


@pytest.mark.parametrize("setting", ["0", "-2", "two", "1.5"])
@pytest.mark.parametrize("func", [xentlib.cross_entropy, xentlib.cross_entropy_with_grad])
def test_a_bad_thread_count_is_refused_by_name(threaded, setting, func):
    # A typo must not silently mean one thread or every CPU, and the message shows the setting
    # quoted (a blank or '0' stays visible). Fails if a count below 1 is let through (-2 would run
    # on one thread, 0 divide by zero), if 'two' falls back on the default, or the value is hidden.
    threaded.setenv("XENTLIB_NUM_THREADS", setting)
    z, labels = _batch(np.float64)
    with pytest.raises(ValueError, match="XENTLIB_NUM_THREADS") as raised:
        func(z, labels)
    assert repr(setting) in str(raised.value)


@pytest.mark.parametrize("setting", [None, "", "  "])
def test_no_thread_count_means_every_usable_cpu(monkeypatch, setting):
    # Unset or blank: the CPUs this process may run on (its affinity, not the machine's count).
    # Fails if a blank setting is refused, or if the default ignores the affinity mask.
    if setting is None:
        monkeypatch.delenv("XENTLIB_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("XENTLIB_NUM_THREADS", setting)
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    assert _fast.threads() == (os.cpu_count() if usable is None else len(usable))
    if usable is not None and len(usable) > 1:  # one CPU allowed, on a machine with more
        os.sched_setaffinity(0, {min(usable)})
        try:
            assert _fast.threads() == 1
        finally:
            os.sched_setaffinity(0, usable)


@pytest.mark.parametrize("count, expected", [(6, 6), (None, 1)])
def test_without_an_affinity_mask_the_cpu_count_is_used(monkeypatch, count, expected):
    # macOS and Windows have no os.sched_getaffinity: the machine's CPU count stands in, and one
    # CPU when even that is unknown (os.cpu_count() returns None). Fails if the fallback is lost.
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: count)
    assert _fast.usable_cpus() == expected


def test_a_thread_count_above_the_cpus_is_capped(monkeypatch):
    # XENTLIB_NUM_THREADS=5000 once started 5000 threads: more threads than CPUs only take
    # turns. Fails if the setting is taken as it is.
    monkeypatch.setattr(_fast, "usable_cpus", lambda: 4)
    monkeypatch.setenv("XENTLIB_NUM_THREADS", "5000")
    assert _fast.threads() == 4
    monkeypatch.setenv("XENTLIB_NUM_THREADS", "3")
    assert _fast.threads() == 3


@pytest.mark.parametrize("shape", [(3,), (2, 3), (64, 10)])
def test_a_bad_thread_count_is_refused_whatever_the_batch_size(monkeypatch, shape):
    # Checked at every call, not only when a batch is large enough to be threaded: a typo must
    # not wait for the first big batch. Fails if the setting is read only for threaded batches.
    monkeypatch.setenv("XENTLIB_NUM_THREADS", "two")
    z = np.zeros(shape)
    with pytest.raises(ValueError, match="XENTLIB_NUM_THREADS must be a positive integer"):
        xentlib.cross_entropy_with_grad(z, np.zeros(shape[:-1], dtype=int))


@pytest.mark.parametrize("dtype", DTYPES)
def test_fast_route_overflow_raises_nothing_under_errstate_raise(threaded, dtype):
    # Rows [b, b - 1/2, ..., b - 7.5] with b beyond exp's overflow, in several threads' parts, and
    # ordinary rows with logits at -800 (exp underflows): the fast route computes under its own
    # errstate in every thread, the general route recomputes the overflowing rows. Fails if the
    # fast route's exp runs under the caller's state, or if a worker thread does not get the
    # ignoring state (numpy's error state is per thread): FloatingPointError or RuntimeWarning.
    z, labels = _batch(dtype)
    staircase = (np.log(np.finfo(dtype).max) + 1 - np.arange(16) / 2).astype(dtype)
    big = (np.arange(len(z)) % 8 == 1) | (z == staircase[0]).any(axis=1)  # and _batch's
    z[4::8] = -800.0
    z[4::8, 0] = 2.0  # s > 1: these rows stay on the fast route, where exp(-800) underflows
    z[big] = staircase
    threaded.setenv("XENTLIB_NUM_THREADS", "1")
    loss_1, grad_1 = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
    threaded.setenv("XENTLIB_NUM_THREADS", "3")
    with np.errstate(all="raise"):
        loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
    assert _bits(loss) == _bits(loss_1) and _bits(grad) == _bits(grad_1)
    assert _worst(loss[1], reference.cross_entropy(z[1], labels[1]), dtype) <= 4
    assert _worst(grad[1], reference.cross_entropy_grad(z[1], labels[1]), dtype) <= 4


UNDERFLOWING_CALLS = {
    "softmax": lambda x: x.softmax(np.array([0.0, -800.0])),
    "log_softmax": lambda x: x.log_softmax(np.array([0.0, -800.0])),
    "logsumexp": lambda x: x.logsumexp(np.array([0.0, -800.0])),
    "softmax_jacobian": lambda x: x.softmax_jacobian(np.array([0.0, -800.0])),
    "cross_entropy, general route": lambda x: x.cross_entropy(np.array([[-1.0, -800.0]]), [0]),
    "cross_entropy_with_grad, overflowing row": lambda x: x.cross_entropy_with_grad(
        np.array([[1000.0, 0.0], [0.0, 0.0]]), [0, 1]
    ),
    "cross_entropy_with_grad, general route, subnormal probability": lambda x: (
        x.cross_entropy_with_grad(np.array([[-1.0, -741.0], [-1.0, -1.0]]), [0, 0])
    ),
    "cross_entropy_grad, probabilities": lambda x: x.cross_entropy_grad(
        np.array([[0.0, -800.0]]), np.array([[1.0, 0.0]])
    ),
    "sigmoid": lambda x: x.sigmoid(np.array([-800.0, 800.0])),
    "sigmoid_grad": lambda x: x.sigmoid_grad(np.array([-800.0, 800.0])),
    "binary_cross_entropy_with_logits": lambda x: x.binary_cross_entropy_with_logits(
        np.array([-800.0, 800.0]), np.array([0.0, 1.0])
    ),
}


@pytest.mark.parametrize("call", UNDERFLOWING_CALLS.values(), ids=UNDERFLOWING_CALLS.keys())
def test_underflow_inside_xentlib_raises_nothing_under_errstate_raise(call):
    # e^-800 is below the smallest float64: 0 (or a subnormal) is the correct answer, so the
    # caller's np.errstate(all='raise') must not turn it into a FloatingPointError, whichever
    # route computes it, and the result must be what the default error state gives. Fails if any
    # of these functions runs an underflowing operation under the caller's error state (the
    # general route once did: `shifted` ignored only overflow and NaN).
    expected = call(xentlib)
    with np.errstate(all="raise"):
        got = call(xentlib)
    expected, got = (r if isinstance(r, tuple) else (r,) for r in (expected, got))
    assert [_bits(a) for a in got] == [_bits(a) for a in expected]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_computes_the_threaded_route(threaded):
    # A child made by fork has none of its parent's threads, only a copy of the pool that names
    # them. It must still give the parent's bits and not hang (an alarm ends a hung child): it
    # starts a pool of its own (`_forget_pool` at fork), and a task no thread picks up is
    # cancelled once the calling thread has done every block. Fails if the reset at fork leaves
    # the pool half-forgotten (no pool, but a size that says there is one).
    threaded.setenv("XENTLIB_NUM_THREADS", "2")
    z, labels = _batch(np.float64)
    expected = xentlib.cross_entropy_with_grad(z, labels)  # the parent's pool now exists
    with warnings.catch_warnings():  # Python 3.12+ warns about fork in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        signal.alarm(20)
        ok = False
        try:
            got = xentlib.cross_entropy_with_grad(z, labels)
            ok = [_bits(a) for a in got] == [_bits(a) for a in expected]
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_the_threaded_route_works_in_an_atexit_handler():
    # At interpreter shutdown no new thread can be started ("cannot schedule new futures after
    # interpreter shutdown"): the calling thread then does all the work. Fails if that error
    # escapes from a call made in an atexit handler.
    program = (
        "import atexit, numpy as np, xentlib\n"
        "def report():\n"
        "    z = np.zeros((2048, 256))\n"
        "    print(f'{xentlib.cross_entropy(z, np.zeros(2048, dtype=int)):.6f}')\n"
        "atexit.register(report)\n"
    )
    env = dict(os.environ, XENTLIB_NUM_THREADS="2")
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout == f"{math.log(256):.6f}\n"


def _peak_of_a_step(z, labels):
    """tracemalloc's peak during one ``cross_entropy_with_grad(z, labels)``, after a first call
    (the thread pool and numpy's caches), and the gradient."""
    xentlib.cross_entropy_with_grad(z, labels)
    tracemalloc.start()
    try:
        _, grad = xentlib.cross_entropy_with_grad(z, labels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(10**6, 2), (4096, 1000), (64, 10)])
@pytest.mark.parametrize("order", ["C", "F"])
def test_peak_memory_is_within_twice_the_gradient(dtype, shape, order):
    # The gradient is the one allocation the size of z; per-row numbers live only per block. At
    # N = 10^7, C = 2 the batch-wide per-row arrays once took 14 times the gradient. A Fortran-
    # ordered z is copied a block at a time. Fails if per-row work arrays span the batch (C = 2:
    # each is half the gradient), if a whole copy of z is made, or full-size temporaries return.
    z = np.asarray(np.random.default_rng(0).standard_normal(shape), dtype=dtype, order=order)
    labels = np.zeros(shape[0], dtype=np.intp)
    peak, grad = _peak_of_a_step(z, labels)
    limit = 2 * grad.nbytes + 64 * 1024  # and a little for Python's own bookkeeping
    assert peak <= limit, f"peak {peak / grad.nbytes:.2f} x the gradient"


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_loss_alone_allocates_no_gradient(dtype):
    # cross_entropy needs no gradient: the exponentials go to one block-sized scratch array per
    # thread, so the call allocates a small fraction of z. Fails if a gradient-sized array is
    # allocated anyway (the gradient, or its scratch, made unconditionally).
    z = np.random.default_rng(0).standard_normal((4096, 1000)).astype(dtype)
    labels = np.zeros(4096, dtype=np.intp)
    xentlib.cross_entropy(z, labels)  # the thread pool and numpy's caches, once
    tracemalloc.start()
    try:
        xentlib.cross_entropy(z, labels)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= z.nbytes / 4, f"peak {peak / z.nbytes:.2f} x the logits"


# --- small calls: one pass for a small batch, Python floats for one short row ------------------


def _small_cases(dtype):
    """``(z, labels)`` pairs for the small routes: single rows of 1 to ``ONE_ROW_CLASSES``
    logits and small batches, with confident rows (where the label's ``q - 1`` and the
    argmax's ``-t / (1 + t)`` must keep their digits) and masked (-inf) classes."""
    rng = np.random.default_rng(1)
    rows = [np.zeros(1), np.array([-2.85, 0.86, 0.28]), np.array([-np.inf, 1.0, 2.0])]
    rows.append(np.array([800.0, 1.0, 2.0]))  # beyond exp's overflow: shifted, it is harmless
    # z - m = -700.2 is rounded by up to 5.7e-14, a relative error of 256 ulp in its exponential
    # unless TwoSum's term is kept: q_1 ~ 1e-304 is a normal float, measured to the ulp
    rows.append(np.array([0.3, -699.9, 1.7]))
    # here TwoSum's second term ((z - m) + m) - (z - m) - m is the nonzero one: 7.1e-15, 64 ulp
    # of e^(z_0 - m) = e^-200.9 if dropped or negated
    rows.append(np.array([-192.83439259866844, 8.061854646744074, 0.0]))
    rows += [rng.standard_normal(c) * 6 for c in (2, 5, _fast.ONE_ROW_CLASSES)]
    cases = [(z, int(np.argmin(z[1:])) + 1 if len(z) > 1 else 0) for z in rows]
    confident = np.array([0.0, 0.0, 40.0])
    cases += [(confident, 2), (confident, 0)]
    masked = np.where(rng.random((16, 8)) < 0.2, -np.inf, rng.standard_normal((16, 8)))
    masked[:, 0] = 0.0  # the label's class is never masked
    cases += [
        (rng.standard_normal((64, 10)) * 6, rng.integers(0, 10, 64)),
        (np.tile([0.0, -40.0, -40.0], (5, 1)), np.zeros(5, dtype=int)),
        (np.tile([0.0, -40.0, -40.0], (5, 1)), np.ones(5, dtype=int)),
        (masked, np.zeros(16, dtype=int)),
    ]
    return [(z.astype(dtype), labels) for z, labels in cases]


def _spy(monkeypatch, name):
    """Record the calls of ``_fast.<name>``, still calling it; returns the list of calls."""
    calls, original = [], getattr(_fast, name)

    def spied(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(_fast, name, spied)
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_calls_take_the_small_routes_and_match_mpmath(monkeypatch, dtype):
    # Within 1 ulp of mpmath in float32 (computed in float64, rounded once) and 3 in float64
    # (exp's ulp, then s, scale / s and the product: the blocks measure the same 2.6 here),
    # confident rows included; and no call reaches the blocks. Fails if a small route loses the
    # digits of q_k - y_k or of q_y - 1, drops a TwoSum term, misplaces an index, or if the small
    # calls silently take the blocks after all.
    blocks = _spy(monkeypatch, "_blocks")
    limit = 1 if dtype == np.float32 else 3
    for z, labels in _small_cases(dtype):
        loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
        assert loss.dtype == grad.dtype == dtype and grad.shape == z.shape
        assert _worst(loss, reference.cross_entropy(z, labels), dtype) <= limit, z
        assert _worst(grad, reference.cross_entropy_grad(z, labels), dtype) <= limit, z
        assert _bits(xentlib.cross_entropy(z, labels, reduction="none")) == _bits(loss)
    assert blocks == []


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_calls_agree_with_the_blocks(monkeypatch, dtype):
    # The same numbers to 2 eps whichever route computes them, for every reduction's scale.
    # Fails if the small batch's scale (1/N for a mean) is applied twice or not at all.
    for z, labels in _small_cases(dtype):
        if z.ndim == 1:
            continue
        for reduction in REDUCTIONS:
            small = xentlib.cross_entropy_with_grad(z, labels, reduction=reduction)
            with monkeypatch.context() as m:
                m.setattr(_fast, "SMALL_SIZE", 0)
                blocks = xentlib.cross_entropy_with_grad(z, labels, reduction=reduction)
            for a, b in zip(small, blocks, strict=True):
                np.testing.assert_allclose(a, b, rtol=2 * np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize(
    "z",
    [
        [np.nan, 1.0, 2.0],
        [np.inf, 1.0, 2.0],
        [-1.7e308, 1.7e308, 0.0],  # z - m overflows
        [1e308, 1e308, 1.0],  # the sum of the logits overflows
    ],
)
def test_one_row_outside_its_window_goes_to_the_algebra(monkeypatch, z):
    # Rows the Python-float route cannot take (a NaN or inf logit, a spread beyond the largest
    # float) become a small batch of one row, which hands it to the algebra: the same bits as
    # the algebra's. Fails if one is computed anyway (a NaN taken by max() as an ordinary
    # number, an overflowing z - m).
    handed = _spy(monkeypatch, "cross_entropy_rows")
    z = np.array(z)
    loss, grad = xentlib.cross_entropy_with_grad(z, 2)
    assert len(handed) == 1
    exact_loss, exact_grad = _algebra.cross_entropy_rows(*_algebra.shifted(z[None]), np.array([2]))
    np.testing.assert_array_equal(loss, exact_loss[0])
    np.testing.assert_array_equal(grad, exact_grad[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "row", [np.nan, np.inf, 800.0, -800.0], ids=["nan", "inf", "overflow", "s below 1"]
)
def test_a_small_batch_hands_only_its_rows_outside_the_window_to_the_algebra(
    monkeypatch, dtype, row
):
    # One row whose sum of exponentials is not finite, or below 1 (every logit at -800: its
    # exponentials underflow), goes to the algebra; the other rows stay on the small route and
    # keep its accuracy (float32 within 1 ulp of mpmath). Fails if the window check is dropped
    # or loosened, if the wrong rows are handed over, or if one bad row takes the batch with it.
    handed = _spy(monkeypatch, "cross_entropy_rows")
    z = (np.random.default_rng(0).standard_normal((8, 4)) * 6).astype(dtype)
    z[3] = row if row != -800.0 else np.full(4, row)
    if np.isfinite(row) and row > 0:
        z[3, 1] = row
    labels = np.arange(8) % 4
    loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
    assert len(handed) == 1 and handed[0][0].shape == (1, 1)  # the pieces (m first) of one row
    ref_loss, ref_grad = _algebra.cross_entropy_rows(*_algebra.shifted(z[3:4]), labels[3:4])
    np.testing.assert_array_equal(loss[3], ref_loss[0].astype(dtype))
    np.testing.assert_array_equal(grad[3], ref_grad[0].astype(dtype))
    rest = np.arange(8) != 3
    limit = 1 if dtype == np.float32 else 3
    exact_loss = reference.cross_entropy(z[rest], labels[rest])
    exact_grad = reference.cross_entropy_grad(z[rest], labels[rest])
    assert _worst(loss[rest], exact_loss, dtype) <= limit
    assert _worst(grad[rest], exact_grad, dtype) <= limit


@pytest.mark.parametrize("rows", [3, 18], ids=["small batch", "blocks"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.int32, np.uint64])
def test_labels_of_every_integer_dtype_are_checked_on_the_quick_path(dtype, rows):
    # The quick acceptance of labels reads them as unsigned for one pass: with int8 labels and
    # 300 classes, -1 read as unsigned is 255, a valid class. Fails if that is accepted, or if
    # valid labels of a narrow dtype are refused or misread by either route (uint64 plus an
    # index of intp is float64 in numpy: the labels must be made indices first).
    z = np.zeros((rows, 300))
    ok = np.resize(np.array([0, 7, 100], dtype=dtype), rows)
    grad = xentlib.cross_entropy_grad(z, ok, reduction="none")
    assert np.all(grad[np.arange(rows), ok.astype(int)] == 1 / 300 - 1)
    z = z[:3]
    if np.dtype(dtype).kind == "i":
        bad = np.array([0, -1, 100], dtype=dtype)
        with pytest.raises(ValueError, match="label -1 in target is out of range"):
            xentlib.cross_entropy_with_grad(z, bad)


@pytest.mark.parametrize("c", [2, 3, 12, 13, 100, 1000])
@pytest.mark.parametrize("dtype", DTYPES)
def test_row_sums_are_taken_in_float64_to_a_few_ulp(c, dtype):
    # Every probability of a row inherits the error of its sum: rows are summed in float64,
    # float32 ones too, short ones column by column and longer ones by einsum or pairwise, each
    # within (c - 1) float64 rounding errors of the exact sum of the values. Fails if a float32
    # row is accumulated in float32 (1e-7 relative), or a column is dropped or counted twice.
    e = np.random.default_rng(0).random((8, c)).astype(dtype)
    exact = np.array([math.fsum(row.astype(np.float64)) for row in e])
    got = _fast.row_sums(e)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, exact, rtol=(c - 1) * 2.0**-53, atol=0)


@pytest.mark.parametrize(
    "shape, route",
    [
        ((_fast.ONE_ROW_CLASSES,), "_one_row"),
        ((_fast.ONE_ROW_CLASSES + 1,), "_small_batch"),
        ((1, 1), "_small_batch"),
        ((_fast.SMALL_SIZE // 8, 8), "_small_batch"),
        ((_fast.SMALL_SIZE // 8 + 1, 8), "_blocks"),
    ],
    ids=["row at the limit", "row above it", "one logit", "batch at the limit", "batch above it"],
)
def test_each_size_takes_its_route(monkeypatch, shape, route):
    # The thresholds are inclusive: a row of ONE_ROW_CLASSES logits is computed on Python
    # floats, a batch of SMALL_SIZE logits in one pass, one logit too (its loss is 0); a longer
    # row is a batch of one row, with a 0-d loss. Fails if a threshold moves by one, or if the
    # batch of one row hands back its loss as shape (1,).
    calls = {name: _spy(monkeypatch, name) for name in ("_one_row", "_small_batch", "_blocks")}
    z = np.random.default_rng(0).standard_normal(shape)
    labels = np.asarray(0) if len(shape) == 1 else np.zeros(shape[0], dtype=int)
    target = int(labels) if len(shape) == 1 else labels
    loss, grad = xentlib.cross_entropy_with_grad(z, target, reduction="none")
    assert [name for name, seen in calls.items() if seen] == [route]
    assert np.shape(loss) == shape[:-1] and grad.shape == shape
    exact = reference.cross_entropy(z, labels if len(shape) > 1 else 0)
    assert _worst(loss, exact, np.float64) <= 3


@pytest.mark.parametrize("label", [2, 0, 1])
def test_float32_blocks_take_the_largest_exponential_in_float64(monkeypatch, label):
    # numpy's float32 exp is 2.45 ulp low at 4.50845 and 1.9 ulp high at 0.658515. With that
    # term dominating s, its error would go into every probability of the row (3.2 ulp at q_3,
    # label 2); kept in float32 in q_0 alone, q_0 is 3.1 ulp off. Taken in float64 for s and
    # for q_0, the row stays within 2 ulp, label at the largest logit or not. A first logit of
    # 100, beyond float32 exp's overflow, is then harmless too. Fails if e_k is left to float32
    # in s or in q_k, or if the label's term is counted twice when it is the largest.
    monkeypatch.setattr(_fast, "SMALL_SIZE", 0)  # the blocks, in float32
    z = np.array([[4.50845, 0.658515, -5.0, 2.079095], [100.0, 80.0, 1.0, 70.0]], np.float32)
    labels = np.array([label, label])
    seen = _spy(monkeypatch, "shifted")
    loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
    assert seen == []  # both rows on the fast route
    assert _worst(grad, reference.cross_entropy_grad(z, labels), np.float32) <= 2
    assert _worst(loss, reference.cross_entropy(z, labels), np.float32) <= 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_row_with_t_beyond_2_to_the_1000_goes_to_the_algebra(monkeypatch, dtype):
    # t = u / e_y is e^690 (below 2^1000 = e^693.1) for the first row, e^700 for the second:
    # the second, with a loss of 700, goes to the algebra, where e_y = e^-700 would be near the
    # bottom of float64's normal range. Both rows within 2 ulp. Fails if the bound on t is dropped
    # or moved past e^700, or if the first row is refused.
    monkeypatch.setattr(_fast, "SMALL_SIZE", 0)
    z = np.array([[0.0, -690.0], [0.0, -700.0]], dtype=dtype)
    labels = np.array([1, 1])
    seen = _rows_handed_over(monkeypatch)
    loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
    assert len(seen) == 1 and _bits(seen[0]) == _bits(z[1:])
    assert _worst(loss, reference.cross_entropy(z, labels), dtype) <= 2
    assert _worst(grad, reference.cross_entropy_grad(z, labels), dtype) <= 2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(20000, 2), (5000, 4), (4096, 10)])
def test_few_classes_keep_the_per_row_numbers_within_the_gradient(dtype, shape):
    # With two to ten classes a row's float64 numbers (up to 48 bytes at once) outweigh its
    # gradient (8 to 80 bytes): the blocks are cut so that they take at most as much as the
    # gradient, numpy's casting buffers are kept to 1024 elements, and rows of up to 48 bytes
    # are summed without einsum's 64 KB buffer. The peak stays within twice the gradient plus
    # the loss (half the gradient at two float32 classes); at 4096 x 10 it was 2.52 times the
    # gradient in float32 (1.78 now), at 20000 x 2 3.50 (2.48 now). Fails if the blocks take
    # the per-row numbers of 8192 rows whatever the gradient's size, if the buffers are numpy's
    # default 8192 elements, or if einsum sums the short rows.
    z = np.asarray(np.random.default_rng(0).standard_normal(shape), dtype=dtype)
    labels = np.zeros(shape[0], dtype=np.intp)
    peak, grad = _peak_of_a_step(z, labels)
    limit = 2 * grad.nbytes + shape[0] * z.itemsize + 16 * 1024
    assert peak <= limit, f"peak {peak / grad.nbytes:.2f} x the gradient"


@pytest.mark.parametrize("deep", [False, True], ids=["whole block", "row by row"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_rows_with_a_small_sum_but_normal_exponentials_need_no_hand_over(monkeypatch, dtype, deep):
    # Logits all below 0 give s < 1 in many rows; no exponential is below the normal range, so
    # every row is in the window and none goes to the algebra, not even an empty set of rows
    # (which cost the algebra's fixed price on every such batch). The block passes as a whole;
    # with a row [0, -800] beside them (an exponential underflows, but s = 1) it is tested row by
    # row, and passes too. Fails if a block hands over zero rows, or refuses rows that are safe.
    monkeypatch.setattr(_fast, "SMALL_SIZE", 0)
    z = -np.abs(np.random.default_rng(0).standard_normal((64, 2)) * 3)
    if deep:
        z[-1] = [0.0, -800.0]
    z = z.astype(dtype)
    labels = np.zeros(64, dtype=np.intp)
    assert np.any(np.exp(z.astype(np.float64)).sum(axis=1) < 1)  # the test's premise
    seen = _rows_handed_over(monkeypatch)
    loss, grad = xentlib.cross_entropy_with_grad(z, labels, reduction="none")
    assert seen == []
    assert _worst(loss, reference.cross_entropy(z, labels), dtype) <= 2
    assert _worst(grad, reference.cross_entropy_grad(z, labels), dtype) <= 3


@pytest.mark.parametrize("count", ["1", "3"])
def test_the_callers_buffer_size_is_left_as_it_was(threaded, count):
    # The blocks set numpy's buffer size for their own casts, in each thread, under an errstate
    # that restores it: a caller's np.setbufsize survives the call. Fails if the setting leaks.
    threaded.setenv("XENTLIB_NUM_THREADS", count)
    z, labels = _batch(np.float32)
    saved = np.setbufsize(4096)
    try:
        xentlib.cross_entropy_with_grad(z, labels)
        assert np.getbufsize() == 4096
    finally:
        np.setbufsize(saved)
