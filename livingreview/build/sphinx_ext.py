"""A Sphinx extension for the book's HTML (``_config.yml``: ``sphinx.extra_extensions``).

Titles are data (an outcome's label is a page title), so two places where the pinned theme and Sphinx write a
title into the page as HTML are closed here (tests/test_hostile.py builds a book of hostile labels and checks, in
Chromium, that no injected script runs):

* sphinx-book-theme 1.3 writes the page title unescaped into the print header (``<h1>{{ pagetitle }}</h1>``,
  with ``pagetitle = title.astext()``): it is escaped here.
* Sphinx 7.4's search page inserts section titles from the search index with ``innerHTML``, and indexes them as
  plain text: they are indexed escaped here.

* Each ``<script>`` once: Sphinx 7.4 re-adds scripts registered after ``Builder.init()`` with ``filename=''`` where
  the first copy has ``filename=None``, so inline scripts appear twice; sphinx-thebe's ``const THEBE_JS_URL`` then
  throws in the browser.
* Every page links myst-nb's stylesheet the same way: myst-nb copies it into the output only when the build
  finishes, so a page written before that (every page of a build from scratch) links it without the ``?v=``
  checksum Sphinx adds to files that exist — and an incremental build would differ from a fresh one. It is copied
  when the builder starts instead.
* No dead entries in the search index: before an incremental build rewrites a page, Sphinx removes the page from
  the words of the index it loads, but keeps the words that then belong to no page (``"word": []``), so the index
  of an incremental build would differ from a fresh one. Those words are dropped before the index is written.
"""

from __future__ import annotations

import html


def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (js.filename or "", js.priority, tuple(sorted(js.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique  # the builder restores its own list after each page


def _escape_page_title(app, pagename, templatename, context, doctree) -> None:
    if isinstance(context.get("pagetitle"), str):
        context["pagetitle"] = html.escape(context["pagetitle"])


def _tidy_search_index(app):
    """Before the search index is written: no word that belongs to no page; section titles as escaped HTML."""
    indexer = getattr(app.builder, "indexer", None)
    for mapping in (getattr(indexer, "_mapping", {}), getattr(indexer, "_title_mapping", {})):  # Sphinx 7.4
        for word in [w for w, docs in mapping.items() if not docs]:
            del mapping[word]
    titles = getattr(indexer, "_all_titles", {})
    for docname, entries in titles.items():
        titles[docname] = [(html.escape(html.unescape(title)), anchor) for title, anchor in entries]
    return []


def _copy_mystnb_css(app) -> None:
    if app.builder.format == "html" and "myst_nb" in app.extensions:
        from pathlib import Path

        from myst_nb.sphinx_ext import add_global_html_resources

        Path(app.builder.outdir, "_static").mkdir(parents=True, exist_ok=True)
        add_global_html_resources(app, None)


def setup(app):
    app.connect("builder-inited", _copy_mystnb_css)
    app.connect("html-page-context", _unique_scripts)
    app.connect("html-collect-pages", _tidy_search_index)
    app.connect("html-page-context", _escape_page_title, priority=900)  # after the theme sets pagetitle
    return {"parallel_read_safe": True, "parallel_write_safe": True}
