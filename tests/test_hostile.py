"""Data text is text: a book built from a dataset whose every kind of text carries markup shows it literally.

The synthetic fixture (tests/fixtures/synthetic: other studies, an update version, outcomes with no study) is copied
and its texts are replaced by hostile strings — HTML with a script, Markdown and MyST syntax, dollar maths, a role,
a substitution and a line break that would inject a directive option. The whole book is built from it (this build
also shows that every template runs on a dataset other than the review's own), and then:

* in pytest, the Markdown every page glued or rendered escapes the markup;
* in Chromium (as tests/test_browser.py, offline), no page runs the injected script, and the text reads literally
  in titles, the sidebar, tables, captions and the search page.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest

from livingreview.build import build
from livingreview.config import ROOT
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, PageLog, _missing, serve, toc_docs

SYNTHETIC = ROOT / "tests" / "fixtures" / "synthetic"
#: Each would do something if it were read as markup: run a script, make a link, maths, emphasis, a role, a
#: substitution, a heading; the line break would end an option line of the figure directive and start another.
SCRIPT = '<img src=x onerror="window.__pwned = 1">'
HOSTILE = (f'{SCRIPT} <script>window.__pwned = 2</script> $x^2$ *em* [l](javascript:window.__pwned=3) '
           '{glue:text}`x` {{ outcome }} # not a heading\n:name: injected')
LITERAL = '<img src=x onerror="window.__pwned = 1">'  # what the reader must see, as text


def _rewrite(path: Path, change) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    change(rows[0], rows[1:])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def hostile_dataset(target: Path) -> Path:
    shutil.copytree(SYNTHETIC, target)

    def studies(h, rows):
        for r in rows:
            if r[h.index("study_id")] in ("alpha2019", "theta2025"):  # a study of version 1 and the update's study
                r[h.index("label")] = f"{HOSTILE} {r[h.index('label')]}"
                r[h.index("identification_note")] = HOSTILE

    def definitions(h, rows):
        for r in rows:
            if r[h.index("outcome")] == "overall_response":
                r[h.index("label")] = f"Overall response {HOSTILE}"
                r[h.index("definition")] = HOSTILE

    def versions(h, rows):
        rows[-1][h.index("description")] = HOSTILE

    def outcomes(h, rows):
        for r in rows:
            if r[h.index("outcome")] == "overall_response" and r[h.index("events")]:
                r[h.index("reported_value")] = HOSTILE

    for name, change in (("studies", studies), ("outcome_definitions", definitions), ("versions", versions),
                         ("outcomes", outcomes)):
        _rewrite(target / f"{name}.csv", change)
    return target


@pytest.fixture(scope="module")
def hostile_book(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    data = hostile_dataset(base / "data")
    html = build(data_dir=data, build_dir=base / "build", jobs=2, log=lambda *a: None)
    return base / "build", html


def page_text(html: Path, doc: str) -> str:
    return (html / f"{doc}.html").read_text(encoding="utf-8")


def test_the_synthetic_dataset_builds_every_page(hostile_book):
    _, html = hostile_book
    assert all((html / f"{doc}.html").is_file() for doc in toc_docs())
    assert "Forest plot of " in page_text(html, "results/overall-response")
    # an outcome with no study in the synthetic data still gets a page that says so
    assert "No study in the dataset reports" in page_text(html, "results/relapse")


class _Elements(HTMLParser):
    """Every element of a page: what a browser would build from it (tags, attributes, script text)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if any(name.startswith("on") and "__pwned" in (value or "") for name, value in attrs.items()):
            self.found.append(f"<{tag}> with an injected event handler")
        if tag == "a" and (attrs.get("href") or "").startswith("javascript:"):
            self.found.append("a javascript: link")
        if attrs.get("id") == "injected":
            self.found.append("an element named by the injected :name: option")
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and "__pwned" in data:
            self.found.append("an injected <script>")


def test_no_page_carries_the_markup_as_markup(hostile_book):
    """Parsed as a browser would, no page has an injected tag, handler, link or element: the hostile strings are
    only ever text (maths is checked in the browser test: it would need MathJax)."""
    _, html = hostile_book
    problems = {}
    for path in sorted(html.rglob("*.html")):
        parser = _Elements()
        parser.feed(path.read_text(encoding="utf-8"))
        if parser.found:
            problems[path.relative_to(html).as_posix()] = sorted(set(parser.found))
    assert problems == {}


def test_the_hostile_texts_reach_the_pages_as_text(hostile_book):
    """Escaping must not lose the text: the reader sees the label as it is in the data."""
    _, html = hostile_book
    import html as htmllib

    for doc in ("results/overall-response", "results/study-selection", "updates/changelog"):
        assert LITERAL in htmllib.unescape(re.sub(r"<[^>]+>", "", page_text(html, doc))), doc


# --- in the browser ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_site(hostile_book):
    with serve(hostile_book[1]) as address:
        yield address


def test_no_script_runs_and_the_text_shows_literally(hostile_site):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed (pip install -r requirements.txt)")
    if not Path(CHROMIUM).is_file():
        _missing(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    ran, shown = {}, {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context()
            context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(hostile_site) else r.abort())
            page = context.new_page()
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            log = PageLog(page, hostile_site)
            for doc in toc_docs() + ["search"]:
                url = urljoin(hostile_site, f"{doc}.html" + ("?q=onerror" if doc == "search" else ""))
                page.goto(url, wait_until="load")
                if doc == "search":
                    page.wait_for_timeout(1500)  # the search runs after load
                value = page.evaluate("() => window.__pwned")
                if value is not None or dialogs:
                    ran[doc] = (value, list(dialogs))
                shown[doc] = page.evaluate("t => document.body.innerText.includes(t)", LITERAL)
            browser_problems = [p for p in log.problems if "onerror" in p or "pwned" in p]
        finally:
            browser.close()
    assert ran == {}, f"injected script ran on: {ran}"
    assert browser_problems == []
    # shown as text where the data puts it: the outcome's title, the studies' table, the changelog
    for doc in ("results/overall-response", "results/study-selection", "updates/changelog", "search"):
        assert shown[doc], doc
