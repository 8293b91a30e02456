"""The built book in a real browser: headless Chromium, driven by Playwright, against a local HTTP server.

Every page of ``_toc.yml`` must load with HTTP 200 and no console error; every image must load and carry alt text;
every same-site link must resolve; the search page must find a term; the code toggles must open. Requests to any
host other than the local server are blocked and recorded, and fail the test: the book must render offline.

Uses Debian's ``chromium`` (never ``playwright install``, which downloads a browser). Where Chromium or the
``playwright`` package is missing the tests are skipped with the reason shown; under CI (``CI`` set), where
``.ci/run`` installs both, a missing browser is an error instead, so CI cannot pass without running them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import threading
import urllib.error
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import pytest
import yaml

from livingreview.config import ROOT

CHROMIUM = os.environ.get("LIVINGREVIEW_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-dev-shm-usage"]  # the last: containers have a tiny /dev/shm
SEARCH_TERM = "veno-occlusive"


def _missing(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it: see .ci/run)", pytrace=False)
    pytest.skip(reason)


def toc_docs() -> list[str]:
    """Every document of ``_toc.yml``, in reading order."""
    out: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    out.append(node[key])
            for value in node.values():
                if isinstance(value, (list, dict)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8")))
    return out


# --- fixtures ---------------------------------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports what matters
        pass


@contextlib.contextmanager
def serve(html: Path):
    """A built book served on 127.0.0.1 (a free port) by a thread-based ``http.server``; yields its address."""
    root = Path(html).resolve()  # _build/html is a symlink to the current release
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def site(real_book):
    """The published book, served."""
    with serve(real_book[1]) as address:
        yield address


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -r requirements.txt)")
    if not Path(CHROMIUM).is_file():
        _missing(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def context(browser, site):
    """A fresh browser context whose only reachable host is the local server; anything else is recorded."""
    local = urlsplit(site).netloc
    outside: list[str] = []

    def route(r):
        url = r.request.url
        if urlsplit(url).netloc == local:
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.route("**/*", route)
    yield ctx
    ctx.close()
    assert outside == [], f"the book requested hosts other than the local server: {sorted(set(outside))}"


class PageLog:
    """Console errors, uncaught exceptions and failed or non-2xx same-site requests of one page (pages are opened
    with ``wait_until="networkidle"``: a request still running when the next page opens, such as the icon, would be
    aborted and blamed on the next page)."""

    def __init__(self, page, site: str):
        self.problems: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"exception: {e}"))
        page.on("requestfailed", lambda r: r.url.startswith(site) and
                self.problems.append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.url.startswith(site) and r.status >= 400 and
                self.problems.append(f"HTTP {r.status}: {r.url}"))


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy from the environment


def _get(url: str) -> tuple[int, str]:
    try:
        with _DIRECT.open(url, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, ""


# --- tests ------------------------------------------------------------------------------------------------------


def test_every_page_loads_with_its_images_and_links(context, site):
    page = context.new_page()
    log = PageLog(page, site)
    problems: dict[str, list[str]] = {}
    links: dict[str, set[str]] = {}  # same-site URL (without fragment) -> pages linking to it
    anchors: dict[str, set[str]] = {}  # same-site URL -> fragments other pages link to
    docs = toc_docs()
    assert len(docs) > 30
    for doc in docs:
        log.problems.clear()
        response = page.goto(urljoin(site, f"{doc}.html"), wait_until="networkidle")
        found = [] if response is not None and response.status == 200 else \
            [f"HTTP {response.status if response is not None else 'no response'}"]
        page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=10_000)
        for img in page.eval_on_selector_all(
                "img", "els => els.map(e => ({src: e.currentSrc || e.src, w: e.naturalWidth, "
                       "alt: (e.getAttribute('alt') || '').trim()}))"):
            if img["w"] == 0:
                found.append(f"image does not load: {img['src']}")
            if not img["alt"]:
                found.append(f"image without alt text: {img['src']}")
        here = page.url.split("#")[0]
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            if not href.startswith(site):
                continue
            url, fragment = urldefrag(href)
            links.setdefault(url, set()).add(doc)
            if fragment and url != here:
                anchors.setdefault(url, set()).add(fragment)
            elif fragment and not page.evaluate("f => !!document.getElementById(f)", unquote(fragment)):
                found.append(f"link to #{fragment} on the same page: no such anchor")
        found = log.problems + found
        if found:
            problems[doc] = found
    page.close()
    bodies = {}
    for url, by in sorted(links.items()):
        status, bodies[url] = _get(url)
        if status != 200:
            problems.setdefault(", ".join(sorted(by)), []).append(f"link to {url} gives HTTP {status}")
    for url, fragments in sorted(anchors.items()):
        if not url.endswith(".html") or not bodies.get(url):
            continue
        ids = set(re.findall(r'\bid="([^"]+)"', bodies[url]))
        for fragment in sorted(f for f in fragments if unquote(f) not in ids):
            problems.setdefault("(links)", []).append(f"link to {url}#{fragment}: no such anchor")
    assert problems == {}, "problems found:\n" + "\n".join(f"  {d}: {p}" for d, p in problems.items())


def test_search_finds_a_term(context, site):
    page = context.new_page()
    log = PageLog(page, site)
    page.goto(urljoin(site, f"search.html?q={SEARCH_TERM}"), wait_until="networkidle")
    page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    hits = page.eval_on_selector_all("#search-results ul.search li a", "els => els.map(e => e.href)")
    assert any(h.split("#")[0].endswith("results/vod.html") for h in hits), hits
    assert log.problems == []
    page.close()


def test_code_toggle_shows_the_code(context, site):
    page = context.new_page()
    log = PageLog(page, site)
    page.goto(urljoin(site, "results/overall-response.html"), wait_until="networkidle")
    toggle = page.locator("details.hide.above-input").first
    code = toggle.locator(".cell_input")
    assert toggle.locator("summary").inner_text().strip().startswith("Show code cell source")
    assert not code.is_visible()
    toggle.locator("summary").click()
    code.wait_for(state="visible", timeout=5_000)
    assert "outcome" in code.inner_text()
    assert toggle.evaluate("d => d.open")
    assert log.problems == []
    page.close()


def test_no_asset_is_loaded_from_the_internet(real_book):
    """Static check of the HTML: no <script src> or <link href> points off-site (MathJax included)."""
    _, html = real_book
    offenders = {}
    for path in Path(html).resolve().rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        urls = re.findall(r'<script[^>]+src="(https?://[^"]+)"', text)
        urls += re.findall(r'<link[^>]+href="(https?://[^"]+)"', text)
        if urls:
            offenders[path.name] = sorted(set(urls))
    assert offenders == {}


# --- the reader's pages (issue 16) -------------------------------------------------------------------------------

#: The pages a reader starts from, checked at a desktop and a phone width.
READER_PAGES = ("index", "summary-of-findings", "references", "results/vod", "results/adverse-events")
WIDTHS = {"desktop": 1280, "phone": 390}
#: The longest a page may be, in CSS pixels at each width: a few screens, not a scroll marathon (secondary detail
#: is folded: livingreview.book.common.fold, dropdowns in the templates).
MAX_PAGE_HEIGHT = {"desktop": 8_000, "phone": 10_000}


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_reader_pages_fit_the_screen(browser, site, width):
    """The landing page, summary of findings, references and a results page load without errors at both widths,
    never scroll sideways as a whole (wide tables scroll inside their box), and show their key content."""
    ctx = browser.new_context(viewport={"width": WIDTHS[width], "height": 900})
    page = ctx.new_page()
    log = PageLog(page, site)
    problems = {}
    for doc in READER_PAGES:
        log.problems.clear()
        page.goto(urljoin(site, f"{doc}.html"), wait_until="networkidle")
        found = list(log.problems)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if overflow > 1:
            found.append(f"the page scrolls sideways by {overflow}px")
        if found:
            problems[doc] = found
    page.goto(urljoin(site, "index.html"), wait_until="networkidle")
    text = page.inner_text("article")
    assert "In brief" in text and "Summary of findings" in text and "Cite this version" in text
    assert "⊕" in text and "as printed" in text
    assert page.locator(".livingreview-coverage").is_visible()
    ctx.close()
    assert problems == {}, problems


def test_footnote_marks_lead_to_their_reason(context, site):
    """A certainty's footnote mark on the landing page opens the folded footnotes at the reason it points to."""
    page = context.new_page()
    page.goto(urljoin(site, "index.html"), wait_until="networkidle")
    mark = page.locator('.livingreview-table sup a[href="#landing-note-1"]')
    note = page.locator("#landing-note-1")
    assert not note.is_visible()
    mark.click()
    note.wait_for(state="visible", timeout=5_000)
    assert "(serious)" in note.inner_text() or "(very serious)" in note.inner_text()
    page.close()


def test_no_page_is_longer_than_a_few_screens(browser, site):
    heights = {}
    for width, px in WIDTHS.items():
        ctx = browser.new_context(viewport={"width": px, "height": 900})
        page = ctx.new_page()
        for doc in toc_docs():
            page.goto(urljoin(site, f"{doc}.html"), wait_until="networkidle")
            heights[(width, doc)] = page.evaluate("document.documentElement.scrollHeight")
        ctx.close()
    too_long = {k: h for k, h in heights.items() if h > MAX_PAGE_HEIGHT[k[0]]}
    assert too_long == {}, f"pages longer than {MAX_PAGE_HEIGHT} px: {too_long}"
