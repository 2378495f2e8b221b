"""Prove that nbval guards the book: drift each xentlib function by 0.1% and see which cells fail.

Usage: python tools/drift_check.py [FUNCTION ...]   (default: every public function)

For each function, an IPython startup file makes it return its results times 1.001 in every
chapter's kernel, then strict nbval runs over book/. A function that no cell catches is a gap
in the book's guard. It prints, per function, the failing cells (notebook::cell) and a count.
"""

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import xentlib

ROOT = Path(__file__).resolve().parent.parent
FACTOR = 1.001

STARTUP = """
import functools, importlib
import numpy as np
import xentlib

def _drift(value):
    if isinstance(value, tuple):
        return tuple(_drift(v) for v in value)
    return np.asarray(value) * {factor} if np.ndim(value) else value * {factor}

_original = getattr(xentlib, {name!r}, None)

@functools.wraps(_original)
def _drifted(*args, **kwargs):
    return _drift(_original(*args, **kwargs))

_modules = ("xentlib", "xentlib.activations", "xentlib.losses", "xentlib.gradcheck")
for _module in _modules if _original is not None else ():
    _m = importlib.import_module(_module)
    if hasattr(_m, {name!r}):
        setattr(_m, {name!r}, _drifted)
"""


def failing_cells(name):
    with tempfile.TemporaryDirectory() as ipython_dir:
        startup = Path(ipython_dir, "profile_default", "startup")
        startup.mkdir(parents=True)
        (startup / "00-drift.py").write_text(STARTUP.format(name=name, factor=FACTOR))
        env = dict(os.environ, IPYTHONDIR=ipython_dir)
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "book",
                "-q",
                "-p",
                "no:cacheprovider",
                "--nbval",
                "--nbval-current-env",
                "--tb=no",
                "-rf",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
    return sorted(set(re.findall(r"^FAILED (book/\S+::Cell \d+)", run.stdout, flags=re.M)))


def main(names):
    names = names or list(xentlib.__all__)
    control = failing_cells("no_such_function")  # the same run with nothing drifted
    if control:
        print("the book fails without any drift: " + ", ".join(control))
        return 2
    uncaught = []
    for name in names:
        cells = failing_cells(name)
        print(f"{name}: {len(cells)} failing cell(s)", flush=True)
        for cell in cells:
            print(f"    {cell}")
        if not cells:
            uncaught.append(name)
    print(f"\n{len(names) - len(uncaught)} of {len(names)} functions caught by nbval at 0.1% drift")
    if uncaught:
        print("not caught: " + ", ".join(uncaught))
    return 1 if uncaught else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
