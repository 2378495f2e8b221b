"""The PDF edition (_build/latex/xent.pdf, built by `make pdf`) as a reader sees it.

Every page of the table of contents that the PDF keeps is there with its title, every figure of
the HTML chapters is in it, no reference is left unresolved, no TeX shows as text and every font
is embedded. The chapters and figures come from the table of contents and the built HTML, never
from a list here. Without the PDF or poppler's tools these tests skip with a message saying so;
under CI (the CI variable set) they fail instead.
"""

import functools
import re
import shutil
import subprocess
import sys
import unicodedata
from html.parser import HTMLParser

import yaml
from builtbook import HTML, ROOT, require_book, skip_or_fail

sys.path.insert(0, str(ROOT / "book" / "_ext"))
from xent_sphinx import WEB_ONLY  # the pages the PDF leaves out

LATEX = ROOT / "_build" / "latex"
PDF = LATEX / "xent.pdf"
TEX = LATEX / "xent.tex"
LOG = LATEX / "xent.log"
POPPLER = ("pdftotext", "pdffonts", "pdfimages")


def require_pdf():
    if not PDF.is_file():
        skip_or_fail(
            f"NO PDF at {PDF}: the PDF edition is untested.\n"
            "Build it with `make pdf` (or `make test`); it needs TeX: see the README."
        )
    missing = [tool for tool in POPPLER if not shutil.which(tool)]
    if missing:
        skip_or_fail(
            f"PDF TESTS SKIPPED: no {', '.join(missing)}.\n"
            "Install them with: apt-get install -y poppler-utils  (CI does this in .ci/run)"
        )


def run(*command):
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@functools.cache
def pdf_text():
    return run("pdftotext", "-enc", "UTF-8", str(PDF), "-")


def normalized(text):
    """Words only, in one case, with typographic quotes and dashes made plain."""
    plain = {"\u2018": "'", "\u2019": "'", "\u2013": "-", "\u2014": "-", "\u2212": "-"}
    text = unicodedata.normalize("NFKC", text).translate(str.maketrans(plain))
    return " ".join(text.casefold().split())


def toc_docnames():
    """Every page of _toc.yml, in order, root first."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", [toc]):
        walk(part.get("chapters", []))
    return names


class _Article(HTMLParser):
    """The h1 and the figures (images in the article) of one built HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title, self.figures, self._in_h1, self._in_link = "", [], False, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h1" and not self.title:
            self._in_h1 = True
        elif tag == "a" and self._in_h1 and "headerlink" in (attrs.get("class") or ""):
            self._in_link = True
        elif tag == "img" and "/_images/" in "/" + (attrs.get("src") or ""):
            self.figures.append(attrs["src"].rsplit("/", 1)[-1])

    def handle_endtag(self, tag):
        if tag == "h1" and self._in_h1:
            self._in_h1 = False
            self.title = self.title.strip()
        elif tag == "a":
            self._in_link = False

    def handle_data(self, data):
        if self._in_h1 and not self._in_link:
            self.title += data


@functools.cache
def article(docname):
    parser = _Article()
    parser.feed((HTML / f"{docname}.html").read_text(encoding="utf-8"))
    return parser


def stem(name):
    """A file name without its folder or extension: how the HTML and LaTeX builds share figures."""
    return name.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def printed_docnames():
    return [d for d in toc_docnames() if d not in WEB_ONLY]


def test_every_page_of_the_book_is_in_the_pdf_with_its_title():
    require_book()
    require_pdf()
    text = normalized(pdf_text())
    missing = []
    for docname in printed_docnames():
        title = article(docname).title
        assert title, f"no h1 in the HTML of {docname}"
        if normalized(title) not in text:
            missing.append(f"{docname}: {title!r}")
    assert not missing, "titles missing from the PDF:\n" + "\n".join(missing)


def test_pages_left_out_of_the_pdf_are_left_out():
    """The web-only pages (the status page's downloads) do not reach the PDF."""
    require_book()
    require_pdf()
    text = normalized(pdf_text())
    for docname in WEB_ONLY:
        if docname == "book/bibliography":  # its entries are the PDF's closing Bibliography
            continue
        assert normalized(article(docname).title) not in text, f"{docname} is in the PDF"
    assert "xent-notebooks.zip" not in text


def test_the_bibliography_is_there_once():
    require_pdf()
    text = pdf_text()
    headings = re.findall(r"^\s*BIBLIOGRAPHY\s*$", text, flags=re.MULTILINE)
    assert len(headings) == 1, f"{len(headings)} Bibliography headings"
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    for title in re.findall(r"^\s*title\s*=\s*\{+([^}]*)", bib, flags=re.MULTILINE | re.IGNORECASE):
        first_words = normalized(title).split()[:3]
        assert " ".join(first_words) in normalized(text), f"{title!r} not in the bibliography"


def test_every_figure_of_the_html_book_is_in_the_pdf():
    require_book()
    require_pdf()
    figures = {stem(f) for d in printed_docnames() for f in article(d).figures}
    assert figures, "no figure found in the HTML book: the test would prove nothing"
    tex = TEX.read_text(encoding="utf-8")
    included = set(re.findall(r"\\sphinxincludegraphics(?:\[[^\]]*\])?\{\{?([^}]+?)\}", tex))
    included = {stem(name) for name in included}
    missing = sorted(figures - included)
    assert not missing, f"figures of the HTML book not in the PDF's source: {missing}"
    # And in the PDF itself: one image (and its transparency mask, a different type) per figure.
    rows = run("pdfimages", "-list", str(PDF)).splitlines()[2:]
    images = [row.split() for row in rows if row.split()[2] == "image"]
    assert len(images) >= len(figures), f"{len(images)} images in the PDF, {len(figures)} figures"


def test_no_reference_is_left_unresolved():
    require_pdf()
    log = LOG.read_text(encoding="utf-8", errors="replace")
    unresolved = re.findall(
        r"LaTeX Warning: (?:Hyper reference|Reference|Citation) `[^']*' on page \d+ undefined"
        r"|There were undefined references|Label\(s\) may have changed",
        log,
    )
    assert not unresolved, f"{LOG} (the last LaTeX run):\n" + "\n".join(sorted(set(unresolved)))
    text = pdf_text()
    marks = [text[max(0, m.start() - 60) : m.end() + 20] for m in re.finditer(r"\?\?", text)]
    assert not marks, "unresolved references ('??') in the PDF:\n" + "\n".join(marks)


def test_no_tex_shows_as_text():
    """A dollar in running text, outside code, is TeX that was not read as a formula (Sphinx
    escapes it as \\$ in the LaTeX source); code keeps its dollars (matplotlib labels)."""
    require_pdf()
    tex = TEX.read_text(encoding="utf-8")
    prose = re.sub(r"\\begin\{sphinxVerbatim\}.*?\\end\{sphinxVerbatim\}", "", tex, flags=re.S)
    prose = re.sub(r"\\sphinxupquote\{(?:[^{}]|\{[^{}]*\})*\}", "", prose)
    dollars = [prose[max(0, m.start() - 60) : m.end() + 40] for m in re.finditer(r"\\\$", prose)]
    assert not dollars, "raw TeX in the PDF's text:\n" + "\n".join(dollars)


def test_links_only_lead_out_of_the_pdf_to_the_web():
    """A link relative to the HTML book (a download, the notebooks archive) is dead in a PDF."""
    require_pdf()
    tex = TEX.read_text(encoding="utf-8")
    targets = re.findall(r"\\(?:sphinxhref|href)\{([^}]*)\}", tex)
    dead = [t for t in targets if not re.match(r"(https?|mailto):", t)]
    assert not dead, f"links that only work beside the HTML book: {dead}"


def test_every_font_is_embedded():
    require_pdf()
    header, _, *rows = run("pdffonts", str(PDF)).splitlines()
    # Columns: name, type (one or two words), encoding, emb, sub, uni, object, ID: read from the end
    assert header.split()[-5:] == ["emb", "sub", "uni", "object", "ID"], header
    assert rows, "pdffonts lists no font"
    not_embedded = [row for row in rows if row.split()[-5] != "yes"]
    assert not not_embedded, "fonts not embedded:\n" + "\n".join(not_embedded)
