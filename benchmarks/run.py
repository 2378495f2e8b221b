"""``make bench``: the speed and accuracy tables of xentlib and its peers, from one run.

Usage: python benchmarks/run.py [--quick] [--only speed|accuracy]

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
    parser.add_argument("--quick", action="store_true", help="fewer rounds, smaller suite")
    parser.add_argument("--only", choices=["speed", "accuracy"])
    args = parser.parse_args(argv)
    impls = contenders.available()
    print(f"Machine: {machine()}")
    print(f"Versions: {contenders.versions()}")
    print(f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', 'unset')}\n")
    if args.only != "accuracy":
        start = time.perf_counter()
        print("Speed: cross_entropy_with_grad(z, labels), loss and gradient (mean reduction).")
        print("Per call: median and min - max over interleaved rounds; median / xentlib's median.")
        print("Timings vary run to run; compare the ratios.\n")
        print(speed.table(impls, rounds=5 if args.quick else 15))
        print(f"\n({time.perf_counter() - start:.0f} s)\n")
        print("Memory: peak allocation during one call at 4096x1000, / the gradient's size.\n")
        print(speed.memory_table(impls))
        print()
    if args.only != "speed":
        start = time.perf_counter()
        print("Accuracy: max error in ulp of the output dtype against mpmath at 50 digits")
        print(
            "(0.5 = correctly rounded; 'nan/inf' = NaN or inf where the exact value is finite).\n"
        )
        with np.errstate(all="ignore"):
            # One PyTorch column: its thread count changes timings, not results.
            same_results = {n: impl for n, impl in impls.items() if "1 thread" not in n}
            print(accuracy.table(same_results, small=args.quick))
        print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
