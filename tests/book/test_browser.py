"""The book as a reader sees it: every page in a real browser (Debian's headless Chromium), served
from 127.0.0.1 with every other address refused, in light mode, dark mode and at phone width.
Every page is also audited with axe-core (WCAG 2.1 A and AA rules) in light and dark mode, once
MathJax has typeset it, and read with the keyboard alone.

Screenshots of each chapter go to _build/screenshots/<mode>/ for review. Without Chromium these
tests skip with a message saying so; under CI (the CI variable set) they fail instead.
"""

import functools
import http.server
import itertools
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import axe_playwright_python
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

# axe-core, as axe-playwright-python bundles it, and the rules it runs: WCAG 2.0 and 2.1, levels A
# and AA. That axe (4.12) still calls "label-content-name-mismatch" (WCAG 2.5.3, label in name)
# experimental and leaves it out of the tags; axe 4.14 runs it with them, so it is switched on.
AXE_JS = Path(axe_playwright_python.__file__).with_name("axe.min.js")
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "rules": {"label-content-name-mismatch": {"enabled": True}},
    "resultTypes": ["violations"],
    "preload": False,  # no refetching of the page's style sheets
}
AUDIT_MODES = ("light", "dark")
PDF_IN_HTML = HTML / "xent.pdf"

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
  // What a screen reader gets of each formula: MathJax's hidden MathML copy.
  out.noAssistiveMath = [...document.querySelectorAll("mjx-container")]
    .filter(el => !el.querySelector("mjx-assistive-mml math *"))
    .map(el => el.textContent.slice(0, 80));
  // The headings of the main content that are displayed (a display:none print header is not).
  const levels = ["h1", "h2", "h3", "h4", "h5", "h6"].map(h => "main " + h).join(", ");
  out.headings = [...document.querySelectorAll(levels)]
    .filter(h => h.getClientRects().length > 0)
    .map(h => [Number(h.tagName[1]), h.textContent.replace("#", "").trim().slice(0, 60)]);

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


def _heading_problems(headings):
    """Headings in order: one h1 first, and no level skipped on the way down."""
    if not headings:
        return ["no heading on the page"]
    problems = [] if headings[0][0] == 1 else [f"first heading is h{headings[0][0]}: {headings[0]}"]
    problems += [f"more than one h1: {h[1]!r}" for h in headings[1:] if h[0] == 1]
    for (before, _), (level, text) in itertools.pairwise(headings):
        if level > before + 1:
            problems.append(f"h{before} followed by h{level} ({text!r}): a level skipped")
    return problems


def _seen_problems(seen, mode):
    problems = ["MathJax did not finish within 20 s"] if seen.get("mathjaxHung") else []
    problems += [f"formula not typeset: {tex!r}" for tex in seen["untypeset"]]
    problems += [f"MathJax error: {err!r}" for err in seen["mathErrors"]]
    problems += [
        f"formula without MathML for assistive technology: {tex!r}"
        for tex in seen["noAssistiveMath"]
    ]
    problems += _heading_problems(seen["headings"])
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
        for kind in (".ipynb", "xent-notebooks.zip", "xent.pdf"):
            if not any(href.endswith(kind) for href in seen["downloads"]):
                problems.append(f"no {kind} in the download menu: {seen['downloads']}")
    for url in sorted(set(seen["links"])):
        parts = urlsplit(url)
        target = parts.path.lstrip("/") + (f"#{parts.fragment}" if parts.fragment else "")
        if target == PDF_IN_HTML.name and not PDF_IN_HTML.is_file() and not os.environ.get("CI"):
            continue  # no TeX here to build it: test_the_download_menu_offers_the_pdf says so
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


@pytest.fixture(scope="module", params=AUDIT_MODES)
def auditor(request, browser, server):
    """A reader in light or dark mode, chosen before the page loads (the theme's stored choice as
    well as the system's), for the accessibility audit."""
    mode = request.param
    context = browser.new_context(service_workers="block", **MODES[mode])
    context.add_init_script(
        f"localStorage.setItem('mode', '{mode}'); localStorage.setItem('theme', '{mode}');"
    )
    reader = Reader(context, server, MODES[mode]["viewport"]["width"])
    reader.mode = mode
    yield reader
    context.close()


def _violations(result):
    lines = []
    for violation in result["violations"]:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(f"    {node['target']}: {summary[:300]}")
    return lines


@pytest.mark.parametrize("page", [p for p in pages() if not is_redirect(p)])
def test_accessibility_audit(auditor, page):
    """axe-core finds no WCAG 2.1 A or AA violation, formulas typeset, in the mode asked for."""
    seen = auditor.open(page)  # waits for MathJax
    theme = auditor.page.evaluate("document.documentElement.dataset.theme")
    assert theme == auditor.mode, f"{page}: asked for {auditor.mode}, got data-theme={theme!r}"
    assert not seen["untypeset"], f"{page}: audit before MathJax finished"
    auditor.page.add_script_tag(path=str(AXE_JS))
    result = auditor.page.evaluate("options => axe.run(document, options)", AXE_OPTIONS)
    assert result["testEngine"]["name"] == "axe-core"
    assert not result["violations"], f"{page} ({auditor.mode}):\n" + "\n".join(_violations(result))
    assert not auditor.problems(), "\n".join(auditor.problems())


# The element that has the keyboard focus, described for the test's messages.
FOCUSED = """() => {
  const el = document.activeElement;
  return {id: el.id, tag: el.tagName, classes: [...el.classList],
          name: el.getAttribute("aria-label") || el.textContent.trim().slice(0, 40),
          href: el.getAttribute("href")};
}"""


def _tab_through(page, limit=2000):
    """Press Tab until the focus comes back to where it started; return what was focused."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if stops and focused == stops[0]:
            return stops
        stops.append(focused)
    raise AssertionError(f"Tab never came back to the start after {limit} presses")


def test_the_keyboard_reaches_the_download_menu_and_every_solution(browser, server):
    """With Tab alone: the download menu opens and offers every download, the PDF among them, and
    every solution of every chapter can be focused and unfolded."""
    require_book()
    context = browser.new_context(service_workers="block", **MODES["light"])
    try:
        reader = Reader(context, server, 1280)
        problems = []
        for page in chapters():
            reader.open(page)
            stops = _tab_through(reader.page)
            menu = [s for s in stops if "dropdown-toggle" in s["classes"]]
            if not menu:
                problems.append(f"{page}: Tab never reaches the download menu")
            else:  # Enter opens it; Tab then walks through its entries
                reader.page.locator(".dropdown-download-buttons .dropdown-toggle").focus()
                reader.page.keyboard.press("Enter")
                items = []
                for _ in range(8):
                    reader.page.keyboard.press("Tab")
                    items.append(reader.page.evaluate(FOCUSED)["href"] or "")
                for kind in (".ipynb", "xent-notebooks.zip", "xent.pdf"):
                    if not any(href.endswith(kind) for href in items):
                        problems.append(f"{page}: no {kind} in the menu by keyboard: {items}")
                reader.page.keyboard.press("Escape")
            toggles = reader.page.eval_on_selector_all(
                ".solution .toggle-button", "buttons => buttons.map(b => b.id)"
            )
            reached = {s["id"] for s in stops if "toggle-button" in s["classes"]}
            missed = [t for t in toggles if t not in reached]
            problems += [f"{page}: Tab never reaches solution {t}" for t in missed]
            if toggles:  # Enter on a focused toggle unfolds its solution
                button = reader.page.locator(f"[id='{toggles[0]}']")
                button.focus()
                reader.page.keyboard.press("Enter")
                if button.get_attribute("aria-expanded") != "true":
                    problems.append(f"{page}: Enter does not unfold solution {toggles[0]}")
            problems += reader.problems()
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def test_the_download_menu_offers_the_pdf():
    """The PDF edition sits beside the HTML pages, where the download menu links to it."""
    require_book()
    pdf = ROOT / "_build" / "latex" / "xent.pdf"
    if not PDF_IN_HTML.is_file():
        skip_or_fail(
            f"NO PDF at {PDF_IN_HTML}: the download menu's link to the PDF is broken.\n"
            "Build it with `make pdf` (needs TeX: see the README)."
        )
    assert PDF_IN_HTML.read_bytes()[:5] == b"%PDF-"
    if pdf.is_file():
        assert PDF_IN_HTML.read_bytes() == pdf.read_bytes(), "the HTML's PDF is not the latest"
    script = (ROOT / "book" / "_static" / "xent.js").read_text(encoding="utf-8")
    assert f'"{PDF_IN_HTML.name}"' in script, "the download menu does not link to the PDF"
