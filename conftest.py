"""Records when nbval last validated each chapter, for the book's status page.

A chapter counts as validated when every one of its code cells ran under nbval in this session and
matched its stored output. The record goes to _build/validation.json (never committed: it describes
this machine's last run), which scripts/xent_sphinx.py reads when the book is built.
"""

import json
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RECORD = ROOT / "_build" / "validation.json"

_outcomes = defaultdict(list)  # notebook path -> outcome of each of its cells
_started = {}
_seconds = defaultdict(float)


def _notebook(nodeid):
    path = nodeid.split("::", 1)[0]
    return path if path.endswith(".ipynb") and "::" in nodeid else None


def _code_cells(path):
    cells = json.loads((ROOT / path).read_text(encoding="utf-8"))["cells"]
    return sum(cell["cell_type"] == "code" for cell in cells)


def pytest_runtest_logreport(report):
    path = _notebook(report.nodeid)
    if path is None:
        return
    _seconds[path] += report.duration
    if report.when == "call" or report.outcome != "passed":
        _outcomes[path].append(report.outcome)
    _started.setdefault(path, time.time())


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller records
        return
    validated = {
        path: outcomes
        for path, outcomes in _outcomes.items()
        if "passed" in outcomes
        and set(outcomes) <= {"passed", "skipped"}  # skipped: an author's # NBVAL_SKIP
        and len(outcomes) == _code_cells(path)
    }
    if not validated:
        return
    try:
        record = json.loads(RECORD.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    for path in validated:
        record[path] = {
            "validated": time.strftime("%Y-%m-%d %H:%M", time.gmtime(_started[path])),
            "seconds": round(_seconds[path], 1),
        }
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
