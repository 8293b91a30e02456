"""The build machinery: manifest → execute (papermill, forked kernels) → Sphinx → publish. Generic: it knows
notebooks, their parameters and what they declare they read — not outcomes.

* :mod:`.manifest` — the one list of pages (``manifest.yml``), the table of contents generated from it, templates'
  parameters and page modules' ``READS`` (read with :mod:`ast`, never imported);
* :mod:`.digest` — the hashes that decide what to redo; :mod:`.render` — jinja2 in templates, data text literal;
* :mod:`.execute` — papermill in kernels of this checkout (:mod:`.forkserver` forks them from a pre-imported
  process); :mod:`.sphinx` — staging and jupyter-book; :mod:`.publish` — atomic releases, state, lock, baseline;
* :mod:`.pipeline` — the build itself; :mod:`.run` — ``python -m livingreview run``, one page with your parameters.

Importing this package costs only the standard library (the nothing-changed path stays fast).
"""

from livingreview.build.pipeline import BuildError, BuildReport, build, run_build

__all__ = ["BuildError", "BuildReport", "build", "run_build"]
