"""The committed notebooks in book/ are a regression baseline: nbval re-executes them and compares every output.

* ``test_changed_event_count_fails_exactly_the_affected_notebooks`` shows the baseline catches a moved number:
  one event count of one outcome is changed in a copy of the dataset, the notebooks are pointed at the copy with
  ``LIVINGREVIEW_DATA_DIR`` (honoured by ``livingreview.book.common.dataset``; the committed notebooks are not touched),
  and nbval must fail on exactly that outcome's pages and the pages that summarise every outcome, and pass on
  pages that do not show it.
* Figures are not compared byte for byte by nbval (``tests/nbval_sanitize.cfg`` says why); what the book's forest
  plots draw is checked here against the results table instead.
* The baseline itself is checked for completeness and for anything that would differ between runs or machines.

The full comparison of every notebook runs as part of ``python -m pytest`` (``testpaths`` includes ``book``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from livingreview.book import common, outcome as outcome_page
from livingreview.build.manifest import load_manifest
from livingreview.config import BOOK_DIR, DATA_DIR, MANIFEST, MIN_K_BIAS, PRIMARY, ROOT
from livingreview.dataset import load_dataset
from livingreview.review.outcomes import analyse_outcome, outcome_subgroups, results_table

#: Pages that show every outcome's pooled estimate (glued into their prose), so any outcome change moves them.
SUMMARY_PAGES = ("discussion.ipynb", "conclusion.ipynb")
#: Pages that show no outcome of the efficacy/safety sections: they must pass whatever such an outcome does.
UNAFFECTED_PAGES = ("results/adverse-events.ipynb", "results/quality.ipynb")


OUTCOME_TEMPLATES = ("outcome", "bias", "sensitivity")


def _outcome_pages() -> dict[str, dict[str, str]]:
    """outcome -> {template: output} for the per-outcome pages (outcome, bias, sensitivity) of the manifest."""
    out: dict[str, dict[str, str]] = {}
    for page in load_manifest(MANIFEST).pages:
        if page.name in OUTCOME_TEMPLATES:
            out.setdefault(page.parameters["outcome"], {})[page.name] = page.output
    return out


def _nbval(notebooks: list[str], data_dir: Path, junit: Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Run nbval (the pyproject options) on baseline notebooks against ``data_dir``.

    Returns notebook -> failed cells, and notebook -> the failure text of its cells."""
    env = dict(os.environ, LIVINGREVIEW_DATA_DIR=str(data_dir))
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={junit}",
           *[f"book/{nb}" for nb in notebooks]]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert junit.is_file(), f"nbval did not run:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    classnames = {f"book.{nb}".replace("/", "."): nb for nb in notebooks}
    failed: dict[str, list[str]] = {nb: [] for nb in notebooks}
    text: dict[str, str] = {nb: "" for nb in notebooks}
    seen = set()
    for case in ET.parse(junit).iter("testcase"):
        nb = classnames[case.attrib["classname"]]
        seen.add(nb)
        for problem in case:
            if problem.tag in ("failure", "error"):
                failed[nb].append(case.attrib["name"])
                text[nb] += (problem.text or "") + "\n"
    assert seen == set(notebooks), f"nbval collected no cells of {sorted(set(notebooks) - seen)}"
    text["(stdout)"] = proc.stdout
    return failed, text


def _chosen_outcome() -> tuple[str, int]:
    """The outcome with the most studies (and its k), so that its bias page runs and shows Egger's and Begg's tests."""
    ds = load_dataset(DATA_DIR)
    ks = {o: analyse_outcome(ds, o, PRIMARY).k for o in _outcome_pages()}
    outcome = max(ks, key=lambda o: (ks[o], o))
    return outcome, ks[outcome]


def test_changed_event_count_fails_exactly_the_affected_notebooks(tmp_path):
    outcome, k = _chosen_outcome()

    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    with open(data / "outcomes.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header = rows[0]
    col = {name: header.index(name) for name in ("outcome", "events", "total", "derivation")}
    i = next(n for n, r in enumerate(rows[1:], start=1)
             if r[col["outcome"]] == outcome and r[col["derivation"]] != "missing"
             and int(r[col["events"]]) < int(r[col["total"]]))
    events, total = int(rows[i][col["events"]]), int(rows[i][col["total"]])
    rows[i][col["events"]] = str(events + 1)
    with open(data / "outcomes.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    load_dataset(data)  # still a valid dataset

    own = _outcome_pages()[outcome]
    affected = [own["outcome"], own["sensitivity"], *SUMMARY_PAGES]
    unaffected = list(UNAFFECTED_PAGES)
    # Below MIN_K_BIAS studies the bias page shows no number that depends on the counts (the tests are not run).
    (affected if k >= MIN_K_BIAS else unaffected).append(own["bias"])
    notebooks = affected + unaffected
    missing = [nb for nb in notebooks if not (BOOK_DIR / nb).is_file()]
    assert missing == [], f"no committed baseline for {missing}: run `python -m livingreview build --accept`"

    failed, text = _nbval(notebooks, data, tmp_path / "junit.xml")

    assert sorted(nb for nb, cells in failed.items() if cells) == sorted(affected), \
        f"changed {outcome} events {events} -> {events + 1} (of {total}); failed cells: {failed}"
    # ... and they fail because of the change: the outcome page's diff shows the new count, labelled as such.
    assert "now:       …" in text[own["outcome"]] and f"[{events + 1}" in text[own["outcome"]]
    assert "committed: …" in text[own["outcome"]]
    # Above the diffs, what moved: the data row (file, line, field, committed → now) and the pooled estimates.
    out = text["(stdout)"]
    assert out.index("what moved since the accepted baseline") < out.index("FAILURES")
    assert f"outcomes.csv, line {i + 1} (" in out and f"events: {events} → {events + 1}" in out
    assert f"{outcome} (overall):" in out


def test_unchanged_data_passes_the_same_notebooks_through_the_override(tmp_path):
    """The override itself changes nothing: through an identical copy of data/, the page that fails above passes."""
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    outcome, _ = _chosen_outcome()
    notebooks = [_outcome_pages()[outcome]["outcome"]]
    failed, text = _nbval(notebooks, data, tmp_path / "junit.xml")
    assert {nb: cells for nb, cells in failed.items() if cells} == {}, text
    assert "what moved" not in text["(stdout)"]


def test_data_dir_override_applies_to_the_repository_dataset_only(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    synthetic = ROOT / "tests" / "fixtures" / "synthetic"
    monkeypatch.setenv("LIVINGREVIEW_DATA_DIR", str(data))
    assert Path(common.dataset((), "data").data_dir) == data
    assert Path(common.dataset((), str(synthetic)).data_dir) == synthetic  # an explicit data_dir is kept
    monkeypatch.delenv("LIVINGREVIEW_DATA_DIR")
    assert Path(common.dataset((), "data").data_dir) == DATA_DIR  # not served from the cache of the override


# --- the figures: plotted data, not pixels --------------------------------------------------------------------


@pytest.mark.parametrize("outcome", sorted(_outcome_pages()))
def test_forest_plots_draw_the_numbers_of_the_results_table(outcome):
    """Each forest plot of an outcome page draws the pooled rows of the results table and the pooled studies."""
    page = outcome_page.load(outcome)
    a = page.analysis
    if a.overall is None:
        pytest.skip(f"no study reports {outcome}: the page shows a message instead of a forest plot")
    ds = load_dataset(DATA_DIR)
    table = results_table(ds, PRIMARY, outcomes=[outcome])
    columns = outcome_subgroups(ds, outcome) or [None]
    for column in columns:
        d = page.forest(column).data
        overall = table[table["subgroup"] == "overall"].iloc[0]
        drawn = d[d["kind"] == "overall_pooled"].iloc[0]
        np.testing.assert_allclose([drawn.estimate, drawn.ci_low, drawn.ci_high],
                                   [overall.estimate, overall.ci_low, overall.ci_high], rtol=1e-12)
        assert (drawn.events, drawn.total) == (overall.events, overall.total)
        studies = d[d["kind"] == "study"]
        expected = {(lab, e, n) for lab, e, n in zip(a.studies["display_label"], a.studies["events"],
                                                       a.studies["total"])}
        assert {(r.label, r.events, r.total) for r in studies.itertuples()} == expected
        if column is not None:
            levels = table[table["subgroup"] == column].set_index("level")
            for r in d[d["kind"] == "subgroup_pooled"].itertuples():
                np.testing.assert_allclose([r.estimate, r.ci_low, r.ci_high],
                                           levels.loc[r.group, ["estimate", "ci_low", "ci_high"]].astype(float),
                                           rtol=1e-12)


# --- the baseline --------------------------------------------------------------------------------------------


def _baseline() -> dict[str, dict]:
    return {p.output: json.loads((BOOK_DIR / p.output).read_text(encoding="utf-8"))
            for p in load_manifest(MANIFEST).pages if (BOOK_DIR / p.output).is_file()}


def test_every_manifest_page_has_a_baseline_and_no_baseline_is_stale():
    outputs = {p.output for p in load_manifest(MANIFEST).pages}
    committed = {p.relative_to(BOOK_DIR).as_posix() for p in BOOK_DIR.rglob("*.ipynb")
                 if "_build" not in p.parts and ".ipynb_checkpoints" not in p.parts}
    hint = "run `python -m livingreview build --accept` (see README, 'Accepting a new baseline')"
    assert sorted(outputs - committed) == [], f"manifest pages without a committed baseline: {hint}"
    assert sorted(committed - outputs) == [], "notebooks in book/ that no manifest page produces: delete them"


def test_baseline_holds_nothing_that_differs_between_runs_or_machines():
    address = re.compile(r"\b0x[0-9a-f]{6,}\b")
    local_path = re.compile(r"(/tmp/|/home/|/root/|/Users/|/work/|[A-Z]:\\\\)")
    problems = []
    for output, nb in _baseline().items():
        if set(nb["metadata"]) - {"kernelspec", "language_info", "livingreview"}:
            problems.append(f"{output}: notebook metadata {sorted(nb['metadata'])}")
        for cell in nb["cells"]:
            where = f"{output} cell {cell.get('id')}"
            if {"papermill", "execution"} & set(cell.get("metadata", {})):
                problems.append(f"{where}: run metadata {sorted(cell['metadata'])}")
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            tags = set(cell.get("metadata", {}).get("tags", []))
            if "injected-parameters" in tags:
                problems.append(f"{where}: papermill's injected cell was not merged into the parameters cell")
            if "parameters" in tags and "data_dir" in source:
                m = re.search(r'^data_dir = "([^"]*)"', source, re.M)
                if not m or Path(m.group(1)).is_absolute():
                    problems.append(f"{where}: data_dir is not repository-relative: {m and m.group(1)}")
            for out in cell.get("outputs", []):
                if out["output_type"] == "stream":
                    problems.append(f"{where}: {out['name']} output {''.join(out['text'])[:120]!r}")
                if out["output_type"] == "error":
                    problems.append(f"{where}: error {out.get('ename')}")
                for mime, value in out.get("data", {}).items():
                    if "image/" in mime:
                        continue
                    value = "".join(value) if isinstance(value, list) else str(value)
                    for pattern in (address, local_path):
                        if pattern.search(value):
                            problems.append(f"{where}: {mime} has {pattern.search(value).group(0)!r}")
    assert problems == []
