"""The built HTML book, as the link check and the browser test see it.

`make test` builds the book into _build/html before running pytest. Without a built book these
tests skip with a message saying so; under CI (the CI variable set) they fail instead.
"""

import functools
import os
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("XENT_BOOK_HTML", ROOT / "_build" / "html"))
NOT_PAGES = ("_static", "_sources", "_downloads", "_images")


def skip_or_fail(message):
    """Skip loudly on a developer's machine; fail under CI, where a skip would hide a gap."""
    message = f"\n{'!' * 78}\n{message}\n{'!' * 78}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_book():
    if not (HTML / "book" / "index.html").is_file():
        skip_or_fail(f"NO BUILT BOOK at {HTML}: run `make book` (or `make test`, which builds it).")


def pages():
    """Every HTML page of the book, relative to the HTML root, in a stable order."""
    if not HTML.is_dir():
        return []
    return sorted(
        p.relative_to(HTML).as_posix()
        for p in HTML.rglob("*.html")
        if p.relative_to(HTML).parts[0] not in NOT_PAGES
    )


def is_redirect(page):
    """The root index.html only forwards to book/index.html."""
    return 'http-equiv="Refresh"' in (HTML / page).read_text(encoding="utf-8")


def chapters():
    """The chapter pages: those built from a notebook."""
    return [p for p in pages() if (ROOT / p).with_suffix(".ipynb").is_file()]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []  # (tag, attribute, value)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name"):
            if attrs.get(name) and (name == "id" or tag == "a"):
                self.ids.add(attrs[name])
        for name in ("href", "src"):
            if attrs.get(name) is not None:
                self.links.append((tag, name, attrs[name]))


@functools.cache
def parse(page):
    collector = _Collector()
    collector.feed((HTML / page).read_text(encoding="utf-8"))
    return collector


def is_local(url):
    return not urlsplit(url).scheme and not url.startswith("//")


def broken(page, url):
    """Why a local link from `page` does not resolve inside the built book, or None if it does."""
    parts = urlsplit(url)
    target = (HTML / page).parent / unquote(parts.path) if parts.path else HTML / page
    target = target.resolve()
    if not target.is_relative_to(HTML.resolve()):
        return f"{url}: leaves the book"
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"{url}: no file {target}"
    fragment = unquote(parts.fragment)
    name = target.relative_to(HTML.resolve()).as_posix()
    if fragment and target.suffix == ".html" and fragment not in parse(name).ids:
        return f"{url}: no anchor #{fragment} in {name}"
    return None
