"""Agreement with PyTorch: the loss options, every combination, loss and gradient, float64.

For each combination of cross-entropy's options (``weight``, ``ignore_index``,
``label_smoothing``; labels and probability targets) and of binary cross-entropy's (``weight``,
``pos_weight``), and each reduction, xentlib's loss and gradient are compared with
``torch.nn.functional``'s (the gradient of the loss's sum, by autograd). The logits are moderate
(standard normal times 3 or 4), where both libraries are accurate: on confident rows PyTorch
rounds a tiny loss or gradient entry to 0 that xentlib keeps (the accuracy table shows it), and
a relative difference there measures PyTorch's rounding, not agreement. The table gives, per
combination, the largest relative difference over the three reductions, ``|xentlib - torch| /
|torch|`` entry by entry (an entry where PyTorch gives exactly 0 counts 0 if xentlib does too,
``inf`` otherwise). Needs torch; run ``python benchmarks/agreement.py`` for the table alone.
"""

import itertools

import numpy as np

import xentlib

REDUCTIONS = ("mean", "sum", "none")
IGNORED = 3  # a class index: samples labelled 3 are left out


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    n, c = 64, 10
    z = rng.standard_normal((n, c)) * 3
    labels = rng.integers(0, c, n)
    probs = rng.dirichlet(np.ones(c), n)
    weight = rng.uniform(0.2, 3.0, c)
    x = rng.standard_normal((n, c)) * 4
    y = (rng.random((n, c)) < 0.2).astype(np.float64)
    y[-8:] = rng.random((8, c))  # some soft targets
    bce_weight = rng.uniform(0.0, 2.0, (n, c))
    pos_weight = rng.uniform(0.5, 9.0, c)
    return z, labels, probs, weight, x, y, bce_weight, pos_weight


def relative_difference(ours, theirs):
    """The largest ``|ours - theirs| / |theirs|`` (0/0 = 0, x/0 = inf)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    diff = np.abs(ours - theirs)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(theirs == 0, np.where(diff == 0, 0.0, np.inf), diff / np.abs(theirs))
    return float(rel.max(initial=0.0))


def _torch_ce(torch, z, target, reduction, weight, ignore_index, smoothing):
    import torch.nn.functional as F

    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    tt = torch.tensor(target)
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    if weight is not None:
        kwargs["weight"] = torch.tensor(weight, dtype=torch.float64)
    kwargs["ignore_index"] = -100 if ignore_index is None else ignore_index
    loss = F.cross_entropy(zt, tt, **kwargs)
    loss.sum().backward()
    return loss.detach().numpy(), zt.grad.numpy()


def _torch_bce(torch, x, y, reduction, weight, pos_weight):
    import torch.nn.functional as F

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    kwargs = {"reduction": reduction}
    if weight is not None:
        kwargs["weight"] = torch.tensor(weight, dtype=torch.float64)
    if pos_weight is not None:
        kwargs["pos_weight"] = torch.tensor(pos_weight, dtype=torch.float64)
    loss = F.binary_cross_entropy_with_logits(xt, torch.tensor(y), **kwargs)
    loss.sum().backward()
    return loss.detach().numpy(), xt.grad.numpy()


def rows(torch, seed=0):
    """``(name, loss difference, gradient difference)`` for every combination of options."""
    z, labels, probs, weight, x, y, bce_weight, pos_weight = _inputs(seed)
    out = []
    for kind, w_on, ignore_on, smoothing in itertools.product(
        ("labels", "probabilities"), (False, True), (False, True), (0.0, 0.1, 1.0)
    ):
        if kind == "probabilities" and ignore_on:
            continue  # an error in xentlib (ignore_index applies to labels only)
        if not (w_on or ignore_on or smoothing):
            continue  # the plain loss
        target = labels if kind == "labels" else probs
        options = {
            "weight": weight if w_on else None,
            "ignore_index": IGNORED if ignore_on else None,
            "label_smoothing": smoothing,
        }
        loss_diff = grad_diff = 0.0
        for reduction in REDUCTIONS:
            ours = xentlib.cross_entropy(z, target, reduction, **options)
            grad = xentlib.cross_entropy_grad(z, target, reduction, **options)
            theirs, theirs_grad = _torch_ce(
                torch, z, target, reduction, options["weight"], options["ignore_index"], smoothing
            )
            loss_diff = max(loss_diff, relative_difference(ours, theirs))
            grad_diff = max(grad_diff, relative_difference(grad, theirs_grad))
        parts = [p for p, on in (("weight", w_on), ("ignore_index", ignore_on)) if on]
        if smoothing:
            parts.append(f"ε = {smoothing:g}")
        out.append((f"cross_entropy, {kind}: " + " + ".join(parts), loss_diff, grad_diff))
    for w_on, p_on in ((True, False), (False, True), (True, True)):
        options = {
            "weight": bce_weight if w_on else None,
            "pos_weight": pos_weight if p_on else None,
        }
        loss_diff = grad_diff = 0.0
        for reduction in REDUCTIONS:
            ours = xentlib.binary_cross_entropy_with_logits(x, y, reduction, **options)
            grad = xentlib.binary_cross_entropy_grad(x, y, reduction, **options)
            theirs, theirs_grad = _torch_bce(torch, x, y, reduction, *options.values())
            loss_diff = max(loss_diff, relative_difference(ours, theirs))
            grad_diff = max(grad_diff, relative_difference(grad, theirs_grad))
        parts = [name for name, value in options.items() if value is not None]
        out.append(("bce_with_logits: " + " + ".join(parts), loss_diff, grad_diff))
    return out


def table(torch, seed=0):
    lines = [f"{'float64, largest relative difference':<58}{'loss':>10}{'gradient':>10}"]
    lines.append("-" * len(lines[0]))
    for name, loss_diff, grad_diff in rows(torch, seed):
        lines.append(f"{name:<58}{loss_diff:>10.1e}{grad_diff:>10.1e}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import torch

    print(f"xentlib {xentlib.__version__} against torch {torch.__version__}\n")
    print(table(torch))
