"""A Sphinx extension for the book's HTML: each <script> once (``_config.yml``: ``sphinx.extra_extensions``).

Sphinx 7.4 re-adds scripts registered after ``Builder.init()`` with ``filename=''`` where the first copy has
``filename=None``, so inline scripts appear twice; sphinx-thebe's ``const THEBE_JS_URL`` then throws in the browser.
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


def setup(app):
    app.connect("html-page-context", _unique_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
