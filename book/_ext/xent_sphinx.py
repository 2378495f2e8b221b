"""The book's own Sphinx extension (loaded from _config.yml): what a reader gets besides the pages.

- ``{chapter-status}``: the table of the status page (book/status.md). For each chapter: its
  notebook and its execution time in a fresh kernel, which ``tools/execute_notebooks.py`` stores in
  the notebook's metadata (``xent.execution_seconds``).
- ``xent-notebooks.zip`` at the root of the HTML: every chapter with the data files and xentlib
  beside it, so that the notebooks run after unzipping.
- Binder and Colab buttons only when ``repository.url`` is set: the theme cannot build a launch
  link without a repository, so without one they are dropped instead of failing the build.
- ``xent.pdf`` at the root of the HTML, when the PDF edition has been built (``make pdf`` puts
  it there too): the download menu (book/_static/xent.js) links to it.
- The bibliography as a list that assistive technology understands: docutils marks each entry
  ``role="doc-biblioentry"`` inside a ``role="list"``, a role that DPUB-ARIA 1.1 deprecates and
  that a list cannot contain; each entry becomes a ``listitem``.
- The PDF edition (the LaTeX builder) leaves out what only makes sense on the web: the status page
  (its rows are notebook downloads) and the bibliography page, whose entries LaTeX gathers into
  one Bibliography at the end of the book (otherwise an empty chapter would precede it).
- In the PDF, a reference to an exercise of another chapter resolves: sphinx-exercise labels an
  exercise ``exercise:<label>`` in LaTeX and rewrites the references within one chapter to match,
  but a reference across chapters keeps Sphinx's ``<docname>:<label>`` and would print "??".
"""

import json
import posixpath
import shutil
import sys
import zipfile
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = "xent-notebooks.zip"
PDF = "xent.pdf"  # latex.latex_documents.targetname in _config.yml, as a PDF
ARCHIVE_README = """\
The notebooks of xent: the gradient of cross-entropy.

They need Python 3.11 or later and numpy 2 or later (xentlib, beside the chapters, does not import
with numpy 1.x). xentlib/ sits next to the chapters, so `import xentlib` works from this folder.
In a fresh virtual environment:

    python -m venv .venv && . .venv/bin/activate
    python -m pip install "numpy>=2" {packages}
    jupyter lab
"""
PIP_NAMES = {"sklearn": "scikit-learn", "PIL": "pillow"}
# Pages of the HTML book that the PDF leaves out (see the module docstring).
WEB_ONLY = ("book/status", "book/bibliography")


def chapters(env):
    """Docnames of the chapters (the notebooks in the table of contents), in reading order."""
    return sorted(d for d in env.found_docs if Path(env.doc2path(d)).suffix == ".ipynb")


def notebook_facts(path):
    """Title and recorded execution time of a chapter, read from the notebook file."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    title = Path(path).stem
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            heading = [ln for ln in "".join(cell["source"]).splitlines() if ln.startswith("# ")]
            if heading:
                title = heading[0][2:].strip()
                break
    seconds = nb.get("metadata", {}).get("xent", {}).get("execution_seconds")
    return title, seconds


def imported_packages(paths):
    """The third-party packages that the chapters' code cells import, as pip names."""
    modules = set()
    for path in paths:
        for cell in json.loads(Path(path).read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                for line in "".join(cell["source"]).splitlines():
                    words = line.split()
                    if len(words) > 1 and words[0] in ("import", "from"):
                        modules.add(words[1].split(".")[0].rstrip(","))
                    if "xentlib.reference" in line or "from xentlib import reference" in line:
                        modules.add("mpmath")  # the extra that xentlib.reference needs
    modules -= set(sys.stdlib_module_names) | {"xentlib"}
    return sorted(PIP_NAMES.get(m, m) for m in modules)


def archive_link(docname):
    return posixpath.relpath(ARCHIVE, posixpath.dirname(docname) or ".")


class ChapterStatus(SphinxDirective):
    """The status table: one row per chapter; re-rendered when a notebook changes."""

    def run(self):
        here = posixpath.dirname(self.env.docname)
        rows = []
        for docname in chapters(self.env):
            path = Path(self.env.doc2path(docname))
            self.env.note_dependency(str(path))
            title, seconds = notebook_facts(path)
            target = posixpath.relpath(docname, here)
            rows += [
                f"* - {{doc}}`{title} <{target}>`",
                "",
                f"    {{download}}`{path.name} <{target}.ipynb>`",
                f"  - {f'{seconds:.1f} s' if seconds is not None else '—'}",
            ]
        table = [
            ":::{list-table}",
            ":header-rows: 1",
            "",
            "* - Chapter and notebook",
            "  - Runs in",
            *rows,
            ":::",
        ]
        container = nodes.container(classes=["xent-status"])
        self.state.nested_parse(StringList(table, source="chapter-status"), 0, container)
        link = nodes.paragraph()
        link += nodes.Text("All chapters at once, with xentlib and the data beside them: ")
        link += nodes.reference("", ARCHIVE, refuri=archive_link(self.env.docname))
        link += nodes.Text(".")
        return [container, link]


def write_archive(app, exception):
    """Zip the chapters, book/data and xentlib into the HTML root, byte-for-byte reproducibly."""
    if exception is not None or app.builder.format != "html":
        return
    book = ROOT / "book"
    notebooks = [Path(app.env.doc2path(d)) for d in chapters(app.env)]
    files = notebooks + sorted(p for p in (book / "data").rglob("*") if p.is_file())
    files += sorted((ROOT / "xentlib").glob("*.py"))
    with zipfile.ZipFile(Path(app.outdir) / ARCHIVE, "w", zipfile.ZIP_DEFLATED) as archive:
        packages = " ".join([*imported_packages(notebooks), "jupyterlab"])
        readme = ARCHIVE_README.format(packages=packages)
        entries = [("xent-notebooks/README.txt", readme.encode())]
        for path in files:
            name = path.relative_to(book if path.is_relative_to(book) else ROOT).as_posix()
            entries.append((f"xent-notebooks/{name}", path.read_bytes()))
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)


class LeaveOutOfThePdf(SphinxPostTransform):
    """Drop the WEB_ONLY pages from the single document that the LaTeX builder assembles.

    Runs after Sphinx has moved every citation into the book's closing bibliography (priority
    750), so the bibliography page is empty by then: only its title would be left.
    """

    default_priority = 800
    formats = ("latex",)

    def run(self, **kwargs):
        for node in list(self.document.findall(addnodes.start_of_file)):
            if node.get("docname") not in WEB_ONLY:
                continue
            if list(node.findall(nodes.citation)):
                raise RuntimeError(f"{node['docname']}: citations left on a page the PDF omits")
            parent = node.parent
            parent.remove(node)
            # The toctree wrapper around a lone left-out page would render as an empty block.
            if isinstance(parent, nodes.compound) and not parent.children:
                parent.parent.remove(parent)


class ExerciseReferencesAcrossChapters(SphinxPostTransform):
    """In LaTeX, point references to another chapter's exercise at sphinx-exercise's label.

    Runs after sphinx-exercise's own rewrite of the references within a chapter (priority 22).
    """

    default_priority = 23
    formats = ("latex",)

    def run(self, **kwargs):
        from sphinx_exercise.nodes import exercise_enumerable_node, exercise_latex_number_reference

        registry = getattr(self.env, "sphinx_exercise_registry", {})
        for node in list(self.document.findall(nodes.reference)):
            refuri = node.get("refuri", "")
            label = refuri.partition("#")[2]
            if node.get("refid") or not refuri.startswith("%") or label not in registry:
                continue
            if not isinstance(registry[label].get("node"), exercise_enumerable_node):
                continue
            new = exercise_latex_number_reference("", "", *node.children, refid=label)
            node.replace_self(new)


def bibliography_entries_are_list_items(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def copy_the_pdf(app, exception):
    """Put the latest PDF edition beside the pages (a full HTML build starts from an empty
    folder, so the copy that ``make pdf`` made would be gone)."""
    if exception is not None or app.builder.format != "html":
        return
    pdf = Path(app.outdir).parent / "latex" / PDF
    if pdf.is_file():
        shutil.copyfile(pdf, Path(app.outdir) / PDF)


def launch_buttons_need_a_repository(app, config):
    options = config.html_theme_options
    if not options.get("repository_url"):
        options["launch_buttons"] = {}


def setup(app):
    app.connect("config-inited", launch_buttons_need_a_repository)
    app.add_directive("chapter-status", ChapterStatus)
    app.connect("build-finished", write_archive)
    app.connect("build-finished", copy_the_pdf)
    app.add_post_transform(LeaveOutOfThePdf)
    app.add_post_transform(ExerciseReferencesAcrossChapters)
    app.connect("html-page-context", bibliography_entries_are_list_items)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
