"""Speed and memory of one training step, ``cross_entropy_with_grad(z, labels)``.

Fair-benchmarking rules (the machine is shared and noisy):

- each contender is timed in its own process: ``python benchmarks/speed.py --worker NAME SHAPE
  DTYPE`` builds the arrays (the same seed for all), warms up, then times back-to-back calls in
  batches of 20 ms or more, as in a training loop, and prints the median per-call time of its
  batches. PyTorch's OpenMP threads keep spinning for ~10 ms after each call and slow whatever
  runs next in the same process (a threaded numpy routine most of all), so no two contenders
  ever share one;
- the driver alternates the processes, A B C ... A B C ..., with a rotating start, so slow spells
  of the machine fall on every contender; the table shows the median over the rounds with the
  min-max range, and the median over xentlib's median from the same run;
- "xentlib" runs with its default threads (``XENTLIB_NUM_THREADS`` unset: one per usable CPU),
  "xentlib, 1 thread" with ``XENTLIB_NUM_THREADS=1`` in its process's environment; PyTorch with
  its defaults (its threads: one per core; see ``run.py`` on ``THP_MEM_ALLOC_ENABLE``), and again
  on one thread;
- "fresh copy" is ``z.copy()``: reading the logits and writing one new array of their size, the
  least work any function that returns the gradient must do (the memory floor).

The memory table is ``tracemalloc``'s peak during one call over the gradient's size, in one
process (tracemalloc sees numpy's allocations, in every thread, but not PyTorch's).
"""

import argparse
import json
import os
import subprocess
import sys
import time
import tracemalloc

import numpy as np

SHAPES = [(3,), (64, 10), (4096, 10), (4096, 1000), (65536, 1000)]
MEMORY_SHAPES = [*SHAPES, (10**6, 2), (10**7, 2)]
BATCH_SECONDS = 0.02
BATCHES = 5


def data(shape, dtype, seed=0):
    """Logits of ``shape`` (scale 3) and 0-based labels: one int for a single row."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal(shape) * 3).astype(dtype)
    labels = rng.integers(0, shape[-1], shape[:-1])
    return z, (int(labels) if len(shape) == 1 else labels)


def _per_call(func, z, labels, min_seconds):
    """Seconds per call, averaged over enough back-to-back calls to last ``min_seconds``."""
    calls = 1
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            func(z, labels)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls
        calls *= max(2, int(min_seconds / max(elapsed, 1e-7)) + 1)


def worker(name, shape, dtype):
    """In this process: warm up contender ``name``, then the median per-call time of its batches."""
    import contenders

    func = contenders.make(name)["cross_entropy_with_grad"]
    z, labels = data(shape, dtype)
    _per_call(func, z, labels, 0.05)  # first-call costs, page faults, thread start-up
    return float(np.median([_per_call(func, z, labels, BATCH_SECONDS) for _ in range(BATCHES)]))


def _spawn(name, shape, dtype):
    env = dict(os.environ)
    env.pop("XENTLIB_NUM_THREADS", None)
    if name == "xentlib, 1 thread":
        env["XENTLIB_NUM_THREADS"] = "1"
    args = [sys.executable, __file__, "--worker", name, "x".join(map(str, shape)), dtype]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {name} {shape} {dtype} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(names, shape, dtype, rounds):
    """``{name: array of per-call seconds}``, one value per round, processes alternating."""
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            times[name].append(_spawn(name, shape, dtype))
    return {name: np.array(t) for name, t in times.items()}


def _fmt(seconds):
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs" if seconds < 1e-5 else f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _label(shape, dtype):
    return f"{'x'.join(map(str, shape))}, {np.dtype(dtype).name}"


def table(names, shapes=SHAPES, dtypes=("float32", "float64"), rounds=5):
    """The speed table as a string: per shape and dtype, each contender's median per call, its
    min-max over the rounds, and its median over xentlib's (below 1: faster than xentlib)."""
    width = max(len(n) for n in names) + 2
    header = f"{'shape, dtype':<22}{'contender':<{width}}"
    header += f"{'median':>10}{'min - max':>24}{'/ xentlib':>11}"
    lines = [header, "-" * len(header)]
    for dtype in dtypes:
        for shape in shapes:
            big = np.prod(shape) >= 10**7
            times = measure(names, shape, dtype, max(3, rounds // 2) if big else rounds)
            ref = np.median(times["xentlib"])
            label = _label(shape, dtype)
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


def _one_thread(func):
    def call(z, labels):
        saved = os.environ.get("XENTLIB_NUM_THREADS")
        os.environ["XENTLIB_NUM_THREADS"] = "1"
        try:
            return func(z, labels)
        finally:
            if saved is None:
                del os.environ["XENTLIB_NUM_THREADS"]
            else:
                os.environ["XENTLIB_NUM_THREADS"] = saved

    return call


def memory_table(shapes=MEMORY_SHAPES, dtypes=("float32", "float64")):
    """Peak memory allocated during one call, in units of the gradient's size (1.00: the gradient
    and nothing else of its size), for the numpy-based contenders."""
    import contenders

    funcs = {
        name: contenders.make(name)["cross_entropy_with_grad"]
        for name in ("xentlib", "naive numpy", "max-shift numpy", "scipy", "fresh copy")
    }
    funcs["xentlib, 1 thread"] = _one_thread(funcs["xentlib"])
    names = ["xentlib", "xentlib, 1 thread", "naive numpy", "max-shift numpy", "scipy"]
    header = f"{'shape, dtype':<22}" + "".join(f"{n:>19}" for n in names)
    lines = [header, "-" * len(header)]
    for dtype in dtypes:
        for shape in shapes:
            z, labels = data(shape, dtype)
            cells = []
            for name in names:
                funcs[name](z, labels)  # first-call costs
                tracemalloc.start()
                _, grad = funcs[name](z, labels)
                _, peak = tracemalloc.get_traced_memory()
                tracemalloc.stop()
                cells.append(f"{peak / grad.nbytes:.2f}")
                del grad
            lines.append(f"{_label(shape, dtype):<22}" + "".join(f"{c:>19}" for c in cells))
            del z
        lines.append("")
    lines.append("(torch: its allocator is not seen by tracemalloc)")
    return "\n".join(lines)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=3, metavar=("NAME", "SHAPE", "DTYPE"))
    args = parser.parse_args(argv)
    if args.worker:
        name, shape, dtype = args.worker
        print(json.dumps(worker(name, tuple(int(n) for n in shape.split("x")), dtype)))
        return
    import contenders

    print(contenders.versions())
    print(table([n for n in contenders.SPEED_CONTENDERS if contenders.installed(n)]))
    print(memory_table())


if __name__ == "__main__":
    main(sys.argv[1:])
