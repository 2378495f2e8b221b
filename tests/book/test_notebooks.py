"""The chapters are committed executed, so that nbval has outputs to compare against.

nbval passes trivially on a notebook without stored outputs; these checks close that gap.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
CHAPTERS = sorted(p for p in BOOK.glob("*.ipynb"))


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_the_table_of_contents_lists_every_chapter_and_nothing_missing():
    entries = re.findall(r"file: (\S+)", (ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = {entry for entry in entries if (ROOT / f"{entry}.md").is_file()}
    notebooks = {ROOT / f"{entry}.ipynb" for entry in set(entries) - pages}
    assert notebooks == set(CHAPTERS), (
        f"listed but missing: {sorted(map(str, notebooks - set(CHAPTERS)))}; "
        f"not listed: {sorted(map(str, set(CHAPTERS) - notebooks))}"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_executed_top_to_bottom_in_a_fresh_kernel(path):
    counts = [c.get("execution_count") for c in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_stored_errors_or_warnings(path):
    for cell in code_cells(path):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"{path.name}: stored error {out.get('ename')}"
            if out["output_type"] == "stream":
                assert out["name"] != "stderr", f"{path.name}: stderr output {out['text']!r}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_imports_xentlib_without_path_hacks(path):
    source = "".join("".join(c["source"]) for c in code_cells(path))
    assert "xentlib" in source
    assert "sys.path" not in source


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_memory_addresses_in_outputs(path):
    for cell in code_cells(path):
        for out in cell.get("outputs", []):
            text = json.dumps(out.get("data", {}).get("text/plain", "")) + json.dumps(
                out.get("text", "")
            )
            assert " at 0x" not in text, f"{path.name}: an object repr with an address: {text}"
