"""Accuracy table: the largest error, in ulp of the output dtype, of each function and contender.

The suite is ``xentlib.reference.suite``, the one the unit tests check (fixed by a seed, the same
on every run), and the errors are ``xentlib.reference.ulp_error``'s.

Run ``python benchmarks/accuracy.py`` for the table alone; ``make bench`` prints it with the
speed table.
"""

import numpy as np

from xentlib import reference

SOFTMAX_FAMILY = ("log_softmax", "softmax", "logsumexp", "cross_entropy", "cross_entropy_grad")
SIGMOID_FAMILY = ("sigmoid", "binary_cross_entropy_with_logits")


def max_errors(impl, dtype, suite):
    """``{function: max ulp error over the suite}`` of one implementation (``inf`` for nan/inf)."""
    softmax_cases, sigmoid_cases = suite
    worst = {}

    def record(name, computed, exact):
        err = reference.ulp_error(np.asarray(computed), exact, dtype)
        worst[name] = max(worst.get(name, 0.0), float(err.max(initial=0.0)))

    with np.errstate(all="ignore"):
        for _, z, labels, exact in softmax_cases:
            for name in ("log_softmax", "softmax", "logsumexp"):
                record(name, impl[name](z.copy()), exact[name])
            record("cross_entropy", impl["cross_entropy"](z.copy(), labels), exact["cross_entropy"])
            record(
                "cross_entropy_grad",
                impl["cross_entropy_grad"](z.copy(), labels),
                exact["cross_entropy_grad"],
            )
        for case, x, y, exact in sigmoid_cases:
            if case == "hard labels":
                record("sigmoid", impl["sigmoid"](x.copy()), exact["sigmoid"])
            name = "binary_cross_entropy_with_logits"
            record(
                f"bce_with_logits ({case.split()[0]})", impl[name](x.copy(), y.copy()), exact[name]
            )
    return worst


def _cell(err):
    if not np.isfinite(err):
        return "nan/inf"
    if err >= 1e4:
        return f"{err:.1e}"
    return f"{err:.2f}" if err < 10 else f"{err:.0f}"


def table(impls, dtypes=(np.float32, np.float64), small=False):
    """The accuracy table as a string (max ulp error; 'nan/inf' where the exact value is finite)."""
    names = list(impls)
    lines = []
    for dtype in dtypes:
        suite = reference.suite(dtype, small=small)
        errors = {name: max_errors(impl, dtype, suite) for name, impl in impls.items()}
        funcs = list(errors[names[0]])
        header = f"{np.dtype(dtype).name:<34}" + "".join(f"{n:>17}" for n in names)
        lines += [header, "-" * len(header)]
        for func in funcs:
            lines.append(f"{func:<34}" + "".join(f"{_cell(errors[n][func]):>17}" for n in names))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    import contenders

    print("Max error in ulp against mpmath (50 digits); lower is better, 0.5 is correct rounding")
    print(contenders.versions())
    print()
    print(table(contenders.available()))
