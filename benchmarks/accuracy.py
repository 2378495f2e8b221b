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


# --- ill-conditioned problems: the error next to the condition number --------------------------


def _near_zero_logsumexp_rows(rng):
    """float64 rows whose log-sum-exp is near 0: ``-log C`` plus noise of size ``10**-k``."""
    rows = [
        ("[-ln 2, -ln 2]", np.full(2, -np.log(2))),
        ("[-ln 3] * 3", np.full(3, -np.log(3))),
        ("issue 9's row", np.array([-14.656211, -2.185245, -np.inf, -0.11740191])),
    ]
    for c in (2, 10, 1000):
        for k in (4, 8, 12):
            noise = rng.standard_normal(c) * 10.0**-k
            rows.append((f"-ln {c} + N(0, 1e-{k})", -np.log(c) + noise))
    return rows


def _target_near_q_rows(rng):
    """``(name, z, y)``: 10 random logits and a probability target ``y`` about ``δ`` from ``q``
    (relatively), normalised to sum to 1."""
    z = rng.standard_normal(10) * 3
    q = reference.softmax(z).hi
    rows = []
    for delta in (0.0, 1e-15, 1e-12, 1e-8, 1e-4, 1e-1):
        y = q * (1 + delta * rng.choice([-1.0, 1.0], 10))
        y /= y.sum()  # a target sums to 1
        rows.append((f"y = q (1 ± {delta:g})", z, y))
    return rows


def ill_conditioned_table(impls, seed=0):
    """float64 logsumexp near 0 and ``q - y`` at a probability target near ``q``: each row's
    condition number (``reference.logsumexp_condition``, ``reference.cross_entropy_grad_condition``)
    next to each contender's error in ulp. A backward-stable result is off by about κ ulp."""
    rng = np.random.default_rng(seed)
    names = list(impls)
    lines = []
    header = f"{'logsumexp, float64':<28}{'exact':>12}{'κ':>10}" + "".join(
        f"{n:>17}" for n in names
    )
    lines += [header, "-" * len(header)]
    with np.errstate(all="ignore"):
        for name, z in _near_zero_logsumexp_rows(rng):
            exact = reference.logsumexp(z)
            kappa = float(reference.logsumexp_condition(z))
            errs = [
                float(reference.ulp_error(impl["logsumexp"](z[None])[0], exact, np.float64))
                for impl in impls.values()
            ]
            lines.append(
                f"{name:<28}{float(exact.hi):>12.3g}{kappa:>10.2g}"
                + "".join(f"{_cell(e):>17}" for e in errs)
            )
        lines.append("")
        header = f"{'softmax(z) - y, float64':<28}{'max |q-y|':>12}{'max κ':>10}"
        header += "".join(f"{n:>17}" for n in names)
        lines += [header, "-" * len(header)]
        for name, z, y in _target_near_q_rows(rng):
            exact = reference.cross_entropy_grad(z, y)
            kappa = reference.cross_entropy_grad_condition(z, y)
            errs = []
            for impl_name, impl in impls.items():
                if impl_name == "xentlib":
                    import xentlib

                    grad = xentlib.cross_entropy_grad(z, y, reduction="sum")
                else:  # what their cross-entropy's backward computes: softmax(z) - y
                    grad = impl["softmax"](z[None])[0] - y
                errs.append(float(reference.ulp_error(grad, exact, np.float64).max()))
            lines.append(
                f"{name:<28}{np.abs(exact.hi).max():>12.3g}{kappa.max():>10.2g}"
                + "".join(f"{_cell(e):>17}" for e in errs)
            )
    lines.append("")
    return "\n".join(lines)


# --- the loss options ---------------------------------------------------------------------------

OPTION_SETS = {
    "weight": {"weight": True},
    "label_smoothing 0.1": {"label_smoothing": 0.1},
    "weight + label_smoothing 0.1": {"weight": True, "label_smoothing": 0.1},
    "label_smoothing 1": {"label_smoothing": 1.0},
}


def _torch_options(torch, z, target, options):
    import torch.nn.functional as F

    zt = torch.tensor(z, requires_grad=True)
    kwargs = {"reduction": "none", "label_smoothing": options.get("label_smoothing", 0.0)}
    if options.get("weight") is not None:
        kwargs["weight"] = torch.tensor(options["weight"].astype(z.dtype))
    loss = F.cross_entropy(zt, torch.tensor(target), **kwargs)
    loss.sum().backward()
    return loss.detach().numpy(), zt.grad.numpy()


def options_table(dtypes=(np.float32, np.float64), small=True, torch=None, seed=0):
    """Cross-entropy with class weights and label smoothing (labels; the small suite without
    its ±finfo.max rows), against ``reference.cross_entropy_options``: the loss's largest error
    in ulp, and the gradient's divided by its condition number in the target (κ >= 1, 1 at a
    confident, correct argmax). With ``torch``, PyTorch's errors beside xentlib's."""
    import xentlib

    names = ["xentlib"] + (["torch"] if torch is not None else [])
    lines = []
    for dtype in dtypes:
        header = f"{np.dtype(dtype).name + ', options (labels)':<34}" + "".join(
            f"{n + ' ' + part:>17}" for n in names for part in ("loss", "grad/κ")
        )
        lines += [header, "-" * len(header)]
        rng = np.random.default_rng(seed + 1)
        cases = [
            case
            for case in reference._softmax_cases(dtype, np.random.default_rng(seed), small)
            if case[0] != "±finfo.max"
        ]
        for option_name, spec in OPTION_SETS.items():
            worst = {name: [0.0, 0.0] for name in names}
            for _, z, labels in cases:
                options = {"label_smoothing": spec.get("label_smoothing", 0.0)}
                if spec.get("weight"):
                    options["weight"] = rng.uniform(0.25, 4.0, z.shape[1])
                exact = reference.cross_entropy_options(
                    z, labels, options.get("weight"), options["label_smoothing"]
                )
                condition = np.maximum(exact["condition"], 1)
                results = {"xentlib": xentlib.cross_entropy_with_grad(z, labels, "none", **options)}
                if torch is not None:
                    results["torch"] = _torch_options(torch, z, labels, options)
                for name, (loss, grad) in results.items():
                    err = reference.ulp_error(loss, exact["cross_entropy"], dtype)
                    worst[name][0] = max(worst[name][0], float(err.max()))
                    err = reference.ulp_error(grad, exact["cross_entropy_grad"], dtype) / condition
                    worst[name][1] = max(worst[name][1], float(err.max()))
            lines.append(
                f"{option_name:<34}"
                + "".join(f"{_cell(e):>17}" for name in names for e in worst[name])
            )
        lines.append("")
    return "\n".join(lines)
