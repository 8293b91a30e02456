"""Execute rendered notebooks with papermill, in parallel, each in a fresh kernel of *this checkout*.

Every kernel — forked from the pre-importing server (:mod:`.forkserver`) or started plainly — gets this checkout
first on ``PYTHONPATH`` and ``LIVINGREVIEW_CHECKOUT`` naming it; ``livingreview/__init__.py`` refuses to be imported
from anywhere else while that variable is set. So a notebook can never run another clone's code or read another
clone's data, whatever ``livingreview`` is installed in the environment.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from livingreview.config import ROOT

#: The variable that pins kernels to this checkout (read by ``livingreview/__init__.py``).
CHECKOUT_VARIABLE = "LIVINGREVIEW_CHECKOUT"


class ExecutionError(RuntimeError):
    """A notebook failed; the message names the page, the cell and the error."""


def kernel_environment(base: dict | None = None) -> dict:
    """The environment of every kernel (and of the fork server): this checkout first on the path, and pinned."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep)
                                                       if p and Path(p).resolve() != ROOT])
    env[CHECKOUT_VARIABLE] = str(ROOT)
    return env


def pin_to_checkout() -> None:
    """Make kernels started from this process use this checkout (``os.environ`` is what kernels inherit)."""
    os.environ.update({k: v for k, v in kernel_environment().items() if k in ("PYTHONPATH", CHECKOUT_VARIABLE)})


@dataclass(frozen=True)
class Job:
    """One notebook to execute: the rendered template, its parameters, where it goes and its input digest."""

    output: str  # path in book/, for messages
    template: Path
    target: Path
    parameters: dict
    context: dict
    digest: str


def kernel_modules(pages) -> list[str]:
    """What the fork server pre-imports for these pages: ipykernel, the inline backend, and every module their
    templates and page modules import."""
    from livingreview.build.digest import closure, template_imports

    wanted = {"ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger",
              "matplotlib_inline.backend_inline"}
    for page in pages:
        roots = template_imports(page.template_path) or set()
        modules, others = closure(roots | {page.module})
        wanted |= {m for m in modules if not m.startswith("livingreview.build")} | others
    # "from x import y" also yields "x.y", which may be a name rather than a module: the server tries and skips.
    return sorted(n for n in wanted if not n.startswith("_"))


def start_kernel_server(pages):
    """The fork server for these pages (started, still importing), or None if kernels are not forked here
    (``LIVINGREVIEW_FORK_KERNELS=0``, or no ``os.fork``)."""
    if os.environ.get("LIVINGREVIEW_FORK_KERNELS", "1") == "0" or not hasattr(os, "fork"):
        return None
    from livingreview.build import forkserver

    return forkserver.ForkServer(kernel_modules(pages), ROOT, env=kernel_environment()).start()


def execute(job: Job, kernel_server: str | None = None) -> float:
    """Render, run (papermill, a fresh kernel) and tidy one notebook; write it atomically. Returns seconds.

    Runs in a worker process; raises :class:`ExecutionError` naming the cell that failed."""
    import logging

    import nbformat
    import papermill

    from livingreview.build import forkserver
    from livingreview.build.render import RenderError, render_template, tidy_executed

    start = time.perf_counter()
    logging.getLogger("papermill").setLevel(logging.ERROR)  # its per-parameter chatter is not news
    pin_to_checkout()
    try:
        nb = render_template(job.template, job.context)
    except RenderError as err:
        raise ExecutionError(f"book/{job.output}: {err}") from None
    job.target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lrnb-") as tmp:
        console = Path(tmp) / "kernel.log"  # the kernel's own stdout/stderr (not the notebook's outputs)
        manager = forkserver.kernel_manager_class(kernel_server, str(console), tmp)
        try:
            executed = papermill.execute_notebook(nb, None, parameters=job.parameters, cwd=str(ROOT),
                                                  progress_bar=False, log_output=False, kernel_name="python3",
                                                  request_save_on_cell_execute=False, shutdown_kernel="immediate",
                                                  kernel_manager_class=manager)
        except papermill.PapermillExecutionError as err:
            source = (err.source or "").strip().splitlines()
            first = source[0] if source else ""
            raise ExecutionError(f"book/{job.output}: cell {err.exec_count} (`{first[:80]}`) raised "
                                 f"{err.ename}: {err.evalue}") from None
        except Exception as err:  # the kernel died or did not start: its console says why
            tail = console.read_text(errors="replace").strip().splitlines()[-15:] if console.exists() else []
            raise ExecutionError(f"book/{job.output}: {type(err).__name__}: {err}"
                                 + ("\n    kernel console:\n    " + "\n    ".join(tail) if tail else "")) from None
        result = tidy_executed(executed, job.digest)
        partial = job.target.with_name(f".{job.target.name}.partial")
        nbformat.write(result, partial)
        os.replace(partial, job.target)
    return time.perf_counter() - start


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:
        return os.cpu_count() or 1


def default_jobs(jobs: int | None) -> int:
    """Notebooks executed at the same time: ``--jobs``, or twice the cores available (at most cores + 8).

    A forked kernel spends about half a second of its life in the start/stop handshake with the client, idle;
    with more notebooks than cores in flight that time is used by the others."""
    if jobs:
        return max(1, int(jobs))
    return min(2 * cores(), cores() + 8)


def execute_all(jobs_todo: list[Job], jobs: int, server=None, log=print) -> tuple[dict, list[str], str]:
    """Execute notebooks in parallel in kernels forked from ``server`` (plain kernels if it is None or cannot
    start). ``jobs_todo`` is executed in the order given (longest first is the caller's choice).

    Returns (output → seconds, error messages, "forked" or "plain")."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import nbformat  # noqa: F401 — imported once here, inherited by the workers
    import papermill  # noqa: F401

    socket_path = server.wait_ready() if server else None
    if server and not socket_path:
        log(f"kernel fork server unavailable ({server.error}); starting plain kernels")
    seconds, errors = {}, []
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, len(jobs_todo)))) as pool:
        futures = {pool.submit(execute, job, socket_path): job for job in jobs_todo}
        for future in _progress(as_completed(futures), len(futures)):
            job = futures[future]
            try:
                seconds[job.output] = round(future.result(), 3)
            except ExecutionError as err:
                errors.append(str(err))
            except Exception as err:  # a crash in papermill itself, not in a cell
                errors.append(f"book/{job.output}: {type(err).__name__}: {err}")
    return seconds, sorted(errors), "forked" if socket_path else "plain"


def _progress(iterable, total: int):
    if not sys.stderr.isatty():
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc="notebooks", unit="nb", file=sys.stderr)


__all__ = ["CHECKOUT_VARIABLE", "ExecutionError", "Job", "default_jobs", "execute", "execute_all",
           "kernel_environment", "kernel_modules", "pin_to_checkout", "start_kernel_server"]
