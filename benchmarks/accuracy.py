"""Accuracy table: the largest error, in ulp of the output dtype, of each function and contender.

The suite (``build_suite``) is fixed by a seed, so the table is the same on every run:

- random logits at scales 1, 10 and 100;
- confident rows ``[0, -g, -g, ...]`` (plus small noise) with gaps ``g`` up to 10**4, the label
  at the argmax: the case where the max-shift form loses every digit;
- ties (equal maxima), offsets up to 1e30 (in both signs), ``±finfo.max``, subnormal logits and
  rows whose probabilities underflow into the subnormals, ``-inf`` masks, and one row of 10**5
  classes;
- for the sigmoid family: values from -10**4 to 10**4 and the extremes above, with hard (0/1) and
  soft (uniform) labels.

Run ``python benchmarks/accuracy.py`` for the table alone; ``make bench`` prints it with the
speed table.
"""

import numpy as np

from xentlib import reference as ref

SOFTMAX_FAMILY = ("log_softmax", "softmax", "logsumexp", "cross_entropy", "cross_entropy_grad")
SIGMOID_FAMILY = ("sigmoid", "binary_cross_entropy_with_logits")


def _softmax_cases(dtype, rng, small):
    """``(name, z, labels)`` triples of (N, C) logits in ``dtype`` with 0-based labels."""
    info = np.finfo(dtype)
    n, c = (8, 16) if small else (32, 100)
    cases = []
    for scale in (1, 10, 100):
        z = rng.standard_normal((n, c)) * scale
        cases.append((f"random, scale {scale}", z))
    gaps = [5, 10, 17, 20, 30, 37, 50, 100, 1e3, 1e4]
    confident = []
    for g in gaps:
        for width in (2, 4, 10):
            row = -g + rng.uniform(-1e-3, 1e-3, width) * min(g, 1)
            row[0] = rng.uniform(-1, 1)
            confident.append(row)
    width = max(len(r) for r in confident)
    cases.append(
        (
            "confident, gaps to 1e4",
            np.array([np.pad(r, (0, width - len(r)), constant_values=-np.inf) for r in confident]),
        )
    )
    ties = np.array([[1.5, 1.5, 1.5, 1.5], [0.0, 0.0, -1.0, -2.0], [-3.0, 7.0, 7.0, 6.0]])
    cases.append(("ties", ties))
    offsets = [1e3, -1e3, 1e10, -1e10, 1e30, -1e30]
    cases.append(("offsets to 1e30", np.array([o + rng.standard_normal(c) * 10 for o in offsets])))
    big = float(info.max)
    cases.append(
        (
            "±finfo.max",
            np.array(
                [[big, big, 0.0], [big, 0.0, -big], [-big, -big, -big], [big, big * 0.5, 1.0]]
            ),
        )
    )
    tiny = float(info.smallest_subnormal)
    under = 0.9 * np.log(float(info.smallest_normal))  # probabilities in the subnormal range
    cases.append(
        (
            "subnormals",
            np.array(
                [
                    [tiny, 0.0, -tiny, 2 * tiny],
                    [float(info.smallest_normal), tiny, 0.0, 1.0],
                    [0.0, under, under * 1.05, under * 1.1],
                    [0.0, 1.0, under, 1.2 * under],
                ]
            ),
        )
    )
    masked = rng.standard_normal((n, c)) * 10
    masked[:, 1:][rng.random((n, c - 1)) < 0.5] = -np.inf  # column 0 stays finite
    cases.append(("-inf masks", masked))
    many = 2_000 if small else 100_000
    cases.append((f"{many} classes", rng.standard_normal((1, many)) * 10))
    out = []
    for name, z in cases:
        z = np.asarray(z).astype(dtype)
        k = np.argmax(z, axis=-1)
        other = rng.integers(0, z.shape[1], z.shape[0])
        other = np.where(np.isfinite(z[np.arange(z.shape[0]), other]), other, k)
        labels = np.where(np.arange(z.shape[0]) % 2 == 0, k, other)  # half confident-correct
        out.append((name, z, labels))
    return out


def _sigmoid_cases(dtype, rng, small):
    info = np.finfo(dtype)
    n = 200 if small else 2000
    x = np.concatenate(
        [
            rng.standard_normal(n) * 3,
            rng.standard_normal(n) * 40,
            np.array([-1e4, -1e3, -100.0, -20.0, 0.0, 20.0, 40.0, 100.0, 1e3, 1e4]),
            np.array([float(info.max), -float(info.max), float(info.smallest_subnormal), 1e-30]),
        ]
    ).astype(dtype)
    hard = (rng.random(x.shape) < 0.5).astype(dtype)
    soft = rng.random(x.shape).astype(dtype)
    return [("hard labels", x, hard), ("soft labels", x, soft)]


def build_suite(dtype, small=False, seed=0):
    """The cases with their exact answers: ``(softmax_cases, sigmoid_cases)``.

    Each softmax case is ``(name, z, labels, exact)``, each sigmoid case ``(name, x, y, exact)``,
    where ``exact`` maps a function name to its ``(hi, lo)`` reference.
    """
    rng = np.random.default_rng(seed)
    softmax_cases = [
        (name, z, labels, ref.softmax_batch(z, labels))
        for name, z, labels in _softmax_cases(dtype, rng, small)
    ]
    sigmoid_cases = [
        (name, x, y, ref.sigmoid_family(x, y)) for name, x, y in _sigmoid_cases(dtype, rng, small)
    ]
    return softmax_cases, sigmoid_cases


def max_errors(impl, dtype, suite):
    """``{function: max ulp error over the suite}`` of one implementation (``inf`` for nan/inf)."""
    softmax_cases, sigmoid_cases = suite
    worst = {}

    def record(name, computed, exact):
        err = ref.ulp_error(np.asarray(computed), exact, dtype)
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
        suite = build_suite(dtype, small=small)
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
