"""What the build promises (README, "Guarantees"), each tried the way a user or an attacker would break it.

* An incremental build and a ``--force`` build of the same inputs give the same book, byte for byte.
* A change of a title or of the table of contents reaches every page that shows it (the sidebar of all pages).
* ``--out`` never moves or replaces a folder it did not make; a killed publish leaves no partial release behind;
  two builds in one build directory take turns.
* File-system problems end in one line, not a traceback.

A small book (a landing notebook page, one outcome page, the quality page) is built from a copy of ``data/``.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from livingreview.build import BuildError, pipeline
from livingreview.build.publish import PARTIAL, releases_dir
from livingreview.config import DATA_DIR, ROOT

CHAPTERS = [{"file": "methods/extraction"}, {"file": "downloads"},
            {"notebook": "outcome", "output": "results/vod", "parameters": {"outcome": "vod"}},
            {"notebook": "quality", "output": "results/quality"}]
ROOT_PAGE = {"notebook": "methods", "output": "methods/statistics"}


def write_manifest(path: Path, caption: str = "The review") -> Path:
    path.write_text(yaml.safe_dump({"root": ROOT_PAGE, "parts": [{"caption": caption, "chapters": CHAPTERS}]},
                                   sort_keys=False), encoding="utf-8")
    return path


def set_cell(path: Path, key: tuple[str, str], column: str, value: str, key_columns=("study_id", "outcome")) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    h = rows[0]
    row = next(r for r in rows[1:] if tuple(r[h.index(k)] for k in key_columns) == key)
    row[h.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    base = tmp_path_factory.mktemp("guarantees")
    data = base / "data"
    shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("staging"))
    manifest = write_manifest(base / "manifest.yml")
    pipeline.run_build(data_dir=data, build_dir=base / "build", manifest=manifest, jobs=2, log=lambda *a: None)
    return {"base": base, "data": data, "manifest": manifest, "build": base / "build"}


def build(small, **kw):
    return pipeline.run_build(data_dir=small["data"], build_dir=small["build"], manifest=small["manifest"], jobs=2,
                              log=lambda *a: None, **kw)


def test_incremental_and_forced_builds_give_the_same_book(small, tmp_path):
    """Change a count (a figure and a table of the VOD page change), build incrementally, then build the same inputs
    with --force elsewhere: the two HTML trees are identical (no old figure left over, no stale stylesheet link,
    no dead search entry)."""
    vod = next(r for r in csv.DictReader(open(small["data"] / "outcomes.csv", encoding="utf-8"))
               if r["outcome"] == "vod" and r["events"])
    set_cell(small["data"] / "outcomes.csv", (vod["study_id"], "vod"), "events", str(int(vod["events"]) + 1))
    try:
        incremental = build(small)
        assert incremental.executed and incremental.sphinx == "incremental"
        forced = pipeline.run_build(data_dir=small["data"], build_dir=tmp_path / "forced",
                                    manifest=small["manifest"], jobs=2, force=True, log=lambda *a: None)
        a, b = tree(incremental.published.resolve()), tree(forced.published.resolve())
        assert sorted(set(a) ^ set(b)) == []
        assert [name for name in a if a[name] != b[name]] == []
    finally:
        set_cell(small["data"] / "outcomes.csv", (vod["study_id"], "vod"), "events", vod["events"])
        build(small)


def test_a_renamed_title_reaches_the_sidebar_of_every_page(small):
    """The VOD page's title comes from outcome_definitions.csv; every other page lists it in its sidebar."""
    path = small["data"] / "outcome_definitions.csv"
    original = path.read_bytes()
    try:
        set_cell(path, ("vod",), "label", "Hepatic veno-occlusive disease", key_columns=("outcome",))
        report = build(small)
        assert report.sphinx == "fresh"
        quality = (report.published / "results" / "quality.html").read_text(encoding="utf-8")
        assert "Hepatic veno-occlusive disease" in quality
        path.write_bytes(original)  # reverted: the old title is back everywhere, the injected one gone
        report = build(small)
        quality = (report.published / "results" / "quality.html").read_text(encoding="utf-8")
        assert "Hepatic veno-occlusive disease" not in quality
    finally:
        path.write_bytes(original)


def test_a_renamed_part_caption_reaches_every_page(small):
    try:
        write_manifest(small["manifest"], caption="A renamed part")
        report = build(small)
        for page in ("results/vod.html", "results/quality.html", "methods/statistics.html"):
            assert "A renamed part" in (report.published / page).read_text(encoding="utf-8"), page
    finally:
        write_manifest(small["manifest"])
        build(small)


# --- publishing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["non-empty directory", "file"])
def test_out_never_replaces_a_users_folder(small, tmp_path, kind):
    out = tmp_path / "mine"
    if kind == "file":
        out.write_text("my notes")
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("precious")
    with pytest.raises(BuildError, match="--out"):
        build(small, out=out)
    assert (out.read_text() if kind == "file" else (out / "thesis.tex").read_text()) in ("my notes", "precious")
    assert not releases_dir(out).exists()


def test_out_accepts_an_empty_directory_and_its_own_release(small, tmp_path):
    out = tmp_path / "site"
    out.mkdir()
    build(small, out=out)
    assert out.is_symlink() and (out / "index.html").is_file()
    again = build(small, out=out, force=True)
    assert again.published == out and (out / "index.html").is_file()


def test_a_partial_release_is_never_kept(small, monkeypatch, tmp_path):
    """A build killed while copying the release leaves a partial copy; the next build removes it and the symlink
    always points to a complete release."""
    out = tmp_path / "site"
    build(small, out=out)
    good = out.resolve()
    partial = releases_dir(out) / f"{PARTIAL}99"
    shutil.copytree(good, partial)
    (partial / "index.html").unlink()  # what a kill during the copy leaves
    build(small, out=out, force=True)
    assert not partial.exists() and (out / "index.html").is_file()


def test_two_builds_in_one_build_directory_take_turns(small):
    lock = small["build"] / ".lock"
    import fcntl

    messages = []
    with open(lock, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        t = threading.Thread(target=lambda: messages.append(pipeline.run_build(
            data_dir=small["data"], build_dir=small["build"], manifest=small["manifest"], jobs=2,
            log=messages.append)))
        t.start()
        time.sleep(1.0)
        assert t.is_alive() and any("another build is running" in str(m) for m in messages)
        fcntl.flock(fh, fcntl.LOCK_UN)
    t.join(timeout=300)
    assert not t.is_alive() and isinstance(messages[-1], pipeline.BuildReport)


# --- one line, never a traceback ---------------------------------------------------------------------------------


def cli(*args, env=None, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "livingreview", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_a_table_that_is_a_directory_is_a_data_error_not_a_traceback(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data, ignore=shutil.ignore_patterns("staging"))
    (data / "quality.csv").unlink()
    (data / "quality.csv").mkdir()
    proc = cli("validate", "--data", str(data))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "quality.csv" in proc.stderr and "not a file" in proc.stderr


def test_a_read_only_output_directory_is_one_line(real_book):
    """Publishing into a read-only file system (sysfs: not writable even by root) ends in one line."""
    build_dir, _ = real_book
    target = Path("/sys/livingreview-test-site")
    if not Path("/sys").is_dir() or os.access("/sys", os.W_OK) and not target.parent.joinpath("kernel").is_dir():
        pytest.skip("no read-only /sys on this machine")
    proc = cli("build", "--out", str(target), env={"LIVINGREVIEW_BUILD_DIR": str(build_dir)})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "not permitted" in proc.stderr or "Permission denied" in proc.stderr or "Read-only" in proc.stderr
    assert not target.exists()


def test_a_full_disk_is_one_line(monkeypatch, capsys):
    """An OSError from the file system (here: no space left) is one message naming the file."""
    from livingreview import build as package, cli as cli_module

    def full(**kw):
        raise OSError(28, "No space left on device", "/somewhere/_build/src/index.md")

    monkeypatch.setattr(package, "build", full)
    assert cli_module.main(["build"]) == 1
    err = capsys.readouterr().err
    assert "No space left on device (/somewhere/_build/src/index.md)" in err and "Traceback" not in err


def test_jupyter_book_is_found_through_the_interpreter(small, tmp_path, monkeypatch):
    """No `jb` on the PATH (a virtual environment that is not activated): the build runs jupyter-book with the
    interpreter that runs it."""
    monkeypatch.setenv("PATH", "/nonexistent")
    report = pipeline.run_build(data_dir=small["data"], build_dir=tmp_path / "b", manifest=small["manifest"], jobs=2,
                                log=lambda *a: None)
    assert report.sphinx == "fresh" and (report.published / "results" / "vod.html").is_file()
