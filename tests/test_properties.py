"""Property tests: whatever a curator types into a cell, or into the manifest, the answer is a clear error naming the
place (DataValidationError / ManifestError), never a traceback from deeper down. Deterministic (derandomised) so a
failure reproduces."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from livingreview.build.manifest import ManifestError, load_manifest
from livingreview.dataset import DataValidationError, load_dataset

SYNTHETIC = Path(__file__).parent / "fixtures" / "synthetic"
SETTINGS = settings(max_examples=30, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

#: Cell contents a curator (or a spreadsheet) produces: numbers in odd notations, dates, unicode, control characters.
cells = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "NA", "n.r.", "-", "1e3", "1,000", "8_9", "٣", "½", "3.0", "-1", "2147483648",
                     "9" * 400, "2026-02-30", "2026-13-01", "true", "None", "nan", "inf", "=SUM(A1)", "\u00a0",
                     "\u200b", "\ufeff", "a\nb", "\"", "'", ";", "\t", "\x00", "\r"]),
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@pytest.fixture(scope="module")
def tables():
    return {p.name: list(csv.reader(io.StringIO(p.read_text(encoding="utf-8"))))
            for p in sorted(SYNTHETIC.glob("*.csv"))}


@SETTINGS
@given(data=st.data(), value=cells)
def test_any_cell_value_gives_a_dataset_or_a_clear_error(tmp_path_factory, tables, data, value):
    target = tmp_path_factory.mktemp("prop") / "data"
    shutil.copytree(SYNTHETIC, target)
    name = data.draw(st.sampled_from(sorted(n for n, rows in tables.items() if len(rows) > 1)))
    rows = [list(r) for r in tables[name]]
    line = data.draw(st.integers(1, len(rows) - 1))
    column = data.draw(st.integers(0, len(rows[0]) - 1))
    rows[line][column] = value
    with open(target / name, "w", encoding="utf-8", newline="", errors="surrogatepass") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    try:
        load_dataset(target)
    except DataValidationError as err:
        assert err.violations and all(v.file.endswith(".csv") for v in err.violations)
        assert all(v.rule for v in err.violations)


@SETTINGS
@given(raw=st.binary(max_size=300))
def test_any_bytes_in_a_table_give_a_clear_error(tmp_path_factory, raw):
    target = tmp_path_factory.mktemp("bytes") / "data"
    shutil.copytree(SYNTHETIC, target)
    header = (SYNTHETIC / "versions.csv").read_bytes().split(b"\n", 1)[0]
    (target / "versions.csv").write_bytes(header + b"\n" + raw)
    try:
        load_dataset(target)
    except DataValidationError as err:
        assert all("versions.csv" in v.file or v.file.endswith(".csv") for v in err.violations)


#: Manifest values: what a YAML edit can turn an entry into.
yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20),
              st.sampled_from(["outcome", "sensitivity", "index", "results/vod", "../escape", "/abs", "a b"])),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(["file", "notebook", "output", "parameters",
                                                                "sections", "caption", "chapters", "outcome"]),
                                               children, max_size=3)),
    max_leaves=8)


@SETTINGS
@given(chapters=st.lists(yaml_values, max_size=4))
def test_any_manifest_gives_a_plan_or_a_clear_error(tmp_path_factory, chapters):
    path = tmp_path_factory.mktemp("manifest") / "manifest.yml"
    path.write_text(yaml.safe_dump({"root": "index", "parts": [{"caption": "x", "chapters": chapters}]}),
                    encoding="utf-8")
    try:
        load_manifest(path)
    except ManifestError as err:
        assert str(err)


# --- change detection: a page whose data changed is always re-executed ------------------------------------------

REPO_DATA = Path(__file__).parent.parent / "data"


@pytest.fixture(scope="module")
def pages_and_data():
    from livingreview.build.manifest import page_reads
    from livingreview.config import MANIFEST

    pages = [(p.output, page_reads(p)) for p in load_manifest(MANIFEST).pages]
    return pages, load_dataset(REPO_DATA)


def _differs(a, b) -> bool:
    if hasattr(a, "equals"):
        return not (list(a.columns) == list(b.columns) and a.shape == b.shape and a.equals(b))
    return a != b


@SETTINGS
@given(data=st.data())
def test_every_page_whose_data_changed_has_a_new_digest(tmp_path_factory, pages_and_data, data):
    """Mutate one cell of the real dataset to another value of the same column (usually still valid); for every
    page of the book, if the tables it reads differ, the bytes its digest is made of differ too."""
    pages, before = pages_and_data
    name = data.draw(st.sampled_from(["outcomes.csv", "studies.csv", "outcome_definitions.csv", "published.csv",
                                      "versions.csv", "reports.csv", "quality.csv"]))
    rows = list(csv.reader(io.StringIO((REPO_DATA / name).read_text(encoding="utf-8"))))
    line = data.draw(st.integers(1, len(rows) - 1))
    column = data.draw(st.integers(0, len(rows[0]) - 1))
    choices = sorted({r[column] for r in rows[1:]} | {rows[line][column] + " ", " " + rows[line][column]})
    rows[line][column] = data.draw(st.sampled_from(choices))
    target = tmp_path_factory.mktemp("change") / "data"
    shutil.copytree(REPO_DATA, target)
    with open(target / name, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    try:
        after = load_dataset(target)
    except DataValidationError:
        return  # a clear error: nothing is built
    for output, reads in pages:
        old, new = before.view(reads, output), after.view(reads, output)
        changed = any(_differs(getattr(old, r.attribute), getattr(new, r.attribute))
                      for r in _parsed(reads))
        same_bytes = [old.read_bytes(r) for r in reads] == [new.read_bytes(r) for r in reads]
        assert not (changed and same_bytes), (f"{output}: its data changed ({name}, line {line + 1}) but its digest "
                                              f"input did not")


def _parsed(reads):
    from livingreview.dataset.reads import parse_read

    return [parse_read(r) if isinstance(r, str) else r for r in reads]
