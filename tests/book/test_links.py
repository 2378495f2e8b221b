"""Internal link check over the built HTML: every link and anchor resolves, nothing is fetched
from the network, and the downloads a reader is offered exist."""

import json
import re
import zipfile

import pytest
from builtbook import HTML, ROOT, broken, chapters, is_local, pages, parse, require_book

# Tags whose URL the browser fetches by itself when the page loads (a link is only followed).
FETCHED = {"script", "img", "iframe", "source", "video", "audio", "embed", "link"}


@pytest.fixture(autouse=True)
def _book():
    require_book()


def test_the_book_has_its_pages():
    assert "book/index.html" in pages()
    assert "search.html" in pages()
    assert len(chapters()) >= 1


@pytest.mark.parametrize("page", pages())
def test_every_local_link_and_anchor_resolves(page):
    problems = [
        f"<{tag} {attr}={url!r}> {why}"
        for tag, attr, url in parse(page).links
        if is_local(url) and (why := broken(page, url))
    ]
    assert not problems, f"{page}:\n" + "\n".join(problems)


@pytest.mark.parametrize("page", pages())
def test_nothing_is_fetched_from_the_network(page):
    remote = [
        f"<{tag} {attr}={url!r}>"
        for tag, attr, url in parse(page).links
        if tag in FETCHED and not is_local(url) and not url.startswith("data:")
    ]
    assert not remote, f"{page} loads from the network: {remote}"


@pytest.mark.parametrize("page", pages())
def test_no_inline_script_declares_a_constant_twice(page):
    """Sphinx 7 writes an inline script registered after its HTML builder started twice
    (sphinx-doc/sphinx#13402): with `const` or `let` in it, every page throws. sphinx_thebe's
    THEBE_JS_URL was one; _config.yml leaves that extension out."""
    scripts = re.findall(r"<script>(.*?)</script>", (HTML / page).read_text(encoding="utf-8"), re.S)
    declaring = [body for body in scripts if re.search(r"\b(const|let)\s", body)]
    twice = sorted({body for body in declaring if declaring.count(body) > 1})
    assert not twice, f"{page}: inline scripts included twice: {twice}"


@pytest.mark.parametrize("page", chapters())
def test_each_chapter_offers_its_notebook(page):
    downloads = [
        url
        for tag, _, url in parse(page).links
        if tag == "a" and url.endswith(".ipynb") and is_local(url)
    ]
    assert downloads, f"{page}: no .ipynb download link"
    assert all(broken(page, url) is None for url in downloads)


def test_the_notebooks_archive_holds_every_chapter_and_xentlib():
    with zipfile.ZipFile(HTML / "xent-notebooks.zip") as archive:
        names = set(archive.namelist())
    for page in chapters():
        assert f"xent-notebooks/{page.split('/', 1)[1][: -len('.html')]}.ipynb" in names
    for module in (ROOT / "xentlib").glob("*.py"):
        assert f"xent-notebooks/xentlib/{module.name}" in names


def test_the_notebooks_archive_says_what_it_needs():
    # With numpy 1.26 already installed, `import xentlib` fails: the README must say so before
    # the reader finds out. Fails if the Python or numpy floor is missing, or a package the
    # chapters import is not named.
    with zipfile.ZipFile(HTML / "xent-notebooks.zip") as archive:
        readme = archive.read("xent-notebooks/README.txt").decode()
    assert "Python 3.11 or later" in readme
    assert "numpy 2 or later" in readme and '"numpy>=2"' in readme
    for package in ("matplotlib", "mpmath", "jupyterlab"):
        assert package in readme


def test_mathjax_is_served_from_the_book():
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").is_file()


def test_the_status_page_lists_every_chapter_with_its_execution_time():
    page_text = (HTML / "book" / "status.html").read_text(encoding="utf-8")
    status = page_text[page_text.index("<table") :]  # after the sidebar's links
    for page in chapters():
        chapter = page.split("/", 1)[1]
        assert f'href="{chapter}"' in status, f"status page misses {chapter}"
        meta = json.loads((ROOT / page).with_suffix(".ipynb").read_text(encoding="utf-8"))
        seconds = meta["metadata"].get("xent", {}).get("execution_seconds")
        if seconds is not None:
            row = status[status.index(f'href="{chapter}"') :].split("</tr>", 1)[0]
            assert f"{seconds:.1f} s" in row, (
                f"status page: not the execution time {seconds:.1f} s of {chapter} "
                "(a book older than the notebook? `make book` rebuilds it)"
            )
    assert 'href="../xent-notebooks.zip"' in status
