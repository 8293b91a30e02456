"""The living update: version 1 against version 2, the what-changed attribution, the changelog, and a
version-1 book (built once here, about 1.5–3 minutes)."""

from __future__ import annotations

import html as htmllib

import pandas as pd
import pytest

from livingreview import format as fmt
from livingreview.book import changelog, what_changed
from livingreview.build import build
from livingreview.config import DATA_DIR, PRIMARY
from livingreview.dataset import load_dataset
from livingreview.review import history, versions
from livingreview.review.outcomes import outcome_subgroups, results_table

ADDED_IN_V2 = {"agrawal2025_india", "inocd22_2025_italy"}


@pytest.fixture(scope="module")
def ds():
    return load_dataset(DATA_DIR)


@pytest.fixture(scope="module")
def contributions(ds):
    """outcome -> the version-2 studies with counts for it (from the data, not from the code under test)."""
    new = set(ds.studies.loc[ds.studies["data_version"] == 2, "study_id"])
    rows = ds.outcomes[ds.outcomes["study_id"].isin(new) & (ds.outcomes["derivation"] != "missing")]
    return rows.groupby("outcome")["study_id"].apply(set).to_dict()


def test_version_2_adds_the_two_new_studies(ds):
    assert set(ds.studies.loc[ds.studies["data_version"] == 2, "study_id"]) == ADDED_IN_V2


def test_results_differ_exactly_where_version_2_studies_contribute(ds, contributions):
    v1 = results_table(ds, PRIMARY, data_version=1).set_index(["outcome", "subgroup", "level"])
    v2 = results_table(ds, PRIMARY, data_version=2).set_index(["outcome", "subgroup", "level"])
    studies = ds.studies.set_index("study_id")
    assert contributions, "version 2 contributes to some outcome"
    for outcome in ds.definitions["outcome"]:
        new = contributions.get(outcome, set())
        # the analyses the new studies enter: overall, and the subgroup level each belongs to (if known)
        touched = {("overall", "")} if new else set()
        for column in outcome_subgroups(ds, outcome):
            for s in new:
                level = studies.loc[s, column]
                if isinstance(level, str) and level:
                    touched.add((column, level))
        keys = set(v1.loc[[outcome]].index.droplevel(0)) if outcome in v1.index.get_level_values(0) else set()
        keys |= set(v2.loc[[outcome]].index.droplevel(0)) if outcome in v2.index.get_level_values(0) else set()
        for key in keys:
            idx = (outcome, *key)
            if key in touched:
                assert idx in v2.index
                k_new = int(v2.loc[idx, "k"])
                k_old = int(v1.loc[idx, "k"]) if idx in v1.index else 0
                in_level = new if key == ("overall", "") else {s for s in new if studies.loc[s, key[0]] == key[1]}
                assert k_new - k_old == len(in_level), idx
            else:
                # the level's own fit is unchanged; the between-levels Q is shared by the levels of a subgrouping,
                # so it changes with any touched level of the same column
                shared = [c for c in v1.columns if c.startswith("q_between")]
                same_column_touched = any(t[0] == key[0] for t in touched)
                cols = [c for c in v1.columns if c not in shared] if same_column_touched else list(v1.columns)
                pd.testing.assert_series_equal(v1.loc[idx, cols], v2.loc[idx, cols], obj=str(idx))
    # outcomes no version-2 study reports are identical row for row
    untouched = [o for o in v1.index.get_level_values(0).unique() if o not in contributions]
    pd.testing.assert_frame_equal(v1.loc[untouched], v2.loc[untouched])


def test_what_changed_attributes_each_shift_to_the_right_studies(ds, contributions):
    shifts = versions.compare_versions(ds, 1, 2)
    assert [s.outcome for s in shifts] == list(ds.definitions.sort_values("display_order")["outcome"])
    for s in shifts:
        expected = contributions.get(s.outcome, set())
        assert set(s.new_studies) == expected, s.outcome
        assert s.moved == bool(expected), s.outcome
        assert s.new.k - s.old.k == len(expected)
        if not expected:
            assert s.old == s.new
    frame = versions.shift_frame(shifts)
    assert set(frame.loc[frame["moved"], "outcome"]) == set(contributions)


def test_changelog_lists_the_added_studies_and_the_moved_outcomes(ds, contributions):
    entries = history.history(ds)
    assert [e.version for e in entries] == [1, 2]
    v1, v2 = entries
    assert v1.previous is None and v1.moves == () and len(v1.added) == int((ds.studies["data_version"] == 1).sum())
    assert set(v2.added["study_id"]) == ADDED_IN_V2 and v2.previous == 1
    assert {m.outcome for m in v2.moves if m.overall} == set(contributions)
    text = changelog.load(data_dir="data").entries_markdown().data
    for label in v2.added["display_label"]:
        assert fmt.md(label) in text  # as Markdown source: data text escaped
    assert [e.version for e in history.history(ds, upto=1)] == [1]


def test_what_changed_page_for_the_first_version_says_there_is_nothing_to_compare():
    page = what_changed.load(data_dir="data", data_version=1)
    assert "no earlier version" in page.sentence().data
    assert "Nothing to compare" in page.moves_table().data


@pytest.fixture(scope="module")
def v1_book(tmp_path_factory):
    build_dir = tmp_path_factory.mktemp("build-v1")
    return build(data_dir=DATA_DIR, data_version=1, build_dir=build_dir, jobs=2, log=lambda *a: None)


def _page(html, doc):
    return htmllib.unescape((html / f"{doc}.html").read_text(encoding="utf-8"))


def test_version_1_book(v1_book, ds):
    new_labels = list(ds.studies.loc[ds.studies["data_version"] == 2, "label"])
    for doc in ("index", "results/overall-response", "results/study-selection", "updates/changelog",
                "reproduction/audit"):
        text = _page(v1_book, doc)
        assert "Data version 1 · literature searched to 2 December 2024" in text, doc
        for label in new_labels:
            assert label not in text, (doc, label)
    assert "no earlier version to compare with" in _page(v1_book, "updates/what-changed")
    changelog = _page(v1_book, "updates/changelog")
    assert "Version 1" in changelog and "Version 2" not in changelog
