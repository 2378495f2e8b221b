"""``make bench``: the speed and accuracy tables of xentlib and its peers, from one run.

Usage: python benchmarks/run.py [--quick] [--only speed|memory|accuracy]

PyTorch and JAX are compared when they are installed in the running environment (they are never
xentlib dependencies); see the README's "Performance" section for a CPU-only setup.
"""

import argparse
import os
import platform
import sys
import time

# PyTorch runs with its own defaults. THP_MEM_ALLOC_ENABLE=1 (transparent huge pages for its CPU
# allocator) was its best setting on this kind of VM once; it now stalls in memory compaction
# (4096x1000 float32: 5.9 and 48 ms median in two runs, 5.4 and 5.6 ms without). Set it in the
# environment to compare; it is read when torch is imported.
import accuracy
import agreement
import contenders
import numpy as np
import speed


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer rounds and cases")
    parser.add_argument("--only", choices=["speed", "memory", "accuracy"])
    args = parser.parse_args(argv)
    print(f"Machine: {machine()}")
    print(f"Versions: {contenders.versions()}")
    print(f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}\n")
    if args.only in (None, "speed"):
        start = time.perf_counter()
        names = [n for n in contenders.SPEED_CONTENDERS if contenders.installed(n)]
        shapes = [(3,), (4096, 1000)] if args.quick else speed.SHAPES
        print("Speed: cross_entropy_with_grad(z, labels), loss and gradient (mean reduction);")
        print("(3,) is a single row and one label. Each contender in its own process, the")
        print("processes alternating; per call: median and min - max over the rounds (each round")
        print(
            "one process's median of 5 batches); median / xentlib's median. Compare the ratios.\n"
        )
        dtypes = ("float32",) if args.quick else ("float32", "float64")
        print(speed.table(names, shapes=shapes, dtypes=dtypes, rounds=2 if args.quick else 5))
        print(f"({time.perf_counter() - start:.0f} s)\n")
    if args.only in (None, "memory"):
        start = time.perf_counter()
        shapes = [(64, 10), (4096, 1000), (10**6, 2)] if args.quick else speed.MEMORY_SHAPES
        print("Memory: tracemalloc's peak during one call / the gradient's size.\n")
        print(speed.memory_table(shapes))
        print(f"({time.perf_counter() - start:.0f} s)\n")
    if args.only in (None, "accuracy"):
        start = time.perf_counter()
        print("Accuracy: max error in ulp of the output dtype against mpmath at 50 digits")
        print("(xentlib.reference) over the well-conditioned suite (xentlib.reference.suite);")
        print("0.5 = correctly rounded; 'nan/inf' = NaN or inf where the exact value is finite.\n")
        impls = contenders.available()
        with np.errstate(all="ignore"):
            print(accuracy.table(impls, small=args.quick))
            print("Ill-conditioned (float64): error in ulp next to the condition number κ; a")
            print("backward-stable result is off by about κ ulp, whatever its algorithm.\n")
            print(accuracy.ill_conditioned_table(impls))
            torch = contenders._optional("torch")
            print("Loss options: the loss's max error in ulp, the gradient's divided by its")
            print("condition number in the target (reference.cross_entropy_options).\n")
            print(accuracy.options_table(torch=torch))
            if torch is not None:
                print("Agreement with PyTorch: the loss options, every combination and reduction")
                print("(benchmarks/agreement.py).\n")
                print(agreement.table(torch))
        print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
