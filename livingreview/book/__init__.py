"""The book's pages: one module per notebook template (``book/outcome.py`` ↔ ``notebooks/outcome.ipynb``).

Each page module declares ``READS`` (what the page reads from ``data/``: the build hashes exactly that, and the page
gets a view of the dataset holding nothing else), may define ``context(ds, params)`` (what the template's Markdown
needs before execution: titles, labels, which sections the page has) and ``load(...)``, whose result's methods are
what the notebook's cells display — one call per cell. Number formatting is :mod:`livingreview.format`; shared
plumbing is :mod:`.common`.
"""
