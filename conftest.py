"""pytest, for the whole repository.

* Every kernel a test starts — nbval's re-execution of the baseline in ``book/`` included — runs this checkout's
  ``livingreview`` and reads this checkout's data, whatever is installed (``pin_to_checkout``).
* nbval's kernels are forked from a process that has already imported what the notebooks import, as the build's are
  (``livingreview.build.forkserver``): the same fresh kernel per notebook, without paying the imports 45 times.
  ``LIVINGREVIEW_FORK_KERNELS=0`` gives plain kernels of the current environment instead.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

from livingreview.build.execute import pin_to_checkout

pin_to_checkout()

KERNEL_NAME = "livingreview-forked"
_server = {}


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if not getattr(config.option, "nbval", False) or os.environ.get("LIVINGREVIEW_FORK_KERNELS", "1") == "0" \
            or not hasattr(os, "fork") or getattr(config.option, "nbval_kernel_name", None):
        return
    from livingreview.build import forkserver
    from livingreview.build.execute import kernel_environment, kernel_modules
    from livingreview.build.manifest import load_manifest
    from livingreview.config import ROOT

    tmp = Path(tempfile.mkdtemp(prefix="lrnbval-"))
    server = forkserver.ForkServer(kernel_modules(load_manifest().pages), ROOT, env=kernel_environment(),
                                   directory=str(tmp)).start()
    spec = tmp / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    relay = [sys.executable, "-I", "-S", forkserver.__file__, "relay", os.path.join(server._dir, "s"),
             str(tmp / "kernels.log"), "--"]
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": relay + [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (livingreview, forked)", "language": "python"}), encoding="utf-8")
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(tmp), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    config.option.nbval_current_env = False
    config.option.current_env = False
    config.option.nbval_kernel_name = KERNEL_NAME
    _server.update(server=server, tmp=tmp)


def pytest_unconfigure(config):
    server = _server.pop("server", None)
    if server is not None:
        server.close()
        import shutil

        shutil.rmtree(_server.pop("tmp"), ignore_errors=True)


def pytest_collection_finish(session):
    """The server imported while pytest collected; wait for it before the first notebook asks for a kernel."""
    server = _server.get("server")
    if server is not None and not server.wait_ready():
        session.config.issue_config_time_warning(
            pytest.PytestWarning(f"kernel fork server unavailable ({server.error}): nbval starts plain kernels"), 2)


# --- when a number moves, say which and why ------------------------------------------------------------------------


def pytest_sessionfinish(session):
    """Above the failures of the baseline (nbval on book/), what moved: pooled estimates, then data rows."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    failed = [r for r in reporter.stats.get("failed", []) if r.nodeid.startswith("book/")]
    if not failed:
        return
    from livingreview.build.diff import changes
    from livingreview.config import DATA_DIR, DATA_OVERRIDE

    reporter.ensure_newline()
    reporter.write_sep("=", "what moved since the accepted baseline (python -m livingreview diff)")
    try:
        lines = changes(Path(os.environ.get(DATA_OVERRIDE) or DATA_DIR)).lines()
    except Exception as err:  # noqa: BLE001 — the summary must never hide the failures themselves
        lines = [f"(could not compare: {type(err).__name__}: {err})"]
    for line in lines:
        reporter.write_line(line)
    reporter.write_line(f"{len(failed)} notebook cell(s) differ from the committed baseline: each diff below shows "
                        "the committed value and the value computed now.")


def _labelled_comparison(self, key, left, right):
    """nbval's cell diff with its two sides named: the value committed in book/ and the value computed now, each
    shown around the places where they differ (nbval's own diff prints them as '-'/'+' without saying which is
    which)."""
    import difflib
    import re

    from nbval.plugin import _trim_base64

    left, right = (_trim_base64(v) if isinstance(v, str) else str(v) for v in (left, right))
    tokens = lambda text: re.findall(r"<[^>]*>|[^<\s]+|\s+", text)  # noqa: E731
    a, b = tokens(left), tokens(right)
    lines = [f" mismatch '{key}' in {Path(str(self.parent.fspath)).relative_to(self.config.rootpath)}"]
    opcodes = [op for op in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes() if op[0] != "equal"]
    around = lambda t, i, j: ("".join(t[max(0, i - 6):i])[-60:], "".join(t[j:j + 6])[:60])  # noqa: E731
    for tag, i1, i2, j1, j2 in opcodes[:6]:
        (before, after), (before_now, after_now) = around(a, i1, i2), around(b, j1, j2)
        lines.append(f"   committed: …{before}[{''.join(a[i1:i2])}]{after}…")
        lines.append(f"   now:       …{before_now}[{''.join(b[j1:j2])}]{after_now}…")
    if len(opcodes) > 6:
        lines.append(f"   … and {len(opcodes) - 6} more differences in this output")
    self.comparison_traceback.extend(lines)


def pytest_collection_modifyitems(session, config, items):
    from nbval.plugin import IPyNbCell

    IPyNbCell.format_output_compare = _labelled_comparison
