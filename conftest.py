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
