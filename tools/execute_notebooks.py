"""Execute chapters in place, each top to bottom in a fresh kernel, as nbval and the book expect.

Usage: python tools/execute_notebooks.py [NOTEBOOK ...]   (default: every chapter under book/)

Run it after changing xentlib or a chapter, then commit the notebooks with their outputs.
"""

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

BOOK = Path(__file__).resolve().parent.parent / "book"


def execute(path):
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timestamps would change on every run
    # Shown on the book's status page (book/_ext/xent_sphinx.py); nbval ignores notebook metadata.
    nb.metadata.setdefault("xent", {})["execution_seconds"] = round(seconds, 1)
    nbformat.write(nb, path)
    return seconds


def main(argv):
    paths = [Path(p).resolve() for p in argv] or sorted(BOOK.glob("*.ipynb"))
    for path in paths:
        print(f"{path.relative_to(BOOK.parent)}: {execute(path):.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
