"""A Sphinx extension for the book's HTML (``_config.yml``: ``sphinx.extra_extensions``).

* Each ``<script>`` once: Sphinx 7.4 re-adds scripts registered after ``Builder.init()`` with ``filename=''`` where
  the first copy has ``filename=None``, so inline scripts appear twice; sphinx-thebe's ``const THEBE_JS_URL`` then
  throws in the browser.
* A re-read page leaves no trace in the search index: Sphinx adds a changed page's words to its index without
  removing the words it no longer contains, so an incremental build would answer searches with pages that no
  longer match (and keep empty entries). The page's entries are removed when Sphinx purges it before re-reading.
"""

from __future__ import annotations


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


def _purge_search_terms(app, env, docname: str) -> None:
    for mapping in (getattr(env, "_search_index_mapping", {}), getattr(env, "_search_index_title_mapping", {})):
        for word in list(mapping):
            mapping[word].discard(docname)
            if not mapping[word]:
                del mapping[word]


def setup(app):
    app.connect("html-page-context", _unique_scripts)
    app.connect("env-purge-doc", _purge_search_terms)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
