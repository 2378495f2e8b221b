"""Speed table: one training step's loss and gradient, ``cross_entropy_with_grad(z, labels)``.

Fair-benchmarking rules (the machine is shared and noisy):

- the contenders run interleaved, in a rotating order, on the same arrays, in the same process;
- each timing is the per-call time of a batch of back-to-back calls lasting 20 ms or more, as in
  a training loop;
- the table shows the median with the min-max range, and ratios to xentlib from the same run;
- "fresh copy" is ``z.copy()``: reading the logits and writing one new array of their size, the
  least work any function that returns the gradient must do (the memory floor);
- PyTorch runs with its defaults (its threads: one per core; see ``run.py`` on
  ``THP_MEM_ALLOC_ENABLE``), and again on one thread; JAX is jit-compiled; xentlib runs with
  its defaults (one thread per core) and again on one thread;
- each contender's timing starts on a quiet machine: after every call PyTorch's OpenMP threads
  keep spinning on the other cores for ~10 ms (measured: ~10 ms of CPU time burnt during a
  sleep after one call), which would slow whatever is timed next, so each timing is preceded
  by ``SETTLE_SECONDS`` of sleep, then one untimed call (which wakes the contender's own threads
  and brings its data into cache).
"""

import time
import tracemalloc

import numpy as np

SHAPES = [(64, 10), (4096, 10), (4096, 1000), (65536, 1000)]
SETTLE_SECONDS = 0.03


def _per_call(func, z, labels, min_seconds):
    """Seconds per call, averaged over enough calls to last ``min_seconds``."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            func(z, labels)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls
        calls *= max(2, int(min_seconds / max(elapsed, 1e-7)) + 1)


def measure(impls, shape, dtype, rounds=15, min_seconds=0.02, seed=0):
    """``{name: array of per-call seconds}`` for every contender and the fresh-copy floor."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    labels = rng.integers(0, shape[1], shape[0])
    funcs = {name: impl["cross_entropy_with_grad"] for name, impl in impls.items()}
    funcs["fresh copy"] = lambda z, labels: z.copy()
    for func in funcs.values():  # warm up: first-call costs, jit compilation, page faults
        func(z, labels)
    names = list(funcs)
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            time.sleep(SETTLE_SECONDS)  # let the previous contender's threads go idle
            funcs[name](z, labels)  # then wake this one's threads: timed is the steady state
            times[name].append(_per_call(funcs[name], z, labels, min_seconds))
    return {name: np.array(t) for name, t in times.items()}


def _fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def table(impls, shapes=SHAPES, dtypes=(np.float32, np.float64), rounds=15):
    """The speed table as a string: per shape and dtype, each contender's median per call, its
    min-max over the rounds, and its median over xentlib's (below 1: faster than xentlib)."""
    names = [*impls, "fresh copy"]
    width = max(len(n) for n in names) + 2
    header = f"{'shape, dtype':<22}{'contender':<{width}}"
    header += f"{'median':>10}{'min - max':>24}{'/ xentlib':>11}"
    lines = [header, "-" * len(header)]
    for dtype in dtypes:
        for shape in shapes:
            rounds_here = rounds if shape[0] * shape[1] < 10**7 else max(5, rounds // 3)
            times = measure(impls, shape, dtype, rounds=rounds_here)
            ref = np.median(times["xentlib"])
            label = f"{shape[0]}x{shape[1]}, {np.dtype(dtype).name}"
            for name in names:
                t = times[name]
                med = np.median(t)
                spread = f"{_fmt(t.min())} - {_fmt(t.max())}"
                lines.append(
                    f"{label:<22}{name:<{width}}{_fmt(med):>10}{spread:>24}{med / ref:>10.2f}x"
                )
                label = ""
            lines.append("")
    return "\n".join(lines)


def memory_table(impls, shape=(4096, 1000), dtypes=(np.float32, np.float64)):
    """Peak memory allocated during one call, in units of the gradient's size.

    Measured with ``tracemalloc``, which sees numpy's allocations but not PyTorch's or JAX's
    (their rows say so). 1.00 means the gradient and nothing else of its size.
    """
    lines = [f"{'contender':<20}" + "".join(f"{np.dtype(d).name:>12}" for d in dtypes)]
    rng = np.random.default_rng(0)
    labels = rng.integers(0, shape[1], shape[0])
    arrays = {d: (rng.standard_normal(shape) * 3).astype(d) for d in dtypes}
    for name, impl in impls.items():
        cells = []
        for dtype in dtypes:
            z = arrays[dtype]
            impl["cross_entropy_with_grad"](z, labels)  # warm up caches and first-call costs
            tracemalloc.start()
            _, grad = impl["cross_entropy_with_grad"](z, labels)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            numpy_grad = isinstance(grad, np.ndarray) and grad.base is None
            cells.append(f"{peak / z.nbytes:.2f}" if numpy_grad else "not seen")
        lines.append(f"{name:<20}" + "".join(f"{c:>12}" for c in cells))
    return "\n".join(lines)


if __name__ == "__main__":
    import contenders

    print(contenders.versions())
    print(table(contenders.available()))
