"""The book as a reader sees it: every page in a real browser (Debian's headless Chromium), served
from 127.0.0.1 with every other address refused, in light mode, dark mode and at phone width.

Screenshots of each chapter go to _build/screenshots/<mode>/ for review. Without Chromium these
tests skip with a message saying so; under CI (the CI variable set) they fail instead.
"""

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from builtbook import (
    HTML,
    ROOT,
    broken,
    chapters,
    is_redirect,
    pages,
    require_book,
    skip_or_fail,
)

CHROMIUM = Path(os.environ.get("XENT_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "_build" / "screenshots"
PHONE_WIDTH = 375
MODES = {
    "light": {"viewport": {"width": 1280, "height": 900}, "color_scheme": "light"},
    "dark": {"viewport": {"width": 1280, "height": 900}, "color_scheme": "dark"},
    "phone": {
        "viewport": {"width": PHONE_WIDTH, "height": 800},
        "device_scale_factor": 1,
        "is_mobile": True,
        "has_touch": True,
        "color_scheme": "light",
    },
}

# Text that MathJax should have replaced: TeX delimiters, or a TeX command between dollars.
RAW_TEX = r"/\\\(|\\\[|\$\$|\$[^$\n]*\\[a-zA-Z]+[^$\n]*\$|\\begin\{/"

# Runs in the page once it has loaded and MathJax (if the page has math) has finished.
INSPECT = """async (width) => {
  const out = {};
  if (document.querySelector(".math")) {
    for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
      await new Promise(r => setTimeout(r, 50));
    if (window.MathJax && MathJax.startup) {
      const timeout = new Promise(resolve => setTimeout(() => resolve(false), 20000));
      out.mathjaxHung = !(await Promise.race([MathJax.startup.promise.then(() => true), timeout]));
    }
  }
  out.mathjax = !!(window.MathJax && MathJax.version);
  out.untypeset = [...document.querySelectorAll("span.math, div.math")]
    .filter(el => !el.querySelector("mjx-container")).map(el => el.textContent.slice(0, 80));
  out.mathErrors = [...document.querySelectorAll("mjx-merror")].map(el => el.textContent);

  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "MJX-CONTAINER"]);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const rawTex = RAW_TEX;
  out.rawTex = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    let el = node.parentElement, code = false;
    for (; el; el = el.parentElement) if (skip.has(el.tagName)) { code = true; break; }
    if (!code && rawTex.test(node.textContent)) out.rawTex.push(node.textContent.slice(0, 80));
  }

  out.images = [...document.images].map(img => {
    const style = getComputedStyle(img);
    return {
      src: img.getAttribute("src"), alt: img.getAttribute("alt"),
      loaded: img.complete && img.naturalWidth > 0,
      output: !!img.closest(".cell_output, figure"),
      content: !!img.closest(".bd-article"),
      background: style.backgroundColor,
    };
  });
  out.links = [...document.querySelectorAll("a[href]")]
    .map(a => a.href).filter(href => href.startsWith(location.origin));
  out.downloads = [...document.querySelectorAll(".dropdown-download-buttons a[href]")]
    .map(a => a.getAttribute("href"));
  out.theme = document.documentElement.dataset.theme;
  out.viewport = window.innerWidth;
  out.scrollWidth = document.scrollingElement.scrollWidth;
  out.tooWide = [];
  const scrolls = new Set(["auto", "scroll", "hidden", "clip"]);
  for (const el of document.querySelectorAll(".bd-article *")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) continue;
    let clipped = false;
    for (let p = el.parentElement; p && !clipped; p = p.parentElement)
      clipped = scrolls.has(getComputedStyle(p).overflowX) &&
                p.getBoundingClientRect().right <= width + 1;
    if (!clipped) out.tooWide.push(el.tagName.toLowerCase() + "." + [...el.classList].join("."));
  }
  return out;
}""".replace("RAW_TEX", RAW_TEX)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server():
    require_book()
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        skip_or_fail(
            f"BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}. The reader's view is untested.\n"
            "Install it with: apt-get install -y chromium  (CI does this in .ci/run)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield browser
        browser.close()


class Reader:
    """One browser tab in one mode; every request to an address other than 127.0.0.1 (or, for a
    folder, other than file://) is refused and remembered."""

    def __init__(self, context, base, width):
        self.base, self.width = base, width
        self.errors, self.failed, self.outside = [], [], []
        self.current = set()  # requests made since the last go(): the ones that count
        local = "file://" if base.startswith("file:") else base
        context.route(lambda url: not url.startswith(local), self._refuse)
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("request", lambda request: self.current.add(request))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _refuse(self, route):
        self.outside.append(route.request.url)
        route.abort("blockedbyclient")

    def _console(self, message):
        if message.type in ("error", "assert"):
            self.errors.append(f"console {message.type}: {message.text}")

    def _failed(self, request):
        failure = request.failure or ""
        if request not in self.current:  # the previous page's, cancelled when it was left
            return
        if "ERR_BLOCKED_BY_CLIENT" in failure:  # refused by _refuse: counted there
            return
        if "ERR_ABORTED" in failure and request.is_navigation_request():
            return  # a navigation superseded by the next one (the front door's redirect)
        self.failed.append(f"{request.url}: {failure}")

    def _response(self, response):
        if response.status >= 400:
            self.failed.append(f"{response.url}: HTTP {response.status}")

    def go(self, path):
        self.page.goto("about:blank")  # leave the previous page before counting anew
        self.errors.clear(), self.failed.clear(), self.outside.clear(), self.current.clear()
        self.page.goto(f"{self.base}/{path}", wait_until="load")

    def open(self, path):
        """Load a page, let MathJax finish, and return what INSPECT saw."""
        self.go(path)
        return self.page.evaluate(INSPECT, self.width)

    def problems(self):
        return [
            *self.errors,
            *(f"failed request {url}" for url in self.failed),
            *(f"request left the machine: {url}" for url in self.outside),
        ]


@pytest.fixture(scope="module", params=list(MODES))
def reader(request, browser, server):
    """A reader in one mode (light, dark, phone), with one tab reused from page to page."""
    context = browser.new_context(service_workers="block", **MODES[request.param])
    reader = Reader(context, server, MODES[request.param]["viewport"]["width"])
    reader.mode = request.param
    yield reader
    context.close()


def _alt_problem(image):
    alt = (image["alt"] or "").strip()
    name = Path(urlsplit(image["src"] or "").path).name
    if not alt:
        return "no alt text"
    if alt in (image["src"], name) or alt.lower().endswith((".png", ".jpg", ".svg", ".gif")):
        return f"alt text is the file name ({alt!r})"
    if image["content"] and len(alt.split()) < 3:  # a figure, not an icon of the theme
        return f"alt text too short to describe a figure ({alt!r})"
    return None


def _light(css_color):
    """Whether a computed CSS colour is an opaque light colour."""
    parts = css_color[css_color.index("(") + 1 : -1].replace("/", ",").split(",")
    r, g, b, *alpha = (float(p) for p in parts)
    return (not alpha or alpha[0] >= 0.99) and 0.2126 * r + 0.7152 * g + 0.0722 * b >= 230


def _seen_problems(seen, mode):
    problems = ["MathJax did not finish within 20 s"] if seen.get("mathjaxHung") else []
    problems += [f"formula not typeset: {tex!r}" for tex in seen["untypeset"]]
    problems += [f"MathJax error: {err!r}" for err in seen["mathErrors"]]
    problems += [f"raw TeX on the page: {text!r}" for text in seen["rawTex"]]
    for image in seen["images"]:
        if not image["loaded"]:
            problems.append(f"image not displayed: {image['src']}")
        if why := _alt_problem(image):
            problems.append(f"image {image['src']}: {why}")
        if mode == "dark" and image["output"] and not _light(image["background"]):
            problems.append(f"figure {image['src']} on a dark background: {image['background']}")
    if mode == "dark" and seen["theme"] != "dark":
        problems.append(f"dark mode not applied (data-theme={seen['theme']!r})")
    if mode == "phone":
        width = max(seen["viewport"], seen["scrollWidth"])
        if width > PHONE_WIDTH:
            problems.append(f"page is {width} px wide on a {PHONE_WIDTH} px screen")
        problems += [f"wider than the screen: {el}" for el in sorted(set(seen["tooWide"]))]
    return problems


@pytest.mark.parametrize("page", [p for p in pages() if not is_redirect(p)])
def test_page_as_a_reader_sees_it(reader, page):
    seen = reader.open(page)
    if page in chapters():
        shot = SCREENSHOTS / reader.mode / (Path(page).stem + ".png")
        shot.parent.mkdir(parents=True, exist_ok=True)
        reader.page.screenshot(path=shot, full_page=True)
    problems = reader.problems() + _seen_problems(seen, reader.mode)
    if page in chapters():
        for kind in (".ipynb", "xent-notebooks.zip"):
            if not any(href.endswith(kind) for href in seen["downloads"]):
                problems.append(f"no {kind} in the download menu: {seen['downloads']}")
    for url in sorted(set(seen["links"])):
        parts = urlsplit(url)
        target = parts.path.lstrip("/") + (f"#{parts.fragment}" if parts.fragment else "")
        if why := broken("index.html", target):
            problems.append(f"broken link {why}")
    assert not problems, f"{page} ({reader.mode}):\n" + "\n".join(problems)


def test_search_finds_the_softmax_chapter(reader):
    reader.open("search.html?q=softmax")
    # Done when the summary says so; until then it fetches each hit's page for its snippet.
    summary = reader.page.locator(".search-summary", has_text="Search finished")
    summary.wait_for(timeout=15_000)
    results = reader.page.locator("#search-results ul.search li a")
    hrefs = results.evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert any("02_softmax" in href for href in hrefs), f"{reader.mode}: search gave {hrefs}"
    assert not reader.problems(), reader.problems()


def test_the_front_door_leads_to_the_book(reader):
    reader.go("index.html")
    reader.page.wait_for_url("**/book/index.html", timeout=15_000)
    assert not reader.problems(), reader.problems()


def test_the_book_reads_from_a_folder_without_a_server(browser):
    """As if opened from a USB stick: file:// pages, formulas typeset, nothing fetched elsewhere."""
    require_book()
    context = browser.new_context(service_workers="block")
    try:
        reader = Reader(context, HTML.as_uri(), 1280)
        for page in [*chapters()[:2], "book/index.html"]:
            seen = reader.open(page)
            problems = reader.problems() + _seen_problems(seen, "light")
            assert not problems, f"{page} from a folder:\n" + "\n".join(problems)
        reader.go("search.html?q=softmax")
        reader.page.locator(".search-summary", has_text="Search finished").wait_for(timeout=15_000)
        hits = reader.page.locator("#search-results ul.search li a")
        hrefs = hits.evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert any("02_softmax" in href for href in hrefs), f"search from a folder gave {hrefs}"
        assert not reader.problems(), f"search from a folder: {reader.problems()}"
    finally:
        context.close()
