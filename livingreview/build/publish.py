"""Publishing the HTML atomically, the build's state, its lock, and accepting the regression baseline.

``out`` (``_build/html`` by default) is a symlink to a complete release in ``.<out>-releases/N``. A release is
copied under a temporary name and renamed once complete; the symlink is switched with one ``os.replace``. So a
failed or killed build leaves the last good book in place, and a partial copy is never taken for a release (it is
removed by the next build). ``out`` must be a previous release, or not exist, or be an empty directory: a build
never moves or replaces a folder of the user's.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

from livingreview.build.digest import STATE_FORMAT
from livingreview.config import BOOK_DIR

PARTIAL = ".partial-"


class PublishError(RuntimeError):
    """The book cannot be published where asked; the message says why."""


def releases_dir(out: Path) -> Path:
    return out.parent / f".{out.name}-releases"


def check_out(out: Path) -> None:
    """Refuse an ``out`` that is a user's file or non-empty folder (not a release made by this module)."""
    if out.is_symlink():
        target = out.resolve()
        if target.parent != releases_dir(out).resolve():
            raise PublishError(f"--out {out}: is a symlink to {target}, not to a release of this book; choose "
                               f"another directory")
        return
    if out.exists():
        if not out.is_dir():
            raise PublishError(f"--out {out}: is a file; choose a directory that does not exist yet")
        if any(out.iterdir()):
            raise PublishError(f"--out {out}: is a non-empty directory that is not a book built here; the build "
                               f"never replaces a folder it did not make — choose a new directory")


def clean_partials(out: Path) -> None:
    """Remove release copies left by a build that was killed while publishing."""
    releases = releases_dir(out)
    if releases.is_dir():
        for p in releases.iterdir():
            if p.name.startswith(PARTIAL):
                shutil.rmtree(p, ignore_errors=True)


def publish(html: Path, out: Path) -> Path:
    """Copy the HTML into a new release and switch the ``out`` symlink to it in one atomic rename."""
    check_out(out)
    releases = releases_dir(out)
    releases.mkdir(parents=True, exist_ok=True)
    clean_partials(out)
    numbers = [int(p.name) for p in releases.iterdir() if p.name.isdigit()]
    release = releases / str(max(numbers, default=0) + 1)
    partial = releases / f"{PARTIAL}{release.name}"
    shutil.copytree(html, partial)
    os.replace(partial, release)
    if out.is_dir() and not out.is_symlink():
        out.rmdir()  # empty (check_out): a symlink cannot replace a directory
    link = out.parent / f".{out.name}.new"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.relpath(release, out.parent), link)
    os.replace(link, out)
    for old in releases.iterdir():  # keep the current and the previous release
        if old.name.isdigit() and int(old.name) < int(release.name) - 1:
            shutil.rmtree(old, ignore_errors=True)
    return out


def is_published(out: Path, release: str | None) -> bool:
    return bool(release) and Path(release).is_dir() and (Path(release) / "index.html").is_file() \
        and out.is_symlink() and out.resolve() == Path(release).resolve()


def accept_baseline(pages, work: Path) -> None:
    """Make the executed notebooks the committed regression baseline in ``book/``."""
    for page in pages:
        target = BOOK_DIR / page.output
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.accepting")
        shutil.copyfile(work / page.output, tmp)
        os.replace(tmp, target)


def load_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        return state if state.get("format") == STATE_FORMAT else {}
    except (OSError, ValueError):
        return {}


def save_state(path: Path, state: dict) -> None:
    state["format"] = STATE_FORMAT
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def build_lock(base: Path, log=print, wait: bool = True):
    """One build at a time per build directory: the second waits (saying so) until the first has finished."""
    base.mkdir(parents=True, exist_ok=True)
    path = base / ".lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            if not wait:
                raise PublishError(f"another build is running in {base} ({holder}); wait for it or use another "
                                   f"build directory (LIVINGREVIEW_BUILD_DIR)") from None
            log(f"another build is running in {base} ({holder}); waiting for it to finish")
            start = time.monotonic()
            fcntl.flock(fh, fcntl.LOCK_EX)
            log(f"the other build finished after {time.monotonic() - start:.0f} s; building")
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


__all__ = ["PublishError", "accept_baseline", "build_lock", "check_out", "clean_partials", "is_published",
           "load_state", "publish", "releases_dir", "save_state"]
